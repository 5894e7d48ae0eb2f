/* test_tiffdec.c: the direct GeoTIFF decoder against GDAL as the oracle. Rasters of every
 * handled layout (types, DEFLATE/ZSTD/none, predictors 1-3, tiles and strips with partial edge
 * blocks, pixel and band interleaving, both byte orders, BigTIFF, sparse blocks) are written
 * with GDAL, then read whole and by windows with both; the doubles must be identical bit for bit
 * (NaN matching NaN). Layouts left to GDAL must be refused, and a corrupt or truncated block
 * must fail with a message naming the file and the block. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cpl_string.h>
#include <gdal.h>
#include <tiffio.h>

#include "e2e_util.h"
#include "io/tiffdec.h"
#include "sinkmap/raster.h"

static char tmp[256];

static int setup(void **state)
{
    (void)state;
    sm_gdal_init();
    return e2e_tmpdir(tmp, sizeof tmp, "tiffdec") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return e2e_sh("rm -rf '%s'", tmp);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* A value of type t for (band, c, r): the full range of integers, and for floats NaN, -0,
 * subnormals, tiny and huge magnitudes, negatives, and a smooth part so blocks compress;
 * nodata in places when there is one. */
static double gen(GDALDataType t, int band, int c, int r, int has_nd, double nd)
{
    uint64_t h = mix(((uint64_t)band << 48) ^ ((uint64_t)r << 24) ^ (uint64_t)c);
    if (has_nd && h % 37 == 0)
        return nd;
    uint64_t v = h >> 8;
    switch (t) {
    case GDT_Byte: return (double)(v & 255);
    case GDT_UInt16: return (double)(v & 0xffff);
    case GDT_Int16: return (double)(int16_t)(uint16_t)(v & 0xffff);
    case GDT_UInt32: return (double)(uint32_t)v;
    case GDT_Int32: return (double)(int32_t)(uint32_t)v;
    default: break;
    }
    double m = (double)((v >> 8) & 0xfffff) / 1048576.0 - 0.5;
    switch (v % 11) {
    case 0: return NAN;
    case 1: return m * 1e30;
    case 2: return m * 1e-30;
    case 3: return m * 1e-40; /* subnormal in Float32 */
    case 4: return -0.0;
    case 5: return m * 1e300 * (t == GDT_Float64);
    default: return 0.25 * c - 0.5 * r + (double)band + m;
    }
}

/* Creates a raster with GDAL: `opts` is "KEY=VALUE;KEY=VALUE". When `sparse`, only the blocks
 * of a few windows are written. */
static void make(const char *path, GDALDataType t, int nx, int ny, int nbands, const char *opts,
                 int has_nd, double nd, int sparse)
{
    char **o = CSLTokenizeString2(opts, ";", 0);
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, nx, ny, nbands, t, o);
    CSLDestroy(o);
    assert_non_null(ds);
    double *buf = malloc(sizeof(double) * (size_t)nx * (size_t)ny);
    assert_non_null(buf);
    for (int b = 1; b <= nbands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b);
        if (has_nd)
            assert_int_equal(GDALSetRasterNoDataValue(band, nd), CE_None);
        for (int r = 0; r < ny; r++)
            for (int c = 0; c < nx; c++)
                buf[(size_t)r * nx + c] = gen(t, b, c, r, has_nd, nd);
        if (!sparse) {
            assert_int_equal(GDALRasterIO(band, GF_Write, 0, 0, nx, ny, buf, nx, ny, GDT_Float64, 0, 0), CE_None);
        } else {
            /* Tile (0,0) and a window inside tile (2,1) of 256 tiles; the rest never written. */
            assert_int_equal(GDALRasterIO(band, GF_Write, 0, 0, 256, 256, buf, 256, 256, GDT_Float64, 0,
                                          sizeof(double) * (size_t)nx), CE_None);
            assert_int_equal(GDALRasterIO(band, GF_Write, 600, 300, 10, 20, buf + 300 * (size_t)nx + 600, 10, 20,
                                          GDT_Float64, 0, sizeof(double) * (size_t)nx), CE_None);
        }
    }
    free(buf);
    GDALClose(ds);
}

