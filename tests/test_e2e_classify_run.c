/* test_e2e_classify_run.c: supervised land cover inside `sinkmap run` on the demo's spring
 * scene (2024s, where the rules are weakest): a random forest trained from the inventory's
 * land class is scored against the generator's painted truth, accuracy_2024s.csv against a
 * recount of the written map, the confidence band against its range, and the outputs of 1
 * and 2 threads byte for byte. Bad [classifier] settings and models give one error line. */
#include <cpl_string.h>
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
#include "sinkmap/model.h"
#include "sinkmap/table.h"

#define DEMO SM_SOURCE_DIR "/examples/nanchong-demo"
#define RASTERS SM_SOURCE_DIR "/rasters"
static char dir[256];

/* A one-scene job: the demo's parcels and spring scene, rf from the inventory. `extra` is
 * appended to [classifier]. */
static void write_job(const char *name, const char *method, const char *extra)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f,
            "[job]\nname = cls\noutput = out\n"
            "[parcels]\npath = %s/xiaoban.shp\nencoding = GBK\nfield.county = XIAN\n"
            "field.township = XIANG\nfield.village = CUN\nfield.compartment = LIN_BAN\n"
            "field.subcompartment = XIAO_BAN\nfield.land_class = DI_LEI\n"
            "field.species = YOU_SHI_SZ\nfield.origin = QI_YUAN\nfield.age = PINGJUN_NL\n"
            "field.volume = HUO_LMGQXJ\nfield.area = MIAN_JI\nfield.survey_year = DIAOCHA_ND\n"
            "[scene.2024s]\ndate = 2024-04-15\nraster.10m = %s/s2_2024s_10m.tif\n"
            "roles.10m = blue,green,red,nir\nraster.20m = %s/s2_2024s_20m.tif\n"
            "roles.20m = swir1,swir2\nmask = %s/s2_2024s_scl.tif\nmask_values = 0,3,8,9,10\n"
            "scale = auto\noffset = auto\n"
            "[classifier]\nmethod = %s\ntrees = 40\nmin_leaf = 5\nmax_per_class = 3000\n%s\n"
            "[uncertainty]\ndraws = 0\n[ledger]\npath = none\n",
            DEMO, RASTERS, RASTERS, RASTERS, method, extra ? extra : "");
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    GDALAllRegister();
    if (!e2e_tmpdir(dir, sizeof dir, "clsrun"))
        return -1;
    write_job("rf.ini", "rf", NULL);
    char err[4096];
    for (int t = 1; t <= 2; t++) {
        int rc = e2e_run(err, sizeof err, "run '%s/rf.ini' -o '%s/out%d' --threads %d", dir, dir, t, t);
        if (rc != 0) {
            fprintf(stderr, "%s", err);
            return -1;
        }
    }
    return 0;
}

static uint8_t *read_byte(const char *path, int *nx, int *ny);
static void expect_error(const char *job, const char *needle1, const char *needle2);

/* A point sample layer in EPSG:4326 drawn from the truth of 2024s: up to 250 cells of each
 * class (every k-th of its cells in grid order), labelled by names in Chinese, English, keys
 * and codes in turn. */
