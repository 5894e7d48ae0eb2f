/* accuracy.c: accuracy and error-adjusted area from a stratified sample (Olofsson et al. 2014),
 * sample size for a target standard error (Cochran 1977 eq. 5.25), and area-estimate's CSV files.
 * Tables of a few classes: clarity before speed; the formulas are stated in sinkmap/accuracy.h. */
#include "sinkmap/accuracy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "sinkmap/table.h"

#define Z95 1.96

struct sm_accuracy {
    size_t k;
    char **names;
    double *n; /* k*k counts */
    double *p; /* k*k area proportions */
    sm_accuracy_class *cls;
    sm_accuracy_overall all;
};

void sm_accuracy_destroy(sm_accuracy *a)
{
    if (!a)
        return;
    if (a->names)
        for (size_t i = 0; i < a->k; i++)
            free(a->names[i]);
    free(a->names);
    free(a->n);
    free(a->p);
    free(a->cls);
    free(a);
}

size_t sm_accuracy_nclasses(const sm_accuracy *a) { return a->k; }

const sm_accuracy_class *sm_accuracy_class_at(const sm_accuracy *a, size_t i)
{
    return i < a->k ? &a->cls[i] : NULL;
}

const sm_accuracy_overall *sm_accuracy_overall_get(const sm_accuracy *a) { return &a->all; }

double sm_accuracy_count(const sm_accuracy *a, size_t i, size_t j)
{
    return (i < a->k && j < a->k) ? a->n[i * a->k + j] : NAN;
}

double sm_accuracy_proportion(const sm_accuracy *a, size_t i, size_t j)
{
    return (i < a->k && j < a->k) ? a->p[i * a->k + j] : NAN;
}

/* Checks the inputs of sm_accuracy_compute; the messages name the class. */
static sm_status check_inputs(sm_context *ctx, size_t k, const char *const *names,
                              const double *counts, const double *mapped_ha, const char *src)
{
    if (k < 2)
        return sm_error(ctx, SM_ERR_INPUT, "%s: %zu class%s; at least 2 are needed", src, k,
                        k == 1 ? "" : "es");
    double total = 0;
    for (size_t i = 0; i < k; i++) {
        double row = 0;
        for (size_t j = 0; j < k; j++) {
            double v = counts[i * k + j];
            if (!isfinite(v) || v < 0 || v != floor(v))
                return sm_error(ctx, SM_ERR_INPUT,
                                "%s: map class '%s', reference class '%s': count %g is not a "
                                "whole number >= 0",
                                src, names[i], names[j], v);
            row += v;
        }
        if (row == 0 && mapped_ha[i] == 0)
            continue; /* a reference-only class: never mapped, so never sampled as a stratum */
        if (row < 2)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: map class '%s' has %g sample%s; at least 2 are needed (the "
                            "variances divide by n_i. - 1)",
                            src, names[i], row, row == 1 ? "" : "s");
        if (!isfinite(mapped_ha[i]) || mapped_ha[i] < 0)
            return sm_error(ctx, SM_ERR_INPUT, "%s: class '%s': mapped area %g is not >= 0", src,
                            names[i], mapped_ha[i]);
        total += mapped_ha[i];
    }
    if (!(total > 0) || !isfinite(total))
        return sm_error(ctx, SM_ERR_INPUT, "%s: the mapped areas add up to %g; expected > 0", src,
                        total);
    return SM_OK;
}

