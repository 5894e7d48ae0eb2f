/* test_classify.c: tests of the spectral indices (src/analysis/indices.c) and the rule-based
 * classifier (src/analysis/classify_rules.c). Every expected index is worked out by hand in the
 * comment beside it; every rule branch gets a hand-made pixel. Fast: no files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "sinkmap/classify.h"
#include "sinkmap/indices.h"

static void expect_near(float got, double want, const char *what)
{
    if (!(fabs((double)got - want) <= 1e-5)) {
        print_error("%s: want %.7f, got %.7f\n", what, want, (double)got);
        fail();
    }
}

static void expect_nan(float got, const char *what)
{
    if (!isnan(got)) {
        print_error("%s: want NaN, got %.7f\n", what, (double)got);
        fail();
    }
}

static void test_indices_values(void **state)
{
    (void)state;
    /* NDVI red 0.1 nir 0.5: 0.4 / 0.6 = 0.6666667 */
    expect_near(sm_ndvi(0.1f, 0.5f), 2.0 / 3.0, "ndvi");
    /* EVI blue 0.05 red 0.1 nir 0.5: 2.5*0.4 / (0.5 + 0.6 - 0.375 + 1) = 1 / 1.725 */
    expect_near(sm_evi(0.05f, 0.1f, 0.5f), 1.0 / 1.725, "evi");
    /* NDWI green 0.06 nir 0.02: 0.04 / 0.08 = 0.5 */
    expect_near(sm_ndwi(0.06f, 0.02f), 0.5, "ndwi");
    /* MNDWI green 0.06 swir1 0.01: 0.05 / 0.07 */
    expect_near(sm_mndwi(0.06f, 0.01f), 0.05 / 0.07, "mndwi");
    /* NDBI nir 0.2 swir1 0.3: 0.1 / 0.5 = 0.2 */
    expect_near(sm_ndbi(0.2f, 0.3f), 0.2, "ndbi");
    /* NBR nir 0.3 swir2 0.1: 0.2 / 0.4 = 0.5 */
    expect_near(sm_nbr(0.3f, 0.1f), 0.5, "nbr");
    /* NDMI nir 0.3 swir1 0.2: 0.1 / 0.5 = 0.2 */
    expect_near(sm_ndmi(0.3f, 0.2f), 0.2, "ndmi");
    /* negative reflectance (the L2A offset allows it): (0.3 - (-0.02)) / 0.28 */
    expect_near(sm_ndvi(-0.02f, 0.3f), 0.32 / 0.28, "ndvi with a negative red");
}

static void test_indices_zero_and_nan(void **state)
{
    (void)state;
    expect_nan(sm_ndvi(0.0f, 0.0f), "ndvi 0/0");
    expect_nan(sm_ndvi(-0.01f, 0.01f), "ndvi x/0 with opposite signs");
    expect_nan(sm_ndwi(0.0f, 0.0f), "ndwi 0/0");
    expect_nan(sm_mndwi(0.0f, 0.0f), "mndwi 0/0");
    expect_nan(sm_ndbi(0.0f, 0.0f), "ndbi 0/0");
    expect_nan(sm_nbr(0.0f, 0.0f), "nbr 0/0");
    expect_nan(sm_ndmi(0.0f, 0.0f), "ndmi 0/0");
    /* EVI denominator: nir + 6 red - 7.5 blue + 1 = 0 for blue 0.2, red 0, nir 0.5 */
    expect_nan(sm_evi(0.2f, 0.0f, 0.5f), "evi zero denominator");
    expect_nan(sm_ndvi(NAN, 0.3f), "ndvi of NaN");
    expect_nan(sm_normdiff(0.3f, NAN), "normdiff of NaN");
}

/* Hand-made pixels: blue, green, red, nir, swir1, swir2 and the class the rules must give. */
typedef struct pix {
    const char *what;
    float b, g, r, n, s1, s2;
    uint8_t want;
} pix;

