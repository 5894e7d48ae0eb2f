/* test_accuracy_cli.c: `sinkmap accuracy` end to end on a 10 x 10 map written here and
 * reference points and polygons written here; the expected error matrix and Olofsson et al.
 * (2014) figures are worked out by hand below from the same small matrix. A reference in
 * another CRS must give the same report; bad input gives one error line and exit 2. */
#include <cpl_conv.h>
#include <gdal.h>
#include <math.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "e2e_util.h"
#include "sinkmap/table.h"

#define X0 600000.0
#define Y0 3410000.0
#define CELL 10.0
static char dir[256];

/* The map: rows 0-5 tree forest (1), rows 6-8 cropland (7), row 9 water (6) except column 8
 * cloud (11) and column 9 no data (0): 60, 30 and 8 pixels of 100 m². */
static void make_map(const char *path)
{
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, 10, 10, 1, GDT_Byte, NULL);
    assert_non_null(ds);
    double gt[6] = {X0, CELL, 0, Y0, 0, -CELL};
    GDALSetGeoTransform(ds, gt);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32648);
    char *wkt = NULL;
    OSRExportToWkt(srs, &wkt);
    GDALSetProjection(ds, wkt);
    CPLFree(wkt);
    OSRDestroySpatialReference(srs);
    uint8_t v[100];
    for (int r = 0; r < 10; r++)
        for (int c = 0; c < 10; c++)
            v[r * 10 + c] = r < 6 ? 1 : r < 9 ? 7 : c == 8 ? 11 : c == 9 ? 0 : 6;
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    GDALSetRasterNoDataValue(b, 0);
    assert_int_equal(GDALRasterIO(b, GF_Write, 0, 0, 10, 10, v, 10, 10, GDT_Byte, 0, 0), CE_None);
    GDALClose(ds);
}

typedef struct feat {
    const char *wkt; /* in EPSG:32648 */
    const char *label;
} feat;

