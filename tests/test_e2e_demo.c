/* test_e2e_demo.c: `sinkmap run` on the shipped demo, compared with the generator's truth.
 * Land-cover accuracy against the painted truth raster, per-parcel forest fractions against
 * the true fractions, total carbon against the true volumes with the same parameter tables,
 * the parcel layer's attributes against the input Shapefile, and 1 vs 2 threads. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_api.h>

#include "e2e_util.h"
#include "sinkmap/table.h"

#define DEMO SM_SOURCE_DIR "/examples/nanchong-demo"

static char tmp[256], out1[300], out2[300];

static int setup(void **state)
{
    (void)state;
    GDALAllRegister();
    if (!e2e_tmpdir(tmp, sizeof tmp, "demo"))
        return -1;
    snprintf(out1, sizeof out1, "%s/out1", tmp);
    snprintf(out2, sizeof out2, "%s/out2", tmp);
    char err[8192];
    int rc = e2e_run(err, sizeof err, "run '%s/job.ini' -o '%s' --threads 2 --quiet", DEMO, out1);
    if (rc != 0) {
        fprintf(stderr, "demo run failed (%d): %s\n", rc, err);
        return -1;
    }
    rc = e2e_run(err, sizeof err, "run '%s/job.ini' -o '%s' --threads 1 --quiet", DEMO, out2);
    if (rc != 0) {
        fprintf(stderr, "demo run (1 thread) failed (%d): %s\n", rc, err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return e2e_sh("rm -rf '%s'", tmp);
}

static sm_table *read_table(const char *path)
{
    sm_context *ctx = sm_context_create();
    sm_table *t = NULL;
    if (sm_table_read(&t, ctx, path) != SM_OK)
        print_error("%s\n", sm_context_message(ctx));
    sm_context_destroy(ctx);
    assert_non_null(t);
    return t;
}

static size_t col(const sm_table *t, const char *name)
{
    size_t c;
    if (!sm_table_find_col(t, name, &c)) {
        print_error("%s: no column %s\n", sm_table_name(t), name);
        fail();
    }
    return c;
}

static double num(const sm_table *t, size_t row, size_t c)
{
    const char *s = sm_table_cell(t, row, c);
    return s[0] ? strtod(s, NULL) : NAN;
}

static void test_outputs_exist(void **state)
{
    (void)state;
    const char *files[] = {"landcover_2023a.tif", "landcover_2024s.tif", "landcover_2024a.tif",
                           "parcels.gpkg", "parcels.csv", "summary.csv", "indicators.csv", "uncertainty.csv", "changes.gpkg", "transitions.csv", "landcover_2024a.qml", "parcels.qml", "run.json"};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", out1, files[k]);
        if (!e2e_exists(p)) {
            print_error("missing output %s\n", p);
            fail();
        }
    }
}

/* Overall accuracy of the 2024 autumn land cover against the painted truth. */
static void test_landcover_accuracy(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/landcover_2024a.tif", out1);
    GDALDatasetH a = GDALOpen(p, GA_ReadOnly);
    GDALDatasetH t = GDALOpen(DEMO "/truth/landcover_2024a.tif", GA_ReadOnly);
    assert_non_null(a);
    assert_non_null(t);
    int nx = GDALGetRasterXSize(t), ny = GDALGetRasterYSize(t);
    assert_int_equal(GDALGetRasterXSize(a), nx);
    assert_int_equal(GDALGetRasterYSize(a), ny);
    uint8_t *ba = malloc((size_t)nx * ny), *bt = malloc((size_t)nx * ny);
    assert_int_equal(GDALRasterIO(GDALGetRasterBand(a, 1), GF_Read, 0, 0, nx, ny, ba, nx, ny, GDT_Byte, 0, 0), CE_None);
    assert_int_equal(GDALRasterIO(GDALGetRasterBand(t, 1), GF_Read, 0, 0, nx, ny, bt, nx, ny, GDT_Byte, 0, 0), CE_None);
    size_t total = 0, agree = 0, masked = 0;
    for (size_t i = 0; i < (size_t)nx * ny; i++) {
        if (bt[i] < 1 || bt[i] > 9)
            continue;
        if (ba[i] == 0 || ba[i] == 11) {
            masked++;
            continue;
        }
        total++;
        agree += ba[i] == bt[i];
    }
    double oa = (double)agree / (double)total;
    print_message("2024a overall accuracy %.4f over %zu pixels (%zu masked)\n", oa, total, masked);
    assert_true(total > (size_t)nx * ny / 2);
    assert_true(oa >= 0.85);
    /* The class map carries its palette and category names. */
    GDALRasterBandH b = GDALGetRasterBand(a, 1);
    assert_non_null(GDALGetRasterColorTable(b));
    char **names = GDALGetRasterCategoryNames(b);
    assert_non_null(names);
    assert_true(CSLCount(names) >= 12);
    assert_non_null(strstr(names[1], "乔木林"));
    int has_nd = 0;
    assert_true(GDALGetRasterNoDataValue(b, &has_nd) == 0.0 && has_nd);
    /* tiled 512 with overviews (Cloud-Optimized layout) */
    int bx, by;
    GDALGetBlockSize(b, &bx, &by);
    assert_int_equal(bx, 512);
    assert_int_equal(by, 512);
    assert_true(GDALGetOverviewCount(b) >= 1);
    free(ba);
    free(bt);
    GDALClose(a);
    GDALClose(t);
}

