/* test_gpkg.c: GeoPackages read directly with SQLite on several threads give what OGR gives.
 * Every file is written here with OGR's GPKG driver (some then edited with SQLite) and read
 * twice, through OGR (SINKMAP_DIRECT_GPKG=NO) and directly, and the two compared field by field
 * and coordinate by coordinate (bit for bit): fids and their order, attribute strings, areas,
 * repair notes, parts, rings and points, boxes, the points projected to another CRS; across
 * polygons, multipolygons, holes, a bow-tie, NULL and empty geometries, 3D geometries, a
 * big-endian WKB, integer/integer64/boolean/string/null/Chinese attributes, FIDs with gaps or
 * starting at 1000, 50,000 random polygons, 1, 2 and 4 threads; plus what must fall back to
 * OGR (a REAL field, a REAL value in an integer column, a truncated geometry blob) and errors. */
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
#include <ogr_srs_api.h>
#include <sqlite3.h>

#include "e2e_util.h"
#include "io/parcels_direct.h"
#include "sinkmap/parcels.h"
#include "sinkmap/raster.h"

static char tmp[256];

/* One feature to write: fid (0: the next one), WKT (NULL: no geometry), attributes. */
typedef struct feat {
    long long fid;
    const char *wkt;
    const char *name; /* NULL: null */
    int has_i32;
    int i32;
    int has_i64;
    long long i64;
    double real;
    int flag;
} feat;

/* Writes layer "xb" (EPSG:32648; fields name TEXT, i32 MEDIUMINT, i64 INTEGER, real REAL,
 * flag BOOLEAN) with the features given, in that order. */
static void write_gpkg(const char *path, const feat *f, size_t n, int spatial_index)
{
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GPKG"), path, 0, 0, 0, GDT_Unknown, NULL);
    assert_non_null(ds);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32648);
    char **lco = spatial_index ? NULL : CSLSetNameValue(NULL, "SPATIAL_INDEX", "NO");
    OGRLayerH l = GDALDatasetCreateLayer(ds, "xb", srs, wkbUnknown, lco);
    CSLDestroy(lco);
    OSRDestroySpatialReference(srs);
    assert_non_null(l);
    const char *names[] = {"name", "i32", "i64", "real", "flag"};
    OGRFieldType types[] = {OFTString, OFTInteger, OFTInteger64, OFTReal, OFTInteger};
    for (int k = 0; k < 5; k++) {
        OGRFieldDefnH fd = OGR_Fld_Create(names[k], types[k]);
        if (k == 4)
            OGR_Fld_SetSubType(fd, OFSTBoolean);
        assert_int_equal(OGR_L_CreateField(l, fd, TRUE), OGRERR_NONE);
        OGR_Fld_Destroy(fd);
    }
    assert_int_equal(OGR_L_StartTransaction(l), OGRERR_NONE);
    for (size_t i = 0; i < n; i++) {
        OGRFeatureH h = OGR_F_Create(OGR_L_GetLayerDefn(l));
        if (f[i].fid)
            OGR_F_SetFID(h, (GIntBig)f[i].fid);
        if (f[i].name)
            OGR_F_SetFieldString(h, 0, f[i].name);
        else
            OGR_F_SetFieldNull(h, 0);
        if (f[i].has_i32)
            OGR_F_SetFieldInteger(h, 1, f[i].i32);
        if (f[i].has_i64)
            OGR_F_SetFieldInteger64(h, 2, f[i].i64);
        OGR_F_SetFieldDouble(h, 3, f[i].real);
        OGR_F_SetFieldInteger(h, 4, f[i].flag);
        if (f[i].wkt) {
            OGRGeometryH g = NULL;
            char *w = (char *)f[i].wkt;
            assert_int_equal(OGR_G_CreateFromWkt(&w, NULL, &g), OGRERR_NONE);
            OGR_F_SetGeometryDirectly(h, g);
        }
        assert_int_equal(OGR_L_CreateFeature(l, h), OGRERR_NONE);
        OGR_F_Destroy(h);
    }
    assert_int_equal(OGR_L_CommitTransaction(l), OGRERR_NONE);
    GDALClose(ds);
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    sqlite3_close(db);
    assert_int_equal(rc, SQLITE_OK);
}

