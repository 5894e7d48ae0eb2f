/* scene_pass.c: one pass over a season's rasters: reflectance, land cover, per-parcel sums.
 * The analysis grid is cut into strips of rows; each strip is read once (every band role,
 * coarser bands resampled onto the grid, the class mask), classified, written to the
 * land-cover GeoTIFF, and summed into the parcels it touches with exact coverage weights.
 * Strips are processed by worker threads in batches and merged in strip order, so the
 * result is the same for any number of threads. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "pipeline/internal.h"
#include "sinkmap/classify.h"
#include "sinkmap/indices.h"
#include "sinkmap/coverage.h"
#include "sinkmap/legend.h"
#include "sinkmap/model.h"
#include "sinkmap/raster.h"

const char *const SM__ROLE_NAMES[SM__NROLES] = {"blue", "green", "red", "nir", "swir1", "swir2"};

static const char *const INDEX_NAMES[SM__NINDEX] = {"ndvi", "evi",  "ndwi", "mndwi",
                                                    "ndbi", "nbr", "ndmi"};
/* The roles each index needs (-1: none). */
static const int INDEX_ROLES[SM__NINDEX][3] = {
    {SM__ROLE_RED, SM__ROLE_NIR, -1},          {SM__ROLE_BLUE, SM__ROLE_RED, SM__ROLE_NIR},
    {SM__ROLE_GREEN, SM__ROLE_NIR, -1},        {SM__ROLE_GREEN, SM__ROLE_SWIR1, -1},
    {SM__ROLE_NIR, SM__ROLE_SWIR1, -1},        {SM__ROLE_NIR, SM__ROLE_SWIR2, -1},
    {SM__ROLE_NIR, SM__ROLE_SWIR1, -1}};

void sm__features_init(sm__features *f, const sm__scene *sc)
{
    memset(f, 0, sizeof *f);
    for (int r = 0; r < SM__NROLES; r++)
        if (sc->bands[r].raster) {
            f->role[f->nroles++] = r;
            f->names[f->p++] = SM__ROLE_NAMES[r];
        }
    for (int i = 0; i < SM__NINDEX; i++) {
        int ok = 1;
        for (int j = 0; j < 3; j++)
            if (INDEX_ROLES[i][j] >= 0 && !sc->bands[INDEX_ROLES[i][j]].raster)
                ok = 0;
        /* NDMI = (N − S1)/(N + S1) is exactly −NDBI (same bands): with both, maximum
         * likelihood's covariance would be singular and a forest gains nothing, so NDBI
         * stands for both. */
        if (i == SM__IDX_NDMI)
            ok = 0;
        if (ok) {
            f->index[f->nindex++] = i;
            f->names[f->p++] = INDEX_NAMES[i];
        }
    }
}

/* The features of chunk pixel i into x[f->p]. */
static void pixel_features(const sm__features *f, float *const *refl, size_t i, float *x)
{
    int j = 0;
    for (int r = 0; r < f->nroles; r++)
        x[j++] = refl[f->role[r]][i];
    for (int k = 0; k < f->nindex; k++) {
        float v;
#define R(role) refl[role][i]
        switch (f->index[k]) {
        case SM__IDX_NDVI: v = sm_ndvi(R(SM__ROLE_RED), R(SM__ROLE_NIR)); break;
        case SM__IDX_EVI: v = sm_evi(R(SM__ROLE_BLUE), R(SM__ROLE_RED), R(SM__ROLE_NIR)); break;
        case SM__IDX_NDWI: v = sm_ndwi(R(SM__ROLE_GREEN), R(SM__ROLE_NIR)); break;
        case SM__IDX_MNDWI: v = sm_mndwi(R(SM__ROLE_GREEN), R(SM__ROLE_SWIR1)); break;
        case SM__IDX_NDBI: v = sm_ndbi(R(SM__ROLE_NIR), R(SM__ROLE_SWIR1)); break;
        case SM__IDX_NBR: v = sm_nbr(R(SM__ROLE_NIR), R(SM__ROLE_SWIR2)); break;
        default: v = sm_ndmi(R(SM__ROLE_NIR), R(SM__ROLE_SWIR1)); break;
        }
#undef R
        x[j++] = v;
    }
}

int64_t sm__strip_rows(int64_t ncols)
{
    int64_t rows = ncols > 0 ? (4 * 1024 * 1024) / ncols : 512;
    if (rows < 16)
        rows = 16;
    if (rows > 512)
        rows = 512;
    return rows;
}

/* Strips of the scene pass: 512 rows, the tile height of Sentinel-2 products and of the COG
 * written, so that each worker decodes whole tile rows that no other worker touches and
 * completes whole output tiles. A strip is read and classified in chunks of SCENE_CHUNK_COLS
 * columns (whole tiles too): the reflectances (about 35 bytes a cell) exist for one chunk at a
 * time, and only the class and NBR (5 bytes a cell) for the whole strip, which the parcel sums
 * need. Grids too wide for that budget fall back to sm__strip_rows. */