/* The demo job classifies with a random forest trained from the inventory: every scene's
 * overall accuracy against the painted truth (observed pixels), the spring scene included
 * (the rules reach 0.53 there), and the per-scene confidence and accuracy outputs. */
static void test_landcover_accuracy_all_scenes(void **state)
{
    (void)state;
    const char *ids[] = {"2023a", "2024s", "2024a"};
    const double min_oa[] = {0.90, 0.85, 0.90};
    for (size_t k = 0; k < 3; k++) {
        char p[512], q[512];
        snprintf(p, sizeof p, "%s/landcover_%s.tif", out1, ids[k]);
        snprintf(q, sizeof q, DEMO "/truth/landcover_%s.tif", ids[k]);
        GDALDatasetH a = GDALOpen(p, GA_ReadOnly), t = GDALOpen(q, GA_ReadOnly);
        assert_non_null(a);
        assert_non_null(t);
        int nx = GDALGetRasterXSize(t), ny = GDALGetRasterYSize(t);
        uint8_t *ba = malloc((size_t)nx * ny), *bt = malloc((size_t)nx * ny);
        assert_int_equal(GDALRasterIO(GDALGetRasterBand(a, 1), GF_Read, 0, 0, nx, ny, ba, nx, ny, GDT_Byte, 0, 0), CE_None);
        assert_int_equal(GDALRasterIO(GDALGetRasterBand(t, 1), GF_Read, 0, 0, nx, ny, bt, nx, ny, GDT_Byte, 0, 0), CE_None);
        size_t total = 0, agree = 0;
        for (size_t i = 0; i < (size_t)nx * ny; i++) {
            if (bt[i] < 1 || bt[i] > 9 || ba[i] == 0 || ba[i] == 11)
                continue;
            total++;
            agree += ba[i] == bt[i];
        }
        double oa = (double)agree / (double)total;
        print_message("%s overall accuracy %.4f over %zu pixels\n", ids[k], oa, total);
        assert_true(total > (size_t)nx * ny * 9 / 10);
        assert_true(oa >= min_oa[k]);
        free(ba);
        free(bt);
        GDALClose(a);
        GDALClose(t);
        snprintf(p, sizeof p, "%s/confidence_%s.tif", out1, ids[k]);
        assert_true(e2e_exists(p));
        snprintf(p, sizeof p, "%s/accuracy_%s.csv", out1, ids[k]);
        assert_true(e2e_exists(p));
    }
}