static void write_samples(const char *path)
{
    static const char *names[10][4] = {{"", "", "", ""},
                                       {"乔木林", "tree forest", "tree_forest", "1"},
                                       {"竹林", "bamboo forest", "bamboo", "2"},
                                       {"灌木林", "shrubland", "shrub", "3"},
                                       {"草地", "grassland", "grassland", "4"},
                                       {"湿地", "wetland", "wetland", "5"},
                                       {"水域", "water", "water", "6"},
                                       {"耕地", "cropland", "cropland", "7"},
                                       {"建设用地", "built-up", "built", "8"},
                                       {"裸地", "bare land", "bare", "9"}};
    GDALDatasetH t = GDALOpen(DEMO "/truth/landcover_2024s.tif", GA_ReadOnly);
    assert_non_null(t);
    int nx = GDALGetRasterXSize(t), ny = GDALGetRasterYSize(t);
    double gt[6];
    GDALGetGeoTransform(t, gt);
    uint8_t *b = malloc((size_t)nx * (size_t)ny);
    assert_int_equal(GDALRasterIO(GDALGetRasterBand(t, 1), GF_Read, 0, 0, nx, ny, b, nx, ny, GDT_Byte, 0, 0), CE_None);
    OGRSpatialReferenceH utm = OSRNewSpatialReference(GDALGetProjectionRef(t)), ll = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(ll, 4326);
    OSRSetAxisMappingStrategy(utm, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(ll, OAMS_TRADITIONAL_GIS_ORDER);
    OGRCoordinateTransformationH ct = OCTNewCoordinateTransformation(utm, ll);
    assert_non_null(ct);
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GPKG"), path, 0, 0, 0, GDT_Unknown, NULL);
    OGRLayerH layer = GDALDatasetCreateLayer(ds, "samples", ll, wkbPoint, NULL);
    OGRFieldDefnH fd = OGR_Fld_Create("cls", OFTString);
    OGR_L_CreateField(layer, fd, TRUE);
    OGR_Fld_Destroy(fd);
    size_t count[10] = {0};
    for (size_t i = 0; i < (size_t)nx * (size_t)ny; i++)
        count[b[i] < 10 ? b[i] : 0]++;
    for (int c = 1; c <= 9; c++) {
        if (count[c] < 100)
            continue;
        size_t step = count[c] / 250 + 1, seen = 0;
        for (size_t i = 0; i < (size_t)nx * (size_t)ny; i++) {
            if (b[i] != c || seen++ % step != 0)
                continue;
            double x = gt[0] + ((double)(i % (size_t)nx) + 0.5) * gt[1];
            double y = gt[3] + ((double)(i / (size_t)nx) + 0.5) * gt[5];
            assert_true(OCTTransform(ct, 1, &x, &y, NULL));
            OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(layer));
            OGR_F_SetFieldString(f, 0, names[c][seen % 4]);
            OGRGeometryH g = OGR_G_CreateGeometry(wkbPoint);
            OGR_G_SetPoint_2D(g, 0, x, y);
            OGR_F_SetGeometryDirectly(f, g);
            assert_int_equal(OGR_L_CreateFeature(layer, f), OGRERR_NONE);
            OGR_F_Destroy(f);
        }
    }
    GDALClose(ds);
    OCTDestroyCoordinateTransformation(ct);
    OSRDestroySpatialReference(utm);
    OSRDestroySpatialReference(ll);
    free(b);
    GDALClose(t);
}

/* Training from a point layer in another CRS instead of the inventory. */
static void test_sample_layer(void **state)
{
    (void)state;
    char p[512], err[4096];
    snprintf(p, sizeof p, "%s/samples.gpkg", dir);
    write_samples(p);
    write_job("samples.ini", "rf", "samples = samples.gpkg\nfield = cls\nmin_samples = 20");
    int rc = e2e_run(err, sizeof err, "run '%s/samples.ini' -o '%s/outs' --threads 2", dir, dir);
    if (rc != 0)
        print_error("%s", err);
    assert_int_equal(rc, 0);
    int nx, ny, tx, ty;
    snprintf(p, sizeof p, "%s/outs/landcover_2024s.tif", dir);
    uint8_t *a = read_byte(p, &nx, &ny);
    uint8_t *t = read_byte(DEMO "/truth/landcover_2024s.tif", &tx, &ty);
    size_t total = 0, agree = 0;
    for (size_t i = 0; i < (size_t)nx * (size_t)ny; i++) {
        if (t[i] < 1 || t[i] > 9 || a[i] == 0 || a[i] == 11)
            continue;
        total++;
        agree += a[i] == t[i];
    }
    double oa = (double)agree / (double)total;
    print_message("2024s rf from a point layer: overall accuracy %.4f\n", oa);
    assert_true(oa >= 0.85);
    free(a);
    free(t);
    /* a label outside the legend names it and the legend */
    assert_int_equal(e2e_sh("ogr2ogr -q -f GPKG '%s/bad.gpkg' '%s/samples.gpkg' -sql "
                            "\"SELECT geom, CASE WHEN fid = 7 THEN 'forestry' ELSE cls END AS cls FROM samples\"",
                            dir, dir),
                     0);
    write_job("badsamples.ini", "rf", "samples = bad.gpkg\nfield = cls");
    expect_error("badsamples.ini", "class 'forestry' is not a land-cover class", "bad.gpkg");
    write_job("nofield.ini", "rf", "samples = samples.gpkg\nfield = klass");
    expect_error("nofield.ini", "'klass'", "cls");
}

