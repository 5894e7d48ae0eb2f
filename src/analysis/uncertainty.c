/* uncertainty.c: IPCC Approach 1 (error propagation) and Approach 2 (Monte Carlo with factors drawn
 * once per group and draw) for parcel stocks at two dates and the sink, per parcel, unit and total.
 * Tuned for ~1e5 parcels × ~1e3 draws: memory O((groups + units)·draws), draws split over threads. */
#include "sinkmap/uncertainty.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The Monte Carlo runs in four phases, each split over threads in a way that leaves every number
 * computed by exactly one thread in a fixed order (so the thread count never changes a bit):
 *  A. factor draws: f[g][d] = SVD·BEF·(1+R)·CF of group g in draw d (threads over draws);
 *  B. units: acc[k][u][d] = Σ over the unit's parcels of x_k·(1+e_i)·f[g][d], k = A·V1, A·V2,
 *     A·(V2−V1); parcels with an exact volume enter through per-(unit, group) sums of x_k, the
 *     others one by one in index order (threads over blocks of draws);
 *  C. parcels: percentiles of f[g][·] once per group (exact volumes) or of (1+e_i)·f[g][·] in a
 *     per-thread buffer (threads over blocks of parcels), then scaled by x_k;
 *  D. the total per draw (Σ over units in unit order), then percentiles per unit and in total.
 */

enum { K_STOCK1, K_STOCK2, K_DELTA, K_COUNT };

/* ---- Random numbers ------------------------------------------------------------------------- */

/* xoshiro256** (Blackman & Vigna 2018), seeded through splitmix64, with one cached polar normal. */
typedef struct rng {
    uint64_t s[4];
    double spare;
    int has_spare;
} rng;

#define GOLDEN 0x9E3779B97F4A7C15u

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint64_t splitmix64(uint64_t *state)
{
    *state += GOLDEN;
    return mix64(*state);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Streams: a domain (factors, volumes) and an index (group, parcel) within draw d of a seed. */
enum { DOMAIN_FACTOR = 1, DOMAIN_VOLUME = 2 };

/* The key of draw d, shared by all its streams. */
static uint64_t draw_key(uint64_t seed, uint64_t d)
{
    return mix64(mix64(seed ^ 0x736b6d6170u /* "skmap" */) + GOLDEN * (d + 1));
}

static void rng_seed(rng *r, uint64_t dkey, uint64_t domain, uint64_t index)
{
    uint64_t x = mix64(dkey ^ mix64((domain << 56) + index + 1));
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->has_spare = 0;
}

/* Standard normal, Marsaglia's polar method; u, v uniform on [−1, 1) with 53-bit resolution. */
static double rng_normal(rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = (double)(rng_next(r) >> 11) * 0x1.0p-52 - 1.0;
        v = (double)(rng_next(r) >> 11) * 0x1.0p-52 - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

/* Normal around value with σ = value·U/196, redrawn until positive; exact when σ = 0. Since
 * value > 0 every try succeeds with probability > 1/2. */
static double draw_positive(rng *r, double value, double u95_pct)
{
    double sd = value * u95_pct / 196.0;
    if (!(sd > 0))
        return value;
    double x;
    do
        x = value + sd * rng_normal(r);
    while (!(x > 0));
    return x;
}

static double factor_product(const sm_species_group *g)
{
    return g->svd * g->bef * (1.0 + g->r) * g->cf;
}

/* One draw of a group's factor product. The order svd, bef, r, cf is part of the stream. */
static double draw_factors(const sm_species_group *g, uint64_t dkey, size_t gi)
{
    rng r;
    rng_seed(&r, dkey, DOMAIN_FACTOR, gi);
    double svd = draw_positive(&r, g->svd, g->svd_u95);
    double bef = draw_positive(&r, g->bef, g->bef_u95);
    double rr = draw_positive(&r, g->r, g->r_u95);
    double cf = draw_positive(&r, g->cf, g->cf_u95);
    return svd * bef * (1.0 + rr) * cf;
}

/* One draw of parcel i's volume multiplier 1 + e_i. */
static double draw_volume(uint64_t dkey, size_t i, double u95_pct)
{
    rng r;
    rng_seed(&r, dkey, DOMAIN_VOLUME, i);
    return draw_positive(&r, 1.0, u95_pct);
}

/* ---- Percentiles ------------------------------------------------------------------------------ */

/* Rearranges a[0..n) so that a[k] is the k-th smallest (0-based), smaller-or-equal values before
 * it and greater-or-equal after (Hoare's FIND with a median-of-three pivot). */
static void select_kth(double *a, size_t n, size_t k)
{
    ptrdiff_t l = 0, r = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
    while (l < r) {
        double x = a[l], y = a[l + (r - l) / 2], z = a[r];
        double pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        ptrdiff_t i = l, j = r;
        do {
            while (a[i] < pivot)
                i++;
            while (pivot < a[j])
                j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        } while (i <= j);
        if (j < kk)
            l = i;
        if (kk < i)
            r = j;
    }
}

/* Type-7 quantile at h = k + num/den from a[0..n) already arranged by select_kth(a, n, k). */
static double interpolate(const double *a, size_t n, size_t k, size_t num, size_t den)
{
    if (num == 0 || k + 1 >= n)
        return a[k];
    double next = a[k + 1];
    for (size_t i = k + 2; i < n; i++)
        if (a[i] < next)
            next = a[i];
    return a[k] + (double)num / (double)den * (next - a[k]);
}

/* Mean, 2.5 and 97.5 percentiles (type 7) of a[0..n), n ≥ 1. Reorders a. */
static void summarize(double *a, size_t n, double *mean, double *lo, double *hi)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i];
    *mean = s / (double)n;
    /* h = (n−1)/40 and 39(n−1)/40, split exactly into whole and fractional parts. */
    size_t klo = (n - 1) / 40, flo = (n - 1) % 40;
    size_t khi = (n - 1) / 40 * 39 + (n - 1) % 40 * 39 / 40, fhi = (n - 1) % 40 * 39 % 40;
    select_kth(a, n, klo);
    *lo = interpolate(a, n, klo, flo, 40);
    if (khi == klo) {
        *hi = interpolate(a, n, klo, fhi, 40);
        return;
    }
    /* Everything from klo + 1 on is ≥ a[klo]: the higher order statistics live there. */
    select_kth(a + klo + 1, n - klo - 1, khi - klo - 1);
    *hi = interpolate(a + klo + 1, n - klo - 1, khi - klo - 1, fhi, 40);
}

