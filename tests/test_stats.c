/* test_stats.c: tests of the streaming coverage-weighted statistics (src/analysis/stats.c).
 * Hand-computed fixtures for every statistic, merges in every order, and a two-pass naive
 * oracle in long double over random data. Fast: at most a few hundred thousand values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sinkmap/stats.h"

#define ALL_FLAGS (SM_STATS_VALUES | SM_STATS_CLASSES | SM_STATS_WEIGHTED)

static void expect_close(double got, double want, double rel, const char *what)
{
    double tol = rel * fmax(1.0, fabs(want));
    if (isnan(got) && isnan(want))
        return;
    if (!(fabs(got - want) <= tol)) {
        print_error("%s: want %.17g, got %.17g (tolerance %.3g)\n", what, want, got, tol);
        fail();
    }
}

static void test_basic_hand(void **state)
{
    (void)state;
    /* x = 1, 2, 4 with c = 0.5, 1, 0.5: Σc = 2, Σcx = 0.5 + 2 + 2 = 4.5, mean 2.25;
     * Σc(x-m)² = 0.5·1.5625 + 1·0.0625 + 0.5·3.0625 = 2.375, variance 1.1875. */
    sm_stats *s = sm_stats_create(SM_STATS_BASIC);
    assert_non_null(s);
    assert_int_equal(sm_stats_add(s, 1, 0.5), SM_OK);
    assert_int_equal(sm_stats_add(s, 2, 1.0), SM_OK);
    assert_int_equal(sm_stats_add(s, 4, 0.5), SM_OK);
    /* Zero and negative weights are ignored. */
    assert_int_equal(sm_stats_add(s, 1000, 0.0), SM_OK);
    assert_int_equal(sm_stats_add(s, -1000, -1.0), SM_OK);
    expect_close(sm_stats_count(s), 2.0, 0, "count");
    expect_close(sm_stats_sum(s), 4.5, 0, "sum");
    expect_close(sm_stats_mean(s), 2.25, 0, "mean");
    expect_close(sm_stats_min(s), 1.0, 0, "min");
    expect_close(sm_stats_max(s), 4.0, 0, "max");
    expect_close(sm_stats_variance(s), 1.1875, 1e-15, "variance");
    expect_close(sm_stats_stdev(s), sqrt(1.1875), 1e-15, "stdev");
    expect_close(sm_stats_nodata_share(s), 0.0, 0, "nodata share");
    assert_true(isnan(sm_stats_weighted_mean(s)));

    /* Unit weights reduce to the plain population variance: 2, 4, 4, 4, 5, 5, 7, 9 has mean 5
     * and variance 4. */
    sm_stats_reset(s);
    const double v[] = {2, 4, 4, 4, 5, 5, 7, 9};
    for (int i = 0; i < 8; i++)
        sm_stats_add(s, v[i], 1.0);
    expect_close(sm_stats_mean(s), 5.0, 0, "mean of 8");
    expect_close(sm_stats_variance(s), 4.0, 1e-15, "variance of 8");
    expect_close(sm_stats_stdev(s), 2.0, 1e-15, "stdev of 8");

    /* One value: variance 0. */
    sm_stats_reset(s);
    sm_stats_add(s, 3.5, 0.25);
    expect_close(sm_stats_variance(s), 0.0, 0, "variance of one");
    expect_close(sm_stats_mean(s), 3.5, 0, "mean of one");

    /* Empty: NaN for everything but the counts. */
    sm_stats_reset(s);
    assert_true(sm_stats_count(s) == 0.0 && sm_stats_sum(s) == 0.0);
    assert_true(isnan(sm_stats_mean(s)) && isnan(sm_stats_min(s)) && isnan(sm_stats_max(s)));
    assert_true(isnan(sm_stats_variance(s)) && isnan(sm_stats_stdev(s)));
    assert_true(isnan(sm_stats_nodata_share(s)));
    sm_stats_destroy(s);
    sm_stats_destroy(NULL);
}