static int same(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

/* GDAL's reading of the band: Float64, nodata -> NAN. */
static double *gdal_read(const char *path, int band, int *nx, int *ny, int *has_nd, double *nd)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    assert_non_null(ds);
    *nx = GDALGetRasterXSize(ds);
    *ny = GDALGetRasterYSize(ds);
    GDALRasterBandH b = GDALGetRasterBand(ds, band);
    *nd = GDALGetRasterNoDataValue(b, has_nd);
    double *ref = malloc(sizeof(double) * (size_t)*nx * (size_t)*ny);
    assert_non_null(ref);
    assert_int_equal(GDALRasterIO(b, GF_Read, 0, 0, *nx, *ny, ref, *nx, *ny, GDT_Float64, 0, 0), CE_None);
    GDALClose(ds);
    if (*has_nd)
        for (size_t i = 0; i < (size_t)*nx * (size_t)*ny; i++)
            if (ref[i] == *nd)
                ref[i] = NAN;
    return ref;
}

/* Reads window (c0, r0, w x h) with the decoder into a buffer with a stride wider than w, and
 * checks it against ref; returns the number of cells that differ (printing the first). */
static int check_window(sm_tiffdec *d, sm_context *ctx, const double *ref, int nx, int c0, int r0, int w, int h,
                        const char *what)
{
    size_t stride = (size_t)w + 3;
    double *buf = malloc(sizeof(double) * stride * (size_t)h);
    assert_non_null(buf);
    for (size_t i = 0; i < stride * (size_t)h; i++)
        buf[i] = 12345.0;
    sm_status st = sm_tiffdec_read(d, ctx, c0, r0, w, h, buf, stride);
    if (st != SM_OK)
        fail_msg("%s: read (%d, %d, %d x %d): %s", what, c0, r0, w, h, sm_context_message(ctx));
    int bad = 0;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            double a = buf[(size_t)y * stride + x], b = ref[(size_t)(r0 + y) * nx + c0 + x];
            if (!same(a, b)) {
                if (!bad)
                    print_message("%s: window (%d, %d, %d x %d): cell (%d, %d): %.17g, GDAL %.17g\n", what, c0,
                                  r0, w, h, c0 + x, r0 + y, a, b);
                bad++;
            }
        }
        for (size_t x = (size_t)w; x < stride; x++)
            assert_true(buf[(size_t)y * stride + x] == 12345.0); /* nothing written past the window */
    }
    free(buf);
    return bad;
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* The decoder must match GDAL on band `band` of `path`: whole, and windows. */
static void check_band(const char *path, int band, const char *what)
{
    int nx, ny, has_nd;
    double nd;
    double *ref = gdal_read(path, band, &nx, &ny, &has_nd, &nd);
    sm_context *ctx = sm_context_create();
    sm_tiffdec *d = NULL;
    assert_int_equal(sm_tiffdec_open(&d, ctx, path, band, has_nd, nd), SM_OK);
    if (!d)
        fail_msg("%s: band %d: the decoder refused the layout", what, band);
    int64_t bw, bh, w64, h64;
    sm_tiffdec_block_size(d, &bw, &bh);
    sm_tiffdec_size(d, &w64, &h64);
    assert_int_equal(w64, nx);
    assert_int_equal(h64, ny);
    int bad = check_window(d, ctx, ref, nx, 0, 0, nx, ny, what);
    bad += check_window(d, ctx, ref, nx, 0, ny - 1, nx, 1, what);        /* a full row */
    bad += check_window(d, ctx, ref, nx, nx - 1, ny - 1, 1, 1, what);    /* 1 x 1, the last cell */
    bad += check_window(d, ctx, ref, nx, 1, 1, 1, 1, what);
    int bx = (int)(bw < nx ? bw : nx - 1), by = (int)(bh < ny ? bh : ny - 1);
    bad += check_window(d, ctx, ref, nx, bx - 1, by - 1, nx - bx + 1 < 3 ? nx - bx + 1 : 3,
                        ny - by + 1 < 3 ? ny - by + 1 : 3, what); /* across a block corner */
    uint32_t seed = (uint32_t)(nx * 31 + ny * 7 + band);
    for (int i = 0; i < 25; i++) {
        int c0 = (int)(lcg(&seed) % (uint32_t)nx), r0 = (int)(lcg(&seed) % (uint32_t)ny);
        int w = 1 + (int)(lcg(&seed) % (uint32_t)(nx - c0)), h = 1 + (int)(lcg(&seed) % (uint32_t)(ny - r0));
        bad += check_window(d, ctx, ref, nx, c0, r0, w, h, what);
    }
    if (bad)
        fail_msg("%s: band %d: %d cells differ from GDAL", what, band, bad);
    sm_tiffdec_close(d);
    sm_context_destroy(ctx);
    free(ref);
}

