/* model_io.c: the classifier model (method, classes, features), its prediction entry points,
 * training samples, and the model file: a versioned little-endian payload guarded by its
 * SHA-256, so that a map in an audit can be traced to the exact model that drew it. */
#include "sinkmap/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "sinkmap/hash.h"

static const char MAGIC[8] = {'S', 'I', 'N', 'K', 'M', 'D', 'L', '\n'};
#define HEADER_BYTES 52

struct sm_model {
    sm_method method;
    int k, p;
    char **class_names;
    char **feature_names;
    double *counts;
    sm_maxlik *maxlik;
    sm_rf *rf;
};

static void free_names(char **names, int n)
{
    if (!names)
        return;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static char **copy_names(const char *const *names, int n, const char *prefix)
{
    char **out = calloc((size_t)(n > 0 ? n : 1), sizeof *out);
    if (!out)
        return NULL;
    for (int i = 0; i < n; i++) {
        if (names && names[i]) {
            out[i] = strdup(names[i]);
        } else {
            out[i] = malloc(32);
            if (out[i])
                snprintf(out[i], 32, "%s%d", prefix, i + 1);
        }
        if (!out[i]) {
            free_names(out, n);
            return NULL;
        }
    }
    return out;
}

/* ---- samples ------------------------------------------------------------------------------ */

sm_status sm_samples_create(sm_samples **out, sm_context *ctx, int p,
                            const char *const *feature_names, int k,
                            const char *const *class_names)
{
    *out = NULL;
    if (p < 1 || p > SM_MAX_FEATURES)
        return sm_error(ctx, SM_ERR_INPUT, "%d features (1 to %d allowed)", p, SM_MAX_FEATURES);
    if (k < 1 || k > SM_MAX_CLASSES)
        return sm_error(ctx, SM_ERR_INPUT, "%d classes (1 to %d allowed)", k, SM_MAX_CLASSES);
    sm_samples *s = calloc(1, sizeof *s);
    if (!s)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    s->p = p;
    s->k = k;
    s->class_names = copy_names(class_names, k, "class");
    s->feature_names = copy_names(feature_names, p, "f");
    if (!s->class_names || !s->feature_names) {
        sm_samples_destroy(s);
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return SM_OK;
}

void sm_samples_destroy(sm_samples *s)
{
    if (!s)
        return;
    free(s->x);
    free(s->y);
    free(s->group);
    free_names(s->class_names, s->k);
    free_names(s->feature_names, s->p);
    free(s);
}

sm_status sm_samples_add(sm_samples *s, sm_context *ctx, const float *x, int y, int64_t group)
{
    if (y < 0 || y >= s->k)
        return sm_error(ctx, SM_ERR_INTERNAL, "sample class %d out of range", y);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024, bytes;
        if (sm_mul_size(cap, (size_t)s->p * sizeof(float), &bytes))
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory for %zu samples", cap);
        float *nx = realloc(s->x, bytes);
        if (nx)
            s->x = nx;
        int *ny = realloc(s->y, cap * sizeof *ny);
        if (ny)
            s->y = ny;
        int64_t *ng = realloc(s->group, cap * sizeof *ng);
        if (ng)
            s->group = ng;
        if (!nx || !ny || !ng)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory for %zu samples", cap);
        s->cap = cap;
    }
    memcpy(s->x + s->n * (size_t)s->p, x, (size_t)s->p * sizeof *x);
    s->y[s->n] = y;
    s->group[s->n] = group;
    s->n++;
    return SM_OK;
}

void sm_samples_class_counts(const sm_samples *s, size_t *counts)
{
    memset(counts, 0, (size_t)s->k * sizeof *counts);
    for (size_t i = 0; i < s->n; i++)
        counts[s->y[i]]++;
}

static uint64_t mix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void sm_samples_cap(sm_samples *s, size_t max, uint64_t seed)
{
    if (max == 0 || s->n == 0)
        return;
    size_t *idx = malloc(s->n * sizeof *idx);
    uint8_t *keep = calloc(s->n, 1);
    if (!idx || !keep) {
        free(idx);
        free(keep);
        return; /* out of memory: leave the samples whole (a bigger, still correct set) */
    }
    for (int c = 0; c < s->k; c++) {
        size_t m = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->y[i] == c)
                idx[m++] = i;
        if (m <= max) {
            for (size_t i = 0; i < m; i++)
                keep[idx[i]] = 1;
            continue;
        }
        /* the first `max` places of a partial Fisher-Yates shuffle */
        uint64_t st = seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(c + 1));
        for (size_t i = 0; i < max; i++) {
            size_t j = i + (size_t)(mix64(&st) % (uint64_t)(m - i));
            size_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            keep[idx[i]] = 1;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!keep[i])
            continue;
        if (o != i) {
            memmove(s->x + o * (size_t)s->p, s->x + i * (size_t)s->p, (size_t)s->p * sizeof *s->x);
            s->y[o] = s->y[i];
            s->group[o] = s->group[i];
        }
        o++;
    }
    s->n = o;
    free(idx);
    free(keep);
}

