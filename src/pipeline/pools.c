/* pools.c: `sinkmap pools`: carbon storage maps from a lucode raster and an InVEST-style pools
 * table, with the change to an alternate map. Two passes over the rasters in strips of rows: one
 * to count lucodes (so every missing code is known before anything is written), one to write. */
#include "sinkmap/pools.h"

#include <dirent.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "pipeline/internal.h"
#include "sinkmap/carbon.h"
#include "sinkmap/raster.h"
#include "sinkmap/table.h"

/* ---- the table ------------------------------------------------------------------------------ */

typedef struct pool_row {
    long code;
    double storage; /* t C/ha */
    long line;
} pool_row;

struct sm_pools_table {
    pool_row *rows; /* sorted by code */
    size_t n;
};

void sm_pools_table_destroy(sm_pools_table *t)
{
    if (!t)
        return;
    free(t->rows);
    free(t);
}

size_t sm_pools_table_count(const sm_pools_table *t) { return t->n; }

static int cmp_rows(const void *a, const void *b)
{
    const pool_row *x = a, *y = b;
    return (x->code > y->code) - (x->code < y->code);
}

/* Index of code in t->rows, or t->n. */
static size_t find_code(const sm_pools_table *t, long code)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->rows[mid].code < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < t->n && t->rows[lo].code == code) ? lo : t->n;
}

int sm_pools_table_storage(const sm_pools_table *t, long lucode, double *storage)
{
    size_t i = find_code(t, lucode);
    if (i == t->n)
        return 0;
    *storage = t->rows[i].storage;
    return 1;
}

sm_status sm_pools_table_read(sm_pools_table **out, sm_context *ctx, const char *path)
{
    static const char *const names[5] = {"lucode", "c_above", "c_below", "c_soil", "c_dead"};
    *out = NULL;
    sm_table *tab = NULL;
    sm_pools_table *t = NULL;
    size_t c[5];
    sm_status st = sm_table_read(&tab, ctx, path);
    if (st)
        return st;
    for (int k = 0; k < 5; k++)
        if ((st = sm_table_col(tab, ctx, names[k], &c[k])))
            goto end;
    size_t n = sm_table_rows(tab);
    if (n == 0) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: the table has no rows", path);
        goto end;
    }
    if (!(t = sm_calloc(ctx, 1, sizeof *t)) || !(t->rows = sm_calloc(ctx, n, sizeof *t->rows))) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    for (size_t i = 0; i < n; i++) {
        pool_row *r = &t->rows[i];
        if ((st = sm_table_get_long(tab, ctx, i, c[0], &r->code)))
            goto end;
        r->line = sm_table_line(tab, i);
        r->storage = 0;
        for (int k = 1; k < 5; k++) {
            double v;
            if ((st = sm_table_get_double(tab, ctx, i, c[k], &v)))
                goto end;
            if (v < 0) {
                st = sm_error(ctx, SM_ERR_INPUT,
                              "%s:%ld: column '%s': %s is negative (a carbon pool in t C/ha is "
                              ">= 0)",
                              path, r->line, sm_table_col_name(tab, c[k]),
                              sm_table_cell(tab, i, c[k]));
                goto end;
            }
            r->storage += v;
        }
    }
    t->n = n;
    qsort(t->rows, n, sizeof *t->rows, cmp_rows);
    for (size_t i = 1; i < n; i++)
        if (t->rows[i].code == t->rows[i - 1].code) {
            long a = t->rows[i - 1].line, b = t->rows[i].line;
            st = sm_error(ctx, SM_ERR_INPUT, "%s:%ld: lucode %ld is already on line %ld", path,
                          a > b ? a : b, t->rows[i].code, a < b ? a : b);
            goto end;
        }
end:
    sm_table_destroy(tab);
    if (st != SM_OK) {
        sm_pools_table_destroy(t);
        return st;
    }
    *out = t;
    return SM_OK;
}

/* ---- the maps ------------------------------------------------------------------------------- */

static const char *const OUTPUTS[] = {"c_storage_bas.tif", "c_storage_alt.tif",
                                      "c_change_bas_alt.tif", "summary.csv"};
#define NOUTPUTS (sizeof OUTPUTS / sizeof OUTPUTS[0])

/* A lucode found in a map but not in the table; where: 1 bas, 2 alt. */
typedef struct missing_code {
    long code;
    unsigned where;
} missing_code;