#define SCENE_TILE_ROWS 512
#define SCENE_CHUNK_COLS 2048
#define SCENE_STRIP_CELLS (32 * 1024 * 1024)
static int64_t scene_strip_rows(int64_t ncols)
{
    if (ncols > 0 && ncols <= SCENE_STRIP_CELLS / SCENE_TILE_ROWS)
        return SCENE_TILE_ROWS;
    return sm__strip_rows(ncols);
}

typedef struct part_acc {
    size_t parcel;
    sm__scene_acc acc;
} part_acc;

/* A worker owns its GDAL handles (GDAL datasets are not shared between threads), its buffers
 * and the partial sums of the strip it last processed. */
typedef struct worker {
    sm_context *ctx;
    sm_status status;
    const sm__plan *plan;
    size_t scene;
    sm_raster *rasters[SM_JOB_MAX_FILES];
    sm_raster *mask;
    sm__band_src bands[SM__NROLES];
    double *dn;          /* one band's chunk */
    float *refl[SM__NROLES]; /* the chunk's reflectances */
    uint8_t *valid, *cloud, *ccls; /* the chunk's validity, mask and classes */
    uint8_t *cls;        /* the strip's classes */
    float *nbr;          /* the strip's NBR (NAN where not observed) */
    uint8_t masked[256]; /* mask codes 0..255 to mask */
    sm_coverage cov;
    part_acc *parts;
    size_t nparts, cap_parts;
    sm_window win;
    size_t cells, observed; /* cells read; cells with a land-cover class (not nodata, not cloud) */
    /* supervised: the model applied, or the labels collected */
    const sm__scene_model *model;
    const sm__labels *labels;
    sm__features feat;
    float *x;             /* a chunk's features (observed pixels, packed) */
    size_t *xi;           /* their chunk index */
    uint8_t *pcode;       /* their predicted codes */
    float *pconf;         /* their confidence */
    float *conf;          /* the strip's confidence (NaN where not classified) */
    double pixels[SM__NCODES];
    sm_samples *samples;  /* the strip's training samples (collect mode) */
    const sm_window *lab_win; /* each label feature's window on the grid (collect mode) */
    double keep[SM__NCODES];  /* share of each class's pixels kept (collect mode) */
    uint64_t seed;
} worker;

static void worker_free(worker *w)
{
    for (size_t i = 0; i < SM_JOB_MAX_FILES; i++)
        sm_raster_close(w->rasters[i]);
    sm_raster_close(w->mask);
    free(w->dn);
    for (int r = 0; r < SM__NROLES; r++)
        free(w->refl[r]);
    free(w->valid);
    free(w->cloud);
    free(w->cls);
    free(w->ccls);
    free(w->nbr);
    free(w->parts);
    free(w->x);
    free(w->xi);
    free(w->pcode);
    free(w->pconf);
    free(w->conf);
    sm_samples_destroy(w->samples);
    sm_coverage_free(&w->cov);
    sm_context_destroy(w->ctx);
}

static int mask_has(const sm_job_scene *js, double v)
{
    for (size_t i = 0; i < js->nmask_values; i++)
        if (v == (double)js->mask_values[i])
            return 1;
    return 0;
}

static sm_status worker_init(worker *w, sm_context *ctx, const sm__plan *plan, size_t s,
                             int64_t strip, const sm__scene_model *model, const sm__labels *labels)
{
    memset(w, 0, sizeof *w);
    w->plan = plan;
    w->scene = s;
    w->model = model;
    w->labels = labels;
    sm__features_init(&w->feat, &plan->scenes[s]);
    w->ctx = sm_context_create();
    if (!w->ctx)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    const sm__scene *sc = &plan->scenes[s];
    sm_status st;
    for (size_t f = 0; f < sc->nrasters; f++)
        if ((st = sm_raster_reopen(&w->rasters[f], ctx, sc->rasters[f])) != SM_OK)
            return st;
    if (sc->mask && (st = sm_raster_reopen(&w->mask, ctx, sc->mask)) != SM_OK)
        return st;
    for (int r = 0; r < SM__NROLES; r++) {
        w->bands[r] = sc->bands[r];
        for (size_t f = 0; f < sc->nrasters; f++)
            if (sc->bands[r].raster == sc->rasters[f])
                w->bands[r].raster = w->rasters[f];
    }
    size_t n, nc;
    int64_t cw = plan->grid.ncols < SCENE_CHUNK_COLS ? plan->grid.ncols : SCENE_CHUNK_COLS;
    if (sm_mul_size((size_t)strip, (size_t)plan->grid.ncols, &n))
        return sm_error(ctx, SM_ERR_NOMEM, "strip size overflows");
    nc = (size_t)strip * (size_t)cw;
    w->dn = malloc(nc * sizeof *w->dn);
    w->valid = malloc(nc);
    w->cloud = malloc(nc);
    w->ccls = malloc(nc);
    w->cls = malloc(n);
    w->nbr = malloc(n * sizeof *w->nbr);
    if (!w->dn || !w->valid || !w->cloud || !w->ccls || !w->cls || !w->nbr)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory for a strip of %zu cells", n);
    for (int r = 0; r < SM__NROLES; r++) {
        if (!w->bands[r].raster)
            continue;
        w->refl[r] = malloc(nc * sizeof(float));
        if (!w->refl[r])
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory for a strip of %zu cells", n);
    }
    if (model || labels) {
        size_t p = (size_t)w->feat.p;
        w->x = malloc(nc * p * sizeof *w->x);
        w->xi = malloc(nc * sizeof *w->xi);
        w->pcode = malloc(nc);
        w->pconf = malloc(nc * sizeof *w->pconf);
        w->conf = malloc(n * sizeof *w->conf);
        if (!w->x || !w->xi || !w->pcode || !w->pconf || !w->conf)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory for a strip of %zu cells", n);
    }
    const sm_job_scene *js = sc->job;
    for (int v = 0; v < 256; v++)
        w->masked[v] = (uint8_t)mask_has(js, (double)v);
    return SM_OK;
}

