/* carbon.c: parameter tables (species groups, species map, growth curves, land cover, pools),
 * growth projection, stand carbon by two methods, sinks between dates and Approach 1 uncertainty.
 * Run once per parcel (thousands to a few hundred thousand): plain loops over small tables. */
#include "sinkmap/carbon.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sinkmap/table.h"

#ifndef SINKMAP_DATA_DIR
#define SINKMAP_DATA_DIR "data"
#endif

/* ---- Units -------------------------------------------------------------------------------- */

double sm_ha_to_mu(double ha) { return ha * SM_MU_PER_HA; }
double sm_mu_to_ha(double mu) { return mu / SM_MU_PER_HA; }
double sm_c_to_co2e(double t_c) { return t_c * SM_CO2_PER_C; }

/* ---- The parameter set -------------------------------------------------------------------- */

enum { T_LEGEND, T_DILEI, T_GROUPS, T_MAP, T_GROWTH, T_POOLS, T_COUNT };
static const char *const TABLE_NAME[T_COUNT] = {"landcover_legend", "dilei_landcover",
                                                 "species_groups",   "species_map",
                                                 "growth_richards",  "pools_invest"};
static const char *const TABLE_FILE[T_COUNT] = {"landcover_legend.csv", "dilei_landcover.csv",
                                                 "species_groups.csv",   "species_map.csv",
                                                 "growth_richards.csv",  "pools_invest.csv"};

typedef struct species_entry {
    const char *species; /* trimmed */
    size_t group;        /* index into groups */
} species_entry;

struct sm_params {
    char **strings; /* every string the records point to */
    size_t nstrings, capstrings;
    sm_param_file files[T_COUNT];
    size_t nfiles;
    sm_species_group *groups;
    size_t ngroups;
    species_entry *species;
    size_t nspecies;
    sm_growth_curve *curves;
    size_t ncurves;
    sm_landcover_class *legend;
    size_t nlegend;
    sm_dilei_class *dilei;
    size_t ndilei;
    sm_carbon_pools *pools;
    size_t npools;
    sm_param_row *unverified;
    size_t nunverified, capunverified;
};

void sm_params_destroy(sm_params *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nstrings; i++)
        free(p->strings[i]);
    free(p->strings);
    free(p->groups);
    free(p->species);
    free(p->curves);
    free(p->legend);
    free(p->dilei);
    free(p->pools);
    free(p->unverified);
    free(p);
}

/* Grows *arr (of elem-sized items) to hold at least need items. */
static sm_status reserve(sm_context *ctx, void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return SM_OK;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap < need)
        ncap = need;
    size_t bytes;
    if (sm_mul_size(ncap, elem, &bytes))
        return sm_error(ctx, SM_ERR_NOMEM, "size overflow in the parameter tables");
    void *q = sm_realloc(ctx, *arr, bytes);
    if (!q)
        return SM_ERR_NOMEM;
    *arr = q;
    *cap = ncap;
    return SM_OK;
}

/* A copy of s owned by p (NULL only when out of memory). */
static const char *keep(sm_params *p, sm_context *ctx, const char *s)
{
    if (reserve(ctx, (void **)&p->strings, &p->capstrings, p->nstrings + 1, sizeof(char *)))
        return NULL;
    char *d = sm__strdup(ctx, s ? s : "");
    if (d)
        p->strings[p->nstrings++] = d;
    return d;
}

/* Trims white space at both ends of s: ASCII space, tab, CR, LF, VT, FF, U+00A0 and U+3000. */
static void trim_span(const char *s, const char **begin, size_t *len)
{
    const unsigned char *b = (const unsigned char *)s;
    const unsigned char *e = b + strlen(s);
    for (;;) {
        if (b < e && (*b == ' ' || (*b >= '\t' && *b <= '\r')))
            b++;
        else if (e - b >= 2 && b[0] == 0xC2 && b[1] == 0xA0)
            b += 2;
        else if (e - b >= 3 && b[0] == 0xE3 && b[1] == 0x80 && b[2] == 0x80)
            b += 3;
        else
            break;
    }
    for (;;) {
        if (e > b && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r')))
            e--;
        else if (e - b >= 2 && e[-2] == 0xC2 && e[-1] == 0xA0)
            e -= 2;
        else if (e - b >= 3 && e[-3] == 0xE3 && e[-2] == 0x80 && e[-1] == 0x80)
            e -= 3;
        else
            break;
    }
    *begin = (const char *)b;
    *len = (size_t)(e - b);
}

static int span_eq(const char *b, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(b, s, n) == 0;
}

/* A trimmed copy of s owned by p. */
static const char *keep_trimmed(sm_params *p, sm_context *ctx, const char *s)
{
    const char *b;
    size_t n;
    char buf[1024];
    trim_span(s, &b, &n);
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, b, n);
    buf[n] = '\0';
    return keep(p, ctx, buf);
}

static sm_status add_unverified(sm_params *p, sm_context *ctx, sm_param_row **rows, size_t *n,
                                size_t *cap, int table, const char *key, const char *source,
                                const sm_table *t, size_t row)
{
    sm_status st = reserve(ctx, (void **)rows, cap, *n + 1, sizeof **rows);
    if (st)
        return st;
    sm_param_row *r = &(*rows)[(*n)++];
    r->table = TABLE_NAME[table];
    r->key = keep(p, ctx, key);
    r->source = keep(p, ctx, source);
    r->path = p->files[table].path;
    r->line = sm_table_line(t, row);
    if (!r->key || !r->source)
        return SM_ERR_NOMEM;
    return SM_OK;
}

/* Looks up the required columns names[0..n) into idx. */
static sm_status find_cols(const sm_table *t, sm_context *ctx, const char *const *names,
                           size_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sm_status st = sm_table_col(t, ctx, names[i], &idx[i]);
        if (st)
            return st;
    }
    return SM_OK;
}

/* A number in [lo, hi] (lo excluded when lo_open), with an optional hint on failure. */
static sm_status get_num(const sm_table *t, sm_context *ctx, size_t row, size_t col, double lo,
                         int lo_open, double hi, const char *hint, double *out)
{
    sm_status st = sm_table_get_double(t, ctx, row, col, out);
    if (st)
        return st;
    if (*out < lo || (lo_open && *out == lo) || *out > hi)
        return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: column '%s': %s is out of range %s%g, %g]%s",
                        sm_table_name(t), sm_table_line(t, row), sm_table_col_name(t, col),
                        sm_table_cell(t, row, col), lo_open ? "(" : "[", lo, hi, hint ? hint : "");
    return SM_OK;
}

