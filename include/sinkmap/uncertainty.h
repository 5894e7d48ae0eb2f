/* sinkmap/uncertainty.h: IPCC uncertainty of parcel carbon stocks at two dates and of the sink
 * between them, per parcel, per aggregation unit (township, ...) and in total: Approach 1 (error
 * propagation) and Approach 2 (Monte Carlo with shared factor draws). Pure computation, no GDAL. */
#ifndef SINKMAP_UNCERTAINTY_H
#define SINKMAP_UNCERTAINTY_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/carbon.h"
#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The model ------------------------------------------------------------------------------
 * Parcel i of species group g, area A_i (ha), volumes V1_i, V2_i (m³/ha) at dates t1 < t2:
 *   F_g      = SVD_g · BEF_g · (1 + R_g) · CF_g                    (t C per m³)
 *   C_i(t)   = V_i(t) · A_i · F_g                                  (t C)
 *   sink_i   = (C_i(t2) − C_i(t1)) / (t2 − t1) · 44/12             (t CO2e/yr, positive = removal)
 * Units and the total are sums over their parcels (the sink of a sum is the sum of the sinks).
 *
 * Sources of uncertainty, each a 95 % half-width in % of the value (U95):
 *  - the four factors of each group (sm_species_group svd_u95, bef_u95, r_u95, cf_u95). A factor is
 *    ONE quantity shared by every parcel of its group and by both dates: its errors are fully
 *    correlated across those parcels and cancel in a difference, so a sink's factor uncertainty
 *    scales with |C2 − C1|, not with C1 + C2.
 *  - the parcel's volume (sm_unc_parcel.v_u95_pct): independent between parcels, and a LEVEL
 *    error shared by both dates of the parcel (V1 and V2 are multiplied by the same (1 + e)).
 *    Reason: V2 is normally projected from the same inventory measurement as V1 (the growth
 *    ratio method of sm_project_volume), so an error in that measurement moves both; the
 *    sink then carries the same relative volume uncertainty as the stocks.
 *
 * Intervals (sm_interval): `estimate` is the model at the tabled factors and volumes; `mean`,
 * `lo95`, `hi95` are Approach 1's estimate ∓ half-width, or Approach 2's sample mean and its
 * 2.5 and 97.5 percentiles. */

/* One parcel as the uncertainty model sees it. */
typedef struct sm_unc_parcel {
    size_t group;        /* index into the groups[] array passed along */
    size_t unit;         /* aggregation unit, < sm_unc_options.units (0 when there is one) */
    double v1, v2;       /* stem volume at t1 and t2, m³/ha, finite and ≥ 0 */
    double area_ha;      /* finite and ≥ 0 */
    double v_u95_pct;    /* the volume's own U95 in %, ≥ 0; 0 = exact */
    const char *id;      /* labels error messages (NULL: the parcel's index) */
} sm_unc_parcel;

typedef struct sm_unc_options {
    int version;   /* 1 */
    size_t units;  /* number of aggregation units (≥ 1); a parcel's unit must be below it */
    double years;  /* t2 − t1 in years (> 0), e.g. sm_decimal_year(d2) − sm_decimal_year(d1) */
    /* Approach 2 only (Approach 1 ignores them): */
    size_t draws;  /* Monte Carlo draws (≥ 1; IPCC suggests enough for stable percentiles) */
    uint64_t seed; /* results are a function of (inputs, draws, seed) alone */
    int threads;   /* worker threads, 0 = one per core (at most 256); never changes results */
} sm_unc_options;
#define SM_UNC_OPTIONS_INIT {1, 1, 1.0, 10000, 1, 0}

typedef struct sm_interval {
    double estimate; /* at the tabled values */
    double mean;     /* Approach 1: = estimate; Approach 2: mean over the draws */
    double lo95;     /* lower bound of the 95 % interval */
    double hi95;     /* upper bound */
} sm_interval;

/* The three figures of a parcel, a unit or the total. */
typedef struct sm_unc_figures {
    sm_interval stock1; /* t C at t1 */
    sm_interval stock2; /* t C at t2 */
    sm_interval sink;   /* t CO2e/yr, positive = removal */
} sm_unc_figures;

