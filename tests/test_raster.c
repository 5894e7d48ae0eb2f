/* test_raster.c: the GDAL adapter: window reads (same grid, coarser grid, outside, nodata),
 * reflectance scaling from metadata, errors, and the GeoTIFF writer's structure read back
 * with libtiff directly (tiles, compression, overview directories) and GDAL's COG validator. */
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
#include <ogr_srs_api.h>
#include <tiffio.h>

#include "e2e_util.h"
#include "io/tiffdec.h"
#include "sinkmap/raster.h"

static char tmp[256];

static int setup(void **state)
{
    (void)state;
    sm_gdal_init();
    return e2e_tmpdir(tmp, sizeof tmp, "raster") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return e2e_sh("rm -rf '%s'", tmp);
}

static char *wkt_32648(void)
{
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(s, 32648);
    char *w = NULL;
    OSRExportToWkt(s, &w);
    OSRDestroySpatialReference(s);
    return w;
}

/* A Float64 raster: value(col,row) = f(col,row), cell size d, origin (x0,y0). */
static void make_raster(const char *path, int nx, int ny, double x0, double y0, double d,
                        double (*f)(int, int), int with_crs, double nodata)
{
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, nx, ny, 1, GDT_Float64, NULL);
    assert_non_null(ds);
    double gt[6] = {x0, d, 0, y0, 0, -d};
    GDALSetGeoTransform(ds, gt);
    if (with_crs) {
        char *w = wkt_32648();
        GDALSetProjection(ds, w);
        CPLFree(w);
    }
    double *buf = malloc(sizeof(double) * (size_t)nx * (size_t)ny);
    for (int r = 0; r < ny; r++)
        for (int c = 0; c < nx; c++)
            buf[r * nx + c] = f(c, r);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    if (!isnan(nodata))
        GDALSetRasterNoDataValue(b, nodata);
    assert_int_equal(GDALRasterIO(b, GF_Write, 0, 0, nx, ny, buf, nx, ny, GDT_Float64, 0, 0), CE_None);
    free(buf);
    GDALClose(ds);
}

static double f_lin(int c, int r) { return 10.0 * r + c; }
static double f_nd(int c, int r) { return (c == 1 && r == 1) ? -9999 : 1.0; }

static void test_read_same_grid(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/lin.tif", tmp);
    make_raster(p, 4, 3, 600000, 3400000, 10, f_lin, 1, NAN);
    sm_context *ctx = sm_context_create();
    sm_raster *r = NULL;
    assert_int_equal(sm_raster_open(&r, ctx, p), SM_OK);
    sm_grid g = sm_raster_grid(r);
    assert_true(g.x0 == 600000 && g.y0 == 3400000 && g.dx == 10 && g.dy == 10);
    assert_int_equal(g.ncols, 4);
    assert_int_equal(g.nrows, 3);
    /* a window that hangs over the right and bottom edges: outside cells are NaN */
    sm_window w = {2, 1, 3, 3};
    double buf[9];
    assert_int_equal(sm_raster_read(r, ctx, 1, &g, &w, SM_RESAMPLE_NEAREST, buf), SM_OK);
    double expect[9] = {12, 13, NAN, 22, 23, NAN, NAN, NAN, NAN};
    for (int i = 0; i < 9; i++) {
        if (isnan(expect[i]))
            assert_true(isnan(buf[i]));
        else
            assert_true(buf[i] == expect[i]);
    }
    assert_int_equal(sm_raster_read(r, ctx, 2, &g, &w, SM_RESAMPLE_NEAREST, buf), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "band 2 does not exist"));
    sm_raster_close(r);
    sm_context_destroy(ctx);
}

/* A 20 m raster read on a 10 m grid: nearest repeats each cell 2 × 2. */
static void test_read_coarser(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/coarse.tif", tmp);
    make_raster(p, 2, 2, 600000, 3400000, 20, f_lin, 1, NAN);
    sm_context *ctx = sm_context_create();
    sm_raster *r = NULL;
    assert_int_equal(sm_raster_open(&r, ctx, p), SM_OK);
    sm_grid fine = {600000, 3400000, 10, 10, 4, 4};
    sm_window w = {0, 0, 4, 4};
    double buf[16];
    assert_int_equal(sm_raster_read(r, ctx, 1, &fine, &w, SM_RESAMPLE_NEAREST, buf), SM_OK);
    for (int row = 0; row < 4; row++)
        for (int c = 0; c < 4; c++)
            assert_true(buf[row * 4 + c] == 10.0 * (row / 2) + (c / 2));
    /* a window of one row in the middle */
    sm_window w2 = {0, 1, 4, 1};
    assert_int_equal(sm_raster_read(r, ctx, 1, &fine, &w2, SM_RESAMPLE_NEAREST, buf), SM_OK);
    assert_true(buf[0] == 0 && buf[1] == 0 && buf[2] == 1 && buf[3] == 1);
    sm_raster_close(r);
    sm_context_destroy(ctx);
}