static sm_status duplicate(sm_context *ctx, const sm_table *t, size_t row, size_t first,
                           const char *what, const char *value)
{
    return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: duplicate %s '%s' (first on line %ld)",
                    sm_table_name(t), sm_table_line(t, row), what, value,
                    sm_table_line(t, first));
}

/* Reads the verified column (required or optional) of a row; *has is 0 when it is absent. */
static sm_status get_verified(const sm_table *t, sm_context *ctx, size_t row, int required,
                              int *has, int *verified)
{
    size_t col;
    *has = 0;
    *verified = 0;
    if (required) {
        sm_status st = sm_table_col(t, ctx, "verified", &col);
        if (st)
            return st;
    } else if (!sm_table_find_col(t, "verified", &col))
        return SM_OK;
    *has = 1;
    return sm_table_get_yesno(t, ctx, row, col, verified);
}

static sm_status load_legend(sm_params *p, sm_context *ctx, const sm_table *t)
{
    static const char *const names[] = {"code", "key", "name_zh", "name_en", "color", "is_forest"};
    size_t c[6];
    sm_status st;
    size_t n = sm_table_rows(t);
    if ((st = find_cols(t, ctx, names, c, 6)))
        return st;
    if (!(p->legend = sm_calloc(ctx, n, sizeof *p->legend)))
        return SM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        sm_landcover_class *L = &p->legend[i];
        long code;
        const char *key, *color;
        int has, verified;
        if ((st = sm_table_get_long(t, ctx, i, c[0], &code)))
            return st;
        if (code < 0 || code > 255)
            return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: column 'code': %ld is out of range [0, 255]",
                            sm_table_name(t), sm_table_line(t, i), code);
        if ((st = sm_table_get_text(t, ctx, i, c[1], &key)) ||
            (st = sm_table_get_text(t, ctx, i, c[4], &color)) ||
            (st = sm_table_get_yesno(t, ctx, i, c[5], &L->is_forest)))
            return st;
        int ok = strlen(color) == 7 && color[0] == '#';
        for (int k = 1; ok && k < 7; k++)
            ok = strchr("0123456789abcdefABCDEF", color[k]) != NULL;
        if (!ok)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s:%ld: column 'color': '%s' is not a colour like #1a7a1a",
                            sm_table_name(t), sm_table_line(t, i), color);
        for (size_t j = 0; j < i; j++) {
            if (p->legend[j].code == (int)code)
                return duplicate(ctx, t, i, j, "code", sm_table_cell(t, i, c[0]));
            if (strcmp(p->legend[j].key, key) == 0)
                return duplicate(ctx, t, i, j, "key", key);
        }
        L->code = (int)code;
        L->key = keep(p, ctx, key);
        L->name_zh = keep(p, ctx, sm_table_cell(t, i, c[2]));
        L->name_en = keep(p, ctx, sm_table_cell(t, i, c[3]));
        L->color = keep(p, ctx, color);
        if (!L->key || !L->name_zh || !L->name_en || !L->color)
            return SM_ERR_NOMEM;
        p->nlegend = i + 1;
        if ((st = get_verified(t, ctx, i, 0, &has, &verified)))
            return st;
        if (has && !verified) {
            size_t sc;
            const char *src = sm_table_find_col(t, "source", &sc) ? sm_table_cell(t, i, sc) : "";
            if ((st = add_unverified(p, ctx, &p->unverified, &p->nunverified, &p->capunverified,
                                     T_LEGEND, key, src, t, i)))
                return st;
        }
    }
    return SM_OK;
}

static sm_status load_dilei(sm_params *p, sm_context *ctx, const sm_table *t)
{
    static const char *const names[] = {"code_prefix", "landcover"};
    size_t c[2], cz = 0, ce = 0, cs = 0;
    int has_z = sm_table_find_col(t, "name_zh", &cz), has_e = sm_table_find_col(t, "name_en", &ce);
    int has_s = sm_table_find_col(t, "source", &cs);
    sm_status st;
    size_t n = sm_table_rows(t);
    if ((st = find_cols(t, ctx, names, c, 2)))
        return st;
    if (!(p->dilei = sm_calloc(ctx, n, sizeof *p->dilei)))
        return SM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        sm_dilei_class *D = &p->dilei[i];
        const char *prefix;
        long lc;
        int has, verified;
        if ((st = sm_table_get_text(t, ctx, i, c[0], &prefix)) ||
            (st = sm_table_get_long(t, ctx, i, c[1], &lc)))
            return st;
        for (const char *q = prefix; *q; q++)
            if (*q < '0' || *q > '9')
                return sm_error(ctx, SM_ERR_INPUT,
                                "%s:%ld: column 'code_prefix': '%s' is not a string of digits",
                                sm_table_name(t), sm_table_line(t, i), prefix);
        if (lc < 0 || lc > 255 || !sm_params_landcover_find(p, (int)lc))
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s:%ld: column 'landcover': %ld is not a code of %s",
                            sm_table_name(t), sm_table_line(t, i), lc, p->files[T_LEGEND].path);
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->dilei[j].code_prefix, prefix) == 0)
                return duplicate(ctx, t, i, j, "code_prefix", prefix);
        D->code_prefix = keep(p, ctx, prefix);
        D->landcover = (int)lc;
        D->name_zh = keep(p, ctx, has_z ? sm_table_cell(t, i, cz) : "");
        D->name_en = keep(p, ctx, has_e ? sm_table_cell(t, i, ce) : "");
        D->source = keep(p, ctx, has_s ? sm_table_cell(t, i, cs) : "");
        if (!D->code_prefix || !D->name_zh || !D->name_en || !D->source)
            return SM_ERR_NOMEM;
        p->ndilei = i + 1;
        if ((st = get_verified(t, ctx, i, 0, &has, &verified)))
            return st;
        if (has && !verified &&
            (st = add_unverified(p, ctx, &p->unverified, &p->nunverified, &p->capunverified,
                                 T_DILEI, prefix, D->source, t, i)))
            return st;
    }
    return SM_OK;
}

