/* test_maxlik.c: tests of Gaussian maximum likelihood (src/analysis/maxlik.c): χ² quantiles
 * against table values, the discriminant on a 2-D example worked out by hand, exact labels on
 * separable clusters, rejection, and the errors for a singular covariance and too few samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sinkmap/maxlik.h"

static void expect_near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s: want %.9f, got %.9f\n", what, want, got);
        fail();
    }
}

static void expect_message(sm_context *ctx, const char *part)
{
    const char *m = sm_context_message(ctx);
    if (!strstr(m, part)) {
        print_error("message \"%s\" does not contain \"%s\"\n", m, part);
        fail();
    }
}

/* A deterministic standard normal (LCG + Box-Muller), so fixtures need no files. */
static double gauss(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    double u1 = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    double u2 = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static void test_chi2_quantiles(void **state)
{
    (void)state;
    /* Values from standard χ² tables (e.g. Abramowitz & Stegun 26.4), 6 decimals. */
    static const struct {
        double level;
        int dof;
        double q;
    } table[] = {
        {0.95, 1, 3.841459},  {0.99, 4, 13.276704}, {0.999, 6, 22.457744}, {0.5, 2, 1.386294},
        {0.05, 10, 3.940299}, {0.999, 1, 10.827566}, {0.99, 30, 50.892181}, {0.001, 3, 0.024298},
        {0.95, 2, 5.991465},  {0.999, 2, 13.815511},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "chi2(%g, %d)", table[i].level, table[i].dof);
        double q = sm_chi2_quantile(table[i].level, table[i].dof);
        expect_near(q, table[i].q, 5e-7, what);
        /* and the distribution function inverts it to 1e-12 */
        expect_near(sm_chi2_cdf(q, table[i].dof), table[i].level, 1e-12, what);
    }
    /* P(1, x) = 1 - e^-x exactly (the exponential distribution) */
    expect_near(sm_gamma_p(1.0, 0.5), 1 - exp(-0.5), 1e-15, "P(1, 0.5)");
    expect_near(sm_gamma_p(1.0, 7.0), 1 - exp(-7.0), 1e-15, "P(1, 7)");
    /* arguments out of range give NaN */
    assert_true(isnan(sm_chi2_quantile(1.0, 3)));
    assert_true(isnan(sm_chi2_quantile(0.0, 3)));
    assert_true(isnan(sm_chi2_quantile(0.5, 0)));
}

/* Two classes in 2-D, built from their statistics:
 *   class a: μ = (1, 2), Σ = [[4, 2], [2, 3]], prior weight 1
 *   class b: μ = (0, 0), Σ = I,                prior weight 3   → π = (0.25, 0.75)
 * At x = (3, 1): for a, d = (2, -1), Σ⁻¹ = [[3, -2], [-2, 4]] / 8, so
 *   D² = (3·4 + 2·(-2)·2·(-1) + 4·1) / 8 = (12 + 8 + 4) / 8 = 3, |Σ| = 12 − 4 = 8,
 *   g_a = ln 0.25 − ½ ln 8 − 3/2 = −1.3862944 − 1.0397208 − 1.5 = −3.9260151;
 * for b, D² = 9 + 1 = 10, g_b = ln 0.75 − 0 − 5 = −5.2876821.
 * a wins with posterior 1 / (1 + e^(g_b − g_a)) = 0.7960305. */
static void test_discriminant_by_hand(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    const double mean[] = {1, 2, 0, 0};
    const double cov[] = {4, 2, 2, 3, 1, 0, 0, 1};
    const double prior[] = {1, 3};
    const char *names[] = {"a", "b"};
    sm_maxlik *m = NULL;
    assert_int_equal(sm_maxlik_create(&m, ctx, 2, 2, mean, cov, prior, NULL, 0.999, names, NULL),
                     SM_OK);
    expect_near(sm_maxlik_prior(m, 0), 0.25, 1e-15, "prior a");
    const float x[] = {3, 1};
    double d2;
    expect_near(sm_maxlik_discriminant(m, 0, x, &d2), -3.9260151320, 1e-9, "g_a");
    expect_near(d2, 3.0, 1e-12, "D2 a");
    expect_near(sm_maxlik_discriminant(m, 1, x, &d2), -5.2876820725, 1e-9, "g_b");
    expect_near(d2, 10.0, 1e-12, "D2 b");
    float post = 0;
    assert_int_equal(sm_maxlik_predict(m, x, &post), 0);
    expect_near(post, 0.7960304857, 1e-6, "posterior");
    /* rejection: at (30, 40) class b has D² = 2500, far beyond χ²₂(0.999) = 13.815511 */
    expect_near(sm_maxlik_reject_d2(m), 13.815511, 5e-7, "rejection threshold");
    const float far[] = {30, 40};
    assert_int_equal(sm_maxlik_predict(m, far, NULL), -1);
    /* x = (1, 2) + (0, 3.7): D²_a = 3.7² · 4/8 = 6.845 < 13.8: accepted, class a */
    const float near_a[] = {1, 5.7f};
    assert_int_equal(sm_maxlik_predict(m, near_a, NULL), 0);
    /* a NaN feature is never a class */
    const float nan_x[] = {NAN, 1};
    assert_int_equal(sm_maxlik_predict(m, nan_x, &post), -1);
    sm_maxlik_destroy(m);

    /* without rejection the far pixel gets the larger discriminant */
    assert_int_equal(sm_maxlik_create(&m, ctx, 2, 2, mean, cov, prior, NULL, 0, names, NULL), SM_OK);
    assert_true(isinf(sm_maxlik_reject_d2(m)));
    assert_true(sm_maxlik_predict(m, far, NULL) >= 0);
    sm_maxlik_destroy(m);
    sm_context_destroy(ctx);
}

