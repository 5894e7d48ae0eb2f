/* zonal.c: `sinkmap zonal`: coverage-weighted statistics of raster bands per parcel.
 * One pass over the raster in strips of rows aligned on its blocks. Worker threads, each with
 * its own GDAL handles, take the next strip as they come free and sum every parcel it crosses
 * into a partial for that strip; the main thread merges the partials in strip order, so the
 * results are bit-identical for any number of threads. Memory: one strip per thread, partials
 * of at most two strips per thread, one accumulator per parcel and band (a parcel's coverage is
 * computed on the strip only, never over its whole bounding box). */
#include "sinkmap/zonal.h"

#include <cpl_error.h>
#include <gdal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "io/parcels_direct.h"
#include "pipeline/internal.h"
#include "sinkmap/parcels.h"
#include "sinkmap/raster.h"
#include "sinkmap/results.h"
#include "sinkmap/stats.h"

typedef enum stat_kind {
    ST_COUNT, ST_SUM, ST_MEAN, ST_MIN, ST_MAX, ST_STDEV, ST_VARIANCE, ST_MEDIAN, ST_QUANTILE,
    ST_MAJORITY, ST_MINORITY, ST_VARIETY, ST_FRAC, ST_WMEAN, ST_AREA_M2, ST_AREA_HA, ST_AREA_MU,
    ST_NODATA
} stat_kind;

typedef struct stat_def {
    stat_kind kind;
    double q; /* ST_QUANTILE, in [0,1] */
    char name[16];
} stat_def;

static const struct {
    const char *name;
    stat_kind kind;
} STAT_NAMES[] = {
    {"count", ST_COUNT},       {"sum", ST_SUM},           {"mean", ST_MEAN},
    {"min", ST_MIN},           {"max", ST_MAX},           {"stdev", ST_STDEV},
    {"variance", ST_VARIANCE}, {"median", ST_MEDIAN},     {"majority", ST_MAJORITY},
    {"minority", ST_MINORITY}, {"variety", ST_VARIETY},   {"frac", ST_FRAC},
    {"weighted_mean", ST_WMEAN}, {"area_m2", ST_AREA_M2}, {"area_ha", ST_AREA_HA},
    {"area_mu", ST_AREA_MU},   {"nodata", ST_NODATA},
};
#define NSTAT_NAMES (sizeof STAT_NAMES / sizeof STAT_NAMES[0])

static sm_status parse_stats(sm_context *ctx, const char *list, stat_def **out, size_t *n)
{
    char *copy = sm__strdup(ctx, list);
    if (!copy)
        return SM_ERR_NOMEM;
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    stat_def *defs = calloc(cap, sizeof *defs);
    if (!defs) {
        free(copy);
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    sm_status st = SM_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        sm__trim(tok);
        stat_def *d = &defs[k];
        int found = 0;
        for (size_t i = 0; i < NSTAT_NAMES; i++)
            if (strcmp(tok, STAT_NAMES[i].name) == 0) {
                d->kind = STAT_NAMES[i].kind;
                found = 1;
            }
        if (!found && tok[0] == 'q' && tok[1]) {
            char *end;
            double pct = strtod(tok + 1, &end);
            if (*end == '\0' && pct >= 0 && pct <= 100) {
                d->kind = ST_QUANTILE;
                d->q = pct / 100.0;
                found = 1;
            }
        }
        if (!found) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "--stats: unknown statistic '%s' (expected count, sum, mean, min, max, "
                          "stdev, variance, median, q<0-100>, majority, minority, variety, frac, "
                          "weighted_mean, area_m2, area_ha, area_mu, nodata)",
                          tok);
            break;
        }
        snprintf(d->name, sizeof d->name, "%s", tok);
        for (size_t j = 0; j < k; j++)
            if (strcmp(defs[j].name, d->name) == 0) {
                st = sm_error(ctx, SM_ERR_INPUT, "--stats: '%s' is listed twice", tok);
                break;
            }
        if (st != SM_OK)
            break;
        k++;
    }
    free(copy);
    if (st == SM_OK && k == 0)
        st = sm_error(ctx, SM_ERR_INPUT, "--stats: no statistic named");
    if (st != SM_OK) {
        free(defs);
        return st;
    }
    *out = defs;
    *n = k;
    return SM_OK;
}

/* Count, sum, nodata, min and max: sm_stats's SM_STATS_BASIC without the running variance,
 * added and merged with the same operations in the same order as sm_stats_add and
 * sm_stats_merge, so that each column equals sm_stats's to the last bit. Used when no
 * statistic asked for needs more; it spares the division per cell of the running variance. */
typedef struct basic_acc {
    double count, sum, nodata, min, max;
} basic_acc;

static const basic_acc BASIC_EMPTY = {0.0, 0.0, 0.0, INFINITY, -INFINITY};

