/* sinkmap/wetland.h: wetland carbon accumulation and methane by wetland type.
 * Wetland parcels (by their inventory land class) accumulate carbon at a rate per hectare and
 * emit CH4, reported apart from CO2 (IPCC 2013 Wetlands Supplement); the CO2 equivalent of CH4
 * depends on a named GWP set. Rates come from data/wetland_rates.csv, every row with a source. */
#ifndef SINKMAP_WETLAND_H
#define SINKMAP_WETLAND_H

#include <stddef.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sm_wetland_rates sm_wetland_rates;

typedef struct sm_wetland_type {
    const char *code_prefix; /* DI_LEI prefix, longest wins */
    const char *type, *name_zh;
    double c_rate, c_rate_u95;  /* t C/ha/yr accumulated, U95 % */
    double ch4, ch4_u95;        /* kg CH4/ha/yr emitted, U95 % */
    const char *source;
    int verified;
} sm_wetland_type;

/* Loads wetland_rates.csv from data_dir. Caller frees with sm_wetland_rates_destroy(). */
sm_status sm_wetland_rates_load(sm_wetland_rates **out, sm_context *ctx, const char *data_dir);
void sm_wetland_rates_destroy(sm_wetland_rates *w);
/* The table's SHA-256 (owned). */
const char *sm_wetland_rates_sha256(const sm_wetland_rates *w);
const char *sm_wetland_rates_path(const sm_wetland_rates *w);
/* The type whose code_prefix is the longest prefix of dilei, or NULL (not a wetland). */
const sm_wetland_type *sm_wetland_find(const sm_wetland_rates *w, const char *dilei);

/* A named GWP100 set for CH4: "AR4" 25, "AR5" 28 (without climate-carbon feedbacks),
 * "AR6" 27.0 (non-fossil CH4). Returns 0 and sets *gwp, or -1 for an unknown name. */
int sm_gwp_ch4(const char *name, double *gwp);

#ifdef __cplusplus
}
#endif
#endif
