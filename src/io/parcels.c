/* parcels.c: reads inventory parcels from OGR, repairs them with GEOS, projects them with PROJ.
 * Coordinates are kept flat (one array of x,y, rings and parts as offsets) so that a million
 * parcels cost tens of bytes each beyond their vertices, and projecting to another CRS is one
 * bulk transformation. Attributes the job maps are read once, as UTF-8. */
#include "sinkmap/parcels.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <geos_c.h>
#include <math.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "sinkmap/raster.h"
#include "sinkmap/ring.h"

typedef struct ring_ref {
    size_t pt0, npts;
} ring_ref;
typedef struct part_ref {
    size_t ring0, nrings;
} part_ref;

struct sm_parcel_geoms {
    size_t n;
    double *xy;
    size_t npts, cap_pts;
    ring_ref *rref;
    size_t nrings, cap_rings;
    part_ref *pref;
    size_t nparts, cap_parts;
    size_t *part0;   /* per parcel */
    size_t *nparts_of;
    double *bbox;    /* 4 per parcel, NAN when empty */
    sm_ring *rings;  /* built by finalize */
    sm_polygon *parts;
    int borrowed;    /* 1: every array above belongs to the parcels' own geometries */
};

struct sm_parcels {
    char *path;
    char *layer_name;
    char *encoding;
    char *wkt;
    size_t n;
    int64_t *fid;
    int col[SM_FIELD_COUNT]; /* a mapped role's column in `str`, -1 when unmapped */
    size_t ncols;
    char **str; /* n * ncols, NULL for an empty value */
    double *area;
    char **repair;
    size_t nrepaired;
    sm_parcel_geoms *src;
};

static const char *gdal_msg(void)
{
    const char *m = CPLGetLastErrorMsg();
    return (m && m[0]) ? m : "unknown error";
}

static int geoms_reserve(sm_parcel_geoms *g, size_t pts, size_t rings, size_t parts)
{
    if (g->npts + pts > g->cap_pts) {
        size_t cap = g->cap_pts ? g->cap_pts : 1024;
        while (cap < g->npts + pts)
            cap *= 2;
        double *p = realloc(g->xy, cap * 2 * sizeof *p);
        if (!p)
            return -1;
        g->xy = p;
        g->cap_pts = cap;
    }
    if (g->nrings + rings > g->cap_rings) {
        size_t cap = g->cap_rings ? g->cap_rings : 256;
        while (cap < g->nrings + rings)
            cap *= 2;
        ring_ref *p = realloc(g->rref, cap * sizeof *p);
        if (!p)
            return -1;
        g->rref = p;
        g->cap_rings = cap;
    }
    if (g->nparts + parts > g->cap_parts) {
        size_t cap = g->cap_parts ? g->cap_parts : 256;
        while (cap < g->nparts + parts)
            cap *= 2;
        part_ref *p = realloc(g->pref, cap * sizeof *p);
        if (!p)
            return -1;
        g->pref = p;
        g->cap_parts = cap;
    }
    return 0;
}

/* Appends the polygonal parts of a valid GEOS geometry (polygons, multipolygons, and the
 * polygons inside a collection) as parcel `i`'s parts. */
