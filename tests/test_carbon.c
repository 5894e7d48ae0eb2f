/* test_carbon.c: parameter tables, species lookup, growth projection, carbon by both methods,
 * sinks, units and Approach 1 uncertainty, each checked against values worked out by hand
 * (in the comments); loading the shipped tables in data/ and refusing bad rows with line numbers. */
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

#include "sinkmap/carbon.h"
#include "sinkmap/hash.h"
#include "sinkmap/table.h"

#define DATA_DIR SM_SOURCE_DIR "/data"

static void near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s: expected %.12g, got %.12g (tolerance %g)\n", what, want, got, tol);
        fail();
    }
}

static void message_is(sm_context *ctx, const char *want)
{
    if (strcmp(sm_context_message(ctx), want) != 0) {
        print_error("expected message '%s'\n          got '%s'\n", want, sm_context_message(ctx));
        fail();
    }
}

static void message_has(sm_context *ctx, const char *part)
{
    if (!strstr(sm_context_message(ctx), part)) {
        print_error("message '%s' lacks '%s'\n", sm_context_message(ctx), part);
        fail();
    }
}

/* The shipped tables, loaded once for the tests that read them. */
static int setup_real(void **state)
{
    sm_context *ctx = sm_context_create();
    sm_params *p = NULL;
    if (sm_params_load(&p, ctx, DATA_DIR) != SM_OK) {
        print_error("loading %s: %s\n", DATA_DIR, sm_context_message(ctx));
        sm_context_destroy(ctx);
        return -1;
    }
    sm_context_destroy(ctx);
    *state = p;
    return 0;
}

static int teardown_real(void **state)
{
    sm_params_destroy(*state);
    return 0;
}

/* ---- Loading the real tables ---------------------------------------------------------------- */

static void test_load_real_tables(void **state)
{
    const sm_params *p = *state;
    sm_context *ctx = sm_context_create();
    /* Six files, each with the SHA-256 of its bytes on disk. */
    assert_int_equal(sm_params_file_count(p), 6);
    for (size_t i = 0; i < 6; i++) {
        const sm_param_file *f = sm_params_file(p, i);
        char hex[65];
        assert_int_equal(sm_sha256_file(ctx, f->path, hex), SM_OK);
        assert_string_equal(f->sha256, hex);
        assert_non_null(strstr(f->path, f->table));
    }
    assert_null(sm_params_file(p, 6));
    /* 14 groups, each with a curve for both origins; 12 legend classes; 11 pool rows. */
    assert_int_equal(sm_params_group_count(p), 14);
    for (size_t i = 0; i < sm_params_group_count(p); i++) {
        const sm_species_group *g = sm_params_group(p, i);
        const sm_growth_curve *c;
        assert_true(g->factor_source[0] && g->fang_source[0]);
        assert_int_equal(sm_params_growth(p, ctx, g, SM_ORIGIN_NATURAL, &c), SM_OK);
        assert_true(c->source[0]);
        assert_int_equal(sm_params_growth(p, ctx, g, SM_ORIGIN_PLANTED, &c), SM_OK);
        assert_true(c->source[0]);
    }
    assert_int_equal(sm_params_landcover_count(p), 12);
    assert_int_equal(sm_params_pools_count(p), 11);
    for (size_t i = 0; i < sm_params_pools_count(p); i++)
        assert_true(sm_params_pools_at(p, i)->source[0]);
    /* Every row of every shipped table names a non-empty source, read with the plain reader. */
    static const struct {
        const char *file;
        const char *cols[2];
    } files[] = {
        {"species_groups.csv", {"factor_source", "fang_source"}},
        {"species_map.csv", {"source", NULL}},
        {"growth_richards.csv", {"source", NULL}},
        {"landcover_legend.csv", {"source", NULL}},
        {"dilei_landcover.csv", {"source", NULL}},
        {"pools_invest.csv", {"source", NULL}},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        sm_table *t = NULL;
        snprintf(path, sizeof path, "%s/%s", DATA_DIR, files[i].file);
        assert_int_equal(sm_table_read(&t, ctx, path), SM_OK);
        assert_true(sm_table_rows(t) > 0);
        for (int k = 0; k < 2 && files[i].cols[k]; k++) {
            size_t col;
            assert_int_equal(sm_table_col(t, ctx, files[i].cols[k], &col), SM_OK);
            for (size_t r = 0; r < sm_table_rows(t); r++)
                if (!sm_table_cell(t, r, col)[0]) {
                    print_error("%s:%ld: empty %s\n", path, sm_table_line(t, r), files[i].cols[k]);
                    fail();
                }
        }
        sm_table_destroy(t);
    }
    /* Every number row is marked verified=no today: 14 groups + 28 curves + 11 pools = 53; the
     * mapping tables have no verified column. The first is cypress on line 2. */
    const sm_param_row *rows;
    size_t n = sm_params_unverified(p, &rows);
    assert_int_equal(n, 14 + 28 + 11);
    assert_string_equal(rows[0].table, "species_groups");
    assert_string_equal(rows[0].key, "cypress");
    assert_int_equal(rows[0].line, 2);
    assert_non_null(strstr(rows[0].source, "Fang et al. 2001"));
    int seen_curve = 0, seen_pool = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(rows[i].source[0]);
        seen_curve |= strcmp(rows[i].key, "cypress/natural") == 0;
        seen_pool |= strcmp(rows[i].key, "4 (grassland)") == 0;
    }
    assert_true(seen_curve && seen_pool);
    sm_context_destroy(ctx);
}

