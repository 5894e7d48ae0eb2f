/* sinkmap/bamboo.h: bamboo carbon by culm count. Bamboo has no stem volume: where the inventory
 * gives the number of culms per hectare, biomass = culms × mean dry biomass per culm of the
 * bamboo species (data/bamboo_culms.csv, every row with a source), then roots and CF. */
#ifndef SINKMAP_BAMBOO_H
#define SINKMAP_BAMBOO_H

#include <stddef.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sm_bamboo_table sm_bamboo_table;

/* One bamboo species: mean culm dry biomass and the factors that turn it into carbon. */
typedef struct sm_bamboo_species {
    const char *key;     /* "moso" */
    const char *name_zh; /* "毛竹" */
    const char *name_en;
    double culm_kg, culm_u95; /* above-ground dry biomass per culm, kg; U95 % */
    double r, r_u95;          /* below-ground (rhizome + roots) to above-ground ratio */
    double cf, cf_u95;        /* carbon fraction of dry matter */
    const char *source;
    int verified;
    long line; /* line in the file */
} sm_bamboo_species;

/* Loads bamboo_culms.csv from data_dir (columns key, name_zh, name_en, culm_kg, culm_u95_pct, r,
 * r_u95_pct, cf, cf_u95_pct, source, verified). Errors name the file, line and value: a number
 * out of range (culm_kg > 0, r ≥ 0, 0 < cf ≤ 1, U95 ≥ 0), a duplicate key or name, an empty
 * source. Caller frees with sm_bamboo_table_destroy(). */
sm_status sm_bamboo_table_load(sm_bamboo_table **out, sm_context *ctx, const char *data_dir);
void sm_bamboo_table_destroy(sm_bamboo_table *t);
const char *sm_bamboo_table_path(const sm_bamboo_table *t);
const char *sm_bamboo_table_sha256(const sm_bamboo_table *t);
size_t sm_bamboo_count(const sm_bamboo_table *t);
const sm_bamboo_species *sm_bamboo_at(const sm_bamboo_table *t, size_t i);

/* The species whose key or Chinese name equals the trimmed name. An unknown or empty name is
 * SM_ERR_INPUT listing up to three closest known names. *out is owned by t. */
sm_status sm_bamboo_find(const sm_bamboo_table *t, sm_context *ctx, const char *name,
                         const sm_bamboo_species **out);

/* Carbon density (t C/ha) of a bamboo stand of culms_per_ha culms:
 *   above = culms × culm_kg / 1000 × CF,  below = above × R,  total = above + below.
 * u95_pct is Approach 1's product rule over culm_kg, (1 + R) and CF (the culm count exact).
 * SM_ERR_INPUT when culms_per_ha is missing or negative. */
typedef struct sm_bamboo_carbon {
    double above, below, total, u95_pct;
} sm_bamboo_carbon;
sm_status sm_bamboo_carbon_from_culms(sm_context *ctx, const sm_bamboo_species *sp,
                                      const char *parcel, double culms_per_ha,
                                      sm_bamboo_carbon *out);

#ifdef __cplusplus
}
#endif
#endif