/* Forest fraction per parcel against the true fraction (well observed parcels). */
static void test_forest_fraction(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/parcels.csv", out1);
    sm_table *r = read_table(p), *t = read_table(DEMO "/truth/parcels_truth.csv");
    assert_int_equal(sm_table_rows(r), sm_table_rows(t));
    const char *ids[] = {"2023a", "2024a"};
    for (size_t k = 0; k < 2; k++) {
        char a[32], b[32], o[32];
        snprintf(a, sizeof a, "ff_%s", ids[k]);
        snprintf(b, sizeof b, "forest_frac_%s", ids[k]);
        snprintf(o, sizeof o, "obs_%s", ids[k]);
        size_t ca = col(r, a), cb = col(t, b), co = col(r, o), ci = col(t, "inside_share");
        size_t cfr = col(r, "fid"), cft = col(t, "fid");
        double sum = 0;
        size_t n = 0;
        for (size_t i = 0; i < sm_table_rows(r); i++) {
            assert_string_equal(sm_table_cell(r, i, cfr), sm_table_cell(t, i, cft));
            double ours = num(r, i, ca), truth = num(t, i, cb);
            if (!(num(r, i, co) >= 0.5) || !(num(t, i, ci) >= 0.5) || isnan(ours) || isnan(truth))
                continue;
            sum += fabs(ours - truth);
            n++;
        }
        double mae = sum / (double)n;
        print_message("forest fraction %s: MAE %.4f over %zu parcels\n", ids[k], mae, n);
        assert_true(n > sm_table_rows(r) * 9 / 10);
        assert_true(mae <= 0.05);
    }
    sm_table_destroy(r);
    sm_table_destroy(t);
}

/* Total stand carbon against the truth: the true volumes times the same factors. */
static void test_total_carbon(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/parcels.csv", out1);
    sm_table *r = read_table(p), *t = read_table(DEMO "/truth/parcels_truth.csv");
    sm_table *g = read_table(SM_SOURCE_DIR "/data/species_groups.csv");
    const char *ids[] = {"2023a", "2024s", "2024a"};
    for (size_t k = 0; k < 3; k++) {
        char vc[32], cc[32];
        snprintf(vc, sizeof vc, "vol_%s", ids[k]);
        snprintf(cc, sizeof cc, "c_%s", ids[k]);
        double truth = 0, ours = 0;
        for (size_t i = 0; i < sm_table_rows(t); i++) {
            const char *grp = sm_table_cell(t, i, col(t, "group"));
            double v = num(t, i, col(t, vc));
            if (!grp[0] || !(v > 0))
                continue;
            size_t row;
            for (row = 0; row < sm_table_rows(g); row++)
                if (strcmp(sm_table_cell(g, row, col(g, "group")), grp) == 0)
                    break;
            assert_true(row < sm_table_rows(g));
            /* C = V · SVD · BEF · (1 + R) · CF × area (DOMAIN.md §4) */
            double f = num(g, row, col(g, "svd_t_m3")) * num(g, row, col(g, "bef")) *
                       (1 + num(g, row, col(g, "r"))) * num(g, row, col(g, "cf"));
            truth += v * f * num(t, i, col(t, "area_ha"));
        }
        for (size_t i = 0; i < sm_table_rows(r); i++) {
            double c = num(r, i, col(r, cc));
            if (!isnan(c))
                ours += c;
        }
        double rel = fabs(ours - truth) / truth;
        print_message("total carbon %s: sinkmap %.1f t C, truth %.1f t C, relative error %.4f\n", ids[k],
                      ours, truth, rel);
        assert_true(truth > 1000);
        assert_true(rel <= 0.01);
    }
    sm_table_destroy(r);
    sm_table_destroy(t);
    sm_table_destroy(g);
}

