/* report.c: report.html, the director's page of a run: the run summary, the plan's indicators,
 * charts (sink by township, stock by species and age group, land-cover area per season), the
 * maps, the accuracy and uncertainty tables. One self-contained file that works offline: CSS
 * inline, charts as inline SVG written here, maps as data: URIs, no script and no external URL. */
#include "sinkmap/deliver.h"

#include <cpl_conv.h>
#include <dirent.h>
#include <gdal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sinkmap/legend.h"
#include "sinkmap/raster.h"
#include "sinkmap/table.h"

static void html(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A number for people: integers as they are, large values rounded, small ones to 4 digits. */
static void fmt_num(double v, char *buf, size_t n)
{
    if (!isfinite(v))
        snprintf(buf, n, "–");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, n, "%.0f", v);
    else if (fabs(v) >= 1000)
        snprintf(buf, n, "%.0f", v);
    else if (fabs(v) >= 1)
        snprintf(buf, n, "%.2f", v);
    else
        snprintf(buf, n, "%.4g", v);
}

static void cell(FILE *f, const char *text)
{
    double v;
    char buf[64];
    if (text[0] && sm_parse_double(text, &v) == 0) {
        fmt_num(v, buf, sizeof buf);
        fputs("<td class=\"n\">", f);
        html(f, buf);
    } else {
        fputs("<td>", f);
        html(f, text);
    }
    fputs("</td>", f);
}

/* ---- run.json: a small JSON reader that flattens scalars to "a.b.c" paths ---- */

typedef struct jkv {
    char key[96];
    char val[256];
} jkv;

typedef struct jdoc {
    jkv *kv;
    size_t n, cap;
} jdoc;

static void jskip(const char **p)
{
    while (**p == ' ' || **p == '\n' || **p == '\r' || **p == '\t')
        (*p)++;
}

/* Reads a JSON string at *p (at its opening quote) into buf (UTF-8 kept, escapes decoded
 * for the common cases). Returns 0, or -1 on malformed input. */
static int jstring(const char **p, char *buf, size_t n)
{
    size_t k = 0;
    if (**p != '"')
        return -1;
    (*p)++;
    while (**p && **p != '"') {
        char c = **p;
        if (c == '\\') {
            (*p)++;
            c = **p;
            if (!c)
                return -1;
            if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
            else if (c == 'u') {
                for (int i = 0; i < 4 && (*p)[1]; i++)
                    (*p)++;
                c = '?';
            }
        }
        if (k + 1 < n)
            buf[k++] = c;
        (*p)++;
    }
    if (**p != '"')
        return -1;
    (*p)++;
    buf[k] = '\0';
    return 0;
}

static int jvalue(jdoc *d, const char **p, const char *path, int depth);

static int jadd(jdoc *d, const char *key, const char *val)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 64;
        jkv *k = realloc(d->kv, nc * sizeof *k);
        if (!k)
            return -1;
        d->kv = k;
        d->cap = nc;
    }
    snprintf(d->kv[d->n].key, sizeof d->kv[d->n].key, "%s", key);
    snprintf(d->kv[d->n].val, sizeof d->kv[d->n].val, "%s", val);
    d->n++;
    return 0;
}

static int jvalue(jdoc *d, const char **p, const char *path, int depth)
{
    char sub[400], buf[256];
    if (depth > 16)
        return -1;
    jskip(p);
    if (**p == '{' || **p == '[') {
        int obj = **p == '{';
        char close = obj ? '}' : ']';
        size_t idx = 0;
        (*p)++;
        jskip(p);
        if (**p == close) {
            (*p)++;
            return 0;
        }
        for (;;) {
            jskip(p);
            if (obj) {
                if (jstring(p, buf, sizeof buf) != 0)
                    return -1;
                jskip(p);
                if (**p != ':')
                    return -1;
                (*p)++;
                snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", buf);
            } else {
                snprintf(sub, sizeof sub, "%s[%zu]", path, idx++);
            }
            if (jvalue(d, p, sub, depth + 1) != 0)
                return -1;
            jskip(p);
            if (**p == ',') {
                (*p)++;
                continue;
            }
            if (**p == close) {
                (*p)++;
                return 0;
            }
            return -1;
        }
    }
    if (**p == '"') {
        if (jstring(p, buf, sizeof buf) != 0)
            return -1;
        return jadd(d, path, buf);
    }
    size_t k = 0;
    while (**p && !strchr(",}] \n\r\t", **p)) {
        if (k + 1 < sizeof buf)
            buf[k++] = **p;
        (*p)++;
    }
    buf[k] = '\0';
    return k ? jadd(d, path, buf) : -1;
}