static int append_geos(sm_parcel_geoms *g, GEOSContextHandle_t h, const GEOSGeometry *geom)
{
    int type = GEOSGeomTypeId_r(h, geom);
    if (type == GEOS_MULTIPOLYGON || type == GEOS_GEOMETRYCOLLECTION) {
        int n = GEOSGetNumGeometries_r(h, geom);
        for (int k = 0; k < n; k++)
            if (append_geos(g, h, GEOSGetGeometryN_r(h, geom, k)))
                return -1;
        return 0;
    }
    if (type != GEOS_POLYGON || GEOSisEmpty_r(h, geom))
        return 0;
    int nholes = GEOSGetNumInteriorRings_r(h, geom);
    if (geoms_reserve(g, 0, (size_t)nholes + 1, 1))
        return -1;
    part_ref *pr = &g->pref[g->nparts++];
    pr->ring0 = g->nrings;
    pr->nrings = 0;
    for (int r = -1; r < nholes; r++) {
        const GEOSGeometry *ring = r < 0 ? GEOSGetExteriorRing_r(h, geom) : GEOSGetInteriorRingN_r(h, geom, r);
        const GEOSCoordSequence *cs = GEOSGeom_getCoordSeq_r(h, ring);
        unsigned int npts = 0;
        GEOSCoordSeq_getSize_r(h, cs, &npts);
        if (npts < 4)
            continue;
        if (geoms_reserve(g, npts, 0, 0))
            return -1;
        if (!GEOSCoordSeq_copyToBuffer_r(h, cs, g->xy + 2 * g->npts, 0, 0))
            return -1;
        ring_ref *rr = &g->rref[g->nrings++];
        rr->pt0 = g->npts;
        rr->npts = npts;
        g->npts += npts;
        pr->nrings++;
    }
    if (pr->nrings == 0)
        g->nparts--;
    return 0;
}

/* Little-endian WKB numbers (the batch's WKB is written as NDR), whatever the host's order. */
static uint32_t wkb_u32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static double wkb_f64(const unsigned char *b)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    double v;
    memcpy(&v, b, sizeof v);
    return v;
#endif
    uint64_t u = 0;
    for (int k = 7; k >= 0; k--)
        u = u << 8 | b[k];
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Appends one ring of npts little-endian x,y pairs as the parcel's one part. */
static int append_wkb_ring(sm_parcel_geoms *g, const unsigned char *coords, size_t npts)
{
    if (geoms_reserve(g, npts, 1, 1))
        return -1;
    double *xy = g->xy + 2 * g->npts;
    for (size_t k = 0; k < 2 * npts; k++)
        xy[k] = wkb_f64(coords + 8 * k);
    g->pref[g->nparts].ring0 = g->nrings;
    g->pref[g->nparts].nrings = 1;
    g->nparts++;
    g->rref[g->nrings].pt0 = g->npts;
    g->rref[g->nrings].npts = npts;
    g->nrings++;
    g->npts += npts;
    return 0;
}

/* Parcel i's box from the shells of its parts (NAN-free: +inf/-inf when it has none). */
static void bbox_of(sm_parcel_geoms *g, size_t i)
{
    double *b = g->bbox + 4 * i;
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (size_t k = g->part0[i]; k < g->part0[i] + g->nparts_of[i]; k++) {
        const ring_ref *rr = &g->rref[g->pref[k].ring0]; /* the shell bounds the part */
        const double *xy = g->xy + 2 * rr->pt0;
        for (size_t q = 0; q < rr->npts; q++) {
            double x = xy[2 * q], y = xy[2 * q + 1];
            x0 = x < x0 ? x : x0;
            y0 = y < y0 ? y : y0;
            x1 = x > x1 ? x : x1;
            y1 = y > y1 ? y : y1;
        }
    }
    b[0] = x0;
    b[1] = y0;
    b[2] = x1;
    b[3] = y1;
}

/* The ring and part arrays, and (boxes = 1) every parcel's box. */
static int geoms_finalize(sm_parcel_geoms *g, int boxes)
{
    g->rings = malloc((g->nrings ? g->nrings : 1) * sizeof *g->rings);
    g->parts = malloc((g->nparts ? g->nparts : 1) * sizeof *g->parts);
    if (!g->rings || !g->parts)
        return -1;
    for (size_t r = 0; r < g->nrings; r++) {
        g->rings[r].xy = g->xy + 2 * g->rref[r].pt0;
        g->rings[r].npoints = g->rref[r].npts;
    }
    for (size_t k = 0; k < g->nparts; k++) {
        g->parts[k].rings = g->rings + g->pref[k].ring0;
        g->parts[k].nrings = g->pref[k].nrings;
    }
    if (boxes)
        for (size_t i = 0; i < g->n; i++)
            bbox_of(g, i);
    return 0;
}

