/* test_accuracy.c: accuracy and error-adjusted area (Olofsson et al. 2014): the paper's worked
 * example of §5 and a 2 × 2 sample, both derived by hand in the comments from the formulas of
 * sinkmap/accuracy.h; the sample-size plan; the CSV inputs and every error path of the CLI. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e_util.h"
#include "sinkmap/accuracy.h"
#include "sinkmap/table.h"

static void near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s: expected %.12g, got %.12g (tolerance %g)\n", what, want, got, tol);
        fail();
    }
}

static void has(const char *text, const char *part)
{
    if (!strstr(text, part)) {
        print_error("'%s' lacks '%s'\n", text, part);
        fail();
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- Olofsson et al. (2014) §5 ---------------------------------------------------------------
 * Strata (map classes): deforestation, forest gain, stable forest, stable non-forest, mapped as
 * 200,000 / 150,000 / 3,200,000 / 6,450,000 pixels of 30 m (900 m²).
 * The sample counts n_ij with map class i as the row (the paper's Table 8 layout). Note: the brief
 * that asked for this test listed the counts as [[66,0,1,2],[0,55,0,1],[5,8,153,9],[4,12,11,313]];
 * each of those lists is a REFERENCE column of the table below. Read as map rows they give row
 * totals 69/56/175/340 and a deforestation area of 32,275 ha, not the published 21,158 ha, while
 * the orientation below (row totals 75/75/165/325) reproduces every published figure. */
static const char *const OLOF_NAMES[4] = {"deforestation", "forest gain", "stable forest",
                                          "stable non-forest"};
static const double OLOF_COUNTS[16] = {
    66, 0,  5,   4,   /* map deforestation:     n_1. = 75  */
    0,  55, 8,   12,  /* map forest gain:       n_2. = 75  */
    1,  0,  153, 11,  /* map stable forest:     n_3. = 165 */
    2,  1,  9,   313, /* map stable non-forest: n_4. = 325 */
};
/* areas in ha: pixels × 900 / 10,000 */
static const double OLOF_HA[4] = {18000, 13500, 288000, 580500};