typedef struct sm_unc_result {
    int approach;           /* 1 or 2 */
    size_t draws;           /* Approach 2: the number of draws; Approach 1: 0 */
    size_t nparcels;
    size_t nunits;
    sm_unc_figures *parcels; /* [nparcels], in input order */
    sm_unc_figures *units;   /* [nunits], unit u at index u (zeros for a unit without parcels) */
    sm_unc_figures total;
} sm_unc_result;

/* IPCC Approach 1 (2006 Vol. 1 ch. 3, eqs. 3.1, 3.2), first-order error propagation.
 * A parcel: U = sm_carbon_u95(group, v_u95_pct) (product rule over V, SVD, BEF, 1 + R, CF; the
 * U of 1 + R is U_R·R/(1 + R)), the same U for its two stocks and its sink; half-width H = |x|·U.
 * An aggregate (unit or total) honours the sharing of factors: parcels are first summed per
 * group (X_g = Σ A·V over the aggregate's parcels of g, exact for a fully shared factor product),
 * the product rule gives each group total its factor U_F,g = sm_carbon_u95(group, 0), the
 * volume errors enter as independent terms, and groups combine by the sum rule:
 *   H² = Σ_g F_g² · [ (X_g·U_F,g/100)² + Σ_{i in g} (A_i·V_i·U_v,i/100)² ]
 * (for the sink X_g and A_i·V_i use V2 − V1, then everything is × 44/12 / years). The total is
 * computed from its group sums, not from the units' half-widths, since units sharing a group
 * are correlated. lo95 = estimate − H, hi95 = estimate + H; H is defined even when the estimate
 * is 0 (a U in % would not be).
 * On success *out is a new result; the caller frees it with sm_unc_result_destroy(). Errors
 * (SM_ERR_INPUT, naming the parcel, group or option): see sm_uncertainty_mc, except draws. */
sm_status sm_uncertainty_approach1(sm_unc_result **out, sm_context *ctx,
                                   const sm_species_group *groups, size_t ngroups,
                                   const sm_unc_parcel *parcels, size_t nparcels,
                                   const sm_unc_options *opt);

/* IPCC Approach 2, Monte Carlo.
 * Draw d (0 ≤ d < draws):
 *  - each factor of each group g is drawn once, from a normal distribution with mean = the tabled
 *    value and σ = value·U95/196 (so ±1.96σ is the tabled half-width), truncated to positive
 *    values by redrawing (R to R > 0, i.e. 1 + R > 1). Normal rather than lognormal because
 *    it has the tabled value as its mean and reproduces Approach 1 exactly in the small-U limit;
 *    the truncation moves the mean by less than 0.01 % while U95 ≤ 50 % (it cuts a tail of
 *    Φ(−196/U)) and matters only for U95 approaching 100 %. A factor with U95 = 0 is exact.
 *  - each parcel with v_u95_pct > 0 draws one volume multiplier 1 + e_i ~ the same truncated
 *    normal around 1 with σ = U_v/196, applied to V1 and V2 alike.
 *  Then C1, C2 and the sink of every parcel, unit and the total are formed from those draws.
 * Random numbers: xoshiro256** streams seeded by splitmix64 from a hash of (seed, d, group) for
 * the factors and of (seed, d, parcel index) for the volume multipliers; normals by Marsaglia's
 * polar method. A draw depends on nothing else, so the results are identical for any thread
 * count and a parcel's draws do not change when other parcels are added.
 * Percentiles: Hyndman & Fan type 7 (numpy.percentile's default, R's quantile default): with the
 * n draws sorted x_0 ≤ … ≤ x_(n−1) and h = (n − 1)·p, q_p = x_⌊h⌋ + (h − ⌊h⌋)(x_(⌊h⌋+1) − x_⌊h⌋);
 * lo95 = q_0.025, hi95 = q_0.975 (h computed exactly: (n − 1)/40 and 39(n − 1)/40).
 * Memory: O(groups·draws + units·draws) plus O(draws) per thread and at most 16 MiB (or one
 * parcel's draws) for the parcels with a volume U, never O(parcels·draws): a parcel's stocks and
 * sink are fixed multiples of one variable (F_g, or (1 + e_i)·F_g), whose percentiles are found
 * once per group or per parcel; units accumulate per draw. Each (parcel, draw) multiplier is
 * drawn once.
 * Progress (the context's callback) is reported between phases; a cancel returns
 * SM_ERR_CANCELLED.
 * On success *out is a new result; the caller frees it with sm_unc_result_destroy().
 * Errors, SM_ERR_INPUT with a message naming the item: options with another version, units 0,
 * years not > 0, draws 0, threads < 0; a group whose svd, bef or cf is not > 0, whose r is not
 * ≥ 0, or whose U95 is negative or not finite; a parcel whose group or unit is out of range,
 * whose volume is missing (NaN) or negative or infinite, whose area is negative or not finite,
 * or whose v_u95_pct is negative or not finite. SM_ERR_NOMEM when units·draws does not fit. */