static void basic_merge(basic_acc *dst, const basic_acc *src)
{
    if (src->count > 0.0 && dst->count == 0.0) {
        dst->count = src->count;
        dst->sum = src->sum;
        dst->min = src->min;
        dst->max = src->max;
    } else if (src->count > 0.0) {
        dst->count = dst->count + src->count;
        dst->sum += src->sum;
        if (src->min < dst->min)
            dst->min = src->min;
        if (src->max > dst->max)
            dst->max = src->max;
    }
    dst->nodata += src->nodata;
}

/* What the workers share, read-only. */
typedef struct zonal_plan {
    sm_grid grid;
    int bands[SM_ZONAL_MAX_BANDS];
    size_t nb;
    const sm_parcel_geoms *geoms;
    sm_cover_mode mode;
    unsigned flags; /* sm_stats flags */
    int basic;      /* 1: basic_acc instead of sm_stats */
    int weighted;
    int64_t strip;        /* rows per strip */
    const size_t *work;   /* the strips that some parcel crosses, in order */
    size_t nwork;
    const size_t *bstart; /* parcels crossing strip s: bucket[bstart[s] .. bstart[s + 1]) */
    const size_t *bucket;
} zonal_plan;

/* One parcel's share of one strip: its covered cells and, in the slot's pools, nb partial
 * accumulators (basic_acc or sm_stats) at [k * nb, k * nb + nb). */
typedef struct part {
    size_t parcel;
    double covered;
} part;

/* The partials of one strip, from the worker that computes them until the main thread has
 * merged them. */
typedef struct strip_slot {
    part *parts;
    size_t nparts, cap_parts;
    basic_acc *bpart; /* cap_parts * nb */
    sm_stats **spart; /* cap_parts * nb; a slot is NULL once its partial moved to the result */
} strip_slot;

/* A worker owns its GDAL handles (a dataset is used by one thread only) and its buffers. */
typedef struct worker {
    sm_context *ctx;
    const zonal_plan *plan;
    sm_raster *r, *wr;
    double *buf, *wbuf; /* nb windows, then the weights' window */
    sm_coverage cov;
    sm_window win;
} worker;

static void slot_free(strip_slot *sl, size_t nb)
{
    free(sl->parts);
    free(sl->bpart);
    if (sl->spart)
        for (size_t i = 0; i < sl->cap_parts * nb; i++)
            sm_stats_destroy(sl->spart[i]);
    free(sl->spart);
}

static void worker_free(worker *w)
{
    sm_raster_close(w->r);
    sm_raster_close(w->wr);
    free(w->buf);
    free(w->wbuf);
    sm_coverage_free(&w->cov);
    sm_context_destroy(w->ctx);
}

static sm_status worker_init(worker *w, sm_context *ctx, const zonal_plan *plan, const char *raster,
                             const char *weights, size_t strip_cells)
{
    w->plan = plan;
    if (!(w->ctx = sm_context_create()))
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    sm_status st;
    if ((st = sm_raster_open(&w->r, ctx, raster)) != SM_OK)
        return st;
    if (weights && (st = sm_raster_open(&w->wr, ctx, weights)) != SM_OK)
        return st;
    size_t n;
    if (sm_mul3_size(strip_cells, plan->nb, sizeof(double), &n))
        return sm_error(ctx, SM_ERR_NOMEM, "%s: a strip of %zu cells x %zu bands is too large",
                        raster, strip_cells, plan->nb);
    w->buf = malloc(n ? n : 1);
    if (weights)
        w->wbuf = malloc(strip_cells * sizeof(double));
    if (!w->buf || (weights && !w->wbuf))
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory for a strip of %zu cells", strip_cells);
    return SM_OK;
}

/* A new part of slot `sl` for parcel p, its partials empty. */
static sm_status add_part(worker *w, strip_slot *sl, size_t p, size_t *k)
{
    size_t nb = w->plan->nb;
    if (sl->nparts == sl->cap_parts) {
        size_t cap = sl->cap_parts ? 2 * sl->cap_parts : 256;
        part *np = realloc(sl->parts, cap * sizeof *np);
        if (!np)
            return sm_error(w->ctx, SM_ERR_NOMEM, "out of memory");
        sl->parts = np;
        if (w->plan->basic) {
            basic_acc *nbp = realloc(sl->bpart, cap * nb * sizeof *nbp);
            if (!nbp)
                return sm_error(w->ctx, SM_ERR_NOMEM, "out of memory");
            sl->bpart = nbp;
        } else {
            sm_stats **nsp = realloc(sl->spart, cap * nb * sizeof *nsp);
            if (!nsp)
                return sm_error(w->ctx, SM_ERR_NOMEM, "out of memory");
            for (size_t i = sl->cap_parts * nb; i < cap * nb; i++)
                nsp[i] = NULL;
            sl->spart = nsp;
        }
        sl->cap_parts = cap;
    }
    *k = sl->nparts;
    sl->parts[sl->nparts].parcel = p;
    sl->parts[sl->nparts].covered = 0.0;
    for (size_t b = 0; b < nb; b++) {
        size_t i = sl->nparts * nb + b;
        if (w->plan->basic) {
            sl->bpart[i] = BASIC_EMPTY;
        } else if (sl->spart[i]) {
            sm_stats_reset(sl->spart[i]);
        } else if (!(sl->spart[i] = sm_stats_create(w->plan->flags))) {
            return sm_error(w->ctx, SM_ERR_NOMEM, "out of memory");
        }
    }
    sl->nparts++;
    return SM_OK;
}

