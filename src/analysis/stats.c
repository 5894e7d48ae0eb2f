/* stats.c: streaming coverage-weighted statistics of one parcel over one raster band.
 * Each parcel gets one accumulator per block or thread; they merge into the parcel's result.
 * Tuned for millions of sm_stats_add calls: O(1) per cell, memory only for what was asked. */
#include "sinkmap/stats.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * Rules, stated once:
 * - Weights c <= 0 (and NaN weights) are ignored, as are cells with c == 0.
 * - A NaN value x is recorded as nodata with its weight c (a float raster's NaN means "no data").
 * - Mean and variance follow West (1979) on values shifted by the first value K that an
 *   accumulator sees (y = x - K, exact for nearby x), so that data far from zero (elevations,
 *   UTM coordinates, 1e9 + noise) keep their digits: W += c; d = y - mean; mean += d*c/W;
 *   M2 += c*d*(y - mean); variance = M2 / W (population). Partial accumulators merge as in
 *   Chan et al.: d = (K_b - K_a) + (mean_b - mean_a); mean_a += d*W_b/W;
 *   M2 = M2_a + M2_b + d²·W_a·W_b/W. The mean reported is Σcx / Σc.
 * - Weighted quantile q: sort the kept (x, c) pairs by x; the answer is the smallest x whose
 *   cumulative weight P reaches q times the total weight T (so q = 0.5 over weights {1, 1} gives
 *   the lower value, q = 0 the minimum, q = 1 the maximum). P and T are compensated
 *   (Neumaier) sums in sorted order, and P counts as reaching q·T when it falls short by no
 *   more than 8 units in the last place (q·T·8ε): q and the weights are decimals stored in
 *   binary, and q = 0.07 over a hundred unit weights must give the 7th value, not the 8th,
 *   although 0.07 * 100 is 7.000000000000001 in doubles.
 * - Classes: the class of x is x rounded to the nearest integer (halves away from zero);
 *   values beyond ±9.2e18 enter no class but still count in the total weight.
 *   Majority (minority) is the class of largest (smallest) total weight; ties go to the smaller
 *   class value.
 * - Weighted mean: Σ c·w·x / Σ c·w over cells added with sm_stats_add_weighted whose w is
 *   finite; a cell whose weight w is NaN counts in the other statistics only.
 */

typedef struct value_pair {
    double x, c;
} value_pair;

typedef struct class_slot {
    int64_t key;
    double w;
    int used;
} class_slot;

struct sm_stats {
    unsigned flags;
    double count;  /* Σc over valid cells */
    double sum;    /* Σcx */
    double nodata; /* Σc over nodata cells */
    double min, max;
    double shift;     /* K: the first valid value seen (see above) */
    double mean, m2;  /* West's running weighted mean of x - K and Σc(x-K-mean)² */
    double cw, cwx;   /* Σcw and Σcwx */
    value_pair *vals; /* SM_STATS_VALUES */
    size_t nvals, capvals;
    int sorted;
    class_slot *slots; /* SM_STATS_CLASSES: open addressing, linear probing, power-of-2 size */
    size_t nslots, nclasses;
};

sm_stats *sm_stats_create(unsigned flags)
{
    sm_stats *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->flags = flags;
    sm_stats_reset(s);
    return s;
}

void sm_stats_destroy(sm_stats *s)
{
    if (!s)
        return;
    free(s->vals);
    free(s->slots);
    free(s);
}

void sm_stats_reset(sm_stats *s)
{
    if (!s)
        return;
    s->count = s->sum = s->nodata = 0.0;
    s->min = INFINITY;
    s->max = -INFINITY;
    s->shift = s->mean = s->m2 = 0.0;
    s->cw = s->cwx = 0.0;
    s->nvals = 0;
    s->sorted = 1;
    if (s->slots)
        memset(s->slots, 0, s->nslots * sizeof *s->slots);
    s->nclasses = 0;
}

/* splitmix64's finaliser: spreads consecutive class values over the table. */
static uint64_t hash64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static class_slot *slot_find(class_slot *slots, size_t nslots, int64_t key)
{
    size_t mask = nslots - 1, i = (size_t)hash64((uint64_t)key) & mask;
    while (slots[i].used && slots[i].key != key)
        i = (i + 1) & mask;
    return &slots[i];
}

static const class_slot *slot_lookup(const sm_stats *s, int64_t key)
{
    if (!s->nslots)
        return NULL;
    const class_slot *e = slot_find(s->slots, s->nslots, key);
    return e->used ? e : NULL;
}

/* Grows the class table so that it holds `n` classes at a load of at most one half. */
static sm_status class_reserve(sm_stats *s, size_t n)
{
    if (n <= s->nslots / 2)
        return SM_OK;
    size_t m = s->nslots ? s->nslots : 16;
    while (m / 2 < n) {
        if (m > SIZE_MAX / 2)
            return SM_ERR_NOMEM;
        m *= 2;
    }
    if (m > SIZE_MAX / sizeof(class_slot))
        return SM_ERR_NOMEM;
    class_slot *t = calloc(m, sizeof *t);
    if (!t)
        return SM_ERR_NOMEM;
    for (size_t i = 0; i < s->nslots; i++)
        if (s->slots[i].used)
            *slot_find(t, m, s->slots[i].key) = s->slots[i];
    free(s->slots);
    s->slots = t;
    s->nslots = m;
    return SM_OK;
}

/* Adds weight w to class key; the table must have room (class_reserve). */
static void class_add(sm_stats *s, int64_t key, double w)
{
    class_slot *e = slot_find(s->slots, s->nslots, key);
    if (!e->used) {
        e->used = 1;
        e->key = key;
        e->w = 0.0;
        s->nclasses++;
    }
    e->w += w;
}

static sm_status values_reserve(sm_stats *s, size_t need)
{
    if (need <= s->capvals)
        return SM_OK;
    size_t n = s->capvals ? s->capvals : 64;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return SM_ERR_NOMEM;
        n *= 2;
    }
    if (n > SIZE_MAX / sizeof(value_pair))
        return SM_ERR_NOMEM;
    value_pair *p = realloc(s->vals, n * sizeof *p);
    if (!p)
        return SM_ERR_NOMEM;
    s->vals = p;
    s->capvals = n;
    return SM_OK;
}