static sm_status load_groups(sm_params *p, sm_context *ctx, const sm_table *t)
{
    static const char *const names[] = {
        "group",       "name_zh", "name_en",   "svd_t_m3", "svd_u95_pct", "bef",
        "bef_u95_pct", "r",       "r_u95_pct", "cf",       "cf_u95_pct",  "fang_a",
        "fang_b_t_ha", "fang_source", "factor_source"};
    enum { KEY, ZH, EN, SVD, SVDU, BEF, BEFU, R, RU, CF, CFU, FA, FB, FSRC, SRC, NCOL };
    size_t c[NCOL];
    sm_status st;
    size_t n = sm_table_rows(t);
    if ((st = find_cols(t, ctx, names, c, NCOL)))
        return st;
    if (!(p->groups = sm_calloc(ctx, n, sizeof *p->groups)))
        return SM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        sm_species_group *G = &p->groups[i];
        const char *key, *zh, *fsrc, *src;
        int has;
        static const char *const pct_hint = " (a 95 % half-width in percent)";
        if ((st = sm_table_get_text(t, ctx, i, c[KEY], &key)) ||
            (st = sm_table_get_text(t, ctx, i, c[ZH], &zh)) ||
            (st = get_num(t, ctx, i, c[SVD], 0, 1, 1.5, " (t dry matter per m³)", &G->svd)) ||
            (st = get_num(t, ctx, i, c[SVDU], 0, 0, 1000, pct_hint, &G->svd_u95)) ||
            (st = get_num(t, ctx, i, c[BEF], 1, 0, 10, " (above-ground over stem biomass)",
                          &G->bef)) ||
            (st = get_num(t, ctx, i, c[BEFU], 0, 0, 1000, pct_hint, &G->bef_u95)) ||
            (st = get_num(t, ctx, i, c[R], 0, 0, 5, " (root-to-shoot ratio)", &G->r)) ||
            (st = get_num(t, ctx, i, c[RU], 0, 0, 1000, pct_hint, &G->r_u95)) ||
            (st = get_num(t, ctx, i, c[CF], 0, 1, 1, " (a fraction, not a percent)", &G->cf)) ||
            (st = get_num(t, ctx, i, c[CFU], 0, 0, 1000, pct_hint, &G->cf_u95)) ||
            (st = get_num(t, ctx, i, c[FA], 0, 1, 10, " (t per m³)", &G->fang_a)) ||
            (st = get_num(t, ctx, i, c[FB], -1000, 0, 1000, " (t/ha)", &G->fang_b)) ||
            (st = sm_table_get_text(t, ctx, i, c[FSRC], &fsrc)) ||
            (st = sm_table_get_text(t, ctx, i, c[SRC], &src)) ||
            (st = get_verified(t, ctx, i, 1, &has, &G->verified)))
            return st;
        G->key = keep_trimmed(p, ctx, key);
        G->name_zh = keep_trimmed(p, ctx, zh);
        G->name_en = keep(p, ctx, sm_table_cell(t, i, c[EN]));
        G->fang_source = keep(p, ctx, fsrc);
        G->factor_source = keep(p, ctx, src);
        if (!G->key || !G->name_zh || !G->name_en || !G->fang_source || !G->factor_source)
            return SM_ERR_NOMEM;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p->groups[j].key, G->key) == 0)
                return duplicate(ctx, t, i, j, "group", G->key);
            if (strcmp(p->groups[j].name_zh, G->name_zh) == 0)
                return duplicate(ctx, t, i, j, "name_zh", G->name_zh);
        }
        p->ngroups = i + 1;
        if (!G->verified) {
            char both[1024];
            snprintf(both, sizeof both, "factors: %s; Fang a, b: %s", src, fsrc);
            if ((st = add_unverified(p, ctx, &p->unverified, &p->nunverified, &p->capunverified,
                                     T_GROUPS, key, both, t, i)))
                return st;
        }
    }
    return SM_OK;
}

static sm_status load_map(sm_params *p, sm_context *ctx, const sm_table *t)
{
    static const char *const names[] = {"species", "group"};
    size_t c[2], cs = 0;
    int has_s = sm_table_find_col(t, "source", &cs);
    sm_status st;
    size_t n = sm_table_rows(t);
    if ((st = find_cols(t, ctx, names, c, 2)))
        return st;
    if (!(p->species = sm_calloc(ctx, n, sizeof *p->species)))
        return SM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        species_entry *E = &p->species[i];
        const char *group, *sp;
        int has, verified;
        if ((st = sm_table_get_text(t, ctx, i, c[1], &group)))
            return st;
        if (!(sp = keep_trimmed(p, ctx, sm_table_cell(t, i, c[0]))))
            return SM_ERR_NOMEM;
        if (!sp[0])
            return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: column 'species' is empty",
                            sm_table_name(t), sm_table_line(t, i));
        const sm_species_group *g = sm_params_group_find(p, group);
        if (!g)
            return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: column 'group': '%s' is not a group of %s",
                            sm_table_name(t), sm_table_line(t, i), group,
                            p->files[T_GROUPS].path);
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->species[j].species, sp) == 0)
                return duplicate(ctx, t, i, j, "species", sp);
        E->species = sp;
        E->group = (size_t)(g - p->groups);
        p->nspecies = i + 1;
        if ((st = get_verified(t, ctx, i, 0, &has, &verified)))
            return st;
        if (has && !verified &&
            (st = add_unverified(p, ctx, &p->unverified, &p->nunverified, &p->capunverified,
                                 T_MAP, sp, has_s ? sm_table_cell(t, i, cs) : "", t, i)))
            return st;
    }
    return SM_OK;
}