/* Sums the cells of coverage row `fr` (n cells, starting at cell `base` of the strip) into
 * part k's basic accumulators. Without branches on the cells: weights are never negative, so
 * adding a zero weight (or 0.0 in place of a skipped term) leaves every sum exactly as
 * skipping the cell would; the order of the additions is that of sm_stats. */
static void add_row_basic(worker *w, strip_slot *sl, size_t k, const double *fr, int64_t n, size_t base)
{
    const zonal_plan *plan = w->plan;
    size_t wc = (size_t)w->win.ncols * (size_t)w->win.nrows;
    /* the covered weight is summed with the first band: independent chains of additions
     * side by side (each addition waits for the one before it in its own chain) */
    double cov = sl->parts[k].covered;
    for (size_t b = 0; b < plan->nb; b++) {
        basic_acc *a = &sl->bpart[k * plan->nb + b];
        const double *x = w->buf + b * wc + base;
        double count = a->count, sum = a->sum, nodata = a->nodata, mn = a->min, mx = a->max;
        double cw = b == 0 ? 1.0 : 0.0; /* 0 * c adds +0.0 to cov: no change */
        for (int64_t j = 0; j < n; j++) {
            double c = fr[j], v = x[j];
            int nan = isnan(v), valid = !nan && c > 0.0;
            cov += cw * c;
            nodata += nan ? c : 0.0;
            count += valid ? c : 0.0;
            sum += valid ? c * v : 0.0;
            mn = valid && v < mn ? v : mn;
            mx = valid && v > mx ? v : mx;
        }
        a->count = count;
        a->sum = sum;
        a->nodata = nodata;
        a->min = mn;
        a->max = mx;
    }
    sl->parts[k].covered = cov;
}

static sm_status add_row_stats(worker *w, strip_slot *sl, size_t k, const double *fr, int64_t n, size_t base)
{
    const zonal_plan *plan = w->plan;
    size_t wc = (size_t)w->win.ncols * (size_t)w->win.nrows;
    for (int64_t j = 0; j < n; j++) {
        double c = fr[j];
        if (!(c > 0.0))
            continue;
        sl->parts[k].covered += c;
        for (size_t b = 0; b < plan->nb; b++) {
            sm_stats *s = sl->spart[k * plan->nb + b];
            double x = w->buf[b * wc + base + (size_t)j];
            sm_status st;
            if (isnan(x)) {
                sm_stats_add_nodata(s, c);
                continue;
            }
            if (plan->weighted) {
                double wv = w->wbuf[base + (size_t)j];
                st = isnan(wv) ? sm_stats_add(s, x, c) : sm_stats_add_weighted(s, x, c, wv);
            } else {
                st = sm_stats_add(s, x, c);
            }
            if (st != SM_OK)
                return sm_error(w->ctx, st, "out of memory keeping values for quantiles");
        }
    }
    return SM_OK;
}

/* Asks the cache for the strip's cells under parcel p's box, in every band, before its
 * coverage is computed: the strip (tens of MB) has left the cache since it was decoded, and
 * the coverage walk takes long enough to hide the wait for memory. */
static void prefetch_cells(const worker *w, const sm_grid *sub, size_t p)
{
#if defined(__GNUC__)
    double x0, y0, x1, y1;
    if (!sm_parcel_geoms_bbox(w->plan->geoms, p, &x0, &y0, &x1, &y1))
        return;
    sm_window cw = sm_grid_window_for_box(sub, x0, y0, x1, y1);
    if (cw.ncols <= 0 || cw.nrows <= 0)
        return;
    size_t wc = (size_t)w->win.ncols * (size_t)w->win.nrows;
    for (size_t b = 0; b < w->plan->nb; b++) {
        for (int64_t r = 0; r < cw.nrows; r++) {
            const double *row = w->buf + b * wc + (size_t)(cw.row0 + r) * (size_t)w->win.ncols + (size_t)cw.col0;
            for (int64_t j = 0; j < cw.ncols; j += 8)
                __builtin_prefetch(row + j);
            __builtin_prefetch(row + cw.ncols - 1);
        }
    }
#else
    (void)w;
    (void)sub;
    (void)p;
#endif
}

