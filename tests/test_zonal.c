/* test_zonal.c: `sinkmap zonal` through the program, against answers worked out independently.
 * Hand-computed statistics on a 6 x 4 raster made here; GDAL's rasterizer (centre and
 * all-touched) and a brute-force GEOS cell-by-cell intersection on real data (rasterstats);
 * bit-identical output for any thread count; and every bad-input path of the command. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>
#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <geos_c.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "e2e_util.h"

#define RS SM_REALDATA_DIR "/rasterstats"
#define ND -9999.0

static char tmp[256];

/* ---- files ---- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *path_in(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmp, name);
    return buf;
}

/* A GeoTIFF on a 10 m grid in EPSG:32648 with upper-left corner (x0, y0); band b's values are
 * vals[b][row * ncols + col]; ND is the nodata value. Tiles of `tile` rows and columns (0:
 * GDAL's default strips). */
static void make_raster(const char *path, int ncols, int nrows, double x0, double y0, int nbands,
                        const double *const *vals, int tile)
{
    char **co = NULL;
    char bs[16];
    if (tile > 0) {
        snprintf(bs, sizeof bs, "%d", tile);
        co = CSLSetNameValue(co, "TILED", "YES");
        co = CSLSetNameValue(co, "BLOCKXSIZE", bs);
        co = CSLSetNameValue(co, "BLOCKYSIZE", bs);
    }
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, ncols, nrows, nbands, GDT_Float32, co);
    CSLDestroy(co);
    assert_non_null(ds);
    double gt[6] = {x0, 10.0, 0.0, y0, 0.0, -10.0};
    GDALSetGeoTransform(ds, gt);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32648);
    GDALSetSpatialRef(ds, srs);
    OSRDestroySpatialReference(srs);
    for (int b = 0; b < nbands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
        GDALSetRasterNoDataValue(band, ND);
        assert_int_equal(GDALRasterIO(band, GF_Write, 0, 0, ncols, nrows, (void *)vals[b], ncols, nrows,
                                      GDT_Float64, 0, 0),
                         CE_None);
    }
    GDALClose(ds);
}

/* A GeoPackage (or Shapefile, by the extension) of polygons given as WKT in EPSG:32648, with
 * a text field `name` and an integer field `code`. */
static void make_parcels(const char *path, size_t n, const char *const *wkt, const char *const *names,
                         const int *codes)
{
    const char *drv = strstr(path, ".shp") ? "ESRI Shapefile" : "GPKG";
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName(drv), path, 0, 0, 0, GDT_Unknown, NULL);
    assert_non_null(ds);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32648);
    OGRLayerH l = GDALDatasetCreateLayer(ds, "parcels", srs, wkbPolygon, NULL);
    OSRDestroySpatialReference(srs);
    assert_non_null(l);
    OGRFieldDefnH fd = OGR_Fld_Create("name", OFTString);
    OGR_L_CreateField(l, fd, TRUE);
    OGR_Fld_Destroy(fd);
    fd = OGR_Fld_Create("code", OFTInteger);
    OGR_L_CreateField(l, fd, TRUE);
    OGR_Fld_Destroy(fd);
    for (size_t i = 0; i < n; i++) {
        OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(l));
        OGR_F_SetFieldString(f, 0, names[i]);
        OGR_F_SetFieldInteger(f, 1, codes[i]);
        OGRGeometryH g = NULL;
        char *w = (char *)wkt[i];
        assert_int_equal(OGR_G_CreateFromWkt(&w, NULL, &g), OGRERR_NONE);
        OGR_F_SetGeometryDirectly(f, g);
        assert_int_equal(OGR_L_CreateFeature(l, f), OGRERR_NONE);
        OGR_F_Destroy(f);
    }
    GDALClose(ds);
}

/* ---- a CSV read back: header and cells as text; empty cells read as NAN ---- */

typedef struct table {
    size_t ncols, nrows;
    char **head;
    char **cell; /* nrows * ncols */
    char *text;
} table;

static size_t split(char *line, char **out, size_t cap)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *c = strchr(p, ',');
        if (n < cap)
            out[n] = p;
        n++;
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

static void table_read(table *t, const char *path)
{
    memset(t, 0, sizeof *t);
    t->text = e2e_read_all(path);
    assert_non_null(t->text);
    char *lines[4096];
    size_t nl = 0;
    for (char *p = t->text; *p && nl < 4096;) {
        char *e = strchr(p, '\n');
        if (e)
            *e = '\0';
        if (*p)
            lines[nl++] = p;
        if (!e)
            break;
        p = e + 1;
    }
    assert_true(nl >= 1);
    char *tmpv[256];
    t->ncols = split(lines[0], tmpv, 256);
    assert_true(t->ncols <= 256);
    t->head = malloc(t->ncols * sizeof *t->head);
    memcpy(t->head, tmpv, t->ncols * sizeof *t->head);
    t->nrows = nl - 1;
    t->cell = calloc(t->nrows * t->ncols + 1, sizeof *t->cell);
    for (size_t r = 0; r < t->nrows; r++) {
        size_t k = split(lines[r + 1], tmpv, 256);
        assert_int_equal(k, t->ncols);
        memcpy(t->cell + r * t->ncols, tmpv, k * sizeof *tmpv);
    }
}

static void table_free(table *t)
{
    free(t->head);
    free(t->cell);
    free(t->text);
}

static long table_col(const table *t, const char *name)
{
    for (size_t k = 0; k < t->ncols; k++)
        if (strcmp(t->head[k], name) == 0)
            return (long)k;
    return -1;
}

static double table_num(const table *t, size_t row, const char *name)
{
    long k = table_col(t, name);
    if (k < 0) {
        print_error("no column '%s' in the output\n", name);
        fail();
    }
    const char *s = t->cell[row * t->ncols + (size_t)k];
    if (!s[0])
        return NAN;
    char *end;
    double v = strtod(s, &end);
    assert_true(*end == '\0');
    return v;
}

/* |got - want| <= tol * max(1, |want|), NAN matching NAN. */
static void near(const char *what, size_t row, double got, double want, double tol)
{
    if (isnan(want) && isnan(got))
        return;
    if (isnan(want) || isnan(got) || fabs(got - want) > tol * fmax(1.0, fabs(want))) {
        print_error("%s (row %zu): got %.17g, expected %.17g\n", what, row, got, want);
        fail();
    }
}

static void expect_col(const table *t, size_t row, const char *name, double want, double tol)
{
    near(name, row, table_num(t, row, name), want, tol);
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    if (!e2e_tmpdir(tmp, sizeof tmp, "zonal"))
        return -1;
    GDALAllRegister();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return e2e_sh("rm -rf '%s'", tmp);
}