static void test_nodata(void **state)
{
    (void)state;
    sm_stats *s = sm_stats_create(SM_STATS_BASIC);
    /* Valid weight 1.5, nodata 0.5 (0.25 recorded, 0.25 as a NaN value): share 0.25. */
    sm_stats_add(s, 10, 1.0);
    sm_stats_add(s, 20, 0.5);
    sm_stats_add_nodata(s, 0.25);
    sm_stats_add(s, NAN, 0.25);
    sm_stats_add_nodata(s, 0.0);  /* ignored */
    sm_stats_add_nodata(s, -1.0); /* ignored */
    expect_close(sm_stats_count(s), 1.5, 0, "valid");
    expect_close(sm_stats_nodata_count(s), 0.5, 0, "nodata");
    expect_close(sm_stats_nodata_share(s), 0.25, 0, "share");
    expect_close(sm_stats_mean(s), 40.0 / 3.0, 1e-15, "mean ignores nodata");

    /* Only nodata: share 1, statistics NaN. */
    sm_stats_reset(s);
    sm_stats_add_nodata(s, 0.7);
    expect_close(sm_stats_nodata_share(s), 1.0, 0, "all nodata");
    assert_true(isnan(sm_stats_mean(s)));
    sm_stats_destroy(s);
}

static void test_weighted_mean(void **state)
{
    (void)state;
    sm_stats *s = sm_stats_create(SM_STATS_WEIGHTED);
    /* x 10, 20 with c 1, 0.5 and w 2, 4: Σcwx = 20 + 40 = 60, Σcw = 2 + 2 = 4: 15. The plain
     * coverage mean is (10 + 10) / 1.5. */
    assert_int_equal(sm_stats_add_weighted(s, 10, 1.0, 2.0), SM_OK);
    assert_int_equal(sm_stats_add_weighted(s, 20, 0.5, 4.0), SM_OK);
    expect_close(sm_stats_weighted_mean(s), 15.0, 0, "weighted mean");
    expect_close(sm_stats_mean(s), 40.0 / 3.0, 1e-15, "mean");
    /* A NaN weight leaves the weighted mean alone but counts elsewhere; zero coverage and NaN
     * values count nowhere (the NaN value as nodata). */
    sm_stats_add_weighted(s, 1000, 1.0, NAN);
    sm_stats_add_weighted(s, 5000, 0.0, 1.0);
    sm_stats_add_weighted(s, NAN, 1.0, 1.0);
    expect_close(sm_stats_weighted_mean(s), 15.0, 0, "weighted mean after NaN weight");
    expect_close(sm_stats_count(s), 2.5, 0, "count after NaN weight");
    expect_close(sm_stats_nodata_count(s), 1.0, 0, "NaN value is nodata");
    /* All weights zero: NaN. */
    sm_stats_reset(s);
    sm_stats_add_weighted(s, 3, 1.0, 0.0);
    assert_true(isnan(sm_stats_weighted_mean(s)));
    sm_stats_destroy(s);
}