/* ---- Carbon of a stand: both methods -------------------------------------------------------- */

static void test_carbon_cypress_100(void **state)
{
    const sm_params *p = *state;
    sm_context *ctx = sm_context_create();
    const sm_species_group *g;
    sm_carbon c;
    assert_int_equal(sm_params_species(p, ctx, "柏木", &g), SM_OK);
    assert_string_equal(g->key, "cypress");
    assert_int_equal(sm_carbon_from_volume(ctx, g, "XB-1", 100, &c), SM_OK);
    /* (a) 100 m3/ha x SVD 0.478 x BEF 1.732 = 82.7896 t d.m./ha above ground;
     *     above = 82.7896 x CF 0.51            = 42.222696 t C/ha
     *     below = 82.7896 x R 0.22 x CF 0.51   = 18.213712 x 0.51 = 9.28899312 t C/ha
     *     total = 82.7896 x 1.22 x 0.51        = 101.003312 x 0.51 = 51.51168912 t C/ha */
    near(c.above, 42.222696, 1e-9, "above");
    near(c.below, 9.28899312, 1e-9, "below");
    near(c.total, 51.51168912, 1e-9, "total");
    near(c.above + c.below, c.total, 0, "parts add up");
    /* (b) Fang: B = 0.6129 x 100 + 46.1451 = 107.4351 t/ha; C = 107.4351 x 0.51 = 54.791901 */
    near(c.fang_biomass, 107.4351, 1e-9, "Fang biomass");
    near(c.fang, 54.791901, 1e-9, "Fang carbon");
    /* (54.791901 - 51.51168912) / 51.51168912 = 3.28021188 / 51.51168912 = 0.0636790 < 0.15 */
    near(c.rel_diff, 0.0636790, 1e-6, "relative difference");
    assert_int_equal(c.methods_differ, 0);
    /* U95 = sqrt(10^2 + 20^2 + (30 x 0.22/1.22)^2 + 2^2) = sqrt(100 + 400 + 5.4098^2 + 4)
     *     = sqrt(533.2663) = 23.0926 % */
    near(c.u95_pct, 23.0926, 1e-4, "U95");
    /* With a 10 % volume U: sqrt(533.2663 + 100) = 25.1648 % */
    near(sm_carbon_u95(g, 10), 25.1648, 1e-4, "U95 with volume");

    /* V = 20: (a) 51.51168912 x 0.2 = 10.302337824; (b) (12.258 + 46.1451) x 0.51 = 29.785581;
     * Fang's intercept dominates: (29.785581 - 10.302337824) / 10.302337824 = 1.8911 > 0.15. */
    assert_int_equal(sm_carbon_from_volume(ctx, g, "XB-2", 20, &c), SM_OK);
    near(c.total, 10.302337824, 1e-9, "total at V=20");
    near(c.fang, 29.785581, 1e-9, "Fang at V=20");
    near(c.rel_diff, 1.891148, 1e-6, "relative difference at V=20");
    assert_int_equal(c.methods_differ, 1);

    /* V = 0: both 0 (Fang's intercept is not meaningful there), not flagged. */
    assert_int_equal(sm_carbon_from_volume(ctx, g, "XB-3", 0, &c), SM_OK);
    assert_true(c.total == 0 && c.fang == 0 && c.fang_biomass == 0 && c.rel_diff == 0);
    assert_int_equal(c.methods_differ, 0);

    /* Missing and negative volumes are errors naming the parcel and group. */
    assert_int_equal(sm_carbon_from_volume(ctx, g, "XB-4", NAN, &c), SM_ERR_INPUT);
    message_is(ctx, "parcel XB-4 (group cypress): the volume is missing");
    assert_int_equal(sm_carbon_from_volume(ctx, g, "XB-5", -3, &c), SM_ERR_INPUT);
    message_is(ctx, "parcel XB-5 (group cypress): volume -3 m3/ha is not >= 0");
    sm_context_destroy(ctx);
}

/* ---- Growth ------------------------------------------------------------------------------------ */

/* a = 200, b = 1, k = ln 2 / 10, m = 0.5: exponent 1/(1 - 0.5) = 2 and e^(-k t) = 2^(-t/10). */
static const sm_growth_curve test_curve = {"test", SM_ORIGIN_NATURAL, 200, 1, 0.069314718055994531,
                                           0.5, 60, "hand-made", 1};

static void test_richards(void **state)
{
    const sm_params *p = *state;
    sm_context *ctx = sm_context_create();
    /* V(10) = 200 (1 - 0.5)^2 = 50; V(20) = 200 (1 - 0.25)^2 = 112.5; V(30) = 200 x 0.875^2 =
     * 153.125; V(0) = 0. */
    near(sm_richards(&test_curve, 10), 50, 1e-9, "V(10)");
    near(sm_richards(&test_curve, 20), 112.5, 1e-9, "V(20)");
    near(sm_richards(&test_curve, 30), 153.125, 1e-9, "V(30)");
    near(sm_richards(&test_curve, 0), 0, 1e-12, "V(0)");
    /* The shipped cypress/natural curve (260, 1, 0.035, 0.6) at 20 years:
     * e^(-0.7) = 0.496585; 1 - 0.496585 = 0.503415; ^2.5 = 0.503415^2 x sqrt(0.503415)
     * = 0.253426 x 0.709517 = 0.179810; x 260 = 46.7507 m3/ha. */
    const sm_growth_curve *c;
    assert_int_equal(sm_params_growth(p, ctx, sm_params_group_find(p, "cypress"),
                                      SM_ORIGIN_NATURAL, &c), SM_OK);
    assert_true(c->a == 260 && c->b == 1 && c->k == 0.035 && c->m == 0.6 && c->max_age == 150);
    near(sm_richards(c, 20), 46.7507, 1e-4, "cypress V(20)");
    sm_context_destroy(ctx);
}

