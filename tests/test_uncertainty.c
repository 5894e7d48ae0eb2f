/* test_uncertainty.c: Approach 1 against hand-worked sums (in the comments), Monte Carlo against
 * Approach 1 in the small-U limit, the shared-draw and level-error properties, the type-7
 * percentile rule against a sort-based oracle, determinism over seeds and threads, and errors. */
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

static void near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s: expected %.12g, got %.12g (tolerance %g)\n", what, want, got, tol);
        fail();
    }
}

/* |got − want| ≤ rel·|want|. */
static void near_rel(double got, double want, double rel, const char *what)
{
    near(got, want, rel * fabs(want), what);
}

static void message_has(sm_context *ctx, const char *part)
{
    if (!strstr(sm_context_message(ctx), part)) {
        print_error("message '%s' lacks '%s'\n", sm_context_message(ctx), part);
        fail();
    }
}

static double half(const sm_interval *iv) { return (iv->hi95 - iv->lo95) / 2; }


static sm_unc_parcel parcel(size_t g, size_t unit, double v1, double v2, double area, double vu)
{
    sm_unc_parcel p = {g, unit, v1, v2, area, vu, NULL};
    return p;
}

/* Group A of the hand-worked cases: F = 0.5·1.5·1.25·0.5 = 0.46875 t C/m³; the U of 1 + R is
 * 40·0.25/1.25 = 8 %, so the factor U is sqrt(10² + 20² + 8² + 2²) = sqrt(568) %.
 * Group B: F = 0.4·1.2·1.2·0.5 = 0.288 t C/m³, U = 5 % (SVD only). */
static const sm_species_group *groups_ab(void)
{
    static sm_species_group g[2];
    g[0] = group("a", 0.5, 10, 1.5, 20, 0.25, 40, 0.5, 2);
    g[1] = group("b", 0.4, 5, 1.2, 0, 0.2, 0, 0.5, 0);
    return g;
}

/* ---- Approach 1 ---------------------------------------------------------------------------- */

static void test_approach1_single_parcel(void **state)
{
    sm_context *ctx = sm_context_create();
    const sm_species_group *g = groups_ab();
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.years = 5;
    /* 2 ha, 100 → 120 m³/ha: C1 = 200·0.46875 = 93.75 t C, C2 = 240·0.46875 = 112.5 t C,
     * sink = 18.75 / 5 · 44/12 = 13.75 t CO2e/yr. The second parcel loses volume (120 → 100):
     * sink −13.75, and carries a 5 % volume U: U = sqrt(568 + 25) = sqrt(593) %. */
    sm_unc_parcel p[2] = {parcel(0, 0, 100, 120, 2, 0), parcel(0, 0, 120, 100, 2, 5)};
    sm_unc_result *r = NULL;
    assert_int_equal(sm_uncertainty_approach1(&r, ctx, g, 2, p, 2, &opt), SM_OK);
    assert_int_equal(r->approach, 1);
    assert_int_equal(r->draws, 0);
    double u = sqrt(568.0) / 100;
    near(sm_carbon_u95(&g[0], 0) / 100, u, 1e-12, "carbon.h convention");
    const sm_unc_figures *f = &r->parcels[0];
    near(f->stock1.estimate, 93.75, 1e-10, "C1");
    near(f->stock1.mean, 93.75, 1e-10, "C1 mean");
    near(f->stock1.lo95, 93.75 * (1 - u), 1e-10, "C1 lo");
    near(f->stock1.hi95, 93.75 * (1 + u), 1e-10, "C1 hi");
    near(f->stock2.estimate, 112.5, 1e-10, "C2");
    near(half(&f->stock2), 112.5 * u, 1e-10, "C2 half-width");
    near(f->sink.estimate, 13.75, 1e-10, "sink");
    near(half(&f->sink), 13.75 * u, 1e-10, "sink half-width");
    /* The losing parcel: a negative sink, the interval still ordered. */
    double u2 = sqrt(593.0) / 100;
    f = &r->parcels[1];
    near(f->sink.estimate, -13.75, 1e-10, "negative sink");
    near(f->sink.lo95, -13.75 * (1 + u2), 1e-10, "negative sink lo");
    near(f->sink.hi95, -13.75 * (1 - u2), 1e-10, "negative sink hi");
    near(half(&f->stock1), 112.5 * u2, 1e-10, "with volume U");
    sm_unc_result_destroy(r);
    sm_context_destroy(ctx);
}

