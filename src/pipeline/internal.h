/* internal.h: state shared by the pipeline's passes (plan, scene pass, drone pass, carbon,
 * outputs). Internal to libsinkmap. One sm__plan is built per run; per-parcel state is a
 * few dozen doubles per scene, so memory is O(parcels × scenes) plus one window of cells. */
#ifndef SINKMAP_PIPELINE_INTERNAL_H
#define SINKMAP_PIPELINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/context.h"
#include "sinkmap/grid.h"
#include "sinkmap/job.h"
#include "sinkmap/parcels.h"
#include "sinkmap/raster.h"

#define SM__NCODES 12 /* legend codes 0..11 (landcover_legend.csv) */
#define SM__CODE_NODATA 0
#define SM__CODE_UNCLASSIFIED 10
#define SM__CODE_CLOUD 11

typedef enum {
    SM__ROLE_BLUE = 0,
    SM__ROLE_GREEN,
    SM__ROLE_RED,
    SM__ROLE_NIR,
    SM__ROLE_SWIR1,
    SM__ROLE_SWIR2,
    SM__NROLES
} sm__role;

extern const char *const SM__ROLE_NAMES[SM__NROLES];

/* Where a band role is read from, and how DN becomes reflectance. */
typedef struct sm__band_src {
    sm_raster *raster; /* borrowed from the scene's rasters; NULL when the role is absent */
    int band;
    double scale, offset; /* refl = (DN + offset) * scale */
    const char *scaling_source;
} sm__band_src;

typedef struct sm__scene {
    const sm_job_scene *job;
    sm_raster *rasters[SM_JOB_MAX_FILES];
    size_t nrasters;
    sm_raster *mask;
    sm__band_src bands[SM__NROLES];
    double decimal_year;
} sm__scene;

/* Per parcel and scene: coverage-weighted cell counts. */
typedef struct sm__scene_acc {
    double cls[SM__NCODES]; /* Σc per legend code (cloud and unclassified included) */
    double nodata;          /* Σc over cells with no data */
    double nbr_sum, nbr_w;  /* Σc·NBR, Σc over cells with a valid NBR */
} sm__scene_acc;

typedef struct sm__drone_acc {
    double sum_h, w, canopy_w, nodata; /* Σc·h, Σc, Σc where h >= canopy height, Σc nodata */
    double cell_area;                 /* m² of one CHM cell */
} sm__drone_acc;

/* Per-parcel results, filled by the carbon step. */
typedef struct sm__parcel_result {
    double area_ha;
    int lc_code;        /* legend code of the inventory land class (0 = unmapped) */
    int forest_stand;   /* 1 when carbon comes from inventory volume */
    const char *group;  /* species group key (owned by params) */
    char flags[96];
} sm__parcel_result;

typedef struct sm__plan {
    const sm_job *job;
    sm_parcels *parcels;
    sm_parcel_geoms *geoms; /* in the analysis grid's CRS */
    size_t nparcels;
    double *parcel_area_grid; /* polygon area in the analysis CRS (m²) */
    sm_grid grid;           /* the analysis grid: the first scene's first raster */
    char *grid_wkt;         /* the analysis grid's CRS (owned) */
    sm__scene *scenes;
    size_t nscenes;
    sm__scene_acc *acc;     /* nparcels * nscenes */
    sm__drone_acc *dacc;    /* nparcels * ndrones */
    int threads;
    double t_start;
    double t_scenes, t_drones, t_carbon, t_outputs; /* seconds */
    size_t cells_read;
} sm__plan;

/* Runs the scene pass for scene s: land cover written to `lc_path`, accumulators filled. */
sm_status sm__scene_pass(sm_context *ctx, sm__plan *plan, size_t s, const char *lc_path);
/* Runs the drone pass for drone d. */
sm_status sm__drone_pass(sm_context *ctx, sm__plan *plan, size_t d);

/* Rows per strip for a grid of `ncols` columns: about 4 million cells, 16..512 rows. */
int64_t sm__strip_rows(int64_t ncols);

#endif