/* ---- models ------------------------------------------------------------------------------- */

void sm_model_destroy(sm_model *m)
{
    if (!m)
        return;
    free_names(m->class_names, m->k);
    free_names(m->feature_names, m->p);
    free(m->counts);
    sm_maxlik_destroy(m->maxlik);
    sm_rf_destroy(m->rf);
    free(m);
}

static sm_model *model_alloc(int p, const char *const *features, int k, const char *const *classes)
{
    sm_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->p = p;
    m->k = k;
    m->class_names = copy_names(classes, k, "class");
    m->feature_names = copy_names(features, p, "f");
    m->counts = calloc((size_t)k, sizeof *m->counts);
    if (!m->class_names || !m->feature_names || !m->counts) {
        sm_model_destroy(m);
        return NULL;
    }
    return m;
}

sm_status sm_model_train(sm_model **out, sm_context *ctx, const sm_samples *s,
                         const sm_model_options *opt)
{
    sm_model_options defaults = SM_MODEL_OPTIONS_INIT;
    if (!opt)
        opt = &defaults;
    *out = NULL;
    if (opt->version != SM_MODEL_OPTIONS_VERSION)
        return sm_error(ctx, SM_ERR_INPUT, "model options version %d (expected %d)", opt->version,
                        SM_MODEL_OPTIONS_VERSION);
    sm_model *m = model_alloc(s->p, (const char *const *)s->feature_names, s->k,
                              (const char *const *)s->class_names);
    if (!m)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    m->method = opt->method;
    for (size_t i = 0; i < s->n; i++)
        m->counts[s->y[i]] += 1;
    sm_status st;
    if (opt->method == SM_METHOD_MAXLIK)
        st = sm_maxlik_train(&m->maxlik, ctx, s->x, s->y, s->n, s->p, s->k,
                             (const char *const *)s->class_names,
                             (const char *const *)s->feature_names, &opt->maxlik);
    else if (opt->method == SM_METHOD_RF)
        st = sm_rf_train(&m->rf, ctx, s->x, s->y, s->n, s->p, s->k, &opt->rf);
    else
        st = sm_error(ctx, SM_ERR_INPUT, "unknown classification method %d", (int)opt->method);
    if (st != SM_OK) {
        sm_model_destroy(m);
        return st;
    }
    *out = m;
    return SM_OK;
}