sm_status sm_accuracy_compute(sm_accuracy **out, sm_context *ctx, size_t k,
                              const char *const *names, const double *counts,
                              const double *mapped_ha, const char *source)
{
    const char *src = source ? source : "the sample";
    *out = NULL;
    sm_status st = check_inputs(ctx, k, names, counts, mapped_ha, src);
    if (st != SM_OK)
        return st;
    size_t kk;
    if (sm_mul_size(k, k, &kk))
        return sm_error(ctx, SM_ERR_NOMEM, "%s: %zu classes is too many", src, k);
    sm_accuracy *a = sm_calloc(ctx, 1, sizeof *a);
    if (!a)
        return SM_ERR_NOMEM;
    a->k = k;
    a->names = sm_calloc(ctx, k, sizeof *a->names);
    a->n = sm_calloc(ctx, kk, sizeof *a->n);
    a->p = sm_calloc(ctx, kk, sizeof *a->p);
    a->cls = sm_calloc(ctx, k, sizeof *a->cls);
    double *row = sm_calloc(ctx, k, sizeof *row);
    if (!a->names || !a->n || !a->p || !a->cls || !row) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    for (size_t i = 0; i < k; i++)
        if (!(a->names[i] = sm__strdup(ctx, names[i]))) {
            st = SM_ERR_NOMEM;
            goto end;
        }
    memcpy(a->n, counts, kk * sizeof *a->n);

    double atot = 0, n = 0, diag = 0;
    for (size_t i = 0; i < k; i++)
        atot += mapped_ha[i];
    for (size_t i = 0; i < k; i++) {
        sm_accuracy_class *c = &a->cls[i];
        c->name = a->names[i];
        c->mapped_area = mapped_ha[i];
        c->weight = mapped_ha[i] / atot;
        for (size_t j = 0; j < k; j++) {
            row[i] += a->n[i * k + j];
            c->reference_samples += a->n[j * k + i];
        }
        c->samples = row[i];
        n += row[i];
        diag += a->n[i * k + i];
    }
    /* p̂_ij = W_i n_ij / n_i. */
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++)
            a->p[i * k + j] = row[i] > 0 ? a->cls[i].weight * a->n[i * k + j] / row[i] : 0.0;

    /* Rows of reference-only classes (W_i = 0, n_i. = 0) add nothing to any sum below. */
    double overall = 0, v_overall = 0;
    for (size_t i = 0; i < k; i++) {
        sm_accuracy_class *c = &a->cls[i];
        if (row[i] == 0) {
            c->users = c->users_se = NAN;
            continue;
        }
        double u = a->n[i * k + i] / row[i];
        c->users = u;
        c->users_se = sqrt(u * (1 - u) / (row[i] - 1));
        overall += a->p[i * k + i];
        v_overall += c->weight * c->weight * u * (1 - u) / (row[i] - 1);
    }
    for (size_t j = 0; j < k; j++) {
        sm_accuracy_class *c = &a->cls[j];
        double share = 0, var = 0;
        for (size_t i = 0; i < k; i++) {
            double pij = a->p[i * k + j];
            if (row[i] == 0)
                continue;
            share += pij;
            var += (a->cls[i].weight * pij - pij * pij) / (row[i] - 1);
        }
        c->area_share = share;
        c->area_share_se = sqrt(var > 0 ? var : 0);
        c->area = atot * share;
        c->area_se = atot * c->area_share_se;
        c->area_ci95 = Z95 * c->area_se;
        c->producers_sample =
            c->reference_samples > 0 ? a->n[j * k + j] / c->reference_samples : NAN;
        if (share > 0) {
            double pj = a->p[j * k + j] / share, uj = c->users, wj = c->weight;
            double t1 = row[j] > 0 ? wj * wj * (1 - pj) * (1 - pj) * uj * (1 - uj) / (row[j] - 1) : 0;
            double t2 = 0;
            for (size_t i = 0; i < k; i++) {
                if (i == j || row[i] == 0)
                    continue;
                double wi = a->cls[i].weight, r = a->n[i * k + j] / row[i];
                t2 += wi * wi * r * (1 - r) / (row[i] - 1);
            }
            c->producers = pj;
            c->producers_se = sqrt((t1 + pj * pj * t2) / (share * share));
            c->f1 = isnan(uj) ? NAN : (uj + pj) > 0 ? 2 * uj * pj / (uj + pj) : 0;
        } else {
            c->producers = c->producers_se = c->f1 = NAN;
        }
    }
    a->all.total_area = atot;
    a->all.samples = n;
    a->all.overall = overall;
    a->all.overall_se = sqrt(v_overall);
    a->all.overall_sample = diag / n;
    double pe = 0;
    for (size_t i = 0; i < k; i++)
        pe += row[i] * a->cls[i].reference_samples / (n * n);
    a->all.kappa = pe < 1 ? (diag / n - pe) / (1 - pe) : NAN;
