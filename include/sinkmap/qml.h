/* sinkmap/qml.h: QGIS layer styles (.qml) for sinkmap's outputs.
 * QGIS applies a .qml that sits beside a file with the same base name when it opens the file,
 * so the analyst sees the legend and the classes without styling anything by hand. */
#ifndef SINKMAP_QML_H
#define SINKMAP_QML_H

#include <stddef.h>
#include <stdio.h>

#include "sinkmap/context.h"
#include "sinkmap/legend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A paletted raster style: one entry per legend code (0 = nodata is left out), labelled with
 * the Chinese and the English name. */
sm_status sm_qml_write_paletted(sm_context *ctx, const char *path, const sm_legend_entry *legend, size_t n);

/* A graduated polygon style on `expression` (a field name or a QGIS expression): nclasses
 * ranges between breaks[0..nclasses] with fill colours "r,g,b,a"; `title` ends each label. */
sm_status sm_qml_write_graduated(sm_context *ctx, const char *path, const char *expression, const char *title,
                                 const double *breaks, const char *const *colors, size_t nclasses);

/* A categorized polygon style on `field`: category k matches values[k] exactly, is labelled
 * labels[k] and filled with colors[k] ("r,g,b,a"). */
sm_status sm_qml_write_categorized(sm_context *ctx, const char *path, const char *field, const char *const *values,
                                   const char *const *labels, const char *const *colors, size_t n);

/* A classifier confidence raster (Float32, 0..1): grey from black (0) to white (1). */
sm_status sm_qml_write_confidence(sm_context *ctx, const char *path);

/* The renderer elements of the styles above, written to an open stream: a <rasterrenderer>
 * (to sit inside <pipe>) or a <renderer-v2>. The .qgs project writer embeds them per layer. */
void sm_qml_emit_paletted(FILE *f, const sm_legend_entry *legend, size_t n);
void sm_qml_emit_confidence(FILE *f);
void sm_qml_emit_graduated(FILE *f, const char *expression, const char *title, const double *breaks,
                           const char *const *colors, size_t nclasses);
void sm_qml_emit_categorized(FILE *f, const char *field, const char *const *values, const char *const *labels,
                             const char *const *colors, size_t n);

/* sinkmap's own styles, shared by the .qml files, the .qgs project and the PNG maps so that all
 * three show the same classes. Static storage. */
typedef struct sm_style_graduated {
    const char *title;          /* unit that ends each label, e.g. "t C/ha" */
    const double *breaks;       /* n + 1 ascending breaks; ±1e6 stand for open ends */
    const char *const *colors;  /* n fill colours "r,g,b,a" */
    size_t n;
} sm_style_graduated;

typedef struct sm_style_categorized {
    const char *const *values;  /* n exact field values */
    const char *const *labels;  /* n labels, Chinese then English */
    const char *const *colors;  /* n fill colours "r,g,b,a" */
    size_t n;
} sm_style_categorized;

/* The sink per hectare (t CO2e/ha/yr, "sink_co2" / "area_ha"): red for a net emission to green. */
const sm_style_graduated *sm_style_sink(void);
/* The carbon density (t C/ha at a scene date: stand carbon c_<s> or, without a stand, the pools
 * carbon cp_<s>, over area_ha): pale yellow to dark green. */
const sm_style_graduated *sm_style_carbon(void);
/* The suspected changes by `reason`: every combination of forest_below_min, forest_drop and dnbr
 * in the order the run writes them (";"-separated). */
const sm_style_categorized *sm_style_changes(void);
/* The QGIS expression of the carbon density at scene `id` into buf. */
void sm_style_carbon_expression(const char *id, char *buf, size_t size);

/* The label of the range [lo, hi) followed by `title` ("2 to 5 t C/ha"); an end at or beyond
 * ±1e6 reads as open ("< 0 t C/ha", "≥ 80 t C/ha"). The map legends use the same labels. */
void sm_qml_range_label(double lo, double hi, const char *title, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
