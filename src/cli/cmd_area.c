/* cmd_area.c: `sinkmap area-estimate`: accuracy and error-adjusted area from a stratified sample
 * (Olofsson et al. 2014) and the sample size for a target precision. Parses the options, calls
 * sm_area_estimate() and sm_area_result_write(), and prints a short summary on stdout. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "sinkmap/accuracy.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: sinkmap area-estimate --counts COUNTS.csv --mapped MAPPED.csv\n"
        "                             [--pixel-area M2] [--target-se SE]\n"
        "                             [--min-per-class N] -o OUT.csv\n\n"
        "Accuracy and error-adjusted area of each class from a stratified random sample\n"
        "whose strata are the map classes (Olofsson et al. 2014, Remote Sensing of\n"
        "Environment 148:42-57), and the sample size for a target precision.\n\n"
        "  --counts F      sample counts: header 'map,CLASS1,CLASS2,...' (reference classes);\n"
        "                  one row per map class, its name first, in the same order as the\n"
        "                  columns. Omit it to plan a sample (needs --target-se and an\n"
        "                  expected_ua column in MAPPED.csv)\n"
        "  --mapped F      mapped area per class: columns class,area (ha), optionally\n"
        "                  expected_ua (the user's accuracy expected, for --target-se)\n"
        "  --pixel-area M2 the areas of MAPPED.csv are pixel counts of M2 m² each\n"
        "                  (e.g. 900 for 30 m); also gives the population size N\n"
        "  --target-se SE  plan the sample size for this standard error of overall accuracy\n"
        "                  (e.g. 0.01): n = (Σ W_i S_i)² / (SE² + Σ W_i S_i² / N),\n"
        "                  S_i = sqrt(U_i (1 - U_i)) from expected_ua or the observed U_i\n"
        "                  (Olofsson 2014 eq. 13, Cochran 1977 eq. 5.25; without N the\n"
        "                  last term is dropped)\n"
        "  --min-per-class N  minimum of the suggested allocation (default 50)\n"
        "  -o OUT.csv      the report (replaced only when everything succeeds)\n\n"
        "OUT.csv is one tidy table with the columns section,class,reference,measure,value:\n"
        "  input        class    mapped_area_ha, weight (W_i), samples (n_i.), expected_ua\n"
        "  counts       map class, reference class, n        the sample error matrix\n"
        "  proportions  map class, reference class, p        p_ij = W_i n_ij / n_i.\n"
        "  class        class    reference_samples, area_share, area_share_se, area_ha,\n"
        "               area_se_ha, area_ci95_ha, area_ci95_low_ha, area_ci95_high_ha,\n"
        "               users, users_se, users_ci95, producers, producers_se,\n"
        "               producers_ci95, f1, producers_sample (n_jj / n_.j, unweighted)\n"
        "  overall      -        total_area_ha, samples, overall, overall_se, overall_ci95,\n"
        "                        overall_sample (unweighted), kappa (compatibility only)\n"
        "  sample_size  -        target_se, population, expected_ua (1/0), n_exact, n,\n"
        "                        min_per_class, n_suggested\n"
        "  sample_size  class    s, proportional, neyman, suggested\n"
        "CI values are 95 %% half-widths (1.96 SE); areas in ha; undefined values are empty.\n");
}

static int parse_number(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static void print_summary(const sm_area_result *r)
{
    const sm_accuracy *a = r->accuracy;
    size_t k = r->input->nclasses;
    if (a) {
        printf("%-20s %14s %12s %16s %16s\n", "class", "area_ha", "95% CI", "user's", "producer's");
        for (size_t i = 0; i < k; i++) {
            const sm_accuracy_class *c = sm_accuracy_class_at(a, i);
            printf("%-20s %14.1f %12.1f %9.3f±%-6.3f %9.3f±%-6.3f\n", c->name, c->area,
                   c->area_ci95, c->users, 1.96 * c->users_se, c->producers,
                   1.96 * c->producers_se);
        }
        const sm_accuracy_overall *o = sm_accuracy_overall_get(a);
        printf("overall accuracy %.3f ± %.3f (95%% CI; %g samples; kappa %.3f, for "
               "compatibility only)\n",
               o->overall, 1.96 * o->overall_se, o->samples, o->kappa);
    }
    if (r->has_plan) {
        printf("sample size for a standard error of overall accuracy of %g (user's accuracies "
               "%s): n = %ld\n",
               r->target_se, r->expected ? "expected" : "observed", r->plan.n);
        printf("%-20s %12s %12s %12s\n", "class", "proportional", "neyman", "suggested");
        for (size_t i = 0; i < k; i++)
            printf("%-20s %12ld %12ld %12ld\n", r->input->names[i], r->proportional[i],
                   r->neyman[i], r->suggested[i]);
        if (r->plan.n_suggested != r->plan.n)
            printf("the suggested allocation (at least %ld per class) totals %ld\n",
                   r->min_per_class, r->plan.n_suggested);
    }
}

int sm_cmd_area(int argc, char **argv)
{
    sm_area_options opt = SM_AREA_OPTIONS_INIT;
    const char *counts = NULL, *mapped = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (sm_cli_is_help(a)) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--counts") && strcmp(a, "--mapped") && strcmp(a, "--pixel-area") &&
            strcmp(a, "--target-se") && strcmp(a, "--min-per-class") && strcmp(a, "-o") &&
            strcmp(a, "--output")) {
            if (a[0] == '-')
                return sm_cli_usage_error(
                    "area-estimate: unknown option '%s' (see sinkmap area-estimate --help)", a);
            return sm_cli_usage_error("area-estimate: unexpected argument '%s'", a);
        }
        if (i + 1 >= argc)
            return sm_cli_usage_error("%s needs a value", a);
        const char *v = argv[++i];
        double x;
        if (strcmp(a, "--counts") == 0)
            counts = v;
        else if (strcmp(a, "--mapped") == 0)
            mapped = v;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0)
            out = v;
        else if (strcmp(a, "--pixel-area") == 0) {
            if (parse_number(v, &x) || !(x > 0))
                return sm_cli_usage_error("--pixel-area '%s': expected a cell area in m² > 0", v);
            opt.pixel_area_m2 = x;
        } else if (strcmp(a, "--target-se") == 0) {
            if (parse_number(v, &x) || !(x > 0 && x < 1))
                return sm_cli_usage_error(
                    "--target-se '%s': expected a standard error between 0 and 1 (e.g. 0.01)", v);
            opt.target_se = x;
        } else {
            if (parse_number(v, &x) || x < 0 || x != floor(x) || x > 1e9)
                return sm_cli_usage_error("--min-per-class '%s': expected a whole number >= 0", v);
            opt.min_per_class = (long)x;
        }
    }
    if (!mapped || !out || (!counts && !(opt.target_se > 0))) {
        usage(stderr);
        return 2;
    }
    sm_context *ctx = sm_context_create();
    if (!ctx)
        return 1;
    sm_area_result *r = NULL;
    sm_status st = sm_area_estimate(&r, ctx, counts, mapped, &opt);
    if (st == SM_OK)
        st = sm_area_result_write(r, ctx, out);
    int code = 0;
    if (st == SM_OK) {
        print_summary(r);
        printf("wrote %s\n", out);
    } else {
        code = sm_cli_fail(ctx, st);
    }
    sm_area_result_destroy(r);
    sm_context_destroy(ctx);
    return code;
}