typedef struct scan_state {
    const sm_pools_table *table;
    int64_t *count[2]; /* pixels per table row, bas and alt */
    int64_t *both[2];  /* pixels with data in both maps, per row of the bas and the alt code */
    int64_t nodata[2];
    missing_code *missing;
    size_t nmissing, capmissing;
    size_t last; /* the row of the last code looked up (a cache: neighbours share codes) */
} scan_state;

/* 1 if an output folder entry is one sinkmap pools writes (or GDAL's .aux.xml beside it). */
static int is_output_name(const char *name)
{
    for (size_t i = 0; i < NOUTPUTS; i++) {
        size_t n = strlen(OUTPUTS[i]);
        if (strncmp(name, OUTPUTS[i], n) == 0 &&
            (name[n] == '\0' || strcmp(name + n, ".aux.xml") == 0))
            return 1;
    }
    return 0;
}

/* Refuses an existing out_dir that is not a folder or holds files sinkmap pools did not write:
 * replacing it would delete them. */
static sm_status check_out_dir(sm_context *ctx, const char *dir)
{
    if (!sm__dir_exists(dir)) {
        if (sm__file_exists(dir))
            return sm_error(ctx, SM_ERR_INPUT, "-o %s: exists and is not a folder", dir);
        return SM_OK;
    }
    DIR *d = opendir(dir);
    if (!d)
        return sm_error(ctx, SM_ERR_INPUT, "-o %s: cannot read the folder", dir);
    sm_status st = SM_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            is_output_name(e->d_name))
            continue;
        st = sm_error(ctx, SM_ERR_INPUT,
                      "-o %s: the folder holds '%s', which sinkmap pools did not write; the folder "
                      "is replaced as a whole, so give a new or empty folder (or one from an "
                      "earlier sinkmap pools run)",
                      dir, e->d_name);
        break;
    }
    closedir(d);
    return st;
}

/* The area of one cell in m²: the grid is in the CRS's linear unit. */
static sm_status cell_area_m2(sm_context *ctx, const sm_raster *r, double *out)
{
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    sm_status st = SM_OK;
    if (!srs)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    if (OSRSetFromUserInput(srs, sm_raster_crs_wkt(r)) != OGRERR_NONE) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: cannot read its CRS", sm_raster_path(r));
    } else if (!OSRIsProjected(srs)) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: the CRS is not projected, so a pixel has no area in m² (reproject it, "
                      "e.g. gdalwarp -t_srs EPSG:4544 for CGCS2000 Gauss-Kruger 105E)",
                      sm_raster_path(r));
    } else {
        double unit = OSRGetLinearUnits(srs, NULL);
        sm_grid g = sm_raster_grid(r);
        *out = g.dx * unit * g.dy * unit;
        if (!(unit > 0) || !(*out > 0) || !isfinite(*out))
            st = sm_error(ctx, SM_ERR_INPUT, "%s: pixel area %g m² is not usable",
                          sm_raster_path(r), *out);
    }
    OSRDestroySpatialReference(srs);
    return st;
}

static int same_grid(const sm_grid *a, const sm_grid *b)
{
    return a->ncols == b->ncols && a->nrows == b->nrows && fabs(a->x0 - b->x0) <= 1e-6 * a->dx &&
           fabs(a->y0 - b->y0) <= 1e-6 * a->dy && fabs(a->dx - b->dx) <= 1e-9 * a->dx &&
           fabs(a->dy - b->dy) <= 1e-9 * a->dy;
}

/* The lucode of pixel c of window win: 0 and *code set, *nodata = 1 for nodata (NaN);
 * SM_ERR_INPUT for a value that is not a whole number. */
static sm_status pixel_code(sm_context *ctx, const char *path, double v, const sm_window *win,
                            size_t c, long *code, int *nodata)
{
    *nodata = isnan(v);
    if (*nodata)
        return SM_OK;
    if (v != floor(v) || fabs(v) > 2147483647.0)
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: the pixel at column %lld, row %lld holds %.17g, which is not a whole "
                        "lucode",
                        path, (long long)(win->col0 + (int64_t)(c % (size_t)win->ncols)),
                        (long long)(win->row0 + (int64_t)(c / (size_t)win->ncols)), v);
    *code = (long)v;
    return SM_OK;
}

static size_t lookup(scan_state *s, long code)
{
    const sm_pools_table *t = s->table;
    if (s->last < t->n && t->rows[s->last].code == code)
        return s->last;
    size_t i = find_code(t, code);
    if (i < t->n)
        s->last = i;
    return i;
}

