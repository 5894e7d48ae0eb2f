/* train.c: supervised classification on rasters: feature stacks, training samples under
 * labelled polygons or points, and the pass that writes a class map (and confidence) strip by
 * strip. Strips are read on one thread and predicted on many; every pixel's class depends only
 * on its features, so the map is identical for any thread count. */
#include "sinkmap/train.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <math.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "pipeline/internal.h"
#include "sinkmap/classify.h"
#include "sinkmap/coverage.h"
#include "sinkmap/indices.h"
#include "sinkmap/legend.h"
#include "sinkmap/parcels.h"
#include "sinkmap/raster.h"

/* ---- feature stacks ----------------------------------------------------------------------- */

enum { ROLE_NONE = -1, ROLE_BLUE, ROLE_GREEN, ROLE_RED, ROLE_NIR, ROLE_SWIR1, ROLE_SWIR2, NROLES };
static const char *const ROLE_NAMES[NROLES] = {"blue", "green", "red", "nir", "swir1", "swir2"};

enum { IDX_NDVI, IDX_NDWI, IDX_MNDWI, IDX_NDBI, NINDICES };
static const char *const INDEX_NAMES[NINDICES] = {"ndvi", "ndwi", "mndwi", "ndbi"};
/* the two roles each index needs */
static const int INDEX_ROLES[NINDICES][2] = {
    {ROLE_RED, ROLE_NIR}, {ROLE_GREEN, ROLE_NIR}, {ROLE_GREEN, ROLE_SWIR1}, {ROLE_NIR, ROLE_SWIR1}};

typedef struct band_ref {
    size_t raster;
    int band;
} band_ref;

struct sm_stack {
    sm_raster **rasters;
    size_t nrasters;
    band_ref *bands;
    int nbands;
    int role_band[NROLES]; /* band index (0-based) of each role, -1 when absent */
    int indices[NINDICES];
    int nindices;
    int p;
    char **names;
    sm_grid grid;
    char *wkt;
    double *buf;
    size_t cap_buf;
};

void sm_stack_close(sm_stack *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nrasters; i++)
        sm_raster_close(s->rasters[i]);
    free(s->rasters);
    free(s->bands);
    if (s->names)
        for (int j = 0; j < s->p; j++)
            free(s->names[j]);
    free(s->names);
    free(s->wkt);
    free(s->buf);
    free(s);
}

/* Splits a comma-separated list in place; returns the count (at most max). */
static int split_list(char *s, char **items, int max)
{
    int n = 0;
    for (char *tok = s; tok && n < max;) {
        char *comma = strchr(tok, ',');
        if (comma)
            *comma = '\0';
        items[n++] = sm__trim(tok);
        tok = comma ? comma + 1 : NULL;
    }
    return n;
}

