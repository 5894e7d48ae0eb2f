/* maxlik.c: Gaussian maximum likelihood classification and the χ² quantile for its rejection.
 * Each class keeps its mean, covariance and the Cholesky factor L (Σ = L Lᵀ), so a pixel costs
 * one triangular solve per class: O(k p²) flops, no allocation, safe from any number of threads. */
#include "sinkmap/maxlik.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sm_maxlik {
    int p, k;
    double *mean;     /* k*p */
    double *cov;      /* k*p*p */
    double *chol;     /* k*p*p, lower triangle of L row-major, upper part 0 */
    double *prior;    /* k, sums to 1 */
    double *lnprior;  /* k */
    double *logdet;   /* k: ln|Σ_c| */
    double *bound;    /* k: ln π_c − ½ ln|Σ_c|, the largest g_c can be (D² >= 0) */
    int *order;       /* k: classes by bound, largest first (ties: lower index first) */
    double *count;    /* k */
    double level;     /* rejection level, 0 = none */
    double reject_d2; /* χ²_p(level) or INFINITY */
};

/* ---- the χ² distribution ------------------------------------------------------------------ */

double sm_gamma_p(double a, double x)
{
    if (!(a > 0) || !(x >= 0) || isnan(x))
        return NAN;
    if (x == 0)
        return 0;
    if (isinf(x))
        return 1;
    /* ln(x^a e^-x / Γ(a)), the common factor of both expansions */
    double lf = a * log(x) - x - lgamma(a);
    if (x < a + 1) {
        /* P = x^a e^-x / Γ(a) Σ_n x^n / (a (a+1) ... (a+n)), converging fast for x < a + 1 */
        double term = 1.0 / a, sum = term;
        for (int n = 1; n < 10000; n++) {
            term *= x / (a + n);
            sum += term;
            if (fabs(term) < fabs(sum) * 1e-17)
                break;
        }
        return sum * exp(lf);
    }
    /* Q = 1 − P as the continued fraction 1/(x+1−a− 1(1−a)/(x+3−a− 2(2−a)/(x+5−a− ...))),
     * evaluated forwards by the modified Lentz method. */
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-16)
            break;
    }
    return 1 - exp(lf) * h;
}

double sm_chi2_cdf(double q, int dof)
{
    if (dof < 1 || isnan(q))
        return NAN;
    if (q <= 0)
        return 0;
    return sm_gamma_p(0.5 * dof, 0.5 * q);
}

/* The standard normal quantile by Newton's method on Φ(z) = erfc(−z/√2)/2. Φ is concave above
 * 0 and convex below, so Newton steps from 0 approach the root from one side without
 * overshooting. Used only for the starting value of the χ² quantile. */
static double normal_quantile(double level)
{
    if (level == 0.5)
        return 0;
    double sign = level > 0.5 ? 1 : -1, t = level > 0.5 ? level : 1 - level, z = 0;
    for (int i = 0; i < 200; i++) {
        double f = 0.5 * erfc(-z / sqrt(2.0)) - t;
        double pdf = exp(-0.5 * z * z) / sqrt(2 * M_PI);
        if (pdf <= 0)
            break;
        double step = f / pdf;
        z -= step;
        if (fabs(step) < 1e-14 * (1 + fabs(z)))
            break;
    }
    return sign * z;
}

double sm_chi2_quantile(double level, int dof)
{
    if (dof < 1 || !(level > 0) || !(level < 1))
        return NAN;
    double a = 0.5 * dof, lg = lgamma(a);
    /* Wilson–Hilferty: (χ²/ν)^(1/3) is nearly normal with mean 1 − 2/(9ν), variance 2/(9ν). */
    double v = 2.0 / (9.0 * dof), z = normal_quantile(level);
    double w = 1 - v + z * sqrt(v);
    double q = w > 0 ? dof * w * w * w : 0.5 * dof * level;
    if (!(q > 0))
        q = 1e-3;
    double lo = 0, hi = INFINITY;
    for (int it = 0; it < 300; it++) {
        double f = sm_chi2_cdf(q, dof) - level;
        if (f == 0)
            return q;
        if (f > 0)
            hi = q;
        else
            lo = q;
        /* the χ² density: (q/2)^(a−1) e^(−q/2) / (2 Γ(a)) */
        double pdf = exp((a - 1) * log(0.5 * q) - 0.5 * q - lg) * 0.5;
        double next = pdf > 0 ? q - f / pdf : NAN;
        if (!(next > lo && next < hi))
            next = isinf(hi) ? 2 * q : 0.5 * (lo + hi);
        if (fabs(next - q) <= 1e-13 * q)
            return next;
        if (isfinite(hi) && hi - lo <= 1e-15 * hi)
            return 0.5 * (lo + hi);
        q = next;
    }
    return q;
}