static void test_olofsson_example(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_accuracy *a = NULL;
    assert_int_equal(sm_accuracy_compute(&a, ctx, 4, OLOF_NAMES, OLOF_COUNTS, OLOF_HA, "olofsson"),
                     SM_OK);
    const sm_accuracy_overall *o = sm_accuracy_overall_get(a);
    /* A_tot = 10,000,000 px × 900 m² / 10,000 = 900,000 ha; W = 0.02, 0.015, 0.32, 0.645 */
    near(o->total_area, 900000, 1e-6, "A_tot");
    near(sm_accuracy_class_at(a, 0)->weight, 0.02, 1e-15, "W_1");
    near(sm_accuracy_class_at(a, 3)->weight, 0.645, 1e-15, "W_4");
    near(o->samples, 640, 0, "n");

    /* p̂_ij = W_i n_ij / n_i.; column 1 (deforestation):
     *   p̂_11 = 0.02 × 66/75 = 0.0176, p̂_21 = 0, p̂_31 = 0.32 × 1/165 = 0.00193939...,
     *   p̂_41 = 0.645 × 2/325 = 0.00396923...
     *   p̂_.1 = 0.0235086247..., Â_1 = 900,000 × p̂_.1 = 21,157.76 ha  (published: 21,158 ha) */
    near(sm_accuracy_proportion(a, 0, 0), 0.0176, 1e-15, "p11");
    near(sm_accuracy_proportion(a, 2, 0), 0.32 / 165, 1e-15, "p31");
    near(sm_accuracy_proportion(a, 3, 0), 0.645 * 2 / 325, 1e-15, "p41");
    near(sm_accuracy_proportion(a, 0, 2), 0.02 * 5 / 75, 1e-15, "p13");
    const sm_accuracy_class *d = sm_accuracy_class_at(a, 0);
    near(d->area_share, 0.0176 + 0.32 / 165 + 0.645 * 2 / 325, 1e-15, "p.1");
    near(d->area, 21157.76223776224, 1e-6, "A_1");
    /* SE(p̂_.1)² = Σ_i (W_i p̂_i1 − p̂_i1²)/(n_i. − 1)
     *   = (0.02·0.0176 − 0.0176²)/74 + 0 + (0.32·0.0019394 − 0.0019394²)/164
     *     + (0.645·0.0039692 − 0.0039692²)/324
     *   = 5.7081e-7 + 3.76125e-6 + 7.85308e-6 = 1.218514e-5;  SE = 0.00349072
     * SE(Â_1) = 900,000 × 0.00349072 = 3,141.65 ha; 95 % CI = 1.96 × SE = 6,157.63 ha
     * (published: ± 6,158 ha) */
    near(d->area_share_se,
         sqrt((0.02 * 0.0176 - 0.0176 * 0.0176) / 74 +
              (0.32 * (0.32 / 165) - pow(0.32 / 165, 2)) / 164 +
              (0.645 * (1.29 / 325) - pow(1.29 / 325, 2)) / 324),
         1e-15, "SE(p.1)");
    near(d->area_se, 3141.650196973047, 1e-6, "SE(A_1)");
    near(d->area_ci95, 6157.634386067172, 1e-6, "CI(A_1)");
    near(round(d->area), 21158, 0, "A_1 as published");
    near(round(d->area_ci95), 6158, 0, "CI(A_1) as published");
    /* The other classes, by the same steps (values to the hectare as published):
     *   forest gain       p̂_.2 = 0.011 + 0.645/325 = 0.0129846; Â = 11,686 ± 3,756 ha
     *   stable forest     p̂_.3 = 0.00133333 + 0.0016 + 0.29672727 + 0.01786154 = 0.3175221;
     *                     Â = 285,770 ± 15,510 ha
     *   stable non-forest p̂_.4 = 0.00106667 + 0.0024 + 0.02133333 + 0.62118462 = 0.6459846;
     *                     Â = 581,386 ± 16,282 ha */
    static const double area[4] = {21158, 11686, 285770, 581386};
    static const double ci[4] = {6158, 3756, 15510, 16282};
    for (size_t k = 0; k < 4; k++) {
        const sm_accuracy_class *c = sm_accuracy_class_at(a, k);
        near(round(c->area), area[k], 0, c->name);
        near(round(c->area_ci95), ci[k], 0, c->name);
    }
    near(sm_accuracy_class_at(a, 1)->area_share, 0.011 + 0.645 / 325, 1e-15, "p.2");
    /* the shares add up to 1, so the adjusted areas add up to A_tot */
    double total = 0;
    for (size_t k = 0; k < 4; k++)
        total += sm_accuracy_class_at(a, k)->area;
    near(total, 900000, 1e-6, "Σ Â");

    /* User's accuracy U_i = n_ii/n_i. = 66/75 = 0.88, 55/75 = 0.733, 153/165 = 0.927,
     * 313/325 = 0.963 (published 0.88, 0.73, 0.93, 0.96); SE = sqrt(U(1−U)/(n_i.−1)):
     * sqrt(0.88·0.12/74) = 0.037776 (95 %: ± 0.074) */
    static const double users[4] = {66.0 / 75, 55.0 / 75, 153.0 / 165, 313.0 / 325};
    for (size_t k = 0; k < 4; k++)
        near(sm_accuracy_class_at(a, k)->users, users[k], 1e-15, "U_i");
    near(d->users_se, sqrt(0.88 * 0.12 / 74), 1e-15, "SE(U_1)");
    /* Producer's accuracy P_j = p̂_jj / p̂_.j: 0.0176/0.0235086 = 0.74866, 0.011/0.0129846 =
     * 0.84716, 0.2967273/0.3175221 = 0.93451, 0.6211846/0.6459846 = 0.96161
     * (published 0.75, 0.85, 0.93, 0.96). */
    static const double prod[4] = {0.7486614048308412, 0.8471563981042654, 0.9345089085796926,
                                   0.9616089928314558};
    static const double prod2[4] = {0.75, 0.85, 0.93, 0.96};
    for (size_t k = 0; k < 4; k++) {
        near(sm_accuracy_class_at(a, k)->producers, prod[k], 1e-12, "P_j");
        near(round(sm_accuracy_class_at(a, k)->producers * 100) / 100, prod2[k], 1e-12,
             "P_j as published");
    }
    /* V(P_1) = [W_1² (1−P_1)² U_1(1−U_1)/(n_1.−1)
     *          + P_1² Σ_{i≠1} W_i² (n_i1/n_i.)(1 − n_i1/n_i.)/(n_i.−1)] / p̂_.1²
     *   first term: 0.0004 × 0.251339² × 0.88 × 0.12 / 74 = 3.60587e-8
     *   sum over i≠1: 0 + 0.1024 × (1/165)(164/165)/164 + 0.416025 × (2/325)(323/325)/324
     *               = 3.76125e-6 + 7.85309e-6 = 1.161433e-5, times P_1² = 0.560494
     *   V = (3.60587e-8 + 6.50977e-6) / 0.0235086² = 0.0118443; SE = 0.108832 (95 %: ± 0.21) */
    near(d->producers_se, 0.10883155764554489, 1e-12, "SE(P_1)");
    near(round(1.96 * d->producers_se * 100) / 100, 0.21, 1e-12, "CI(P_1)");
    /* Overall O = Σ p̂_jj = 0.0176 + 0.011 + 0.2967273 + 0.6211846 = 0.9465119 (published 0.95);
     * V(O) = Σ W_i² U_i(1−U_i)/(n_i.−1) = 0.0004·0.1056/74 + 0.000225·0.195556/74
     *        + 0.1024·0.0674380/164 + 0.416025·0.0355503/324 = 8.89328e-5, SE = 0.0094304
     *        (95 %: ± 0.018) */
    near(o->overall, 0.0176 + 0.011 + 0.32 * 153 / 165 + 0.645 * 313 / 325, 1e-15, "O");
    near(o->overall_se, 0.009430417215588913, 1e-12, "SE(O)");
    /* From the counts alone: Σ n_ii / n = 587/640 = 0.9171875; kappa: p_e = Σ n_i. n_.i / n²
     * = (75·69 + 75·56 + 165·175 + 325·340)/640² = 148,750/409,600 = 0.36315918;
     * κ = (0.9171875 − 0.36315918)/(1 − 0.36315918) = 0.86996358 */
    near(o->overall_sample, 587.0 / 640, 1e-15, "overall (counts)");
    near(o->kappa, (587.0 / 640 - 148750.0 / 409600) / (1 - 148750.0 / 409600), 1e-15, "kappa");
    near(d->producers_sample, 66.0 / 69, 1e-15, "producer's (counts)");
    /* F1 = 2UP/(U+P) = 2 × 0.88 × 0.748661 / 1.628661 = 0.809035 */
    near(d->f1, 2 * 0.88 * prod[0] / (0.88 + prod[0]), 1e-15, "F1_1");
    sm_accuracy_destroy(a);
    sm_context_destroy(ctx);
}

