/* scene_pass.c: one pass over a season's rasters: reflectance, land cover, per-parcel sums.
 * The analysis grid is cut into strips of rows; each strip is read once (every band role,
 * coarser bands resampled onto the grid, the class mask), classified, written to the
 * land-cover GeoTIFF, and summed into the parcels it touches with exact coverage weights.
 * Strips are processed by worker threads in batches and merged in strip order, so the
 * result is the same for any number of threads. */
#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "analysis/indices_inline.h"
#include "pipeline/internal.h"
#include "sinkmap/carbon.h"
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

/* The roles scene sc has and the indices they allow (NDMI left out: see internal.h). */
static void own_features(const sm__scene *sc, int *nroles, int *role, int *nindex, int *index)
{
    *nroles = *nindex = 0;
    for (int r = 0; r < SM__NROLES; r++)
        if (sc->bands[r].raster)
            role[(*nroles)++] = r;
    for (int i = 0; i < SM__NINDEX; i++) {
        int ok = i != SM__IDX_NDMI;
        for (int j = 0; j < 3; j++)
            if (INDEX_ROLES[i][j] >= 0 && !sc->bands[INDEX_ROLES[i][j]].raster)
                ok = 0;
        /* NDMI = (N − S1)/(N + S1) is exactly −NDBI (same bands): with both, maximum
         * likelihood's covariance would be singular and a forest gains nothing, so NDBI
         * stands for both. */
        if (ok)
            index[(*nindex)++] = i;
    }
}

/* Appends a feature name built from two parts into f's buffer. */
static const char *feature_name(sm__features *f, size_t *used, const char *a, const char *sep,
                                const char *b, const char *c)
{
    char *dst = f->namebuf + *used;
    size_t room = sizeof f->namebuf - *used;
    int w = snprintf(dst, room, "%s%s%s:%s", a, sep, b ? b : "", c);
    if (w < 0 || (size_t)w >= room)
        return "?";
    *used += (size_t)w + 1;
    return dst;
}

sm_status sm__features_init(sm__features *f, sm_context *ctx, const sm__plan *plan, size_t s)
{
    memset(f, 0, sizeof *f);
    const sm__scene *sc = &plan->scenes[s];
    own_features(sc, &f->nroles, f->role, &f->nindex, f->index);
    for (int r = 0; r < f->nroles; r++)
        f->names[f->p++] = SM__ROLE_NAMES[f->role[r]];
    for (int i = 0; i < f->nindex; i++)
        f->names[f->p++] = INDEX_NAMES[f->index[i]];
    f->p_own = f->p;
    const sm_job *job = plan->job;
    if (!job || strcmp(job->classifier, "rules") == 0)
        return SM_OK;
    size_t used = 0;
    const char *id = sc->job->id;
    for (size_t t = 0; job->cls.stack && t < plan->nscenes; t++) {
        const sm__scene *pt = &plan->scenes[t];
        double days = fabs(pt->decimal_year - sc->decimal_year) * 365.25;
        if (t == s || days > job->cls.stack_days + 0.5)
            continue;
        if (f->npart == SM__MAX_PARTNERS)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: [classifier] features = stack: more than %d scenes lie within "
                            "stack_days = %g of scene %s; expected at most %d (lower stack_days)",
                            job->path, SM__MAX_PARTNERS, job->cls.stack_days, id, SM__MAX_PARTNERS);
        sm__partner *q = &f->part[f->npart++];
        q->scene = t;
        int pn, pidx[SM__NINDEX];
        own_features(pt, &q->nroles, q->role, &pn, pidx);
        for (int r = 0; r < q->nroles; r++)
            f->names[f->p++] = feature_name(f, &used, pt->job->id, "", NULL, SM__ROLE_NAMES[q->role[r]]);
        for (int i = 0; i < f->nindex; i++)
            for (int j = 0; j < pn; j++)
                if (pidx[j] == f->index[i]) {
                    q->diff[q->ndiff++] = f->index[i];
                    f->names[f->p++] = feature_name(f, &used, id, "-", pt->job->id, INDEX_NAMES[f->index[i]]);
                }
    }
    if (job->cls.drone) {
        f->drone = 1;
        f->names[f->p++] = "drone:canopy_cover";
        f->names[f->p++] = "drone:canopy_height";
    }
    return SM_OK;
}

/* One index from the reflectances of pixel i (NaN when a band is). */
static float index_value(int ix, float *const *refl, size_t i)
{
#define R(role) refl[role][i]
    switch (ix) {
    case SM__IDX_NDVI: return sm_ndvi(R(SM__ROLE_RED), R(SM__ROLE_NIR));
    case SM__IDX_EVI: return sm_evi(R(SM__ROLE_BLUE), R(SM__ROLE_RED), R(SM__ROLE_NIR));
    case SM__IDX_NDWI: return sm_ndwi(R(SM__ROLE_GREEN), R(SM__ROLE_NIR));
    case SM__IDX_MNDWI: return sm_mndwi(R(SM__ROLE_GREEN), R(SM__ROLE_SWIR1));
    case SM__IDX_NDBI: return sm_ndbi(R(SM__ROLE_NIR), R(SM__ROLE_SWIR1));
    case SM__IDX_NBR: return sm_nbr(R(SM__ROLE_NIR), R(SM__ROLE_SWIR2));
    default: return sm_ndmi(R(SM__ROLE_NIR), R(SM__ROLE_SWIR1));
    }
#undef R
}

/* The reflectances and observation flags of one scene over a chunk. */
typedef struct chunk_refl {
    float *refl[SM__NROLES];
    const uint8_t *valid, *cloud;
    const float *cover, *height; /* own scene, drone = yes: the drone features (NaN: none) */
} chunk_refl;

/* The features of chunk pixel i into x[f->p]: own (io[0]) then each partner's (io[1 + q]);
 * a partner that does not observe the pixel gives NaN. */