static void test_nodata_and_errors(void **state)
{
    (void)state;
    char p[512], q[512], t[512];
    snprintf(p, sizeof p, "%s/nd.tif", tmp);
    make_raster(p, 3, 3, 0, 30, 10, f_nd, 1, -9999);
    sm_context *ctx = sm_context_create();
    sm_raster *r = NULL;
    assert_int_equal(sm_raster_open(&r, ctx, p), SM_OK);
    sm_grid g = sm_raster_grid(r);
    sm_window w = {0, 0, 3, 3};
    double buf[9];
    assert_int_equal(sm_raster_read(r, ctx, 1, &g, &w, SM_RESAMPLE_NEAREST, buf), SM_OK);
    for (int i = 0; i < 9; i++)
        assert_true(i == 4 ? isnan(buf[i]) : buf[i] == 1.0);
    sm_raster_close(r);
    snprintf(q, sizeof q, "%s/nocrs.tif", tmp);
    make_raster(q, 3, 3, 0, 30, 10, f_nd, 0, NAN);
    assert_int_equal(sm_raster_open(&r, ctx, q), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "nocrs.tif: the raster has no coordinate reference system"));
    assert_int_equal(sm_raster_open(&r, ctx, "/nonexistent/x.tif"), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "/nonexistent/x.tif: no such raster file"));
    snprintf(t, sizeof t, "%s/text.tif", tmp);
    FILE *f = fopen(t, "w");
    fputs("not a raster", f);
    fclose(f);
    assert_int_equal(sm_raster_open(&r, ctx, t), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "text.tif: not a readable raster"));
    sm_context_destroy(ctx);
}

/* A GDAL per-dataset mask (internal mask band) marks cells invalid like nodata does. */
static void test_mask_band(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/masked.tif", tmp);
    make_raster(p, 3, 2, 0, 20, 10, f_lin, 1, NAN);
    GDALDatasetH ds = GDALOpen(p, GA_Update);
    assert_int_equal(GDALCreateDatasetMaskBand(ds, GMF_PER_DATASET), CE_None);
    uint8_t m[6] = {255, 0, 255, 255, 255, 0};
    assert_int_equal(GDALRasterIO(GDALGetMaskBand(GDALGetRasterBand(ds, 1)), GF_Write, 0, 0, 3, 2, m, 3, 2, GDT_Byte, 0, 0), CE_None);
    GDALClose(ds);
    sm_context *ctx = sm_context_create();
    sm_raster *r = NULL;
    assert_int_equal(sm_raster_open(&r, ctx, p), SM_OK);
    sm_grid g = sm_raster_grid(r);
    sm_window w = {0, 0, 3, 2};
    double buf[6];
    assert_int_equal(sm_raster_read(r, ctx, 1, &g, &w, SM_RESAMPLE_NEAREST, buf), SM_OK);
    double expect[6] = {0, NAN, 2, 10, 11, NAN};
    for (int i = 0; i < 6; i++)
        assert_true(isnan(expect[i]) ? isnan(buf[i]) : buf[i] == expect[i]);
    sm_raster_close(r);
    sm_context_destroy(ctx);
}

/* A nodata value that only the .aux.xml beside a GeoTIFF gives (GDAL's PAM) counts as nodata:
 * the direct decoder takes the band's nodata from GDAL, not from the file's tag. Band by band,
 * and the same values with SINKMAP_DIRECT_TIFF=NO (every read through GDAL). */
