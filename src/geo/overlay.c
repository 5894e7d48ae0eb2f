/* overlay.c: exact areas of polygons inside a dissolved set of other polygons (GEOS union,
 * prepared intersects test, then the exact intersection). Serves the indicator table: wetland
 * inside protected areas, managed forest area; a few hundred to a few thousand polygons. */
#include "sinkmap/overlay.h"

#include <geos_c.h>
#include <stdlib.h>

struct sm_overlay {
    GEOSContextHandle_t h;
    GEOSGeometry **geoms; /* added, owned until finish */
    size_t n, cap;
    GEOSGeometry *u; /* the union after finish */
    const GEOSPreparedGeometry *prep;
};

sm_status sm_overlay_create(sm_overlay **out, sm_context *ctx)
{
    *out = NULL;
    sm_overlay *o = calloc(1, sizeof *o);
    if (!o)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    o->h = (GEOSContextHandle_t)sm_context_geos(ctx);
    if (!o->h) {
        free(o);
        return sm_error(ctx, SM_ERR_INTERNAL, "no GEOS context");
    }
    *out = o;
    return SM_OK;
}

void sm_overlay_destroy(sm_overlay *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++)
        GEOSGeom_destroy_r(o->h, o->geoms[i]);
    free(o->geoms);
    if (o->prep)
        GEOSPreparedGeom_destroy_r(o->h, o->prep);
    if (o->u)
        GEOSGeom_destroy_r(o->h, o->u);
    free(o);
}

static GEOSGeometry *ring(GEOSContextHandle_t h, const sm_ring *r)
{
    size_t n = r->npoints;
    if (n < 3)
        return NULL;
    int closed = r->xy[0] == r->xy[2 * (n - 1)] && r->xy[1] == r->xy[2 * (n - 1) + 1];
    size_t m = closed ? n : n + 1;
    GEOSCoordSequence *cs = GEOSCoordSeq_create_r(h, (unsigned)m, 2);
    if (!cs)
        return NULL;
    for (size_t i = 0; i < m; i++) {
        size_t k = i < n ? i : 0;
        GEOSCoordSeq_setXY_r(h, cs, (unsigned)i, r->xy[2 * k], r->xy[2 * k + 1]);
    }
    return GEOSGeom_createLinearRing_r(h, cs);
}

/* One GEOS geometry (a polygon or a multipolygon) from the parts; NULL on failure. */
static GEOSGeometry *from_parts(GEOSContextHandle_t h, const sm_polygon *parts, size_t nparts)
{
    GEOSGeometry **polys = calloc(nparts ? nparts : 1, sizeof *polys);
    size_t np = 0;
    if (!polys)
        return NULL;
    for (size_t k = 0; k < nparts; k++) {
        const sm_polygon *pg = &parts[k];
        if (pg->nrings == 0)
            continue;
        GEOSGeometry *shell = ring(h, &pg->rings[0]);
        if (!shell)
            continue;
        GEOSGeometry **holes = calloc(pg->nrings, sizeof *holes);
        unsigned nh = 0;
        for (size_t r = 1; holes && r < pg->nrings; r++) {
            GEOSGeometry *g = ring(h, &pg->rings[r]);
            if (g)
                holes[nh++] = g;
        }
        GEOSGeometry *poly = holes ? GEOSGeom_createPolygon_r(h, shell, holes, nh) : NULL;
        if (!poly) {
            GEOSGeom_destroy_r(h, shell);
            for (unsigned r = 0; r < nh; r++)
                GEOSGeom_destroy_r(h, holes[r]);
        }
        free(holes);
        if (poly)
            polys[np++] = poly;
    }
    GEOSGeometry *g = GEOSGeom_createCollection_r(h, GEOS_MULTIPOLYGON, polys, (unsigned)np);
    if (!g)
        for (size_t k = 0; k < np; k++)
            GEOSGeom_destroy_r(h, polys[k]);
    free(polys);
    if (g && GEOSisValid_r(h, g) != 1) {
        GEOSGeometry *v = GEOSMakeValid_r(h, g);
        GEOSGeom_destroy_r(h, g);
        g = v;
    }
    return g;
}

sm_status sm_overlay_add(sm_overlay *o, sm_context *ctx, const sm_polygon *parts, size_t nparts)
{
    if (o->u)
        return sm_error(ctx, SM_ERR_INTERNAL, "overlay: add after finish");
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        GEOSGeometry **g = realloc(o->geoms, cap * sizeof *g);
        if (!g)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        o->geoms = g;
        o->cap = cap;
    }
    GEOSGeometry *g = from_parts(o->h, parts, nparts);
    if (!g)
        return sm_error(ctx, SM_ERR_INTERNAL, "overlay: GEOS could not build a polygon");
    o->geoms[o->n++] = g;
    return SM_OK;
}

sm_status sm_overlay_finish(sm_overlay *o, sm_context *ctx)
{
    GEOSGeometry *all = GEOSGeom_createCollection_r(o->h, GEOS_GEOMETRYCOLLECTION, o->geoms, (unsigned)o->n);
    if (!all)
        return sm_error(ctx, SM_ERR_INTERNAL, "overlay: GEOS could not collect the polygons");
    /* the collection owns the members now */
    free(o->geoms);
    o->geoms = NULL;
    o->n = o->cap = 0;
    o->u = GEOSUnaryUnion_r(o->h, all);
    GEOSGeom_destroy_r(o->h, all);
    if (!o->u)
        return sm_error(ctx, SM_ERR_INTERNAL, "overlay: GEOS union failed");
    o->prep = GEOSPrepare_r(o->h, o->u);
    if (!o->prep)
        return sm_error(ctx, SM_ERR_INTERNAL, "overlay: GEOS could not prepare the union");
    return SM_OK;
}

double sm_overlay_area(const sm_overlay *o)
{
    double a = 0;
    if (o->u && GEOSArea_r(o->h, o->u, &a) != 1)
        return 0;
    return a;
}

sm_status sm_overlay_inside_area(sm_overlay *o, sm_context *ctx, const sm_polygon *parts,
                                 size_t nparts, double *area)
{
    *area = 0;
    if (!o->u)
        return sm_error(ctx, SM_ERR_INTERNAL, "overlay: not finished");
    GEOSGeometry *g = from_parts(o->h, parts, nparts);
    if (!g)
        return sm_error(ctx, SM_ERR_INTERNAL, "overlay: GEOS could not build a polygon");
    sm_status st = SM_OK;
    if (GEOSPreparedIntersects_r(o->h, o->prep, g) == 1) {
        GEOSGeometry *x = GEOSIntersection_r(o->h, g, o->u);
        if (!x || GEOSArea_r(o->h, x, area) != 1)
            st = sm_error(ctx, SM_ERR_INTERNAL, "overlay: GEOS intersection failed");
        if (x)
            GEOSGeom_destroy_r(o->h, x);
    }
    GEOSGeom_destroy_r(o->h, g);
    return st;
}