/* Reads strip m (of plan->work) and sums each parcel that crosses it into a part of `sl`. */
static sm_status process_strip(worker *w, size_t m, strip_slot *sl)
{
    const zonal_plan *plan = w->plan;
    size_t s = plan->work[m];
    int64_t r0 = (int64_t)s * plan->strip;
    w->win = (sm_window){0, r0, plan->grid.ncols,
                         r0 + plan->strip > plan->grid.nrows ? plan->grid.nrows - r0 : plan->strip};
    const sm_window *win = &w->win;
    size_t wc = (size_t)win->ncols * (size_t)win->nrows;
    sm_status st;
    sl->nparts = 0;
    for (size_t b = 0; b < plan->nb; b++)
        if ((st = sm_raster_read(w->r, w->ctx, plan->bands[b], &plan->grid, win, SM_RESAMPLE_NEAREST,
                                 w->buf + b * wc)) != SM_OK)
            return st;
    if (w->wr && (st = sm_raster_read(w->wr, w->ctx, 1, &plan->grid, win, SM_RESAMPLE_NEAREST, w->wbuf)) != SM_OK)
        return st;
    sm_grid sub = sm_grid_subgrid(&plan->grid, win);
    size_t a0 = plan->bstart[s], a1 = plan->bstart[s + 1];
    for (size_t a = a0; a < a1; a++) {
        size_t p = plan->bucket[a], np = 0, k = 0;
        /* the parcels come in strip order, not the order they are stored in: their geometry
         * is fetched ahead (each stage a cache miss that would otherwise stall) */
        static const size_t ahead[4] = {8, 4, 2, 1};
        for (int g = 0; g < 4; g++)
            if (a + ahead[g] < a1)
                sm__parcel_geoms_prefetch(plan->geoms, plan->bucket[a + ahead[g]], g);
        prefetch_cells(w, &sub, p);
        const sm_polygon *parts = sm_parcel_geoms_parts(plan->geoms, p, &np);
        if ((st = sm_coverage_compute(&w->cov, w->ctx, &sub, parts, np, plan->mode)) != SM_OK)
            return st;
        const sm_window *cw = &w->cov.win;
        if (cw->ncols == 0 || cw->nrows == 0)
            continue;
        if ((st = add_part(w, sl, p, &k)) != SM_OK)
            return st;
        for (int64_t rr = 0; rr < cw->nrows; rr++) {
            const double *fr = w->cov.frac + (size_t)rr * (size_t)cw->ncols;
            size_t base = (size_t)(cw->row0 + rr) * (size_t)win->ncols + (size_t)cw->col0;
            if (plan->basic)
                add_row_basic(w, sl, k, fr, cw->ncols, base);
            else if ((st = add_row_stats(w, sl, k, fr, cw->ncols, base)) != SM_OK)
                return st;
        }
    }
    return SM_OK;
}

/* Where the partials go: per parcel the covered cells, per parcel and band an accumulator. */
typedef struct zonal_totals {
    double *covered;
    basic_acc *bacc; /* plan->basic */
    sm_stats **acc;  /* otherwise; NULL until a parcel's first partial arrives */
} zonal_totals;

/* Merges a strip's partials into the totals: for every parcel, strips are merged in order, so
 * the same operations run in the same order whatever the number of threads. */
static sm_status merge_slot(sm_context *ctx, const zonal_plan *plan, strip_slot *sl, zonal_totals *tot)
{
    size_t nb = plan->nb;
    for (size_t k = 0; k < sl->nparts; k++) {
        size_t i = sl->parts[k].parcel;
        tot->covered[i] += sl->parts[k].covered;
        for (size_t b = 0; b < nb; b++) {
            size_t src = k * nb + b, dst = i * nb + b;
            if (plan->basic) {
                basic_merge(&tot->bacc[dst], &sl->bpart[src]);
            } else if (!tot->acc[dst]) {
                /* the first partial is moved, which is the same as merging it into an empty one */
                tot->acc[dst] = sl->spart[src];
                sl->spart[src] = NULL;
            } else if (sm_stats_merge(tot->acc[dst], sl->spart[src]) != SM_OK) {
                return sm_error(ctx, SM_ERR_NOMEM, "out of memory merging the statistics of parcel %zu", i);
            }
        }
    }
    return SM_OK;
}

/* The pass over the raster: strips computed by the workers through the ordered pipeline
 * (sm__pipe_run), merged here in order. Errors carry the failing worker's message. */
typedef struct zonal_pass {
    const zonal_plan *plan;
    worker *workers;
    strip_slot *slots;
    zonal_totals *tot;
} zonal_pass;

static sm_status pass_work(void *arg, int t, size_t m, size_t k)
{
    zonal_pass *zp = arg;
    return process_strip(&zp->workers[t], m, &zp->slots[k]);
}