sm_method sm_model_method(const sm_model *m) { return m->method; }
const char *sm_model_method_name(sm_method method)
{
    return method == SM_METHOD_MAXLIK ? "maxlik" : method == SM_METHOD_RF ? "rf" : "unknown";
}
int sm_model_nclasses(const sm_model *m) { return m->k; }
int sm_model_nfeatures(const sm_model *m) { return m->p; }
const char *sm_model_class_name(const sm_model *m, int c)
{
    return (c >= 0 && c < m->k) ? m->class_names[c] : NULL;
}
const char *sm_model_feature_name(const sm_model *m, int j)
{
    return (j >= 0 && j < m->p) ? m->feature_names[j] : NULL;
}
const sm_maxlik *sm_model_maxlik(const sm_model *m) { return m->maxlik; }
const sm_rf *sm_model_rf(const sm_model *m) { return m->rf; }
const double *sm_model_class_counts(const sm_model *m) { return m->counts; }
int sm_model_unclassified_code(const sm_model *m) { return m->k < 10 ? 10 : m->k + 1; }

int sm_model_predict(const sm_model *m, const float *x, float *confidence)
{
    if (m->maxlik)
        return sm_maxlik_predict(m->maxlik, x, confidence);
    return sm_rf_predict(m->rf, x, confidence);
}

void sm_model_predict_codes(const sm_model *m, const float *x, size_t n, uint8_t *code,
                            float *conf)
{
    uint8_t rejected = (uint8_t)sm_model_unclassified_code(m);
    if (m->rf) {
        /* large blocks: sm_rf_predict_block walks each tree over a whole block at a time */
        enum { CHUNK = 65536 };
        int small[1024];
        int *cls = n > 1024 ? malloc((n < CHUNK ? n : CHUNK) * sizeof *cls) : small;
        size_t chunk = cls ? (n < CHUNK ? n : CHUNK) : 1024;
        if (!cls)
            cls = small; /* no memory: smaller blocks, the same result */
        for (size_t i0 = 0; i0 < n; i0 += chunk) {
            size_t c = n - i0 < chunk ? n - i0 : chunk;
            sm_rf_predict_block(m->rf, x + i0 * (size_t)m->p, c, cls, conf ? conf + i0 : NULL);
            for (size_t i = 0; i < c; i++) {
                code[i0 + i] = cls[i] < 0 ? 0 : (uint8_t)(cls[i] + 1);
                if (cls[i] < 0 && conf)
                    conf[i0 + i] = NAN;
            }
        }
        if (cls != small)
            free(cls);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * (size_t)m->p;
        int finite = 1;
        for (int j = 0; j < m->p; j++)
            if (!isfinite(xi[j])) {
                finite = 0;
                break;
            }
        if (!finite) {
            code[i] = 0;
            if (conf)
                conf[i] = NAN;
            continue;
        }
        float c = 0;
        int cls = sm_model_predict(m, xi, conf ? &c : NULL);
        code[i] = cls < 0 ? rejected : (uint8_t)(cls + 1);
        if (conf)
            conf[i] = c;
    }
}

sm_status sm_model_confusion(const sm_model *m, sm_context *ctx, const sm_samples *s,
                             double *counts)
{
    if (s->p != m->p)
        return sm_error(ctx, SM_ERR_INPUT, "the samples have %d features, the model %d", s->p, m->p);
    if (s->k != m->k)
        return sm_error(ctx, SM_ERR_INPUT, "the samples have %d classes, the model %d", s->k, m->k);
    for (int c = 0; c < m->k; c++)
        if (strcmp(s->class_names[c], m->class_names[c]) != 0)
            return sm_error(ctx, SM_ERR_INPUT, "class %d is '%s' in the samples, '%s' in the model",
                            c + 1, s->class_names[c], m->class_names[c]);
    memset(counts, 0, (size_t)(m->k + 1) * (size_t)m->k * sizeof *counts);
    for (size_t i = 0; i < s->n; i++) {
        int cls = sm_model_predict(m, s->x + i * (size_t)s->p, NULL);
        size_t row = cls < 0 ? (size_t)m->k : (size_t)cls;
        counts[row * (size_t)m->k + (size_t)s->y[i]] += 1;
    }
    return SM_OK;
}