/*
 * The hand fixture: 6 x 4 cells of 10 m, upper-left corner (500000, 3300000), values
 *
 *     1 2 3 4 5  6
 *     3 3 7 8 ND 2
 *     4 4 5 5 6  6
 *     9 1 2 2 1  1
 *
 * and three parcels, in cell units (u to the right, v downwards):
 *   A  u in [0,2],     v in [0,2]     : cells 1,2,3,3 wholly covered
 *   B  u in [2.5,5.5], v in [1,2]     : 7 (half), 8, ND, 2 (half)
 *   C  u in [0.5,1.5], v in [2.5,3.5] : a quarter of 4, 4, 9, 1
 * Weights for weighted_mean:
 *     1 2 3 4 1 1
 *     2 1 4 1 5 3
 *     1 1 1 1 1 1
 *     2 1 1 1 1 1
 */
#define HX0 500000.0
#define HY0 3300000.0

static const double HAND[24] = {1, 2, 3, 4, 5, 6, 3, 3, 7, 8, ND, 2, 4, 4, 5, 5, 6, 6, 9, 1, 2, 2, 1, 1};
static const double HAND_W[24] = {1, 2, 3, 4, 1, 1, 2, 1, 4, 1, 5, 3, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1};

static char *box_wkt(double u0, double v0, double u1, double v1)
{
    double x0 = HX0 + 10 * u0, x1 = HX0 + 10 * u1, y0 = HY0 - 10 * v0, y1 = HY0 - 10 * v1;
    char *s = malloc(256);
    snprintf(s, 256, "POLYGON ((%.3f %.3f,%.3f %.3f,%.3f %.3f,%.3f %.3f,%.3f %.3f))", x0, y0, x1, y0, x1,
             y1, x0, y1, x0, y0);
    return s;
}

static void hand_fixture(char *raster, char *weights, char *parcels, size_t n)
{
    snprintf(raster, n, "%s/hand.tif", tmp);
    snprintf(weights, n, "%s/hand_w.tif", tmp);
    snprintf(parcels, n, "%s/hand.gpkg", tmp);
    if (e2e_exists(parcels))
        return;
    const double *v[1] = {HAND}, *w[1] = {HAND_W};
    make_raster(raster, 6, 4, HX0, HY0, 1, v, 0);
    make_raster(weights, 6, 4, HX0, HY0, 1, w, 0);
    char *wkt[3] = {box_wkt(0, 0, 2, 2), box_wkt(2.5, 1, 5.5, 2), box_wkt(0.5, 2.5, 1.5, 3.5)};
    const char *names[3] = {"A-parcel", "B", "C"};
    const int codes[3] = {10, 20, 30};
    make_parcels(parcels, 3, (const char *const *)wkt, names, codes);
    for (int i = 0; i < 3; i++)
        free(wkt[i]);
}

static void test_hand_computed(void **state)
{
    (void)state;
    char raster[512], weights[512], parcels[512], out[512], err[4096];
    hand_fixture(raster, weights, parcels, sizeof raster);
    path_in(out, sizeof out, "hand.csv");
    int rc = e2e_run(err, sizeof err,
                     "zonal '%s' '%s' --id name --weights '%s' --stats "
                     "count,sum,mean,min,max,stdev,variance,median,q25,q75,q90,majority,minority,"
                     "variety,frac,weighted_mean,area_m2,area_ha,area_mu,nodata -o '%s' --quiet",
                     raster, parcels, weights, out);
    if (rc != 0)
        print_error("%s", err);
    assert_int_equal(rc, 0);
    table t;
    table_read(&t, out);
    assert_int_equal(t.nrows, 3);
    /* --id name: the id column first, headed by the field's name, in feature order */
    assert_string_equal(t.head[0], "name");
    assert_string_equal(t.cell[0 * t.ncols], "A-parcel");
    assert_string_equal(t.cell[1 * t.ncols], "B");
    assert_string_equal(t.cell[2 * t.ncols], "C");
    /* one frac column per class present in any parcel, ascending */
    const char *fracs[] = {"frac_1", "frac_2", "frac_3", "frac_4", "frac_7", "frac_8", "frac_9"};
    for (size_t k = 0; k < 7; k++)
        assert_true(table_col(&t, fracs[k]) > 0);
    assert_int_equal(table_col(&t, "frac_5"), -1);
    assert_int_equal(table_col(&t, "frac_6"), -1);
    assert_int_equal(t.ncols, 1 + 19 + 7);

    const double e = 1e-14;
    /* A: 1, 2, 3, 3, each wholly covered. */
    expect_col(&t, 0, "count", 4, 0);
    expect_col(&t, 0, "sum", 9, 0);
    expect_col(&t, 0, "mean", 2.25, 0);
    expect_col(&t, 0, "min", 1, 0);
    expect_col(&t, 0, "max", 3, 0);
    expect_col(&t, 0, "variance", 0.6875, e);
    expect_col(&t, 0, "stdev", sqrt(0.6875), e);
    expect_col(&t, 0, "median", 2, 0);
    expect_col(&t, 0, "q25", 1, 0);
    expect_col(&t, 0, "q75", 3, 0);
    expect_col(&t, 0, "q90", 3, 0);
    expect_col(&t, 0, "majority", 3, 0);
    expect_col(&t, 0, "minority", 1, 0); /* 1 and 2 tie: the smaller */
    expect_col(&t, 0, "variety", 3, 0);
    expect_col(&t, 0, "frac_1", 0.25, 0);
    expect_col(&t, 0, "frac_2", 0.25, 0);
    expect_col(&t, 0, "frac_3", 0.5, 0);
    expect_col(&t, 0, "frac_4", 0, 0);
    expect_col(&t, 0, "frac_9", 0, 0);
    expect_col(&t, 0, "weighted_mean", 14.0 / 6.0, e); /* Σcwx = 1+4+6+3, Σcw = 1+2+2+1 */
    expect_col(&t, 0, "area_m2", 400, e);
    expect_col(&t, 0, "area_ha", 0.04, e);
    expect_col(&t, 0, "area_mu", 0.6, e);
    expect_col(&t, 0, "nodata", 0, 0);
    /* B: 7 x 0.5, 8 x 1, nodata x 1, 2 x 0.5. */
    expect_col(&t, 1, "count", 2, 0);
    expect_col(&t, 1, "sum", 12.5, 0);
    expect_col(&t, 1, "mean", 6.25, 0);
    expect_col(&t, 1, "min", 2, 0);
    expect_col(&t, 1, "max", 8, 0);
    expect_col(&t, 1, "variance", 6.1875, e); /* (0.5*0.75² + 1.75² + 0.5*4.25²) / 2 */
    expect_col(&t, 1, "stdev", sqrt(6.1875), e);
    expect_col(&t, 1, "median", 7, 0); /* cumulative 0.5 (2), 1.0 (7) reaches 1 */
    expect_col(&t, 1, "q25", 2, 0);
    expect_col(&t, 1, "q75", 8, 0);
    expect_col(&t, 1, "majority", 8, 0);
    expect_col(&t, 1, "minority", 2, 0); /* 2 and 7 tie at 0.5 */
    expect_col(&t, 1, "variety", 3, 0);
    expect_col(&t, 1, "frac_2", 0.25, 0);
    expect_col(&t, 1, "frac_7", 0.25, 0);
    expect_col(&t, 1, "frac_8", 0.5, 0);
    expect_col(&t, 1, "frac_1", 0, 0);
    expect_col(&t, 1, "weighted_mean", 25.0 / 4.5, e); /* (0.5*4*7 + 8 + 0.5*3*2) / (2 + 1 + 1.5) */
    expect_col(&t, 1, "area_m2", 300, e);               /* the nodata cell is covered too */
    expect_col(&t, 1, "area_ha", 0.03, e);
    expect_col(&t, 1, "area_mu", 0.45, e);
    expect_col(&t, 1, "nodata", 1.0 / 3.0, e);
    /* C: a quarter of 4, 4, 9, 1. */
    expect_col(&t, 2, "count", 1, 0);
    expect_col(&t, 2, "sum", 4.5, 0);
    expect_col(&t, 2, "mean", 4.5, 0);
    expect_col(&t, 2, "min", 1, 0);
    expect_col(&t, 2, "max", 9, 0);
    expect_col(&t, 2, "variance", 8.25, e);
    expect_col(&t, 2, "stdev", sqrt(8.25), e);
    expect_col(&t, 2, "median", 4, 0);
    expect_col(&t, 2, "q25", 1, 0);
    expect_col(&t, 2, "q75", 4, 0);
    expect_col(&t, 2, "q90", 9, 0);
    expect_col(&t, 2, "majority", 4, 0);
    expect_col(&t, 2, "minority", 1, 0);
    expect_col(&t, 2, "variety", 3, 0);
    expect_col(&t, 2, "frac_1", 0.25, 0);
    expect_col(&t, 2, "frac_4", 0.5, 0);
    expect_col(&t, 2, "frac_9", 0.25, 0);
    expect_col(&t, 2, "weighted_mean", 5.4, e); /* 0.25 (4 + 4 + 18 + 1) / (0.25 * 5) */
    expect_col(&t, 2, "area_m2", 100, e);
    expect_col(&t, 2, "nodata", 0, 0);
    table_free(&t);

    /* The default statistics and the feature id as the first column. */
    rc = e2e_run(err, sizeof err, "zonal '%s' '%s' -o '%s' --quiet", raster, parcels, out);
    assert_int_equal(rc, 0);
    table_read(&t, out);
    assert_int_equal(t.ncols, 6);
    assert_string_equal(t.head[0], "fid");
    const char *cols[] = {"count", "sum", "mean", "min", "max"};
    for (size_t k = 0; k < 5; k++)
        assert_string_equal(t.head[k + 1], cols[k]);
    assert_string_equal(t.cell[0], "1"); /* GeoPackage fids start at 1 */
    expect_col(&t, 1, "mean", 6.25, 0);
    table_free(&t);
}

