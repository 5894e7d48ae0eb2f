/* bamboo.c: bamboo carbon from the inventory's culm count (株数/ha) and a per-species mean culm
 * biomass table. A handful of rows read once per run; names are matched exactly and an unknown
 * name is answered with the closest known ones, as for tree species. */
#include "sinkmap/bamboo.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sinkmap/carbon.h"
#include "sinkmap/table.h"

struct sm_bamboo_table {
    sm_table *t;
    sm_bamboo_species *sp;
    size_t n;
};

sm_status sm_bamboo_table_load(sm_bamboo_table **out, sm_context *ctx, const char *data_dir)
{
    *out = NULL;
    char *path = sm__path_join(ctx, data_dir, "bamboo_culms.csv");
    if (!path)
        return SM_ERR_NOMEM;
    sm_bamboo_table *b = calloc(1, sizeof *b);
    sm_status st = b ? sm_table_read(&b->t, ctx, path) : sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    free(path);
    if (st != SM_OK)
        goto end;
    size_t n = sm_table_rows(b->t);
    b->sp = calloc(n ? n : 1, sizeof *b->sp);
    if (!b->sp) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    static const char *const names[] = {"key", "name_zh", "name_en", "culm_kg", "culm_u95_pct", "r",
                                        "r_u95_pct", "cf", "cf_u95_pct", "source", "verified"};
    size_t c[11];
    for (size_t k = 0; k < 11; k++)
        if ((st = sm_table_col(b->t, ctx, names[k], &c[k])) != SM_OK)
            goto end;
    for (size_t i = 0; i < n; i++) {
        sm_bamboo_species *y = &b->sp[i];
        y->line = sm_table_line(b->t, i);
        if ((st = sm_table_get_text(b->t, ctx, i, c[0], &y->key)) != SM_OK ||
            (st = sm_table_get_text(b->t, ctx, i, c[1], &y->name_zh)) != SM_OK ||
            (st = sm_table_get_text(b->t, ctx, i, c[2], &y->name_en)) != SM_OK ||
            (st = sm_table_get_double(b->t, ctx, i, c[3], &y->culm_kg)) != SM_OK ||
            (st = sm_table_get_double(b->t, ctx, i, c[4], &y->culm_u95)) != SM_OK ||
            (st = sm_table_get_double(b->t, ctx, i, c[5], &y->r)) != SM_OK ||
            (st = sm_table_get_double(b->t, ctx, i, c[6], &y->r_u95)) != SM_OK ||
            (st = sm_table_get_double(b->t, ctx, i, c[7], &y->cf)) != SM_OK ||
            (st = sm_table_get_double(b->t, ctx, i, c[8], &y->cf_u95)) != SM_OK ||
            (st = sm_table_get_text(b->t, ctx, i, c[9], &y->source)) != SM_OK ||
            (st = sm_table_get_yesno(b->t, ctx, i, c[10], &y->verified)) != SM_OK)
            goto end;
        const char *bad = !y->key[0]                                  ? "key is empty"
                          : !(y->culm_kg > 0) || isinf(y->culm_kg)    ? "culm_kg must be > 0"
                          : !(y->r >= 0) || isinf(y->r)               ? "r must be >= 0"
                          : !(y->cf > 0 && y->cf <= 1)                ? "cf must be in (0, 1]"
                          : !(y->culm_u95 >= 0 && y->r_u95 >= 0 && y->cf_u95 >= 0) ? "U95 must be >= 0"
                          : !y->source[0]                              ? "source is empty"
                                                                       : NULL;
        if (bad) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s:%ld: %s (row '%s')", sm_table_name(b->t), y->line, bad, y->key);
            goto end;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(b->sp[j].key, y->key) == 0 || (y->name_zh[0] && strcmp(b->sp[j].name_zh, y->name_zh) == 0)) {
                st = sm_error(ctx, SM_ERR_INPUT, "%s:%ld: '%s' repeats line %ld", sm_table_name(b->t), y->line,
                              y->key, b->sp[j].line);
                goto end;
            }
    }
    b->n = n;
end:
    if (st != SM_OK) {
        sm_bamboo_table_destroy(b);
        return st;
    }
    *out = b;
    return SM_OK;
}

