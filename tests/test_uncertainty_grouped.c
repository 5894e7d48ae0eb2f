/* test_uncertainty_grouped.c: sm_uncertainty_approach1_grouped and sm_uncertainty_mc_grouped
 * (several groupings of the same parcels in one pass) against the oracle of running
 * sm_uncertainty_approach1 / sm_uncertainty_mc once per grouping, with each parcel's unit
 * replaced by its unit in the grouping. The figures must be equal bit for bit: the grouped
 * Monte Carlo uses the same draws and the same order of every sum. Also: thread counts, the
 * parcels' own units left out (out NULL), the chunks of noisy parcels, and the errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sinkmap/uncertainty.h"
#include "unc_util.h"


enum { NG = 5, NP = 700, NGROUPINGS = 6 };

/* Five groups, one of them with exact factors (its parcels vary only through their volumes). */
static const sm_species_group *test_groups(void)
{
    static sm_species_group g[NG];
    g[0] = group("x", 0.5, 12, 1.5, 8, 0.25, 30, 0.5, 3);
    g[1] = group("y", 0.4, 6, 1.3, 15, 0.2, 50, 0.48, 2);
    g[2] = group("z", 0.6, 9, 1.4, 11, 0.3, 25, 0.5, 4);
    g[3] = group("exact", 0.45, 0, 1.2, 0, 0.2, 0, 0.5, 0);
    g[4] = group("unused", 0.5, 10, 1.5, 10, 0.25, 10, 0.5, 10);
    return g;
}

/* A synthetic inventory: growing and losing parcels, a third with a volume U, some of no area
 * or no change in volume (their sums are zero), group 4 never used. */
static sm_unc_parcel *test_parcels(size_t n)
{
    sm_unc_parcel *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i].group = (size_t)(x % 4);
        p[i].unit = (size_t)(x >> 8) % 9;
        p[i].v1 = 20 + (double)((x >> 16) % 200);
        p[i].v2 = p[i].v1 * (0.85 + (double)((x >> 32) % 40) / 100.0);
        p[i].area_ha = 0.2 + (double)((x >> 40) % 100) / 10.0;
        p[i].v_u95_pct = (x >> 48) % 3 == 0 ? 5 + (double)((x >> 52) % 20) : 0;
        if (i % 37 == 5)
            p[i].area_ha = 0;
        if (i % 41 == 7)
            p[i].v2 = p[i].v1;
    }
    return p;
}

/* Groupings: everything in one unit; 7 units; 60 units, some empty; one unit per parcel; by
 * group; every parcel in the last of 4 units. */
typedef struct groupings {
    sm_unc_grouping g[NGROUPINGS];
    size_t *unit[NGROUPINGS];
} groupings;

static void make_groupings(groupings *gs, const sm_unc_parcel *p, size_t n)
{
    const size_t units[NGROUPINGS] = {1, 7, 60, n ? n : 1, NG, 4};
    for (int k = 0; k < NGROUPINGS; k++) {
        gs->unit[k] = calloc(n ? n : 1, sizeof *gs->unit[k]);
        assert_non_null(gs->unit[k]);
        gs->g[k].units = units[k];
        gs->g[k].unit = gs->unit[k];
    }
    for (size_t i = 0; i < n; i++) {
        gs->unit[0][i] = 0;
        gs->unit[1][i] = (i * 7919) % 7;
        gs->unit[2][i] = (i % 30) * 2; /* odd units empty */
        gs->unit[3][i] = i;
        gs->unit[4][i] = p[i].group;
        gs->unit[5][i] = 3;
    }
}

static void free_groupings(groupings *gs)
{
    for (int k = 0; k < NGROUPINGS; k++)
        free(gs->unit[k]);
}

typedef sm_status (*single_fn)(sm_unc_result **, sm_context *, const sm_species_group *, size_t,
                               const sm_unc_parcel *, size_t, const sm_unc_options *);
typedef sm_status (*grouped_fn)(sm_unc_result **, sm_unc_result **, sm_context *,
                                const sm_species_group *, size_t, const sm_unc_parcel *, size_t,
                                const sm_unc_grouping *, size_t, const sm_unc_options *);

