/* test_classify_cli.c: end-to-end tests of `sinkmap classify` on a synthetic scene made here:
 * three spectrally distinct column bands (crop, forest, water) under labelled polygons and
 * points. Checks exact maps for both methods, byte-identical output across thread counts,
 * saved models, a reference layer in another CRS, accuracy on points, and every error path
 * (exit 2 with the class, counts, field or feature named). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <math.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_util.h"

#define NCOLS 60
#define NROWS 40
#define X0 500000.0
#define Y0 3000400.0
#define CELL 10.0

static char dir[256];

static double gauss(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    double u1 = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    double u2 = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(2 * 3.14159265358979323846 * u2);
}

/* Columns 0-19 forest, 20-39 water, 40-59 crop; spectra per band with noise sd 3. Pixel
 * (row 5, col 5) is nodata. */
static void make_raster(const char *path, int nbands)
{
    static const double spectra[3][3] = {{30, 80, 200}, {60, 40, 10}, {90, 100, 120}};
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    GDALDatasetH ds = GDALCreate(drv, path, NCOLS, NROWS, nbands, GDT_Float32, NULL);
    assert_non_null(ds);
    double gt[6] = {X0, CELL, 0, Y0, 0, -CELL};
    GDALSetGeoTransform(ds, gt);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32650);
    char *wkt = NULL;
    OSRExportToWkt(srs, &wkt);
    GDALSetProjection(ds, wkt);
    CPLFree(wkt);
    OSRDestroySpatialReference(srs);
    float *buf = malloc(NCOLS * NROWS * sizeof *buf);
    uint64_t s = 12345;
    for (int b = 0; b < nbands; b++) {
        for (int r = 0; r < NROWS; r++)
            for (int c = 0; c < NCOLS; c++)
                buf[r * NCOLS + c] = (float)(spectra[c / 20][b] + 3 * gauss(&s));
        buf[5 * NCOLS + 5] = -9999;
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
        GDALSetRasterNoDataValue(band, -9999);
        assert_int_equal(GDALRasterIO(band, GF_Write, 0, 0, NCOLS, NROWS, buf, NCOLS, NROWS,
                                      GDT_Float32, 0, 0),
                         CE_None);
    }
    free(buf);
    GDALClose(ds);
}

/* A rectangle of cells [c0, c1) x [r0, r1), its edges 2 m inside the outer cell edges so
 * that the cells' centres are clearly in or out. */
static OGRGeometryH rect(int c0, int r0, int c1, int r1)
{
    char wkt[512];
    double xa = X0 + c0 * CELL + 2, xb = X0 + c1 * CELL - 2;
    double ya = Y0 - r0 * CELL - 2, yb = Y0 - r1 * CELL + 2;
    snprintf(wkt, sizeof wkt, "POLYGON ((%.3f %.3f, %.3f %.3f, %.3f %.3f, %.3f %.3f, %.3f %.3f))", xa,
             ya, xb, ya, xb, yb, xa, yb, xa, ya);
    OGRGeometryH g = NULL;
    char *p = wkt;
    assert_int_equal(OGR_G_CreateFromWkt(&p, NULL, &g), OGRERR_NONE);
    return g;
}

static OGRGeometryH point_at(int c, int r)
{
    OGRGeometryH g = OGR_G_CreateGeometry(wkbPoint);
    OGR_G_SetPoint_2D(g, 0, X0 + (c + 0.5) * CELL, Y0 - (r + 0.5) * CELL);
    return g;
}

typedef struct feat {
    const char *label;
    OGRGeometryH geom;
} feat;

/* Writes a GeoPackage layer with a field "cls"; epsg is the layer's CRS (geometries are made
 * in EPSG:32650 and transformed when it differs). Takes ownership of the geometries. */