void sm_parcel_geoms_destroy(sm_parcel_geoms *g)
{
    if (!g)
        return;
    if (g->borrowed) {
        free(g);
        return;
    }
    free(g->xy);
    free(g->rref);
    free(g->pref);
    free(g->part0);
    free(g->nparts_of);
    free(g->bbox);
    free(g->rings);
    free(g->parts);
    free(g);
}

const sm_polygon *sm_parcel_geoms_parts(const sm_parcel_geoms *g, size_t i, size_t *nparts)
{
    *nparts = g->nparts_of[i];
    return *nparts ? g->parts + g->part0[i] : NULL;
}

int sm_parcel_geoms_bbox(const sm_parcel_geoms *g, size_t i, double *xmin, double *ymin,
                         double *xmax, double *ymax)
{
    const double *b = g->bbox + 4 * i;
    if (g->nparts_of[i] == 0 || !(b[2] >= b[0]))
        return 0;
    *xmin = b[0];
    *ymin = b[1];
    *xmax = b[2];
    *ymax = b[3];
    return 1;
}

static char *field_list(OGRFeatureDefnH defn)
{
    size_t cap = 256, len = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int k = 0; k < OGR_FD_GetFieldCount(defn); k++) {
        const char *name = OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(defn, k));
        size_t need = len + strlen(name) + 3;
        if (need > cap) {
            while (cap < need)
                cap *= 2;
            char *t = realloc(s, cap);
            if (!t) {
                free(s);
                return NULL;
            }
            s = t;
        }
        len += (size_t)sprintf(s + len, "%s%s", k ? ", " : "", name);
    }
    return s;
}

/* ---- validation and repair in parallel ----
 * Features are read from OGR in batches, in order (OGR is single-threaded); the batch's
 * geometries are then parsed, checked and repaired with GEOS on T threads, each with its own
 * reentrant handle, every result in the slot of its feature; and appended in feature order.
 * So the result does not depend on T. */

#define PARCEL_BATCH 8192

typedef struct geom_slot {
    size_t off, len;     /* its WKB in the batch's buffer; len 0 = no geometry */
    GEOSGeometry *geom;  /* valid (repaired when needed), or NULL */
    size_t ring_off;     /* simple: the ring's first coordinate in the WKB */
    size_t ring_npts;    /* > 0: one ring, certainly valid, taken from the WKB without GEOS */
    char *repair;        /* "made valid: <reason>" (malloc), or NULL */
    double area;
    int nomem;
} geom_slot;

typedef struct geom_worker {
    GEOSContextHandle_t h;
    GEOSWKBReader *rd;
    const unsigned char *wkb;
    geom_slot *slots;
    size_t i0, i1;
    double ring[2 * SM_RING_SIMPLE_MAX_POINTS];
} geom_worker;

/* The one ring of a 2D NDR Polygon, or of a MultiPolygon of one such polygon: its first
 * coordinate's offset and its point count. 0 for any other geometry (GEOS reads those). */
static int single_ring(const unsigned char *g, size_t len, size_t *coord_off, size_t *npts)
{
    size_t at = 0;
    if (len < 9 || g[0] != 1)
        return 0;
    uint32_t type = wkb_u32(g + 1);
    if (type == 6) {
        if (wkb_u32(g + 5) != 1 || len < 18 || g[9] != 1)
            return 0;
        at = 9;
        type = wkb_u32(g + 10);
    }
    if (type != 3 || len < at + 13 || wkb_u32(g + at + 5) != 1)
        return 0;
    size_t n = wkb_u32(g + at + 9);
    if (n > SM_RING_SIMPLE_MAX_POINTS || len != at + 13 + 16 * n)
        return 0;
    *coord_off = at + 13;
    *npts = n;
    return 1;
}