static const pix PIXELS[] = {
    /* MNDWI (0.066-0.012)/0.078 = 0.69 > 0.2, NIR 0.028 < 0.08 */
    {"turbid river", 0.048f, 0.066f, 0.050f, 0.028f, 0.012f, 0.008f, SM_LC_WATER},
    /* NDVI 0.11 < 0.35, NIR 0.085 < 0.13, MNDWI (0.072-0.06)/0.132 = 0.09 > -0.2 */
    {"shallow water over mud", 0.055f, 0.072f, 0.068f, 0.085f, 0.060f, 0.042f, SM_LC_WETLAND},
    /* NDVI 0.51 in [0.30,0.66), NDMI 0.06/0.31 = 0.19 >= 0.12, SWIR1 0.125 < 0.18 */
    {"wet sedge meadow", 0.040f, 0.066f, 0.060f, 0.185f, 0.125f, 0.075f, SM_LC_WETLAND},
    /* NDVI 0.053/0.277 = 0.19 < 0.3; blue/red 0.85 >= 0.72; NDBI 0.04/0.37 = 0.11 */
    {"concrete and roofs", 0.095f, 0.105f, 0.112f, 0.165f, 0.205f, 0.185f, SM_LC_BUILT},
    /* NDVI 0.07/0.32 = 0.22 < 0.3; blue/red 0.56 < 0.72 */
    {"purple soil", 0.070f, 0.095f, 0.125f, 0.195f, 0.290f, 0.235f, SM_LC_BARE},
    /* NDVI 0.133/0.297 = 0.448 in [0.3, 0.53); NDMI 0 (not wet) */
    {"harvested paddy", 0.050f, 0.074f, 0.082f, 0.215f, 0.215f, 0.150f, SM_LC_CROP},
    /* NDVI 0.211/0.259 = 0.815, NDMI 0.117/0.353 = 0.33: score 0.98 >= 0.86; green 0.038 */
    {"cypress forest", 0.020f, 0.038f, 0.024f, 0.235f, 0.118f, 0.052f, SM_LC_FOREST},
    /* NDVI 0.294/0.366 = 0.80, NDMI 0.333: score 0.97; green 0.056 < 0.07 */
    {"broadleaf forest", 0.026f, 0.056f, 0.036f, 0.330f, 0.165f, 0.076f, SM_LC_FOREST},
    /* NDVI 0.352/0.448 = 0.79, NDMI 0.333: forest; green 0.085 >= 0.07, NIR 0.4 >= 0.3 */
    {"bamboo", 0.030f, 0.085f, 0.048f, 0.400f, 0.200f, 0.090f, SM_LC_BAMBOO},
    /* NDVI 0.222/0.318 = 0.698, NDMI 0.072/0.468 = 0.154: score 0.775 in [0.70, 0.86) */
    {"shrub", 0.030f, 0.058f, 0.048f, 0.270f, 0.198f, 0.100f, SM_LC_SHRUB},
    /* NDVI 0.217/0.353 = 0.615, NDMI 0.03/0.54 = 0.056: score 0.643 < 0.70 */
    {"grass", 0.038f, 0.072f, 0.068f, 0.285f, 0.255f, 0.145f, SM_LC_GRASS},
};

static void test_rule_branches(void **state)
{
    (void)state;
    sm_rules_params p = SM_RULES_PARAMS_INIT;
    for (size_t i = 0; i < sizeof PIXELS / sizeof PIXELS[0]; i++) {
        const pix *x = &PIXELS[i];
        uint8_t got = sm_classify_rules_pixel(&p, x->b, x->g, x->r, x->n, x->s1, x->s2);
        if (got != x->want) {
            print_error("%s: want class %u, got %u\n", x->what, x->want, got);
            fail();
        }
    }
}

static void test_missing_bands(void **state)
{
    (void)state;
    sm_rules_params p = SM_RULES_PARAMS_INIT;
    /* No SWIR (Gaofen WFV): water by NDWI (0.066-0.028)/0.094 = 0.40 > 0.1 */
    assert_int_equal(sm_classify_rules_pixel(&p, 0.048f, 0.066f, 0.05f, 0.028f, NAN, NAN),
                     SM_LC_WATER);
    /* No SWIR: cypress NDVI 0.815 >= 0.76 -> forest; shrub NDVI 0.698 in [0.66, 0.76) */
    assert_int_equal(sm_classify_rules_pixel(&p, 0.02f, 0.038f, 0.024f, 0.235f, NAN, NAN),
                     SM_LC_FOREST);
    assert_int_equal(sm_classify_rules_pixel(&p, 0.03f, 0.058f, 0.048f, 0.27f, NAN, NAN),
                     SM_LC_SHRUB);
    /* No blue: barren split by SWIR2/SWIR1: built 0.185/0.205 = 0.90, soil 0.235/0.29 = 0.81 */
    assert_int_equal(sm_classify_rules_pixel(&p, NAN, 0.105f, 0.112f, 0.165f, 0.205f, 0.185f),
                     SM_LC_BUILT);
    assert_int_equal(sm_classify_rules_pixel(&p, NAN, 0.095f, 0.125f, 0.195f, 0.29f, 0.235f),
                     SM_LC_BARE);
    /* No blue, no SWIR: a barren pixel cannot be split */
    assert_int_equal(sm_classify_rules_pixel(&p, NAN, 0.095f, 0.125f, 0.195f, NAN, NAN),
                     SM_LC_UNCLASSIFIED);
    /* red + nir == 0: NDVI undefined */
    assert_int_equal(sm_classify_rules_pixel(&p, 0.01f, 0.01f, 0.0f, 0.0f, 0.01f, 0.01f),
                     SM_LC_UNCLASSIFIED);
    /* red or nir not finite: no data */
    assert_int_equal(sm_classify_rules_pixel(&p, 0.01f, 0.01f, NAN, 0.2f, 0.1f, 0.1f),
                     SM_LC_NODATA);
    assert_int_equal(sm_classify_rules_pixel(&p, 0.01f, 0.01f, 0.1f, INFINITY, 0.1f, 0.1f),
                     SM_LC_NODATA);
}

