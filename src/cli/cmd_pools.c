/* cmd_pools.c: `sinkmap pools LULC.tif POOLS.csv [--alt LULC2.tif] -o DIR`: carbon storage maps
 * in the InVEST Carbon model convention. Parses the options and calls sm_pools_run(); prints the
 * totals on stdout. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sinkmap/pools.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: sinkmap pools LULC.tif POOLS.csv [--alt LULC2.tif] -o DIR\n"
        "                     [--progress | --quiet]\n\n"
        "Carbon storage per pixel from a land-cover (lucode) raster and a pools table, as the\n"
        "InVEST Carbon model computes it: storage = c_above + c_below + c_soil + c_dead.\n\n"
        "  POOLS.csv     columns lucode,c_above,c_below,c_soil,c_dead in t C/ha (header case\n"
        "                ignored, other columns ignored); every lucode of the raster(s) needs\n"
        "                a row, else the error lists all the missing codes\n"
        "  --alt R       an alternate (scenario or later) LULC on the same grid and CRS\n"
        "  -o DIR        the output folder, replaced as a whole only when all succeeded (an\n"
        "                existing folder holding other files is refused)\n\n"
        "Writes into DIR (Float32 Cloud-Optimized GeoTIFFs, t C/ha, nodata -1):\n"
        "  c_storage_bas.tif      storage of LULC.tif\n"
        "  c_storage_alt.tif      storage of the --alt map\n"
        "  c_change_bas_alt.tif   alt - bas (nodata where either map has no data; a change\n"
        "                         of exactly -1 reads as nodata: such pixels are counted in a\n"
        "                         warning and in summary.csv, row change,minus_one)\n"
        "  summary.csv            scenario,lucode,pixels,area_ha,area_mu,c_storage_t_ha,\n"
        "                         c_total_t: per lucode, nodata, and all (totals in t C =\n"
        "                         sum of t C/ha x pixel area m2 / 10,000), and change,all\n"
        "The LULC must be on a projected CRS (the pixel area is taken from its linear unit).\n");
}

int sm_cmd_pools(int argc, char **argv)
{
    sm_pools_options opt = SM_POOLS_OPTIONS_INIT;
    const char *pos[2] = {NULL, NULL}, *out = NULL;
    int npos = 0, progress = isatty(2);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (sm_cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--alt") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (i + 1 >= argc)
                return sm_cli_usage_error("%s needs a value", a);
            if (strcmp(a, "--alt") == 0)
                opt.alt = argv[++i];
            else
                out = argv[++i];
        } else if (strcmp(a, "--progress") == 0) {
            progress = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            progress = 0;
        } else if (a[0] == '-' && a[1]) {
            return sm_cli_usage_error("pools: unknown option '%s' (see sinkmap pools --help)", a);
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            return sm_cli_usage_error("pools: unexpected argument '%s'", a);
        }
    }
    if (npos < 2 || !out) {
        usage(stderr);
        return 2;
    }
    sm_context *ctx = sm_context_create();
    if (!ctx)
        return 1;
    if (progress)
        sm_context_set_progress(ctx, sm_cli_progress, NULL);
    sm_pools_totals tot;
    sm_status st = sm_pools_run(ctx, pos[0], pos[1], &opt, out, &tot);
    int code = 0;
    if (st == SM_OK) {
        printf("baseline: %.6g t C over %.6g ha\n", tot.bas_t,
               tot.bas_pixels * tot.pixel_area_m2 / 1e4);
        if (opt.alt) {
            printf("alternate: %.6g t C over %.6g ha\n", tot.alt_t,
                   tot.alt_pixels * tot.pixel_area_m2 / 1e4);
            printf("change (alt - bas): %.6g t C over %.6g ha\n", tot.change_t,
                   tot.change_pixels * tot.pixel_area_m2 / 1e4);
        }
        printf("wrote %s\n", out);
    } else {
        code = sm_cli_fail(ctx, st);
    }
    sm_context_destroy(ctx);
    return code;
}