end:
    free(row);
    if (st != SM_OK) {
        sm_accuracy_destroy(a);
        return st;
    }
    *out = a;
    return SM_OK;
}

/* ---- sample size ---------------------------------------------------------------------------- */

/* Rounds the quotas q[i] (i in the set where use[i], or all when use is NULL) to whole numbers
 * adding up to `total`: floors first, then one more to the largest remainders (the first class
 * wins a tie). */
static void largest_remainder(size_t k, const double *q, const int *use, long total, long *out)
{
    long sum = 0;
    for (size_t i = 0; i < k; i++) {
        if (use && !use[i])
            continue;
        out[i] = (long)floor(q[i]);
        sum += out[i];
    }
    while (sum < total) {
        size_t best = k;
        double bestr = -1;
        for (size_t i = 0; i < k; i++) {
            if (use && !use[i])
                continue;
            double r = q[i] - (double)out[i];
            if (r > bestr) {
                bestr = r;
                best = i;
            }
        }
        if (best == k)
            break;
        out[best]++;
        sum++;
    }
}

sm_status sm_sample_size(sm_context *ctx, size_t k, const double *weights, const double *users,
                         double population, double target_se, long min_per_class,
                         sm_sample_plan *plan, long *proportional, long *neyman, long *suggested)
{
    sm_status st = SM_OK;
    double *w = NULL, *q = NULL;
    int *use = NULL;
    long *tmp = NULL;
    if (k < 1)
        return sm_error(ctx, SM_ERR_INPUT, "sample size: no class");
    if (!(target_se > 0 && target_se < 1))
        return sm_error(ctx, SM_ERR_INPUT,
                        "--target-se %g: expected a standard error of overall accuracy between 0 "
                        "and 1 (e.g. 0.01)",
                        target_se);
    if (!(population >= 0) || !isfinite(population))
        return sm_error(ctx, SM_ERR_INPUT, "sample size: population %g is not >= 0", population);
    if (min_per_class < 0)
        return sm_error(ctx, SM_ERR_INPUT, "sample size: minimum per class %ld is negative",
                        min_per_class);
    double wsum = 0;
    for (size_t i = 0; i < k; i++) {
        if (!isfinite(weights[i]) || weights[i] < 0)
            return sm_error(ctx, SM_ERR_INPUT, "sample size: weight %g of class %zu is not >= 0",
                            weights[i], i + 1);
        if (!(users[i] >= 0 && users[i] <= 1))
            return sm_error(ctx, SM_ERR_INPUT,
                            "sample size: user's accuracy %g of class %zu is not in [0,1]",
                            users[i], i + 1);
        wsum += weights[i];
    }
    if (!(wsum > 0))
        return sm_error(ctx, SM_ERR_INPUT, "sample size: the class weights add up to 0");
    w = sm_calloc(ctx, k, sizeof *w);
    q = sm_calloc(ctx, k, sizeof *q);
    use = sm_calloc(ctx, k, sizeof *use);
    tmp = sm_calloc(ctx, k, sizeof *tmp);
    if (!w || !q || !use || !tmp) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    double ws = 0, ws2 = 0;
    for (size_t i = 0; i < k; i++) {
        w[i] = weights[i] / wsum;
        double s = sqrt(users[i] * (1 - users[i]));
        ws += w[i] * s;
        ws2 += w[i] * s * s;
    }
    double denom = target_se * target_se + (population > 0 ? ws2 / population : 0);
    plan->n_exact = ws * ws / denom;
    if (plan->n_exact > 1e15) {
        st = sm_error(ctx, SM_ERR_INPUT, "sample size: %g samples is out of range", plan->n_exact);
        goto end;
    }
    plan->n = (long)ceil(plan->n_exact - 1e-9);
    if (plan->n < 0)
        plan->n = 0;
    long n = plan->n;

    /* proportional */
    for (size_t i = 0; i < k; i++)
        q[i] = (double)n * w[i];
    largest_remainder(k, q, NULL, n, proportional ? proportional : tmp);
    /* Neyman: n W_i S_i / Σ W_j S_j (proportional when every S_i is 0) */
    for (size_t i = 0; i < k; i++)
        q[i] = ws > 0 ? (double)n * w[i] * sqrt(users[i] * (1 - users[i])) / ws : (double)n * w[i];
    largest_remainder(k, q, NULL, n, neyman ? neyman : tmp);
    /* suggested: classes whose proportional share of what is left falls below the minimum get
     * the minimum; repeat until no more class drops below it. use[i] = 1: allocated
     * proportionally. */
    for (size_t i = 0; i < k; i++)
        use[i] = 1;
    long rest = n;
    for (;;) {
        size_t nfixed = 0;
        double wfree = 0;
        for (size_t i = 0; i < k; i++) {
            nfixed += !use[i];
            if (use[i])
                wfree += w[i];
        }
        rest = n - (long)nfixed * min_per_class;
        int changed = 0;
        for (size_t i = 0; i < k; i++) {
            if (!use[i])
                continue;
            double quota = (rest > 0 && wfree > 0) ? (double)rest * w[i] / wfree : 0;
            if (quota < (double)min_per_class || !(wfree > 0)) {
                use[i] = 0;
                changed = 1;
            } else {
                q[i] = quota;
            }
        }
        if (!changed)
            break;
    }
    long *sg = suggested ? suggested : tmp;
    for (size_t i = 0; i < k; i++)
        if (!use[i])
            sg[i] = min_per_class;
    largest_remainder(k, q, use, rest > 0 ? rest : 0, sg);
    plan->n_suggested = 0;
    for (size_t i = 0; i < k; i++)
        plan->n_suggested += sg[i];
end:
    free(w);
    free(q);
    free(use);
    free(tmp);
    return st;
}

