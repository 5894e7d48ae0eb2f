/* grid.c: north-up grids and windows of cells.
 * Small arithmetic used everywhere a polygon or a block is placed on a raster;
 * boundaries are half-open so that adjacent windows never share a cell. */
#include "sinkmap/grid.h"

#include <math.h>

sm_grid sm_grid_subgrid(const sm_grid *g, const sm_window *win)
{
    sm_grid s = *g;
    s.x0 = g->x0 + (double)win->col0 * g->dx;
    s.y0 = g->y0 - (double)win->row0 * g->dy;
    s.ncols = win->ncols;
    s.nrows = win->nrows;
    return s;
}

sm_window sm_window_intersect(const sm_window *a, const sm_window *b)
{
    sm_window w;
    int64_t c0 = a->col0 > b->col0 ? a->col0 : b->col0;
    int64_t r0 = a->row0 > b->row0 ? a->row0 : b->row0;
    int64_t c1 = (a->col0 + a->ncols) < (b->col0 + b->ncols) ? (a->col0 + a->ncols) : (b->col0 + b->ncols);
    int64_t r1 = (a->row0 + a->nrows) < (b->row0 + b->nrows) ? (a->row0 + a->nrows) : (b->row0 + b->nrows);
    w.col0 = c0;
    w.row0 = r0;
    w.ncols = c1 > c0 ? c1 - c0 : 0;
    w.nrows = r1 > r0 ? r1 - r0 : 0;
    if (w.ncols == 0 || w.nrows == 0)
        w.ncols = w.nrows = 0;
    return w;
}

sm_window sm_grid_window_for_box(const sm_grid *g, double xmin, double ymin, double xmax,
                                 double ymax)
{
    sm_window w = {0, 0, 0, 0};
    double c0 = floor((xmin - g->x0) / g->dx);
    double c1 = ceil((xmax - g->x0) / g->dx);
    double r0 = floor((g->y0 - ymax) / g->dy);
    double r1 = ceil((g->y0 - ymin) / g->dy);
    if (c1 == c0)
        c1 = c0 + 1;
    if (r1 == r0)
        r1 = r0 + 1;
    if (c0 < 0)
        c0 = 0;
    if (r0 < 0)
        r0 = 0;
    if (c1 > (double)g->ncols)
        c1 = (double)g->ncols;
    if (r1 > (double)g->nrows)
        r1 = (double)g->nrows;
    if (!(c1 > c0) || !(r1 > r0))
        return w;
    w.col0 = (int64_t)c0;
    w.row0 = (int64_t)r0;
    w.ncols = (int64_t)(c1 - c0);
    w.nrows = (int64_t)(r1 - r0);
    return w;
}

double sm_grid_cell_area(const sm_grid *g) { return g->dx * g->dy; }
