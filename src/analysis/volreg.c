/* volreg.c: least squares of volume per ha on a few image features, with k-fold
 * cross-validation. Tuned for a few hundred to a few hundred thousand calibration parcels and
 * at most 8 features: each fit is one Householder QR of an n × (p + 1) matrix. */
#include "sinkmap/volreg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void sm_volreg_folds(size_t *fold, size_t n, size_t folds, uint64_t seed)
{
    size_t *perm = malloc((n ? n : 1) * sizeof *perm);
    uint64_t s = seed;
    if (!perm) { /* no shuffle rather than no answer: still a function of (n, folds) */
        for (size_t i = 0; i < n; i++)
            fold[i] = i % folds;
        return;
    }
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(splitmix64(&s) % (uint64_t)i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    for (size_t k = 0; k < n; k++)
        fold[perm[k]] = k % folds;
    free(perm);
}

/* Least squares of y on [1 | x] over the rows where use[i] is nonzero. Returns 0, or -1 when
 * the matrix has rank below p + 1, -2 when out of memory. */
static int lsq(const double *x, const double *y, const unsigned char *use, size_t n, size_t p, double *beta)
{
    size_t m = 0, q = p + 1;
    for (size_t i = 0; i < n; i++)
        m += use[i] != 0;
    double *a = malloc(m * q * sizeof *a), *b = malloc(m * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return -2;
    }
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (!use[i])
            continue;
        a[r * q] = 1.0;
        for (size_t j = 0; j < p; j++)
            a[r * q + j + 1] = x[i * p + j];
        b[r++] = y[i];
    }
    /* Householder QR, column by column; b is transformed alongside. */
    double scale = 0;
    int rc = 0;
    for (size_t k = 0; k < q; k++) {
        double norm = 0;
        for (size_t i = k; i < m; i++)
            norm += a[i * q + k] * a[i * q + k];
        norm = sqrt(norm);
        double colmax = 0;
        for (size_t i = 0; i < m; i++)
            colmax = fmax(colmax, fabs(a[i * q + k]));
        if (norm <= 1e-10 * (colmax > 0 ? colmax : 1) * sqrt((double)m) || norm == 0) {
            rc = -1;
            goto end;
        }
        double alpha = a[k * q + k] > 0 ? -norm : norm;
        double v0 = a[k * q + k] - alpha;
        /* v = (v0, a[k+1..m-1][k]); H = I − 2 v vᵀ / vᵀv */
        double vtv = v0 * v0;
        for (size_t i = k + 1; i < m; i++)
            vtv += a[i * q + k] * a[i * q + k];
        if (vtv > 0) {
            for (size_t j = k + 1; j < q; j++) {
                double d = v0 * a[k * q + j];
                for (size_t i = k + 1; i < m; i++)
                    d += a[i * q + k] * a[i * q + j];
                double f = 2.0 * d / vtv;
                a[k * q + j] -= f * v0;
                for (size_t i = k + 1; i < m; i++)
                    a[i * q + j] -= f * a[i * q + k];
            }
            double d = v0 * b[k];
            for (size_t i = k + 1; i < m; i++)
                d += a[i * q + k] * b[i];
            double f = 2.0 * d / vtv;
            b[k] -= f * v0;
            for (size_t i = k + 1; i < m; i++)
                b[i] -= f * a[i * q + k];
        }
        a[k * q + k] = alpha;
        scale = fmax(scale, fabs(alpha));
    }
    for (size_t k = 0; k < q; k++)
        if (fabs(a[k * q + k]) <= 1e-12 * scale) {
            rc = -1;
            goto end;
        }
    for (size_t k = q; k-- > 0;) {
        double s = b[k];
        for (size_t j = k + 1; j < q; j++)
            s -= a[k * q + j] * beta[j];
        beta[k] = s / a[k * q + k];
    }
end:
    free(a);
    free(b);
    return rc;
}

static double predict(const double *beta, const double *x, size_t p)
{
    double v = beta[0];
    for (size_t j = 0; j < p; j++)
        v += beta[j + 1] * x[j];
    return v;
}

double sm_volreg_predict(const sm_volreg *m, const double *x) { return predict(m->coef, x, m->nfeatures); }

sm_status sm_volreg_fit(sm_volreg *out, sm_context *ctx, const double *x, const double *y, size_t n,
                        size_t p, size_t folds, uint64_t seed)
{
    memset(out, 0, sizeof *out);
    if (p == 0 || p > SM_VOLREG_MAX_FEATURES)
        return sm_error(ctx, SM_ERR_INPUT, "volume model: %zu features; expected 1 to %d", p, SM_VOLREG_MAX_FEATURES);
    if (folds < 2 || folds > n)
        return sm_error(ctx, SM_ERR_INPUT,
                        "volume model: %zu folds for %zu calibration parcels; expected 2 to the number of parcels", folds, n);
    /* the smallest training set leaves out the largest fold, ceil(n / folds) rows */
    if (n - (n + folds - 1) / folds < p + 2)
        return sm_error(ctx, SM_ERR_INPUT,
                        "volume model: %zu calibration parcels are too few for %zu features in %zu folds (each "
                        "training set needs at least %zu)", n, p, folds, p + 2);
    for (size_t i = 0; i < n; i++) {
        int ok = isfinite(y[i]);
        for (size_t j = 0; j < p; j++)
            ok &= isfinite(x[i * p + j]);
        if (!ok)
            return sm_error(ctx, SM_ERR_INPUT, "volume model: calibration row %zu has a missing value", i);
    }
    sm_status st = SM_OK;
    size_t *fold = malloc(n * sizeof *fold);
    unsigned char *use = malloc(n);
    if (!fold || !use) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    memset(use, 1, n);
    int rc = lsq(x, y, use, n, p, out->coef);
    if (rc == -2) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    if (rc != 0) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "volume model: the features are collinear (or constant) over the %zu calibration parcels", n);
        goto end;
    }
    out->nfeatures = p;
    out->n = n;
    out->folds = folds;
    double mean = 0, sse = 0, sst = 0, cvsse = 0;
    for (size_t i = 0; i < n; i++)
        mean += y[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double e = y[i] - predict(out->coef, x + i * p, p);
        sse += e * e;
        sst += (y[i] - mean) * (y[i] - mean);
    }
    sm_volreg_folds(fold, n, folds, seed);
    for (size_t f = 0; f < folds; f++) {
        double beta[SM_VOLREG_MAX_FEATURES + 1];
        for (size_t i = 0; i < n; i++)
            use[i] = fold[i] != f;
        rc = lsq(x, y, use, n, p, beta);
        if (rc == -2) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            goto end;
        }
        if (rc != 0) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "volume model: the features are collinear over the training parcels of fold %zu of %zu "
                          "(use fewer folds or features)", f + 1, folds);
            goto end;
        }
        for (size_t i = 0; i < n; i++)
            if (fold[i] == f) {
                double e = y[i] - predict(beta, x + i * p, p);
                cvsse += e * e;
            }
    }
    out->r2 = sst > 0 ? 1.0 - sse / sst : NAN;
    out->rmse = sqrt(sse / (double)n);
    out->cv_r2 = sst > 0 ? 1.0 - cvsse / sst : NAN;
    out->cv_rmse = sqrt(cvsse / (double)n);
end:
    free(fold);
    free(use);
    return st;
}
