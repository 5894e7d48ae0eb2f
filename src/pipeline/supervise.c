/* supervise.c: land cover of one scene in `sinkmap run` as the job's [classifier] says: the
 * rules, or a random forest / maximum likelihood model trained on the scene itself from the
 * inventory's land class (or a sample layer), held-out parcels scored with the Olofsson et al.
 * (2014) estimators. One training pass, one classification pass; thread-count independent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "pipeline/internal.h"
#include "sinkmap/accuracy.h"
#include "sinkmap/legend.h"
#include "sinkmap/model.h"
#include "sinkmap/table.h"
#include "sinkmap/train.h"

/* The samples of the classes that have any, as a new set (classes stay sorted). */
static sm_status present_classes(sm_samples **out, sm_context *ctx, const sm_samples *in)
{
    size_t counts[SM_MAX_CLASSES] = {0};
    sm_samples_class_counts(in, counts);
    const char *names[SM_MAX_CLASSES];
    int map[SM_MAX_CLASSES], k = 0;
    for (int c = 0; c < in->k; c++) {
        map[c] = counts[c] ? k : -1;
        if (counts[c])
            names[k++] = in->class_names[c];
    }
    sm_status st = sm_samples_create(out, ctx, in->p, (const char *const *)in->feature_names, k, names);
    for (size_t i = 0; st == SM_OK && i < in->n; i++)
        st = sm_samples_add(*out, ctx, in->x + i * (size_t)in->p, map[in->y[i]], in->group[i]);
    if (st != SM_OK) {
        sm_samples_destroy(*out);
        *out = NULL;
    }
    return st;
}

/* Labels from the job's sample layer: legend codes per feature; errors name an unknown class. */
static sm_status sample_labels(sm_context *ctx, const sm__plan *plan, sm__ref_layer *ref,
                               int **codes)
{
    const sm_job_classifier *c = &plan->job->cls;
    sm_reference_options ro = SM_REFERENCE_OPTIONS_INIT;
    ro.field = c->field;
    sm_status st = sm__ref_layer_read(ref, ctx, c->samples, &ro, plan->grid_wkt);
    if (st != SM_OK)
        return st;
    *codes = calloc(ref->n ? ref->n : 1, sizeof **codes);
    if (!*codes)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ref->n; i++) {
        if (!ref->labels[i][0])
            continue;
        int code = sm_legend_parse(ref->labels[i]);
        if (code < 1 || code > 9) {
            char names[1024];
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: field '%s': class '%s' is not a land-cover class of the legend "
                            "(expected a code or a name: %s)",
                            c->samples, c->field, ref->labels[i], sm_legend_names(names, sizeof names, 1, 9));
        }
        (*codes)[i] = code;
    }
    return SM_OK;
}

/* The legend code of every model class; errors when a class is not a legend land-cover class. */
static sm_status model_codes(sm_context *ctx, const sm_model *m, const char *what, int *code)
{
    for (int c = 0; c < sm_model_nclasses(m); c++) {
        const char *name = sm_model_class_name(m, c);
        int v = sm_legend_parse(name);
        if (v < 1 || v > 9) {
            char names[1024];
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: class '%s' of the model is not a land-cover class of the "
                            "legend (expected %s)",
                            what, name, sm_legend_names(names, sizeof names, 1, 9));
        }
        code[c] = v;
    }
    return SM_OK;
}

/* The accuracy report when the Olofsson estimates cannot be made (a mapped class with fewer
 * than 2 held-out samples): the input and counts sections only. */
