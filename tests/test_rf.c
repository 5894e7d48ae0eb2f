/* test_rf.c: tests of the random forest (src/analysis/rf.c), the model container and its file
 * (src/analysis/model_io.c) and sample handling: exact labels on separable clusters and XOR,
 * determinism across seeds and thread counts, out-of-bag error, the lockstep predictor against
 * the plain one, model round trips, a flipped byte, and mismatched class or feature lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sinkmap/model.h"
#include "sinkmap/rf.h"

static void expect_message(sm_context *ctx, const char *part)
{
    const char *m = sm_context_message(ctx);
    if (!strstr(m, part)) {
        print_error("message \"%s\" does not contain \"%s\"\n", m, part);
        fail();
    }
}

static double gauss(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    double u1 = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    double u2 = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* k classes in p = 4 features: class c centred at 10·c on feature c % 4, 10·(c / 4) on the
 * next one, unit spread: every pair of centres is 10 standard deviations apart or more. */
static void make_clusters(float *x, int *y, size_t per, int k, uint64_t seed)
{
    uint64_t s = seed;
    for (int c = 0; c < k; c++)
        for (size_t i = 0; i < per; i++) {
            size_t r = (size_t)c * per + i;
            for (int j = 0; j < 4; j++)
                x[r * 4 + (size_t)j] = (float)gauss(&s);
            x[r * 4 + (size_t)(c % 4)] += 10.0f;
            x[r * 4 + (size_t)((c % 4 + 1) % 4)] += 10.0f * (float)(c / 4);
            y[r] = c;
        }
}

static int same_forest(const sm_rf *a, const sm_rf *b)
{
    if (sm_rf_ntrees(a) != sm_rf_ntrees(b))
        return 0;
    for (int t = 0; t < sm_rf_ntrees(a); t++) {
        size_t na, nb;
        const sm_rf_node *ta = sm_rf_tree(a, t, &na), *tb = sm_rf_tree(b, t, &nb);
        if (na != nb || memcmp(ta, tb, na * sizeof *ta) != 0)
            return 0;
    }
    return 1;
}

static void test_rf_separable(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    enum { PER = 150, K = 5 };
    float x[PER * K * 4];
    int y[PER * K];
    make_clusters(x, y, PER, K, 11);
    sm_rf_options o = SM_RF_OPTIONS_INIT;
    o.ntrees = 50;
    o.threads = 2;
    sm_rf *rf = NULL;
    assert_int_equal(sm_rf_train(&rf, ctx, x, y, PER * K, 4, K, &o), SM_OK);
    assert_int_equal(sm_rf_params(rf).mtry, 2); /* floor(sqrt(4)) */
    for (size_t i = 0; i < PER * K; i++) {
        float conf;
        assert_int_equal(sm_rf_predict(rf, x + i * 4, &conf), y[i]);
        assert_true(conf > 0.5f && conf <= 1.0f);
    }
    /* new points at the centres get their class with every tree's vote */
    for (int c = 0; c < K; c++) {
        float q[4] = {0, 0, 0, 0}, conf;
        q[c % 4] = 10;
        q[(c % 4 + 1) % 4] += 10.0f * (float)(c / 4);
        assert_int_equal(sm_rf_predict(rf, q, &conf), c);
        assert_true(conf == 1.0f);
    }
    /* well separated: no out-of-bag sample is misclassified */
    assert_true(sm_rf_oob_error(rf) == 0.0);
    /* NaN: no class */
    float bad[4] = {0, NAN, 0, 0};
    assert_int_equal(sm_rf_predict(rf, bad, NULL), -1);
    sm_rf_destroy(rf);
    sm_context_destroy(ctx);
}