/* Replaces the geometry blob of feature fid with b[0..n). */
static void set_blob(const char *path, long long fid, const unsigned char *b, size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE xb SET geom = ?1 WHERE fid = ?2", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_blob(st, 1, b, (int)n, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, fid);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static size_t get_blob(const char *path, long long fid, unsigned char *b, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT geom FROM xb WHERE fid = ?1", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, fid);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    assert_true(n <= cap);
    memcpy(b, sqlite3_column_blob(st, 0), n);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static const char *all_fields[] = {"name", "i32", "i64", "flag"};
static const sm_field_role all_roles[] = {SM_FIELD_ID, SM_FIELD_COUNTY, SM_FIELD_TOWNSHIP, SM_FIELD_VILLAGE};

/* Opens path through OGR (direct = 0) or directly (direct = 1, which must then be the path
 * taken), mapping name, i32, i64 and flag (and `extra` as species, when given). */
static sm_parcels *open_as(sm_context *ctx, const char *path, int direct, int threads, const char *extra)
{
    sm_parcels_options o = SM_PARCELS_OPTIONS_INIT;
    for (int k = 0; k < 4; k++)
        o.fields[all_roles[k]] = all_fields[k];
    o.fields[SM_FIELD_SPECIES] = extra;
    o.threads = threads;
    if (direct)
        unsetenv("SINKMAP_DIRECT_GPKG");
    else
        setenv("SINKMAP_DIRECT_GPKG", "NO", 1);
    sm_parcels *p = NULL;
    sm_status st = sm_parcels_open(&p, ctx, path, &o);
    unsetenv("SINKMAP_DIRECT_GPKG");
    if (st != SM_OK)
        fprintf(stderr, "%s\n", sm_context_message(ctx));
    assert_int_equal(st, SM_OK);
    assert_int_equal(sm__parcels_read_directly(p), direct);
    if (!direct)
        assert_string_equal(sm__parcels_direct_why(p), "SINKMAP_DIRECT_GPKG=NO");
    return p;
}

static void same_geoms(const sm_parcel_geoms *a, const sm_parcel_geoms *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t na, nb;
        const sm_polygon *pa = sm_parcel_geoms_parts(a, i, &na);
        const sm_polygon *pb = sm_parcel_geoms_parts(b, i, &nb);
        assert_int_equal(na, nb);
        for (size_t k = 0; k < na; k++) {
            assert_int_equal(pa[k].nrings, pb[k].nrings);
            for (size_t r = 0; r < pa[k].nrings; r++) {
                assert_int_equal(pa[k].rings[r].npoints, pb[k].rings[r].npoints);
                assert_memory_equal(pa[k].rings[r].xy, pb[k].rings[r].xy,
                                    2 * pa[k].rings[r].npoints * sizeof(double));
            }
        }
        double ba[4] = {0}, bb[4] = {0};
        int ha = sm_parcel_geoms_bbox(a, i, &ba[0], &ba[1], &ba[2], &ba[3]);
        int hb = sm_parcel_geoms_bbox(b, i, &bb[0], &bb[1], &bb[2], &bb[3]);
        assert_int_equal(ha, hb);
        assert_memory_equal(ba, bb, sizeof ba);
    }
}

/* a and b are the same parcels in every respect. */
static void assert_same(sm_context *ctx, const sm_parcels *a, const sm_parcels *b, const char *extra)
{
    size_t n = sm_parcels_count(a);
    assert_int_equal(sm_parcels_count(b), n);
    assert_string_equal(sm_parcels_layer_name(a), sm_parcels_layer_name(b));
    assert_string_equal(sm_parcels_crs_wkt(a), sm_parcels_crs_wkt(b));
    assert_string_equal(sm_parcels_encoding(a), sm_parcels_encoding(b));
    assert_int_equal(sm_parcels_repaired_count(a), sm_parcels_repaired_count(b));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sm_parcels_fid(a, i), sm_parcels_fid(b, i));
        for (int k = 0; k < 4; k++)
            assert_string_equal(sm_parcels_str(a, i, all_roles[k]), sm_parcels_str(b, i, all_roles[k]));
        if (extra)
            assert_string_equal(sm_parcels_str(a, i, SM_FIELD_SPECIES), sm_parcels_str(b, i, SM_FIELD_SPECIES));
        double aa = sm_parcels_area(a, i), ab = sm_parcels_area(b, i);
        assert_memory_equal(&aa, &ab, sizeof aa);
        assert_string_equal(sm_parcels_repair(a, i), sm_parcels_repair(b, i));
    }
    /* in their own CRS (shared points) and projected (copied points) */
    sm_parcel_geoms *ga = NULL, *gb = NULL;
    assert_int_equal(sm_parcels_project(&ga, ctx, a, sm_parcels_crs_wkt(a)), SM_OK);
    assert_int_equal(sm_parcels_project(&gb, ctx, b, sm_parcels_crs_wkt(b)), SM_OK);
    same_geoms(ga, gb, n);
    sm_parcel_geoms_destroy(ga);
    sm_parcel_geoms_destroy(gb);
    OGRSpatialReferenceH utm = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(utm, 32649);
    char *w = NULL;
    OSRExportToWkt(utm, &w);
    assert_int_equal(sm_parcels_project(&ga, ctx, a, w), SM_OK);
    assert_int_equal(sm_parcels_project(&gb, ctx, b, w), SM_OK);
    same_geoms(ga, gb, n);
    sm_parcel_geoms_destroy(ga);
    sm_parcel_geoms_destroy(gb);
    CPLFree(w);
    OSRDestroySpatialReference(utm);
}