static sm_status write_counts_only(sm_context *ctx, const char *path, const double *counts,
                                   const double *pixels, double cell_m2)
{
    sm_csv_writer *w = NULL;
    sm_status st = sm_csv_writer_open(&w, ctx, path, 0);
    if (st != SM_OK)
        return st;
    static const char *const head[] = {"section", "class", "reference", "measure", "value"};
    for (int i = 0; i < 5 && st == SM_OK; i++)
        st = sm_csv_writer_text(w, head[i]);
    if (st == SM_OK)
        st = sm_csv_writer_end_row(w);
    for (int c = 1; c <= SM__CODE_UNCLASSIFIED && st == SM_OK; c++) {
        if (pixels[c] <= 0)
            continue;
        if ((st = sm_csv_writer_text(w, "input")) || (st = sm_csv_writer_text(w, sm_legend_find(c)->key)) ||
            (st = sm_csv_writer_text(w, "")) || (st = sm_csv_writer_text(w, "mapped_area_ha")) ||
            (st = sm_csv_writer_double(w, pixels[c] * cell_m2 / 10000.0)) || (st = sm_csv_writer_end_row(w)))
            break;
    }
    for (int m = 1; m <= SM__CODE_UNCLASSIFIED && st == SM_OK; m++)
        for (int r = 1; r <= SM__CODE_UNCLASSIFIED && st == SM_OK; r++) {
            double n = counts[m * SM__NCODES + r];
            if (n == 0)
                continue;
            if ((st = sm_csv_writer_text(w, "counts")) || (st = sm_csv_writer_text(w, sm_legend_find(m)->key)) ||
                (st = sm_csv_writer_text(w, sm_legend_find(r)->key)) || (st = sm_csv_writer_text(w, "n")) ||
                (st = sm_csv_writer_double(w, n)) || (st = sm_csv_writer_end_row(w)))
                break;
        }
    if (st != SM_OK) {
        sm_csv_writer_destroy(w);
        return st;
    }
    return sm_csv_writer_close(w);
}

/* The samples of `in` restricted to its first p columns (own == 1) or to the rows whose every
 * feature is finite (own == 0), as a new set with the same classes. */
static sm_status sub_samples(sm_samples **out, sm_context *ctx, const sm_samples *in, int p, int own)
{
    sm_status st = sm_samples_create(out, ctx, own ? p : in->p, (const char *const *)in->feature_names,
                                     in->k, (const char *const *)in->class_names);
    for (size_t i = 0; i < in->n && st == SM_OK; i++) {
        const float *x = in->x + i * (size_t)in->p;
        int complete = 1;
        for (int j = 0; j < in->p && complete && !own; j++)
            complete = isfinite(x[j]);
        if (complete)
            st = sm_samples_add(*out, ctx, x, in->y[i], in->group[i]);
    }
    if (st != SM_OK) {
        sm_samples_destroy(*out);
        *out = NULL;
    }
    return st;
}

/* What a pixel needs beyond its own scene: "an observation in every partner scene (2023a,
 * 2024a)", "drone features (a flight covering at least half of the cell)", or both. */
static void stack_what(char *buf, size_t n, const sm__plan *plan, const sm__features *f)
{
    size_t len = 0;
    buf[0] = '\0';
    if (f->npart) {
        len += (size_t)snprintf(buf, n, "an observation in every partner scene (");
        for (int q = 0; q < f->npart && len < n; q++)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", q ? ", " : "", plan->scenes[f->part[q].scene].job->id);
        if (len < n)
            len += (size_t)snprintf(buf + len, n - len, ")%s", f->drone ? " and " : "");
    }
    if (f->drone && len < n)
        snprintf(buf + len, n - len, "drone features (a flight covering at least half of the cell)");
}

/* Trains the job's classifier on `train` (capped per class first; every class must have
 * min_samples). */
static sm_status train_model(sm_model **out, sm_context *ctx, const sm__plan *plan, sm_samples *train,
                             const char *source)
{
    const sm_job *job = plan->job;
    const sm_job_classifier *jc = &job->cls;
    sm_samples_cap(train, (size_t)jc->max_per_class, jc->seed);
    sm_status st = sm_samples_require(train, ctx, (size_t)jc->min_samples, source, "([classifier] min_samples)");
    if (st != SM_OK)
        return st;
    sm_model_options mo = SM_MODEL_OPTIONS_INIT;
    mo.method = strcmp(job->classifier, "rf") == 0 ? SM_METHOD_RF : SM_METHOD_MAXLIK;
    mo.rf.ntrees = jc->trees;
    mo.rf.mtry = jc->mtry;
    mo.rf.min_leaf = jc->min_leaf;
    mo.rf.max_depth = jc->max_depth;
    mo.rf.seed = jc->seed;
    mo.rf.threads = plan->threads;
    mo.maxlik.reject_level = jc->reject;
    if ((st = sm_model_train(out, ctx, train, &mo)) != SM_OK)
        return sm_error(ctx, st, "%s: %s", source, sm_context_message(ctx));
    return SM_OK;
}