/* Scales a variable's (mean, lo, hi) by x, swapping the bounds when x < 0 (type 7 is symmetric:
 * q_p(−X) = −q_(1−p)(X)). */
static sm_interval scaled(double x, double estimate, double mean, double lo, double hi)
{
    sm_interval iv = {x * estimate, x * mean, x * lo, x * hi};
    if (x < 0) {
        iv.lo95 = x * hi;
        iv.hi95 = x * lo;
    }
    return iv;
}

/* ---- Validation ------------------------------------------------------------------------------ */

static void parcel_label(char *buf, size_t size, const sm_unc_parcel *p, size_t i)
{
    if (p->id)
        snprintf(buf, size, "parcel %zu ('%.64s')", i, p->id);
    else
        snprintf(buf, size, "parcel %zu", i);
}

static sm_status check_u95(sm_context *ctx, size_t gi, const sm_species_group *g,
                           const char *field, double u)
{
    if (!(u >= 0) || isinf(u))
        return sm_error(ctx, SM_ERR_INPUT, "uncertainty: group %zu ('%s'): %s %g is not a "
                        "percentage >= 0", gi, g->key ? g->key : "", field, u);
    return SM_OK;
}

static sm_status check_inputs(sm_context *ctx, const sm_species_group *groups, size_t ngroups,
                              const sm_unc_parcel *parcels, size_t nparcels,
                              const sm_unc_options *opt, int monte_carlo)
{
    sm_status st;
    if (!opt)
        return sm_error(ctx, SM_ERR_INPUT, "uncertainty: no options given");
    if (opt->version != 1)
        return sm_error(ctx, SM_ERR_INPUT, "uncertainty options: version %d is not 1",
                        opt->version);
    if (opt->units == 0)
        return sm_error(ctx, SM_ERR_INPUT,
                        "uncertainty options: units is 0 (at least one aggregation unit)");
    if (!(opt->years > 0) || isinf(opt->years))
        return sm_error(ctx, SM_ERR_INPUT,
                        "uncertainty options: years %g (t2 - t1) is not > 0", opt->years);
    if (monte_carlo && opt->draws == 0)
        return sm_error(ctx, SM_ERR_INPUT,
                        "uncertainty options: draws is 0 (Monte Carlo needs at least one draw)");
    if (monte_carlo && opt->threads < 0)
        return sm_error(ctx, SM_ERR_INPUT, "uncertainty options: threads %d is not a number of "
                        "threads", opt->threads);
    if ((ngroups && !groups) || (nparcels && !parcels))
        return sm_error(ctx, SM_ERR_INPUT, "uncertainty: %s array is NULL",
                        ngroups && !groups ? "the groups" : "the parcels");
    for (size_t gi = 0; gi < ngroups; gi++) {
        const sm_species_group *g = &groups[gi];
        const char *key = g->key ? g->key : "";
        const struct {
            const char *name;
            double v;
        } pos[3] = {{"svd", g->svd}, {"bef", g->bef}, {"cf", g->cf}};
        for (int k = 0; k < 3; k++)
            if (!(pos[k].v > 0) || isinf(pos[k].v))
                return sm_error(ctx, SM_ERR_INPUT,
                                "uncertainty: group %zu ('%s'): %s %g is not > 0", gi, key,
                                pos[k].name, pos[k].v);
        if (!(g->r >= 0) || isinf(g->r))
            return sm_error(ctx, SM_ERR_INPUT, "uncertainty: group %zu ('%s'): r %g is not >= 0",
                            gi, key, g->r);
        if ((st = check_u95(ctx, gi, g, "svd_u95", g->svd_u95)) != SM_OK ||
            (st = check_u95(ctx, gi, g, "bef_u95", g->bef_u95)) != SM_OK ||
            (st = check_u95(ctx, gi, g, "r_u95", g->r_u95)) != SM_OK ||
            (st = check_u95(ctx, gi, g, "cf_u95", g->cf_u95)) != SM_OK)
            return st;
    }
    for (size_t i = 0; i < nparcels; i++) {
        const sm_unc_parcel *p = &parcels[i];
        char who[128];
        parcel_label(who, sizeof who, p, i);
        if (p->group >= ngroups)
            return sm_error(ctx, SM_ERR_INPUT,
                            "uncertainty: %s: group %zu is out of range (%zu groups)", who,
                            p->group, ngroups);
        if (p->unit >= opt->units)
            return sm_error(ctx, SM_ERR_INPUT,
                            "uncertainty: %s: unit %zu is out of range (%zu units)", who,
                            p->unit, opt->units);
        const double v[2] = {p->v1, p->v2};
        for (int k = 0; k < 2; k++) {
            if (isnan(v[k]))
                return sm_error(ctx, SM_ERR_INPUT, "uncertainty: %s: the volume at t%d is "
                                "missing (NaN)", who, k + 1);
            if (v[k] < 0 || isinf(v[k]))
                return sm_error(ctx, SM_ERR_INPUT,
                                "uncertainty: %s: the volume at t%d, %g m3/ha, is not >= 0", who,
                                k + 1, v[k]);
        }
        if (!(p->area_ha >= 0) || isinf(p->area_ha))
            return sm_error(ctx, SM_ERR_INPUT, "uncertainty: %s: area %g ha is not >= 0", who,
                            p->area_ha);
        if (!(p->v_u95_pct >= 0) || isinf(p->v_u95_pct))
            return sm_error(ctx, SM_ERR_INPUT,
                            "uncertainty: %s: volume U95 %g is not a percentage >= 0", who,
                            p->v_u95_pct);
    }
    return SM_OK;
}