/* ---- the classifier ----------------------------------------------------------------------- */

static void name_of(char *buf, size_t n, const char *const *names, int i, const char *what)
{
    if (names && names[i])
        snprintf(buf, n, "'%s'", names[i]);
    else
        snprintf(buf, n, "%s %d", what, i + 1);
}

void sm_maxlik_destroy(sm_maxlik *m)
{
    if (!m)
        return;
    free(m->mean);
    free(m->cov);
    free(m->chol);
    free(m->prior);
    free(m->lnprior);
    free(m->logdet);
    free(m->bound);
    free(m->order);
    free(m->count);
    free(m);
}

sm_status sm_maxlik_create(sm_maxlik **out, sm_context *ctx, int p, int k, const double *mean,
                           const double *cov, const double *prior, const double *count,
                           double reject_level, const char *const *class_names,
                           const char *const *feature_names)
{
    *out = NULL;
    if (p < 1 || p > SM_MAX_FEATURES)
        return sm_error(ctx, SM_ERR_INPUT, "maximum likelihood: %d features (1 to %d allowed)", p,
                        SM_MAX_FEATURES);
    if (k < 1 || k > SM_MAX_CLASSES)
        return sm_error(ctx, SM_ERR_INPUT, "maximum likelihood: %d classes (1 to %d allowed)", k,
                        SM_MAX_CLASSES);
    if (!(reject_level == 0 || (reject_level > 0 && reject_level < 1)))
        return sm_error(ctx, SM_ERR_INPUT,
                        "maximum likelihood: rejection level %g is not 0 (no rejection) or in (0,1)",
                        reject_level);
    size_t pp = (size_t)p * (size_t)p, kk = (size_t)k;
    sm_status st = SM_OK;
    char cname[160], fname[160];
    sm_maxlik *m = calloc(1, sizeof *m);
    if (!m)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    m->p = p;
    m->k = k;
    m->mean = malloc(kk * (size_t)p * sizeof *m->mean);
    m->cov = malloc(kk * pp * sizeof *m->cov);
    m->chol = calloc(kk * pp, sizeof *m->chol);
    m->prior = malloc(kk * sizeof *m->prior);
    m->lnprior = malloc(kk * sizeof *m->lnprior);
    m->logdet = malloc(kk * sizeof *m->logdet);
    m->bound = malloc(kk * sizeof *m->bound);
    m->order = malloc(kk * sizeof *m->order);
    m->count = calloc(kk, sizeof *m->count);
    if (!m->mean || !m->cov || !m->chol || !m->prior || !m->lnprior || !m->logdet || !m->bound ||
        !m->order || !m->count) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    memcpy(m->mean, mean, kk * (size_t)p * sizeof *m->mean);
    memcpy(m->cov, cov, kk * pp * sizeof *m->cov);
    if (count)
        memcpy(m->count, count, kk * sizeof *m->count);
    double psum = 0;
    for (int c = 0; c < k; c++) {
        name_of(cname, sizeof cname, class_names, c, "class");
        if (!(prior[c] > 0) || !isfinite(prior[c])) {
            st = sm_error(ctx, SM_ERR_INPUT, "maximum likelihood: class %s: prior %g is not > 0",
                          cname, prior[c]);
            goto end;
        }
        psum += prior[c];
    }
    for (int c = 0; c < k; c++) {
        m->prior[c] = prior[c] / psum;
        m->lnprior[c] = log(m->prior[c]);
    }
    /* Cholesky–Banachiewicz, row by row: L_ij = (Σ_ij − Σ_{l<j} L_il L_jl) / L_jj. */
    for (int c = 0; c < k; c++) {
        const double *a = m->cov + (size_t)c * pp;
        double *l = m->chol + (size_t)c * pp;
        double logdet = 0;
        name_of(cname, sizeof cname, class_names, c, "class");
        for (int i = 0; i < p; i++) {
            for (int j = 0; j <= i; j++) {
                double s = a[(size_t)i * (size_t)p + (size_t)j];
                if (!isfinite(s) || s != a[(size_t)j * (size_t)p + (size_t)i]) {
                    st = sm_error(ctx, SM_ERR_INPUT,
                                  "maximum likelihood: class %s: the covariance is not a finite "
                                  "symmetric matrix (row %d, column %d)",
                                  cname, i + 1, j + 1);
                    goto end;
                }
                for (int t = 0; t < j; t++)
                    s -= l[(size_t)i * (size_t)p + (size_t)t] * l[(size_t)j * (size_t)p + (size_t)t];
                if (i == j) {
                    double diag = a[(size_t)i * (size_t)p + (size_t)i];
                    if (!(s > 1e-12 * diag) || !(diag > 0)) {
                        name_of(fname, sizeof fname, feature_names, i, "feature");
                        st = sm_error(ctx, SM_ERR_INPUT,
                                      "maximum likelihood: class %s: the covariance of its %.0f "
                                      "samples is singular at feature %s (constant within the "
                                      "class, or a linear combination of the features before "
                                      "it); drop that feature, add more varied samples of the "
                                      "class, or use --method rf",
                                      cname, m->count[c], fname);
                        goto end;
                    }
                    l[(size_t)i * (size_t)p + (size_t)i] = sqrt(s);
                    logdet += 2 * log(l[(size_t)i * (size_t)p + (size_t)i]);
                } else {
                    l[(size_t)i * (size_t)p + (size_t)j] = s / l[(size_t)j * (size_t)p + (size_t)j];
                }
            }
        }
        m->logdet[c] = logdet;
        m->bound[c] = m->lnprior[c] - 0.5 * logdet;
    }
    /* insertion sort of the classes by bound, descending, stable */
    for (int c = 0; c < k; c++) {
        int j = c;
        for (; j > 0 && m->bound[m->order[j - 1]] < m->bound[c]; j--)
            m->order[j] = m->order[j - 1];
        m->order[j] = c;
    }
    m->level = reject_level;
    m->reject_d2 = reject_level > 0 ? sm_chi2_quantile(reject_level, p) : INFINITY;
end:
    if (st != SM_OK) {
        sm_maxlik_destroy(m);
        return st;
    }
    *out = m;
    return SM_OK;
}