static void test_approach1_sum_of_groups(void **state)
{
    sm_context *ctx = sm_context_create();
    const sm_species_group *g = groups_ab();
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.units = 3;
    /* Unit 0: group A, 2 ha at 100 m³/ha → 93.75 t C, H = 93.75·sqrt(568)/100.
     * Unit 1: group B, 1 ha at 200 m³/ha → 57.6 t C, H = 57.6·5/100 = 2.88.
     * Total by the sum rule: 151.35 t C, H = sqrt((93.75·sqrt(568)/100)² + 2.88²).
     * Unit 2 is empty: zeros. */
    sm_unc_parcel p[2] = {parcel(0, 0, 100, 100, 2, 0), parcel(1, 1, 200, 200, 1, 0)};
    sm_unc_result *r = NULL;
    assert_int_equal(sm_uncertainty_approach1(&r, ctx, g, 2, p, 2, &opt), SM_OK);
    double ha = 93.75 * sqrt(568.0) / 100, hb = 2.88;
    near(r->units[0].stock1.estimate, 93.75, 1e-10, "unit 0");
    near(half(&r->units[0].stock1), ha, 1e-10, "unit 0 H");
    near(r->units[1].stock1.estimate, 57.6, 1e-10, "unit 1");
    near(half(&r->units[1].stock1), hb, 1e-10, "unit 1 H");
    near(r->units[2].stock1.hi95, 0, 0, "empty unit");
    near(r->total.stock1.estimate, 151.35, 1e-10, "total");
    near(half(&r->total.stock1), sqrt(ha * ha + hb * hb), 1e-10, "total H (sum rule)");
    /* The same through carbon.h's sum rule: U = sqrt(Σ (U_i x_i)²) / |Σ x_i|. */
    double ui[2] = {sqrt(568.0), 5}, xi[2] = {93.75, 57.6};
    near(half(&r->total.stock1) / 151.35 * 100, sm_u95_sum(ui, xi, 2), 1e-10, "sm_u95_sum");
    /* No change in volume: the sink is 0 ± 0. */
    near(r->total.sink.estimate, 0, 1e-12, "zero sink");
    near(half(&r->total.sink), 0, 1e-12, "zero sink H");
    sm_unc_result_destroy(r);
    sm_context_destroy(ctx);
}

static void test_approach1_shared_factors(void **state)
{
    sm_context *ctx = sm_context_create();
    sm_species_group g[2] = {groups_ab()[0], group("exact", 0.5, 0, 1, 0, 0, 0, 0.5, 0)};
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.units = 2;
    /* Two group-A parcels in different units: their factors are one quantity, so the total's
     * half-width is the SUM of theirs (93.75 and 46.875 t C: H = 140.625·sqrt(568)/100), not the
     * root of the sum of squares. Two parcels of the exact group with a 10 % volume U each and
     * equal stocks (25 t C): independent, U = 10/sqrt(2) % of 50 t C. */
    sm_unc_parcel p[4] = {parcel(0, 0, 100, 100, 2, 0), parcel(0, 1, 100, 100, 1, 0),
                          parcel(1, 0, 100, 100, 1, 10), parcel(1, 1, 50, 50, 2, 10)};
    sm_unc_result *r = NULL;
    assert_int_equal(sm_uncertainty_approach1(&r, ctx, g, 2, p, 2, &opt), SM_OK);
    near(half(&r->total.stock1), half(&r->parcels[0].stock1) + half(&r->parcels[1].stock1),
         1e-10, "correlated within a group");
    near(half(&r->total.stock1), 140.625 * sqrt(568.0) / 100, 1e-10, "hand value");
    sm_unc_result_destroy(r);
    assert_int_equal(sm_uncertainty_approach1(&r, ctx, g, 2, p + 2, 2, &opt), SM_OK);
    near(r->total.stock1.estimate, 50, 1e-12, "exact group total");
    near(half(&r->total.stock1), 50 * 0.10 / sqrt(2.0), 1e-10, "independent volumes");
    sm_unc_result_destroy(r);
    sm_context_destroy(ctx);
}

/* ---- Monte Carlo against Approach 1 ---------------------------------------------------------- */

