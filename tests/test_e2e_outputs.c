/* test_e2e_outputs.c: every kind of raster the program writes (land cover of `sinkmap run`,
 * the carbon maps of `sinkmap pools`, the map and confidence of `sinkmap classify`) read back:
 * band description, unit, nodata, and statistics equal to the ones recomputed here from every
 * pixel; the Cloud-Optimized GeoTIFF layout read with libtiff and checked by GDAL's validator. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gdal.h>
#include <tiffio.h>

#include "e2e_util.h"

#define DEMO SM_SOURCE_DIR "/examples/nanchong-demo"

static char tmp[256];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    if (!e2e_tmpdir(tmp, sizeof tmp, "outputs"))
        return -1;
    GDALAllRegister();
    TIFFSetWarningHandler(NULL); /* GeoTIFF's tags are unknown to bare libtiff */
    char err[8192], p[600];
    /* the demo job, into tmp/run, no ledger */
    snprintf(p, sizeof p, "%s/job.ini", tmp);
    if (e2e_sh("sed -e 's#= \\.\\./\\.\\./#= %s/#' -e 's#^path = xiaoban.shp#path = %s/xiaoban.shp#' "
               "-e '/^output/d' '%s/job.ini' > '%s' && printf '\\n[ledger]\\npath = none\\n[output]\\nmaps = no\\nreport = no\\n' >> '%s'",
               SM_SOURCE_DIR, DEMO, DEMO, p, p) != 0)
        return -1;
    if (e2e_run(err, sizeof err, "run '%s' -o '%s/run' --quiet", p, tmp) != 0) {
        fprintf(stderr, "%s", err);
        return -1;
    }
    /* carbon maps of two of its land covers (a small pools table, one row per legend code) */
    snprintf(p, sizeof p, "%s/pools.csv", tmp);
    write_text(p, "name,lucode,c_above,c_below,c_soil,c_dead\n"
                  "forest,1,100,20,50,5.5\nbamboo,2,5,10,40,0\nshrub,3,2.25,1,30,0\ngrass,4,0,0,0,0\n"
                  "wetland,5,6,0,50,0\nwater,6,0,0,0,0\ncrop,7,1,1,1,1\nbuilt,8,0,0,0,0\n"
                  "bare,9,0,0,0,0\nunclassified,10,0,0,0,0\ncloud,11,0,0,0,0\n");
    if (e2e_run(err, sizeof err, "pools '%s/run/landcover_2023a.tif' '%s' --alt '%s/run/landcover_2024a.tif' -o '%s/pools'",
                tmp, p, tmp, tmp) != 0) {
        fprintf(stderr, "%s", err);
        return -1;
    }
    /* a supervised map and its confidence, trained on the inventory's land classes */
    if (e2e_run(err, sizeof err,
                "classify '%s/rasters/s2_2024a_10m.tif' --train '%s/xiaoban.shp' --field DI_LEI "
                "--max-per-class 30 --trees 5 --min-samples 1 -o '%s/cls.tif' --confidence '%s/conf.tif'",
                SM_SOURCE_DIR, DEMO, tmp, tmp) != 0) {
        fprintf(stderr, "%s", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return e2e_sh("rm -rf '%s'", tmp);
}

static double meta(GDALRasterBandH b, const char *key)
{
    const char *v = GDALGetMetadataItem(b, key, NULL);
    if (!v)
        fail_msg("no %s", key);
    return strtod(v, NULL);
}

static void close_to(const char *path, const char *what, double got, double want)
{
    if (!(fabs(got - want) <= 1e-10 * fmax(1.0, fabs(want)))) {
        print_error("%s: %s = %.17g, recomputed from the pixels %.17g\n", path, what, got, want);
        fail();
    }
}

/* Checks one output. unit NULL: not checked (see the confidence case). */
static void check_output(const char *name, const char *description, const char *unit, int has_overviews)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", tmp, name);

    /* libtiff, independently of GDAL: 512 tiles, DEFLATE, overview directories. */
    TIFF *t = TIFFOpen(path, "r");
    assert_non_null(t);
    uint32_t tw = 0, th = 0;
    uint16_t comp = 0;
    assert_true(TIFFIsTiled(t));
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    TIFFGetField(t, TIFFTAG_COMPRESSION, &comp);
    assert_int_equal(tw, 512);
    assert_int_equal(th, 512);
    assert_true(comp == COMPRESSION_ADOBE_DEFLATE || comp == COMPRESSION_DEFLATE);
    int overviews = 0;
    while (TIFFReadDirectory(t)) {
        uint32_t sub = 0;
        TIFFGetField(t, TIFFTAG_SUBFILETYPE, &sub);
        overviews += (sub & FILETYPE_REDUCEDIMAGE) != 0;
        assert_true(TIFFIsTiled(t));
    }
    TIFFClose(t);
    if (has_overviews)
        assert_true(overviews >= 1);

    /* GDAL's validator, when python3-gdal is installed. */
    const char *validator = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py";
    if (e2e_exists(validator)) {
        if (e2e_sh("/usr/bin/python3 %s -q '%s'", validator, path) != 0)
            fail_msg("%s: not a valid Cloud-Optimized GeoTIFF", path);
    }

    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    assert_non_null(ds);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    if (strcmp(GDALGetDescription(b), description) != 0)
        fail_msg("%s: description '%s', expected '%s'", path, GDALGetDescription(b), description);
    if (unit && strcmp(GDALGetRasterUnitType(b), unit) != 0)
        fail_msg("%s: unit '%s', expected '%s'", path, GDALGetRasterUnitType(b), unit);
    int has_nd = 0;
    double nd = GDALGetRasterNoDataValue(b, &has_nd);
    assert_true(has_nd);
    assert_null(GDALGetMetadataItem(b, "STATISTICS_APPROXIMATE", NULL));

    /* The oracle: every pixel, nodata and NaN left out, in double; population stdev. */
    int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    double *row = malloc(sizeof(double) * (size_t)w);
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    size_t n = 0;
    for (int y = 0; y < h; y++) {
        assert_int_equal(GDALRasterIO(b, GF_Read, 0, y, w, 1, row, w, 1, GDT_Float64, 0, 0), CE_None);
        for (int x = 0; x < w; x++) {
            double v = row[x];
            if (isnan(v) || v == nd)
                continue;
            mn = fmin(mn, v);
            mx = fmax(mx, v);
            sum += v;
            n++;
        }
    }
    assert_true(n > 0);
    double mean = sum / (double)n, ss = 0;
    for (int y = 0; y < h; y++) {
        assert_int_equal(GDALRasterIO(b, GF_Read, 0, y, w, 1, row, w, 1, GDT_Float64, 0, 0), CE_None);
        for (int x = 0; x < w; x++)
            if (!isnan(row[x]) && row[x] != nd)
                ss += (row[x] - mean) * (row[x] - mean);
    }
    free(row);
    close_to(path, "STATISTICS_MINIMUM", meta(b, "STATISTICS_MINIMUM"), mn);
    close_to(path, "STATISTICS_MAXIMUM", meta(b, "STATISTICS_MAXIMUM"), mx);
    close_to(path, "STATISTICS_MEAN", meta(b, "STATISTICS_MEAN"), mean);
    close_to(path, "STATISTICS_STDDEV", meta(b, "STATISTICS_STDDEV"), sqrt(ss / (double)n));
    /* GDAL writes the valid percent with 4 significant digits. */
    double vp = 100.0 * (double)n / ((double)w * (double)h);
    if (!(fabs(meta(b, "STATISTICS_VALID_PERCENT") - vp) <= 0.005 * fmax(1.0, vp / 100)))
        fail_msg("%s: STATISTICS_VALID_PERCENT %g, recomputed %.6f", path, meta(b, "STATISTICS_VALID_PERCENT"), vp);
    GDALClose(ds);
}

static void test_landcover(void **state)
{
    (void)state;
    check_output("run/landcover_2023a.tif", "land cover (sinkmap legend)", "class", 1);
    check_output("run/landcover_2024s.tif", "land cover (sinkmap legend)", "class", 1);
}

static void test_pools(void **state)
{
    (void)state;
    check_output("pools/c_storage_bas.tif", "carbon storage, baseline: c_above + c_below + c_soil + c_dead", "t C/ha", 1);
    check_output("pools/c_storage_alt.tif", "carbon storage, alternate: c_above + c_below + c_soil + c_dead", "t C/ha", 1);
    check_output("pools/c_change_bas_alt.tif", "carbon storage change, alternate - baseline", "t C/ha", 1);
}

static void test_classify(void **state)
{
    (void)state;
    check_output("cls.tif", "land cover (random forest)", "class", 1);
    check_output("conf.tif", "confidence: share of the trees' votes for the class", "share", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_landcover),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_classify),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