static sm_status load_growth(sm_params *p, sm_context *ctx, const sm_table *t)
{
    static const char *const names[] = {"group", "origin", "a_m3_ha",    "b",
                                        "k_per_yr", "m",  "max_age_yr", "source"};
    size_t c[8];
    sm_status st;
    size_t n = sm_table_rows(t);
    if ((st = find_cols(t, ctx, names, c, 8)))
        return st;
    if (!(p->curves = sm_calloc(ctx, n, sizeof *p->curves)))
        return SM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        sm_growth_curve *C = &p->curves[i];
        const char *group, *origin, *src;
        int has;
        if ((st = sm_table_get_text(t, ctx, i, c[0], &group)) ||
            (st = sm_table_get_text(t, ctx, i, c[1], &origin)) ||
            (st = get_num(t, ctx, i, c[2], 0, 1, 5000, " (asymptote, m³/ha)", &C->a)) ||
            (st = get_num(t, ctx, i, c[3], 0, 1, 1, " (Richards b, 0 < b <= 1)", &C->b)) ||
            (st = get_num(t, ctx, i, c[4], 0, 1, 5, " (rate, per year)", &C->k)) ||
            (st = get_num(t, ctx, i, c[5], 0, 0, 0.999, " (Richards shape, 0 <= m < 1)", &C->m)) ||
            (st = get_num(t, ctx, i, c[6], 0, 1, 1000, " (years)", &C->max_age)) ||
            (st = sm_table_get_text(t, ctx, i, c[7], &src)) ||
            (st = get_verified(t, ctx, i, 1, &has, &C->verified)))
            return st;
        const sm_species_group *g = sm_params_group_find(p, group);
        if (!g)
            return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: column 'group': '%s' is not a group of %s",
                            sm_table_name(t), sm_table_line(t, i), group,
                            p->files[T_GROUPS].path);
        if (sm__strieq(origin, "natural"))
            C->origin = SM_ORIGIN_NATURAL;
        else if (sm__strieq(origin, "planted"))
            C->origin = SM_ORIGIN_PLANTED;
        else
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s:%ld: column 'origin': '%s' is not natural or planted",
                            sm_table_name(t), sm_table_line(t, i), origin);
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->curves[j].group, g->key) == 0 && p->curves[j].origin == C->origin) {
                char both[256];
                snprintf(both, sizeof both, "%s/%s", g->key, sm_origin_name(C->origin));
                return duplicate(ctx, t, i, j, "curve", both);
            }
        C->group = g->key;
        C->source = keep(p, ctx, src);
        if (!C->source)
            return SM_ERR_NOMEM;
        p->ncurves = i + 1;
        if (!C->verified) {
            char key[256];
            snprintf(key, sizeof key, "%s/%s", g->key, sm_origin_name(C->origin));
            if ((st = add_unverified(p, ctx, &p->unverified, &p->nunverified, &p->capunverified,
                                     T_GROWTH, key, src, t, i)))
                return st;
        }
    }
    return SM_OK;
}

/* Parses a pools table into new arrays (p is only used for strings and the legend). */
static sm_status load_pools_rows(sm_params *p, sm_context *ctx, const sm_table *t,
                                 sm_carbon_pools **pools, size_t *npools, sm_param_row **rows,
                                 size_t *nrows, size_t *caprows)
{
    static const char *const names[] = {"lucode", "c_above", "c_below", "c_soil", "c_dead",
                                        "source"};
    size_t c[6], cn = 0;
    int has_name = sm_table_find_col(t, "name", &cn);
    sm_status st;
    size_t n = sm_table_rows(t);
    if ((st = find_cols(t, ctx, names, c, 6)))
        return st;
    if (!(*pools = sm_calloc(ctx, n, sizeof **pools)))
        return SM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        sm_carbon_pools *P = &(*pools)[i];
        long code;
        const char *src;
        int has;
        if ((st = sm_table_get_long(t, ctx, i, c[0], &code)) ||
            (st = sm_table_get_text(t, ctx, i, c[5], &src)) ||
            (st = get_verified(t, ctx, i, 1, &has, &P->verified)))
            return st;
        const sm_landcover_class *L = (code >= 0 && code <= 255) ? sm_params_landcover_find(p, (int)code) : NULL;
        if (!L)
            return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: column 'lucode': %ld is not a code of %s",
                            sm_table_name(t), sm_table_line(t, i), code, p->files[T_LEGEND].path);
        for (size_t j = 0; j < i; j++)
            if ((*pools)[j].lucode == (int)code)
                return duplicate(ctx, t, i, j, "lucode", sm_table_cell(t, i, c[0]));
        int empty = 0;
        for (int k = 1; k <= 4; k++)
            empty += sm_table_cell(t, i, c[k])[0] == '\0';
        if (empty != 0 && empty != 4)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s:%ld: some carbon pools are empty: give all four (0 where a pool "
                            "is absent) or leave all four empty for a class without an estimate",
                            sm_table_name(t), sm_table_line(t, i));
        P->has_values = empty == 0;
        double *v[4] = {&P->c_above, &P->c_below, &P->c_soil, &P->c_dead};
        for (int k = 0; P->has_values && k < 4; k++)
            if ((st = get_num(t, ctx, i, c[k + 1], 0, 0, 5000, " (t C/ha)", v[k])))
                return st;
        P->lucode = (int)code;
        P->name = keep(p, ctx, has_name ? sm_table_cell(t, i, cn) : L->key);
        P->source = keep(p, ctx, src);
        if (!P->name || !P->source)
            return SM_ERR_NOMEM;
        *npools = i + 1;
        if (!P->verified) {
            char key[256];
            snprintf(key, sizeof key, "%d (%s)", P->lucode, P->name);
            if ((st = add_unverified(p, ctx, rows, nrows, caprows, T_POOLS, key, src, t, i)))
                return st;
        }
    }
    return SM_OK;
}

/* Records a loaded file in p->files[which]. */
static sm_status note_file(sm_params *p, sm_context *ctx, int which, const sm_table *t)
{
    sm_param_file *f = &p->files[which];
    f->table = TABLE_NAME[which];
    f->path = keep(p, ctx, sm_table_name(t));
    f->sha256 = keep(p, ctx, sm_table_sha256(t));
    return (f->path && f->sha256) ? SM_OK : SM_ERR_NOMEM;
}

/* Installs a parsed pools table, replacing the pools rows of the unverified list. */
static sm_status commit_pools(sm_params *p, sm_context *ctx, sm_carbon_pools *pools,
                              size_t npools, const sm_param_row *rows, size_t nrows)
{
    size_t keepn = 0;
    for (size_t i = 0; i < p->nunverified; i++)
        if (p->unverified[i].table != TABLE_NAME[T_POOLS])
            p->unverified[keepn++] = p->unverified[i];
    sm_status st = reserve(ctx, (void **)&p->unverified, &p->capunverified, keepn + nrows,
                           sizeof *p->unverified);
    if (st)
        return st;
    if (nrows)
        memcpy(p->unverified + keepn, rows, nrows * sizeof *rows);
    p->nunverified = keepn + nrows;
    free(p->pools);
    p->pools = pools;
    p->npools = npools;
    return SM_OK;
}

