/* sinkmap/accuracy.h: map accuracy and error-adjusted area from a stratified random sample whose
 * strata are the map classes (Olofsson et al. 2014, Remote Sensing of Environment 148:42-57), and
 * the sample size needed for a target precision. Pure computation and CSV, no GDAL. */
#ifndef SINKMAP_ACCURACY_H
#define SINKMAP_ACCURACY_H

#include <stddef.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Estimators ----------------------------------------------------------------------------
 * Notation: k classes; n_ij the sample count of map class i (the stratum) and reference class j;
 * n_i. = Σ_j n_ij (row), n_.j = Σ_i n_ij (column), n = Σ n_ij; A_i the mapped area of class i,
 * A_tot = Σ A_i, W_i = A_i / A_tot.
 *
 * Area-weighted (Olofsson et al. 2014, §4 and eqs. 5-7; DOMAIN.md §3):
 *   p̂_ij   = W_i n_ij / n_i.                          error matrix in proportions of area
 *   p̂_.k   = Σ_i p̂_ik                                 area share of reference class k
 *   Â_k    = A_tot p̂_.k                               error-adjusted area
 *   SE(p̂_.k) = sqrt( Σ_i (W_i p̂_ik − p̂_ik²) / (n_i. − 1) ),  SE(Â_k) = A_tot SE(p̂_.k)
 *   95 % CI half-width = 1.96 SE
 *   U_i = n_ii / n_i.,        V(U_i) = U_i (1 − U_i) / (n_i. − 1)                       (eq. 6)
 *   P_j = p̂_jj / p̂_.j,
 *   V(P_j) = [ W_j² (1 − P_j)² U_j (1 − U_j) / (n_j. − 1)
 *            + P_j² Σ_{i≠j} W_i² (n_ij/n_i.) (1 − n_ij/n_i.) / (n_i. − 1) ] / p̂_.j²      (eq. 7)
 *     (eq. 7 is written with pixel counts N_i. and N̂_.j = Σ_i N_i. n_ij / n_i.; dividing every
 *     N by the total turns N_i. into W_i and N̂_.j into p̂_.j, and the ratio is unchanged.)
 *   O = Σ_j p̂_jj,             V(O) = Σ_i W_i² U_i (1 − U_i) / (n_i. − 1)                (eq. 5)
 *   F1_k = 2 U_k P_k / (U_k + P_k)   (the harmonic mean of the two estimates above)
 * From the sample counts alone (not area-weighted; for comparison with older reports):
 *   overall n_ii sum / n, producer's n_jj / n_.j, and Cohen's (1960) kappa
 *   κ = (p_o − p_e) / (1 − p_e), p_o = Σ n_ii / n, p_e = Σ_i n_i. n_.i / n².
 *   Kappa is reported for compatibility only (Olofsson et al. 2014 advise against using it).
 * Undefined values (P_j when p̂_.j = 0, κ when p_e = 1) are NaN. */

typedef struct sm_accuracy sm_accuracy;

/* The estimates for one class (as map class i and as reference class k = i). */
typedef struct sm_accuracy_class {
    const char *name;
    double mapped_area;             /* A_i, ha */
    double weight;                  /* W_i */
    double samples;                 /* n_i. */
    double reference_samples;       /* n_.i */
    double area_share;              /* p̂_.i */
    double area_share_se;           /* SE(p̂_.i) */
    double area;                    /* Â_i, ha */
    double area_se;                 /* SE(Â_i), ha */
    double area_ci95;               /* 1.96 SE(Â_i), ha */
    double users, users_se;         /* U_i, sqrt(V(U_i)) */
    double producers, producers_se; /* P_i, sqrt(V(P_i)) */
    double f1;
    double producers_sample; /* n_ii / n_.i */
} sm_accuracy_class;

typedef struct sm_accuracy_overall {
    double total_area;          /* A_tot, ha */
    double samples;             /* n */
    double overall, overall_se; /* O, sqrt(V(O)) */
    double overall_sample;      /* Σ n_ii / n */
    double kappa;
} sm_accuracy_overall;