/* Gain–loss (IPCC eq. 2.7) worked by hand. Curve V(t) = 100 (1 − e^(−t ln 2)) (b = 1, m = 0):
 * V(1) = 50, V(2) = 75, V(3) = 87.5. A stand of 100 m³/ha aged 1 at its 2020 survey (mid-year
 * 2020.5) has level 100/50 = 2. On 2021-07-02 (day 183 of 365: decimal 2021.5) it is 2 years
 * old: I_V = 2 (V(3) − V(2)) = 25 m³/ha/yr; on 2022-07-02 it is 3 and V = 2 × 87.5 = 175.
 * Factors SVD 0.5, BEF 1.2, R 0.25, CF 0.5: F = 0.5 × 1.2 × 1.25 × 0.5 = 0.375 t C/m³.
 * 2 ha, all standing at d1 and 60 % at d2 (a loss of 40 % seen in the imagery):
 *   gain = 2 × 0.6 × 25 × 0.375 = 11.25 t C/yr
 *   loss = 2 × (1 − 0.6) × 175 × 0.375 / 1 yr = 52.5 t C/yr
 *   net  = −41.25 t C/yr = −151.25 t CO2e/yr. */
static void test_gain_loss(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_growth_curve cv = {"g", SM_ORIGIN_NATURAL, 100, 1, log(2.0), 0, 50, "hand", 0};
    sm_species_group g = {"g", "甲", "g", 0.5, 0, 1.2, 0, 0.25, 0, 0.5, 0, 0.6, 40, "hand", "hand", 0};
    sm_date d1 = {2021, 7, 2}, d2 = {2022, 7, 2};
    sm_gain_loss gl;
    assert_int_equal(sm_gain_loss_between(ctx, &g, &cv, "p", 100, 1, 2020, d1, d2, 2.0, 1.0, 0.6, &gl), SM_OK);
    near(gl.years, 1.0, 1e-12, "years");
    near(gl.increment, 25.0, 1e-9, "I_V");
    near(gl.gain, 11.25, 1e-9, "gain");
    near(gl.loss, 52.5, 1e-9, "loss");
    near(gl.t_c_per_yr, -41.25, 1e-9, "net");
    near(gl.t_co2e_per_yr, -41.25 * 44.0 / 12.0, 1e-9, "CO2e");
    /* No loss: the gain alone, 2 × 25 × 0.375 = 18.75. */
    assert_int_equal(sm_gain_loss_between(ctx, &g, &cv, "p", 100, 1, 2020, d1, d2, 2.0, 1.0, 1.0, &gl), SM_OK);
    near(gl.t_c_per_yr, 18.75, 1e-9, "no loss");
    near(gl.loss, 0.0, 0, "no loss: loss");
    /* The increment near the end of the curve: at age 3 with max_age 3.5 the forward step would
     * leave the curve, so the backward one: 2 (V(3) − V(2)) = 25 (forward would be 12.5). */
    sm_growth_curve shortc = cv;
    shortc.max_age = 3.5;
    double inc;
    assert_int_equal(sm_increment(ctx, &shortc, "p", 100, 1, 3.0, &inc), SM_OK);
    near(inc, 25.0, 1e-9, "backward increment");
    assert_int_equal(sm_increment(ctx, &cv, "p", 100, 1, 3.0, &inc), SM_OK);
    near(inc, 12.5, 1e-9, "forward increment");
    /* errors: an age beyond the curve, a missing volume, shares outside [0, 1] */
    assert_int_equal(sm_increment(ctx, &shortc, "p", 100, 1, 4.0, &inc), SM_ERR_INPUT);
    message_has(ctx, "beyond the growth curve's max_age 3.5");
    assert_int_equal(sm_increment(ctx, &cv, "p", NAN, 1, 3.0, &inc), SM_ERR_INPUT);
    message_has(ctx, "parcel p: the inventory volume is missing");
    assert_int_equal(sm_gain_loss_between(ctx, &g, &cv, "p", 100, 1, 2020, d1, d2, 2.0, 1.2, 0.6, &gl), SM_ERR_INPUT);
    message_has(ctx, "not within [0, 1]");
    assert_int_equal(sm_gain_loss_between(ctx, &g, &cv, "p", 100, 1, 2020, d2, d1, 2.0, 1.0, 1.0, &gl), SM_ERR_INPUT);
    sm_context_destroy(ctx);
}