/* The parcel's three quantities before the factor product: A·V1, A·V2 and A·(V2−V1)·44/12/years
 * (the sink's conversion folded in). */
static void parcel_x(const sm_unc_parcel *p, double co2_per_year, double x[K_COUNT])
{
    x[K_STOCK1] = p->area_ha * p->v1;
    x[K_STOCK2] = p->area_ha * p->v2;
    x[K_DELTA] = p->area_ha * (p->v2 - p->v1) * co2_per_year;
}

static sm_status result_create(sm_unc_result **out, sm_context *ctx, int approach, size_t draws,
                               size_t nparcels, size_t nunits)
{
    sm_unc_result *r = sm_calloc(ctx, 1, sizeof *r);
    if (!r)
        return SM_ERR_NOMEM;
    r->approach = approach;
    r->draws = draws;
    r->nparcels = nparcels;
    r->nunits = nunits;
    r->parcels = sm_calloc(ctx, nparcels ? nparcels : 1, sizeof *r->parcels);
    r->units = sm_calloc(ctx, nunits, sizeof *r->units);
    if (!r->parcels || !r->units) {
        sm_unc_result_destroy(r);
        return SM_ERR_NOMEM;
    }
    *out = r;
    return SM_OK;
}

void sm_unc_result_destroy(sm_unc_result *result)
{
    if (!result)
        return;
    free(result->parcels);
    free(result->units);
    free(result);
}