/* Map codes of samples predicted by `m` (legend codes `code`) into mcode. */
static sm_status predict_legend(sm_context *ctx, const sm_model *m, const int *code, const float *x, size_t n,
                                int *mcode)
{
    uint8_t *pc = malloc(n ? n : 1);
    if (!pc)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    sm_model_predict_codes(m, x, n, pc, NULL);
    int k = sm_model_nclasses(m), rejected = sm_model_unclassified_code(m);
    for (size_t i = 0; i < n; i++)
        mcode[i] = (pc[i] >= 1 && pc[i] <= k && pc[i] != rejected) ? code[pc[i] - 1] : SM__CODE_UNCLASSIFIED;
    free(pc);
    return SM_OK;
}

sm_status sm__scene_landcover(sm_context *ctx, sm__plan *plan, size_t s, const char *stage,
                              const int *inv_code)
{
    const sm_job *job = plan->job;
    const sm_job_classifier *jc = &job->cls;
    const char *id = plan->scenes[s].job->id;
    sm_status st = SM_OK;
    char *lc_path = sm__asprintf(ctx, "%s/landcover_%s.tif", stage, id);
    char *conf_path = sm__asprintf(ctx, "%s/confidence_%s.tif", stage, id);
    char *acc_path = sm__asprintf(ctx, "%s/accuracy_%s.csv", stage, id);
    char source[1024];
    sm__ref_layer ref;
    memset(&ref, 0, sizeof ref);
    int *ref_codes = NULL;
    sm_samples *all = NULL, *train = NULL, *test = NULL, *own_train = NULL, *full_train = NULL;
    sm_model *model = NULL, *fallback = NULL;
    float *xfull = NULL, *xfb = NULL;
    int *mcode = NULL, *fbcode = NULL;
    uint8_t *isfb = NULL;
    sm_area_result *acc = NULL;
    if (!lc_path || !conf_path || !acc_path) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if (strcmp(job->classifier, "rules") == 0) {
        st = sm__scene_pass(ctx, plan, s, lc_path);
        goto end;
    }
    /* Labels: the sample layer, or the inventory's land class. */
    sm__labels lab;
    memset(&lab, 0, sizeof lab);
    if (jc->samples) {
        if ((st = sample_labels(ctx, plan, &ref, &ref_codes)) != SM_OK)
            goto end;
        lab.geoms = ref.is_points ? NULL : ref.geoms;
        lab.xy = ref.is_points ? ref.xy : NULL;
        lab.n = ref.n;
        lab.code = ref_codes;
        lab.center = 1;
        snprintf(source, sizeof source, "scene %s, training samples of %s (field %s)", id,
                 jc->samples, jc->field);
    } else {
        if (!job->fields[SM_FIELD_LAND_CLASS]) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: [classifier] method = %s needs training labels: map "
                          "field.land_class in [parcels] or give samples = a labelled layer",
                          job->path, job->classifier);
            goto end;
        }
        lab.geoms = plan->geoms;
        lab.n = plan->nparcels;
        lab.code = inv_code;
        lab.center = 0;
        /* keep about 4 × what training needs of a class (before the parcels are held out),
         * so that memory does not grow with the inventory's area */
        lab.area_m2 = plan->parcel_area_grid;
        lab.budget = jc->max_per_class > 0 ? 4.0 * (double)jc->max_per_class / (1.0 - jc->test_share) : 0;
        lab.seed = jc->seed;
        snprintf(source, sizeof source,
                 "scene %s, training pixels wholly inside parcels of %s by land class (%s)", id,
                 job->parcels_path, job->fields[SM_FIELD_LAND_CLASS]);
    }
    if ((st = sm__scene_collect(ctx, plan, s, &lab, &all)) != SM_OK)
        goto end;
    if (all->n == 0 && !jc->model) {
        /* Nothing labelled is observed (a scene all no data or cloud): nothing to train on,
         * and nothing to classify either; the rules write the scene's empty map. */
        sm_warn(ctx, "scene %s: no training pixel is observed (all no data or cloud); its land cover is "
                     "left to the rules, with no confidence map or accuracy report",
                id);
        st = sm__scene_pass(ctx, plan, s, lc_path);
        goto end;
    }
    if ((st = present_classes(&train, ctx, all)) != SM_OK)
        goto end;
    sm_samples_destroy(all);
    all = NULL;
    sm__scene_model sm;
    memset(&sm, 0, sizeof sm);
    sm__features f;
    if ((st = sm__features_init(&f, ctx, plan, s)) != SM_OK)
        goto end;
    if (jc->model) {
        sm_model_expect ex = {f.p, f.names, 0, NULL};
        if ((st = sm_model_load(&model, ctx, jc->model, &ex)) != SM_OK)
            goto end;
        /* a model trained elsewhere: every labelled pixel is a test pixel */
        test = train;
        train = NULL;
    } else {
        if (train->k < 2) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s: %d land-cover class%s with samples (%s); at least 2 are needed",
                          source, train->k, train->k == 1 ? "" : "es", train->k ? train->class_names[0] : "none");
            goto end;
        }
        if ((st = sm_samples_split_groups(train, ctx, jc->test_share, jc->seed, &test)) != SM_OK)
            goto end;
        if (f.p > f.p_own) {
            /* features = stack or drone = yes: a model of the scene's own features for the
             * pixels a partner does not observe or no flight covers, and the full model on the
             * samples that have every feature */
            if ((st = sub_samples(&own_train, ctx, train, f.p_own, 1)) != SM_OK ||
                (st = train_model(&fallback, ctx, plan, own_train, source)) != SM_OK ||
                (st = sub_samples(&full_train, ctx, train, f.p, 0)) != SM_OK)
                goto end;
            char fsrc[1800], what[512];
            stack_what(what, sizeof what, plan, &f);
            snprintf(fsrc, sizeof fsrc, "%s, pixels with %s", source, what);
            st = train_model(&model, ctx, plan, full_train, fsrc);
            if (st == SM_ERR_INPUT) {
                sm_warn(ctx, "scene %s: %s: %s; the scene is classified by its own features", id,
                        f.npart ? "features = stack" : "drone = yes", sm_context_message(ctx));
                sm_context_clear(ctx);
                st = SM_OK;
            } else if (st != SM_OK) {
                goto end;
            }
        } else if ((st = train_model(&model, ctx, plan, train, source)) != SM_OK) {
            goto end;
        }
    }
    if (model && (st = model_codes(ctx, model, jc->model ? jc->model : source, sm.code)) != SM_OK)
        goto end;
    if (fallback && (st = model_codes(ctx, fallback, source, sm.fb_code)) != SM_OK)
        goto end;
    sm.model = model;
    sm.fallback = fallback;
    sm.conf_path = conf_path;
    if ((st = sm__scene_pass_model(ctx, plan, s, lc_path, &sm)) != SM_OK)
        goto end;
    /* (without the full model the scene's own features did it all, as the warning above says) */
    if (f.p > f.p_own && sm.fb_pixels > 0 && (model || !fallback)) {
        double obs = 0;
        for (int c = 1; c <= SM__CODE_UNCLASSIFIED; c++)
            obs += sm.pixels[c];
        char what[512];
        stack_what(what, sizeof what, plan, &f);
        if (fallback)
            sm_warn(ctx, "scene %s: %.0f of its %.0f observed pixels (%.2f %%) lack %s and were classified "
                         "by a model of the scene's own features",
                    id, sm.fb_pixels, obs, obs > 0 ? 100.0 * sm.fb_pixels / obs : 0.0, what);
        else
            sm_warn(ctx, "scene %s: %.0f of its %.0f observed pixels (%.2f %%) lack %s, which the model %s "
                         "needs, so they are unclassified (10)",
                    id, sm.fb_pixels, obs, obs > 0 ? 100.0 * sm.fb_pixels / obs : 0.0, what, jc->model);
    }
    /* Held-out pixels: the map's class (the prediction of the model the map used for the pixel)
     * against the label. */
    double counts[SM__NCODES * SM__NCODES] = {0};
    size_t p = (size_t)test->p, po = (size_t)f.p_own, nfull = 0, nfb = 0;
    xfull = malloc((test->n ? test->n : 1) * p * sizeof *xfull);
    xfb = malloc((test->n ? test->n : 1) * po * sizeof *xfb);
    mcode = malloc((test->n ? test->n : 1) * sizeof *mcode);
    fbcode = malloc((test->n ? test->n : 1) * sizeof *fbcode);
    isfb = malloc(test->n ? test->n : 1);
    if (!xfull || !xfb || !mcode || !fbcode || !isfb) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (size_t i = 0; i < test->n; i++) {
        const float *x = test->x + i * p;
        int complete = model != NULL;
        for (size_t j = po; j < p && complete; j++)
            complete = isfinite(x[j]);
        isfb[i] = (uint8_t)!complete;
        if (complete)
            memcpy(xfull + nfull++ * p, x, p * sizeof *x);
        else
            memcpy(xfb + nfb++ * po, x, po * sizeof *x);
    }
    if (model && (st = predict_legend(ctx, model, sm.code, xfull, nfull, mcode)) != SM_OK)
        goto end;
    for (size_t i = 0; i < nfb; i++)
        fbcode[i] = SM__CODE_UNCLASSIFIED;
    if (fallback && (st = predict_legend(ctx, fallback, sm.fb_code, xfb, nfb, fbcode)) != SM_OK)
        goto end;
    for (size_t i = 0, a = 0, b = 0; i < test->n; i++) {
        int m = isfb[i] ? fbcode[b++] : mcode[a++];
        int rcode = sm_legend_parse(test->class_names[test->y[i]]);
        counts[m * SM__NCODES + rcode]++;
    }
    double pixels[SM__NCODES];
    memcpy(pixels, sm.pixels, sizeof pixels);
    pixels[SM__CODE_NODATA] = pixels[SM__CODE_CLOUD] = 0;
    double cell_m2 = fabs(plan->grid.dx * plan->grid.dy);
    char asrc[1200];
    snprintf(asrc, sizeof asrc, "%s: held-out pixels", source);
    st = sm__accuracy_from_codes(&acc, ctx, counts, pixels, cell_m2, asrc, lc_path, job->parcels_path);
    if (st == SM_ERR_INPUT) {
        sm_warn(ctx, "scene %s: accuracy_%s.csv has the sample counts only: %s", id, id,
                sm_context_message(ctx));
        sm_context_clear(ctx);
        st = write_counts_only(ctx, acc_path, counts, pixels, cell_m2);
    } else if (st == SM_OK) {
        st = sm_area_result_write(acc, ctx, acc_path);
    }
end:
    free(xfull);
    free(xfb);
    free(mcode);
    free(fbcode);
    free(isfb);
    sm_area_result_destroy(acc);
    sm_model_destroy(model);
    sm_model_destroy(fallback);
    sm_samples_destroy(own_train);
    sm_samples_destroy(full_train);
    sm_samples_destroy(all);
    sm_samples_destroy(train);
    sm_samples_destroy(test);
    free(ref_codes);
    sm__ref_layer_free(&ref);
    free(lc_path);
    free(conf_path);
    free(acc_path);
    return st;
}