static void test_mc_mean_converges(void **state)
{
    sm_context *ctx = sm_context_create();
    sm_species_group g = group("g10", 0.5, 10, 1.5, 10, 0.25, 10, 0.5, 10);
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.draws = 20000;
    opt.seed = 7;
    /* The factors are independent, so E[C] = V·A·E[SVD]E[BEF]E[1+R]E[CF] = the estimate (the
     * truncation at 0 is 19.6σ away). The standard error of the mean is σ_C/sqrt(N) with
     * σ_C ≈ C·U/196 (Approach 1's U). */
    sm_unc_parcel p = parcel(0, 0, 150, 180, 3, 0);
    sm_unc_result *r = NULL, *a1 = NULL;
    assert_int_equal(sm_uncertainty_mc(&r, ctx, &g, 1, &p, 1, &opt), SM_OK);
    assert_int_equal(sm_uncertainty_approach1(&a1, ctx, &g, 1, &p, 1, &opt), SM_OK);
    double c1 = 150 * 3 * 0.46875, u = sqrt(300 + 4) / 100; /* U(1+R) = 10·0.25/1.25 = 2 % */
    near(r->total.stock1.estimate, c1, 1e-9, "estimate");
    double se = c1 * u / 1.96 / sqrt(20000.0);
    near(r->total.stock1.mean, c1, 4 * se, "MC mean within 4 standard errors");
    near(r->parcels[0].stock1.mean, c1, 4 * se, "parcel MC mean");
    near(half(&a1->total.stock1), c1 * u, 1e-9, "Approach 1");
    /* At U = 10 % the product is close to normal: the MC half-width within 5 %. */
    near_rel(half(&r->total.stock1), c1 * u, 0.05, "MC half-width at U = 10 %");
    sm_unc_result_destroy(r);
    sm_unc_result_destroy(a1);
    sm_context_destroy(ctx);
}

static void test_mc_matches_approach1_small_u(void **state)
{
    sm_context *ctx = sm_context_create();
    sm_species_group g[2] = {group("one", 0.5, 1, 1.5, 1, 0.25, 1, 0.5, 1),
                             group("two", 0.4, 1, 1.2, 1, 0.2, 1, 0.45, 1)};
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.draws = 20000;
    opt.seed = 11;
    opt.years = 4;
    opt.units = 2;
    sm_unc_parcel p[4] = {parcel(0, 0, 100, 130, 2, 0), parcel(1, 0, 80, 90, 5, 1),
                          parcel(0, 1, 60, 55, 1, 1), parcel(1, 1, 200, 240, 0.5, 0)};
    sm_unc_result *r = NULL, *a1 = NULL;
    assert_int_equal(sm_uncertainty_mc(&r, ctx, g, 2, p, 4, &opt), SM_OK);
    assert_int_equal(sm_uncertainty_approach1(&a1, ctx, g, 2, p, 4, &opt), SM_OK);
    const sm_unc_figures *m[7] = {&r->total, &r->units[0], &r->units[1], &r->parcels[0],
                                  &r->parcels[1], &r->parcels[2], &r->parcels[3]};
    const sm_unc_figures *a[7] = {&a1->total, &a1->units[0], &a1->units[1], &a1->parcels[0],
                                  &a1->parcels[1], &a1->parcels[2], &a1->parcels[3]};
    for (int i = 0; i < 7; i++) {
        char what[64];
        snprintf(what, sizeof what, "figure %d stock1", i);
        near_rel(half(&m[i]->stock1), half(&a[i]->stock1), 0.03, what);
        near_rel(m[i]->stock1.estimate, a[i]->stock1.estimate, 1e-12, what);
        snprintf(what, sizeof what, "figure %d stock2", i);
        near_rel(half(&m[i]->stock2), half(&a[i]->stock2), 0.03, what);
        snprintf(what, sizeof what, "figure %d sink", i);
        near_rel(half(&m[i]->sink), half(&a[i]->sink), 0.03, what);
        near_rel(m[i]->sink.estimate, a[i]->sink.estimate, 1e-12, what);
        /* The MC interval sits around the estimate. */
        assert_true(m[i]->sink.lo95 < m[i]->sink.estimate && m[i]->sink.estimate < m[i]->sink.hi95);
    }
    sm_unc_result_destroy(r);
    sm_unc_result_destroy(a1);
    sm_context_destroy(ctx);
}

