/* sinkmap/zonal.h: per-parcel statistics of a raster, coverage-weighted, in one pass.
 * Every parcel is projected to the raster's CRS and summarized on the raster's own grid; the
 * raster is read once, strip by strip, by worker threads, whatever the number of parcels or
 * bands, and the results are the same to the last bit for any number of threads. */
#ifndef SINKMAP_ZONAL_H
#define SINKMAP_ZONAL_H

#include <stddef.h>

#include "sinkmap/context.h"
#include "sinkmap/coverage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SM_ZONAL_MAX_BANDS 64

typedef struct sm_zonal_options {
    int version;
    int bands[SM_ZONAL_MAX_BANDS]; /* 1-based band numbers */
    size_t nbands;                 /* 0: band 1 */
    const char *id_field;          /* NULL: the feature id */
    /* Comma-separated statistics: count, sum, mean, min, max, stdev, variance, median,
     * q<P> (weighted quantile at P %, e.g. q10), majority, minority, variety, frac
     * (one column frac_<class> per class value found), weighted_mean (needs weights),
     * area_m2, area_ha, area_mu (covered area), nodata (nodata share). NULL: the default
     * "count,sum,mean,min,max". */
    const char *stats;
    sm_cover_mode mode;
    const char *weights; /* a second raster on the same grid, for weighted_mean */
    const char *encoding; /* the parcels' encoding; NULL = .cpg or default */
    const char *layer;    /* NULL = first layer */
    int threads;          /* worker threads; 0 = one per core */
} sm_zonal_options;
#define SM_ZONAL_OPTIONS_INIT {1, {0}, 0, NULL, NULL, SM_COVER_EXACT, NULL, NULL, NULL, 0}

/* Summarizes `raster` over the polygons of `parcels` and writes `out` (.csv: the id column
 * then one column per statistic, `<stat>_b<N>` when several bands; .gpkg: the parcel layer
 * with those columns added). The output is written to a temporary name and renamed into
 * place, so a failure leaves an existing `out` untouched. Errors (SM_ERR_INPUT) name the
 * file, the band, the field or the statistic. Memory: one strip of rows (about 4 million
 * cells over all bands, whole blocks) per thread, plus one accumulator per parcel and band,
 * plus the values of a parcel when median or q<P> is asked for. Reads go through GDAL's
 * block cache: each block is decoded once, so a small cache (GDAL_CACHEMAX) is enough. */
sm_status sm_zonal(sm_context *ctx, const char *raster, const char *parcels,
                   const sm_zonal_options *opt, const char *out);

#ifdef __cplusplus
}
#endif
#endif
