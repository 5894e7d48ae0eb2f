/* sinkmap/train.h: supervised classification of raster stacks (the GDAL side of model.h).
 * A stack is the bands of one or more rasters in file order plus optional spectral indices;
 * training samples are its pixels under labelled polygons (pixel centre inside) or points;
 * a trained model is applied to the stack strip by strip into a class map. */
#ifndef SINKMAP_TRAIN_H
#define SINKMAP_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sinkmap/accuracy.h"
#include "sinkmap/context.h"
#include "sinkmap/grid.h"
#include "sinkmap/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Feature stacks ------------------------------------------------------------------------ */

typedef struct sm_stack sm_stack;

typedef struct sm_stack_options {
    int version;
    /* The role of every band, in file order, comma-separated: blue, green, red, nir, swir1,
     * swir2, or "-" for none (NULL: no roles). Roles name the features ("b4:nir") and let
     * indices be computed. */
    const char *roles;
    /* Indices appended as features, comma-separated: ndvi (red, nir), ndwi (green, nir),
     * mndwi (green, swir1), ndbi (nir, swir1); NULL: none. They are computed on the values as
     * read (normalized differences do not depend on a common scale factor). */
    const char *indices;
} sm_stack_options;
#define SM_STACK_OPTIONS_VERSION 1
#define SM_STACK_OPTIONS_INIT {SM_STACK_OPTIONS_VERSION, NULL, NULL}

/* Opens the rasters; the first one's grid and CRS are the stack's (the others are resampled
 * onto it bilinearly when their grid differs, warped when their CRS differs). Features: every
 * band of every raster ("b1".."bN" numbered across the files, with ":role" when a role is
 * given), then the indices. Errors (SM_ERR_INPUT) name the file, the role or the index. Caller
 * frees *out with sm_stack_close(). */
sm_status sm_stack_open(sm_stack **out, sm_context *ctx, const char *const *paths, size_t npaths,
                        const sm_stack_options *opt);
void sm_stack_close(sm_stack *s);
int sm_stack_nfeatures(const sm_stack *s);
/* p names, owned by the stack. */
const char *const *sm_stack_feature_names(const sm_stack *s);
sm_grid sm_stack_grid(const sm_stack *s);
const char *sm_stack_wkt(const sm_stack *s);
/* Reads the features of window `win` of the stack's grid into out[win cells * p] (pixel-major:
 * the p features of pixel 0, then pixel 1, ...); NaN where a band has no data. */
sm_status sm_stack_read(sm_stack *s, sm_context *ctx, const sm_window *win, float *out);

/* ---- Samples from a reference layer -------------------------------------------------------- */

typedef struct sm_reference_options {
    int version;
    const char *field; /* the class field (required) */
    const char *layer; /* NULL: the first layer */
} sm_reference_options;
#define SM_REFERENCE_OPTIONS_VERSION 1
#define SM_REFERENCE_OPTIONS_INIT {SM_REFERENCE_OPTIONS_VERSION, NULL, NULL}

/* The pixels of the stack under every labelled feature of a layer: for polygons each pixel
 * whose centre lies inside, for points the pixel holding the point (a layer in another CRS
 * is reprojected onto the stack's). Pixels with no data in a band are skipped. Sample groups
 * are the features' indices in the layer. classes (k sorted names) fixes the class list; NULL
 * takes the sorted distinct labels of the layer. Features whose label is empty or not in
 * `classes` are skipped with a warning naming the labels. Errors (SM_ERR_INPUT) name the
 * file and the field (listing the fields the layer has). Caller frees *out with
 * sm_samples_destroy(). */
sm_status sm_reference_sample(sm_samples **out, sm_context *ctx, sm_stack *stack,
                              const char *path, const sm_reference_options *opt, int k,
                              const char *const *classes);

/* ---- Class maps ---------------------------------------------------------------------------- */

typedef struct sm_classify_map_options {
    int version;
    int threads;                 /* 0: one per core; the map does not depend on it */
    const char *confidence_path; /* NULL: none; else a Float32 GeoTIFF, NaN where no data */
} sm_classify_map_options;
#define SM_CLASSIFY_MAP_OPTIONS_VERSION 1
#define SM_CLASSIFY_MAP_OPTIONS_INIT {SM_CLASSIFY_MAP_OPTIONS_VERSION, 0, NULL}

/* Classifies every pixel of the stack into a Byte class map at map_path on the stack's grid:
 * class i of the model is code i + 1 (with the class name as its category name and the
 * legend's colour when the name is a legend key such as "water", else a palette colour),
 * rejected pixels sm_model_unclassified_code(), no data 0 (nodata). The model's features must
 * be the stack's (SM_ERR_INPUT naming the first difference). *seconds (may be NULL) receives
 * the wall time of the pass. */
sm_status sm_classify_map(sm_context *ctx, sm_stack *stack, const sm_model *model,
                          const char *map_path, const sm_classify_map_options *opt,
                          double *seconds);

/* ---- Accuracy on reference samples --------------------------------------------------------- */

/* Prints the confusion matrix counts[(k+1)*k] (sm_model_confusion) with overall accuracy,
 * Cohen's kappa, and user's and producer's accuracy per class (sample counts, not
 * area-weighted), under the heading `title`. */
void sm_confusion_print(FILE *out, const sm_model *m, const double *counts, const char *title);
/* Writes the same as tidy CSV rows "set,class,reference,measure,value" (appending to an
 * open file; `set` names the sample set, e.g. "holdout" or "test"). */
void sm_confusion_csv(FILE *out, const sm_model *m, const double *counts, const char *set);

/* ---- Accuracy of a land-cover map against a reference layer (`sinkmap accuracy`) ----------- */

typedef struct sm_map_accuracy_options {
    int version;
    const char *field; /* the reference class field: legend codes or names (required) */
    const char *layer; /* NULL: the first layer */
} sm_map_accuracy_options;
#define SM_MAP_ACCURACY_OPTIONS_VERSION 1
#define SM_MAP_ACCURACY_OPTIONS_INIT {SM_MAP_ACCURACY_OPTIONS_VERSION, NULL, NULL}

/* Compares a sinkmap land-cover map (one band of legend codes, projected CRS) with reference
 * points or polygons in any CRS (reprojected onto the map's): points take the pixel under
 * them, polygons every pixel whose centre lies inside (one sample per pixel; the polygon is
 * the sample group). Reference labels are legend codes 1-10 or names (sm_legend_parse).
 * Strata are the map's codes 1-10; pixels of no data (0) and cloud (11) count in no area and
 * samples on them are left out (with a warning). Mapped areas are the map's pixel counts ×
 * the cell area over the whole map. Classes: every stratum with mapped pixels, and every
 * reference class (a class never mapped is a reference-only column). The result is the
 * Olofsson et al. (2014) report of sm_accuracy_compute, named by legend keys, written with
 * sm_area_result_write. Errors (SM_ERR_INPUT): a missing field (listing the layer's fields),
 * an unknown class (listing the legend), a value that is not a legend code, a geographic
 * CRS, a map class with fewer than 2 samples. Caller frees *out with sm_area_result_destroy(). */
sm_status sm_map_accuracy(sm_area_result **out, sm_context *ctx, const char *map_path,
                          const char *ref_path, const sm_map_accuracy_options *opt);

#ifdef __cplusplus
}
#endif
#endif
