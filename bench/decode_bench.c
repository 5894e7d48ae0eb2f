/* decode_bench.c: the direct decoder's counterpart of readfloor.c: decodes every block of a
 * band once with sm_tiffdec_read (block by block, one thread) and prints wall and CPU seconds,
 * then (with --check) compares windows with GDAL's reading.
 * Build (after building build-dec):
 *   cc -O2 -I include -I src -o decode_bench bench/decode_bench.c build-dec/libsinkmap.a \
 *      $(pkg-config --cflags --libs gdal libtiff-4 libdeflate libzstd proj geos inih sqlite3 cairo fontconfig libpng libcrypto) -lpthread -lm
 * Usage: decode_bench RASTER [BAND] [--check] */
#include <gdal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/tiffdec.h"
#include "sinkmap/raster.h"

static double secs(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Compares `n` random windows (and the first and last block) with GDAL's Float64 reading. */
static int check(sm_tiffdec *d, sm_context *ctx, const char *path, int band, int n)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        return 1;
    GDALRasterBandH b = GDALGetRasterBand(ds, band);
    int has = 0;
    double nd = GDALGetRasterNoDataValue(b, &has);
    int64_t nx, ny;
    sm_tiffdec_size(d, &nx, &ny);
    unsigned s = 12345;
    long bad = 0, cells = 0;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        int c0 = (int)((s >> 8) % (unsigned)nx);
        s = s * 1664525u + 1013904223u;
        int r0 = (int)((s >> 8) % (unsigned)ny);
        int w = 1 + (int)((s >> 4) % 1500), h = 1 + (int)((s >> 12) % 700);
        if (i == 0)
            c0 = r0 = 0;
        if (i == 1)
            c0 = (int)nx - 600, r0 = (int)ny - 600;
        if (c0 + w > nx)
            w = (int)nx - c0;
        if (r0 + h > ny)
            h = (int)ny - r0;
        double *a = malloc(sizeof(double) * (size_t)w * h), *g = malloc(sizeof(double) * (size_t)w * h);
        if (sm_tiffdec_read(d, ctx, c0, r0, w, h, a, (size_t)w) != SM_OK ||
            GDALRasterIO(b, GF_Read, c0, r0, w, h, g, w, h, GDT_Float64, 0, 0) != CE_None) {
            fprintf(stderr, "read failed: %s\n", sm_context_message(ctx));
            return 1;
        }
        for (size_t k = 0; k < (size_t)w * h; k++) {
            if (has && g[k] == nd)
                g[k] = NAN;
            int same = isnan(a[k]) ? isnan(g[k]) : memcmp(&a[k], &g[k], sizeof(double)) == 0;
            bad += !same;
        }
        cells += (long)w * h;
        free(a);
        free(g);
    }
    GDALClose(ds);
    printf("check: %d windows, %ld cells, %ld differ from GDAL\n", n, cells, bad);
    return bad != 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: decode_bench RASTER [BAND] [--check]\n");
        return 2;
    }
    int band = argc > 2 && argv[2][0] != '-' ? atoi(argv[2]) : 1;
    int want_check = argc > 2 && strcmp(argv[argc - 1], "--check") == 0;
    sm_gdal_init();
    sm_context *ctx = sm_context_create();
    /* nodata as GDAL reports it (a .aux.xml may set it) */
    GDALDatasetH ds = GDALOpen(argv[1], GA_ReadOnly);
    if (!ds)
        return 1;
    int has = 0;
    double nd = GDALGetRasterNoDataValue(GDALGetRasterBand(ds, band), &has);
    GDALClose(ds);
    double w0 = secs(CLOCK_MONOTONIC), c0 = secs(CLOCK_PROCESS_CPUTIME_ID);
    sm_tiffdec *d = NULL;
    if (sm_tiffdec_open(&d, ctx, argv[1], band, has, nd) != SM_OK || !d) {
        fprintf(stderr, "the decoder does not handle %s (band %d)\n", argv[1], band);
        return 1;
    }
    int64_t bw, bh, nx, ny;
    sm_tiffdec_block_size(d, &bw, &bh);
    sm_tiffdec_size(d, &nx, &ny);
    double *buf = malloc(sizeof(double) * (size_t)bw * (size_t)bh);
    long blocks = 0;
    double sum = 0;
    for (int64_t y = 0; y < ny; y += bh)
        for (int64_t x = 0; x < nx; x += bw) {
            int64_t w = nx - x < bw ? nx - x : bw, h = ny - y < bh ? ny - y : bh;
            if (sm_tiffdec_read(d, ctx, x, y, w, h, buf, (size_t)w) != SM_OK) {
                fprintf(stderr, "%s\n", sm_context_message(ctx));
                return 1;
            }
            blocks++;
            if (!isnan(buf[0]))
                sum += buf[0];
        }
    double w1 = secs(CLOCK_MONOTONIC), c1 = secs(CLOCK_PROCESS_CPUTIME_ID);
    printf("%.3f s wall, %.3f s CPU, %ld blocks, checksum %.6g\n", w1 - w0, c1 - c0, blocks, sum);
    int rc = want_check ? check(d, ctx, argv[1], band, 40) : 0;
    free(buf);
    sm_tiffdec_close(d);
    sm_context_destroy(ctx);
    return rc;
}