/* ---- a 2 × 2 sample, entirely by hand ------------------------------------------------------
 * counts [[8, 2], [1, 9]] (map rows), mapped 30 ha and 70 ha: W = 0.3, 0.7; n_1. = n_2. = 10.
 *   p̂ = [[0.3·8/10, 0.3·2/10], [0.7·1/10, 0.7·9/10]] = [[0.24, 0.06], [0.07, 0.63]]
 *   p̂_.1 = 0.31, p̂_.2 = 0.69; Â = 31 ha, 69 ha
 *   SE(p̂_.1)² = (0.3·0.24 − 0.24²)/9 + (0.7·0.07 − 0.07²)/9 = (0.0144 + 0.0441)/9 = 0.0065
 *   SE(p̂_.2)² = (0.3·0.06 − 0.06²)/9 + (0.7·0.63 − 0.63²)/9 = (0.0144 + 0.0441)/9 = 0.0065
 *   SE(Â_k) = 100 × sqrt(0.0065) = 8.0623 ha; CI 15.802 ha
 *   U = 0.8, 0.9; SE(U_1) = sqrt(0.16/9) = 0.133333, SE(U_2) = sqrt(0.09/9) = 0.1
 *   O = 0.24 + 0.63 = 0.87; V(O) = (0.09·0.16 + 0.49·0.09)/9 = 0.0065
 *   P_1 = 0.24/0.31 = 0.7741935, P_2 = 0.63/0.69 = 0.9130435
 *   V(P_1) = [0.09 (0.07/0.31)² 0.16/9 + (0.24/0.31)² 0.49 (0.1·0.9)/9] / 0.31²
 *          = [0.09 · 0.0509886 · 0.0177778 + 0.5993757 · 0.0049] / 0.0961
 *          = (8.15817e-5 + 2.936941e-3) / 0.0961 = 0.03141023, SE = 0.1772293
 *   F1_1 = 2 · 0.8 · 0.7741935 / 1.5741935 = 0.7868852
 *   counts only: Σn_ii/n = 17/20 = 0.85; p_e = (10·9 + 10·11)/400 = 0.5; κ = 0.35/0.5 = 0.7;
 *   producer's 8/9 and 9/11. */