static void test_nodata_from_aux_xml(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/pam.tif", tmp);
    make_raster(p, 3, 3, 0, 30, 10, f_nd, 1, NAN); /* -9999 at (1,1), no nodata tag */
    GDALDatasetH ds = GDALOpen(p, GA_ReadOnly);    /* read-only: GDAL keeps it in pam.tif.aux.xml */
    assert_non_null(ds);
    assert_int_equal(GDALSetRasterNoDataValue(GDALGetRasterBand(ds, 1), -9999), CE_None);
    GDALClose(ds);
    char aux[600];
    snprintf(aux, sizeof aux, "%s.aux.xml", p);
    FILE *f = fopen(aux, "r");
    assert_non_null(f);
    fclose(f);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            setenv("SINKMAP_DIRECT_TIFF", "NO", 1);
        sm_context *ctx = sm_context_create();
        sm_raster *r = NULL;
        assert_int_equal(sm_raster_open(&r, ctx, p), SM_OK);
        sm_grid g = sm_raster_grid(r);
        sm_window w = {0, 0, 3, 3};
        double buf[9];
        assert_int_equal(sm_raster_read(r, ctx, 1, &g, &w, SM_RESAMPLE_NEAREST, buf), SM_OK);
        for (int i = 0; i < 9; i++)
            assert_true(i == 4 ? isnan(buf[i]) : buf[i] == 1.0);
        sm_raster_close(r);
        sm_context_destroy(ctx);
    }
    unsetenv("SINKMAP_DIRECT_TIFF");
}

static void test_reflectance_scaling(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/boa.tif", tmp);
    make_raster(p, 2, 2, 0, 20, 10, f_lin, 1, NAN);
    GDALDatasetH ds = GDALOpen(p, GA_Update);
    GDALSetMetadataItem(ds, "BOA_ADD_OFFSET", "-1000", NULL);
    GDALSetMetadataItem(ds, "BOA_QUANTIFICATION_VALUE", "10000", NULL);
    GDALClose(ds);
    sm_context *ctx = sm_context_create();
    sm_raster *r = NULL;
    assert_int_equal(sm_raster_open(&r, ctx, p), SM_OK);
    double scale, offset;
    assert_string_equal(sm_raster_reflectance_scaling(r, 1, &scale, &offset), "BOA_ADD_OFFSET");
    assert_true(scale == 1e-4 && offset == -1000);
    sm_raster_close(r);
    /* Landsat C2 style: band scale 0.0000275, offset -0.2 → refl = (DN + offset/scale)·scale */
    snprintf(p, sizeof p, "%s/landsat.tif", tmp);
    make_raster(p, 2, 2, 0, 20, 10, f_lin, 1, NAN);
    ds = GDALOpen(p, GA_Update);
    GDALSetRasterScale(GDALGetRasterBand(ds, 1), 0.0000275);
    GDALSetRasterOffset(GDALGetRasterBand(ds, 1), -0.2);
    GDALClose(ds);
    assert_int_equal(sm_raster_open(&r, ctx, p), SM_OK);
    assert_string_equal(sm_raster_reflectance_scaling(r, 1, &scale, &offset), "band scale/offset");
    double dn = 10000;
    assert_true(fabs((dn + offset) * scale - (dn * 0.0000275 - 0.2)) < 1e-12);
    sm_raster_close(r);
    sm_context_destroy(ctx);
}


/* A coarser band split into whole target cells (20 m onto 10 m, 30 m or 60 m with nearest) is
 * resampled from the direct decoder; the values must be GDAL's bit for bit (SINKMAP_DIRECT_TIFF=NO
 * reads through GDAL's RasterIO): random 8- and 16-bit rasters with scattered and blocky nodata,
 * no nodata, nodata at the type's top (bilinear direct), nodata inside the range and a signed
 * type (bilinear through GDAL, nearest direct), target grids reaching past the source on every
 * side, and random windows, many straddling the source's edges and its tiles. */