static void check_one(geom_worker *w, geom_slot *sl)
{
    sl->geom = NULL;
    sl->repair = NULL;
    sl->area = 0;
    sl->nomem = 0;
    sl->ring_npts = 0;
    if (sl->len == 0)
        return;
    size_t coff, npts;
    const unsigned char *g = w->wkb + sl->off;
    if (single_ring(g, sl->len, &coff, &npts)) {
        for (size_t k = 0; k < 2 * npts; k++)
            w->ring[k] = wkb_f64(g + coff + 8 * k);
        if (sm_ring_certainly_simple(w->ring, npts)) {
            sl->ring_off = sl->off + coff;
            sl->ring_npts = npts;
            sl->area = sm_ring_area(w->ring, npts);
            return;
        }
    }
    GEOSGeometry *gg = GEOSWKBReader_read_r(w->h, w->rd, g, sl->len);
    if (!gg)
        return;
    if (GEOSisValid_r(w->h, gg) != 1) {
        char *reason = GEOSisValidReason_r(w->h, gg);
        GEOSGeometry *fixed = GEOSMakeValid_r(w->h, gg);
        const char *r = reason ? reason : "invalid";
        size_t n = strlen(r) + sizeof "made valid: ";
        sl->repair = malloc(n);
        if (sl->repair)
            snprintf(sl->repair, n, "made valid: %s", r);
        else
            sl->nomem = 1;
        if (reason)
            GEOSFree_r(w->h, reason);
        GEOSGeom_destroy_r(w->h, gg);
        gg = fixed;
    }
    if (gg)
        GEOSArea_r(w->h, gg, &sl->area);
    sl->geom = gg;
}

static void *check_range(void *arg)
{
    geom_worker *w = arg;
    for (size_t i = w->i0; i < w->i1; i++)
        check_one(w, &w->slots[i]);
    return NULL;
}

/* Checks slots[0..n) on up to nw workers (contiguous ranges). */
static void check_batch(geom_worker *ws, int nw, const unsigned char *wkb, geom_slot *slots, size_t n)
{
    int use = nw;
    if ((size_t)use > n / 64 + 1)
        use = (int)(n / 64 + 1); /* small batches: not worth a thread */
    pthread_t tid[64];
    int started[64] = {0};
    size_t per = (n + (size_t)use - 1) / (size_t)use;
    for (int t = 0; t < use; t++) {
        ws[t].wkb = wkb;
        ws[t].slots = slots;
        ws[t].i0 = (size_t)t * per < n ? (size_t)t * per : n;
        ws[t].i1 = ws[t].i0 + per < n ? ws[t].i0 + per : n;
        if (t > 0)
            started[t] = pthread_create(&tid[t], NULL, check_range, &ws[t]) == 0;
    }
    check_range(&ws[0]);
    for (int t = 1; t < use; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            check_range(&ws[t]); /* no thread to be had: do it here */
    }
}

static int worker_count(int threads)
{
    long n = threads > 0 ? threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > 64)
        n = 64;
    return (int)n;
}