sm_status sm_params_load_pools(sm_params *p, sm_context *ctx, const char *path)
{
    sm_status st;
    sm_table *t = NULL;
    sm_carbon_pools *pools = NULL;
    sm_param_row *rows = NULL;
    size_t npools = 0, nrows = 0, caprows = 0;
    sm_param_file saved = p->files[T_POOLS];

    if ((st = sm_table_read(&t, ctx, path)))
        goto end;
    /* The file entry is set first so that unverified rows point at the new path. */
    if ((st = note_file(p, ctx, T_POOLS, t)))
        goto end;
    if ((st = load_pools_rows(p, ctx, t, &pools, &npools, &rows, &nrows, &caprows)))
        goto end;
    if ((st = commit_pools(p, ctx, pools, npools, rows, nrows)))
        goto end;
    pools = NULL;
end:
    if (st)
        p->files[T_POOLS] = saved;
    sm_table_destroy(t);
    free(pools);
    free(rows);
    return st;
}

sm_status sm_params_load(sm_params **out, sm_context *ctx, const char *data_dir)
{
    sm_status st = SM_OK;
    sm_params *p = NULL;
    sm_table *t = NULL;
    char *path = NULL;
    *out = NULL;
    if (!data_dir)
        data_dir = SINKMAP_DATA_DIR;

    if (!(p = sm_calloc(ctx, 1, sizeof *p))) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    for (int which = 0; which < T_COUNT; which++) {
        if (!(path = sm__path_join(ctx, data_dir, TABLE_FILE[which]))) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        if (which == T_POOLS) {
            st = sm_params_load_pools(p, ctx, path);
        } else {
            if ((st = sm_table_read(&t, ctx, path)) || (st = note_file(p, ctx, which, t)))
                goto end;
            switch (which) {
            case T_LEGEND: st = load_legend(p, ctx, t); break;
            case T_DILEI: st = load_dilei(p, ctx, t); break;
            case T_GROUPS: st = load_groups(p, ctx, t); break;
            case T_MAP: st = load_map(p, ctx, t); break;
            default: st = load_growth(p, ctx, t); break;
            }
            sm_table_destroy(t);
            t = NULL;
        }
        if (st)
            goto end;
        free(path);
        path = NULL;
        p->nfiles = (size_t)which + 1;
    }
    *out = p;
    p = NULL;
end:
    free(path);
    sm_table_destroy(t);
    sm_params_destroy(p);
    return st;
}

size_t sm_params_file_count(const sm_params *p) { return p->nfiles; }
const sm_param_file *sm_params_file(const sm_params *p, size_t i)
{
    return i < p->nfiles ? &p->files[i] : NULL;
}

size_t sm_params_unverified(const sm_params *p, const sm_param_row **rows)
{
    *rows = p->unverified;
    return p->nunverified;
}

size_t sm_params_group_count(const sm_params *p) { return p->ngroups; }
const sm_species_group *sm_params_group(const sm_params *p, size_t i)
{
    return i < p->ngroups ? &p->groups[i] : NULL;
}

const sm_species_group *sm_params_group_find(const sm_params *p, const char *key)
{
    for (size_t i = 0; key && i < p->ngroups; i++)
        if (strcmp(p->groups[i].key, key) == 0)
            return &p->groups[i];
    return NULL;
}

size_t sm_params_landcover_count(const sm_params *p) { return p->nlegend; }
const sm_landcover_class *sm_params_landcover(const sm_params *p, size_t i)
{
    return i < p->nlegend ? &p->legend[i] : NULL;
}

const sm_landcover_class *sm_params_landcover_find(const sm_params *p, int code)
{
    for (size_t i = 0; i < p->nlegend; i++)
        if (p->legend[i].code == code)
            return &p->legend[i];
    return NULL;
}

size_t sm_params_pools_count(const sm_params *p) { return p->npools; }
const sm_carbon_pools *sm_params_pools_at(const sm_params *p, size_t i)
{
    return i < p->npools ? &p->pools[i] : NULL;
}

sm_status sm_params_pools(const sm_params *p, sm_context *ctx, int lucode,
                          const sm_carbon_pools **out)
{
    *out = NULL;
    for (size_t i = 0; i < p->npools; i++) {
        const sm_carbon_pools *P = &p->pools[i];
        if (P->lucode != lucode)
            continue;
        if (!P->has_values)
            return sm_error(ctx, SM_ERR_INPUT,
                            "land-cover class %d (%s) has no carbon-pool values in %s (%s)",
                            lucode, P->name, p->files[T_POOLS].path, P->source);
        *out = P;
        return SM_OK;
    }
    return sm_error(ctx, SM_ERR_INPUT, "land-cover class %d has no row in %s", lucode,
                    p->files[T_POOLS].path);
}

double sm_pools_total(const sm_carbon_pools *pools)
{
    return pools->c_above + pools->c_below + pools->c_soil + pools->c_dead;
}

/* ---- Species lookup and suggestions --------------------------------------------------------- */

#define MAX_CP 128 /* code points compared for suggestions; longer names are cut */

/* Decodes UTF-8 into code points (an invalid byte becomes U+FFFD); returns the count. */
static size_t utf8_decode(const char *s, size_t len, uint32_t *cp, size_t max)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    size_t n = 0;
    while (p < e && n < max) {
        uint32_t c = *p;
        size_t extra = c < 0x80 ? 0 : c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 9;
        if (extra == 9 || (size_t)(e - p) <= extra) {
            cp[n++] = 0xFFFD;
            p++;
            continue;
        }
        if (extra)
            c &= 0x3F >> extra;
        size_t k;
        for (k = 1; k <= extra; k++) {
            if ((p[k] & 0xC0) != 0x80)
                break;
            c = (c << 6) | (p[k] & 0x3F);
        }
        if (k <= extra) {
            cp[n++] = 0xFFFD;
            p++;
            continue;
        }
        cp[n++] = c;
        p += extra + 1;
    }
    return n;
}