/* path read through OGR, and directly with 1, 2 and 4 threads: all the same. */
static void check_file(const char *path, const char *extra)
{
    sm_context *ctx = sm_context_create();
    sm_parcels *ogr = open_as(ctx, path, 0, 2, extra);
    for (int i = 1; i < (int)sm_parcels_count(ogr); i++) /* OGR's order: ascending FIDs */
        assert_true(sm_parcels_fid(ogr, (size_t)i - 1) < sm_parcels_fid(ogr, (size_t)i));
    const int threads[] = {1, 2, 4};
    for (int k = 0; k < 3; k++) {
        sm_parcels *d = open_as(ctx, path, 1, threads[k], extra);
        assert_same(ctx, ogr, d, extra);
        sm_parcels_destroy(d);
    }
    sm_parcels_destroy(ogr);
    sm_context_destroy(ctx);
}

static int setup(void **state)
{
    (void)state;
    sm_gdal_init();
    return e2e_tmpdir(tmp, sizeof tmp, "gpkg") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unsetenv("SINKMAP_DIRECT_GPKG");
    return e2e_sh("rm -rf '%s'", tmp);
}

static const feat mixed[] = {
    {0, "POLYGON ((500000 3400000,500100 3400000,500100 3400050,500000 3400050,500000 3400000))",
     "  柏木 ", 1, 42, 1, 9007199254740993LL, 1.5, 1},
    /* a bow-tie: made valid, noted */
    {0, "POLYGON ((500200 3400000,500240 3400040,500240 3400000,500200 3400040,500200 3400000))",
     "马尾松", 1, -7, 1, -9007199254740993LL, 2.5, 0},
    {0, "MULTIPOLYGON (((500300 3400000,500310 3400000,500310 3400010,500300 3400010,500300 3400000)),"
        "((500320 3400000,500330 3400000,500330 3400010,500320 3400010,500320 3400000)))",
     NULL, 0, 0, 0, 0, 3.5, 1},
    /* a hole */
    {0, "POLYGON ((500400 3400000,500430 3400000,500430 3400030,500400 3400030,500400 3400000),"
        "(500410 3400010,500420 3400010,500420 3400020,500410 3400020,500410 3400010))",
     "", 1, 2147483647, 1, 0, 4.5, 0},
    {0, NULL, "no geometry", 1, -2147483647 - 1, 0, 0, 5.5, 1},
    {0, "POLYGON EMPTY", "empty", 0, 0, 0, 0, 6.5, 0},
    {0, "POLYGON Z ((500500 3400000 10,500520 3400000 11,500520 3400020 12,500500 3400000 10))",
     "3D 三角形", 1, 0, 1, 1, 7.5, 1},
    {0, "MULTIPOLYGON Z (((500600 3400000 1,500610 3400000 1,500610 3400010 1,500600 3400000 1)),"
        "((500620 3400000 1,500630 3400000 1,500630 3400010 1,500620 3400000 1)))",
     "tab\tand spaces ", 1, 5, 1, 5, 8.5, 0},
    /* a multipolygon of one polygon, with a self-touching ring (valid, through GEOS) */
    {0, "MULTIPOLYGON (((500700 3400000,500720 3400000,500710 3400010,500720 3400020,500700 3400020,"
        "500710 3400010,500700 3400000)))",
     "蝴蝶", 1, 1, 1, 1, 9.5, 1},
    /* an unclosed ring and a ring of 2 points: as OGR and GEOS take them */
    {0, "POLYGON ((500800 3400000,500810 3400000,500810 3400010,500800 3400010))", "open", 1, 3, 1, 3, 0, 0},
    {0, "MULTIPOLYGON EMPTY", "empty multi", 1, 4, 1, 4, 0, 0},
};
#define NMIXED (sizeof mixed / sizeof mixed[0])