static sm_status add_part(worker *w, size_t parcel, part_acc **out)
{
    if (w->nparts == w->cap_parts) {
        size_t cap = w->cap_parts ? 2 * w->cap_parts : 256;
        part_acc *p = realloc(w->parts, cap * sizeof *p);
        if (!p)
            return sm_error(w->ctx, SM_ERR_NOMEM, "out of memory");
        w->parts = p;
        w->cap_parts = cap;
    }
    *out = &w->parts[w->nparts++];
    memset(*out, 0, sizeof **out);
    (*out)->parcel = parcel;
    return SM_OK;
}

/* Classifies the chunk's n pixels with the model into w->ccls (and their confidence into the
 * strip's, at column c0): no data 0, masked 11, the model's class, or 10 where the model
 * rejects the pixel or a feature is missing. Only observed pixels are given to the model. */
static void model_chunk(worker *w, const sm_window *cw, int64_t c0)
{
    const sm__scene_model *sm = w->model;
    size_t n = (size_t)cw->ncols * (size_t)cw->nrows, m = 0, p = (size_t)w->feat.p;
    size_t stride = (size_t)w->win.ncols;
    for (size_t i = 0; i < n; i++) {
        size_t y = i / (size_t)cw->ncols, x = i % (size_t)cw->ncols;
        w->conf[y * stride + (size_t)c0 + x] = NAN;
        if (!w->valid[i]) {
            w->ccls[i] = SM__CODE_NODATA;
        } else if (w->cloud[i]) {
            w->ccls[i] = SM__CODE_CLOUD;
        } else {
            pixel_features(&w->feat, w->refl, i, w->x + m * p);
            w->xi[m++] = i;
        }
    }
    sm_model_predict_codes(sm->model, w->x, m, w->pcode, w->pconf);
    int rejected = sm_model_unclassified_code(sm->model), k = sm_model_nclasses(sm->model);
    for (size_t j = 0; j < m; j++) {
        size_t i = w->xi[j];
        int c = w->pcode[j];
        uint8_t code = (c >= 1 && c <= k && c != rejected) ? (uint8_t)sm->code[c - 1]
                                                             : (uint8_t)SM__CODE_UNCLASSIFIED;
        w->ccls[i] = code;
        if (code != SM__CODE_UNCLASSIFIED) {
            size_t y = i / (size_t)cw->ncols, x = i % (size_t)cw->ncols;
            w->conf[y * stride + (size_t)c0 + x] = w->pconf[j];
        }
    }
}

/* The legend keys of codes 1..9, sorted (the class list of collected samples), and the
 * class index of each code. */
static void collect_classes(const char **names, int *index_of_code)
{
    int n = 0;
    for (int c = 1; c <= 9; c++)
        names[n++] = sm_legend_find(c)->key;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (int c = 0; c < SM__NCODES; c++) {
        index_of_code[c] = -1;
        for (int i = 0; i < n && c >= 1 && c <= 9; i++)
            if (strcmp(names[i], sm_legend_find(c)->key) == 0)
                index_of_code[c] = i;
    }
}

