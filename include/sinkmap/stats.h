/* sinkmap/stats.h: streaming, coverage-weighted statistics of one parcel over one raster band.
 * Each cell value x arrives with a weight c (its coverage fraction); partial accumulators
 * from different blocks or threads merge exactly as if every cell had been added to one. */
#ifndef SINKMAP_STATS_H
#define SINKMAP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What an accumulator keeps; more flags, more memory. */
enum {
    SM_STATS_BASIC = 0,        /* count, sum, mean, min, max, variance, stdev, nodata share */
    SM_STATS_VALUES = 1 << 0,  /* keep (value, weight) pairs: median and quantiles */
    SM_STATS_CLASSES = 1 << 1, /* keep a weighted histogram of integer values: majority,
                                  minority, variety, per-class fractions */
    SM_STATS_WEIGHTED = 1 << 2 /* also Σ c·w·x and Σ c·w for a second raster's weights w */
};

typedef struct sm_stats sm_stats;

/* Creates an empty accumulator. Caller frees with sm_stats_destroy(). NULL if out of memory. */
sm_stats *sm_stats_create(unsigned flags);
void sm_stats_destroy(sm_stats *s);
void sm_stats_reset(sm_stats *s);

/* Adds a valid value x with coverage weight c (> 0). Returns SM_ERR_NOMEM if a kept list
 * cannot grow. */
sm_status sm_stats_add(sm_stats *s, double x, double c);
/* Adds x with coverage c and a second raster's weight w (SM_STATS_WEIGHTED). */
sm_status sm_stats_add_weighted(sm_stats *s, double x, double c, double w);
/* Records coverage c of a cell that holds nodata (or is masked). */
void sm_stats_add_nodata(sm_stats *s, double c);
/* Merges src into dst (same flags). The result does not depend on the order of merges
 * beyond floating-point rounding of the sums. */
sm_status sm_stats_merge(sm_stats *dst, const sm_stats *src);

double sm_stats_count(const sm_stats *s);        /* Σc over valid cells */
double sm_stats_nodata_count(const sm_stats *s); /* Σc over nodata cells */
double sm_stats_nodata_share(const sm_stats *s); /* nodata / (valid + nodata); NAN if empty */
double sm_stats_sum(const sm_stats *s);          /* Σcx */
double sm_stats_mean(const sm_stats *s);         /* Σcx / Σc; NAN if empty */
double sm_stats_min(const sm_stats *s);          /* NAN if empty */
double sm_stats_max(const sm_stats *s);
double sm_stats_variance(const sm_stats *s);     /* weighted population variance */
double sm_stats_stdev(const sm_stats *s);
double sm_stats_weighted_mean(const sm_stats *s); /* Σcwx / Σcw (SM_STATS_WEIGHTED) */
/* Weighted quantile q in [0,1] (SM_STATS_VALUES): the smallest x whose cumulative weight
 * share reaches q; the median is q = 0.5. NAN if empty. */
double sm_stats_quantile(sm_stats *s, double q);
/* SM_STATS_CLASSES: the class with the largest (smallest) total weight; ties go to the
 * smaller class value. NAN if empty. */
double sm_stats_majority(const sm_stats *s);
double sm_stats_minority(const sm_stats *s);
size_t sm_stats_variety(const sm_stats *s);
/* Share of the valid weight held by class value k (0 if absent, NAN if empty). */
double sm_stats_class_frac(const sm_stats *s, int64_t k);
/* The classes present, ascending: writes up to cap values, returns how many there are. */
size_t sm_stats_classes(const sm_stats *s, int64_t *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