static void test_threshold_edges(void **state)
{
    (void)state;
    sm_rules_params p = SM_RULES_PARAMS_INIT;
    /* NDVI exactly at barren_ndvi_max is vegetation: red 0.14, nir 0.26 -> 0.12/0.40 = 0.3 */
    float ndvi = sm_ndvi(0.14f, 0.26f);
    p.barren_ndvi_max = ndvi; /* the same float, so the comparison is exact */
    assert_int_equal(sm_classify_rules_pixel(&p, 0.1f, 0.1f, 0.14f, 0.26f, 0.3f, 0.25f),
                     SM_LC_CROP);
    /* A stricter forest threshold turns the cypress pixel (score 0.98) into shrub. */
    sm_rules_params q = SM_RULES_PARAMS_INIT;
    q.forest_score_min = 0.99f;
    assert_int_equal(sm_classify_rules_pixel(&q, 0.02f, 0.038f, 0.024f, 0.235f, 0.118f, 0.052f),
                     SM_LC_SHRUB);
}

static void test_block_nodata_cloud(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    assert_non_null(ctx);
    /* pixel 0 cypress, 1 invalid, 2 cloud, 3 invalid and cloud (no data wins), 4 NaN red,
     * 5 river with a NaN SWIR (falls back to NDWI) */
    float b[6] = {0.02f, 0.02f, 0.4f, 0.02f, 0.02f, 0.048f};
    float g[6] = {0.038f, 0.038f, 0.4f, 0.038f, 0.038f, 0.066f};
    float r[6] = {0.024f, 0.024f, 0.4f, 0.024f, NAN, 0.05f};
    float n[6] = {0.235f, 0.235f, 0.45f, 0.235f, 0.235f, 0.028f};
    float s1[6] = {0.118f, 0.118f, 0.3f, 0.118f, 0.118f, NAN};
    float s2[6] = {0.052f, 0.052f, 0.2f, 0.052f, 0.052f, NAN};
    uint8_t valid[6] = {1, 0, 1, 0, 1, 1};
    uint8_t cloud[6] = {0, 0, 1, 1, 0, 0};
    uint8_t out[6];
    memset(out, 0xEE, sizeof out);
    sm_pixel_block blk = {6, b, g, r, n, s1, s2, valid, cloud};
    assert_int_equal(sm_classify_rules(ctx, &blk, NULL, out), SM_OK);
    const uint8_t want[6] = {SM_LC_FOREST, SM_LC_NODATA, SM_LC_CLOUD,
                             SM_LC_NODATA, SM_LC_NODATA, SM_LC_WATER};
    for (int i = 0; i < 6; i++) {
        if (out[i] != want[i]) {
            print_error("pixel %d: want %u, got %u\n", i, want[i], out[i]);
            fail();
        }
    }
    /* Without valid/cloud arrays and without blue/green/swir: classified from red and nir. */
    sm_pixel_block bare = {1, NULL, NULL, r, n, NULL, NULL, NULL, NULL};
    assert_int_equal(sm_classify_rules(ctx, &bare, NULL, out), SM_OK);
    assert_int_equal(out[0], SM_LC_FOREST);
    /* red or nir missing: an input error that names the roles. */
    sm_pixel_block nored = {1, b, g, NULL, n, s1, s2, NULL, NULL};
    assert_int_equal(sm_classify_rules(ctx, &nored, NULL, out), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "red"));
    /* a parameter struct of another version is refused */
    sm_rules_params p = SM_RULES_PARAMS_INIT;
    p.version = 99;
    assert_int_equal(sm_classify_rules(ctx, &blk, &p, out), SM_ERR_INPUT);
    /* an empty block is fine, even without bands */
    sm_pixel_block empty = {0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    assert_int_equal(sm_classify_rules(ctx, &empty, NULL, out), SM_OK);
    sm_context_destroy(ctx);
}