static void test_two_by_two(void **state)
{
    (void)state;
    static const char *const names[2] = {"forest", "other"};
    static const double counts[4] = {8, 2, 1, 9};
    static const double ha[2] = {30, 70};
    sm_context *ctx = sm_context_create();
    sm_accuracy *a = NULL;
    assert_int_equal(sm_accuracy_compute(&a, ctx, 2, names, counts, ha, NULL), SM_OK);
    const sm_accuracy_class *f = sm_accuracy_class_at(a, 0), *n = sm_accuracy_class_at(a, 1);
    near(sm_accuracy_proportion(a, 0, 0), 0.24, 1e-15, "p11");
    near(sm_accuracy_proportion(a, 0, 1), 0.06, 1e-15, "p12");
    near(sm_accuracy_proportion(a, 1, 0), 0.07, 1e-15, "p21");
    near(sm_accuracy_proportion(a, 1, 1), 0.63, 1e-15, "p22");
    near(f->area_share, 0.31, 1e-15, "p.1");
    near(n->area_share, 0.69, 1e-15, "p.2");
    near(f->area, 31, 1e-12, "A_1");
    near(n->area, 69, 1e-12, "A_2");
    near(f->area_share_se, sqrt(0.0065), 1e-15, "SE(p.1)");
    near(n->area_share_se, sqrt(0.0065), 1e-15, "SE(p.2)");
    near(f->area_se, 8.0622577482985, 1e-9, "SE(A_1)");
    near(f->area_ci95, 1.96 * 8.0622577482985, 1e-9, "CI(A_1)");
    near(f->users, 0.8, 1e-15, "U_1");
    near(n->users, 0.9, 1e-15, "U_2");
    near(f->users_se, sqrt(0.16 / 9), 1e-15, "SE(U_1)");
    near(n->users_se, 0.1, 1e-15, "SE(U_2)");
    near(f->producers, 0.24 / 0.31, 1e-15, "P_1");
    near(n->producers, 0.63 / 0.69, 1e-15, "P_2");
    near(f->producers_se, sqrt((8.15817e-5 + 2.936941e-3) / 0.0961), 1e-6, "SE(P_1)");
    near(f->producers_se,
         sqrt((0.09 * pow(0.07 / 0.31, 2) * 0.16 / 9 + pow(0.24 / 0.31, 2) * 0.49 * 0.09 / 9) /
              0.0961),
         1e-15, "SE(P_1) exact");
    near(f->f1, 2 * 0.8 * (0.24 / 0.31) / (0.8 + 0.24 / 0.31), 1e-15, "F1_1");
    const sm_accuracy_overall *o = sm_accuracy_overall_get(a);
    near(o->overall, 0.87, 1e-15, "O");
    near(o->overall_se, sqrt(0.0065), 1e-15, "SE(O)");
    near(o->overall_sample, 0.85, 1e-15, "O (counts)");
    near(o->kappa, 0.7, 1e-15, "kappa");
    near(f->producers_sample, 8.0 / 9, 1e-15, "P_1 (counts)");
    near(n->producers_sample, 9.0 / 11, 1e-15, "P_2 (counts)");
    sm_accuracy_destroy(a);

    /* a reference class never seen in the sample: its producer's accuracy is undefined */
    assert_int_equal(sm_accuracy_compute(&a, ctx, 2, names, (const double[]){5, 0, 3, 0}, ha, NULL),
                     SM_OK);
    assert_true(isnan(sm_accuracy_class_at(a, 1)->producers));
    near(sm_accuracy_class_at(a, 1)->area, 0, 0, "no reference samples: area 0");
    sm_accuracy_destroy(a);

    /* the library's own checks name the class */
    assert_int_equal(sm_accuracy_compute(&a, ctx, 2, names, (const double[]){8, 2, 1, 0}, ha, "s"),
                     SM_ERR_INPUT);
    has(sm_context_message(ctx), "'other' has 1 sample");
    assert_null(a);
    assert_int_equal(sm_accuracy_compute(&a, ctx, 2, names, (const double[]){8, -2, 1, 9}, ha, "s"),
                     SM_ERR_INPUT);
    has(sm_context_message(ctx), "'forest', reference class 'other'");
    assert_int_equal(sm_accuracy_compute(&a, ctx, 2, names, counts, (const double[]){0, 0}, "s"),
                     SM_ERR_INPUT);
    assert_int_equal(sm_accuracy_compute(&a, ctx, 1, names, counts, ha, "s"), SM_ERR_INPUT);
    sm_context_destroy(ctx);
}