/* ---- Shared draws -------------------------------------------------------------------------- */

static void test_mc_shared_draws(void **state)
{
    sm_context *ctx = sm_context_create();
    /* Two groups with identical factors: any difference comes from the draws being shared or not. */
    sm_species_group g[2] = {group("x", 0.5, 10, 1.5, 10, 0.25, 20, 0.5, 5),
                             group("y", 0.5, 10, 1.5, 10, 0.25, 20, 0.5, 5)};
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.draws = 5000;
    opt.years = 10;
    sm_unc_result *r = NULL;

    /* Same group: perfectly correlated, the total's bounds are the sums of the parcels'. */
    sm_unc_parcel same[2] = {parcel(0, 0, 100, 110, 2, 0), parcel(0, 0, 50, 70, 1, 0)};
    assert_int_equal(sm_uncertainty_mc(&r, ctx, g, 2, same, 2, &opt), SM_OK);
    const sm_unc_figures *p0 = &r->parcels[0], *p1 = &r->parcels[1];
    near_rel(half(&r->total.stock1), half(&p0->stock1) + half(&p1->stock1), 1e-12,
             "same group: half-widths add");
    near_rel(r->total.stock1.lo95, p0->stock1.lo95 + p1->stock1.lo95, 1e-12, "lo adds");
    near_rel(r->total.stock2.hi95, p0->stock2.hi95 + p1->stock2.hi95, 1e-12, "hi adds");
    /* Factors are shared by both dates: the sink's interval scales with |C2 − C1|. Parcel 0
     * grows by 2·10 = 20 m³, parcel 1 by 1·20 = 20 m³: equal sinks, equal intervals; relative
     * to its estimate each sink has the stock's relative half-width. */
    near_rel(p0->sink.estimate, p1->sink.estimate, 1e-12, "equal sinks");
    near_rel(half(&p0->sink), half(&p1->sink), 1e-12, "sink interval follows the difference");
    near_rel(half(&p0->sink) / p0->sink.estimate, half(&p0->stock1) / p0->stock1.estimate,
             1e-12, "sink and stock share the relative half-width");
    /* With independent draws per date the half-width would be ~ sqrt(C1² + C2²)/ΔC times as
     * large: here 15 times; it is not. */
    assert_true(half(&p0->sink) * 10 / (44.0 / 12) < 0.2 * half(&p0->stock2));
    sm_unc_result_destroy(r);

    /* Different groups: independent, the total's half-width ≈ sqrt(2)·each < the sum. */
    sm_unc_parcel diff[2] = {parcel(0, 0, 100, 110, 1, 0), parcel(1, 0, 100, 110, 1, 0)};
    assert_int_equal(sm_uncertainty_mc(&r, ctx, g, 2, diff, 2, &opt), SM_OK);
    double ratio = half(&r->total.stock1) / (half(&r->parcels[0].stock1) +
                                             half(&r->parcels[1].stock1));
    near(ratio, 1 / sqrt(2.0), 0.05, "different groups: independent");
    /* Equal parcels of identical groups: equal estimates, different draws. */
    near_rel(r->parcels[0].stock1.estimate, r->parcels[1].stock1.estimate, 1e-15, "estimates");
    assert_true(r->parcels[0].stock1.lo95 != r->parcels[1].stock1.lo95);
    sm_unc_result_destroy(r);

    /* A losing parcel: the bounds swap with the sign and keep their order. */
    sm_unc_parcel loss[2] = {parcel(0, 0, 110, 100, 2, 0), parcel(0, 0, 100, 110, 2, 0)};
    assert_int_equal(sm_uncertainty_mc(&r, ctx, g, 2, loss, 2, &opt), SM_OK);
    near_rel(r->parcels[0].sink.lo95, -r->parcels[1].sink.hi95, 1e-12, "mirror lo");
    near_rel(r->parcels[0].sink.hi95, -r->parcels[1].sink.lo95, 1e-12, "mirror hi");
    near(r->total.sink.estimate, 0, 1e-12, "opposite sinks cancel");
    near(half(&r->total.sink), 0, 1e-9, "and so do their shared errors");
    sm_unc_result_destroy(r);
    sm_context_destroy(ctx);
}

