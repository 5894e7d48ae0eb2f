/* rf.c: random forest training and prediction (Breiman 2001), CART with the Gini criterion.
 * Tuned for tens to hundreds of thousands of samples and a few dozen features: the split
 * search sorts a node's values with a radix sort on order-preserving float keys, and a tree
 * is a flat array of 12-byte nodes walked without recursion. Trees are grown in parallel but
 * each depends only on (seed, tree index), so the forest is the same for any thread count. */
#include "sinkmap/rf.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sm_rf {
    int p, k, ntrees;
    sm_rf_options params;
    double oob_error;
    sm_rf_node **trees;
    size_t *nnodes;
    /* For prediction in lockstep: each tree's nodes in 8 bytes (threshold; child << 8 |
     * feature) with every leaf turned into a node that sends any finite x back to itself
     * (feature 0, threshold +inf, child = itself), and the tree's depth, so that at most that
     * many steps reach the leaf without a branch on the data. NULL when a tree has 2^24 nodes
     * or more (prediction then goes pixel by pixel). */
    struct walk_node **walk;
    int *depth;
};

typedef struct walk_node {
    float threshold;
    uint32_t fc; /* child << 8 | feature */
} walk_node;

/* ---- random numbers: splitmix64 to seed, xoshiro256** to draw ------------------------------- */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* The stream of tree t: two rounds of splitmix64 mixing so that nearby (seed, t) pairs give
 * unrelated states. */
