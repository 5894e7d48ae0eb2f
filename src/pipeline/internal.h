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
    double (*lc_pixels)[SM__NCODES]; /* nscenes: pixels of each legend code in the land cover */
    sm__drone_acc *dacc;    /* nparcels * ndrones */
    int threads;
    struct sm__finisher *finisher; /* a scene's land cover being made a COG while the next is read */
    double t_start;
    double t_scenes, t_drones, t_carbon, t_outputs; /* seconds */
    size_t cells_read;
} sm__plan;

/* Runs the scene pass for scene s: land cover written to `lc_path`, accumulators filled. */
sm_status sm__scene_pass(sm_context *ctx, sm__plan *plan, size_t s, const char *lc_path);

/* ---- Supervised classification in the run (scene_pass.c, supervise.c) ---------------------- */

/* The features of a scene for the supervised classifiers: the reflectance of every role the
 * scene has (blue, green, red, nir, swir1, swir2 order), then every index its roles allow
 * (ndvi, evi, ndwi, mndwi, ndbi, nbr order; NDMI is exactly −NDBI and is not repeated): the
 * scene's own p_own features. With [classifier] features = stack, the scenes dated within
 * stack_days of it (its partners, in job order) follow: each partner's reflectances
 * ("<t>:red") and the seasonal differences of the indices both scenes have, this scene's minus
 * the partner's ("<s>-<t>:ndvi"). The partner's own indices are not repeated: each is this
 * scene's index minus the difference, and with both maximum likelihood's covariance would be
 * singular. A pixel the partner does not observe (no data or masked) has NaN partner
 * features. With drone = yes two features close the list: "drone:canopy_cover", the share of
 * the CHM samples at least canopy_height tall, and "drone:canopy_height", their mean (m), from
 * the flight nearest in date that covers at least half of the cell; NaN elsewhere. */
enum { SM__IDX_NDVI, SM__IDX_EVI, SM__IDX_NDWI, SM__IDX_MNDWI, SM__IDX_NDBI, SM__IDX_NBR,
       SM__IDX_NDMI, SM__NINDEX };
#define SM__OWN_FEAT (SM__NROLES + SM__NINDEX)
#define SM__MAX_PARTNERS SM_JOB_MAX_PARTNERS
#define SM__MAX_FEAT (SM__OWN_FEAT * (1 + SM__MAX_PARTNERS) + 2)
typedef struct sm__partner {
    size_t scene;                     /* index in plan->scenes */
    int nroles, role[SM__NROLES];     /* its reflectance features */
    int ndiff, diff[SM__NINDEX];      /* indices differenced (both scenes have them) */
} sm__partner;
typedef struct sm__features {
    int p, p_own;
    int drone; /* 1: the last two features are the drone canopy cover and height (drone = yes) */
    int nroles, role[SM__NROLES];
    int nindex, index[SM__NINDEX];
    int npart;
    sm__partner part[SM__MAX_PARTNERS];
    const char *names[SM__MAX_FEAT]; /* static strings, or into namebuf */
    char namebuf[SM__MAX_FEAT * 48];
} sm__features;
/* The features of scene s as the job's [classifier] features says. Errors (SM_ERR_INPUT)
 * when a stack would have more than SM__MAX_PARTNERS partners. */
sm_status sm__features_init(sm__features *f, sm_context *ctx, const sm__plan *plan, size_t s);

/* Labelled features that training samples come from: polygons (cells wholly inside, or with
 * the centre inside) or points (the cell under the point). */
typedef struct sm__labels {
    const struct sm_parcel_geoms *geoms; /* polygons in the grid's CRS, or NULL */
    const double *xy;                    /* else points in the grid's CRS (2n; NaN = none) */
    size_t n;
    const int *code; /* legend land-cover code of each feature, 0 = not labelled */
    int center;      /* polygons: 1 = cells whose centre is inside; 0 = cells wholly inside */
    const double *area_m2; /* polygons' areas in the grid's CRS, or NULL: no thinning */
    double budget;         /* > 0: thin a class expected to hold more pixels to about this many */
    uint64_t seed;         /* of the thinning draw */
} sm__labels;

/* A trained model applied in the scene pass. With partner scenes, `model` classifies the pixels
 * whose every feature is finite and `fallback` (trained on the scene's own features) the others;
 * without partners `model` classifies every observed pixel. */
struct sm_model;
typedef struct sm__scene_model {
    const struct sm_model *model;    /* may be NULL when only the fallback could be trained */
    const struct sm_model *fallback; /* own features; NULL without partners */
    int code[SM__NCODES];            /* legend code of model class c (c < model classes) */
    int fb_code[SM__NCODES];         /* of fallback class c */
    const char *conf_path;           /* confidence GeoTIFF (Float32, NaN nodata), or NULL */
    double pixels[SM__NCODES];       /* out: pixels of each code in the map */
    double fb_pixels;                /* out: observed pixels classified by the fallback */
} sm__scene_model;