static void same_figures(const sm_unc_figures *a, const sm_unc_figures *b, size_t n,
                         const char *what)
{
    if (n && memcmp(a, b, n * sizeof *a) != 0) {
        for (size_t i = 0; i < n; i++)
            if (memcmp(&a[i], &b[i], sizeof *a) != 0)
                print_error("%s: figures %zu differ: sink lo %.17g / %.17g, hi %.17g / %.17g\n",
                            what, i, a[i].sink.lo95, b[i].sink.lo95, a[i].sink.hi95,
                            b[i].sink.hi95);
        fail();
    }
}

/* The oracle of grouping k: the single-grouping estimator on a copy of the parcels whose units
 * are the grouping's. */
static sm_unc_result *oracle(single_fn fn, sm_context *ctx, const sm_unc_parcel *p, size_t n,
                             const sm_unc_grouping *gr, const sm_unc_options *opt)
{
    sm_unc_parcel *q = calloc(n ? n : 1, sizeof *q);
    assert_non_null(q);
    for (size_t i = 0; i < n; i++) {
        q[i] = p[i];
        q[i].unit = gr->unit[i];
    }
    sm_unc_options o = *opt;
    o.units = gr->units;
    sm_unc_result *r = NULL;
    assert_int_equal(fn(&r, ctx, test_groups(), NG, q, n, &o), SM_OK);
    free(q);
    return r;
}

/* Grouped against the oracle, with and without the parcels' own units, for one thread count. */
static void check_against_oracle(single_fn single, grouped_fn multi, int approach, size_t n,
                                 int threads)
{
    sm_context *ctx = sm_context_create();
    sm_unc_parcel *p = test_parcels(n);
    groupings gs;
    make_groupings(&gs, p, n);
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.units = 9;
    opt.years = 3.5;
    opt.draws = 333;
    opt.seed = 2024;
    opt.threads = threads;

    sm_unc_result *own = NULL, *got[NGROUPINGS], *bare[NGROUPINGS];
    assert_int_equal(multi(&own, got, ctx, test_groups(), NG, p, n, gs.g, NGROUPINGS, &opt),
                     SM_OK);
    assert_int_equal(multi(NULL, bare, ctx, test_groups(), NG, p, n, gs.g, NGROUPINGS, &opt),
                     SM_OK);
    /* The parcels' own units: exactly the single-grouping call on the parcels as they are. */
    sm_unc_result *want = NULL;
    assert_int_equal(single(&want, ctx, test_groups(), NG, p, n, &opt), SM_OK);
    assert_int_equal(own->approach, approach);
    assert_int_equal(own->draws, want->draws);
    assert_int_equal(own->nparcels, n);
    assert_int_equal(own->nunits, 9);
    same_figures(own->parcels, want->parcels, n, "own parcels");
    same_figures(own->units, want->units, 9, "own units");
    same_figures(&own->total, &want->total, 1, "own total");
    sm_unc_result_destroy(want);
    for (int k = 0; k < NGROUPINGS; k++) {
        char what[64];
        want = oracle(single, ctx, p, n, &gs.g[k], &opt);
        assert_int_equal(got[k]->approach, approach);
        assert_int_equal(got[k]->draws, want->draws);
        assert_int_equal(got[k]->nparcels, 0);
        assert_int_equal(got[k]->nunits, gs.g[k].units);
        snprintf(what, sizeof what, "grouping %d units", k);
        same_figures(got[k]->units, want->units, gs.g[k].units, what);
        same_figures(bare[k]->units, want->units, gs.g[k].units, what);
        snprintf(what, sizeof what, "grouping %d total", k);
        same_figures(&got[k]->total, &want->total, 1, what);
        same_figures(&bare[k]->total, &want->total, 1, what);
        sm_unc_result_destroy(want);
        sm_unc_result_destroy(got[k]);
        sm_unc_result_destroy(bare[k]);
    }
    sm_unc_result_destroy(own);
    free_groupings(&gs);
    free(p);
    sm_context_destroy(ctx);
}

static void test_approach1_grouped(void **state)
{
    check_against_oracle(sm_uncertainty_approach1, sm_uncertainty_approach1_grouped, 1, NP, 1);
}

static void test_mc_grouped(void **state)
{
    check_against_oracle(sm_uncertainty_mc, sm_uncertainty_mc_grouped, 2, NP, 1);
    check_against_oracle(sm_uncertainty_mc, sm_uncertainty_mc_grouped, 2, NP, 2);
    check_against_oracle(sm_uncertainty_mc, sm_uncertainty_mc_grouped, 2, NP, 5);
}

