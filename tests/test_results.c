/* test_results.c: the results table's CSV writers. Rows are formatted on several threads when
 * the table is large: the file must be the same bytes as one thread writing every row, every
 * value must read back exactly, and a value that cannot be written must fail the same way
 * whichever chunk it falls in. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "e2e_util.h"
#include "sinkmap/parcels.h"
#include "sinkmap/raster.h"
#include "sinkmap/results.h"
#include "sinkmap/table.h"

/* more chunks of the parallel writer (16384 rows) than it keeps in memory at a time (two per
 * thread): chunks written while later ones are still being formatted */
enum { NROWS = 150000 };

static char tmp[256], gpkg[320];

/* The id of parcel i: plain, with a comma, with quotes, Chinese, with a leading space. */
static void id_of(int i, char *buf, size_t n)
{
    switch (i % 5) {
    case 0: snprintf(buf, n, "XB-%d", i); break;
    case 1: snprintf(buf, n, "%d,%d", i / 100, i % 100); break;
    case 2: snprintf(buf, n, "say \"%d\"", i); break;
    case 3: snprintf(buf, n, "小班%d", i); break;
    default: snprintf(buf, n, " %d", i); break; /* trimmed on reading, like OGR's other values */
    }
}

/* Value of row i, column k: a spread of magnitudes, negative and positive, some missing. */
static double value_of(size_t i, size_t k)
{
    if ((i + k) % 97 == 0)
        return NAN;
    double x = ((double)(i * 7919 % 104729) + 0.1) / 3.0;
    switch (k) {
    case 0: return x;
    case 1: return -x * 1e-9;
    default: return x * 1e12 / 7.0;
    }
}

static int setup(void **state)
{
    (void)state;
    sm_gdal_init();
    if (!e2e_tmpdir(tmp, sizeof tmp, "results"))
        return -1;
    snprintf(gpkg, sizeof gpkg, "%s/xb.gpkg", tmp);
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GPKG"), gpkg, 0, 0, 0, GDT_Unknown, NULL);
    if (!ds)
        return -1;
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 4544);
    OGRLayerH l = GDALDatasetCreateLayer(ds, "xb", srs, wkbPolygon, NULL);
    OSRDestroySpatialReference(srs);
    OGRFieldDefnH fd = OGR_Fld_Create("XBH", OFTString);
    OGR_L_CreateField(l, fd, TRUE);
    OGR_Fld_Destroy(fd);
    if (OGR_L_StartTransaction(l) != OGRERR_NONE)
        return -1;
    for (int i = 0; i < NROWS; i++) {
        OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(l));
        char id[64];
        id_of(i, id, sizeof id);
        OGR_F_SetFieldString(f, 0, id);
        double x = 500000 + 20.0 * (i % 200), y = 3400000 + 20.0 * (i / 200);
        OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing);
        OGR_G_AddPoint_2D(ring, x, y);
        OGR_G_AddPoint_2D(ring, x + 10, y);
        OGR_G_AddPoint_2D(ring, x + 10, y + 10);
        OGR_G_AddPoint_2D(ring, x, y);
        OGRGeometryH poly = OGR_G_CreateGeometry(wkbPolygon);
        OGR_G_AddGeometryDirectly(poly, ring);
        OGR_F_SetGeometryDirectly(f, poly);
        if (OGR_L_CreateFeature(l, f) != OGRERR_NONE)
            return -1;
        OGR_F_Destroy(f);
    }
    if (OGR_L_CommitTransaction(l) != OGRERR_NONE)
        return -1;
    GDALClose(ds);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    e2e_sh("rm -rf '%s'", tmp);
    return 0;
}

static sm_results *make_results(sm_context *ctx, size_t n)
{
    sm_results *r = NULL;
    assert_int_equal(sm_results_create(&r, ctx, n), SM_OK);
    const char *names[3] = {"mean", "tiny", "huge"};
    for (size_t k = 0; k < 3; k++) {
        size_t col;
        assert_int_equal(sm_results_add(r, ctx, names[k], SM_RESULT_REAL, "", "", &col), SM_OK);
        for (size_t i = 0; i < n; i++)
            sm_results_set(r, i, col, value_of(i, k));
    }
    size_t col;
    assert_int_equal(sm_results_add(r, ctx, "note", SM_RESULT_TEXT, "", "", &col), SM_OK);
    for (size_t i = 0; i < n; i++) {
        char note[64];
        snprintf(note, sizeof note, i % 3 == 0 ? "a \"%zu\", b" : "n%zu", i);
        assert_int_equal(sm_results_set_text(r, ctx, i, col, i % 11 == 0 ? NULL : note), SM_OK);
    }
    return r;
}

static char *write_by_id(sm_results *r, sm_context *ctx, const sm_parcels *p, const char *id, int threads,
                         const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    r->threads = threads;
    sm_status st = sm_results_write_csv_by_id(r, ctx, p, id, path);
    if (st != SM_OK)
        print_error("%s\n", sm_context_message(ctx));
    assert_int_equal(st, SM_OK);
    char *s = e2e_read_all(path);
    assert_non_null(s);
    return s;
}