/* ---- sample size ---------------------------------------------------------------------------
 * Olofsson et al. (2014) §5.1: expected user's accuracies 0.7, 0.6, 0.9, 0.95 and S(Ô) = 0.01.
 *   S_i = sqrt(U(1−U)) = 0.458258, 0.489898, 0.3, 0.217945
 *   Σ W_i S_i = 0.02·0.458258 + 0.015·0.489898 + 0.32·0.3 + 0.645·0.217945 = 0.2530881
 *   n = (0.2530881 / 0.01)² = 640.54 → 641 (the paper's n)
 *   with N = 10^7 pixels: n = 0.2530881² / (1e-4 + 0.0672375/1e7) = 640.49 → 641
 *   proportional 641 W = 12.82, 9.615, 205.12, 413.445 → floors 12, 9, 205, 413 (639), the two
 *     largest remainders (.82, .615) get one more: 13, 10, 205, 413
 *   neyman 641 W_i S_i / Σ W S = 23.21, 18.61, 243.14, 356.04 → 23, 19, 243, 356
 *   suggested with a minimum of 75: deforestation and gain fall below 75 → 75 each; the other
 *     491 proportionally to 0.32 : 0.645 = 162.83, 328.17 → 163, 328 */
static void test_sample_size(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    static const double w[4] = {0.02, 0.015, 0.32, 0.645};
    static const double ua[4] = {0.7, 0.6, 0.9, 0.95};
    sm_sample_plan plan;
    long prop[4], ney[4], sug[4];
    assert_int_equal(sm_sample_size(ctx, 4, w, ua, 0, 0.01, 75, &plan, prop, ney, sug), SM_OK);
    near(plan.n_exact, pow(0.253088111547448 / 0.01, 2), 1e-9, "n exact");
    assert_int_equal(plan.n, 641);
    long want_prop[4] = {13, 10, 205, 413}, want_ney[4] = {23, 19, 243, 356},
         want_sug[4] = {75, 75, 163, 328};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(prop[i], want_prop[i]);
        assert_int_equal(ney[i], want_ney[i]);
        assert_int_equal(sug[i], want_sug[i]);
    }
    assert_int_equal(plan.n_suggested, 641);
    assert_int_equal(sm_sample_size(ctx, 4, w, ua, 1e7, 0.01, 50, &plan, NULL, NULL, NULL), SM_OK);
    near(plan.n_exact, 0.253088111547448 * 0.253088111547448 / (1e-4 + 0.0672375 / 1e7), 1e-9,
         "n with N");
    assert_int_equal(plan.n, 641);
    /* weights given as areas are rescaled */
    static const double areas[4] = {18000, 13500, 288000, 580500};
    assert_int_equal(sm_sample_size(ctx, 4, areas, ua, 0, 0.01, 75, &plan, NULL, NULL, sug), SM_OK);
    assert_int_equal(plan.n, 641);
    assert_int_equal(sug[2], 163);
    /* a minimum above what n allows: every class gets the minimum, the total exceeds n */
    assert_int_equal(sm_sample_size(ctx, 4, w, ua, 0, 0.01, 200, &plan, NULL, NULL, sug), SM_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(sug[i], 200);
    assert_int_equal(plan.n_suggested, 800);
    assert_int_equal(sm_sample_size(ctx, 4, w, ua, 0, 0, 50, &plan, NULL, NULL, NULL),
                     SM_ERR_INPUT);
    has(sm_context_message(ctx), "--target-se");
    assert_int_equal(sm_sample_size(ctx, 4, w, (const double[]){0.7, 1.2, 0.9, 0.9}, 0, 0.01, 50,
                                    &plan, NULL, NULL, NULL),
                     SM_ERR_INPUT);
    sm_context_destroy(ctx);
}