static void write_layer(const char *path, int epsg, OGRwkbGeometryType type, feat *f, size_t n)
{
    GDALDriverH drv = GDALGetDriverByName("GPKG");
    GDALDatasetH ds = GDALCreate(drv, path, 0, 0, 0, GDT_Unknown, NULL);
    assert_non_null(ds);
    OGRSpatialReferenceH utm = OSRNewSpatialReference(NULL), srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(utm, 32650);
    OSRImportFromEPSG(srs, epsg);
    OSRSetAxisMappingStrategy(utm, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
    OGRLayerH layer = GDALDatasetCreateLayer(ds, "ref", srs, type, NULL);
    assert_non_null(layer);
    OGRFieldDefnH fd = OGR_Fld_Create("cls", OFTString);
    OGR_L_CreateField(layer, fd, TRUE);
    OGR_Fld_Destroy(fd);
    for (size_t i = 0; i < n; i++) {
        OGRFeatureH ft = OGR_F_Create(OGR_L_GetLayerDefn(layer));
        OGR_F_SetFieldString(ft, 0, f[i].label);
        OGR_G_AssignSpatialReference(f[i].geom, utm);
        if (epsg != 32650)
            assert_int_equal(OGR_G_TransformTo(f[i].geom, srs), OGRERR_NONE);
        OGR_F_SetGeometryDirectly(ft, f[i].geom);
        assert_int_equal(OGR_L_CreateFeature(layer, ft), OGRERR_NONE);
        OGR_F_Destroy(ft);
    }
    OSRDestroySpatialReference(utm);
    OSRDestroySpatialReference(srs);
    GDALClose(ds);
}

static void write_training(const char *path, int epsg, int with_bare)
{
    feat f[] = {
        {"forest", rect(2, 2, 8, 10)},   {"forest", rect(10, 25, 17, 35)},
        {"water", rect(22, 3, 30, 12)},  {"water", rect(32, 20, 38, 30)},
        {"crop", rect(42, 5, 50, 15)},   {"crop", rect(52, 22, 58, 36)},
        {"bare", rect(45, 38, 47, 39)}, /* 2 cells: too few samples */
    };
    size_t n = with_bare ? 7 : 6;
    write_layer(path, epsg, wkbPolygon, f, n);
    if (!with_bare)
        OGR_G_DestroyGeometry(f[6].geom);
}

static int setup(void **state)
{
    (void)state;
    GDALAllRegister();
    if (!e2e_tmpdir(dir, sizeof dir, "classify"))
        return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/scene.tif", dir);
    make_raster(p, 3);
    snprintf(p, sizeof p, "%s/scene2.tif", dir);
    make_raster(p, 2);
    snprintf(p, sizeof p, "%s/train.gpkg", dir);
    write_training(p, 32650, 0);
    snprintf(p, sizeof p, "%s/train4326.gpkg", dir);
    write_training(p, 4326, 0);
    snprintf(p, sizeof p, "%s/train_bare.gpkg", dir);
    write_training(p, 32650, 1);
    /* test points away from the training polygons: 5 per class */
    feat pts[15];
    for (int i = 0; i < 5; i++) {
        pts[i] = (feat){"forest", point_at(12 + i, 15)};
        pts[5 + i] = (feat){"water", point_at(25 + i, 36)};
        pts[10 + i] = (feat){"crop", point_at(44 + i, 30)};
    }
    snprintf(p, sizeof p, "%s/points.gpkg", dir);
    write_layer(p, 32650, wkbPoint, pts, 15);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* SM_KEEP=1 keeps the scratch folder for a look after a failure */
    return getenv("SM_KEEP") ? 0 : (e2e_sh("rm -rf '%s'", dir) == 0 ? 0 : -1);
}

/* Runs the CLI with stdout captured into out (at most n bytes) and stderr into err. */
static int run(char *out, size_t n, char *err, size_t en, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s/stdout.txt' 2>'%s/stderr.txt'", SM_CLI, args, dir, dir);
    int rc = e2e_sh("%s", cmd);
    const char *names[2] = {"stdout.txt", "stderr.txt"};
    char *bufs[2] = {out, err};
    size_t lens[2] = {n, en};
    for (int i = 0; i < 2; i++) {
        if (!bufs[i])
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "r");
        size_t got = f ? fread(bufs[i], 1, lens[i] - 1, f) : 0;
        bufs[i][got] = '\0';
        if (f)
            fclose(f);
    }
    return rc;
}

static void expect_contains(const char *s, const char *part)
{
    if (!strstr(s, part)) {
        print_error("\"%s\" does not contain \"%s\"\n", s, part);
        fail();
    }
}

/* Checks the class map: crop = 1, forest = 2, water = 3 by column, 0 at the nodata pixel;
 * returns the number of pixels rejected (10), which must be at most max_rejected. */