static void test_decimal_year_and_dates(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_date d;
    /* 2025 has 365 days; 2 July is day 31+28+31+30+31+30+2 = 183: 2025 + 182.5/365 = 2025.5. */
    assert_int_equal(sm_date_parse(ctx, "2025-07-02", &d), SM_OK);
    assert_int_equal(sm_day_of_year(d), 183);
    near(sm_decimal_year(d), 2025.5, 1e-12, "2025-07-02");
    /* 2024 is a leap year: 1 January = 2024 + 0.5/366, 31 December = 2024 + 365.5/366, and
     * 2 July is day 184: 2024 + 183.5/366 = 2024.501366. */
    assert_int_equal(sm_date_parse(ctx, "2024-01-01", &d), SM_OK);
    near(sm_decimal_year(d), 2024 + 0.5 / 366, 1e-12, "2024-01-01");
    assert_int_equal(sm_date_parse(ctx, "2024-12-31", &d), SM_OK);
    assert_int_equal(sm_day_of_year(d), 366);
    near(sm_decimal_year(d), 2024 + 365.5 / 366, 1e-12, "2024-12-31");
    assert_int_equal(sm_date_parse(ctx, "2024-07-02", &d), SM_OK);
    near(sm_decimal_year(d), 2024.501366, 1e-6, "2024-07-02");
    assert_int_equal(sm_days_in_year(2000), 366); /* divisible by 400 */
    assert_int_equal(sm_days_in_year(1900), 365); /* by 100, not 400 */
    assert_int_equal(sm_days_in_year(2023), 365);
    assert_int_equal(sm_date_parse(ctx, "2024-02-29", &d), SM_OK);
    assert_int_equal(sm_date_parse(ctx, "2023-02-29", &d), SM_ERR_INPUT);
    message_is(ctx, "date '2023-02-29': day 29 does not exist in 2023-02");
    assert_int_equal(sm_date_parse(ctx, "2024-13-01", &d), SM_ERR_INPUT);
    message_is(ctx, "date '2024-13-01': month 13 does not exist");
    static const char *const bad[] = {"", "2024-2-03", "2024/02/03", "20240203", "2024-02-03 ",
                                      "0999-01-01", "2024-00-10", "2024-04-31"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sm_date_parse(ctx, bad[i], &d), SM_ERR_INPUT);
    sm_context_destroy(ctx);
}

static void test_projection(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_date d;
    double v = 0, age = 0;
    /* Surveyed in 2015 (taken as 2015.5) at age 10 with 40 m3/ha; on 2025-07-02 (2025.5) the
     * age is 10 + (2025.5 - 2015.5) = 20 and V = 40 x V(20)/V(10) = 40 x 112.5/50 = 90. */
    assert_int_equal(sm_date_parse(ctx, "2025-07-02", &d), SM_OK);
    assert_int_equal(sm_project_volume(ctx, &test_curve, "XB-12", 40, 10, 2015, d, &v, &age), SM_OK);
    near(age, 20, 1e-12, "age");
    near(v, 90, 1e-9, "projected volume");
    /* At the survey date itself the inventory volume comes back unchanged. */
    assert_int_equal(sm_date_parse(ctx, "2015-07-02", &d), SM_OK);
    assert_int_equal(sm_project_volume(ctx, &test_curve, "XB-12", 40, 10, 2015, d, &v, NULL), SM_OK);
    near(v, 40, 1e-9, "volume at the survey");
    /* Backwards to 2010-07-02: age 5, V = 40 x 200 (1 - 2^-0.5)^2 / 50 = 40 x 17.1573/50 = 13.7258 */
    assert_int_equal(sm_date_parse(ctx, "2010-07-02", &d), SM_OK);
    assert_int_equal(sm_project_volume(ctx, &test_curve, "XB-12", 40, 10, 2015, d, &v, &age), SM_OK);
    near(age, 5, 1e-12, "age 5");
    near(v, 13.7258, 1e-4, "volume at age 5");

    /* Beyond the curve: 2070-07-02 gives age 65 > max_age 60. */
    assert_int_equal(sm_date_parse(ctx, "2070-07-02", &d), SM_OK);
    assert_int_equal(sm_project_volume(ctx, &test_curve, "XB-12", 40, 10, 2015, d, &v, &age),
                     SM_ERR_INPUT);
    message_is(ctx, "parcel XB-12 (group test, natural): age 65.00 years at 2070-07-02 is beyond the "
                    "growth curve's max_age 60");
    /* Before the stand existed: 2005-07-02 gives age 0. */
    assert_int_equal(sm_date_parse(ctx, "2005-07-02", &d), SM_OK);
    assert_int_equal(sm_project_volume(ctx, &test_curve, "XB-12", 40, 10, 2015, d, &v, &age),
                     SM_ERR_INPUT);
    message_has(ctx, "parcel XB-12 (group test, natural): age at 2005-07-02 would be 0.00 years");
    /* Missing volume, negative volume, missing age, age at survey beyond the curve. */
    assert_int_equal(sm_date_parse(ctx, "2025-07-02", &d), SM_OK);
    assert_int_equal(sm_project_volume(ctx, &test_curve, "XB-13", NAN, 10, 2015, d, &v, &age),
                     SM_ERR_INPUT);
    message_is(ctx, "parcel XB-13: the inventory volume is missing");
    assert_int_equal(sm_project_volume(ctx, &test_curve, "XB-13", -1, 10, 2015, d, &v, &age),
                     SM_ERR_INPUT);
    message_is(ctx, "parcel XB-13: inventory volume -1 m3/ha is not >= 0");
    assert_int_equal(sm_project_volume(ctx, &test_curve, "XB-13", 40, 0, 2015, d, &v, &age),
                     SM_ERR_INPUT);
    message_has(ctx, "stand age at the survey 0 years is not > 0");
    assert_int_equal(sm_project_volume(ctx, &test_curve, "XB-13", 40, NAN, 2015, d, &v, &age),
                     SM_ERR_INPUT);
    assert_int_equal(sm_project_volume(ctx, &test_curve, "XB-13", 40, 61, 2015, d, &v, &age),
                     SM_ERR_INPUT);
    message_has(ctx, "age at the survey 61 years is beyond the growth curve's max_age 60");
    assert_int_equal(sm_project_volume(ctx, &test_curve, "XB-13", 40, 10, 15, d, &v, &age),
                     SM_ERR_INPUT);
    message_has(ctx, "survey year 15 is out of range");
    sm_context_destroy(ctx);
}