/* Centre and touched modes on the hand fixture. B's half-covered cells have their centres on
 * its left and right edges (u = 2.5 and 5.5), and C's four cells have theirs on its corners:
 * sinkmap's rule (coverage.h) counts a centre on a left or top edge, not on a right or bottom
 * one. GDAL 3.6's rasterizer decides these boundary cases otherwise (it burns B's cells 8, ND, 2
 * and C's right column), so they are checked against the rule, not against GDAL; the real-data
 * tests compare with GDAL where no centre lies exactly on an edge. */
static void test_hand_modes(void **state)
{
    (void)state;
    char raster[512], weights[512], parcels[512], out[512], err[4096];
    hand_fixture(raster, weights, parcels, sizeof raster);
    path_in(out, sizeof out, "modes.csv");
    assert_int_equal(e2e_run(err, sizeof err, "zonal '%s' '%s' --mode touched --stats count,sum,nodata -o '%s'",
                             raster, parcels, out),
                     0);
    table t;
    table_read(&t, out);
    expect_col(&t, 0, "count", 4, 0);      /* A lies on grid lines: no neighbour is touched */
    expect_col(&t, 1, "count", 3, 0);      /* 7, 8, 2 (and the nodata cell) */
    expect_col(&t, 1, "sum", 17, 0);
    expect_col(&t, 1, "nodata", 0.25, 0);
    expect_col(&t, 2, "count", 4, 0);
    expect_col(&t, 2, "sum", 18, 0);
    table_free(&t);
    assert_int_equal(e2e_run(err, sizeof err, "zonal '%s' '%s' --mode center --stats count,sum -o '%s'",
                             raster, parcels, out),
                     0);
    table_read(&t, out);
    expect_col(&t, 0, "count", 4, 0);
    expect_col(&t, 1, "count", 2, 0); /* 7 (centre on the left edge) and 8; the nodata cell */
    expect_col(&t, 1, "sum", 15, 0);
    expect_col(&t, 2, "count", 1, 0); /* only the cell whose centre is C's top-left corner */
    expect_col(&t, 2, "sum", 4, 0);
    table_free(&t);
}

/* Parcels that miss the raster: a warning, and rows whose statistics are empty (count and sum
 * 0, the rest null). */
static void test_no_overlap(void **state)
{
    (void)state;
    char raster[512], weights[512], parcels[512], far[512], out[512], err[4096];
    hand_fixture(raster, weights, parcels, sizeof raster);
    path_in(far, sizeof far, "far.gpkg");
    char *wkt[2] = {box_wkt(100, 0, 102, 2), box_wkt(-50, -50, -40, -45)};
    const char *names[2] = {"east", "north-west"};
    const int codes[2] = {1, 2};
    make_parcels(far, 2, (const char *const *)wkt, names, codes);
    free(wkt[0]);
    free(wkt[1]);
    path_in(out, sizeof out, "far.csv");
    int rc = e2e_run(err, sizeof err, "zonal '%s' '%s' --stats count,sum,mean,median,nodata,area_m2 -o '%s'",
                     raster, far, out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(err, "sinkmap: warning: "));
    assert_non_null(strstr(err, "no parcel of"));
    table t;
    table_read(&t, out);
    assert_int_equal(t.nrows, 2);
    for (size_t r = 0; r < 2; r++) {
        expect_col(&t, r, "count", 0, 0);
        expect_col(&t, r, "sum", 0, 0);
        expect_col(&t, r, "mean", NAN, 0);
        expect_col(&t, r, "median", NAN, 0);
        expect_col(&t, r, "nodata", NAN, 0);
        expect_col(&t, r, "area_m2", 0, 0);
    }
    table_free(&t);
}