sm_status sm_maxlik_train(sm_maxlik **out, sm_context *ctx, const float *x, const int *y,
                          size_t n, int p, int k, const char *const *class_names,
                          const char *const *feature_names, const sm_maxlik_options *opt)
{
    sm_maxlik_options defaults = SM_MAXLIK_OPTIONS_INIT;
    if (!opt)
        opt = &defaults;
    *out = NULL;
    if (opt->version != SM_MAXLIK_OPTIONS_VERSION)
        return sm_error(ctx, SM_ERR_INPUT, "maximum likelihood: options version %d (expected %d)",
                        opt->version, SM_MAXLIK_OPTIONS_VERSION);
    if (p < 1 || p > SM_MAX_FEATURES || k < 1 || k > SM_MAX_CLASSES)
        return sm_error(ctx, SM_ERR_INPUT,
                        "maximum likelihood: %d features and %d classes (1 to %d and 1 to %d "
                        "allowed)",
                        p, k, SM_MAX_FEATURES, SM_MAX_CLASSES);
    size_t pp = (size_t)p * (size_t)p, kk = (size_t)k;
    double *mean = calloc(kk * (size_t)p, sizeof *mean);
    double *cov = calloc(kk * pp, sizeof *cov);
    double *count = calloc(kk, sizeof *count);
    double *prior = malloc(kk * sizeof *prior);
    sm_status st = SM_OK;
    if (!mean || !cov || !count || !prior) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= k) {
            st = sm_error(ctx, SM_ERR_INPUT, "maximum likelihood: sample %zu has class %d (of %d)",
                          i, y[i], k);
            goto end;
        }
        count[y[i]] += 1;
        double *mu = mean + (size_t)y[i] * (size_t)p;
        for (int j = 0; j < p; j++)
            mu[j] += x[i * (size_t)p + (size_t)j];
    }
    for (int c = 0; c < k; c++) {
        if (count[c] < p + 1) {
            char cname[160];
            name_of(cname, sizeof cname, class_names, c, "class");
            st = sm_error(ctx, SM_ERR_INPUT,
                          "maximum likelihood: class %s has %.0f training samples; its "
                          "covariance of %d features needs at least %d",
                          cname, count[c], p, p + 1);
            goto end;
        }
        for (int j = 0; j < p; j++)
            mean[(size_t)c * (size_t)p + (size_t)j] /= count[c];
    }
    /* Two passes (mean, then centred products): no cancellation on DN-scaled bands. */
    for (size_t i = 0; i < n; i++) {
        const double *mu = mean + (size_t)y[i] * (size_t)p;
        double *s = cov + (size_t)y[i] * pp;
        double d[SM_MAX_FEATURES];
        for (int j = 0; j < p; j++)
            d[j] = x[i * (size_t)p + (size_t)j] - mu[j];
        for (int a = 0; a < p; a++)
            for (int b = 0; b <= a; b++)
                s[(size_t)a * (size_t)p + (size_t)b] += d[a] * d[b];
    }
    for (int c = 0; c < k; c++) {
        double *s = cov + (size_t)c * pp;
        for (int a = 0; a < p; a++)
            for (int b = 0; b <= a; b++) {
                double v = s[(size_t)a * (size_t)p + (size_t)b] / (count[c] - 1);
                s[(size_t)a * (size_t)p + (size_t)b] = v;
                s[(size_t)b * (size_t)p + (size_t)a] = v;
            }
        prior[c] = opt->prior == SM_PRIOR_SAMPLE ? count[c] / (double)n : 1.0;
    }
    st = sm_maxlik_create(out, ctx, p, k, mean, cov, prior, count, opt->reject_level, class_names,
                          feature_names);