static void test_mixed(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/mixed.gpkg", tmp);
    write_gpkg(path, mixed, NMIXED, 1);
    check_file(path, NULL);
    /* and values checked on their own */
    sm_context *ctx = sm_context_create();
    sm_parcels *p = open_as(ctx, path, 1, 2, NULL);
    assert_int_equal(sm_parcels_count(p), NMIXED);
    assert_int_equal(sm_parcels_fid(p, 0), 1);
    assert_string_equal(sm_parcels_str(p, 0, SM_FIELD_ID), "柏木"); /* trimmed */
    assert_string_equal(sm_parcels_str(p, 0, SM_FIELD_COUNTY), "42");
    assert_string_equal(sm_parcels_str(p, 0, SM_FIELD_TOWNSHIP), "9007199254740993");
    assert_string_equal(sm_parcels_str(p, 0, SM_FIELD_VILLAGE), "1");
    assert_string_equal(sm_parcels_str(p, 1, SM_FIELD_TOWNSHIP), "-9007199254740993");
    assert_string_equal(sm_parcels_str(p, 2, SM_FIELD_ID), ""); /* null */
    assert_string_equal(sm_parcels_str(p, 2, SM_FIELD_COUNTY), "");
    assert_string_equal(sm_parcels_str(p, 4, SM_FIELD_COUNTY), "-2147483648");
    assert_string_equal(sm_parcels_str(p, 6, SM_FIELD_ID), "3D 三角形");
    assert_string_equal(sm_parcels_str(p, 7, SM_FIELD_ID), "tab\tand spaces");
    assert_true(sm_parcels_area(p, 0) == 5000.0);
    assert_true(fabs(sm_parcels_area(p, 1) - 800.0) < 1e-6);
    assert_non_null(strstr(sm_parcels_repair(p, 1), "made valid: Self-intersection"));
    assert_true(sm_parcels_area(p, 2) == 200.0);
    assert_true(sm_parcels_area(p, 3) == 800.0);
    assert_true(sm_parcels_area(p, 4) == 0.0 && sm_parcels_area(p, 5) == 0.0);
    assert_true(sm_parcels_area(p, 6) == 200.0); /* Z dropped */
    sm_parcel_geoms *g = NULL;
    assert_int_equal(sm_parcels_project(&g, ctx, p, sm_parcels_crs_wkt(p)), SM_OK);
    size_t np;
    assert_null(sm_parcel_geoms_parts(g, 4, &np));
    assert_int_equal(np, 0);
    assert_null(sm_parcel_geoms_parts(g, 5, &np));
    const sm_polygon *parts = sm_parcel_geoms_parts(g, 7, &np);
    assert_int_equal(np, 2);
    assert_true(parts[1].rings[0].xy[0] == 500620 && parts[1].rings[0].xy[1] == 3400000);
    sm_parcel_geoms_destroy(g);
    sm_parcels_destroy(p);
    sm_context_destroy(ctx);
}

/* The environment variable is read at every open. */
static void test_env_each_open(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/mixed.gpkg", tmp);
    sm_context *ctx = sm_context_create();
    sm_parcels_options o = SM_PARCELS_OPTIONS_INIT;
    const char *vals[] = {"NO", NULL, "no", "YES", "0", NULL};
    const int direct[] = {0, 1, 0, 1, 0, 1};
    for (int k = 0; k < 6; k++) {
        if (vals[k])
            setenv("SINKMAP_DIRECT_GPKG", vals[k], 1);
        else
            unsetenv("SINKMAP_DIRECT_GPKG");
        sm_parcels *p = NULL;
        assert_int_equal(sm_parcels_open(&p, ctx, path, &o), SM_OK);
        assert_int_equal(sm__parcels_read_directly(p), direct[k]);
        sm_parcels_destroy(p);
    }
    unsetenv("SINKMAP_DIRECT_GPKG");
    sm_context_destroy(ctx);
}