/* ---- reading the tables ------------------------------------------------------------------- */

void sm_area_input_destroy(sm_area_input *in)
{
    if (!in)
        return;
    if (in->names)
        for (size_t i = 0; i < in->nclasses; i++)
            free(in->names[i]);
    free(in->names);
    free(in->counts);
    free(in->mapped_ha);
    free(in->expected_ua);
    free(in->counts_path);
    free(in->mapped_path);
    free(in);
}

/* The index of `name` among names[0..n) ignoring ASCII case, or n. */
static size_t find_name(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (sm__strieq(names[i], name))
            return i;
    return n;
}

static sm_status read_counts(sm_area_input *in, sm_context *ctx, const sm_table *t)
{
    const char *path = sm_table_name(t);
    size_t cols = sm_table_cols(t), rows = sm_table_rows(t);
    if (cols < 3)
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: expected a header like 'map,CLASS1,CLASS2,...' with at least 2 "
                        "classes (got %zu column%s)",
                        path, cols, cols == 1 ? "" : "s");
    size_t k = cols - 1, kk;
    if (sm_mul_size(k, k, &kk))
        return sm_error(ctx, SM_ERR_NOMEM, "%s: too many classes", path);
    in->nclasses = k;
    in->names = sm_calloc(ctx, k, sizeof *in->names);
    in->counts = sm_calloc(ctx, kk, sizeof *in->counts);
    if (!in->names || !in->counts)
        return SM_ERR_NOMEM;
    for (size_t j = 0; j < k; j++) {
        const char *name = sm_table_col_name(t, j + 1);
        if (!name[0])
            return sm_error(ctx, SM_ERR_INPUT, "%s:1: column %zu has no class name", path, j + 2);
        if (!(in->names[j] = sm__strdup(ctx, name)))
            return SM_ERR_NOMEM;
    }
    size_t i;
    for (i = 0; i < rows; i++) {
        long line = sm_table_line(t, i);
        const char *label = sm_table_cell(t, i, 0);
        size_t pos = find_name(in->names, k, label);
        if (!label[0])
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s:%ld: the row has no map class in its first column", path, line);
        if (pos == k)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s:%ld: map class '%s' is not one of the reference classes of the "
                            "header (rows and columns must list the same classes in the same "
                            "order)",
                            path, line, label);
        if (pos < i)
            return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: map class '%s' has a second row", path,
                            line, label);
        if (pos != i)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s:%ld: expected the row of class '%s' (column %zu) but found class "
                            "'%s': list the classes in the same order on both axes",
                            path, line, in->names[i], i + 2, label);
        for (size_t j = 0; j < k; j++) {
            double v;
            sm_status st = sm_table_get_double(t, ctx, i, j + 1, &v);
            if (st)
                return st;
            if (v < 0 || v != floor(v))
                return sm_error(ctx, SM_ERR_INPUT,
                                "%s:%ld: map class '%s', reference class '%s': count '%s' is not "
                                "a whole number >= 0",
                                path, line, in->names[i], in->names[j], sm_table_cell(t, i, j + 1));
            in->counts[i * k + j] = v;
        }
    }
    if (rows < k)
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: class '%s' is a column (reference class) but has no row (map class)",
                        path, in->names[rows]);
    return SM_OK;
}

