/* sinkmap/carbon.h: forest stock and carbon per parcel: sourced parameter tables, growth to a date,
 * carbon by volume factors (IPCC) and by Fang's continuous BEF, sinks between dates, uncertainty.
 * Pure computation, no GDAL: every figure can be traced to a table row, its source and its hash. */
#ifndef SINKMAP_CARBON_H
#define SINKMAP_CARBON_H

#include <stddef.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Units --------------------------------------------------------------------------------
 * Volume in m³/ha, biomass in t dry matter/ha, carbon in t C (or t C/ha), CO2 in t CO2e.
 * 1 ha = 15 mu (亩); 1 t C = 44/12 t CO2 (ratio of molar masses). */
#define SM_MU_PER_HA 15.0
#define SM_CO2_PER_C (44.0 / 12.0)
/* Relative difference (to method a) above which the two carbon methods are flagged. */
#define SM_METHOD_DIFF_FLAG 0.15

double sm_ha_to_mu(double ha);
double sm_mu_to_ha(double mu);
/* t C to t CO2e (× 44/12). */
double sm_c_to_co2e(double t_c);

/* ---- Parameter tables ----------------------------------------------------------------------
 * Loaded from a data folder holding species_groups.csv, species_map.csv, growth_richards.csv,
 * landcover_legend.csv, dilei_landcover.csv and pools_invest.csv. Every number is range-checked
 * on load; an error names file, line, column and value. The records below are read-only views
 * owned by the sm_params they came from; their strings live as long as it does. */
typedef struct sm_params sm_params;

typedef enum sm_origin {
    SM_ORIGIN_NATURAL = 1, /* QI_YUAN 11 natural, 12 assisted regeneration, 13 natural coppice */
    SM_ORIGIN_PLANTED = 2  /* QI_YUAN 21 planted, 22 direct seeding, 23 aerial seeding */
} sm_origin;

/* One species group: volume-method factors with their 95 % half-widths (in % of the value) and
 * Fang's continuous-BEF coefficients (total biomass B = fang_a·V + fang_b, roots included). */
typedef struct sm_species_group {
    const char *key;     /* "cypress" */
    const char *name_zh; /* "柏木" */
    const char *name_en;
    double svd, svd_u95; /* basic wood density, t d.m./m³ */
    double bef, bef_u95; /* above-ground biomass / stem biomass */
    double r, r_u95;     /* root-to-shoot ratio */
    double cf, cf_u95;   /* carbon fraction of dry matter */
    double fang_a;       /* t d.m. per m³ */
    double fang_b;       /* t d.m./ha */
    const char *factor_source;
    const char *fang_source;
    int verified; /* 1 when the row's `verified` column says yes */
} sm_species_group;

/* Richards growth curve V(t) = a (1 − b e^(−k t))^(1/(1−m)) in m³/ha, t in years. */
typedef struct sm_growth_curve {
    const char *group; /* species group key */
    sm_origin origin;
    double a, b, k, m;
    double max_age; /* the curve is not used beyond this age (years) */
    const char *source;
    int verified;
} sm_growth_curve;

/* One class of the land-cover legend. */
typedef struct sm_landcover_class {
    int code;
    const char *key; /* "tree_forest" */
    const char *name_zh;
    const char *name_en;
    const char *color; /* "#1a7a1a" */
    int is_forest;
} sm_landcover_class;

/* One row of the DI_LEI (inventory land class) to land-cover map. */
typedef struct sm_dilei_class {
    const char *code_prefix; /* "0303" matches 030301, 030302, ... */
    int landcover;           /* a legend code */
    const char *name_zh;
    const char *name_en;
    const char *source;
} sm_dilei_class;

/* Carbon pools of a land-cover class in the InVEST Carbon convention, t C/ha. */
typedef struct sm_carbon_pools {
    int lucode;
    const char *name;
    int has_values; /* 0: the row's four pools are empty: no estimate exists for the class */
    double c_above, c_below, c_soil, c_dead;
    const char *source;
    int verified;
} sm_carbon_pools;

/* A table file that was loaded, for run.json and the ledger. */
typedef struct sm_param_file {
    const char *table;  /* "species_groups" */
    const char *path;   /* as opened */
    const char *sha256; /* of the bytes parsed, 64 lower-case hex digits */
} sm_param_file;