sm_status sm_parcels_open(sm_parcels **out, sm_context *ctx, const char *path,
                          const sm_parcels_options *opt)
{
    *out = NULL;
    sm_gdal_init();
    sm_status st = SM_OK;
    GDALDatasetH ds = NULL;
    unsigned char *wkb = NULL;
    size_t wkb_cap = 0, wkb_len = 0, nbatch = 0;
    char **oo = NULL;
    geom_slot *slots = NULL;
    int nw = worker_count(opt ? opt->threads : 0);
    geom_worker *ws = calloc((size_t)nw, sizeof *ws);
    if (!ws)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    GEOSContextHandle_t h = sm_context_geos(ctx);
    sm_parcels *p = NULL;
    if (!h) {
        st = sm_error(ctx, SM_ERR_NOMEM, "cannot start GEOS");
        goto end;
    }
    if (!sm__file_exists(path) && !sm__dir_exists(path)) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: no such parcel file", path);
        goto end;
    }
    if (!(p = calloc(1, sizeof *p))) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    p->path = sm__strdup(ctx, path);
    p->encoding = sm__strdup(ctx, (opt && opt->encoding) ? opt->encoding : "");
    p->src = calloc(1, sizeof *p->src);
    if (!p->path || !p->encoding || !p->src) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    if (opt && opt->encoding && opt->encoding[0])
        oo = CSLSetNameValue(oo, "ENCODING", opt->encoding);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, (const char *const *)oo, NULL);
    CPLPopErrorHandler();
    if (!ds) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: not a readable vector layer (%s)", path, gdal_msg());
        goto end;
    }
    OGRLayerH layer = (opt && opt->layer) ? GDALDatasetGetLayerByName(ds, opt->layer)
                                          : GDALDatasetGetLayer(ds, 0);
    if (!layer) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: layer '%s' not found", path,
                      (opt && opt->layer) ? opt->layer : "(first)");
        goto end;
    }
    p->layer_name = sm__strdup(ctx, OGR_L_GetName(layer));
    OGRwkbGeometryType gt = wkbFlatten(OGR_L_GetGeomType(layer));
    if (gt != wkbPolygon && gt != wkbMultiPolygon && gt != wkbUnknown) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: layer '%s' holds %s geometries; expected polygons",
                      path, OGR_L_GetName(layer), OGRGeometryTypeToName(gt));
        goto end;
    }
    OGRSpatialReferenceH srs = OGR_L_GetSpatialRef(layer);
    if (!srs) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: the layer has no coordinate reference system (a .prj file is missing)",
                      path);
        goto end;
    }
    {
        char *wkt = NULL;
        const char *wopt[] = {"FORMAT=WKT2_2019", NULL};
        OSRExportToWktEx(srs, &wkt, wopt);
        p->wkt = sm__strdup(ctx, wkt ? wkt : "");
        CPLFree(wkt);
    }
    OGRFeatureDefnH defn = OGR_L_GetLayerDefn(layer);
    int fidx[SM_FIELD_COUNT];
    for (int r = 0; r < SM_FIELD_COUNT; r++) {
        fidx[r] = -1;
        const char *name = opt ? opt->fields[r] : NULL;
        if (!name)
            continue;
        fidx[r] = OGR_FD_GetFieldIndex(defn, name);
        if (fidx[r] < 0) {
            char *list = field_list(defn);
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: field '%s' (field.%s in the job) not found; the layer has: %s", path,
                          name, sm_field_role_key((sm_field_role)r), list ? list : "?");
            free(list);
            goto end;
        }
    }
    GIntBig nfeat = OGR_L_GetFeatureCount(layer, TRUE);
    size_t cap = nfeat > 0 ? (size_t)nfeat : 16;
    p->fid = malloc(cap * sizeof *p->fid);
    for (int r = 0; r < SM_FIELD_COUNT; r++)
        p->col[r] = fidx[r] >= 0 ? (int)p->ncols++ : -1;
    p->str = calloc(cap * (p->ncols ? p->ncols : 1), sizeof *p->str);
    p->area = malloc(cap * sizeof *p->area);
    p->repair = calloc(cap, sizeof *p->repair);
    p->src->part0 = malloc(cap * sizeof(size_t));
    p->src->nparts_of = malloc(cap * sizeof(size_t));
    p->src->bbox = malloc(cap * 4 * sizeof(double));
    if (!p->src->bbox || !p->fid || !p->str || !p->area || !p->repair || !p->src->part0 || !p->src->nparts_of) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory for %zu parcels", cap);
        goto end;
    }
    slots = malloc(PARCEL_BATCH * sizeof *slots);
    if (!slots) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (int t = 0; t < nw; t++) {
        ws[t].h = GEOS_init_r();
        ws[t].rd = ws[t].h ? GEOSWKBReader_create_r(ws[t].h) : NULL;
        if (!ws[t].rd) {
            st = sm_error(ctx, SM_ERR_NOMEM, "cannot start GEOS");
            goto end;
        }
    }
    OGR_L_ResetReading(layer);
    for (int done = 0; !done;) {
        /* Read a batch: attributes now, geometries as WKB for the workers. */
        OGRFeatureH f = NULL;
        nbatch = 0;
        wkb_len = 0;
        size_t first = p->n;
        while (nbatch < PARCEL_BATCH && (f = OGR_L_GetNextFeature(layer)) != NULL) {
            size_t i = p->n;
            if (i == cap) { /* the count was an estimate */
                OGR_F_Destroy(f);
                st = sm_error(ctx, SM_ERR_INPUT, "%s: more features than the layer reports (%zu)", path, cap);
                goto end;
            }
            p->fid[i] = (int64_t)OGR_F_GetFID(f);
            for (int r = 0; r < SM_FIELD_COUNT; r++) {
                if (fidx[r] < 0)
                    continue;
                const char *v = OGR_F_IsFieldSetAndNotNull(f, fidx[r]) ? OGR_F_GetFieldAsString(f, fidx[r]) : "";
                char *copy = sm__strdup(ctx, v);
                if (!copy) {
                    OGR_F_Destroy(f);
                    st = SM_ERR_NOMEM;
                    goto end;
                }
                sm__trim(copy);
                p->str[i * p->ncols + (size_t)p->col[r]] = copy;
            }
            geom_slot *sl = &slots[nbatch];
            memset(sl, 0, sizeof *sl);
            sl->off = wkb_len;
            OGRGeometryH g = OGR_F_GetGeometryRef(f);
            if (g && !OGR_G_IsEmpty(g)) {
                size_t sz = (size_t)OGR_G_WkbSize(g);
                if (wkb_len + sz > wkb_cap) {
                    size_t ncap = wkb_cap ? wkb_cap : 65536;
                    while (ncap < wkb_len + sz)
                        ncap *= 2;
                    unsigned char *t = realloc(wkb, ncap);
                    if (!t) {
                        OGR_F_Destroy(f);
                        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
                        goto end;
                    }
                    wkb = t;
                    wkb_cap = ncap;
                }
                OGR_G_ExportToIsoWkb(g, wkbNDR, wkb + wkb_len);
                sl->len = sz;
                wkb_len += sz;
            }
            p->n++;
            nbatch++;
            OGR_F_Destroy(f);
        }
        done = f == NULL;
        /* Check and repair in parallel, then append in feature order (room for the batch's
         * points made once: a 2D point is 16 bytes of WKB). */
        check_batch(ws, nw, wkb, slots, nbatch);
        if (geoms_reserve(p->src, wkb_len / 16 + 16, nbatch, nbatch)) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory reading %s", path);
            goto end;
        }
        for (size_t k = 0; k < nbatch; k++) {
            size_t i = first + k;
            geom_slot *sl = &slots[k];
            p->area[i] = 0;
            p->src->part0[i] = p->src->nparts;
            if (sl->nomem && st == SM_OK)
                st = sm_error(ctx, SM_ERR_NOMEM, "out of memory reading %s", path);
            if (sl->repair) {
                p->repair[i] = sl->repair;
                sl->repair = NULL;
                p->nrepaired++;
            }
            if (sl->ring_npts) {
                p->area[i] = sl->area;
                if (st == SM_OK && append_wkb_ring(p->src, wkb + sl->ring_off, sl->ring_npts))
                    st = sm_error(ctx, SM_ERR_NOMEM, "out of memory reading %s", path);
            } else if (sl->geom) {
                p->area[i] = sl->area;
                if (st == SM_OK && append_geos(p->src, h, sl->geom))
                    st = sm_error(ctx, SM_ERR_NOMEM, "out of memory reading %s", path);
                GEOSGeom_destroy_r(h, sl->geom);
                sl->geom = NULL;
            }
            p->src->nparts_of[i] = p->src->nparts - p->src->part0[i];
            bbox_of(p->src, i); /* while its points are in the cache */
        }
        nbatch = 0;
        if (st != SM_OK)
            goto end;
    }
    p->src->n = p->n;
    if (geoms_finalize(p->src, 0)) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    if (p->n == 0)
        st = sm_error(ctx, SM_ERR_INPUT, "%s: the layer has no features", path);