sm_status sm_model_check(const sm_model *m, sm_context *ctx, const char *what,
                         const sm_model_expect *e)
{
    if (!e)
        return SM_OK;
    if (!what)
        what = "the model";
    if (e->nfeatures > 0) {
        if (e->nfeatures != m->p)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: the model was trained on %d features (%s%s), the input has %d "
                            "(%s%s)",
                            what, m->p, m->feature_names[0], m->p > 1 ? ", ..." : "", e->nfeatures,
                            e->feature_names ? e->feature_names[0] : "?",
                            e->nfeatures > 1 ? ", ..." : "");
        if (e->feature_names)
            for (int j = 0; j < m->p; j++)
                if (strcmp(e->feature_names[j], m->feature_names[j]) != 0)
                    return sm_error(ctx, SM_ERR_INPUT,
                                    "%s: feature %d is '%s' in the model but '%s' in the input",
                                    what, j + 1, m->feature_names[j], e->feature_names[j]);
    }
    if (e->nclasses > 0) {
        if (e->nclasses != m->k)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: the model has %d classes (%s, ...), %d are expected (%s, ...)",
                            what, m->k, m->class_names[0], e->nclasses,
                            e->class_names ? e->class_names[0] : "?");
        if (e->class_names)
            for (int c = 0; c < m->k; c++)
                if (strcmp(e->class_names[c], m->class_names[c]) != 0)
                    return sm_error(ctx, SM_ERR_INPUT,
                                    "%s: class %d is '%s' in the model but '%s' is expected", what,
                                    c + 1, m->class_names[c], e->class_names[c]);
    }
    return SM_OK;
}

/* ---- serialization ------------------------------------------------------------------------ */

typedef struct wbuf {
    uint8_t *b;
    size_t n, cap;
    int failed;
} wbuf;

static void put(wbuf *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->n + n)
            cap *= 2;
        uint8_t *nb = realloc(w->b, cap);
        if (!nb) {
            w->failed = 1;
            return;
        }
        w->b = nb;
        w->cap = cap;
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void put_u32(wbuf *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(w, b, 4);
}

static void put_u64(wbuf *w, uint64_t v)
{
    put_u32(w, (uint32_t)v);
    put_u32(w, (uint32_t)(v >> 32));
}

static void put_f64(wbuf *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_u64(w, u);
}

static void put_f32(wbuf *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    put_u32(w, u);
}

static void put_str(wbuf *w, const char *s)
{
    size_t n = strlen(s);
    put_u32(w, (uint32_t)n);
    put(w, s, n);
}

typedef struct rbuf {
    const uint8_t *b;
    size_t n, pos;
    int failed;
} rbuf;

static const uint8_t *take(rbuf *r, size_t n)
{
    if (r->failed || n > r->n - r->pos) {
        r->failed = 1;
        return NULL;
    }
    const uint8_t *p = r->b + r->pos;
    r->pos += n;
    return p;
}