/* A parameter row not marked verified. */
typedef struct sm_param_row {
    const char *table;  /* "growth_richards" */
    const char *key;    /* "cypress/natural" */
    const char *source; /* the row's source text */
    const char *path;
    long line;
} sm_param_row;

/* Loads the six tables from data_dir (NULL: the data folder of the source tree the library was
 * built from). Caller frees *out with sm_params_destroy(). Fails with SM_ERR_INPUT naming file,
 * line, column and value on any bad or inconsistent row (unknown group, duplicate key, a number
 * out of range, a missing source in a table of numbers). */
sm_status sm_params_load(sm_params **out, sm_context *ctx, const char *data_dir);
/* Replaces the carbon-pool table by the InVEST-style CSV at path (columns lucode, c_above,
 * c_below, c_soil, c_dead, source, verified; name optional). On failure p is unchanged. */
sm_status sm_params_load_pools(sm_params *p, sm_context *ctx, const char *path);
/* Frees the parameters; NULL is a no-op. */
void sm_params_destroy(sm_params *p);

/* The files loaded (six, in load order). Owned by p. */
size_t sm_params_file_count(const sm_params *p);
const sm_param_file *sm_params_file(const sm_params *p, size_t i);

/* Rows whose `verified` column is not yes: sets *rows to an array owned by p (valid until p is
 * destroyed or its pools reloaded) and returns its length. Tables of numbers (species_groups,
 * growth_richards, pools_invest) must have the column; the mapping tables are listed only when
 * they have one. */
size_t sm_params_unverified(const sm_params *p, const sm_param_row **rows);

/* Species groups, in file order. Owned by p. */
size_t sm_params_group_count(const sm_params *p);
const sm_species_group *sm_params_group(const sm_params *p, size_t i);
/* The group with this key, or NULL. */
const sm_species_group *sm_params_group_find(const sm_params *p, const char *key);

/* The group of a species name (e.g. YOU_SHI_SZ), compared exactly after trimming white space
 * (ASCII, U+00A0 and the ideographic space U+3000): first the species column of species_map.csv,
 * then a group key, then a group's Chinese name. An unknown name is SM_ERR_INPUT with up to three
 * closest known names (edit distance on code points). *out is owned by p. */
sm_status sm_params_species(const sm_params *p, sm_context *ctx, const char *species,
                            const sm_species_group **out);

/* Origin from a QI_YUAN code ("11", "12", "13" natural; "21", "22", "23" planted) or from
 * "natural"/"planted"/"天然"/"人工". Anything else is SM_ERR_INPUT. */
sm_status sm_origin_parse(sm_context *ctx, const char *text, sm_origin *out);
/* "natural" or "planted" (static string). */
const char *sm_origin_name(sm_origin origin);

/* The growth curve of a group and origin; SM_ERR_INPUT when the table has none. *out owned by p. */
sm_status sm_params_growth(const sm_params *p, sm_context *ctx, const sm_species_group *group,
                           sm_origin origin, const sm_growth_curve **out);

/* Land-cover legend, in file order; find returns NULL for an unknown code. Owned by p. */
size_t sm_params_landcover_count(const sm_params *p);
const sm_landcover_class *sm_params_landcover(const sm_params *p, size_t i);
const sm_landcover_class *sm_params_landcover_find(const sm_params *p, int code);

/* The row of dilei_landcover.csv whose code_prefix is the longest prefix of the trimmed DI_LEI
 * code. No match is SM_ERR_INPUT (with a hint when a numeric field lost its leading zero).
 * *out is owned by p. */
sm_status sm_params_dilei(const sm_params *p, sm_context *ctx, const char *dilei,
                          const sm_dilei_class **out);

/* Carbon pools, in file order. Owned by p. */
size_t sm_params_pools_count(const sm_params *p);
const sm_carbon_pools *sm_params_pools_at(const sm_params *p, size_t i);
/* The pools of a class; SM_ERR_INPUT when the class has no row or a row without values.
 * *out is owned by p. */
sm_status sm_params_pools(const sm_params *p, sm_context *ctx, int lucode,
                          const sm_carbon_pools **out);