/* ---- Sinks and units ---------------------------------------------------------------------------- */

static void test_sink(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_date d1, d2;
    sm_sink s;
    /* 100 t C on 2021-07-02 (2021.5), 110 t C on 2023-07-02 (2023.5): 10 t over 2 years =
     * +5 t C/yr, a removal; x 44/12 = +18.3333 t CO2e/yr. */
    assert_int_equal(sm_date_parse(ctx, "2021-07-02", &d1), SM_OK);
    assert_int_equal(sm_date_parse(ctx, "2023-07-02", &d2), SM_OK);
    assert_int_equal(sm_sink_between(ctx, 100, d1, 110, d2, &s), SM_OK);
    near(s.years, 2, 1e-12, "years");
    near(s.t_c_per_yr, 5, 1e-12, "t C/yr");
    near(s.t_co2e_per_yr, 18.333333333333, 1e-9, "t CO2e/yr");
    assert_true(s.t_co2e_per_yr > 0);
    /* A falling stock is a negative removal (a net emission). */
    assert_int_equal(sm_sink_between(ctx, 110, d1, 100, d2, &s), SM_OK);
    near(s.t_c_per_yr, -5, 1e-12, "t C/yr, loss");
    near(s.t_co2e_per_yr, -18.333333333333, 1e-9, "t CO2e/yr, loss");
    /* Dates out of order or equal, and missing stocks, are refused. */
    assert_int_equal(sm_sink_between(ctx, 100, d2, 110, d1, &s), SM_ERR_INPUT);
    message_is(ctx, "sink: the second date 2021-07-02 is not after the first 2023-07-02");
    assert_int_equal(sm_sink_between(ctx, 100, d1, 110, d1, &s), SM_ERR_INPUT);
    assert_int_equal(sm_sink_between(ctx, NAN, d1, 110, d2, &s), SM_ERR_INPUT);
    /* 12 t C = 44 t CO2; 2 ha = 30 mu; 15 mu = 1 ha. */
    near(sm_c_to_co2e(12), 44, 1e-12, "44/12");
    near(sm_ha_to_mu(2), 30, 0, "ha to mu");
    near(sm_mu_to_ha(15), 1, 0, "mu to ha");
    sm_context_destroy(ctx);
}

static void test_approach1(void **state)
{
    (void)state;
    /* Product: sqrt(3^2 + 4^2) = 5. */
    double u[2] = {3, 4};
    near(sm_u95_product(u, 2), 5, 1e-12, "product");
    near(sm_u95_product(u, 0), 0, 0, "empty product");
    /* Sum: x = 3 and 4 with 10 % each: sqrt(30^2 + 40^2) / 7 = 50/7 = 7.142857 %. */
    double u10[2] = {10, 10}, x[2] = {3, 4};
    near(sm_u95_sum(u10, x, 2), 50.0 / 7.0, 1e-12, "sum");
    /* Opposite signs: x = 10 and -4: sqrt(100^2 + 40^2) / |6| = sqrt(11600)/6 = 17.9505 %. */
    double x2[2] = {10, -4};
    near(sm_u95_sum(u10, x2, 2), 17.9505, 1e-4, "sum with a loss");
    /* A sum of zero has no relative uncertainty. */
    double x0[2] = {4, -4};
    assert_true(isnan(sm_u95_sum(u10, x0, 2)));
}

/* ---- Lookups ------------------------------------------------------------------------------------ */

