/* uncertainty.c: IPCC Approach 1 (error propagation) and Approach 2 (Monte Carlo with factors drawn
 * once per group and draw) for parcel stocks at two dates and the sink, per parcel, unit and total,
 * for the parcels' own units and any number of other groupings in one pass.
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
 *  B. units, for every set of units (the parcels' own, each grouping's) at once:
 *     acc[k][u][d] = Σ over the unit's parcels of x_k·(1+e_i)·f[g][d], k = A·V1, A·V2,
 *     A·(V2−V1); parcels with an exact volume enter through per-(unit, group) sums of x_k, the
 *     others ("noisy") one by one in index order, each multiplier (1+e_i) of draw d drawn once
 *     for all the sets (threads over blocks of draws). When the parcels' figures are wanted the
 *     noisy parcels go in chunks: each parcel's variable in every draw is kept for the chunk
 *     (threads over its parcels, which also take its percentiles for C), then added to the
 *     units (threads over blocks of draws), so that no (parcel, draw) is drawn twice;
 *  C. parcels: percentiles of f[g][·] once per group (exact volumes) or of (1+e_i)·f[g][·] in a
 *     per-thread buffer (threads over blocks of parcels), then scaled by x_k;
 *  D. the total per draw of every set (Σ over its units in unit order), then percentiles per
 *     unit and total (threads over them).
 * The sums are formed in the same order whatever the sets computed alongside, so a grouping's
 * figures are those of a run with that grouping alone as the units, bit for bit.
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

/* own_units: the parcels' own units are wanted (opt->units and every parcel's unit checked). */
static sm_status check_inputs(sm_context *ctx, const sm_species_group *groups, size_t ngroups,
                              const sm_unc_parcel *parcels, size_t nparcels,
                              const sm_unc_options *opt, int monte_carlo, int own_units)
{
    sm_status st;
    if (!opt)
        return sm_error(ctx, SM_ERR_INPUT, "uncertainty: no options given");
    if (opt->version != 1)
        return sm_error(ctx, SM_ERR_INPUT, "uncertainty options: version %d is not 1",
                        opt->version);
    if (own_units && opt->units == 0)
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
        if (own_units && p->unit >= opt->units)
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

static sm_status check_groupings(sm_context *ctx, const sm_unc_parcel *parcels, size_t nparcels,
                                 const sm_unc_grouping *groupings, size_t ngroupings,
                                 sm_unc_result **grouped)
{
    if (ngroupings && (!groupings || !grouped))
        return sm_error(ctx, SM_ERR_INPUT, "uncertainty: %s array is NULL",
                        !groupings ? "the groupings" : "the grouped results");
    for (size_t k = 0; k < ngroupings; k++) {
        const sm_unc_grouping *gr = &groupings[k];
        if (gr->units == 0)
            return sm_error(ctx, SM_ERR_INPUT,
                            "uncertainty: grouping %zu: units is 0 (at least one unit)", k);
        if (nparcels && !gr->unit)
            return sm_error(ctx, SM_ERR_INPUT, "uncertainty: grouping %zu: no unit array", k);
        for (size_t i = 0; i < nparcels; i++)
            if (gr->unit[i] >= gr->units) {
                char who[128];
                parcel_label(who, sizeof who, &parcels[i], i);
                return sm_error(ctx, SM_ERR_INPUT,
                                "uncertainty: grouping %zu: %s: unit %zu is out of range "
                                "(%zu units)", k, who, gr->unit[i], gr->units);
            }
    }
    return SM_OK;
}

/* Clears the outputs of a grouped call, so that they are NULL on any error. */
static void clear_outputs(sm_unc_result **out, sm_unc_result **grouped, size_t ngroupings)
{
    if (out)
        *out = NULL;
    for (size_t k = 0; grouped && k < ngroupings; k++)
        grouped[k] = NULL;
}

/* Destroys the outputs of a grouped call that failed. */
static void destroy_outputs(sm_unc_result **out, sm_unc_result **grouped, size_t ngroupings)
{
    if (out) {
        sm_unc_result_destroy(*out);
        *out = NULL;
    }
    for (size_t k = 0; grouped && k < ngroupings; k++) {
        sm_unc_result_destroy(grouped[k]);
        grouped[k] = NULL;
    }
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

/* One assignment of units: unit[i] (NULL: parcels[i].unit) among nunits. Fills r's units and
 * total, and its parcels when with_parcels. sums: [nunits + 1][groups] zeros, used as scratch. */
static void a1_units(sm_unc_result *r, a1_sums *sums, const sm_species_group *groups,
                     size_t ngroups, const sm_unc_parcel *parcels, size_t nparcels,
                     const size_t *unit, size_t nunits, double co2_per_year, int with_parcels)
{
    for (size_t i = 0; i < nparcels; i++) {
        const sm_unc_parcel *p = &parcels[i];
        const sm_species_group *g = &groups[p->group];
        const size_t ui = unit ? unit[i] : p->unit;
        double x[K_COUNT], fg = factor_product(g), u = sm_carbon_u95(g, p->v_u95_pct) / 100.0;
        parcel_x(p, co2_per_year, x);
        for (int k = 0; k < K_COUNT; k++) {
            double est = fg * x[k], h = fabs(est) * u, vv = x[k] * p->v_u95_pct / 100.0;
            if (with_parcels)
                *figure(&r->parcels[i], k) = (sm_interval){est, est, est - h, est + h};
            a1_sums *su = &sums[ui * ngroups + p->group];
            a1_sums *tot = &sums[nunits * ngroups + p->group];
            su->x[k] += x[k];
            su->var_v[k] += vv * vv;
            tot->x[k] += x[k];
            tot->var_v[k] += vv * vv;
        }
    }
    for (size_t u = 0; u < nunits; u++)
        a1_aggregate(&r->units[u], &sums[u * ngroups], groups, ngroups);
    a1_aggregate(&r->total, &sums[nunits * ngroups], groups, ngroups);
}

sm_status sm_uncertainty_approach1_grouped(sm_unc_result **out, sm_unc_result **grouped,
                                           sm_context *ctx, const sm_species_group *groups,
                                           size_t ngroups, const sm_unc_parcel *parcels,
                                           size_t nparcels, const sm_unc_grouping *groupings,
                                           size_t ngroupings, const sm_unc_options *opt)
{
    a1_sums *sums = NULL; /* [units + 1][groups] of the largest assignment */
    size_t nsums = 0, most = 0;
    clear_outputs(out, grouped, ngroupings);
    sm_status st = check_inputs(ctx, groups, ngroups, parcels, nparcels, opt, 0, out != NULL);
    if (st == SM_OK)
        st = check_groupings(ctx, parcels, nparcels, groupings, ngroupings, grouped);
    if (st != SM_OK)
        return st;
    if (out)
        most = opt->units;
    for (size_t k = 0; k < ngroupings; k++)
        if (groupings[k].units > most)
            most = groupings[k].units;
    if (sm_mul3_size(most + 1, ngroups ? ngroups : 1, sizeof *sums, &nsums) != 0 || most + 1 == 0)
        return sm_error(ctx, SM_ERR_NOMEM, "uncertainty: %zu units x %zu groups is too large",
                        most, ngroups);
    if (!(sums = sm_malloc(ctx, nsums))) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    const double co2_per_year = SM_CO2_PER_C / opt->years;
    if (out) {
        if ((st = result_create(out, ctx, 1, 0, nparcels, opt->units)) != SM_OK)
            goto end;
        memset(sums, 0, nsums);
        a1_units(*out, sums, groups, ngroups, parcels, nparcels, NULL, opt->units, co2_per_year,
                 1);
    }
    for (size_t k = 0; k < ngroupings; k++) {
        if ((st = result_create(&grouped[k], ctx, 1, 0, 0, groupings[k].units)) != SM_OK)
            goto end;
        memset(sums, 0, nsums);
        a1_units(grouped[k], sums, groups, ngroups, parcels, nparcels, groupings[k].unit,
                 groupings[k].units, co2_per_year, 0);
    }
end:
    free(sums);
    if (st != SM_OK)
        destroy_outputs(out, grouped, ngroupings);
    return st;
}

sm_status sm_uncertainty_approach1(sm_unc_result **out, sm_context *ctx,
                                   const sm_species_group *groups, size_t ngroups,
                                   const sm_unc_parcel *parcels, size_t nparcels,
                                   const sm_unc_options *opt)
{
    return sm_uncertainty_approach1_grouped(out, NULL, ctx, groups, ngroups, parcels, nparcels,
                                            NULL, 0, opt);
}

/* ---- Approach 2 ------------------------------------------------------------------------------- */

typedef struct group_stats {
    double estimate, mean, lo, hi; /* of F_g */
} group_stats;

/* One assignment of the parcels to units: their own (unit NULL) or a grouping's. Its exact-volume
 * parcels enter its units through per-(unit, group) sums of x_k, kept only for the groups that
 * have such parcels in the unit ("pairs", groups ascending within a unit, as the dense sum over
 * all groups ran): a term left out is ±0, and adding ±0 leaves a sum that starts at +0 unchanged
 * bit for bit (such a sum is never −0), so the sums are those of the dense form. */
typedef struct unit_set {
    size_t units;
    const size_t *unit;   /* [nparcels]; NULL: parcels[i].unit */
    sm_unc_result *result;
    double *acc;          /* [K_COUNT][units][draws] */
    double *total;        /* [K_COUNT][draws] */
    size_t *pair_start;   /* [units + 1]: unit u's pairs are [pair_start[u], pair_start[u + 1]) */
    size_t *pair_group;   /* [pairs] */
    double *pair_x;       /* [pairs][K_COUNT]: Σ x_k of the unit's exact-volume parcels of the group */
    size_t item0;         /* its first summary in phase D: K_COUNT·(units + 1) of them */
} unit_set;

typedef struct mc_job {
    const sm_species_group *groups;
    size_t ngroups;
    const sm_unc_parcel *parcels;
    size_t nparcels, draws;
    uint64_t seed;
    double co2_per_year;
    uint64_t *dkey;        /* [draws]: draw_key(seed, d) */
    double *f;             /* [ngroups][draws] factor-product draws */
    size_t *noisy;         /* indices of the parcels with a volume U95, ascending */
    size_t nnoisy;
    double *y;             /* [chunk][draws]: the variables of noisy[chunk0 ..], when the parcels'
                            * figures are wanted (NULL: B draws them per block of draws) */
    size_t chunk0, nchunk;
    unit_set *sets;        /* the parcels' own units (when wanted), then the groupings */
    size_t nsets, nsummaries;
    group_stats *gstats;   /* [ngroups] */
    sm_unc_result *result; /* receives the parcels' figures; NULL when they are not wanted */
    atomic_size_t next;    /* the next work block */
    size_t nitems, block;  /* of the current phase */
    void (*work)(struct mc_job *, size_t begin, size_t end, double *scratch);
} mc_job;

typedef struct mc_worker {
    mc_job *job;
    double *scratch; /* [draws] */
} mc_worker;

static size_t set_unit(const unit_set *us, const sm_unc_parcel *parcels, size_t i)
{
    return us->unit ? us->unit[i] : parcels[i].unit;
}

static void phase_factors(mc_job *j, size_t d0, size_t d1, double *scratch)
{
    for (size_t d = d0; d < d1; d++) {
        j->dkey[d] = draw_key(j->seed, d);
        for (size_t g = 0; g < j->ngroups; g++)
            j->f[g * j->draws + d] = draw_factors(&j->groups[g], j->dkey[d], g);
    }
}

/* Noisy parcel i's variable (1 + e_i)·F_g in draws d0 .. d1 − 1, into y[0 .. d1 − d0). */
static void noisy_draws(const mc_job *j, size_t i, size_t d0, size_t d1, double *y)
{
    const sm_unc_parcel *p = &j->parcels[i];
    const double *fg = &j->f[p->group * j->draws];
    for (size_t d = d0; d < d1; d++)
        y[d - d0] = draw_volume(j->dkey[d], i, p->v_u95_pct) * fg[d];
}

/* Adds x_k·y[d − d0] of noisy parcel i to its unit of every set, draws d0 .. d1 − 1. */
static void add_noisy(const mc_job *j, size_t i, size_t d0, size_t d1, const double *y)
{
    const size_t D = j->draws;
    double x[K_COUNT];
    parcel_x(&j->parcels[i], j->co2_per_year, x);
    for (size_t s = 0; s < j->nsets; s++) {
        const unit_set *us = &j->sets[s];
        const size_t u = set_unit(us, j->parcels, i), U = us->units;
        double *a1 = &us->acc[((size_t)K_STOCK1 * U + u) * D];
        double *a2 = &us->acc[((size_t)K_STOCK2 * U + u) * D];
        double *a3 = &us->acc[((size_t)K_DELTA * U + u) * D];
        for (size_t d = d0; d < d1; d++) {
            double v = y[d - d0];
            a1[d] += x[K_STOCK1] * v;
            a2[d] += x[K_STOCK2] * v;
            a3[d] += x[K_DELTA] * v;
        }
    }
}

/* Parcel i's figures: x_k times its variable's estimate, mean and percentiles. */
static void parcel_figures(const mc_job *j, size_t i, double mean, double lo, double hi)
{
    const sm_unc_parcel *p = &j->parcels[i];
    double x[K_COUNT];
    parcel_x(p, j->co2_per_year, x);
    for (int k = 0; k < K_COUNT; k++)
        *figure(&j->result->parcels[i], k) =
            scaled(x[k], j->gstats[p->group].estimate, mean, lo, hi);
}

/* B: acc of every set for draws d0 .. d1 − 1 (at most one block: scratch holds its draws): the
 * exact-volume pairs, then, unless j->y takes them chunk by chunk, the noisy parcels in index
 * order, each (parcel, draw) multiplier drawn once for all the sets. */
static void phase_units(mc_job *j, size_t d0, size_t d1, double *scratch)
{
    const size_t D = j->draws;
    for (size_t s = 0; s < j->nsets; s++) {
        const unit_set *us = &j->sets[s];
        for (size_t u = 0; u < us->units; u++)
            for (int k = 0; k < K_COUNT; k++) {
                double *a = &us->acc[((size_t)k * us->units + u) * D];
                for (size_t d = d0; d < d1; d++)
                    a[d] = 0;
                for (size_t q = us->pair_start[u]; q < us->pair_start[u + 1]; q++) {
                    const double x = us->pair_x[q * K_COUNT + k];
                    const double *fg = &j->f[us->pair_group[q] * D];
                    for (size_t d = d0; d < d1; d++)
                        a[d] += x * fg[d];
                }
            }
    }
    if (j->y)
        return;
    for (size_t n = 0; n < j->nnoisy; n++) {
        noisy_draws(j, j->noisy[n], d0, d1, scratch);
        add_noisy(j, j->noisy[n], d0, d1, scratch);
    }
}

/* B with the parcels' figures wanted, per chunk of noisy parcels: first each parcel's variable
 * in every draw, kept in j->y, and its percentiles (threads over the chunk's parcels) ... */
static void phase_noisy_parcels(mc_job *j, size_t n0, size_t n1, double *scratch)
{
    const size_t D = j->draws;
    for (size_t n = n0; n < n1; n++) {
        const size_t i = j->noisy[j->chunk0 + n];
        double *y = &j->y[n * D], mean, lo, hi;
        noisy_draws(j, i, 0, D, y);
        memcpy(scratch, y, D * sizeof *scratch);
        summarize(scratch, D, &mean, &lo, &hi);
        parcel_figures(j, i, mean, lo, hi);
    }
}

/* ... then the chunk into the units, parcels in index order (threads over blocks of draws). */
static void phase_noisy_units(mc_job *j, size_t d0, size_t d1, double *scratch)
{
    for (size_t n = 0; n < j->nchunk; n++)
        add_noisy(j, j->noisy[j->chunk0 + n], d0, d1, &j->y[n * j->draws + d0]);
}

/* C: the figures of the parcels with an exact volume (B's chunks did the others). */
static void phase_parcels(mc_job *j, size_t i0, size_t i1, double *scratch)
{
    for (size_t i = i0; i < i1; i++) {
        const sm_unc_parcel *p = &j->parcels[i];
        const group_stats *gs = &j->gstats[p->group];
        if (!(p->v_u95_pct > 0))
            parcel_figures(j, i, gs->mean, gs->lo, gs->hi);
    }
}

/* D, first part: each set's total per draw (its units added in unit order). */
static void set_totals(mc_job *j)
{
    const size_t D = j->draws;
    for (size_t s = 0; s < j->nsets; s++) {
        const unit_set *us = &j->sets[s];
        for (int k = 0; k < K_COUNT; k++) {
            double *tk = &us->total[(size_t)k * D];
            for (size_t d = 0; d < D; d++)
                tk[d] = 0;
            for (size_t u = 0; u < us->units; u++) {
                const double *a = &us->acc[((size_t)k * us->units + u) * D];
                for (size_t d = 0; d < D; d++)
                    tk[d] += a[d];
            }
        }
    }
}

/* D, second part: the mean and percentiles of summaries i0 .. i1 − 1 (set s has K_COUNT·(units
 * + 1) of them from item0 on: per figure its units, then its total); reorders their draws. */
static void phase_summaries(mc_job *j, size_t i0, size_t i1, double *scratch)
{
    const size_t D = j->draws;
    size_t s = 0;
    for (size_t it = i0; it < i1; it++) {
        while (s + 1 < j->nsets && j->sets[s + 1].item0 <= it)
            s++;
        const unit_set *us = &j->sets[s];
        const size_t r = it - us->item0, k = r / (us->units + 1), u = r % (us->units + 1);
        double *a;
        sm_interval *iv;
        if (u < us->units) {
            a = &us->acc[(k * us->units + u) * D];
            iv = figure(&us->result->units[u], (int)k);
        } else {
            a = &us->total[k * D];
            iv = figure(&us->result->total, (int)k);
        }
        summarize(a, D, &iv->mean, &iv->lo95, &iv->hi95);
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

/* A set's pairs from its exact-volume parcels (every sum in parcel index order, as the dense
 * form accumulated them). order: [nparcels] scratch; gx: [ngroups][K_COUNT] zeros and seen:
 * [ngroups] zeros, both left so; touched: [ngroups] scratch. */
static sm_status build_pairs(sm_context *ctx, const mc_job *j, unit_set *us, size_t nexact,
                             size_t *order, double *gx, unsigned char *seen, size_t *touched)
{
    const size_t U = us->units;
    size_t *first = sm_calloc(ctx, U + 1, sizeof *first); /* the unit's exact parcels in order */
    us->pair_group = sm_malloc(ctx, (nexact ? nexact : 1) * sizeof *us->pair_group);
    us->pair_x = sm_malloc(ctx, (nexact ? nexact : 1) * K_COUNT * sizeof *us->pair_x);
    if (!first || !us->pair_group || !us->pair_x) {
        free(first);
        return SM_ERR_NOMEM;
    }
    /* A stable counting sort of the exact parcels by unit. */
    for (size_t i = 0; i < j->nparcels; i++)
        if (!(j->parcels[i].v_u95_pct > 0))
            first[set_unit(us, j->parcels, i) + 1]++;
    for (size_t u = 0; u < U; u++)
        first[u + 1] += first[u];
    for (size_t i = 0; i < j->nparcels; i++)
        if (!(j->parcels[i].v_u95_pct > 0))
            order[first[set_unit(us, j->parcels, i)]++] = i;
    for (size_t u = U; u > 0; u--)
        first[u] = first[u - 1];
    first[0] = 0;
    size_t np = 0;
    for (size_t u = 0; u < U; u++) {
        us->pair_start[u] = np;
        size_t nt = 0;
        for (size_t q = first[u]; q < first[u + 1]; q++) {
            const sm_unc_parcel *p = &j->parcels[order[q]];
            double x[K_COUNT];
            parcel_x(p, j->co2_per_year, x);
            if (!seen[p->group]) {
                seen[p->group] = 1;
                touched[nt++] = p->group;
            }
            for (int k = 0; k < K_COUNT; k++)
                gx[p->group * K_COUNT + k] += x[k];
        }
        for (size_t a = 1; a < nt; a++) /* groups ascending */
            for (size_t b = a; b > 0 && touched[b - 1] > touched[b]; b--) {
                size_t t = touched[b];
                touched[b] = touched[b - 1];
                touched[b - 1] = t;
            }
        for (size_t t = 0; t < nt; t++) {
            size_t g = touched[t];
            double *x = &gx[g * K_COUNT];
            if (x[K_STOCK1] != 0 || x[K_STOCK2] != 0 || x[K_DELTA] != 0) {
                us->pair_group[np] = g;
                for (int k = 0; k < K_COUNT; k++)
                    us->pair_x[np * K_COUNT + k] = x[k];
                np++;
            }
            for (int k = 0; k < K_COUNT; k++)
                x[k] = 0;
            seen[g] = 0;
        }
    }
    us->pair_start[U] = np;
    free(first);
    /* Give back what the pairs do not use (a failure to shrink keeps the larger block). */
    size_t *pg = realloc(us->pair_group, (np ? np : 1) * sizeof *pg);
    double *px = realloc(us->pair_x, (np ? np : 1) * K_COUNT * sizeof *px);
    if (pg)
        us->pair_group = pg;
    if (px)
        us->pair_x = px;
    return SM_OK;
}

sm_status sm_uncertainty_mc_grouped(sm_unc_result **out, sm_unc_result **grouped,
                                    sm_context *ctx, const sm_species_group *groups,
                                    size_t ngroups, const sm_unc_parcel *parcels, size_t nparcels,
                                    const sm_unc_grouping *groupings, size_t ngroupings,
                                    const sm_unc_options *opt)
{
    mc_job j;
    mc_worker *workers = NULL;
    pthread_t *tids = NULL;
    size_t nworkers = 0, n_f, all_units = 0, n_all = 0, nexact = 0, big = 0, chunk = 0;
    size_t *order = NULL, *touched = NULL;
    double *gx = NULL;
    unsigned char *seen = NULL;
    memset(&j, 0, sizeof j);
    clear_outputs(out, grouped, ngroupings);
    sm_status st = check_inputs(ctx, groups, ngroups, parcels, nparcels, opt, 1, out != NULL);
    if (st == SM_OK)
        st = check_groupings(ctx, parcels, nparcels, groupings, ngroupings, grouped);
    if (st != SM_OK)
        return st;
    const size_t D = opt->draws, own = out ? 1 : 0, S = own + ngroupings;
    /* The sizes: units·draws·K_COUNT doubles per set, their sum over the sets. */
    int too_large = sm_mul3_size(ngroups, D, sizeof *j.f, &n_f) != 0;
    for (size_t s = 0; s < S && !too_large; s++) {
        size_t U = s < own ? opt->units : groupings[s - own].units, n;
        too_large = sm_mul3_size(U, D, K_COUNT * sizeof(double), &n) != 0 || n_all + n < n_all ||
                    all_units + U + 1 < all_units;
        n_all += n;
        all_units += U + 1;
        big = U > big ? U : big;
    }
    if (too_large || sm_mul_size(all_units, K_COUNT, &j.nsummaries) != 0)
        return sm_error(ctx, SM_ERR_NOMEM,
                        "uncertainty: %zu units x %zu groups x %zu draws is too large", big,
                        ngroups, D);
    j.groups = groups;
    j.ngroups = ngroups;
    j.parcels = parcels;
    j.nparcels = nparcels;
    j.draws = D;
    j.seed = opt->seed;
    j.co2_per_year = SM_CO2_PER_C / opt->years;
    atomic_init(&j.next, 0);
    if (!(j.sets = sm_calloc(ctx, S ? S : 1, sizeof *j.sets))) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    j.nsets = S;
    for (size_t s = 0, item0 = 0; s < S; s++) {
        unit_set *us = &j.sets[s];
        us->units = s < own ? opt->units : groupings[s - own].units;
        us->unit = s < own ? NULL : groupings[s - own].unit;
        us->item0 = item0;
        item0 += K_COUNT * (us->units + 1);
        if ((st = result_create(&us->result, ctx, 2, D, s < own ? nparcels : 0, us->units)) !=
            SM_OK)
            goto end;
        us->acc = sm_malloc(ctx, us->units * D * K_COUNT * sizeof *us->acc);
        us->total = sm_malloc(ctx, D * K_COUNT * sizeof *us->total);
        us->pair_start = sm_malloc(ctx, (us->units + 1) * sizeof *us->pair_start);
        if (!us->acc || !us->total || !us->pair_start) {
            st = SM_ERR_NOMEM;
            goto end;
        }
    }
    j.result = own ? j.sets[0].result : NULL;
    j.dkey = sm_malloc(ctx, D * sizeof *j.dkey);
    j.f = sm_malloc(ctx, n_f ? n_f : 1);
    j.gstats = sm_calloc(ctx, ngroups ? ngroups : 1, sizeof *j.gstats);
    j.noisy = sm_malloc(ctx, (nparcels ? nparcels : 1) * sizeof *j.noisy);
    order = sm_malloc(ctx, (nparcels ? nparcels : 1) * sizeof *order);
    touched = sm_malloc(ctx, (ngroups ? ngroups : 1) * sizeof *touched);
    seen = sm_calloc(ctx, ngroups ? ngroups : 1, 1);
    gx = sm_calloc(ctx, (ngroups ? ngroups : 1) * K_COUNT, sizeof *gx);
    if (!j.dkey || !j.f || !j.gstats || !j.noisy || !order || !touched || !seen || !gx) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    /* Estimates of every set's units and total at the tabled values; the exact-volume pairs. */
    for (size_t i = 0; i < nparcels; i++) {
        if (parcels[i].v_u95_pct > 0)
            j.noisy[j.nnoisy++] = i;
        else
            nexact++;
    }
    for (size_t s = 0; s < S; s++) {
        unit_set *us = &j.sets[s];
        for (size_t i = 0; i < nparcels; i++) {
            const sm_unc_parcel *p = &parcels[i];
            double x[K_COUNT], fg = factor_product(&groups[p->group]);
            parcel_x(p, j.co2_per_year, x);
            for (int k = 0; k < K_COUNT; k++) {
                figure(&us->result->units[set_unit(us, parcels, i)], k)->estimate += fg * x[k];
                figure(&us->result->total, k)->estimate += fg * x[k];
            }
        }
        if ((st = build_pairs(ctx, &j, us, nexact, order, gx, seen, touched)) != SM_OK)
            goto end;
    }

    /* The noisy parcels' chunks: up to 16 MiB of draws (at least one parcel). */
    chunk = ((size_t)16 << 20) / sizeof *j.y / D;
    chunk = chunk < 1 ? 1 : chunk > j.nnoisy ? j.nnoisy : chunk;
    if (j.result && j.nnoisy && !(j.y = sm_malloc(ctx, chunk * D * sizeof *j.y))) {
        st = SM_ERR_NOMEM;
        goto end;
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
    for (size_t g = 0; j.result && g < ngroups; g++) {
        double *s = workers[0].scratch;
        memcpy(s, &j.f[g * D], D * sizeof *s);
        j.gstats[g].estimate = factor_product(&groups[g]);
        summarize(s, D, &j.gstats[g].mean, &j.gstats[g].lo, &j.gstats[g].hi);
    }

    /* B. Units of every set, per draw; with the parcels' figures wanted, the noisy parcels in
     * chunks whose draws serve both the units and the parcels' percentiles (C's for them). */
    if ((st = sm_progress(ctx, 0.1, "uncertainty: units")) != SM_OK)
        goto end;
    run_phase(&j, workers, nworkers, tids, phase_units, D, 32);
    for (j.chunk0 = 0; j.y && j.chunk0 < j.nnoisy; j.chunk0 += j.nchunk) {
        if ((st = sm_progress(ctx, 0.1 + 0.4 * (double)j.chunk0 / (double)j.nnoisy,
                              "uncertainty: parcels with a volume U")) != SM_OK)
            goto end;
        j.nchunk = j.nnoisy - j.chunk0 < chunk ? j.nnoisy - j.chunk0 : chunk;
        run_phase(&j, workers, nworkers, tids, phase_noisy_parcels, j.nchunk, 4);
        run_phase(&j, workers, nworkers, tids, phase_noisy_units, D, 32);
    }

    /* C. Parcels. */
    if ((st = sm_progress(ctx, 0.5, "uncertainty: parcels")) != SM_OK)
        goto end;
    if (j.result)
        run_phase(&j, workers, nworkers, tids, phase_parcels, nparcels, 64);

    /* D. The totals per draw, then the percentiles of every unit and total. */
    if ((st = sm_progress(ctx, 0.9, "uncertainty: units and total")) != SM_OK)
        goto end;
    set_totals(&j);
    run_phase(&j, workers, nworkers, tids, phase_summaries, j.nsummaries, 16);
    st = sm_progress(ctx, 1.0, "uncertainty: done");
end:
    for (size_t t = 0; workers && t < nworkers; t++)
        free(workers[t].scratch);
    free(workers);
    free(tids);
    free(order);
    free(touched);
    free(seen);
    free(gx);
    free(j.dkey);
    free(j.f);
    free(j.gstats);
    free(j.noisy);
    free(j.y);
    for (size_t s = 0; j.sets && s < S; s++) {
        unit_set *us = &j.sets[s];
        free(us->acc);
        free(us->total);
        free(us->pair_start);
        free(us->pair_group);
        free(us->pair_x);
        if (st == SM_OK) {
            if (s < own)
                *out = us->result;
            else
                grouped[s - own] = us->result;
        } else {
            sm_unc_result_destroy(us->result);
        }
    }
    free(j.sets);
    return st;
}

sm_status sm_uncertainty_mc(sm_unc_result **out, sm_context *ctx, const sm_species_group *groups,
                            size_t ngroups, const sm_unc_parcel *parcels, size_t nparcels,
                            const sm_unc_options *opt)
{
    return sm_uncertainty_mc_grouped(out, NULL, ctx, groups, ngroups, parcels, nparcels, NULL, 0,
                                     opt);
}