static uint32_t get_u32(rbuf *r)
{
    const uint8_t *b = take(r, 4);
    if (!b)
        return 0;
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static uint64_t get_u64(rbuf *r)
{
    uint64_t lo = get_u32(r);
    return lo | ((uint64_t)get_u32(r) << 32);
}

static double get_f64(rbuf *r)
{
    uint64_t u = get_u64(r);
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static float get_f32(rbuf *r)
{
    uint32_t u = get_u32(r);
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* A copy of the next string, or NULL (r->failed set when the data ran out). */
static char *get_str(rbuf *r)
{
    uint32_t n = get_u32(r);
    const uint8_t *p = take(r, n);
    if (!p)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->failed = 1;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void write_payload(const sm_model *m, wbuf *w)
{
    put_u32(w, (uint32_t)m->method);
    put_u32(w, (uint32_t)m->k);
    for (int c = 0; c < m->k; c++)
        put_str(w, m->class_names[c]);
    put_u32(w, (uint32_t)m->p);
    for (int j = 0; j < m->p; j++)
        put_str(w, m->feature_names[j]);
    for (int c = 0; c < m->k; c++)
        put_f64(w, m->counts[c]);
    if (m->maxlik) {
        put_f64(w, sm_maxlik_reject_level(m->maxlik));
        for (int c = 0; c < m->k; c++) {
            put_f64(w, sm_maxlik_prior(m->maxlik, c));
            const double *mu = sm_maxlik_mean(m->maxlik, c), *cov = sm_maxlik_cov(m->maxlik, c);
            for (int j = 0; j < m->p; j++)
                put_f64(w, mu[j]);
            for (size_t j = 0; j < (size_t)m->p * (size_t)m->p; j++)
                put_f64(w, cov[j]);
        }
    } else {
        sm_rf_options o = sm_rf_params(m->rf);
        put_u32(w, (uint32_t)sm_rf_ntrees(m->rf));
        put_u32(w, (uint32_t)o.mtry);
        put_u32(w, (uint32_t)o.min_leaf);
        put_u32(w, (uint32_t)o.max_depth);
        put_u64(w, o.seed);
        put_f64(w, sm_rf_oob_error(m->rf));
        for (int t = 0; t < sm_rf_ntrees(m->rf); t++) {
            size_t nn;
            const sm_rf_node *nd = sm_rf_tree(m->rf, t, &nn);
            put_u32(w, (uint32_t)nn);
            for (size_t i = 0; i < nn; i++) {
                put_u32(w, (uint32_t)nd[i].feature);
                put_f32(w, nd[i].threshold);
                put_u32(w, (uint32_t)nd[i].child);
            }
        }
    }
}

sm_status sm_model_save(const sm_model *m, sm_context *ctx, const char *path)
{
    wbuf w = {0};
    write_payload(m, &w);
    if (w.failed) {
        free(w.b);
        return sm_error(ctx, SM_ERR_NOMEM, "%s: out of memory writing the model", path);
    }
    uint8_t head[HEADER_BYTES];
    memcpy(head, MAGIC, 8);
    wbuf h = {0};
    put_u32(&h, SM_MODEL_FORMAT_VERSION);
    put_u64(&h, (uint64_t)w.n);
    if (h.failed) {
        free(w.b);
        free(h.b);
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    }
    memcpy(head + 8, h.b, 12);
    free(h.b);
    sm_sha256(w.b, w.n, head + 20);
    sm_status st = SM_OK;
    char *tmp = sm__asprintf(ctx, "%s.tmp-%ld", path, (long)getpid());
    if (!tmp) {
        free(w.b);
        return SM_ERR_NOMEM;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot create the model file", path);
        goto end;
    }
    int ok = fwrite(head, 1, sizeof head, f) == sizeof head && fwrite(w.b, 1, w.n, f) == w.n;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        remove(tmp);
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot write the model file", path);
        goto end;
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot move the model file into place", path);
    }
end:
    free(tmp);
    free(w.b);
    return st;
}

static sm_status read_payload(sm_model **out, sm_context *ctx, const char *path, rbuf *r)
{
    sm_status st = SM_OK;
    sm_model *m = NULL;
    double *mean = NULL, *cov = NULL, *prior = NULL;
    sm_rf_node **trees = NULL;
    size_t *nnodes = NULL;
    uint32_t ntrees = 0;
    uint32_t method = get_u32(r), k = get_u32(r);
    if (r->failed || (method != SM_METHOD_MAXLIK && method != SM_METHOD_RF) || k < 1 ||
        k > SM_MAX_CLASSES)
        return sm_error(ctx, SM_ERR_INPUT, "%s: the model's method or class count is invalid", path);
    char *cnames[SM_MAX_CLASSES] = {NULL}, *fnames[SM_MAX_FEATURES] = {NULL};
    uint32_t p = 0;
    for (uint32_t c = 0; c < k; c++)
        cnames[c] = get_str(r);
    p = get_u32(r);
    if (r->failed || p < 1 || p > SM_MAX_FEATURES) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: the model's feature list is invalid", path);
        goto end;
    }
    for (uint32_t j = 0; j < p; j++)
        fnames[j] = get_str(r);
    m = model_alloc((int)p, (const char *const *)fnames, (int)k, (const char *const *)cnames);
    if (!m) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    m->method = (sm_method)method;
    for (uint32_t c = 0; c < k; c++)
        m->counts[c] = get_f64(r);
    if (method == SM_METHOD_MAXLIK) {
        size_t kk = k, pp = (size_t)p * p;
        mean = malloc(kk * p * sizeof *mean);
        cov = malloc(kk * pp * sizeof *cov);
        prior = malloc(kk * sizeof *prior);
        if (!mean || !cov || !prior) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            goto end;
        }
        double level = get_f64(r);
        for (size_t c = 0; c < kk; c++) {
            prior[c] = get_f64(r);
            for (size_t j = 0; j < p; j++)
                mean[c * p + j] = get_f64(r);
            for (size_t j = 0; j < pp; j++)
                cov[c * pp + j] = get_f64(r);
        }
        if (r->failed) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s: the model's data end early", path);
            goto end;
        }
        if ((st = sm_maxlik_create(&m->maxlik, ctx, (int)p, (int)k, mean, cov, prior, m->counts,
                                   level, (const char *const *)m->class_names,
                                   (const char *const *)m->feature_names)) != SM_OK) {
            st = sm_error(ctx, st, "%s: %s", path, sm_context_message(ctx));
            goto end;
        }
    } else {
        sm_rf_options o = SM_RF_OPTIONS_INIT;
        ntrees = get_u32(r);
        o.mtry = (int)get_u32(r);
        o.min_leaf = (int)get_u32(r);
        o.max_depth = (int)get_u32(r);
        o.seed = get_u64(r);
        double oob = get_f64(r);
        if (r->failed || ntrees < 1 || ntrees > 100000) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s: the model's tree count is invalid", path);
            goto end;
        }
        o.ntrees = (int)ntrees;
        trees = calloc(ntrees, sizeof *trees);
        nnodes = calloc(ntrees, sizeof *nnodes);
        if (!trees || !nnodes) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            goto end;
        }
        for (uint32_t t = 0; t < ntrees; t++) {
            uint32_t nn = get_u32(r);
            /* each node takes 12 bytes: a count beyond the data left is corrupt */
            if (r->failed || nn < 1 || (size_t)nn > (r->n - r->pos) / 12) {
                st = sm_error(ctx, SM_ERR_INPUT, "%s: tree %u of the model is truncated", path,
                              t + 1);
                goto end;
            }
            trees[t] = malloc((size_t)nn * sizeof *trees[t]);
            if (!trees[t]) {
                st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
                goto end;
            }
            nnodes[t] = nn;
            for (uint32_t i = 0; i < nn; i++) {
                trees[t][i].feature = (int32_t)get_u32(r);
                trees[t][i].threshold = get_f32(r);
                trees[t][i].child = (int32_t)get_u32(r);
            }
        }
        if ((st = sm_rf_from_trees(&m->rf, ctx, (int)p, (int)k, (int)ntrees,
                                   (const sm_rf_node *const *)trees, nnodes, &o, oob)) != SM_OK) {
            st = sm_error(ctx, st, "%s: %s", path, sm_context_message(ctx));
            goto end;
        }
    }
    if (r->pos != r->n) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: %zu unexpected bytes after the model", path,
                      r->n - r->pos);
        goto end;
    }