/* Computes every estimate above from k >= 2 classes: names[k], counts[k*k] row-major as
 * counts[i*k + j] = n_ij (map i, reference j), mapped_ha[k]. `source` names the input in
 * messages (e.g. the counts file; NULL: "the sample"). Errors (SM_ERR_INPUT) name the class: a
 * negative or fractional count, a map class with fewer than 2 samples (its variance needs
 * n_i. − 1 > 0; a class with no mapped area and no sample as map class is allowed: a
 * reference-only column, whose U_i is NaN), a negative or non-finite area, a total area of 0. Names are copied. Caller frees
 * *out with sm_accuracy_destroy(). */
sm_status sm_accuracy_compute(sm_accuracy **out, sm_context *ctx, size_t k,
                              const char *const *names, const double *counts,
                              const double *mapped_ha, const char *source);
/* Frees the estimates; NULL is a no-op. */
void sm_accuracy_destroy(sm_accuracy *a);

size_t sm_accuracy_nclasses(const sm_accuracy *a);
/* Class i (0-based, the input order), owned by a; NULL when i is out of range. */
const sm_accuracy_class *sm_accuracy_class_at(const sm_accuracy *a, size_t i);
const sm_accuracy_overall *sm_accuracy_overall_get(const sm_accuracy *a);
/* n_ij and p̂_ij (map i, reference j). */
double sm_accuracy_count(const sm_accuracy *a, size_t i, size_t j);
double sm_accuracy_proportion(const sm_accuracy *a, size_t i, size_t j);

/* ---- Sample size for a target standard error of overall accuracy ---------------------------
 * Olofsson et al. (2014) eq. 13, which is Cochran (1977, Sampling Techniques, 3rd ed.) eq. 5.25
 * for stratified random sampling with the population variance of stratum i taken as
 * S_i² = U_i (1 − U_i), U_i the expected user's accuracy of class i:
 *   n = (Σ_i W_i S_i)² / ( S(Ô)² + (1/N) Σ_i W_i S_i² )
 * N the number of sampling units (pixels) in the map; when N is unknown (0) the finite
 * population term is dropped and n = (Σ_i W_i S_i / S(Ô))², the form printed in the paper
 * (for a map of millions of pixels the two agree to far less than one sample).
 * n is rounded up. Allocations of n to the strata, each rounded to whole samples by largest
 * remainders so that they add up to n:
 *   proportional  n_i = n W_i
 *   neyman        n_i = n W_i S_i / Σ_j W_j S_j   (minimum variance of Ô for this n; Cochran 5.24)
 *   suggested     at least min_per_class samples in every class, the rest of n allocated
 *                 proportionally to W among the classes above the minimum (Olofsson et al.
 *                 2014 §5.1.2 suggest 50-100 samples for rare classes); its total exceeds n when
 *                 k × min_per_class does. */
typedef struct sm_sample_plan {
    double n_exact;   /* eq. 5.25 before rounding */
    long n;           /* ceil(n_exact) */
    long n_suggested; /* Σ suggested */
} sm_sample_plan;

/* weights[k] (W_i >= 0, rescaled to sum to 1), users[k] in [0,1], population N >= 0 (0: unknown),
 * 0 < target_se < 1, min_per_class >= 0. The three allocations go to the arrays
 * of k longs given (any may be NULL). Errors are SM_ERR_INPUT naming the value. */
sm_status sm_sample_size(sm_context *ctx, size_t k, const double *weights, const double *users,
                         double population, double target_se, long min_per_class,
                         sm_sample_plan *plan, long *proportional, long *neyman, long *suggested);

/* ---- Reading the tables and writing the report ---------------------------------------------- */

/* The inputs of `sinkmap area-estimate`, as read from its CSV files. */
typedef struct sm_area_input {
    size_t nclasses;
    char **names;        /* in the order of COUNTS.csv (or of MAPPED.csv without counts) */
    double *counts;      /* nclasses², map row by reference column; NULL without a counts file */
    double *mapped_ha;   /* ha */
    double *expected_ua; /* MAPPED.csv's optional expected_ua column; NULL when absent */
    double population;   /* Σ pixels when the areas were given in pixels; 0 otherwise */
    char *counts_path;   /* as given (a copy); NULL without a counts file */
    char *mapped_path;
} sm_area_input;