end:
    for (size_t k = 0; k < nbatch; k++) { /* a batch left by an error */
        if (slots[k].geom)
            GEOSGeom_destroy_r(h, slots[k].geom);
        free(slots[k].repair);
    }
    free(slots);
    for (int t = 0; ws && t < nw; t++) {
        if (ws[t].rd)
            GEOSWKBReader_destroy_r(ws[t].h, ws[t].rd);
        if (ws[t].h)
            GEOS_finish_r(ws[t].h);
    }
    free(ws);
    free(wkb);
    CSLDestroy(oo);
    if (ds)
        GDALClose(ds);
    if (st != SM_OK) {
        sm_parcels_destroy(p);
        return st;
    }
    *out = p;
    return SM_OK;
}

void sm_parcels_destroy(sm_parcels *p)
{
    if (!p)
        return;
    if (p->str)
        for (size_t i = 0; i < p->n * p->ncols; i++)
            free(p->str[i]);
    if (p->repair)
        for (size_t i = 0; i < p->n; i++)
            free(p->repair[i]);
    free(p->str);
    free(p->repair);
    free(p->fid);
    free(p->area);
    free(p->path);
    free(p->layer_name);
    free(p->encoding);
    free(p->wkt);
    sm_parcel_geoms_destroy(p->src);
    free(p);
}

