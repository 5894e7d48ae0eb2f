/* cmd_accuracy.c: `sinkmap accuracy MAP REFERENCE --field F [-o OUT] [--layer L]`: the error
 * matrix and the Olofsson et al. (2014) estimators of a land-cover map against reference
 * points or polygons. Parses the options, calls sm_map_accuracy(), prints or writes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "sinkmap/legend.h"
#include "sinkmap/train.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sinkmap accuracy MAP REFERENCE --field F [--layer L] [-o OUT.csv]\n\n"
            "Accuracy of a land-cover map (a sinkmap legend map, e.g. landcover_<s>.tif)\n"
            "against reference points or polygons, with error-adjusted areas (Olofsson et al.\n"
            "2014, Remote Sensing of Environment 148:42-57).\n\n"
            "  MAP          one band of legend codes in a projected CRS (metres)\n"
            "  REFERENCE    points or polygons in any CRS (reprojected onto the map's)\n"
            "  --field F    the reference class: a legend code (1-10) or a name in Chinese or\n"
            "               English or the key (乔木林, tree forest, tree_forest, ...;\n"
            "               data/landcover_legend.csv)\n"
            "  --layer L    the layer of REFERENCE (default: the first)\n"
            "  -o OUT.csv   the report as a tidy CSV (replaced only when everything succeeds);\n"
            "               without it the report is printed\n\n"
            "Samples: a point takes the pixel under it; a polygon every pixel whose centre\n"
            "lies inside it. Strata are the map classes 1-10 (unclassified included); pixels\n"
            "of no data (0) and cloud (11) count in no area and samples on them are left out.\n"
            "Mapped areas are the map's pixel counts x the cell area over the whole map.\n"
            "Every mapped class needs at least 2 samples. Reported: the error matrix (map row,\n"
            "reference column), overall accuracy, user's and producer's accuracy, F1 and kappa\n"
            "(sample counts), and area-weighted: the matrix in area proportions, error-adjusted\n"
            "area per class (ha) with SE and 95%% CI, user's, producer's and overall accuracy\n"
            "with 95%% CIs. OUT.csv has the columns of sinkmap area-estimate's report:\n"
            "section,class,reference,measure,value (see sinkmap area-estimate --help).\n");
}

static void print_report(const sm_area_result *r)
{
    const sm_accuracy *a = r->accuracy;
    size_t k = sm_accuracy_nclasses(a);
    printf("error matrix (sample pixels; rows: map, columns: reference)\n%-14s", "");
    for (size_t j = 0; j < k; j++)
        printf(" %12.12s", r->input->names[j]);
    printf(" %12s\n", "total");
    for (size_t i = 0; i < k; i++) {
        printf("%-14.14s", r->input->names[i]);
        double row = 0;
        for (size_t j = 0; j < k; j++) {
            printf(" %12.0f", sm_accuracy_count(a, i, j));
            row += sm_accuracy_count(a, i, j);
        }
        printf(" %12.0f\n", row);
    }
    printf("\n%-14s %12s %12s %10s %10s %8s %8s %8s %8s\n", "class", "mapped_ha", "area_ha",
           "±95%", "user's", "±95%", "prod's", "±95%", "F1");
    for (size_t i = 0; i < k; i++) {
        const sm_accuracy_class *c = sm_accuracy_class_at(a, i);
        printf("%-14.14s %12.2f %12.2f %10.2f %10.3f %8.3f %8.3f %8.3f %8.3f\n", c->name,
               c->mapped_area, c->area, c->area_ci95, c->users, 1.96 * c->users_se, c->producers,
               1.96 * c->producers_se, c->f1);
    }
    const sm_accuracy_overall *o = sm_accuracy_overall_get(a);
    printf("\noverall accuracy %.4f ± %.4f (95%% CI, area-weighted); %.4f of %g sample pixels; "
           "kappa %.4f (compatibility only)\n",
           o->overall, 1.96 * o->overall_se, o->overall_sample, o->samples, o->kappa);
}

int sm_cmd_accuracy(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL}, *out = NULL;
    int npos = 0;
    sm_map_accuracy_options opt = SM_MAP_ACCURACY_OPTIONS_INIT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (sm_cli_is_help(a)) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--field") == 0 || strcmp(a, "--layer") == 0 || strcmp(a, "-o") == 0 ||
            strcmp(a, "--output") == 0) {
            if (i + 1 >= argc)
                return sm_cli_usage_error("accuracy: %s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--field") == 0)
                opt.field = v;
            else if (strcmp(a, "--layer") == 0)
                opt.layer = v;
            else
                out = v;
            continue;
        }
        if (a[0] == '-' && a[1])
            return sm_cli_usage_error("accuracy: unknown option '%s' (see sinkmap accuracy --help)", a);
        if (npos == 2)
            return sm_cli_usage_error("accuracy: unexpected argument '%s' (expected MAP REFERENCE)", a);
        pos[npos++] = a;
    }
    if (npos < 2)
        return sm_cli_usage_error("accuracy: expected MAP and REFERENCE (see sinkmap accuracy --help)");
    if (!opt.field)
        return sm_cli_usage_error("accuracy: --field is required: the reference layer's class field");
    sm_context *ctx = sm_context_create();
    if (!ctx)
        return 1;
    sm_area_result *r = NULL;
    sm_status st = sm_map_accuracy(&r, ctx, pos[0], pos[1], &opt);
    if (st == SM_OK && out)
        st = sm_area_result_write(r, ctx, out);
    int code = 0;
    if (st == SM_OK) {
        print_report(r);
        if (out)
            printf("wrote %s\n", out);
    } else {
        code = sm_cli_fail(ctx, st);
    }
    sm_area_result_destroy(r);
    sm_context_destroy(ctx);
    return code;
}