end:
    for (uint32_t c = 0; c < k; c++)
        free(cnames[c]);
    for (uint32_t j = 0; j < p && j < SM_MAX_FEATURES; j++)
        free(fnames[j]);
    free(mean);
    free(cov);
    free(prior);
    if (trees)
        for (uint32_t t = 0; t < ntrees; t++)
            free(trees[t]);
    free(trees);
    free(nnodes);
    if (st != SM_OK) {
        sm_model_destroy(m);
        return st;
    }
    *out = m;
    return SM_OK;
}

sm_status sm_model_load(sm_model **out, sm_context *ctx, const char *path,
                        const sm_model_expect *expect)
{
    *out = NULL;
    sm_status st = SM_OK;
    uint8_t *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sm_error(ctx, SM_ERR_INPUT, "%s: cannot open the model file", path);
    uint8_t head[HEADER_BYTES];
    size_t got = fread(head, 1, sizeof head, f);
    if (got < 8 || memcmp(head, MAGIC, 8) != 0) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: not a sinkmap model (the file does not start with "
                                         "the model magic \"SINKMDL\")",
                      path);
        goto end;
    }
    if (got < sizeof head) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: the model's header is truncated", path);
        goto end;
    }
    rbuf hr = {head + 8, 12, 0, 0};
    uint32_t version = get_u32(&hr);
    uint64_t len = get_u64(&hr);
    if (version != SM_MODEL_FORMAT_VERSION) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: model format version %u; this sinkmap reads version %d (the file was "
                      "written by %s sinkmap)",
                      path, version, SM_MODEL_FORMAT_VERSION,
                      version > SM_MODEL_FORMAT_VERSION ? "a newer" : "another");
        goto end;
    }
    long long fsize = sm__file_size(path);
    if (fsize < 0 || (uint64_t)fsize != HEADER_BYTES + len) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: the model file has %lld bytes, its header announces %llu: truncated "
                      "or altered",
                      path, fsize, (unsigned long long)(HEADER_BYTES + len));
        goto end;
    }
    data = malloc(len ? (size_t)len : 1);
    if (!data) {
        st = sm_error(ctx, SM_ERR_NOMEM, "%s: out of memory for the model", path);
        goto end;
    }
    if (fread(data, 1, (size_t)len, f) != (size_t)len) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: cannot read the model's data", path);
        goto end;
    }
    uint8_t sum[32];
    sm_sha256(data, (size_t)len, sum);
    if (memcmp(sum, head + 20, 32) != 0) {
        char want[65], have[65];
        sm_hex(head + 20, 32, want);
        sm_hex(sum, 32, have);
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: checksum mismatch: the model's data hash to %.16s..., the header "
                      "records %.16s...; the file was altered or damaged",
                      path, have, want);
        goto end;
    }
    rbuf r = {data, (size_t)len, 0, 0};
    if ((st = read_payload(out, ctx, path, &r)) != SM_OK)
        goto end;
    if ((st = sm_model_check(*out, ctx, path, expect)) != SM_OK) {
        sm_model_destroy(*out);
        *out = NULL;
    }