typedef struct {
    GDALDataType type;
    int has_nd;
    double nd;
    int k;         /* source cell / target cell */
    int bilinear;  /* else nearest */
    int direct;    /* the direct path is expected to serve this case */
} upsample_case;

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static void test_upsample_direct_matches_gdal(void **state)
{
    (void)state;
    const upsample_case cases[] = {
        {GDT_UInt16, 1, 0, 2, 1, 1},     {GDT_UInt16, 0, 0, 2, 1, 1}, {GDT_UInt16, 1, 65535, 2, 1, 1},
        {GDT_Byte, 1, 0, 2, 1, 1},       {GDT_Byte, 0, 0, 2, 1, 1},   {GDT_UInt16, 1, 500, 2, 1, 0},
        {GDT_Int16, 1, -1, 2, 1, 0},     {GDT_Byte, 1, 0, 2, 0, 1},   {GDT_UInt16, 1, 0, 3, 0, 1},
        {GDT_Int16, 1, -1, 6, 0, 1},     {GDT_Float32, 1, -9999, 2, 0, 1}, {GDT_UInt16, 1, 0, 3, 1, 0},
    };
    const int nx = 53, ny = 41;
    uint64_t seed = 12345;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const upsample_case *uc = &cases[ci];
        char p[512];
        snprintf(p, sizeof p, "%s/coarse_%zu.tif", tmp, ci);
        char **opt = NULL;
        opt = CSLSetNameValue(opt, "TILED", "YES");
        opt = CSLSetNameValue(opt, "BLOCKXSIZE", "16");
        opt = CSLSetNameValue(opt, "BLOCKYSIZE", "16");
        opt = CSLSetNameValue(opt, "COMPRESS", ci % 2 ? "ZSTD" : "DEFLATE");
        opt = CSLSetNameValue(opt, "PREDICTOR", uc->type == GDT_Float32 ? "3" : "2");
        GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), p, nx, ny, 1, uc->type, opt);
        CSLDestroy(opt);
        assert_non_null(ds);
        double d = 10.0 * uc->k;
        double gt[6] = {500000, d, 0, 3400000, 0, -d};
        GDALSetGeoTransform(ds, gt);
        char *w = wkt_32648();
        GDALSetProjection(ds, w);
        CPLFree(w);
        GDALRasterBandH b = GDALGetRasterBand(ds, 1);
        if (uc->has_nd)
            GDALSetRasterNoDataValue(b, uc->nd);
        double top = uc->type == GDT_Byte ? 255 : uc->type == GDT_UInt16 ? 65535 : 30000;
        double *v = malloc(sizeof(double) * nx * ny);
        for (int r = 0; r < ny; r++)
            for (int c = 0; c < nx; c++) {
                double x = (double)(lcg(&seed) % (uint64_t)top);
                if (uc->type == GDT_Int16)
                    x -= 15000;
                if (uc->type == GDT_Float32)
                    x = x / 7.0;
                if (uc->has_nd && (lcg(&seed) % 4 == 0 || (r >= 8 && r < 20 && c >= 30 && c < 45)))
                    x = uc->nd;
                v[r * nx + c] = x;
            }
        assert_int_equal(GDALRasterIO(b, GF_Write, 0, 0, nx, ny, v, nx, ny, GDT_Float64, 0, 0), CE_None);
        free(v);
        GDALClose(ds);
        /* the target grid: 10 m, three cells past the source on every side */
        sm_grid tg = {500000 - 30, 3400000 + 30, 10, 10, (int64_t)nx * uc->k + 6, (int64_t)ny * uc->k + 6};
        sm_context *ctx = sm_context_create();
        sm_raster *direct = NULL, *viagdal = NULL;
        assert_int_equal(sm_raster_open(&direct, ctx, p), SM_OK);
        setenv("SINKMAP_DIRECT_TIFF", "NO", 1);
        assert_int_equal(sm_raster_open(&viagdal, ctx, p), SM_OK);
        sm_resample rs = uc->bilinear ? SM_RESAMPLE_BILINEAR : SM_RESAMPLE_NEAREST;
        /* the first read decides the path of each handle (the variable is read then) */
        sm_window whole = {0, 0, tg.ncols, tg.nrows};
        size_t nw = (size_t)tg.ncols * (size_t)tg.nrows;
        double *a = malloc(sizeof(double) * nw), *g = malloc(sizeof(double) * nw);
        assert_int_equal(sm_raster_read(viagdal, ctx, 1, &tg, &whole, rs, g), SM_OK);
        unsetenv("SINKMAP_DIRECT_TIFF");
        unsigned long before = sm__raster_upsampled();
        assert_int_equal(sm_raster_read(direct, ctx, 1, &tg, &whole, rs, a), SM_OK);
        assert_int_equal(sm__raster_upsampled() - before, (unsigned long)uc->direct);
        size_t nvalid = 0, nnan = 0;
        for (size_t i = 0; i < nw; i++) {
            if (!(isnan(a[i]) ? isnan(g[i]) : a[i] == g[i]))
                fail_msg("case %zu: cell %zu (col %lld, row %lld): %.17g here, %.17g through GDAL", ci, i,
                         (long long)(i % (size_t)tg.ncols), (long long)(i / (size_t)tg.ncols), a[i], g[i]);
            nvalid += !isnan(a[i]);
            nnan += isnan(a[i]) != 0;
        }
        assert_true(nvalid > nw / 2 && nnan > 0);
        for (int t = 0; t < 300; t++) {
            sm_window win;
            win.col0 = (int64_t)(lcg(&seed) % (uint64_t)(tg.ncols + 4)) - 4;
            win.row0 = (int64_t)(lcg(&seed) % (uint64_t)(tg.nrows + 4)) - 4;
            win.ncols = 1 + (int64_t)(lcg(&seed) % 60);
            win.nrows = 1 + (int64_t)(lcg(&seed) % 40);
            size_t n = (size_t)win.ncols * (size_t)win.nrows;
            setenv("SINKMAP_DIRECT_TIFF", "NO", 1); /* no effect on handles opened: both as before */
            assert_int_equal(sm_raster_read(viagdal, ctx, 1, &tg, &win, rs, g), SM_OK);
            unsetenv("SINKMAP_DIRECT_TIFF");
            assert_int_equal(sm_raster_read(direct, ctx, 1, &tg, &win, rs, a), SM_OK);
            for (size_t i = 0; i < n; i++)
                if (!(isnan(a[i]) ? isnan(g[i]) : a[i] == g[i]))
                    fail_msg("case %zu, window (%lld, %lld, %lld x %lld): cell %zu: %.17g here, %.17g through GDAL", ci,
                             (long long)win.col0, (long long)win.row0, (long long)win.ncols, (long long)win.nrows, i,
                             a[i], g[i]);
        }
        free(a);
        free(g);
        sm_raster_close(direct);
        sm_raster_close(viagdal);
        sm_context_destroy(ctx);
    }
}

