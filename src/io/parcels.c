/* parcels.c: reads inventory parcels from OGR, repairs them with GEOS, projects them with PROJ.
 * Coordinates are kept flat (one array of x,y, rings and parts as offsets) so that a million
 * parcels cost tens of bytes each beyond their vertices, and projecting to another CRS is one
 * bulk transformation. Attributes the job maps are read once, as UTF-8. GeoPackage tables are
 * read directly with SQLite on all threads when that gives exactly what OGR gives (see
 * "GeoPackages read directly" below). */
#include "sinkmap/parcels.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <geos_c.h>
#include <limits.h>
#include <math.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/util.h"
#include "io/parcels_direct.h"
#include "sinkmap/raster.h"
#include "sinkmap/ring.h"

typedef struct ring_ref {
    size_t pt0, npts;
} ring_ref;
typedef struct part_ref {
    size_t ring0, nrings;
} part_ref;

/* Points, rings and parts of a run of parcels read directly, indices counted from its own
 * first point, ring and part. */
typedef struct geoms_seg {
    double *xy;
    ring_ref *rref;
    part_ref *pref;
    size_t npts, nrings, nparts;
} geoms_seg;

struct sm_parcel_geoms {
    size_t n;
    double *xy;      /* the points (x,y); NULL when they are in segments */
    size_t npts, cap_pts;
    geoms_seg *seg;  /* read directly: the points, rref and pref in nseg segments, one after the
                      * other (rings and parts point into their points; rref, pref NULL) */
    size_t nseg;
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
    int direct;             /* 1: read from the GeoPackage with SQLite, not through OGR */
    struct str_block *strs; /* direct: the blocks holding the strings of `str` */
    const char *direct_why; /* why not (a constant string), NULL when direct */
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

static void geoms_segs_free(sm_parcel_geoms *g)
{
    for (size_t k = 0; k < g->nseg; k++) {
        free(g->seg[k].xy);
        free(g->seg[k].rref);
        free(g->seg[k].pref);
    }
    free(g->seg);
    g->seg = NULL;
    g->nseg = 0;
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
    geoms_segs_free(g);
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

void sm__parcel_geoms_prefetch(const sm_parcel_geoms *g, size_t i, int stage)
{
#if defined(__GNUC__)
    switch (stage) {
    case 0:
        __builtin_prefetch(g->nparts_of + i);
        __builtin_prefetch(g->part0 + i);
        __builtin_prefetch(g->bbox + 4 * i);
        __builtin_prefetch(g->bbox + 4 * i + 3);
        break;
    case 1:
        if (g->nparts_of[i])
            __builtin_prefetch(g->parts + g->part0[i]);
        break;
    case 2:
        if (g->nparts_of[i])
            __builtin_prefetch(g->parts[g->part0[i]].rings);
        break;
    default:
        if (g->nparts_of[i] && g->parts[g->part0[i]].nrings && g->parts[g->part0[i]].rings[0].npoints) {
            const sm_ring *r = g->parts[g->part0[i]].rings;
            const char *a = (const char *)r->xy, *b = (const char *)(r->xy + 2 * r->npoints);
            for (; a < b; a += 64)
                __builtin_prefetch(a);
            __builtin_prefetch(b - 1);
        }
        break;
    }
#else
    (void)g;
    (void)i;
    (void)stage;
#endif
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

/* Parcel i of g from its checked slot: its parts appended (when `append`; the slot's GEOS
 * geometry is freed either way), its area, its box. -1 when out of memory. */
static int slot_append(sm_parcel_geoms *g, GEOSContextHandle_t h, geom_slot *sl,
                       const unsigned char *wkb, size_t i, double *area, int append)
{
    int rc = 0;
    *area = 0;
    g->part0[i] = g->nparts;
    if (sl->ring_npts) {
        *area = sl->area;
        if (append && append_wkb_ring(g, wkb + sl->ring_off, sl->ring_npts))
            rc = -1;
    } else if (sl->geom) {
        *area = sl->area;
        if (append && append_geos(g, h, sl->geom))
            rc = -1;
        GEOSGeom_destroy_r(h, sl->geom);
        sl->geom = NULL;
    }
    g->nparts_of[i] = g->nparts - g->part0[i];
    bbox_of(g, i); /* while its points are in the cache */
    return rc;
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

/* ---- GeoPackages read directly ----
 * OGR hands out features one at a time on one thread. A GeoPackage table whose FID column is
 * its rowid is read here instead with SQLite on T threads, each with its own read-only
 * connection and GEOS handle: the FID range is cut into chunks (several per thread, taken as
 * threads come free); each chunk is read in FID order (the order of OGR's scan of the table),
 * its attributes converted as OGR converts them and its geometries checked by check_one into a
 * store of its own; the chunks are then joined in FID order. Any value or geometry blob not
 * taken here exactly as OGR would take it sends the whole layer through OGR instead (nothing
 * read here is kept), so the result is OGR's in every case.
 * When the FIDs have no gaps (a count of hi - lo + 1) every chunk's place in the parcels is
 * known beforehand and its per-parcel values are written there directly. The points stay in
 * the chunks' own arrays (segments, not copied), which the rings point into. */

enum { GPKG_OK = 0, GPKG_FALLBACK = 1, GPKG_NOMEM = 2 };

/* Attribute strings read directly are packed in blocks, freed together with the parcels. */
typedef struct str_block {
    struct str_block *next;
    size_t used, cap;
    char data[];
} str_block;

static char *str_block_alloc(str_block **head, size_t n)
{
    str_block *b = *head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 - sizeof *b ? n : 65536 - sizeof *b;
        if (!(b = malloc(sizeof *b + cap)))
            return NULL;
        b->next = *head;
        b->used = 0;
        b->cap = cap;
        *head = b;
    }
    char *s = b->data + b->used;
    b->used += n;
    return s;
}

static void str_blocks_free(str_block *b)
{
    while (b) {
        str_block *next = b->next;
        free(b);
        b = next;
    }
}

typedef struct gpkg_chunk {
    int64_t lo, hi; /* its FIDs */
    size_t n, cap;  /* parcels read; room */
    /* per parcel: views into the parcels' own arrays when the FIDs are dense (cap is then the
     * chunk's FID count), the chunk's own arrays otherwise */
    int64_t *fid;
    char **str; /* cap * ncols, the strings in `strs` */
    double *area;
    char **repair;
    size_t nrepaired;
    str_block *strs;
    /* points, rings and parts (its own), and per parcel part0 (counted from the chunk's first
     * part), nparts_of and bbox (views when dense) */
    sm_parcel_geoms g;
    size_t at, pts0, rings0, parts0; /* where the chunk goes in the parcels */
} gpkg_chunk;

typedef struct gpkg_reader {
    int dense;
    size_t ncols;
    int ftype[SM_FIELD_COUNT]; /* OGR type of each attribute column read */
    gpkg_chunk *chunks;
    size_t nchunks;
    atomic_size_t next;
    atomic_int stop; /* the first worker's GPKG_FALLBACK or GPKG_NOMEM */
    const char *why; /* why a fallback (written by the worker that set `stop`) */
    sm_parcels *p;   /* the join */
} gpkg_reader;

typedef struct gpkg_worker {
    gpkg_reader *rd;
    sqlite3 *db;
    sqlite3_stmt *st;
    geom_worker gw;
    unsigned char *buf; /* WKB exported by OGR for the geometries it builds */
    size_t buf_cap;
} gpkg_worker;

static int direct_gpkg_allowed(void)
{
    const char *env = getenv("SINKMAP_DIRECT_GPKG"); /* NO: every GeoPackage through OGR */
    return !env || !(strcmp(env, "NO") == 0 || strcmp(env, "no") == 0 || strcmp(env, "0") == 0);
}

/* The size of a GeoPackageBinary header as OGR's GPKG reader takes it (magic "GP", version 0,
 * envelope kinds 0-4; the header's byte order only concerns srs_id and the envelope, which are
 * not needed). 0 for anything else, and for the extended kind: such blobs go through OGR. */
static int gpkg_header(const unsigned char *b, size_t len, size_t *hdr)
{
    static const size_t env_bytes[5] = {0, 32, 48, 48, 64};
    if (len < 8 || b[0] != 'G' || b[1] != 'P' || b[2] != 0)
        return 0;
    unsigned flags = b[3];
    unsigned kind = (flags >> 1) & 7;
    if (kind > 4 || (flags & 0x20) || len < 8 + env_bytes[kind])
        return 0;
    *hdr = 8 + env_bytes[kind];
    return 1;
}

/* One NDR 2D Polygon at b[*at..len): its rings walked, *at moved past it, *npts increased by
 * its points. 0 if it is anything else or runs past len. */
static int wkb_walk_polygon(const unsigned char *b, size_t len, size_t *at, size_t *npts)
{
    size_t a = *at;
    if (len - a < 9 || b[a] != 1 || wkb_u32(b + a + 1) != 3)
        return 0;
    uint32_t nrings = wkb_u32(b + a + 5);
    a += 9;
    for (uint32_t r = 0; r < nrings; r++) {
        if (len - a < 4)
            return 0;
        size_t n = wkb_u32(b + a);
        a += 4;
        if (n > (len - a) / 16)
            return 0;
        a += 16 * n;
        *npts += n;
    }
    *at = a;
    return 1;
}

/* 1 when b[0..len) is exactly a non-empty NDR 2D Polygon, or MultiPolygon of such polygons
 * (each with its own NDR header), and nothing after it: the very bytes OGR would export for it
 * as ISO WKB, so they are checked as they are. Anything else is built by OGR. */
static int wkb_is_plain(const unsigned char *b, size_t len)
{
    size_t at = 0, npts = 0;
    if (len < 9 || b[0] != 1)
        return 0;
    uint32_t type = wkb_u32(b + 1);
    if (type == 3) {
        if (!wkb_walk_polygon(b, len, &at, &npts))
            return 0;
    } else if (type == 6) {
        uint32_t nparts = wkb_u32(b + 5);
        at = 9;
        for (uint32_t k = 0; k < nparts; k++)
            if (!wkb_walk_polygon(b, len, &at, &npts))
                return 0;
    } else {
        return 0;
    }
    return at == len && npts > 0; /* no point at all: OGR calls it empty */
}

/* v as "%lld" writes it, into buf (24 bytes at least); returns the start. */
static char *format_i64(char *buf, long long v)
{
    char *s = buf + 23;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    *s = '\0';
    do {
        *--s = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--s = '-';
    return s;
}

/* Frees what the chunk owns (not the views of a dense chunk, nor what was moved out of it). */
static void chunk_free(gpkg_chunk *c, size_t ncols, int dense)
{
    str_blocks_free(c->strs);
    if (!dense) {
        if (c->repair)
            for (size_t k = 0; k < c->cap; k++)
                free(c->repair[k]);
        free(c->fid);
        free(c->str);
        free(c->area);
        free(c->repair);
        free(c->g.part0);
        free(c->g.nparts_of);
        free(c->g.bbox);
    }
    free(c->g.xy);
    free(c->g.rref);
    free(c->g.pref);
    memset(c, 0, sizeof *c);
}

/* Room for one more parcel in the chunk (a dense chunk has room for all its FIDs). */
static int chunk_grow(gpkg_chunk *c, size_t ncols, int dense)
{
    if (c->n < c->cap)
        return 0;
    if (dense)
        return -1;
    size_t cap = c->cap ? 2 * c->cap : 1024;
    size_t nc = ncols ? ncols : 1;
    int64_t *fid = realloc(c->fid, cap * sizeof *fid);
    if (fid)
        c->fid = fid;
    char **str = realloc(c->str, cap * nc * sizeof *str);
    if (str) {
        c->str = str;
        memset(str + c->cap * nc, 0, (cap - c->cap) * nc * sizeof *str);
    }
    double *area = realloc(c->area, cap * sizeof *area);
    if (area)
        c->area = area;
    char **repair = realloc(c->repair, cap * sizeof *repair);
    if (repair) {
        c->repair = repair;
        memset(repair + c->cap, 0, (cap - c->cap) * sizeof *repair);
    }
    size_t *part0 = realloc(c->g.part0, cap * sizeof *part0);
    if (part0)
        c->g.part0 = part0;
    size_t *nparts_of = realloc(c->g.nparts_of, cap * sizeof *nparts_of);
    if (nparts_of)
        c->g.nparts_of = nparts_of;
    double *bbox = realloc(c->g.bbox, cap * 4 * sizeof *bbox);
    if (bbox)
        c->g.bbox = bbox;
    if (!fid || !str || !area || !repair || !part0 || !nparts_of || !bbox)
        return -1; /* never called again: the read stops */
    c->cap = cap;
    return 0;
}

static int gpkg_stop(gpkg_worker *w, int code, const char *why)
{
    int expected = GPKG_OK;
    if (atomic_compare_exchange_strong(&w->rd->stop, &expected, code))
        w->rd->why = why;
    return code;
}

/* Parcel i's attribute column a (statement column a + 2): OGR_F_GetFieldAsString of the value
 * OGR's GPKG reader sets, trimmed as OGR's path trims it; "" for NULL. */
static int gpkg_attr(gpkg_worker *w, gpkg_chunk *c, size_t i, size_t a)
{
    sqlite3_stmt *st = w->st;
    int col = (int)a + 2, t = sqlite3_column_type(st, col), type = w->rd->ftype[a];
    const char *v = "";
    char num[32];
    if (t == SQLITE_NULL) {
        v = "";
    } else if (type == OFTString) {
        if (t != SQLITE_TEXT)
            return gpkg_stop(w, GPKG_FALLBACK, "a value that is not text in a text field");
        if (!(v = (const char *)sqlite3_column_text(st, col)))
            return gpkg_stop(w, GPKG_NOMEM, "out of memory");
    } else if (type == OFTReal) {
        /* OGR reads it with sqlite3_column_double and prints it as "%.15g" (a zero as "0",
         * whatever its sign); the process runs in the C locale (sinkmap never sets one) */
        if (t != SQLITE_FLOAT && t != SQLITE_INTEGER)
            return gpkg_stop(w, GPKG_FALLBACK, "a value that is not a number in a real field");
        double x = sqlite3_column_double(st, col);
        if (!isfinite(x))
            return gpkg_stop(w, GPKG_FALLBACK, "an infinite value in a real field");
        if (x == 0.0)
            v = "0";
        else {
            snprintf(num, sizeof num, "%.15g", x);
            v = num;
        }
    } else {
        if (t != SQLITE_INTEGER)
            return gpkg_stop(w, GPKG_FALLBACK, "a value that is not an integer in an integer field");
        sqlite3_int64 x = sqlite3_column_int64(st, col);
        if (type == OFTInteger && (x < INT_MIN || x > INT_MAX))
            return gpkg_stop(w, GPKG_FALLBACK, "a 32-bit integer field holds a larger value");
        v = format_i64(num, (long long)x);
    }
    size_t len = strlen(v);
    char *copy = str_block_alloc(&c->strs, len + 1);
    if (!copy)
        return gpkg_stop(w, GPKG_NOMEM, "out of memory");
    memcpy(copy, v, len + 1);
    sm__trim(copy);
    c->str[i * w->rd->ncols + a] = copy;
    return GPKG_OK;
}

/* The row's geometry as ISO NDR WKB for check_one (*len 0: none): the WKB after the GeoPackage
 * header as it is when it is what OGR would export; otherwise built by OGR (as its GPKG reader
 * builds it) and exported as OGR's path exports it. */
static int gpkg_geom(gpkg_worker *w, const unsigned char **wkb, size_t *len)
{
    sqlite3_stmt *st = w->st;
    int gt = sqlite3_column_type(st, 1);
    *wkb = NULL;
    *len = 0;
    if (gt == SQLITE_NULL)
        return GPKG_OK;
    if (gt != SQLITE_BLOB)
        return gpkg_stop(w, GPKG_FALLBACK, "a geometry that is not a blob");
    const unsigned char *b = sqlite3_column_blob(st, 1);
    int nb = sqlite3_column_bytes(st, 1);
    size_t hdr = 0;
    if (!b || nb < 0 || !gpkg_header(b, (size_t)nb, &hdr))
        return gpkg_stop(w, GPKG_FALLBACK, "a geometry blob without a plain GeoPackage header");
    if (wkb_is_plain(b + hdr, (size_t)nb - hdr)) {
        *wkb = b + hdr;
        *len = (size_t)nb - hdr;
        return GPKG_OK;
    }
    OGRGeometryH g = NULL;
    if (OGR_G_CreateFromWkb(b + hdr, NULL, &g, nb - (int)hdr) != OGRERR_NONE) {
        if (g)
            OGR_G_DestroyGeometry(g);
        return gpkg_stop(w, GPKG_FALLBACK, "a geometry OGR cannot read from its WKB");
    }
    if (g && !OGR_G_IsEmpty(g)) {
        size_t sz = (size_t)OGR_G_WkbSize(g);
        if (sz > w->buf_cap) {
            unsigned char *t = realloc(w->buf, sz);
            if (!t) {
                OGR_G_DestroyGeometry(g);
                return gpkg_stop(w, GPKG_NOMEM, "out of memory");
            }
            w->buf = t;
            w->buf_cap = sz;
        }
        OGR_G_ExportToIsoWkb(g, wkbNDR, w->buf);
        *wkb = w->buf;
        *len = sz;
    }
    if (g)
        OGR_G_DestroyGeometry(g);
    return GPKG_OK;
}

/* Reads chunk c: every row of its FID range, in FID order. */
static int gpkg_read_chunk(gpkg_worker *w, gpkg_chunk *c)
{
    gpkg_reader *rd = w->rd;
    sqlite3_stmt *st = w->st;
    int rc;
    sqlite3_reset(st);
    if (sqlite3_bind_int64(st, 1, c->lo) != SQLITE_OK || sqlite3_bind_int64(st, 2, c->hi) != SQLITE_OK)
        return gpkg_stop(w, GPKG_FALLBACK, "cannot bind the FID range");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (atomic_load_explicit(&rd->stop, memory_order_relaxed))
            return GPKG_FALLBACK; /* another worker gave up */
        if (chunk_grow(c, rd->ncols, rd->dense))
            return gpkg_stop(w, rd->dense ? GPKG_FALLBACK : GPKG_NOMEM,
                             rd->dense ? "more rows than FIDs" : "out of memory");
        size_t i = c->n;
        if (sqlite3_column_type(st, 0) != SQLITE_INTEGER)
            return gpkg_stop(w, GPKG_FALLBACK, "a FID that is not an integer");
        c->fid[i] = (int64_t)sqlite3_column_int64(st, 0);
        for (size_t a = 0; a < rd->ncols; a++)
            if (gpkg_attr(w, c, i, a) != GPKG_OK)
                return GPKG_FALLBACK;
        const unsigned char *wkb;
        size_t len;
        if (gpkg_geom(w, &wkb, &len) != GPKG_OK)
            return GPKG_FALLBACK;
        geom_slot sl;
        memset(&sl, 0, sizeof sl);
        sl.len = len;
        w->gw.wkb = wkb;
        check_one(&w->gw, &sl);
        c->n++;
        if (sl.repair) {
            c->repair[i] = sl.repair;
            c->nrepaired++;
        }
        int bad = slot_append(&c->g, w->gw.h, &sl, wkb, i, &c->area[i], !sl.nomem);
        if (sl.nomem || bad)
            return gpkg_stop(w, GPKG_NOMEM, "out of memory");
        if (c->n == 256 && c->cap > 512) { /* room for the rest, as the first rows go */
            size_t left = c->cap - c->n;
            geoms_reserve(&c->g, (c->g.npts / c->n + 1) * left + left / 8,
                          (c->g.nrings / c->n + 1) * left, (c->g.nparts / c->n + 1) * left);
        }
    }
    if (rc != SQLITE_DONE)
        return gpkg_stop(w, GPKG_FALLBACK, "an SQLite error while reading");
    sqlite3_reset(st);
    if (c->g.cap_pts > c->g.npts + c->g.npts / 8 + 1024) { /* give back what was not used */
        double *xy = realloc(c->g.xy, (c->g.npts ? c->g.npts : 1) * 2 * sizeof *xy);
        if (xy) {
            c->g.xy = xy;
            c->g.cap_pts = c->g.npts;
        }
    }
    return GPKG_OK;
}

static void *gpkg_read_range(void *arg)
{
    gpkg_worker *w = arg;
    gpkg_reader *rd = w->rd;
    CPLPushErrorHandler(CPLQuietErrorHandler); /* OGR's path reports what it reports */
    while (!atomic_load(&rd->stop)) {
        size_t k = atomic_fetch_add(&rd->next, 1);
        if (k >= rd->nchunks || gpkg_read_chunk(w, &rd->chunks[k]) != GPKG_OK)
            break;
    }
    CPLPopErrorHandler();
    return NULL;
}

/* Puts the chunks in their places in the parcels: per-parcel values (unless already there),
 * part, ring and point indices shifted, the rings and parts built on the chunk's points,
 * which become a segment of the parcels' points. */
static void *gpkg_join_range(void *arg)
{
    gpkg_worker *w = arg;
    gpkg_reader *rd = w->rd;
    sm_parcels *p = rd->p;
    sm_parcel_geoms *g = p->src;
    size_t nc = rd->ncols;
    for (;;) {
        size_t k = atomic_fetch_add(&rd->next, 1);
        if (k >= rd->nchunks)
            break;
        gpkg_chunk *c = &rd->chunks[k];
        size_t at = c->at;
        if (rd->dense) {
            for (size_t i = 0; i < c->n; i++)
                g->part0[at + i] += c->parts0;
        } else if (c->n) {
            memcpy(p->fid + at, c->fid, c->n * sizeof *c->fid);
            if (nc)
                memcpy(p->str + at * nc, c->str, c->n * nc * sizeof *c->str);
            memcpy(p->area + at, c->area, c->n * sizeof *c->area);
            memcpy(p->repair + at, c->repair, c->n * sizeof *c->repair);
            memcpy(g->nparts_of + at, c->g.nparts_of, c->n * sizeof *c->g.nparts_of);
            memcpy(g->bbox + 4 * at, c->g.bbox, c->n * 4 * sizeof *c->g.bbox);
            for (size_t i = 0; i < c->n; i++)
                g->part0[at + i] = c->g.part0[i] + c->parts0;
            /* the notes belong to the parcels now */
            memset(c->repair, 0, c->n * sizeof *c->repair);
        }
        for (size_t r = 0; r < c->g.nrings; r++) {
            g->rings[c->rings0 + r].xy = c->g.xy + 2 * c->g.rref[r].pt0;
            g->rings[c->rings0 + r].npoints = c->g.rref[r].npts;
        }
        for (size_t q = 0; q < c->g.nparts; q++) {
            g->parts[c->parts0 + q].rings = g->rings + c->rings0 + c->g.pref[q].ring0;
            g->parts[c->parts0 + q].nrings = c->g.pref[q].nrings;
        }
        /* the points, rings and parts stay where they are */
        geoms_seg *sg = &g->seg[k];
        sg->xy = c->g.xy;
        sg->rref = c->g.rref;
        sg->pref = c->g.pref;
        sg->npts = c->g.npts;
        sg->nrings = c->g.nrings;
        sg->nparts = c->g.nparts;
        c->g.xy = NULL;
        c->g.rref = NULL;
        c->g.pref = NULL;
        c->strs = NULL; /* moved to the parcels by gpkg_read */
        chunk_free(c, nc, rd->dense);
    }
    return NULL;
}

/* Runs fn on nw workers (the calling thread is worker 0). Work is taken from a shared counter,
 * so a worker that could not be started leaves nothing undone. */
static void gpkg_run(gpkg_worker *ws, int nw, void *(*fn)(void *))
{
    pthread_t tid[64];
    int started[64] = {0};
    for (int t = 1; t < nw; t++)
        started[t] = pthread_create(&tid[t], NULL, fn, &ws[t]) == 0;
    fn(&ws[0]);
    for (int t = 1; t < nw; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
}

/* "name" with every " doubled, for SQL. */
static char *sql_ident(const char *name)
{
    size_t n = 3;
    for (const char *s = name; *s; s++)
        n += *s == '"' ? 2 : 1;
    char *q = malloc(n), *d = q;
    if (!q)
        return NULL;
    *d++ = '"';
    for (const char *s = name; *s; s++) {
        if (*s == '"')
            *d++ = '"';
        *d++ = *s;
    }
    *d++ = '"';
    *d = '\0';
    return q;
}

/* Prepares sql with ?1 (and ?2) bound to a1 (a2) when given; NULL on failure. */
static sqlite3_stmt *sql_prepare(sqlite3 *db, const char *sql, const char *a1, const char *a2)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK ||
        (a1 && sqlite3_bind_text(q, 1, a1, -1, SQLITE_TRANSIENT) != SQLITE_OK) ||
        (a2 && sqlite3_bind_text(q, 2, a2, -1, SQLITE_TRANSIENT) != SQLITE_OK)) {
        sqlite3_finalize(q);
        return NULL;
    }
    return q;
}

/* The table behind the layer is one read here as OGR reads it: a table (not a view nor a
 * virtual table) of gpkg_contents, whose FID column is its INTEGER PRIMARY KEY (its rowid, so
 * that OGR's scan is in FID order), with no index holding the geometry column (only such an
 * index could cover OGR's query and change its order), and the mapped fields among its
 * columns. NULL when it is, or why not. */
static const char *gpkg_table_ok(sqlite3 *db, const char *table, const char *fidcol,
                                 const char *geomcol, const char *const *fields, size_t nfields)
{
    const char *why = NULL;
    int rc;
    sqlite3_stmt *q = sql_prepare(db, "SELECT type, sql FROM sqlite_master WHERE lower(name) = "
                                      "lower(?1) AND type IN ('table', 'view')", table, NULL);
    if (!q || sqlite3_step(q) != SQLITE_ROW) {
        why = "the layer's table is not in sqlite_master";
        goto done;
    }
    const char *type = (const char *)sqlite3_column_text(q, 0);
    const char *sql = (const char *)sqlite3_column_text(q, 1);
    if (!type || strcmp(type, "table") != 0 || !sql || strncasecmp(sql, "CREATE VIRTUAL", 14) == 0 ||
        sqlite3_step(q) != SQLITE_DONE) {
        why = "the layer is not a plain table";
        goto done;
    }
    sqlite3_finalize(q);
    q = sql_prepare(db, "SELECT count(*) FROM gpkg_contents WHERE lower(table_name) = lower(?1) "
                        "AND lower(data_type) = 'features'", table, NULL);
    if (!q || sqlite3_step(q) != SQLITE_ROW || sqlite3_column_int64(q, 0) != 1) {
        why = "the layer is not one features table of gpkg_contents";
        goto done;
    }
    sqlite3_finalize(q);
    q = sql_prepare(db, "SELECT name, type, pk FROM pragma_table_info(?1)", table, NULL);
    if (!q) {
        why = "cannot read the table's columns";
        goto done;
    }
    int npk = 0, fid_ok = 0, geom_found = 0, found[SM_FIELD_COUNT] = {0};
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        const char *decl = (const char *)sqlite3_column_text(q, 1);
        int pk = sqlite3_column_int(q, 2);
        if (!name)
            continue;
        npk += pk > 0;
        if (sm__strieq(name, fidcol) && pk == 1 && decl && sm__strieq(decl, "INTEGER"))
            fid_ok = 1;
        if (sm__strieq(name, geomcol))
            geom_found = 1;
        for (size_t k = 0; k < nfields; k++)
            if (sm__strieq(name, fields[k]))
                found[k] = 1;
    }
    if (rc != SQLITE_DONE || npk != 1 || !fid_ok || !geom_found) {
        why = "the FID column is not the table's INTEGER PRIMARY KEY";
        goto done;
    }
    for (size_t k = 0; k < nfields; k++)
        if (!found[k]) {
            why = "a mapped field is not a column of the table";
            goto done;
        }
    sqlite3_finalize(q);
    q = sql_prepare(db, "SELECT l.origin, i.name FROM pragma_index_list(?1) AS l "
                        "LEFT JOIN pragma_index_info(l.name) AS i", table, NULL);
    if (!q) {
        why = "cannot read the table's indexes";
        goto done;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *origin = (const char *)sqlite3_column_text(q, 0);
        const char *col = (const char *)sqlite3_column_text(q, 1);
        if ((origin && strcmp(origin, "pk") == 0) || (col && sm__strieq(col, geomcol))) {
            why = "an index could change the order of OGR's scan";
            goto done;
        }
    }
    if (rc != SQLITE_DONE)
        why = "cannot read the table's indexes";
done:
    sqlite3_finalize(q);
    return why;
}

/* Frees whatever a direct read put in p, for OGR's path or for sm_parcels_destroy. */
static void gpkg_unread(sm_parcels *p, size_t nalloc)
{
    sm_parcel_geoms *g = p->src;
    str_blocks_free(p->strs);
    p->strs = NULL;
    if (p->repair)
        for (size_t k = 0; k < nalloc; k++)
            free(p->repair[k]);
    free(p->fid);
    free(p->str);
    free(p->area);
    free(p->repair);
    p->fid = NULL;
    p->str = p->repair = NULL;
    p->area = NULL;
    p->n = p->nrepaired = 0;
    geoms_segs_free(g);
    free(g->part0);
    free(g->nparts_of);
    free(g->bbox);
    free(g->xy);
    free(g->rref);
    free(g->pref);
    free(g->rings);
    free(g->parts);
    memset(g, 0, sizeof *g);
}

/* Allocates the parcels' per-parcel arrays for n parcels; -1 when out of memory. */
static int gpkg_alloc_parcels(sm_parcels *p, size_t n)
{
    sm_parcel_geoms *g = p->src;
    size_t nn = n ? n : 1;
    p->fid = malloc(nn * sizeof *p->fid);
    p->str = calloc(nn * (p->ncols ? p->ncols : 1), sizeof *p->str);
    p->area = malloc(nn * sizeof *p->area);
    p->repair = calloc(nn, sizeof *p->repair);
    g->part0 = malloc(nn * sizeof *g->part0);
    g->nparts_of = malloc(nn * sizeof *g->nparts_of);
    g->bbox = malloc(nn * 4 * sizeof *g->bbox);
    return p->fid && p->str && p->area && p->repair && g->part0 && g->nparts_of && g->bbox ? 0 : -1;
}

/* Reads the layer directly when it can be (p->direct = 1); otherwise leaves p as it was, with
 * p->direct_why saying why, for OGR's path. Errors: out of memory, GEOS. */
static sm_status gpkg_read(sm_parcels *p, sm_context *ctx, GDALDatasetH ds, OGRLayerH layer,
                           const int *fidx, GIntBig nfeat, int nw, const sm_parcels_options *opt,
                           const char *path)
{
    sm_status st = SM_OK;
    gpkg_reader rd;
    memset(&rd, 0, sizeof rd);
    atomic_init(&rd.next, 0);
    atomic_init(&rd.stop, GPKG_OK);
    gpkg_worker *ws = NULL;
    char *sql = NULL, *qtable = NULL, *qfid = NULL, *qgeom = NULL;
    char *qf[SM_FIELD_COUNT] = {NULL};
    const char *why = NULL;
    sqlite3 *db0 = NULL;
    size_t nalloc = 0;
    const char *fields[SM_FIELD_COUNT];
    GDALDriverH drv = GDALGetDatasetDriver(ds);
    const char *table = OGR_L_GetName(layer);
    const char *fidcol = OGR_L_GetFIDColumn(layer);
    const char *geomcol = OGR_L_GetGeometryColumn(layer);
    OGRFeatureDefnH defn = OGR_L_GetLayerDefn(layer);
    if (!direct_gpkg_allowed())
        why = "SINKMAP_DIRECT_GPKG=NO";
    else if (!drv || strcmp(GDALGetDriverShortName(drv), "GPKG") != 0)
        why = "not a GeoPackage";
    else if (!table || !fidcol || !fidcol[0] || !geomcol || !geomcol[0])
        why = "the layer has no FID or no geometry column";
    else if (opt && opt->encoding && opt->encoding[0])
        why = "an encoding was given";
    else if (nfeat <= 0)
        why = "the layer reports no features";
    else if (strncmp(path, "file:", 5) == 0)
        why = "a path SQLite could take for a URI";
    for (int r = 0; !why && r < SM_FIELD_COUNT; r++) {
        if (fidx[r] < 0)
            continue;
        OGRFieldDefnH fd = OGR_FD_GetFieldDefn(defn, fidx[r]);
        OGRFieldType t = OGR_Fld_GetType(fd);
        if (t != OFTInteger && t != OFTInteger64 && t != OFTString &&
            !(t == OFTReal && OGR_Fld_GetWidth(fd) == 0 && OGR_Fld_GetSubType(fd) == OFSTNone))
            why = "a mapped field is neither an integer, a real nor a string";
        rd.ftype[rd.ncols] = (int)t;
        fields[rd.ncols++] = OGR_Fld_GetNameRef(fd);
    }
    if (why)
        goto end;
    if (sqlite3_open_v2(path, &db0, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        why = "SQLite cannot open the file";
        goto end;
    }
    if ((why = gpkg_table_ok(db0, table, fidcol, geomcol, fields, rd.ncols)) != NULL)
        goto end;
    /* the statement every worker runs */
    qtable = sql_ident(table);
    qfid = sql_ident(fidcol);
    qgeom = sql_ident(geomcol);
    if (!qtable || !qfid || !qgeom)
        goto nomem;
    size_t sqllen = 2 * strlen(qfid) + strlen(qgeom) + strlen(qtable) + 96;
    for (size_t a = 0; a < rd.ncols; a++) {
        if (!(qf[a] = sql_ident(fields[a])))
            goto nomem;
        sqllen += strlen(qf[a]) + 2;
    }
    if (!(sql = malloc(sqllen)))
        goto nomem;
    {
        size_t len = (size_t)sprintf(sql, "SELECT %s, %s", qfid, qgeom);
        for (size_t a = 0; a < rd.ncols; a++)
            len += (size_t)sprintf(sql + len, ", %s", qf[a]);
        sprintf(sql + len, " FROM %s WHERE %s BETWEEN ?1 AND ?2 ORDER BY %s", qtable, qfid, qfid);
    }
    /* the FID range, cut into chunks of equal spans, several per worker */
    int64_t lo, hi;
    {
        /* two subqueries: each is a lookup at one end of the table's b-tree */
        char *q = sqlite3_mprintf("SELECT (SELECT min(%s) FROM %s), (SELECT max(%s) FROM %s)", qfid,
                                  qtable, qfid, qtable);
        sqlite3_stmt *s = q ? sql_prepare(db0, q, NULL, NULL) : NULL;
        sqlite3_free(q);
        int ok = s && sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER &&
                 sqlite3_column_type(s, 1) == SQLITE_INTEGER;
        lo = ok ? sqlite3_column_int64(s, 0) : 0;
        hi = ok ? sqlite3_column_int64(s, 1) : 0;
        sqlite3_finalize(s);
        if (!ok) {
            why = "no FID range";
            goto end;
        }
    }
    uint64_t span = (uint64_t)hi - (uint64_t)lo; /* FIDs lo..hi: span + 1 of them */
    {
        /* many per worker, so that the last ones to finish finish close together; none of
         * fewer than 256 FIDs */
        size_t want = (size_t)nw * 32;
        if ((uint64_t)want > span / 256 + 1)
            want = (size_t)(span / 256) + 1;
        uint64_t width = span / want + 1;
        if (!(rd.chunks = calloc(want, sizeof *rd.chunks)))
            goto nomem;
        for (uint64_t off = 0; rd.nchunks < want; off += width) {
            gpkg_chunk *c = &rd.chunks[rd.nchunks++];
            uint64_t last = span - off < width - 1 ? span : off + width - 1;
            c->lo = (int64_t)((uint64_t)lo + off);
            c->hi = (int64_t)((uint64_t)lo + last);
            c->at = (size_t)off;
            if (last == span)
                break;
        }
    }
    /* no gaps in the FIDs: every chunk's rows have their places already */
    rd.dense = (uint64_t)(nfeat - 1) == span;
    if (rd.dense) {
        nalloc = (size_t)nfeat;
        if (gpkg_alloc_parcels(p, nalloc))
            goto nomem;
        for (size_t k = 0; k < rd.nchunks; k++) {
            gpkg_chunk *c = &rd.chunks[k];
            c->cap = (size_t)((uint64_t)c->hi - (uint64_t)c->lo) + 1;
            c->fid = p->fid + c->at;
            c->str = p->str + c->at * rd.ncols;
            c->area = p->area + c->at;
            c->repair = p->repair + c->at;
            c->g.part0 = p->src->part0 + c->at;
            c->g.nparts_of = p->src->nparts_of + c->at;
            c->g.bbox = p->src->bbox + 4 * c->at;
        }
    }
    if (!(ws = calloc((size_t)nw, sizeof *ws)))
        goto nomem;
    for (int t = 0; t < nw; t++) {
        gpkg_worker *w = &ws[t];
        w->rd = &rd;
        if (t == 0) {
            w->db = db0;
            db0 = NULL;
        } else if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
            why = "SQLite cannot open the file";
            goto end;
        }
        if (sqlite3_prepare_v2(w->db, sql, -1, &w->st, NULL) != SQLITE_OK) {
            why = "SQLite cannot prepare the query";
            goto end;
        }
        w->gw.h = GEOS_init_r();
        w->gw.rd = w->gw.h ? GEOSWKBReader_create_r(w->gw.h) : NULL;
        if (!w->gw.rd) {
            st = sm_error(ctx, SM_ERR_NOMEM, "cannot start GEOS");
            goto end;
        }
    }
    gpkg_run(ws, nw, gpkg_read_range);
    if (atomic_load(&rd.stop) == GPKG_NOMEM) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory reading %s", path);
        goto end;
    }
    if (atomic_load(&rd.stop) == GPKG_FALLBACK) {
        why = rd.why ? rd.why : "?";
        goto end;
    }
    /* where each chunk goes; the count must be OGR's (else OGR's path says what it says) */
    size_t n = 0, npts = 0, nrings = 0, nparts = 0, nrep = 0;
    for (size_t k = 0; k < rd.nchunks; k++) {
        gpkg_chunk *c = &rd.chunks[k];
        if (rd.dense && c->n != c->cap)
            break;
        c->at = n;
        c->pts0 = npts;
        c->rings0 = nrings;
        c->parts0 = nparts;
        n += c->n;
        npts += c->g.npts;
        nrings += c->g.nrings;
        nparts += c->g.nparts;
        nrep += c->nrepaired;
    }
    if ((GIntBig)n != nfeat) {
        why = "the layer's feature count is not its number of rows";
        goto end;
    }
    sm_parcel_geoms *g = p->src;
    if (!rd.dense) {
        nalloc = n;
        if (gpkg_alloc_parcels(p, n))
            goto nomem;
    }
    g->rings = malloc((nrings ? nrings : 1) * sizeof *g->rings);
    g->parts = malloc((nparts ? nparts : 1) * sizeof *g->parts);
    g->seg = calloc(rd.nchunks, sizeof *g->seg);
    if (!g->rings || !g->parts || !g->seg)
        goto nomem;
    g->nseg = rd.nchunks;
    g->npts = g->cap_pts = npts;
    g->nrings = g->cap_rings = nrings;
    g->nparts = g->cap_parts = nparts;
    for (size_t k = 0; k < rd.nchunks; k++) { /* the strings' blocks */
        str_block *b = rd.chunks[k].strs;
        while (b && b->next)
            b = b->next;
        if (b) {
            b->next = p->strs;
            p->strs = rd.chunks[k].strs;
        }
    }
    rd.p = p;
    atomic_store(&rd.next, 0);
    gpkg_run(ws, nw, gpkg_join_range);
    p->n = g->n = n;
    p->nrepaired = nrep;
    p->direct = 1;
    goto end;
nomem:
    st = sm_error(ctx, SM_ERR_NOMEM, "out of memory reading %s", path);
end:
    for (size_t k = 0; k < rd.nchunks; k++)
        chunk_free(&rd.chunks[k], rd.ncols, rd.dense);
    free(rd.chunks);
    if (!p->direct) { /* OGR's path from a clean start (or sm_parcels_destroy) */
        gpkg_unread(p, nalloc);
        p->direct_why = why;
    }
    for (int t = 0; ws && t < nw; t++) {
        if (ws[t].st)
            sqlite3_finalize(ws[t].st);
        if (ws[t].db)
            sqlite3_close(ws[t].db);
        if (ws[t].gw.rd)
            GEOSWKBReader_destroy_r(ws[t].gw.h, ws[t].gw.rd);
        if (ws[t].gw.h)
            GEOS_finish_r(ws[t].gw.h);
        free(ws[t].buf);
    }
    free(ws);
    if (db0)
        sqlite3_close(db0);
    for (size_t a = 0; a < rd.ncols; a++)
        free(qf[a]);
    free(sql);
    free(qtable);
    free(qfid);
    free(qgeom);
    return st;
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
    for (int r = 0; r < SM_FIELD_COUNT; r++)
        p->col[r] = fidx[r] >= 0 ? (int)p->ncols++ : -1;
    /* a GeoPackage table: read directly on all threads when it can be */
    if ((st = gpkg_read(p, ctx, ds, layer, fidx, nfeat, nw, opt, path)) != SM_OK || p->direct)
        goto end;
    size_t cap = nfeat > 0 ? (size_t)nfeat : 16;
    p->fid = malloc(cap * sizeof *p->fid);
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
            if (sl->nomem && st == SM_OK)
                st = sm_error(ctx, SM_ERR_NOMEM, "out of memory reading %s", path);
            if (sl->repair) {
                p->repair[i] = sl->repair;
                sl->repair = NULL;
                p->nrepaired++;
            }
            if (slot_append(p->src, h, sl, wkb, i, &p->area[i], st == SM_OK) && st == SM_OK)
                st = sm_error(ctx, SM_ERR_NOMEM, "out of memory reading %s", path);
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
    if (p->str && !p->direct)
        for (size_t i = 0; i < p->n * p->ncols; i++)
            free(p->str[i]);
    str_blocks_free(p->strs);
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
int sm__parcels_read_directly(const sm_parcels *p) { return p->direct; }
const char *sm__parcels_direct_why(const sm_parcels *p) { return p->direct ? "" : p->direct_why ? p->direct_why : "?"; }

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
    if (s->nseg) { /* read directly: the segments one after the other */
        size_t pt = 0, ring = 0, part = 0;
        for (size_t k = 0; k < s->nseg; k++) {
            const geoms_seg *sg = &s->seg[k];
            if (sg->npts)
                memcpy(g->xy + 2 * pt, sg->xy, sg->npts * 2 * sizeof(double));
            for (size_t r = 0; r < sg->nrings; r++) {
                g->rref[ring + r].pt0 = sg->rref[r].pt0 + pt;
                g->rref[ring + r].npts = sg->rref[r].npts;
            }
            for (size_t q = 0; q < sg->nparts; q++) {
                g->pref[part + q].ring0 = sg->pref[q].ring0 + ring;
                g->pref[part + q].nrings = sg->pref[q].nrings;
            }
            pt += sg->npts;
            ring += sg->nrings;
            part += sg->nparts;
        }
    } else {
        memcpy(g->xy, s->xy, s->npts * 2 * sizeof(double));
        memcpy(g->rref, s->rref, s->nrings * sizeof(ring_ref));
        memcpy(g->pref, s->pref, s->nparts * sizeof(part_ref));
    }
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
            xs[k] = g->xy[2 * k]; /* the points copied above */
            ys[k] = g->xy[2 * k + 1];
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
                                  p->path, g->xy[2 * k], g->xy[2 * k + 1],
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
