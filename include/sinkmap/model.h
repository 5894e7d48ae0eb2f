/* sinkmap/model.h: a trained land-cover classifier with its class and feature lists, training
 * samples as plain arrays, and the model file (versioned, checksummed). The class list is the
 * legend of the maps the model writes: class i (0-based) is written as code i + 1. No GDAL. */
#ifndef SINKMAP_MODEL_H
#define SINKMAP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/context.h"
#include "sinkmap/maxlik.h"
#include "sinkmap/rf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Samples ----------------------------------------------------------------------------- */

/* Labelled feature vectors. class_names are sorted (strcmp order) and unique; feature_names
 * describe the features in order ("b1", "b4:nir", "ndvi"). group[i] identifies the reference
 * feature (polygon or point) that sample i comes from, so that splits keep groups whole. */
typedef struct sm_samples {
    size_t n, cap;
    int p, k;
    float *x;      /* n*p, row-major */
    int *y;        /* n, 0..k-1 */
    int64_t *group;
    char **class_names;   /* k */
    char **feature_names; /* p */
} sm_samples;

/* An empty set with these classes and features (copied). Caller frees with
 * sm_samples_destroy(). */
sm_status sm_samples_create(sm_samples **out, sm_context *ctx, int p,
                            const char *const *feature_names, int k,
                            const char *const *class_names);
void sm_samples_destroy(sm_samples *s);
/* Appends one sample (x has p values). */
sm_status sm_samples_add(sm_samples *s, sm_context *ctx, const float *x, int y, int64_t group);
/* counts[k] = samples per class. */
void sm_samples_class_counts(const sm_samples *s, size_t *counts);
/* Keeps at most `max` samples of each class (0: no cap): a class with more is subsampled
 * without replacement by a generator seeded with (seed, class index), and the samples kept
 * stay in their original order. Deterministic for a seed. */
void sm_samples_cap(sm_samples *s, size_t max, uint64_t seed);

/* Moves whole groups into a new test set: for each class, a share `holdout` (0..1) of its
 * groups, drawn by a shuffle seeded with (seed, class), rounded to the nearest whole group
 * and at most all but one, so that every class keeps a group for training. No group ever
 * has samples on both sides. *test has the same classes and features (empty when holdout is
 * 0). Caller frees *test with sm_samples_destroy(). */
sm_status sm_samples_split_groups(sm_samples *s, sm_context *ctx, double holdout, uint64_t seed,
                                  sm_samples **test);
/* The number of distinct groups of class c. */
size_t sm_samples_class_groups(const sm_samples *s, int c);
/* Checks that every class has at least `min` samples: else SM_ERR_INPUT "SOURCE: class 'X'
 * has N training samples (from G features); at least MIN are needed WHY (samples per class:
 * a 3, b 500, ...)". `why` (may be NULL) explains the minimum. */
sm_status sm_samples_require(const sm_samples *s, sm_context *ctx, size_t min, const char *source,
                             const char *why);

/* ---- Models ------------------------------------------------------------------------------ */

typedef enum sm_method { SM_METHOD_MAXLIK = 1, SM_METHOD_RF = 2 } sm_method;

typedef struct sm_model sm_model;

typedef struct sm_model_options {
    int version;
    sm_method method;
    sm_maxlik_options maxlik;
    sm_rf_options rf;
} sm_model_options;
#define SM_MODEL_OPTIONS_VERSION 1
#define SM_MODEL_OPTIONS_INIT                                                                  \
    {SM_MODEL_OPTIONS_VERSION, SM_METHOD_RF, SM_MAXLIK_OPTIONS_INIT, SM_RF_OPTIONS_INIT}

/* Trains a classifier on the samples (classes and features are copied from them). Errors
 * name the class or option (see sm_maxlik_train and sm_rf_train). Caller frees *out with
 * sm_model_destroy(). */
sm_status sm_model_train(sm_model **out, sm_context *ctx, const sm_samples *s,
                         const sm_model_options *opt);
void sm_model_destroy(sm_model *m);