static const char *jget(const jdoc *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->kv[i].key, key) == 0)
            return d->kv[i].val;
    return NULL;
}

static sm_status read_file(sm_context *ctx, const char *path, char **out, size_t *size)
{
    FILE *f = fopen(path, "rb");
    *out = NULL;
    if (!f)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot open for the report", path);
    long long n = sm__file_size(path);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return sm_error(ctx, SM_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    b[n] = '\0';
    *out = b;
    if (size)
        *size = (size_t)n;
    return SM_OK;
}

/* ---- charts (inline SVG) ---- */

/* Horizontal bars, one per label, with a zero line when values are of both signs. */
static void svg_hbars(FILE *f, const char *title, char **labels, const double *vals, const char *const *colors, size_t n,
                      const char *unit)
{
    const double W = 760, L = 230, R = 110, row = 24, top = 34;
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(vals[i]) && vals[i] < lo)
            lo = vals[i];
        if (isfinite(vals[i]) && vals[i] > hi)
            hi = vals[i];
    }
    if (hi - lo <= 0)
        hi = lo + 1;
    double span = W - L - R, x0 = L + (0 - lo) / (hi - lo) * span, H = top + n * row + 16;
    fprintf(f, "<figure class=\"chart\"><svg role=\"img\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n", W, H, W, H);
    fputs("<title>", f);
    html(f, title);
    fputs("</title>\n<text x=\"0\" y=\"18\" class=\"ct\">", f);
    html(f, title);
    fputs(" (", f);
    html(f, unit);
    fputs(")</text>\n", f);
    for (size_t i = 0; i < n; i++) {
        double v = isfinite(vals[i]) ? vals[i] : 0, y = top + i * row;
        double x1 = L + (v - lo) / (hi - lo) * span, xa = fmin(x0, x1), w = fabs(x1 - x0);
        char num[64];
        fmt_num(vals[i], num, sizeof num);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"cl\" text-anchor=\"end\">", L - 8, y + 15);
        html(f, labels[i]);
        fprintf(f, "</text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>", xa, y + 3, w < 0.5 ? 0.5 : w,
                row - 6, colors ? colors[i] : (v < 0 ? "#d73027" : "#1a9850"));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"cv\">%s</text>\n", fmax(x0, x1) + 5, y + 15, num);
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#333\"/>\n", x0, top - 4, x0, H - 12);
    fputs("</svg></figure>\n", f);
}

/* The rows of summary.csv of one group, with one column: labels and values (caller frees). */
static size_t summary_rows(const sm_table *t, const char *group, const char *col, char ***labels, double **vals)
{
    size_t cg, ck, cv, n = 0;
    *labels = NULL;
    *vals = NULL;
    if (!t || !sm_table_find_col(t, "group", &cg) || !sm_table_find_col(t, "key", &ck) || !sm_table_find_col(t, col, &cv))
        return 0;
    size_t rows = sm_table_rows(t);
    *labels = calloc(rows ? rows : 1, sizeof **labels);
    *vals = calloc(rows ? rows : 1, sizeof **vals);
    if (!*labels || !*vals)
        return 0;
    for (size_t r = 0; r < rows; r++) {
        if (strcmp(sm_table_cell(t, r, cg), group) != 0)
            continue;
        double v;
        if (sm_parse_double(sm_table_cell(t, r, cv), &v) != 0)
            continue;
        (*labels)[n] = (char *)sm_table_cell(t, r, ck);
        (*vals)[n++] = v;
    }
    return n;
}