static sm_status note_missing(scan_state *s, sm_context *ctx, long code, unsigned where)
{
    size_t lo = 0, hi = s->nmissing;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->missing[mid].code < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->nmissing && s->missing[lo].code == code) {
        s->missing[lo].where |= where;
        return SM_OK;
    }
    if (s->nmissing == s->capmissing) {
        size_t cap = s->capmissing ? 2 * s->capmissing : 16;
        missing_code *m = sm_realloc(ctx, s->missing, cap * sizeof *m);
        if (!m)
            return SM_ERR_NOMEM;
        s->missing = m;
        s->capmissing = cap;
    }
    memmove(s->missing + lo + 1, s->missing + lo, (s->nmissing - lo) * sizeof *s->missing);
    s->missing[lo].code = code;
    s->missing[lo].where = where;
    s->nmissing++;
    return SM_OK;
}

/* The error that lists every lucode missing from the table. */
static sm_status missing_error(sm_context *ctx, const scan_state *s, const char *pools_csv,
                               const char *bas, const char *alt)
{
    char list[1800];
    size_t len = 0, shown = 0;
    list[0] = '\0';
    for (size_t i = 0; i < s->nmissing; i++) {
        const missing_code *m = &s->missing[i];
        const char *in = m->where == 3 ? "both maps" : m->where == 1 ? bas : alt;
        char item[600];
        int n = alt ? snprintf(item, sizeof item, "%s%ld (in %s)", i ? ", " : "", m->code, in)
                    : snprintf(item, sizeof item, "%s%ld", i ? ", " : "", m->code);
        if (n < 0 || len + (size_t)n + 40 >= sizeof list)
            break;
        memcpy(list + len, item, (size_t)n + 1);
        len += (size_t)n;
        shown++;
    }
    if (shown < s->nmissing)
        snprintf(list + len, sizeof list - len, ", ... (%zu more)", s->nmissing - shown);
    return sm_error(ctx, SM_ERR_INPUT,
                    "%s: no row for %zu lucode%s found in %s%s%s: %s; add %s to the table",
                    pools_csv, s->nmissing, s->nmissing == 1 ? "" : "s", bas, alt ? " or " : "",
                    alt ? alt : "", list, s->nmissing == 1 ? "it" : "them");
}

/* One row of summary.csv; code < 0 writes `label` instead; NaN values are empty cells. Areas are
 * pixels × pixel area (m²) / 10,000 (ha) and × 15 (mu), computed from m² so that whole numbers of
 * m² stay exact. */
static sm_status summary_row(sm_csv_writer *w, const char *scenario, long code, const char *label,
                             double pixels, double pixel_m2, double storage, double total)
{
    sm_status st;
    double m2 = pixels * pixel_m2;
    if ((st = sm_csv_writer_text(w, scenario)) ||
        (st = label ? sm_csv_writer_text(w, label) : sm_csv_writer_long(w, code)) ||
        (st = sm_csv_writer_double(w, pixels)) || (st = sm_csv_writer_double(w, m2 / 10000.0)) ||
        (st = sm_csv_writer_double(w, m2 * SM_MU_PER_HA / 10000.0)) ||
        (st = sm_csv_writer_double(w, storage)) || (st = sm_csv_writer_double(w, total)))
        return st;
    return sm_csv_writer_end_row(w);
}

static sm_status write_summary(sm_context *ctx, const char *path, const scan_state *s, int has_alt,
                               const sm_pools_totals *tot)
{
    static const char *const head[] = {"scenario", "lucode",         "pixels",   "area_ha",
                                       "area_mu",  "c_storage_t_ha", "c_total_t"};
    static const char *const scen[2] = {"bas", "alt"};
    const sm_pools_table *t = s->table;
    double m2 = tot->pixel_area_m2;
    sm_csv_writer *w = NULL;
    sm_status st = sm_csv_writer_open(&w, ctx, path, 0);
    if (st)
        return st;
    for (size_t i = 0; i < 7; i++)
        if ((st = sm_csv_writer_text(w, head[i])))
            goto end;
    if ((st = sm_csv_writer_end_row(w)))
        goto end;
    for (int m = 0; m < (has_alt ? 2 : 1); m++) {
        for (size_t i = 0; i < t->n; i++) {
            double px = (double)s->count[m][i];
            /* the lucodes found in either map, so that bas and alt list the same rows */
            if (s->count[0][i] == 0 && (!has_alt || s->count[1][i] == 0))
                continue;
            if ((st = summary_row(w, scen[m], t->rows[i].code, NULL, px, m2, t->rows[i].storage,
                                  px * t->rows[i].storage * m2 / 10000.0)))
                goto end;
        }
        double valid = m ? tot->alt_pixels : tot->bas_pixels;
        if ((st = summary_row(w, scen[m], 0, "nodata", (double)s->nodata[m], m2, NAN, NAN)) ||
            (st = summary_row(w, scen[m], 0, "all", valid, m2, NAN, m ? tot->alt_t : tot->bas_t)))
            goto end;
    }
    if (has_alt &&
        ((st = summary_row(w, "change", 0, "all", tot->change_pixels, m2, NAN, tot->change_t)) ||
         (st = summary_row(w, "change", 0, "minus_one", tot->change_minus_one, m2, NAN, NAN))))
        goto end;
    st = sm_csv_writer_close(w);
    w = NULL;
end:
    sm_csv_writer_destroy(w);
    return st;
}