/* Levenshtein distance (insert, delete, substitute: cost 1 each) between code-point strings. */
static size_t levenshtein(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t row[MAX_CP + 1];
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* Writes "a, b, c" (the three known names closest to name) into buf. */
static void suggest(const sm_params *p, const char *name, size_t len, char *buf, size_t size)
{
    uint32_t want[MAX_CP], cand[MAX_CP];
    size_t nwant = utf8_decode(name, len, want, MAX_CP);
    const char *best[3] = {NULL, NULL, NULL};
    size_t bestd[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    size_t total = p->nspecies + 2 * p->ngroups;
    for (size_t i = 0; i < total; i++) {
        const char *s = i < p->nspecies                 ? p->species[i].species
                        : i < p->nspecies + p->ngroups ? p->groups[i - p->nspecies].key
                                                        : p->groups[i - p->nspecies - p->ngroups].name_zh;
        int seen = 0;
        for (int k = 0; k < 3; k++)
            seen |= best[k] && strcmp(best[k], s) == 0;
        if (seen || !s[0])
            continue;
        size_t d = levenshtein(want, nwant, cand, utf8_decode(s, strlen(s), cand, MAX_CP));
        /* Insert keeping the order stable: an equal distance goes after those already kept. */
        for (int k = 0; k < 3; k++) {
            if (d < bestd[k]) {
                for (int m = 2; m > k; m--) {
                    best[m] = best[m - 1];
                    bestd[m] = bestd[m - 1];
                }
                best[k] = s;
                bestd[k] = d;
                break;
            }
        }
    }
    size_t n = 0;
    buf[0] = '\0';
    for (int k = 0; k < 3 && best[k] && n < size; k++) {
        int w = snprintf(buf + n, size - n, "%s%s", k ? ", " : "", best[k]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

sm_status sm_params_species(const sm_params *p, sm_context *ctx, const char *species,
                            const sm_species_group **out)
{
    const char *b;
    size_t n;
    *out = NULL;
    trim_span(species ? species : "", &b, &n);
    if (n == 0)
        return sm_error(ctx, SM_ERR_INPUT,
                        "species is empty (the parcel names no dominant species)");
    for (size_t i = 0; i < p->nspecies; i++)
        if (span_eq(b, n, p->species[i].species)) {
            *out = &p->groups[p->species[i].group];
            return SM_OK;
        }
    for (size_t i = 0; i < p->ngroups; i++)
        if (span_eq(b, n, p->groups[i].key)) {
            *out = &p->groups[i];
            return SM_OK;
        }
    for (size_t i = 0; i < p->ngroups; i++)
        if (span_eq(b, n, p->groups[i].name_zh)) {
            *out = &p->groups[i];
            return SM_OK;
        }
    char near[512];
    suggest(p, b, n, near, sizeof near);
    return sm_error(ctx, SM_ERR_INPUT,
                    "species '%.*s' has no parameter row in %s; closest known: %s (add a row "
                    "mapping it to a group of %s)",
                    (int)n, b, p->files[T_MAP].path, near[0] ? near : "(none)",
                    p->files[T_GROUPS].path);
}

const char *sm_origin_name(sm_origin origin)
{
    return origin == SM_ORIGIN_NATURAL ? "natural" : origin == SM_ORIGIN_PLANTED ? "planted" : "?";
}

sm_status sm_origin_parse(sm_context *ctx, const char *text, sm_origin *out)
{
    const char *b;
    size_t n;
    char buf[64];
    double v;
    trim_span(text ? text : "", &b, &n);
    if (n < sizeof buf) {
        memcpy(buf, b, n);
        buf[n] = '\0';
        if (sm_parse_double(buf, &v) == 0) {
            if (v == 11 || v == 12 || v == 13) {
                *out = SM_ORIGIN_NATURAL;
                return SM_OK;
            }
            if (v == 21 || v == 22 || v == 23) {
                *out = SM_ORIGIN_PLANTED;
                return SM_OK;
            }
        } else if (sm__strieq(buf, "natural") || strcmp(buf, "天然") == 0) {
            *out = SM_ORIGIN_NATURAL;
            return SM_OK;
        } else if (sm__strieq(buf, "planted") || strcmp(buf, "人工") == 0) {
            *out = SM_ORIGIN_PLANTED;
            return SM_OK;
        }
    }
    return sm_error(ctx, SM_ERR_INPUT,
                    "origin (QI_YUAN) '%.*s' is not a known code (11, 12, 13 natural; 21, 22, 23 "
                    "planted)",
                    (int)n, b);
}

sm_status sm_params_growth(const sm_params *p, sm_context *ctx, const sm_species_group *group,
                           sm_origin origin, const sm_growth_curve **out)
{
    *out = NULL;
    for (size_t i = 0; group && i < p->ncurves; i++)
        if (strcmp(p->curves[i].group, group->key) == 0 && p->curves[i].origin == origin) {
            *out = &p->curves[i];
            return SM_OK;
        }
    return sm_error(ctx, SM_ERR_INPUT, "no growth curve for group '%s' origin '%s' in %s",
                    group ? group->key : "(none)", sm_origin_name(origin),
                    p->files[T_GROWTH].path);
}

sm_status sm_params_dilei(const sm_params *p, sm_context *ctx, const char *dilei,
                          const sm_dilei_class **out)
{
    const char *b;
    size_t n, bestlen = 0;
    *out = NULL;
    trim_span(dilei ? dilei : "", &b, &n);
    if (n == 0)
        return sm_error(ctx, SM_ERR_INPUT, "DI_LEI is empty (the parcel has no land class)");
    for (size_t i = 0; i < p->ndilei; i++) {
        size_t len = strlen(p->dilei[i].code_prefix);
        if (len <= n && len > bestlen && memcmp(b, p->dilei[i].code_prefix, len) == 0) {
            *out = &p->dilei[i];
            bestlen = len;
        }
    }
    if (*out)
        return SM_OK;
    int digits5 = n == 5;
    for (size_t i = 0; digits5 && i < n; i++)
        digits5 = b[i] >= '0' && b[i] <= '9';
    return sm_error(ctx, SM_ERR_INPUT, "DI_LEI '%.*s' matches no code_prefix in %s%s", (int)n, b,
                    p->files[T_DILEI].path,
                    digits5 ? " (5 digits: a numeric field may have lost its leading zero, "
                              "e.g. 030100 read as 30100; read DI_LEI as text)"
                            : "");
}

/* ---- Dates -------------------------------------------------------------------------------- */

int sm_days_in_year(int year)
{
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 366 : 365;
}

static int days_in_month(int year, int month)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && sm_days_in_year(year) == 366 ? 29 : dim[month - 1];
}

static int date_valid(sm_date d)
{
    return d.year >= 1000 && d.year <= 9999 && d.month >= 1 && d.month <= 12 && d.day >= 1 &&
           d.day <= days_in_month(d.year, d.month);
}

int sm_day_of_year(sm_date d)
{
    int doy = d.day;
    for (int m = 1; m < d.month; m++)
        doy += days_in_month(d.year, m);
    return doy;
}

double sm_decimal_year(sm_date d)
{
    return d.year + (sm_day_of_year(d) - 0.5) / sm_days_in_year(d.year);
}

sm_status sm_date_parse(sm_context *ctx, const char *text, sm_date *out)
{
    const char *s = text ? text : "";
    int ok = strlen(s) == 10 && s[4] == '-' && s[7] == '-';
    for (int i = 0; ok && i < 10; i++)
        ok = i == 4 || i == 7 || (s[i] >= '0' && s[i] <= '9');
    if (!ok)
        return sm_error(ctx, SM_ERR_INPUT, "date '%s' is not in the form YYYY-MM-DD", s);
    sm_date d = {(s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'),
                 (s[5] - '0') * 10 + (s[6] - '0'), (s[8] - '0') * 10 + (s[9] - '0')};
    if (d.year < 1000)
        return sm_error(ctx, SM_ERR_INPUT, "date '%s': year %d is out of range [1000, 9999]", s,
                        d.year);
    if (d.month < 1 || d.month > 12)
        return sm_error(ctx, SM_ERR_INPUT, "date '%s': month %d does not exist", s, d.month);
    if (!date_valid(d))
        return sm_error(ctx, SM_ERR_INPUT, "date '%s': day %d does not exist in %04d-%02d", s,
                        d.day, d.year, d.month);
    *out = d;
    return SM_OK;
}

/* ---- Growth ------------------------------------------------------------------------------- */

double sm_richards(const sm_growth_curve *curve, double age)
{
    return curve->a * pow(1.0 - curve->b * exp(-curve->k * age), 1.0 / (1.0 - curve->m));
}

sm_status sm_project_volume(sm_context *ctx, const sm_growth_curve *curve, const char *parcel,
                            double volume_m3_ha, double age_at_survey, int survey_year,
                            sm_date date, double *volume_out, double *age_out)
{
    const char *who = parcel ? parcel : "(unnamed)";
    if (!curve)
        return sm_error(ctx, SM_ERR_INTERNAL, "parcel %s: no growth curve given", who);
    const char *g = curve->group, *o = sm_origin_name(curve->origin);
    if (isnan(volume_m3_ha))
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s: the inventory volume is missing", who);
    if (volume_m3_ha < 0 || isinf(volume_m3_ha))
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s: inventory volume %g m3/ha is not >= 0",
                        who, volume_m3_ha);
    if (!date_valid(date))
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s: %04d-%02d-%02d is not a valid date", who,
                        date.year, date.month, date.day);
    if (survey_year < 1900 || survey_year > 2200)
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s: survey year %d is out of range [1900, 2200]",
                        who, survey_year);
    if (!(age_at_survey > 0) || isinf(age_at_survey))
        return sm_error(ctx, SM_ERR_INPUT,
                        "parcel %s (group %s, %s): stand age at the survey %g years is not > 0 "
                        "(missing age?)",
                        who, g, o, age_at_survey);
    if (age_at_survey > curve->max_age)
        return sm_error(ctx, SM_ERR_INPUT,
                        "parcel %s (group %s, %s): age at the survey %g years is beyond the growth "
                        "curve's max_age %g",
                        who, g, o, age_at_survey, curve->max_age);
    double age = age_at_survey + (sm_decimal_year(date) - (survey_year + 0.5));
    if (!(age > 0))
        return sm_error(ctx, SM_ERR_INPUT,
                        "parcel %s (group %s, %s): age at %04d-%02d-%02d would be %.2f years "
                        "(not > 0): the date is before the stand existed",
                        who, g, o, date.year, date.month, date.day, age);
    if (age > curve->max_age)
        return sm_error(ctx, SM_ERR_INPUT,
                        "parcel %s (group %s, %s): age %.2f years at %04d-%02d-%02d is beyond the "
                        "growth curve's max_age %g",
                        who, g, o, age, date.year, date.month, date.day, curve->max_age);
    double r0 = sm_richards(curve, age_at_survey), r1 = sm_richards(curve, age);
    if (!(r0 > 0) || !isfinite(r1))
        return sm_error(ctx, SM_ERR_INPUT,
                        "parcel %s (group %s, %s): the growth curve is %g at the survey age %g "
                        "years: no ratio can be formed",
                        who, g, o, r0, age_at_survey);
    *volume_out = volume_m3_ha * (r1 / r0);
    if (age_out)
        *age_out = age;
    return SM_OK;
}

/* ---- Carbon --------------------------------------------------------------------------------- */

double sm_carbon_u95(const sm_species_group *g, double volume_u95_pct)
{
    double u_root = g->r_u95 * g->r / (1.0 + g->r); /* U of (1 + R) */
    double u[5] = {volume_u95_pct, g->svd_u95, g->bef_u95, u_root, g->cf_u95};
    return sm_u95_product(u, 5);
}

sm_status sm_carbon_from_volume(sm_context *ctx, const sm_species_group *g, const char *parcel,
                                double v, sm_carbon *out)
{
    const char *who = parcel ? parcel : "(unnamed)";
    memset(out, 0, sizeof *out);
    if (!g)
        return sm_error(ctx, SM_ERR_INTERNAL, "parcel %s: no species group given", who);
    if (isnan(v))
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s (group %s): the volume is missing", who,
                        g->key);
    if (v < 0 || isinf(v))
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s (group %s): volume %g m3/ha is not >= 0",
                        who, g->key, v);
    double stem_biomass_above = v * g->svd * g->bef; /* t d.m./ha above ground */
    out->above = stem_biomass_above * g->cf;
    out->below = stem_biomass_above * g->r * g->cf;
    out->total = out->above + out->below;
    out->u95_pct = sm_carbon_u95(g, 0);
    if (v > 0) {
        out->fang_biomass = g->fang_a * v + g->fang_b;
        if (out->fang_biomass < 0)
            return sm_error(ctx, SM_ERR_INPUT,
                            "parcel %s (group %s): Fang's biomass %g*%g%+g is negative",
                            who, g->key, g->fang_a, v, g->fang_b);
    }
    out->fang = out->fang_biomass * g->cf;
    out->rel_diff = out->total > 0 ? (out->fang - out->total) / out->total : 0.0;
    out->methods_differ = fabs(out->rel_diff) > SM_METHOD_DIFF_FLAG;
    return SM_OK;
}