/* The block classifier (four pixels at a time where the CPU allows) against the pixel function,
 * pixel by pixel, on random reflectances mixed with the values that take the tree's edges:
 * each threshold exactly and one float either side, NaN, zeros of both signs, infinities,
 * negatives; with every combination of absent bands, and with validity and cloud flags. */
static uint64_t rnd_state = 88172645463325252u;
static uint32_t rnd(void) /* a 64-bit LCG's high half */
{
    rnd_state = rnd_state * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(rnd_state >> 32);
}

static void test_block_matches_pixel(void **state)
{
    (void)state;
    const sm_rules_params p = SM_RULES_PARAMS_INIT;
    const float *fp = &p.water_nir_max;
    float special[64];
    int ns = 0;
    for (int k = 0; k < 22; k++) { /* the thresholds, and a float either side */
        special[ns++] = fp[k];
        if (k % 2 == 0) {
            special[ns++] = nextafterf(fp[k], 1.0f);
            special[ns++] = nextafterf(fp[k], -1.0f);
        }
    }
    const float extra[] = {NAN, 0.0f, -0.0f, INFINITY, -INFINITY, -0.05f, 1e-30f, 2.0f};
    for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++)
        special[ns++] = extra[k];
    enum { N = 1 << 16 };
    static float b[6][N];
    static uint8_t valid[N], cloud[N], got[N];
    size_t checked = 0, classes_seen = 0;
    int seen[16] = {0};
    for (int round = 0; round < 64; round++) {
        for (size_t i = 0; i < N; i++) {
            for (int k = 0; k < 6; k++) {
                uint32_t r = rnd();
                if (r % 5 == 0)
                    b[k][i] = special[(r >> 8) % (uint32_t)ns];
                else
                    b[k][i] = (float)((r >> 8) % 100000) / 100000.0f * (k == 3 ? 0.6f : 0.35f);
            }
            valid[i] = rnd() % 16 != 0;
            cloud[i] = rnd() % 16 == 0;
        }
        int absent = round % 16; /* bit k: band k absent (blue, green, swir1, swir2) */
        sm_pixel_block blk;
        memset(&blk, 0, sizeof blk);
        blk.n = N - (size_t)(round % 4); /* a tail the four-wide loop leaves */
        blk.blue = (absent & 1) ? NULL : b[0];
        blk.green = (absent & 2) ? NULL : b[1];
        blk.red = b[2];
        blk.nir = b[3];
        blk.swir1 = (absent & 4) ? NULL : b[4];
        blk.swir2 = (absent & 8) ? NULL : b[5];
        blk.valid = round % 3 ? valid : NULL;
        blk.cloud = round % 5 ? cloud : NULL;
        assert_int_equal(sm_classify_rules(NULL, &blk, &p, got), SM_OK);
        for (size_t i = 0; i < blk.n; i++) {
            uint8_t want;
            if (blk.valid && !valid[i])
                want = SM_LC_NODATA;
            else if (blk.cloud && cloud[i])
                want = SM_LC_CLOUD;
            else
                want = sm_classify_rules_pixel(&p, blk.blue ? b[0][i] : NAN, blk.green ? b[1][i] : NAN, b[2][i],
                                               b[3][i], blk.swir1 ? b[4][i] : NAN, blk.swir2 ? b[5][i] : NAN);
            if (got[i] != want)
                fail_msg("round %d, pixel %zu (%a %a %a %a %a %a): block %d, pixel %d", round, i, b[0][i], b[1][i],
                         b[2][i], b[3][i], b[4][i], b[5][i], got[i], want);
            seen[want & 15] = 1;
            checked++;
        }
    }
    for (int k = 0; k < 16; k++)
        classes_seen += (size_t)seen[k];
    assert_true(checked > 4000000);
    assert_int_equal(classes_seen, 12); /* every class 0-11 came up */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_indices_values),
        cmocka_unit_test(test_indices_zero_and_nan),
        cmocka_unit_test(test_rule_branches),
        cmocka_unit_test(test_missing_bands),
        cmocka_unit_test(test_threshold_edges),
        cmocka_unit_test(test_block_nodata_cloud),
        cmocka_unit_test(test_block_matches_pixel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
