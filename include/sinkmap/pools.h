/* sinkmap/pools.h: carbon storage maps by land-cover class, compatible with the InVEST Carbon
 * model (Natural Capital Project): a lucode raster and a pools table give storage per pixel, the
 * change to an alternate map, and totals. Streams the rasters strip by strip. */
#ifndef SINKMAP_POOLS_H
#define SINKMAP_POOLS_H

#include <stddef.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The pools table ------------------------------------------------------------------------
 * A user's InVEST-style CSV: columns lucode, c_above, c_below, c_soil, c_dead (t C/ha), found
 * ignoring case; other columns (name, source, verified, ...) are ignored. Lenient where InVEST
 * is, strict where a wrong number could slip through: every row needs a whole-number lucode and
 * four numbers >= 0 (empty cells are errors: write 0 for an absent pool), and a lucode may appear
 * once. This is not sm_params_load_pools(), which also demands source and verified columns. */
typedef struct sm_pools_table sm_pools_table;

/* Reads the table at path. Errors (SM_ERR_INPUT) name the file, line, column and value. Caller
 * frees *out with sm_pools_table_destroy(). */
sm_status sm_pools_table_read(sm_pools_table **out, sm_context *ctx, const char *path);
/* Frees the table; NULL is a no-op. */
void sm_pools_table_destroy(sm_pools_table *t);
size_t sm_pools_table_count(const sm_pools_table *t);
/* Storage of a class: c_above + c_below + c_soil + c_dead (t C/ha). Returns 1 and sets *storage
 * when the table has the lucode, 0 otherwise. */
int sm_pools_table_storage(const sm_pools_table *t, long lucode, double *storage);

/* ---- The maps ------------------------------------------------------------------------------- */

/* The nodata value of every raster written (InVEST's convention). Storage is never negative, so
 * it is unambiguous there; a change of exactly −1 t C/ha (after rounding to Float32) is
 * indistinguishable from nodata in c_change_bas_alt.tif: such pixels are counted, reported in a
 * warning and in summary.csv (row change,minus_one), and still enter the change total. */
#define SM_POOLS_NODATA (-1.0)

typedef struct sm_pools_options {
    int version;
    const char *alt; /* an alternate LULC raster on the same grid, or NULL */
} sm_pools_options;
#define SM_POOLS_OPTIONS_INIT {1, NULL}

/* Totals of a run (t C, ha, pixels), also written to summary.csv. */
typedef struct sm_pools_totals {
    double pixel_area_m2;
    double bas_pixels, alt_pixels, change_pixels; /* pixels with data (change: in both maps) */
    double bas_t, alt_t, change_t;                /* Σ t C/ha × pixel area / 10,000 */
    double change_minus_one;                      /* change pixels equal to the nodata −1 */
} sm_pools_totals;

/* Writes into the folder out_dir:
 *   c_storage_bas.tif                     storage of `lulc`, t C/ha
 *   c_storage_alt.tif, c_change_bas_alt.tif   with opt->alt: storage of alt, and alt − bas
 *   summary.csv                           per lucode and in total, see below
 * as Float32 Cloud-Optimized GeoTIFFs on the LULC grid, nodata SM_POOLS_NODATA; a pixel whose
 * lucode is nodata is nodata (in the change map: when nodata in either map).
 * Totals = Σ pixel storage (t C/ha) × pixel area (m²) / 10,000, from the table's values in double
 * precision (not the Float32 pixels). summary.csv has the columns
 *   scenario,lucode,pixels,area_ha,area_mu,c_storage_t_ha,c_total_t
 * with one row per lucode found in either map for bas (and alt), a row lucode=nodata (pixels
 * without data), a row lucode=all (totals), and with alt the rows change,all (pixels with data in
 * both maps, alt − bas total) and change,minus_one (pixels whose change reads as nodata).
 * Checks before writing anything: the LULC is on a projected CRS (the pixel area needs linear
 * units), alt is on the same grid and CRS, every pixel is a whole number, and every lucode found
 * in either map has a row in the table; the error (SM_ERR_INPUT) lists every missing lucode with
 * the map(s) it is in. Everything is written to a staging folder beside out_dir that replaces it
 * only when all succeeded, so a failure leaves an existing out_dir untouched; an existing out_dir
 * that holds files other than these outputs is refused (SM_ERR_INPUT) rather than replaced.
 * totals may be NULL. */
sm_status sm_pools_run(sm_context *ctx, const char *lulc, const char *pools_csv,
                       const sm_pools_options *opt, const char *out_dir, sm_pools_totals *totals);

#ifdef __cplusplus
}
#endif
#endif