static int check_map_rejected(const char *path, int max_rejected)
{
    int rejected = 0;
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    assert_non_null(ds);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    assert_int_equal(GDALGetRasterDataType(b), GDT_Byte);
    uint8_t buf[NCOLS * NROWS];
    assert_int_equal(GDALRasterIO(b, GF_Read, 0, 0, NCOLS, NROWS, buf, NCOLS, NROWS, GDT_Byte, 0, 0),
                     CE_None);
    for (int r = 0; r < NROWS; r++)
        for (int c = 0; c < NCOLS; c++) {
            int want = (r == 5 && c == 5) ? 0 : c < 20 ? 2 : c < 40 ? 3 : 1;
            if (buf[r * NCOLS + c] == 10 && want != 0 && rejected < max_rejected) {
                rejected++;
                continue;
            }
            if (buf[r * NCOLS + c] != want) {
                print_error("%s: pixel (row %d, col %d) is %d, want %d\n", path, r, c,
                            buf[r * NCOLS + c], want);
                fail();
            }
        }
    assert_non_null(GDALGetRasterColorTable(b)); /* (also makes GDAL load the .aux.xml) */
    char **names = GDALGetRasterCategoryNames(b);
    assert_non_null(names);
    assert_string_equal(names[1], "crop");
    assert_string_equal(names[2], "forest");
    assert_string_equal(names[3], "water");
    assert_string_equal(names[10], "unclassified");
    int has;
    assert_true(GDALGetRasterNoDataValue(b, &has) == 0 && has);
    GDALClose(ds);
    return rejected;
}

static void check_map(const char *path) { check_map_rejected(path, 0); }

static void test_rf_map_threads(void **state)
{
    (void)state;
    char out[8192], err[4096];
    for (int t = 1; t <= 2; t++) {
        int rc = run(out, sizeof out, err, sizeof err,
                     "classify '%s/scene.tif' --train '%s/train.gpkg' --field cls --method rf "
                     "--trees 30 --seed 5 --threads %d -o '%s/rf%d.tif' --confidence '%s/rfc%d.tif'",
                     dir, dir, t, dir, t, dir, t);
        if (rc != 0)
            print_error("%s\n", err);
        assert_int_equal(rc, 0);
    }
    expect_contains(out, "random forest: 30 trees, mtry 1");
    expect_contains(out, "out-of-bag error 0.0000");
    char p[512];
    snprintf(p, sizeof p, "%s/rf1.tif", dir);
    check_map(p);
    /* byte-identical files for 1 and 2 threads */
    assert_int_equal(e2e_sh("cmp -s '%s/rf1.tif' '%s/rf2.tif'", dir, dir), 0);
    assert_int_equal(e2e_sh("cmp -s '%s/rfc1.tif' '%s/rfc2.tif'", dir, dir), 0);
    /* confidence: Float32, NaN at the nodata pixel */
    snprintf(p, sizeof p, "%s/rfc1.tif", dir);
    GDALDatasetH ds = GDALOpen(p, GA_ReadOnly);
    assert_non_null(ds);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    assert_int_equal(GDALGetRasterDataType(b), GDT_Float32);
    float conf[NCOLS * NROWS];
    assert_int_equal(GDALRasterIO(b, GF_Read, 0, 0, NCOLS, NROWS, conf, NCOLS, NROWS, GDT_Float32, 0, 0),
                     CE_None);
    /* the winner of three classes has at least a third of the votes; nearly every pixel
     * of these separable classes gets all of them */
    int unanimous = 0;
    for (int i = 0; i < NCOLS * NROWS; i++) {
        if (i == 5 * NCOLS + 5) {
            assert_true(isnan(conf[i]));
            continue;
        }
        assert_true(conf[i] >= 1.0f / 3 && conf[i] <= 1.0f);
        unanimous += conf[i] == 1.0f;
    }
    assert_true(unanimous >= NCOLS * NROWS * 95 / 100);
    GDALClose(ds);
}