static void chart_from_summary(FILE *f, const sm_table *t, const char *group, const char *col, const char *title,
                               const char *unit)
{
    char **labels;
    double *vals;
    size_t n = summary_rows(t, group, col, &labels, &vals);
    /* age groups in the order of their codes ("1 幼龄林 young" ... "5 过熟林 over-mature"),
     * not of their first parcel in the layer */
    for (size_t i = 1; strcmp(group, "age_group") == 0 && i < n; i++)
        for (size_t j = i; j > 0 && strcmp(labels[j - 1], labels[j]) > 0; j--) {
            char *tl = labels[j];
            double tv = vals[j];
            labels[j] = labels[j - 1];
            vals[j] = vals[j - 1];
            labels[j - 1] = tl;
            vals[j - 1] = tv;
        }
    if (n)
        svg_hbars(f, title, labels, vals, NULL, n, unit);
    else
        fprintf(f, "<p class=\"na\">summary.csv has no %s rows with %s.</p>\n", group, col);
    free(labels);
    free(vals);
}

/* Land-cover area per season: the pixels of each legend code that the run counted while it
 * wrote each land cover (run.json scenes[s].landcover_pixels) times the grid's cell area; one
 * row per class and scene. */
static sm_status chart_landcover(sm_context *ctx, FILE *f, const sm_job *job, const jdoc *d)
{
    size_t ns = job->nscenes, nrow = 0;
    double *ha = calloc(ns * 256, sizeof *ha);
    char **labels = calloc(ns * 256, sizeof *labels);
    double *vals = calloc(ns * 256, sizeof *vals);
    const char **colors = calloc(ns * 256, sizeof *colors);
    char (*names)[128] = calloc(ns * 256, sizeof *names);
    char (*hex)[8] = calloc(256, sizeof *hex);
    sm_status st = SM_OK;
    if (!ha || !labels || !vals || !colors || !names || !hex) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    const char *dx = jget(d, "grid.dx"), *dy = jget(d, "grid.dy");
    double cell_ha = dx && dy ? fabs(strtod(dx, NULL) * strtod(dy, NULL)) / 10000.0 : NAN;
    for (size_t s = 0; s < ns; s++)
        for (int c = 1; c < 256; c++) {
            char key[96];
            snprintf(key, sizeof key, "scenes[%zu].landcover_pixels[%d]", s, c);
            const char *v = jget(d, key);
            if (!v)
                break;
            ha[s * 256 + (size_t)c] = strtod(v, NULL) * cell_ha;
        }
    if (!(cell_ha > 0)) {
        st = sm_error(ctx, SM_ERR_INTERNAL, "report: run.json has no grid cell size");
        goto end;
    }
    for (int c = 1; c < 256; c++) {
        int any = 0;
        for (size_t s = 0; s < ns; s++)
            any |= ha[s * 256 + (size_t)c] > 0;
        if (!any)
            continue;
        const sm_legend_entry *e = sm_legend_find(c);
        snprintf(hex[c], 8, "#%02x%02x%02x", e ? e->r : 128, e ? e->g : 128, e ? e->b : 128);
        for (size_t s = 0; s < ns; s++) {
            snprintf(names[nrow], 128, "%s %s · %s", e ? e->name_zh : "?", e ? e->name_en : "", job->scenes[s].id);
            labels[nrow] = names[nrow];
            vals[nrow] = ha[s * 256 + (size_t)c];
            /* white (cloud) would vanish on the page: outline colour instead */
            colors[nrow] = (e && e->r == 255 && e->g == 255 && e->b == 255) ? "#bbbbbb" : hex[c];
            nrow++;
        }
    }
    svg_hbars(f, "各期土地覆被面积 Land-cover area per season", labels, vals, colors, nrow, "ha");
end:
    free(ha);
    free(labels);
    free(vals);
    free(colors);
    free(names);
    free(hex);
    return st;
}

/* ---- tables ---- */

/* A CSV file as an HTML table, every column; numbers right-aligned and rounded for reading
 * (the CSV keeps full precision). Missing file: a note. */
