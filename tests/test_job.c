/* test_job.c: the job-file reader: keys, paths resolved against the job's folder, defaults,
 * and one clear error with the line number for each malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sinkmap/job.h"

static char dir[256];

static const char *write_job(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sinkmap-test-job-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static const char *GOOD =
    "; a comment\n"
    "[job]\nname = demo\noutput = out/x\nthreads = 2\n"
    "[parcels]\npath = p/xb.shp\nencoding = GBK\nfield.species = YOU_SHI_SZ\nfield.volume = HUO_LMGQXJ\n"
    "survey_year = 2021\n"
    "[scene.a23]\ndate = 2023-10-22\nraster.10m = r/a_10m.tif\nroles.10m = blue, green ,red,nir\n"
    "raster.20m = /abs/a_20m.tif\nroles.20m = swir1,swir2\nmask = r/scl.tif\nmask_values = 0,3, 8\n"
    "scale = auto\noffset = -1000\n"
    "[scene.b24]\ndate = 2024-10-20\nraster.10m = r/b.tif\nroles.10m = blue,green,red,nir\n"
    "[drone.d24]\ndate = 2024-09-20\nchm = c.tif\ncanopy_height = 2.5\n"
    "[classifier]\nmethod = rules\n"
    "[carbon]\nsink_from = a23\nsink_to = b24\nloss_threshold = 0.2\ngwp = AR6\npools_soil = yes\n"
    "[change]\nmin_forest = 0.4\ndnbr = 0.3\n[uncertainty]\ndraws = 500\nseed = 7\n"
    "[output]\nparcels = shapefile\n[ledger]\npath = none\n";

static void test_good_job(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    const char *path = write_job("good.ini", GOOD);
    sm_job *job = NULL;
    assert_int_equal(sm_job_load(&job, ctx, path), SM_OK);
    char expect[600];
    assert_string_equal(job->name, "demo");
    snprintf(expect, sizeof expect, "%s/out/x", dir);
    assert_string_equal(job->output, expect);
    assert_int_equal(job->threads, 2);
    snprintf(expect, sizeof expect, "%s/p/xb.shp", dir);
    assert_string_equal(job->parcels_path, expect);
    assert_string_equal(job->encoding, "GBK");
    assert_string_equal(job->fields[SM_FIELD_SPECIES], "YOU_SHI_SZ");
    assert_string_equal(job->fields[SM_FIELD_VOLUME], "HUO_LMGQXJ");
    assert_null(job->fields[SM_FIELD_COUNTY]);
    assert_true(job->default_survey_year == 2021.0);
    assert_int_equal(job->nscenes, 2);
    const sm_job_scene *s = &job->scenes[0];
    assert_string_equal(s->id, "a23");
    assert_string_equal(s->date, "2023-10-22");
    assert_int_equal(s->nfiles, 2);
    assert_string_equal(s->files[0].tag, "10m");
    assert_int_equal(s->files[0].nroles, 4);
    assert_string_equal(s->files[0].roles[1], "green"); /* trimmed */
    assert_string_equal(s->files[0].roles[2], "red");
    assert_string_equal(s->files[1].path, "/abs/a_20m.tif"); /* absolute stays */
    assert_int_equal(s->nmask_values, 3);
    assert_int_equal(s->mask_values[2], 8);
    assert_int_equal(s->scale_auto, 1);
    assert_int_equal(s->offset_auto, 0);
    assert_true(s->offset == -1000.0);
    assert_int_equal(job->ndrones, 1);
    assert_true(job->drones[0].canopy_height == 2.5);
    assert_string_equal(job->sink_from, "a23");
    assert_true(job->loss_threshold == 0.2);
    assert_string_equal(job->gwp, "AR6");
    assert_int_equal(job->pools_soil, 1);
    assert_true(job->change_min_forest == 0.4 && job->change_dnbr == 0.3 && job->change_drop == 0.2);
    assert_int_equal(job->mc_draws, 500);
    assert_true(job->mc_seed == 7);
    assert_int_equal(job->parcels_shapefile, 1);
    assert_int_equal(job->no_ledger, 1);
    assert_ptr_equal(sm_job_find_scene(job, "b24"), &job->scenes[1]);
    assert_null(sm_job_find_scene(job, "zz"));
    sm_job_destroy(job);
    sm_context_destroy(ctx);
}