/* Two bands (the second ten times the first): columns <stat>_b<N> in the order asked, the
 * area once; and a GeoPackage output keeps the parcel attributes and geometry. */
static void test_bands_and_gpkg(void **state)
{
    (void)state;
    char raster[512], weights[512], parcels[512], two[512], out[512], err[4096];
    hand_fixture(raster, weights, parcels, sizeof raster);
    double b2[24];
    for (int i = 0; i < 24; i++)
        b2[i] = HAND[i] == ND ? ND : 10 * HAND[i];
    const double *v[2] = {HAND, b2};
    path_in(two, sizeof two, "two.tif");
    make_raster(two, 6, 4, HX0, HY0, 2, v, 0);
    path_in(out, sizeof out, "two.csv");
    assert_int_equal(e2e_run(err, sizeof err,
                             "zonal '%s' '%s' --band 2 --band 1 --stats mean,area_m2,majority,frac -o '%s'",
                             two, parcels, out),
                     0);
    table t;
    table_read(&t, out);
    assert_string_equal(t.head[0], "fid");
    assert_string_equal(t.head[1], "mean_b2");
    assert_string_equal(t.head[2], "area_m2");
    assert_string_equal(t.head[3], "majority_b2");
    assert_string_equal(t.head[4], "frac_10_b2");
    long kb1 = table_col(&t, "mean_b1");
    assert_true(kb1 > 4);
    assert_string_equal(t.head[kb1 + 1], "majority_b1");
    assert_string_equal(t.head[kb1 + 2], "frac_1_b1");
    assert_int_equal(table_col(&t, "area_m2_b1"), -1);
    expect_col(&t, 0, "mean_b2", 22.5, 0);
    expect_col(&t, 0, "mean_b1", 2.25, 0);
    expect_col(&t, 1, "mean_b2", 62.5, 0);
    expect_col(&t, 1, "majority_b2", 80, 0);
    expect_col(&t, 1, "frac_80_b2", 0.5, 0);
    expect_col(&t, 1, "frac_8_b1", 0.5, 0);
    expect_col(&t, 2, "area_m2", 100, 1e-14);
    table_free(&t);

    char gpkg[512];
    path_in(gpkg, sizeof gpkg, "two.gpkg");
    assert_int_equal(e2e_run(err, sizeof err, "zonal '%s' '%s' --band 1 --band 2 --stats mean,nodata -o '%s'",
                             two, parcels, gpkg),
                     0);
    GDALDatasetH in = GDALOpenEx(parcels, GDAL_OF_VECTOR, NULL, NULL, NULL);
    GDALDatasetH ds = GDALOpenEx(gpkg, GDAL_OF_VECTOR, NULL, NULL, NULL);
    assert_non_null(in);
    assert_non_null(ds);
    OGRLayerH li = GDALDatasetGetLayer(in, 0), lo = GDALDatasetGetLayerByName(ds, "parcels");
    assert_non_null(lo);
    assert_int_equal(OGR_L_GetFeatureCount(lo, TRUE), 3);
    OGRFeatureDefnH d = OGR_L_GetLayerDefn(lo);
    int kname = OGR_FD_GetFieldIndex(d, "name"), kcode = OGR_FD_GetFieldIndex(d, "code");
    int km1 = OGR_FD_GetFieldIndex(d, "mean_b1"), km2 = OGR_FD_GetFieldIndex(d, "mean_b2");
    int knd = OGR_FD_GetFieldIndex(d, "nodata_b1");
    assert_true(kname >= 0 && kcode >= 0 && km1 >= 0 && km2 >= 0 && knd >= 0);
    const double mean1[3] = {2.25, 6.25, 4.5}, nd1[3] = {0, 1.0 / 3.0, 0};
    OGRFeatureH fi, fo;
    int i = 0;
    while ((fi = OGR_L_GetNextFeature(li)) != NULL) {
        fo = OGR_L_GetNextFeature(lo);
        assert_non_null(fo);
        assert_string_equal(OGR_F_GetFieldAsString(fo, kname), OGR_F_GetFieldAsString(fi, 0));
        assert_int_equal(OGR_F_GetFieldAsInteger(fo, kcode), OGR_F_GetFieldAsInteger(fi, 1));
        near("mean_b1", (size_t)i, OGR_F_GetFieldAsDouble(fo, km1), mean1[i], 0);
        near("mean_b2", (size_t)i, OGR_F_GetFieldAsDouble(fo, km2), 10 * mean1[i], 0);
        near("nodata_b1", (size_t)i, OGR_F_GetFieldAsDouble(fo, knd), nd1[i], 1e-15);
        /* the same rings (the layer may be written as multipolygons) */
        OGRGeometryH ga = OGR_G_ForceToMultiPolygon(OGR_G_Clone(OGR_F_GetGeometryRef(fi)));
        OGRGeometryH gb = OGR_G_ForceToMultiPolygon(OGR_G_Clone(OGR_F_GetGeometryRef(fo)));
        char *wa = NULL, *wb = NULL;
        OGR_G_ExportToWkt(ga, &wa);
        OGR_G_ExportToWkt(gb, &wb);
        assert_string_equal(wa, wb);
        CPLFree(wa);
        CPLFree(wb);
        OGR_G_DestroyGeometry(ga);
        OGR_G_DestroyGeometry(gb);
        OGR_F_Destroy(fi);
        OGR_F_Destroy(fo);
        i++;
    }
    assert_int_equal(i, 3);
    GDALClose(ds);
    GDALClose(in);
}

/* ---- threads: byte-identical output; exact areas across strip boundaries ---- */

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 11;
}

static double unif(uint64_t *s) { return (double)lcg(s) / 9007199254740992.0; }