static void test_species_lookup(void **state)
{
    const sm_params *p = *state;
    sm_context *ctx = sm_context_create();
    const sm_species_group *g;
    static const struct {
        const char *name;
        const char *group;
    } ok[] = {
        {"柏木", "cypress"},
        {"  柏木 ", "cypress"},                  /* ASCII spaces */
        {"柏木\xE3\x80\x80", "cypress"},         /* ideographic space U+3000 */
        {"\xC2\xA0柏木", "cypress"},             /* no-break space U+00A0 */
        {"水杉", "cryptomeria"},                 /* species map */
        {"cypress", "cypress"},                  /* group key */
        {"柳杉、水杉", "cryptomeria"},           /* group's Chinese name */
        {"其他软阔类", "softwood"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        g = NULL;
        assert_int_equal(sm_params_species(p, ctx, ok[i].name, &g), SM_OK);
        assert_string_equal(g->key, ok[i].group);
    }
    /* 柏树 is one substitution (of a code point) away from 柏木, 桉树, 杨树 and 樟树, two from 杉木;
     * ties keep file order (species_map.csv lines 2, 9, 10, 16), so the first three are listed. */
    assert_int_equal(sm_params_species(p, ctx, "柏树", &g), SM_ERR_INPUT);
    assert_null(g);
    message_is(ctx, "species '柏树' has no parameter row in " DATA_DIR "/species_map.csv; closest "
                    "known: 柏木, 桉树, 杨树 (add a row mapping it to a group of " DATA_DIR
                    "/species_groups.csv)");
    /* Group keys are suggested too, and matching is exact (case included). */
    assert_int_equal(sm_params_species(p, ctx, "Cypress", &g), SM_ERR_INPUT);
    message_has(ctx, "closest known: cypress,");
    assert_int_equal(sm_params_species(p, ctx, "  ", &g), SM_ERR_INPUT);
    message_is(ctx, "species is empty (the parcel names no dominant species)");
    assert_int_equal(sm_params_species(p, ctx, NULL, &g), SM_ERR_INPUT);
    sm_context_destroy(ctx);
}

static void test_origin(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_origin o;
    static const char *const natural[] = {"11", "12", "13", " 11 ", "11.0", "natural", "天然"};
    static const char *const planted[] = {"21", "22", "23", "Planted", "人工"};
    for (size_t i = 0; i < sizeof natural / sizeof natural[0]; i++) {
        assert_int_equal(sm_origin_parse(ctx, natural[i], &o), SM_OK);
        assert_int_equal(o, SM_ORIGIN_NATURAL);
    }
    for (size_t i = 0; i < sizeof planted / sizeof planted[0]; i++) {
        assert_int_equal(sm_origin_parse(ctx, planted[i], &o), SM_OK);
        assert_int_equal(o, SM_ORIGIN_PLANTED);
    }
    assert_int_equal(sm_origin_parse(ctx, "31", &o), SM_ERR_INPUT);
    message_is(ctx, "origin (QI_YUAN) '31' is not a known code (11, 12, 13 natural; 21, 22, 23 "
                    "planted)");
    assert_int_equal(sm_origin_parse(ctx, "", &o), SM_ERR_INPUT);
    assert_int_equal(sm_origin_parse(ctx, "11.5", &o), SM_ERR_INPUT);
    assert_string_equal(sm_origin_name(SM_ORIGIN_PLANTED), "planted");
    sm_context_destroy(ctx);
}

static void test_dilei(void **state)
{
    const sm_params *p = *state;
    sm_context *ctx = sm_context_create();
    const sm_dilei_class *d;
    static const struct {
        const char *code;
        const char *prefix;
        int landcover;
    } cases[] = {
        {"030100", "030100", 1}, /* tree forest land, exact */
        {"030301", "0303", 3},   /* special shrub: the 4-digit shrub prefix */
        {"030302", "0303", 3},
        {"110600", "1106", 5},   /* inland mudflat: 1106 (wetland) wins over 11 (water) */
        {"110100", "11", 6},     /* other water: only 11 matches */
        {" 030200 ", "030200", 2},
        {"0102", "0102", 7},     /* a code as long as its prefix */
        {"030405", "030405", 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        d = NULL;
        assert_int_equal(sm_params_dilei(p, ctx, cases[i].code, &d), SM_OK);
        assert_string_equal(d->code_prefix, cases[i].prefix);
        assert_int_equal(d->landcover, cases[i].landcover);
    }
    assert_int_equal(sm_params_dilei(p, ctx, "999999", &d), SM_ERR_INPUT);
    message_is(ctx, "DI_LEI '999999' matches no code_prefix in " DATA_DIR "/dilei_landcover.csv");
    /* 030100 read from a numeric field: the hint says so. */
    assert_int_equal(sm_params_dilei(p, ctx, "30100", &d), SM_ERR_INPUT);
    message_has(ctx, "may have lost its leading zero");
    assert_int_equal(sm_params_dilei(p, ctx, "", &d), SM_ERR_INPUT);
    /* The legend behind the codes. */
    const sm_landcover_class *lc = sm_params_landcover_find(p, 5);
    assert_non_null(lc);
    assert_string_equal(lc->key, "wetland");
    assert_null(sm_params_landcover_find(p, 42));
    sm_context_destroy(ctx);
}

static void test_pools(void **state)
{
    const sm_params *p = *state;
    sm_context *ctx = sm_context_create();
    const sm_carbon_pools *c;
    /* Grassland: 2.44 + 3.9 + 88 + 0 = 94.34 t C/ha. */
    assert_int_equal(sm_params_pools(p, ctx, 4, &c), SM_OK);
    near(sm_pools_total(c), 94.34, 1e-9, "grassland pools");
    assert_int_equal(c->verified, 0);
    /* Cloud has a row without values; 42 has no row. */
    assert_int_equal(sm_params_pools(p, ctx, 11, &c), SM_ERR_INPUT);
    message_has(ctx, "land-cover class 11 (cloud) has no carbon-pool values");
    assert_int_equal(sm_params_pools(p, ctx, 42, &c), SM_ERR_INPUT);
    message_has(ctx, "land-cover class 42 has no row in");
    sm_context_destroy(ctx);
}

/* ---- Bad tables ----------------------------------------------------------------------------------- */

/* A tiny but complete data folder; `replace` swaps one file's text. */
typedef struct tiny {
    char dir[64];
} tiny;

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *const TINY_NAMES[6] = {"landcover_legend.csv", "dilei_landcover.csv",
                                          "species_groups.csv",   "species_map.csv",
                                          "growth_richards.csv",  "pools_invest.csv"};
static const char *const TINY_TEXT[6] = {
    "code,key,name_zh,name_en,color,is_forest\n1,tree_forest,乔木林,tree forest,#1a7a1a,1\n"
    "4,grassland,草地,grassland,#e3e38a,0\n",
    "code_prefix,landcover\n0301,1\n04,4\n",
    "group,name_zh,name_en,svd_t_m3,svd_u95_pct,bef,bef_u95_pct,r,r_u95_pct,cf,cf_u95_pct,fang_a,"
    "fang_b_t_ha,fang_source,factor_source,verified\n"
    "cypress,柏木,Cupressus funebris,0.478,10,1.732,20,0.220,30,0.510,2,0.6129,46.1451,Fang,GB,no\n",
    "species,group,verified,source\n柏木,cypress,yes,test\n",
    "group,origin,a_m3_ha,b,k_per_yr,m,max_age_yr,source,verified\n"
    "cypress,natural,260,1,0.035,0.6,150,test,yes\n",
    "lucode,c_above,c_below,c_soil,c_dead,source,verified\n4,1,2,3,4,test,yes\n",
};

static void make_tiny(tiny *t, int which, const char *text)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/sm_test_carbon_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    for (int i = 0; i < 6; i++)
        write_text(t->dir, TINY_NAMES[i], i == which ? text : TINY_TEXT[i]);
}

static void remove_tiny(tiny *t)
{
    char path[256];
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", t->dir, TINY_NAMES[i]);
        unlink(path);
    }
    rmdir(t->dir);
}

