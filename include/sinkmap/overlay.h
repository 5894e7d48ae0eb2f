/* sinkmap/overlay.h: exact polygon overlay areas with GEOS: the union of a set of polygons
 * (protected areas, management records) and the area of another polygon inside it. All
 * polygons must be in one projected CRS; areas are in its units². No GDAL. */
#ifndef SINKMAP_OVERLAY_H
#define SINKMAP_OVERLAY_H

#include <stddef.h>

#include "sinkmap/context.h"
#include "sinkmap/coverage.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sm_overlay sm_overlay;

/* An empty overlay using ctx's GEOS handle (one thread at a time). Caller frees it with
 * sm_overlay_destroy(). */
sm_status sm_overlay_create(sm_overlay **out, sm_context *ctx);
void sm_overlay_destroy(sm_overlay *o);
/* Adds one polygon (its parts); invalid input is made valid first. Before sm_overlay_finish. */
sm_status sm_overlay_add(sm_overlay *o, sm_context *ctx, const sm_polygon *parts, size_t nparts);
/* Dissolves everything added into one union (overlaps count once). */
sm_status sm_overlay_finish(sm_overlay *o, sm_context *ctx);
/* Area of the union (0 when nothing was added). After sm_overlay_finish. */
double sm_overlay_area(const sm_overlay *o);
/* Area of the polygon (its parts) that lies inside the union. After sm_overlay_finish. */
sm_status sm_overlay_inside_area(sm_overlay *o, sm_context *ctx, const sm_polygon *parts,
                                 size_t nparts, double *area);

#ifdef __cplusplus
}
#endif
#endif