static void test_rf_xor(void **state)
{
    (void)state;
    /* XOR of two features: no single split reduces the impurity at the root, so the forest
     * must accept zero-gain splits to separate the four corners. */
    sm_context *ctx = sm_context_create();
    enum { PER = 50 };
    float x[4 * PER * 2];
    int y[4 * PER];
    uint64_t s = 2;
    for (int q = 0; q < 4; q++)
        for (size_t i = 0; i < PER; i++) {
            size_t r = (size_t)q * PER + i;
            x[2 * r] = (float)((q & 1) * 10 + gauss(&s));
            x[2 * r + 1] = (float)((q >> 1) * 10 + gauss(&s));
            y[r] = (q & 1) ^ (q >> 1);
        }
    sm_rf_options o = SM_RF_OPTIONS_INIT;
    o.ntrees = 30;
    o.mtry = 2;
    sm_rf *rf = NULL;
    assert_int_equal(sm_rf_train(&rf, ctx, x, y, 4 * PER, 2, 2, &o), SM_OK);
    const float corners[4][2] = {{0, 0}, {10, 0}, {0, 10}, {10, 10}};
    for (int q = 0; q < 4; q++)
        assert_int_equal(sm_rf_predict(rf, corners[q], NULL), (q & 1) ^ (q >> 1));
    sm_rf_destroy(rf);
    sm_context_destroy(ctx);
}

static void test_rf_determinism(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    enum { PER = 120, K = 4, N = PER * K };
    float x[N * 4];
    int y[N];
    make_clusters(x, y, PER, K, 5);
    /* label noise, so that the trees are deep and differ from seed to seed */
    for (size_t i = 0; i < N; i += 7)
        y[i] = (y[i] + 1) % K;
    sm_rf_options o = SM_RF_OPTIONS_INIT;
    o.ntrees = 40;
    o.seed = 77;
    sm_rf *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    o.threads = 1;
    assert_int_equal(sm_rf_train(&a, ctx, x, y, N, 4, K, &o), SM_OK);
    o.threads = 2;
    assert_int_equal(sm_rf_train(&b, ctx, x, y, N, 4, K, &o), SM_OK);
    o.threads = 3;
    assert_int_equal(sm_rf_train(&c, ctx, x, y, N, 4, K, &o), SM_OK);
    assert_true(same_forest(a, b));
    assert_true(same_forest(a, c));
    assert_true(sm_rf_oob_error(a) == sm_rf_oob_error(b));
    assert_true(sm_rf_oob_error(a) == sm_rf_oob_error(c));
    /* another seed grows another forest */
    o.seed = 78;
    assert_int_equal(sm_rf_train(&d, ctx, x, y, N, 4, K, &o), SM_OK);
    assert_false(same_forest(a, d));
    /* 1 in 7 labels flipped: the out-of-bag error is about 1/7 (the forest cannot learn noise) */
    double oob = sm_rf_oob_error(a);
    if (!(oob > 0.08 && oob < 0.25)) {
        print_error("out-of-bag error %.4f, expected about 0.14\n", oob);
        fail();
    }
    sm_rf_destroy(a);
    sm_rf_destroy(b);
    sm_rf_destroy(c);
    sm_rf_destroy(d);
    sm_context_destroy(ctx);
}

static void test_rf_limits_and_block(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    enum { PER = 100, K = 3, N = PER * K };
    float x[N * 4];
    int y[N];
    make_clusters(x, y, PER, K, 8);
    for (size_t i = 0; i < N; i += 5)
        y[i] = (y[i] + 1) % K;
    sm_rf_options o = SM_RF_OPTIONS_INIT;
    o.ntrees = 20;
    o.max_depth = 1;
    sm_rf *rf = NULL;
    assert_int_equal(sm_rf_train(&rf, ctx, x, y, N, 4, K, &o), SM_OK);
    for (int t = 0; t < 20; t++) {
        size_t nn;
        sm_rf_tree(rf, t, &nn);
        assert_true(nn <= 3); /* a stump */
    }
    sm_rf_destroy(rf);
    /* min_leaf = n: no split leaves n on both sides, so every tree is one leaf */
    o.max_depth = 0;
    o.min_leaf = N;
    assert_int_equal(sm_rf_train(&rf, ctx, x, y, N, 4, K, &o), SM_OK);
    for (int t = 0; t < 20; t++) {
        size_t nn;
        sm_rf_tree(rf, t, &nn);
        assert_int_equal(nn, 1);
    }
    sm_rf_destroy(rf);
    /* the lockstep predictor gives the plain predictor's classes and votes exactly, also on
     * points far outside the training data and with NaN */
    o.min_leaf = 1;
    o.ntrees = 25;
    assert_int_equal(sm_rf_train(&rf, ctx, x, y, N, 4, K, &o), SM_OK);
    enum { M = 1001 };
    float *q = malloc(M * 4 * sizeof *q), *cb = malloc(M * sizeof *cb);
    int *kb = malloc(M * sizeof *kb);
    uint64_t s = 99;
    for (size_t i = 0; i < M * 4; i++)
        q[i] = (float)(15 * gauss(&s));
    q[17 * 4 + 2] = NAN;
    sm_rf_predict_block(rf, q, M, kb, cb);
    for (size_t i = 0; i < M; i++) {
        float c;
        int k = sm_rf_predict(rf, q + i * 4, &c);
        assert_int_equal(kb[i], k);
        assert_true(cb[i] == c);
    }
    assert_int_equal(kb[17], -1);
    free(q);
    free(cb);
    free(kb);
    sm_rf_destroy(rf);
    /* bad options are named */
    o.mtry = 9;
    assert_int_equal(sm_rf_train(&rf, ctx, x, y, N, 4, K, &o), SM_ERR_INPUT);
    expect_message(ctx, "--mtry 9");
    sm_context_destroy(ctx);
}

