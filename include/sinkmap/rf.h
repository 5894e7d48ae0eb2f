/* sinkmap/rf.h: random forest classification (Breiman 2001): CART trees grown deep on
 * bootstrap samples, mtry features tried per split (Gini), majority vote, out-of-bag error.
 * Deterministic for a seed whatever the thread count; trees are flat node arrays. No GDAL. */
#ifndef SINKMAP_RF_H
#define SINKMAP_RF_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/context.h"
#include "sinkmap/maxlik.h" /* SM_MAX_FEATURES, SM_MAX_CLASSES */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sm_rf sm_rf;

typedef struct sm_rf_options {
    int version;
    int ntrees;       /* >= 1; 100-500 is usual */
    int mtry;         /* features tried per split; 0 = floor(sqrt(p)) */
    int min_leaf;     /* >= 1: a split leaves at least this many bootstrap draws on each side */
    int max_depth;    /* 0 = unlimited (grown until pure or min_leaf stops it) */
    uint64_t seed;    /* tree t draws from a stream seeded by (seed, t) */
    int threads;      /* 0 = one per core; the forest does not depend on it */
} sm_rf_options;
#define SM_RF_OPTIONS_VERSION 1
#define SM_RF_OPTIONS_INIT {SM_RF_OPTIONS_VERSION, 100, 0, 1, 0, 1, 0}

/* One node of a tree, in a flat array whose node 0 is the root. An inner node sends x to
 * child (x[feature] <= threshold) or child + 1 (otherwise, and for NaN); a leaf has
 * feature = -1 and its class in child. Children always come after their parent. */
typedef struct sm_rf_node {
    int32_t feature;
    float threshold;
    int32_t child;
} sm_rf_node;

/* Grows opt->ntrees trees on n samples x[n*p] (row-major, finite) with classes y[n] in
 * 0..k-1. Tree t: n draws with replacement from a xoshiro256** stream seeded by splitmix64
 * from (seed, t); at each node, features are drawn without replacement until mtry of them
 * vary within the node (or none is left); the split maximizes the decrease of Gini impurity
 * over thresholds halfway between consecutive distinct values (ties: the first feature drawn,
 * then the lowest threshold). Leaves predict their majority class (ties: the lower index).
 * The out-of-bag error is the share of samples, among those out of the bag of at least one
 * tree, whose out-of-bag majority vote is wrong. Errors: SM_ERR_INPUT naming the option or
 * the sample; SM_ERR_NOMEM. Caller frees *out with sm_rf_destroy(). */
sm_status sm_rf_train(sm_rf **out, sm_context *ctx, const float *x, const int *y, size_t n,
                      int p, int k, const sm_rf_options *opt);

/* Builds a forest from its trees (as sm_rf_tree returns them; copied), checking that every
 * node is well formed (features < p, classes < k, children after their parent and inside the
 * array). params is kept for the record. Errors: SM_ERR_INPUT naming the tree and the node.
 * Caller frees *out with sm_rf_destroy(). */
sm_status sm_rf_from_trees(sm_rf **out, sm_context *ctx, int p, int k, int ntrees,
                           const sm_rf_node *const *trees, const size_t *nnodes,
                           const sm_rf_options *params, double oob_error);
/* Frees the forest; NULL is a no-op. */
void sm_rf_destroy(sm_rf *rf);

int sm_rf_ntrees(const sm_rf *rf);
int sm_rf_nfeatures(const sm_rf *rf);
int sm_rf_nclasses(const sm_rf *rf);
/* The options the forest was grown with (mtry resolved). */
sm_rf_options sm_rf_params(const sm_rf *rf);
/* Tree t's nodes (owned by rf) and their count. */
const sm_rf_node *sm_rf_tree(const sm_rf *rf, int t, size_t *nnodes);
/* The out-of-bag error in [0,1] (NaN when no sample was ever out of bag). */
double sm_rf_oob_error(const sm_rf *rf);

/* The class of x[p] by majority vote (ties: the lower class index), or -1 when x has a
 * non-finite value; *confidence (may be NULL) receives the winner's share of the votes.
 * Thread-safe: rf is only read. */
int sm_rf_predict(const sm_rf *rf, const float *x, float *confidence);

/* Classifies n pixels x[n*p] as sm_rf_predict does into cls[n] (-1 for a non-finite value)
 * and conf[n] (may be NULL). Walks the pixels tree by tree in blocks, so that one tree stays
 * in cache; the results are those of sm_rf_predict exactly. Thread-safe. */
void sm_rf_predict_block(const sm_rf *rf, const float *x, size_t n, int *cls, float *conf);

#ifdef __cplusplus
}
#endif
#endif