/* Reads COUNTS.csv (may be NULL: planning only) and MAPPED.csv.
 * COUNTS.csv: a header row whose first cell labels the row-label column (e.g. "map") and whose
 *   other cells name the reference classes; one row per map class, its label in the first column,
 *   then the sample counts. Rows and columns must list the same classes in the same order.
 * MAPPED.csv: columns `class` and `area` (any case, in any order, other columns ignored), one row
 *   per class; `area` in ha, or in pixels when pixel_area_m2 > 0 (then ha = pixels × m² / 10,000
 *   and N = Σ pixels). Optional column `expected_ua` in [0,1] for sample-size planning.
 * Class names are compared after trimming, ignoring ASCII case. Every error (SM_ERR_INPUT) names
 * the file, the line and the class. Caller frees *out with sm_area_input_destroy(). */
sm_status sm_area_input_read(sm_area_input **out, sm_context *ctx, const char *counts_csv,
                             const char *mapped_csv, double pixel_area_m2);
void sm_area_input_destroy(sm_area_input *in);

/* ---- The whole `sinkmap area-estimate` ------------------------------------------------------ */

typedef struct sm_area_options {
    int version;
    double pixel_area_m2; /* > 0: MAPPED.csv areas are pixel counts of this size; 0: ha */
    double target_se;     /* > 0: plan the sample size for this S(Ô); 0: no planning */
    long min_per_class;   /* the minimum of the suggested allocation */
} sm_area_options;
#define SM_AREA_OPTIONS_INIT {1, 0.0, 0.0, 50}

typedef struct sm_area_result {
    sm_area_input *input;
    sm_accuracy *accuracy; /* NULL without a counts file */
    int has_plan;          /* 1 when target_se was given */
    int expected;          /* 1: S_i from expected_ua; 0: from the observed U_i */
    double target_se;
    long min_per_class;
    sm_sample_plan plan;
    double *s;                               /* S_i = sqrt(U_i (1 − U_i)), nclasses */
    long *proportional, *neyman, *suggested; /* nclasses each */
} sm_area_result;

/* Reads the inputs, computes the estimates (when counts_csv is given) and the sample-size plan
 * (when opt->target_se > 0; needs counts or an expected_ua column). Caller frees *out with
 * sm_area_result_destroy(). */
sm_status sm_area_estimate(sm_area_result **out, sm_context *ctx, const char *counts_csv,
                           const char *mapped_csv, const sm_area_options *opt);
void sm_area_result_destroy(sm_area_result *r);

/* Writes the result as one tidy CSV with the columns section,class,reference,measure,value:
 *   input       class  ""   mapped_area_ha, weight, samples, expected_ua
 *   counts      map    ref  n            (the sample error matrix n_ij, map row, reference column)
 *   proportions map    ref  p            (p̂_ij)
 *   class       class  ""   reference_samples, area_share, area_share_se, area_ha, area_se_ha,
 *                           area_ci95_ha, area_ci95_low_ha, area_ci95_high_ha, users, users_se,
 *                           users_ci95, producers, producers_se, producers_ci95, f1,
 *                           producers_sample
 *   overall     ""     ""   total_area_ha, samples, overall, overall_se, overall_ci95,
 *                           overall_sample, kappa
 *   sample_size ""     ""   target_se, population, expected_ua (1 when S_i came from the
 *                           expected_ua column, 0 from the observed U_i), n_exact, n,
 *                           min_per_class, n_suggested
 *   sample_size class  ""   s, proportional, neyman, suggested
 * Numbers are written in full precision; undefined values (NaN) are empty cells. The file is
 * written to a temporary name beside `path` and renamed into place, so a failure leaves an
 * existing file untouched. */
sm_status sm_area_result_write(const sm_area_result *r, sm_context *ctx, const char *path);

#ifdef __cplusplus
}
#endif
#endif