static void test_rf_malformed_trees(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_rf_node good[3] = {{0, 0.5f, 1}, {-1, 0, 0}, {-1, 0, 1}};
    sm_rf_node loop[3] = {{0, 0.5f, 0}, {-1, 0, 0}, {-1, 0, 1}}; /* child before itself */
    sm_rf_node badcls[3] = {{0, 0.5f, 1}, {-1, 0, 0}, {-1, 0, 5}};
    const sm_rf_node *t1[] = {good}, *t2[] = {good, loop}, *t3[] = {badcls};
    size_t n1[] = {3}, n2[] = {3, 3};
    sm_rf *rf = NULL;
    assert_int_equal(sm_rf_from_trees(&rf, ctx, 1, 2, 1, t1, n1, NULL, NAN), SM_OK);
    const float lo[1] = {0.2f}, hi[1] = {0.9f};
    assert_int_equal(sm_rf_predict(rf, lo, NULL), 0);
    assert_int_equal(sm_rf_predict(rf, hi, NULL), 1);
    sm_rf_destroy(rf);
    assert_int_equal(sm_rf_from_trees(&rf, ctx, 1, 2, 2, t2, n2, NULL, NAN), SM_ERR_INPUT);
    expect_message(ctx, "tree 2, node 0");
    assert_int_equal(sm_rf_from_trees(&rf, ctx, 1, 2, 1, t3, n1, NULL, NAN), SM_ERR_INPUT);
    expect_message(ctx, "tree 1, node 2");
    sm_context_destroy(ctx);
}

/* ---- models and files ----------------------------------------------------------------------- */

static sm_samples *cluster_samples(sm_context *ctx, size_t per, uint64_t seed)
{
    enum { K = 3 };
    const char *classes[K] = {"bare", "forest", "water"};
    const char *features[4] = {"b1:blue", "b2:green", "b3:red", "b4:nir"};
    sm_samples *s = NULL;
    assert_int_equal(sm_samples_create(&s, ctx, 4, features, K, classes), SM_OK);
    float *x = malloc(per * K * 4 * sizeof *x);
    int *y = malloc(per * K * sizeof *y);
    make_clusters(x, y, per, K, seed);
    for (size_t i = 0; i < per * K; i++)
        assert_int_equal(sm_samples_add(s, ctx, x + i * 4, y[i], (int64_t)(i / 10)), SM_OK);
    free(x);
    free(y);
    return s;
}

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sinkmap-test-rf-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void flip_byte(const char *path, long offset)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, offset, SEEK_SET);
    int c = fgetc(f);
    fseek(f, offset, SEEK_SET);
    fputc(c ^ 0x01, f);
    fclose(f);
}