static sm_status read_mapped(sm_area_input *in, sm_context *ctx, const sm_table *t,
                             double pixel_area_m2)
{
    const char *path = sm_table_name(t);
    size_t cc, ca, ce = 0, rows = sm_table_rows(t);
    sm_status st;
    if ((st = sm_table_col(t, ctx, "class", &cc)) || (st = sm_table_col(t, ctx, "area", &ca)))
        return st;
    int has_ua = sm_table_find_col(t, "expected_ua", &ce);
    int counts = in->names != NULL;
    if (!counts) {
        if (rows < 1)
            return sm_error(ctx, SM_ERR_INPUT, "%s: no class", path);
        in->nclasses = rows;
        if (!(in->names = sm_calloc(ctx, rows, sizeof *in->names)))
            return SM_ERR_NOMEM;
    }
    size_t k = in->nclasses;
    int *seen = sm_calloc(ctx, k, sizeof *seen);
    in->mapped_ha = sm_calloc(ctx, k, sizeof *in->mapped_ha);
    if (has_ua)
        in->expected_ua = sm_calloc(ctx, k, sizeof *in->expected_ua);
    if (!seen || !in->mapped_ha || (has_ua && !in->expected_ua)) {
        free(seen);
        return SM_ERR_NOMEM;
    }
    for (size_t r = 0; r < rows; r++) {
        long line = sm_table_line(t, r);
        const char *name;
        if ((st = sm_table_get_text(t, ctx, r, cc, &name)))
            goto end;
        size_t i;
        if (counts) {
            i = find_name(in->names, k, name);
            if (i == k) {
                st = sm_error(ctx, SM_ERR_INPUT, "%s:%ld: class '%s' is not a class of %s", path,
                              line, name, in->counts_path);
                goto end;
            }
        } else {
            i = find_name(in->names, r, name);
            if (i == r && !(in->names[r] = sm__strdup(ctx, name))) {
                st = SM_ERR_NOMEM;
                goto end;
            }
        }
        if (seen[i]) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s:%ld: class '%s' has a second row", path, line,
                          name);
            goto end;
        }
        seen[i] = 1;
        double area;
        if ((st = sm_table_get_double(t, ctx, r, ca, &area)))
            goto end;
        if (area < 0) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s:%ld: class '%s': area %s is negative", path, line,
                          name, sm_table_cell(t, r, ca));
            goto end;
        }
        if (pixel_area_m2 > 0) {
            in->population += area;
            area = area * pixel_area_m2 / 10000.0;
        }
        in->mapped_ha[i] = area;
        if (has_ua) {
            double u;
            if ((st = sm_table_get_double(t, ctx, r, ce, &u)))
                goto end;
            if (u < 0 || u > 1) {
                st = sm_error(ctx, SM_ERR_INPUT,
                              "%s:%ld: class '%s': expected_ua %s is not in [0,1]", path, line,
                              name, sm_table_cell(t, r, ce));
                goto end;
            }
            in->expected_ua[i] = u;
        }
    }
    for (size_t i = 0; i < k; i++)
        if (!seen[i]) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s: class '%s' of %s has no mapped area (no row)",
                          path, in->names[i], in->counts_path);
            goto end;
        }
