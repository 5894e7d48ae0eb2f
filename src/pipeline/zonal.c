/* zonal.c: `sinkmap zonal`: coverage-weighted statistics of raster bands per parcel.
 * One pass over the raster in strips of rows; each parcel's coverage is computed on the strip
 * it crosses (so memory is one strip plus one accumulator per parcel and band), and strips
 * are summed in order, so results do not depend on how the work is cut. */
#include "sinkmap/zonal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
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

typedef struct item {
    size_t idx;
    int64_t row0, row1;
} item;

static int cmp_items(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->row0 != y->row0)
        return x->row0 < y->row0 ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

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
    sm_stats **acc = NULL;
    double *covered = NULL, *buf = NULL, *wbuf = NULL;
    item *items = NULL;
    sm_results *res = NULL;
    sm_coverage cov = {{0, 0, 0, 0}, NULL, 0};
    char *tmp = NULL, *dir = NULL;
    int is_csv = ends_with(out, ".csv"), is_gpkg = ends_with(out, ".gpkg");
    int bands[SM_ZONAL_MAX_BANDS];
    size_t nb = opt->nbands ? opt->nbands : 1;
    size_t n = 0;

    if (!is_csv && !is_gpkg)
        return sm_error(ctx, SM_ERR_INPUT, "-o %s: expected a .csv or .gpkg file", out);
    if ((st = parse_stats(ctx, opt->stats ? opt->stats : "count,sum,mean,min,max", &defs, &ndefs)) != SM_OK)
        return st;
    unsigned flags = SM_STATS_BASIC;
    for (size_t k = 0; k < ndefs; k++) {
        if (defs[k].kind == ST_MEDIAN || defs[k].kind == ST_QUANTILE)
            flags |= SM_STATS_VALUES;
        if (defs[k].kind == ST_MAJORITY || defs[k].kind == ST_MINORITY || defs[k].kind == ST_VARIETY ||
            defs[k].kind == ST_FRAC)
            flags |= SM_STATS_CLASSES;
        if (defs[k].kind == ST_WMEAN)
            flags |= SM_STATS_WEIGHTED;
    }
    if ((flags & SM_STATS_WEIGHTED) && !opt->weights) {
        st = sm_error(ctx, SM_ERR_INPUT, "--stats weighted_mean needs --weights RASTER");
        goto end;
    }
    if ((st = sm_raster_open(&r, ctx, raster)) != SM_OK)
        goto end;
    for (size_t b = 0; b < nb; b++) {
        bands[b] = opt->nbands ? opt->bands[b] : 1;
        if (bands[b] < 1 || bands[b] > sm_raster_band_count(r)) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s: band %d does not exist (the raster has %d)", raster,
                          bands[b], sm_raster_band_count(r));
            goto end;
        }
    }
    sm_grid g = sm_raster_grid(r);
    if (opt->weights) {
        if ((st = sm_raster_open(&wr, ctx, opt->weights)) != SM_OK)
            goto end;
        sm_grid wg = sm_raster_grid(wr);
        if (wg.ncols != g.ncols || wg.nrows != g.nrows || fabs(wg.x0 - g.x0) > 1e-6 * g.dx ||
            fabs(wg.y0 - g.y0) > 1e-6 * g.dy || fabs(wg.dx - g.dx) > 1e-9 * g.dx) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s: the weights raster must be on the grid of %s",
                          opt->weights, raster);
            goto end;
        }
    }
    sm_parcels_options po = SM_PARCELS_OPTIONS_INIT;
    po.encoding = opt->encoding;
    po.layer = opt->layer;
    po.fields[SM_FIELD_ID] = opt->id_field;
    if ((st = sm_parcels_open(&p, ctx, parcels, &po)) != SM_OK)
        goto end;
    if ((st = sm_parcels_project(&geoms, ctx, p, sm_raster_crs_wkt(r))) != SM_OK)
        goto end;
    n = sm_parcels_count(p);
    acc = calloc(n * nb, sizeof *acc);
    covered = calloc(n, sizeof *covered);
    items = malloc(n * sizeof *items);
    int64_t strip = sm__strip_rows(g.ncols);
    size_t cells;
    if (sm_mul_size((size_t)strip, (size_t)g.ncols, &cells)) {
        st = sm_error(ctx, SM_ERR_NOMEM, "%s: strip size overflows", raster);
        goto end;
    }
    buf = malloc(cells * nb * sizeof *buf);
    if (wr)
        wbuf = malloc(cells * sizeof *wbuf);
    if (!acc || !covered || !items || !buf || (wr && !wbuf)) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory for %zu parcels", n);
        goto end;
    }
    for (size_t i = 0; i < n * nb; i++)
        if (!(acc[i] = sm_stats_create(flags))) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory for %zu parcels", n);
            goto end;
        }
    size_t nitems = 0;
    for (size_t i = 0; i < n; i++) {
        double x0, y0, x1, y1;
        if (!sm_parcel_geoms_bbox(geoms, i, &x0, &y0, &x1, &y1))
            continue;
        /* touched mode may reach one cell beyond the box when an edge lies on a cell line */
        sm_window w = sm_grid_window_for_box(&g, x0 - g.dx * 1e-9, y0 - g.dy * 1e-9, x1 + g.dx * 1e-9, y1 + g.dy * 1e-9);
        if (w.nrows == 0)
            continue;
        items[nitems].idx = i;
        items[nitems].row0 = w.row0;
        items[nitems].row1 = w.row0 + w.nrows;
        nitems++;
    }
    if (nitems == 0)
        sm_warn(ctx, "%s: no parcel of %s overlaps the raster; every statistic is empty", raster, parcels);
    qsort(items, nitems, sizeof *items, cmp_items);
    size_t first = 0;
    double cell_area = g.dx * g.dy;
    for (int64_t r0 = 0; r0 < g.nrows && first < nitems; r0 += strip) {
        sm_window win = {0, r0, g.ncols, (r0 + strip > g.nrows) ? g.nrows - r0 : strip};
        while (first < nitems && items[first].row1 <= r0)
            first++;
        if (first >= nitems || items[first].row0 >= r0 + win.nrows)
            continue;
        size_t wc = (size_t)win.ncols * (size_t)win.nrows;
        for (size_t b = 0; b < nb; b++)
            if ((st = sm_raster_read(r, ctx, bands[b], &g, &win, SM_RESAMPLE_NEAREST, buf + b * wc)) != SM_OK)
                goto end;
        if (wr && (st = sm_raster_read(wr, ctx, 1, &g, &win, SM_RESAMPLE_NEAREST, wbuf)) != SM_OK)
            goto end;
        sm_grid sub = sm_grid_subgrid(&g, &win);
        for (size_t k = first; k < nitems && items[k].row0 < r0 + win.nrows; k++) {
            if (items[k].row1 <= r0)
                continue;
            size_t i = items[k].idx, np;
            const sm_polygon *parts = sm_parcel_geoms_parts(geoms, i, &np);
            if ((st = sm_coverage_compute(&cov, ctx, &sub, parts, np, opt->mode)) != SM_OK)
                goto end;
            for (int64_t rr = 0; rr < cov.win.nrows; rr++) {
                const double *fr = cov.frac + (size_t)rr * (size_t)cov.win.ncols;
                size_t base = (size_t)(cov.win.row0 + rr) * (size_t)win.ncols + (size_t)cov.win.col0;
                for (int64_t cc = 0; cc < cov.win.ncols; cc++) {
                    double c = fr[cc];
                    if (c <= 0)
                        continue;
                    covered[i] += c;
                    for (size_t b = 0; b < nb; b++) {
                        double x = buf[b * wc + base + (size_t)cc];
                        sm_stats *s = acc[i * nb + b];
                        if (isnan(x)) {
                            sm_stats_add_nodata(s, c);
                            continue;
                        }
                        if (wr) {
                            double wv = wbuf[base + (size_t)cc];
                            st = isnan(wv) ? sm_stats_add(s, x, c) : sm_stats_add_weighted(s, x, c, wv);
                        } else {
                            st = sm_stats_add(s, x, c);
                        }
                        if (st != SM_OK) {
                            st = sm_error(ctx, st, "out of memory keeping values for quantiles");
                            goto end;
                        }
                    }
                }
            }
        }
        if ((st = sm_progress(ctx, (double)(r0 + win.nrows) / (double)g.nrows, "zonal statistics")) != SM_OK)
            goto end;
    }
    /* The results table. */
    if ((st = sm_results_create(&res, ctx, n)) != SM_OK)
        goto end;
    for (size_t b = 0; b < nb; b++) {
        for (size_t k = 0; k < ndefs; k++) {
            char name[64];
            const stat_def *d = &defs[k];
            if (d->kind == ST_FRAC) {
                /* one column per class value present in any parcel */
                size_t nc = 0, capc = 0;
                int64_t *cls = NULL;
                for (size_t i = 0; i < n; i++) {
                    size_t m = sm_stats_classes(acc[i * nb + b], NULL, 0);
                    if (nc + m > capc) {
                        capc = (nc + m) * 2 + 16;
                        int64_t *t = realloc(cls, capc * sizeof *t);
                        if (!t) {
                            free(cls);
                            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
                            goto end;
                        }
                        cls = t;
                    }
                    nc += sm_stats_classes(acc[i * nb + b], cls + nc, m);
                }
                if (nc)
                    qsort(cls, nc, sizeof *cls, cmp_i64);
                size_t u = 0;
                for (size_t j = 0; j < nc; j++)
                    if (u == 0 || cls[j] != cls[u - 1])
                        cls[u++] = cls[j];
                for (size_t j = 0; j < u; j++) {
                    size_t col;
                    if (nb > 1)
                        snprintf(name, sizeof name, "frac_%lld_b%d", (long long)cls[j], bands[b]);
                    else
                        snprintf(name, sizeof name, "frac_%lld", (long long)cls[j]);
                    if ((st = sm_results_add(res, ctx, name, SM_RESULT_REAL, "share", "share of the valid covered weight in this class", &col)) != SM_OK) {
                        free(cls);
                        goto end;
                    }
                    for (size_t i = 0; i < n; i++)
                        sm_results_set(res, i, col, sm_stats_class_frac(acc[i * nb + b], cls[j]));
                }
                free(cls);
                continue;
            }
            int per_parcel = d->kind == ST_AREA_M2 || d->kind == ST_AREA_HA || d->kind == ST_AREA_MU;
            if (per_parcel && b > 0)
                continue; /* the covered area does not depend on the band */
            if (nb > 1 && !per_parcel)
                snprintf(name, sizeof name, "%s_b%d", d->name, bands[b]);
            else
                snprintf(name, sizeof name, "%s", d->name);
            size_t col;
            if ((st = sm_results_add(res, ctx, name, SM_RESULT_REAL, "", d->name, &col)) != SM_OK)
                goto end;
            for (size_t i = 0; i < n; i++) {
                sm_stats *s = acc[i * nb + b];
                double v = NAN;
                switch (d->kind) {
                case ST_COUNT: v = sm_stats_count(s); break;
                case ST_SUM: v = sm_stats_sum(s); break;
                case ST_MEAN: v = sm_stats_mean(s); break;
                case ST_MIN: v = sm_stats_min(s); break;
                case ST_MAX: v = sm_stats_max(s); break;
                case ST_STDEV: v = sm_stats_stdev(s); break;
                case ST_VARIANCE: v = sm_stats_variance(s); break;
                case ST_MEDIAN: v = sm_stats_quantile(s, 0.5); break;
                case ST_QUANTILE: v = sm_stats_quantile(s, d->q); break;
                case ST_MAJORITY: v = sm_stats_majority(s); break;
                case ST_MINORITY: v = sm_stats_minority(s); break;
                case ST_VARIETY: v = (double)sm_stats_variety(s); break;
                case ST_WMEAN: v = sm_stats_weighted_mean(s); break;
                case ST_AREA_M2: v = covered[i] * cell_area; break;
                case ST_AREA_HA: v = covered[i] * cell_area / 1e4; break;
                case ST_AREA_MU: v = covered[i] * cell_area / 1e4 * 15.0; break;
                case ST_NODATA: v = sm_stats_nodata_share(s); break;
                case ST_FRAC: break;
                }
                sm_results_set(res, i, col, v);
            }
        }
    }
    /* Write to a temporary name beside `out`, then rename into place. */
    dir = sm__path_dirname(ctx, out);
    tmp = sm__asprintf(ctx, "%s/.%s.sinkmap-tmp-%ld%s", dir ? dir : ".", sm__path_basename(out),
                       (long)getpid(), is_csv ? ".csv" : ".gpkg");
    if (!dir || !tmp) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if (!sm__dir_exists(dir)) {
        st = sm_error(ctx, SM_ERR_INPUT, "-o %s: the folder %s does not exist", out, dir);
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
    sm_coverage_free(&cov);
    free(items);
    free(buf);
    free(wbuf);
    free(covered);
    if (acc)
        for (size_t i = 0; i < n * nb; i++)
            sm_stats_destroy(acc[i]);
    free(acc);
    sm_parcel_geoms_destroy(geoms);
    sm_parcels_destroy(p);
    sm_raster_close(r);
    sm_raster_close(wr);
    free(defs);
    return st;
}