static void round_trip(sm_method method)
{
    sm_context *ctx = sm_context_create();
    sm_samples *s = cluster_samples(ctx, 80, 21);
    sm_model_options o = SM_MODEL_OPTIONS_INIT;
    o.method = method;
    o.rf.ntrees = 15;
    sm_model *m = NULL, *l = NULL;
    assert_int_equal(sm_model_train(&m, ctx, s, &o), SM_OK);
    char path[300];
    snprintf(path, sizeof path, "%s/%s.model", tmpdir, sm_model_method_name(method));
    assert_int_equal(sm_model_save(m, ctx, path), SM_OK);
    const char *features[4] = {"b1:blue", "b2:green", "b3:red", "b4:nir"};
    const char *classes[3] = {"bare", "forest", "water"};
    sm_model_expect ex = {4, features, 3, classes};
    assert_int_equal(sm_model_load(&l, ctx, path, &ex), SM_OK);
    assert_int_equal(sm_model_method(l), method);
    assert_string_equal(sm_model_class_name(l, 2), "water");
    assert_string_equal(sm_model_feature_name(l, 3), "b4:nir");
    assert_true(sm_model_class_counts(l)[1] == 80);
    /* identical predictions and confidences on a grid of points, including outliers */
    enum { M = 600 };
    float *q = malloc(M * 4 * sizeof *q), *c1 = malloc(M * 4), *c2 = malloc(M * 4);
    uint8_t *k1 = malloc(M), *k2 = malloc(M);
    uint64_t st = 4;
    for (size_t i = 0; i < M * 4; i++)
        q[i] = (float)(12 * gauss(&st));
    sm_model_predict_codes(m, q, M, k1, c1);
    sm_model_predict_codes(l, q, M, k2, c2);
    assert_memory_equal(k1, k2, M);
    assert_memory_equal(c1, c2, M * sizeof *c1);
    if (method == SM_METHOD_MAXLIK)
        assert_true(memchr(k1, 10, M) != NULL); /* some outliers are rejected */
    double counts[4 * 3];
    assert_int_equal(sm_model_confusion(l, ctx, s, counts), SM_OK);
    /* no confusion between classes; maximum likelihood may reject a few training samples
     * (row 3) at its 0.999 level, the forest never */
    for (int j = 0; j < 3; j++) {
        for (int i = 0; i < 3; i++)
            if (i != j)
                assert_true(counts[i * 3 + j] == 0);
        assert_true(counts[j * 3 + j] + counts[9 + j] == 80);
        if (method == SM_METHOD_RF)
            assert_true(counts[j * 3 + j] == 80);
        else
            assert_true(counts[j * 3 + j] >= 76);
    }
    sm_model_destroy(l);
    l = NULL;

    /* the class list or the feature list the caller expects differs: named */
    const char *classes2[3] = {"bare", "grass", "water"};
    sm_model_expect ex2 = {4, features, 3, classes2};
    assert_int_equal(sm_model_load(&l, ctx, path, &ex2), SM_ERR_INPUT);
    assert_null(l);
    expect_message(ctx, "class 2 is 'forest' in the model but 'grass' is expected");
    sm_model_expect ex3 = {6, NULL, 0, NULL};
    assert_int_equal(sm_model_load(&l, ctx, path, &ex3), SM_ERR_INPUT);
    expect_message(ctx, "trained on 4 features");
    expect_message(ctx, "the input has 6");
    const char *features2[4] = {"b1:blue", "b2:green", "b3", "b4:nir"};
    sm_model_expect ex4 = {4, features2, 0, NULL};
    assert_int_equal(sm_model_load(&l, ctx, path, &ex4), SM_ERR_INPUT);
    expect_message(ctx, "feature 3 is 'b3:red' in the model but 'b3' in the input");
    sm_model_expect ex5 = {0, NULL, 4, NULL};
    assert_int_equal(sm_model_load(&l, ctx, path, &ex5), SM_ERR_INPUT);
    expect_message(ctx, "the model has 3 classes");

    /* a flipped byte in the payload: checksum error */
    flip_byte(path, 200);
    assert_int_equal(sm_model_load(&l, ctx, path, NULL), SM_ERR_INPUT);
    expect_message(ctx, "checksum mismatch");
    expect_message(ctx, path);
    flip_byte(path, 200);
    assert_int_equal(sm_model_load(&l, ctx, path, NULL), SM_OK);
    sm_model_destroy(l);
    l = NULL;
    /* in the magic, the version, the length */
    flip_byte(path, 0);
    assert_int_equal(sm_model_load(&l, ctx, path, NULL), SM_ERR_INPUT);
    expect_message(ctx, "not a sinkmap model");
    flip_byte(path, 0);
    flip_byte(path, 9);
    assert_int_equal(sm_model_load(&l, ctx, path, NULL), SM_ERR_INPUT);
    expect_message(ctx, "model format version 257");
    flip_byte(path, 9);
    flip_byte(path, 12);
    assert_int_equal(sm_model_load(&l, ctx, path, NULL), SM_ERR_INPUT);
    expect_message(ctx, "truncated or altered");
    flip_byte(path, 12);
    /* truncated */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "truncate -s -5 '%s'", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(sm_model_load(&l, ctx, path, NULL), SM_ERR_INPUT);
    expect_message(ctx, "truncated or altered");
    assert_null(l);

    free(q);
    free(c1);
    free(c2);
    free(k1);
    free(k2);
    sm_model_destroy(m);
    sm_samples_destroy(s);
    sm_context_destroy(ctx);
}