/* A class map's writer options: bytes, nodata 0, the given classes. */
static sm_raster_writer_options class_map_options(const sm_class_entry *cls, size_t n)
{
    sm_raster_writer_options o = SM_RASTER_WRITER_OPTIONS_INIT;
    o.type = SM_PIXEL_BYTE;
    o.has_nodata = 1;
    o.nodata = 0;
    o.categorical = 1;
    o.classes = cls;
    o.nclasses = n;
    return o;
}

/* The overviews of a class map: each level from the one above, every cell the most frequent
 * non-nodata value of the 2 x 2 cells above it (fewer at an odd edge), ties to the value that
 * reached the top count first in row-major order, nodata when all are. Checked against a
 * brute-force oracle (counts over the block, the tie rule by a second scan) at every level, and
 * the first level (an exact halving) against gdaladdo -r mode's, on random classes with many
 * ties and nodata patches. */
static int oracle_mode(const uint8_t *v, int n, uint8_t nd)
{
    int count[256] = {0}, top = 0;
    for (int k = 0; k < n; k++)
        if (v[k] != nd && ++count[v[k]] > top)
            top = count[v[k]];
    if (top == 0)
        return nd;
    /* the first value whose running count reaches top */
    int run[256] = {0};
    for (int k = 0; k < n; k++)
        if (v[k] != nd && ++run[v[k]] == top)
            return v[k];
    return -1;
}