static void test_quantiles_hand(void **state)
{
    (void)state;
    sm_stats *s = sm_stats_create(SM_STATS_VALUES);
    /* Added out of order: 4 (0.5), 1 (0.5), 2 (1). Sorted: 1, 2, 4; cumulative shares 0.25,
     * 0.75, 1. */
    sm_stats_add(s, 4, 0.5);
    sm_stats_add(s, 1, 0.5);
    sm_stats_add(s, 2, 1.0);
    const double q[] = {0.0, 0.1, 0.25, 0.26, 0.5, 0.75, 0.76, 1.0};
    const double want[] = {1, 1, 1, 2, 2, 2, 4, 4};
    for (int i = 0; i < 8; i++) {
        char what[64];
        snprintf(what, sizeof what, "quantile %g", q[i]);
        expect_close(sm_stats_quantile(s, q[i]), want[i], 0, what);
    }
    assert_true(isnan(sm_stats_quantile(s, -0.1)));
    assert_true(isnan(sm_stats_quantile(s, 1.1)));
    assert_true(isnan(sm_stats_quantile(s, NAN)));

    /* Adding after a query re-sorts: 0 (weight 2) makes 0 the median (share 0.5 exactly). */
    sm_stats_add(s, 0, 2.0);
    expect_close(sm_stats_quantile(s, 0.5), 0, 0, "median after adding");
    expect_close(sm_stats_quantile(s, 0.51), 1, 0, "q 0.51 after adding");

    /* Equal weights {1,1}: the median is the lower value (share 0.5 reaches 0.5). */
    sm_stats_reset(s);
    sm_stats_add(s, 7, 1.0);
    sm_stats_add(s, 3, 1.0);
    expect_close(sm_stats_quantile(s, 0.5), 3, 0, "median of two");
    /* Shares that are not binary fractions: weights 0.1, 0.2, 0.3, 0.4 on 1, 2, 3, 4 give
     * cumulative shares 0.1, 0.3, 0.6, 1; q = 0.3 is reached at 2, q = 0.6 at 3. */
    sm_stats_reset(s);
    sm_stats_add(s, 3, 0.3);
    sm_stats_add(s, 1, 0.1);
    sm_stats_add(s, 4, 0.4);
    sm_stats_add(s, 2, 0.2);
    expect_close(sm_stats_quantile(s, 0.3), 2, 0, "q 0.3");
    expect_close(sm_stats_quantile(s, 0.6), 3, 0, "q 0.6");
    expect_close(sm_stats_quantile(s, 0.1), 1, 0, "q 0.1");
    /* A hundred unit weights on 1..100: percentile k is the value k, although q·T rounds
     * above k for some of them in binary (0.07 x 100 = 7.000000000000001). */
    sm_stats *d = sm_stats_create(SM_STATS_VALUES);
    for (int i = 100; i >= 1; i--)
        sm_stats_add(d, i, 1.0);
    for (int i = 1; i <= 100; i++) {
        char what[64];
        snprintf(what, sizeof what, "percentile %d of 100", i);
        expect_close(sm_stats_quantile(d, i / 100.0), i, 0, what);
    }
    expect_close(sm_stats_quantile(d, 0.07001), 8, 0, "just above 0.07");
    sm_stats_destroy(d);
    /* q = 1 is the maximum even when its weight is tiny. */
    sm_stats_add(s, 99, 1e-13);
    expect_close(sm_stats_quantile(s, 1.0), 99, 0, "q 1 with a tiny weight");
    /* Empty: NaN. */
    sm_stats_reset(s);
    assert_true(isnan(sm_stats_quantile(s, 0.5)));
    /* Without SM_STATS_VALUES nothing is kept: NaN. */
    sm_stats *b = sm_stats_create(SM_STATS_BASIC);
    sm_stats_add(b, 1, 1);
    assert_true(isnan(sm_stats_quantile(b, 0.5)));
    sm_stats_destroy(b);
    sm_stats_destroy(s);
}