/* Loads a tiny folder with file `which` replaced; expects SM_ERR_INPUT and a message that,
 * after the folder's path, equals `want` (or starts with it, when want ends in "of "). */
static void load_fails(int which, const char *text, const char *want)
{
    size_t nwant = strlen(want);
    int prefix = nwant >= 3 && strcmp(want + nwant - 3, "of ") == 0;
    tiny t;
    sm_context *ctx = sm_context_create();
    sm_params *p = NULL;
    make_tiny(&t, which, text);
    assert_int_equal(sm_params_load(&p, ctx, t.dir), SM_ERR_INPUT);
    assert_null(p);
    const char *msg = sm_context_message(ctx);
    size_t n = strlen(t.dir);
    if (strncmp(msg, t.dir, n) != 0 ||
        (prefix ? strncmp(msg + n, want, nwant) : strcmp(msg + n, want)) != 0) {
        print_error("expected '<dir>%s'\n     got '%s'\n", want, msg);
        fail();
    }
    remove_tiny(&t);
    sm_context_destroy(ctx);
}

static void test_tiny_loads(void **state)
{
    (void)state;
    tiny t;
    sm_context *ctx = sm_context_create();
    sm_params *p = NULL;
    make_tiny(&t, -1, NULL);
    assert_int_equal(sm_params_load(&p, ctx, t.dir), SM_OK);
    /* Only the species group row is unverified here. */
    const sm_param_row *rows;
    assert_int_equal(sm_params_unverified(p, &rows), 1);
    assert_string_equal(rows[0].key, "cypress");
    assert_string_equal(rows[0].source, "factors: GB; Fang a, b: Fang");

    /* Replacing the pools with a user table: a row without a source is refused and p keeps the
     * old table; a good one replaces it and its unverified rows. */
    char path[128];
    snprintf(path, sizeof path, "%s/user_pools.csv", t.dir);
    write_text(t.dir, "user_pools.csv", "lucode,c_above,c_below,c_soil,c_dead,source,verified\n"
                                        "1,10,2,80,5,,no\n");
    assert_int_equal(sm_params_load_pools(p, ctx, path), SM_ERR_INPUT);
    message_has(ctx, "user_pools.csv:2: column 'source' is empty");
    const sm_carbon_pools *c;
    assert_int_equal(sm_params_pools(p, ctx, 4, &c), SM_OK);
    near(sm_pools_total(c), 10, 0, "old pools kept");
    assert_true(strstr(sm_params_file(p, 5)->path, "pools_invest.csv") != NULL);

    write_text(t.dir, "user_pools.csv", "lucode,c_above,c_below,c_soil,c_dead,source,verified\n"
                                        "1,10,2,80,5,survey 2023,no\n");
    assert_int_equal(sm_params_load_pools(p, ctx, path), SM_OK);
    assert_int_equal(sm_params_pools(p, ctx, 1, &c), SM_OK);
    near(sm_pools_total(c), 97, 0, "new pools: 10 + 2 + 80 + 5");
    assert_int_equal(sm_params_pools(p, ctx, 4, &c), SM_ERR_INPUT);
    assert_string_equal(sm_params_file(p, 5)->path, path);
    assert_int_equal(sm_params_unverified(p, &rows), 2);
    assert_string_equal(rows[1].table, "pools_invest");
    assert_string_equal(rows[1].key, "1 (tree_forest)");
    assert_string_equal(rows[1].path, path);
    unlink(path);

    /* The mapping's group must exist; the growth curve for a missing origin is an error. */
    const sm_growth_curve *curve;
    assert_int_equal(sm_params_growth(p, ctx, sm_params_group_find(p, "cypress"),
                                      SM_ORIGIN_PLANTED, &curve), SM_ERR_INPUT);
    message_has(ctx, "no growth curve for group 'cypress' origin 'planted'");
    sm_params_destroy(p);
    sm_params_destroy(NULL);
    remove_tiny(&t);
    sm_context_destroy(ctx);
}