sm_status sm_uncertainty_mc(sm_unc_result **out, sm_context *ctx, const sm_species_group *groups,
                            size_t ngroups, const sm_unc_parcel *parcels, size_t nparcels,
                            const sm_unc_options *opt);

/* ---- Several groupings in one pass -----------------------------------------------------------
 * A grouping assigns the same parcels to its own aggregation units (by village, species group,
 * age group, ...). sm_uncertainty_approach1_grouped and sm_uncertainty_mc_grouped compute the
 * parcels' own units (sm_unc_parcel.unit) and any number of groupings at once, sharing the
 * factor draws, the volume draws and the per-parcel work between them.
 *
 * *out, when out is not NULL, is exactly the result of sm_uncertainty_approach1 /
 * sm_uncertainty_mc on the same arguments. grouped[k] (k < ngroupings) is a new result with the
 * units and the total, bit for bit, that sm_uncertainty_approach1 / sm_uncertainty_mc give when
 * every parcels[i].unit is replaced by groupings[k].unit[i] and opt->units by
 * groupings[k].units; its nparcels is 0 and it has no parcel figures (they do not depend on the
 * units: see *out). The Monte Carlo's draws are those of sm_uncertainty_mc, so every figure is
 * the same for any thread count and any set of groupings computed alongside.
 * out may be NULL: then the parcels' own units and figures are not computed (and
 * sm_unc_parcel.unit and opt->units are not checked), which saves the Monte Carlo's per-parcel
 * percentiles.
 * Memory: as sm_uncertainty_mc with units = the sum of every grouping's units (and the parcels'
 * own, when out is not NULL).
 * Errors: those of sm_uncertainty_approach1 / sm_uncertainty_mc, and SM_ERR_INPUT for a
 * grouping with 0 units, without a unit array (while there are parcels), or giving a parcel a
 * unit out of range; grouped NULL while ngroupings > 0. On any error *out and every grouped[k]
 * are NULL. The caller frees each result with sm_unc_result_destroy(). */
typedef struct sm_unc_grouping {
    size_t units;       /* number of units (≥ 1) */
    const size_t *unit; /* [nparcels]: parcel i's unit in this grouping, < units */
} sm_unc_grouping;

sm_status sm_uncertainty_approach1_grouped(sm_unc_result **out, sm_unc_result **grouped,
                                           sm_context *ctx, const sm_species_group *groups,
                                           size_t ngroups, const sm_unc_parcel *parcels,
                                           size_t nparcels, const sm_unc_grouping *groupings,
                                           size_t ngroupings, const sm_unc_options *opt);

sm_status sm_uncertainty_mc_grouped(sm_unc_result **out, sm_unc_result **grouped,
                                    sm_context *ctx, const sm_species_group *groups,
                                    size_t ngroups, const sm_unc_parcel *parcels, size_t nparcels,
                                    const sm_unc_grouping *groupings, size_t ngroupings,
                                    const sm_unc_options *opt);

/* Frees a result; NULL is a no-op. */
void sm_unc_result_destroy(sm_unc_result *result);

#ifdef __cplusplus
}
#endif
#endif