static sm_status pass_merge(void *arg, sm_context *ctx, size_t m, size_t k)
{
    zonal_pass *zp = arg;
    sm_status st = merge_slot(ctx, zp->plan, &zp->slots[k], zp->tot);
    if (st != SM_OK)
        return st;
    return sm_progress(ctx, (double)(m + 1) / (double)zp->plan->nwork, "zonal statistics");
}

static sm_context *pass_ctx(void *arg, int t)
{
    return ((zonal_pass *)arg)->workers[t].ctx;
}

static sm_status run_pass(sm_context *ctx, const zonal_plan *plan, worker *workers, int nthreads,
                          zonal_totals *tot)
{
    size_t nslots = sm__pipe_slots(nthreads);
    strip_slot *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    zonal_pass zp = {plan, workers, slots, tot};
    sm__pipe_ops ops = {&zp, pass_work, pass_merge, pass_ctx};
    sm_status st = sm__pipe_run(ctx, plan->nwork, nthreads, &ops);
    for (size_t k = 0; k < nslots; k++)
        slot_free(&slots[k], plan->nb);
    free(slots);
    return st;
}

/* A parcel's rows and first column on the grid. */
typedef struct item {
    size_t idx;
    int64_t row0, row1, col0;
} item;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && sm__strieq(s + n - m, suffix);
}

/* The height of a band's blocks (tiles or strips), 0 if unknown. */
static int64_t block_rows(const char *path, int band)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    CPLPopErrorHandler();
    if (!ds)
        return 0;
    int bx = 0, by = 0;
    GDALRasterBandH b = GDALGetRasterBand(ds, band);
    if (b)
        GDALGetBlockSize(b, &bx, &by);
    GDALClose(ds);
    return by > 0 ? by : 0;
}

/* Rows per strip: about 4 million cells over every band read, at most 512 rows, rounded down to
 * whole blocks so that each block is decoded once, by one worker. When a block is taller than
 * that, the strip is one block high as long as it stays under 8 times the budget (256 MB of
 * doubles; e.g. 512-row tiles of a 10980-column raster with up to 5 bands); otherwise strips
 * cut through blocks, and a block shared by two strips may be decoded twice. */
static int64_t zonal_strip_rows(int64_t ncols, size_t nread, int64_t bh)
{
    const int64_t budget = 4 * 1024 * 1024;
    int64_t per_row = ncols * (int64_t)nread;
    int64_t rows = per_row > 0 ? budget / per_row : 512;
    if (rows < 1)
        rows = 1;
    if (rows > 512)
        rows = 512;
    if (bh > 1) {
        if (rows >= bh)
            rows -= rows % bh;
        else if (bh <= 8 * budget / per_row)
            rows = bh;
    }
    return rows;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 64 ? 64 : n) : 1;
}

/* The value of statistic d for one parcel and band. */
static double stat_value(const stat_def *d, const basic_acc *ba, sm_stats *s, double covered,
                         double cell_area)
{
    switch (d->kind) {
    case ST_AREA_M2: return covered * cell_area;
    case ST_AREA_HA: return covered * cell_area / 1e4;
    case ST_AREA_MU: return covered * cell_area / 1e4 * 15.0;
    default: break;
    }
    if (ba) {
        double t = ba->count + ba->nodata;
        switch (d->kind) {
        case ST_COUNT: return ba->count;
        case ST_SUM: return ba->sum;
        case ST_MEAN: return ba->count > 0.0 ? ba->sum / ba->count : NAN;
        case ST_MIN: return ba->count > 0.0 ? ba->min : NAN;
        case ST_MAX: return ba->count > 0.0 ? ba->max : NAN;
        case ST_NODATA: return t > 0.0 ? ba->nodata / t : NAN;
        default: return NAN;
        }
    }
    switch (d->kind) {
    case ST_COUNT: return sm_stats_count(s);
    case ST_SUM: return sm_stats_sum(s);
    case ST_MEAN: return sm_stats_mean(s);
    case ST_MIN: return sm_stats_min(s);
    case ST_MAX: return sm_stats_max(s);
    case ST_STDEV: return sm_stats_stdev(s);
    case ST_VARIANCE: return sm_stats_variance(s);
    case ST_MEDIAN: return sm_stats_quantile(s, 0.5);
    case ST_QUANTILE: return sm_stats_quantile(s, d->q);
    case ST_MAJORITY: return sm_stats_majority(s);
    case ST_MINORITY: return sm_stats_minority(s);
    case ST_VARIETY: return (double)sm_stats_variety(s);
    case ST_WMEAN: return sm_stats_weighted_mean(s);
    case ST_NODATA: return sm_stats_nodata_share(s);
    default: return NAN;
    }
}