/* Blobs OGR's writer does not make: a big-endian WKB, an NDR polygon whose GeoPackage header
 * says "empty" (OGR reads the WKB all the same), a header with no envelope. */
static void test_edited_blobs(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/blobs.gpkg", tmp);
    write_gpkg(path, mixed, NMIXED, 0);
    unsigned char b[4096];
    /* feature 1 (the rectangle) as XDR: header without envelope, then a big-endian polygon */
    {
        const double xy[] = {500000, 3400000, 500100, 3400000, 500100, 3400050, 500000, 3400050, 500000, 3400000};
        size_t n = 0;
        b[n++] = 'G', b[n++] = 'P', b[n++] = 0, b[n++] = 0; /* flags: BE header, no envelope */
        b[n++] = 0, b[n++] = 0, b[n++] = 0x7f, b[n++] = 0x88; /* srs_id 32648, big-endian */
        b[n++] = 0; /* XDR */
        b[n++] = 0, b[n++] = 0, b[n++] = 0, b[n++] = 3;
        b[n++] = 0, b[n++] = 0, b[n++] = 0, b[n++] = 1;
        b[n++] = 0, b[n++] = 0, b[n++] = 0, b[n++] = 5;
        for (int k = 0; k < 10; k++) {
            uint64_t u;
            memcpy(&u, &xy[k], 8);
            for (int q = 7; q >= 0; q--)
                b[n++] = (unsigned char)(u >> (8 * q));
        }
        set_blob(path, 1, b, n);
    }
    /* feature 4 (the hole): the empty flag set on its header */
    size_t n = get_blob(path, 4, b, sizeof b);
    b[3] |= 0x10;
    set_blob(path, 4, b, n);
    /* feature 3 (multipolygon): trailing bytes after its WKB (OGR ignores them) */
    n = get_blob(path, 3, b, sizeof b);
    b[n++] = 0xAB;
    b[n++] = 0xCD;
    set_blob(path, 3, b, n);
    check_file(path, NULL);
    sm_context *ctx = sm_context_create();
    sm_parcels *p = open_as(ctx, path, 1, 2, NULL);
    assert_true(sm_parcels_area(p, 0) == 5000.0);
    assert_true(sm_parcels_area(p, 2) == 200.0);
    assert_true(sm_parcels_area(p, 3) == 800.0);
    sm_parcels_destroy(p);
    sm_context_destroy(ctx);
}

/* FIDs from 1000, inserted out of order, some deleted: OGR gives them in ascending order, and
 * so does the direct reader (without the places of dense FIDs). */
static void test_fid_gaps(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/gaps.gpkg", tmp);
    feat f[NMIXED];
    const long long fids[] = {5000, 1000, 1003, 1001, 4000, 1002, 7000, 1010, 1011, 1012, 9999};
    for (size_t i = 0; i < NMIXED; i++) {
        f[i] = mixed[i];
        f[i].fid = fids[i];
    }
    write_gpkg(path, f, NMIXED, 1);
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_UPDATE, NULL, NULL, NULL);
    assert_non_null(ds);
    OGRLayerH l = GDALDatasetGetLayer(ds, 0);
    assert_int_equal(OGR_L_DeleteFeature(l, 1003), OGRERR_NONE);
    assert_int_equal(OGR_L_DeleteFeature(l, 7000), OGRERR_NONE);
    GDALClose(ds);
    check_file(path, NULL);
    sm_context *ctx = sm_context_create();
    sm_parcels *p = open_as(ctx, path, 1, 4, NULL);
    const long long want[] = {1000, 1001, 1002, 1010, 1011, 1012, 4000, 5000, 9999};
    assert_int_equal(sm_parcels_count(p), 9);
    for (size_t i = 0; i < 9; i++)
        assert_int_equal(sm_parcels_fid(p, i), want[i]);
    assert_string_equal(sm_parcels_str(p, 7, SM_FIELD_ID), "柏木"); /* fid 5000 */
    sm_parcels_destroy(p);
    sm_context_destroy(ctx);
}

/* 50,000 random small polygons (some bow-ties, some multipolygons, some with holes) across
 * many chunks. */