static void test_mc_volume_level_error(void **state)
{
    sm_context *ctx = sm_context_create();
    sm_species_group g = group("exact", 0.5, 0, 1.5, 0, 0.25, 0, 0.5, 0);
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.draws = 20000;
    opt.seed = 3;
    /* Only the volumes are uncertain (10 %): each parcel ±10 %, its sink the same relative
     * half-width as its stocks (one multiplier for both dates), two parcels independent. */
    sm_unc_parcel p[2] = {parcel(0, 0, 100, 120, 1, 10), parcel(0, 0, 100, 120, 1, 10)};
    sm_unc_result *r = NULL;
    assert_int_equal(sm_uncertainty_mc(&r, ctx, &g, 1, p, 2, &opt), SM_OK);
    const sm_unc_figures *f = &r->parcels[0];
    near_rel(half(&f->stock1), 0.10 * f->stock1.estimate, 0.03, "volume U alone");
    near_rel(half(&f->sink) / f->sink.estimate, half(&f->stock2) / f->stock2.estimate, 1e-12,
             "level error: sink and stocks share the relative U");
    near(half(&r->total.stock1) / (half(&f->stock1) + half(&r->parcels[1].stock1)),
         1 / sqrt(2.0), 0.03, "volumes independent between parcels");
    sm_unc_result_destroy(r);
    sm_context_destroy(ctx);
}

/* The parcel path (percentiles of one variable, scaled) against the unit path (sums per draw):
 * each parcel alone in its unit must get the same interval from both. */
static void test_mc_parcel_path_matches_unit_path(void **state)
{
    sm_context *ctx = sm_context_create();
    sm_species_group g[2] = {group("x", 0.5, 12, 1.5, 8, 0.25, 30, 0.5, 3),
                             group("y", 0.4, 6, 1.3, 15, 0.2, 50, 0.48, 2)};
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.draws = 999;
    opt.units = 4;
    opt.years = 3;
    sm_unc_parcel p[4] = {parcel(0, 0, 100, 130, 2, 0), parcel(1, 1, 80, 60, 5, 0),
                          parcel(0, 2, 60, 75, 1, 8), parcel(1, 3, 200, 150, 0.5, 20)};
    sm_unc_result *r = NULL;
    assert_int_equal(sm_uncertainty_mc(&r, ctx, g, 2, p, 4, &opt), SM_OK);
    for (int i = 0; i < 4; i++) {
        const sm_interval *a[3] = {&r->parcels[i].stock1, &r->parcels[i].stock2,
                                   &r->parcels[i].sink};
        const sm_interval *b[3] = {&r->units[i].stock1, &r->units[i].stock2, &r->units[i].sink};
        for (int k = 0; k < 3; k++) {
            char what[64];
            snprintf(what, sizeof what, "parcel %d figure %d", i, k);
            near_rel(a[k]->estimate, b[k]->estimate, 1e-12, what);
            near_rel(a[k]->mean, b[k]->mean, 1e-12, what);
            near_rel(a[k]->lo95, b[k]->lo95, 1e-12, what);
            near_rel(a[k]->hi95, b[k]->hi95, 1e-12, what);
        }
    }
    sm_unc_result_destroy(r);
    sm_context_destroy(ctx);
}

/* ---- The percentile rule ------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Type 7 on a sorted copy: h = (n − 1)p, x_⌊h⌋ + (h − ⌊h⌋)(x_⌊h⌋+1 − x_⌊h⌋). */
static double type7(const double *sorted, size_t n, double p)
{
    double h = (double)(n - 1) * p;
    size_t k = (size_t)floor(h + 1e-9);
    double frac = h - (double)k;
    if (frac < 1e-9 || k + 1 >= n)
        return sorted[k];
    return sorted[k] + frac * (sorted[k + 1] - sorted[k]);
}