size_t sm_parcels_count(const sm_parcels *p) { return p->n; }
const char *sm_parcels_path(const sm_parcels *p) { return p->path; }
const char *sm_parcels_layer_name(const sm_parcels *p) { return p->layer_name; }
const char *sm_parcels_encoding(const sm_parcels *p) { return p->encoding; }
const char *sm_parcels_crs_wkt(const sm_parcels *p) { return p->wkt; }
int64_t sm_parcels_fid(const sm_parcels *p, size_t i) { return p->fid[i]; }
double sm_parcels_area(const sm_parcels *p, size_t i) { return p->area[i]; }
const char *sm_parcels_repair(const sm_parcels *p, size_t i) { return p->repair[i] ? p->repair[i] : ""; }
size_t sm_parcels_repaired_count(const sm_parcels *p) { return p->nrepaired; }

const char *sm_parcels_str(const sm_parcels *p, size_t i, sm_field_role role)
{
    const char *s = p->col[role] >= 0 ? p->str[i * p->ncols + (size_t)p->col[role]] : NULL;
    return s ? s : "";
}

double sm_parcels_num(const sm_parcels *p, size_t i, sm_field_role role)
{
    const char *s = p->col[role] >= 0 ? p->str[i * p->ncols + (size_t)p->col[role]] : NULL;
    if (!s || !s[0])
        return NAN;
    char *end;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (end == s || *end != '\0')
        return NAN;
    return v;
}

