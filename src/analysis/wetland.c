/* wetland.c: wetland carbon accumulation and CH4 rates by type, and named GWP sets.
 * A small table read once per run; the per-parcel arithmetic (area × rate) lives with the
 * other per-parcel results in the pipeline. */
#include "sinkmap/wetland.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sinkmap/table.h"

struct sm_wetland_rates {
    sm_table *t;
    sm_wetland_type *types;
    size_t n;
};

sm_status sm_wetland_rates_load(sm_wetland_rates **out, sm_context *ctx, const char *data_dir)
{
    *out = NULL;
    char *path = sm__path_join(ctx, data_dir, "wetland_rates.csv");
    if (!path)
        return SM_ERR_NOMEM;
    sm_wetland_rates *w = calloc(1, sizeof *w);
    sm_status st = w ? sm_table_read(&w->t, ctx, path) : sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    free(path);
    if (st != SM_OK)
        goto end;
    size_t n = sm_table_rows(w->t);
    w->types = calloc(n ? n : 1, sizeof *w->types);
    if (!w->types) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    size_t cp, ct, cz, cr, cru, cm, cmu, cs, cv;
    if ((st = sm_table_col(w->t, ctx, "code_prefix", &cp)) != SM_OK || (st = sm_table_col(w->t, ctx, "type", &ct)) != SM_OK ||
        (st = sm_table_col(w->t, ctx, "name_zh", &cz)) != SM_OK ||
        (st = sm_table_col(w->t, ctx, "c_rate_t_ha_yr", &cr)) != SM_OK ||
        (st = sm_table_col(w->t, ctx, "c_rate_u95_pct", &cru)) != SM_OK ||
        (st = sm_table_col(w->t, ctx, "ch4_kg_ha_yr", &cm)) != SM_OK ||
        (st = sm_table_col(w->t, ctx, "ch4_u95_pct", &cmu)) != SM_OK || (st = sm_table_col(w->t, ctx, "source", &cs)) != SM_OK ||
        (st = sm_table_col(w->t, ctx, "verified", &cv)) != SM_OK)
        goto end;
    for (size_t i = 0; i < n; i++) {
        sm_wetland_type *y = &w->types[i];
        if ((st = sm_table_get_text(w->t, ctx, i, cp, &y->code_prefix)) != SM_OK ||
            (st = sm_table_get_text(w->t, ctx, i, ct, &y->type)) != SM_OK ||
            (st = sm_table_get_text(w->t, ctx, i, cz, &y->name_zh)) != SM_OK ||
            (st = sm_table_get_double(w->t, ctx, i, cr, &y->c_rate)) != SM_OK ||
            (st = sm_table_get_double(w->t, ctx, i, cru, &y->c_rate_u95)) != SM_OK ||
            (st = sm_table_get_double(w->t, ctx, i, cm, &y->ch4)) != SM_OK ||
            (st = sm_table_get_double(w->t, ctx, i, cmu, &y->ch4_u95)) != SM_OK ||
            (st = sm_table_get_text(w->t, ctx, i, cs, &y->source)) != SM_OK ||
            (st = sm_table_get_yesno(w->t, ctx, i, cv, &y->verified)) != SM_OK)
            goto end;
        if (y->c_rate < 0 || y->ch4 < 0 || y->c_rate_u95 < 0 || y->ch4_u95 < 0) {
            st = sm_error(ctx, SM_ERR_INPUT, "%s:%ld: rates and their U95 must be >= 0", sm_table_name(w->t),
                          sm_table_line(w->t, i));
            goto end;
        }
    }
    w->n = n;
end:
    if (st != SM_OK) {
        sm_wetland_rates_destroy(w);
        return st;
    }
    *out = w;
    return SM_OK;
}

void sm_wetland_rates_destroy(sm_wetland_rates *w)
{
    if (!w)
        return;
    sm_table_destroy(w->t);
    free(w->types);
    free(w);
}

const char *sm_wetland_rates_sha256(const sm_wetland_rates *w) { return sm_table_sha256(w->t); }
const char *sm_wetland_rates_path(const sm_wetland_rates *w) { return sm_table_name(w->t); }

const sm_wetland_type *sm_wetland_find(const sm_wetland_rates *w, const char *dilei)
{
    const sm_wetland_type *best = NULL;
    size_t best_len = 0;
    if (!dilei)
        return NULL;
    for (size_t i = 0; i < w->n; i++) {
        size_t l = strlen(w->types[i].code_prefix);
        if (l > best_len && strncmp(dilei, w->types[i].code_prefix, l) == 0) {
            best = &w->types[i];
            best_len = l;
        }
    }
    return best;
}

int sm_gwp_ch4(const char *name, double *gwp)
{
    static const struct {
        const char *name;
        double v;
    } sets[] = {{"AR4", 25.0}, {"AR5", 28.0}, {"AR6", 27.0}};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (name && strcmp(name, sets[i].name) == 0) {
            *gwp = sets[i].v;
            return 0;
        }
    return -1;
}