end:
    free(seen);
    return st;
}

sm_status sm_area_input_read(sm_area_input **out, sm_context *ctx, const char *counts_csv,
                             const char *mapped_csv, double pixel_area_m2)
{
    *out = NULL;
    sm_table *t = NULL;
    sm_status st = SM_OK;
    if (!(pixel_area_m2 >= 0) || !isfinite(pixel_area_m2))
        return sm_error(ctx, SM_ERR_INPUT, "--pixel-area %g: expected a cell area in m² > 0",
                        pixel_area_m2);
    sm_area_input *in = sm_calloc(ctx, 1, sizeof *in);
    if (!in)
        return SM_ERR_NOMEM;
    if ((counts_csv && !(in->counts_path = sm__strdup(ctx, counts_csv))) ||
        !(in->mapped_path = sm__strdup(ctx, mapped_csv))) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if (counts_csv) {
        if ((st = sm_table_read(&t, ctx, counts_csv)) || (st = read_counts(in, ctx, t)))
            goto end;
        sm_table_destroy(t);
        t = NULL;
    }
    if ((st = sm_table_read(&t, ctx, mapped_csv)) || (st = read_mapped(in, ctx, t, pixel_area_m2)))
        goto end;
end:
    sm_table_destroy(t);
    if (st != SM_OK) {
        sm_area_input_destroy(in);
        return st;
    }
    *out = in;
    return SM_OK;
}

/* ---- the whole estimate ------------------------------------------------------------------- */

void sm_area_result_destroy(sm_area_result *r)
{
    if (!r)
        return;
    sm_area_input_destroy(r->input);
    sm_accuracy_destroy(r->accuracy);
    free(r->s);
    free(r->proportional);
    free(r->neyman);
    free(r->suggested);
    free(r);
}