static int teardown(void **state)
{
    (void)state;
    return getenv("SM_KEEP") ? 0 : (e2e_sh("rm -rf '%s'", dir) == 0 ? 0 : -1);
}

static void expect_error(const char *job, const char *needle1, const char *needle2);

static uint8_t *read_byte(const char *path, int *nx, int *ny)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    assert_non_null(ds);
    *nx = GDALGetRasterXSize(ds);
    *ny = GDALGetRasterYSize(ds);
    uint8_t *b = malloc((size_t)*nx * (size_t)*ny);
    assert_int_equal(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, *nx, *ny, b, *nx, *ny,
                                  GDT_Byte, 0, 0),
                     CE_None);
    GDALClose(ds);
    return b;
}

/* Overall accuracy of the supervised spring map against the painted truth, pixels observed
 * (not 0, not 11) and of a truth class 1-9. The rules reach 0.53 here (test_e2e_demo). Cloud
 * pixels of the SCL mask (20 m, nearest onto 10 m) are 11 whatever the forest says. */
static void test_oa_and_cloud(void **state)
{
    (void)state;
    char p[512];
    int nx, ny, tx, ty, sx, sy;
    snprintf(p, sizeof p, "%s/out1/landcover_2024s.tif", dir);
    uint8_t *a = read_byte(p, &nx, &ny);
    uint8_t *t = read_byte(DEMO "/truth/landcover_2024s.tif", &tx, &ty);
    uint8_t *scl = read_byte(RASTERS "/s2_2024s_scl.tif", &sx, &sy);
    assert_int_equal(nx, tx);
    assert_int_equal(ny, ty);
    assert_int_equal(nx, 2 * sx);
    size_t total = 0, agree = 0, cloud = 0, cloud_ok = 0;
    for (int r = 0; r < ny; r++)
        for (int c = 0; c < nx; c++) {
            size_t i = (size_t)r * (size_t)nx + (size_t)c;
            int m = scl[(size_t)(r / 2) * (size_t)sx + (size_t)(c / 2)];
            if (m == 3 || m == 8 || m == 9 || m == 10) {
                cloud++;
                cloud_ok += a[i] == 11;
            }
            if (t[i] < 1 || t[i] > 9 || a[i] == 0 || a[i] == 11)
                continue;
            total++;
            agree += a[i] == t[i];
        }
    double oa = (double)agree / (double)total;
    print_message("2024s rf overall accuracy %.4f over %zu pixels; %zu cloud pixels\n", oa, total, cloud);
    assert_true(total > (size_t)nx * (size_t)ny * 9 / 10);
    assert_true(oa >= 0.85);
    assert_true(cloud > 1000);
    assert_int_equal(cloud_ok, cloud);
    free(a);
    free(t);
    free(scl);
}

static double cell(const sm_table *t, const char *sec, const char *cls, const char *ref, const char *m)
{
    for (size_t i = 0; i < sm_table_rows(t); i++)
        if (!strcmp(sm_table_cell(t, i, 0), sec) && !strcmp(sm_table_cell(t, i, 1), cls) &&
            !strcmp(sm_table_cell(t, i, 2), ref) && !strcmp(sm_table_cell(t, i, 3), m)) {
            const char *v = sm_table_cell(t, i, 4);
            return v[0] ? strtod(v, NULL) : NAN;
        }
    return NAN;
}

/* accuracy_2024s.csv: mapped areas equal a recount of the map's pixels × 100 m²; the
 * area-weighted overall accuracy and user's accuracies follow from its own counts and
 * weights by Olofsson's formulas; the held-out sample is large. */
