/* sinkmap/job.h: a seasonal job as read from its INI file.
 * The job names the parcels and their field mapping, each season's rasters with band roles,
 * drone rasters, the classifier and the carbon settings. Paths are resolved against the
 * job file's folder. examples/nanchong-demo/job.ini documents every key. */
#ifndef SINKMAP_JOB_H
#define SINKMAP_JOB_H

#include <stddef.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parcel fields a job may map (field.<key> = NAME in [parcels]). */
typedef enum sm_field_role {
    SM_FIELD_ID = 0,
    SM_FIELD_COUNTY,
    SM_FIELD_TOWNSHIP,
    SM_FIELD_VILLAGE,
    SM_FIELD_COMPARTMENT,
    SM_FIELD_SUBCOMPARTMENT,
    SM_FIELD_LAND_CLASS,
    SM_FIELD_SPECIES,
    SM_FIELD_ORIGIN,
    SM_FIELD_AGE,
    SM_FIELD_VOLUME,
    SM_FIELD_AREA,
    SM_FIELD_SURVEY_YEAR,
    SM_FIELD_AGE_GROUP,
    SM_FIELD_CULMS, /* bamboo culms per ha (株/ha) */
    SM_FIELD_COUNT
} sm_field_role;

/* The key of a role in the job file ("county", "township", ...). */
const char *sm_field_role_key(sm_field_role role);

#define SM_JOB_MAX_FILES 8
#define SM_JOB_MAX_ROLES 16
#define SM_JOB_MAX_MASK 32

typedef struct sm_job_file {
    char *tag;                     /* the suffix in raster.<tag> */
    char *path;                    /* resolved path */
    char *roles[SM_JOB_MAX_ROLES]; /* role of band i+1 ("blue", ...; "-" to skip) */
    size_t nroles;
} sm_job_file;

typedef struct sm_job_scene {
    char *id;   /* [scene.<id>] */
    char *date; /* YYYY-MM-DD */
    sm_job_file files[SM_JOB_MAX_FILES];
    size_t nfiles;
    char *mask; /* class-coded mask raster, or NULL */
    int mask_values[SM_JOB_MAX_MASK];
    size_t nmask_values;
    int scale_auto, offset_auto; /* 1: from the file's metadata */
    double scale, offset;        /* reflectance = (DN + offset) * scale */
} sm_job_scene;

typedef struct sm_job_drone {
    char *id;
    char *date;
    char *chm; /* canopy height model, metres */
    double canopy_height; /* cells at least this tall count as canopy */
} sm_job_drone;

/* [classifier] settings of the supervised methods (rf, maxlik). */
typedef struct sm_job_classifier {
    char *samples;           /* a sample layer (points or polygons; resolved path), or NULL:
                                labels from the inventory parcels' land class */
    char *field;             /* the sample layer's class field (legend codes or names) */
    char *model;             /* a saved model applied instead of training (resolved), or NULL */
    long max_per_class;      /* training samples kept per class (default 5000; 0 = all) */
    long min_samples;        /* fewest training samples a class may have (default 30) */
    double test_share;       /* share of parcels (sample features) held out (default 0.3) */
    unsigned long long seed; /* split, cap and forest seed (default 1) */
    int trees, mtry, min_leaf, max_depth; /* rf: 100, 0 = floor(sqrt(p)), 1, 0 = unlimited */
    double reject;           /* maxlik: χ² rejection level (default 0 = never reject) */
    int stack;               /* features = stack: each scene with its partners' features */
#define SM_JOB_MAX_PARTNERS 8 /* partner scenes per scene with features = stack */
    double stack_days;       /* partners: the other scenes dated within this many days (default 200) */
    int drone;               /* drone = yes: drone canopy cover and height on the grid as features */
} sm_job_classifier;

typedef struct sm_job {
    char *path;   /* the job file */
    char *dir;    /* its folder */
    char *name;
    char *output; /* resolved output folder */
    int threads;  /* 0: all cores */

    char *parcels_path;
    char *encoding; /* NULL or "" = from .cpg / driver default */
    char *fields[SM_FIELD_COUNT];
    double default_survey_year; /* [parcels] survey_year, used when no field is mapped */

    sm_job_scene *scenes;
    size_t nscenes;
    sm_job_drone *drones;
    size_t ndrones;

    char *classifier; /* "rules" (default), "rf" or "maxlik" */
    sm_job_classifier cls;

    char *data_dir;       /* parameter tables; NULL = the built-in data folder */
    char *sink_from, *sink_to; /* scene ids */
    double loss_threshold;     /* drop in forest fraction that counts as loss */
    char *gwp;                 /* GWP set for CH4: AR4, AR5 (default), AR6 */
    int pools_soil;            /* include soil carbon in the pools-table carbon (default no) */

    double change_min_forest; /* [change] min_forest: forest fraction below which an inventory
                                 forest parcel is suspected (default 0.5) */
    double change_drop;       /* [change] forest_drop: drop in forest fraction (default 0.2) */
    double change_dnbr;       /* [change] dnbr: dNBR above which a parcel is suspected (default 0.27) */
    size_t mc_draws;      /* [uncertainty] draws (default 1000; 0 = Approach 1 only) */
    unsigned long long mc_seed; /* [uncertainty] seed (default 1) */

    int vm_enabled;           /* [volume_model] enabled = yes */
    char *vm_features;        /* [volume_model] features: comma list (default "ff,nbr") */
    double vm_max_age;        /* [volume_model] max_age_years: an inventory volume this recent is usable (default 5) */
    int vm_folds;             /* [volume_model] folds (default 5) */
    unsigned long long vm_seed; /* [volume_model] seed of the fold split (default 1) */
    char *wetland_protected;  /* [wetland] protected: protected-area polygons, any CRS */
    char *management;         /* [management] path: forest-management records (polygons, any CRS) */
    char *management_year;    /* [management] year_field (default "year") */

    int parcels_shapefile; /* [output] parcels = shapefile: also parcels.shp in the input's encoding */
    int no_maps;           /* [output] maps = no: no PNG maps in maps/ (default yes) */
    int no_report;         /* [output] report = no: no report.html (default yes) */

    char *ledger;    /* [ledger] path; NULL = ledger.sqlite beside the output folder */
    int no_ledger;   /* [ledger] path = none */

    /* [grid]: the analysis grid. Each part left out comes from the first scene's first raster. */
    char *grid_crs;               /* crs: any GDAL/PROJ definition (EPSG:32648, WKT, PROJ string) */
    double grid_res_x, grid_res_y; /* res: cell width and height in the CRS's units (m); 0 = unset */
    int grid_has_extent;           /* extent given */
    double grid_extent[4];         /* xmin, ymin, xmax, ymax in grid_crs, snapped outward to res */
} sm_job;

/* Reads and validates the syntax of a job file. Errors (SM_ERR_INPUT) name the file and the
 * line: unknown sections or keys, malformed values, a missing required key, duplicate scene
 * ids. Files are not opened here (see sm_plan in pipeline.h). Caller frees *out with
 * sm_job_destroy(). */
sm_status sm_job_load(sm_job **out, sm_context *ctx, const char *path);
void sm_job_destroy(sm_job *job);

/* The scene with this id, or NULL. */
const sm_job_scene *sm_job_find_scene(const sm_job *job, const char *id);

/* The data folder: job's data_dir, else $SINKMAP_DATA, else the built-in one. */
const char *sm_job_data_dir(const sm_job *job);

#ifdef __cplusplus
}
#endif
#endif