static void test_writer_mode_overviews(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/modes.tif", tmp);
    sm_context *ctx = sm_context_create();
    const int W = 2100, H = 1030; /* levels 1050 x 515, 525 x 258, 263 x 129 */
    sm_grid g = {600000, 3400000, 10, 10, W, H};
    static const sm_class_entry cls[] = {{0, "none", 0, 0, 0}, {1, "a", 1, 1, 1}, {2, "b", 2, 2, 2}, {3, "c", 3, 3, 3}};
    sm_raster_writer_options o = class_map_options(cls, 4);
    char *wkt = wkt_32648();
    sm_raster_writer *w = NULL;
    assert_int_equal(sm_raster_writer_create(&w, ctx, p, &g, wkt, &o), SM_OK);
    CPLFree(wkt);
    uint8_t *base = malloc((size_t)W * H);
    uint64_t seed = 99;
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++) {
            int v = (int)(lcg(&seed) % 4); /* 0 (nodata) to 3: ties are common */
            if (r >= 100 && r < 180 && c >= 300 && c < 420)
                v = 0; /* a nodata patch: whole blocks of nodata */
            if (r >= 400 && r < 500)
                v = 1 + (c % 2) * ((r % 2) ? 1 : 2); /* checkerboards: 2-2 ties */
            base[(size_t)r * W + c] = (uint8_t)v;
        }
    double *buf = malloc(sizeof(double) * (size_t)W * 100);
    for (int r0 = 0; r0 < H; r0 += 100) {
        int nr = r0 + 100 > H ? H - r0 : 100;
        sm_window win = {0, r0, W, nr};
        for (size_t i = 0; i < (size_t)W * nr; i++)
            buf[i] = base[(size_t)r0 * W + i];
        assert_int_equal(sm_raster_writer_write(w, ctx, 1, &win, buf), SM_OK);
    }
    free(buf);
    assert_int_equal(sm_raster_writer_finish(w, ctx), SM_OK);
    sm_raster_writer_destroy(w);
    GDALDatasetH ds = GDALOpen(p, GA_ReadOnly);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    assert_int_equal(GDALGetOverviewCount(b), 3);
    uint8_t *above = base;
    int aw = W, ah = H;
    for (int lv = 0; lv < 3; lv++) {
        GDALRasterBandH ob = GDALGetOverview(b, lv);
        int ow = GDALGetRasterBandXSize(ob), oh = GDALGetRasterBandYSize(ob);
        assert_int_equal(ow, (aw + 1) / 2);
        assert_int_equal(oh, (ah + 1) / 2);
        uint8_t *got = malloc((size_t)ow * oh);
        assert_int_equal(GDALRasterIO(ob, GF_Read, 0, 0, ow, oh, got, ow, oh, GDT_Byte, 0, 0), CE_None);
        size_t ties = 0, nodata = 0;
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                uint8_t v[4];
                int n = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++)
                        if (2 * y + dy < ah && 2 * x + dx < aw)
                            v[n++] = above[(size_t)(2 * y + dy) * aw + 2 * x + dx];
                int want = oracle_mode(v, n, 0);
                if (got[(size_t)y * ow + x] != want)
                    fail_msg("level %d, cell (%d, %d): %d, expected %d", lv + 1, x, y, got[(size_t)y * ow + x], want);
                ties += n == 4 && v[0] != v[1] && v[0] != 0 && v[1] != 0 && ((v[2] == v[0] && v[3] == v[1]) || (v[2] == v[1] && v[3] == v[0]));
                nodata += want == 0;
            }
        if (lv == 0)
            assert_true(ties > 1000 && nodata > 1000); /* the tie rule and nodata were exercised */
        if (above != base)
            free(above);
        above = got;
        aw = ow;
        ah = oh;
    }
    free(above);
    /* the first level against gdaladdo -r mode on the same classes */
    char ref[600];
    snprintf(ref, sizeof ref, "%s/modes_ref.tif", tmp);
    GDALDatasetH rd = GDALCreate(GDALGetDriverByName("GTiff"), ref, W, H, 1, GDT_Byte, NULL);
    GDALRasterBandH rb = GDALGetRasterBand(rd, 1);
    GDALSetRasterNoDataValue(rb, 0);
    assert_int_equal(GDALRasterIO(rb, GF_Write, 0, 0, W, H, base, W, H, GDT_Byte, 0, 0), CE_None);
    int f2 = 2;
    assert_int_equal(GDALBuildOverviews(rd, "MODE", 1, &f2, 0, NULL, NULL, NULL), CE_None);
    size_t n1 = (size_t)(W / 2) * (H / 2);
    uint8_t *mine = malloc(n1), *theirs = malloc(n1);
    assert_int_equal(GDALRasterIO(GDALGetOverview(b, 0), GF_Read, 0, 0, W / 2, H / 2, mine, W / 2, H / 2, GDT_Byte, 0, 0), CE_None);
    assert_int_equal(GDALRasterIO(GDALGetOverview(rb, 0), GF_Read, 0, 0, W / 2, H / 2, theirs, W / 2, H / 2, GDT_Byte, 0, 0), CE_None);
    assert_memory_equal(mine, theirs, n1);
    free(mine);
    free(theirs);
    GDALClose(rd);
    GDALClose(ds);
    free(base);
    const char *validator = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py";
    if (e2e_exists(validator))
        assert_int_equal(e2e_sh("/usr/bin/python3 %s -q '%s'", validator, p), 0);
    sm_context_destroy(ctx);
}