static void test_many(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/many.gpkg", tmp);
    const size_t n = 50000;
    feat *f = calloc(n, sizeof *f);
    char (*wkt)[600] = malloc(n * sizeof *wkt);
    char (*name)[40] = malloc(n * sizeof *name);
    assert_true(f && wkt && name);
    uint64_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        double v[12];
        for (int k = 0; k < 12; k++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            v[k] = (double)(s >> 11) / 9007199254740992.0;
        }
        double x = 400000 + 100000 * v[0], y = 3300000 + 100000 * v[1], d = 5 + 50 * v[2];
        int kind = (int)(v[3] * 8);
        if (kind == 0) /* a bow-tie */
            snprintf(wkt[i], sizeof wkt[i], "POLYGON ((%.3f %.3f,%.3f %.3f,%.3f %.3f,%.3f %.3f,%.3f %.3f))",
                     x, y, x + d, y + d, x + d, y, x, y + d, x, y);
        else if (kind == 1) /* two parts */
            snprintf(wkt[i], sizeof wkt[i],
                     "MULTIPOLYGON (((%.3f %.3f,%.3f %.3f,%.3f %.3f,%.3f %.3f)),((%.3f %.3f,%.3f %.3f,%.3f %.3f,%.3f %.3f)))",
                     x, y, x + d, y, x, y + d, x, y, x + 2 * d, y, x + 3 * d, y, x + 2 * d, y + d, x + 2 * d, y);
        else if (kind == 2) /* a hole */
            snprintf(wkt[i], sizeof wkt[i],
                     "POLYGON ((%.3f %.3f,%.3f %.3f,%.3f %.3f,%.3f %.3f,%.3f %.3f),(%.3f %.3f,%.3f %.3f,%.3f %.3f,%.3f %.3f))",
                     x, y, x + d, y, x + d, y + d, x, y + d, x, y, x + d / 4, y + d / 4, x + d / 2, y + d / 4,
                     x + d / 2, y + d / 2, x + d / 4, y + d / 4);
        else /* a jittered hexagon */
            snprintf(wkt[i], sizeof wkt[i],
                     "POLYGON ((%.6f %.6f,%.6f %.6f,%.6f %.6f,%.6f %.6f,%.6f %.6f,%.6f %.6f,%.6f %.6f))",
                     x, y, x + d * v[4], y - d * 0.5, x + d, y, x + d + v[5], y + d, x + d * v[6], y + 1.5 * d,
                     x - v[7], y + d, x, y);
        snprintf(name[i], sizeof name[i], "XB%07zu 林%d", i, (int)(v[8] * 100));
        f[i].wkt = v[9] < 0.01 ? NULL : wkt[i];
        f[i].name = v[10] < 0.05 ? NULL : name[i];
        f[i].has_i32 = 1;
        f[i].i32 = (int)(v[11] * 2000) - 1000;
        f[i].has_i64 = v[10] > 0.5;
        f[i].i64 = (long long)(s >> 1);
        f[i].flag = (int)(i & 1);
        /* reals of every magnitude and sign, integral ones, zeros of both signs: printed as OGR
         * prints them ("%.15g", a zero as "0") */
        double u = v[11] - 0.5, e = floor(v[7] * 60.0) - 30.0;
        switch (i % 6) {
        case 0: f[i].real = u * pow(10.0, e); break;
        case 1: f[i].real = floor(u * 1e6); break;
        case 2: f[i].real = i % 12 == 2 ? -0.0 : 0.0; break;
        case 3: f[i].real = 1.0 / (double)(i + 3); break;
        case 4: f[i].real = u * 1e300; break;
        default: f[i].real = (double)(s >> 11) / 1024.0; break;
        }
    }
    write_gpkg(path, f, n, 1);
    check_file(path, "real");
    sm_context *ctx = sm_context_create();
    sm_parcels *p = open_as(ctx, path, 1, 2, NULL);
    assert_int_equal(sm_parcels_count(p), n);
    assert_true(sm_parcels_repaired_count(p) > 5000);
    for (size_t i = 0; i < n; i += 997) {
        assert_int_equal(sm_parcels_fid(p, i), (int64_t)i + 1);
        assert_string_equal(sm_parcels_str(p, i, SM_FIELD_ID), f[i].name ? f[i].name : "");
        char want[24];
        snprintf(want, sizeof want, "%d", f[i].i32);
        assert_string_equal(sm_parcels_str(p, i, SM_FIELD_COUNTY), want);
    }
    sm_parcels_destroy(p);
    sm_context_destroy(ctx);
    free(f);
    free(wkt);
    free(name);
}