static void test_accuracy_csv(void **state)
{
    (void)state;
    static const char *keys[11] = {"", "tree_forest", "bamboo", "shrub", "grassland", "wetland",
                                   "water", "cropland", "built", "bare", "unclassified"};
    char p[512];
    int nx, ny;
    snprintf(p, sizeof p, "%s/out1/landcover_2024s.tif", dir);
    uint8_t *a = read_byte(p, &nx, &ny);
    double px[12] = {0};
    for (size_t i = 0; i < (size_t)nx * (size_t)ny; i++)
        px[a[i] < 12 ? a[i] : 0]++;
    free(a);
    snprintf(p, sizeof p, "%s/out1/accuracy_2024s.csv", dir);
    sm_context *ctx = sm_context_create();
    sm_table *t = NULL;
    assert_int_equal(sm_table_read(&t, ctx, p), SM_OK);
    sm_context_destroy(ctx);
    double atot = 0, oa = 0, n = 0;
    int nclasses = 0;
    for (int c = 1; c <= 10; c++) {
        double ha = cell(t, "input", keys[c], "", "mapped_area_ha");
        if (px[c] == 0 && isnan(ha))
            continue;
        assert_false(isnan(ha));
        if (fabs(ha - px[c] * 100.0 / 10000.0) > 1e-9) {
            print_error("%s: mapped %.4f ha, the map has %g pixels\n", keys[c], ha, px[c]);
            fail();
        }
        atot += ha;
        nclasses++;
    }
    assert_true(nclasses >= 5);
    for (int i = 1; i <= 10; i++) {
        double ha = cell(t, "input", keys[i], "", "mapped_area_ha");
        if (isnan(ha) || ha == 0)
            continue;
        double row = 0, diag = cell(t, "counts", keys[i], keys[i], "n");
        for (int j = 1; j <= 10; j++) {
            double v = cell(t, "counts", keys[i], keys[j], "n");
            row += isnan(v) ? 0 : v;
        }
        n += row;
        oa += ha / atot * diag / row;
        assert_true(fabs(cell(t, "class", keys[i], "", "users") - diag / row) < 1e-12);
    }
    assert_true(fabs(cell(t, "overall", "", "", "overall") - oa) < 1e-12);
    assert_true(fabs(cell(t, "overall", "", "", "samples") - n) < 1e-9);
    assert_true(fabs(cell(t, "overall", "", "", "total_area_ha") - atot) < 1e-9);
    print_message("held-out pixels %g, area-weighted overall accuracy %.4f\n", n, oa);
    assert_true(n > 10000);
    assert_true(oa >= 0.8);
    sm_table_destroy(t);
}

/* The confidence band: a COG with a description and unit, values in [0,1] exactly where the
 * map has a class 1-9, NaN elsewhere. */
static void test_confidence(void **state)
{
    (void)state;
    char p[512];
    int nx, ny;
    snprintf(p, sizeof p, "%s/out1/landcover_2024s.tif", dir);
    uint8_t *a = read_byte(p, &nx, &ny);
    snprintf(p, sizeof p, "%s/out1/confidence_2024s.tif", dir);
    GDALDatasetH ds = GDALOpen(p, GA_ReadOnly);
    assert_non_null(ds);
    const char *layout = GDALGetMetadataItem(ds, "LAYOUT", "IMAGE_STRUCTURE");
    assert_non_null(layout);
    assert_string_equal(layout, "COG");
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    assert_int_equal(GDALGetRasterDataType(b), GDT_Float32);
    assert_non_null(strstr(GDALGetDescription(b), "confidence"));
    assert_string_equal(GDALGetRasterUnitType(b), "share");
    float *c = malloc((size_t)nx * (size_t)ny * sizeof *c);
    assert_int_equal(GDALRasterIO(b, GF_Read, 0, 0, nx, ny, c, nx, ny, GDT_Float32, 0, 0), CE_None);
    GDALClose(ds);
    size_t low = 0;
    for (size_t i = 0; i < (size_t)nx * (size_t)ny; i++) {
        if (a[i] >= 1 && a[i] <= 9) {
            if (!(c[i] > 0 && c[i] <= 1)) {
                print_error("pixel %zu class %d confidence %g\n", i, a[i], (double)c[i]);
                fail();
            }
            low += c[i] < 0.5;
        } else {
            assert_true(isnan(c[i]));
        }
    }
    print_message("pixels with a vote share below 0.5: %zu\n", low);
    free(a);
    free(c);
}