typedef struct tcase {
    const char *name;
    GDALDataType t;
    int nx, ny, nbands;
    const char *opts;
    int has_nd;
    double nd;
} tcase;

static const tcase cases[] = {
    {"byte_none_strips", GDT_Byte, 300, 100, 1, "COMPRESS=NONE;TILED=NO;BLOCKYSIZE=7", 1, 255},
    {"byte_deflate_p2_t256", GDT_Byte, 600, 300, 1, "COMPRESS=DEFLATE;PREDICTOR=2;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 1, 0},
    {"u16_zstd_p2_t512", GDT_UInt16, 700, 530, 1, "COMPRESS=ZSTD;PREDICTOR=2;TILED=YES;BLOCKXSIZE=512;BLOCKYSIZE=512", 0, 0},
    {"u16_deflate_p1_strips", GDT_UInt16, 333, 61, 1, "COMPRESS=DEFLATE;PREDICTOR=1;TILED=NO;BLOCKYSIZE=4", 1, 65535},
    {"i16_deflate_p2_big_strips", GDT_Int16, 301, 97, 1, "COMPRESS=DEFLATE;PREDICTOR=2;ENDIANNESS=BIG;TILED=NO;BLOCKYSIZE=5", 1, -32768},
    {"i16_zstd_p1_t256", GDT_Int16, 400, 270, 1, "COMPRESS=ZSTD;PREDICTOR=1;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 0, 0},
    {"u32_none_big_t256", GDT_UInt32, 513, 260, 1, "COMPRESS=NONE;ENDIANNESS=BIG;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 1, 7},
    {"u32_zstd_p2_strips", GDT_UInt32, 257, 50, 1, "COMPRESS=ZSTD;PREDICTOR=2;TILED=NO;BLOCKYSIZE=3", 0, 0},
    {"i32_zstd_p1_strips", GDT_Int32, 257, 50, 1, "COMPRESS=ZSTD;PREDICTOR=1;TILED=NO;BLOCKYSIZE=3", 1, -9999},
    {"i32_deflate_p2_big_t512", GDT_Int32, 600, 520, 1, "COMPRESS=DEFLATE;PREDICTOR=2;ENDIANNESS=BIG;TILED=YES;BLOCKXSIZE=512;BLOCKYSIZE=512", 1, -9999},
    {"f32_deflate_p3_t256", GDT_Float32, 700, 600, 1, "COMPRESS=DEFLATE;PREDICTOR=3;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 1, -9999},
    {"f32_deflate_p3_t512_z9", GDT_Float32, 1030, 515, 1, "COMPRESS=DEFLATE;PREDICTOR=3;ZLEVEL=9;TILED=YES;BLOCKXSIZE=512;BLOCKYSIZE=512", 0, 0},
    {"f32_deflate_p3_z1_strips", GDT_Float32, 333, 101, 1, "COMPRESS=DEFLATE;PREDICTOR=3;ZLEVEL=1;TILED=NO;BLOCKYSIZE=4", 1, 0},
    {"f32_zstd_p3_big_t256", GDT_Float32, 600, 300, 1, "COMPRESS=ZSTD;PREDICTOR=3;ZSTD_LEVEL=15;ENDIANNESS=BIG;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 1, -9999},
    {"f32_zstd_p3_z1_strips", GDT_Float32, 300, 77, 1, "COMPRESS=ZSTD;PREDICTOR=3;ZSTD_LEVEL=1;TILED=NO;BLOCKYSIZE=8", 1, NAN},
    {"f32_deflate_p2_t256", GDT_Float32, 300, 300, 1, "COMPRESS=DEFLATE;PREDICTOR=2;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 0, 0},
    {"f32_deflate_p2_big_strips", GDT_Float32, 300, 30, 1, "COMPRESS=DEFLATE;PREDICTOR=2;ENDIANNESS=BIG;TILED=NO;BLOCKYSIZE=7", 1, -9999},
    {"f32_none_bigtiff_big_t256", GDT_Float32, 300, 270, 1, "COMPRESS=NONE;BIGTIFF=YES;ENDIANNESS=BIG;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 1, -9999},
    {"f64_deflate_p3_t256", GDT_Float64, 600, 300, 1, "COMPRESS=DEFLATE;PREDICTOR=3;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 1, -1e30},
    {"f64_zstd_p3_big_strips", GDT_Float64, 301, 40, 1, "COMPRESS=ZSTD;PREDICTOR=3;ENDIANNESS=BIG;TILED=NO;BLOCKYSIZE=6", 0, 0},
    {"f64_zstd_p2_bigtiff_strips", GDT_Float64, 200, 95, 1, "COMPRESS=ZSTD;PREDICTOR=2;BIGTIFF=YES;TILED=NO;BLOCKYSIZE=9", 1, -9999},
    {"f64_none_strips", GDT_Float64, 129, 33, 1, "COMPRESS=NONE;TILED=NO;BLOCKYSIZE=10", 0, 0},
    {"f32_pixel3_deflate_p3_t256", GDT_Float32, 400, 300, 3, "INTERLEAVE=PIXEL;COMPRESS=DEFLATE;PREDICTOR=3;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 1, -9999},
    {"f32_band3_zstd_p3_strips", GDT_Float32, 301, 50, 3, "INTERLEAVE=BAND;COMPRESS=ZSTD;PREDICTOR=3;TILED=NO;BLOCKYSIZE=6", 1, -9999},
    {"f64_pixel3_deflate_p3_bigtiff_big", GDT_Float64, 300, 90, 3, "INTERLEAVE=PIXEL;COMPRESS=DEFLATE;PREDICTOR=3;BIGTIFF=YES;ENDIANNESS=BIG;TILED=NO;BLOCKYSIZE=16", 0, 0},
    {"u16_pixel3_deflate_p2_big_t256", GDT_UInt16, 300, 270, 3, "INTERLEAVE=PIXEL;COMPRESS=DEFLATE;PREDICTOR=2;ENDIANNESS=BIG;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 1, 0},
    {"i16_band3_none_t256", GDT_Int16, 300, 270, 3, "INTERLEAVE=BAND;COMPRESS=NONE;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 1, -1},
    {"byte_pixel3_zstd_p2_strips", GDT_Byte, 301, 40, 3, "INTERLEAVE=PIXEL;COMPRESS=ZSTD;PREDICTOR=2;TILED=NO;BLOCKYSIZE=7", 0, 0},
    {"i32_pixel3_none_big_strips", GDT_Int32, 100, 41, 3, "INTERLEAVE=PIXEL;COMPRESS=NONE;ENDIANNESS=BIG;TILED=NO;BLOCKYSIZE=4", 1, 0},
};

static void test_layouts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const tcase *c = &cases[i];
        char p[512];
        snprintf(p, sizeof p, "%s/%s.tif", tmp, c->name);
        make(p, c->t, c->nx, c->ny, c->nbands, c->opts, c->has_nd, c->nd, 0);
        for (int b = 1; b <= c->nbands; b++)
            check_band(p, b, c->name);
    }
}

/* One handle reading every band of a multi-band file in turn (sm_tiffdec_set_band), over the
 * same windows and others, as sm_raster_read does: the blocks it keeps decompressed serve the
 * other bands (pixel interleave) or are told apart by plane (band interleave), and each band's
 * own nodata applies. */
static void test_shared_bands(void **state)
{
    (void)state;
    static const int pick[] = {22, 23, 25, 26, 27, 28};
    for (size_t k = 0; k < sizeof pick / sizeof pick[0]; k++) {
        const tcase *c = &cases[pick[k]];
        char p[512];
        snprintf(p, sizeof p, "%s/shared_%s.tif", tmp, c->name);
        make(p, c->t, c->nx, c->ny, c->nbands, c->opts, c->has_nd, c->nd, 0);
        double *ref[3];
        int nx = 0, ny = 0, has_nd[3];
        double nd[3];
        for (int b = 0; b < 3; b++)
            ref[b] = gdal_read(p, b + 1, &nx, &ny, &has_nd[b], &nd[b]);
        sm_context *ctx = sm_context_create();
        sm_tiffdec *d = NULL;
        assert_int_equal(sm_tiffdec_open(&d, ctx, p, 2, has_nd[1], nd[1]), SM_OK);
        assert_non_null(d);
        assert_int_equal(sm_tiffdec_set_band(d, 4, 0, 0), 0); /* no such band */
        uint32_t seed = 99u + (uint32_t)k;
        int bad = 0;
        for (int i = 0; i < 12; i++) {
            int c0 = (int)(lcg(&seed) % (uint32_t)nx), r0 = (int)(lcg(&seed) % (uint32_t)ny);
            int w = 1 + (int)(lcg(&seed) % (uint32_t)(nx - c0)), h = 1 + (int)(lcg(&seed) % (uint32_t)(ny - r0));
            for (int b = 0; b < 3; b++) { /* the same window band after band */
                assert_int_equal(sm_tiffdec_set_band(d, b + 1, has_nd[b], nd[b]), 1);
                bad += check_window(d, ctx, ref[b], nx, c0, r0, w, h, c->name);
            }
            int b = (int)(lcg(&seed) % 3u); /* then one band alone over the whole raster */
            assert_int_equal(sm_tiffdec_set_band(d, b + 1, has_nd[b], nd[b]), 1);
            bad += check_window(d, ctx, ref[b], nx, 0, 0, nx, ny, c->name);
        }
        if (bad)
            fail_msg("%s: %d cells differ from GDAL reading the bands through one handle", c->name, bad);
        sm_tiffdec_close(d);
        sm_context_destroy(ctx);
        for (int b = 0; b < 3; b++)
            free(ref[b]);
    }
}

/* Blocks never written read as nodata (NAN) when there is one, else as 0, as with GDAL. */
static void test_sparse(void **state)
{
    (void)state;
    const char *opts[] = {"SPARSE_OK=TRUE;COMPRESS=DEFLATE;PREDICTOR=3;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256",
                          "SPARSE_OK=TRUE;COMPRESS=NONE;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256"};
    for (int o = 0; o < 2; o++)
        for (int nd = 0; nd < 2; nd++) {
            char p[512];
            snprintf(p, sizeof p, "%s/sparse_%d_%d.tif", tmp, o, nd);
            make(p, GDT_Float32, 800, 600, 1, opts[o], nd, -9999, 1);
            /* The file really is sparse: some tile has no data. */
            TIFF *tif = TIFFOpen(p, "r");
            assert_non_null(tif);
            int empty = 0;
            for (uint32_t t = 0; t < TIFFNumberOfTiles(tif); t++)
                empty += TIFFGetStrileByteCount(tif, t) == 0;
            TIFFClose(tif);
            assert_true(empty > 0);
            check_band(p, 1, nd ? "sparse with nodata" : "sparse without nodata");
        }
    /* An integer sparse file whose nodata is outside the type: GDAL fills with the clamped value. */
    char p[512];
    snprintf(p, sizeof p, "%s/sparse_u16.tif", tmp);
    make(p, GDT_UInt16, 800, 600, 1, "SPARSE_OK=TRUE;COMPRESS=ZSTD;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 1, 70000, 1);
    check_band(p, 1, "sparse UInt16");
}

static void expect_refused(const char *path, int band)
{
    int has_nd = 0;
    sm_context *ctx = sm_context_create();
    sm_tiffdec *d = (sm_tiffdec *)&has_nd; /* must be reset */
    assert_int_equal(sm_tiffdec_open(&d, ctx, path, band, 0, 0), SM_OK);
    if (d)
        fail_msg("%s: band %d: expected the decoder to refuse it", path, band);
    sm_context_destroy(ctx);
}

static void test_refused(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/lzw.tif", tmp);
    make(p, GDT_Float32, 100, 50, 1, "COMPRESS=LZW;PREDICTOR=3", 0, 0, 0);
    expect_refused(p, 1);
    snprintf(p, sizeof p, "%s/jpeg.tif", tmp);
    make(p, GDT_Byte, 100, 50, 1, "COMPRESS=JPEG;TILED=YES", 0, 0, 0);
    expect_refused(p, 1);
    snprintf(p, sizeof p, "%s/jpeg_ycbcr.tif", tmp);
    make(p, GDT_Byte, 100, 50, 3, "COMPRESS=JPEG;PHOTOMETRIC=YCBCR", 0, 0, 0);
    expect_refused(p, 2);
    snprintf(p, sizeof p, "%s/packbits.tif", tmp);
    make(p, GDT_Byte, 100, 50, 1, "COMPRESS=PACKBITS", 0, 0, 0);
    expect_refused(p, 1);
    snprintf(p, sizeof p, "%s/sbyte.tif", tmp);
    make(p, GDT_Byte, 100, 50, 1, "PIXELTYPE=SIGNEDBYTE", 0, 0, 0);
    expect_refused(p, 1);
    snprintf(p, sizeof p, "%s/nbits.tif", tmp);
    CPLPushErrorHandler(CPLQuietErrorHandler); /* "pixels clipped to fit 12 bit domain" */
    make(p, GDT_UInt16, 100, 50, 1, "NBITS=12", 0, 0, 0);
    CPLPopErrorHandler();
    expect_refused(p, 1);
    snprintf(p, sizeof p, "%s/cfloat.tif", tmp);
    make(p, GDT_CFloat32, 20, 10, 1, "", 0, 0, 0);
    expect_refused(p, 1);
    /* A band that does not exist, and files that are not TIFFs. */
    snprintf(p, sizeof p, "%s/f32_deflate_p3_t256.tif", tmp);
    expect_refused(p, 2);
    snprintf(p, sizeof p, "%s/missing.tif", tmp);
    expect_refused(p, 1);
    snprintf(p, sizeof p, "%s/text.tif", tmp);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("not a tiff\n", f);
    fclose(f);
    expect_refused(p, 1);
}

/* Offset and byte count of the tile holding pixel (x, y). */
static void tile_place(const char *path, uint32_t x, uint32_t y, uint64_t *off, uint64_t *cnt)
{
    TIFF *tif = TIFFOpen(path, "r");
    assert_non_null(tif);
    uint32_t t = TIFFComputeTile(tif, x, y, 0, 0);
    *off = TIFFGetStrileOffset(tif, t);
    *cnt = TIFFGetStrileByteCount(tif, t);
    TIFFClose(tif);
    assert_true(*off > 0 && *cnt > 200);
}

static void expect_block_error(const char *path, int c0, int r0, int w, int h, const char *where)
{
    sm_context *ctx = sm_context_create();
    sm_tiffdec *d = NULL;
    assert_int_equal(sm_tiffdec_open(&d, ctx, path, 1, 0, 0), SM_OK);
    assert_non_null(d);
    size_t n = (size_t)w * (size_t)h;
    double *buf = malloc(sizeof(double) * (n > 100 ? n : 100));
    assert_non_null(buf);
    assert_int_equal(sm_tiffdec_read(d, ctx, c0, r0, w, h, buf, (size_t)w), SM_ERR_INPUT);
    const char *m = sm_context_message(ctx);
    print_message("message: %s\n", m);
    assert_non_null(strstr(m, path));
    assert_non_null(strstr(m, "band 1"));
    assert_non_null(strstr(m, where));
    /* Other blocks still read. */
    assert_int_equal(sm_tiffdec_read(d, ctx, 0, 0, 10, 10, buf, 10), SM_OK);
    free(buf);
    sm_tiffdec_close(d);
    sm_context_destroy(ctx);
}

static void test_corrupt(void **state)
{
    (void)state;
    char good[512], bad[512];
    snprintf(good, sizeof good, "%s/good.tif", tmp);
    make(good, GDT_Float32, 700, 600, 1, "COMPRESS=DEFLATE;PREDICTOR=3;TILED=YES;BLOCKXSIZE=256;BLOCKYSIZE=256", 0, 0, 0);
    uint64_t off, cnt;
    tile_place(good, 300, 300, &off, &cnt);
    /* Bytes overwritten in the middle of tile (1, 1)'s data. */
    snprintf(bad, sizeof bad, "%s/bad.tif", tmp);
    assert_int_equal(e2e_sh("cp '%s' '%s'", good, bad), 0);
    FILE *f = fopen(bad, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)(off + cnt / 2), SEEK_SET), 0);
    for (int i = 0; i < 64; i++)
        fputc(i * 37 & 255, f);
    fclose(f);
    expect_block_error(bad, 250, 250, 100, 100, "block at column 256, row 256 (256 x 256 pixels)");

    /* The file cut inside the last tile (the one furthest into the file). */
    TIFF *tif = TIFFOpen(good, "r");
    assert_non_null(tif);
    uint32_t last = 0;
    for (uint32_t t = 1; t < TIFFNumberOfTiles(tif); t++)
        if (TIFFGetStrileOffset(tif, t) > TIFFGetStrileOffset(tif, last))
            last = t;
    uint64_t loff = TIFFGetStrileOffset(tif, last), lcnt = TIFFGetStrileByteCount(tif, last);
    TIFFClose(tif);
    /* Tiles are numbered across then down: 3 tiles across a 700-pixel row. */
    int tx = (int)(last % 3) * 256, ty = (int)(last / 3) * 256;
    int tw = 700 - tx < 256 ? 700 - tx : 256, th = 600 - ty < 256 ? 600 - ty : 256;
    char trunc[512], where[128];
    snprintf(trunc, sizeof trunc, "%s/trunc.tif", tmp);
    assert_int_equal(e2e_sh("head -c %llu '%s' > '%s'", (unsigned long long)(loff + lcnt / 2), good, trunc), 0);
    snprintf(where, sizeof where, "block at column %d, row %d (%d x %d pixels)", tx, ty, tw, th);
    expect_block_error(trunc, tx, ty, 1, 1, where);
    expect_block_error(trunc, tx, ty, 1, 1, "truncated file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_shared_bands),
        cmocka_unit_test(test_sparse),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_corrupt),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