static void pixel_features(const sm__features *f, const chunk_refl *io, size_t i, float *x)
{
    int j = 0;
    float own_idx[SM__NINDEX];
    for (int r = 0; r < f->nroles; r++)
        x[j++] = io[0].refl[f->role[r]][i];
    for (int k = 0; k < f->nindex; k++)
        x[j++] = own_idx[k] = index_value(f->index[k], io[0].refl, i);
    for (int q = 0; q < f->npart; q++) {
        const sm__partner *pt = &f->part[q];
        const chunk_refl *c = &io[1 + q];
        if (!c->valid[i] || c->cloud[i]) {
            for (int r = 0; r < pt->nroles + pt->ndiff; r++)
                x[j++] = NAN;
            continue;
        }
        for (int r = 0; r < pt->nroles; r++)
            x[j++] = c->refl[pt->role[r]][i];
        for (int d = 0, k = 0; d < pt->ndiff; d++) {
            while (f->index[k] != pt->diff[d])
                k++;
            x[j++] = own_idx[k] - index_value(pt->diff[d], c->refl, i);
        }
    }
    if (f->drone) {
        x[j++] = io[0].cover[i];
        x[j++] = io[0].height[i];
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

/* One scene's inputs as a worker reads them: its own GDAL handles, the chunk's reflectances
 * and observation flags. */
typedef struct scene_io {
    size_t scene;
    sm_raster *rasters[SM_JOB_MAX_FILES];
    sm_raster *mask;
    sm__band_src bands[SM__NROLES];
    uint8_t masked[256];     /* mask codes 0..255 to mask */
    chunk_refl c;            /* the chunk's reflectances, validity and mask */
    uint8_t *valid, *cloud;  /* owned buffers behind c.valid, c.cloud */
} scene_io;

/* A drone canopy-height model sampled for the grid's cells (drone = yes): each cell of the
 * flight's window is split into k × k sub-cells, the CHM is read at their centres (nearest cell,
 * warped on the fly when its CRS differs), and a cell with at least half of its samples holding
 * data gets the share of them at least canopy_height tall and their mean height. */
typedef struct drone_io {
    sm_raster *r;   /* the CHM on `fine` */
    sm_grid fine;   /* the window's cells split k × k */
    sm_window win;  /* the flight's window on the analysis grid */
    int k;
    double canopy;  /* canopy height threshold (m) */
} drone_io;
#define DRONE_BLOCK_ROWS 8
#define DRONE_BLOCK_COLS 256

/* Predictions are made this many pixels at a time (features of p floats each). */
#define PREDICT_BATCH 65536

/* A worker owns its GDAL handles (GDAL datasets are not shared between threads), its buffers
 * and the partial sums of the strip it last processed. */
typedef struct worker {
    sm_context *ctx;
    sm_status status;
    const sm__plan *plan;
    size_t scene;
    scene_io io[1 + SM__MAX_PARTNERS]; /* the scene, then its partners (features = stack) */
    int nio;
    drone_io *drones;    /* drone = yes: the flights, farthest in date from the scene first */
    size_t ndrones;
    float *cover, *height; /* the chunk's drone features */
    double *fbuf;        /* a block of CHM samples */
    double *dn;          /* one band's chunk */
    uint8_t *ccls;       /* the chunk's classes */
    uint8_t *cls;        /* the strip's classes */
    float *nbr;          /* the strip's NBR (NAN where not observed) */
    sm_coverage cov;
    part_acc *parts;
    size_t nparts, cap_parts;
    sm_window win;
    size_t cells, observed; /* cells read; cells with a land-cover class (not nodata, not cloud) */
    /* supervised: the model applied, or the labels collected */
    const sm__scene_model *model;
    const sm__labels *labels;
    sm__features feat;
    float *x;             /* a batch's features (observed pixels, packed) */
    size_t *xi;           /* their chunk index */
    float *xf;            /* the fallback model's batch: own features (stack or drone) */
    size_t *xif;          /* their chunk index */
    uint8_t *pcode;       /* their predicted codes */
    float *pconf;         /* their confidence */
    float *conf;          /* the strip's confidence (NaN where not classified) */
    double pixels[SM__NCODES];
    double fb_pixels;     /* pixels classified by the fallback model */
    sm_samples *samples;  /* the strip's training samples (collect mode) */
    const sm_window *lab_win; /* each label feature's window on the grid (collect mode) */
    double keep[SM__NCODES];  /* share of each class's pixels kept (collect mode) */
    uint64_t seed;
} worker;

static void worker_free(worker *w)
{
    for (int k = 0; k < w->nio; k++) {
        scene_io *io = &w->io[k];
        for (size_t i = 0; i < SM_JOB_MAX_FILES; i++)
            sm_raster_close(io->rasters[i]);
        sm_raster_close(io->mask);
        for (int r = 0; r < SM__NROLES; r++)
            free(io->c.refl[r]);
        free(io->valid);
        free(io->cloud);
    }
    for (size_t d = 0; d < w->ndrones; d++)
        sm_raster_close(w->drones[d].r);
    free(w->drones);
    free(w->cover);
    free(w->height);
    free(w->fbuf);
    free(w->dn);
    free(w->cls);
    free(w->ccls);
    free(w->nbr);
    free(w->parts);
    free(w->x);
    free(w->xi);
    free(w->xf);
    free(w->xif);
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

/* Opens scene t's rasters for a worker and allocates a chunk of nc cells. */
static sm_status scene_io_init(scene_io *io, sm_context *ctx, const sm__plan *plan, size_t t, size_t nc)
{
    const sm__scene *sc = &plan->scenes[t];
    sm_status st;
    io->scene = t;
    for (size_t f = 0; f < sc->nrasters; f++)
        if ((st = sm_raster_reopen(&io->rasters[f], ctx, sc->rasters[f])) != SM_OK)
            return st;
    if (sc->mask && (st = sm_raster_reopen(&io->mask, ctx, sc->mask)) != SM_OK)
        return st;
    for (int r = 0; r < SM__NROLES; r++) {
        io->bands[r] = sc->bands[r];
        for (size_t f = 0; f < sc->nrasters; f++)
            if (sc->bands[r].raster == sc->rasters[f])
                io->bands[r].raster = io->rasters[f];
        if (!io->bands[r].raster)
            continue;
        if (!(io->c.refl[r] = malloc(nc * sizeof(float))))
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory for a chunk of %zu cells", nc);
    }
    io->valid = malloc(nc);
    io->cloud = malloc(nc);
    if (!io->valid || !io->cloud)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory for a chunk of %zu cells", nc);
    io->c.valid = io->valid;
    io->c.cloud = io->cloud;
    for (int v = 0; v < 256; v++)
        io->masked[v] = (uint8_t)mask_has(sc->job, (double)v);
    return SM_OK;
}

/* Opens drone flight d for the drone features: its window on the analysis grid (the CHM's
 * footprint there) and the CHM on the window's cells split k × k, k the ratio of the grid's cell
 * to the CHM's (at most 64). A flight outside the grid gets an empty window. */
static sm_status drone_io_init(drone_io *dio, sm_context *ctx, const sm__plan *plan, size_t d)
{
    const sm_job_drone *jd = &plan->job->drones[d];
    const sm_grid *g = &plan->grid;
    sm_raster *nat = NULL, *on = NULL;
    sm_status st;
    dio->canopy = jd->canopy_height;
    if ((st = sm_raster_open(&nat, ctx, jd->chm)) != SM_OK)
        return st;
    sm_grid ng = sm_raster_grid(nat);
    sm_raster_close(nat);
    if ((st = sm_raster_open_on_grid(&on, ctx, jd->chm, g, plan->grid_wkt, SM_RESAMPLE_NEAREST)) != SM_OK)
        return st;
    double x0, y0, x1, y1;
    sm_raster_footprint(on, &x0, &y0, &x1, &y1);
    sm_raster_close(on);
    dio->win = sm_grid_window_for_box(g, x0, y0, x1, y1);
    if (dio->win.ncols <= 0 || dio->win.nrows <= 0) {
        dio->win.ncols = dio->win.nrows = 0;
        return SM_OK;
    }
    /* the CHM's cell size on the analysis grid's CRS: its footprint there over its columns */
    double res = ng.ncols > 0 ? (x1 - x0) / (double)ng.ncols : g->dx;
    double kk = res > 0 ? ceil(g->dx / res - 1e-9) : 1;
    dio->k = kk < 1 ? 1 : kk > 64 ? 64 : (int)kk;
    sm_grid sub = sm_grid_subgrid(g, &dio->win);
    dio->fine = (sm_grid){sub.x0, sub.y0, sub.dx / dio->k, sub.dy / dio->k, sub.ncols * dio->k,
                          sub.nrows * dio->k};
    return sm_raster_open_on_grid(&dio->r, ctx, jd->chm, &dio->fine, plan->grid_wkt, SM_RESAMPLE_NEAREST);
}

static int cmp_drone_days(const void *a, const void *b)
{
    const double *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] > y[0] ? -1 : 1; /* farthest first */
    return x[1] < y[1] ? -1 : (x[1] > y[1]);
}

/* The drone features of chunk `cw` into w->cover and w->height (NaN where no flight covers at
 * least half of a cell); a nearer flight overwrites a farther one. */
static sm_status drone_chunk(worker *w, const sm_window *cw)
{
    size_t n = (size_t)cw->ncols * (size_t)cw->nrows;
    for (size_t i = 0; i < n; i++)
        w->cover[i] = w->height[i] = NAN;
    for (size_t d = 0; d < w->ndrones; d++) {
        drone_io *dio = &w->drones[d];
        if (!dio->r)
            continue;
        sm_window iw = sm_window_intersect(cw, &dio->win);
        if (iw.ncols <= 0 || iw.nrows <= 0)
            continue;
        int k = dio->k;
        for (int64_t r0 = iw.row0; r0 < iw.row0 + iw.nrows; r0 += DRONE_BLOCK_ROWS)
            for (int64_t c0 = iw.col0; c0 < iw.col0 + iw.ncols; c0 += DRONE_BLOCK_COLS) {
                int64_t nr = iw.row0 + iw.nrows - r0, nc = iw.col0 + iw.ncols - c0;
                if (nr > DRONE_BLOCK_ROWS)
                    nr = DRONE_BLOCK_ROWS;
                if (nc > DRONE_BLOCK_COLS)
                    nc = DRONE_BLOCK_COLS;
                sm_window fw = {(c0 - dio->win.col0) * k, (r0 - dio->win.row0) * k, nc * k, nr * k};
                sm_status st = sm_raster_read(dio->r, w->ctx, 1, &dio->fine, &fw, SM_RESAMPLE_NEAREST, w->fbuf);
                if (st != SM_OK)
                    return st;
                for (int64_t rr = 0; rr < nr; rr++)
                    for (int64_t cc = 0; cc < nc; cc++) {
                        double sum = 0;
                        int cnt = 0, tall = 0;
                        for (int a = 0; a < k; a++) {
                            const double *row = w->fbuf + (size_t)(rr * k + a) * (size_t)fw.ncols + (size_t)(cc * k);
                            for (int b = 0; b < k; b++)
                                if (!isnan(row[b])) {
                                    cnt++;
                                    sum += row[b];
                                    tall += row[b] >= dio->canopy;
                                }
                        }
                        if (2 * cnt < k * k)
                            continue;
                        size_t i = (size_t)(r0 + rr - cw->row0) * (size_t)cw->ncols + (size_t)(c0 + cc - cw->col0);
                        w->cover[i] = (float)((double)tall / cnt);
                        w->height[i] = (float)(sum / cnt);
                    }
            }
    }
    return SM_OK;
}

static sm_status worker_init(worker *w, sm_context *ctx, const sm__plan *plan, size_t s,
                             int64_t strip, const sm__scene_model *model, const sm__labels *labels)
{
    memset(w, 0, sizeof *w);
    w->plan = plan;
    w->scene = s;
    w->model = model;
    w->labels = labels;
    sm_status st;
    if ((st = sm__features_init(&w->feat, ctx, plan, s)) != SM_OK)
        return st;
    w->ctx = sm_context_create();
    if (!w->ctx)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    size_t n, nc;
    int64_t cw = plan->grid.ncols < SCENE_CHUNK_COLS ? plan->grid.ncols : SCENE_CHUNK_COLS;
    if (sm_mul_size((size_t)strip, (size_t)plan->grid.ncols, &n))
        return sm_error(ctx, SM_ERR_NOMEM, "strip size overflows");
    nc = (size_t)strip * (size_t)cw;
    /* the partners are read only by the supervised classifiers */
    int nio = (model || labels) ? 1 + w->feat.npart : 1;
    for (int k = 0; k < nio; k++) {
        w->nio = k + 1;
        if ((st = scene_io_init(&w->io[k], ctx, plan, k ? w->feat.part[k - 1].scene : s, nc)) != SM_OK)
            return st;
    }
    if (w->feat.drone && (model || labels)) {
        /* flights farthest in date from the scene first: a nearer one overwrites them */
        const sm_job *job = plan->job;
        double (*order)[2] = malloc(job->ndrones * sizeof *order);
        w->drones = calloc(job->ndrones, sizeof *w->drones);
        w->cover = malloc(nc * sizeof *w->cover);
        w->height = malloc(nc * sizeof *w->height);
        if (!order || !w->drones || !w->cover || !w->height) {
            free(order);
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory for the drone features");
        }
        for (size_t d = 0; d < job->ndrones; d++) {
            sm_date dd;
            if ((st = sm_date_parse(ctx, job->drones[d].date, &dd)) != SM_OK) {
                free(order);
                return st;
            }
            order[d][0] = fabs(sm_decimal_year(dd) - plan->scenes[s].decimal_year);
            order[d][1] = (double)d;
        }
        qsort(order, job->ndrones, sizeof *order, cmp_drone_days);
        for (size_t d = 0; d < job->ndrones; d++) {
            w->ndrones = d + 1;
            if ((st = drone_io_init(&w->drones[d], ctx, plan, (size_t)order[d][1])) != SM_OK) {
                free(order);
                return st;
            }
        }
        free(order);
        int kmax = 1;
        for (size_t d = 0; d < w->ndrones; d++)
            if (w->drones[d].k > kmax)
                kmax = w->drones[d].k;
        w->fbuf = malloc((size_t)DRONE_BLOCK_ROWS * DRONE_BLOCK_COLS * (size_t)kmax * (size_t)kmax * sizeof *w->fbuf);
        if (!w->fbuf)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory for the drone features");
        w->io[0].c.cover = w->cover;
        w->io[0].c.height = w->height;
    }
    w->dn = malloc(nc * sizeof *w->dn);
    w->ccls = malloc(nc);
    w->cls = malloc(n);
    w->nbr = malloc(n * sizeof *w->nbr);
    if (!w->dn || !w->ccls || !w->cls || !w->nbr)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory for a strip of %zu cells", n);
    if (model || labels) {
        size_t p = (size_t)w->feat.p, nb = nc < PREDICT_BATCH ? nc : PREDICT_BATCH;
        w->x = malloc(nb * p * sizeof *w->x);
        w->xi = malloc(nb * sizeof *w->xi);
        w->pcode = malloc(nb);
        w->pconf = malloc(nb * sizeof *w->pconf);
        w->conf = malloc(n * sizeof *w->conf);
        if (!w->x || !w->xi || !w->pcode || !w->pconf || !w->conf)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory for a strip of %zu cells", n);
        if (model && w->feat.p > w->feat.p_own) {
            w->xf = malloc(nb * (size_t)w->feat.p_own * sizeof *w->xf);
            w->xif = malloc(nb * sizeof *w->xif);
            if (!w->xf || !w->xif)
                return sm_error(ctx, SM_ERR_NOMEM, "out of memory for a strip of %zu cells", n);
        }
    }
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

/* Predicts the batch of m pixels (features of stride p in w->x, chunk indices in w->xi) with
 * `model` (legend codes `code`) into w->ccls and the strip's confidence. */
static void predict_batch(worker *w, const sm_model *model, const int *code, const float *x, const size_t *xi,
                          size_t m, size_t ncols, int64_t c0)
{
    size_t stride = (size_t)w->win.ncols;
    sm_model_predict_codes(model, x, m, w->pcode, w->pconf);
    int rejected = sm_model_unclassified_code(model), k = sm_model_nclasses(model);
    for (size_t j = 0; j < m; j++) {
        size_t i = xi[j];
        int c = w->pcode[j];
        uint8_t cc = (c >= 1 && c <= k && c != rejected) ? (uint8_t)code[c - 1] : (uint8_t)SM__CODE_UNCLASSIFIED;
        w->ccls[i] = cc;
        if (cc != SM__CODE_UNCLASSIFIED)
            w->conf[(i / ncols) * stride + (size_t)c0 + i % ncols] = w->pconf[j];
    }
}

/* Classifies the chunk's n pixels with the model into w->ccls (and their confidence into the
 * strip's, at column c0): no data 0, masked 11, the model's class, or 10 where the model
 * rejects the pixel or a feature is missing. Only observed pixels are given to the model. With
 * partners or drone features, a pixel missing one of them goes to the fallback model (its own
 * features, in a batch of their own; code 10 when there is none). Every pixel's features are
 * computed once. */
static void model_chunk(worker *w, const sm_window *cw, int64_t c0)
{
    const sm__scene_model *sm = w->model;
    const chunk_refl *own = &w->io[0].c;
    size_t n = (size_t)cw->ncols * (size_t)cw->nrows, p = (size_t)w->feat.p, po = (size_t)w->feat.p_own;
    size_t ncols = (size_t)cw->ncols, stride = (size_t)w->win.ncols;
    chunk_refl io[1 + SM__MAX_PARTNERS];
    for (int k = 0; k < w->nio; k++)
        io[k] = w->io[k].c;
    size_t m = 0, mf = 0;
    for (size_t i = 0; i < n; i++) {
        w->conf[(i / ncols) * stride + (size_t)c0 + i % ncols] = NAN;
        w->ccls[i] = !own->valid[i] ? SM__CODE_NODATA : own->cloud[i] ? SM__CODE_CLOUD : SM__CODE_UNCLASSIFIED;
        if (!own->valid[i] || own->cloud[i])
            continue;
        float *x = w->x + m * p;
        pixel_features(&w->feat, io, i, x);
        int complete = sm->model != NULL; /* without a full model, all go to the fallback */
        for (size_t j = po; j < p && complete; j++)
            complete = isfinite(x[j]);
        if (!complete) {
            w->fb_pixels += 1.0;
            if (!sm->fallback)
                continue; /* stays 10 */
            memcpy(w->xf + mf * po, x, po * sizeof *x);
            w->xif[mf++] = i;
            if (mf == PREDICT_BATCH) {
                predict_batch(w, sm->fallback, sm->fb_code, w->xf, w->xif, mf, ncols, c0);
                mf = 0;
            }
            continue;
        }
        w->xi[m++] = i;
        if (m == PREDICT_BATCH) {
            predict_batch(w, sm->model, sm->code, w->x, w->xi, m, ncols, c0);
            m = 0;
        }
    }
    if (m)
        predict_batch(w, sm->model, sm->code, w->x, w->xi, m, ncols, c0);
    if (mf)
        predict_batch(w, sm->fallback, sm->fb_code, w->xf, w->xif, mf, ncols, c0);
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
 * is observed, every own feature is finite, and the cell's draw falls in its class's kept
 * share. */
static sm_status collect_pixel(worker *w, size_t i, uint64_t cell, int cls, int64_t group)
{
    const chunk_refl *own = &w->io[0].c;
    if (!own->valid[i] || own->cloud[i])
        return SM_OK;
    if (w->keep[cls] < 1.0 && !(cell_uniform(w->seed, cell) < w->keep[cls]))
        return SM_OK;
    float x[SM__MAX_FEAT];
    chunk_refl io[1 + SM__MAX_PARTNERS];
    for (int k = 0; k < w->nio; k++)
        io[k] = w->io[k].c;
    pixel_features(&w->feat, io, i, x);
    for (int j = 0; j < w->feat.p_own; j++)
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

/* out[i] = (float)((dn[i] + off) * sc), NAN where dn[i] is NAN (and then valid[i] = 0 when
 * valid is given). Four cells at a time with SSE2: the same operations on each cell as the
 * scalar tail, so the same floats. */
static void to_reflectance(const double *restrict dn, size_t n, double off, double sc, float *restrict out,
                           uint8_t *restrict valid)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128d vo = _mm_set1_pd(off), vs = _mm_set1_pd(sc);
    const __m128 qnan = _mm_set1_ps(NAN);
    for (; i + 4 <= n; i += 4) {
        __m128d a = _mm_loadu_pd(dn + i), b = _mm_loadu_pd(dn + i + 2);
        __m128 fa = _mm_cvtpd_ps(_mm_mul_pd(_mm_add_pd(a, vo), vs));
        __m128 fb = _mm_cvtpd_ps(_mm_mul_pd(_mm_add_pd(b, vo), vs));
        __m128 f = _mm_movelh_ps(fa, fb);
        /* the cells that are not NAN, as four 32-bit lanes (from the doubles, as the scalar test) */
        __m128i oka = _mm_shuffle_epi32(_mm_castpd_si128(_mm_cmpord_pd(a, a)), 0x08);
        __m128i okb = _mm_shuffle_epi32(_mm_castpd_si128(_mm_cmpord_pd(b, b)), 0x08);
        __m128 ok = _mm_movelh_ps(_mm_castsi128_ps(oka), _mm_castsi128_ps(okb));
        _mm_storeu_ps(out + i, _mm_or_ps(_mm_and_ps(ok, f), _mm_andnot_ps(ok, qnan)));
        if (valid) {
            int m = _mm_movemask_ps(ok);
            if (m != 15) {
                for (int k = 0; k < 4; k++)
                    if (!((m >> k) & 1))
                        valid[i + (size_t)k] = 0;
            }
        }
    }
#endif
    for (; i < n; i++) {
        double v = dn[i];
        if (v != v) {
            if (valid)
                valid[i] = 0;
            out[i] = NAN;
        } else {
            out[i] = (float)((v + off) * sc);
        }
    }
}

/* Reads scene io's bands and mask over chunk `cw`: reflectances, validity, mask. */
static sm_status read_scene_chunk(worker *w, scene_io *io, const sm_window *cw)
{
    const sm_job_scene *js = w->plan->scenes[io->scene].job;
    const sm_grid *g = &w->plan->grid;
    size_t n = (size_t)cw->ncols * (size_t)cw->nrows;
    sm_status st;
    memset(io->valid, 1, n);
    memset(io->cloud, 0, n);
    for (int r = 0; r < SM__NROLES; r++) {
        const sm__band_src *b = &io->bands[r];
        if (!b->raster)
            continue;
        sm_grid rg = sm_raster_grid(b->raster);
        sm_resample rs = (fabs(rg.dx - g->dx) < 1e-9 * g->dx) ? SM_RESAMPLE_NEAREST : SM_RESAMPLE_BILINEAR;
        if ((st = sm_raster_read(b->raster, w->ctx, b->band, g, cw, rs, w->dn)) != SM_OK)
            return st;
        /* the 10 m bands decide validity; a missing coarse band only loses its indices */
        to_reflectance(w->dn, n, b->offset, b->scale, io->c.refl[r], r <= SM__ROLE_NIR ? io->valid : NULL);
    }
    if (io->mask) {
        if ((st = sm_raster_read(io->mask, w->ctx, 1, g, cw, SM_RESAMPLE_NEAREST, w->dn)) != SM_OK)
            return st;
        for (size_t i = 0; i < n; i++) {
            double v = w->dn[i];
            if (v >= 0 && v <= 255 && v == (double)(int)v)
                io->cloud[i] = io->masked[(int)v];
            else if (!isnan(v) && mask_has(js, v))
                io->cloud[i] = 1;
        }
    }
    return SM_OK;
}

/* Reads and classifies the chunk `cw` of the strip (its first column is `c0` in the strip):
 * fills the strip's classes and NBR for those columns (collect mode: gathers the chunk's
 * training samples instead). */
static sm_status process_chunk(worker *w, const sm_window *cw, int64_t c0)
{
    size_t n = (size_t)cw->ncols * (size_t)cw->nrows;
    sm_status st;
    for (int k = 0; k < w->nio; k++)
        if ((st = read_scene_chunk(w, &w->io[k], cw)) != SM_OK)
            return st;
    if (w->ndrones && (st = drone_chunk(w, cw)) != SM_OK)
        return st;
    float *const *refl = w->io[0].c.refl;
    sm_pixel_block blk;
    memset(&blk, 0, sizeof blk);
    blk.n = n;
    blk.blue = refl[SM__ROLE_BLUE];
    blk.green = refl[SM__ROLE_GREEN];
    blk.red = refl[SM__ROLE_RED];
    blk.nir = refl[SM__ROLE_NIR];
    blk.swir1 = refl[SM__ROLE_SWIR1];
    blk.swir2 = refl[SM__ROLE_SWIR2];
    blk.valid = w->io[0].c.valid;
    blk.cloud = w->io[0].c.cloud;
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
    /* the pixels per class, counted in integers (exact, as the sums of 1.0 they replace) */
    uint64_t hist[256] = {0};
    for (int64_t y = 0; y < cw->nrows; y++) {
        const uint8_t *src = w->ccls + (size_t)y * (size_t)cw->ncols;
        uint8_t *dst = w->cls + (size_t)y * stride + (size_t)c0;
        float *nb = w->nbr + (size_t)y * stride + (size_t)c0;
        memcpy(dst, src, (size_t)cw->ncols);
        int64_t x = 0;
#if defined(__SSE2__)
        if (sw2) { /* four cells at a time: the same floats as the loop below */
            const float *ni = nir + (size_t)y * (size_t)cw->ncols, *s2 = sw2 + (size_t)y * (size_t)cw->ncols;
            const __m128i cnd = _mm_set1_epi32(SM__CODE_NODATA), ccl = _mm_set1_epi32(SM__CODE_CLOUD);
            for (; x + 4 <= cw->ncols; x += 4) {
                __m128 v = sm__normdiff4(_mm_loadu_ps(ni + x), _mm_loadu_ps(s2 + x));
                __m128i k = _mm_setr_epi32(src[x], src[x + 1], src[x + 2], src[x + 3]);
                __m128 unobs = _mm_castsi128_ps(_mm_or_si128(_mm_cmpeq_epi32(k, cnd), _mm_cmpeq_epi32(k, ccl)));
                _mm_storeu_ps(nb + x, _mm_or_ps(_mm_andnot_ps(unobs, v), _mm_and_ps(unobs, _mm_set1_ps(NAN))));
                hist[src[x]]++;
                hist[src[x + 1]]++;
                hist[src[x + 2]]++;
                hist[src[x + 3]]++;
            }
        }
#endif
        for (; x < cw->ncols; x++) {
            size_t i = (size_t)y * (size_t)cw->ncols + (size_t)x;
            uint8_t k = src[x];
            int obs = k != SM__CODE_NODATA && k != SM__CODE_CLOUD;
            nb[x] = (sw2 && obs) ? sm__nbr(nir[i], sw2[i]) : NAN;
            hist[k]++;
        }
    }
    for (int k = 0; k < 256; k++) {
        if (!hist[k])
            continue;
        if (k != SM__CODE_NODATA && k != SM__CODE_CLOUD)
            w->observed += (size_t)hist[k];
        w->pixels[k < SM__NCODES ? k : 0] += (double)hist[k];
    }
    return SM_OK;
}

/* Asks the cache for the strip's classes and NBR under parcel p's box before its coverage is
 * computed: the strip (tens of MB) has left the cache since it was classified, and the
 * coverage walk takes long enough to hide the wait for memory. */
static void prefetch_cells(const worker *w, const sm_grid *sub, size_t p)
{
#if defined(__GNUC__)
    double x0, y0, x1, y1;
    if (!sm_parcel_geoms_bbox(w->plan->geoms, p, &x0, &y0, &x1, &y1))
        return;
    sm_window cw = sm_grid_window_for_box(sub, x0, y0, x1, y1);
    if (cw.ncols <= 0 || cw.nrows <= 0)
        return;
    for (int64_t r = 0; r < cw.nrows; r++) {
        size_t at = (size_t)(cw.row0 + r) * (size_t)w->win.ncols + (size_t)cw.col0;
        for (int64_t j = 0; j < cw.ncols; j += 64)
            __builtin_prefetch(w->cls + at + (size_t)j);
        __builtin_prefetch(w->cls + at + (size_t)cw.ncols - 1);
        for (int64_t j = 0; j < cw.ncols; j += 16)
            __builtin_prefetch(w->nbr + at + (size_t)j);
        __builtin_prefetch(w->nbr + at + (size_t)cw.ncols - 1);
    }
#else
    (void)w;
    (void)sub;
    (void)p;
#endif
}

/* Adds a parcel's covered cells of the strip to its partial: Σc per class (no data apart), and
 * Σc·NBR, Σc over the cells with an NBR. The sums are those of the plain loop, term by term in
 * the same order (a skipped term adds +0.0, which changes no sum), kept in locals that nothing
 * else can alias. */
static void sum_parcel(sm__scene_acc *acc, const sm_coverage *cov, const uint8_t *cls, const float *nbrs,
                       size_t stride)
{
    double cl[SM__NCODES + 1], nbr_sum = acc->nbr_sum, nbr_w = acc->nbr_w;
    for (int k = 0; k < SM__NCODES; k++)
        cl[k] = acc->cls[k];
    cl[SM__NCODES] = 0.0; /* codes beyond the legend: counted nowhere */
    cl[SM__CODE_NODATA] = acc->nodata; /* no data has a sum of its own, kept in its code's slot */
    double keep0 = acc->cls[SM__CODE_NODATA];
    for (int64_t rr = 0; rr < cov->win.nrows; rr++) {
        const double *fr = cov->frac + (size_t)rr * (size_t)cov->win.ncols;
        size_t base = (size_t)(cov->win.row0 + rr) * stride + (size_t)cov->win.col0;
        const uint8_t *kr = cls + base;
        const float *nr = nbrs + base;
        for (int64_t cc = 0; cc < cov->win.ncols; cc++) {
            double c = fr[cc];
            if (!(c > 0.0))
                continue;
            unsigned k = kr[cc];
            cl[k < SM__NCODES ? k : SM__NCODES] += c;
            double nb = (double)nr[cc];
            int ok = !isnan(nb);
            nbr_sum += ok ? c * nb : 0.0;
            nbr_w += ok ? c : 0.0;
        }
    }
    acc->nodata = cl[SM__CODE_NODATA];
    for (int k = 0; k < SM__NCODES; k++)
        acc->cls[k] = cl[k];
    acc->cls[SM__CODE_NODATA] = keep0;
    acc->nbr_sum = nbr_sum;
    acc->nbr_w = nbr_w;
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
        prefetch_cells(w, &sub, p);
        if ((st = sm_coverage_compute(&w->cov, w->ctx, &sub, parts, nparts, SM_COVER_EXACT)) != SM_OK)
            return st;
        if (w->cov.win.ncols == 0)
            continue;
        part_acc *pa = NULL;
        if ((st = add_part(w, p, &pa)) != SM_OK)
            return st;
        sum_parcel(&pa->acc, &w->cov, w->cls, nbrs, (size_t)win.ncols);
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

/* The strip of `strip` rows from row r0 of the grid (the last one shorter). */
static sm_window strip_window(const sm_grid *g, int64_t r0, int64_t strip)
{
    sm_window w = {0, r0, g->ncols, r0 + strip > g->nrows ? g->nrows - r0 : strip};
    return w;
}

/* Runs the batch's nb strips, one worker thread each (on this thread when nb is 1). */
static sm_status run_batch(sm_context *ctx, job_arg *args, pthread_t *tids, int nb)
{
    if (nb == 1) {
        thread_main(&args[0]);
        return SM_OK;
    }
    for (int t = 0; t < nb; t++)
        if (pthread_create(&tids[t], NULL, thread_main, &args[t]) != 0) {
            for (int u = 0; u < t; u++)
                pthread_join(tids[u], NULL);
            return sm_error(ctx, SM_ERR_INTERNAL, "cannot start a worker thread");
        }
    for (int t = 0; t < nb; t++)
        pthread_join(tids[t], NULL);
    return SM_OK;
}

/* ---- the COG step of a scene, overlapped with the next scene ----
 * Making the staged land cover (and confidence) a Cloud-Optimized GeoTIFF reads it again,
 * builds the overviews and compresses: seconds, mostly on one core. With more than one thread
 * it runs on a thread of its own while the next scene is read and classified; at most one
 * scene's COG step is in flight, and sm__scene_finish_wait joins it before the land covers are
 * read. The files are the same either way. */
struct sm__finisher {
    pthread_t tid;
    sm_raster_writer *w[2];
    sm_context *ctx;
    sm_status st;
};

static void *finisher_main(void *arg)
{
    struct sm__finisher *f = arg;
    f->st = SM_OK;
    for (int k = 0; k < 2 && f->st == SM_OK; k++)
        if (f->w[k])
            f->st = sm_raster_writer_finish(f->w[k], f->ctx);
    return NULL;
}

sm_status sm__scene_finish_wait(sm_context *ctx, sm__plan *plan)
{
    struct sm__finisher *f = plan->finisher;
    if (!f)
        return SM_OK;
    pthread_join(f->tid, NULL);
    plan->finisher = NULL;
    sm_status st = f->st;
    if (st != SM_OK)
        st = sm_error(ctx, st, "%s", sm_context_message(f->ctx));
    sm_raster_writer_destroy(f->w[0]);
    sm_raster_writer_destroy(f->w[1]);
    sm_context_destroy(f->ctx);
    free(f);
    return st;
}

/* Finishes a scene's writers: here with one thread, else on a thread of its own (after the
 * previous scene's). Takes the writers (*lw and *cfw become NULL) when it starts the thread. */
static sm_status finish_writers(sm_context *ctx, sm__plan *plan, sm_raster_writer **lw, sm_raster_writer **cfw)
{
    sm_status st = sm__scene_finish_wait(ctx, plan);
    if (st != SM_OK)
        return st;
    struct sm__finisher *f = plan->threads != 1 ? calloc(1, sizeof *f) : NULL;
    if (f && (f->ctx = sm_context_create()) != NULL) {
        f->w[0] = *lw;
        f->w[1] = *cfw;
        if (pthread_create(&f->tid, NULL, finisher_main, f) == 0) {
            *lw = NULL;
            *cfw = NULL;
            plan->finisher = f;
            return SM_OK;
        }
        sm_context_destroy(f->ctx);
    }
    free(f); /* one thread, or none to be had: here */
    if ((st = sm_raster_writer_finish(*lw, ctx)) != SM_OK)
        return st;
    if (*cfw && (st = sm_raster_writer_finish(*cfw, ctx)) != SM_OK)
        return st;
    return SM_OK;
}

static int cmp_rows(const void *a, const void *b)
{
    const sm__rowspan *x = a, *y = b;
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

/* Writes a strip to a raster straight from its buffer: its classes `cls` (when `conf` is NULL)
 * or its confidence `conf`, each in the band's own type. */
static sm_status write_strip(sm_raster_writer *rw, sm_context *ctx, const sm_window *win, const uint8_t *cls,
                             const float *conf)
{
    return conf ? sm_raster_writer_write_typed(rw, ctx, 1, win, SM_PIXEL_FLOAT32, conf, (size_t)win->ncols)
                : sm_raster_writer_write_typed(rw, ctx, 1, win, SM_PIXEL_BYTE, cls, (size_t)win->ncols);
}

/* ---- the pass over the strips ----
 * Strips go through the ordered pipeline (sm__pipe_run): a worker takes the next strip as soon
 * as it is free and leaves its classes, confidence and parcel partials in the strip's slot;
 * this thread merges the slots and writes the strips in strip order while the workers go on. So
 * the sums are made in the same order, and the files are the same, for any number of threads;
 * no worker waits for another's strip, nor for the writes. */
typedef struct scene_slot {
    sm_window win;
    uint8_t *cls;
    float *conf;
    part_acc *parts;
    size_t nparts, cap_parts;
} scene_slot;

typedef struct scene_pipe {
    sm__plan *plan;
    size_t scene;
    int64_t strip, nstrips;
    const size_t *bstart, *bucket; /* strip q's parcels: bucket[bstart[q] .. bstart[q + 1]) */
    sm_raster_writer *lw, *cfw;
    worker *workers;
    scene_slot *slots;
} scene_pipe;

/* Strip m into slot k on worker t: the worker fills the slot's buffers and partials. */
static sm_status pipe_work(void *arg, int t, size_t m, size_t k)
{
    scene_pipe *pp = arg;
    worker *w = &pp->workers[t];
    scene_slot *sl = &pp->slots[k];
    w->win = strip_window(&pp->plan->grid, (int64_t)m * pp->strip, pp->strip);
    w->cls = sl->cls;
    w->conf = sl->conf;
    w->parts = sl->parts;
    w->cap_parts = sl->cap_parts;
    sm_status st = process_strip(w, pp->bucket + pp->bstart[m], pp->bstart[m + 1] - pp->bstart[m]);
    sl->parts = w->parts; /* grown, maybe */
    sl->cap_parts = w->cap_parts;
    sl->nparts = w->nparts;
    sl->win = w->win;
    w->cls = NULL;
    w->conf = NULL;
    w->parts = NULL;
    w->cap_parts = 0;
    return st;
}

/* Merges strip m (slot k) into the plan's sums, writes its classes (and confidence). */
static sm_status pipe_merge(void *arg, sm_context *ctx, size_t m, size_t k)
{
    scene_pipe *pp = arg;
    const scene_slot *sl = &pp->slots[k];
    sm__plan *plan = pp->plan;
    sm_status st;
    for (size_t q = 0; q < sl->nparts; q++)
        merge_acc(&plan->acc[sl->parts[q].parcel * plan->nscenes + pp->scene], &sl->parts[q].acc);
    if ((st = write_strip(pp->lw, ctx, &sl->win, sl->cls, NULL)) != SM_OK)
        return st;
    if (pp->cfw && (st = write_strip(pp->cfw, ctx, &sl->win, NULL, sl->conf)) != SM_OK)
        return st;
    char msg[128];
    snprintf(msg, sizeof msg, "scene %s: land cover and parcel sums", plan->scenes[pp->scene].job->id);
    double frac = (double)(m + 1) / (double)pp->nstrips;
    return sm_progress(ctx, ((double)pp->scene + frac) / (double)(plan->nscenes + 1), msg);
}

static sm_context *pipe_ctx(void *arg, int t)
{
    return ((scene_pipe *)arg)->workers[t].ctx;
}

static sm_status run_pipe(sm_context *ctx, scene_pipe *pp, int nthreads)
{
    sm_status st = SM_OK;
    size_t n = (size_t)pp->strip * (size_t)pp->plan->grid.ncols, nslots = sm__pipe_slots(nthreads);
    int need_conf = pp->cfw || pp->workers[0].model;
    /* the strips' buffers live in the slots: the workers' own are not needed */
    for (int t = 0; t < nthreads; t++) {
        worker *w = &pp->workers[t];
        free(w->cls);
        free(w->conf);
        free(w->parts);
        w->cls = NULL;
        w->conf = NULL;
        w->parts = NULL;
        w->cap_parts = 0;
    }
    if (!(pp->slots = calloc(nslots, sizeof *pp->slots)))
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < nslots && st == SM_OK; k++) {
        pp->slots[k].cls = malloc(n);
        pp->slots[k].conf = need_conf ? malloc(n * sizeof(float)) : NULL;
        if (!pp->slots[k].cls || (need_conf && !pp->slots[k].conf))
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory for a strip of %zu cells", n);
    }
    if (st == SM_OK) {
        sm__pipe_ops ops = {pp, pipe_work, pipe_merge, pipe_ctx};
        st = sm__pipe_run(ctx, (size_t)pp->nstrips, nthreads, &ops);
    }
    for (size_t k = 0; k < nslots; k++) {
        free(pp->slots[k].cls);
        free(pp->slots[k].conf);
        free(pp->slots[k].parts);
    }
    free(pp->slots);
    pp->slots = NULL;
    return st;
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
    if (!workers || !args || !tids || !lab_win) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    if ((st = sm__features_init(&feat, ctx, plan, s)) != SM_OK)
        goto end;
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
            w->win = strip_window(g, r0, strip);
            w->samples->n = 0;
            args[t].w = w;
            args[t].active = NULL;
            args[t].nactive = 0;
        }
        if ((st = run_batch(ctx, args, tids, nb)) != SM_OK)
            goto end;
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
    sm__rowspan *order = malloc((plan->nparcels ? plan->nparcels : 1) * sizeof *order);
    size_t *bstart = NULL, *bucket = NULL;
    sm_raster_writer *lw = NULL, *cfw = NULL;
    if (!workers || !order) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (int t = 0; t < nthreads; t++)
        if ((st = worker_init(&workers[t], ctx, plan, s, strip, model, NULL)) != SM_OK)
            goto end;
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
    wo.threads = plan->threads;
    wo.description = "land cover (sinkmap legend)";
    wo.classes = sm_legend_classes(&wo.nclasses);
    if ((st = sm_raster_writer_create(&lw, ctx, lc_path, g, plan->grid_wkt, &wo)) != SM_OK)
        goto end;
    if (model && model->conf_path) {
        sm_raster_writer_options co = SM_RASTER_WRITER_OPTIONS_INIT;
        co.type = SM_PIXEL_FLOAT32;
        co.nodata = NAN;
        co.has_nodata = 1;
        co.threads = plan->threads;
        const struct sm_model *any = model->model ? model->model : model->fallback;
        co.description = sm_model_method(any) == SM_METHOD_RF
                             ? "classifier confidence: share of the trees voting for the class"
                             : "classifier confidence: posterior probability of the class";
        co.unit = "share";
        if ((st = sm_raster_writer_create(&cfw, ctx, model->conf_path, g, plan->grid_wkt, &co)) != SM_OK)
            goto end;
    }
    /* The parcels each strip crosses (CSR lists, in the order above). */
    if ((st = sm__strip_lists(ctx, order, norder, strip, nstrips, &bstart, &bucket)) != SM_OK)
        goto end;
    scene_pipe pp = {plan, s, strip, nstrips, bstart, bucket, lw, cfw, workers, NULL};
    st = run_pipe(ctx, &pp, nthreads);
    if (st != SM_OK)
        goto end;
    if ((st = finish_writers(ctx, plan, &lw, &cfw)) != SM_OK)
        goto end;
    size_t observed = 0;
    for (int t = 0; t < nthreads; t++) {
        plan->cells_read += workers[t].cells;
        observed += workers[t].observed;
        if (plan->lc_pixels)
            for (int c = 0; c < SM__NCODES; c++)
                plan->lc_pixels[s][c] += workers[t].pixels[c];
        if (model) {
            for (int c = 0; c < SM__NCODES; c++)
                model->pixels[c] += workers[t].pixels[c];
            model->fb_pixels += workers[t].fb_pixels;
        }
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
    free(workers);
    free(order);
    free(bstart);
    free(bucket);
    return st;
}
