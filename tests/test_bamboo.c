/* test_bamboo.c: bamboo carbon from culms against values worked out by hand, name lookup with
 * the closest names, the shipped table loading, and bad rows refused with file and line. */
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

#include "sinkmap/bamboo.h"

static void near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s: expected %.12g, got %.12g (tolerance %g)\n", what, want, got, tol);
        fail();
    }
}

static char dir[64];

static void write_table(const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/bamboo_culms.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char HEAD[] = "key,name_zh,name_en,culm_kg,culm_u95_pct,r,r_u95_pct,cf,cf_u95_pct,source,verified\n";

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sinkmap-bamboo-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/bamboo_culms.csv", dir);
    remove(path);
    rmdir(dir);
    return 0;
}

/* 2000 culms/ha of 10 kg, R 0.25, CF 0.5: above = 2000 × 10 / 1000 × 0.5 = 10 t C/ha,
 * below = 10 × 0.25 = 2.5, total 12.5. U95 = sqrt(30² + (40 × 0.25/1.25)² + 4²) = sqrt(980). */
static void test_hand_culms(void **state)
{
    (void)state;
    char text[512];
    snprintf(text, sizeof text, "%stestmoso,毛竹,test,10,30,0.25,40,0.5,4,hand case,no\n"
                                "cizhu,慈竹,test,4,50,0.3,50,0.47,5,hand case,no\n", HEAD);
    write_table(text);
    sm_context *ctx = sm_context_create();
    sm_bamboo_table *t = NULL;
    assert_int_equal(sm_bamboo_table_load(&t, ctx, dir), SM_OK);
    assert_int_equal(sm_bamboo_count(t), 2);
    const sm_bamboo_species *sp = NULL;
    assert_int_equal(sm_bamboo_find(t, ctx, " 毛竹 ", &sp), SM_OK);
    assert_string_equal(sp->key, "testmoso");
    sm_bamboo_carbon bc;
    assert_int_equal(sm_bamboo_carbon_from_culms(ctx, sp, "p1", 2000, &bc), SM_OK);
    near(bc.above, 10.0, 1e-12, "above");
    near(bc.below, 2.5, 1e-12, "below");
    near(bc.total, 12.5, 1e-12, "total");
    near(bc.u95_pct, sqrt(980.0), 1e-9, "U95");
    assert_int_equal(sm_bamboo_find(t, ctx, "cizhu", &sp), SM_OK);
    assert_string_equal(sp->name_zh, "慈竹");
    /* an unknown name: the closest known names, the nearest first */
    assert_int_equal(sm_bamboo_find(t, ctx, "毛竹林", &sp), SM_ERR_INPUT);
    assert_null(sp);
    assert_non_null(strstr(sm_context_message(ctx), "bamboo species '毛竹林' has no row in"));
    assert_non_null(strstr(sm_context_message(ctx), "closest known: 毛竹, "));
    assert_int_equal(sm_bamboo_find(t, ctx, "", &sp), SM_ERR_INPUT);
    assert_int_equal(sm_bamboo_carbon_from_culms(ctx, sp ? sp : sm_bamboo_at(t, 0), "p2", NAN, &bc), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "parcel p2: the culm count is missing"));
    assert_int_equal(sm_bamboo_carbon_from_culms(ctx, sm_bamboo_at(t, 0), "p3", -5, &bc), SM_ERR_INPUT);
    sm_bamboo_table_destroy(t);
    sm_context_destroy(ctx);
}

static void test_bad_rows(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_bamboo_table *t = NULL;
    char text[512];
    snprintf(text, sizeof text, "%sa,甲,x,0,30,0.25,40,0.5,4,src,no\n", HEAD);
    write_table(text);
    assert_int_equal(sm_bamboo_table_load(&t, ctx, dir), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "bamboo_culms.csv:2: culm_kg must be > 0"));
    snprintf(text, sizeof text, "%sa,甲,x,5,30,0.25,40,0.5,4,src,no\na,乙,x,5,30,0.25,40,0.5,4,src,no\n", HEAD);
    write_table(text);
    assert_int_equal(sm_bamboo_table_load(&t, ctx, dir), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), ":3: 'a' repeats line 2"));
    snprintf(text, sizeof text, "%sa,甲,x,5,30,0.25,40,1.5,4,src,no\n", HEAD);
    write_table(text);
    assert_int_equal(sm_bamboo_table_load(&t, ctx, dir), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "cf must be in (0, 1]"));
    assert_null(t);
    sm_context_destroy(ctx);
}

/* The shipped table loads and every row says where its numbers come from. */
static void test_shipped(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_bamboo_table *t = NULL;
    assert_int_equal(sm_bamboo_table_load(&t, ctx, SM_SOURCE_DIR "/data"), SM_OK);
    assert_true(sm_bamboo_count(t) >= 1);
    const sm_bamboo_species *sp = NULL;
    assert_int_equal(sm_bamboo_find(t, ctx, "毛竹", &sp), SM_OK);
    near(sp->culm_kg, 10.44, 1e-12, "moso culm (Zhang et al. 2009, DOMAIN.md §4)");
    for (size_t i = 0; i < sm_bamboo_count(t); i++)
        assert_true(strlen(sm_bamboo_at(t, i)->source) > 10);
    sm_bamboo_table_destroy(t);
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_culms),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_shipped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
