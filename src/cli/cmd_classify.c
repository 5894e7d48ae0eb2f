/* cmd_classify.c: `sinkmap classify RASTER... --train LAYER --field F | --model M ... -o MAP`:
 * supervised land-cover classification (maximum likelihood or random forest). Parses options,
 * then samples, trains, evaluates and maps through the library (train.h, model.h). */
#include <cpl_conv.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sinkmap/model.h"
#include "sinkmap/train.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sinkmap classify RASTER... (--train LAYER --field F | --model MODEL)\n"
            "                        [options] [-o MAP.tif] [--confidence CONF.tif]\n\n"
            "Supervised land-cover classification of a raster stack: the bands of the RASTERs in\n"
            "file order (the first raster sets the grid and CRS; the others are resampled onto\n"
            "it), plus optional indices. Classes are the distinct values of the training field,\n"
            "sorted (byte order), written as codes 1..K; 0 is no data.\n\n"
            "features:\n"
            "  --roles LIST        role of every band in file order: blue, green, red, nir,\n"
            "                      swir1, swir2 or - (e.g. blue,green,red,nir,swir1,swir2)\n"
            "  --indices LIST      add ndvi, ndwi, mndwi, ndbi (they need --roles)\n"
            "training:\n"
            "  --train LAYER       labelled polygons (pixels whose centre is inside) or points\n"
            "                      (the pixel holding the point); reprojected when its CRS\n"
            "                      differs from the rasters'\n"
            "  --field F           the class field (also of --test unless --test-field)\n"
            "  --layer NAME        the layer of --train (default: the first)\n"
            "  --method M          rf (random forest, default) or maxlik (Gaussian maximum\n"
            "                      likelihood)\n"
            "  --max-per-class N   at most N training pixels per class, drawn with --seed\n"
            "                      (default 0: all)\n"
            "  --min-samples N     a class with fewer training pixels is an error (default 10;\n"
            "                      maxlik needs at least features + 1)\n"
            "  --holdout F         hold out this share of each class's polygons (whole polygons,\n"
            "                      never pixels of one polygon on both sides) and report the\n"
            "                      accuracy on them (default 0)\n"
            "  --seed S            seeds the forest, the hold-out draw and the cap (default 1)\n"
            "  --save-model M      write the trained model (versioned, SHA-256 checked)\n"
            "maximum likelihood:\n"
            "  --prior P           equal (default) or sample (the classes' shares of the samples)\n"
            "  --reject L          unclassified where the winner's Mahalanobis D² exceeds the\n"
            "                      chi-square quantile at level L with p degrees of freedom\n"
            "                      (default 0.999; 0: never)\n"
            "random forest:\n"
            "  --trees N           trees (default 100)\n"
            "  --mtry M            features tried per split (default 0: floor(sqrt(p)))\n"
            "  --min-leaf K        bootstrap draws at least in each leaf (default 1)\n"
            "  --max-depth D       depth limit (default 0: none)\n"
            "applying and testing:\n"
            "  --model M           apply a saved model instead of training (its features must\n"
            "                      be the stack's)\n"
            "  --test LAYER        report the accuracy on independent reference polygons or\n"
            "                      points (overall, kappa, user's and producer's per class)\n"
            "  --test-field F      the class field of --test (default: --field)\n"
            "  --test-layer NAME   the layer of --test\n"
            "  --report CSV        write the accuracy figures as CSV (set,class,reference,\n"
            "                      measure,value)\n"
            "  -o MAP.tif          the class map (Byte COG, category names and colours; 10, or\n"
            "                      K + 1 when K >= 10, is unclassified)\n"
            "  --confidence C.tif  Float32: the forest's vote share for the class, or maximum\n"
            "                      likelihood's posterior probability\n"
            "  --threads T         threads (default 0: one per core); the model and the maps\n"
            "                      are identical for any T\n"
            "  --quiet, --progress\n");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_long(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !v[0] || *end || errno || x < lo || x > hi)
        return sm_cli_usage_error("%s needs a whole number from %ld to %ld", opt, lo, hi);
    *out = x;
    return 0;
}

static int parse_double(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = v ? strtod(v, &end) : 0;
    if (!v || !v[0] || *end || !(x >= lo && x <= hi))
        return sm_cli_usage_error("%s needs a number from %g to %g", opt, lo, hi);
    *out = x;
    return 0;
}

