/* test_maps_memory.c: `sinkmap run` draws its carbon, sink and changes maps from the parcels in
 * memory (the geometries from the parcels' own file, the values from the results), on a thread
 * of their own while parcels.gpkg is being written. Drawing the same maps afterwards from the
 * written parcels.gpkg (sm_maps_write, which reads the fields area_ha, c_<s>, cp_<s>, sink_co2)
 * must give the same PNGs byte for byte, in the same order, at 1 and at 2 threads. The values
 * the maps show per hectare are checked by hand too. */
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
#include <ogr_api.h>

#include "e2e_util.h"
#include "sinkmap/context.h"
#include "sinkmap/deliver.h"
#include "sinkmap/job.h"

#define DEMO SM_SOURCE_DIR "/examples/nanchong-demo"

static char tmp[256];

static int setup(void **state)
{
    (void)state;
    if (!e2e_tmpdir(tmp, sizeof tmp, "mapsmem"))
        return -1;
    char p[600];
    snprintf(p, sizeof p, "%s/job.ini", tmp);
    /* the demo job with its paths made absolute, no ledger, no report */
    if (e2e_sh("sed -e 's#= \\.\\./\\.\\./#= %s/#' -e 's#^path = xiaoban.shp#path = %s/xiaoban.shp#' "
               "-e '/^output/d' '%s/job.ini' > '%s' && printf '\\n[ledger]\\npath = none\\n[output]\\nreport = no\\n' >> '%s'",
               SM_SOURCE_DIR, DEMO, DEMO, p, p) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return e2e_sh("rm -rf '%s'", tmp);
}

static void test_values_per_ha(void **state)
{
    (void)state;
    assert_true(sm_map_carbon_per_ha(2.0, 10.0, NAN) == 5.0);
    assert_true(sm_map_carbon_per_ha(2.0, NAN, 3.0) == 1.5);
    assert_true(sm_map_carbon_per_ha(4.0, 10.0, 6.0) == 4.0);
    assert_true(isnan(sm_map_carbon_per_ha(2.0, NAN, NAN)));
    assert_true(isnan(sm_map_carbon_per_ha(0.0, 1.0, 1.0)));
    assert_true(isnan(sm_map_carbon_per_ha(NAN, 1.0, 1.0)));
    assert_true(sm_map_sink_per_ha(0.5, -3.0) == -6.0);
    assert_true(isnan(sm_map_sink_per_ha(-1.0, 3.0)));
    assert_true(isnan(sm_map_sink_per_ha(1.0, NAN)));
}

static void check_threads(int threads)
{
    char err[8192], job_path[600], run[600], again[600];
    snprintf(job_path, sizeof job_path, "%s/job.ini", tmp);
    snprintf(run, sizeof run, "%s/run%d", tmp, threads);
    snprintf(again, sizeof again, "%s/again%d", tmp, threads);
    if (e2e_run(err, sizeof err, "run '%s' -o '%s' --threads %d --quiet", job_path, run, threads) != 0)
        fail_msg("the demo run failed: %s", err);
    /* the same outputs without the maps, then the maps drawn from the written parcels.gpkg */
    assert_int_equal(e2e_sh("cp -r '%s' '%s' && rm -rf '%s/maps'", run, again, again), 0);
    sm_context *ctx = sm_context_create();
    sm_job *job = NULL;
    assert_int_equal(sm_job_load(&job, ctx, job_path), SM_OK);
    sm_map_info *maps = NULL;
    size_t n = 0;
    sm_status st = sm_maps_write(ctx, job, again, 1, &maps, &n);
    if (st != SM_OK)
        fail_msg("sm_maps_write: %s", sm_context_message(ctx));
    /* 3 land covers, carbon, sink, changes */
    assert_int_equal(n, job->nscenes + 3);
    assert_non_null(strstr(maps[job->nscenes].file, "carbon_"));
    assert_non_null(strstr(maps[job->nscenes + 1].file, "sink_"));
    assert_string_equal(maps[job->nscenes + 2].file, "changes.png");
    for (size_t k = 0; k < n; k++) {
        if (e2e_sh("cmp -s '%s/maps/%s' '%s/maps/%s'", run, maps[k].file, again, maps[k].file) != 0)
            fail_msg("%d thread(s): maps/%s differs between the run (parcels from memory) and parcels.gpkg",
                     threads, maps[k].file);
    }
    /* and the run drew nothing else */
    assert_int_equal(e2e_sh("test $(ls '%s/maps' | grep -c '\\.png$') -eq %zu", run, n), 0);
    free(maps);
    sm_job_destroy(job);
    sm_context_destroy(ctx);
}

static void test_same_maps_one_thread(void **state)
{
    (void)state;
    check_threads(1);
}

static void test_same_maps_two_threads(void **state)
{
    (void)state;
    check_threads(2);
}


/* Parcels from memory whose count is not the file's (the file changed under the run): one error
 * naming the file, SM_ERR_INPUT; the right count draws. */
static void test_count_mismatch(void **state)
{
    (void)state;
    char err[8192], job_path[600], out[600], shp[600];
    snprintf(job_path, sizeof job_path, "%s/job.ini", tmp);
    snprintf(out, sizeof out, "%s/mismatch", tmp);
    snprintf(shp, sizeof shp, "%s/xiaoban.shp", DEMO);
    if (e2e_run(err, sizeof err, "run '%s' -o '%s' --threads 1 --quiet", job_path, out) != 0)
        fail_msg("the demo run failed: %s", err);
    GDALAllRegister();
    GDALDatasetH ds = GDALOpenEx(shp, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    assert_non_null(ds);
    OGRLayerH lay = GDALDatasetGetLayer(ds, 0);
    size_t n = (size_t)OGR_L_GetFeatureCount(lay, TRUE);
    char layer[128];
    snprintf(layer, sizeof layer, "%s", OGR_L_GetName(lay));
    GDALClose(ds);
    assert_true(n > 10);
    double *vals = malloc((n + 1) * sizeof *vals);
    for (size_t i = 0; i <= n; i++)
        vals[i] = NAN;
    sm_context *ctx = sm_context_create();
    sm_job *job = NULL;
    assert_int_equal(sm_job_load(&job, ctx, job_path), SM_OK);
    const size_t counts[3] = {n - 1, n + 1, n};
    for (int t = 0; t < 3; t++) {
        sm_map_parcels mp = {shp, layer, counts[t], vals, vals};
        sm_map_info *maps = NULL;
        size_t nmaps = 0;
        sm_status st = sm_maps_write_from(ctx, job, out, 1, &mp, &maps, &nmaps);
        if (t < 2) {
            assert_int_equal(st, SM_ERR_INPUT);
            assert_non_null(strstr(sm_context_message(ctx), "xiaoban.shp: the parcels changed while sinkmap was running"));
            assert_null(maps);
        } else {
            if (st != SM_OK)
                fail_msg("sm_maps_write_from: %s", sm_context_message(ctx));
            assert_int_equal(nmaps, job->nscenes + 3);
        }
        free(maps);
    }
    free(vals);
    sm_job_destroy(job);
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_per_ha),
        cmocka_unit_test(test_same_maps_one_thread),
        cmocka_unit_test(test_same_maps_two_threads),
        cmocka_unit_test(test_count_mismatch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