sm_status sm_stack_open(sm_stack **out, sm_context *ctx, const char *const *paths, size_t npaths,
                        const sm_stack_options *opt)
{
    sm_stack_options defaults = SM_STACK_OPTIONS_INIT;
    if (!opt)
        opt = &defaults;
    *out = NULL;
    if (npaths < 1)
        return sm_error(ctx, SM_ERR_INPUT, "no raster given");
    sm_status st = SM_OK;
    char *rolebuf = NULL, *idxbuf = NULL;
    sm_stack *s = calloc(1, sizeof *s);
    if (!s)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    s->rasters = calloc(npaths, sizeof *s->rasters);
    if (!s->rasters) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    s->nrasters = npaths;
    if ((st = sm_raster_open(&s->rasters[0], ctx, paths[0])) != SM_OK)
        goto end;
    s->grid = sm_raster_grid(s->rasters[0]);
    s->wkt = sm__strdup(ctx, sm_raster_crs_wkt(s->rasters[0]));
    if (!s->wkt) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    for (size_t i = 1; i < npaths; i++)
        if ((st = sm_raster_open_on_grid(&s->rasters[i], ctx, paths[i], &s->grid, s->wkt,
                                         SM_RESAMPLE_BILINEAR)) != SM_OK)
            goto end;
    int nb = 0;
    for (size_t i = 0; i < npaths; i++)
        nb += sm_raster_band_count(s->rasters[i]);
    if (nb > SM_MAX_FEATURES) {
        st = sm_error(ctx, SM_ERR_INPUT, "the rasters have %d bands; at most %d features", nb,
                      SM_MAX_FEATURES);
        goto end;
    }
    s->nbands = nb;
    s->bands = malloc((size_t)nb * sizeof *s->bands);
    if (!s->bands) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    nb = 0;
    for (size_t i = 0; i < npaths; i++)
        for (int b = 1; b <= sm_raster_band_count(s->rasters[i]); b++)
            s->bands[nb++] = (band_ref){i, b};
    for (int r = 0; r < NROLES; r++)
        s->role_band[r] = -1;
    int band_role[SM_MAX_FEATURES];
    for (int b = 0; b < s->nbands; b++)
        band_role[b] = ROLE_NONE;
    if (opt->roles && opt->roles[0]) {
        char *items[SM_MAX_FEATURES + 1];
        rolebuf = sm__strdup(ctx, opt->roles);
        if (!rolebuf) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        int n = split_list(rolebuf, items, SM_MAX_FEATURES + 1);
        if (n != s->nbands) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "--roles lists %d roles but the rasters have %d bands (one role per "
                          "band in file order, '-' for none)",
                          n, s->nbands);
            goto end;
        }
        for (int b = 0; b < n; b++) {
            if (strcmp(items[b], "-") == 0 || items[b][0] == '\0')
                continue;
            int r = 0;
            while (r < NROLES && !sm__strieq(items[b], ROLE_NAMES[r]))
                r++;
            if (r == NROLES) {
                st = sm_error(ctx, SM_ERR_INPUT,
                              "--roles: '%s' (band %d) is not a role: expected blue, green, red, "
                              "nir, swir1, swir2 or -",
                              items[b], b + 1);
                goto end;
            }
            if (s->role_band[r] >= 0) {
                st = sm_error(ctx, SM_ERR_INPUT, "--roles: %s is given to bands %d and %d",
                              ROLE_NAMES[r], s->role_band[r] + 1, b + 1);
                goto end;
            }
            s->role_band[r] = b;
            band_role[b] = r;
        }
    }
    if (opt->indices && opt->indices[0]) {
        char *items[NINDICES + 1];
        idxbuf = sm__strdup(ctx, opt->indices);
        if (!idxbuf) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        int n = split_list(idxbuf, items, NINDICES + 1);
        for (int j = 0; j < n; j++) {
            int ix = 0;
            while (ix < NINDICES && !sm__strieq(items[j], INDEX_NAMES[ix]))
                ix++;
            if (ix == NINDICES) {
                st = sm_error(ctx, SM_ERR_INPUT,
                              "--indices: '%s' is not an index: expected ndvi, ndwi, mndwi or ndbi",
                              items[j]);
                goto end;
            }
            for (int u = 0; u < s->nindices; u++)
                if (s->indices[u] == ix) {
                    st = sm_error(ctx, SM_ERR_INPUT, "--indices: %s is listed twice", INDEX_NAMES[ix]);
                    goto end;
                }
            for (int q = 0; q < 2; q++)
                if (s->role_band[INDEX_ROLES[ix][q]] < 0) {
                    st = sm_error(ctx, SM_ERR_INPUT,
                                  "--indices %s needs the %s and %s bands: give their roles "
                                  "with --roles (%s is not assigned)",
                                  INDEX_NAMES[ix], ROLE_NAMES[INDEX_ROLES[ix][0]],
                                  ROLE_NAMES[INDEX_ROLES[ix][1]], ROLE_NAMES[INDEX_ROLES[ix][q]]);
                    goto end;
                }
            s->indices[s->nindices++] = ix;
        }
    }
    s->p = s->nbands + s->nindices;
    if (s->p > SM_MAX_FEATURES) {
        st = sm_error(ctx, SM_ERR_INPUT, "%d features; at most %d", s->p, SM_MAX_FEATURES);
        goto end;
    }
    s->names = calloc((size_t)s->p, sizeof *s->names);
    if (!s->names) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (int b = 0; b < s->nbands; b++) {
        s->names[b] = band_role[b] >= 0 ? sm__asprintf(ctx, "b%d:%s", b + 1, ROLE_NAMES[band_role[b]])
                                        : sm__asprintf(ctx, "b%d", b + 1);
        if (!s->names[b]) {
            st = SM_ERR_NOMEM;
            goto end;
        }
    }
    for (int j = 0; j < s->nindices; j++)
        if (!(s->names[s->nbands + j] = sm__strdup(ctx, INDEX_NAMES[s->indices[j]]))) {
            st = SM_ERR_NOMEM;
            goto end;
        }
end:
    free(rolebuf);
    free(idxbuf);
    if (st != SM_OK) {
        sm_stack_close(s);
        return st;
    }
    *out = s;
    return SM_OK;
}

int sm_stack_nfeatures(const sm_stack *s) { return s->p; }
const char *const *sm_stack_feature_names(const sm_stack *s) { return (const char *const *)s->names; }
sm_grid sm_stack_grid(const sm_stack *s) { return s->grid; }
const char *sm_stack_wkt(const sm_stack *s) { return s->wkt; }