/* The parcel layer carries every input attribute unchanged, and short result field names. */
static void test_parcel_layer(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/parcels.gpkg", out1);
    GDALDatasetH src = GDALOpenEx(DEMO "/xiaoban.shp", GDAL_OF_VECTOR, NULL, NULL, NULL);
    GDALDatasetH dst = GDALOpenEx(p, GDAL_OF_VECTOR, NULL, NULL, NULL);
    assert_non_null(src);
    assert_non_null(dst);
    OGRLayerH sl = GDALDatasetGetLayer(src, 0), dl = GDALDatasetGetLayerByName(dst, OGR_L_GetName(sl));
    assert_non_null(dl);
    assert_int_equal(OGR_L_GetFeatureCount(sl, TRUE), OGR_L_GetFeatureCount(dl, TRUE));
    OGRFeatureDefnH sd = OGR_L_GetLayerDefn(sl), dd = OGR_L_GetLayerDefn(dl);
    int ns = OGR_FD_GetFieldCount(sd);
    for (int k = 0; k < OGR_FD_GetFieldCount(dd); k++)
        assert_true(strlen(OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(dd, k))) <= 10);
    OGRFeatureH a, b;
    size_t n = 0, chinese = 0;
    OGR_L_ResetReading(sl);
    OGR_L_ResetReading(dl);
    while ((a = OGR_L_GetNextFeature(sl)) != NULL) {
        b = OGR_L_GetNextFeature(dl);
        assert_non_null(b);
        for (int k = 0; k < ns; k++) {
            const char *name = OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(sd, k));
            int kb = OGR_FD_GetFieldIndex(dd, name);
            assert_true(kb >= 0);
            /* the same value: text exactly, numbers as numbers (formats differ by driver) */
            OGRFieldType ft = OGR_Fld_GetType(OGR_FD_GetFieldDefn(sd, k));
            assert_int_equal(OGR_F_IsFieldSetAndNotNull(a, k), OGR_F_IsFieldSetAndNotNull(b, kb));
            if (ft == OFTReal)
                assert_true(OGR_F_GetFieldAsDouble(a, k) == OGR_F_GetFieldAsDouble(b, kb));
            else if (ft == OFTInteger || ft == OFTInteger64)
                assert_true(OGR_F_GetFieldAsInteger64(a, k) == OGR_F_GetFieldAsInteger64(b, kb));
            else
                assert_string_equal(OGR_F_GetFieldAsString(a, k), OGR_F_GetFieldAsString(b, kb));
            if (strcmp(name, "XIANG") == 0 && strstr(OGR_F_GetFieldAsString(b, kb), "街道"))
                chinese++;
        }
        OGRGeometryH ga = OGR_G_ForceToMultiPolygon(OGR_G_Clone(OGR_F_GetGeometryRef(a)));
        char *wa = NULL, *wb = NULL;
        OGR_G_ExportToWkt(ga, &wa);
        OGR_G_ExportToWkt(OGR_F_GetGeometryRef(b), &wb);
        assert_string_equal(wa, wb);
        CPLFree(wa);
        CPLFree(wb);
        OGR_G_DestroyGeometry(ga);
        OGR_F_Destroy(a);
        OGR_F_Destroy(b);
        n++;
    }
    assert_true(n >= 500 && n <= 1500);
    assert_true(chinese > 0); /* GBK names came through as UTF-8 */
    assert_non_null(GDALDatasetGetLayerByName(dst, "sinkmap_fields"));
    GDALClose(src);
    GDALClose(dst);
}