/* ---- Sinks ---------------------------------------------------------------------------------- */

sm_status sm_sink_between(sm_context *ctx, double stock1, sm_date d1, double stock2, sm_date d2,
                          sm_sink *out)
{
    if (!date_valid(d1) || !date_valid(d2))
        return sm_error(ctx, SM_ERR_INPUT, "sink: %04d-%02d-%02d or %04d-%02d-%02d is not a valid "
                        "date", d1.year, d1.month, d1.day, d2.year, d2.month, d2.day);
    if (!isfinite(stock1) || !isfinite(stock2))
        return sm_error(ctx, SM_ERR_INPUT, "sink: a carbon stock is missing (%g, %g)", stock1,
                        stock2);
    double years = sm_decimal_year(d2) - sm_decimal_year(d1);
    if (!(years > 0))
        return sm_error(ctx, SM_ERR_INPUT,
                        "sink: the second date %04d-%02d-%02d is not after the first %04d-%02d-%02d",
                        d2.year, d2.month, d2.day, d1.year, d1.month, d1.day);
    out->years = years;
    out->t_c_per_yr = (stock2 - stock1) / years;
    out->t_co2e_per_yr = out->t_c_per_yr * SM_CO2_PER_C;
    return SM_OK;
}

/* ---- Gain–loss ------------------------------------------------------------------------------- */