sm_status sm_stack_read(sm_stack *s, sm_context *ctx, const sm_window *win, float *out)
{
    size_t cells;
    if (win->ncols <= 0 || win->nrows <= 0)
        return SM_OK;
    if (sm_mul_size((size_t)win->ncols, (size_t)win->nrows, &cells))
        return sm_error(ctx, SM_ERR_NOMEM, "window too large");
    if (cells > s->cap_buf) {
        double *nb = realloc(s->buf, cells * sizeof *nb);
        if (!nb)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory for a window of %zu cells", cells);
        s->buf = nb;
        s->cap_buf = cells;
    }
    size_t p = (size_t)s->p;
    for (int b = 0; b < s->nbands; b++) {
        sm_raster *r = s->rasters[s->bands[b].raster];
        sm_status st = sm_raster_read(r, ctx, s->bands[b].band, &s->grid, win, SM_RESAMPLE_BILINEAR,
                                      s->buf);
        if (st != SM_OK)
            return st;
        for (size_t i = 0; i < cells; i++)
            out[i * p + (size_t)b] = (float)s->buf[i];
    }
    for (int j = 0; j < s->nindices; j++) {
        int ix = s->indices[j];
        size_t ba = (size_t)s->role_band[INDEX_ROLES[ix][0]], bb = (size_t)s->role_band[INDEX_ROLES[ix][1]];
        size_t col = (size_t)s->nbands + (size_t)j;
        for (size_t i = 0; i < cells; i++) {
            float a = out[i * p + ba], b = out[i * p + bb];
            float v;
            switch (ix) {
            case IDX_NDVI: v = sm_ndvi(a, b); break;
            case IDX_NDWI: v = sm_ndwi(a, b); break;
            case IDX_MNDWI: v = sm_mndwi(a, b); break;
            default: v = sm_ndbi(a, b); break;
            }
            out[i * p + col] = v;
        }
    }
    return SM_OK;
}

/* ---- reference samples -------------------------------------------------------------------- */

static const char *gdal_msg(void)
{
    const char *m = CPLGetLastErrorMsg();
    return (m && m[0]) ? m : "unknown error";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef sm__ref_layer ref_layer;

void sm__ref_layer_free(ref_layer *r)
{
    if (r->labels)
        for (size_t i = 0; i < r->n; i++)
            free(r->labels[i]);
    free(r->labels);
    free(r->xy);
    sm_parcel_geoms_destroy(r->geoms);
    sm_parcels_destroy(r->parcels);
}

static sm_status field_missing(sm_context *ctx, const char *path, OGRFeatureDefnH defn,
                               const char *field)
{
    char list[512];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < OGR_FD_GetFieldCount(defn) && len < sizeof list; i++) {
        int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                         OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(defn, i)));
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return sm_error(ctx, SM_ERR_INPUT, "%s: the class field '%s' does not exist (fields: %s)", path,
                    field, list);
}