static void test_threads_identical(void **state)
{
    (void)state;
    /* 50 x 1500 cells in 16 x 16 tiles: strips of 512 rows, so three strips, and parcels
     * that straddle rows 512 and 1024. */
    enum { NC = 50, NR = 1500, NP = 60 };
    uint64_t seed = 12345;
    double *v = malloc(NC * NR * sizeof *v);
    for (int i = 0; i < NC * NR; i++)
        v[i] = unif(&seed) < 0.03 ? ND : floor(unif(&seed) * 20) + unif(&seed) * 0.001;
    char raster[512], parcels[512];
    path_in(raster, sizeof raster, "tall.tif");
    path_in(parcels, sizeof parcels, "tall.gpkg");
    const double *vals[1] = {v};
    make_raster(raster, NC, NR, HX0, HY0, 1, vals, 16);
    free(v);
    char *wkt[NP];
    const char *names[NP];
    int codes[NP];
    double area[NP];
    for (int i = 0; i < NP; i++) {
        /* A quadrilateral around a strip boundary (row 512 or 1024) or anywhere: one vertex
         * per quadrant around its centre, so that it is simple. */
        double cv = i % 3 == 0 ? 512 : i % 3 == 1 ? 1024 : 40 + unif(&seed) * (NR - 80);
        double cu = 5 + unif(&seed) * (NC - 10), ru = 1 + unif(&seed) * 4, rv = 1 + unif(&seed) * 30;
        double x[4], y[4], du[4], dv[4];
        for (int k = 0; k < 4; k++) {
            double th = (k + 0.1 + 0.8 * unif(&seed)) * M_PI / 2, a = 0.3 + 0.7 * unif(&seed);
            du[k] = ru * a * cos(th);
            dv[k] = rv * a * sin(th);
            x[k] = HX0 + 10 * (cu + du[k]);
            y[k] = HY0 - 10 * (cv + dv[k]);
        }
        /* the area from the offsets (the coordinates themselves are large: cancellation) */
        area[i] = 0;
        for (int k = 0; k < 4; k++)
            area[i] += du[k] * dv[(k + 1) % 4] - du[(k + 1) % 4] * dv[k];
        area[i] = 100 * fabs(area[i]) / 2;
        wkt[i] = malloc(512);
        snprintf(wkt[i], 512, "POLYGON ((%.17g %.17g,%.17g %.17g,%.17g %.17g,%.17g %.17g,%.17g %.17g))",
                 x[0], y[0], x[1], y[1], x[2], y[2], x[3], y[3], x[0], y[0]);
        names[i] = "p";
        codes[i] = i;
    }
    make_parcels(parcels, NP, (const char *const *)wkt, names, codes);
    for (int i = 0; i < NP; i++)
        free(wkt[i]);

    const char *lists[] = {"count,sum,mean,min,max,nodata,area_m2",
                           "count,sum,mean,min,max,nodata,area_m2,stdev,median,q90,majority,variety"};
    char *first[2] = {NULL, NULL};
    for (int l = 0; l < 2; l++) {
        for (int threads = 1; threads <= 3; threads++) {
            char out[512], err[4096];
            snprintf(out, sizeof out, "%s/tall_%d_%d.csv", tmp, l, threads);
            int rc = e2e_run(err, sizeof err, "zonal '%s' '%s' --stats %s --threads %d -o '%s'", raster,
                             parcels, lists[l], threads, out);
            if (rc != 0)
                print_error("%s", err);
            assert_int_equal(rc, 0);
            char *s = e2e_read_all(out);
            assert_non_null(s);
            if (threads == 1) {
                first[l] = s;
                /* the covered area equals the polygon's area: coverage sums across strips */
                table t;
                table_read(&t, out);
                assert_int_equal(t.nrows, NP);
                for (size_t r = 0; r < t.nrows; r++)
                    expect_col(&t, r, "area_m2", area[r], 1e-9);
                table_free(&t);
            } else {
                if (strcmp(s, first[l]) != 0) {
                    print_error("--threads %d differs from --threads 1 (%s)\n", threads, lists[l]);
                    fail();
                }
                free(s);
            }
        }
    }
    /* The shared columns are the same digits whether sm_stats or the basic sums computed them. */
    table a, b;
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/tall_0_1.csv", tmp);
    snprintf(pb, sizeof pb, "%s/tall_1_1.csv", tmp);
    table_read(&a, pa);
    table_read(&b, pb);
    const char *shared[] = {"count", "sum", "mean", "min", "max", "nodata", "area_m2"};
    for (size_t r = 0; r < a.nrows; r++)
        for (size_t k = 0; k < 7; k++)
            assert_string_equal(a.cell[r * a.ncols + (size_t)table_col(&a, shared[k])],
                                b.cell[r * b.ncols + (size_t)table_col(&b, shared[k])]);
    table_free(&a);
    table_free(&b);
    free(first[0]);
    free(first[1]);
}

/* A parcel over a whole 12000 x 12000 raster: its coverage over its bounding box would take
 * 1.15 GB of doubles; computed strip by strip it takes one strip (512 x 12000 cells). The
 * raster is sparse (no block written, every cell 0), so the pass is quick. */
static void test_large_parcel_memory(void **state)
{
    (void)state;
    enum { N = 12000 };
    char raster[512], parcels[512], out[512], err[4096];
    path_in(raster, sizeof raster, "sparse.tif");
    path_in(parcels, sizeof parcels, "whole.gpkg");
    path_in(out, sizeof out, "whole.csv");
    char **co = CSLSetNameValue(NULL, "TILED", "YES");
    co = CSLSetNameValue(co, "SPARSE_OK", "TRUE");
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), raster, N, N, 1, GDT_Float32, co);
    CSLDestroy(co);
    assert_non_null(ds);
    double gt[6] = {HX0, 10.0, 0.0, HY0, 0.0, -10.0};
    GDALSetGeoTransform(ds, gt);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32648);
    GDALSetSpatialRef(ds, srs);
    OSRDestroySpatialReference(srs);
    GDALClose(ds);
    char *wkt[1] = {box_wkt(0.5, 0.5, N - 0.5, N - 0.5)};
    const char *names[1] = {"whole"};
    const int codes[1] = {1};
    make_parcels(parcels, 1, (const char *const *)wkt, names, codes);
    free(wkt[0]);
    int rc = e2e_run(err, sizeof err, "zonal '%s' '%s' --stats count,sum,min,max --threads 2 -o '%s'", raster,
                     parcels, out);
    if (rc != 0)
        print_error("%s", err);
    assert_int_equal(rc, 0);
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_CHILDREN, &ru), 0);
    printf("largest child's peak RSS: %ld MB\n", ru.ru_maxrss / 1024);
    assert_true(ru.ru_maxrss < 700 * 1024); /* kB; O(bounding box) would be > 1150 MB */
    table t;
    table_read(&t, out);
    expect_col(&t, 0, "count", (double)(N - 1) * (N - 1), 0);
    expect_col(&t, 0, "sum", 0, 0);
    expect_col(&t, 0, "min", 0, 0);
    expect_col(&t, 0, "max", 0, 0);
    table_free(&t);
    remove(raster);
}