static sm_status csv_table(sm_context *ctx, FILE *f, const char *path, const char *caption)
{
    sm_table *t = NULL;
    if (!sm__file_exists(path)) {
        fputs("<p class=\"na\">", f);
        html(f, sm__path_basename(path));
        fputs(": not written by this run.</p>\n", f);
        return SM_OK;
    }
    sm_status st = sm_table_read(&t, ctx, path);
    if (st != SM_OK)
        return st;
    fputs("<div class=\"tw\"><table>\n<caption>", f);
    html(f, caption);
    fputs("</caption>\n<tr>", f);
    for (size_t c = 0; c < sm_table_cols(t); c++) {
        fputs("<th>", f);
        html(f, sm_table_col_name(t, c));
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t r = 0; r < sm_table_rows(t); r++) {
        fputs("<tr>", f);
        for (size_t c = 0; c < sm_table_cols(t); c++)
            cell(f, sm_table_cell(t, r, c));
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
    sm_table_destroy(t);
    return SM_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every accuracy*.csv in the folder, in name order. */
static sm_status accuracy_tables(sm_context *ctx, FILE *f, const char *dir)
{
    DIR *d = opendir(dir);
    char *names[256];
    size_t n = 0;
    sm_status st = SM_OK;
    if (!d)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot list the folder", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "accuracy", 8) == 0 && l > 4 && strcmp(e->d_name + l - 4, ".csv") == 0)
            if (!(names[n++] = sm__strdup(ctx, e->d_name))) {
                n--;
                st = SM_ERR_NOMEM;
                break;
            }
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    if (st == SM_OK && n == 0)
        fputs("<p class=\"na\">No accuracy assessment in this run (no accuracy*.csv: the job has no reference "
              "samples).</p>\n",
              f);
    for (size_t i = 0; i < n && st == SM_OK; i++) {
        char *p = sm__asprintf(ctx, "%s/%s", dir, names[i]);
        if (!p)
            st = SM_ERR_NOMEM;
        else
            st = csv_table(ctx, f, p, names[i]);
        free(p);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return st;
}

static sm_status indicator_table(sm_context *ctx, FILE *f, const char *path)
{
    sm_table *t = NULL;
    sm_status st = sm_table_read(&t, ctx, path);
    if (st != SM_OK)
        return st;
    size_t ci, cn, cv, cu, ct, cs, co;
    if ((st = sm_table_col(t, ctx, "indicator", &ci)) != SM_OK || (st = sm_table_col(t, ctx, "name_zh", &cn)) != SM_OK ||
        (st = sm_table_col(t, ctx, "value", &cv)) != SM_OK || (st = sm_table_col(t, ctx, "unit", &cu)) != SM_OK ||
        (st = sm_table_col(t, ctx, "target_2025", &ct)) != SM_OK || (st = sm_table_col(t, ctx, "status", &cs)) != SM_OK ||
        (st = sm_table_col(t, ctx, "note", &co)) != SM_OK) {
        sm_table_destroy(t);
        return st;
    }
    fputs("<div class=\"tw\"><table>\n<caption>indicators.csv</caption>\n<tr><th>指标 indicator</th><th>本次 value</th>"
          "<th>单位 unit</th><th>2025 目标 target</th><th>状态 status</th><th>说明 note</th></tr>\n",
          f);
    for (size_t r = 0; r < sm_table_rows(t); r++) {
        const char *status = sm_table_cell(t, r, cs);
        fputs("<tr><td>", f);
        html(f, sm_table_cell(t, r, cn));
        fputs("<br><small>", f);
        html(f, sm_table_cell(t, r, ci));
        fputs("</small></td>", f);
        cell(f, sm_table_cell(t, r, cv));
        cell(f, sm_table_cell(t, r, cu));
        cell(f, sm_table_cell(t, r, ct));
        fprintf(f, "<td><span class=\"st %s\">",
                strcmp(status, "meets") == 0 || strcmp(status, "met") == 0 ? "ok" : strcmp(status, "below") == 0 ? "bad" : "na");
        html(f, status);
        fputs("</span></td>", f);
        cell(f, sm_table_cell(t, r, co));
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
    sm_table_destroy(t);
    return SM_OK;
}

static void summary_row(FILE *f, const char *label, const char *value)
{
    if (!value)
        return;
    fputs("<tr><th>", f);
    html(f, label);
    fputs("</th><td>", f);
    html(f, value[0] ? value : "–");
    fputs("</td></tr>\n", f);
}

static void base64(FILE *f, const unsigned char *b, size_t n)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4096];
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0) | (i + 2 < n ? b[i + 2] : 0);
        out[k++] = A[v >> 18 & 63];
        out[k++] = A[v >> 12 & 63];
        out[k++] = i + 1 < n ? A[v >> 6 & 63] : '=';
        out[k++] = i + 2 < n ? A[v & 63] : '=';
        if (k == sizeof out) {
            fwrite(out, 1, k, f);
            k = 0;
        }
    }
    fwrite(out, 1, k, f);
}