/* The writer: values, palette, names; the file's structure read with libtiff. */
static void test_writer_structure(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/classes.tif", tmp);
    sm_context *ctx = sm_context_create();
    sm_grid g = {600000, 3400000, 10, 10, 1100, 1030};
    static const sm_class_entry cls[] = {{0, "none", 0, 0, 0}, {1, "forest", 10, 120, 10}, {2, "water", 0, 0, 200}};
    sm_raster_writer_options o = class_map_options(cls, 3);
    o.description = "land cover";
    char *wkt = wkt_32648();
    sm_raster_writer *w = NULL;
    assert_int_equal(sm_raster_writer_create(&w, ctx, p, &g, wkt, &o), SM_OK);
    CPLFree(wkt);
    double *row = malloc(sizeof(double) * 1100 * 100);
    for (int64_t r0 = 0; r0 < 1030; r0 += 100) {
        sm_window win = {0, r0, 1100, r0 + 100 > 1030 ? 1030 - r0 : 100};
        for (int64_t i = 0; i < win.nrows * 1100; i++)
            row[i] = (double)(((r0 + i / 1100) + (i % 1100)) % 3);
        assert_int_equal(sm_raster_writer_write(w, ctx, 1, &win, row), SM_OK);
    }
    free(row);
    assert_int_equal(sm_raster_writer_finish(w, ctx), SM_OK);
    sm_raster_writer_destroy(w);
    char part[600];
    snprintf(part, sizeof part, "%s.part.tif", p);
    assert_false(e2e_exists(part)); /* the staged file is gone */
    /* libtiff, independently of GDAL */
    TIFF *t = TIFFOpen(p, "r");
    assert_non_null(t);
    uint32_t tw = 0, th = 0, width = 0;
    uint16_t comp = 0;
    assert_true(TIFFIsTiled(t));
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &width);
    TIFFGetField(t, TIFFTAG_COMPRESSION, &comp);
    assert_int_equal(tw, 512);
    assert_int_equal(th, 512);
    assert_int_equal(width, 1100);
    assert_true(comp == COMPRESSION_ADOBE_DEFLATE || comp == COMPRESSION_DEFLATE);
    int overviews = 0;
    while (TIFFReadDirectory(t)) {
        uint32_t sub = 0;
        TIFFGetField(t, TIFFTAG_SUBFILETYPE, &sub);
        if (sub & FILETYPE_REDUCEDIMAGE)
            overviews++;
        assert_true(TIFFIsTiled(t));
    }
    TIFFClose(t);
    assert_true(overviews >= 1); /* 1100 → 550 (→ 275) */
    /* GDAL view: values, palette, names, nodata */
    GDALDatasetH ds = GDALOpen(p, GA_ReadOnly);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    uint8_t v[4];
    assert_int_equal(GDALRasterIO(b, GF_Read, 1098, 1028, 2, 2, v, 2, 2, GDT_Byte, 0, 0), CE_None);
    assert_int_equal(v[0], (1028 + 1098) % 3);
    assert_int_equal(v[3], (1029 + 1099) % 3);
    const GDALColorEntry *e = GDALGetColorEntry(GDALGetRasterColorTable(b), 1);
    assert_true(e->c1 == 10 && e->c2 == 120 && e->c3 == 10);
    char **names = GDALGetRasterCategoryNames(b);
    assert_non_null(names);
    assert_string_equal(names[2], "water");
    assert_string_equal(GDALGetDescription(b), "land cover");
    GDALClose(ds);
    /* GDAL's own COG validator, when python3-gdal is installed */
    const char *validator = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py";
    if (e2e_exists(validator))
        assert_int_equal(e2e_sh("/usr/bin/python3 %s -q '%s'", validator, p), 0);
    else
        print_message("python3-gdal not installed: COG validator skipped\n");
    sm_context_destroy(ctx);
}

/* Writes a 700 x 530 raster of `type` in windows of 128 rows, from doubles (typed = 0) or from
 * a buffer of the band's own type whose rows are 1000 pixels apart (typed = 1). */