/* What goes through OGR instead: a DATE mapped field (the layer's type), a text or infinite
 * value in a REAL column, a REAL or TEXT value in an integer column (OGR takes sqlite3_column_int of it), a truncated geometry blob (OGR
 * cannot read it: no geometry), an encoding given. The results are OGR's. */
static void test_fallbacks(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/mixed.gpkg", tmp);
    sm_context *ctx = sm_context_create();
    sm_parcels_options o = SM_PARCELS_OPTIONS_INIT;
    for (int k = 0; k < 4; k++)
        o.fields[all_roles[k]] = all_fields[k];
    sm_parcels *ogr = NULL, *p = NULL;
    {
        /* a DATE field mapped */
        char dated[400];
        snprintf(dated, sizeof dated, "%s/dated.gpkg", tmp);
        write_gpkg(dated, mixed, NMIXED, 0);
        sql_exec(dated, "ALTER TABLE xb ADD COLUMN d DATE; UPDATE xb SET d = '2024-0' || (fid % 9 + 1) || '-15'");
        o.fields[SM_FIELD_SPECIES] = "d";
        setenv("SINKMAP_DIRECT_GPKG", "NO", 1);
        assert_int_equal(sm_parcels_open(&ogr, ctx, dated, &o), SM_OK);
        unsetenv("SINKMAP_DIRECT_GPKG");
        assert_int_equal(sm_parcels_open(&p, ctx, dated, &o), SM_OK);
        assert_int_equal(sm__parcels_read_directly(p), 0);
        assert_string_equal(sm__parcels_direct_why(p), "a mapped field is neither an integer, a real nor a string");
        assert_same(ctx, ogr, p, "d");
        assert_string_equal(sm_parcels_str(p, 0, SM_FIELD_SPECIES), "2024/02/15");
        sm_parcels_destroy(p);
        sm_parcels_destroy(ogr);
    }
    {
        /* a REAL field holding text, and one holding infinity */
        char edited[400];
        snprintf(edited, sizeof edited, "%s/reals.gpkg", tmp);
        const char *sql[2] = {"UPDATE xb SET real = 'abc' WHERE fid = 2", "UPDATE xb SET real = 9e999 WHERE fid = 3"};
        const char *why[2] = {"a value that is not a number in a real field", "an infinite value in a real field"};
        for (int k = 0; k < 2; k++) {
            write_gpkg(edited, mixed, NMIXED, 0);
            sql_exec(edited, sql[k]);
            ogr = open_as(ctx, edited, 0, 2, "real");
            o.fields[SM_FIELD_SPECIES] = "real";
            assert_int_equal(sm_parcels_open(&p, ctx, edited, &o), SM_OK);
            assert_int_equal(sm__parcels_read_directly(p), 0);
            assert_string_equal(sm__parcels_direct_why(p), why[k]);
            assert_same(ctx, ogr, p, "real");
            sm_parcels_destroy(p);
            sm_parcels_destroy(ogr);
        }
    }
    o.fields[SM_FIELD_SPECIES] = NULL;
    o.encoding = "UTF-8";
    assert_int_equal(sm_parcels_open(&p, ctx, path, &o), SM_OK);
    assert_int_equal(sm__parcels_read_directly(p), 0);
    assert_string_equal(sm__parcels_direct_why(p), "an encoding was given");
    sm_parcels_destroy(p);
    o.encoding = NULL;

    /* values of another storage class than the column's */
    char edited[400];
    snprintf(edited, sizeof edited, "%s/values.gpkg", tmp);
    write_gpkg(edited, mixed, NMIXED, 0);
    sql_exec(edited, "UPDATE xb SET i32 = 3.75 WHERE fid = 2; UPDATE xb SET i64 = '12abc' WHERE fid = 3");
    ogr = open_as(ctx, edited, 0, 2, NULL);
    assert_int_equal(sm_parcels_open(&p, ctx, edited, &o), SM_OK);
    assert_int_equal(sm__parcels_read_directly(p), 0);
    assert_string_equal(sm__parcels_direct_why(p), "a value that is not an integer in an integer field");
    assert_same(ctx, ogr, p, NULL);
    assert_string_equal(sm_parcels_str(p, 1, SM_FIELD_COUNTY), "3"); /* as OGR has it */
    sm_parcels_destroy(p);
    sm_parcels_destroy(ogr);

    /* a view registered as a features layer: not a table */
    sql_exec(edited, "CREATE VIEW v AS SELECT fid, geom, name, i32, i64, real, flag FROM xb WHERE fid > 3;"
                     "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                     "VALUES ('v', 'features', 'v', 32648);"
                     "INSERT INTO gpkg_geometry_columns VALUES ('v', 'geom', 'GEOMETRY', 32648, 0, 0)");
    o.layer = "v";
    setenv("SINKMAP_DIRECT_GPKG", "NO", 1);
    assert_int_equal(sm_parcels_open(&ogr, ctx, edited, &o), SM_OK);
    unsetenv("SINKMAP_DIRECT_GPKG");
    assert_int_equal(sm_parcels_open(&p, ctx, edited, &o), SM_OK);
    assert_int_equal(sm__parcels_read_directly(p), 0);
    assert_string_equal(sm__parcels_direct_why(p), "the layer is not a plain table");
    assert_int_equal(sm_parcels_count(p), NMIXED - 3);
    assert_same(ctx, ogr, p, NULL);
    sm_parcels_destroy(p);
    sm_parcels_destroy(ogr);
    o.layer = NULL;

    /* a truncated geometry blob: OGR cannot read it, the feature has no geometry */
    char cut[400];
    snprintf(cut, sizeof cut, "%s/cut.gpkg", tmp);
    write_gpkg(cut, mixed, NMIXED, 0);
    unsigned char b[4096];
    size_t n = get_blob(cut, 4, b, sizeof b);
    set_blob(cut, 4, b, n - 20);
    ogr = open_as(ctx, cut, 0, 2, NULL);
    assert_int_equal(sm_parcels_open(&p, ctx, cut, &o), SM_OK);
    assert_int_equal(sm__parcels_read_directly(p), 0);
    assert_string_equal(sm__parcels_direct_why(p), "a geometry OGR cannot read from its WKB");
    assert_same(ctx, ogr, p, NULL);
    assert_true(sm_parcels_area(p, 3) == 0.0);
    sm_parcels_destroy(p);
    sm_parcels_destroy(ogr);
    sm_context_destroy(ctx);
}

