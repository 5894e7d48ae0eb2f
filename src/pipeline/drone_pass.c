/* drone_pass.c: per-parcel canopy statistics from a drone canopy-height model on its own grid.
 * A 0.5 m CHM is never resampled to the satellite grid: parcels are projected into the CHM's
 * CRS and summed with exact coverage over its cells, strip by strip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/internal.h"
#include "sinkmap/coverage.h"

typedef struct row_item {
    size_t idx;
    int64_t row0, row1;
} row_item;

static int cmp_items(const void *a, const void *b)
{
    const row_item *x = a, *y = b;
    if (x->row0 != y->row0)
        return x->row0 < y->row0 ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

sm_status sm__drone_pass(sm_context *ctx, sm__plan *plan, size_t d)
{
    const sm_job_drone *jd = &plan->job->drones[d];
    sm_status st;
    sm_raster *r = NULL;
    sm_parcel_geoms *geoms = NULL;
    row_item *items = NULL;
    double *buf = NULL;
    sm_coverage cov = {{0, 0, 0, 0}, NULL, 0};
    if ((st = sm_raster_open(&r, ctx, jd->chm)) != SM_OK)
        return st;
    if ((st = sm_parcels_project(&geoms, ctx, plan->parcels, sm_raster_crs_wkt(r))) != SM_OK)
        goto end;
    sm_grid g = sm_raster_grid(r);
    int64_t strip = sm__strip_rows(g.ncols);
    items = malloc((plan->nparcels ? plan->nparcels : 1) * sizeof *items);
    size_t n;
    if (sm_mul_size((size_t)strip, (size_t)g.ncols, &n)) {
        st = sm_error(ctx, SM_ERR_NOMEM, "%s: strip size overflows", jd->chm);
        goto end;
    }
    buf = malloc(n * sizeof *buf);
    if (!items || !buf) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    size_t nitems = 0;
    for (size_t p = 0; p < plan->nparcels; p++) {
        double x0, y0, x1, y1;
        if (!sm_parcel_geoms_bbox(geoms, p, &x0, &y0, &x1, &y1))
            continue;
        sm_window w = sm_grid_window_for_box(&g, x0, y0, x1, y1);
        if (w.nrows == 0)
            continue;
        items[nitems].idx = p;
        items[nitems].row0 = w.row0;
        items[nitems].row1 = w.row0 + w.nrows;
        nitems++;
    }
    qsort(items, nitems, sizeof *items, cmp_items);
    size_t first = 0;
    char msg[128];
    snprintf(msg, sizeof msg, "drone %s: canopy height per parcel", jd->id);
    for (int64_t r0 = 0; r0 < g.nrows; r0 += strip) {
        sm_window win = {0, r0, g.ncols, (r0 + strip > g.nrows) ? g.nrows - r0 : strip};
        while (first < nitems && items[first].row1 <= r0)
            first++;
        if (first >= nitems)
            break;
        if (items[first].row0 >= r0 + win.nrows)
            continue; /* no parcel in this strip: it is not read */
        if ((st = sm_raster_read(r, ctx, 1, &g, &win, SM_RESAMPLE_NEAREST, buf)) != SM_OK)
            goto end;
        plan->cells_read += (size_t)win.ncols * (size_t)win.nrows;
        sm_grid sub = sm_grid_subgrid(&g, &win);
        for (size_t k = first; k < nitems && items[k].row0 < r0 + win.nrows; k++) {
            if (items[k].row1 <= r0)
                continue;
            size_t p = items[k].idx, nparts;
            const sm_polygon *parts = sm_parcel_geoms_parts(geoms, p, &nparts);
            if ((st = sm_coverage_compute(&cov, ctx, &sub, parts, nparts, SM_COVER_EXACT)) != SM_OK)
                goto end;
            sm__drone_acc *acc = &plan->dacc[p * plan->job->ndrones + d];
            acc->cell_area = g.dx * g.dy;
            for (int64_t rr = 0; rr < cov.win.nrows; rr++) {
                const double *fr = cov.frac + (size_t)rr * (size_t)cov.win.ncols;
                const double *hv = buf + (size_t)(cov.win.row0 + rr) * (size_t)win.ncols + (size_t)cov.win.col0;
                for (int64_t cc = 0; cc < cov.win.ncols; cc++) {
                    double c = fr[cc];
                    if (c <= 0)
                        continue;
                    double h = hv[cc];
                    if (isnan(h)) {
                        acc->nodata += c;
                        continue;
                    }
                    acc->sum_h += c * h;
                    acc->w += c;
                    if (h >= jd->canopy_height)
                        acc->canopy_w += c;
                }
            }
        }
        double frac = (double)(r0 + win.nrows) / (double)g.nrows;
        if ((st = sm_progress(ctx, ((double)plan->nscenes + frac) / (double)(plan->nscenes + 1), msg)) != SM_OK)
            goto end;
    }
end:
    sm_coverage_free(&cov);
    free(buf);
    free(items);
    sm_parcel_geoms_destroy(geoms);
    sm_raster_close(r);
    return st;
}
