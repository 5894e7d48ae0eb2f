/* sinkmap/results.h: a table of per-parcel results, and its writers (parcel layer, CSV).
 * The parcel layer is the input layer with every attribute unchanged plus the result fields
 * (names of at most 10 characters, so a Shapefile can carry them), in the input's CRS. */
#ifndef SINKMAP_RESULTS_H
#define SINKMAP_RESULTS_H

#include <stddef.h>

#include "sinkmap/context.h"
#include "sinkmap/parcels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sm_result_type { SM_RESULT_REAL = 0, SM_RESULT_INT = 1, SM_RESULT_TEXT = 2 } sm_result_type;

typedef struct sm_result_field {
    char name[64];       /* the pipeline's own names have at most 10 characters (Shapefile) */
    sm_result_type type;
    const char *unit;    /* "ha", "t C", "" ... (static) */
    const char *meaning; /* one line (static) */
} sm_result_field;

typedef struct sm_results {
    size_t nrows, nfields, cap_fields; /* cap_fields: room in `fields`, `num` and `text` */
    sm_result_field *fields;           /* nfields used */
    double **num;  /* num[k][i]: field k of row i (NAN = null); a column is added without copying */
    char ***text;  /* text[k][i] (NULL = null); text[k] is NULL until field k holds text */
    int threads;   /* threads the CSV writers may format rows on (0 = one per core) */
} sm_results;

/* Creates a table for nrows parcels with no fields. Caller frees with sm_results_destroy(). */
sm_status sm_results_create(sm_results **out, sm_context *ctx, size_t nrows);
void sm_results_destroy(sm_results *r);
/* Adds a field; returns its column in *col. Names longer than 63 characters are an internal
 * error. Values start null. */
sm_status sm_results_add(sm_results *r, sm_context *ctx, const char *name, sm_result_type type,
                         const char *unit, const char *meaning, size_t *col);
void sm_results_set(sm_results *r, size_t row, size_t col, double v);
/* Copies text (NULL = null). */
sm_status sm_results_set_text(sm_results *r, sm_context *ctx, size_t row, size_t col, const char *text);
double sm_results_get(const sm_results *r, size_t row, size_t col);
/* Column of a field by name, or -1. */
long sm_results_find(const sm_results *r, const char *name);

/* Writes the parcel layer: driver "GPKG" or "ESRI Shapefile". Re-reads the parcels' file
 * (same encoding), copies every feature with its attributes and geometry, and adds the
 * result fields. A GeoPackage also gets a table `sinkmap_fields` (name, meaning, unit). */
sm_status sm_results_write_layer(const sm_results *r, sm_context *ctx, const sm_parcels *p,
                                 const char *path, const char *driver);
/* As sm_results_write_layer, for the parcels whose keep[i] is non-zero only (keep NULL: all). */
sm_status sm_results_write_layer_subset(const sm_results *r, sm_context *ctx, const sm_parcels *p,
                                        const char *path, const char *driver, const unsigned char *keep);
/* Writes a CSV (UTF-8 with BOM): fid, the mapped key fields of `keys` (roles), then the
 * result fields in full precision. */
sm_status sm_results_write_csv(const sm_results *r, sm_context *ctx, const sm_parcels *p,
                               const sm_field_role *keys, size_t nkeys, const char *path);

/* Writes a CSV (UTF-8, no BOM) whose first column is the parcel id: the field mapped to
 * SM_FIELD_ID when there is one (headed by that field's name), else the feature id ("fid");
 * then the result fields in full precision (shortest round-trip). */
sm_status sm_results_write_csv_by_id(const sm_results *r, sm_context *ctx, const sm_parcels *p,
                                     const char *id_field, const char *path);

#ifdef __cplusplus
}
#endif
#endif