end:
    fclose(f);
    free(data);
    return st;
}

/* ---- splitting and checking samples -------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The distinct groups of class c, sorted, into a new array (*n of them); NULL if none or out
 * of memory (*n = 0 and *oom set). */
static int64_t *class_groups(const sm_samples *s, int c, size_t *n, int *oom)
{
    *n = 0;
    *oom = 0;
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++)
        m += s->y[i] == c;
    if (m == 0)
        return NULL;
    int64_t *g = malloc(m * sizeof *g);
    if (!g) {
        *oom = 1;
        return NULL;
    }
    m = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->y[i] == c)
            g[m++] = s->group[i];
    qsort(g, m, sizeof *g, cmp_i64);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (u == 0 || g[i] != g[u - 1])
            g[u++] = g[i];
    *n = u;
    return g;
}

size_t sm_samples_class_groups(const sm_samples *s, int c)
{
    size_t n;
    int oom;
    free(class_groups(s, c, &n, &oom));
    return n;
}

sm_status sm_samples_split_groups(sm_samples *s, sm_context *ctx, double holdout, uint64_t seed,
                                  sm_samples **test)
{
    *test = NULL;
    if (!(holdout >= 0 && holdout < 1))
        return sm_error(ctx, SM_ERR_INPUT, "--holdout %g: expected a share in [0, 1)", holdout);
    sm_status st = sm_samples_create(test, ctx, s->p, (const char *const *)s->feature_names, s->k,
                                     (const char *const *)s->class_names);
    if (st != SM_OK || holdout == 0)
        return st;
    int64_t *held = NULL;
    size_t nheld = 0, capheld = 0;
    for (int c = 0; c < s->k; c++) {
        size_t ng;
        int oom;
        int64_t *g = class_groups(s, c, &ng, &oom);
        if (oom) {
            free(held);
            sm_samples_destroy(*test);
            *test = NULL;
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        }
        size_t take = (size_t)floor(holdout * (double)ng + 0.5);
        if (ng > 0 && take > ng - 1)
            take = ng - 1;
        uint64_t stt = seed ^ (0x9FB21C651E98DF25ull * (uint64_t)(c + 1));
        for (size_t i = 0; i < take; i++) {
            size_t j = i + (size_t)(mix64(&stt) % (uint64_t)(ng - i));
            int64_t t = g[i];
            g[i] = g[j];
            g[j] = t;
            if (nheld == capheld) {
                size_t cap = capheld ? capheld * 2 : 64;
                int64_t *nh = realloc(held, cap * sizeof *nh);
                if (!nh) {
                    free(g);
                    free(held);
                    sm_samples_destroy(*test);
                    *test = NULL;
                    return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
                }
                held = nh;
                capheld = cap;
            }
            held[nheld++] = g[i];
        }
        free(g);
    }
    if (nheld > 0)
        qsort(held, nheld, sizeof *held, cmp_i64);
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (nheld > 0 && bsearch(&s->group[i], held, nheld, sizeof *held, cmp_i64)) {
            if ((st = sm_samples_add(*test, ctx, s->x + i * (size_t)s->p, s->y[i], s->group[i])) !=
                SM_OK) {
                free(held);
                sm_samples_destroy(*test);
                *test = NULL;
                return st;
            }
            continue;
        }
        if (o != i) {
            memmove(s->x + o * (size_t)s->p, s->x + i * (size_t)s->p, (size_t)s->p * sizeof *s->x);
            s->y[o] = s->y[i];
            s->group[o] = s->group[i];
        }
        o++;
    }
    s->n = o;
    free(held);
    return SM_OK;
}

sm_status sm_samples_require(const sm_samples *s, sm_context *ctx, size_t min, const char *source,
                             const char *why)
{
    size_t counts[SM_MAX_CLASSES];
    sm_samples_class_counts(s, counts);
    int worst = -1;
    for (int c = 0; c < s->k; c++)
        if (counts[c] < min && (worst < 0 || counts[c] < counts[worst]))
            worst = c;
    if (worst < 0)
        return SM_OK;
    char list[1024];
    size_t len = 0;
    list[0] = '\0';
    for (int c = 0; c < s->k && len < sizeof list; c++) {
        int w = snprintf(list + len, sizeof list - len, "%s%s %zu", c ? ", " : "",
                         s->class_names[c], counts[c]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    size_t ng = sm_samples_class_groups(s, worst);
    return sm_error(ctx, SM_ERR_INPUT,
                    "%s: class '%s' has %zu training sample%s (from %zu feature%s); at least %zu "
                    "are needed%s%s (samples per class: %s)",
                    source ? source : "training samples", s->class_names[worst], counts[worst],
                    counts[worst] == 1 ? "" : "s", ng, ng == 1 ? "" : "s", min, why ? " " : "",
                    why ? why : "", list);
}