sm_status sm__ref_layer_read(ref_layer *r, sm_context *ctx, const char *path,
                             const sm_reference_options *opt, const char *wkt)
{
    memset(r, 0, sizeof *r);
    sm_gdal_init();
    sm_status st = SM_OK;
    OGRSpatialReferenceH dst = NULL;
    OGRCoordinateTransformationH ct = NULL;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    CPLPopErrorHandler();
    if (!ds)
        return sm_error(ctx, SM_ERR_INPUT, "%s: not a readable vector layer (%s)", path, gdal_msg());
    OGRLayerH layer = opt->layer ? GDALDatasetGetLayerByName(ds, opt->layer) : GDALDatasetGetLayer(ds, 0);
    if (!layer) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: layer '%s' not found", path,
                      opt->layer ? opt->layer : "(first)");
        goto end;
    }
    OGRFeatureDefnH defn = OGR_L_GetLayerDefn(layer);
    int fi = OGR_FD_GetFieldIndex(defn, opt->field);
    if (fi < 0) {
        st = field_missing(ctx, path, defn, opt->field);
        goto end;
    }
    OGRwkbGeometryType gt = wkbFlatten(OGR_L_GetGeomType(layer));
    r->is_points = gt == wkbPoint || gt == wkbMultiPoint;
    if (!r->is_points) {
        /* Polygons: sm_parcels repairs and reprojects them; the class field is read as the
         * land-class role. */
        sm_parcels_options po = SM_PARCELS_OPTIONS_INIT;
        po.layer = opt->layer;
        po.fields[SM_FIELD_LAND_CLASS] = opt->field;
        if ((st = sm_parcels_open(&r->parcels, ctx, path, &po)) != SM_OK)
            goto end;
        if ((st = sm_parcels_project(&r->geoms, ctx, r->parcels, wkt)) != SM_OK)
            goto end;
        r->n = sm_parcels_count(r->parcels);
        r->labels = calloc(r->n ? r->n : 1, sizeof *r->labels);
        if (!r->labels) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            goto end;
        }
        for (size_t i = 0; i < r->n; i++) {
            if (!(r->labels[i] = sm__strdup(ctx, sm_parcels_str(r->parcels, i, SM_FIELD_LAND_CLASS)))) {
                st = SM_ERR_NOMEM;
                goto end;
            }
            sm__trim(r->labels[i]);
        }
        goto end;
    }
    OGRSpatialReferenceH src = OGR_L_GetSpatialRef(layer);
    if (src) {
        dst = OSRNewSpatialReference(NULL);
        if (!dst || OSRImportFromWkt(dst, (char **)&wkt) != OGRERR_NONE) {
            st = sm_error(ctx, SM_ERR_INTERNAL, "cannot read the raster's CRS");
            goto end;
        }
        OGRSpatialReferenceH srcc = OSRClone(src);
        OSRSetAxisMappingStrategy(srcc, OAMS_TRADITIONAL_GIS_ORDER);
        OSRSetAxisMappingStrategy(dst, OAMS_TRADITIONAL_GIS_ORDER);
        if (!OSRIsSame(srcc, dst)) {
            CPLPushErrorHandler(CPLQuietErrorHandler);
            ct = OCTNewCoordinateTransformation(srcc, dst);
            CPLPopErrorHandler();
            if (!ct) {
                OSRDestroySpatialReference(srcc);
                st = sm_error(ctx, SM_ERR_INPUT, "%s: no transformation from the layer's CRS to the "
                                                 "rasters' CRS (%s)",
                              path, gdal_msg());
                goto end;
            }
        }
        OSRDestroySpatialReference(srcc);
    } else {
        sm_warn(ctx, "%s: the layer has no CRS; its points are taken to be in the rasters' CRS", path);
    }
    GIntBig count = OGR_L_GetFeatureCount(layer, TRUE);
    size_t cap = count > 0 ? (size_t)count : 16;
    r->labels = calloc(cap, sizeof *r->labels);
    r->xy = malloc(cap * 2 * sizeof *r->xy);
    if (!r->labels || !r->xy) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    OGR_L_ResetReading(layer);
    OGRFeatureH f;
    while ((f = OGR_L_GetNextFeature(layer)) != NULL) {
        if (r->n == cap) {
            size_t nc = cap * 2;
            char **nl = realloc(r->labels, nc * sizeof *nl);
            if (nl)
                r->labels = nl;
            double *nx = realloc(r->xy, nc * 2 * sizeof *nx);
            if (nx)
                r->xy = nx;
            if (!nl || !nx) {
                OGR_F_Destroy(f);
                st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
                goto end;
            }
            cap = nc;
        }
        const char *lab = OGR_F_IsFieldSetAndNotNull(f, fi) ? OGR_F_GetFieldAsString(f, fi) : "";
        r->labels[r->n] = sm__strdup(ctx, lab);
        double x = NAN, y = NAN;
        OGRGeometryH g = OGR_F_GetGeometryRef(f);
        if (g && !OGR_G_IsEmpty(g)) {
            if (wkbFlatten(OGR_G_GetGeometryType(g)) == wkbMultiPoint && OGR_G_GetGeometryCount(g) > 0)
                g = OGR_G_GetGeometryRef(g, 0);
            x = OGR_G_GetX(g, 0);
            y = OGR_G_GetY(g, 0);
            if (ct && !OCTTransform(ct, 1, &x, &y, NULL))
                x = y = NAN;
        }
        r->xy[2 * r->n] = x;
        r->xy[2 * r->n + 1] = y;
        OGR_F_Destroy(f);
        if (!r->labels[r->n]) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        sm__trim(r->labels[r->n]);
        r->n++;
    }
end:
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    if (dst)
        OSRDestroySpatialReference(dst);
    GDALClose(ds);
    return st;
}

typedef struct label_ix {
    const char *name;
    int cls;
} label_ix;

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const label_ix *)a)->name, ((const label_ix *)b)->name);
}

