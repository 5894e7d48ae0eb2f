/* test_volreg.c: the volume regression against closed forms: exact linear data give back their
 * coefficients with cross-validated R² = 1; a four-point line worked by hand, whose leave-one-out
 * residuals follow the PRESS identity e_i / (1 − h_ii); the fold split; collinear and too-small
 * calibration sets refused with a clear message. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sinkmap/volreg.h"

static void near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s: expected %.12g, got %.12g (tolerance %g)\n", what, want, got, tol);
        fail();
    }
}

/* y = 3 + 2·x1 − 0.5·x2 exactly, 20 rows of non-collinear features. */
static void test_exact_linear(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    double x[40], y[20];
    for (int i = 0; i < 20; i++) {
        x[2 * i] = 0.05 * i;                 /* a forest-fraction-like feature */
        x[2 * i + 1] = (i * 7 % 11) - 3.0;   /* an index-like feature, not a multiple of x1 */
        y[i] = 3.0 + 2.0 * x[2 * i] - 0.5 * x[2 * i + 1];
    }
    sm_volreg m;
    assert_int_equal(sm_volreg_fit(&m, ctx, x, y, 20, 2, 5, 42), SM_OK);
    near(m.coef[0], 3.0, 1e-9, "intercept");
    near(m.coef[1], 2.0, 1e-9, "coef x1");
    near(m.coef[2], -0.5, 1e-9, "coef x2");
    near(m.r2, 1.0, 1e-12, "R2");
    near(m.cv_r2, 1.0, 1e-12, "CV R2");
    near(m.cv_rmse, 0.0, 1e-9, "CV RMSE");
    assert_int_equal(m.n, 20);
    assert_int_equal(m.folds, 5);
    double q[2] = {0.5, 4.0};
    near(sm_volreg_predict(&m, q), 3.0 + 1.0 - 2.0, 1e-9, "prediction");
    sm_context_destroy(ctx);
}

/* x = 0, 1, 2, 3; y = 1, 2, 2, 4. By hand: x̄ = 1.5, ȳ = 2.25, Sxx = 5, Sxy = 4.5, so slope 0.9
 * and intercept 0.9; fitted 0.9, 1.8, 2.7, 3.6, residuals 0.1, 0.2, −0.7, 0.4, SSE 0.7,
 * SST 4.75, R² = 1 − 0.7/4.75. Leave-one-out (folds = 4): residual_i = e_i / (1 − h_ii) with
 * h_ii = 1/n + (x_i − x̄)²/Sxx = 0.7, 0.3, 0.3, 0.7, i.e. 1/3, 2/7, −1, 4/3. */
static void test_hand_line_loo(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    double x[4] = {0, 1, 2, 3}, y[4] = {1, 2, 2, 4};
    sm_volreg m;
    assert_int_equal(sm_volreg_fit(&m, ctx, x, y, 4, 1, 4, 1), SM_OK);
    near(m.coef[0], 0.9, 1e-12, "intercept");
    near(m.coef[1], 0.9, 1e-12, "slope");
    near(m.r2, 1.0 - 0.7 / 4.75, 1e-12, "R2");
    near(m.rmse, sqrt(0.7 / 4), 1e-12, "RMSE");
    double press = (1.0 / 3) * (1.0 / 3) + (2.0 / 7) * (2.0 / 7) + 1.0 + (4.0 / 3) * (4.0 / 3);
    near(m.cv_r2, 1.0 - press / 4.75, 1e-12, "LOO R2");
    near(m.cv_rmse, sqrt(press / 4), 1e-12, "LOO RMSE");
    sm_context_destroy(ctx);
}

/* The split: a function of (n, folds, seed); every fold within one row of n / folds. */
static void test_folds(void **state)
{
    (void)state;
    size_t a[23], b[23], count[5] = {0};
    sm_volreg_folds(a, 23, 5, 9);
    sm_volreg_folds(b, 23, 5, 9);
    assert_memory_equal(a, b, sizeof a);
    for (int i = 0; i < 23; i++) {
        assert_true(a[i] < 5);
        count[a[i]]++;
    }
    for (int f = 0; f < 5; f++)
        assert_true(count[f] == 4 || count[f] == 5);
    size_t c[23];
    int differ = 0;
    for (uint64_t seed = 10; seed < 20 && !differ; seed++) {
        sm_volreg_folds(c, 23, 5, seed);
        differ = memcmp(a, c, sizeof a) != 0;
    }
    assert_true(differ); /* the seed does move rows between folds */
}

static void test_refusals(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    double x[20], y[10];
    for (int i = 0; i < 10; i++) {
        x[2 * i] = i;
        x[2 * i + 1] = 2.0 * i; /* collinear with the first */
        y[i] = i * i;
    }
    sm_volreg m;
    assert_int_equal(sm_volreg_fit(&m, ctx, x, y, 10, 2, 5, 1), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "collinear"));
    assert_int_equal(sm_volreg_fit(&m, ctx, x, y, 3, 1, 3, 1), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "too few"));
    assert_int_equal(sm_volreg_fit(&m, ctx, x, y, 10, 1, 1, 1), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "folds"));
    y[3] = NAN;
    assert_int_equal(sm_volreg_fit(&m, ctx, x, y, 10, 1, 5, 1), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "missing"));
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_linear),
        cmocka_unit_test(test_hand_line_loo),
        cmocka_unit_test(test_folds),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