end:
    free(mean);
    free(cov);
    free(count);
    free(prior);
    return st;
}

int sm_maxlik_nfeatures(const sm_maxlik *m) { return m->p; }
int sm_maxlik_nclasses(const sm_maxlik *m) { return m->k; }
const double *sm_maxlik_mean(const sm_maxlik *m, int c) { return m->mean + (size_t)c * (size_t)m->p; }
const double *sm_maxlik_cov(const sm_maxlik *m, int c)
{
    return m->cov + (size_t)c * (size_t)m->p * (size_t)m->p;
}
double sm_maxlik_prior(const sm_maxlik *m, int c) { return m->prior[c]; }
double sm_maxlik_count(const sm_maxlik *m, int c) { return m->count[c]; }
double sm_maxlik_reject_level(const sm_maxlik *m) { return m->level; }
double sm_maxlik_reject_d2(const sm_maxlik *m) { return m->reject_d2; }

double sm_maxlik_discriminant(const sm_maxlik *m, int c, const float *x, double *d2)
{
    int p = m->p;
    const double *mu = m->mean + (size_t)c * (size_t)p;
    const double *l = m->chol + (size_t)c * (size_t)p * (size_t)p;
    double v[SM_MAX_FEATURES], q = 0;
    /* forward substitution L v = x − μ; D² = |v|² */
    for (int i = 0; i < p; i++) {
        const double *row = l + (size_t)i * (size_t)p;
        double s = (double)x[i] - mu[i];
        for (int j = 0; j < i; j++)
            s -= row[j] * v[j];
        v[i] = s / row[i];
        q += v[i] * v[i];
    }
    if (d2)
        *d2 = q;
    return m->bound[c] - 0.5 * q;
}

int sm_maxlik_predict(const sm_maxlik *m, const float *x, float *posterior)
{
    for (int j = 0; j < m->p; j++)
        if (!isfinite(x[j])) {
            if (posterior)
                *posterior = 0;
            return -1;
        }
    double g[SM_MAX_CLASSES], best = -INFINITY, best_d2 = INFINITY;
    int win = -1;
    if (!posterior) {
        /* g_c <= bound_c exactly (the same expression less ½ D² >= 0): once the bound of the
         * next class, in decreasing order of bounds, is below the best g, none can win. A
         * class whose bound equals the best can only tie, and a tie goes to the lower index. */
        for (int i = 0; i < m->k; i++) {
            int c = m->order[i];
            if (win >= 0 && (m->bound[c] < best || (m->bound[c] == best && c > win))) {
                if (m->bound[c] < best)
                    break;
                continue;
            }
            double d2, gc = sm_maxlik_discriminant(m, c, x, &d2);
            if (win < 0 || gc > best || (gc == best && c < win)) {
                best = gc;
                best_d2 = d2;
                win = c;
            }
        }
        return best_d2 > m->reject_d2 ? -1 : win;
    }
    for (int c = 0; c < m->k; c++) {
        double d2;
        g[c] = sm_maxlik_discriminant(m, c, x, &d2);
        if (win < 0 || g[c] > best) {
            best = g[c];
            best_d2 = d2;
            win = c;
        }
    }
    if (posterior) {
        double s = 0;
        for (int c = 0; c < m->k; c++)
            s += exp(g[c] - best);
        *posterior = (float)(1.0 / s);
    }
    if (best_d2 > m->reject_d2)
        return -1;
    return win;
}