/* c_above + c_below + c_soil + c_dead (t C/ha). */
double sm_pools_total(const sm_carbon_pools *pools);

/* ---- Dates --------------------------------------------------------------------------------- */

typedef struct sm_date {
    int year, month, day;
} sm_date;

/* Parses "YYYY-MM-DD" (exactly; proleptic Gregorian, years 1000–9999, a real day of the month). */
sm_status sm_date_parse(sm_context *ctx, const char *text, sm_date *out);
int sm_days_in_year(int year);
/* 1 for January 1st. The date must be valid. */
int sm_day_of_year(sm_date d);
/* year + (day_of_year − 0.5) / days_in_year: the middle of the day as a fraction of the year. */
double sm_decimal_year(sm_date d);

/* ---- Growth -------------------------------------------------------------------------------- */

/* V(t) = a (1 − b e^(−k t))^(1/(1−m)), m³/ha. The caller keeps t within (0, max_age]. */
double sm_richards(const sm_growth_curve *curve, double age);

/* Projects an inventory volume from its survey to a date by the ratio method:
 *   age(d) = age_at_survey + (decimal_year(d) − (survey_year + 0.5))   (survey taken as mid-year)
 *   V(d)   = V_inv × V_curve(age(d)) / V_curve(age_at_survey)
 * so that the projected volume equals the surveyed one at the survey date whatever the curve's
 * level. Errors (SM_ERR_INPUT, naming the parcel, group, origin, age and max): missing (NaN) or
 * negative volume; age at the survey or at the date ≤ 0 or beyond the curve's max_age; a survey
 * year outside 1900–2200. age_out may be NULL. `parcel` labels messages (NULL allowed). */
sm_status sm_project_volume(sm_context *ctx, const sm_growth_curve *curve, const char *parcel,
                            double volume_m3_ha, double age_at_survey, int survey_year,
                            sm_date date, double *volume_out, double *age_out);

/* ---- Carbon of a stand from its volume ---------------------------------------------------- */

/* Carbon density of a stand, both methods of DOMAIN.md §4, t C/ha.
 * (a) volume factors (IPCC 2006 Vol. 4, ch. 2 and 4):
 *       above = V·SVD·BEF·CF, below = V·SVD·BEF·R·CF, total = above + below = V·SVD·BEF·(1+R)·CF
 * (b) Fang's continuous BEF: biomass B = a·V + b (t d.m./ha, roots included), fang = B·CF with the
 *     group's CF. The intercept b is a regression artefact at low volume (B > 0 at V = 0), so at
 *     V = 0 method (b) is taken as 0, and at small V it exceeds (a) by far: see methods_differ. */
typedef struct sm_carbon {
    double above;        /* (a) above-ground, t C/ha */
    double below;        /* (a) below-ground, t C/ha */
    double total;        /* (a) above + below, t C/ha */
    double u95_pct;      /* Approach 1 half-width of (a) from the group's factor U95s (V exact) */
    double fang_biomass; /* (b) B, t d.m./ha */
    double fang;         /* (b) t C/ha */
    double rel_diff;     /* (fang − total) / total; 0 when both are 0 */
    int methods_differ;  /* |rel_diff| > SM_METHOD_DIFF_FLAG */
} sm_carbon;

/* Fills *out for a stand of volume_m3_ha (≥ 0; NaN is "missing" and an error) of a group.
 * `parcel` labels messages (NULL allowed). */
sm_status sm_carbon_from_volume(sm_context *ctx, const sm_species_group *group, const char *parcel,
                                double volume_m3_ha, sm_carbon *out);

/* Approach 1 U95 (%) of method (a) total for a group: the product rule over V, SVD, BEF, (1+R)
 * and CF, where the half-width of (1+R) is that of R scaled by R/(1+R) (R's absolute error over
 * 1 + R). volume_u95_pct is the inventory volume's own U95 (0 to leave it out). */
double sm_carbon_u95(const sm_species_group *group, double volume_u95_pct);