/* Adds the pixels of window `win` whose weight is > 0.5 (all of them when frac is NULL). */
static sm_status add_window(sm_samples *s, sm_context *ctx, sm_stack *stack, const sm_window *win,
                            const double *frac, int cls, int64_t group, float **feat,
                            size_t *cap_feat, size_t *nodata)
{
    size_t p = (size_t)stack->p;
    /* read at most 256 rows at a time: a large polygon never needs its whole box in memory */
    for (int64_t r0 = 0; r0 < win->nrows; r0 += 256) {
        sm_window sub = {win->col0, win->row0 + r0, win->ncols,
                         win->nrows - r0 < 256 ? win->nrows - r0 : 256};
        size_t cells = (size_t)sub.ncols * (size_t)sub.nrows, need;
        int any = 0;
        for (size_t i = 0; i < cells && !any; i++)
            any = !frac || frac[(size_t)r0 * (size_t)win->ncols + i] > 0.5;
        if (!any)
            continue;
        if (sm_mul_size(cells, p, &need))
            return sm_error(ctx, SM_ERR_NOMEM, "window too large");
        if (need > *cap_feat) {
            float *nf = realloc(*feat, need * sizeof *nf);
            if (!nf)
                return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            *feat = nf;
            *cap_feat = need;
        }
        sm_status st = sm_stack_read(stack, ctx, &sub, *feat);
        if (st != SM_OK)
            return st;
        for (size_t i = 0; i < cells; i++) {
            if (frac && !(frac[(size_t)r0 * (size_t)win->ncols + i] > 0.5))
                continue;
            const float *x = *feat + i * p;
            int finite = 1;
            for (size_t j = 0; j < p && finite; j++)
                finite = isfinite(x[j]);
            if (!finite) {
                (*nodata)++;
                continue;
            }
            if ((st = sm_samples_add(s, ctx, x, cls, group)) != SM_OK)
                return st;
        }
    }
    return SM_OK;
}

sm_status sm_reference_sample(sm_samples **out, sm_context *ctx, sm_stack *stack,
                              const char *path, const sm_reference_options *opt, int k,
                              const char *const *classes)
{
    *out = NULL;
    if (!opt || !opt->field || !opt->field[0])
        return sm_error(ctx, SM_ERR_INPUT, "%s: no class field given (--field)", path);
    ref_layer r;
    sm_status st = sm__ref_layer_read(&r, ctx, path, opt, stack->wkt);
    char **names = NULL;
    label_ix *lx = NULL;
    float *feat = NULL;
    size_t cap_feat = 0, nodata = 0, outside = 0, unlabelled = 0, unknown = 0, empty = 0;
    char unknown_list[256] = "";
    sm_coverage cov = {{0, 0, 0, 0}, NULL, 0};
    int nk = k;
    if (st != SM_OK)
        goto end;
    if (!classes) {
        names = calloc(r.n ? r.n : 1, sizeof *names);
        if (!names) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            goto end;
        }
        size_t m = 0;
        for (size_t i = 0; i < r.n; i++)
            if (r.labels[i][0])
                names[m++] = r.labels[i];
        qsort(names, m, sizeof *names, cmp_str);
        size_t u = 0;
        for (size_t i = 0; i < m; i++)
            if (u == 0 || strcmp(names[i], names[u - 1]) != 0)
                names[u++] = names[i];
        if (u == 0) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s: no feature has a value in the class field '%s'",
                          path, opt->field);
            goto end;
        }
        if (u > SM_MAX_CLASSES) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: the class field '%s' has %zu distinct values; at most %d classes "
                          "(is it an id rather than a class?)",
                          path, opt->field, u, SM_MAX_CLASSES);
            goto end;
        }
        nk = (int)u;
        classes = (const char *const *)names;
    }
    if ((st = sm_samples_create(out, ctx, stack->p, sm_stack_feature_names(stack), nk, classes)) !=
        SM_OK)
        goto end;
    lx = malloc((size_t)nk * sizeof *lx);
    if (!lx) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (int c = 0; c < nk; c++)
        lx[c] = (label_ix){(*out)->class_names[c], c};
    qsort(lx, (size_t)nk, sizeof *lx, cmp_label);
    const sm_grid *g = &stack->grid;
    for (size_t i = 0; i < r.n; i++) {
        if (!r.labels[i][0]) {
            unlabelled++;
            continue;
        }
        label_ix key = {r.labels[i], 0};
        const label_ix *hit = bsearch(&key, lx, (size_t)nk, sizeof *lx, cmp_label);
        if (!hit) {
            if (unknown++ < 5 && strlen(unknown_list) + strlen(r.labels[i]) + 8 < sizeof unknown_list) {
                if (!strstr(unknown_list, r.labels[i])) {
                    strcat(unknown_list, unknown_list[0] ? ", '" : "'");
                    strcat(unknown_list, r.labels[i]);
                    strcat(unknown_list, "'");
                }
            }
            continue;
        }
        size_t before = (*out)->n;
        if (r.is_points) {
            double x = r.xy[2 * i], y = r.xy[2 * i + 1];
            double fc = floor((x - g->x0) / g->dx), fr = floor((g->y0 - y) / g->dy);
            if (!(fc >= 0 && fc < (double)g->ncols && fr >= 0 && fr < (double)g->nrows)) {
                outside++;
                continue;
            }
            sm_window w = {(int64_t)fc, (int64_t)fr, 1, 1};
            if ((st = add_window(*out, ctx, stack, &w, NULL, hit->cls, (int64_t)i, &feat, &cap_feat,
                                 &nodata)) != SM_OK)
                goto end;
        } else {
            size_t nparts;
            const sm_polygon *parts = sm_parcel_geoms_parts(r.geoms, i, &nparts);
            if (nparts == 0) {
                empty++;
                continue;
            }
            if ((st = sm_coverage_compute(&cov, ctx, g, parts, nparts, SM_COVER_CENTER)) != SM_OK)
                goto end;
            if (cov.win.ncols == 0 || cov.win.nrows == 0) {
                outside++;
                continue;
            }
            if ((st = add_window(*out, ctx, stack, &cov.win, cov.frac, hit->cls, (int64_t)i, &feat,
                                 &cap_feat, &nodata)) != SM_OK)
                goto end;
            if ((*out)->n == before)
                empty++;
        }
    }
    if (unlabelled)
        sm_warn(ctx, "%s: %zu features have no value in '%s' and were skipped", path, unlabelled,
                opt->field);
    if (unknown)
        sm_warn(ctx, "%s: %zu features have a class that is not among the model's classes (%s) "
                     "and were skipped",
                path, unknown, unknown_list);
    if (outside)
        sm_warn(ctx, "%s: %zu features lie outside the rasters and were skipped", path, outside);
    if (empty)
        sm_warn(ctx, "%s: %zu polygons hold no pixel centre with data", path, empty);
    if (nodata)
        sm_warn(ctx, "%s: %zu pixels under the features have no data in a band and were skipped",
                path, nodata);