/* ---- real data (python-rasterstats' test data) against GDAL's rasterizer and GEOS ---- */

typedef struct grid_data {
    int nc, nr;
    double gt[6];
    double *v;
    char *wkt;
} grid_data;

static int realdata_present(void)
{
    if (e2e_exists(RS "/slope.tif"))
        return 1;
    printf("SKIP: %s not found (real-data comparisons skipped)\n", RS);
    return 0;
}

static void grid_load(grid_data *g, const char *path)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    assert_non_null(ds);
    g->nc = GDALGetRasterXSize(ds);
    g->nr = GDALGetRasterYSize(ds);
    GDALGetGeoTransform(ds, g->gt);
    g->v = malloc((size_t)g->nc * (size_t)g->nr * sizeof *g->v);
    assert_int_equal(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, g->nc, g->nr, g->v, g->nc, g->nr,
                                  GDT_Float64, 0, 0),
                     CE_None);
    int has = 0;
    double nd = GDALGetRasterNoDataValue(GDALGetRasterBand(ds, 1), &has);
    for (size_t i = 0; has && i < (size_t)g->nc * (size_t)g->nr; i++)
        if (g->v[i] == nd)
            g->v[i] = NAN;
    g->wkt = CPLStrdup(GDALGetProjectionRef(ds));
    GDALClose(ds);
}

static void grid_free(grid_data *g)
{
    free(g->v);
    CPLFree(g->wkt);
}

/* Weighted statistics from per-cell weights w (0 = not counted): the straightforward sums. */
typedef struct oracle {
    double count, sum, mean, min, max, stdev, median, nodata;
} oracle;

typedef struct wv {
    double x, w;
} wv;

static int wv_cmp(const void *a, const void *b)
{
    double x = ((const wv *)a)->x, y = ((const wv *)b)->x;
    return (x > y) - (x < y);
}

static oracle oracle_from(const grid_data *g, const double *w)
{
    oracle o = {0, 0, NAN, NAN, NAN, NAN, NAN, NAN};
    double nod = 0;
    size_t n = (size_t)g->nc * (size_t)g->nr, m = 0;
    wv *pairs = malloc(n * sizeof *pairs);
    for (size_t i = 0; i < n; i++) {
        if (!(w[i] > 0))
            continue;
        if (isnan(g->v[i])) {
            nod += w[i];
            continue;
        }
        o.count += w[i];
        o.sum += w[i] * g->v[i];
        o.min = isnan(o.min) || g->v[i] < o.min ? g->v[i] : o.min;
        o.max = isnan(o.max) || g->v[i] > o.max ? g->v[i] : o.max;
        pairs[m++] = (wv){g->v[i], w[i]};
    }
    if (o.count + nod > 0)
        o.nodata = nod / (o.count + nod);
    if (o.count > 0) {
        o.mean = o.sum / o.count;
        double ss = 0;
        for (size_t k = 0; k < m; k++)
            ss += pairs[k].w * (pairs[k].x - o.mean) * (pairs[k].x - o.mean);
        o.stdev = sqrt(ss / o.count);
        qsort(pairs, m, sizeof *pairs, wv_cmp);
        double cum = 0;
        for (size_t k = 0; k < m; k++) {
            cum += pairs[k].w;
            if (cum >= 0.5 * o.count * (1 - 1e-12)) {
                o.median = pairs[k].x;
                break;
            }
        }
    } else {
        o.min = o.max = NAN;
    }
    free(pairs);
    return o;
}

/* GDAL's rasterization of one geometry on g's grid: 1 where burnt. */
static void rasterize(const grid_data *g, OGRGeometryH geom, int all_touched, double *mask)
{
    GDALDatasetH mem = GDALCreate(GDALGetDriverByName("MEM"), "", g->nc, g->nr, 1, GDT_Float64, NULL);
    GDALSetGeoTransform(mem, (double *)g->gt);
    int band = 1;
    double burn = 1.0;
    char **opt = all_touched ? CSLSetNameValue(NULL, "ALL_TOUCHED", "TRUE") : NULL;
    assert_int_equal(GDALRasterizeGeometries(mem, 1, &band, 1, &geom, NULL, NULL, &burn, opt, NULL, NULL),
                     CE_None);
    CSLDestroy(opt);
    assert_int_equal(GDALRasterIO(GDALGetRasterBand(mem, 1), GF_Read, 0, 0, g->nc, g->nr, mask, g->nc, g->nr,
                                  GDT_Float64, 0, 0),
                     CE_None);
    GDALClose(mem);
}

/* Exact coverage by brute force: area(polygon ∩ cell) / area(cell) with GEOS, every cell. */
static void geos_coverage(GEOSContextHandle_t h, const grid_data *g, OGRGeometryH geom, double *cov)
{
    size_t sz = (size_t)OGR_G_WkbSize(geom);
    unsigned char *wkb = malloc(sz);
    OGR_G_ExportToWkb(geom, wkbNDR, wkb);
    GEOSGeometry *poly = GEOSGeomFromWKB_buf_r(h, wkb, sz);
    free(wkb);
    assert_non_null(poly);
    if (!GEOSisValid_r(h, poly)) {
        GEOSGeometry *fixed = GEOSMakeValid_r(h, poly);
        GEOSGeom_destroy_r(h, poly);
        poly = fixed;
    }
    const GEOSPreparedGeometry *prep = GEOSPrepare_r(h, poly);
    double dx = g->gt[1], dy = -g->gt[5];
    for (int r = 0; r < g->nr; r++)
        for (int c = 0; c < g->nc; c++) {
            double x0 = g->gt[0] + c * dx, y1 = g->gt[3] - r * dy;
            GEOSGeometry *cell = GEOSGeom_createRectangle_r(h, x0, y1 - dy, x0 + dx, y1);
            double a = 0;
            if (GEOSPreparedIntersects_r(h, prep, cell)) {
                GEOSGeometry *in = GEOSIntersection_r(h, poly, cell);
                GEOSArea_r(h, in, &a);
                GEOSGeom_destroy_r(h, in);
            }
            cov[(size_t)r * (size_t)g->nc + (size_t)c] = a / (dx * dy);
            GEOSGeom_destroy_r(h, cell);
        }
    GEOSPreparedGeom_destroy_r(h, prep);
    GEOSGeom_destroy_r(h, poly);
}