static void test_bad_tables(void **state)
{
    (void)state;
    const char *groups_head =
        "group,name_zh,name_en,svd_t_m3,svd_u95_pct,bef,bef_u95_pct,r,r_u95_pct,cf,cf_u95_pct,"
        "fang_a,fang_b_t_ha,fang_source,factor_source,verified\n";
    char text[1024];
    /* CF given as a percent. */
    snprintf(text, sizeof text, "%s%s", groups_head,
             "cypress,柏木,C,0.478,10,1.732,20,0.220,30,51,2,0.6129,46.1451,Fang,GB,no\n");
    load_fails(2, text, "/species_groups.csv:2: column 'cf': 51 is out of range (0, 1] (a "
                        "fraction, not a percent)");
    /* A number that is not one. */
    snprintf(text, sizeof text, "%s%s", groups_head,
             "cypress,柏木,C,0.478,10,abc,20,0.220,30,0.51,2,0.6129,46.1451,Fang,GB,no\n");
    load_fails(2, text, "/species_groups.csv:2: column 'bef': 'abc' is not a number");
    /* A missing source in a table of numbers. */
    snprintf(text, sizeof text, "%s%s", groups_head,
             "cypress,柏木,C,0.478,10,1.732,20,0.220,30,0.51,2,0.6129,46.1451,Fang,,no\n");
    load_fails(2, text, "/species_groups.csv:2: column 'factor_source' is empty (a value is "
                        "required)");
    /* verified must be yes or no, and must exist in a table of numbers. */
    load_fails(4, "group,origin,a_m3_ha,b,k_per_yr,m,max_age_yr,source,verified\n"
                  "cypress,natural,260,1,0.035,0.6,150,test,perhaps\n",
               "/growth_richards.csv:2: column 'verified': 'perhaps' is not yes or no");
    load_fails(4, "group,origin,a_m3_ha,b,k_per_yr,m,max_age_yr,source\n"
                  "cypress,natural,260,1,0.035,0.6,150,test\n",
               "/growth_richards.csv: no column 'verified' (the columns are: group, origin, "
               "a_m3_ha, b, k_per_yr, m, max_age_yr, source)");
    /* m = 1 makes the exponent 1/(1 - m) infinite. */
    load_fails(4, "group,origin,a_m3_ha,b,k_per_yr,m,max_age_yr,source,verified\n"
                  "cypress,natural,260,1,0.035,1,150,test,no\n",
               "/growth_richards.csv:2: column 'm': 1 is out of range [0, 0.999] (Richards "
               "shape, 0 <= m < 1)");
    load_fails(4, "group,origin,a_m3_ha,b,k_per_yr,m,max_age_yr,source,verified\n"
                  "cedar,natural,260,1,0.035,0.6,150,test,no\n",
               "/growth_richards.csv:2: column 'group': 'cedar' is not a group of ");
    load_fails(4, "group,origin,a_m3_ha,b,k_per_yr,m,max_age_yr,source,verified\n"
                  "cypress,natural,260,1,0.035,0.6,150,test,no\n"
                  "cypress,planted,260,1,0.035,0.6,150,test,no\n"
                  "cypress,Natural,260,1,0.035,0.6,150,test,no\n",
               "/growth_richards.csv:4: duplicate curve 'cypress/natural' (first on line 2)");
    /* A species mapped to a group that does not exist, and a species listed twice. */
    load_fails(3, "species,group\n柏木,cypres\n",
               "/species_map.csv:2: column 'group': 'cypres' is not a group of ");
    load_fails(3, "species,group\n柏木,cypress\n\n 柏木 ,cypress\n",
               "/species_map.csv:4: duplicate species '柏木' (first on line 2)");
    /* DI_LEI rows must point at legend codes; pools likewise; pools all or nothing. */
    load_fails(1, "code_prefix,landcover\n0301,7\n",
               "/dilei_landcover.csv:2: column 'landcover': 7 is not a code of ");
    load_fails(1, "code_prefix,landcover\n03-01,1\n",
               "/dilei_landcover.csv:2: column 'code_prefix': '03-01' is not a string of digits");
    load_fails(5, "lucode,c_above,c_below,c_soil,c_dead,source,verified\n4,1,,3,4,test,no\n",
               "/pools_invest.csv:2: some carbon pools are empty: give all four (0 where a pool "
               "is absent) or leave all four empty for a class without an estimate");
    load_fails(5, "lucode,c_above,c_below,c_soil,c_dead,source,verified\n4,1,-2,3,4,test,no\n",
               "/pools_invest.csv:2: column 'c_below': -2 is out of range [0, 5000] (t C/ha)");
    load_fails(0, "code,key,name_zh,name_en,color,is_forest\n1,a,甲,a,#000000,1\n1,b,乙,b,#000000,0\n",
               "/landcover_legend.csv:3: duplicate code '1' (first on line 2)");
}

static void test_missing_folder(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_params *p = NULL;
    assert_int_equal(sm_params_load(&p, ctx, "/nonexistent/data"), SM_ERR_INPUT);
    assert_null(p);
    message_has(ctx, "/nonexistent/data/landcover_legend.csv: cannot open");
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_real_tables),
        cmocka_unit_test(test_carbon_cypress_100),
        cmocka_unit_test(test_richards),
        cmocka_unit_test(test_gain_loss),
        cmocka_unit_test(test_decimal_year_and_dates),
        cmocka_unit_test(test_projection),
        cmocka_unit_test(test_sink),
        cmocka_unit_test(test_approach1),
        cmocka_unit_test(test_species_lookup),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_dilei),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_tiny_loads),
        cmocka_unit_test(test_bad_tables),
        cmocka_unit_test(test_missing_folder),
    };
    return cmocka_run_group_tests(tests, setup_real, teardown_real);
}