static const char CSS[] =
    "body{font-family:system-ui,\"PingFang SC\",\"Microsoft YaHei\",\"Noto Sans CJK SC\",sans-serif;margin:0 auto;"
    "max-width:1180px;padding:0 24px 48px;color:#1b1b1b;background:#fff;line-height:1.45}"
    "h1{font-size:26px;border-bottom:3px solid #1a7a1a;padding:18px 0 10px}h2{font-size:20px;margin-top:36px;"
    "border-left:5px solid #1a7a1a;padding-left:10px}table{border-collapse:collapse;font-size:13px;margin:8px 0 18px}"
    "caption{text-align:left;font-weight:600;padding:4px 0;color:#444}th,td{border:1px solid #d4d4d4;padding:3px 8px;"
    "vertical-align:top}th{background:#eef3ec;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".tw{overflow-x:auto}.st{padding:1px 8px;border-radius:9px;color:#fff;background:#888}.st.ok{background:#1a9850}"
    ".st.bad{background:#d73027}figure{margin:12px 0 24px}figure img{max-width:100%;border:1px solid #ccc}"
    "figcaption{font-size:14px;color:#333}svg text{font-family:inherit}.ct{font-size:15px;font-weight:600}"
    ".cl{font-size:12px}.cv{font-size:11px;fill:#333}.na{color:#777;font-style:italic}small{color:#666}"
    "footer{margin-top:40px;font-size:12px;color:#666;border-top:1px solid #ddd;padding-top:8px}";

sm_status sm_report_write(sm_context *ctx, const sm_job *job, const char *dir, const sm_map_info *maps, size_t nmaps)
{
    sm_gdal_init();
    sm_status st = SM_OK;
    jdoc d = {0};
    sm_table *sum = NULL;
    char *json = NULL, *path = NULL, *tmp = NULL, *png = NULL;
    FILE *f = NULL;
    if (!(path = sm__asprintf(ctx, "%s/run.json", dir)))
        return SM_ERR_NOMEM;
    if ((st = read_file(ctx, path, &json, NULL)) != SM_OK)
        goto end;
    const char *jp = json;
    if (jvalue(&d, &jp, "", 0) != 0) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: not the JSON sinkmap writes", path);
        goto end;
    }
    free(path);
    if (!(path = sm__asprintf(ctx, "%s/summary.csv", dir))) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if ((st = sm_table_read(&sum, ctx, path)) != SM_OK)
        goto end;
    free(path);
    if ((st = sm__file_begin(ctx, dir, "report.html", &path, &tmp, &f)) != SM_OK)
        goto end;
    const char *end_id = job->sink_to ? job->sink_to : job->scenes[job->nscenes - 1].id;
    fputs("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    html(f, job->name);
    fputs(" · 森林碳汇监测报告 Forest carbon report</title>\n<style>", f);
    fputs(CSS, f);
    fputs("</style>\n</head>\n<body>\n<h1>森林碳汇监测报告 Forest carbon report · ", f);
    html(f, job->name);
    fputs("</h1>\n", f);

    fputs("<h2>运行概要 Run summary</h2>\n<table>\n", f);
    summary_row(f, "作业 job", jget(&d, "job.name"));
    summary_row(f, "完成时间 finished (UTC)", jget(&d, "finished_utc"));
    summary_row(f, "运行编号 run id", jget(&d, "run_id"));
    {
        char buf[600];
        snprintf(buf, sizeof buf, "%s %s", jget(&d, "tool") ? jget(&d, "tool") : "sinkmap",
                 jget(&d, "version") ? jget(&d, "version") : "");
        summary_row(f, "程序 tool", buf);
        for (size_t s = 0; s < job->nscenes; s++) {
            snprintf(buf, sizeof buf, "%s: %s", job->scenes[s].id, job->scenes[s].date);
            summary_row(f, s == 0 ? "影像 scenes" : "", buf);
        }
        if (job->sink_from) {
            snprintf(buf, sizeof buf, "%s → %s", job->sink_from, job->sink_to);
            summary_row(f, "碳汇期间 sink period", buf);
        }
    }
    static const char *const KEYS[][2] = {
        {"counts.parcels", "小班数 parcels"},
        {"counts.forest_stands", "林分小班 forest stands"},
        {"counts.repaired", "几何修复 geometries repaired"},
        {"counts.suspected_changes", "疑似变化小班 suspected changes"},
        {"counts.warnings", "警告 warnings"},
        {"ledger.path", "碳账本 ledger"},
        {"ledger.added", "新增记录 ledger entries added"},
        {"ledger.superseded", "被替代记录 entries superseded"},
        {"inputs_sha256", "输入 SHA-256 inputs"},
        {"params_sha256", "参数表 SHA-256 parameters"},
        {"timings_s.total", "耗时 run time (s)"},
    };
    for (size_t k = 0; k < sizeof KEYS / sizeof KEYS[0]; k++)
        summary_row(f, KEYS[k][1], jget(&d, KEYS[k][0]));
    fputs("</table>\n", f);

    fputs("<h2>规划指标 Indicators against the plan's 2025 targets</h2>\n", f);
    png = sm__asprintf(ctx, "%s/indicators.csv", dir);
    if (!png) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if ((st = indicator_table(ctx, f, png)) != SM_OK)
        goto end;

    fputs("<h2>图表 Charts</h2>\n", f);
    if (job->sink_from)
        chart_from_summary(f, sum, "township", "sink_tco2e_per_yr", "各乡镇碳汇 Sink by township", "t CO2e/yr");
    char col[64];
    snprintf(col, sizeof col, "stock_m3_%s", end_id);
    char title[160];
    snprintf(title, sizeof title, "各树种组蓄积 Growing stock by species group, %s", end_id);
    chart_from_summary(f, sum, "species_group", col, title, "m³");
    snprintf(title, sizeof title, "各龄组蓄积 Growing stock by age group, %s", end_id);
    chart_from_summary(f, sum, "age_group", col, title, "m³");
    if ((st = chart_landcover(ctx, f, job, &d)) != SM_OK)
        goto end;

    fputs("<h2>地图 Maps</h2>\n", f);
    if (nmaps == 0)
        fputs("<p class=\"na\">No maps in this run ([output] maps = no).</p>\n", f);
    for (size_t m = 0; m < nmaps; m++) {
        char *data = NULL;
        size_t n = 0;
        free(png);
        png = sm__asprintf(ctx, "%s/maps/%s", dir, maps[m].file);
        if (!png) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        if ((st = read_file(ctx, png, &data, &n)) != SM_OK)
            goto end;
        fputs("<figure><img alt=\"", f);
        html(f, maps[m].title);
        fputs("\" src=\"data:image/png;base64,", f);
        base64(f, (const unsigned char *)data, n);
        fputs("\"><figcaption>", f);
        html(f, maps[m].title);
        fputs(" · maps/", f);
        html(f, maps[m].file);
        fputs("</figcaption></figure>\n", f);
        free(data);
    }

    fputs("<h2>分类精度 Accuracy</h2>\n", f);
    if ((st = accuracy_tables(ctx, f, dir)) != SM_OK)
        goto end;
    fputs("<h2>不确定性 Uncertainty (95 %)</h2>\n", f);
    free(png);
    png = sm__asprintf(ctx, "%s/uncertainty.csv", dir);
    if (!png) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if ((st = csv_table(ctx, f, png, "uncertainty.csv")) != SM_OK)
        goto end;
    free(png);
    png = sm__asprintf(ctx, "%s/volume_model.csv", dir);
    if (!png) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if (sm__file_exists(png)) {
        fputs("<h2>蓄积模型 Volume model</h2>\n", f);
        if ((st = csv_table(ctx, f, png, "volume_model.csv")) != SM_OK)
            goto end;
    }
    fputs("<footer>sinkmap ", f);
    html(f, jget(&d, "version"));
    fputs(" · run ", f);
    html(f, jget(&d, "run_id"));
    fputs(" · the figures are those of the CSV files and parcels.gpkg in this folder; tables here are rounded for "
          "reading.</footer>\n</body>\n</html>\n",
          f);
    st = sm__file_commit(ctx, f, tmp, path);
    f = NULL;
end:
    if (f)
        fclose(f);
    free(d.kv);
    sm_table_destroy(sum);
    free(json);
    free(path);
    free(tmp);
    free(png);
    return st;
}