/* Creates the writer of one Float32 storage map in the staging folder. */
static sm_status open_writer(sm_raster_writer **w, sm_context *ctx, const char *stage,
                             const char *name, const sm_grid *g, const char *wkt,
                             const char *description)
{
    sm_raster_writer_options o = SM_RASTER_WRITER_OPTIONS_INIT;
    o.type = SM_PIXEL_FLOAT32;
    o.nodata = SM_POOLS_NODATA;
    o.has_nodata = 1;
    o.description = description;
    o.unit = "t C/ha";
    char *path = sm__asprintf(ctx, "%s/%s", stage, name);
    if (!path)
        return SM_ERR_NOMEM;
    sm_status st = sm_raster_writer_create(w, ctx, path, g, wkt, &o);
    free(path);
    return st;
}

sm_status sm_pools_run(sm_context *ctx, const char *lulc, const char *pools_csv,
                       const sm_pools_options *opt, const char *out_dir, sm_pools_totals *totals)
{
    sm_pools_options defaults = SM_POOLS_OPTIONS_INIT;
    if (!opt)
        opt = &defaults;
    const char *alt = opt->alt;
    sm_status st = SM_OK;
    sm_pools_table *table = NULL;
    sm_raster *rb = NULL, *ra = NULL;
    sm_raster_writer *wb = NULL, *wa = NULL, *wc = NULL;
    double *b1 = NULL, *b2 = NULL, *b3 = NULL;
    char *out = NULL, *stage = NULL, *old = NULL, *parent = NULL, *path = NULL;
    scan_state s;
    sm_pools_totals tot;
    memset(&s, 0, sizeof s);
    memset(&tot, 0, sizeof tot);

    /* The output folder first: a refusal costs nothing. */
    if (!(out = sm__strdup(ctx, out_dir))) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    size_t ol = strlen(out);
    while (ol > 1 && out[ol - 1] == '/')
        out[--ol] = '\0';
    if ((st = check_out_dir(ctx, out)))
        goto end;
    if ((st = sm_pools_table_read(&table, ctx, pools_csv)))
        goto end;
    s.table = table;
    s.last = table->n;
    if ((st = sm_raster_open(&rb, ctx, lulc)))
        goto end;
    sm_grid g = sm_raster_grid(rb);
    if ((st = cell_area_m2(ctx, rb, &tot.pixel_area_m2)))
        goto end;
    if (alt) {
        if ((st = sm_raster_open(&ra, ctx, alt)))
            goto end;
        sm_grid ga = sm_raster_grid(ra);
        if (!same_grid(&g, &ga) || !sm_raster_same_crs(rb, ra)) {
            st = sm_error(
                ctx, SM_ERR_INPUT,
                "--alt %s: not on the grid of %s (%lld x %lld cells of %g x %g from "
                "(%.10g, %.10g) against %lld x %lld cells of %g x %g from (%.10g, %.10g)%s); "
                "warp it onto that grid first (gdalwarp -te, -tr, -t_srs)",
                alt, lulc, (long long)ga.ncols, (long long)ga.nrows, ga.dx, ga.dy, ga.x0, ga.y0,
                (long long)g.ncols, (long long)g.nrows, g.dx, g.dy, g.x0, g.y0,
                sm_raster_same_crs(rb, ra) ? "" : ", and another CRS");
            goto end;
        }
    }
    for (int m = 0; m < 2; m++) {
        s.count[m] = sm_calloc(ctx, table->n, sizeof *s.count[m]);
        s.both[m] = sm_calloc(ctx, table->n, sizeof *s.both[m]);
        if (!s.count[m] || !s.both[m]) {
            st = SM_ERR_NOMEM;
            goto end;
        }
    }
    int64_t strip = sm__strip_rows(g.ncols);
    size_t cells;
    if (sm_mul_size((size_t)strip, (size_t)g.ncols, &cells)) {
        st = sm_error(ctx, SM_ERR_NOMEM, "%s: strip size overflows", lulc);
        goto end;
    }
    b1 = sm_malloc(ctx, cells * sizeof *b1);
    if (alt) {
        b2 = sm_malloc(ctx, cells * sizeof *b2);
        b3 = sm_malloc(ctx, cells * sizeof *b3);
    }
    if (!b1 || (alt && (!b2 || !b3))) {
        st = SM_ERR_NOMEM;
        goto end;
    }

    /* Pass 1: count lucodes, collect the missing ones. */
    for (int64_t r0 = 0; r0 < g.nrows; r0 += strip) {
        sm_window win = {0, r0, g.ncols, (r0 + strip > g.nrows) ? g.nrows - r0 : strip};
        size_t n = (size_t)win.ncols * (size_t)win.nrows;
        if ((st = sm_raster_read(rb, ctx, 1, &g, &win, SM_RESAMPLE_NEAREST, b1)))
            goto end;
        if (alt && (st = sm_raster_read(ra, ctx, 1, &g, &win, SM_RESAMPLE_NEAREST, b2)))
            goto end;
        for (size_t c = 0; c < n; c++) {
            size_t idx[2] = {table->n, table->n};
            int valid[2] = {0, 0};
            for (int m = 0; m < (alt ? 2 : 1); m++) {
                long code = 0;
                int nd;
                if ((st = pixel_code(ctx, m ? alt : lulc, m ? b2[c] : b1[c], &win, c, &code, &nd)))
                    goto end;
                if (nd) {
                    s.nodata[m]++;
                    continue;
                }
                valid[m] = 1;
                idx[m] = lookup(&s, code);
                if (idx[m] == table->n) {
                    if ((st = note_missing(&s, ctx, code, m ? 2u : 1u)))
                        goto end;
                } else {
                    s.count[m][idx[m]]++;
                }
            }
            if (valid[0] && valid[1] && idx[0] < table->n && idx[1] < table->n) {
                s.both[0][idx[0]]++;
                s.both[1][idx[1]]++;
            }
        }
        if ((st = sm_progress(ctx, 0.4 * (double)(r0 + win.nrows) / (double)g.nrows,
                              "checking lucodes")))
            goto end;
    }
    if (s.nmissing) {
        st = missing_error(ctx, &s, pools_csv, lulc, alt);
        goto end;
    }

    /* Pass 2: write the maps into the staging folder. */
    parent = sm__path_dirname(ctx, out);
    stage = sm__asprintf(ctx, "%s.sinkmap-stage-%ld", out, (long)getpid());
    old = sm__asprintf(ctx, "%s.sinkmap-old-%ld", out, (long)getpid());
    if (!parent || !stage || !old) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if ((st = sm__mkdir_p(ctx, parent)))
        goto end;
    sm__rm_rf(stage);
    if ((st = sm__mkdir_p(ctx, stage)))
        goto end;
    const char *wkt = sm_raster_crs_wkt(rb);
    if ((st = open_writer(&wb, ctx, stage, OUTPUTS[0], &g, wkt,
                          "carbon storage, baseline: c_above + c_below + c_soil + c_dead")))
        goto end;
    if (alt &&
        ((st = open_writer(&wa, ctx, stage, OUTPUTS[1], &g, wkt,
                           "carbon storage, alternate: c_above + c_below + c_soil + c_dead")) ||
         (st = open_writer(&wc, ctx, stage, OUTPUTS[2], &g, wkt,
                           "carbon storage change, alternate - baseline"))))
        goto end;
    for (int64_t r0 = 0; r0 < g.nrows; r0 += strip) {
        sm_window win = {0, r0, g.ncols, (r0 + strip > g.nrows) ? g.nrows - r0 : strip};
        size_t n = (size_t)win.ncols * (size_t)win.nrows;
        if ((st = sm_raster_read(rb, ctx, 1, &g, &win, SM_RESAMPLE_NEAREST, b1)))
            goto end;
        if (alt && (st = sm_raster_read(ra, ctx, 1, &g, &win, SM_RESAMPLE_NEAREST, b2)))
            goto end;
        for (size_t c = 0; c < n; c++) {
            /* every code is in the table now (pass 1), and every value a whole number */
            double sb = SM_POOLS_NODATA, sa = SM_POOLS_NODATA;
            if (!isnan(b1[c]))
                sb = table->rows[lookup(&s, (long)b1[c])].storage;
            b1[c] = sb;
            if (!alt)
                continue;
            if (!isnan(b2[c]))
                sa = table->rows[lookup(&s, (long)b2[c])].storage;
            b2[c] = sa;
            /* storage >= 0, so -1 marks nodata unambiguously in b1 and b2 */
            if (sb >= 0 && sa >= 0) {
                b3[c] = sa - sb;
                if ((float)b3[c] == (float)SM_POOLS_NODATA)
                    tot.change_minus_one++;
            } else {
                b3[c] = SM_POOLS_NODATA;
            }
        }
        if ((st = sm_raster_writer_write(wb, ctx, 1, &win, b1)))
            goto end;
        if (alt && ((st = sm_raster_writer_write(wa, ctx, 1, &win, b2)) ||
                    (st = sm_raster_writer_write(wc, ctx, 1, &win, b3))))
            goto end;
        if ((st = sm_progress(ctx, 0.4 + 0.45 * (double)(r0 + win.nrows) / (double)g.nrows,
                              "writing carbon storage")))
            goto end;
    }
    if ((st = sm_progress(ctx, 0.86, "building overviews")))
        goto end;
    if ((st = sm_raster_writer_finish(wb, ctx)) ||
        (wa && (st = sm_raster_writer_finish(wa, ctx))) ||
        (wc && (st = sm_raster_writer_finish(wc, ctx))))
        goto end;
    /* destroying a finished writer removes its staging .part.tif: do it before the swap */
    sm_raster_writer_destroy(wb);
    sm_raster_writer_destroy(wa);
    sm_raster_writer_destroy(wc);
    wb = wa = wc = NULL;

    /* Totals from the counts and the table's values (double precision, independent of order). */
    double m2 = tot.pixel_area_m2, sum[2] = {0, 0}, both[2] = {0, 0};
    for (size_t i = 0; i < table->n; i++) {
        double v = table->rows[i].storage;
        for (int m = 0; m < 2; m++) {
            sum[m] += (double)s.count[m][i] * v;
            both[m] += (double)s.both[m][i] * v;
        }
        tot.bas_pixels += (double)s.count[0][i];
        tot.alt_pixels += (double)s.count[1][i];
        tot.change_pixels += (double)s.both[0][i];
    }
    tot.bas_t = sum[0] * m2 / 10000.0;
    if (alt) {
        tot.alt_t = sum[1] * m2 / 10000.0;
        tot.change_t = (both[1] - both[0]) * m2 / 10000.0;
    }
    free(path);
    if (!(path = sm__asprintf(ctx, "%s/%s", stage, OUTPUTS[3]))) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if ((st = write_summary(ctx, path, &s, alt != NULL, &tot)))
        goto end;

    /* Swap the staging folder into place. */
    sm__rm_rf(old);
    if (sm__dir_exists(out) && rename(out, old) != 0) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot move the previous outputs aside", out);
        goto end;
    }
    if (rename(stage, out) != 0) {
        rename(old, out);
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot move the new outputs into place", out);
        goto end;
    }
    sm__rm_rf(old);
    if (tot.change_minus_one > 0)
        sm_warn(
            ctx,
            "%s/%s: %.0f pixel%s a change of exactly -1 t C/ha, the nodata value (InVEST's "
            "convention): GIS software shows %s as nodata; summary.csv counts %s as data",
            out, OUTPUTS[2], tot.change_minus_one, tot.change_minus_one == 1 ? " has" : "s have",
            tot.change_minus_one == 1 ? "it" : "them", tot.change_minus_one == 1 ? "it" : "them");
    if (totals)
        *totals = tot;
    st = sm_progress(ctx, 1.0, "done");
end:
    sm_raster_writer_destroy(wb);
    sm_raster_writer_destroy(wa);
    sm_raster_writer_destroy(wc);
    if (st != SM_OK && stage)
        sm__rm_rf(stage);
    free(out);
    free(stage);
    free(old);
    free(parent);
    free(path);
    free(b1);
    free(b2);
    free(b3);
    for (int m = 0; m < 2; m++) {
        free(s.count[m]);
        free(s.both[m]);
    }
    free(s.missing);
    sm_raster_close(rb);
    sm_raster_close(ra);
    sm_pools_table_destroy(table);
    return st;
}