sm_status sm_area_estimate(sm_area_result **out, sm_context *ctx, const char *counts_csv,
                           const char *mapped_csv, const sm_area_options *opt)
{
    sm_area_options defaults = SM_AREA_OPTIONS_INIT;
    if (!opt)
        opt = &defaults;
    *out = NULL;
    double *users = NULL, *weights = NULL;
    sm_status st = SM_OK;
    sm_area_result *r = sm_calloc(ctx, 1, sizeof *r);
    if (!r)
        return SM_ERR_NOMEM;
    if ((st = sm_area_input_read(&r->input, ctx, counts_csv, mapped_csv, opt->pixel_area_m2)))
        goto end;
    const sm_area_input *in = r->input;
    size_t k = in->nclasses;
    if (in->counts &&
        (st = sm_accuracy_compute(&r->accuracy, ctx, k, (const char *const *)in->names, in->counts,
                                  in->mapped_ha, counts_csv)))
        goto end;
    if (opt->target_se > 0 || opt->target_se < 0) {
        if (!in->counts && !in->expected_ua) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "--target-se without --counts needs an expected_ua column in %s "
                          "(the user's accuracy expected of each class)",
                          mapped_csv);
            goto end;
        }
        r->has_plan = 1;
        r->expected = in->expected_ua != NULL;
        r->target_se = opt->target_se;
        r->min_per_class = opt->min_per_class;
        users = sm_calloc(ctx, k, sizeof *users);
        weights = sm_calloc(ctx, k, sizeof *weights);
        r->s = sm_calloc(ctx, k, sizeof *r->s);
        r->proportional = sm_calloc(ctx, k, sizeof *r->proportional);
        r->neyman = sm_calloc(ctx, k, sizeof *r->neyman);
        r->suggested = sm_calloc(ctx, k, sizeof *r->suggested);
        if (!users || !weights || !r->s || !r->proportional || !r->neyman || !r->suggested) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        for (size_t i = 0; i < k; i++) {
            users[i] =
                in->expected_ua ? in->expected_ua[i] : sm_accuracy_class_at(r->accuracy, i)->users;
            weights[i] = in->mapped_ha[i];
            r->s[i] = sqrt(users[i] * (1 - users[i]));
        }
        if ((st = sm_sample_size(ctx, k, weights, users, in->population, opt->target_se,
                                 opt->min_per_class, &r->plan, r->proportional, r->neyman,
                                 r->suggested)))
            goto end;
    }
end:
    free(users);
    free(weights);
    if (st != SM_OK) {
        sm_area_result_destroy(r);
        return st;
    }
    *out = r;
    return SM_OK;
}

/* ---- the report --------------------------------------------------------------------------- */

static sm_status put(sm_csv_writer *w, const char *section, const char *cls, const char *ref,
                     const char *measure, double value)
{
    sm_status st;
    if ((st = sm_csv_writer_text(w, section)) || (st = sm_csv_writer_text(w, cls)) ||
        (st = sm_csv_writer_text(w, ref)) || (st = sm_csv_writer_text(w, measure)) ||
        (st = sm_csv_writer_double(w, isfinite(value) ? value : NAN)) ||
        (st = sm_csv_writer_end_row(w)))
        return st;
    return SM_OK;
}

