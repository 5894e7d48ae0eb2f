/* sinkmap/volreg.h: a linear regression of stand volume per hectare on per-parcel image
 * features (forest fraction, NBR, drone canopy height and cover), calibrated by least squares
 * and judged by k-fold cross-validation. Pure computation, no GDAL. */
#ifndef SINKMAP_VOLREG_H
#define SINKMAP_VOLREG_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SM_VOLREG_MAX_FEATURES 8

/* y = coef[0] + Σ_j coef[j+1]·x_j. */
typedef struct sm_volreg {
    size_t nfeatures;
    double coef[SM_VOLREG_MAX_FEATURES + 1];
    size_t n;       /* calibration rows */
    double r2;      /* in-sample 1 − SSE/SST */
    double rmse;    /* in-sample sqrt(SSE/n) */
    size_t folds;
    double cv_r2;   /* 1 − Σ(y − ŷ_cv)² / Σ(y − ȳ)², ŷ_cv from the model fitted without y's fold */
    double cv_rmse; /* sqrt(Σ(y − ŷ_cv)² / n) */
} sm_volreg;

/* Fits the model on n rows of p features (x row-major, n × p) by least squares (Householder QR
 * of [1 | x]) and cross-validates it in `folds` folds: the rows are shuffled by a Fisher–Yates
 * permutation driven by splitmix64 from `seed`, and the row at shuffled position j goes to fold
 * j mod folds, so the split is a function of (n, folds, seed) alone. folds = n is leave-one-out.
 * Errors (SM_ERR_INPUT): p = 0 or above SM_VOLREG_MAX_FEATURES; folds < 2 or > n; a training
 * set of fewer than p + 2 rows; a non-finite value; collinear features (rank below p + 1). */
sm_status sm_volreg_fit(sm_volreg *out, sm_context *ctx, const double *x, const double *y, size_t n,
                        size_t p, size_t folds, uint64_t seed);

/* The model's prediction for one row of nfeatures values. */
double sm_volreg_predict(const sm_volreg *m, const double *x);

/* The fold (0 .. folds − 1) of each of the n rows, as sm_volreg_fit splits them. */
void sm_volreg_folds(size_t *fold, size_t n, size_t folds, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