sm_method sm_model_method(const sm_model *m);
const char *sm_model_method_name(sm_method method); /* "maxlik", "rf" */
int sm_model_nclasses(const sm_model *m);
int sm_model_nfeatures(const sm_model *m);
const char *sm_model_class_name(const sm_model *m, int c);
const char *sm_model_feature_name(const sm_model *m, int j);
/* The classifier inside (NULL when the model is of the other method); owned by m. */
const sm_maxlik *sm_model_maxlik(const sm_model *m);
const sm_rf *sm_model_rf(const sm_model *m);
/* The training samples per class (k values), as recorded in the model. */
const double *sm_model_class_counts(const sm_model *m);

/* The map code of a pixel that is rejected (maximum likelihood): 10, the legend's
 * "unclassified", while the classes (codes 1..k) leave it free, else k + 1. */
int sm_model_unclassified_code(const sm_model *m);

/* Classifies x[p]: the class index 0..k-1, or -1 when x has a non-finite value or is
 * rejected (see sm_model_predict_code to tell them apart). *confidence (may be NULL): the
 * random forest's winning vote share, or maximum likelihood's posterior probability. */
int sm_model_predict(const sm_model *m, const float *x, float *confidence);
/* Classifies n pixels x[n*p] into map codes: 0 where a feature is not finite (no data),
 * class + 1, or sm_model_unclassified_code() where rejected. conf (may be NULL) receives the
 * confidence, NaN for no data. Thread-safe. */
void sm_model_predict_codes(const sm_model *m, const float *x, size_t n, uint8_t *code,
                            float *conf);

/* The confusion matrix of the model on samples whose classes are the model's (same names in
 * the same order; else SM_ERR_INPUT naming the first that differs): counts[(k+1)*k], row i
 * < k the predicted class, row k the rejected samples, column j the reference class. */
sm_status sm_model_confusion(const sm_model *m, sm_context *ctx, const sm_samples *s,
                             double *counts);

/* ---- Model files ---------------------------------------------------------------------------
 * Layout (all integers and floats little-endian):
 *   bytes 0-7    magic "SINKMDL\n"
 *   bytes 8-11   format version (uint32, 1)
 *   bytes 12-19  payload length L (uint64)
 *   bytes 20-51  SHA-256 of the payload
 *   bytes 52..   payload (L bytes):
 *     method (uint32: 1 maxlik, 2 rf); k (uint32) and k class names; p (uint32) and p
 *     feature names (each a uint32 length and UTF-8 bytes); k training counts (float64);
 *     maxlik: reject level (float64), then per class prior, mean[p], covariance[p*p]
 *       (float64); the Cholesky factors are recomputed on load;
 *     rf: ntrees, mtry, min_leaf, max_depth (uint32), seed (uint64), OOB error (float64),
 *       then per tree its node count (uint32) and nodes (int32 feature, float32 threshold,
 *       int32 child).
 * Nothing follows the payload. */
#define SM_MODEL_FORMAT_VERSION 1

/* Writes the model to `path` (through a temporary file beside it, renamed into place).
 * Errors: SM_ERR_IO naming the path. */
sm_status sm_model_save(const sm_model *m, sm_context *ctx, const char *path);

/* What the caller will use a model with: checked on load. Any list may be NULL (not
 * checked). */
typedef struct sm_model_expect {
    int nfeatures;                     /* 0: not checked */
    const char *const *feature_names;  /* nfeatures names, or NULL */
    int nclasses;                      /* 0: not checked */
    const char *const *class_names;    /* nclasses names, or NULL */
} sm_model_expect;

/* Reads a model file, checking in order: the magic (not a sinkmap model), the format version
 * (written by a newer sinkmap), the length, the SHA-256 (the file was altered or truncated),
 * the payload's own consistency, then `expect` (may be NULL): the feature count and names,
 * the class count and names, each mismatch naming what differs (the first differing entry,
 * the model's value and the expected one). Every error is SM_ERR_INPUT naming the path.
 * Caller frees *out with sm_model_destroy(). */
sm_status sm_model_load(sm_model **out, sm_context *ctx, const char *path,
                        const sm_model_expect *expect);

/* Checks a model against `expect` as sm_model_load does (`what` names the model in
 * messages, e.g. its path). */
sm_status sm_model_check(const sm_model *m, sm_context *ctx, const char *what,
                         const sm_model_expect *expect);

#ifdef __cplusplus
}
#endif
#endif