end:
    if (st != SM_OK) {
        sm_samples_destroy(*out);
        *out = NULL;
    }
    sm_coverage_free(&cov);
    free(feat);
    free(lx);
    free(names);
    sm__ref_layer_free(&r);
    return st;
}

/* ---- class maps --------------------------------------------------------------------------- */

/* Colours for classes whose name is not a legend key: distinct hues, then repeated darker. */
static const uint8_t PALETTE[12][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},   {148, 103, 189}, {140, 86, 75},
    {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}, {174, 199, 232}, {255, 187, 120}};

typedef struct predict_job {
    const sm_model *m;
    const float *x;
    size_t n;
    uint8_t *code;
    float *conf;
} predict_job;

static void *predict_main(void *arg)
{
    predict_job *j = arg;
    sm_model_predict_codes(j->m, j->x, j->n, j->code, j->conf);
    return NULL;
}

sm_status sm_classify_map(sm_context *ctx, sm_stack *stack, const sm_model *model,
                          const char *map_path, const sm_classify_map_options *opt,
                          double *seconds)
{
    sm_classify_map_options defaults = SM_CLASSIFY_MAP_OPTIONS_INIT;
    if (!opt)
        opt = &defaults;
    double t0 = sm__now();
    sm_model_expect ex = {stack->p, (const char *const *)stack->names, 0, NULL};
    sm_status st = sm_model_check(model, ctx, "the model", &ex);
    if (st != SM_OK)
        return st;
    int k = sm_model_nclasses(model);
    size_t p = (size_t)stack->p;
    sm_grid g = stack->grid;
    sm_raster_writer *mw = NULL, *cw = NULL;
    sm_class_entry *entries = NULL;
    float *feat = NULL, *conf = NULL;
    uint8_t *code = NULL;
    double *out = NULL;
    pthread_t *tids = NULL;
    predict_job *jobs = NULL;
    int nthreads = opt->threads;
    if (nthreads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = c > 0 ? (int)(c > 64 ? 64 : c) : 1;
    }
    /* strips of about a million cells */
    int64_t rows = g.ncols > 0 ? (1 << 20) / g.ncols : 1;
    if (rows < 1)
        rows = 1;
    if (rows > g.nrows)
        rows = g.nrows;
    size_t cells = (size_t)rows * (size_t)g.ncols, nfeat;
    if (sm_mul_size(cells, p, &nfeat))
        return sm_error(ctx, SM_ERR_NOMEM, "strip size overflows");
    entries = calloc((size_t)k + 1, sizeof *entries);
    feat = malloc(nfeat * sizeof *feat);
    conf = malloc(cells * sizeof *conf);
    code = malloc(cells);
    out = malloc(cells * sizeof *out);
    tids = calloc((size_t)nthreads, sizeof *tids);
    jobs = calloc((size_t)nthreads, sizeof *jobs);
    if (!entries || !feat || !conf || !code || !out || !tids || !jobs) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    size_t nlegend;
    const sm_legend_entry *legend = sm_legend(&nlegend);
    for (int c = 0; c < k; c++) {
        const char *name = sm_model_class_name(model, c);
        entries[c].code = c + 1;
        entries[c].name = name;
        entries[c].r = PALETTE[c % 12][0];
        entries[c].g = PALETTE[c % 12][1];
        entries[c].b = PALETTE[c % 12][2];
        if (c >= 12) {
            entries[c].r /= 2;
            entries[c].g /= 2;
            entries[c].b /= 2;
        }
        for (size_t l = 0; l < nlegend; l++)
            if (sm__strieq(name, legend[l].key) || sm__strieq(name, legend[l].name_en) ||
                strcmp(name, legend[l].name_zh) == 0) {
                entries[c].r = legend[l].r;
                entries[c].g = legend[l].g;
                entries[c].b = legend[l].b;
            }
    }
    const sm_legend_entry *unc = sm_legend_find(SM_LC_UNCLASSIFIED);
    entries[k].code = sm_model_unclassified_code(model);
    entries[k].name = "unclassified";
    entries[k].r = unc ? unc->r : 255;
    entries[k].g = unc ? unc->g : 255;
    entries[k].b = unc ? unc->b : 255;
    sm_raster_writer_options wo = SM_RASTER_WRITER_OPTIONS_INIT;
    wo.type = SM_PIXEL_BYTE;
    wo.nodata = 0;
    wo.has_nodata = 1;
    wo.threads = opt->threads;
    wo.categorical = 1;
    wo.description = sm_model_method(model) == SM_METHOD_RF ? "land cover (random forest)"
                                                            : "land cover (maximum likelihood)";
    wo.classes = entries;
    wo.nclasses = (size_t)k + 1;
    if ((st = sm_raster_writer_create(&mw, ctx, map_path, &g, stack->wkt, &wo)) != SM_OK)
        goto end;
    if (opt->confidence_path) {
        sm_raster_writer_options co = SM_RASTER_WRITER_OPTIONS_INIT;
        co.type = SM_PIXEL_FLOAT32;
        co.nodata = NAN;
        co.has_nodata = 1;
        co.threads = opt->threads;
        co.description = sm_model_method(model) == SM_METHOD_RF
                             ? "confidence: share of the trees' votes for the class"
                             : "confidence: posterior probability of the class";
        co.unit = "share";
        if ((st = sm_raster_writer_create(&cw, ctx, opt->confidence_path, &g, stack->wkt, &co)) !=
            SM_OK)
            goto end;
    }
    for (int64_t r0 = 0; r0 < g.nrows; r0 += rows) {
        sm_window win = {0, r0, g.ncols, r0 + rows > g.nrows ? g.nrows - r0 : rows};
        size_t n = (size_t)win.ncols * (size_t)win.nrows;
        if ((st = sm_stack_read(stack, ctx, &win, feat)) != SM_OK)
            goto end;
        int nt = nthreads;
        if ((size_t)nt > n / 1024 + 1)
            nt = (int)(n / 1024 + 1);
        size_t chunk = (n + (size_t)nt - 1) / (size_t)nt;
        int started = 0;
        for (int t = 0; t < nt; t++) {
            size_t a = (size_t)t * chunk, b = a + chunk > n ? n : a + chunk;
            jobs[t] = (predict_job){model, feat + a * p, b > a ? b - a : 0, code + a, conf + a};
        }
        for (int t = 1; t < nt; t++, started++)
            if (pthread_create(&tids[t], NULL, predict_main, &jobs[t]) != 0)
                break;
        predict_main(&jobs[0]);
        for (int t = 1; t <= started; t++)
            pthread_join(tids[t], NULL);
        for (int t = started + 1; t < nt; t++)
            predict_main(&jobs[t]); /* a thread that could not start: done here */
        for (size_t i = 0; i < n; i++)
            out[i] = code[i];
        if ((st = sm_raster_writer_write(mw, ctx, 1, &win, out)) != SM_OK)
            goto end;
        if (cw) {
            for (size_t i = 0; i < n; i++)
                out[i] = conf[i];
            if ((st = sm_raster_writer_write(cw, ctx, 1, &win, out)) != SM_OK)
                goto end;
        }
        if ((st = sm_progress(ctx, (double)(r0 + win.nrows) / (double)g.nrows, "classifying")) !=
            SM_OK)
            goto end;
    }
    if ((st = sm_raster_writer_finish(mw, ctx)) != SM_OK)
        goto end;
    if (cw && (st = sm_raster_writer_finish(cw, ctx)) != SM_OK)
        goto end;
    if (seconds)
        *seconds = sm__now() - t0;
end:
    sm_raster_writer_destroy(mw);
    sm_raster_writer_destroy(cw);
    free(entries);
    free(feat);
    free(conf);
    free(code);
    free(out);
    free(tids);
    free(jobs);
    return st;
}