void sm_bamboo_table_destroy(sm_bamboo_table *t)
{
    if (!t)
        return;
    sm_table_destroy(t->t);
    free(t->sp);
    free(t);
}

const char *sm_bamboo_table_path(const sm_bamboo_table *t) { return sm_table_name(t->t); }
const char *sm_bamboo_table_sha256(const sm_bamboo_table *t) { return sm_table_sha256(t->t); }
size_t sm_bamboo_count(const sm_bamboo_table *t) { return t->n; }
const sm_bamboo_species *sm_bamboo_at(const sm_bamboo_table *t, size_t i) { return i < t->n ? &t->sp[i] : NULL; }

/* Code points of a UTF-8 string (invalid bytes count as one each), at most max. */
static size_t code_points(const char *s, uint32_t *cp, size_t max)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && n < max) {
        uint32_t c = *p;
        int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        p++;
        for (int k = 0; k < extra && (*p & 0xC0) == 0x80; k++, p++)
            c = (c << 6) | (*p & 0x3F);
        cp[n++] = c;
    }
    return n;
}

static size_t distance(const char *a, const char *b)
{
    uint32_t x[64], y[64];
    size_t nx = code_points(a, x, 64), ny = code_points(b, y, 64), row[65];
    for (size_t j = 0; j <= ny; j++)
        row[j] = j;
    for (size_t i = 1; i <= nx; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= ny; j++) {
            size_t up = row[j], best = diag + (x[i - 1] != y[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[ny];
}

sm_status sm_bamboo_find(const sm_bamboo_table *t, sm_context *ctx, const char *name,
                         const sm_bamboo_species **out)
{
    *out = NULL;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", name ? name : "");
    char *s = buf;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = '\0';
    for (size_t i = 0; i < t->n && len; i++)
        if (strcmp(t->sp[i].key, s) == 0 || strcmp(t->sp[i].name_zh, s) == 0) {
            *out = &t->sp[i];
            return SM_OK;
        }
    /* The three closest names (keys and Chinese names), ties in file order. */
    const char *best[3] = {NULL, NULL, NULL};
    size_t bd[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    for (size_t i = 0; i < 2 * t->n; i++) {
        const char *c = i % 2 ? t->sp[i / 2].key : t->sp[i / 2].name_zh;
        if (!c[0])
            continue;
        size_t d = distance(s, c);
        for (int k = 0; k < 3; k++)
            if (d < bd[k]) {
                for (int m = 2; m > k; m--) {
                    best[m] = best[m - 1];
                    bd[m] = bd[m - 1];
                }
                best[k] = c;
                bd[k] = d;
                break;
            }
    }
    char near[256] = "";
    size_t used = 0;
    for (int k = 0; k < 3 && best[k] && used < sizeof near; k++)
        used += (size_t)snprintf(near + used, sizeof near - used, "%s%s", k ? ", " : "", best[k]);
    return sm_error(ctx, SM_ERR_INPUT, "bamboo species '%s' has no row in %s; closest known: %s", s,
                    sm_table_name(t->t), near[0] ? near : "(none)");
}

sm_status sm_bamboo_carbon_from_culms(sm_context *ctx, const sm_bamboo_species *sp,
                                      const char *parcel, double culms_per_ha,
                                      sm_bamboo_carbon *out)
{
    memset(out, 0, sizeof *out);
    const char *who = parcel ? parcel : "(unnamed)";
    if (isnan(culms_per_ha))
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s: the culm count is missing", who);
    if (culms_per_ha < 0 || isinf(culms_per_ha))
        return sm_error(ctx, SM_ERR_INPUT, "parcel %s: culm count %g per ha is not >= 0", who, culms_per_ha);
    out->above = culms_per_ha * sp->culm_kg / 1000.0 * sp->cf;
    out->below = out->above * sp->r;
    out->total = out->above + out->below;
    double u[3] = {sp->culm_u95, sp->r_u95 * sp->r / (1.0 + sp->r), sp->cf_u95};
    out->u95_pct = sm_u95_product(u, 3);
    return SM_OK;
}
