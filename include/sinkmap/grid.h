/* sinkmap/grid.h: a north-up raster grid and windows of its cells.
 * The grid knows nothing of files or CRSs: an origin, a cell size, and a size in cells.
 * Rows run downwards from the upper-left corner (GDAL's convention, no rotation). */
#ifndef SINKMAP_GRID_H
#define SINKMAP_GRID_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sm_grid {
    double x0, y0;  /* upper-left corner of cell (0,0) */
    double dx, dy;  /* cell width and height, both > 0 (y decreases with row) */
    int64_t ncols, nrows;
} sm_grid;

/* A rectangle of cells: cols [col0, col0+ncols), rows [row0, row0+nrows). */
typedef struct sm_window {
    int64_t col0, row0, ncols, nrows;
} sm_window;

/* The sub-grid covering `win` of `g` (same cell size, shifted origin). */
sm_grid sm_grid_subgrid(const sm_grid *g, const sm_window *win);
/* The intersection of two windows (ncols or nrows 0 when empty). */
sm_window sm_window_intersect(const sm_window *a, const sm_window *b);
/* Cells of `g` touched by the box [xmin,xmax]x[ymin,ymax], clipped to the grid. */
sm_window sm_grid_window_for_box(const sm_grid *g, double xmin, double ymin, double xmax,
                                 double ymax);
/* Area of one cell. */
double sm_grid_cell_area(const sm_grid *g);

#ifdef __cplusplus
}
#endif
#endif