/* One column frac_<class>[_b<N>] per class value present in any parcel, for band slot b. */
static sm_status add_frac_columns(sm_context *ctx, sm_results *res, sm_stats **acc, size_t n,
                                  size_t nb, size_t b, int band)
{
    size_t nc = 0, capc = 0;
    int64_t *cls = NULL;
    sm_status st = SM_OK;
    for (size_t i = 0; i < n; i++) {
        const sm_stats *s = acc[i * nb + b];
        size_t m = s ? sm_stats_classes(s, NULL, 0) : 0;
        if (m == 0)
            continue;
        if (nc + m > capc) {
            capc = (nc + m) * 2 + 16;
            int64_t *t = realloc(cls, capc * sizeof *t);
            if (!t) {
                st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
                goto end;
            }
            cls = t;
        }
        nc += sm_stats_classes(s, cls + nc, m);
    }
    if (nc)
        qsort(cls, nc, sizeof *cls, cmp_i64);
    size_t u = 0;
    for (size_t j = 0; j < nc; j++)
        if (u == 0 || cls[j] != cls[u - 1])
            cls[u++] = cls[j];
    for (size_t j = 0; j < u; j++) {
        char name[64];
        size_t col;
        if (nb > 1)
            snprintf(name, sizeof name, "frac_%lld_b%d", (long long)cls[j], band);
        else
            snprintf(name, sizeof name, "frac_%lld", (long long)cls[j]);
        if ((st = sm_results_add(res, ctx, name, SM_RESULT_REAL, "share",
                                 "share of the valid covered weight in this class", &col)) != SM_OK)
            goto end;
        for (size_t i = 0; i < n; i++) {
            const sm_stats *s = acc[i * nb + b];
            sm_results_set(res, i, col, s ? sm_stats_class_frac(s, cls[j]) : NAN);
        }
    }
end:
    free(cls);
    return st;
}