static sm_interval *figure(sm_unc_figures *f, int k)
{
    return k == K_STOCK1 ? &f->stock1 : k == K_STOCK2 ? &f->stock2 : &f->sink;
}

/* ---- Approach 1 ------------------------------------------------------------------------------- */

/* Per (aggregate, group): Σ x_k and Σ (x_k·U_v/100)². */
typedef struct a1_sums {
    double x[K_COUNT], var_v[K_COUNT];
} a1_sums;

/* Fills one aggregate's figures from its per-group sums s[0..ngroups). */
static void a1_aggregate(sm_unc_figures *f, const a1_sums *s, const sm_species_group *groups,
                         size_t ngroups)
{
    for (int k = 0; k < K_COUNT; k++) {
        double est = 0, var = 0;
        for (size_t g = 0; g < ngroups; g++) {
            double fg = factor_product(&groups[g]), uf = sm_carbon_u95(&groups[g], 0) / 100.0;
            double shared = fg * s[g].x[k] * uf;
            est += fg * s[g].x[k];
            var += shared * shared + fg * fg * s[g].var_v[k];
        }
        double h = sqrt(var);
        *figure(f, k) = (sm_interval){est, est, est - h, est + h};
    }
}

sm_status sm_uncertainty_approach1(sm_unc_result **out, sm_context *ctx,
                                   const sm_species_group *groups, size_t ngroups,
                                   const sm_unc_parcel *parcels, size_t nparcels,
                                   const sm_unc_options *opt)
{
    sm_unc_result *r = NULL;
    a1_sums *sums = NULL; /* [units + 1][groups]: the units, then the total */
    size_t nsums;
    *out = NULL;
    sm_status st = check_inputs(ctx, groups, ngroups, parcels, nparcels, opt, 0);
    if (st != SM_OK)
        return st;
    if (sm_mul3_size(opt->units + 1, ngroups ? ngroups : 1, sizeof *sums, &nsums) != 0 ||
        opt->units + 1 == 0)
        return sm_error(ctx, SM_ERR_NOMEM, "uncertainty: %zu units x %zu groups is too large",
                        opt->units, ngroups);
    if ((st = result_create(&r, ctx, 1, 0, nparcels, opt->units)) != SM_OK)
        goto end;
    if (!(sums = sm_calloc(ctx, 1, nsums))) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    const double co2_per_year = SM_CO2_PER_C / opt->years;
    for (size_t i = 0; i < nparcels; i++) {
        const sm_unc_parcel *p = &parcels[i];
        const sm_species_group *g = &groups[p->group];
        double x[K_COUNT], fg = factor_product(g), u = sm_carbon_u95(g, p->v_u95_pct) / 100.0;
        parcel_x(p, co2_per_year, x);
        for (int k = 0; k < K_COUNT; k++) {
            double est = fg * x[k], h = fabs(est) * u, vv = x[k] * p->v_u95_pct / 100.0;
            *figure(&r->parcels[i], k) = (sm_interval){est, est, est - h, est + h};
            a1_sums *su = &sums[p->unit * ngroups + p->group];
            a1_sums *tot = &sums[opt->units * ngroups + p->group];
            su->x[k] += x[k];
            su->var_v[k] += vv * vv;
            tot->x[k] += x[k];
            tot->var_v[k] += vv * vv;
        }
    }
    for (size_t u = 0; u < opt->units; u++)
        a1_aggregate(&r->units[u], &sums[u * ngroups], groups, ngroups);
    a1_aggregate(&r->total, &sums[opt->units * ngroups], groups, ngroups);
end:
    free(sums);
    if (st == SM_OK)
        *out = r;
    else
        sm_unc_result_destroy(r);
    return st;
}

