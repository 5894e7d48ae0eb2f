/* test_job_classifier.c: the [classifier] keys of a job file: every key read into sm_job, the
 * defaults, and one error naming the file, the line, the key and what was expected for each
 * malformed value. */
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

#define HEAD                                                                                       \
    "[parcels]\npath = xb.shp\nfield.land_class = DI_LEI\n"                                       \
    "[scene.a]\ndate = 2024-04-15\nraster.x = a.tif\nroles.x = blue,green,red,nir\n"

static sm_status load(const char *classifier, sm_job **job, sm_context *ctx)
{
    char path[512];
    snprintf(path, sizeof path, "%s/job.ini", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s[classifier]\n%s", HEAD, classifier);
    fclose(f);
    *job = NULL;
    return sm_job_load(job, ctx, path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sinkmap-test-jobcls-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_defaults(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_job *job;
    assert_int_equal(load("", &job, ctx), SM_OK);
    assert_string_equal(job->classifier, "rules");
    assert_null(job->cls.samples);
    assert_null(job->cls.model);
    assert_int_equal(job->cls.max_per_class, 5000);
    assert_int_equal(job->cls.min_samples, 30);
    assert_true(job->cls.test_share == 0.3);
    assert_true(job->cls.seed == 1);
    assert_int_equal(job->cls.trees, 100);
    assert_int_equal(job->cls.mtry, 0);
    assert_int_equal(job->cls.min_leaf, 1);
    assert_int_equal(job->cls.max_depth, 0);
    assert_true(job->cls.reject == 0);
    assert_int_equal(job->cls.stack, 0);
    assert_true(job->cls.stack_days == 200);
    assert_int_equal(job->cls.drone, 0);
    sm_job_destroy(job);
    sm_context_destroy(ctx);
}

static void test_every_key(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_job *job;
    assert_int_equal(load("method = maxlik\nsamples = s/pts.gpkg\nfield = CLS\nmodel = m.model\n"
                          "features = season\nmax_per_class = 0\nmin_samples = 5\n"
                          "test_share = 0\nseed = 18446744073709551615\ntrees = 7\nmtry = 3\n"
                          "min_leaf = 2\nmax_depth = 12\nreject = 0.999\n",
                          &job, ctx),
                     SM_OK);
    char expect[600];
    assert_string_equal(job->classifier, "maxlik");
    snprintf(expect, sizeof expect, "%s/s/pts.gpkg", dir);
    assert_string_equal(job->cls.samples, expect);
    snprintf(expect, sizeof expect, "%s/m.model", dir);
    assert_string_equal(job->cls.model, expect);
    assert_string_equal(job->cls.field, "CLS");
    assert_int_equal(job->cls.max_per_class, 0);
    assert_int_equal(job->cls.min_samples, 5);
    assert_true(job->cls.test_share == 0);
    assert_true(job->cls.seed == 18446744073709551615ULL);
    assert_int_equal(job->cls.trees, 7);
    assert_int_equal(job->cls.mtry, 3);
    assert_int_equal(job->cls.min_leaf, 2);
    assert_int_equal(job->cls.max_depth, 12);
    assert_true(job->cls.reject == 0.999);
    assert_int_equal(job->cls.stack, 0);
    sm_job_destroy(job);
    assert_int_equal(load("method = rf\nfeatures = stack\nstack_days = 120.5\n", &job, ctx), SM_OK);
    assert_int_equal(job->cls.stack, 1);
    assert_true(job->cls.stack_days == 120.5);
    sm_job_destroy(job);
    assert_int_equal(load("method = rf\n", &job, ctx), SM_OK);
    assert_string_equal(job->classifier, "rf");
    sm_job_destroy(job);
    sm_context_destroy(ctx);
}

/* Each bad value: SM_ERR_INPUT, a message with the file, the line and both needles. */
static void expect_error(const char *classifier, const char *n1, const char *n2)
{
    sm_context *ctx = sm_context_create();
    sm_job *job;
    sm_status st = load(classifier, &job, ctx);
    const char *msg = sm_context_message(ctx);
    if (st != SM_ERR_INPUT || !strstr(msg, "job.ini") || !strstr(msg, n1) || (n2 && !strstr(msg, n2)) ||
        strchr(msg, '\n')) {
        print_error("[classifier] %s: status %d, message '%s'; expected '%s' and '%s'\n", classifier,
                    (int)st, msg, n1, n2 ? n2 : "");
        fail();
    }
    assert_null(job);
    sm_context_destroy(ctx);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("method = svm\n", "job.ini:9: method = 'svm'", "rules, rf or maxlik");
    expect_error("method = rf\ntrees = 0\n", ":10: trees = 0", "1 to 10000 trees");
    expect_error("method = rf\ntrees = many\n", "trees = 'many'", "whole number");
    expect_error("method = rf\nmtry = -1\n", "mtry = -1", "0 (floor of the square root");
    expect_error("method = rf\nmin_leaf = 0\n", "min_leaf = 0", "1 to 100000");
    expect_error("method = rf\nmax_depth = 5000\n", "max_depth = 5000", "0 (unlimited) to 1000");
    expect_error("method = rf\nmax_per_class = -3\n", "max_per_class = -3", "0 (all)");
    expect_error("method = rf\nmin_samples = 0\n", "min_samples = 0", "1 to 1000000");
    expect_error("method = rf\ntest_share = 1\n", "test_share = 1", "share from 0 to below 1");
    expect_error("method = rf\ntest_share = x\n", "test_share = 'x'", "a number");
    expect_error("method = maxlik\nreject = -0.5\n", "reject = -0.5", "share");
    expect_error("method = rf\nseed = -1\n", "seed = '-1'", "whole number >= 0");
    expect_error("method = rf\nfeatures = all\n", "features = 'all'", "expected season");
    expect_error("method = rf\nfeatures = all\n", "features = 'all'", "or stack");
    expect_error("method = rf\nstack_days = 0.5\n", "stack_days = 0.5", "1 to 3660 days");
    expect_error("method = rf\nstack_days = 4000\n", "stack_days = 4000", "1 to 3660 days");
    expect_error("features = stack\n", "features = stack is set but method = rules", "rf or maxlik");
    expect_error("method = rf\ndrone = 1\n", "drone = '1'", "expected yes");
    expect_error("method = rf\ndrone = yes\n", "drone = yes needs a [drone.<id>] section", "has none");
    expect_error("method = rf\nfield =\n", "field: empty field name", NULL);
    expect_error("method = rf\nsamples =\n", "empty path", NULL);
    expect_error("method = rf\nsamples = s.gpkg\n", "samples = ", "needs field");
    expect_error("model = m.model\n", "method = rules does not use it", "rf or maxlik");
    expect_error("method = rf\ntress = 10\n", "unknown key 'tress'", "trees, mtry");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
