/* test_pools.c: `sinkmap pools` on a 4 × 3 LULC of 10 m pixels made here with GDAL: every output
 * pixel and every total against values worked out by hand, the lenient pools table, all missing
 * lucodes listed, grid and CRS checks, and an output folder left untouched by every failure. */
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
#include <ogr_srs_api.h>

#include "e2e_util.h"
#include "sinkmap/pools.h"
#include "sinkmap/table.h"

#define NC 4
#define NR 3
#define ND 255 /* the LULC nodata */

/* Baseline and alternate land cover (row by row, top first). */
static const double BAS[NR][NC] = {{1, 1, 2, 3}, {2, 2, 3, ND}, {1, 3, 3, 5}};
static const double ALT[NR][NC] = {{1, 2, 2, 3}, {3, 2, 1, ND}, {ND, 3, 1, 2}};

/* The table: upper-case headers, columns in another order, extra columns, a code (4) absent
 * from the maps. Storage = c_above + c_below + c_soil + c_dead:
 *   1: 100 + 20 + 50 + 5.5 = 175.5;  2: 5 + 10 + 40 + 0 = 55;  3: 2.25 + 1 + 30 + 0 = 33.25;
 *   4: 0;  5: 6 + 0 + 50 + 0 = 56 */
static const char *const POOLS = "Name,LUCODE,C_Above,c_below,C_SOIL,C_Dead,source\n"
                                 "forest,1,100,20,50,5.5,\"a, quoted source\"\n"
                                 "grass,2,5,10,40,0,\n"
                                 "crop,3,2.25,1,30,0,x\n"
                                 "water,4,0,0,0,0,\n"
                                 "wetland,5,6,0,50,0,\n";

/* Expected storage (t C/ha), −1 = nodata:
 *   bas  175.5 175.5  55    33.25      alt  175.5  55    55     33.25
 *        55    55     33.25 −1              33.25  55    175.5  −1
 *        175.5 33.25  33.25 56              −1     33.25 175.5  55
 * change = alt − bas where both have data:
 *        0     −120.5 0     0
 *        −21.75 0     142.25 −1 (nodata)
 *        −1 (nodata) 0 142.25 −1 (55 − 56: a real change equal to the nodata value)
 * Totals, pixel area 10 m × 10 m = 100 m² = 0.01 ha:
 *   bas: 11 pixels; Σ t/ha = 3·175.5 + 3·55 + 4·33.25 + 1·56 = 526.5 + 165 + 133 + 56 = 880.5
 *        → 880.5 × 100 / 10,000 = 8.805 t C
 *   alt: 10 pixels; Σ = 3·175.5 + 4·55 + 3·33.25 = 526.5 + 220 + 99.75 = 846.25 → 8.4625 t C
 *   change: 10 pixels with data in both; Σ = −120.5 − 21.75 + 142.25 + 142.25 − 1 = 141.25
 *        → 1.4125 t C; one of them (−1) reads as nodata */
static const double S_BAS[NR][NC] = {
    {175.5, 175.5, 55, 33.25}, {55, 55, 33.25, -1}, {175.5, 33.25, 33.25, 56}};
static const double S_ALT[NR][NC] = {
    {175.5, 55, 55, 33.25}, {33.25, 55, 175.5, -1}, {-1, 33.25, 175.5, 55}};
static const double S_CHG[NR][NC] = {
    {0, -120.5, 0, 0}, {-21.75, 0, 142.25, -1}, {-1, 0, 142.25, -1}};

static char dir[256];

static void near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s: expected %.12g, got %.12g (tolerance %g)\n", what, want, got, tol);
        fail();
    }
}