/* ---- Approach 2 ------------------------------------------------------------------------------- */

typedef struct group_stats {
    double estimate, mean, lo, hi; /* of F_g */
} group_stats;

typedef struct mc_job {
    const sm_species_group *groups;
    size_t ngroups;
    const sm_unc_parcel *parcels;
    size_t nparcels, nunits, draws;
    uint64_t seed;
    double co2_per_year;
    uint64_t *dkey;        /* [draws]: draw_key(seed, d) */
    double *f;             /* [ngroups][draws] factor-product draws */
    double *exact;         /* [nunits][ngroups][K_COUNT] Σ x_k of the exact-volume parcels */
    size_t *noisy;         /* indices of the parcels with a volume U95, ascending */
    size_t nnoisy;
    double *acc;           /* [K_COUNT][nunits][draws] */
    group_stats *gstats;   /* [ngroups] */
    sm_unc_result *result;
    atomic_size_t next;    /* the next work block */
    size_t nitems, block;  /* of the current phase */
    void (*work)(struct mc_job *, size_t begin, size_t end, double *scratch);
} mc_job;

typedef struct mc_worker {
    mc_job *job;
    double *scratch; /* [draws] */
} mc_worker;

static void phase_factors(mc_job *j, size_t d0, size_t d1, double *scratch)
{
    for (size_t d = d0; d < d1; d++) {
        j->dkey[d] = draw_key(j->seed, d);
        for (size_t g = 0; g < j->ngroups; g++)
            j->f[g * j->draws + d] = draw_factors(&j->groups[g], j->dkey[d], g);
    }
}

static void phase_units(mc_job *j, size_t d0, size_t d1, double *scratch)
{
    const size_t D = j->draws, U = j->nunits, G = j->ngroups;
    for (size_t u = 0; u < U; u++)
        for (int k = 0; k < K_COUNT; k++) {
            double *a = &j->acc[((size_t)k * U + u) * D];
            for (size_t d = d0; d < d1; d++) {
                double s = 0;
                for (size_t g = 0; g < G; g++)
                    s += j->exact[(u * G + g) * K_COUNT + k] * j->f[g * D + d];
                a[d] = s;
            }
        }
    for (size_t n = 0; n < j->nnoisy; n++) {
        size_t i = j->noisy[n];
        const sm_unc_parcel *p = &j->parcels[i];
        const double *fg = &j->f[p->group * D];
        double x[K_COUNT];
        parcel_x(p, j->co2_per_year, x);
        double *a1 = &j->acc[((size_t)K_STOCK1 * U + p->unit) * D];
        double *a2 = &j->acc[((size_t)K_STOCK2 * U + p->unit) * D];
        double *a3 = &j->acc[((size_t)K_DELTA * U + p->unit) * D];
        for (size_t d = d0; d < d1; d++) {
            double y = draw_volume(j->dkey[d], i, p->v_u95_pct) * fg[d];
            a1[d] += x[K_STOCK1] * y;
            a2[d] += x[K_STOCK2] * y;
            a3[d] += x[K_DELTA] * y;
        }
    }
}

static void phase_parcels(mc_job *j, size_t i0, size_t i1, double *scratch)
{
    const size_t D = j->draws;
    for (size_t i = i0; i < i1; i++) {
        const sm_unc_parcel *p = &j->parcels[i];
        const group_stats *gs = &j->gstats[p->group];
        double mean = gs->mean, lo = gs->lo, hi = gs->hi, x[K_COUNT];
        if (p->v_u95_pct > 0) {
            const double *fg = &j->f[p->group * D];
            for (size_t d = 0; d < D; d++)
                scratch[d] = draw_volume(j->dkey[d], i, p->v_u95_pct) * fg[d];
            summarize(scratch, D, &mean, &lo, &hi);
        }
        parcel_x(p, j->co2_per_year, x);
        for (int k = 0; k < K_COUNT; k++)
            *figure(&j->result->parcels[i], k) = scaled(x[k], gs->estimate, mean, lo, hi);
    }
}