/* A handful of parcels (fewer than the units of most groupings) and none at all. */
static void test_grouped_small(void **state)
{
    check_against_oracle(sm_uncertainty_approach1, sm_uncertainty_approach1_grouped, 1, 3, 2);
    check_against_oracle(sm_uncertainty_mc, sm_uncertainty_mc_grouped, 2, 3, 2);
    check_against_oracle(sm_uncertainty_approach1, sm_uncertainty_approach1_grouped, 1, 0, 2);
    check_against_oracle(sm_uncertainty_mc, sm_uncertainty_mc_grouped, 2, 0, 2);
}

/* The thread count and the other groupings computed alongside never change a figure. */
static void test_mc_grouped_independent(void **state)
{
    sm_context *ctx = sm_context_create();
    sm_unc_parcel *p = test_parcels(NP);
    groupings gs;
    make_groupings(&gs, p, NP);
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.units = 9;
    opt.draws = 401;
    opt.seed = 9;
    sm_unc_result *all[NGROUPINGS], *one[1];
    opt.threads = 3;
    assert_int_equal(sm_uncertainty_mc_grouped(NULL, all, ctx, test_groups(), NG, p, NP, gs.g,
                                               NGROUPINGS, &opt),
                     SM_OK);
    opt.threads = 1;
    for (int k = 0; k < NGROUPINGS; k++) {
        assert_int_equal(sm_uncertainty_mc_grouped(NULL, one, ctx, test_groups(), NG, p, NP,
                                                   &gs.g[k], 1, &opt),
                         SM_OK);
        same_figures(one[0]->units, all[k]->units, gs.g[k].units, "alone vs alongside");
        same_figures(&one[0]->total, &all[k]->total, 1, "alone vs alongside, total");
        sm_unc_result_destroy(one[0]);
        sm_unc_result_destroy(all[k]);
    }
    /* Another seed: other figures. */
    opt.seed = 10;
    assert_int_equal(sm_uncertainty_mc_grouped(NULL, one, ctx, test_groups(), NG, p, NP, &gs.g[1],
                                               1, &opt),
                     SM_OK);
    opt.seed = 9;
    assert_int_equal(sm_uncertainty_mc_grouped(NULL, all, ctx, test_groups(), NG, p, NP, &gs.g[1],
                                               1, &opt),
                     SM_OK);
    assert_true(one[0]->units[0].sink.lo95 != all[0]->units[0].sink.lo95);
    sm_unc_result_destroy(one[0]);
    sm_unc_result_destroy(all[0]);
    free_groupings(&gs);
    free(p);
    sm_context_destroy(ctx);
}

/* Many draws, so that the parcels with a volume U go through several chunks of 16 MiB when the
 * parcels' figures are wanted (20,000 draws: 104 parcels a chunk): the units must be those of
 * the per-block draws used without the parcels' figures, and a parcel's figures must not depend
 * on the other noisy parcels (alone with a volume U, at the same index, it gets the same). */
static void test_mc_chunks(void **state)
{
    enum { N = 300 };
    sm_context *ctx = sm_context_create();
    sm_unc_parcel *p = test_parcels(N);
    size_t unit[N];
    for (size_t i = 0; i < N; i++) {
        p[i].unit = i % 3;
        p[i].v_u95_pct = 4 + (double)(i % 11);
        unit[i] = i % 3;
    }
    p[17].v_u95_pct = 0; /* one exact parcel among them */
    sm_unc_grouping gr = {3, unit};
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.units = 3;
    opt.draws = 20000;
    opt.seed = 5;
    opt.threads = 2;
    sm_unc_result *own = NULL, *bare[1];
    assert_int_equal(sm_uncertainty_mc(&own, ctx, test_groups(), NG, p, N, &opt), SM_OK);
    assert_int_equal(sm_uncertainty_mc_grouped(NULL, bare, ctx, test_groups(), NG, p, N, &gr, 1,
                                               &opt),
                     SM_OK);
    same_figures(own->units, bare[0]->units, 3, "chunked vs per-block draws");
    same_figures(&own->total, &bare[0]->total, 1, "chunked vs per-block draws, total");
    static const size_t probe[] = {0, 103, 104, 208, 299};
    sm_unc_parcel *q = calloc(N, sizeof *q);
    assert_non_null(q);
    for (size_t t = 0; t < sizeof probe / sizeof probe[0]; t++) {
        sm_unc_result *r = NULL;
        for (size_t i = 0; i < N; i++) {
            q[i] = p[i];
            q[i].v_u95_pct = i == probe[t] ? p[i].v_u95_pct : 0;
        }
        assert_int_equal(sm_uncertainty_mc(&r, ctx, test_groups(), NG, q, N, &opt), SM_OK);
        same_figures(&r->parcels[probe[t]], &own->parcels[probe[t]], 1, "alone vs in a chunk");
        sm_unc_result_destroy(r);
    }
    free(q);
    sm_unc_result_destroy(own);
    sm_unc_result_destroy(bare[0]);
    free(p);
    sm_context_destroy(ctx);
}