/* ---- the CLI and its files ------------------------------------------------------------------ */

static char dir[256];

static int setup_dir(void **state)
{
    (void)state;
    if (!e2e_tmpdir(dir, sizeof dir, "accuracy"))
        return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/counts.csv", dir);
    /* the header's first cell is any label; class names are matched ignoring case */
    write_file(p, "map \\ reference,Deforestation,forest gain,stable forest,stable non-forest\n"
                  "deforestation,66,0,5,4\n"
                  "forest gain,0,55,8,12\n"
                  "stable forest,1,0,153,11\n"
                  "Stable Non-Forest,2,1,9,313\n");
    snprintf(p, sizeof p, "%s/mapped.csv", dir);
    /* in pixels, another order, an extra column */
    write_file(p, "Area,note,CLASS\n"
                  "6450000,,stable non-forest\n"
                  "200000,,deforestation\n"
                  "150000,,forest gain\n"
                  "3200000,x,stable forest\n");
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    e2e_sh("rm -rf '%s'", dir);
    return 0;
}

/* The value of section/class/measure in a report, NaN when absent or empty. */
static double report_value(const char *path, const char *section, const char *cls,
                           const char *measure)
{
    sm_context *ctx = sm_context_create();
    sm_table *t = NULL;
    double v = NAN;
    if (sm_table_read(&t, ctx, path) == SM_OK) {
        for (size_t i = 0; i < sm_table_rows(t); i++)
            if (strcmp(sm_table_cell(t, i, 0), section) == 0 &&
                strcmp(sm_table_cell(t, i, 1), cls) == 0 &&
                strcmp(sm_table_cell(t, i, 3), measure) == 0 && sm_table_cell(t, i, 4)[0])
                sm_parse_double(sm_table_cell(t, i, 4), &v);
    }
    sm_table_destroy(t);
    sm_context_destroy(ctx);
    return v;
}