/* ---- accuracy ----------------------------------------------------------------------------- */

typedef struct acc_summary {
    double n, correct, kappa;
    double row[SM_MAX_CLASSES + 1], col[SM_MAX_CLASSES];
} acc_summary;

static void summarize(const double *counts, int k, acc_summary *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i <= k; i++)
        for (int j = 0; j < k; j++) {
            double v = counts[(size_t)i * (size_t)k + (size_t)j];
            a->row[i] += v;
            a->col[j] += v;
            a->n += v;
            if (i == j)
                a->correct += v;
        }
    double pe = 0;
    for (int i = 0; i < k; i++)
        pe += a->row[i] * a->col[i];
    if (a->n > 0) {
        pe /= a->n * a->n;
        double po = a->correct / a->n;
        a->kappa = pe < 1 ? (po - pe) / (1 - pe) : NAN;
    } else {
        a->kappa = NAN;
    }
}

void sm_confusion_print(FILE *out, const sm_model *m, const double *counts, const char *title)
{
    int k = sm_model_nclasses(m);
    acc_summary a;
    summarize(counts, k, &a);
    fprintf(out, "%s: %.0f samples\n", title, a.n);
    fprintf(out, "  %-16s", "map \\ reference");
    for (int j = 0; j < k; j++)
        fprintf(out, " %8.8s", sm_model_class_name(m, j));
    fprintf(out, " %8s %8s\n", "total", "user's");
    for (int i = 0; i <= k; i++) {
        if (i == k && a.row[k] == 0)
            break;
        fprintf(out, "  %-16.16s", i < k ? sm_model_class_name(m, i) : "unclassified");
        for (int j = 0; j < k; j++)
            fprintf(out, " %8.0f", counts[(size_t)i * (size_t)k + (size_t)j]);
        fprintf(out, " %8.0f", a.row[i]);
        if (i < k && a.row[i] > 0)
            fprintf(out, " %8.3f", counts[(size_t)i * (size_t)k + (size_t)i] / a.row[i]);
        fputc('\n', out);
    }
    fprintf(out, "  %-16s", "total");
    for (int j = 0; j < k; j++)
        fprintf(out, " %8.0f", a.col[j]);
    fprintf(out, "\n  %-16s", "producer's");
    for (int j = 0; j < k; j++) {
        if (a.col[j] > 0)
            fprintf(out, " %8.3f", counts[(size_t)j * (size_t)k + (size_t)j] / a.col[j]);
        else
            fprintf(out, " %8s", "-");
    }
    fprintf(out, "\n  overall accuracy %.4f, kappa %.4f\n", a.n > 0 ? a.correct / a.n : NAN,
            a.kappa);
}