static void has(const char *text, const char *part)
{
    if (!strstr(text, part)) {
        print_error("'%s' lacks '%s'\n", text, part);
        fail();
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Writes a GeoTIFF of NC × NR pixels of `cell` units from (x0, y0) in `epsg`, of type `type`,
 * nodata ND, holding v. */
static void make_raster(const char *path, const double v[NR][NC], int epsg, double cell,
                        GDALDataType type, double x0, double y0)
{
    GDALAllRegister();
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    GDALDatasetH ds = GDALCreate(drv, path, NC, NR, 1, type, NULL);
    assert_non_null(ds);
    double gt[6] = {x0, cell, 0, y0, 0, -cell};
    GDALSetGeoTransform(ds, gt);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, epsg);
    GDALSetSpatialRef(ds, srs);
    OSRDestroySpatialReference(srs);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    GDALSetRasterNoDataValue(b, ND);
    double buf[NR * NC];
    memcpy(buf, v, sizeof buf);
    assert_int_equal(GDALRasterIO(b, GF_Write, 0, 0, NC, NR, buf, NC, NR, GDT_Float64, 0, 0),
                     CE_None);
    GDALClose(ds);
}

/* Checks every pixel of an output against want (−1 = nodata) and its georeferencing. */
static void check_raster(const char *path, const double want[NR][NC])
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        print_error("cannot open %s\n", path);
    assert_non_null(ds);
    assert_int_equal(GDALGetRasterXSize(ds), NC);
    assert_int_equal(GDALGetRasterYSize(ds), NR);
    double gt[6];
    assert_int_equal(GDALGetGeoTransform(ds, gt), CE_None);
    near(gt[0], 500000, 0, "x0");
    near(gt[3], 3400000, 0, "y0");
    near(gt[1], 10, 0, "dx");
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    assert_int_equal(GDALGetRasterDataType(b), GDT_Float32);
    int hasnd = 0;
    double nd = GDALGetRasterNoDataValue(b, &hasnd);
    assert_true(hasnd);
    near(nd, -1, 0, "nodata");
    float px[NR * NC];
    assert_int_equal(GDALRasterIO(b, GF_Read, 0, 0, NC, NR, px, NC, NR, GDT_Float32, 0, 0),
                     CE_None);
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < NC; c++) {
            char what[600];
            snprintf(what, sizeof what, "%s row %d col %d", path, r, c);
            near(px[r * NC + c], want[r][c], 0, what);
        }
    GDALClose(ds);
}

/* The value of a summary.csv cell for (scenario, lucode, column); NaN when absent or empty. */
static double summary(const char *path, const char *scenario, const char *lucode,
                      const char *column)
{
    sm_context *ctx = sm_context_create();
    sm_table *t = NULL;
    double v = NAN;
    size_t col;
    if (sm_table_read(&t, ctx, path) == SM_OK && sm_table_find_col(t, column, &col))
        for (size_t i = 0; i < sm_table_rows(t); i++)
            if (strcmp(sm_table_cell(t, i, 0), scenario) == 0 &&
                strcmp(sm_table_cell(t, i, 1), lucode) == 0 && sm_table_cell(t, i, col)[0])
                sm_parse_double(sm_table_cell(t, i, col), &v);
    sm_table_destroy(t);
    sm_context_destroy(ctx);
    return v;
}

static int setup(void **state)
{
    (void)state;
    if (!e2e_tmpdir(dir, sizeof dir, "pools"))
        return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/bas.tif", dir);
    make_raster(p, BAS, 32648, 10, GDT_Byte, 500000, 3400000);
    snprintf(p, sizeof p, "%s/alt.tif", dir);
    make_raster(p, ALT, 32648, 10, GDT_Byte, 500000, 3400000);
    snprintf(p, sizeof p, "%s/pools.csv", dir);
    write_file(p, POOLS);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    e2e_sh("rm -rf '%s'", dir);
    return 0;
}