static void test_mc_percentile_rule(void **state)
{
    sm_context *ctx = sm_context_create();
    sm_species_group g = group("g", 0.5, 20, 1.5, 20, 0.25, 20, 0.5, 20);
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    sm_unc_parcel p = parcel(0, 0, 1, 1, 1, 0);
    enum { NMAX = 121 };
    double x[NMAX], sorted[NMAX], prev_sum = 0;
    /* Draw d does not depend on the number of draws, so running with n = 1, 2, … draws gives
     * each draw as n·mean_n − (n − 1)·mean_(n−1); then the reported bounds must be type 7 of
     * the sorted draws, for every n (h integral for n = 41, 81, 121). */
    for (size_t n = 1; n <= NMAX; n++) {
        sm_unc_result *r = NULL;
        opt.draws = n;
        assert_int_equal(sm_uncertainty_mc(&r, ctx, &g, 1, &p, 1, &opt), SM_OK);
        double sum = r->total.stock1.mean * (double)n;
        x[n - 1] = sum - prev_sum;
        prev_sum = sum;
        memcpy(sorted, x, n * sizeof *x);
        qsort(sorted, n, sizeof *sorted, cmp_double);
        char what[64];
        snprintf(what, sizeof what, "n = %zu lo", n);
        near_rel(r->total.stock1.lo95, type7(sorted, n, 0.025), 1e-9, what);
        near_rel(r->parcels[0].stock1.lo95, type7(sorted, n, 0.025), 1e-9, what);
        snprintf(what, sizeof what, "n = %zu hi", n);
        near_rel(r->total.stock1.hi95, type7(sorted, n, 0.975), 1e-9, what);
        near_rel(r->parcels[0].stock1.hi95, type7(sorted, n, 0.975), 1e-9, what);
        sm_unc_result_destroy(r);
    }
    sm_context_destroy(ctx);
}

/* ---- Determinism ------------------------------------------------------------------------------ */

static sm_unc_result *run_mc(sm_context *ctx, const sm_species_group *g, size_t ng,
                             const sm_unc_parcel *p, size_t np, uint64_t seed, int threads)
{
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.draws = 777;
    opt.units = 3;
    opt.seed = seed;
    opt.threads = threads;
    sm_unc_result *r = NULL;
    assert_int_equal(sm_uncertainty_mc(&r, ctx, g, ng, p, np, &opt), SM_OK);
    return r;
}

static int same_result(const sm_unc_result *a, const sm_unc_result *b)
{
    return a->nparcels == b->nparcels && a->nunits == b->nunits &&
           memcmp(a->parcels, b->parcels, a->nparcels * sizeof *a->parcels) == 0 &&
           memcmp(a->units, b->units, a->nunits * sizeof *a->units) == 0 &&
           memcmp(&a->total, &b->total, sizeof a->total) == 0;
}

static void test_mc_determinism(void **state)
{
    sm_context *ctx = sm_context_create();
    sm_species_group g[3] = {group("x", 0.5, 12, 1.5, 8, 0.25, 30, 0.5, 3),
                             group("y", 0.4, 6, 1.3, 15, 0.2, 50, 0.48, 2),
                             group("z", 0.6, 9, 1.4, 11, 0.3, 25, 0.5, 4)};
    enum { NP = 500 };
    sm_unc_parcel *p = calloc(NP, sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < NP; i++)
        p[i] = parcel(i % 3, i % 7 % 3, 50 + i % 90, 60 + i % 97, 0.5 + i % 5, i % 4 ? 0 : 12);
    sm_unc_result *a = run_mc(ctx, g, 3, p, NP, 42, 1), *b = run_mc(ctx, g, 3, p, NP, 42, 1);
    sm_unc_result *c = run_mc(ctx, g, 3, p, NP, 42, 2), *d = run_mc(ctx, g, 3, p, NP, 42, 5);
    sm_unc_result *e = run_mc(ctx, g, 3, p, NP, 43, 2);
    assert_true(same_result(a, b));
    assert_true(same_result(a, c));
    assert_true(same_result(a, d));
    assert_false(same_result(a, e));
    assert_true(a->total.stock1.lo95 != e->total.stock1.lo95);
    assert_true(a->parcels[0].stock1.hi95 != e->parcels[0].stock1.hi95);
    assert_true(a->parcels[4].stock1.hi95 != e->parcels[4].stock1.hi95); /* a volume-U parcel */
    /* A parcel's draws do not depend on the others: the first 100 alone give the same
     * intervals for those 100. */
    sm_unc_result *f = run_mc(ctx, g, 3, p, 100, 42, 2);
    assert_memory_equal(f->parcels, a->parcels, 100 * sizeof *f->parcels);
    sm_unc_result_destroy(a);
    sm_unc_result_destroy(b);
    sm_unc_result_destroy(c);
    sm_unc_result_destroy(d);
    sm_unc_result_destroy(e);
    sm_unc_result_destroy(f);
    free(p);
    sm_context_destroy(ctx);
}