/* Bad input: the same errors whichever way the file is read. */
static void test_errors(void **state)
{
    (void)state;
    char path[400], empty[400];
    snprintf(path, sizeof path, "%s/mixed.gpkg", tmp);
    snprintf(empty, sizeof empty, "%s/empty.gpkg", tmp);
    write_gpkg(empty, mixed, 0, 1);
    sm_context *ctx = sm_context_create();
    char msg[2][1024];
    for (int direct = 0; direct < 2; direct++) {
        if (direct)
            unsetenv("SINKMAP_DIRECT_GPKG");
        else
            setenv("SINKMAP_DIRECT_GPKG", "NO", 1);
        sm_parcels_options o = SM_PARCELS_OPTIONS_INIT;
        sm_parcels *p = NULL;
        assert_int_equal(sm_parcels_open(&p, ctx, empty, &o), SM_ERR_INPUT);
        assert_non_null(strstr(sm_context_message(ctx), "the layer has no features"));
        snprintf(msg[direct], sizeof msg[direct], "%s", sm_context_message(ctx));
        o.fields[SM_FIELD_SPECIES] = "nope";
        assert_int_equal(sm_parcels_open(&p, ctx, path, &o), SM_ERR_INPUT);
        assert_non_null(strstr(sm_context_message(ctx), "field 'nope' (field.species in the job) not found; "
                                                        "the layer has: name, i32, i64, real, flag"));
        o.fields[SM_FIELD_SPECIES] = NULL;
        o.layer = "nolayer";
        assert_int_equal(sm_parcels_open(&p, ctx, path, &o), SM_ERR_INPUT);
        assert_non_null(strstr(sm_context_message(ctx), "layer 'nolayer' not found"));
    }
    assert_string_equal(msg[0], msg[1]);
    unsetenv("SINKMAP_DIRECT_GPKG");
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_env_each_open),
        cmocka_unit_test(test_edited_blobs),
        cmocka_unit_test(test_fid_gaps),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