/* run.json records the job's SHA-256 as sha256sum computes it. */
static void test_run_json(void **state)
{
    (void)state;
    char cmd[1024], hex[80] = "";
    snprintf(cmd, sizeof cmd, "sha256sum '%s/job.ini'", DEMO);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%64s", hex), 1);
    pclose(f);
    char p[512];
    snprintf(p, sizeof p, "%s/run.json", out1);
    f = fopen(p, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 20);
    size_t got = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    assert_true(got > 0);
    assert_non_null(strstr(buf, hex));
    assert_non_null(strstr(buf, "\"version\": \"0.1.0\""));
    assert_non_null(strstr(buf, "s2_2024a_10m.tif"));
    /* the layers the indicators come from are inputs too, each with sha256sum's digest */
    const char *layers[][2] = {{"wetland protected", "protected.geojson"}, {"management", "management.geojson"}};
    for (size_t k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "sha256sum '%s/%s'", DEMO, layers[k][1]);
        f = popen(cmd, "r");
        assert_non_null(f);
        assert_int_equal(fscanf(f, "%64s", hex), 1);
        pclose(f);
        char entry[512];
        snprintf(entry, sizeof entry, "{\"role\": \"%s\", \"path\": ", layers[k][0]);
        const char *at = strstr(buf, entry);
        if (!at)
            fail_msg("run.json: no input entry %s", entry);
        const char *end = strchr(at, '}');
        assert_non_null(end);
        const char *name = strstr(at, layers[k][1]), *h = strstr(at, hex);
        if (!name || name > end || !h || h > end)
            fail_msg("run.json: %s without its SHA-256 %s", layers[k][1], hex);
    }
    free(buf);
    /* the land-cover style: a paletted renderer with every class's colour and names */
    snprintf(p, sizeof p, "%s/landcover_2024a.qml", out1);
    f = fopen(p, "r");
    assert_non_null(f);
    buf = calloc(1, 1 << 16);
    got = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    assert_non_null(strstr(buf, "<rasterrenderer type=\"paletted\""));
    assert_non_null(strstr(buf, "value=\"1\" color=\"#1a7a1a\" alpha=\"255\" label=\"乔木林 tree forest\""));
    assert_non_null(strstr(buf, "label=\"云及云影 cloud or shadow\""));
    free(buf);
}

/* One thread and two threads give byte-identical tables and identical land cover. */
static void test_threads_identical(void **state)
{
    (void)state;
    assert_int_equal(e2e_sh("cmp -s '%s/parcels.csv' '%s/parcels.csv'", out1, out2), 0);
    assert_int_equal(e2e_sh("cmp -s '%s/summary.csv' '%s/summary.csv'", out1, out2), 0);
    assert_int_equal(e2e_sh("cmp -s '%s/landcover_2024s.tif' '%s/landcover_2024s.tif'", out1, out2), 0);
}

/* The run posted one ledger entry per stand; the second, identical run posted nothing. */
static void test_ledger_entries(void **state)
{
    (void)state;
    char p[512], err[4096];
    snprintf(p, sizeof p, "%s/parcels.csv", out1);
    sm_table *r = read_table(p);
    size_t stands = 0, cc = col(r, "c_2024a");
    for (size_t i = 0; i < sm_table_rows(r); i++)
        stands += sm_table_cell(r, i, cc)[0] != '\0';
    sm_table_destroy(r);
    assert_true(stands > 100);
    char expect[128];
    snprintf(expect, sizeof expect, ": %zu entries, chain intact", stands);
    assert_int_equal(e2e_sh("'%s' ledger verify '%s/ledger.sqlite' | grep -q '%s'", SM_CLI, tmp, expect), 0);
    assert_int_equal(e2e_sh("grep -q '\"added\": 0,' '%s/run.json'", out2), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "\"added\": %zu,", stands);
    assert_int_equal(e2e_sh("grep -q '%s' '%s/run.json'", cmd, out1), 0);
    assert_int_equal(e2e_run(err, sizeof err, "ledger export '%s/ledger.sqlite' -o '%s/ledger.csv'", tmp, tmp), 0);
    snprintf(p, sizeof p, "%s/ledger.csv", tmp);
    sm_table *l = read_table(p);
    assert_int_equal(sm_table_rows(l), stands);
    sm_table_destroy(l);
}