/* ---- Errors ----------------------------------------------------------------------------------- */

static void expect_error(sm_context *ctx, const sm_species_group *g, size_t ng,
                         const sm_unc_parcel *p, size_t np, const sm_unc_options *opt,
                         int both, const char *part)
{
    sm_unc_result *r = (sm_unc_result *)1;
    assert_int_equal(sm_uncertainty_mc(&r, ctx, g, ng, p, np, opt), SM_ERR_INPUT);
    assert_null(r);
    message_has(ctx, part);
    if (both) {
        r = (sm_unc_result *)1;
        sm_context_clear(ctx);
        assert_int_equal(sm_uncertainty_approach1(&r, ctx, g, ng, p, np, opt), SM_ERR_INPUT);
        assert_null(r);
        message_has(ctx, part);
    }
}

static void test_errors(void **state)
{
    sm_context *ctx = sm_context_create();
    const sm_species_group *g = groups_ab();
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    sm_unc_parcel p[2] = {parcel(0, 0, 100, 120, 2, 0), parcel(1, 0, 100, 120, 2, 0)};
    p[1].id = "P-7";

    opt.draws = 0;
    expect_error(ctx, g, 2, p, 2, &opt, 0, "draws is 0");
    opt.draws = 10;
    opt.years = 0;
    expect_error(ctx, g, 2, p, 2, &opt, 1, "years 0");
    opt.years = 1;
    opt.version = 2;
    expect_error(ctx, g, 2, p, 2, &opt, 1, "version 2");
    opt.version = 1;
    opt.threads = -1;
    expect_error(ctx, g, 2, p, 2, &opt, 0, "threads -1");
    opt.threads = 0;

    p[1].group = 2;
    expect_error(ctx, g, 2, p, 2, &opt, 1, "parcel 1 ('P-7'): group 2 is out of range (2 groups)");
    p[1].group = 1;
    p[1].unit = 1;
    expect_error(ctx, g, 2, p, 2, &opt, 1, "parcel 1 ('P-7'): unit 1 is out of range (1 units)");
    p[1].unit = 0;
    p[1].area_ha = -1;
    expect_error(ctx, g, 2, p, 2, &opt, 1, "parcel 1 ('P-7'): area -1 ha is not >= 0");
    p[1].area_ha = 2;
    p[0].v2 = NAN;
    expect_error(ctx, g, 2, p, 2, &opt, 1, "parcel 0: the volume at t2 is missing (NaN)");
    p[0].v2 = -3;
    expect_error(ctx, g, 2, p, 2, &opt, 1, "the volume at t2, -3 m3/ha, is not >= 0");
    p[0].v2 = 120;
    p[0].v_u95_pct = NAN;
    expect_error(ctx, g, 2, p, 2, &opt, 1, "parcel 0: volume U95 nan is not a percentage");
    p[0].v_u95_pct = 0;

    sm_species_group bad[2] = {g[0], g[1]};
    bad[1].svd = 0;
    expect_error(ctx, bad, 2, p, 2, &opt, 1, "group 1 ('b'): svd 0 is not > 0");
    bad[1].svd = 0.4;
    bad[1].r_u95 = -5;
    expect_error(ctx, bad, 2, p, 2, &opt, 1, "group 1 ('b'): r_u95 -5 is not a percentage");

    /* No parcels is fine: zeros everywhere. */
    sm_unc_result *r = NULL;
    assert_int_equal(sm_uncertainty_mc(&r, ctx, g, 2, NULL, 0, &opt), SM_OK);
    near(r->total.stock1.hi95, 0, 0, "empty total");
    sm_unc_result_destroy(r);
    sm_unc_result_destroy(NULL);
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_approach1_single_parcel),
        cmocka_unit_test(test_approach1_sum_of_groups),
        cmocka_unit_test(test_approach1_shared_factors),
        cmocka_unit_test(test_mc_mean_converges),
        cmocka_unit_test(test_mc_matches_approach1_small_u),
        cmocka_unit_test(test_mc_shared_draws),
        cmocka_unit_test(test_mc_volume_level_error),
        cmocka_unit_test(test_mc_parcel_path_matches_unit_path),
        cmocka_unit_test(test_mc_percentile_rule),
        cmocka_unit_test(test_mc_determinism),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