static void compare(const char *what, const table *t, size_t row, const oracle *o, int full)
{
    char name[128];
    snprintf(name, sizeof name, "%s count", what);
    near(name, row, table_num(t, row, "count"), o->count, 1e-9);
    snprintf(name, sizeof name, "%s sum", what);
    near(name, row, table_num(t, row, "sum"), o->sum, 1e-9);
    snprintf(name, sizeof name, "%s mean", what);
    near(name, row, table_num(t, row, "mean"), o->mean, 1e-9);
    snprintf(name, sizeof name, "%s min", what);
    near(name, row, table_num(t, row, "min"), o->min, 0);
    snprintf(name, sizeof name, "%s max", what);
    near(name, row, table_num(t, row, "max"), o->max, 0);
    snprintf(name, sizeof name, "%s nodata", what);
    near(name, row, table_num(t, row, "nodata"), o->nodata, 1e-9);
    if (full) {
        snprintf(name, sizeof name, "%s stdev", what);
        near(name, row, table_num(t, row, "stdev"), o->stdev, 1e-9);
        snprintf(name, sizeof name, "%s median", what);
        near(name, row, table_num(t, row, "median"), o->median, 0);
    }
}

/* The polygons of a layer as OGR geometries in file order (caller destroys). */
static size_t load_polygons(const char *path, OGRGeometryH *out, size_t cap)
{
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR, NULL, NULL, NULL);
    assert_non_null(ds);
    OGRLayerH l = GDALDatasetGetLayer(ds, 0);
    OGRFeatureH f;
    size_t n = 0;
    while ((f = OGR_L_GetNextFeature(l)) != NULL) {
        assert_true(n < cap);
        out[n++] = OGR_G_Clone(OGR_F_GetGeometryRef(f));
        OGR_F_Destroy(f);
    }
    GDALClose(ds);
    return n;
}

/* multipolygons.prj says WGS 84 while its coordinates are the Albers metres of polygons.shp
 * (rasterstats ignores CRSs): a copy with polygons.prj. */
static const char *multipolygons_fixed(char *buf, size_t n)
{
    snprintf(buf, n, "%s/multipolygons.shp", tmp);
    if (!e2e_exists(buf))
        assert_int_equal(e2e_sh("cp '%s/multipolygons.shp' '%s/multipolygons.shx' '%s/multipolygons.dbf' '%s' && "
                                "cp '%s/polygons.prj' '%s/multipolygons.prj'",
                                RS, RS, RS, tmp, RS, tmp),
                         0);
    return buf;
}

static void run_real(const char *raster, const char *vector, const char *mode, const char *stats, table *t)
{
    char out[512], err[4096];
    snprintf(out, sizeof out, "%s/real.csv", tmp);
    int rc = e2e_run(err, sizeof err, "zonal '%s' '%s' --mode %s --stats %s -o '%s'", raster, vector, mode,
                     stats, out);
    if (rc != 0)
        print_error("%s", err);
    assert_int_equal(rc, 0);
    table_read(t, out);
}

static void test_real_center(void **state)
{
    (void)state;
    if (!realdata_present())
        skip();
    char mp[512];
    const char *vectors[] = {RS "/polygons.shp", multipolygons_fixed(mp, sizeof mp),
                             RS "/polygons_partial_overlap.shp"};
    const char *rasters[] = {RS "/slope.tif", RS "/slope_nodata.tif", RS "/all_nodata.tif"};
    for (size_t ri = 0; ri < 3; ri++) {
        grid_data g;
        grid_load(&g, rasters[ri]);
        double *mask = malloc((size_t)g.nc * (size_t)g.nr * sizeof *mask);
        for (size_t vi = 0; vi < 3; vi++) {
            OGRGeometryH geoms[64];
            size_t n = load_polygons(vectors[vi], geoms, 64);
            table t;
            run_real(rasters[ri], vectors[vi], "center", "count,sum,mean,min,max,nodata", &t);
            assert_int_equal(t.nrows, n);
            for (size_t i = 0; i < n; i++) {
                rasterize(&g, geoms[i], 0, mask);
                oracle o = oracle_from(&g, mask);
                compare(vectors[vi], &t, i, &o, 0);
                OGR_G_DestroyGeometry(geoms[i]);
            }
            table_free(&t);
        }
        free(mask);
        grid_free(&g);
    }
}

/* Touched: GDAL's ALL_TOUCHED also burns cells that a polygon meets only along an edge or at a
 * corner (closed cells), sinkmap only cells that some of the polygon's interior reaches (open
 * cells). So the oracle is the set of cells whose GEOS intersection has a positive area; GDAL's
 * set must contain it, and every cell GDAL adds must be such an edge-only contact (area 0). */
static void test_real_touched(void **state)
{
    (void)state;
    if (!realdata_present())
        skip();
    GEOSContextHandle_t h = GEOS_init_r();
    char mp[512];
    const char *vectors[] = {RS "/polygons.shp", multipolygons_fixed(mp, sizeof mp),
                             RS "/polygons_partial_overlap.shp"};
    const char *rasters[] = {RS "/slope.tif", RS "/slope_nodata.tif"};
    size_t edge_only = 0, cells = 0;
    for (size_t ri = 0; ri < 2; ri++) {
        grid_data g;
        grid_load(&g, rasters[ri]);
        size_t nc = (size_t)g.nc * (size_t)g.nr;
        double *gdal = malloc(nc * sizeof *gdal), *cov = malloc(nc * sizeof *cov), *w = malloc(nc * sizeof *w);
        for (size_t vi = 0; vi < 3; vi++) {
            OGRGeometryH geoms[64];
            size_t n = load_polygons(vectors[vi], geoms, 64);
            table t;
            run_real(rasters[ri], vectors[vi], "touched", "count,sum,mean,min,max,nodata", &t);
            assert_int_equal(t.nrows, n);
            for (size_t i = 0; i < n; i++) {
                rasterize(&g, geoms[i], 1, gdal);
                geos_coverage(h, &g, geoms[i], cov);
                for (size_t k = 0; k < nc; k++) {
                    w[k] = cov[k] > 0 ? 1.0 : 0.0;
                    if (w[k] > 0 && gdal[k] != 1.0) {
                        print_error("%s #%zu: GDAL ALL_TOUCHED misses cell %zu (covered %.3g)\n",
                                    vectors[vi], i, k, cov[k]);
                        fail();
                    }
                    if (gdal[k] == 1.0 && w[k] == 0)
                        edge_only++;
                    cells += w[k] > 0;
                }
                oracle o = oracle_from(&g, w);
                compare(vectors[vi], &t, i, &o, 0);
                OGR_G_DestroyGeometry(geoms[i]);
            }
            table_free(&t);
        }
        free(gdal);
        free(cov);
        free(w);
        grid_free(&g);
    }
    printf("touched: %zu cells agree with GDAL ALL_TOUCHED; %zu cells GDAL adds by edge-only contact\n",
           cells, edge_only);
    GEOS_finish_r(h);
}

