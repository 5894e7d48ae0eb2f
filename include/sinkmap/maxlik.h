/* sinkmap/maxlik.h: the Gaussian maximum likelihood classifier (DOMAIN.md §3) and the χ²
 * quantile it rejects with. Per class a mean vector and a covariance matrix, factored by
 * Cholesky; pure computation on float features, no GDAL. */
#ifndef SINKMAP_MAXLIK_H
#define SINKMAP_MAXLIK_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most features and classes any classifier of sinkmap takes (prediction keeps one vector
 * of each on the stack; class maps are Byte with room for an unclassified code). */
#define SM_MAX_FEATURES 256
#define SM_MAX_CLASSES 250

typedef struct sm_maxlik sm_maxlik;

typedef enum sm_prior {
    SM_PRIOR_EQUAL = 0, /* π_i = 1/k: training polygons rarely sample classes by their area */
    SM_PRIOR_SAMPLE = 1 /* π_i = n_i / n, the classes' shares of the training samples */
} sm_prior;

typedef struct sm_maxlik_options {
    int version;
    sm_prior prior;
    /* A pixel whose winning class has D² > χ²_p(reject_level) is rejected (unclassified).
     * 0 never rejects. 0.999 rejects about one pixel in a thousand of a truly Gaussian class. */
    double reject_level;
} sm_maxlik_options;
#define SM_MAXLIK_OPTIONS_VERSION 1
#define SM_MAXLIK_OPTIONS_INIT {SM_MAXLIK_OPTIONS_VERSION, SM_PRIOR_EQUAL, 0.999}

/* Estimates each class's mean and covariance (divisor n_i − 1) from n samples x[n*p]
 * (row-major, finite) with classes y[n] in 0..k-1, then builds the classifier as
 * sm_maxlik_create() does. class_names[k] and feature_names[p] (either may be NULL) name the
 * class and feature in messages. Errors (SM_ERR_INPUT): a class with fewer than p + 1
 * samples (naming the class and its count), a singular covariance (naming the class and the
 * feature where the factorization failed), p or k out of range. Caller frees *out with
 * sm_maxlik_destroy(). */
sm_status sm_maxlik_train(sm_maxlik **out, sm_context *ctx, const float *x, const int *y,
                          size_t n, int p, int k, const char *const *class_names,
                          const char *const *feature_names, const sm_maxlik_options *opt);

/* Builds the classifier from per-class statistics: mean[k*p], cov[k*p*p] (row-major
 * symmetric), prior[k] (> 0; rescaled to sum to 1), count[k] (the training samples, kept for
 * the record; may be NULL) and the rejection level (0 or in (0,1)). Each covariance is
 * factored as Σ = L Lᵀ; a pivot <= 1e-12 × its diagonal element is singular: SM_ERR_INPUT
 * naming the class and the feature. Caller frees *out with sm_maxlik_destroy(). */
sm_status sm_maxlik_create(sm_maxlik **out, sm_context *ctx, int p, int k, const double *mean,
                           const double *cov, const double *prior, const double *count,
                           double reject_level, const char *const *class_names,
                           const char *const *feature_names);
/* Frees the classifier; NULL is a no-op. */
void sm_maxlik_destroy(sm_maxlik *m);

int sm_maxlik_nfeatures(const sm_maxlik *m);
int sm_maxlik_nclasses(const sm_maxlik *m);
/* Class c's mean (p values), covariance (p*p), prior, training count; owned by m. */
const double *sm_maxlik_mean(const sm_maxlik *m, int c);
const double *sm_maxlik_cov(const sm_maxlik *m, int c);
double sm_maxlik_prior(const sm_maxlik *m, int c);
double sm_maxlik_count(const sm_maxlik *m, int c);
double sm_maxlik_reject_level(const sm_maxlik *m);
/* χ²_p(reject_level), the D² above which the winner is rejected (INFINITY for level 0). */
double sm_maxlik_reject_d2(const sm_maxlik *m);

/* g_c(x) = ln π_c − ½ ln|Σ_c| − ½ D², D² = (x − μ_c)ᵀ Σ_c⁻¹ (x − μ_c), for x[p]; *d2
 * receives D² when d2 is not NULL. */
double sm_maxlik_discriminant(const sm_maxlik *m, int c, const float *x, double *d2);

/* The class of x[p]: the largest discriminant (ties to the lower class index), or -1 when x
 * is rejected (D² of the winner above sm_maxlik_reject_d2) or has a non-finite value.
 * *posterior (may be NULL) receives the winner's posterior probability
 * exp(g_win) / Σ_c exp(g_c) (0 for a non-finite x). Thread-safe: m is only read. */
int sm_maxlik_predict(const sm_maxlik *m, const float *x, float *posterior);

/* The regularized lower incomplete gamma function P(a, x) = γ(a, x) / Γ(a), a > 0, x >= 0. */
double sm_gamma_p(double a, double x);
/* The χ² distribution function with dof degrees of freedom: P(dof/2, q/2). */
double sm_chi2_cdf(double q, int dof);
/* The χ² quantile: q with sm_chi2_cdf(q, dof) = level, for 0 < level < 1 and dof >= 1
 * (Wilson–Hilferty start, then Newton steps kept inside a bracket; relative accuracy 1e-12).
 * NaN for arguments out of range. */
double sm_chi2_quantile(double level, int dof);

#ifdef __cplusplus
}
#endif
#endif