static void rng_seed(rng *r, uint64_t seed, uint64_t t)
{
    uint64_t a = seed, b = t ^ 0x632BE59BD9B4E019ull;
    uint64_t x = splitmix64(&a) ^ splitmix64(&b);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

/* Uniform in [0, n), n >= 1 (the modulo bias is below n / 2^64). */
static uint64_t rng_below(rng *r, uint64_t n) { return rng_next(r) % n; }

/* ---- sorting ---------------------------------------------------------------------------- */

/* An order-preserving unsigned key of a finite float (−0 and +0 share the key of +0). */
static uint32_t float_key(float v)
{
    if (v == 0.0f)
        v = 0.0f;
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static float key_float(uint32_t u)
{
    u = (u & 0x80000000u) ? (u & 0x7FFFFFFFu) : ~u;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Sorts a[0..n-1] (key in the upper 32 bits, position in the lower 32 bits, all positions
 * distinct) ascending: insertion sort for small n, else an LSD radix sort on the key in three
 * passes of 11 bits (stable, so equal keys stay in position order either way). */
static void sort_keys(uint64_t *a, uint64_t *tmp, size_t n)
{
    if (n < 64) {
        for (size_t i = 1; i < n; i++) {
            uint64_t v = a[i];
            size_t j = i;
            for (; j > 0 && a[j - 1] > v; j--)
                a[j] = a[j - 1];
            a[j] = v;
        }
        return;
    }
    static const int shifts[3] = {32, 43, 54};
    size_t hist[2048];
    uint64_t *src = a, *dst = tmp;
    for (int pass = 0; pass < 3; pass++) {
        int sh = shifts[pass];
        memset(hist, 0, sizeof hist);
        for (size_t i = 0; i < n; i++)
            hist[(src[i] >> sh) & 2047]++;
        if (hist[(src[0] >> sh) & 2047] == n)
            continue; /* every key has this digit: the pass would not move anything */
        size_t sum = 0;
        for (int d = 0; d < 2048; d++) {
            size_t c = hist[d];
            hist[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[hist[(src[i] >> sh) & 2047]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

/* ---- growing one tree --------------------------------------------------------------------- */

typedef struct train_data {
    size_t n;
    int p, k;
    const uint32_t *keys; /* p*n, feature-major */
    const int *y;
    sm_rf_options opt;
} train_data;

typedef struct frame {
    int32_t node;
    int depth;
    size_t lo, hi;
} frame;

/* Per-thread scratch space, reused from tree to tree. */
typedef struct workspace {
    uint32_t *w;      /* n: bootstrap draws of each sample */
    uint32_t *idx;    /* n: in-bag samples, partitioned node by node */
    uint32_t *part;   /* n: partition buffer */
    uint64_t *a, *tmp; /* n: sort buffers */
    int64_t *tot, *left; /* k */
    int *perm;        /* p */
    frame *stack;
    size_t cap_stack;
    uint32_t *oob_votes; /* n*k, summed over this thread's trees */
    sm_status status;
} workspace;

typedef struct tree_out {
    sm_rf_node *nodes;
    size_t n, cap;
} tree_out;

static int32_t push_node(tree_out *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        sm_rf_node *nn = realloc(t->nodes, cap * sizeof *nn);
        if (!nn)
            return -1;
        t->nodes = nn;
        t->cap = cap;
    }
    t->nodes[t->n].feature = -1;
    t->nodes[t->n].threshold = 0;
    t->nodes[t->n].child = 0;
    return (int32_t)t->n++;
}

static int majority(const int64_t *cnt, int k)
{
    int best = 0;
    for (int c = 1; c < k; c++)
        if (cnt[c] > cnt[best])
            best = c;
    return best;
}

/* Grows tree `t` into out; returns 0, or -1 when out of memory. */
static int grow_tree(const train_data *d, workspace *ws, uint64_t t, tree_out *out)
{
    size_t n = d->n;
    int p = d->p, k = d->k;
    const sm_rf_options *o = &d->opt;
    rng r;
    rng_seed(&r, o->seed, t);
    memset(ws->w, 0, n * sizeof *ws->w);
    for (size_t i = 0; i < n; i++)
        ws->w[rng_below(&r, n)]++;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ws->w[i])
            ws->idx[m++] = (uint32_t)i;
    out->n = 0;
    if (push_node(out) < 0)
        return -1;
    size_t sp = 0;
    ws->stack[sp++] = (frame){0, 0, 0, m};
    while (sp > 0) {
        frame f = ws->stack[--sp];
        size_t cnt = f.hi - f.lo;
        int64_t total = 0;
        memset(ws->tot, 0, (size_t)k * sizeof *ws->tot);
        for (size_t i = f.lo; i < f.hi; i++) {
            uint32_t s = ws->idx[i];
            ws->tot[d->y[s]] += ws->w[s];
            total += ws->w[s];
        }
        int cls = majority(ws->tot, k);
        int leaf = ws->tot[cls] == total || total < 2 * (int64_t)o->min_leaf ||
                   (o->max_depth > 0 && f.depth >= o->max_depth);
        int best_f = -1;
        float best_thr = 0;
        double best_score = -1;
        if (!leaf) {
            for (int j = 0; j < p; j++)
                ws->perm[j] = j;
            int varied = 0;
            for (int j = 0; j < p && varied < o->mtry; j++) {
                int pick = j + (int)rng_below(&r, (uint64_t)(p - j));
                int feat = ws->perm[pick];
                ws->perm[pick] = ws->perm[j];
                ws->perm[j] = feat;
                const uint32_t *key = d->keys + (size_t)feat * n;
                for (size_t i = 0; i < cnt; i++)
                    ws->a[i] = ((uint64_t)key[ws->idx[f.lo + i]] << 32) | (uint64_t)i;
                sort_keys(ws->a, ws->tmp, cnt);
                if ((ws->a[0] >> 32) == (ws->a[cnt - 1] >> 32))
                    continue; /* constant within the node: does not count towards mtry */
                varied++;
                /* Sweep left to right: maximize Σ L_c²/n_L + Σ R_c²/n_R, which is the same as
                 * minimizing the weighted Gini impurity of the children. Integer sums of
                 * squares keep the scores exact up to the final divisions. */
                memset(ws->left, 0, (size_t)k * sizeof *ws->left);
                int64_t nl = 0, sql = 0, sqr = 0;
                for (int c = 0; c < k; c++)
                    sqr += ws->tot[c] * ws->tot[c];
                for (size_t i = 0; i + 1 < cnt; i++) {
                    uint32_t s = ws->idx[f.lo + (uint32_t)(ws->a[i] & 0xFFFFFFFFu)];
                    int c = d->y[s];
                    int64_t w = ws->w[s], lc = ws->left[c], rc = ws->tot[c] - lc;
                    sql += 2 * lc * w + w * w;
                    sqr -= 2 * rc * w - w * w;
                    ws->left[c] = lc + w;
                    nl += w;
                    uint32_t ka = (uint32_t)(ws->a[i] >> 32), kb = (uint32_t)(ws->a[i + 1] >> 32);
                    if (ka == kb)
                        continue;
                    if (nl < o->min_leaf || total - nl < o->min_leaf)
                        continue;
                    double score = (double)sql / (double)nl + (double)sqr / (double)(total - nl);
                    if (score > best_score) {
                        float va = key_float(ka), vb = key_float(kb);
                        float mid = (float)(0.5 * ((double)va + (double)vb));
                        if (!(mid >= va && mid < vb))
                            mid = va;
                        best_score = score;
                        best_f = feat;
                        best_thr = mid;
                    }
                }
            }
        }
        if (best_f < 0) {
            out->nodes[f.node].feature = -1;
            out->nodes[f.node].child = cls;
            continue;
        }
        /* Stable partition of the node's samples by the chosen split. */
        const uint32_t *key = d->keys + (size_t)best_f * n;
        uint32_t kt = float_key(best_thr);
        size_t nleft = 0, nright = 0;
        for (size_t i = f.lo; i < f.hi; i++) {
            uint32_t s = ws->idx[i];
            if (key[s] <= kt)
                ws->idx[f.lo + nleft++] = s;
            else
                ws->part[nright++] = s;
        }
        memcpy(ws->idx + f.lo + nleft, ws->part, nright * sizeof *ws->part);
        int32_t lchild = push_node(out);
        if (lchild < 0 || push_node(out) < 0)
            return -1;
        out->nodes[f.node].feature = best_f;
        out->nodes[f.node].threshold = best_thr;
        out->nodes[f.node].child = lchild;
        if (sp + 2 > ws->cap_stack) {
            size_t cap = ws->cap_stack * 2;
            frame *ns = realloc(ws->stack, cap * sizeof *ns);
            if (!ns)
                return -1;
            ws->stack = ns;
            ws->cap_stack = cap;
        }
        /* right pushed first so that the left subtree is grown first */
        ws->stack[sp++] = (frame){lchild + 1, f.depth + 1, f.lo + nleft, f.hi};
        ws->stack[sp++] = (frame){lchild, f.depth + 1, f.lo, f.lo + nleft};
    }
    /* Out-of-bag votes of this tree. */
    for (size_t i = 0; i < n; i++) {
        if (ws->w[i])
            continue;
        const sm_rf_node *nd = out->nodes;
        int32_t j = 0;
        while (nd[j].feature >= 0)
            j = nd[j].child + (d->keys[(size_t)nd[j].feature * n + i] > float_key(nd[j].threshold));
        ws->oob_votes[i * (size_t)k + (size_t)nd[j].child]++;
    }
    return 0;
}

/* ---- the forest --------------------------------------------------------------------------- */

typedef struct shared {
    const train_data *d;
    tree_out *trees;
    pthread_mutex_t lock;
    int next; /* the next tree to grow */
    int failed;
} shared;

typedef struct worker {
    shared *sh;
    workspace ws;
} worker;

static void workspace_free(workspace *ws)
{
    free(ws->w);
    free(ws->idx);
    free(ws->part);
    free(ws->a);
    free(ws->tmp);
    free(ws->tot);
    free(ws->left);
    free(ws->perm);
    free(ws->stack);
    free(ws->oob_votes);
}

static int workspace_init(workspace *ws, const train_data *d)
{
    size_t n = d->n ? d->n : 1;
    memset(ws, 0, sizeof *ws);
    ws->w = malloc(n * sizeof *ws->w);
    ws->idx = malloc(n * sizeof *ws->idx);
    ws->part = malloc(n * sizeof *ws->part);
    ws->a = malloc(n * sizeof *ws->a);
    ws->tmp = malloc(n * sizeof *ws->tmp);
    ws->tot = malloc((size_t)d->k * sizeof *ws->tot);
    ws->left = malloc((size_t)d->k * sizeof *ws->left);
    ws->perm = malloc((size_t)d->p * sizeof *ws->perm);
    ws->cap_stack = 64;
    ws->stack = malloc(ws->cap_stack * sizeof *ws->stack);
    ws->oob_votes = calloc(n * (size_t)d->k, sizeof *ws->oob_votes);
    return (ws->w && ws->idx && ws->part && ws->a && ws->tmp && ws->tot && ws->left && ws->perm &&
            ws->stack && ws->oob_votes)
               ? 0
               : -1;
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    shared *sh = wk->sh;
    for (;;) {
        pthread_mutex_lock(&sh->lock);
        int t = sh->failed ? sh->d->opt.ntrees : sh->next++;
        pthread_mutex_unlock(&sh->lock);
        if (t >= sh->d->opt.ntrees)
            break;
        if (grow_tree(sh->d, &wk->ws, (uint64_t)t, &sh->trees[t]) != 0) {
            pthread_mutex_lock(&sh->lock);
            sh->failed = 1;
            pthread_mutex_unlock(&sh->lock);
            wk->ws.status = SM_ERR_NOMEM;
            break;
        }
    }
    return NULL;
}

void sm_rf_destroy(sm_rf *rf)
{
    if (!rf)
        return;
    if (rf->trees)
        for (int t = 0; t < rf->ntrees; t++)
            free(rf->trees[t]);
    if (rf->walk)
        for (int t = 0; t < rf->ntrees; t++)
            free(rf->walk[t]);
    free(rf->trees);
    free(rf->nnodes);
    free(rf->walk);
    free(rf->depth);
    free(rf);
}

static sm_rf *rf_alloc(int p, int k, int ntrees)
{
    sm_rf *rf = calloc(1, sizeof *rf);
    if (!rf)
        return NULL;
    rf->p = p;
    rf->k = k;
    rf->ntrees = ntrees;
    rf->trees = calloc((size_t)ntrees, sizeof *rf->trees);
    rf->nnodes = calloc((size_t)ntrees, sizeof *rf->nnodes);
    rf->walk = calloc((size_t)ntrees, sizeof *rf->walk);
    rf->depth = calloc((size_t)ntrees, sizeof *rf->depth);
    if (!rf->trees || !rf->nnodes || !rf->walk || !rf->depth) {
        sm_rf_destroy(rf);
        return NULL;
    }
    return rf;
}

/* Builds the lockstep copies of the trees (see struct sm_rf); returns -1 when out of memory. */
static int build_walk(sm_rf *rf)
{
    for (int t = 0; t < rf->ntrees; t++)
        if (rf->nnodes[t] >= (1u << 24) || rf->p > 256)
            return 0; /* no walk: pixel by pixel */
    for (int t = 0; t < rf->ntrees; t++) {
        size_t nn = rf->nnodes[t];
        const sm_rf_node *nd = rf->trees[t];
        walk_node *w = malloc(nn * sizeof *w);
        int *d = malloc(nn * sizeof *d);
        if (!w || !d) {
            free(w);
            free(d);
            return -1;
        }
        int maxd = 0;
        d[0] = 0;
        for (size_t i = 0; i < nn; i++) {
            if (nd[i].feature >= 0) {
                w[i].threshold = nd[i].threshold;
                w[i].fc = (uint32_t)nd[i].child << 8 | (uint32_t)nd[i].feature;
                d[nd[i].child] = d[nd[i].child + 1] = d[i] + 1;
            } else {
                w[i].threshold = INFINITY;
                w[i].fc = (uint32_t)i << 8;
                if (d[i] > maxd)
                    maxd = d[i];
            }
        }
        free(d);
        rf->walk[t] = w;
        rf->depth[t] = maxd;
    }
    return 0;
}

sm_status sm_rf_train(sm_rf **out, sm_context *ctx, const float *x, const int *y, size_t n,
                      int p, int k, const sm_rf_options *opt)
{
    sm_rf_options o = SM_RF_OPTIONS_INIT;
    if (opt)
        o = *opt;
    *out = NULL;
    if (o.version != SM_RF_OPTIONS_VERSION)
        return sm_error(ctx, SM_ERR_INPUT, "random forest: options version %d (expected %d)",
                        o.version, SM_RF_OPTIONS_VERSION);
    if (p < 1 || p > SM_MAX_FEATURES)
        return sm_error(ctx, SM_ERR_INPUT, "random forest: %d features (1 to %d allowed)", p,
                        SM_MAX_FEATURES);
    if (k < 1 || k > SM_MAX_CLASSES)
        return sm_error(ctx, SM_ERR_INPUT, "random forest: %d classes (1 to %d allowed)", k,
                        SM_MAX_CLASSES);
    if (n < 1 || n > 0xFFFFFFFFu)
        return sm_error(ctx, SM_ERR_INPUT, "random forest: %zu training samples (1 to 2^32-1)", n);
    if (o.ntrees < 1 || o.ntrees > 100000)
        return sm_error(ctx, SM_ERR_INPUT, "random forest: --trees %d (1 to 100000)", o.ntrees);
    if (o.mtry < 0 || o.mtry > p)
        return sm_error(ctx, SM_ERR_INPUT,
                        "random forest: --mtry %d is out of range (0 = floor(sqrt(p)), at most "
                        "the %d features)",
                        o.mtry, p);
    if (o.min_leaf < 1)
        return sm_error(ctx, SM_ERR_INPUT, "random forest: --min-leaf %d (at least 1)", o.min_leaf);
    if (o.max_depth < 0)
        return sm_error(ctx, SM_ERR_INPUT, "random forest: --max-depth %d (0 = unlimited)",
                        o.max_depth);
    if (o.threads < 0)
        return sm_error(ctx, SM_ERR_INPUT, "random forest: --threads %d", o.threads);
    if (o.mtry == 0) {
        o.mtry = (int)floor(sqrt((double)p));
        if (o.mtry < 1)
            o.mtry = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= k)
            return sm_error(ctx, SM_ERR_INPUT, "random forest: sample %zu has class %d (of %d)", i,
                            y[i], k);
        for (int j = 0; j < p; j++)
            if (!isfinite(x[i * (size_t)p + (size_t)j]))
                return sm_error(ctx, SM_ERR_INPUT,
                                "random forest: sample %zu has a non-finite feature %d", i, j + 1);
    }
    sm_status st = SM_OK;
    sm_rf *rf = NULL;
    uint32_t *keys = NULL;
    tree_out *trees = NULL;
    worker *workers = NULL;
    pthread_t *tids = NULL;
    int nthreads = o.threads;
    if (nthreads == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = c > 0 ? (int)(c > 64 ? 64 : c) : 1;
    }
    if (nthreads > o.ntrees)
        nthreads = o.ntrees;
    size_t nk;
    if (sm_mul_size(n, (size_t)p, &nk) || !(keys = malloc(nk * sizeof *keys))) {
        st = sm_error(ctx, SM_ERR_NOMEM, "random forest: out of memory for %zu samples", n);
        goto end;
    }
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < p; j++)
            keys[(size_t)j * n + i] = float_key(x[i * (size_t)p + (size_t)j]);
    train_data d = {n, p, k, keys, y, o};
    trees = calloc((size_t)o.ntrees, sizeof *trees);
    workers = calloc((size_t)nthreads, sizeof *workers);
    tids = calloc((size_t)nthreads, sizeof *tids);
    rf = rf_alloc(p, k, o.ntrees);
    if (!trees || !workers || !tids || !rf) {
        st = sm_error(ctx, SM_ERR_NOMEM, "random forest: out of memory");
        goto end;
    }
    shared sh = {&d, trees, PTHREAD_MUTEX_INITIALIZER, 0, 0};
    for (int i = 0; i < nthreads; i++) {
        workers[i].sh = &sh;
        if (workspace_init(&workers[i].ws, &d) != 0) {
            st = sm_error(ctx, SM_ERR_NOMEM, "random forest: out of memory for %zu samples", n);
            for (int j = 0; j <= i; j++)
                workspace_free(&workers[j].ws);
            nthreads = 0;
            goto end;
        }
    }
    if (nthreads == 1) {
        worker_main(&workers[0]);
    } else {
        int started = 0;
        for (; started < nthreads; started++)
            if (pthread_create(&tids[started], NULL, worker_main, &workers[started]) != 0)
                break;
        if (started == 0)
            worker_main(&workers[0]); /* no thread could start: grow every tree here */
        for (int i = 0; i < started; i++)
            pthread_join(tids[i], NULL);
    }
    pthread_mutex_destroy(&sh.lock);
    for (int i = 0; i < nthreads; i++)
        if (workers[i].ws.status != SM_OK)
            st = sm_error(ctx, SM_ERR_NOMEM, "random forest: out of memory growing the trees");
    if (st == SM_OK && sh.next < o.ntrees)
        st = sm_error(ctx, SM_ERR_INTERNAL, "random forest: only %d of %d trees were grown",
                      sh.next, o.ntrees);
    if (st != SM_OK)
        goto end;
    /* Out-of-bag error: integer votes summed over the threads (order does not matter). */
    size_t counted = 0, wrong = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t votes[SM_MAX_CLASSES] = {0}, sum = 0;
        for (int t = 0; t < nthreads; t++)
            for (int c = 0; c < k; c++)
                votes[c] += workers[t].ws.oob_votes[i * (size_t)k + (size_t)c];
        int best = 0;
        for (int c = 0; c < k; c++) {
            sum += votes[c];
            if (votes[c] > votes[best])
                best = c;
        }
        if (sum == 0)
            continue;
        counted++;
        wrong += best != y[i];
    }
    rf->oob_error = counted ? (double)wrong / (double)counted : NAN;
    rf->params = o;
    rf->params.threads = 0;
    for (int t = 0; t < o.ntrees; t++) {
        sm_rf_node *nn = realloc(trees[t].nodes, trees[t].n * sizeof *nn);
        rf->trees[t] = nn ? nn : trees[t].nodes;
        rf->nnodes[t] = trees[t].n;
        trees[t].nodes = NULL;
    }
    if (build_walk(rf) != 0)
        st = sm_error(ctx, SM_ERR_NOMEM, "random forest: out of memory");
end:
    if (workers)
        for (int i = 0; i < nthreads; i++)
            workspace_free(&workers[i].ws);
    if (trees)
        for (int t = 0; t < o.ntrees; t++)
            free(trees[t].nodes);
    free(trees);
    free(workers);
    free(tids);
    free(keys);
    if (st != SM_OK) {
        sm_rf_destroy(rf);
        return st;
    }
    *out = rf;
    return SM_OK;
}

sm_status sm_rf_from_trees(sm_rf **out, sm_context *ctx, int p, int k, int ntrees,
                           const sm_rf_node *const *trees, const size_t *nnodes,
                           const sm_rf_options *params, double oob_error)
{
    *out = NULL;
    if (p < 1 || p > SM_MAX_FEATURES || k < 1 || k > SM_MAX_CLASSES || ntrees < 1)
        return sm_error(ctx, SM_ERR_INPUT,
                        "random forest: %d features, %d classes, %d trees: out of range", p, k,
                        ntrees);
    sm_rf *rf = rf_alloc(p, k, ntrees);
    if (!rf)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    for (int t = 0; t < ntrees; t++) {
        size_t nn = nnodes[t];
        if (nn < 1 || nn > 0x7FFFFFFF) {
            sm_rf_destroy(rf);
            return sm_error(ctx, SM_ERR_INPUT, "random forest: tree %d has %zu nodes", t + 1, nn);
        }
        for (size_t i = 0; i < nn; i++) {
            const sm_rf_node *nd = &trees[t][i];
            int ok = nd->feature == -1
                         ? (nd->child >= 0 && nd->child < k)
                         : (nd->feature >= 0 && nd->feature < p && isfinite(nd->threshold) &&
                            nd->child > (int32_t)i && (size_t)nd->child + 1 < nn);
            if (!ok) {
                sm_rf_destroy(rf);
                return sm_error(ctx, SM_ERR_INPUT,
                                "random forest: tree %d, node %zu is malformed (feature %d, "
                                "child %d)",
                                t + 1, i, (int)nd->feature, (int)nd->child);
            }
        }
        rf->trees[t] = malloc(nn * sizeof *rf->trees[t]);
        if (!rf->trees[t]) {
            sm_rf_destroy(rf);
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        }
        memcpy(rf->trees[t], trees[t], nn * sizeof *rf->trees[t]);
        rf->nnodes[t] = nn;
    }
    if (build_walk(rf) != 0) {
        sm_rf_destroy(rf);
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    }
    if (params)
        rf->params = *params;
    rf->params.ntrees = ntrees;
    rf->oob_error = oob_error;
    *out = rf;
    return SM_OK;
}

int sm_rf_ntrees(const sm_rf *rf) { return rf->ntrees; }
int sm_rf_nfeatures(const sm_rf *rf) { return rf->p; }
int sm_rf_nclasses(const sm_rf *rf) { return rf->k; }
sm_rf_options sm_rf_params(const sm_rf *rf) { return rf->params; }
double sm_rf_oob_error(const sm_rf *rf) { return rf->oob_error; }

const sm_rf_node *sm_rf_tree(const sm_rf *rf, int t, size_t *nnodes)
{
    if (t < 0 || t >= rf->ntrees) {
        *nnodes = 0;
        return NULL;
    }
    *nnodes = rf->nnodes[t];
    return rf->trees[t];
}

int sm_rf_predict(const sm_rf *rf, const float *x, float *confidence)
{
    for (int j = 0; j < rf->p; j++)
        if (!isfinite(x[j])) {
            if (confidence)
                *confidence = 0;
            return -1;
        }
    unsigned votes[SM_MAX_CLASSES];
    memset(votes, 0, (size_t)rf->k * sizeof *votes);
    for (int t = 0; t < rf->ntrees; t++) {
        const sm_rf_node *nd = rf->trees[t];
        int32_t j = 0;
        while (nd[j].feature >= 0)
            j = nd[j].child + !(x[nd[j].feature] <= nd[j].threshold);
        votes[nd[j].child]++;
    }
    int best = 0;
    for (int c = 1; c < rf->k; c++)
        if (votes[c] > votes[best])
            best = c;
    if (confidence)
        *confidence = (float)votes[best] / (float)rf->ntrees;
    return best;
}

void sm_rf_predict_block(const sm_rf *rf, const float *x, size_t n, int *cls, float *conf)
{
    enum { BLOCK = 65536, MAXK = 32, LANES = 16 };
    int p = rf->p, k = rf->k;
    int fast = k <= MAXK && rf->ntrees <= 65535 && rf->walk[0];
    uint16_t *votes = fast ? malloc((size_t)BLOCK * (size_t)k * sizeof *votes) : NULL;
    uint8_t *ok = fast ? malloc(BLOCK) : NULL;
    const float **xs = fast ? malloc((BLOCK + LANES) * sizeof *xs) : NULL;
    if (!votes || !ok || !xs) {
        free(votes);
        votes = NULL;
    }
    static const float zeros[SM_MAX_FEATURES];
    for (size_t b0 = 0; b0 < n; b0 += BLOCK) {
        size_t m = n - b0 < BLOCK ? n - b0 : BLOCK;
        const float *xb = x + b0 * (size_t)p;
        if (!votes) {
            /* more than 32 classes, 65535 trees or 2^24 nodes in a tree (or no memory): pixel by
             * pixel */
            for (size_t i = 0; i < m; i++)
                cls[b0 + i] = sm_rf_predict(rf, xb + i * (size_t)p, conf ? &conf[b0 + i] : NULL);
            continue;
        }
        for (size_t i = 0; i < m; i++) {
            ok[i] = 1;
            for (int j = 0; j < p; j++)
                if (!isfinite(xb[i * (size_t)p + (size_t)j])) {
                    ok[i] = 0;
                    break;
                }
            /* pixels with no data walk a vector of zeros and are not counted */
            xs[i] = ok[i] ? xb + i * (size_t)p : zeros;
        }
        for (size_t i = m; i < m + LANES; i++)
            xs[i] = zeros;
        memset(votes, 0, m * (size_t)k * sizeof *votes);
        /* Tree by tree over the whole block, so that a tree's nodes are fetched once for BLOCK
         * pixels; within it LANES pixels walk in lockstep (no branch depends on the data and the
         * chains of loads overlap) until all of them stand on a leaf, which loops to itself.
         * Votes are counts, so the order of the trees does not change them. */
        for (int t = 0; t < rf->ntrees; t++) {
            const walk_node *w = rf->walk[t];
            const sm_rf_node *nd = rf->trees[t];
            int depth = rf->depth[t];
            for (size_t i0 = 0; i0 < m; i0 += LANES) {
                const float *const *xl = xs + i0;
                uint32_t j[LANES];
                for (size_t l = 0; l < LANES; l++)
                    j[l] = 0;
                for (int s = 0; s < depth; s += 4) {
                    for (int u = 0; u < 4; u++)
                        for (size_t l = 0; l < LANES; l++) {
                            walk_node q = w[j[l]];
                            j[l] = (q.fc >> 8) + !(xl[l][q.fc & 255u] <= q.threshold);
                        }
                    int leaves = 1;
                    for (size_t l = 0; l < LANES; l++)
                        leaves &= (w[j[l]].fc >> 8) == j[l];
                    if (leaves)
                        break;
                }
                size_t lanes = m - i0 < LANES ? m - i0 : LANES;
                for (size_t l = 0; l < lanes; l++)
                    votes[(i0 + l) * (size_t)k + (size_t)nd[j[l]].child]++;
            }
        }
        for (size_t i = 0; i < m; i++) {
            if (!ok[i]) {
                cls[b0 + i] = -1;
                if (conf)
                    conf[b0 + i] = 0;
                continue;
            }
            const uint16_t *v = votes + i * (size_t)k;
            int best = 0;
            for (int c = 1; c < k; c++)
                if (v[c] > v[best])
                    best = c;
            cls[b0 + i] = best;
            if (conf)
                conf[b0 + i] = (float)v[best] / (float)rf->ntrees;
        }
    }
    free(votes);
    free(ok);
    free(xs);
}