static sm_status write_report(const sm_area_result *r, sm_csv_writer *w)
{
    const sm_area_input *in = r->input;
    const sm_accuracy *a = r->accuracy;
    size_t k = in->nclasses;
    sm_status st;
    static const char *const head[] = {"section", "class", "reference", "measure", "value"};
    for (size_t i = 0; i < 5; i++)
        if ((st = sm_csv_writer_text(w, head[i])))
            return st;
    if ((st = sm_csv_writer_end_row(w)))
        return st;
    double atot = 0;
    for (size_t i = 0; i < k; i++)
        atot += in->mapped_ha[i];
#define PUT(sec, c, ref, m, v)                                                                     \
    do {                                                                                           \
        if ((st = put(w, sec, c, ref, m, v)))                                                      \
            return st;                                                                             \
    } while (0)
    for (size_t i = 0; i < k; i++) {
        const char *c = in->names[i];
        PUT("input", c, "", "mapped_area_ha", in->mapped_ha[i]);
        PUT("input", c, "", "weight", atot > 0 ? in->mapped_ha[i] / atot : NAN);
        if (a)
            PUT("input", c, "", "samples", sm_accuracy_class_at(a, i)->samples);
        if (in->expected_ua)
            PUT("input", c, "", "expected_ua", in->expected_ua[i]);
    }
    if (a) {
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                PUT("counts", in->names[i], in->names[j], "n", sm_accuracy_count(a, i, j));
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                PUT("proportions", in->names[i], in->names[j], "p",
                    sm_accuracy_proportion(a, i, j));
        for (size_t i = 0; i < k; i++) {
            const sm_accuracy_class *c = sm_accuracy_class_at(a, i);
            const char *n = c->name;
            PUT("class", n, "", "reference_samples", c->reference_samples);
            PUT("class", n, "", "area_share", c->area_share);
            PUT("class", n, "", "area_share_se", c->area_share_se);
            PUT("class", n, "", "area_ha", c->area);
            PUT("class", n, "", "area_se_ha", c->area_se);
            PUT("class", n, "", "area_ci95_ha", c->area_ci95);
            PUT("class", n, "", "area_ci95_low_ha", c->area - c->area_ci95);
            PUT("class", n, "", "area_ci95_high_ha", c->area + c->area_ci95);
            PUT("class", n, "", "users", c->users);
            PUT("class", n, "", "users_se", c->users_se);
            PUT("class", n, "", "users_ci95", Z95 * c->users_se);
            PUT("class", n, "", "producers", c->producers);
            PUT("class", n, "", "producers_se", c->producers_se);
            PUT("class", n, "", "producers_ci95", Z95 * c->producers_se);
            PUT("class", n, "", "f1", c->f1);
            PUT("class", n, "", "producers_sample", c->producers_sample);
        }
        const sm_accuracy_overall *o = sm_accuracy_overall_get(a);
        PUT("overall", "", "", "total_area_ha", o->total_area);
        PUT("overall", "", "", "samples", o->samples);
        PUT("overall", "", "", "overall", o->overall);
        PUT("overall", "", "", "overall_se", o->overall_se);
        PUT("overall", "", "", "overall_ci95", Z95 * o->overall_se);
        PUT("overall", "", "", "overall_sample", o->overall_sample);
        PUT("overall", "", "", "kappa", o->kappa);
    }
    if (r->has_plan) {
        PUT("sample_size", "", "", "target_se", r->target_se);
        PUT("sample_size", "", "", "population", in->population > 0 ? in->population : NAN);
        PUT("sample_size", "", "", "expected_ua", r->expected);
        PUT("sample_size", "", "", "n_exact", r->plan.n_exact);
        PUT("sample_size", "", "", "n", (double)r->plan.n);
        PUT("sample_size", "", "", "min_per_class", (double)r->min_per_class);
        PUT("sample_size", "", "", "n_suggested", (double)r->plan.n_suggested);
        for (size_t i = 0; i < k; i++) {
            PUT("sample_size", in->names[i], "", "s", r->s[i]);
            PUT("sample_size", in->names[i], "", "proportional", (double)r->proportional[i]);
            PUT("sample_size", in->names[i], "", "neyman", (double)r->neyman[i]);
            PUT("sample_size", in->names[i], "", "suggested", (double)r->suggested[i]);
        }
    }
#undef PUT
    return SM_OK;
}

sm_status sm_area_result_write(const sm_area_result *r, sm_context *ctx, const char *path)
{
    sm_status st = SM_OK;
    sm_csv_writer *w = NULL;
    char *dir = sm__path_dirname(ctx, path);
    char *tmp = dir ? sm__asprintf(ctx, "%s/.%s.sinkmap-tmp-%ld", dir, sm__path_basename(path),
                                   (long)getpid())
                    : NULL;
    if (!dir || !tmp) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if (!sm__dir_exists(dir)) {
        st = sm_error(ctx, SM_ERR_INPUT, "-o %s: the folder %s does not exist", path, dir);
        goto end;
    }
    if ((st = sm_csv_writer_open(&w, ctx, tmp, 0)))
        goto end;
    if ((st = write_report(r, w)))
        goto end;
    st = sm_csv_writer_close(w);
    w = NULL;
    if (st)
        goto end;
    if (rename(tmp, path) != 0) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot move the result into place", path);
        goto end;
    }
end:
    sm_csv_writer_destroy(w);
    if (st != SM_OK && tmp)
        remove(tmp);
    free(tmp);
    free(dir);
    return st;
}