sm_status sm_parcels_project(sm_parcel_geoms **out, sm_context *ctx, const sm_parcels *p,
                             const char *wkt)
{
    *out = NULL;
    sm_status st = SM_OK;
    OGRSpatialReferenceH a = OSRNewSpatialReference(NULL), b = OSRNewSpatialReference(NULL);
    OGRCoordinateTransformationH ct = NULL;
    double *xs = NULL, *ys = NULL;
    int *ok = NULL;
    sm_parcel_geoms *g = calloc(1, sizeof *g);
    if (!a || !b || !g) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    {
        const char *w1 = p->wkt, *w2 = wkt;
        if (OSRSetFromUserInput(a, w1) != OGRERR_NONE || OSRSetFromUserInput(b, w2) != OGRERR_NONE) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s: cannot interpret a CRS", p->path);
            goto end;
        }
    }
    OSRSetAxisMappingStrategy(a, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(b, OAMS_TRADITIONAL_GIS_ORDER);
    const sm_parcel_geoms *s = p->src;
    if (OSRIsSame(a, b)) {
        /* The same CRS: share the parcels' own coordinates instead of copying them. */
        *g = *s;
        g->borrowed = 1;
        goto end;
    }
    g->n = s->n;
    g->npts = g->cap_pts = s->npts;
    g->nrings = g->cap_rings = s->nrings;
    g->nparts = g->cap_parts = s->nparts;
    g->xy = malloc((s->npts ? s->npts : 1) * 2 * sizeof(double));
    g->rref = malloc((s->nrings ? s->nrings : 1) * sizeof(ring_ref));
    g->pref = malloc((s->nparts ? s->nparts : 1) * sizeof(part_ref));
    g->part0 = malloc((s->n ? s->n : 1) * sizeof(size_t));
    g->nparts_of = malloc((s->n ? s->n : 1) * sizeof(size_t));
    g->bbox = malloc((s->n ? s->n : 1) * 4 * sizeof(double));
    if (!g->xy || !g->rref || !g->pref || !g->part0 || !g->nparts_of || !g->bbox) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory projecting %zu parcels", s->n);
        goto end;
    }
    memcpy(g->xy, s->xy, s->npts * 2 * sizeof(double));
    memcpy(g->rref, s->rref, s->nrings * sizeof(ring_ref));
    memcpy(g->pref, s->pref, s->nparts * sizeof(part_ref));
    memcpy(g->part0, s->part0, s->n * sizeof(size_t));
    memcpy(g->nparts_of, s->nparts_of, s->n * sizeof(size_t));
    if (!OSRIsSame(a, b) && s->npts > 0) {
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErrorReset();
        ct = OCTNewCoordinateTransformation(a, b);
        CPLPopErrorHandler();
        if (!ct) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: no coordinate transformation from the parcels' CRS (%s) to the "
                          "raster's CRS (%s): PROJ knows no operation between them",
                          p->path, OSRGetName(a) ? OSRGetName(a) : "?",
                          OSRGetName(b) ? OSRGetName(b) : "?");
            goto end;
        }
        xs = malloc(s->npts * sizeof *xs);
        ys = malloc(s->npts * sizeof *ys);
        ok = malloc(s->npts * sizeof *ok);
        if (!xs || !ys || !ok) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            goto end;
        }
        for (size_t k = 0; k < s->npts; k++) {
            xs[k] = s->xy[2 * k];
            ys[k] = s->xy[2 * k + 1];
        }
        CPLPushErrorHandler(CPLQuietErrorHandler);
        int all = OCTTransformEx(ct, (int)s->npts, xs, ys, NULL, ok);
        CPLPopErrorHandler();
        if (!all) {
            for (size_t k = 0; k < s->npts; k++)
                if (!ok[k]) {
                    st = sm_error(ctx, SM_ERR_INPUT,
                                  "%s: vertex (%.3f, %.3f) cannot be transformed to the raster's "
                                  "CRS (%s)",
                                  p->path, s->xy[2 * k], s->xy[2 * k + 1],
                                  OSRGetName(b) ? OSRGetName(b) : "?");
                    goto end;
                }
        }
        for (size_t k = 0; k < s->npts; k++) {
            g->xy[2 * k] = xs[k];
            g->xy[2 * k + 1] = ys[k];
        }
    }
    if (geoms_finalize(g, 1))
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
end:
    free(xs);
    free(ys);
    free(ok);
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    if (a)
        OSRDestroySpatialReference(a);
    if (b)
        OSRDestroySpatialReference(b);
    if (st != SM_OK) {
        sm_parcel_geoms_destroy(g);
        return st;
    }
    *out = g;
    return SM_OK;
}