static void test_threads(void **state)
{
    (void)state;
    const char *files[] = {"landcover_2024s.tif", "confidence_2024s.tif", "accuracy_2024s.csv",
                           "parcels.csv", "summary.csv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (e2e_sh("cmp -s '%s/out1/%s' '%s/out2/%s'", dir, files[i], dir, files[i]) != 0) {
            print_error("%s differs between 1 and 2 threads\n", files[i]);
            fail();
        }
}

/* A model file with 12 features named like the scene's but classes outside the legend. */
static void save_model(const char *path, const char *c0, const char *c1, int p)
{
    static const char *feat[12] = {"blue", "green", "red", "nir", "swir1", "swir2",
                                   "ndvi", "evi",   "ndwi", "mndwi", "ndbi", "nbr"};
    const char *cls[2] = {c0, c1};
    sm_context *ctx = sm_context_create();
    sm_samples *s = NULL;
    assert_int_equal(sm_samples_create(&s, ctx, p, feat, 2, cls), SM_OK);
    float x[12];
    for (int i = 0; i < 20; i++) {
        for (int j = 0; j < p; j++)
            x[j] = (float)(i % 2) + 0.01f * (float)(i + j);
        assert_int_equal(sm_samples_add(s, ctx, x, i % 2, i), SM_OK);
    }
    sm_model_options mo = SM_MODEL_OPTIONS_INIT;
    mo.rf.ntrees = 3;
    sm_model *m = NULL;
    assert_int_equal(sm_model_train(&m, ctx, s, &mo), SM_OK);
    assert_int_equal(sm_model_save(m, ctx, path), SM_OK);
    sm_model_destroy(m);
    sm_samples_destroy(s);
    sm_context_destroy(ctx);
}

static void expect_error(const char *job, const char *needle1, const char *needle2)
{
    char err[4096];
    int rc = e2e_run(err, sizeof err, "run '%s/%s' -o '%s/out1'", dir, job, dir);
    if (rc != 2 || e2e_lines(err) != 1 || !strstr(err, "sinkmap: error: ") ||
        (needle1 && !strstr(err, needle1)) || (needle2 && !strstr(err, needle2))) {
        print_error("%s: exit %d, stderr: %s (expected '%s', '%s')\n", job, rc, err,
                    needle1 ? needle1 : "", needle2 ? needle2 : "");
        fail();
    }
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_equal(e2e_sh("sha256sum '%s/out1/landcover_2024s.tif' > '%s/sum'", dir, dir), 0);
    /* too few samples for a class: names the class and the counts */
    write_job("e1.ini", "rf", "min_samples = 100000");
    expect_error("e1.ini", "training samples (from", "min_samples");
    /* a model whose classes are not the legend's */
    char p[512];
    snprintf(p, sizeof p, "%s/foo.model", dir);
    save_model(p, "bar", "foo", 12);
    write_job("e2.ini", "rf", "model = foo.model");
    expect_error("e2.ini", "class 'bar' of the model is not a land-cover class", "乔木林");
    /* a model with other features */
    snprintf(p, sizeof p, "%s/few.model", dir);
    save_model(p, "tree_forest", "water", 4);
    write_job("e3.ini", "rf", "model = few.model");
    expect_error("e3.ini", "few.model", "feature");
    /* bad values */
    write_job("e4.ini", "svm", NULL);
    expect_error("e4.ini", "method = 'svm'", "rules, rf or maxlik");
    write_job("e5.ini", "rf", "trees = 0");
    expect_error("e5.ini", "trees = 0", "1 to 10000");
    write_job("e6.ini", "rf", "test_share = 1.5");
    expect_error("e6.ini", "test_share = 1.5", NULL);
    write_job("e7.ini", "rf", "features = all");
    expect_error("e7.ini", "features = 'all'", "season");
    write_job("e8.ini", "rf", "samples = nowhere.gpkg");
    expect_error("e8.ini", "samples", "field");
    write_job("e9.ini", "rules", "model = foo.model");
    expect_error("e9.ini", "method = rules does not use it", NULL);
    write_job("e10.ini", "rf", "tress = 10");
    expect_error("e10.ini", "'tress'", "trees");
    /* the earlier outputs are untouched */
    assert_int_equal(e2e_sh("cd / && sha256sum -c --quiet '%s/sum'", dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oa_and_cloud),
        cmocka_unit_test(test_accuracy_csv),
        cmocka_unit_test(test_confidence),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_sample_layer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