static void test_classes_hand(void **state)
{
    (void)state;
    sm_stats *s = sm_stats_create(SM_STATS_CLASSES);
    /* 1: 0.5, 2: 0.25 + 0.25, 3: 0.5, 5: 0.1. Total 1.6. Majority: 1, 2, 3 tie -> 1. */
    sm_stats_add(s, 3, 0.5);
    sm_stats_add(s, 2, 0.25);
    sm_stats_add(s, 1, 0.5);
    sm_stats_add(s, 2, 0.25);
    sm_stats_add(s, 5, 0.1);
    expect_close(sm_stats_majority(s), 1, 0, "majority tie");
    expect_close(sm_stats_minority(s), 5, 0, "minority");
    assert_int_equal(sm_stats_variety(s), 4);
    expect_close(sm_stats_class_frac(s, 2), 0.5 / 1.6, 1e-15, "frac 2");
    expect_close(sm_stats_class_frac(s, 5), 0.1 / 1.6, 1e-15, "frac 5");
    expect_close(sm_stats_class_frac(s, 4), 0, 0, "frac absent");
    int64_t k[8];
    assert_int_equal(sm_stats_classes(s, k, 8), 4);
    assert_true(k[0] == 1 && k[1] == 2 && k[2] == 3 && k[3] == 5);
    /* Fewer places: the smallest ones, and the full count. */
    memset(k, 0, sizeof k);
    assert_int_equal(sm_stats_classes(s, k, 2), 4);
    assert_true(k[0] == 1 && k[1] == 2 && k[2] == 0);

    /* Minority ties go to the smaller class: 7 and 4 hold 0.2 each, 9 holds 0.5. */
    sm_stats_reset(s);
    sm_stats_add(s, 7, 0.2);
    sm_stats_add(s, 9, 0.5);
    sm_stats_add(s, 4, 0.2);
    expect_close(sm_stats_minority(s), 4, 0, "minority tie");
    expect_close(sm_stats_majority(s), 9, 0, "majority");
    /* Negative classes, and rounding to the nearest integer (halves away from zero). */
    sm_stats_reset(s);
    sm_stats_add(s, -2.5, 1.0); /* class -3 */
    sm_stats_add(s, 2.4, 1.0);  /* class 2 */
    sm_stats_add(s, 2.5, 0.5);  /* class 3 */
    expect_close(sm_stats_majority(s), -3, 0, "negative majority tie");
    expect_close(sm_stats_minority(s), 3, 0, "rounded minority");
    expect_close(sm_stats_class_frac(s, 2), 0.4, 1e-15, "frac of rounded 2.4");
    /* Empty. */
    sm_stats_reset(s);
    assert_true(isnan(sm_stats_majority(s)) && isnan(sm_stats_minority(s)));
    assert_int_equal(sm_stats_variety(s), 0);
    assert_true(isnan(sm_stats_class_frac(s, 1)));
    assert_int_equal(sm_stats_classes(s, k, 8), 0);

    /* Many classes grow the table: 10000 classes, class k with weight k+1. */
    for (int64_t c = 0; c < 10000; c++)
        sm_stats_add(s, (double)(c * 7919 - 20000000), (double)(c + 1));
    assert_int_equal(sm_stats_variety(s), 10000);
    expect_close(sm_stats_majority(s), (double)(9999 * 7919 - 20000000), 0, "many: majority");
    expect_close(sm_stats_minority(s), -20000000.0, 0, "many: minority");
    double total = 10000.0 * 10001.0 / 2.0;
    expect_close(sm_stats_class_frac(s, 123 * 7919 - 20000000), 124.0 / total, 1e-14, "many");
    int64_t *all = malloc(10000 * sizeof *all);
    assert_int_equal(sm_stats_classes(s, all, 10000), 10000);
    for (int i = 0; i < 10000; i++)
        assert_true(all[i] == (int64_t)i * 7919 - 20000000);
    free(all);
    sm_stats_destroy(s);
}

/* ---- random data, merges and the naive oracle --------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unif(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

typedef struct sample {
    double x, c, w;
    int nodata;
} sample;

/* n samples: integer-valued x in [0, 20) half of the time (for the classes), continuous
 * otherwise; coverage in (0,1] with a few exact zeros and ones; 5% nodata. */
static sample *random_samples(rng *r, size_t n, double offset)
{
    sample *v = malloc(n * sizeof *v);
    assert_non_null(v);
    int ints = rng_unif(r) < 0.5;
    for (size_t i = 0; i < n; i++) {
        double u = rng_unif(r);
        v[i].x = ints ? floor(20.0 * rng_unif(r)) : offset + 100.0 * rng_unif(r) - 30.0;
        v[i].c = u < 0.05 ? 0.0 : (u < 0.2 ? 1.0 : rng_unif(r));
        v[i].w = 0.5 + rng_unif(r);
        v[i].nodata = rng_unif(r) < 0.05;
    }
    return v;
}

static void feed(sm_stats *s, const sample *v, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++) {
        if (v[i].nodata)
            sm_stats_add_nodata(s, v[i].c);
        else
            assert_int_equal(sm_stats_add_weighted(s, v[i].x, v[i].c, v[i].w), SM_OK);
    }
}