static void test_table(void **state)
{
    (void)state;
    char p[512];
    sm_context *ctx = sm_context_create();
    sm_pools_table *t = NULL;
    snprintf(p, sizeof p, "%s/pools.csv", dir);
    assert_int_equal(sm_pools_table_read(&t, ctx, p), SM_OK);
    assert_int_equal(sm_pools_table_count(t), 5);
    double s = 0;
    assert_true(sm_pools_table_storage(t, 1, &s));
    near(s, 175.5, 0, "storage 1");
    assert_true(sm_pools_table_storage(t, 3, &s));
    near(s, 33.25, 0, "storage 3");
    assert_false(sm_pools_table_storage(t, 7, &s));
    sm_pools_table_destroy(t);

    snprintf(p, sizeof p, "%s/bad_pools.csv", dir);
    write_file(p, "lucode,c_above,c_below,c_soil,c_dead\n1,1,2,3,4\n2,1,-2,3,4\n");
    assert_int_equal(sm_pools_table_read(&t, ctx, p), SM_ERR_INPUT);
    has(sm_context_message(ctx), "bad_pools.csv:3: column 'c_below': -2 is negative");
    assert_null(t);
    write_file(p, "lucode,c_above,c_below,c_soil,c_dead\n1,1,2,3,4\n2,1,2,3,4\n1,0,0,0,0\n");
    assert_int_equal(sm_pools_table_read(&t, ctx, p), SM_ERR_INPUT);
    has(sm_context_message(ctx), "bad_pools.csv:4: lucode 1 is already on line 2");
    write_file(p, "lucode,c_above,c_below,c_soil\n1,1,2,3\n");
    assert_int_equal(sm_pools_table_read(&t, ctx, p), SM_ERR_INPUT);
    has(sm_context_message(ctx), "c_dead");
    write_file(p, "lucode,c_above,c_below,c_soil,c_dead\n1,1,,3,4\n");
    assert_int_equal(sm_pools_table_read(&t, ctx, p), SM_ERR_INPUT);
    has(sm_context_message(ctx), "bad_pools.csv:2");
    write_file(p, "lucode,c_above,c_below,c_soil,c_dead\n1.5,1,2,3,4\n");
    assert_int_equal(sm_pools_table_read(&t, ctx, p), SM_ERR_INPUT);
    has(sm_context_message(ctx), "'1.5' is not an integer");
    sm_context_destroy(ctx);
}

static void test_maps_and_totals(void **state)
{
    (void)state;
    char err[4096], p[1024], out[512];
    snprintf(out, sizeof out, "%s/out", dir);
    int rc =
        e2e_run(err, sizeof err, "pools '%s/bas.tif' '%s/pools.csv' --alt '%s/alt.tif' -o '%s'",
                dir, dir, dir, out);
    if (rc != 0)
        print_error("stderr: %s\n", err);
    assert_int_equal(rc, 0);
    /* the change of exactly −1 is reported */
    has(err, "1 pixel has a change of exactly -1");
    snprintf(p, sizeof p, "%s/c_storage_bas.tif", out);
    check_raster(p, S_BAS);
    snprintf(p, sizeof p, "%s/c_storage_alt.tif", out);
    check_raster(p, S_ALT);
    snprintf(p, sizeof p, "%s/c_change_bas_alt.tif", out);
    check_raster(p, S_CHG);

    snprintf(p, sizeof p, "%s/summary.csv", out);
    near(summary(p, "bas", "all", "c_total_t"), 8.805, 1e-12, "bas total");
    near(summary(p, "alt", "all", "c_total_t"), 8.4625, 1e-12, "alt total");
    near(summary(p, "change", "all", "c_total_t"), 1.4125, 1e-12, "change total");
    near(summary(p, "bas", "all", "pixels"), 11, 0, "bas pixels");
    near(summary(p, "bas", "all", "area_ha"), 0.11, 1e-15, "bas ha");
    near(summary(p, "bas", "all", "area_mu"), 1.65, 1e-12, "bas mu");
    near(summary(p, "alt", "all", "pixels"), 10, 0, "alt pixels");
    near(summary(p, "change", "all", "pixels"), 10, 0, "change pixels");
    near(summary(p, "change", "minus_one", "pixels"), 1, 0, "ambiguous -1 pixels");
    near(summary(p, "bas", "nodata", "pixels"), 1, 0, "bas nodata");
    near(summary(p, "alt", "nodata", "pixels"), 2, 0, "alt nodata");
    /* per lucode: area and t C = pixels × storage × 0.01 ha */
    near(summary(p, "bas", "1", "pixels"), 3, 0, "bas 1");
    near(summary(p, "bas", "1", "area_ha"), 0.03, 1e-15, "bas 1 ha");
    near(summary(p, "bas", "1", "c_storage_t_ha"), 175.5, 0, "bas 1 t/ha");
    near(summary(p, "bas", "1", "c_total_t"), 5.265, 1e-12, "bas 1 t");
    near(summary(p, "bas", "3", "c_total_t"), 1.33, 1e-12, "bas 3 t");
    near(summary(p, "bas", "5", "c_total_t"), 0.56, 1e-12, "bas 5 t");
    near(summary(p, "alt", "2", "pixels"), 4, 0, "alt 2");
    near(summary(p, "alt", "2", "c_total_t"), 2.2, 1e-12, "alt 2 t");
    /* a lucode in either map has a row in both scenarios; one in neither (4) has none */
    near(summary(p, "alt", "5", "pixels"), 0, 0, "alt 5");
    assert_true(isnan(summary(p, "bas", "4", "pixels")));
    /* no staging folder left beside the output */
    assert_int_equal(e2e_sh("ls -a '%s' | grep -q sinkmap-", dir), 1);
    assert_int_equal(e2e_sh("ls '%s' | grep -q part", out), 1);

    /* without --alt: only the baseline; a rerun replaces the folder (stale alt outputs go) */
    rc = e2e_run(err, sizeof err, "pools '%s/bas.tif' '%s/pools.csv' -o '%s/'", dir, dir, out);
    assert_int_equal(rc, 0);
    snprintf(p, sizeof p, "%s/c_storage_bas.tif", out);
    check_raster(p, S_BAS);
    snprintf(p, sizeof p, "%s/c_storage_alt.tif", out);
    assert_false(e2e_exists(p));
    snprintf(p, sizeof p, "%s/summary.csv", out);
    near(summary(p, "bas", "all", "c_total_t"), 8.805, 1e-12, "bas total (no alt)");
    assert_true(isnan(summary(p, "change", "all", "c_total_t")));
    /* the library gives the same totals */
    sm_context *ctx = sm_context_create();
    sm_pools_options opt = SM_POOLS_OPTIONS_INIT;
    char b[512], t[512], a[512];
    snprintf(b, sizeof b, "%s/bas.tif", dir);
    snprintf(t, sizeof t, "%s/pools.csv", dir);
    snprintf(a, sizeof a, "%s/alt.tif", dir);
    opt.alt = a;
    sm_pools_totals tot;
    sm_context_set_log(ctx, NULL, NULL);
    snprintf(p, sizeof p, "%s/out_lib", dir);
    assert_int_equal(sm_pools_run(ctx, b, t, &opt, p, &tot), SM_OK);
    near(tot.pixel_area_m2, 100, 1e-9, "pixel area");
    near(tot.bas_t, 8.805, 1e-12, "bas");
    near(tot.alt_t, 8.4625, 1e-12, "alt");
    near(tot.change_t, 1.4125, 1e-12, "change");
    near(tot.change_minus_one, 1, 0, "minus one");
    assert_int_equal(sm_context_warning_count(ctx), 1);
    sm_context_destroy(ctx);
}