static void test_maxlik_model_round_trip(void **state)
{
    (void)state;
    char out[8192], err[4096];
    int rc = run(out, sizeof out, err, sizeof err,
                 "classify '%s/scene.tif' --train '%s/train.gpkg' --field cls --method maxlik "
                 "--reject 0 --save-model '%s/ml.model' -o '%s/ml.tif'",
                 dir, dir, dir, dir);
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    expect_contains(out, "maximum likelihood: 3 features, priors equal, no rejection");
    char p[512];
    snprintf(p, sizeof p, "%s/ml.tif", dir);
    check_map(p);
    /* at the default level, χ²₃(0.999) = 16.266236, about one pixel in a thousand of a
     * Gaussian class is rejected: a handful of the 2399 */
    rc = run(out, sizeof out, err, sizeof err,
             "classify '%s/scene.tif' --train '%s/train.gpkg' --field cls --method maxlik "
             "-o '%s/ml999.tif'",
             dir, dir, dir);
    assert_int_equal(rc, 0);
    expect_contains(out, "rejection at D2 > 16.2662 (chi-square 0.999, 3 dof)");
    snprintf(p, sizeof p, "%s/ml999.tif", dir);
    int rejected = check_map_rejected(p, 12);
    assert_true(rejected >= 1);
    rc = run(out, sizeof out, err, sizeof err,
             "classify '%s/scene.tif' --model '%s/ml.model' -o '%s/ml2.tif' --threads 2", dir, dir, dir);
    assert_int_equal(rc, 0);
    expect_contains(out, "maxlik, 3 classes, 3 features");
    assert_int_equal(e2e_sh("cmp -s '%s/ml.tif' '%s/ml2.tif'", dir, dir), 0);
}