/* The scene pass with a model (NULL: the rules). Cloud-masked pixels stay code 11 and pixels
 * without data 0 whatever the model says; a pixel the model rejects or cannot classify (a
 * missing coarse band) is 10. */
sm_status sm__scene_pass_model(sm_context *ctx, sm__plan *plan, size_t s, const char *lc_path,
                               sm__scene_model *model);
/* Training samples of scene s under `lab`: pixels with data, not masked, every own feature
 * finite (partner features may be NaN where a partner does not observe the pixel);
 * classes are the legend keys of codes 1-9 (sorted), groups the feature indices. The samples
 * are in grid order whatever the thread count. Caller frees *out with sm_samples_destroy(). */
struct sm_samples;
sm_status sm__scene_collect(sm_context *ctx, sm__plan *plan, size_t s, const sm__labels *lab,
                            struct sm_samples **out);
/* Land cover of scene s as the job's [classifier] says: the rules, or a model trained on the
 * scene (labels from inv_code, the legend code of each parcel's inventory land class, or from
 * the job's sample layer) writing landcover_<s>.tif, confidence_<s>.tif and accuracy_<s>.csv
 * into `stage` (supervise.c). */
sm_status sm__scene_landcover(sm_context *ctx, sm__plan *plan, size_t s, const char *stage,
                              const int *inv_code);
/* Waits for the last scene's Cloud-Optimized GeoTIFFs (written on a thread of their own while
 * the next scene is read, when the run has more than one thread); returns their status. Call
 * after the last scene, and before anything reads the land covers; safe to call when none is
 * pending. */
sm_status sm__scene_finish_wait(sm_context *ctx, sm__plan *plan);
/* Runs the drone pass for drone d. */
sm_status sm__drone_pass(sm_context *ctx, sm__plan *plan, size_t d);

/* The Olofsson report from a sample matrix of legend codes, counts[SM__NCODES²] (map code
 * row, reference code column), and mapped pixels[SM__NCODES] of cell_m2 m² each: the classes
 * are the codes 1..10 with pixels or reference samples (map_accuracy.c). Caller frees *out
 * with sm_area_result_destroy(). */
struct sm_area_result;
sm_status sm__accuracy_from_codes(struct sm_area_result **out, sm_context *ctx,
                                  const double *counts, const double *pixels, double cell_m2,
                                  const char *source, const char *map_path, const char *ref_path);

/* A labelled reference layer (train.c): points read from OGR, or polygons through
 * sm_parcels (repaired, projected); labels trimmed. */
typedef struct sm__ref_layer {
    int is_points;
    size_t n;
    char **labels; /* n, "" for a null label */
    double *xy;    /* points: 2n in the target CRS, NaN when empty or not transformable */
    sm_parcels *parcels;
    sm_parcel_geoms *geoms; /* polygons in the target CRS */
} sm__ref_layer;
struct sm_reference_options;
/* Reads the layer's features and class field (opt->field, opt->layer) into the CRS `wkt`.
 * Errors name the file and the field (listing the fields). Free with sm__ref_layer_free(). */
sm_status sm__ref_layer_read(sm__ref_layer *r, sm_context *ctx, const char *path,
                             const struct sm_reference_options *opt, const char *wkt);
void sm__ref_layer_free(sm__ref_layer *r);

/* Rows per strip for a grid of `ncols` columns: about 4 million cells, 16..512 rows. */
int64_t sm__strip_rows(int64_t ncols);

/* An ordered pipeline over n items (strips of a pass, src/pipeline/pipe.c): `threads` workers
 * each take the next item as soon as they are free, at most 2 × threads items ahead of the
 * merge, and compute it into a slot of its own; the calling thread merges the items strictly in
 * order (so the sums come out the same for any number of threads) while the workers go on. With
 * one thread it computes and merges each item in turn. A worker's failure (its context holds the
 * message) or a merge's stops the pipeline and is returned, the worker's message on `ctx`. */
typedef struct sm__pipe_ops {
    void *arg;
    /* item m into slot k (k < sm__pipe_slots(threads)), on worker t */
    sm_status (*work)(void *arg, int t, size_t m, size_t k);
    /* item m, from slot k, on the calling thread, in item order */
    sm_status (*merge)(void *arg, sm_context *ctx, size_t m, size_t k);
    /* worker t's context (for the message of a failure) */
    sm_context *(*worker_ctx)(void *arg, int t);
} sm__pipe_ops;

size_t sm__pipe_slots(int threads);

/* The rows [row0, row1) of the grid that item idx covers. */
typedef struct sm__rowspan {
    size_t idx;
    int64_t row0, row1;
} sm__rowspan;

/* For strips of `strip` rows (nstrips of them), the items crossing each: strip q's are
 * (*bucket)[(*bstart)[q] .. (*bstart)[q + 1]), in the order of `items`. Caller frees both. */
sm_status sm__strip_lists(sm_context *ctx, const sm__rowspan *items, size_t n, int64_t strip, int64_t nstrips,
                          size_t **bstart, size_t **bucket);
sm_status sm__pipe_run(sm_context *ctx, size_t n, int threads, const sm__pipe_ops *ops);

#endif