/* The class of x, or 0 (and no class) when x is out of int64 range. */
static int class_of(double x, int64_t *k)
{
    double r = round(x);
    if (!(r >= -9.2e18 && r <= 9.2e18))
        return 0;
    *k = (int64_t)r;
    return 1;
}

sm_status sm_stats_add(sm_stats *s, double x, double c)
{
    if (!(c > 0.0))
        return SM_OK;
    if (isnan(x)) {
        s->nodata += c;
        return SM_OK;
    }
    if (s->flags & SM_STATS_VALUES) {
        if (values_reserve(s, s->nvals + 1))
            return SM_ERR_NOMEM;
    }
    if (s->flags & SM_STATS_CLASSES) {
        int64_t k;
        if (class_of(x, &k)) {
            if (class_reserve(s, s->nclasses + 1))
                return SM_ERR_NOMEM;
            class_add(s, k, c);
        }
    }
    if (s->flags & SM_STATS_VALUES) {
        if (s->nvals && x < s->vals[s->nvals - 1].x)
            s->sorted = 0;
        s->vals[s->nvals].x = x;
        s->vals[s->nvals].c = c;
        s->nvals++;
    }
    if (s->count == 0.0)
        s->shift = x;
    s->count += c;
    s->sum += c * x;
    if (x < s->min)
        s->min = x;
    if (x > s->max)
        s->max = x;
    double y = x - s->shift;
    double d = y - s->mean;
    s->mean += d * c / s->count;
    s->m2 += c * d * (y - s->mean);
    return SM_OK;
}

