/* sinkmap/qml.h: QGIS layer styles (.qml) for sinkmap's outputs.
 * QGIS applies a .qml that sits beside a file with the same base name when it opens the file,
 * so the analyst sees the legend and the classes without styling anything by hand. */
#ifndef SINKMAP_QML_H
#define SINKMAP_QML_H

#include <stddef.h>

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

#ifdef __cplusplus
}
#endif
#endif