/* Each case: the text, the line the error must name, and a fragment of the message. */
static void expect_error(const char *text, int line, const char *fragment)
{
    sm_context *ctx = sm_context_create();
    const char *path = write_job("bad.ini", text);
    sm_job *job = NULL;
    sm_status st = sm_job_load(&job, ctx, path);
    const char *msg = sm_context_message(ctx);
    if (st != SM_ERR_INPUT || !strstr(msg, fragment)) {
        print_error("status %d, message: %s\nexpected fragment: %s\n", st, msg, fragment);
        fail();
    }
    assert_null(job);
    if (line > 0) {
        char at[600];
        snprintf(at, sizeof at, "%s:%d:", path, line);
        if (!strstr(msg, at)) {
            print_error("message '%s' does not name line %d\n", msg, line);
            fail();
        }
    }
    sm_context_destroy(ctx);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("[job]\nname = x\nthis line is not ini\n", 3, "malformed line");
    expect_error("[job]\nnmae = x\n", 2, "unknown key 'nmae'");
    expect_error("[jobs]\nname = x\n", 2, "unknown section [jobs]");
    expect_error("[job]\nthreads = many\n", 2, "expected a whole number");
    expect_error("[parcels]\nfield.speceis = X\n", 2, "unknown field role 'speceis'");
    expect_error("[scene.a]\ndate = 2023-02-30\n", 2, "expected a date YYYY-MM-DD");
    expect_error("[scene.a]\ndate = 2023-10-22\nscale = -1\n", 3, "expected a positive number");
    expect_error("[scene.a b]\ndate = 2023-10-22\n", 2, "a scene id is");
    expect_error("[carbon]\nloss_threshold = 1.5\n", 2, "between 0 and 1");
    expect_error("[classifier]\nmethod = magic\n", 2, "expected rules");
    expect_error("[carbon]\ngwp = AR9\n", 2, "expected AR4, AR5 or AR6");
    expect_error("[carbon]\npools_soil = maybe\n", 2, "expected yes or no");
    expect_error("[output]\nparcels = kml\n", 2, "expected gpkg or shapefile");
    expect_error("[output]\nformat = x\n", 2, "[output]: unknown key 'format'");
    expect_error("[change]\nmin_forest = 2\n", 2, "between 0 and 1");
    expect_error("[change]\nthreshold = 2\n", 2, "[change]: unknown key 'threshold'");
    expect_error("[uncertainty]\ndraws = -5\n", 2, "expected 0 (Approach 1 only) to 1000000");
    expect_error("[uncertainty]\nseed = x\n", 2, "expected a whole number");
    expect_error("[ledger]\nfile = x\n", 2, "[ledger]: unknown key 'file'");
    /* Whole-file checks name the file but no line. */
    expect_error("[job]\nname = x\n", 0, "[parcels] path is required");
    expect_error("[parcels]\npath = a.shp\n", 0, "at least one [scene.<id>]");
    expect_error("[parcels]\npath = a.shp\n[scene.a]\ndate = 2023-10-22\nraster.x = a.tif\n", 0,
                 "has no roles.x");
    expect_error("[parcels]\npath = a.shp\n[scene.b]\ndate = 2024-10-22\nraster.x = a.tif\nroles.x = red\n"
                 "[scene.a]\ndate = 2023-10-22\nraster.x = a.tif\nroles.x = red\n",
                 0, "is not after");
    expect_error("[parcels]\npath = a.shp\n[scene.a]\ndate = 2023-10-22\nraster.x = a.tif\nroles.x = red\n"
                 "[carbon]\nsink_from = a\nsink_to = zz\n",
                 0, "sink_to = zz: no such scene");
}

/* The carbon keys: [volume_model], [wetland], [management], field.culms; defaults and errors. */
static void test_carbon_keys(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    const char *base = "[parcels]\npath = a.shp\nfield.culms = ZHUSHU\n[scene.a]\ndate = 2023-10-22\nraster.x = a.tif\n"
                       "roles.x = red\n";
    char text[1024];
    snprintf(text, sizeof text, "%s[volume_model]\nenabled = yes\nfeatures = ff,chm_d1\nmax_age_years = 3.5\n"
             "folds = 10\nseed = 9\n[wetland]\nprotected = w/p.geojson\n[management]\npath = /abs/m.gpkg\n"
             "year_field = ND\n", base);
    sm_job *job = NULL;
    assert_int_equal(sm_job_load(&job, ctx, write_job("carbon.ini", text)), SM_OK);
    assert_string_equal(job->fields[SM_FIELD_CULMS], "ZHUSHU");
    assert_string_equal(sm_field_role_key(SM_FIELD_CULMS), "culms");
    assert_int_equal(job->vm_enabled, 1);
    assert_string_equal(job->vm_features, "ff,chm_d1");
    assert_true(job->vm_max_age == 3.5 && job->vm_folds == 10 && job->vm_seed == 9);
    char expect[600];
    snprintf(expect, sizeof expect, "%s/w/p.geojson", dir);
    assert_string_equal(job->wetland_protected, expect);
    assert_string_equal(job->management, "/abs/m.gpkg");
    assert_string_equal(job->management_year, "ND");
    sm_job_destroy(job);
    /* defaults */
    assert_int_equal(sm_job_load(&job, ctx, write_job("carbon2.ini", base)), SM_OK);
    assert_true(job->vm_enabled == 0 && job->vm_max_age == 5 && job->vm_folds == 5 && job->vm_seed == 1);
    assert_null(job->vm_features);
    assert_null(job->wetland_protected);
    assert_null(job->management);
    sm_job_destroy(job);
    sm_context_destroy(ctx);
    expect_error("[volume_model]\nenabled = sure\n", 2, "enabled = 'sure': expected yes or no");
    expect_error("[volume_model]\nfolds = 1\n", 2, "folds = 1: expected 2 to 100");
    expect_error("[volume_model]\nmax_age_years = -1\n", 2, "expected years >= 0");
    expect_error("[volume_model]\nseed = -3\n", 2, "expected a whole number >= 0");
    expect_error("[volume_model]\nfeature = ff\n", 2, "[volume_model]: unknown key 'feature'");
    expect_error("[wetland]\nprotected =\n", 2, "empty path");
    expect_error("[wetland]\nreserve = x\n", 2, "[wetland]: unknown key 'reserve' (expected protected)");
    expect_error("[management]\nyear_field =\n", 2, "year_field: empty field name");
    expect_error("[management]\nlayer = x\n", 2, "[management]: unknown key 'layer'");
}

static void test_missing_file(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_job *job = NULL;
    assert_int_equal(sm_job_load(&job, ctx, "/nonexistent/job.ini"), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "/nonexistent/job.ini: cannot open"));
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_job),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_carbon_keys),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