/* Three classes, 200 samples each, centres 20 standard deviations apart in 3-D. */
static void make_clusters(float *x, int *y, size_t per, uint64_t seed)
{
    static const double centre[3][3] = {{0, 0, 0}, {20, 0, 10}, {0, 20, -10}};
    static const double sd[3][3] = {{1, 2, 1}, {0.5, 1, 1.5}, {2, 1, 0.5}};
    uint64_t s = seed;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < per; i++) {
            size_t r = (size_t)c * per + i;
            for (int j = 0; j < 3; j++)
                x[r * 3 + (size_t)j] = (float)(centre[c][j] + sd[c][j] * gauss(&s));
            y[r] = c;
        }
}

static void test_separable_clusters(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    enum { PER = 200 };
    float x[3 * PER * 3];
    int y[3 * PER];
    make_clusters(x, y, PER, 42);
    const char *names[] = {"forest", "water", "crop"};
    sm_maxlik_options o = SM_MAXLIK_OPTIONS_INIT;
    o.reject_level = 0; /* every training sample must get its label */
    sm_maxlik *m = NULL;
    assert_int_equal(sm_maxlik_train(&m, ctx, x, y, 3 * PER, 3, 3, names, NULL, &o), SM_OK);
    for (size_t i = 0; i < 3 * PER; i++)
        assert_int_equal(sm_maxlik_predict(m, x + i * 3, NULL), y[i]);
    /* the estimated means are close to the centres (sd / sqrt(200) ≈ 0.14 at most) */
    expect_near(sm_maxlik_mean(m, 1)[0], 20, 0.2, "mean of water, feature 1");
    expect_near(sm_maxlik_mean(m, 2)[1], 20, 0.2, "mean of crop, feature 2");
    /* and the variances within 25 % */
    expect_near(sm_maxlik_cov(m, 0)[4], 4, 1.0, "variance of forest, feature 2");
    expect_near(sm_maxlik_count(m, 2), PER, 0, "count of crop");
    /* new points at the centres */
    const float q[3][3] = {{0.5f, -0.5f, 0}, {19, 1, 11}, {1, 21, -9}};
    for (int c = 0; c < 3; c++)
        assert_int_equal(sm_maxlik_predict(m, q[c], NULL), c);
    sm_maxlik_destroy(m);

    /* priors from the sample shares: 400 of class 0 and 200 of the others in 800 samples */
    float x2[4 * PER * 3];
    int y2[4 * PER];
    make_clusters(x2, y2, PER, 42);
    make_clusters(x2 + 3 * PER * 3, y2 + 3 * PER, PER / 3, 7); /* 66 more of each class */
    size_t n2 = 3 * PER + 3 * (PER / 3);
    o.prior = SM_PRIOR_SAMPLE;
    assert_int_equal(sm_maxlik_train(&m, ctx, x2, y2, n2, 3, 3, names, NULL, &o), SM_OK);
    expect_near(sm_maxlik_prior(m, 0), (double)(PER + PER / 3) / (double)n2, 1e-15, "sample prior");
    sm_maxlik_destroy(m);
    sm_context_destroy(ctx);
}

/* The fast path (classes in decreasing order of their bound ln π − ½ ln|Σ|, stopping early)
 * against the obvious oracle: every discriminant, the largest, ties to the lower index. */
static void test_predict_against_oracle(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    enum { PER = 60, K = 5, P = 3 };
    float x[K * PER * P];
    int y[K * PER];
    uint64_t s = 77;
    for (int c = 0; c < K; c++)
        for (size_t i = 0; i < PER; i++) {
            for (int j = 0; j < P; j++)
                x[((size_t)c * PER + i) * P + (size_t)j] =
                    (float)(3.0 * c * (j == c % P) + (1 + c) * 0.5 * gauss(&s));
            y[(size_t)c * PER + i] = c;
        }
    for (int level = 0; level < 2; level++) {
        sm_maxlik_options o = SM_MAXLIK_OPTIONS_INIT;
        o.prior = level ? SM_PRIOR_EQUAL : SM_PRIOR_SAMPLE;
        o.reject_level = level ? 0.99 : 0;
        sm_maxlik *m = NULL;
        assert_int_equal(sm_maxlik_train(&m, ctx, x, y, K * PER, P, K, NULL, NULL, &o), SM_OK);
        for (int i = 0; i < 20000; i++) {
            float q[P];
            for (int j = 0; j < P; j++)
                q[j] = (float)(4 * gauss(&s) + 3);
            int best = -1;
            double gbest = -INFINITY, d2best = 0;
            for (int c = 0; c < K; c++) {
                double d2, g = sm_maxlik_discriminant(m, c, q, &d2);
                if (best < 0 || g > gbest) {
                    best = c;
                    gbest = g;
                    d2best = d2;
                }
            }
            if (d2best > sm_maxlik_reject_d2(m))
                best = -1;
            float post;
            assert_int_equal(sm_maxlik_predict(m, q, NULL), best);
            assert_int_equal(sm_maxlik_predict(m, q, &post), best);
        }
        sm_maxlik_destroy(m);
    }
    sm_context_destroy(ctx);
}

