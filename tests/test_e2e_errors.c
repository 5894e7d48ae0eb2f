/* test_e2e_errors.c: every bad-input path of `sinkmap run` on variants of the demo job.
 * Each case must exit 2 with one line "sinkmap: error: ..." naming the file, field or value,
 * and leave the previous output folder exactly as it was (no staging folder left behind). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cpl_conv.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "e2e_util.h"

#define DEMO SM_SOURCE_DIR "/examples/nanchong-demo"

static char tmp[256];
static char *demo_job; /* the demo job with absolute paths */

/* Removes every line that starts with `prefix` (the demo's own output folder). */
static void drop_lines(char *s, const char *prefix)
{
    size_t lp = strlen(prefix);
    char *o = s;
    for (char *p = s; *p;) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (strncmp(p, prefix, lp) != 0) {
            memmove(o, p, len);
            o += len;
        }
        p += len;
    }
    *o = '\0';
}

static int setup(void **state)
{
    (void)state;
    if (!e2e_tmpdir(tmp, sizeof tmp, "errors"))
        return -1;
    char *s = e2e_read_all(DEMO "/job.ini");
    if (!s)
        return -1;
    s = e2e_replace(s, "= ../../", "= " SM_SOURCE_DIR "/");
    s = e2e_replace(s, "path = xiaoban.shp", "path = " DEMO "/xiaoban.shp");
    drop_lines(s, "output");
    demo_job = s;
    GDALAllRegister();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(demo_job);
    return e2e_sh("rm -rf '%s'", tmp);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Writes job text (with the output folder set), runs it, and checks the error contract. */
static void expect_failure(const char *name, char *job_text, const char *fragment1, const char *fragment2)
{
    char dir[512], job[600], out[600], marker[700], err[8192];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    assert_int_equal(e2e_sh("mkdir -p '%s/out'", dir), 0);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(marker, sizeof marker, "%s/out/previous-run.txt", dir);
    write_text(marker, "outputs of an earlier run\n");
    char outline[700];
    snprintf(outline, sizeof outline, "[job]\noutput = %s\n", out);
    job_text = e2e_replace(job_text, "[job]\n", outline);
    /* drop the job's own output line (the first one after [job] wins otherwise) */
    snprintf(job, sizeof job, "%s/job.ini", dir);
    write_text(job, job_text);
    free(job_text);
    int rc = e2e_run(err, sizeof err, "run '%s' --quiet", job);
    if (rc != 2 || strncmp(err, "sinkmap: error: ", 16) != 0 || e2e_lines(err) != 1 ||
        !strstr(err, fragment1) || (fragment2 && !strstr(err, fragment2))) {
        print_error("case %s: exit %d, stderr:\n%s\nexpected one error line with '%s' and '%s'\n",
                    name, rc, err, fragment1, fragment2 ? fragment2 : "");
        fail();
    }
    /* The previous outputs are untouched and nothing else was left. */
    char *m = e2e_read_all(marker);
    assert_non_null(m);
    assert_string_equal(m, "outputs of an earlier run\n");
    free(m);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        entries++;
        if (strcmp(e->d_name, "out") && strcmp(e->d_name, "job.ini") && strcmp(e->d_name, "data") &&
            strcmp(e->d_name, "in")) {
            print_error("case %s: left behind %s\n", name, e->d_name);
            fail();
        }
    }
    closedir(d);
    d = opendir(out);
    int n_out = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n_out++;
    closedir(d);
    assert_int_equal(n_out, 1);
}

static char *job_copy(void) { return strdup(demo_job); }

static void test_missing_input_file(void **state)
{
    (void)state;
    char *j = e2e_replace(job_copy(), "s2_2024s_20m.tif", "s2_2024s_20m_MISSING.tif");
    expect_failure("missing", j, "s2_2024s_20m_MISSING.tif: no such raster file", "[scene.2024s]");
}

static void test_unreadable_raster(void **state)
{
    (void)state;
    char dir[600], bad[700];
    snprintf(dir, sizeof dir, "%s/unreadable/in", tmp);
    assert_int_equal(e2e_sh("mkdir -p '%s'", dir), 0);
    snprintf(bad, sizeof bad, "%s/broken.tif", dir);
    write_text(bad, "this is not a GeoTIFF\n");
    char *j = e2e_replace(job_copy(), SM_SOURCE_DIR "/rasters/s2_2023a_10m.tif", bad);
    expect_failure("unreadable", j, "broken.tif: not a readable raster", NULL);
}