/* Runs a failing command: exit 2, every part in the one-line message, the previous output
 * folder exactly as it was and no staging folder left. */
static void expect_fail(const char *args, const char *const *parts)
{
    char err[4096], out[512], p[600];
    snprintf(out, sizeof out, "%s/keep", dir);
    e2e_sh("rm -rf '%s' && mkdir -p '%s' && printf 'old\\n' > '%s/summary.csv'", out, out, out);
    int rc = e2e_run(err, sizeof err, "%s -o '%s'", args, out);
    if (rc != 2)
        print_error("stderr: %s\n", err);
    assert_int_equal(rc, 2);
    assert_int_equal(e2e_lines(err), 1);
    for (size_t i = 0; parts[i]; i++)
        has(err, parts[i]);
    snprintf(p, sizeof p, "%s/summary.csv", out);
    char *s = e2e_read_all(p);
    assert_non_null(s);
    assert_string_equal(s, "old\n");
    free(s);
    assert_int_equal(e2e_sh("test $(ls -A '%s' | wc -l) -eq 1", out), 0);
    assert_int_equal(e2e_sh("ls -a '%s' | grep -q sinkmap-", dir), 1);
}

static void test_failures(void **state)
{
    (void)state;
    char args[2048], p[1024];
    /* every missing lucode is listed, with the map it is in */
    snprintf(p, sizeof p, "%s/partial.csv", dir);
    write_file(p, "lucode,c_above,c_below,c_soil,c_dead\n1,1,1,1,1\n2,1,1,1,1\n");
    snprintf(args, sizeof args, "pools '%s/bas.tif' '%s' --alt '%s/alt.tif'", dir, p, dir);
    expect_fail(args, (const char *const[]){"partial.csv: no row for 2 lucodes", "3 (in both maps)",
                                            "5 (in ", "bas.tif)", NULL});
    snprintf(args, sizeof args, "pools '%s/bas.tif' '%s'", dir, p);
    expect_fail(args, (const char *const[]){"no row for 2 lucodes", ": 3, 5;", NULL});
    /* alt on another grid, or another CRS */
    static const double one[NR][NC] = {{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}};
    snprintf(p, sizeof p, "%s/shifted.tif", dir);
    make_raster(p, one, 32648, 10, GDT_Byte, 500005, 3400000);
    snprintf(args, sizeof args, "pools '%s/bas.tif' '%s/pools.csv' --alt '%s'", dir, dir, p);
    expect_fail(args, (const char *const[]){"shifted.tif: not on the grid of", NULL});
    snprintf(p, sizeof p, "%s/crs.tif", dir);
    make_raster(p, one, 32649, 10, GDT_Byte, 500000, 3400000);
    snprintf(args, sizeof args, "pools '%s/bas.tif' '%s/pools.csv' --alt '%s'", dir, dir, p);
    expect_fail(args, (const char *const[]){"crs.tif: not on the grid", "another CRS", NULL});
    /* a geographic CRS has no pixel area in m² */
    snprintf(p, sizeof p, "%s/geo.tif", dir);
    make_raster(p, one, 4490, 0.0001, GDT_Byte, 105, 30);
    snprintf(args, sizeof args, "pools '%s' '%s/pools.csv'", p, dir);
    expect_fail(args, (const char *const[]){"geo.tif", "not projected", NULL});
    /* a pixel that is not a whole lucode */
    static const double frac[NR][NC] = {{1, 1, 1, 1}, {1, 1, 2.5, 1}, {1, 1, 1, 1}};
    snprintf(p, sizeof p, "%s/float.tif", dir);
    make_raster(p, frac, 32648, 10, GDT_Float32, 500000, 3400000);
    snprintf(args, sizeof args, "pools '%s' '%s/pools.csv'", p, dir);
    expect_fail(args, (const char *const[]){"float.tif", "column 2, row 1", "2.5", NULL});
    /* bad table, missing inputs, usage */
    snprintf(p, sizeof p, "%s/neg.csv", dir);
    write_file(p, "lucode,c_above,c_below,c_soil,c_dead\n1,1,1,-1,1\n");
    snprintf(args, sizeof args, "pools '%s/bas.tif' '%s'", dir, p);
    expect_fail(args, (const char *const[]){"neg.csv:2", "c_soil", NULL});
    snprintf(args, sizeof args, "pools '%s/nothere.tif' '%s/pools.csv'", dir, dir);
    expect_fail(args, (const char *const[]){"nothere.tif", NULL});
    snprintf(args, sizeof args, "pools '%s/bas.tif' '%s/nothere.csv'", dir, dir);
    expect_fail(args, (const char *const[]){"nothere.csv", NULL});
    snprintf(args, sizeof args, "pools '%s/bas.tif' '%s/pools.csv' --bogus", dir, dir);
    expect_fail(args, (const char *const[]){"--bogus", NULL});

    /* an existing folder holding other files is refused, not replaced */
    char err[4096], out[512];
    snprintf(out, sizeof out, "%s/mine", dir);
    e2e_sh("mkdir -p '%s' && printf 'notes\\n' > '%s/notes.txt'", out, out);
    int rc = e2e_run(err, sizeof err, "pools '%s/bas.tif' '%s/pools.csv' -o '%s'", dir, dir, out);
    assert_int_equal(rc, 2);
    has(err, "'notes.txt'");
    snprintf(p, sizeof p, "%s/notes.txt", out);
    assert_true(e2e_exists(p));
    snprintf(p, sizeof p, "%s/c_storage_bas.tif", out);
    assert_false(e2e_exists(p));
    /* --help */
    assert_int_equal(e2e_run(err, sizeof err, "pools --help"), 0);
    assert_int_equal(e2e_run(err, sizeof err, "pools"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_maps_and_totals),
        cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