sm_status sm_stats_add_weighted(sm_stats *s, double x, double c, double w)
{
    sm_status st = sm_stats_add(s, x, c);
    if (st != SM_OK || !(c > 0.0) || isnan(x) || !isfinite(w))
        return st;
    s->cw += c * w;
    s->cwx += c * w * x;
    return SM_OK;
}

void sm_stats_add_nodata(sm_stats *s, double c)
{
    if (c > 0.0)
        s->nodata += c;
}

sm_status sm_stats_merge(sm_stats *dst, const sm_stats *src)
{
    if (dst->flags != src->flags)
        return SM_ERR_INPUT;
    if (src->count == 0.0 && src->nodata == 0.0)
        return SM_OK;
    if (dst == src) {
        /* Adding an accumulator to itself doubles every weight. */
        if (dst->flags & SM_STATS_VALUES) {
            if (dst->nvals > SIZE_MAX / 2 || values_reserve(dst, 2 * dst->nvals))
                return SM_ERR_NOMEM;
            memcpy(dst->vals + dst->nvals, dst->vals, dst->nvals * sizeof *dst->vals);
            dst->nvals *= 2;
            dst->sorted = 0;
        }
        for (size_t i = 0; i < dst->nslots; i++)
            dst->slots[i].w *= 2.0;
        dst->count *= 2.0;
        dst->sum *= 2.0;
        dst->nodata *= 2.0;
        dst->m2 *= 2.0;
        dst->cw *= 2.0;
        dst->cwx *= 2.0;
        return SM_OK;
    }
    if (dst->flags & SM_STATS_VALUES) {
        if (dst->nvals > SIZE_MAX - src->nvals || values_reserve(dst, dst->nvals + src->nvals))
            return SM_ERR_NOMEM;
    }
    if (dst->flags & SM_STATS_CLASSES) {
        /* Room first, so that a failure leaves dst as it was. */
        if (class_reserve(dst, dst->nclasses + src->nclasses))
            return SM_ERR_NOMEM;
        for (size_t i = 0; i < src->nslots; i++)
            if (src->slots[i].used)
                class_add(dst, src->slots[i].key, src->slots[i].w);
    }
    if (dst->flags & SM_STATS_VALUES) {
        if (src->nvals) {
            if (!src->sorted || (dst->nvals && src->vals[0].x < dst->vals[dst->nvals - 1].x))
                dst->sorted = 0;
            memcpy(dst->vals + dst->nvals, src->vals, src->nvals * sizeof *src->vals);
            dst->nvals += src->nvals;
        }
    }
    if (src->count > 0.0 && dst->count == 0.0) {
        dst->shift = src->shift;
        dst->mean = src->mean;
        dst->m2 = src->m2;
        dst->count = src->count;
        dst->sum = src->sum;
        dst->min = src->min;
        dst->max = src->max;
    } else if (src->count > 0.0) {
        double n = dst->count + src->count;
        double d = (src->shift - dst->shift) + (src->mean - dst->mean);
        dst->mean += d * (src->count / n);
        dst->m2 += src->m2 + d * d * (dst->count * src->count / n);
        dst->count = n;
        dst->sum += src->sum;
        if (src->min < dst->min)
            dst->min = src->min;
        if (src->max > dst->max)
            dst->max = src->max;
    }
    dst->nodata += src->nodata;
    dst->cw += src->cw;
    dst->cwx += src->cwx;
    return SM_OK;
}

double sm_stats_count(const sm_stats *s) { return s->count; }
double sm_stats_nodata_count(const sm_stats *s) { return s->nodata; }

double sm_stats_nodata_share(const sm_stats *s)
{
    double t = s->count + s->nodata;
    return t > 0.0 ? s->nodata / t : NAN;
}

double sm_stats_sum(const sm_stats *s) { return s->sum; }
double sm_stats_mean(const sm_stats *s) { return s->count > 0.0 ? s->sum / s->count : NAN; }
double sm_stats_min(const sm_stats *s) { return s->count > 0.0 ? s->min : NAN; }
double sm_stats_max(const sm_stats *s) { return s->count > 0.0 ? s->max : NAN; }

