/* sinkmap/deliver.h: what the director and the analyst open: the QGIS project, the PNG maps and
 * the offline report, made from the outputs a run has already written into its folder (land
 * cover GeoTIFFs, parcels.gpkg, changes.gpkg, the CSV tables, run.json), never from run state,
 * so that they show exactly what was delivered. */
#ifndef SINKMAP_DELIVER_H
#define SINKMAP_DELIVER_H

#include <stddef.h>

#include "sinkmap/context.h"
#include "sinkmap/job.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Everything below for the outputs in `dir`: changes.qml, parcels_carbon.qml, confidence_<s>.qml
 * beside each confidence map, sinkmap.qgs, the
 * maps in dir/maps/ unless job->no_maps, report.html unless job->no_report. Called once by
 * sm_run on its staging folder after every other output is written; threads as the run's. */
sm_status sm_deliver(sm_context *ctx, const sm_job *job, const char *dir, int threads);

/* One PNG map: its file name inside dir/maps/ and its title. */
typedef struct sm_map_info {
    char file[64];
    char title[192];
} sm_map_info;

/* Fails (SM_ERR_INPUT, naming the font) when fontconfig has no CJK font for the maps' labels.
 * sm_run calls it before any pass when maps are on, so that a run never posts to the ledger and
 * then fails at the maps. */
sm_status sm_maps_preflight(sm_context *ctx);

/* Renders the maps of the outputs in `dir` into dir/maps/ (created): landcover_<s>.png per scene,
 * carbon_<s>.png at the period's end (t C/ha), sink_<from>_<to>.png with a sink period,
 * changes.png when changes.gpkg exists. Each PNG has a world file (.pgw) and a .png.aux.xml
 * with its CRS. With threads > 1 the land-cover maps are drawn on a second thread while the
 * parcel maps are drawn (the same files). Fails (SM_ERR_INPUT) when fontconfig has no CJK font.
 * *maps (caller frees with free()) receives *nmaps entries in drawing order. */
sm_status sm_maps_write(sm_context *ctx, const sm_job *job, const char *dir, int threads, sm_map_info **maps,
                        size_t *nmaps);

/* The parcels of the carbon and sink maps given from memory, so that the maps need not wait for
 * dir/parcels.gpkg: the geometries are read from the parcels' own file and layer (the features
 * sinkmap copies into parcels.gpkg, in the same order), the values per parcel from the arrays
 * (n of them, NaN = no value). */
typedef struct sm_map_parcels {
    const char *path;
    const char *layer;
    size_t n;
    const double *carbon; /* t C/ha at the period's end: sm_map_carbon_per_ha() */
    const double *sink;   /* t CO2e/ha/yr: sm_map_sink_per_ha() */
} sm_map_parcels;
/* The values the maps show, from parcels.gpkg's fields: (c_<s> or cp_<s>, NaN = none, both
 * NaN = no value) / area_ha; sink_co2 / area_ha. NaN where area_ha is not positive. */
double sm_map_carbon_per_ha(double area_ha, double c, double cp);
double sm_map_sink_per_ha(double area_ha, double sink_co2);
/* As sm_maps_write, with the parcels of mp (NULL: dir/parcels.gpkg). The same maps. */
sm_status sm_maps_write_from(sm_context *ctx, const sm_job *job, const char *dir, int threads, const sm_map_parcels *mp,
                             sm_map_info **maps, size_t *nmaps);
/* As sm_deliver, with the maps drawn already (sm_maps_write_from's list; NULL, 0 with no maps). */
sm_status sm_deliver_drawn(sm_context *ctx, const sm_job *job, const char *dir, const sm_map_info *maps, size_t nmaps);

/* Writes dir/sinkmap.qgs: a QGIS project with one group per scene (its land cover, and its
 * confidence_<s>.tif when present) and a group of the parcel layers (carbon density, sink,
 * suspected changes), every path relative to the project, the styles embedded. */
sm_status sm_qgs_write(sm_context *ctx, const sm_job *job, const char *dir);

/* Writes dir/report.html: one self-contained page (inline CSS and SVG, the maps as data: URIs,
 * no script, no external reference) from run.json, indicators.csv, summary.csv, the land-cover
 * GeoTIFFs, every accuracy*.csv, uncertainty.csv and the maps listed. */
sm_status sm_report_write(sm_context *ctx, const sm_job *job, const char *dir, const sm_map_info *maps,
                          size_t nmaps);

#ifdef __cplusplus
}
#endif
#endif