static void test_cli_report(void **state)
{
    (void)state;
    char err[4096], out[512];
    snprintf(out, sizeof out, "%s/out.csv", dir);
    int rc = e2e_run(err, sizeof err,
                     "area-estimate --counts '%s/counts.csv' --mapped '%s/mapped.csv' "
                     "--pixel-area 900 --target-se 0.01 --min-per-class 75 -o '%s'",
                     dir, dir, out);
    if (rc != 0)
        print_error("stderr: %s\n", err);
    assert_int_equal(rc, 0);
    /* names are spelled as in the header */
    near(report_value(out, "class", "Deforestation", "area_ha"), 21157.76223776224, 1e-6, "area");
    near(report_value(out, "class", "Deforestation", "area_ci95_ha"), 6157.634386067172, 1e-6,
         "ci");
    near(report_value(out, "class", "stable non-forest", "area_ha"), 581386.153846154, 1e-6,
         "area 4 (row label in another case)");
    near(report_value(out, "input", "forest gain", "mapped_area_ha"), 13500, 1e-9, "mapped ha");
    near(report_value(out, "input", "forest gain", "samples"), 75, 0, "n_2.");
    near(report_value(out, "overall", "", "overall"), 0.9465118881118881, 1e-12, "O");
    near(report_value(out, "overall", "", "total_area_ha"), 900000, 1e-6, "A_tot");
    /* the observed user's accuracies drive the plan here (no expected_ua column) */
    near(report_value(out, "sample_size", "", "expected_ua"), 0, 0, "observed");
    near(report_value(out, "sample_size", "", "population"), 1e7, 0, "N");
    near(report_value(out, "sample_size", "Deforestation", "suggested"), 75, 0, "suggested");
    near(report_value(out, "sample_size", "", "n"),
         ceil(report_value(out, "sample_size", "", "n_exact")), 0, "n rounded up");
    /* --help */
    assert_int_equal(e2e_run(err, sizeof err, "area-estimate --help"), 0);
    /* planning only: no counts, expected user's accuracies */
    char p[512];
    snprintf(p, sizeof p, "%s/plan.csv", dir);
    write_file(p, "class,area,expected_ua\nd,200000,0.7\ng,150000,0.6\nf,3200000,0.9\n"
                  "n,6450000,0.95\n");
    snprintf(out, sizeof out, "%s/plan_out.csv", dir);
    rc = e2e_run(err, sizeof err, "area-estimate --mapped '%s' --target-se 0.01 -o '%s'", p, out);
    assert_int_equal(rc, 0);
    near(report_value(out, "sample_size", "", "n"), 641, 0, "planned n");
    near(report_value(out, "sample_size", "", "expected_ua"), 1, 0, "expected");
    /* without counts and without --target-se: usage */
    assert_int_equal(e2e_run(err, sizeof err, "area-estimate --mapped '%s' -o '%s'", p, out), 2);
}

/* Writes counts.csv variant `text` to bad.csv, runs the CLI, and expects exit 2 with every
 * string of `parts` in the message; the existing report must be untouched. */
static void expect_bad(const char *counts_text, const char *mapped_text, const char *extra,
                       const char *const *parts)
{
    char err[4096], c[512], m[512], out[512];
    snprintf(c, sizeof c, "%s/bad_counts.csv", dir);
    snprintf(m, sizeof m, "%s/bad_mapped.csv", dir);
    snprintf(out, sizeof out, "%s/keep.csv", dir);
    write_file(c, counts_text ? counts_text : "");
    write_file(m, mapped_text ? mapped_text : "");
    write_file(out, "previous report\n");
    char cpath[600], mpath[600];
    snprintf(cpath, sizeof cpath, "'%s'", counts_text ? c : "");
    snprintf(mpath, sizeof mpath, "'%s'", mapped_text ? m : "");
    int rc = e2e_run(err, sizeof err, "area-estimate --counts %s --mapped %s %s -o '%s'",
                     counts_text ? cpath : "'/nonexistent'", mapped_text ? mpath : "'/nonexistent'",
                     extra ? extra : "", out);
    if (rc != 2)
        print_error("stderr: %s\n", err);
    assert_int_equal(rc, 2);
    assert_int_equal(e2e_lines(err), 1);
    for (size_t i = 0; parts[i]; i++)
        has(err, parts[i]);
    char buf[64] = {0};
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "previous report\n");
}

static const char *const MAPPED_OK = "class,area\na,10\nb,20\nc,30\n";