double sm_stats_variance(const sm_stats *s)
{
    if (!(s->count > 0.0))
        return NAN;
    double v = s->m2 / s->count;
    return v < 0.0 ? 0.0 : v;
}

double sm_stats_stdev(const sm_stats *s) { return sqrt(sm_stats_variance(s)); }

double sm_stats_weighted_mean(const sm_stats *s) { return s->cw != 0.0 ? s->cwx / s->cw : NAN; }

static int pair_cmp(const void *a, const void *b)
{
    double x = ((const value_pair *)a)->x, y = ((const value_pair *)b)->x;
    return (x > y) - (x < y);
}

/* Neumaier's compensated summation: *hi + *lo carries the sum with its rounding error. */
static void neumaier_add(double *hi, double *lo, double x)
{
    double t = *hi + x;
    if (fabs(*hi) >= fabs(x))
        *lo += (*hi - t) + x;
    else
        *lo += (x - t) + *hi;
    *hi = t;
}

double sm_stats_quantile(sm_stats *s, double q)
{
    if (!(q >= 0.0 && q <= 1.0) || s->nvals == 0)
        return NAN;
    if (!s->sorted) {
        qsort(s->vals, s->nvals, sizeof *s->vals, pair_cmp);
        s->sorted = 1;
    }
    double t_hi = 0.0, t_lo = 0.0;
    for (size_t i = 0; i < s->nvals; i++)
        neumaier_add(&t_hi, &t_lo, s->vals[i].c);
    double target = q * (t_hi + t_lo) * (1.0 - 8.0 * DBL_EPSILON);
    double p_hi = 0.0, p_lo = 0.0;
    for (size_t i = 0; i < s->nvals; i++) {
        neumaier_add(&p_hi, &p_lo, s->vals[i].c);
        if (p_hi + p_lo >= target)
            return s->vals[i].x;
    }
    return s->vals[s->nvals - 1].x;
}

/* want_max: majority, else minority; ties go to the smaller class. */
static double class_extreme(const sm_stats *s, int want_max)
{
    const class_slot *best = NULL;
    for (size_t i = 0; i < s->nslots; i++) {
        const class_slot *e = &s->slots[i];
        if (!e->used)
            continue;
        if (!best || (want_max ? e->w > best->w : e->w < best->w) ||
            (e->w == best->w && e->key < best->key))
            best = e;
    }
    return best ? (double)best->key : NAN;
}

double sm_stats_majority(const sm_stats *s) { return class_extreme(s, 1); }
double sm_stats_minority(const sm_stats *s) { return class_extreme(s, 0); }
size_t sm_stats_variety(const sm_stats *s) { return s->nclasses; }

double sm_stats_class_frac(const sm_stats *s, int64_t k)
{
    if (!(s->count > 0.0))
        return NAN;
    const class_slot *e = slot_lookup(s, k);
    return e ? e->w / s->count : 0.0;
}

static int key_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

size_t sm_stats_classes(const sm_stats *s, int64_t *out, size_t cap)
{
    if (cap >= s->nclasses) {
        size_t n = 0;
        for (size_t i = 0; i < s->nslots; i++)
            if (s->slots[i].used)
                out[n++] = s->slots[i].key;
        qsort(out, n, sizeof *out, key_cmp);
        return s->nclasses;
    }
    /* Fewer places than classes: the cap smallest, by repeated selection above the last. */
    int have_last = 0;
    int64_t last = 0;
    for (size_t m = 0; m < cap; m++) {
        int found = 0;
        int64_t best = 0;
        for (size_t i = 0; i < s->nslots; i++) {
            const class_slot *e = &s->slots[i];
            if (!e->used || (have_last && e->key <= last))
                continue;
            if (!found || e->key < best) {
                best = e->key;
                found = 1;
            }
        }
        out[m] = best;
        last = best;
        have_last = 1;
    }
    return s->nclasses;
}