static void test_raster_without_crs(void **state)
{
    (void)state;
    char dir[600], nocrs[700];
    snprintf(dir, sizeof dir, "%s/nocrs/in", tmp);
    assert_int_equal(e2e_sh("mkdir -p '%s'", dir), 0);
    snprintf(nocrs, sizeof nocrs, "%s/nocrs.tif", dir);
    /* A copy of the 20 m raster with its CRS removed (GDAL C API). */
    GDALDatasetH src = GDALOpen(SM_SOURCE_DIR "/rasters/s2_2024a_20m.tif", GA_ReadOnly);
    assert_non_null(src);
    GDALDatasetH dst = GDALCreateCopy(GDALGetDriverByName("GTiff"), nocrs, src, FALSE, NULL, NULL, NULL);
    assert_non_null(dst);
    GDALSetSpatialRef(dst, NULL);
    GDALSetProjection(dst, "");
    GDALClose(dst);
    GDALClose(src);
    e2e_sh("rm -f '%s.aux.xml'", nocrs);
    char *j = e2e_replace(job_copy(), SM_SOURCE_DIR "/rasters/s2_2024a_20m.tif", nocrs);
    expect_failure("nocrs", j, "nocrs.tif: the raster has no coordinate reference system", NULL);
}

static void test_no_overlap(void **state)
{
    (void)state;
    /* The demo parcels declared in Gauss-Krüger CM 108E instead of 105E: 300 km away. */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/nooverlap/in", tmp);
    assert_int_equal(e2e_sh("mkdir -p '%s' && cp '%s'/xiaoban.shp '%s'/xiaoban.shx '%s'/xiaoban.dbf '%s'/xiaoban.cpg '%s'",
                            dir, DEMO, DEMO, DEMO, DEMO, dir),
                     0);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    assert_int_equal(OSRImportFromEPSG(srs, 4545), OGRERR_NONE);
    OSRMorphToESRI(srs);
    char *wkt = NULL;
    OSRExportToWkt(srs, &wkt);
    char prj[700];
    snprintf(prj, sizeof prj, "%s/xiaoban.prj", dir);
    write_text(prj, wkt);
    CPLFree(wkt);
    OSRDestroySpatialReference(srs);
    char shp[700];
    snprintf(shp, sizeof shp, "%s/xiaoban.shp", dir);
    char *j = e2e_replace(job_copy(), DEMO "/xiaoban.shp", shp);
    expect_failure("nooverlap", j, "xiaoban.shp: none of its", "overlaps the imagery");
}

static void test_corrupt_tile(void **state)
{
    (void)state;
    /* A copy of a demo raster cut short: its headers read, its later tiles do not. */
    char dir[600], cut[700];
    snprintf(dir, sizeof dir, "%s/corrupt/in", tmp);
    snprintf(cut, sizeof cut, "%s/s2_2024a_10m.tif", dir);
    assert_int_equal(e2e_sh("mkdir -p '%s' && head -c $(( $(stat -c %%s '%s/rasters/s2_2024a_10m.tif') * 6 / 10 )) "
                            "'%s/rasters/s2_2024a_10m.tif' > '%s'",
                            dir, SM_SOURCE_DIR, SM_SOURCE_DIR, cut),
                     0);
    char *j = e2e_replace(job_copy(), SM_SOURCE_DIR "/rasters/s2_2024a_10m.tif", cut);
    expect_failure("corrupt", j, "corrupt/in/s2_2024a_10m.tif: band", "cannot read the block at column");
}

static void test_missing_field(void **state)
{
    (void)state;
    char *j = e2e_replace(job_copy(), "field.species = YOU_SHI_SZ", "field.species = SHU_ZHONG");
    expect_failure("field", j, "field 'SHU_ZHONG' (field.species in the job) not found", "YOU_SHI_SZ");
}

static void test_species_without_parameters(void **state)
{
    (void)state;
    /* A data folder whose species map lacks 桤木 (a demo species that is not a group name). */
    char data[600];
    snprintf(data, sizeof data, "%s/species/data", tmp);
    assert_int_equal(e2e_sh("mkdir -p '%s' && cp '%s'/data/*.csv '%s' && sed -i '/^桤木,/d' '%s/species_map.csv'",
                            data, SM_SOURCE_DIR, data, data),
                     0);
    char line[700];
    snprintf(line, sizeof line, "[carbon]\ndata = %s\n", data);
    char *j = e2e_replace(job_copy(), "[carbon]\n", line);
    expect_failure("species", j, "桤木", "closest known");
}

static void test_malformed_job(void **state)
{
    (void)state;
    char *j = e2e_replace(job_copy(), "[classifier]\n", "[classifier]\nthis line has no equals sign\n");
    /* Its line: the lines before it, plus the output line the test inserts after [job]. */
    int line = 1 + 1;
    for (const char *p = j; p < strstr(j, "this line has no"); p++)
        line += *p == '\n';
    char frag[64];
    snprintf(frag, sizeof frag, "job.ini:%d: malformed line", line);
    expect_failure("malformed", j, frag, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_input_file),
        cmocka_unit_test(test_unreadable_raster),
        cmocka_unit_test(test_raster_without_crs),
        cmocka_unit_test(test_no_overlap),
        cmocka_unit_test(test_corrupt_tile),
        cmocka_unit_test(test_missing_field),
        cmocka_unit_test(test_species_without_parameters),
        cmocka_unit_test(test_malformed_job),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
