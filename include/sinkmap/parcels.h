/* sinkmap/parcels.h: inventory sub-compartments (小班) read from any OGR layer.
 * Geometries are repaired with GEOS (make-valid, the repair noted per parcel), kept in the
 * layer's CRS, and projected with PROJ onto each raster's CRS on demand; the attributes the
 * job maps (county, species, volume, ...) are read as UTF-8 whatever the file's encoding. */
#ifndef SINKMAP_PARCELS_H
#define SINKMAP_PARCELS_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/context.h"
#include "sinkmap/coverage.h"
#include "sinkmap/job.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sm_parcels sm_parcels;

typedef struct sm_parcels_options {
    int version;
    const char *encoding; /* "GBK", "UTF-8", ...; NULL or "" = the .cpg or the driver's default */
    const char *layer;    /* NULL = the first layer */
    /* Field name for each role (NULL = not mapped). Every mapped field must exist. */
    const char *fields[SM_FIELD_COUNT];
    int threads; /* threads that check and repair the geometries; 0 = all cores */
} sm_parcels_options;
#define SM_PARCELS_OPTIONS_INIT {1, NULL, NULL, {NULL}, 0}

/* Reads every feature of the layer. Errors (SM_ERR_INPUT) name the file and the field:
 * missing file, no polygon layer, no CRS, a mapped field that does not exist (listing the
 * fields it has). Caller frees with sm_parcels_destroy(). */
sm_status sm_parcels_open(sm_parcels **out, sm_context *ctx, const char *path,
                          const sm_parcels_options *opt);
void sm_parcels_destroy(sm_parcels *p);

size_t sm_parcels_count(const sm_parcels *p);
const char *sm_parcels_path(const sm_parcels *p);
const char *sm_parcels_layer_name(const sm_parcels *p);
const char *sm_parcels_encoding(const sm_parcels *p); /* the encoding used ("" = default) */
const char *sm_parcels_crs_wkt(const sm_parcels *p);
int64_t sm_parcels_fid(const sm_parcels *p, size_t i);
/* A mapped attribute as UTF-8 ("" when the role is unmapped or the value is null). */
const char *sm_parcels_str(const sm_parcels *p, size_t i, sm_field_role role);
/* A mapped attribute as a number (NAN when unmapped, null, or not a number). */
double sm_parcels_num(const sm_parcels *p, size_t i, sm_field_role role);
/* Planimetric area in the layer's CRS units² (after repair; 0 for an empty geometry). */
double sm_parcels_area(const sm_parcels *p, size_t i);
/* "" or a short note of the repair made ("made valid: Self-intersection[...]"). */
const char *sm_parcels_repair(const sm_parcels *p, size_t i);
size_t sm_parcels_repaired_count(const sm_parcels *p);

/* The parcels' polygons in another CRS. */
typedef struct sm_parcel_geoms sm_parcel_geoms;

/* Projects every parcel into the CRS `wkt` (with the traditional GIS axis order). Errors name
 * both CRSs when no transformation exists. When `wkt` is the parcels' own CRS the result
 * shares their coordinates (no copy), so it must be destroyed before `p`. Caller frees with
 * sm_parcel_geoms_destroy(). */
sm_status sm_parcels_project(sm_parcel_geoms **out, sm_context *ctx, const sm_parcels *p,
                             const char *wkt);
void sm_parcel_geoms_destroy(sm_parcel_geoms *g);
/* Parcel i's parts (NULL, 0 parts for an empty geometry); owned by g. */
const sm_polygon *sm_parcel_geoms_parts(const sm_parcel_geoms *g, size_t i, size_t *nparts);
/* Parcel i's bounding box; returns 0 for an empty geometry. */
int sm_parcel_geoms_bbox(const sm_parcel_geoms *g, size_t i, double *xmin, double *ymin,
                         double *xmax, double *ymax);

#ifdef __cplusplus
}
#endif
#endif
