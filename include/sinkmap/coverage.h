/* sinkmap/coverage.h: the share of each raster cell that a polygon covers.
 * Exact mode gives area(polygon ∩ cell) / area(cell) in double precision; center and
 * touched modes give 0/1 weights, to compare with tools that rasterize by those rules. */
#ifndef SINKMAP_COVERAGE_H
#define SINKMAP_COVERAGE_H

#include <stddef.h>

#include "sinkmap/context.h"
#include "sinkmap/grid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A ring: npoints (x,y) pairs in xy[2*i], xy[2*i+1], in the grid's CRS. The closing point
 * may be repeated or not. Orientation does not matter. */
typedef struct sm_ring {
    const double *xy;
    size_t npoints;
} sm_ring;

/* A polygon: rings[0] is the shell, the others are holes. A multipolygon is an array of
 * these whose parts do not overlap (as after GEOSMakeValid). */
typedef struct sm_polygon {
    const sm_ring *rings;
    size_t nrings;
} sm_polygon;

typedef enum sm_cover_mode {
    SM_COVER_EXACT = 0,   /* area share, in [0,1] */
    SM_COVER_CENTER = 1,  /* 1 where the cell's centre lies inside (a centre exactly on the
                             boundary is inside on the polygon's left and top edges) */
    SM_COVER_TOUCHED = 2  /* 1 where the polygon's interior meets the cell's interior (a cell
                             that the polygon only meets along an edge or at a corner is not
                             counted) */
} sm_cover_mode;

/* Weights of the cells in `win` (a window of the grid, row-major, win.nrows*win.ncols
 * values). The caller owns `frac` and its capacity; sm_coverage_compute grows it. */
typedef struct sm_coverage {
    sm_window win;
    double *frac;
    size_t cap;
} sm_coverage;

/* Computes the weights of every cell of `grid` that the (multi)polygon may touch. On return
 * out->win is the window of `grid` holding the polygon's bounding box clipped to the grid
 * (empty, ncols = nrows = 0, when the polygon lies outside), and out->frac its weights.
 * Parts of the polygon outside the grid contribute nothing; cells inside are exact.
 * Reuses out->frac when large enough; free it with sm_coverage_free(). */
sm_status sm_coverage_compute(sm_coverage *out, sm_context *ctx, const sm_grid *grid,
                              const sm_polygon *parts, size_t nparts, sm_cover_mode mode);

/* Frees out->frac (the struct itself is the caller's). NULL is a no-op. */
void sm_coverage_free(sm_coverage *cov);

/* Signed-free area of a (multi)polygon: Σ |shell| − Σ |holes|, in CRS units². */
double sm_polygon_area(const sm_polygon *parts, size_t nparts);

#ifdef __cplusplus
}
#endif
#endif