static void message_has(sm_context *ctx, const char *part)
{
    if (!strstr(sm_context_message(ctx), part)) {
        print_error("message '%s' lacks '%s'\n", sm_context_message(ctx), part);
        fail();
    }
}

static void expect_error(sm_context *ctx, const sm_unc_parcel *p, size_t n,
                         const sm_unc_grouping *g, size_t ng, int with_grouped, const char *part)
{
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.units = 9;
    opt.draws = 10;
    for (int a = 0; a < 2; a++) {
        sm_unc_result *out = (sm_unc_result *)1, *res[2] = {(sm_unc_result *)1, (sm_unc_result *)1};
        sm_context_clear(ctx);
        sm_status st = a ? sm_uncertainty_mc_grouped(&out, with_grouped ? res : NULL, ctx,
                                                     test_groups(), NG, p, n, g, ng, &opt)
                         : sm_uncertainty_approach1_grouped(&out, with_grouped ? res : NULL, ctx,
                                                            test_groups(), NG, p, n, g, ng, &opt);
        assert_int_equal(st, SM_ERR_INPUT);
        assert_null(out);
        if (with_grouped)
            for (size_t k = 0; k < ng && k < 2; k++)
                assert_null(res[k]);
        message_has(ctx, part);
    }
}

static void test_grouped_errors(void **state)
{
    sm_context *ctx = sm_context_create();
    sm_unc_parcel *p = test_parcels(10);
    p[4].id = "P-4";
    size_t u[10] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0};
    sm_unc_grouping g[2] = {{3, u}, {1, NULL}};
    expect_error(ctx, p, 10, g, 2, 1, "grouping 1: no unit array");
    g[1].unit = u;
    expect_error(ctx, p, 10, g, 2, 1, "grouping 1: parcel 1: unit 1 is out of range (1 units)");
    g[1].units = 0;
    expect_error(ctx, p, 10, g, 2, 1, "grouping 1: units is 0");
    g[1].units = 3;
    u[4] = 3;
    expect_error(ctx, p, 10, g, 2, 1, "grouping 0: parcel 4 ('P-4'): unit 3 is out of range");
    u[4] = 1;
    expect_error(ctx, p, 10, g, 2, 0, "the grouped results array is NULL");
    expect_error(ctx, p, 10, NULL, 2, 1, "the groupings array is NULL");
    /* The parcels' own units are checked only when wanted. */
    p[2].unit = 99;
    expect_error(ctx, p, 10, g, 2, 1, "parcel 2: unit 99 is out of range (9 units)");
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.units = 0;
    opt.draws = 10;
    sm_unc_result *res[2];
    assert_int_equal(sm_uncertainty_mc_grouped(NULL, res, ctx, test_groups(), NG, p, 10, g, 2,
                                               &opt),
                     SM_OK);
    sm_unc_result_destroy(res[0]);
    sm_unc_result_destroy(res[1]);
    assert_int_equal(sm_uncertainty_approach1_grouped(NULL, res, ctx, test_groups(), NG, p, 10, g,
                                                      2, &opt),
                     SM_OK);
    sm_unc_result_destroy(res[0]);
    sm_unc_result_destroy(res[1]);
    /* Nothing asked: nothing computed, no error. */
    assert_int_equal(sm_uncertainty_mc_grouped(NULL, NULL, ctx, test_groups(), NG, p, 10, NULL, 0,
                                               &opt),
                     SM_OK);
    free(p);
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_approach1_grouped),
        cmocka_unit_test(test_mc_grouped),
        cmocka_unit_test(test_grouped_small),
        cmocka_unit_test(test_mc_grouped_independent),
        cmocka_unit_test(test_mc_chunks),
        cmocka_unit_test(test_grouped_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
