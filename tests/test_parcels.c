/* test_parcels.c: reading inventory parcels: GBK attributes to UTF-8, field mapping errors,
 * GEOS repair of a bow-tie with the repair noted, multipolygons and holes, areas, projection;
 * plus the legend table in data/ against the legend compiled into the library. */
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

#include "e2e_util.h"
#include "sinkmap/legend.h"
#include "sinkmap/parcels.h"
#include "sinkmap/raster.h"
#include "sinkmap/table.h"

static char tmp[256], shp[320];

/* Four parcels in EPSG:4544 (CGCS2000 / 3-degree GK CM 105E), attributes written as GBK:
 * 0: a 100 m × 50 m rectangle (0.5 ha) 柏木
 * 1: a bow-tie (self-intersecting ring) whose two triangles have a 40 m base and 20 m height:
 *    400 + 400 m² after repair
 * 2: a multipolygon of two 10 m squares: 200 m²
 * 3: a 30 m square with a 10 m hole: 800 m² */
static int setup(void **state)
{
    (void)state;
    sm_gdal_init();
    if (!e2e_tmpdir(tmp, sizeof tmp, "parcels"))
        return -1;
    snprintf(shp, sizeof shp, "%s/xb.shp", tmp);
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("ESRI Shapefile"), shp, 0, 0, 0, GDT_Unknown, NULL);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 4544);
    char **lco = CSLSetNameValue(NULL, "ENCODING", "GBK");
    OGRLayerH l = GDALDatasetCreateLayer(ds, "xb", srs, wkbPolygon, lco);
    CSLDestroy(lco);
    OSRDestroySpatialReference(srs);
    const char *names[] = {"XIANG", "YOU_SHI_SZ", "HUO_LMGQXJ"};
    for (int k = 0; k < 3; k++) {
        OGRFieldDefnH fd = OGR_Fld_Create(names[k], k == 2 ? OFTReal : OFTString);
        OGR_L_CreateField(l, fd, TRUE);
        OGR_Fld_Destroy(fd);
    }
    const char *wkt[] = {
        "POLYGON ((500000 3400000,500100 3400000,500100 3400050,500000 3400050,500000 3400000))",
        "POLYGON ((500200 3400000,500240 3400040,500240 3400000,500200 3400040,500200 3400000))",
        "MULTIPOLYGON (((500300 3400000,500310 3400000,500310 3400010,500300 3400010,500300 3400000)),"
        "((500320 3400000,500330 3400000,500330 3400010,500320 3400010,500320 3400000)))",
        "POLYGON ((500400 3400000,500430 3400000,500430 3400030,500400 3400030,500400 3400000),"
        "(500410 3400010,500420 3400010,500420 3400020,500410 3400020,500410 3400010))"};
    const char *species[] = {"柏木", "马尾松", "", "杉木"};
    for (int i = 0; i < 4; i++) {
        OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(l));
        OGR_F_SetFieldString(f, 0, "潆华街道");
        if (species[i][0])
            OGR_F_SetFieldString(f, 1, species[i]);
        OGR_F_SetFieldDouble(f, 2, 100.5 + i);
        OGRGeometryH g = NULL;
        char *w = (char *)wkt[i];
        OGR_G_CreateFromWkt(&w, NULL, &g);
        OGR_F_SetGeometryDirectly(f, g);
        if (OGR_L_CreateFeature(l, f) != OGRERR_NONE)
            return -1;
        OGR_F_Destroy(f);
    }
    GDALClose(ds);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return e2e_sh("rm -rf '%s'", tmp);
}

static void test_gbk_file_is_gbk(void **state)
{
    (void)state;
    /* The DBF holds GBK bytes: 华 is BB AA in GBK (E5 8D 8E in UTF-8). */
    char dbf[400];
    snprintf(dbf, sizeof dbf, "%s/xb.dbf", tmp);
    FILE *f = fopen(dbf, "rb");
    assert_non_null(f);
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int found = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (buf[i] == 0xBB && buf[i + 1] == 0xAA) /* 华 in GBK */
            found = 1;
    assert_true(found);
}