static void write_pattern(const char *p, sm_pixel_type type, int typed)
{
    sm_context *ctx = sm_context_create();
    sm_grid g = {600000, 3400000, 10, 10, 700, 530};
    sm_raster_writer_options o = SM_RASTER_WRITER_OPTIONS_INIT;
    o.type = type;
    o.has_nodata = 1;
    o.nodata = type == SM_PIXEL_BYTE ? 0 : NAN;
    o.categorical = type == SM_PIXEL_BYTE;
    char *wkt = wkt_32648();
    sm_raster_writer *w = NULL;
    assert_int_equal(sm_raster_writer_create(&w, ctx, p, &g, wkt, &o), SM_OK);
    CPLFree(wkt);
    double *d = malloc(sizeof(double) * 700 * 128);
    uint8_t *u = malloc(1000 * 128);
    float *f = malloc(sizeof(float) * 1000 * 128);
    for (int64_t r0 = 0; r0 < 530; r0 += 128) {
        sm_window win = {0, r0, 700, r0 + 128 > 530 ? 530 - r0 : 128};
        for (int64_t y = 0; y < win.nrows; y++)
            for (int64_t x = 0; x < 700; x++) {
                int64_t r = r0 + y;
                double v = type == SM_PIXEL_BYTE ? (double)((r * 7 + x * 3) % 12) : (r % 17 == 0 ? NAN : (float)(0.001 * (double)(r * x % 997)));
                d[y * 700 + x] = v;
                u[y * 1000 + x] = (uint8_t)(type == SM_PIXEL_BYTE ? v : 0);
                f[y * 1000 + x] = (float)v;
            }
        if (!typed)
            assert_int_equal(sm_raster_writer_write(w, ctx, 1, &win, d), SM_OK);
        else if (type == SM_PIXEL_BYTE)
            assert_int_equal(sm_raster_writer_write_typed(w, ctx, 1, &win, SM_PIXEL_BYTE, u, 1000), SM_OK);
        else
            assert_int_equal(sm_raster_writer_write_typed(w, ctx, 1, &win, SM_PIXEL_FLOAT32, f, 1000), SM_OK);
    }
    free(d);
    free(u);
    free(f);
    assert_int_equal(sm_raster_writer_finish(w, ctx), SM_OK);
    sm_raster_writer_destroy(w);
    sm_context_destroy(ctx);
}

/* Writing from a typed buffer with a row stride gives the very file written from doubles. */
static void test_writer_typed(void **state)
{
    (void)state;
    const sm_pixel_type types[2] = {SM_PIXEL_BYTE, SM_PIXEL_FLOAT32};
    for (int k = 0; k < 2; k++) {
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/typed_%d_d.tif", tmp, k);
        snprintf(b, sizeof b, "%s/typed_%d_t.tif", tmp, k);
        write_pattern(a, types[k], 0);
        write_pattern(b, types[k], 1);
        char *x = e2e_read_all(a), *y = e2e_read_all(b);
        assert_non_null(x);
        assert_non_null(y);
        FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
        fseek(fa, 0, SEEK_END);
        fseek(fb, 0, SEEK_END);
        long na = ftell(fa), nb = ftell(fb);
        fclose(fa);
        fclose(fb);
        assert_true(na > 1000);
        assert_int_equal(na, nb);
        assert_memory_equal(x, y, (size_t)na);
        free(x);
        free(y);
        /* and a value read back */
        GDALDatasetH ds = GDALOpen(b, GA_ReadOnly);
        double v = 0;
        assert_int_equal(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 699, 529, 1, 1, &v, 1, 1, GDT_Float64, 0, 0),
                         CE_None);
        if (k == 0)
            assert_true(v == (double)((529 * 7 + 699 * 3) % 12));
        else
            assert_true(v == (double)(float)(0.001 * (double)(529 * 699 % 997)));
        GDALClose(ds);
    }
}

static void test_writer_overflow(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_grid g = {0, 0, 1, 1, INT64_C(1) << 40, INT64_C(1) << 40};
    sm_raster_writer_options o = SM_RASTER_WRITER_OPTIONS_INIT;
    sm_raster_writer *w = NULL;
    char p[512];
    snprintf(p, sizeof p, "%s/huge.tif", tmp);
    assert_int_equal(sm_raster_writer_create(&w, ctx, p, &g, NULL, &o), SM_ERR_INPUT);
    assert_null(w);
    assert_non_null(strstr(sm_context_message(ctx), "is out of range"));
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_same_grid),      cmocka_unit_test(test_read_coarser),
        cmocka_unit_test(test_nodata_and_errors),   cmocka_unit_test(test_reflectance_scaling),
        cmocka_unit_test(test_mask_band),           cmocka_unit_test(test_nodata_from_aux_xml),
        cmocka_unit_test(test_writer_structure),    cmocka_unit_test(test_writer_overflow),
        cmocka_unit_test(test_writer_typed),        cmocka_unit_test(test_upsample_direct_matches_gdal),
        cmocka_unit_test(test_writer_mode_overviews),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