static void test_points_accuracy_and_report(void **state)
{
    (void)state;
    char out[8192], err[4096];
    int rc = run(out, sizeof out, err, sizeof err,
                 "classify '%s/scene.tif' --train '%s/train.gpkg' --field cls --trees 20 "
                 "--test '%s/points.gpkg' --report '%s/acc.csv'",
                 dir, dir, dir, dir);
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    expect_contains(out, "points.gpkg: 15 samples");
    expect_contains(out, "overall accuracy 1.0000, kappa 1.0000");
    char p[512], csv[8192];
    snprintf(p, sizeof p, "%s/acc.csv", dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t got = fread(csv, 1, sizeof csv - 1, f);
    csv[got] = '\0';
    fclose(f);
    expect_contains(csv, "set,class,reference,measure,value\n");
    expect_contains(csv, "test,forest,forest,n,5\n");
    expect_contains(csv, "test,forest,water,n,0\n");
    expect_contains(csv, "test,,,overall,1\n");
    expect_contains(csv, "test,water,,producers,1\n");
}

static void test_reprojected_reference_and_holdout(void **state)
{
    (void)state;
    char out[8192], out2[8192], err[4096];
    int rc = run(out, sizeof out, err, sizeof err,
                 "classify '%s/scene.tif' --train '%s/train.gpkg' --field cls --trees 20 --save-model '%s/a.model'",
                 dir, dir, dir);
    assert_int_equal(rc, 0);
    rc = run(out2, sizeof out2, err, sizeof err,
             "classify '%s/scene.tif' --train '%s/train4326.gpkg' --field cls --trees 20 --save-model "
             "'%s/b.model'",
             dir, dir, dir);
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    /* the same pixels from the layer in EPSG:4326: 2 polygons per class
     * forest 6x8 - 1 (the nodata pixel) + 7x10 = 117, water 8x9 + 6x10 = 132,
     * crop 8x10 + 6x14 = 164 */
    expect_contains(out, "training samples: 413 pixels (crop 164, forest 117, water 132)");
    expect_contains(out2, "training samples: 413 pixels (crop 164, forest 117, water 132)");
    assert_int_equal(e2e_sh("cmp -s '%s/a.model' '%s/b.model'", dir, dir), 0);
    /* hold out one of the two polygons of each class */
    rc = run(out, sizeof out, err, sizeof err,
             "classify '%s/scene.tif' --train '%s/train.gpkg' --field cls --holdout 0.5 --trees 20",
             dir, dir);
    assert_int_equal(rc, 0);
    expect_contains(out, "held-out samples:");
    expect_contains(out, "accuracy on the held-out polygons");
    expect_contains(out, "overall accuracy 1.0000");
}

static void test_errors(void **state)
{
    (void)state;
    char err[4096];
    /* too few samples: the class and the counts are named, exit 2 */
    int rc = e2e_run(err, sizeof err,
                     "classify '%s/scene.tif' --train '%s/train_bare.gpkg' --field cls -o '%s/x.tif'",
                     dir, dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "class 'bare' has 2 training samples (from 1 feature); at least 10 are needed");
    expect_contains(err, "samples per class: bare 2, crop 164, forest 117, water 132");
    char x[512];
    snprintf(x, sizeof x, "%s/x.tif", dir);
    assert_false(e2e_exists(x));
    /* maxlik's own minimum (p + 1) is explained */
    rc = e2e_run(err, sizeof err,
                 "classify '%s/scene.tif' --train '%s/train_bare.gpkg' --field cls --method maxlik "
                 "--min-samples 1 -o '%s/x.tif'",
                 dir, dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "class 'bare' has 2 training samples");
    expect_contains(err, "at least 4 are needed (maximum likelihood");
    /* a missing class field lists the fields */
    rc = e2e_run(err, sizeof err, "classify '%s/scene.tif' --train '%s/train.gpkg' --field nope -o '%s/x.tif'",
                 dir, dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "the class field 'nope' does not exist (fields: cls)");
    /* a model applied to a stack with other features */
    rc = e2e_run(err, sizeof err, "classify '%s/scene2.tif' --model '%s/ml.model' -o '%s/x.tif'", dir,
                 dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "ml.model: the model was trained on 3 features (b1, ...), the input has 2");
    /* a damaged model */
    assert_int_equal(e2e_sh("cp '%s/ml.model' '%s/bad.model' && printf 'X' | dd of='%s/bad.model' "
                            "bs=1 seek=100 conv=notrunc 2>/dev/null",
                            dir, dir, dir),
                     0);
    rc = e2e_run(err, sizeof err, "classify '%s/scene.tif' --model '%s/bad.model' -o '%s/x.tif'", dir,
                 dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "bad.model: checksum mismatch");
    /* not a model at all */
    rc = e2e_run(err, sizeof err, "classify '%s/scene.tif' --model '%s/scene.tif' -o '%s/x.tif'", dir,
                 dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "not a sinkmap model");
    /* usage errors */
    rc = e2e_run(err, sizeof err, "classify '%s/scene.tif' --train '%s/train.gpkg' --field cls --method svm -o x.tif",
                 dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "--method 'svm': expected rf or maxlik");
    rc = e2e_run(err, sizeof err, "classify '%s/scene.tif' --train '%s/train.gpkg' --field cls "
                                  "--indices ndvi -o x.tif",
                 dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "--indices ndvi needs the red and nir bands");
    rc = e2e_run(err, sizeof err, "classify '%s/scene.tif' --train '%s/train.gpkg' --field cls "
                                  "--roles red,nir -o x.tif",
                 dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "--roles lists 2 roles but the rasters have 3 bands");
    rc = e2e_run(err, sizeof err, "classify '%s/scene.tif' --train '%s/train.gpkg' --field cls", dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "nothing to do");
    rc = e2e_run(err, sizeof err, "classify");
    assert_int_equal(rc, 2);
    rc = e2e_run(err, sizeof err, "classify --help");
    assert_int_equal(rc, 0);
}

static void test_indices(void **state)
{
    (void)state;
    char out[8192], err[4096];
    /* bands as green, red, nir: ndvi and ndwi are added as features 4 and 5 */
    int rc = run(out, sizeof out, err, sizeof err,
                 "classify '%s/scene.tif' --train '%s/train.gpkg' --field cls --roles green,red,nir "
                 "--indices ndvi,ndwi --method maxlik --reject 0 --save-model '%s/idx.model' -o '%s/idx.tif'",
                 dir, dir, dir, dir);
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    expect_contains(out, "maximum likelihood: 5 features");
    char p[512];
    snprintf(p, sizeof p, "%s/idx.tif", dir);
    check_map(p);
    /* the same bands without roles are other features */
    rc = e2e_run(err, sizeof err, "classify '%s/scene.tif' --model '%s/idx.model' -o '%s/x.tif'", dir,
                 dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "trained on 5 features");
    rc = e2e_run(err, sizeof err,
                 "classify '%s/scene.tif' --model '%s/idx.model' --roles green,red,- --indices ndvi,ndwi -o '%s/x.tif'",
                 dir, dir, dir);
    assert_int_equal(rc, 2);
    expect_contains(err, "--indices ndvi needs the red and nir bands");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rf_map_threads),
        cmocka_unit_test(test_maxlik_model_round_trip),
        cmocka_unit_test(test_points_accuracy_and_report),
        cmocka_unit_test(test_reprojected_reference_and_holdout),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_indices),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