static void test_model_round_trip_rf(void **state)
{
    (void)state;
    round_trip(SM_METHOD_RF);
}

static void test_model_round_trip_maxlik(void **state)
{
    (void)state;
    round_trip(SM_METHOD_MAXLIK);
}

static void test_samples_cap_and_split(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    /* 3 classes x 100 samples; groups of 10 consecutive samples (10 groups per class) */
    sm_samples *s = cluster_samples(ctx, 100, 3);
    sm_samples *t = NULL;
    assert_int_equal(sm_samples_split_groups(s, ctx, 0.3, 9, &t), SM_OK);
    /* 3 of 10 groups per class held out: 90 test samples, 210 training */
    assert_int_equal(t->n, 90);
    assert_int_equal(s->n, 210);
    size_t counts[3];
    sm_samples_class_counts(t, counts);
    for (int c = 0; c < 3; c++) {
        assert_int_equal(counts[c], 30);
        assert_int_equal(sm_samples_class_groups(t, c), 3);
    }
    /* no group on both sides */
    for (size_t i = 0; i < t->n; i++)
        for (size_t j = 0; j < s->n; j++)
            assert_true(t->group[i] != s->group[j]);
    /* the same seed holds out the same groups */
    sm_samples *s2 = cluster_samples(ctx, 100, 3), *t2 = NULL;
    assert_int_equal(sm_samples_split_groups(s2, ctx, 0.3, 9, &t2), SM_OK);
    assert_memory_equal(t->group, t2->group, t->n * sizeof *t->group);
    /* a class with one group keeps it for training */
    sm_samples *one = NULL, *t3 = NULL;
    const char *cls[1] = {"a"}, *feat[1] = {"f"};
    assert_int_equal(sm_samples_create(&one, ctx, 1, feat, 1, cls), SM_OK);
    float v = 1;
    for (int i = 0; i < 5; i++)
        assert_int_equal(sm_samples_add(one, ctx, &v, 0, 42), SM_OK);
    assert_int_equal(sm_samples_split_groups(one, ctx, 0.9, 1, &t3), SM_OK);
    assert_int_equal(one->n, 5);
    assert_int_equal(t3->n, 0);

    /* cap: at most 25 per class, deterministic, original order kept */
    sm_samples_cap(s, 25, 5);
    sm_samples_cap(s2, 25, 5);
    assert_int_equal(s->n, 75);
    assert_memory_equal(s->x, s2->x, s->n * 4 * sizeof *s->x);
    for (size_t i = 1; i < s->n; i++)
        if (s->y[i] == s->y[i - 1])
            assert_true(s->group[i] >= s->group[i - 1]);
    /* too few samples: names the class and the counts */
    assert_int_equal(sm_samples_require(s, ctx, 30, "train.gpkg", "(--min-samples)"), SM_ERR_INPUT);
    expect_message(ctx, "train.gpkg: class 'bare' has 25 training samples");
    expect_message(ctx, "at least 30 are needed (--min-samples)");
    expect_message(ctx, "samples per class: bare 25, forest 25, water 25");
    assert_int_equal(sm_samples_require(s, ctx, 25, "train.gpkg", NULL), SM_OK);
    sm_samples_destroy(s);
    sm_samples_destroy(s2);
    sm_samples_destroy(t);
    sm_samples_destroy(t2);
    sm_samples_destroy(one);
    sm_samples_destroy(t3);
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rf_separable),
        cmocka_unit_test(test_rf_xor),
        cmocka_unit_test(test_rf_determinism),
        cmocka_unit_test(test_rf_limits_and_block),
        cmocka_unit_test(test_rf_malformed_trees),
        cmocka_unit_test(test_model_round_trip_rf),
        cmocka_unit_test(test_model_round_trip_maxlik),
        cmocka_unit_test(test_samples_cap_and_split),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