/* A uniform number in [0,1) that depends only on the seed and the grid cell (splitmix64). */
static double cell_uniform(uint64_t seed, uint64_t cell)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (cell + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Adds chunk pixel i (grid cell `cell`) as a sample of class `cls` from feature `group` when it
 * is observed, every feature is finite, and the cell's draw falls in its class's kept share. */
static sm_status collect_pixel(worker *w, size_t i, uint64_t cell, int cls, int64_t group)
{
    if (!w->valid[i] || w->cloud[i])
        return SM_OK;
    if (w->keep[cls] < 1.0 && !(cell_uniform(w->seed, cell) < w->keep[cls]))
        return SM_OK;
    float x[SM__MAX_FEAT];
    pixel_features(&w->feat, w->refl, i, x);
    for (int j = 0; j < w->feat.p; j++)
        if (!isfinite(x[j]))
            return SM_OK;
    return sm_samples_add(w->samples, w->ctx, x, cls, group);
}

static sm_status collect_chunk(worker *w, const sm_window *cw)
{
    const sm__labels *lab = w->labels;
    const sm_grid *g = &w->plan->grid;
    const char *names[9];
    int cls_of[SM__NCODES];
    collect_classes(names, cls_of);
    sm_status st;
    if (!lab->geoms) {
        for (size_t f = 0; f < lab->n; f++) {
            int code = lab->code[f];
            if (code < 1 || code > 9)
                continue;
            double fc = floor((lab->xy[2 * f] - g->x0) / g->dx);
            double fr = floor((g->y0 - lab->xy[2 * f + 1]) / g->dy);
            if (!(fc >= (double)cw->col0 && fc < (double)(cw->col0 + cw->ncols) &&
                  fr >= (double)cw->row0 && fr < (double)(cw->row0 + cw->nrows)))
                continue;
            size_t i = (size_t)((int64_t)fr - cw->row0) * (size_t)cw->ncols +
                       (size_t)((int64_t)fc - cw->col0);
            uint64_t cell = (uint64_t)fr * (uint64_t)g->ncols + (uint64_t)fc;
            if ((st = collect_pixel(w, i, cell, cls_of[code], (int64_t)f)) != SM_OK)
                return st;
        }
        return SM_OK;
    }
    sm_grid sub = sm_grid_subgrid(g, cw);
    for (size_t f = 0; f < lab->n; f++) {
        int code = lab->code[f];
        const sm_window *lw = &w->lab_win[f];
        if (code < 1 || code > 9 || lw->nrows == 0 || lw->row0 >= cw->row0 + cw->nrows ||
            lw->row0 + lw->nrows <= cw->row0 || lw->col0 >= cw->col0 + cw->ncols ||
            lw->col0 + lw->ncols <= cw->col0)
            continue;
        size_t nparts;
        const sm_polygon *parts = sm_parcel_geoms_parts(lab->geoms, f, &nparts);
        if (!nparts)
            continue;
        if ((st = sm_coverage_compute(&w->cov, w->ctx, &sub, parts, nparts,
                                      lab->center ? SM_COVER_CENTER : SM_COVER_EXACT)) != SM_OK)
            return st;
        for (int64_t rr = 0; rr < w->cov.win.nrows; rr++) {
            const double *fr = w->cov.frac + (size_t)rr * (size_t)w->cov.win.ncols;
            for (int64_t cc = 0; cc < w->cov.win.ncols; cc++) {
                /* wholly inside: exact coverage 1 up to rounding; centre mode gives 0 or 1 */
                if (!(fr[cc] >= 1.0 - 1e-9))
                    continue;
                size_t i = (size_t)(w->cov.win.row0 + rr) * (size_t)cw->ncols +
                           (size_t)(w->cov.win.col0 + cc);
                uint64_t cell = (uint64_t)(cw->row0 + w->cov.win.row0 + rr) * (uint64_t)g->ncols +
                                (uint64_t)(cw->col0 + w->cov.win.col0 + cc);
                if ((st = collect_pixel(w, i, cell, cls_of[code], (int64_t)f)) != SM_OK)
                    return st;
            }
        }
    }
    return SM_OK;
}

/* Reads and classifies the chunk `cw` of the strip (its first column is `c0` in the strip):
 * fills the strip's classes and NBR for those columns (collect mode: gathers the chunk's
 * training samples instead). */
static sm_status process_chunk(worker *w, const sm_window *cw, int64_t c0)
{
    const sm__plan *plan = w->plan;
    const sm_job_scene *js = plan->scenes[w->scene].job;
    const sm_grid *g = &plan->grid;
    size_t n = (size_t)cw->ncols * (size_t)cw->nrows;
    sm_status st;
    memset(w->valid, 1, n);
    memset(w->cloud, 0, n);
    for (int r = 0; r < SM__NROLES; r++) {
        const sm__band_src *b = &w->bands[r];
        if (!b->raster)
            continue;
        sm_grid rg = sm_raster_grid(b->raster);
        sm_resample rs = (fabs(rg.dx - g->dx) < 1e-9 * g->dx) ? SM_RESAMPLE_NEAREST : SM_RESAMPLE_BILINEAR;
        if ((st = sm_raster_read(b->raster, w->ctx, b->band, g, cw, rs, w->dn)) != SM_OK)
            return st;
        float *out = w->refl[r];
        for (size_t i = 0; i < n; i++) {
            double v = w->dn[i];
            if (isnan(v)) {
                /* The 10 m bands decide validity; a missing coarse band only loses its indices. */
                if (r <= SM__ROLE_NIR)
                    w->valid[i] = 0;
                out[i] = NAN;
            } else {
                out[i] = (float)((v + b->offset) * b->scale);
            }
        }
    }
    if (w->mask) {
        if ((st = sm_raster_read(w->mask, w->ctx, 1, g, cw, SM_RESAMPLE_NEAREST, w->dn)) != SM_OK)
            return st;
        for (size_t i = 0; i < n; i++) {
            double v = w->dn[i];
            if (v >= 0 && v <= 255 && v == (double)(int)v)
                w->cloud[i] = w->masked[(int)v];
            else if (!isnan(v) && mask_has(js, v))
                w->cloud[i] = 1;
        }
    }
    sm_pixel_block blk;
    memset(&blk, 0, sizeof blk);
    blk.n = n;
    blk.blue = w->refl[SM__ROLE_BLUE];
    blk.green = w->refl[SM__ROLE_GREEN];
    blk.red = w->refl[SM__ROLE_RED];
    blk.nir = w->refl[SM__ROLE_NIR];
    blk.swir1 = w->refl[SM__ROLE_SWIR1];
    blk.swir2 = w->refl[SM__ROLE_SWIR2];
    blk.valid = w->valid;
    blk.cloud = w->cloud;
    if (w->labels)
        return collect_chunk(w, cw);
    if (w->model) {
        model_chunk(w, cw, c0);
    } else {
        sm_rules_params rp = SM_RULES_PARAMS_INIT;
        if ((st = sm_classify_rules(w->ctx, &blk, &rp, w->ccls)) != SM_OK)
            return st;
    }
    const float *nir = blk.nir, *sw2 = blk.swir2;
    size_t stride = (size_t)w->win.ncols;
    for (int64_t y = 0; y < cw->nrows; y++) {
        const uint8_t *src = w->ccls + (size_t)y * (size_t)cw->ncols;
        uint8_t *dst = w->cls + (size_t)y * stride + (size_t)c0;
        float *nb = w->nbr + (size_t)y * stride + (size_t)c0;
        memcpy(dst, src, (size_t)cw->ncols);
        for (int64_t x = 0; x < cw->ncols; x++) {
            size_t i = (size_t)y * (size_t)cw->ncols + (size_t)x;
            uint8_t k = src[x];
            int obs = k != SM__CODE_NODATA && k != SM__CODE_CLOUD;
            nb[x] = (sw2 && obs) ? sm_nbr(nir[i], sw2[i]) : NAN;
            w->observed += (size_t)obs;
            w->pixels[k < SM__NCODES ? k : 0] += 1.0;
        }
    }
    return SM_OK;
}

/* Reads, classifies and sums one strip. Parcels are those of `active` (indices). */
static sm_status process_strip(worker *w, const size_t *active, size_t nactive)
{
    const sm__plan *plan = w->plan;
    const sm_grid *g = &plan->grid;
    sm_window win = w->win;
    size_t n = (size_t)win.ncols * (size_t)win.nrows;
    sm_status st;
    w->nparts = 0;
    for (int64_t c0 = 0; c0 < win.ncols; c0 += SCENE_CHUNK_COLS) {
        sm_window cw = win;
        cw.col0 = win.col0 + c0;
        cw.ncols = (win.ncols - c0) < SCENE_CHUNK_COLS ? win.ncols - c0 : SCENE_CHUNK_COLS;
        if ((st = process_chunk(w, &cw, c0)) != SM_OK)
            return st;
    }
    const float *nbrs = w->nbr;
    w->cells += n;
    /* Per-parcel sums with exact coverage on this strip's sub-grid. */
    sm_grid sub = sm_grid_subgrid(g, &win);
    for (size_t a = 0; a < nactive; a++) {
        size_t p = active[a];
        size_t nparts;
        const sm_polygon *parts = sm_parcel_geoms_parts(plan->geoms, p, &nparts);
        if (!nparts)
            continue;
        if ((st = sm_coverage_compute(&w->cov, w->ctx, &sub, parts, nparts, SM_COVER_EXACT)) != SM_OK)
            return st;
        if (w->cov.win.ncols == 0)
            continue;
        part_acc *pa = NULL;
        if ((st = add_part(w, p, &pa)) != SM_OK)
            return st;
        sm__scene_acc *acc = &pa->acc;
        for (int64_t rr = 0; rr < w->cov.win.nrows; rr++) {
            const double *fr = w->cov.frac + (size_t)rr * (size_t)w->cov.win.ncols;
            size_t base = (size_t)(w->cov.win.row0 + rr) * (size_t)win.ncols + (size_t)w->cov.win.col0;
            for (int64_t cc = 0; cc < w->cov.win.ncols; cc++) {
                double c = fr[cc];
                if (c <= 0)
                    continue;
                size_t i = base + (size_t)cc;
                uint8_t k = w->cls[i];
                if (k == SM__CODE_NODATA)
                    acc->nodata += c;
                else if (k < SM__NCODES)
                    acc->cls[k] += c;
                if (!isnan(nbrs[i])) {
                    acc->nbr_sum += c * (double)nbrs[i];
                    acc->nbr_w += c;
                }
            }
        }
    }
    return SM_OK;
}

typedef struct job_arg {
    worker *w;
    const size_t *active;
    size_t nactive;
} job_arg;

static void *thread_main(void *arg)
{
    job_arg *j = arg;
    j->w->status = process_strip(j->w, j->active, j->nactive);
    return NULL;
}

typedef struct row_sort {
    size_t idx;
    int64_t row0, row1;
} row_sort;

static int cmp_rows(const void *a, const void *b)
{
    const row_sort *x = a, *y = b;
    if (x->row0 != y->row0)
        return x->row0 < y->row0 ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static void merge_acc(sm__scene_acc *dst, const sm__scene_acc *src)
{
    for (int k = 0; k < SM__NCODES; k++)
        dst->cls[k] += src->cls[k];
    dst->nodata += src->nodata;
    dst->nbr_sum += src->nbr_sum;
    dst->nbr_w += src->nbr_w;
}

/* Writes a worker's strip of classes to the land cover, a chunk of whole tiles at a time. */
static sm_status write_strip(sm_raster_writer *lw, sm_context *ctx, const worker *w, double *lcbuf)
{
    const sm_window *win = &w->win;
    for (int64_t c0 = 0; c0 < win->ncols; c0 += SCENE_CHUNK_COLS) {
        sm_window cw = *win;
        cw.col0 = win->col0 + c0;
        cw.ncols = (win->ncols - c0) < SCENE_CHUNK_COLS ? win->ncols - c0 : SCENE_CHUNK_COLS;
        for (int64_t y = 0; y < cw.nrows; y++) {
            const uint8_t *src = w->cls + (size_t)y * (size_t)win->ncols + (size_t)c0;
            double *dst = lcbuf + (size_t)y * (size_t)cw.ncols;
            for (int64_t x = 0; x < cw.ncols; x++)
                dst[x] = (double)src[x];
        }
        sm_status st = sm_raster_writer_write(lw, ctx, 1, &cw, lcbuf);
        if (st != SM_OK)
            return st;
    }
    return SM_OK;
}

/* Writes a worker's strip of confidence values. */
static sm_status write_conf(sm_raster_writer *cw_, sm_context *ctx, const worker *w, double *buf)
{
    const sm_window *win = &w->win;
    for (int64_t c0 = 0; c0 < win->ncols; c0 += SCENE_CHUNK_COLS) {
        sm_window cw = *win;
        cw.col0 = win->col0 + c0;
        cw.ncols = (win->ncols - c0) < SCENE_CHUNK_COLS ? win->ncols - c0 : SCENE_CHUNK_COLS;
        for (int64_t y = 0; y < cw.nrows; y++) {
            const float *src = w->conf + (size_t)y * (size_t)win->ncols + (size_t)c0;
            double *dst = buf + (size_t)y * (size_t)cw.ncols;
            for (int64_t x = 0; x < cw.ncols; x++)
                dst[x] = (double)src[x];
        }
        sm_status st = sm_raster_writer_write(cw_, ctx, 1, &cw, buf);
        if (st != SM_OK)
            return st;
    }
    return SM_OK;
}

sm_status sm__scene_pass(sm_context *ctx, sm__plan *plan, size_t s, const char *lc_path)
{
    return sm__scene_pass_model(ctx, plan, s, lc_path, NULL);
}

sm_status sm__scene_collect(sm_context *ctx, sm__plan *plan, size_t s, const sm__labels *lab,
                            sm_samples **out)
{
    *out = NULL;
    sm_status st = SM_OK;
    const sm_grid *g = &plan->grid;
    int64_t strip = scene_strip_rows(g->ncols);
    int nthreads = plan->threads > 0 ? plan->threads : 1;
    int64_t nstrips = (g->nrows + strip - 1) / strip;
    if (nthreads > nstrips)
        nthreads = (int)nstrips;
    worker *workers = calloc((size_t)nthreads, sizeof *workers);
    job_arg *args = calloc((size_t)nthreads, sizeof *args);
    pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
    sm_window *lab_win = calloc(lab->n ? lab->n : 1, sizeof *lab_win);
    const char *names[9];
    int cls_of[SM__NCODES];
    collect_classes(names, cls_of);
    sm__features feat;
    sm__features_init(&feat, &plan->scenes[s]);
    if (!workers || !args || !tids || !lab_win) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    if (lab->geoms)
        for (size_t f = 0; f < lab->n; f++) {
            double x0, y0, x1, y1;
            if (lab->code[f] >= 1 && sm_parcel_geoms_bbox(lab->geoms, f, &x0, &y0, &x1, &y1))
                lab_win[f] = sm_grid_window_for_box(g, x0, y0, x1, y1);
        }
    if ((st = sm_samples_create(out, ctx, feat.p, feat.names, 9, names)) != SM_OK)
        goto end;
    /* Bounded memory: where a class's labelled area holds far more pixels than training needs,
     * keep each pixel with probability keep = budget / expected pixels, by a draw that depends
     * on the seed and the cell alone (so on no thread count); sm_samples_cap then draws the
     * exact number. */
    double keep[SM__NCODES], expect[SM__NCODES] = {0};
    for (int c = 0; c < SM__NCODES; c++)
        keep[c] = 1.0;
    if (lab->area_m2 && lab->budget > 0) {
        double cell_m2 = fabs(g->dx * g->dy);
        for (size_t f = 0; f < lab->n; f++)
            if (lab->code[f] >= 1 && lab->code[f] <= 9 && isfinite(lab->area_m2[f]))
                expect[cls_of[lab->code[f]]] += lab->area_m2[f] / cell_m2;
        for (int c = 0; c < 9; c++)
            if (expect[c] > lab->budget)
                keep[c] = lab->budget / expect[c];
    }
    for (int t = 0; t < nthreads; t++) {
        if ((st = worker_init(&workers[t], ctx, plan, s, strip, NULL, lab)) != SM_OK)
            goto end;
        workers[t].lab_win = lab_win;
        memcpy(workers[t].keep, keep, sizeof keep);
        workers[t].seed = lab->seed;
        if ((st = sm_samples_create(&workers[t].samples, ctx, feat.p, feat.names, 9, names)) != SM_OK)
            goto end;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "scene %s: training samples", plan->scenes[s].job->id);
    for (int64_t s0 = 0; s0 < nstrips; s0 += nthreads) {
        int nb = (int)((nstrips - s0) < nthreads ? (nstrips - s0) : nthreads);
        for (int t = 0; t < nb; t++) {
            worker *w = &workers[t];
            int64_t r0 = (s0 + t) * strip;
            w->win.col0 = 0;
            w->win.ncols = g->ncols;
            w->win.row0 = r0;
            w->win.nrows = (r0 + strip > g->nrows) ? g->nrows - r0 : strip;
            w->samples->n = 0;
            args[t].w = w;
            args[t].active = NULL;
            args[t].nactive = 0;
        }
        if (nb == 1) {
            thread_main(&args[0]);
        } else {
            for (int t = 0; t < nb; t++)
                if (pthread_create(&tids[t], NULL, thread_main, &args[t]) != 0) {
                    for (int u = 0; u < t; u++)
                        pthread_join(tids[u], NULL);
                    st = sm_error(ctx, SM_ERR_INTERNAL, "cannot start a worker thread");
                    goto end;
                }
            for (int t = 0; t < nb; t++)
                pthread_join(tids[t], NULL);
        }
        /* Append in strip order: the same samples in the same order for any thread count. */
        for (int t = 0; t < nb; t++) {
            worker *w = &workers[t];
            if (w->status != SM_OK) {
                st = sm_error(ctx, w->status, "%s", sm_context_message(w->ctx));
                goto end;
            }
            const sm_samples *ws = w->samples;
            for (size_t i = 0; i < ws->n; i++)
                if ((st = sm_samples_add(*out, ctx, ws->x + i * (size_t)ws->p, ws->y[i],
                                         ws->group[i])) != SM_OK)
                    goto end;
        }
        /* the bar stays at the scene's start (its pass follows); this checks for a cancel */
        if ((st = sm_progress(ctx, (double)s / (double)(plan->nscenes + 1), msg)) != SM_OK)
            goto end;
    }
end:
    if (workers)
        for (int t = 0; t < nthreads; t++)
            worker_free(&workers[t]);
    free(workers);
    free(args);
    free(tids);
    free(lab_win);
    if (st != SM_OK) {
        sm_samples_destroy(*out);
        *out = NULL;
    }
    return st;
}

sm_status sm__scene_pass_model(sm_context *ctx, sm__plan *plan, size_t s, const char *lc_path,
                               sm__scene_model *model)
{
    sm_status st = SM_OK;
    const sm_grid *g = &plan->grid;
    int64_t strip = scene_strip_rows(g->ncols);
    int nthreads = plan->threads > 0 ? plan->threads : 1;
    int64_t nstrips = (g->nrows + strip - 1) / strip;
    if (nthreads > nstrips)
        nthreads = (int)nstrips;
    worker *workers = calloc((size_t)nthreads, sizeof *workers);
    row_sort *order = malloc((plan->nparcels ? plan->nparcels : 1) * sizeof *order);
    size_t **active = calloc((size_t)nthreads, sizeof *active);
    size_t *nactive = calloc((size_t)nthreads, sizeof *nactive);
    job_arg *args = calloc((size_t)nthreads, sizeof *args);
    pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
    sm_raster_writer *lw = NULL, *cfw = NULL;
    int64_t lcw = g->ncols < SCENE_CHUNK_COLS ? g->ncols : SCENE_CHUNK_COLS;
    double *lcbuf = malloc((size_t)strip * (size_t)lcw * sizeof *lcbuf); /* a chunk, for the writer */
    if (!lcbuf || !workers || !order || !active || !nactive || !args || !tids) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (int t = 0; t < nthreads; t++) {
        active[t] = malloc((plan->nparcels ? plan->nparcels : 1) * sizeof(size_t));
        if (!active[t]) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            goto end;
        }
        if ((st = worker_init(&workers[t], ctx, plan, s, strip, model, NULL)) != SM_OK)
            goto end;
    }
    /* Parcels in the order of their first row on the grid. */
    size_t norder = 0;
    for (size_t p = 0; p < plan->nparcels; p++) {
        double x0, y0, x1, y1;
        if (!sm_parcel_geoms_bbox(plan->geoms, p, &x0, &y0, &x1, &y1))
            continue;
        sm_window w = sm_grid_window_for_box(g, x0, y0, x1, y1);
        if (w.nrows == 0)
            continue;
        order[norder].idx = p;
        order[norder].row0 = w.row0;
        order[norder].row1 = w.row0 + w.nrows;
        norder++;
    }
    qsort(order, norder, sizeof *order, cmp_rows);
    sm_raster_writer_options wo = SM_RASTER_WRITER_OPTIONS_INIT;
    wo.type = SM_PIXEL_BYTE;
    wo.nodata = 0;
    wo.has_nodata = 1;
    wo.categorical = 1;
    wo.description = "land cover (sinkmap legend)";
    wo.classes = sm_legend_classes(&wo.nclasses);
    if ((st = sm_raster_writer_create(&lw, ctx, lc_path, g, plan->grid_wkt, &wo)) != SM_OK)
        goto end;
    if (model && model->conf_path) {
        sm_raster_writer_options co = SM_RASTER_WRITER_OPTIONS_INIT;
        co.type = SM_PIXEL_FLOAT32;
        co.nodata = NAN;
        co.has_nodata = 1;
        co.description = sm_model_method(model->model) == SM_METHOD_RF
                             ? "classifier confidence: share of the trees voting for the class"
                             : "classifier confidence: posterior probability of the class";
        co.unit = "share";
        if ((st = sm_raster_writer_create(&cfw, ctx, model->conf_path, g, plan->grid_wkt, &co)) != SM_OK)
            goto end;
    }
    size_t first = 0; /* parcels before `first` ended above the current strip */
    char msg[128];
    for (int64_t s0 = 0; s0 < nstrips; s0 += nthreads) {
        int nb = (int)((nstrips - s0) < nthreads ? (nstrips - s0) : nthreads);
        for (int t = 0; t < nb; t++) {
            worker *w = &workers[t];
            int64_t r0 = (s0 + t) * strip;
            w->win.col0 = 0;
            w->win.ncols = g->ncols;
            w->win.row0 = r0;
            w->win.nrows = (r0 + strip > g->nrows) ? g->nrows - r0 : strip;
            nactive[t] = 0;
            for (size_t k = first; k < norder && order[k].row0 < r0 + w->win.nrows; k++)
                if (order[k].row1 > r0)
                    active[t][nactive[t]++] = order[k].idx;
            args[t].w = w;
            args[t].active = active[t];
            args[t].nactive = nactive[t];
        }
        if (nb == 1) {
            thread_main(&args[0]);
        } else {
            for (int t = 0; t < nb; t++)
                if (pthread_create(&tids[t], NULL, thread_main, &args[t]) != 0) {
                    for (int u = 0; u < t; u++)
                        pthread_join(tids[u], NULL);
                    st = sm_error(ctx, SM_ERR_INTERNAL, "cannot start a worker thread");
                    goto end;
                }
            for (int t = 0; t < nb; t++)
                pthread_join(tids[t], NULL);
        }
        /* Merge in strip order: the same sums in the same order for any thread count. */
        for (int t = 0; t < nb; t++) {
            worker *w = &workers[t];
            if (w->status != SM_OK) {
                st = sm_error(ctx, w->status, "%s", sm_context_message(w->ctx));
                goto end;
            }
            for (size_t k = 0; k < w->nparts; k++)
                merge_acc(&plan->acc[w->parts[k].parcel * plan->nscenes + s], &w->parts[k].acc);
            if ((st = write_strip(lw, ctx, w, lcbuf)) != SM_OK)
                goto end;
            if (cfw && (st = write_conf(cfw, ctx, w, lcbuf)) != SM_OK)
                goto end;
        }
        int64_t done_row = (s0 + nb) * strip;
        while (first < norder && order[first].row1 <= done_row)
            first++;
        snprintf(msg, sizeof msg, "scene %s: land cover and parcel sums", plan->scenes[s].job->id);
        double frac = (double)(s0 + nb) / (double)nstrips;
        if ((st = sm_progress(ctx, ((double)s + frac) / (double)(plan->nscenes + 1), msg)) != SM_OK)
            goto end;
    }
    if ((st = sm_raster_writer_finish(lw, ctx)) != SM_OK)
        goto end;
    if (cfw && (st = sm_raster_writer_finish(cfw, ctx)) != SM_OK)
        goto end;
    size_t observed = 0;
    for (int t = 0; t < nthreads; t++) {
        plan->cells_read += workers[t].cells;
        observed += workers[t].observed;
        if (model)
            for (int c = 0; c < SM__NCODES; c++)
                model->pixels[c] += workers[t].pixels[c];
    }
    if (observed == 0)
        sm_warn(ctx, "scene %s: every pixel is nodata or masked; its land cover is empty and no "
                     "parcel is observed in it",
                plan->scenes[s].job->id);
end:
    sm_raster_writer_destroy(lw);
    sm_raster_writer_destroy(cfw);
    if (workers)
        for (int t = 0; t < nthreads; t++)
            worker_free(&workers[t]);
    if (active)
        for (int t = 0; t < nthreads; t++)
            free(active[t]);
    free(workers);
    free(order);
    free(active);
    free(nactive);
    free(args);
    free(tids);
    free(lcbuf);
    return st;
}