sm_status sm_increment(sm_context *ctx, const sm_growth_curve *curve, const char *parcel,
                       double volume_m3_ha, double age_at_survey, double age, double *out)
{
    const char *who = parcel ? parcel : "(unnamed)";
    if (!curve)
        return sm_error(ctx, SM_ERR_INTERNAL, "parcel %s: no growth curve given", who);
    const char *g = curve->group, *o = sm_origin_name(curve->origin);
    if (isnan(volume_m3_ha))
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s: the inventory volume is missing", who);
    if (volume_m3_ha < 0 || isinf(volume_m3_ha))
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s: inventory volume %g m3/ha is not >= 0", who,
                        volume_m3_ha);
    if (!(age_at_survey > 0) || !(age > 0) || isinf(age))
        return sm_error(ctx, SM_ERR_INPUT,
                        "parcel %s (group %s, %s): stand age %g years (at the survey %g) is not > 0",
                        who, g, o, age, age_at_survey);
    if (age > curve->max_age || age_at_survey > curve->max_age)
        return sm_error(ctx, SM_ERR_INPUT,
                        "parcel %s (group %s, %s): age %g years is beyond the growth curve's max_age %g",
                        who, g, o, age > age_at_survey ? age : age_at_survey, curve->max_age);
    double r0 = sm_richards(curve, age_at_survey);
    if (!(r0 > 0))
        return sm_error(ctx, SM_ERR_INPUT,
                        "parcel %s (group %s, %s): the growth curve is %g at the survey age %g years",
                        who, g, o, r0, age_at_survey);
    double level = volume_m3_ha / r0;
    double inc = age + 1.0 <= curve->max_age ? sm_richards(curve, age + 1.0) - sm_richards(curve, age)
                                             : sm_richards(curve, age) - sm_richards(curve, age - 1.0 > 0 ? age - 1.0 : 0.0);
    *out = level * inc;
    return SM_OK;
}

sm_status sm_gain_loss_between(sm_context *ctx, const sm_species_group *group,
                               const sm_growth_curve *curve, const char *parcel,
                               double volume_m3_ha, double age_at_survey, int survey_year,
                               sm_date d1, sm_date d2, double area_ha, double kept1, double kept2,
                               sm_gain_loss *out)
{
    const char *who = parcel ? parcel : "(unnamed)";
    memset(out, 0, sizeof *out);
    if (!group)
        return sm_error(ctx, SM_ERR_INTERNAL, "parcel %s: no species group given", who);
    if (!(kept1 >= 0 && kept1 <= 1) || !(kept2 >= 0 && kept2 <= 1))
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s: standing shares %g, %g are not within [0, 1]",
                        who, kept1, kept2);
    if (!(area_ha >= 0) || isinf(area_ha))
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s: area %g ha is not >= 0", who, area_ha);
    double v1, v2, age1;
    sm_status st;
    if ((st = sm_project_volume(ctx, curve, who, volume_m3_ha, age_at_survey, survey_year, d1, &v1, &age1)) != SM_OK ||
        (st = sm_project_volume(ctx, curve, who, volume_m3_ha, age_at_survey, survey_year, d2, &v2, NULL)) != SM_OK)
        return st;
    double years = sm_decimal_year(d2) - sm_decimal_year(d1);
    if (!(years > 0))
        return sm_error(ctx, SM_ERR_INPUT,
                        "parcel %s: the second date %04d-%02d-%02d is not after the first %04d-%02d-%02d",
                        who, d2.year, d2.month, d2.day, d1.year, d1.month, d1.day);
    double inc;
    if ((st = sm_increment(ctx, curve, who, volume_m3_ha, age_at_survey, age1, &inc)) != SM_OK)
        return st;
    double f = group->svd * group->bef * (1.0 + group->r) * group->cf;
    double removed = kept1 > kept2 ? kept1 - kept2 : 0.0;
    out->years = years;
    out->increment = inc;
    out->gain = area_ha * kept2 * inc * f;
    out->loss = area_ha * removed * v2 * f / years;
    out->t_c_per_yr = out->gain - out->loss;
    out->t_co2e_per_yr = out->t_c_per_yr * SM_CO2_PER_C;
    return SM_OK;
}

/* ---- Approach 1 ------------------------------------------------------------------------------ */

double sm_u95_product(const double *u_pct, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += u_pct[i] * u_pct[i];
    return sqrt(s);
}

double sm_u95_sum(const double *u_pct, const double *x, size_t n)
{
    double s = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        s += (u_pct[i] * x[i]) * (u_pct[i] * x[i]);
        total += x[i];
    }
    if (total == 0)
        return NAN;
    return sqrt(s) / fabs(total);
}