static void print_counts(const sm_samples *s, const char *what)
{
    size_t counts[SM_MAX_CLASSES];
    sm_samples_class_counts(s, counts);
    printf("%s: %zu pixels (", what, s->n);
    for (int c = 0; c < s->k; c++)
        printf("%s%s %zu", c ? ", " : "", s->class_names[c], counts[c]);
    printf(")\n");
}

int sm_cmd_classify(int argc, char **argv)
{
    const char **rasters = calloc((size_t)argc + 1, sizeof *rasters);
    if (!rasters)
        return 1;
    size_t nrasters = 0;
    const char *train = NULL, *field = NULL, *layer = NULL, *model_path = NULL, *save = NULL;
    const char *test = NULL, *test_field = NULL, *test_layer = NULL, *report = NULL;
    const char *out = NULL, *conf = NULL;
    sm_stack_options so = SM_STACK_OPTIONS_INIT;
    sm_model_options mo = SM_MODEL_OPTIONS_INIT;
    long max_per_class = 0, min_samples = 10, threads = 0, v;
    double holdout = 0;
    uint64_t seed = 1;
    int progress = isatty(2), code = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (sm_cli_is_help(a)) {
            usage(stdout);
            code = 0;
            goto done;
        } else if (strcmp(a, "--progress") == 0) {
            progress = 1;
            continue;
        } else if (strcmp(a, "--quiet") == 0) {
            progress = 0;
            continue;
        } else if (a[0] != '-' || !a[1]) {
            rasters[nrasters++] = a;
            continue;
        }
        if (!val) {
            sm_cli_usage_error("%s needs a value (see sinkmap classify --help)", a);
            goto done;
        }
        i++;
        if (strcmp(a, "--train") == 0)
            train = val;
        else if (strcmp(a, "--field") == 0)
            field = val;
        else if (strcmp(a, "--layer") == 0)
            layer = val;
        else if (strcmp(a, "--model") == 0)
            model_path = val;
        else if (strcmp(a, "--save-model") == 0)
            save = val;
        else if (strcmp(a, "--test") == 0)
            test = val;
        else if (strcmp(a, "--test-field") == 0)
            test_field = val;
        else if (strcmp(a, "--test-layer") == 0)
            test_layer = val;
        else if (strcmp(a, "--report") == 0)
            report = val;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0)
            out = val;
        else if (strcmp(a, "--confidence") == 0)
            conf = val;
        else if (strcmp(a, "--roles") == 0)
            so.roles = val;
        else if (strcmp(a, "--indices") == 0)
            so.indices = val;
        else if (strcmp(a, "--method") == 0) {
            if (strcmp(val, "rf") == 0)
                mo.method = SM_METHOD_RF;
            else if (strcmp(val, "maxlik") == 0)
                mo.method = SM_METHOD_MAXLIK;
            else {
                sm_cli_usage_error("--method '%s': expected rf or maxlik", val);
                goto done;
            }
        } else if (strcmp(a, "--prior") == 0) {
            if (strcmp(val, "equal") == 0)
                mo.maxlik.prior = SM_PRIOR_EQUAL;
            else if (strcmp(val, "sample") == 0)
                mo.maxlik.prior = SM_PRIOR_SAMPLE;
            else {
                sm_cli_usage_error("--prior '%s': expected equal or sample", val);
                goto done;
            }
        } else if (strcmp(a, "--reject") == 0) {
            if (parse_double(a, val, 0, 0.999999999, &mo.maxlik.reject_level))
                goto done;
        } else if (strcmp(a, "--holdout") == 0) {
            if (parse_double(a, val, 0, 0.99, &holdout))
                goto done;
        } else if (strcmp(a, "--trees") == 0) {
            if (parse_long(a, val, 1, 100000, &v))
                goto done;
            mo.rf.ntrees = (int)v;
        } else if (strcmp(a, "--mtry") == 0) {
            if (parse_long(a, val, 0, SM_MAX_FEATURES, &v))
                goto done;
            mo.rf.mtry = (int)v;
        } else if (strcmp(a, "--min-leaf") == 0) {
            if (parse_long(a, val, 1, 1000000, &v))
                goto done;
            mo.rf.min_leaf = (int)v;
        } else if (strcmp(a, "--max-depth") == 0) {
            if (parse_long(a, val, 0, 10000, &v))
                goto done;
            mo.rf.max_depth = (int)v;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(val, &end, 10);
            if (!val[0] || *end || errno || val[0] == '-') {
                sm_cli_usage_error("--seed needs a whole number from 0 to 2^64-1");
                goto done;
            }
            seed = (uint64_t)s;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_long(a, val, 0, 1024, &threads))
                goto done;
        } else if (strcmp(a, "--max-per-class") == 0) {
            if (parse_long(a, val, 0, 1000000000L, &max_per_class))
                goto done;
        } else if (strcmp(a, "--min-samples") == 0) {
            if (parse_long(a, val, 1, 1000000000L, &min_samples))
                goto done;
        } else {
            sm_cli_usage_error("classify: unknown option '%s' (see sinkmap classify --help)", a);
            goto done;
        }
    }
    if (nrasters == 0 || (!train && !model_path)) {
        usage(stderr);
        goto done;
    }
    if (train && model_path) {
        sm_cli_usage_error("give either --train (to train a model) or --model (to apply one)");
        goto done;
    }
    if (train && !field) {
        sm_cli_usage_error("--train needs --field (the class field)");
        goto done;
    }
    if (test && !(test_field || field)) {
        sm_cli_usage_error("--test needs --test-field or --field");
        goto done;
    }
    if (!out && !save && !test && holdout == 0) {
        sm_cli_usage_error("nothing to do: give -o MAP.tif, --save-model, --test or --holdout");
        goto done;
    }
    if (conf && !out) {
        sm_cli_usage_error("--confidence needs -o MAP.tif");
        goto done;
    }
    if (holdout > 0 && !train) {
        sm_cli_usage_error("--holdout needs --train");
        goto done;
    }
    if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL))
        CPLSetConfigOption("GDAL_CACHEMAX", "64");
    mo.rf.seed = seed;
    mo.rf.threads = (int)threads;

    sm_context *ctx = sm_context_create();
    if (!ctx) {
        code = 1;
        goto done;
    }
    if (progress)
        sm_context_set_progress(ctx, sm_cli_progress, NULL);
    sm_stack *stack = NULL;
    sm_samples *samples = NULL, *held = NULL, *tests = NULL;
    sm_model *model = NULL;
    FILE *rep = NULL;
    double *counts = NULL;
    sm_status st = sm_stack_open(&stack, ctx, rasters, nrasters, &so);
    if (st != SM_OK)
        goto end;
    int p = sm_stack_nfeatures(stack);
    if (train) {
        sm_reference_options ro = SM_REFERENCE_OPTIONS_INIT;
        ro.field = field;
        ro.layer = layer;
        double t0 = now();
        if ((st = sm_reference_sample(&samples, ctx, stack, train, &ro, 0, NULL)) != SM_OK)
            goto end;
        if ((st = sm_samples_split_groups(samples, ctx, holdout, seed ^ 0x5851F42D4C957F2Dull,
                                          &held)) != SM_OK)
            goto end;
        sm_samples_cap(samples, (size_t)max_per_class, seed ^ 0x14057B7EF767814Full);
        size_t need = (size_t)min_samples;
        char why[160] = "(--min-samples)";
        if (mo.method == SM_METHOD_MAXLIK && need < (size_t)p + 1) {
            need = (size_t)p + 1;
            snprintf(why, sizeof why, "(maximum likelihood estimates a %dx%d covariance per class)",
                     p, p);
        }
        if ((st = sm_samples_require(samples, ctx, need, train, why)) != SM_OK)
            goto end;
        print_counts(samples, "training samples");
        if (held->n > 0)
            print_counts(held, "held-out samples");
        if ((st = sm_model_train(&model, ctx, samples, &mo)) != SM_OK)
            goto end;
        double t1 = now();
        if (mo.method == SM_METHOD_RF) {
            sm_rf_options ro2 = sm_rf_params(sm_model_rf(model));
            printf("random forest: %d trees, mtry %d, min leaf %d, max depth %d, seed %" PRIu64
                   ", out-of-bag error %.4f; sampled and trained in %.2f s\n",
                   ro2.ntrees, ro2.mtry, ro2.min_leaf, ro2.max_depth, ro2.seed,
                   sm_rf_oob_error(sm_model_rf(model)), t1 - t0);
        } else {
            const sm_maxlik *ml = sm_model_maxlik(model);
            printf("maximum likelihood: %d features, priors %s, ", p,
                   mo.maxlik.prior == SM_PRIOR_SAMPLE ? "from samples" : "equal");
            if (sm_maxlik_reject_level(ml) > 0)
                printf("rejection at D2 > %.4f (chi-square %g, %d dof)", sm_maxlik_reject_d2(ml),
                       sm_maxlik_reject_level(ml), p);
            else
                printf("no rejection");
            printf("; sampled and trained in %.2f s\n", t1 - t0);
        }
        if (save) {
            if ((st = sm_model_save(model, ctx, save)) != SM_OK)
                goto end;
            printf("model written to %s\n", save);
        }
    } else {
        sm_model_expect ex = {p, sm_stack_feature_names(stack), 0, NULL};
        if ((st = sm_model_load(&model, ctx, model_path, &ex)) != SM_OK)
            goto end;
        printf("model %s: %s, %d classes, %d features\n", model_path,
               sm_model_method_name(sm_model_method(model)), sm_model_nclasses(model),
               sm_model_nfeatures(model));
    }
    int k = sm_model_nclasses(model);
    counts = malloc((size_t)(k + 1) * (size_t)k * sizeof *counts);
    if (!counts) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    if (report) {
        rep = fopen(report, "w");
        if (!rep) {
            st = sm_error(ctx, SM_ERR_INPUT, "--report %s: cannot create the file", report);
            goto end;
        }
        fprintf(rep, "set,class,reference,measure,value\n");
    }
    if (held && held->n > 0) {
        if ((st = sm_model_confusion(model, ctx, held, counts)) != SM_OK)
            goto end;
        sm_confusion_print(stdout, model, counts, "accuracy on the held-out polygons");
        if (rep)
            sm_confusion_csv(rep, model, counts, "holdout");
    }
    if (test) {
        sm_reference_options to = SM_REFERENCE_OPTIONS_INIT;
        to.field = test_field ? test_field : field;
        to.layer = test_layer;
        const char *names[SM_MAX_CLASSES];
        for (int c = 0; c < k; c++)
            names[c] = sm_model_class_name(model, c);
        if ((st = sm_reference_sample(&tests, ctx, stack, test, &to, k, names)) != SM_OK)
            goto end;
        if ((st = sm_model_confusion(model, ctx, tests, counts)) != SM_OK)
            goto end;
        char title[512];
        snprintf(title, sizeof title, "accuracy on %s", test);
        sm_confusion_print(stdout, model, counts, title);
        if (rep)
            sm_confusion_csv(rep, model, counts, "test");
    }
    if (rep) {
        int bad = ferror(rep);
        bad = fclose(rep) != 0 || bad;
        rep = NULL;
        if (bad) {
            st = sm_error(ctx, SM_ERR_IO, "--report %s: cannot write", report);
            goto end;
        }
    }
    if (out) {
        sm_classify_map_options co = SM_CLASSIFY_MAP_OPTIONS_INIT;
        co.threads = (int)threads;
        co.confidence_path = conf;
        double secs = 0;
        if ((st = sm_classify_map(ctx, stack, model, out, &co, &secs)) != SM_OK)
            goto end;
        sm_grid g = sm_stack_grid(stack);
        double mpx = (double)g.ncols * (double)g.nrows / 1e6;
        printf("map written to %s: %lld x %lld pixels in %.2f s (%.3f s per megapixel)\n", out,
               (long long)g.ncols, (long long)g.nrows, secs, mpx > 0 ? secs / mpx : 0.0);
    }
end:
    if (rep)
        fclose(rep);
    code = st == SM_OK ? 0 : sm_cli_fail(ctx, st);
    free(counts);
    sm_samples_destroy(samples);
    sm_samples_destroy(held);
    sm_samples_destroy(tests);
    sm_model_destroy(model);
    sm_stack_close(stack);
    sm_context_destroy(ctx);
done:
    free(rasters);
    return code;
}
