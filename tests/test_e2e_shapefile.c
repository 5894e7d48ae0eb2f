/* test_e2e_shapefile.c: `[output] parcels = shapefile` writes the parcel layer back as a
 * Shapefile in the inventory's own encoding: GBK bytes in the DBF, a .cpg saying GBK, Chinese
 * values equal to the input's, every field name at most 10 characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gdal.h>
#include <ogr_api.h>

#include "e2e_util.h"

#define DEMO SM_SOURCE_DIR "/examples/nanchong-demo"

static char tmp[256];

static int setup(void **state)
{
    (void)state;
    GDALAllRegister();
    if (!e2e_tmpdir(tmp, sizeof tmp, "shp"))
        return -1;
    /* the demo job with absolute paths, our output folder, a Shapefile, no ledger */
    return e2e_sh("sed -e 's|= \\.\\./\\.\\./|= %s/|' -e 's|^path = xiaoban.shp|path = %s/xiaoban.shp|' "
                  "-e '/^output =/d' '%s/job.ini' > '%s/job.ini' && "
                  "printf '\\n[output]\\nparcels = shapefile\\n[ledger]\\npath = none\\n' >> '%s/job.ini'",
                  SM_SOURCE_DIR, DEMO, DEMO, tmp, tmp);
}

static int teardown(void **state)
{
    (void)state;
    return e2e_sh("rm -rf '%s'", tmp);
}

static void test_gbk_round_trip(void **state)
{
    (void)state;
    char err[4096], p[512];
    assert_int_equal(e2e_run(err, sizeof err, "run '%s/job.ini' -o '%s/out' --quiet", tmp, tmp), 0);
    /* the .cpg names GBK */
    snprintf(p, sizeof p, "%s/out/parcels.cpg", tmp);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char cpg[32] = "";
    assert_non_null(fgets(cpg, sizeof cpg, f));
    fclose(f);
    assert_non_null(strstr(cpg, "GBK"));
    /* the DBF holds GBK bytes for 街 (BD D6) and none of its UTF-8 (E8 A1 97) */
    snprintf(p, sizeof p, "%s/out/parcels.dbf", tmp);
    f = fopen(p, "rb");
    assert_non_null(f);
    size_t gbk = 0, utf8 = 0;
    int a = -1, b = -1, c;
    while ((c = fgetc(f)) != EOF) {
        if (b == 0xBD && c == 0xD6)
            gbk++;
        if (a == 0xE8 && b == 0xA1 && c == 0x97)
            utf8++;
        a = b;
        b = c;
    }
    fclose(f);
    assert_true(gbk > 0);
    assert_int_equal(utf8, 0);
    /* read back through GDAL (which honours the .cpg): the same values as the input */
    snprintf(p, sizeof p, "%s/out/parcels.shp", tmp);
    GDALDatasetH src = GDALOpenEx(DEMO "/xiaoban.shp", GDAL_OF_VECTOR, NULL, NULL, NULL);
    GDALDatasetH dst = GDALOpenEx(p, GDAL_OF_VECTOR, NULL, NULL, NULL);
    assert_non_null(src);
    assert_non_null(dst);
    OGRLayerH sl = GDALDatasetGetLayer(src, 0), dl = GDALDatasetGetLayer(dst, 0);
    OGRFeatureDefnH dd = OGR_L_GetLayerDefn(dl);
    for (int k = 0; k < OGR_FD_GetFieldCount(dd); k++)
        assert_true(strlen(OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(dd, k))) <= 10);
    assert_true(OGR_FD_GetFieldIndex(dd, "sink_co2") >= 0);
    const char *text[] = {"XIAN", "XIANG", "CUN", "YOU_SHI_SZ", "DI_LEI"};
    OGRFeatureH fs, fd;
    size_t n = 0;
    while ((fs = OGR_L_GetNextFeature(sl)) != NULL) {
        fd = OGR_L_GetNextFeature(dl);
        assert_non_null(fd);
        for (size_t k = 0; k < 5; k++)
            assert_string_equal(OGR_F_GetFieldAsString(fs, OGR_F_GetFieldIndex(fs, text[k])),
                                OGR_F_GetFieldAsString(fd, OGR_F_GetFieldIndex(fd, text[k])));
        OGR_F_Destroy(fs);
        OGR_F_Destroy(fd);
        n++;
    }
    assert_int_equal((long long)n, (long long)OGR_L_GetFeatureCount(dl, TRUE));
    GDALClose(src);
    GDALClose(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gbk_round_trip)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
