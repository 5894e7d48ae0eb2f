/* cmd_zonal.c: `sinkmap zonal RASTER PARCELS ... -o OUT`: per-parcel statistics.
 * Parses the options into sm_zonal_options and calls sm_zonal(); it also sizes GDAL's block
 * cache for a one-pass read, unless the user has set GDAL_CACHEMAX. */
#include <cpl_conv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sinkmap/zonal.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sinkmap zonal RASTER PARCELS [--band N]... [--id FIELD] [--stats LIST]\n"
            "                     [--mode exact|center|touched] [--weights RASTER]\n"
            "                     [--encoding ENC] [--layer NAME] [--threads N]\n"
            "                     -o OUT.csv|OUT.gpkg\n\n"
            "Coverage-weighted statistics of raster bands per parcel, in one pass over the raster.\n"
            "Each cell counts with the exact share of it that the parcel covers (--mode exact,\n"
            "the default); --mode center counts cells whose centre is inside, --mode touched every\n"
            "cell the parcel touches, to compare with tools that rasterize that way.\n\n"
            "  --band N        a band to summarize (repeat for several; default 1); columns are\n"
            "                  then named <stat>_b<N>\n"
            "  --id FIELD      the parcel id column (default: the feature id, column fid)\n"
            "  --stats LIST    comma-separated: count (Σc), sum (Σcx), mean, min, max, stdev,\n"
            "                  variance (weighted population), median, q<P> (weighted quantile,\n"
            "                  e.g. q10, q90), majority, minority, variety, frac (one column\n"
            "                  frac_<class> per class), weighted_mean (by --weights), area_m2,\n"
            "                  area_ha, area_mu (covered area), nodata (nodata share)\n"
            "                  default: count,sum,mean,min,max\n"
            "  --weights R     a raster on the same grid whose values weight weighted_mean\n"
            "  --encoding ENC  the parcels' attribute encoding (e.g. GBK; default: .cpg)\n"
            "  --layer NAME    the layer to read (default: the first)\n"
            "  --threads N     worker threads (default 0: one per core); the results are the\n"
            "                  same to the last digit for any N\n"
            "  -o OUT          .csv (id column, then one column per statistic, full precision)\n"
            "                  or .gpkg (the parcel layer with the statistics added)\n");
}

int sm_cmd_zonal(int argc, char **argv)
{
    sm_zonal_options opt = SM_ZONAL_OPTIONS_INIT;
    const char *pos[2] = {NULL, NULL}, *out = NULL;
    int npos = 0, progress = isatty(2);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (sm_cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--band") == 0 || strcmp(a, "-b") == 0) {
            char *end;
            long b = has_next ? strtol(argv[i + 1], &end, 10) : 0;
            if (!has_next || *end || b < 1 || b > 65535)
                return sm_cli_usage_error("--band needs a band number (1, 2, ...)");
            if (opt.nbands == SM_ZONAL_MAX_BANDS)
                return sm_cli_usage_error("--band: at most %d bands", SM_ZONAL_MAX_BANDS);
            opt.bands[opt.nbands++] = (int)b;
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            char *end;
            long t = has_next ? strtol(argv[i + 1], &end, 10) : -1;
            if (!has_next || *end || argv[i + 1][0] == '\0' || t < 0 || t > 1024)
                return sm_cli_usage_error("--threads needs a number from 0 (one per core) to 1024");
            opt.threads = (int)t;
            i++;
        } else if (strcmp(a, "--id") == 0 || strcmp(a, "--stats") == 0 || strcmp(a, "--mode") == 0 ||
                   strcmp(a, "--weights") == 0 || strcmp(a, "--encoding") == 0 ||
                   strcmp(a, "--layer") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (!has_next)
                return sm_cli_usage_error("%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--id") == 0)
                opt.id_field = v;
            else if (strcmp(a, "--stats") == 0)
                opt.stats = v;
            else if (strcmp(a, "--weights") == 0)
                opt.weights = v;
            else if (strcmp(a, "--encoding") == 0)
                opt.encoding = v;
            else if (strcmp(a, "--layer") == 0)
                opt.layer = v;
            else if (strcmp(a, "--mode") == 0) {
                if (strcmp(v, "exact") == 0)
                    opt.mode = SM_COVER_EXACT;
                else if (strcmp(v, "center") == 0)
                    opt.mode = SM_COVER_CENTER;
                else if (strcmp(v, "touched") == 0)
                    opt.mode = SM_COVER_TOUCHED;
                else
                    return sm_cli_usage_error("--mode '%s': expected exact, center or touched", v);
            } else
                out = v;
        } else if (strcmp(a, "--progress") == 0) {
            progress = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            progress = 0;
        } else if (a[0] == '-' && a[1]) {
            return sm_cli_usage_error("zonal: unknown option '%s' (see sinkmap zonal --help)", a);
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            return sm_cli_usage_error("zonal: unexpected argument '%s'", a);
        }
    }
    if (npos < 2 || !out) {
        usage(stderr);
        return 2;
    }
    /* One pass decodes each block once: GDAL's default cache (5 % of the RAM) would only hold
     * blocks that are never read again, and filling it costs page faults and resident memory.
     * One band needs next to none (16 MB); with several, a pixel-interleaved file decodes every
     * band of a block at once, and the other bands' blocks should still be there when they are
     * read: 64 MB per band read. */
    if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL)) {
        char mb[16];
        size_t nread = (opt.nbands ? opt.nbands : 1) + (opt.weights ? 1 : 0);
        snprintf(mb, sizeof mb, "%zu", nread == 1 ? 16 : 64 * (nread < 16 ? nread : 16));
        CPLSetConfigOption("GDAL_CACHEMAX", mb);
    }
    sm_context *ctx = sm_context_create();
    if (!ctx)
        return 1;
    if (progress)
        sm_context_set_progress(ctx, sm_cli_progress, NULL);
    sm_status st = sm_zonal(ctx, pos[0], pos[1], &opt, out);
    int code = st == SM_OK ? 0 : sm_cli_fail(ctx, st);
    sm_context_destroy(ctx);
    return code;
}