/* summary.csv and indicators.csv agree with sums worked out here from parcels.csv. */
static void test_summary_and_indicators(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/parcels.csv", out1);
    sm_table *r = read_table(p);
    snprintf(p, sizeof p, "%s/summary.csv", out1);
    sm_table *sm = read_table(p);
    snprintf(p, sizeof p, "%s/indicators.csv", out1);
    sm_table *ind = read_table(p);
    double area = 0, carbon = 0, sink = 0, f_area = 0, f_obs = 0;
    for (size_t i = 0; i < sm_table_rows(r); i++) {
        double a = num(r, i, col(r, "area_ha")), c = num(r, i, col(r, "c_2024a")), k = num(r, i, col(r, "sink_co2"));
        area += a;
        carbon += isnan(c) ? 0 : c;
        sink += isnan(k) ? 0 : k;
        if (num(r, i, col(r, "obs_2024a")) >= 0.5) {
            f_obs += a;
            f_area += a * num(r, i, col(r, "ff_2024a"));
        }
    }
    /* the total row, and the townships summing to it */
    double town_area = 0, town_carbon = 0;
    int seen_total = 0;
    for (size_t i = 0; i < sm_table_rows(sm); i++) {
        const char *g = sm_table_cell(sm, i, col(sm, "group"));
        if (strcmp(g, "total") == 0) {
            seen_total = 1;
            assert_true(fabs(num(sm, i, col(sm, "area_ha")) - area) < 1e-6 * area);
            assert_true(fabs(num(sm, i, col(sm, "area_mu")) - 15 * area) < 1e-6 * area);
            assert_true(fabs(num(sm, i, col(sm, "carbon_tc_2024a")) - carbon) < 1e-6 * carbon);
            assert_true(fabs(num(sm, i, col(sm, "carbon_tco2e_2024a")) - carbon * 44 / 12) < 1e-6 * carbon);
            assert_true(fabs(num(sm, i, col(sm, "sink_tco2e_per_yr")) - sink) < 1e-6 * fabs(sink) + 1e-9);
        } else if (strcmp(g, "township") == 0) {
            town_area += num(sm, i, col(sm, "area_ha"));
            town_carbon += num(sm, i, col(sm, "carbon_tc_2024a"));
        }
    }
    assert_true(seen_total);
    assert_true(fabs(town_area - area) < 1e-6 * area);
    assert_true(fabs(town_carbon - carbon) < 1e-6 * carbon);
    /* forest coverage: forest share of the observed area in the last scene */
    int found = 0;
    for (size_t i = 0; i < sm_table_rows(ind); i++)
        if (strcmp(sm_table_cell(ind, i, col(ind, "indicator")), "forest_coverage") == 0) {
            found = 1;
            assert_true(fabs(num(ind, i, col(ind, "value")) - 100 * f_area / f_obs) < 1e-9);
            assert_true(num(ind, i, col(ind, "target_2025")) == 41.8);
        }
    assert_true(found);
    sm_table_destroy(r);
    sm_table_destroy(sm);
    sm_table_destroy(ind);
}

/* Wetland parcels: area × the table's rates; CH4 in CO2e with AR5's 28 (the demo's default). */
static void test_wetland(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/parcels.csv", out1);
    sm_table *r = read_table(p), *t = read_table(DEMO "/truth/parcels_truth.csv");
    sm_table *w = read_table(SM_SOURCE_DIR "/data/wetland_rates.csv");
    size_t n = 0;
    for (size_t i = 0; i < sm_table_rows(t); i++) {
        const char *dl = sm_table_cell(t, i, col(t, "DI_LEI"));
        size_t best = SIZE_MAX, best_len = 0;
        for (size_t k = 0; k < sm_table_rows(w); k++) {
            const char *pre = sm_table_cell(w, k, col(w, "code_prefix"));
            if (strlen(pre) > best_len && strncmp(dl, pre, strlen(pre)) == 0) {
                best = k;
                best_len = strlen(pre);
            }
        }
        double ch4 = num(r, i, col(r, "wl_ch4")), ch4e = num(r, i, col(r, "wl_ch4co2")), co2 = num(r, i, col(r, "wl_co2"));
        if (best == SIZE_MAX) {
            assert_true(isnan(ch4) && isnan(co2));
            continue;
        }
        double a = num(r, i, col(r, "area_ha"));
        assert_true(fabs(ch4 - a * num(w, best, col(w, "ch4_kg_ha_yr")) / 1000) < 1e-9 * (1 + ch4));
        assert_true(fabs(ch4e - 28 * ch4) < 1e-9 * (1 + ch4e));
        assert_true(fabs(co2 - a * num(w, best, col(w, "c_rate_t_ha_yr")) * 44 / 12) < 1e-9 * (1 + co2));
        n++;
    }
    print_message("%zu wetland parcels checked\n", n);
    assert_true(n > 0);
    sm_table_destroy(r);
    sm_table_destroy(t);
    sm_table_destroy(w);
}