/* Writes the features into a GeoPackage layer in `epsg` (transformed by OGR from 32648). */
static void write_layer(const char *path, int epsg, OGRwkbGeometryType type, const feat *f, size_t n)
{
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GPKG"), path, 0, 0, 0, GDT_Unknown, NULL);
    assert_non_null(ds);
    OGRSpatialReferenceH utm = OSRNewSpatialReference(NULL), srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(utm, 32648);
    OSRImportFromEPSG(srs, epsg);
    OSRSetAxisMappingStrategy(utm, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
    OGRLayerH layer = GDALDatasetCreateLayer(ds, "ref", srs, type, NULL);
    assert_non_null(layer);
    OGRFieldDefnH fd = OGR_Fld_Create("cls", OFTString);
    OGR_L_CreateField(layer, fd, TRUE);
    OGR_Fld_Destroy(fd);
    fd = OGR_Fld_Create("note", OFTString);
    OGR_L_CreateField(layer, fd, TRUE);
    OGR_Fld_Destroy(fd);
    for (size_t i = 0; i < n; i++) {
        OGRFeatureH ft = OGR_F_Create(OGR_L_GetLayerDefn(layer));
        OGR_F_SetFieldString(ft, 0, f[i].label);
        OGRGeometryH g = NULL;
        char *w = (char *)f[i].wkt;
        assert_int_equal(OGR_G_CreateFromWkt(&w, utm, &g), OGRERR_NONE);
        if (epsg != 32648)
            assert_int_equal(OGR_G_TransformTo(g, srs), OGRERR_NONE);
        OGR_F_SetGeometryDirectly(ft, g);
        assert_int_equal(OGR_L_CreateFeature(layer, ft), OGRERR_NONE);
        OGR_F_Destroy(ft);
    }
    OSRDestroySpatialReference(utm);
    OSRDestroySpatialReference(srs);
    GDALClose(ds);
}

static char pts[16][64];
/* A point at the centre of cell (c, r). */
static const char *at(int i, int c, int r)
{
    snprintf(pts[i], sizeof pts[i], "POINT (%.1f %.1f)", X0 + (c + 0.5) * CELL, Y0 - (r + 0.5) * CELL);
    return pts[i];
}

static int setup(void **state)
{
    (void)state;
    GDALAllRegister();
    if (!e2e_tmpdir(dir, sizeof dir, "accuracy"))
        return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/map.tif", dir);
    make_map(p);
    /* Reference points, labels as codes, Chinese, English and keys:
     *   map tree forest (rows 0-5): 4 tree forest, 1 cropland
     *   map cropland (rows 6-8):    3 cropland, 1 tree forest, 1 grassland (never mapped)
     *   map water (row 9):          3 water
     *   the cloud pixel (9, 8):     1 water, left out */
    feat f[] = {{at(0, 0, 0), "乔木林"},      {at(1, 3, 1), "1"},        {at(2, 5, 2), "tree forest"},
                {at(3, 7, 5), "tree_forest"}, {at(4, 9, 4), "耕地"},      {at(5, 0, 6), "cropland"},
                {at(6, 2, 7), "7"},           {at(7, 4, 8), "Cropland"}, {at(8, 6, 6), "乔木林"},
                {at(9, 8, 7), "草地"},        {at(10, 0, 9), "water"},   {at(11, 3, 9), "6"},
                {at(12, 7, 9), "水域"},       {at(13, 8, 9), "water"}};
    size_t nf = sizeof f / sizeof f[0];
    snprintf(p, sizeof p, "%s/points.gpkg", dir);
    write_layer(p, 32648, wkbPoint, f, nf);
    snprintf(p, sizeof p, "%s/points4326.gpkg", dir);
    write_layer(p, 4326, wkbPoint, f, nf);
    snprintf(p, sizeof p, "%s/points4544.gpkg", dir);
    write_layer(p, 4544, wkbPoint, f, nf);
    /* Polygons: x from X0+2 to X0+21 holds the centres of columns 0 and 1 only (5, 15), and the
     * box over rows 0-1, 6-7 and 9 likewise: 4 + 4 + 2 pixels, not the 9 + 9 + 3 cells they touch. */
    char a[256], b[256], c[256];
    snprintf(a, sizeof a, "POLYGON ((%f %f, %f %f, %f %f, %f %f, %f %f))", X0 + 2, Y0 - 2, X0 + 21,
             Y0 - 2, X0 + 21, Y0 - 19, X0 + 2, Y0 - 19, X0 + 2, Y0 - 2);
    snprintf(b, sizeof b, "POLYGON ((%f %f, %f %f, %f %f, %f %f, %f %f))", X0 + 2, Y0 - 62, X0 + 21,
             Y0 - 62, X0 + 21, Y0 - 79, X0 + 2, Y0 - 79, X0 + 2, Y0 - 62);
    snprintf(c, sizeof c, "POLYGON ((%f %f, %f %f, %f %f, %f %f, %f %f))", X0 + 2, Y0 - 92, X0 + 21,
             Y0 - 92, X0 + 21, Y0 - 99, X0 + 2, Y0 - 99, X0 + 2, Y0 - 92);
    feat g[] = {{a, "乔木林 tree forest"}, {b, "tree forest"}, {c, "water"}};
    snprintf(p, sizeof p, "%s/polys.gpkg", dir);
    write_layer(p, 32648, wkbPolygon, g, 3);
    feat bad[] = {{at(0, 0, 0), "forestry"}, {at(1, 0, 6), "cropland"}};
    snprintf(p, sizeof p, "%s/bad.gpkg", dir);
    write_layer(p, 32648, wkbPoint, bad, 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return getenv("SM_KEEP") ? 0 : (e2e_sh("rm -rf '%s'", dir) == 0 ? 0 : -1);
}

/* The value of section/class/reference/measure in a report. */
static double value(const sm_table *t, const char *sec, const char *cls, const char *ref,
                    const char *measure)
{
    for (size_t i = 0; i < sm_table_rows(t); i++)
        if (strcmp(sm_table_cell(t, i, 0), sec) == 0 && strcmp(sm_table_cell(t, i, 1), cls) == 0 &&
            strcmp(sm_table_cell(t, i, 2), ref) == 0 && strcmp(sm_table_cell(t, i, 3), measure) == 0) {
            const char *v = sm_table_cell(t, i, 4);
            return v[0] ? strtod(v, NULL) : NAN;
        }
    print_error("no row %s,%s,%s,%s\n", sec, cls, ref, measure);
    fail();
    return NAN;
}

static sm_table *load(const char *path)
{
    sm_context *ctx = sm_context_create();
    sm_table *t = NULL;
    if (sm_table_read(&t, ctx, path) != SM_OK)
        print_error("%s\n", sm_context_message(ctx));
    sm_context_destroy(ctx);
    assert_non_null(t);
    return t;
}

static void near(double a, double b, int line)
{
    if (!(fabs(a - b) <= 1e-9 * (1 + fabs(b)))) {
        print_error("line %d: %.15g, expected %.15g\n", line, a, b);
        fail();
    }
}
#define NEAR(a, b) near((a), (double)(b), __LINE__)

/* Everything of the point report, from the matrix (rows map, columns reference; classes in
 * code order tree_forest 1, grassland 4, water 6, cropland 7):
 *   tree_forest  4 0 0 1   n1. = 5     W = 60/98
 *   grassland    0 0 0 0   n4. = 0     W = 0
 *   water        0 0 3 0   n6. = 3     W = 8/98
 *   cropland     1 1 0 3   n7. = 5     W = 30/98 */
static void check_points(const char *csv)
{
    sm_table *t = load(csv);
    double W1 = 60.0 / 98, W7 = 30.0 / 98;
    NEAR(value(t, "input", "tree_forest", "", "mapped_area_ha"), 0.60);
    NEAR(value(t, "input", "cropland", "", "mapped_area_ha"), 0.30);
    NEAR(value(t, "input", "water", "", "mapped_area_ha"), 0.08);
    NEAR(value(t, "input", "grassland", "", "mapped_area_ha"), 0.0);
    NEAR(value(t, "counts", "tree_forest", "tree_forest", "n"), 4);
    NEAR(value(t, "counts", "tree_forest", "cropland", "n"), 1);
    NEAR(value(t, "counts", "cropland", "tree_forest", "n"), 1);
    NEAR(value(t, "counts", "cropland", "grassland", "n"), 1);
    NEAR(value(t, "counts", "cropland", "cropland", "n"), 3);
    NEAR(value(t, "counts", "water", "water", "n"), 3);
    NEAR(value(t, "counts", "water", "tree_forest", "n"), 0);
    NEAR(value(t, "overall", "", "", "samples"), 13); /* the point on the cloud pixel is left out */
    /* p_ij = W_i n_ij / n_i. */
    NEAR(value(t, "proportions", "tree_forest", "tree_forest", "p"), W1 * 4 / 5);
    NEAR(value(t, "proportions", "cropland", "grassland", "p"), W7 / 5);
    /* areas: A_tot 0.98 ha; forest p.1 = (48 + 6)/98 -> 0.54 ha; grassland 6/98 -> 0.06 ha;
     * water 8/98 -> 0.08; cropland (12 + 18)/98 -> 0.30 */
    NEAR(value(t, "class", "tree_forest", "", "area_ha"), 0.54);
    NEAR(value(t, "class", "grassland", "", "area_ha"), 0.06);
    NEAR(value(t, "class", "water", "", "area_ha"), 0.08);
    NEAR(value(t, "class", "cropland", "", "area_ha"), 0.30);
    /* SE(p.1) = sqrt(Σ_i (W_i p_i1 - p_i1²)/(n_i. - 1)) over the forest and cropland rows */
    double p11 = W1 * 0.8, p71 = W7 * 0.2;
    double se1 = sqrt((W1 * p11 - p11 * p11) / 4 + (W7 * p71 - p71 * p71) / 4);
    NEAR(value(t, "class", "tree_forest", "", "area_se_ha"), 0.98 * se1);
    NEAR(value(t, "class", "tree_forest", "", "area_ci95_ha"), 1.96 * 0.98 * se1);
    double p74 = W7 * 0.2, se4 = sqrt((W7 * p74 - p74 * p74) / 4);
    NEAR(value(t, "class", "grassland", "", "area_se_ha"), 0.98 * se4);
    /* user's: 4/5, 3/5, 3/3, with V(U) = U(1-U)/(n_i. - 1); grassland has none */
    NEAR(value(t, "class", "tree_forest", "", "users"), 0.8);
    NEAR(value(t, "class", "tree_forest", "", "users_se"), sqrt(0.8 * 0.2 / 4));
    NEAR(value(t, "class", "cropland", "", "users"), 0.6);
    NEAR(value(t, "class", "water", "", "users"), 1.0);
    assert_true(isnan(value(t, "class", "grassland", "", "users")));
    /* producer's: p_jj / p.j: forest 48/54, cropland 18/30, grassland 0 */
    NEAR(value(t, "class", "tree_forest", "", "producers"), 48.0 / 54);
    NEAR(value(t, "class", "cropland", "", "producers"), 18.0 / 30);
    NEAR(value(t, "class", "grassland", "", "producers"), 0.0);
    /* V(P_1) = [W1² (1-P1)² U1(1-U1)/(n1.-1) + P1² W7² (1/5)(4/5)/(n7.-1)] / p.1² (eq. 7) */
    double P1 = 48.0 / 54, s1 = 54.0 / 98;
    double vp1 = (W1 * W1 * (1 - P1) * (1 - P1) * 0.8 * 0.2 / 4 + P1 * P1 * W7 * W7 * 0.2 * 0.8 / 4) / (s1 * s1);
    NEAR(value(t, "class", "tree_forest", "", "producers_se"), sqrt(vp1));
    NEAR(value(t, "class", "tree_forest", "", "f1"), 2 * 0.8 * P1 / (0.8 + P1));
    /* overall: (48 + 8 + 18)/98, V(O) = Σ W_i² U_i (1-U_i)/(n_i. - 1) */
    NEAR(value(t, "overall", "", "", "overall"), 74.0 / 98);
    NEAR(value(t, "overall", "", "", "overall_se"), sqrt(W1 * W1 * 0.16 / 4 + W7 * W7 * 0.24 / 4));
    NEAR(value(t, "overall", "", "", "overall_sample"), 10.0 / 13);
    /* kappa: p_o = 10/13, p_e = (5·5 + 0·1 + 3·3 + 5·4)/169 = 54/169 -> 76/115 */
    NEAR(value(t, "overall", "", "", "kappa"), 76.0 / 115);
    NEAR(value(t, "overall", "", "", "total_area_ha"), 0.98);
    sm_table_destroy(t);
}

static void test_points(void **state)
{
    (void)state;
    char err[2048];
    int rc = e2e_run(err, sizeof err, "accuracy '%s/map.tif' '%s/points.gpkg' --field cls -o '%s/p.csv'",
                     dir, dir, dir);
    if (rc != 0)
        print_error("%s", err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(err, "cloud")); /* the warning about the point left out */
    char p[512];
    snprintf(p, sizeof p, "%s/p.csv", dir);
    check_points(p);
}

/* The same points stored in EPSG:4326 and in CGCS2000 / GK CM 105E are reprojected onto the
 * map's UTM grid: the same report. */
static void test_other_crs(void **state)
{
    (void)state;
    char err[2048];
    const char *epsg[] = {"4326", "4544"};
    for (int i = 0; i < 2; i++) {
        int rc = e2e_run(err, sizeof err,
                         "accuracy '%s/map.tif' '%s/points%s.gpkg' --field cls -o '%s/p%s.csv'", dir,
                         dir, epsg[i], dir, epsg[i]);
        if (rc != 0)
            print_error("%s", err);
        assert_int_equal(rc, 0);
        char p[512];
        snprintf(p, sizeof p, "%s/p%s.csv", dir, epsg[i]);
        check_points(p);
    }
}

/* Polygons: only pixels whose centre is inside. Matrix tree_forest [4 0 0], water [0 2 0],
 * cropland [4 0 0] (the cropland box is labelled tree forest). */
static void test_polygons(void **state)
{
    (void)state;
    char err[2048];
    int rc = e2e_run(err, sizeof err, "accuracy '%s/map.tif' '%s/polys.gpkg' --field cls -o '%s/g.csv'",
                     dir, dir, dir);
    if (rc != 0)
        print_error("%s", err);
    assert_int_equal(rc, 0);
    char p[512];
    snprintf(p, sizeof p, "%s/g.csv", dir);
    sm_table *t = load(p);
    NEAR(value(t, "counts", "tree_forest", "tree_forest", "n"), 4);
    NEAR(value(t, "counts", "cropland", "tree_forest", "n"), 4);
    NEAR(value(t, "counts", "water", "water", "n"), 2);
    NEAR(value(t, "overall", "", "", "samples"), 10);
    /* O = W1·1 + W6·1 + W7·0 = 68/98; forest area share (60 + 30)/98 -> 0.90 ha */
    NEAR(value(t, "overall", "", "", "overall"), 68.0 / 98);
    NEAR(value(t, "class", "tree_forest", "", "area_ha"), 0.90);
    NEAR(value(t, "class", "cropland", "", "area_ha"), 0.0);
    sm_table_destroy(t);
}

static void test_errors(void **state)
{
    (void)state;
    char err[4096], p[512];
    snprintf(p, sizeof p, "%s/keep.csv", dir);
    assert_int_equal(e2e_sh("printf 'earlier\\n' > '%s'", p), 0);
    /* a missing field lists the layer's fields */
    int rc = e2e_run(err, sizeof err, "accuracy '%s/map.tif' '%s/points.gpkg' --field klass -o '%s'", dir,
                     dir, p);
    assert_int_equal(rc, 2);
    assert_int_equal(e2e_lines(err), 1);
    assert_non_null(strstr(err, "sinkmap: error: "));
    assert_non_null(strstr(err, "'klass'"));
    assert_non_null(strstr(err, "cls, note"));
    /* an unknown class names it and the legend's names */
    rc = e2e_run(err, sizeof err, "accuracy '%s/map.tif' '%s/bad.gpkg' --field cls -o '%s'", dir, dir, p);
    assert_int_equal(rc, 2);
    assert_int_equal(e2e_lines(err), 1);
    assert_non_null(strstr(err, "'forestry'"));
    assert_non_null(strstr(err, "bad.gpkg"));
    assert_non_null(strstr(err, "乔木林 tree forest"));
    assert_non_null(strstr(err, "9 裸地 bare land"));
    /* a class field with no value in any feature */
    rc = e2e_run(err, sizeof err, "accuracy '%s/map.tif' '%s/polys.gpkg' --field note -o '%s'", dir, dir, p);
    assert_int_equal(rc, 2);
    assert_int_equal(e2e_lines(err), 1);
    /* missing --field, missing REFERENCE, a map that is not a raster */
    rc = e2e_run(err, sizeof err, "accuracy '%s/map.tif' '%s/points.gpkg' -o '%s'", dir, dir, p);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "--field"));
    rc = e2e_run(err, sizeof err, "accuracy '%s/map.tif' --field cls", dir);
    assert_int_equal(rc, 2);
    assert_int_equal(e2e_lines(err), 1);
    rc = e2e_run(err, sizeof err, "accuracy '%s/points.gpkg' '%s/points.gpkg' --field cls -o '%s'", dir, dir, p);
    assert_int_equal(rc, 2);
    assert_int_equal(e2e_lines(err), 1);
    assert_non_null(strstr(err, "points.gpkg"));
    /* the earlier output is untouched */
    assert_int_equal(e2e_sh("test \"$(cat '%s')\" = earlier", p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_points),
        cmocka_unit_test(test_other_crs),
        cmocka_unit_test(test_polygons),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