/* D: the total per draw (units added in unit order), then every unit's and the total's mean and
 * percentiles. total is a buffer of K_COUNT·draws values; the units' draws are reordered. */
static void phase_aggregates(mc_job *j, double *total)
{
    const size_t D = j->draws, U = j->nunits;
    for (int k = 0; k < K_COUNT; k++) {
        double *tk = &total[(size_t)k * D];
        for (size_t d = 0; d < D; d++)
            tk[d] = 0;
        for (size_t u = 0; u < U; u++) {
            const double *a = &j->acc[((size_t)k * U + u) * D];
            for (size_t d = 0; d < D; d++)
                tk[d] += a[d];
        }
        for (size_t u = 0; u < U; u++) {
            sm_interval *iv = figure(&j->result->units[u], k);
            summarize(&j->acc[((size_t)k * U + u) * D], D, &iv->mean, &iv->lo95, &iv->hi95);
        }
        sm_interval *iv = figure(&j->result->total, k);
        summarize(tk, D, &iv->mean, &iv->lo95, &iv->hi95);
    }
}

static void *worker_main(void *arg)
{
    mc_worker *w = arg;
    mc_job *j = w->job;
    for (;;) {
        size_t b = atomic_fetch_add(&j->next, 1);
        if (b >= (j->nitems + j->block - 1) / j->block)
            break;
        size_t begin = b * j->block, end = begin + j->block;
        j->work(j, begin, end < j->nitems ? end : j->nitems, w->scratch);
    }
    return NULL;
}

/* Runs job->work over [0, nitems) in blocks on up to nworkers threads (the caller is one). A
 * thread that cannot be started leaves its share to the others: the results are the same. */
static void run_phase(mc_job *j, mc_worker *workers, size_t nworkers, pthread_t *tids,
                      void (*work)(mc_job *, size_t, size_t, double *), size_t nitems,
                      size_t block)
{
    j->work = work;
    j->nitems = nitems;
    j->block = block;
    atomic_store(&j->next, 0);
    size_t started = 0;
    for (size_t t = 1; t < nworkers; t++) {
        if (pthread_create(&tids[started], NULL, worker_main, &workers[t]) != 0)
            break;
        started++;
    }
    worker_main(&workers[0]);
    for (size_t t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
}

static size_t default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)(n > 64 ? 64 : n) : 1;
}