/* uncertainty.csv: the estimates are the parcels' sums; both approaches bracket them and agree. */
static void test_uncertainty(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/parcels.csv", out1);
    sm_table *r = read_table(p);
    snprintf(p, sizeof p, "%s/uncertainty.csv", out1);
    sm_table *u = read_table(p);
    double stock = 0, sink = 0;
    for (size_t i = 0; i < sm_table_rows(r); i++) {
        double c = num(r, i, col(r, "c_2024a")), k = num(r, i, col(r, "sink_co2"));
        stock += isnan(c) ? 0 : c;
        sink += isnan(k) ? 0 : k;
        double lo = num(r, i, col(r, "sink_mclo")), hi = num(r, i, col(r, "sink_mchi"));
        if (!isnan(k) && k != 0) /* a parcel's interval brackets its estimate */
            assert_true(lo <= k && k <= hi);
    }
    double hw[3] = {0, 0, 0};
    for (size_t i = 0; i < sm_table_rows(u); i++) {
        if (strcmp(sm_table_cell(u, i, col(u, "level")), "total") != 0)
            continue;
        int a = atoi(sm_table_cell(u, i, col(u, "approach")));
        double est = num(u, i, col(u, "sink_tco2e_per_yr")), lo = num(u, i, col(u, "sink_lo95")), hi = num(u, i, col(u, "sink_hi95"));
        assert_true(fabs(num(u, i, col(u, "stock2_tc")) - stock) < 1e-6 * stock);
        assert_true(fabs(est - sink) < 1e-6 * fabs(sink));
        assert_true(lo < est && est < hi);
        hw[a] = (hi - lo) / 2;
    }
    print_message("total sink 95%% half-width: Approach 1 %.1f, Monte Carlo %.1f t CO2e/yr\n", hw[1], hw[2]);
    assert_true(hw[1] > 0 && hw[2] > 0);
    assert_true(fabs(hw[2] / hw[1] - 1) < 0.25);
    sm_table_destroy(r);
    sm_table_destroy(u);
}

/* changes.gpkg lists every parcel the generator clear-cut, ranked, and few others. */
static void test_changes(void **state)
{
    (void)state;
    sm_table *t = read_table(DEMO "/truth/parcels_truth.csv");
    char p[512];
    snprintf(p, sizeof p, "%s/changes.gpkg", out1);
    GDALDatasetH ds = GDALOpenEx(p, GDAL_OF_VECTOR, NULL, NULL, NULL);
    assert_non_null(ds);
    OGRLayerH l = GDALDatasetGetLayer(ds, 0);
    char keys[64][128];
    int nk = 0, ranks[64];
    OGRFeatureH f;
    while ((f = OGR_L_GetNextFeature(l)) != NULL && nk < 64) {
        snprintf(keys[nk], sizeof keys[nk], "%s/%s/%s/%s", OGR_F_GetFieldAsString(f, OGR_F_GetFieldIndex(f, "XIANG")),
                 OGR_F_GetFieldAsString(f, OGR_F_GetFieldIndex(f, "CUN")),
                 OGR_F_GetFieldAsString(f, OGR_F_GetFieldIndex(f, "LIN_BAN")),
                 OGR_F_GetFieldAsString(f, OGR_F_GetFieldIndex(f, "XIAO_BAN")));
        ranks[nk] = OGR_F_GetFieldAsInteger(f, OGR_F_GetFieldIndex(f, "rank"));
        nk++;
        OGR_F_Destroy(f);
    }
    GDALClose(ds);
    int cuts = 0;
    for (size_t i = 0; i < sm_table_rows(t); i++) {
        if (strcmp(sm_table_cell(t, i, col(t, "disturbance")), "clearcut") != 0)
            continue;
        cuts++;
        char key[128];
        snprintf(key, sizeof key, "%s/%s/%s/%s", sm_table_cell(t, i, col(t, "XIANG")), sm_table_cell(t, i, col(t, "CUN")),
                 sm_table_cell(t, i, col(t, "LIN_BAN")), sm_table_cell(t, i, col(t, "XIAO_BAN")));
        int found = 0;
        for (int k = 0; k < nk; k++)
            found |= strcmp(keys[k], key) == 0;
        if (!found) {
            print_error("clear-cut parcel %s is not in changes.gpkg\n", key);
            fail();
        }
    }
    print_message("%d suspected-change parcels for %d clear-cuts\n", nk, cuts);
    assert_true(cuts >= 2);
    assert_true(nk <= cuts + 5);
    for (int k = 0; k < nk; k++) /* ranks are 1..n, each once */
        for (int j = 0; j < k; j++)
            assert_true(ranks[j] != ranks[k] && ranks[k] >= 1 && ranks[k] <= nk);
    sm_table_destroy(t);
}