static void test_read_and_repair(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_parcels_options o = SM_PARCELS_OPTIONS_INIT;
    o.fields[SM_FIELD_TOWNSHIP] = "XIANG";
    o.fields[SM_FIELD_SPECIES] = "YOU_SHI_SZ";
    o.fields[SM_FIELD_VOLUME] = "HUO_LMGQXJ";
    sm_parcels *p = NULL;
    assert_int_equal(sm_parcels_open(&p, ctx, shp, &o), SM_OK);
    assert_int_equal(sm_parcels_count(p), 4);
    assert_string_equal(sm_parcels_str(p, 0, SM_FIELD_TOWNSHIP), "潆华街道"); /* UTF-8 now */
    assert_string_equal(sm_parcels_str(p, 1, SM_FIELD_SPECIES), "马尾松");
    assert_string_equal(sm_parcels_str(p, 2, SM_FIELD_SPECIES), "");
    assert_true(sm_parcels_num(p, 3, SM_FIELD_VOLUME) == 103.5);
    assert_true(isnan(sm_parcels_num(p, 0, SM_FIELD_COUNTY))); /* unmapped */
    /* areas, m²: by hand from the coordinates */
    assert_true(fabs(sm_parcels_area(p, 0) - 5000.0) < 1e-6);
    assert_true(fabs(sm_parcels_area(p, 1) - 800.0) < 1e-6); /* 2 × (40 × 20 / 2) */
    assert_true(fabs(sm_parcels_area(p, 2) - 200.0) < 1e-6);
    assert_true(fabs(sm_parcels_area(p, 3) - 800.0) < 1e-6);
    assert_string_equal(sm_parcels_repair(p, 0), "");
    assert_non_null(strstr(sm_parcels_repair(p, 1), "made valid: Self-intersection"));
    assert_int_equal(sm_parcels_repaired_count(p), 1);
    /* the same CRS: the coordinates as they are */
    sm_parcel_geoms *g = NULL;
    assert_int_equal(sm_parcels_project(&g, ctx, p, sm_parcels_crs_wkt(p)), SM_OK);
    size_t np;
    const sm_polygon *parts = sm_parcel_geoms_parts(g, 2, &np);
    assert_int_equal(np, 2);
    assert_true(fabs(sm_polygon_area(parts, np) - 200.0) < 1e-9);
    parts = sm_parcel_geoms_parts(g, 3, &np);
    assert_int_equal(np, 1);
    assert_int_equal(parts[0].nrings, 2);
    double x0, y0, x1, y1;
    assert_true(sm_parcel_geoms_bbox(g, 0, &x0, &y0, &x1, &y1));
    assert_true(x0 == 500000 && y0 == 3400000 && x1 == 500100 && y1 == 3400050);
    sm_parcel_geoms_destroy(g);
    /* to UTM 48N: both projections are conformal with scale near 1 here, so the areas agree to
     * a fraction of a percent (GK CM 105E at 105°E has k = 1; UTM 48N has k ≈ 0.9996·(1+...)) */
    OGRSpatialReferenceH utm = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(utm, 32648);
    char *uw = NULL;
    OSRExportToWkt(utm, &uw);
    assert_int_equal(sm_parcels_project(&g, ctx, p, uw), SM_OK);
    parts = sm_parcel_geoms_parts(g, 0, &np);
    double a = sm_polygon_area(parts, np);
    assert_true(fabs(a / 5000.0 - 1.0) < 0.005);
    assert_true(sm_parcel_geoms_bbox(g, 0, &x0, &y0, &x1, &y1));
    assert_true(x0 > 166000 && x1 < 834000); /* a UTM easting, not a GK one */
    sm_parcel_geoms_destroy(g);
    CPLFree(uw);
    OSRDestroySpatialReference(utm);
    sm_parcels_destroy(p);
    sm_context_destroy(ctx);
}

static void test_errors(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_parcels_options o = SM_PARCELS_OPTIONS_INIT;
    o.fields[SM_FIELD_SPECIES] = "SHU_ZHONG";
    sm_parcels *p = NULL;
    assert_int_equal(sm_parcels_open(&p, ctx, shp, &o), SM_ERR_INPUT);
    const char *m = sm_context_message(ctx);
    assert_non_null(strstr(m, "field 'SHU_ZHONG' (field.species in the job) not found"));
    assert_non_null(strstr(m, "XIANG, YOU_SHI_SZ, HUO_LMGQXJ"));
    assert_int_equal(sm_parcels_open(&p, ctx, "/nonexistent/xb.shp", NULL), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "/nonexistent/xb.shp: no such parcel file"));
    sm_context_destroy(ctx);
}

/* data/landcover_legend.csv documents the legend the library writes: the same codes, names
 * and colours. */
static void test_legend_table(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_table *t = NULL;
    assert_int_equal(sm_table_read(&t, ctx, SM_SOURCE_DIR "/data/landcover_legend.csv"), SM_OK);
    size_t n;
    const sm_legend_entry *lg = sm_legend(&n);
    assert_int_equal(sm_table_rows(t), n);
    size_t cc, cz, ce, ccol, cf;
    assert_true(sm_table_find_col(t, "code", &cc) && sm_table_find_col(t, "name_zh", &cz) &&
                sm_table_find_col(t, "name_en", &ce) && sm_table_find_col(t, "color", &ccol) &&
                sm_table_find_col(t, "is_forest", &cf));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(atoi(sm_table_cell(t, i, cc)), lg[i].code);
        assert_string_equal(sm_table_cell(t, i, cz), lg[i].name_zh);
        assert_string_equal(sm_table_cell(t, i, ce), lg[i].name_en);
        char hex[8];
        snprintf(hex, sizeof hex, "#%02x%02x%02x", lg[i].r, lg[i].g, lg[i].b);
        assert_string_equal(sm_table_cell(t, i, ccol), hex);
        assert_int_equal(atoi(sm_table_cell(t, i, cf)), lg[i].is_forest);
    }
    sm_table_destroy(t);
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gbk_file_is_gbk),
        cmocka_unit_test(test_read_and_repair),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_legend_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