static void test_rejection_rate(void **state)
{
    (void)state;
    /* One Gaussian class in 2-D: at level 0.9 about 10 % of its own samples are rejected. */
    sm_context *ctx = sm_context_create();
    enum { N = 4000 };
    float *x = malloc(N * 2 * sizeof *x);
    int *y = calloc(N, sizeof *y);
    uint64_t s = 3;
    for (size_t i = 0; i < N; i++) {
        x[2 * i] = (float)gauss(&s);
        x[2 * i + 1] = (float)(5 + 2 * gauss(&s));
    }
    sm_maxlik_options o = SM_MAXLIK_OPTIONS_INIT;
    o.reject_level = 0.9;
    sm_maxlik *m = NULL;
    assert_int_equal(sm_maxlik_train(&m, ctx, x, y, N, 2, 1, NULL, NULL, &o), SM_OK);
    expect_near(sm_maxlik_reject_d2(m), 4.605170, 5e-7, "chi2(0.9, 2)");
    size_t rejected = 0;
    for (size_t i = 0; i < N; i++)
        rejected += sm_maxlik_predict(m, x + 2 * i, NULL) < 0;
    /* binomial(4000, 0.1): sd 19; allow 4 sd */
    if (rejected < 400 - 76 || rejected > 400 + 76) {
        print_error("rejected %zu of %d, expected about 400\n", rejected, N);
        fail();
    }
    sm_maxlik_destroy(m);
    free(x);
    free(y);
    sm_context_destroy(ctx);
}

static void test_singular_covariance(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    enum { PER = 30 };
    float x[2 * PER * 2];
    int y[2 * PER];
    uint64_t s = 9;
    for (size_t i = 0; i < 2 * PER; i++) {
        y[i] = i < PER ? 0 : 1;
        double a = gauss(&s);
        x[2 * i] = (float)(y[i] * 50 + a);
        /* class "wetland": the second feature is exactly twice the first */
        x[2 * i + 1] = y[i] == 1 ? 2 * x[2 * i] : (float)gauss(&s);
    }
    const char *names[] = {"forest", "wetland"};
    const char *features[] = {"b1", "b2"};
    sm_maxlik *m = NULL;
    assert_int_equal(sm_maxlik_train(&m, ctx, x, y, 2 * PER, 2, 2, names, features, NULL),
                     SM_ERR_INPUT);
    assert_null(m);
    expect_message(ctx, "class 'wetland'");
    expect_message(ctx, "singular");
    expect_message(ctx, "feature 'b2'");
    expect_message(ctx, "30 samples");

    /* a constant feature is singular at that feature */
    for (size_t i = 0; i < PER; i++)
        x[2 * i] = 7;
    assert_int_equal(sm_maxlik_train(&m, ctx, x, y, 2 * PER, 2, 2, names, features, NULL),
                     SM_ERR_INPUT);
    expect_message(ctx, "class 'forest'");
    expect_message(ctx, "feature 'b1'");
    sm_context_destroy(ctx);
}

static void test_too_few_samples(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    /* 3 features need 4 samples per class; "bare" has 3 */
    float x[10 * 3];
    int y[10];
    uint64_t s = 5;
    for (size_t i = 0; i < 10; i++) {
        y[i] = i < 7 ? 0 : 1;
        for (int j = 0; j < 3; j++)
            x[i * 3 + (size_t)j] = (float)gauss(&s);
    }
    const char *names[] = {"grass", "bare"};
    sm_maxlik *m = NULL;
    assert_int_equal(sm_maxlik_train(&m, ctx, x, y, 10, 3, 2, names, NULL, NULL), SM_ERR_INPUT);
    expect_message(ctx, "class 'bare' has 3 training samples");
    expect_message(ctx, "at least 4");
    /* a bad rejection level is named */
    sm_maxlik_options o = SM_MAXLIK_OPTIONS_INIT;
    o.reject_level = 1.5;
    y[7] = y[8] = y[9] = 0;
    assert_int_equal(sm_maxlik_train(&m, ctx, x, y, 10, 3, 1, names, NULL, &o), SM_ERR_INPUT);
    expect_message(ctx, "rejection level 1.5");
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chi2_quantiles),
        cmocka_unit_test(test_discriminant_by_hand),
        cmocka_unit_test(test_separable_clusters),
        cmocka_unit_test(test_predict_against_oracle),
        cmocka_unit_test(test_rejection_rate),
        cmocka_unit_test(test_singular_covariance),
        cmocka_unit_test(test_too_few_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