sm_status sm_uncertainty_mc(sm_unc_result **out, sm_context *ctx, const sm_species_group *groups,
                            size_t ngroups, const sm_unc_parcel *parcels, size_t nparcels,
                            const sm_unc_options *opt)
{
    mc_job j;
    mc_worker *workers = NULL;
    pthread_t *tids = NULL;
    double *total = NULL;
    size_t nworkers = 0, n_f, n_acc, n_exact;
    memset(&j, 0, sizeof j);
    *out = NULL;
    sm_status st = check_inputs(ctx, groups, ngroups, parcels, nparcels, opt, 1);
    if (st != SM_OK)
        return st;
    const size_t D = opt->draws, U = opt->units;
    if (sm_mul3_size(ngroups, D, sizeof *j.f, &n_f) != 0 ||
        sm_mul3_size(U, D, K_COUNT * sizeof *j.acc, &n_acc) != 0 ||
        sm_mul3_size(U, ngroups, K_COUNT * sizeof *j.exact, &n_exact) != 0)
        return sm_error(ctx, SM_ERR_NOMEM,
                        "uncertainty: %zu units x %zu groups x %zu draws is too large", U,
                        ngroups, D);
    j.groups = groups;
    j.ngroups = ngroups;
    j.parcels = parcels;
    j.nparcels = nparcels;
    j.nunits = U;
    j.draws = D;
    j.seed = opt->seed;
    j.co2_per_year = SM_CO2_PER_C / opt->years;
    atomic_init(&j.next, 0);
    if ((st = result_create(&j.result, ctx, 2, D, nparcels, U)) != SM_OK)
        goto end;
    j.dkey = sm_malloc(ctx, D * sizeof *j.dkey);
    j.f = sm_malloc(ctx, n_f ? n_f : 1);
    j.acc = sm_malloc(ctx, n_acc);
    j.exact = sm_calloc(ctx, 1, n_exact ? n_exact : 1);
    j.gstats = sm_calloc(ctx, ngroups ? ngroups : 1, sizeof *j.gstats);
    j.noisy = sm_malloc(ctx, (nparcels ? nparcels : 1) * sizeof *j.noisy);
    total = sm_malloc(ctx, n_acc / U);
    if (!j.dkey || !j.f || !j.acc || !j.exact || !j.gstats || !j.noisy || !total) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    /* Estimates of the units and the total at the tabled values; the exact-volume sums. */
    for (size_t i = 0; i < nparcels; i++) {
        const sm_unc_parcel *p = &parcels[i];
        double x[K_COUNT], fg = factor_product(&groups[p->group]);
        parcel_x(p, j.co2_per_year, x);
        for (int k = 0; k < K_COUNT; k++) {
            figure(&j.result->units[p->unit], k)->estimate += fg * x[k];
            figure(&j.result->total, k)->estimate += fg * x[k];
        }
        if (p->v_u95_pct > 0) {
            j.noisy[j.nnoisy++] = i;
        } else {
            for (int k = 0; k < K_COUNT; k++)
                j.exact[(p->unit * ngroups + p->group) * K_COUNT + k] += x[k];
        }
    }

    /* Workers: the caller plus up to threads − 1 (at most 256), each with one value per draw. */
    nworkers = opt->threads > 0 ? (size_t)opt->threads : default_threads();
    if (nworkers > 256)
        nworkers = 256;
    workers = sm_calloc(ctx, nworkers, sizeof *workers);
    tids = sm_calloc(ctx, nworkers, sizeof *tids);
    if (!workers || !tids) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    for (size_t t = 0; t < nworkers; t++) {
        workers[t].job = &j;
        if (!(workers[t].scratch = sm_malloc(ctx, D * sizeof *workers[t].scratch))) {
            st = SM_ERR_NOMEM;
            goto end;
        }
    }

    /* A. Factor draws. */
    if ((st = sm_progress(ctx, 0.0, "uncertainty: factor draws")) != SM_OK)
        goto end;
    run_phase(&j, workers, nworkers, tids, phase_factors, D, 256);
    for (size_t g = 0; g < ngroups; g++) {
        double *s = workers[0].scratch;
        memcpy(s, &j.f[g * D], D * sizeof *s);
        j.gstats[g].estimate = factor_product(&groups[g]);
        summarize(s, D, &j.gstats[g].mean, &j.gstats[g].lo, &j.gstats[g].hi);
    }

    /* B. Units, per draw. */
    if ((st = sm_progress(ctx, 0.1, "uncertainty: units")) != SM_OK)
        goto end;
    run_phase(&j, workers, nworkers, tids, phase_units, D, 32);

    /* C. Parcels. */
    if ((st = sm_progress(ctx, 0.5, "uncertainty: parcels")) != SM_OK)
        goto end;
    run_phase(&j, workers, nworkers, tids, phase_parcels, nparcels, 64);

    /* D. The total per draw, then the percentiles of every unit and of the total. */
    if ((st = sm_progress(ctx, 0.9, "uncertainty: units and total")) != SM_OK)
        goto end;
    phase_aggregates(&j, total);
    st = sm_progress(ctx, 1.0, "uncertainty: done");
end:
    for (size_t t = 0; workers && t < nworkers; t++)
        free(workers[t].scratch);
    free(workers);
    free(tids);
    free(total);
    free(j.dkey);
    free(j.f);
    free(j.acc);
    free(j.exact);
    free(j.gstats);
    free(j.noisy);
    if (st == SM_OK)
        *out = j.result;
    else
        sm_unc_result_destroy(j.result);
    return st;
}