static void test_cli_errors(void **state)
{
    (void)state;
    /* mismatched classes: rows in another order */
    expect_bad("map,a,b,c\na,5,1,0\nc,0,1,5\nb,1,5,0\n", MAPPED_OK, NULL,
               (const char *const[]){"bad_counts.csv:3", "class 'b'", "found class 'c'", NULL});
    /* a row class that is no column */
    expect_bad("map,a,b,c\na,5,1,0\nb,1,5,0\nx,0,1,5\n", MAPPED_OK, NULL,
               (const char *const[]){"bad_counts.csv:4", "'x'", NULL});
    /* a column without a row */
    expect_bad("map,a,b,c\na,5,1,0\nb,1,5,0\n", MAPPED_OK, NULL,
               (const char *const[]){"bad_counts.csv", "class 'c'", "no row", NULL});
    /* a class with fewer than 2 samples */
    expect_bad("map,a,b,c\na,5,1,0\nb,0,1,0\nc,0,1,5\n", MAPPED_OK, NULL,
               (const char *const[]){"bad_counts.csv", "'b' has 1 sample", NULL});
    /* negative and fractional counts */
    expect_bad("map,a,b,c\na,5,1,0\nb,1,5,-1\nc,0,1,5\n", MAPPED_OK, NULL,
               (const char *const[]){"bad_counts.csv:3", "'b'", "'c'", "'-1'", NULL});
    expect_bad("map,a,b,c\na,5,1.5,0\nb,1,5,1\nc,0,1,5\n", MAPPED_OK, NULL,
               (const char *const[]){"bad_counts.csv:2", "'1.5'", NULL});
    /* a count that is not a number */
    expect_bad("map,a,b,c\na,5,x,0\nb,1,5,1\nc,0,1,5\n", MAPPED_OK, NULL,
               (const char *const[]){"bad_counts.csv:2", "column 'b'", NULL});
    static const char *const COUNTS_OK = "map,a,b,c\na,5,1,0\nb,1,5,1\nc,0,1,5\n";
    /* a class without a mapped area */
    expect_bad(COUNTS_OK, "class,area\na,10\nc,30\n", NULL,
               (const char *const[]){"bad_mapped.csv", "class 'b'", "no mapped area", NULL});
    /* a mapped class that is not in the counts */
    expect_bad(COUNTS_OK, "class,area\na,10\nb,20\nc,30\nd,5\n", NULL,
               (const char *const[]){"bad_mapped.csv:5", "class 'd'", NULL});
    /* a negative area, a duplicate class, a missing column */
    expect_bad(COUNTS_OK, "class,area\na,10\nb,-20\nc,30\n", NULL,
               (const char *const[]){"bad_mapped.csv:3", "class 'b'", "negative", NULL});
    expect_bad(COUNTS_OK, "class,area\na,10\nb,20\nA,30\n", NULL,
               (const char *const[]){"bad_mapped.csv:4", "second row", NULL});
    expect_bad(COUNTS_OK, "klass,area\na,10\nb,20\nc,30\n", NULL,
               (const char *const[]){"bad_mapped.csv", "class", NULL});
    /* a bad expected_ua, a missing file, bad options */
    expect_bad(COUNTS_OK, "class,area,expected_ua\na,10,0.9\nb,20,1.5\nc,30,0.8\n",
               "--target-se 0.01", (const char *const[]){"bad_mapped.csv:3", "expected_ua", NULL});
    expect_bad(NULL, MAPPED_OK, NULL, (const char *const[]){"/nonexistent", NULL});
    expect_bad(COUNTS_OK, MAPPED_OK, "--target-se 2", (const char *const[]){"--target-se", NULL});
    expect_bad(COUNTS_OK, MAPPED_OK, "--pixel-area -3",
               (const char *const[]){"--pixel-area", NULL});
    expect_bad(COUNTS_OK, MAPPED_OK, "--bogus", (const char *const[]){"--bogus", NULL});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_olofsson_example),
        cmocka_unit_test(test_two_by_two),
        cmocka_unit_test(test_sample_size),
        cmocka_unit_test_setup_teardown(test_cli_report, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_cli_errors, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