sm_status sm_zonal(sm_context *ctx, const char *raster, const char *parcels,
                   const sm_zonal_options *opt, const char *out)
{
    sm_zonal_options defaults = SM_ZONAL_OPTIONS_INIT;
    if (!opt)
        opt = &defaults;
    sm_status st;
    stat_def *defs = NULL;
    size_t ndefs = 0;
    sm_raster *r = NULL, *wr = NULL;
    sm_parcels *p = NULL;
    sm_parcel_geoms *geoms = NULL;
    sm_stats **acc = NULL, *empty = NULL;
    basic_acc *bacc = NULL;
    double *covered = NULL;
    item *items = NULL;
    size_t *bucket = NULL, *bstart = NULL, *work = NULL;
    worker *workers = NULL;
    int nthreads = 0;
    sm_results *res = NULL;
    char *tmp = NULL, *dir = NULL;
    int is_csv = ends_with(out, ".csv"), is_gpkg = ends_with(out, ".gpkg");
    zonal_plan plan;
    size_t n = 0, nb = opt->nbands ? opt->nbands : 1;

    memset(&plan, 0, sizeof plan);
    plan.nb = nb;
    plan.mode = opt->mode;
    if (!is_csv && !is_gpkg)
        return sm_error(ctx, SM_ERR_INPUT, "-o %s: expected a .csv or .gpkg file", out);
    /* The output's folder first: no point in an hour's pass whose result cannot be written. */
    if (!(dir = sm__path_dirname(ctx, out)))
        return SM_ERR_NOMEM;
    if (!sm__dir_exists(dir)) {
        st = sm_error(ctx, SM_ERR_INPUT, "-o %s: the folder %s does not exist", out, dir);
        goto end;
    }
    if (nb > SM_ZONAL_MAX_BANDS) {
        st = sm_error(ctx, SM_ERR_INPUT, "at most %d bands", SM_ZONAL_MAX_BANDS);
        goto end;
    }
    if (opt->threads < 0) {
        st = sm_error(ctx, SM_ERR_INPUT, "threads: %d is not a number of threads", opt->threads);
        goto end;
    }
    if ((st = parse_stats(ctx, opt->stats ? opt->stats : "count,sum,mean,min,max", &defs, &ndefs)) != SM_OK)
        goto end;
    plan.flags = SM_STATS_BASIC;
    plan.basic = 1;
    for (size_t k = 0; k < ndefs; k++) {
        stat_kind kind = defs[k].kind;
        if (kind == ST_MEDIAN || kind == ST_QUANTILE)
            plan.flags |= SM_STATS_VALUES;
        if (kind == ST_MAJORITY || kind == ST_MINORITY || kind == ST_VARIETY || kind == ST_FRAC)
            plan.flags |= SM_STATS_CLASSES;
        if (kind == ST_WMEAN)
            plan.flags |= SM_STATS_WEIGHTED;
        if (kind == ST_STDEV || kind == ST_VARIANCE)
            plan.basic = 0;
    }
    if (plan.flags != SM_STATS_BASIC)
        plan.basic = 0;
    if ((plan.flags & SM_STATS_WEIGHTED) && !opt->weights) {
        st = sm_error(ctx, SM_ERR_INPUT, "--stats weighted_mean needs --weights RASTER");
        goto end;
    }
    /* Weights are checked whenever given, but read only for weighted_mean. */
    const char *weights = opt->weights;
    plan.weighted = (plan.flags & SM_STATS_WEIGHTED) != 0;
    if ((st = sm_raster_open(&r, ctx, raster)) != SM_OK)
        goto end;
    for (size_t b = 0; b < nb; b++) {
        plan.bands[b] = opt->nbands ? opt->bands[b] : 1;
        if (plan.bands[b] < 1 || plan.bands[b] > sm_raster_band_count(r)) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s: band %d does not exist (the raster has %d)", raster,
                          plan.bands[b], sm_raster_band_count(r));
            goto end;
        }
    }
    sm_grid g = sm_raster_grid(r);
    plan.grid = g;
    if (weights) {
        if ((st = sm_raster_open(&wr, ctx, weights)) != SM_OK)
            goto end;
        sm_grid wg = sm_raster_grid(wr);
        if (wg.ncols != g.ncols || wg.nrows != g.nrows || fabs(wg.x0 - g.x0) > 1e-6 * g.dx ||
            fabs(wg.y0 - g.y0) > 1e-6 * g.dy || fabs(wg.dx - g.dx) > 1e-9 * g.dx ||
            fabs(wg.dy - g.dy) > 1e-9 * g.dy) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s: the weights raster must be on the grid of %s",
                          weights, raster);
            goto end;
        }
    }
    sm_parcels_options po = SM_PARCELS_OPTIONS_INIT;
    po.encoding = opt->encoding;
    po.layer = opt->layer;
    po.fields[SM_FIELD_ID] = opt->id_field;
    po.threads = opt->threads;
    if ((st = sm_parcels_open(&p, ctx, parcels, &po)) != SM_OK)
        goto end;
    if ((st = sm_parcels_project(&geoms, ctx, p, sm_raster_crs_wkt(r))) != SM_OK)
        goto end;
    plan.geoms = geoms;
    n = sm_parcels_count(p);
    size_t nacc;
    if (sm_mul_size(n ? n : 1, nb, &nacc)) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory for %zu parcels", n);
        goto end;
    }
    covered = calloc(n ? n : 1, sizeof *covered);
    items = calloc(n ? n : 1, sizeof *items);
    if (plan.basic)
        bacc = calloc(nacc, sizeof *bacc);
    else
        acc = calloc(nacc, sizeof *acc); /* NULL until a parcel's first partial arrives */
    if (!covered || !items || (plan.basic ? !bacc : !acc)) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory for %zu parcels", n);
        goto end;
    }
    if (plan.basic)
        for (size_t i = 0; i < nacc; i++)
            bacc[i] = BASIC_EMPTY;

    /* Strips, and the parcels that cross each (CSR lists, left to right within a strip). */
    int64_t strip = zonal_strip_rows(g.ncols, nb + (plan.weighted ? 1 : 0), block_rows(raster, plan.bands[0]));
    int64_t nstrips = (g.nrows + strip - 1) / strip;
    size_t nitems = 0;
    for (size_t i = 0; i < n; i++) {
        double x0, y0, x1, y1;
        if (!sm_parcel_geoms_bbox(geoms, i, &x0, &y0, &x1, &y1))
            continue;
        /* touched mode may reach one cell beyond the box when an edge lies on a cell line */
        sm_window w = sm_grid_window_for_box(&g, x0 - g.dx * 1e-9, y0 - g.dy * 1e-9, x1 + g.dx * 1e-9,
                                             y1 + g.dy * 1e-9);
        if (w.nrows == 0 || w.ncols == 0)
            continue;
        items[nitems].idx = i;
        items[nitems].row0 = w.row0;
        items[nitems].row1 = w.row0 + w.nrows;
        items[nitems].col0 = w.col0;
        nitems++;
    }
    if (nitems == 0)
        sm_warn(ctx, "%s: no parcel of %s overlaps the raster; every statistic is empty", raster, parcels);
    {
        /* Left to right: a counting sort on the first column, stable (ties keep parcel order);
         * then the parcels each strip crosses (CSR lists, left to right within a strip). */
        size_t *colpos = calloc((size_t)g.ncols + 1, sizeof *colpos);
        sm__rowspan *sorted = calloc(nitems ? nitems : 1, sizeof *sorted);
        if (!colpos || !sorted) {
            free(colpos);
            free(sorted);
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory for %zu parcels", n);
            goto end;
        }
        for (size_t k = 0; k < nitems; k++)
            colpos[items[k].col0 + 1]++;
        for (int64_t c = 0; c < g.ncols; c++)
            colpos[c + 1] += colpos[c];
        for (size_t k = 0; k < nitems; k++)
            sorted[colpos[items[k].col0]++] = (sm__rowspan){items[k].idx, items[k].row0, items[k].row1};
        free(colpos);
        free(items);
        items = NULL;
        st = sm__strip_lists(ctx, sorted, nitems, strip, nstrips, &bstart, &bucket);
        free(sorted);
        if (st != SM_OK)
            goto end;
    }
    if (!(work = malloc(((size_t)nstrips + 1) * sizeof *work))) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    size_t nwork = 0;
    for (int64_t s = 0; s < nstrips; s++)
        if (bstart[s + 1] > bstart[s])
            work[nwork++] = (size_t)s;

    /* The pass: workers with their own GDAL handles, strips merged in order. */
    plan.strip = strip;
    plan.work = work;
    plan.nwork = nwork;
    plan.bstart = bstart;
    plan.bucket = bucket;
    nthreads = opt->threads > 0 ? opt->threads : default_threads();
    if ((size_t)nthreads > nwork)
        nthreads = (int)nwork; /* none when no parcel overlaps the raster */
    workers = calloc(nthreads > 0 ? (size_t)nthreads : 1, sizeof *workers);
    if (!workers) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    size_t strip_cells;
    if (sm_mul_size((size_t)strip, (size_t)g.ncols, &strip_cells)) {
        st = sm_error(ctx, SM_ERR_NOMEM, "%s: strip size overflows", raster);
        goto end;
    }
    for (int t = 0; t < nthreads; t++)
        if ((st = worker_init(&workers[t], ctx, &plan, raster, plan.weighted ? weights : NULL,
                              strip_cells)) != SM_OK)
            goto end;
    zonal_totals tot = {covered, bacc, acc};
    if (nthreads > 0 && (st = run_pass(ctx, &plan, workers, nthreads, &tot)) != SM_OK)
        goto end;
    for (int t = 0; t < nthreads; t++)
        worker_free(&workers[t]);
    free(workers);
    workers = NULL;
    free(bucket);
    bucket = NULL;

    /* The results table. */
    if (!plan.basic && !(empty = sm_stats_create(plan.flags))) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    if ((st = sm_results_create(&res, ctx, n)) != SM_OK)
        goto end;
    res->threads = opt->threads;
    double cell_area = g.dx * g.dy;
    for (size_t b = 0; b < nb; b++) {
        for (size_t k = 0; k < ndefs; k++) {
            const stat_def *d = &defs[k];
            if (d->kind == ST_FRAC) {
                if ((st = add_frac_columns(ctx, res, acc, n, nb, b, plan.bands[b])) != SM_OK)
                    goto end;
                continue;
            }
            int per_parcel = d->kind == ST_AREA_M2 || d->kind == ST_AREA_HA || d->kind == ST_AREA_MU;
            if (per_parcel && b > 0)
                continue; /* the covered area does not depend on the band */
            char name[64];
            if (nb > 1 && !per_parcel)
                snprintf(name, sizeof name, "%s_b%d", d->name, plan.bands[b]);
            else
                snprintf(name, sizeof name, "%s", d->name);
            size_t col;
            if ((st = sm_results_add(res, ctx, name, SM_RESULT_REAL, "", d->name, &col)) != SM_OK)
                goto end;
            for (size_t i = 0; i < n; i++) {
                const basic_acc *ba = plan.basic ? &bacc[i * nb + b] : NULL;
                sm_stats *s = plan.basic ? NULL : (acc[i * nb + b] ? acc[i * nb + b] : empty);
                sm_results_set(res, i, col, stat_value(d, ba, s, covered[i], cell_area));
            }
        }
    }
    /* Write to a temporary name beside `out`, then rename into place. */
    tmp = sm__asprintf(ctx, "%s/.%s.sinkmap-tmp-%ld%s", dir, sm__path_basename(out), (long)getpid(),
                       is_csv ? ".csv" : ".gpkg");
    if (!tmp) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    remove(tmp);
    if (is_csv)
        st = sm_results_write_csv_by_id(res, ctx, p, opt->id_field, tmp);
    else
        st = sm_results_write_layer(res, ctx, p, tmp, "GPKG");
    if (st != SM_OK)
        goto end;
    if (rename(tmp, out) != 0) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot move the result into place", out);
        goto end;
    }
end:
    if (st != SM_OK && tmp)
        remove(tmp);
    free(tmp);
    free(dir);
    sm_results_destroy(res);
    if (workers)
        for (int t = 0; t < nthreads; t++)
            worker_free(&workers[t]);
    free(workers);
    free(items);
    free(bucket);
    free(bstart);
    free(work);
    free(covered);
    free(bacc);
    if (acc)
        for (size_t i = 0; i < n * nb; i++)
            sm_stats_destroy(acc[i]);
    free(acc);
    sm_stats_destroy(empty);
    sm_parcel_geoms_destroy(geoms);
    sm_parcels_destroy(p);
    sm_raster_close(r);
    sm_raster_close(wr);
    free(defs);
    return st;
}