void sm_confusion_csv(FILE *out, const sm_model *m, const double *counts, const char *set)
{
    int k = sm_model_nclasses(m);
    acc_summary a;
    summarize(counts, k, &a);
    for (int i = 0; i <= k; i++)
        for (int j = 0; j < k; j++)
            fprintf(out, "%s,%s,%s,n,%.0f\n", set, i < k ? sm_model_class_name(m, i) : "unclassified",
                    sm_model_class_name(m, j), counts[(size_t)i * (size_t)k + (size_t)j]);
    for (int c = 0; c < k; c++) {
        double d = counts[(size_t)c * (size_t)k + (size_t)c];
        fprintf(out, "%s,%s,,users,", set, sm_model_class_name(m, c));
        if (a.row[c] > 0)
            fprintf(out, "%.17g", d / a.row[c]);
        fprintf(out, "\n%s,%s,,producers,", set, sm_model_class_name(m, c));
        if (a.col[c] > 0)
            fprintf(out, "%.17g", d / a.col[c]);
        fputc('\n', out);
    }
    fprintf(out, "%s,,,samples,%.0f\n", set, a.n);
    fprintf(out, "%s,,,overall,", set);
    if (a.n > 0)
        fprintf(out, "%.17g", a.correct / a.n);
    fprintf(out, "\n%s,,,kappa,", set);
    if (!isnan(a.kappa))
        fprintf(out, "%.17g", a.kappa);
    fputc('\n', out);
}