/* The CSV by id, on 1, 2 and 3 threads: the same bytes; every cell read back is the value. */
static void test_csv_threads_same_bytes(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_parcels *p = NULL;
    sm_parcels_options po = SM_PARCELS_OPTIONS_INIT;
    po.fields[SM_FIELD_ID] = "XBH";
    assert_int_equal(sm_parcels_open(&p, ctx, gpkg, &po), SM_OK);
    assert_int_equal(sm_parcels_count(p), NROWS);
    sm_results *r = make_results(ctx, NROWS);

    char *one = write_by_id(r, ctx, p, "XBH", 1, "one.csv");
    for (int threads = 2; threads <= 3; threads++) {
        char name[32];
        snprintf(name, sizeof name, "t%d.csv", threads);
        char *s = write_by_id(r, ctx, p, "XBH", threads, name);
        assert_int_equal(strlen(s), strlen(one));
        assert_string_equal(s, one);
        free(s);
    }

    char path[512];
    snprintf(path, sizeof path, "%s/t3.csv", tmp);
    sm_table *t = NULL;
    assert_int_equal(sm_table_read(&t, ctx, path), SM_OK);
    assert_int_equal(sm_table_rows(t), NROWS);
    assert_int_equal(sm_table_cols(t), 5);
    assert_string_equal(sm_table_col_name(t, 0), "XBH");
    for (size_t i = 0; i < NROWS; i++) {
        char id[64];
        id_of((int)i, id, sizeof id);
        const char *want = id[0] == ' ' ? id + 1 : id; /* the parcels' values are trimmed */
        assert_string_equal(sm_table_cell(t, i, 0), want);
        for (size_t k = 0; k < 3; k++) {
            double v = value_of(i, k);
            const char *cell = sm_table_cell(t, i, k + 1);
            if (isnan(v)) {
                assert_string_equal(cell, "");
            } else {
                char *end;
                double got = strtod(cell, &end);
                assert_true(*end == '\0');
                if (got != v)
                    fail_msg("row %zu column %zu: %s is not %.17g", i, k, cell, v);
            }
        }
        char note[64];
        snprintf(note, sizeof note, i % 3 == 0 ? "a \"%zu\", b" : "n%zu", i);
        assert_string_equal(sm_table_cell(t, i, 4), i % 11 == 0 ? "" : note);
    }
    sm_table_destroy(t);

    /* Without an id field the first column is the feature id; with a BOM and key fields
     * (the run's parcels.csv) likewise the same bytes for any number of threads. */
    char *fid1 = write_by_id(r, ctx, p, NULL, 1, "fid1.csv");
    char *fid3 = write_by_id(r, ctx, p, NULL, 3, "fid3.csv");
    assert_string_equal(fid1, fid3);
    assert_true(strncmp(fid1, "fid,mean,tiny,huge,note\n1,", 26) == 0);
    free(fid1);
    free(fid3);
    sm_field_role keys[1] = {SM_FIELD_ID};
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/keys1.csv", tmp);
    snprintf(pb, sizeof pb, "%s/keys4.csv", tmp);
    r->threads = 1;
    assert_int_equal(sm_results_write_csv(r, ctx, p, keys, 1, pa), SM_OK);
    r->threads = 4;
    assert_int_equal(sm_results_write_csv(r, ctx, p, keys, 1, pb), SM_OK);
    char *ka = e2e_read_all(pa), *kb = e2e_read_all(pb);
    assert_string_equal(ka, kb);
    assert_true(strncmp(ka, "\xEF\xBB\xBF" "fid,", 7) == 0);
    assert_null(strstr(ka + 3, "\xEF\xBB\xBF")); /* one BOM, at the start */
    free(ka);
    free(kb);

    free(one);
    sm_results_destroy(r);
    sm_parcels_destroy(p);
    sm_context_destroy(ctx);
}

/* An infinite value is refused with the same message whether one thread or several format the
 * rows, wherever it lies (first chunk, a middle chunk, the last row). */
static void test_csv_infinite_value(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_parcels *p = NULL;
    sm_parcels_options po = SM_PARCELS_OPTIONS_INIT;
    assert_int_equal(sm_parcels_open(&p, ctx, gpkg, &po), SM_OK);
    sm_results *r = make_results(ctx, NROWS);
    const size_t rows[3] = {5, 20000, NROWS - 1};
    char path[512];
    snprintf(path, sizeof path, "%s/inf.csv", tmp);
    for (int w = 0; w < 3; w++) {
        double keep = sm_results_get(r, rows[w], 1);
        sm_results_set(r, rows[w], 1, INFINITY);
        char msg[2][1024];
        for (int t = 0; t < 2; t++) {
            r->threads = t == 0 ? 1 : 3;
            assert_int_equal(sm_results_write_csv_by_id(r, ctx, p, NULL, path), SM_ERR_INTERNAL);
            snprintf(msg[t], sizeof msg[t], "%s", sm_context_message(ctx));
        }
        assert_string_equal(msg[0], msg[1]);
        assert_non_null(strstr(msg[0], "inf.csv"));
        assert_non_null(strstr(msg[0], "infinite"));
        assert_non_null(strstr(msg[0], "column 3")); /* fid, mean, tiny: the third */
        sm_results_set(r, rows[w], 1, keep);
    }
    sm_results_destroy(r);
    sm_parcels_destroy(p);
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_threads_same_bytes),
        cmocka_unit_test(test_csv_infinite_value),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