static void test_real_exact(void **state)
{
    (void)state;
    if (!realdata_present())
        skip();
    GEOSContextHandle_t h = GEOS_init_r();
    char mp[512];
    const char *vectors[] = {RS "/polygons.shp", multipolygons_fixed(mp, sizeof mp),
                             RS "/polygons_partial_overlap.shp"};
    const char *rasters[] = {RS "/slope.tif", RS "/slope_nodata.tif", RS "/all_nodata.tif"};
    for (size_t ri = 0; ri < 3; ri++) {
        grid_data g;
        grid_load(&g, rasters[ri]);
        double *cov = malloc((size_t)g.nc * (size_t)g.nr * sizeof *cov);
        for (size_t vi = 0; vi < 3; vi++) {
            OGRGeometryH geoms[64];
            size_t n = load_polygons(vectors[vi], geoms, 64);
            table t;
            run_real(rasters[ri], vectors[vi], "exact", "count,sum,mean,min,max,nodata,stdev,median", &t);
            assert_int_equal(t.nrows, n);
            for (size_t i = 0; i < n; i++) {
                geos_coverage(h, &g, geoms[i], cov);
                oracle o = oracle_from(&g, cov);
                compare(vectors[vi], &t, i, &o, 1);
                OGR_G_DestroyGeometry(geoms[i]);
            }
            table_free(&t);
        }
        free(cov);
        grid_free(&g);
    }
    GEOS_finish_r(h);
}

/* ---- errors: exit 2, one line naming the thing, an existing output untouched ---- */

static void expect_error(const char *name, const char *args, const char *out, const char *frag1,
                         const char *frag2)
{
    char err[8192];
    int rc = e2e_run(err, sizeof err, "zonal %s -o '%s'", args, out);
    if (rc != 2 || strncmp(err, "sinkmap: error: ", 16) != 0 || e2e_lines(err) != 1 || !strstr(err, frag1) ||
        (frag2 && !strstr(err, frag2))) {
        print_error("case %s: exit %d, stderr:\n%s\nexpected one error line with '%s' and '%s'\n", name, rc,
                    err, frag1, frag2 ? frag2 : "");
        fail();
    }
}

static void test_errors(void **state)
{
    (void)state;
    char raster[512], weights[512], parcels[512], args[2048];
    hand_fixture(raster, weights, parcels, sizeof raster);
    char dir[512], out[600], bad[600];
    snprintf(dir, sizeof dir, "%s/errors", tmp);
    assert_int_equal(e2e_sh("mkdir -p '%s'", dir), 0);
    snprintf(out, sizeof out, "%s/out.csv", dir);
    write_text(out, "an earlier result\n");
    snprintf(bad, sizeof bad, "%s/broken.tif", dir);
    write_text(bad, "this is not a GeoTIFF\n");

    snprintf(args, sizeof args, "'%s' '%s' --stats mean,medain", raster, parcels);
    expect_error("statistic", args, out, "unknown statistic 'medain'", NULL);
    snprintf(args, sizeof args, "'%s' '%s' --band 2", raster, parcels);
    expect_error("band", args, out, "hand.tif: band 2 does not exist", "has 1");
    snprintf(args, sizeof args, "'%s' '%s' --id parcel_no", raster, parcels);
    expect_error("id", args, out, "field 'parcel_no'", "name, code");
    snprintf(args, sizeof args, "'%s' '%s'", bad, parcels);
    expect_error("raster", args, out, "broken.tif: not a readable raster", NULL);
    snprintf(args, sizeof args, "'%s/missing.tif' '%s'", dir, parcels);
    expect_error("missing raster", args, out, "missing.tif: no such raster file", NULL);
    snprintf(args, sizeof args, "'%s' '%s' --stats mean,weighted_mean", raster, parcels);
    expect_error("weights", args, out, "weighted_mean needs --weights", NULL);
    snprintf(args, sizeof args, "'%s' '%s' --threads -1", raster, parcels);
    expect_error("threads", args, out, "--threads", NULL);

    /* A raster cut short: the failure comes from a worker thread, its message intact. */
    {
        enum { NC = 50, NR = 1500 };
        double *v = malloc(NC * NR * sizeof *v);
        for (int i = 0; i < NC * NR; i++)
            v[i] = i % 97;
        const double *vals[1] = {v};
        char full[600], cut[600], big[600];
        snprintf(full, sizeof full, "%s/full.tif", tmp);
        snprintf(cut, sizeof cut, "%s/cut.tif", dir);
        snprintf(big, sizeof big, "%s/big.gpkg", tmp);
        make_raster(full, NC, NR, HX0, HY0, 1, vals, 16);
        free(v);
        assert_int_equal(e2e_sh("head -c $(( $(stat -c %%s '%s') * 6 / 10 )) '%s' > '%s'", full, full, cut), 0);
        char *wkt[1] = {box_wkt(0.5, 0.5, NC - 0.5, NR - 0.5)};
        const char *names[1] = {"all"};
        const int codes[1] = {1};
        make_parcels(big, 1, (const char *const *)wkt, names, codes);
        free(wkt[0]);
        for (int threads = 1; threads <= 2; threads++) {
            snprintf(args, sizeof args, "'%s' '%s' --threads %d", cut, big, threads);
            expect_error("corrupt", args, out, "cut.tif: band 1: cannot read the block", NULL);
        }
    }

    /* The existing output is as it was, and nothing was left beside it. */
    char *s = e2e_read_all(out);
    assert_non_null(s);
    assert_string_equal(s, "an earlier result\n");
    free(s);
    DIR *d = opendir(dir);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            entries++;
    closedir(d);
    assert_int_equal(entries, 3); /* out.csv, broken.tif, cut.tif */

    char missing[600];
    snprintf(missing, sizeof missing, "%s/no/such/folder/out.csv", dir);
    snprintf(args, sizeof args, "'%s' '%s'", raster, parcels);
    expect_error("folder", args, missing, "the folder", "no/such/folder does not exist");
    assert_false(e2e_exists(missing));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed),   cmocka_unit_test(test_hand_modes),
        cmocka_unit_test(test_no_overlap),
        cmocka_unit_test(test_bands_and_gpkg),  cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_large_parcel_memory),
        cmocka_unit_test(test_real_center),     cmocka_unit_test(test_real_touched),
        cmocka_unit_test(test_real_exact),      cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