static void expect_same(sm_stats *a, sm_stats *b, double rel, const char *what)
{
    char m[128];
#define SAME(f)                                                                                    \
    do {                                                                                           \
        snprintf(m, sizeof m, "%s: %s", what, #f);                                                 \
        expect_close(f(a), f(b), rel, m);                                                          \
    } while (0)
    SAME(sm_stats_count);
    SAME(sm_stats_nodata_count);
    SAME(sm_stats_nodata_share);
    SAME(sm_stats_sum);
    SAME(sm_stats_mean);
    SAME(sm_stats_min);
    SAME(sm_stats_max);
    SAME(sm_stats_variance);
    SAME(sm_stats_stdev);
    SAME(sm_stats_weighted_mean);
    SAME(sm_stats_majority);
    SAME(sm_stats_minority);
#undef SAME
    assert_int_equal(sm_stats_variety(a), sm_stats_variety(b));
    for (int k = -1; k < 21; k++) {
        snprintf(m, sizeof m, "%s: class_frac(%d)", what, k);
        double fa = sm_stats_class_frac(a, k), fb = sm_stats_class_frac(b, k);
        expect_close(fa, fb, rel, m);
    }
    for (int i = 0; i <= 20; i++) {
        double q = i / 20.0;
        snprintf(m, sizeof m, "%s: quantile(%g)", what, q);
        /* The same multiset of pairs: the same value (ties between equal x are harmless). */
        double qa = sm_stats_quantile(a, q), qb = sm_stats_quantile(b, q);
        if (qa != qb) {
            /* A cumulative share within rounding of q may pick a neighbour; accept only that. */
            print_error("%s: %.17g vs %.17g\n", m, qa, qb);
            fail();
        }
    }
}

static void test_merge(void **state)
{
    (void)state;
    rng r = {7};
    for (int round = 0; round < 20; round++) {
        size_t n = 2000 + (size_t)(rng_unif(&r) * 3000);
        sample *v = random_samples(&r, n, round % 2 ? 1e6 : 0.0);
        sm_stats *one = sm_stats_create(ALL_FLAGS);
        feed(one, v, 0, n);

        /* Two halves merged equal one accumulator over all. */
        size_t cut = n / 3;
        sm_stats *a = sm_stats_create(ALL_FLAGS), *b = sm_stats_create(ALL_FLAGS);
        feed(a, v, 0, cut);
        feed(b, v, cut, n);
        assert_int_equal(sm_stats_merge(a, b), SM_OK);
        expect_same(a, one, 1e-12, "halves");

        /* Four parts merged in three orders: ((p0+p1)+(p2+p3)), (((p3+p2)+p1)+p0), and
         * into an empty accumulator one by one from the middle out. */
        size_t cuts[5] = {0, n / 4, n / 2, 3 * n / 4, n};
        sm_stats *p[4];
        for (int i = 0; i < 4; i++) {
            p[i] = sm_stats_create(ALL_FLAGS);
            feed(p[i], v, cuts[i], cuts[i + 1]);
        }
        sm_stats *x = sm_stats_create(ALL_FLAGS), *y = sm_stats_create(ALL_FLAGS);
        sm_stats *z = sm_stats_create(ALL_FLAGS);
        sm_stats *t01 = sm_stats_create(ALL_FLAGS), *t23 = sm_stats_create(ALL_FLAGS);
        sm_stats_merge(t01, p[0]);
        sm_stats_merge(t01, p[1]);
        sm_stats_merge(t23, p[2]);
        sm_stats_merge(t23, p[3]);
        sm_stats_merge(x, t01);
        sm_stats_merge(x, t23);
        sm_stats_merge(y, p[3]);
        sm_stats_merge(y, p[2]);
        sm_stats_merge(y, p[1]);
        sm_stats_merge(y, p[0]);
        sm_stats_merge(z, p[1]);
        sm_stats_merge(z, p[2]);
        sm_stats_merge(z, p[0]);
        sm_stats_merge(z, p[3]);
        expect_same(x, one, 1e-12, "pairs");
        expect_same(y, one, 1e-12, "reversed");
        expect_same(z, one, 1e-12, "middle out");

        /* Merging an empty accumulator changes nothing; merging into one copies. */
        sm_stats *e = sm_stats_create(ALL_FLAGS);
        assert_int_equal(sm_stats_merge(x, e), SM_OK);
        expect_same(x, one, 1e-12, "empty merged in");

        for (int i = 0; i < 4; i++)
            sm_stats_destroy(p[i]);
        sm_stats_destroy(t01);
        sm_stats_destroy(t23);
        sm_stats_destroy(x);
        sm_stats_destroy(y);
        sm_stats_destroy(z);
        sm_stats_destroy(e);
        sm_stats_destroy(a);
        sm_stats_destroy(b);
        sm_stats_destroy(one);
        free(v);
    }

    /* Different flags do not merge. */
    sm_stats *a = sm_stats_create(SM_STATS_VALUES), *b = sm_stats_create(SM_STATS_CLASSES);
    assert_int_equal(sm_stats_merge(a, b), SM_ERR_INPUT);
    sm_stats_destroy(a);
    sm_stats_destroy(b);

    /* An accumulator merged into itself doubles every weight: the mean, variance, shares and
     * quantiles stay, the counts double. */
    sm_stats *s = sm_stats_create(ALL_FLAGS), *d = sm_stats_create(ALL_FLAGS);
    const double xs[] = {1, 2, 4, 2, 9};
    const double cs[] = {0.5, 1, 0.5, 0.25, 0.75};
    for (int i = 0; i < 5; i++) {
        sm_stats_add_weighted(s, xs[i], cs[i], 2.0);
        sm_stats_add_weighted(d, xs[i], cs[i], 2.0);
        sm_stats_add_weighted(d, xs[i], cs[i], 2.0);
    }
    sm_stats_add_nodata(s, 0.5);
    sm_stats_add_nodata(d, 1.0);
    assert_int_equal(sm_stats_merge(s, s), SM_OK);
    expect_same(s, d, 1e-14, "self merge");
    sm_stats_destroy(s);
    sm_stats_destroy(d);
}

/* The naive reference: two passes in long double over the kept samples. */
static void test_oracle(void **state)
{
    (void)state;
    rng r = {20240611};
    for (int round = 0; round < 40; round++) {
        size_t n = 1 + (size_t)(rng_unif(&r) * (round < 10 ? 20 : 20000));
        double offset = round % 3 == 0 ? 1e9 : (round % 3 == 1 ? -5.0 : 0.0);
        sample *v = random_samples(&r, n, offset);
        sm_stats *s = sm_stats_create(ALL_FLAGS);
        feed(s, v, 0, n);

        long double sc = 0, scx = 0, snd = 0, scw = 0, scwx = 0;
        double mn = INFINITY, mx = -INFINITY;
        /* Classes by linear search: x rounded half away from zero. */
        int64_t *ck = malloc(n * sizeof *ck);
        long double *cw = malloc(n * sizeof *cw);
        size_t nc = 0;
        assert_true(ck && cw);
        for (size_t i = 0; i < n; i++) {
            if (!(v[i].c > 0))
                continue;
            if (v[i].nodata) {
                snd += v[i].c;
                continue;
            }
            sc += v[i].c;
            scx += (long double)v[i].c * v[i].x;
            scw += (long double)v[i].c * v[i].w;
            scwx += (long double)v[i].c * v[i].w * v[i].x;
            mn = fmin(mn, v[i].x);
            mx = fmax(mx, v[i].x);
            int64_t k = (int64_t)(v[i].x < 0 ? -floor(-v[i].x + 0.5) : floor(v[i].x + 0.5));
            size_t j = 0;
            while (j < nc && ck[j] != k)
                j++;
            if (j == nc) {
                ck[nc] = k;
                cw[nc++] = 0;
            }
            cw[j] += v[i].c;
        }
        long double mean = scx / sc, m2 = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i].c > 0 && !v[i].nodata)
                m2 += v[i].c * ((long double)v[i].x - mean) * ((long double)v[i].x - mean);
        double var = (double)(m2 / sc);

        expect_close(sm_stats_count(s), (double)sc, 1e-13, "oracle count");
        expect_close(sm_stats_nodata_count(s), (double)snd, 1e-13, "oracle nodata");
        expect_close(sm_stats_nodata_share(s), (double)(snd / (sc + snd)), 1e-13, "oracle share");
        expect_close(sm_stats_sum(s), (double)scx, 1e-12, "oracle sum");
        expect_close(sm_stats_mean(s), (double)mean, 1e-13, "oracle mean");
        expect_close(sm_stats_min(s), mn, 0, "oracle min");
        expect_close(sm_stats_max(s), mx, 0, "oracle max");
        /* West's update keeps the variance accurate even with an offset of 1e9 (a naive
         * Σcx² - (Σcx)²/Σc in double would lose every digit there). */
        expect_close(sm_stats_variance(s), var, 1e-9, "oracle variance");
        expect_close(sm_stats_weighted_mean(s), (double)(scwx / scw), 1e-13, "oracle wmean");

        /* Classes: fractions, variety, majority and minority with ties to the smaller. */
        size_t maj = 0, mnr = 0;
        for (size_t j = 0; j < nc; j++) {
            if (cw[j] > cw[maj] || (cw[j] == cw[maj] && ck[j] < ck[maj]))
                maj = j;
            if (cw[j] < cw[mnr] || (cw[j] == cw[mnr] && ck[j] < ck[mnr]))
                mnr = j;
            expect_close(sm_stats_class_frac(s, ck[j]), (double)(cw[j] / sc), 1e-12, "oracle frac");
        }
        assert_int_equal(sm_stats_variety(s), nc);
        /* (Random weights make exact ties unlikely; the hand tests cover them.) */
        expect_close(sm_stats_majority(s), (double)ck[maj], 0, "oracle majority");
        expect_close(sm_stats_minority(s), (double)ck[mnr], 0, "oracle minority");
        free(ck);
        free(cw);

        /* Quantiles: the smallest x whose cumulative weight reaches q·Σc, by brute force over
         * every candidate (O(n²) for the small rounds, sampled candidates for the big). */
        for (int qi = 0; qi <= 10; qi++) {
            double q = qi / 10.0;
            double best = INFINITY;
            long double closest = INFINITY;
            size_t step = n > 400 ? 0 : 1;
            /* The answer x* satisfies W(<= x*) >= q·Σc and W(< x*) < q·Σc; check both for the
             * returned value, with long double sums, unless a share is within 1e-12 of q. */
            double got = sm_stats_quantile(s, q);
            long double le = 0, lt = 0;
            for (size_t i = 0; i < n; i++) {
                if (!(v[i].c > 0) || v[i].nodata)
                    continue;
                if (v[i].x <= got)
                    le += v[i].c;
                if (v[i].x < got)
                    lt += v[i].c;
            }
            long double target = (long double)q * sc;
            closest = fminl(fabsl(le - target), fabsl(lt - target));
            if (closest > 1e-12L * sc) {
                if (!(le >= target && lt < target)) {
                    print_error("quantile %g: got %.17g, W(<=) %.17Lg, W(<) %.17Lg, target "
                                "%.17Lg\n",
                                q, got, le, lt, target);
                    fail();
                }
            }
            /* And, for the small rounds, the brute force over every candidate picks the same
             * value when it is unambiguous. */
            for (size_t i = 0; step == 1 && i < n; i++) {
                if (!(v[i].c > 0) || v[i].nodata)
                    continue;
                long double w = 0;
                for (size_t k = 0; k < n; k++)
                    if (v[k].c > 0 && !v[k].nodata && v[k].x <= v[i].x)
                        w += v[k].c;
                if (w - target > 1e-12L * sc && v[i].x < best)
                    best = v[i].x;
            }
            if (step == 1 && closest > 1e-12L * sc && q > 0)
                expect_close(got, best, 0, "oracle quantile brute force");
        }
        sm_stats_destroy(s);
        free(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_hand),    cmocka_unit_test(test_nodata),
        cmocka_unit_test(test_weighted_mean), cmocka_unit_test(test_quantiles_hand),
        cmocka_unit_test(test_classes_hand),  cmocka_unit_test(test_merge),
        cmocka_unit_test(test_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