/* transitions.csv against a count of pixel pairs made here from the two land-cover rasters. */
static void test_transitions(void **state)
{
    (void)state;
    char pa[512], pb[512], pt[512];
    snprintf(pa, sizeof pa, "%s/landcover_2023a.tif", out1);
    snprintf(pb, sizeof pb, "%s/landcover_2024a.tif", out1);
    snprintf(pt, sizeof pt, "%s/transitions.csv", out1);
    GDALDatasetH a = GDALOpen(pa, GA_ReadOnly), b = GDALOpen(pb, GA_ReadOnly);
    int nx = GDALGetRasterXSize(a), ny = GDALGetRasterYSize(a);
    uint8_t *va = malloc((size_t)nx * ny), *vb = malloc((size_t)nx * ny);
    assert_int_equal(GDALRasterIO(GDALGetRasterBand(a, 1), GF_Read, 0, 0, nx, ny, va, nx, ny, GDT_Byte, 0, 0), CE_None);
    assert_int_equal(GDALRasterIO(GDALGetRasterBand(b, 1), GF_Read, 0, 0, nx, ny, vb, nx, ny, GDT_Byte, 0, 0), CE_None);
    static double cnt[12][12];
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < (size_t)nx * ny; i++)
        if (va[i] > 0 && vb[i] > 0 && va[i] < 12 && vb[i] < 12)
            cnt[va[i]][vb[i]] += 1;
    sm_table *t = read_table(pt);
    double listed = 0, total = 0;
    for (size_t i = 0; i < sm_table_rows(t); i++) {
        int x = atoi(sm_table_cell(t, i, col(t, "from_code"))), y = atoi(sm_table_cell(t, i, col(t, "to_code")));
        double px = num(t, i, col(t, "pixels"));
        assert_true(px == cnt[x][y]);
        assert_true(fabs(num(t, i, col(t, "area_ha")) - px * 0.01) < 1e-9 * (1 + px));
        assert_true(fabs(num(t, i, col(t, "area_mu")) - px * 0.15) < 1e-9 * (1 + px));
        listed += px;
    }
    for (int x = 0; x < 12; x++)
        for (int y = 0; y < 12; y++)
            total += cnt[x][y];
    assert_true(listed == total);
    sm_table_destroy(t);
    free(va);
    free(vb);
    GDALClose(a);
    GDALClose(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outputs_exist),     cmocka_unit_test(test_landcover_accuracy),
        cmocka_unit_test(test_landcover_accuracy_all_scenes),
        cmocka_unit_test(test_forest_fraction),   cmocka_unit_test(test_total_carbon),
        cmocka_unit_test(test_parcel_layer),      cmocka_unit_test(test_run_json),
        cmocka_unit_test(test_threads_identical), cmocka_unit_test(test_ledger_entries),
        cmocka_unit_test(test_summary_and_indicators), cmocka_unit_test(test_wetland),
        cmocka_unit_test(test_uncertainty), cmocka_unit_test(test_changes),
        cmocka_unit_test(test_transitions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