/* ---- Sink between two dates (IPCC 2006 Vol. 4 eq. 2.5, stock difference) -------------------
 * Sign convention: a sink is reported as a POSITIVE REMOVAL. When the stock grows between d1 and
 * d2 the removal is > 0; a falling stock gives a negative removal (a net emission).
 *   t_c_per_yr    = (stock2 − stock1) / (decimal_year(d2) − decimal_year(d1))
 *   t_co2e_per_yr = t_c_per_yr × 44/12
 * The stocks may be in t C (a parcel) or t C/ha (a density); the result is per year in the same
 * unit. */
typedef struct sm_sink {
    double years;         /* t2 − t1 */
    double t_c_per_yr;    /* removal, t C/yr (positive = sink) */
    double t_co2e_per_yr; /* removal, t CO2e/yr (positive = sink) */
} sm_sink;

/* SM_ERR_INPUT when d2 is not after d1 or a stock is NaN or infinite. */
sm_status sm_sink_between(sm_context *ctx, double stock1, sm_date d1, double stock2, sm_date d2,
                          sm_sink *out);

/* ---- Sink by gain–loss (IPCC 2006 Vol. 4 eqs. 2.7, 2.9, 2.10, 2.11) --------------------------
 * ΔC = ΔC_G − ΔC_L, reported like sm_sink as a POSITIVE REMOVAL (t C/yr).
 *   level  = V_inv / R(age_survey)          the stand's own level against its Richards curve R
 *   age1   = the stand's age at d1 (as in sm_project_volume)
 *   I_V    = level × (R(age1 + 1) − R(age1))   annual increment at age1, m³/ha/yr; the backward
 *            difference level × (R(age1) − R(age1 − 1)) when age1 + 1 is beyond max_age
 *   F      = SVD · BEF · (1 + R) · CF          t C per m³ (the stock's factors stand in for BCEF_I)
 *   gain   = area × kept2 × I_V × F            growth on the forest that is still standing at d2
 *   loss   = area × max(0, kept1 − kept2) × V(d2) × F / (t2 − t1)
 *            the carbon of the volume the imagery shows removed within the period (V(d2) the
 *            projected volume at d2 before any loss), spread over the period's years
 * kept1, kept2 ∈ [0, 1] are the shares of the stand's forest still standing at d1 and d2
 * (1 = no loss seen; ff(d)/ff(reference) where the imagery shows a loss). */
typedef struct sm_gain_loss {
    double years;         /* t2 − t1 */
    double increment;     /* I_V, m³/ha/yr */
    double gain;          /* ΔC_G, t C/yr (≥ 0) */
    double loss;          /* ΔC_L, t C/yr (≥ 0) */
    double t_c_per_yr;    /* gain − loss (positive = sink) */
    double t_co2e_per_yr; /* × 44/12 */
} sm_gain_loss;

/* Annual increment I_V (m³/ha/yr) at `age` of a stand whose inventory volume was volume_m3_ha
 * at age_at_survey, by the rule above. SM_ERR_INPUT (naming the parcel) when a volume is missing
 * or negative, or an age is not > 0 or beyond the curve's max_age. */
sm_status sm_increment(sm_context *ctx, const sm_growth_curve *curve, const char *parcel,
                       double volume_m3_ha, double age_at_survey, double age, double *out);

/* Gain–loss of a stand between d1 < d2 (see above). Errors as sm_project_volume, and kept1,
 * kept2 outside [0, 1], area not ≥ 0. */
sm_status sm_gain_loss_between(sm_context *ctx, const sm_species_group *group,
                               const sm_growth_curve *curve, const char *parcel,
                               double volume_m3_ha, double age_at_survey, int survey_year,
                               sm_date d1, sm_date d2, double area_ha, double kept1, double kept2,
                               sm_gain_loss *out);

/* ---- IPCC Approach 1 uncertainty (2006 Vol. 1 ch. 3, eqs. 3.1 and 3.2) ----------------------
 * U is the 95 % half-width in percent of the value. */

/* Product of quantities: U = sqrt(Σ U_i²). 0 for n = 0. */
double sm_u95_product(const double *u_pct, size_t n);
/* Sum of quantities x_i: U = sqrt(Σ (U_i x_i)²) / |Σ x_i|. NaN when Σ x_i = 0 (undefined). */
double sm_u95_sum(const double *u_pct, const double *x, size_t n);

#ifdef __cplusplus
}
#endif
#endif
