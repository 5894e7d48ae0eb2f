/* run.c: a seasonal job from plan to outputs.
 * sm_validate opens and checks every input before anything is written; sm_run then makes
 * one pass per scene and per drone raster, computes stock, carbon and sinks per parcel, and
 * writes everything into a staging folder that replaces the output folder only on success. */
#include "sinkmap/pipeline.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "pipeline/internal.h"
#include "sinkmap/bamboo.h"
#include "sinkmap/carbon.h"
#include "sinkmap/deliver.h"
#include "sinkmap/hash.h"
#include "sinkmap/ledger.h"
#include "sinkmap/legend.h"
#include "sinkmap/overlay.h"
#include "sinkmap/qml.h"
#include "sinkmap/results.h"
#include "sinkmap/table.h"
#include "sinkmap/uncertainty.h"
#include "sinkmap/volreg.h"
#include "sinkmap/wetland.h"

/* Per-parcel inventory facts resolved during planning. */
typedef struct stand {
    int lc_code;                       /* legend code of DI_LEI, 0 when empty */
    int is_stand;                      /* tree forest with a volume: carbon from volume */
    const sm_species_group *group;
    const sm_growth_curve *curve;
    sm_origin origin;
    double volume, age;
    int survey_year;
    int model;                         /* tree forest without a usable inventory volume: volume
                                          from the regression ([volume_model]); is_stand is 1 too */
    const sm_bamboo_species *bamboo;   /* bamboo with a culm count: carbon from culms */
    double culms;                      /* culms per ha */
} stand;

#define VM_MAX_SCENES 64
/* The volume model of one scene ([volume_model]), for volume_model.csv. */
typedef struct vm_scene {
    int fitted;
    sm_volreg m;
    size_t applied; /* model parcels that got a volume */
    char note[320]; /* why the scene has no model */
} vm_scene;

typedef struct sm__input {
    char role[64];
    char *path;
    long long bytes;
    char sha256[65];
} sm__input;

typedef struct run_state {
    sm__plan plan;
    sm_unc_result *unc1, *unc2; /* Approach 1 and 2, over the stands (NULL without a sink period) */
    size_t *unc_index;          /* parcel -> row in unc results, SIZE_MAX when not a stand */
    char **unit_names;          /* township of each aggregation unit */
    size_t nunits;
    sm_wetland_rates *wetland;
    double gwp_ch4;
    sm__input *inputs;
    /* The inputs' SHA-256, computed on a thread of its own while the scenes are processed
     * (hash_inputs_start / hash_inputs); rs->inputs is the thread's until it is joined. */
    pthread_t hash_thread;
    int hash_running, hash_done;
    sm_context *hash_ctx;
    sm_status hash_status;
    size_t ninputs;
    char inputs_sha256[65], params_sha256[65];
    char run_id[33];
    size_t ledger_added, ledger_superseded;
    size_t nchanged; /* suspected-change parcels */
    char *ledger_path;
    sm_params *params;
    stand *stands;
    sm_date *dates;
    sm_results *res;
    sm_bamboo_table *bamboo;      /* bamboo_culms.csv, loaded when field.culms is mapped */
    sm_unc_parcel *unc_up;        /* the stands as the uncertainty model sees them */
    size_t unc_n;
    sm_species_group *unc_groups;
    size_t unc_ng;
    sm_unc_options unc_opt;
    char *vm_feat[SM_VOLREG_MAX_FEATURES]; /* [volume_model] features */
    size_t vm_nfeat;
    vm_scene *vm;                 /* [nscenes] when the volume model is enabled */
    sm_parcels *protected_areas;  /* [wetland] protected */
    sm_parcels *mgmt;             /* [management] path */
} run_state;

static void label(const sm_parcels *p, size_t i, char *buf, size_t n)
{
    static const sm_field_role keys[] = {SM_FIELD_COUNTY, SM_FIELD_TOWNSHIP, SM_FIELD_VILLAGE,
                                         SM_FIELD_COMPARTMENT, SM_FIELD_SUBCOMPARTMENT};
    size_t len = (size_t)snprintf(buf, n, "parcel fid %lld", (long long)sm_parcels_fid(p, i));
    int any = 0;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0] && len < n; k++) {
        const char *v = sm_parcels_str(p, i, keys[k]);
        if (!v[0])
            continue;
        len += (size_t)snprintf(buf + len, n - len, "%s%s", any ? "/" : " (", v);
        any = 1;
    }
    if (any && len < n)
        snprintf(buf + len, n - len, ")");
}

static int role_index(const char *name)
{
    for (int r = 0; r < SM__NROLES; r++)
        if (strcmp(name, SM__ROLE_NAMES[r]) == 0)
            return r;
    return -1;
}

static void free_state(run_state *rs)
{
    sm__plan *plan = &rs->plan;
    if (plan->scenes) {
        for (size_t s = 0; s < plan->nscenes; s++) {
            for (size_t f = 0; f < plan->scenes[s].nrasters; f++)
                sm_raster_close(plan->scenes[s].rasters[f]);
            sm_raster_close(plan->scenes[s].mask);
        }
    }
    free(plan->scenes);
    free(plan->acc);
    free(plan->dacc);
    free(plan->lc_pixels);
    free(plan->parcel_area_grid);
    free(plan->grid_wkt);
    sm_parcel_geoms_destroy(plan->geoms);
    sm_parcels_destroy(plan->parcels);
    sm_params_destroy(rs->params);
    sm_wetland_rates_destroy(rs->wetland);
    sm_unc_result_destroy(rs->unc1);
    sm_unc_result_destroy(rs->unc2);
    free(rs->unc_index);
    if (rs->unit_names)
        for (size_t k = 0; k < rs->nunits; k++)
            free(rs->unit_names[k]);
    free(rs->unit_names);
    free(rs->stands);
    free(rs->dates);
    sm_results_destroy(rs->res);
    if (rs->hash_running)
        pthread_join(rs->hash_thread, NULL);
    rs->hash_running = 0;
    sm_context_destroy(rs->hash_ctx);
    for (size_t k = 0; k < rs->ninputs; k++)
        free(rs->inputs[k].path);
    free(rs->inputs);
    free(rs->ledger_path);
    sm_bamboo_table_destroy(rs->bamboo);
    free(rs->unc_up);
    free(rs->unc_groups);
    for (size_t k = 0; k < rs->vm_nfeat; k++)
        free(rs->vm_feat[k]);
    free(rs->vm);
    sm_parcels_destroy(rs->protected_areas);
    sm_parcels_destroy(rs->mgmt);
}

static sm_status open_scene(sm_context *ctx, run_state *rs, size_t s)
{
    sm__scene *sc = &rs->plan.scenes[s];
    const sm_job_scene *js = sc->job;
    sm_status st;
    for (size_t f = 0; f < js->nfiles; f++) {
        const sm_job_file *jf = &js->files[f];
        if ((st = sm_raster_open_on_grid(&sc->rasters[f], ctx, jf->path, &rs->plan.grid,
                                         rs->plan.grid_wkt, SM_RESAMPLE_BILINEAR)) != SM_OK)
            return st;
        sc->nrasters++;
        int nb = sm_raster_band_count(sc->rasters[f]);
        if ((int)jf->nroles > nb)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: roles.%s names %zu bands but the raster has %d (scene %s)",
                            jf->path, jf->tag, jf->nroles, nb, js->id);
        for (size_t b = 0; b < jf->nroles; b++) {
            if (strcmp(jf->roles[b], "-") == 0)
                continue;
            int r = role_index(jf->roles[b]);
            if (r < 0)
                return sm_error(ctx, SM_ERR_INPUT,
                                "%s: [scene.%s] roles.%s: unknown band role '%s' (expected blue, "
                                "green, red, nir, swir1, swir2, or - to skip a band)",
                                rs->plan.job->path, js->id, jf->tag, jf->roles[b]);
            if (sc->bands[r].raster)
                return sm_error(ctx, SM_ERR_INPUT, "%s: [scene.%s] band role '%s' is given twice",
                                rs->plan.job->path, js->id, jf->roles[b]);
            sm__band_src *bs = &sc->bands[r];
            bs->raster = sc->rasters[f];
            bs->band = (int)b + 1;
            double sc_auto, off_auto;
            bs->scaling_source = sm_raster_reflectance_scaling(sc->rasters[f], bs->band, &sc_auto, &off_auto);
            bs->scale = js->scale_auto ? sc_auto : js->scale;
            bs->offset = js->offset_auto ? off_auto : js->offset;
            if (!js->scale_auto || !js->offset_auto)
                bs->scaling_source = "job";
        }
    }
    static const int required[] = {SM__ROLE_GREEN, SM__ROLE_RED, SM__ROLE_NIR};
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
        if (!sc->bands[required[k]].raster)
            return sm_error(ctx, SM_ERR_INPUT, "%s: [scene.%s] has no '%s' band (roles.<tag>)",
                            rs->plan.job->path, js->id, SM__ROLE_NAMES[required[k]]);
    if (js->mask && (st = sm_raster_open_on_grid(&sc->mask, ctx, js->mask, &rs->plan.grid,
                                                 rs->plan.grid_wkt, SM_RESAMPLE_NEAREST)) != SM_OK)
        return st;
    /* Every raster is read on the analysis grid (warped on the fly when its CRS differs). */
    for (size_t f = 0; f < sc->nrasters + (sc->mask ? 1 : 0); f++) {
        sm_raster *r = f < sc->nrasters ? sc->rasters[f] : sc->mask;
        sm_grid a = rs->plan.grid;
        double fx0, fy0, fx1, fy1;
        sm_raster_footprint(r, &fx0, &fy0, &fx1, &fy1);
        if (fx0 >= a.x0 + (double)a.ncols * a.dx || fx1 <= a.x0 || fy1 <= a.y0 - (double)a.nrows * a.dy ||
            fy0 >= a.y0)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: does not overlap the analysis grid (x %.1f..%.1f, y %.1f..%.1f, from %s); "
                            "its data lie at x %.1f..%.1f, y %.1f..%.1f in that CRS",
                            sm_raster_path(r), a.x0, a.x0 + (double)a.ncols * a.dx,
                            a.y0 - (double)a.nrows * a.dy, a.y0,
                            rs->plan.job->grid_crs ? "[grid]" : rs->plan.job->scenes[0].files[0].path,
                            fx0, fx1, fy0, fy1);
    }
    /* Said once the scene is known to be usable (a failed plan prints its error line only). */
    for (size_t f = 0; f < sc->nrasters; f++)
        if (sm_raster_is_warped(sc->rasters[f]) && !rs->plan.job->grid_crs)
            sm_warn(ctx, "%s: reprojected on the fly to the analysis grid's CRS (bilinear)", js->files[f].path);
    return sm_date_parse(ctx, js->date, &rs->dates[s]);
}

/* Opens and checks everything; fills rs. Nothing is written. */
static int drone_index(const sm_job *job, const char *id)
{
    for (size_t d = 0; d < job->ndrones; d++)
        if (strcmp(job->drones[d].id, id) == 0)
            return (int)d;
    return -1;
}

/* Parcels whose carbon does not come from their own inventory volume, resolved before any pass
 * runs so that a run never fails half way: tree forest without a usable inventory volume (the
 * volume model's, [volume_model]) and bamboo with a culm count (field.culms). */
static sm_status resolve_extras(sm_context *ctx, run_state *rs)
{
    sm__plan *plan = &rs->plan;
    const sm_job *job = plan->job;
    const sm_parcels *p = plan->parcels;
    sm_status st;
    char lab[256];
    if (job->vm_enabled) {
        if (!job->fields[SM_FIELD_VOLUME] || !job->fields[SM_FIELD_SPECIES] || !job->fields[SM_FIELD_LAND_CLASS])
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: [volume_model] needs [parcels] field.land_class, field.volume and field.species",
                            job->path);
        const char *list = job->vm_features ? job->vm_features : "ff,nbr";
        const char *q = list;
        while (*q) {
            while (*q == ' ' || *q == ',')
                q++;
            size_t len = strcspn(q, ", ");
            if (!len)
                break;
            char tok[32];
            snprintf(tok, sizeof tok, "%.*s", (int)(len < 31 ? len : 31), q);
            int ok = len < 31 && (strcmp(tok, "ff") == 0 || strcmp(tok, "nbr") == 0 ||
                                  (strncmp(tok, "chm_", 4) == 0 && drone_index(job, tok + 4) >= 0) ||
                                  (strncmp(tok, "cc_", 3) == 0 && drone_index(job, tok + 3) >= 0));
            for (size_t k = 0; k < rs->vm_nfeat && ok; k++)
                ok = strcmp(rs->vm_feat[k], tok) != 0;
            if (!ok || rs->vm_nfeat == SM_VOLREG_MAX_FEATURES)
                return sm_error(ctx, SM_ERR_INPUT,
                                "%s: [volume_model] features = %s: '%.*s' is not a feature or repeats one; expected "
                                "up to %d of ff, nbr, chm_<drone id>, cc_<drone id>",
                                job->path, list, (int)len, q, SM_VOLREG_MAX_FEATURES);
            if (!(rs->vm_feat[rs->vm_nfeat++] = sm__strdup(ctx, tok)))
                return SM_ERR_NOMEM;
            q += len;
        }
        if (rs->vm_nfeat == 0)
            return sm_error(ctx, SM_ERR_INPUT, "%s: [volume_model] features is empty", job->path);
        if (job->nscenes > VM_MAX_SCENES)
            return sm_error(ctx, SM_ERR_INPUT, "%s: at most %d scenes with [volume_model]", job->path, VM_MAX_SCENES);
        rs->vm = calloc(job->nscenes, sizeof *rs->vm);
        if (!rs->vm)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        /* An inventory volume is usable when surveyed at most max_age_years before the end of
         * the period (sink_to, else the last scene). */
        int year = rs->dates[job->nscenes - 1].year;
        if (job->sink_to)
            year = rs->dates[sm_job_find_scene(job, job->sink_to) - job->scenes].year;
        for (size_t i = 0; i < plan->nparcels; i++) {
            stand *sd = &rs->stands[i];
            if (sd->lc_code != 1)
                continue;
            double sy = job->fields[SM_FIELD_SURVEY_YEAR] ? sm_parcels_num(p, i, SM_FIELD_SURVEY_YEAR)
                                                          : job->default_survey_year;
            if (sd->is_stand && !isnan(sy) && (double)year - sy <= job->vm_max_age)
                continue;
            label(p, i, lab, sizeof lab);
            if ((st = sm_params_species(rs->params, ctx, sm_parcels_str(p, i, SM_FIELD_SPECIES), &sd->group)) != SM_OK)
                return sm_error(ctx, SM_ERR_INPUT, "%s: %s, field %s: %s (the volume model's parcels need a species "
                                "for their carbon factors)",
                                job->parcels_path, lab, job->fields[SM_FIELD_SPECIES], sm_context_message(ctx));
            sd->origin = SM_ORIGIN_NATURAL;
            const char *o = sm_parcels_str(p, i, SM_FIELD_ORIGIN);
            if (o[0] && (st = sm_origin_parse(ctx, o, &sd->origin)) != SM_OK)
                return sm_error(ctx, SM_ERR_INPUT, "%s: %s, field %s: %s", job->parcels_path, lab,
                                job->fields[SM_FIELD_ORIGIN], sm_context_message(ctx));
            sd->model = 1;
            sd->is_stand = 1;
        }
    }
    if (job->fields[SM_FIELD_CULMS]) {
        if ((st = sm_bamboo_table_load(&rs->bamboo, ctx, sm_job_data_dir(job))) != SM_OK)
            return st;
        for (size_t i = 0; i < plan->nparcels; i++) {
            stand *sd = &rs->stands[i];
            const char *txt = sm_parcels_str(p, i, SM_FIELD_CULMS);
            if (sd->lc_code != 2 || !txt[0])
                continue; /* no culm count: the pools table */
            double n = sm_parcels_num(p, i, SM_FIELD_CULMS);
            label(p, i, lab, sizeof lab);
            if (isnan(n) || n < 0 || isinf(n))
                return sm_error(ctx, SM_ERR_INPUT, "%s: %s, field %s: '%s' is not a culm count; expected culms per ha >= 0",
                                job->parcels_path, lab, job->fields[SM_FIELD_CULMS], txt);
            if (n == 0)
                continue;
            if (!job->fields[SM_FIELD_SPECIES])
                return sm_error(ctx, SM_ERR_INPUT, "%s: [parcels] field.species is needed for bamboo parcels with culms",
                                job->path);
            if ((st = sm_bamboo_find(rs->bamboo, ctx, sm_parcels_str(p, i, SM_FIELD_SPECIES), &sd->bamboo)) != SM_OK)
                return sm_error(ctx, SM_ERR_INPUT, "%s: %s, field %s: %s", job->parcels_path, lab,
                                job->fields[SM_FIELD_SPECIES], sm_context_message(ctx));
            sd->culms = n;
        }
    }
    /* The indicator layers, opened now so that a bad one fails before the passes. */
    if (job->wetland_protected) {
        if (!sm__file_exists(job->wetland_protected))
            return sm_error(ctx, SM_ERR_INPUT, "%s: no such file ([wetland] protected in %s)", job->wetland_protected,
                            job->path);
        sm_parcels_options po = SM_PARCELS_OPTIONS_INIT;
        if ((st = sm_parcels_open(&rs->protected_areas, ctx, job->wetland_protected, &po)) != SM_OK)
            return st;
    }
    if (job->management) {
        if (!sm__file_exists(job->management))
            return sm_error(ctx, SM_ERR_INPUT, "%s: no such file ([management] path in %s)", job->management, job->path);
        sm_parcels_options po = SM_PARCELS_OPTIONS_INIT;
        po.fields[SM_FIELD_SURVEY_YEAR] = job->management_year ? job->management_year : "year";
        if ((st = sm_parcels_open(&rs->mgmt, ctx, job->management, &po)) != SM_OK)
            return st;
        for (size_t i = 0; i < sm_parcels_count(rs->mgmt); i++) {
            const char *v = sm_parcels_str(rs->mgmt, i, SM_FIELD_SURVEY_YEAR);
            int y = atoi(v);
            if (y < 1900 || y > 2200)
                return sm_error(ctx, SM_ERR_INPUT,
                                "%s: record fid %lld, field %s: '%s' is not a year; expected YYYY or YYYY-MM-DD",
                                job->management, (long long)sm_parcels_fid(rs->mgmt, i),
                                po.fields[SM_FIELD_SURVEY_YEAR], v);
        }
    }
    return SM_OK;
}

static sm_status plan_job(sm_context *ctx, const sm_job *job, run_state *rs, int threads)
{
    sm_status st;
    sm__plan *plan = &rs->plan;
    memset(rs, 0, sizeof *rs);
    plan->job = job;
    plan->threads = threads;
    plan->t_start = sm__now();
    /* Inputs exist: name the first missing file before opening anything. */
    if (!sm__file_exists(job->parcels_path))
        return sm_error(ctx, SM_ERR_INPUT, "%s: no such parcel file ([parcels] path in %s)",
                        job->parcels_path, job->path);
    for (size_t s = 0; s < job->nscenes; s++) {
        for (size_t f = 0; f < job->scenes[s].nfiles; f++)
            if (!sm__file_exists(job->scenes[s].files[f].path))
                return sm_error(ctx, SM_ERR_INPUT, "%s: no such raster file ([scene.%s] raster.%s in %s)",
                                job->scenes[s].files[f].path, job->scenes[s].id,
                                job->scenes[s].files[f].tag, job->path);
        if (job->scenes[s].mask && !sm__file_exists(job->scenes[s].mask))
            return sm_error(ctx, SM_ERR_INPUT, "%s: no such raster file ([scene.%s] mask in %s)",
                            job->scenes[s].mask, job->scenes[s].id, job->path);
    }
    for (size_t d = 0; d < job->ndrones; d++)
        if (!sm__file_exists(job->drones[d].chm))
            return sm_error(ctx, SM_ERR_INPUT, "%s: no such raster file ([drone.%s] chm in %s)",
                            job->drones[d].chm, job->drones[d].id, job->path);
    if ((st = sm_params_load(&rs->params, ctx, sm_job_data_dir(job))) != SM_OK)
        return st;
    if ((st = sm_wetland_rates_load(&rs->wetland, ctx, sm_job_data_dir(job))) != SM_OK)
        return st;
    if (sm_gwp_ch4(job->gwp, &rs->gwp_ch4) != 0)
        return sm_error(ctx, SM_ERR_INPUT, "%s: [carbon] gwp = %s: unknown GWP set", job->path, job->gwp);
    sm_parcels_options po = SM_PARCELS_OPTIONS_INIT;
    po.encoding = job->encoding;
    for (int r = 0; r < SM_FIELD_COUNT; r++)
        po.fields[r] = job->fields[r];
    po.threads = threads;
    if ((st = sm_parcels_open(&plan->parcels, ctx, job->parcels_path, &po)) != SM_OK)
        return st;
    plan->nparcels = sm_parcels_count(plan->parcels);
    plan->nscenes = job->nscenes;
    plan->scenes = calloc(job->nscenes, sizeof *plan->scenes);
    rs->dates = calloc(job->nscenes, sizeof *rs->dates);
    if (!plan->scenes || !rs->dates)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    for (size_t s = 0; s < job->nscenes; s++) {
        plan->scenes[s].job = &job->scenes[s];
        if (s == 0) {
            /* The analysis grid: [grid] crs/res/extent, each defaulting to the first raster's. */
            if ((st = sm_raster_define_grid(ctx, job->scenes[0].files[0].path, job->path, job->grid_crs,
                                            job->grid_res_x, job->grid_res_y,
                                            job->grid_has_extent ? job->grid_extent : NULL, &plan->grid,
                                            &plan->grid_wkt)) != SM_OK)
                return st;
        }
        if ((st = open_scene(ctx, rs, s)) != SM_OK)
            return st;
        plan->scenes[s].decimal_year = sm_decimal_year(rs->dates[s]);
    }
    for (size_t d = 0; d < job->ndrones; d++) {
        sm_raster *r = NULL;
        if ((st = sm_raster_open(&r, ctx, job->drones[d].chm)) != SM_OK)
            return st;
        sm_raster_close(r);
    }
    if ((st = sm_parcels_project(&plan->geoms, ctx, plan->parcels, plan->grid_wkt)) != SM_OK)
        return st;
    /* Overlap: at least one parcel must touch the analysis grid. */
    size_t inside = 0;
    plan->parcel_area_grid = calloc(plan->nparcels, sizeof(double));
    if (!plan->parcel_area_grid)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < plan->nparcels; i++) {
        double x0, y0, x1, y1;
        size_t np;
        const sm_polygon *parts = sm_parcel_geoms_parts(plan->geoms, i, &np);
        plan->parcel_area_grid[i] = np ? sm_polygon_area(parts, np) : 0.0;
        if (!sm_parcel_geoms_bbox(plan->geoms, i, &x0, &y0, &x1, &y1))
            continue;
        sm_window w = sm_grid_window_for_box(&plan->grid, x0, y0, x1, y1);
        if (w.ncols > 0)
            inside++;
    }
    if (inside == 0) {
        double x0 = plan->grid.x0, y1 = plan->grid.y0;
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: none of its %zu parcels overlaps the imagery (%s covers x %.1f..%.1f, "
                        "y %.1f..%.1f in its CRS); check the CRS of both",
                        job->parcels_path, plan->nparcels, sm_raster_path(plan->scenes[0].rasters[0]),
                        x0, x0 + (double)plan->grid.ncols * plan->grid.dx,
                        y1 - (double)plan->grid.nrows * plan->grid.dy, y1);
    }
    /* Inventory facts per parcel: land class, species group, growth curve. */
    rs->stands = calloc(plan->nparcels, sizeof *rs->stands);
    if (!rs->stands)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    char lab[256];
    for (size_t i = 0; i < plan->nparcels; i++) {
        stand *sd = &rs->stands[i];
        const sm_parcels *p = plan->parcels;
        const char *dilei = sm_parcels_str(p, i, SM_FIELD_LAND_CLASS);
        if (!job->fields[SM_FIELD_LAND_CLASS] || !dilei[0])
            continue;
        const sm_dilei_class *dc = NULL;
        if ((st = sm_params_dilei(rs->params, ctx, dilei, &dc)) != SM_OK) {
            label(p, i, lab, sizeof lab);
            return sm_error(ctx, SM_ERR_INPUT, "%s: %s, field %s: %s", job->parcels_path, lab,
                            job->fields[SM_FIELD_LAND_CLASS], sm_context_message(ctx));
        }
        sd->lc_code = dc->landcover;
        if (sd->lc_code != 1 || !job->fields[SM_FIELD_VOLUME])
            continue;
        /* A tree-forest parcel: its carbon comes from its inventory volume. */
        label(p, i, lab, sizeof lab);
        sd->volume = sm_parcels_num(p, i, SM_FIELD_VOLUME);
        if (isnan(sd->volume) && job->vm_enabled && !sm_parcels_str(p, i, SM_FIELD_VOLUME)[0])
            continue; /* no volume recorded: the volume model's (resolve_extras) */
        if (isnan(sd->volume) || sd->volume < 0)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: %s, field %s: '%s' is not a volume; expected m³/ha >= 0 for a "
                            "tree-forest parcel",
                            job->parcels_path, lab, job->fields[SM_FIELD_VOLUME],
                            sm_parcels_str(p, i, SM_FIELD_VOLUME));
        if (sd->volume == 0)
            continue; /* no standing volume recorded (newly planted, cut): no stand stock */
        const char *species = sm_parcels_str(p, i, SM_FIELD_SPECIES);
        if (!job->fields[SM_FIELD_SPECIES])
            return sm_error(ctx, SM_ERR_INPUT, "%s: [parcels] field.species is needed for tree-forest parcels",
                            job->path);
        if ((st = sm_params_species(rs->params, ctx, species, &sd->group)) != SM_OK)
            return sm_error(ctx, SM_ERR_INPUT, "%s: %s, field %s: %s", job->parcels_path, lab,
                            job->fields[SM_FIELD_SPECIES], sm_context_message(ctx));
        sm_origin origin = SM_ORIGIN_NATURAL;
        if (job->fields[SM_FIELD_ORIGIN] &&
            (st = sm_origin_parse(ctx, sm_parcels_str(p, i, SM_FIELD_ORIGIN), &origin)) != SM_OK)
            return sm_error(ctx, SM_ERR_INPUT, "%s: %s, field %s: %s", job->parcels_path, lab,
                            job->fields[SM_FIELD_ORIGIN], sm_context_message(ctx));
        if ((st = sm_params_growth(rs->params, ctx, sd->group, origin, &sd->curve)) != SM_OK)
            return st;
        sd->origin = origin;
        sd->age = job->fields[SM_FIELD_AGE] ? sm_parcels_num(p, i, SM_FIELD_AGE) : NAN;
        if (isnan(sd->age) || sd->age <= 0)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: %s, field %s: '%s' is not a stand age; expected years > 0",
                            job->parcels_path, lab, job->fields[SM_FIELD_AGE] ? job->fields[SM_FIELD_AGE] : "(field.age not mapped)",
                            sm_parcels_str(p, i, SM_FIELD_AGE));
        double sy = job->fields[SM_FIELD_SURVEY_YEAR] ? sm_parcels_num(p, i, SM_FIELD_SURVEY_YEAR)
                                                      : job->default_survey_year;
        if (isnan(sy))
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: %s: no survey year (map field.survey_year or set [parcels] "
                            "survey_year in %s)",
                            job->parcels_path, lab, job->path);
        sd->survey_year = (int)sy;
        /* Check the projection to every date now, so a run never fails half way. */
        for (size_t s = 0; s < job->nscenes; s++) {
            double v;
            if ((st = sm_project_volume(ctx, sd->curve, lab, sd->volume, sd->age, sd->survey_year,
                                        rs->dates[s], &v, NULL)) != SM_OK)
                return st;
        }
        sd->is_stand = 1;
    }
    if ((st = resolve_extras(ctx, rs)) != SM_OK)
        return st;
    plan->acc = calloc(plan->nparcels * job->nscenes, sizeof *plan->acc);
    plan->dacc = calloc(plan->nparcels * (job->ndrones ? job->ndrones : 1), sizeof *plan->dacc);
    plan->lc_pixels = calloc(job->nscenes ? job->nscenes : 1, sizeof *plan->lc_pixels);
    if (!plan->acc || !plan->dacc || !plan->lc_pixels)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory for %zu parcels", plan->nparcels);
    return SM_OK;
}

sm_status sm_validate(sm_context *ctx, const sm_job *job)
{
    run_state rs;
    sm_status st = plan_job(ctx, job, &rs, job->threads);
    free_state(&rs);
    return st;
}

/* ---- per-parcel results ---- */

typedef struct cols {
    size_t area_ha, area_mu, repair, lc_inv, group, flags;
    size_t ff[64], obs[64], lc[64], nbr[64], vol[64], stk[64], c[64], cf[64];
    size_t dnbr, sink_c, sink_co2, diffpct;
    size_t cp[64], sinkp, wl_co2, wl_ch4, wl_ch4e;
    size_t chm_mean[8], chm_cov[8], chm_obs[8];
    size_t gl_gain, gl_loss, gl_c, gl_co2, bam;
} cols;

static sm_status add_col(sm_results *r, sm_context *ctx, size_t *col, sm_result_type t,
                         const char *unit, const char *meaning, const char *fmt, const char *id)
{
    char name[32];
    snprintf(name, sizeof name, fmt, id);
    return sm_results_add(r, ctx, name, t, unit, meaning, col);
}

static double scene_ff(const sm__scene_acc *a, double *valid_out)
{
    double valid = 0, forest = 0;
    for (int k = 1; k < SM__CODE_CLOUD; k++) {
        valid += a->cls[k];
        const sm_legend_entry *e = sm_legend_find(k);
        if (e && e->is_forest)
            forest += a->cls[k];
    }
    if (valid_out)
        *valid_out = valid;
    return valid > 0 ? forest / valid : NAN;
}

static int scene_majority(const sm__scene_acc *a)
{
    int best = 0;
    double bw = 0;
    for (int k = 1; k < SM__NCODES; k++)
        if (a->cls[k] > bw) {
            bw = a->cls[k];
            best = k;
        }
    return best;
}

/* Two dates within 45 days of each other in the year (anniversary dates), across New Year too. */
static int same_season(const sm_date *a, const sm_date *b)
{
    int d = sm_day_of_year(*a) - sm_day_of_year(*b);
    if (d < 0)
        d = -d;
    if (d > 183)
        d = 366 - d;
    return d <= 45;
}

static void add_flag(char *flags, size_t n, const char *f)
{
    size_t len = strlen(flags);
    snprintf(flags + len, n - len, "%s%s", len ? ";" : "", f);
}

/* The features of parcel i at scene s, in rs->vm_feat order; 0 when one is missing. */
static int vm_features(const run_state *rs, const cols *c, size_t i, size_t s, double *x)
{
    const sm_job *job = rs->plan.job;
    for (size_t k = 0; k < rs->vm_nfeat; k++) {
        const char *f = rs->vm_feat[k];
        size_t col = strcmp(f, "ff") == 0    ? c->ff[s]
                     : strcmp(f, "nbr") == 0 ? c->nbr[s]
                     : f[0] == 'c' && f[1] == 'h' ? c->chm_mean[drone_index(job, f + 4)]
                                                  : c->chm_cov[drone_index(job, f + 3)];
        x[k] = sm_results_get(rs->res, i, col);
        if (!isfinite(x[k]))
            return 0;
    }
    return 1;
}

/* [volume_model]: per scene, volume per ha regressed on the features over the stands with a
 * usable inventory volume that the scene observes (obs >= 0.5), then applied to the tree-forest
 * parcels without one (sd->model). */
static sm_status fit_volume_model(sm_context *ctx, run_state *rs, const cols *c)
{
    sm__plan *plan = &rs->plan;
    const sm_job *job = plan->job;
    size_t n = plan->nparcels, p = rs->vm_nfeat, nmodel = 0;
    for (size_t i = 0; i < n; i++)
        nmodel += rs->stands[i].model;
    double *x = malloc((n ? n : 1) * p * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
    sm_status st = SM_OK;
    if (!x || !y) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (size_t s = 0; s < plan->nscenes; s++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const stand *sd = &rs->stands[i];
            if (!sd->is_stand || sd->model || !(sm_results_get(rs->res, i, c->obs[s]) >= 0.5) ||
                !vm_features(rs, c, i, s, x + m * p))
                continue;
            y[m++] = sm_results_get(rs->res, i, c->vol[s]);
        }
        size_t folds = (size_t)job->vm_folds;
        if ((st = sm_volreg_fit(&rs->vm[s].m, ctx, x, y, m, p, folds, job->vm_seed)) != SM_OK) {
            if (st != SM_ERR_INPUT)
                goto end;
            /* A scene the model cannot be fitted on (clouds, too few parcels observed): its model
             * parcels get no volume there, as a cloud-covered parcel; said in volume_model.csv. */
            snprintf(rs->vm[s].note, sizeof rs->vm[s].note, "%s", sm_context_message(ctx));
            st = SM_OK;
            continue;
        }
        rs->vm[s].fitted = 1;
        for (size_t i = 0; i < n && nmodel; i++) {
            const stand *sd = &rs->stands[i];
            double f[SM_VOLREG_MAX_FEATURES];
            if (!sd->model || !vm_features(rs, c, i, s, f))
                continue;
            double v = sm_volreg_predict(&rs->vm[s].m, f);
            if (v < 0)
                v = 0; /* a regression may go below zero; a stand may not */
            double area = sm_results_get(rs->res, i, c->area_ha);
            sm_carbon cb;
            char lab[256];
            label(plan->parcels, i, lab, sizeof lab);
            if ((st = sm_carbon_from_volume(ctx, sd->group, lab, v, &cb)) != SM_OK)
                goto end;
            sm_results_set(rs->res, i, c->vol[s], v);
            sm_results_set(rs->res, i, c->stk[s], v * area);
            sm_results_set(rs->res, i, c->c[s], cb.total * area);
            sm_results_set(rs->res, i, c->cf[s], cb.fang * area);
            rs->vm[s].applied++;
        }
    }
    size_t fitted = 0;
    for (size_t s = 0; s < plan->nscenes; s++)
        fitted += rs->vm[s].fitted;
    if (fitted == 0) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: [volume_model] cannot be fitted at any scene (scene %s: %s)", job->path,
                      plan->scenes[0].job->id, rs->vm[0].note);
        goto end;
    }
    for (size_t s = 0; s < plan->nscenes; s++)
        if (!rs->vm[s].fitted)
            sm_warn(ctx, "%s: [volume_model] at scene %s: %s; no model volumes at this scene", job->path,
                    plan->scenes[s].job->id, rs->vm[s].note);
    if (job->sink_from) {
        size_t from = (size_t)(sm_job_find_scene(job, job->sink_from) - job->scenes);
        size_t to = (size_t)(sm_job_find_scene(job, job->sink_to) - job->scenes);
        for (size_t i = 0; i < n && nmodel; i++) {
            double c0 = sm_results_get(rs->res, i, c->c[from]), c1 = sm_results_get(rs->res, i, c->c[to]);
            if (!rs->stands[i].model || isnan(c0) || isnan(c1))
                continue;
            sm_sink sk;
            if ((st = sm_sink_between(ctx, c0, rs->dates[from], c1, rs->dates[to], &sk)) != SM_OK)
                goto end;
            sm_results_set(rs->res, i, c->sink_c, sk.t_c_per_yr);
            sm_results_set(rs->res, i, c->sink_co2, sk.t_co2e_per_yr);
        }
    }
end:
    free(x);
    free(y);
    return st;
}

static sm_status compute_results(sm_context *ctx, run_state *rs)
{
    sm__plan *plan = &rs->plan;
    const sm_job *job = plan->job;
    sm_status st;
    size_t ns = plan->nscenes;
    cols c;
    memset(&c, 0, sizeof c);
    if (ns > 64 || job->ndrones > 8)
        return sm_error(ctx, SM_ERR_INPUT, "%s: at most 64 scenes and 8 drone rasters per job", job->path);
    if ((st = sm_results_create(&rs->res, ctx, plan->nparcels)) != SM_OK)
        return st;
    sm_results *r = rs->res;
    r->threads = plan->threads;
#define ADD(col, type, unit, meaning, name) \
    if ((st = sm_results_add(r, ctx, name, type, unit, meaning, &(col))) != SM_OK) return st
#define ADDS(col, type, unit, meaning, fmt, id) \
    if ((st = add_col(r, ctx, &(col), type, unit, meaning, fmt, id)) != SM_OK) return st
    ADD(c.area_ha, SM_RESULT_REAL, "ha", "parcel area from its geometry in the parcels' CRS", "area_ha");
    ADD(c.area_mu, SM_RESULT_REAL, "mu", "parcel area in mu (1 ha = 15 mu)", "area_mu");
    ADD(c.lc_inv, SM_RESULT_INT, "code", "land-cover code of the inventory land class (DI_LEI)", "lc_inv");
    ADD(c.group, SM_RESULT_TEXT, "", "species group of the dominant species", "sp_group");
    for (size_t s = 0; s < ns; s++) {
        const char *id = plan->scenes[s].job->id;
        ADDS(c.ff[s], SM_RESULT_REAL, "share", "forest fraction (tree forest + bamboo) of the observed area", "ff_%s", id);
        ADDS(c.obs[s], SM_RESULT_REAL, "share", "share of the parcel observed (inside the imagery, not cloud, not nodata)", "obs_%s", id);
        ADDS(c.lc[s], SM_RESULT_INT, "code", "majority land-cover class (coverage-weighted)", "lc_%s", id);
        ADDS(c.nbr[s], SM_RESULT_REAL, "index", "mean NBR (coverage-weighted)", "nbr_%s", id);
    }
    for (size_t s = 0; s < ns; s++) {
        const char *id = plan->scenes[s].job->id;
        ADDS(c.vol[s], SM_RESULT_REAL, "m3/ha", "stand volume at the scene date (growth-projected, loss-adjusted)", "vol_%s", id);
        ADDS(c.stk[s], SM_RESULT_REAL, "m3", "growing stock at the scene date", "stk_%s", id);
        ADDS(c.c[s], SM_RESULT_REAL, "t C", "stand carbon, volume factors: V·SVD·BEF·(1+R)·CF × area", "c_%s", id);
        ADDS(c.cf[s], SM_RESULT_REAL, "t C", "stand carbon, Fang continuous BEF: (aV+b)·CF × area", "cf_%s", id);
    }
    ADD(c.diffpct, SM_RESULT_REAL, "%", "difference of the Fang method from the volume-factor method at the last date", "c_diffpct");
    for (size_t s = 0; s < ns; s++) {
        const char *id = plan->scenes[s].job->id;
        ADDS(c.cp[s], SM_RESULT_REAL, "t C", "carbon of land without a volume stand, by the pools table (data/pools_invest.csv) over the land-cover shares", "cp_%s", id);
    }
    if (job->sink_from) {
        ADD(c.dnbr, SM_RESULT_REAL, "index", "dNBR = NBR(sink_from) − NBR(sink_to)", "dnbr");
        ADD(c.sink_c, SM_RESULT_REAL, "t C/yr", "removal between sink_from and sink_to (positive = sink)", "sink_tc");
        ADD(c.sink_co2, SM_RESULT_REAL, "t CO2e/yr", "removal in CO2 equivalent (× 44/12; positive = sink)", "sink_co2");
        ADD(c.sinkp, SM_RESULT_REAL, "t CO2e/yr", "removal on land without a volume stand, from the change of cp_ between sink_from and sink_to", "sinkp_co2");
        ADD(c.gl_gain, SM_RESULT_REAL, "t C/yr", "gain-loss method: gain = area × standing share × annual increment (Richards curve at the age at sink_from) × SVD·BEF·(1+R)·CF", "gl_gain");
        ADD(c.gl_loss, SM_RESULT_REAL, "t C/yr", "gain-loss method: carbon of the volume the imagery shows removed between sink_from and sink_to, per year", "gl_loss");
        ADD(c.gl_c, SM_RESULT_REAL, "t C/yr", "removal by gain-loss (IPCC eq. 2.7: gl_gain − gl_loss; positive = sink)", "gl_tc");
        ADD(c.gl_co2, SM_RESULT_REAL, "t CO2e/yr", "gl_tc × 44/12 (positive = sink)", "gl_co2");
    }
    if (job->fields[SM_FIELD_CULMS])
        ADD(c.bam, SM_RESULT_REAL, "t C/ha", "bamboo carbon from the culm count: culms × culm biomass × (1+R) × CF (data/bamboo_culms.csv)", "bam_tcha");
    for (size_t d = 0; d < job->ndrones; d++) {
        const char *id = job->drones[d].id;
        ADDS(c.chm_mean[d], SM_RESULT_REAL, "m", "mean canopy height from the drone CHM", "chm_%s", id);
        ADDS(c.chm_cov[d], SM_RESULT_REAL, "share", "canopy cover: share of CHM cells at least canopy_height tall", "cc_%s", id);
        ADDS(c.chm_obs[d], SM_RESULT_REAL, "share", "share of the parcel covered by the CHM", "cco_%s", id);
    }
    ADD(c.wl_co2, SM_RESULT_REAL, "t CO2e/yr", "wetland carbon accumulation (area × rate of the wetland type, × 44/12; positive = removal)", "wl_co2");
    ADD(c.wl_ch4, SM_RESULT_REAL, "t CH4/yr", "wetland methane emission (area × rate of the wetland type)", "wl_ch4");
    ADD(c.wl_ch4e, SM_RESULT_REAL, "t CO2e/yr", "wetland methane emission in CO2 equivalent (× the job's GWP100 set)", "wl_ch4co2");
    ADD(c.flags, SM_RESULT_TEXT, "", "flags: loss_<scene>, cloud_<scene>, outside, nonforest_<scene>, method_diff, decline, no_volume, vol_model, culms", "flags");
    ADD(c.repair, SM_RESULT_TEXT, "", "geometry repair made before the statistics (GEOS make-valid)", "repair");
#undef ADD
#undef ADDS
    const sm_parcels *p = plan->parcels;
    double cell_area = plan->grid.dx * plan->grid.dy;
    size_t from = 0, to = 0;
    if (job->sink_from)
        for (size_t s = 0; s < ns; s++) {
            if (strcmp(plan->scenes[s].job->id, job->sink_from) == 0)
                from = s;
            if (strcmp(plan->scenes[s].job->id, job->sink_to) == 0)
                to = s;
        }
    char lab[256];
    for (size_t i = 0; i < plan->nparcels; i++) {
        const stand *sd = &rs->stands[i];
        char flags[256] = "";
        double area_ha = sm_parcels_area(p, i) / 10000.0;
        sm_results_set(r, i, c.area_ha, area_ha);
        sm_results_set(r, i, c.area_mu, sm_ha_to_mu(area_ha));
        sm_results_set(r, i, c.lc_inv, sd->lc_code ? sd->lc_code : NAN);
        if (sd->group && (st = sm_results_set_text(r, ctx, i, c.group, sd->group->key)) != SM_OK)
            return st;
        const char *rep = sm_parcels_repair(p, i);
        if (rep[0] && (st = sm_results_set_text(r, ctx, i, c.repair, rep)) != SM_OK)
            return st;
        double ff[64], obs[64];
        double agrid = plan->parcel_area_grid[i];
        int outside = 0;
        for (size_t s = 0; s < ns; s++) {
            const sm__scene_acc *a = &plan->acc[i * ns + s];
            double valid;
            ff[s] = scene_ff(a, &valid);
            obs[s] = agrid > 0 ? valid * cell_area / agrid : 0.0;
            if (obs[s] > 1.0)
                obs[s] = 1.0; /* rounding of Σc against the polygon area */
            double all = valid + a->cls[SM__CODE_CLOUD] + a->nodata;
            if (agrid > 0 && all * cell_area / agrid < 0.999)
                outside = 1;
            sm_results_set(r, i, c.ff[s], ff[s]);
            sm_results_set(r, i, c.obs[s], obs[s]);
            int maj = scene_majority(a);
            sm_results_set(r, i, c.lc[s], maj ? maj : NAN);
            sm_results_set(r, i, c.nbr[s], a->nbr_w > 0 ? a->nbr_sum / a->nbr_w : NAN);
            if (obs[s] < 0.5) {
                char f[32];
                snprintf(f, sizeof f, "cloud_%s", plan->scenes[s].job->id);
                add_flag(flags, sizeof flags, f);
            }
        }
        if (outside)
            add_flag(flags, sizeof flags, "outside");
        if (job->sink_from) {
            const sm__scene_acc *a = &plan->acc[i * ns + from], *b = &plan->acc[i * ns + to];
            if (a->nbr_w > 0 && b->nbr_w > 0)
                sm_results_set(r, i, c.dnbr, a->nbr_sum / a->nbr_w - b->nbr_sum / b->nbr_w);
        }
        for (size_t d = 0; d < job->ndrones; d++) {
            const sm__drone_acc *da = &plan->dacc[i * job->ndrones + d];
            if (da->w > 0) {
                sm_results_set(r, i, c.chm_mean[d], da->sum_h / da->w);
                sm_results_set(r, i, c.chm_cov[d], da->canopy_w / da->w);
            }
            double obsd = sm_parcels_area(p, i) > 0 ? da->w * da->cell_area / sm_parcels_area(p, i) : 0;
            sm_results_set(r, i, c.chm_obs[d], obsd > 1 ? 1 : obsd);
        }
        if (sd->model) {
            /* volume from the regression, after every stand is known (fit_volume_model) */
            add_flag(flags, sizeof flags, "vol_model");
        } else if (sd->is_stand) {
            label(p, i, lab, sizeof lab);
            double kept[64];
            /* The inventory is checked against the first well-observed scene. */
            for (size_t s = 0; s < ns; s++)
                if (obs[s] >= 0.5 && !isnan(ff[s])) {
                    if (ff[s] < 0.5) {
                        char f[32];
                        snprintf(f, sizeof f, "nonforest_%s", plan->scenes[s].job->id);
                        add_flag(flags, sizeof flags, f);
                    }
                    break;
                }
            sm_carbon last = {0};
            for (size_t s = 0; s < ns; s++) {
                double v;
                if ((st = sm_project_volume(ctx, sd->curve, lab, sd->volume, sd->age, sd->survey_year,
                                            rs->dates[s], &v, NULL)) != SM_OK)
                    return st;
                /* Loss seen in the imagery: the forest fraction fell against the earliest
                 * well-observed scene of the same season (anniversary dates, so that leaf-off
                 * deciduous forest in spring is not taken for a loss); the stand keeps the share
                 * of its forest that remains. */
                double ff_ref = NAN;
                for (size_t q = 0; q < s && isnan(ff_ref); q++)
                    if (same_season(&rs->dates[q], &rs->dates[s]) && obs[q] >= 0.5 && !isnan(ff[q]))
                        ff_ref = ff[q];
                kept[s] = 1.0;
                if (!isnan(ff_ref) && ff_ref > 0 && obs[s] >= 0.5 && !isnan(ff[s]) &&
                    ff_ref - ff[s] > job->loss_threshold) {
                    kept[s] = ff[s] / ff_ref;
                    v *= ff[s] / ff_ref;
                    char f[32];
                    snprintf(f, sizeof f, "loss_%s", plan->scenes[s].job->id);
                    add_flag(flags, sizeof flags, f);
                }
                sm_carbon cb;
                if ((st = sm_carbon_from_volume(ctx, sd->group, lab, v, &cb)) != SM_OK)
                    return st;
                sm_results_set(r, i, c.vol[s], v);
                sm_results_set(r, i, c.stk[s], v * area_ha);
                sm_results_set(r, i, c.c[s], cb.total * area_ha);
                sm_results_set(r, i, c.cf[s], cb.fang * area_ha);
                last = cb;
            }
            sm_results_set(r, i, c.diffpct, 100.0 * last.rel_diff);
            if (last.methods_differ)
                add_flag(flags, sizeof flags, "method_diff");
            if (job->sink_from) {
                sm_sink sk;
                if ((st = sm_sink_between(ctx, sm_results_get(r, i, c.c[from]), rs->dates[from],
                                          sm_results_get(r, i, c.c[to]), rs->dates[to], &sk)) != SM_OK)
                    return st;
                sm_results_set(r, i, c.sink_c, sk.t_c_per_yr);
                sm_results_set(r, i, c.sink_co2, sk.t_co2e_per_yr);
                if (sk.t_c_per_yr < 0)
                    add_flag(flags, sizeof flags, "decline");
                sm_gain_loss gl;
                if ((st = sm_gain_loss_between(ctx, sd->group, sd->curve, lab, sd->volume, sd->age, sd->survey_year,
                                               rs->dates[from], rs->dates[to], area_ha, kept[from], kept[to],
                                               &gl)) != SM_OK)
                    return st;
                sm_results_set(r, i, c.gl_gain, gl.gain);
                sm_results_set(r, i, c.gl_loss, gl.loss);
                sm_results_set(r, i, c.gl_c, gl.t_c_per_yr);
                sm_results_set(r, i, c.gl_co2, gl.t_co2e_per_yr);
            }
        } else {
            if (sd->lc_code == 1 && job->fields[SM_FIELD_VOLUME])
                add_flag(flags, sizeof flags, "no_volume");
            if (sd->bamboo)
                add_flag(flags, sizeof flags, "culms");
            /* Land without a volume stand: the pools table over the land-cover shares seen in
             * the imagery (the inventory class where the scene does not observe the parcel). */
            for (size_t s = 0; s < ns; s++) {
                const sm__scene_acc *a = &plan->acc[i * ns + s];
                double w = 0, dens = 0;
                for (int k = 1; k <= 9; k++)
                    w += a->cls[k];
                for (int k = 1; k <= 9; k++) {
                    double share = (obs[s] >= 0.5 && w > 0) ? a->cls[k] / w : (k == sd->lc_code ? 1.0 : 0.0);
                    if (share <= 0)
                        continue;
                    const sm_carbon_pools *pl = NULL;
                    if ((st = sm_params_pools(rs->params, ctx, k, &pl)) != SM_OK)
                        return st;
                    dens += share * (pl->c_above + pl->c_below + pl->c_dead + (job->pools_soil ? pl->c_soil : 0));
                }
                if (sd->bamboo) {
                    /* Bamboo with a culm count: the culms replace the pools table's living biomass;
                     * dead wood and soil stay the table's bamboo row; a loss seen in the imagery
                     * (as for stands) keeps the standing share. */
                    const sm_carbon_pools *pl = NULL;
                    sm_bamboo_carbon bc;
                    label(p, i, lab, sizeof lab);
                    if ((st = sm_params_pools(rs->params, ctx, 2, &pl)) != SM_OK ||
                        (st = sm_bamboo_carbon_from_culms(ctx, sd->bamboo, lab, sd->culms, &bc)) != SM_OK)
                        return st;
                    double ff_ref = NAN, kept = 1.0;
                    for (size_t q = 0; q < s && isnan(ff_ref); q++)
                        if (same_season(&rs->dates[q], &rs->dates[s]) && obs[q] >= 0.5 && !isnan(ff[q]))
                            ff_ref = ff[q];
                    if (!isnan(ff_ref) && ff_ref > 0 && obs[s] >= 0.5 && !isnan(ff[s]) &&
                        ff_ref - ff[s] > job->loss_threshold) {
                        kept = ff[s] / ff_ref;
                        char f[32];
                        snprintf(f, sizeof f, "loss_%s", plan->scenes[s].job->id);
                        add_flag(flags, sizeof flags, f);
                    }
                    dens = bc.total * kept + pl->c_dead + (job->pools_soil ? pl->c_soil : 0);
                    sm_results_set(r, i, c.bam, bc.total);
                    w = 1; /* the culms give a value whatever the imagery saw */
                }
                sm_results_set(r, i, c.cp[s], (w > 0 || sd->lc_code) ? dens * area_ha : NAN);
            }
            if (job->sink_from) {
                double c0 = sm_results_get(r, i, c.cp[from]), c1 = sm_results_get(r, i, c.cp[to]);
                if (!isnan(c0) && !isnan(c1)) {
                    sm_sink sk;
                    if ((st = sm_sink_between(ctx, c0, rs->dates[from], c1, rs->dates[to], &sk)) != SM_OK)
                        return st;
                    sm_results_set(r, i, c.sinkp, sk.t_co2e_per_yr);
                }
            }
        }
        const sm_wetland_type *wt = sm_wetland_find(rs->wetland, sm_parcels_str(p, i, SM_FIELD_LAND_CLASS));
        if (wt && job->fields[SM_FIELD_LAND_CLASS]) {
            sm_results_set(r, i, c.wl_co2, area_ha * wt->c_rate * SM_CO2_PER_C);
            sm_results_set(r, i, c.wl_ch4, area_ha * wt->ch4 / 1000.0);
            sm_results_set(r, i, c.wl_ch4e, area_ha * wt->ch4 / 1000.0 * rs->gwp_ch4);
        }
        if ((st = sm_results_set_text(r, ctx, i, c.flags, flags[0] ? flags : NULL)) != SM_OK)
            return st;
    }
    if (rs->vm && (st = fit_volume_model(ctx, rs, &c)) != SM_OK)
        return st;
    return SM_OK;
}

/* ---- uncertainty of stocks and sinks (IPCC Approaches 1 and 2) ---- */

static sm_status compute_uncertainty(sm_context *ctx, run_state *rs)
{
    sm__plan *plan = &rs->plan;
    const sm_job *job = plan->job;
    if (!job->sink_from)
        return SM_OK;
    sm_status st = SM_OK;
    size_t ng = sm_params_group_count(rs->params), n = 0;
    sm_species_group *groups = calloc(ng ? ng : 1, sizeof *groups);
    sm_unc_parcel *up = calloc(plan->nparcels ? plan->nparcels : 1, sizeof *up);
    rs->unc_index = malloc((plan->nparcels ? plan->nparcels : 1) * sizeof *rs->unc_index);
    rs->unit_names = calloc(plan->nparcels + 1, sizeof *rs->unit_names);
    if (!groups || !up || !rs->unc_index || !rs->unit_names) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (size_t k = 0; k < ng; k++)
        groups[k] = *sm_params_group(rs->params, k);
    char v1[16], v2[16];
    snprintf(v1, sizeof v1, "vol_%s", job->sink_from);
    snprintf(v2, sizeof v2, "vol_%s", job->sink_to);
    long c1 = sm_results_find(rs->res, v1), c2 = sm_results_find(rs->res, v2), ca = sm_results_find(rs->res, "area_ha");
    for (size_t i = 0; i < plan->nparcels; i++) {
        rs->unc_index[i] = SIZE_MAX;
        const stand *sd = &rs->stands[i];
        if (!sd->is_stand || isnan(sm_results_get(rs->res, i, (size_t)c1)) || isnan(sm_results_get(rs->res, i, (size_t)c2)))
            continue; /* a volume-model parcel the model could not reach */
        sm_unc_parcel *u = &up[n];
        for (size_t k = 0; k < ng; k++)
            if (strcmp(groups[k].key, sd->group->key) == 0)
                u->group = k;
        /* the aggregation unit: the township within its county */
        char key[256];
        snprintf(key, sizeof key, "%s/%s", sm_parcels_str(plan->parcels, i, SM_FIELD_COUNTY),
                 sm_parcels_str(plan->parcels, i, SM_FIELD_TOWNSHIP));
        size_t unit;
        for (unit = 0; unit < rs->nunits; unit++)
            if (strcmp(rs->unit_names[unit], key) == 0)
                break;
        if (unit == rs->nunits) {
            rs->unit_names[unit] = sm__strdup(ctx, key);
            if (!rs->unit_names[unit]) {
                st = SM_ERR_NOMEM;
                goto end;
            }
            rs->nunits++;
        }
        u->unit = unit;
        u->v1 = sm_results_get(rs->res, i, (size_t)c1);
        u->v2 = sm_results_get(rs->res, i, (size_t)c2);
        u->area_ha = sm_results_get(rs->res, i, (size_t)ca);
        if (sd->model) {
            /* the regression's own error: its cross-validated RMSE at sink_to as a 95 % half-width
             * of the parcel's volume level */
            size_t to = (size_t)(sm_job_find_scene(job, job->sink_to) - job->scenes);
            u->v_u95_pct = u->v2 > 0 ? 100.0 * 1.96 * rs->vm[to].m.cv_rmse / u->v2 : 0.0;
        }
        rs->unc_index[i] = n++;
    }
    if (n == 0)
        goto end;
    sm_unc_options o = SM_UNC_OPTIONS_INIT;
    o.units = rs->nunits;
    o.years = sm_decimal_year(rs->dates[sm_job_find_scene(job, job->sink_to) - job->scenes]) -
              sm_decimal_year(rs->dates[sm_job_find_scene(job, job->sink_from) - job->scenes]);
    o.threads = plan->threads;
    o.seed = job->mc_seed;
    o.draws = job->mc_draws;
    if ((st = sm_uncertainty_approach1(&rs->unc1, ctx, groups, ng, up, n, &o)) != SM_OK)
        goto end;
    if (job->mc_draws > 0 && (st = sm_uncertainty_mc(&rs->unc2, ctx, groups, ng, up, n, &o)) != SM_OK)
        goto end;
    /* kept for the intervals of every grouping in summary.csv */
    rs->unc_up = up;
    rs->unc_n = n;
    rs->unc_groups = groups;
    rs->unc_ng = ng;
    rs->unc_opt = o;
    up = NULL;
    groups = NULL;
end:
    free(groups);
    free(up);
    return st;
}

static sm_status write_uncertainty(sm_context *ctx, run_state *rs, const char *path)
{
    sm_csv_writer *w = NULL;
    sm_status st = sm_csv_writer_open(&w, ctx, path, SM_CSV_BOM);
    if (st != SM_OK)
        return st;
    const char *head[] = {"level", "key", "approach", "draws",
                          "stock1_tc", "stock1_lo95", "stock1_hi95", "stock2_tc", "stock2_lo95", "stock2_hi95",
                          "sink_tco2e_per_yr", "sink_mean", "sink_lo95", "sink_hi95"};
    for (size_t k = 0; k < 14 && st == SM_OK; k++)
        st = sm_csv_writer_text(w, head[k]);
    if (st == SM_OK)
        st = sm_csv_writer_end_row(w);
    for (int a = 0; a < 2 && st == SM_OK; a++) {
        const sm_unc_result *u = a == 0 ? rs->unc1 : rs->unc2;
        if (!u)
            continue;
        for (size_t k = 0; k <= u->nunits && st == SM_OK; k++) {
            const sm_unc_figures *f = k == 0 ? &u->total : &u->units[k - 1];
            double v[10] = {f->stock1.estimate, f->stock1.lo95, f->stock1.hi95, f->stock2.estimate, f->stock2.lo95,
                            f->stock2.hi95, f->sink.estimate, f->sink.mean, f->sink.lo95, f->sink.hi95};
            if ((st = sm_csv_writer_text(w, k == 0 ? "total" : "township")) != SM_OK ||
                (st = sm_csv_writer_text(w, k == 0 ? "all" : rs->unit_names[k - 1])) != SM_OK ||
                (st = sm_csv_writer_long(w, a + 1)) != SM_OK || (st = sm_csv_writer_long(w, (long long)u->draws)) != SM_OK)
                break;
            for (size_t q = 0; q < 10 && st == SM_OK; q++)
                st = sm_csv_writer_double(w, v[q]);
            if (st == SM_OK)
                st = sm_csv_writer_end_row(w);
        }
    }
    if (st != SM_OK) {
        sm_csv_writer_destroy(w);
        return st;
    }
    return sm_csv_writer_close(w);
}

/* Per-parcel 95 % intervals of the sink, both approaches, into the results table. */
static sm_status add_interval_fields(sm_context *ctx, run_state *rs)
{
    if (!rs->unc1)
        return SM_OK;
    sm_status st;
    size_t a_lo, a_hi, m_lo = 0, m_hi = 0;
    if ((st = sm_results_add(rs->res, ctx, "sink_a1lo", SM_RESULT_REAL, "t CO2e/yr",
                             "sink 95% interval, lower bound, IPCC Approach 1", &a_lo)) != SM_OK ||
        (st = sm_results_add(rs->res, ctx, "sink_a1hi", SM_RESULT_REAL, "t CO2e/yr",
                             "sink 95% interval, upper bound, IPCC Approach 1", &a_hi)) != SM_OK)
        return st;
    if (rs->unc2 && ((st = sm_results_add(rs->res, ctx, "sink_mclo", SM_RESULT_REAL, "t CO2e/yr",
                                          "sink 95% interval, lower bound, Monte Carlo (2.5 percentile)", &m_lo)) != SM_OK ||
                     (st = sm_results_add(rs->res, ctx, "sink_mchi", SM_RESULT_REAL, "t CO2e/yr",
                                          "sink 95% interval, upper bound, Monte Carlo (97.5 percentile)", &m_hi)) != SM_OK))
        return st;
    for (size_t i = 0; i < rs->plan.nparcels; i++) {
        size_t k = rs->unc_index[i];
        if (k == SIZE_MAX)
            continue;
        sm_results_set(rs->res, i, a_lo, rs->unc1->parcels[k].sink.lo95);
        sm_results_set(rs->res, i, a_hi, rs->unc1->parcels[k].sink.hi95);
        if (rs->unc2) {
            sm_results_set(rs->res, i, m_lo, rs->unc2->parcels[k].sink.lo95);
            sm_results_set(rs->res, i, m_hi, rs->unc2->parcels[k].sink.hi95);
        }
    }
    return SM_OK;
}

/* ---- suspected-change parcels (疑似变化小班) and the transition matrix ---- */

/* The period of change: the sink period, else the first and last scenes. */
static void change_scenes(const sm__plan *plan, size_t *a, size_t *b)
{
    const sm_job *job = plan->job;
    *a = 0;
    *b = plan->nscenes - 1;
    if (job->sink_from) {
        *a = (size_t)(sm_job_find_scene(job, job->sink_from) - job->scenes);
        *b = (size_t)(sm_job_find_scene(job, job->sink_to) - job->scenes);
    }
}

typedef struct lost_item {
    double lost;
    size_t i;
} lost_item;

static int cmp_lost(const void *a, const void *b)
{
    const lost_item *x = a, *y = b;
    if (x->lost != y->lost)
        return x->lost > y->lost ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* changes.gpkg: inventory forest parcels (tree forest, bamboo) whose forest fraction fell below
 * min_forest or by forest_drop, or whose dNBR exceeds the threshold; ranked by the forest area
 * lost, for field verification. */
static sm_status write_changes(sm_context *ctx, run_state *rs, const char *path, size_t *nchanged)
{
    const sm__plan *plan = &rs->plan;
    const sm_job *job = plan->job;
    size_t a, b;
    change_scenes(plan, &a, &b);
    *nchanged = 0;
    if (a == b)
        return SM_OK;
    sm_results *cr = NULL;
    unsigned char *keep = calloc(plan->nparcels ? plan->nparcels : 1, 1);
    double *lost = calloc(plan->nparcels ? plan->nparcels : 1, sizeof *lost);
    sm_status st = (keep && lost) ? sm_results_create(&cr, ctx, plan->nparcels) : sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    size_t c_before, c_after, c_drop, c_dnbr, c_lost, c_reason, c_rank;
    if (st != SM_OK || (st = sm_results_add(cr, ctx, "ff_before", SM_RESULT_REAL, "share", "forest fraction at the start of the period", &c_before)) != SM_OK ||
        (st = sm_results_add(cr, ctx, "ff_after", SM_RESULT_REAL, "share", "forest fraction at the end of the period", &c_after)) != SM_OK ||
        (st = sm_results_add(cr, ctx, "ff_drop", SM_RESULT_REAL, "share", "ff_before − ff_after", &c_drop)) != SM_OK ||
        (st = sm_results_add(cr, ctx, "dnbr", SM_RESULT_REAL, "index", "mean dNBR over the period", &c_dnbr)) != SM_OK ||
        (st = sm_results_add(cr, ctx, "lost_ha", SM_RESULT_REAL, "ha", "forest area lost: area × ff_drop", &c_lost)) != SM_OK ||
        (st = sm_results_add(cr, ctx, "reason", SM_RESULT_TEXT, "", "why the parcel is listed", &c_reason)) != SM_OK ||
        (st = sm_results_add(cr, ctx, "rank", SM_RESULT_INT, "", "1 = the most forest lost", &c_rank)) != SM_OK)
        goto end;
    const sm_results *r = rs->res;
    char n1[16], n2[16], o1[16], o2[16];
    snprintf(n1, sizeof n1, "ff_%s", plan->scenes[a].job->id);
    snprintf(n2, sizeof n2, "ff_%s", plan->scenes[b].job->id);
    snprintf(o1, sizeof o1, "obs_%s", plan->scenes[a].job->id);
    snprintf(o2, sizeof o2, "obs_%s", plan->scenes[b].job->id);
    long cf1 = sm_results_find(r, n1), cf2 = sm_results_find(r, n2), co1 = sm_results_find(r, o1), co2 = sm_results_find(r, o2);
    long cda = sm_results_find(r, "area_ha");
    const sm__scene_acc *acc = plan->acc;
    for (size_t i = 0; i < plan->nparcels; i++) {
        int lc = rs->stands[i].lc_code;
        if (lc != 1 && lc != 2)
            continue;
        double f1 = sm_results_get(r, i, (size_t)cf1), f2 = sm_results_get(r, i, (size_t)cf2);
        if (!(sm_results_get(r, i, (size_t)co1) >= 0.5) || !(sm_results_get(r, i, (size_t)co2) >= 0.5) || isnan(f1) || isnan(f2))
            continue;
        const sm__scene_acc *x = &acc[i * plan->nscenes + a], *y = &acc[i * plan->nscenes + b];
        double dnbr = (x->nbr_w > 0 && y->nbr_w > 0) ? x->nbr_sum / x->nbr_w - y->nbr_sum / y->nbr_w : NAN;
        char reason[128] = "";
        if (f2 < job->change_min_forest)
            add_flag(reason, sizeof reason, "forest_below_min");
        if (f1 - f2 >= job->change_drop)
            add_flag(reason, sizeof reason, "forest_drop");
        if (dnbr > job->change_dnbr)
            add_flag(reason, sizeof reason, "dnbr");
        if (!reason[0])
            continue;
        keep[i] = 1;
        (*nchanged)++;
        double area = sm_results_get(r, i, (size_t)cda);
        lost[i] = area * (f1 - f2 > 0 ? f1 - f2 : 0);
        sm_results_set(cr, i, c_before, f1);
        sm_results_set(cr, i, c_after, f2);
        sm_results_set(cr, i, c_drop, f1 - f2);
        sm_results_set(cr, i, c_dnbr, dnbr);
        sm_results_set(cr, i, c_lost, lost[i]);
        if ((st = sm_results_set_text(cr, ctx, i, c_reason, reason)) != SM_OK)
            goto end;
    }
    /* rank: most forest lost first; ties by feature order */
    {
        lost_item *order = malloc((*nchanged ? *nchanged : 1) * sizeof *order);
        size_t m = 0;
        if (!order) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            goto end;
        }
        for (size_t i = 0; i < plan->nparcels; i++)
            if (keep[i]) {
                order[m].lost = lost[i];
                order[m++].i = i;
            }
        qsort(order, m, sizeof *order, cmp_lost);
        for (size_t k = 0; k < m; k++)
            sm_results_set(cr, order[k].i, c_rank, (double)(k + 1));
        free(order);
    }
    st = sm_results_write_layer_subset(cr, ctx, plan->parcels, path, "GPKG", keep);
end:
    sm_results_destroy(cr);
    free(keep);
    free(lost);
    return st;
}

/* The pixels of each (from, to) pair of land-cover codes, counted over strips of rows: the
 * strips in T runs, one per counter, each with its own handles and table (in a run the
 * decoder's block cache serves consecutive strips); the tables are then added. Counts are
 * whole numbers below 2^53, so the sums are exact in any order. */
typedef struct trans_count {
    sm_context *ctx; /* the counter's own */
    const char *pa, *pb;
    const sm_grid *g;
    int64_t strip;
    size_t s0, s1; /* strips s0 .. s1 - 1 */
    double counts[SM__NCODES][SM__NCODES];
    sm_status st;
} trans_count;

static sm_status count_transitions(trans_count *tc)
{
    sm_raster *ra = NULL, *rb = NULL;
    double *ba = NULL, *bb = NULL;
    const sm_grid *g = tc->g;
    sm_status st;
    memset(tc->counts, 0, sizeof tc->counts);
    if ((st = sm_raster_open(&ra, tc->ctx, tc->pa)) != SM_OK || (st = sm_raster_open(&rb, tc->ctx, tc->pb)) != SM_OK)
        goto end;
    size_t n = (size_t)tc->strip * (size_t)g->ncols;
    ba = malloc(n * sizeof *ba);
    bb = malloc(n * sizeof *bb);
    if (!ba || !bb) {
        st = sm_error(tc->ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (size_t k = tc->s0; k < tc->s1; k++) {
        int64_t r0 = (int64_t)k * tc->strip;
        sm_window win = {0, r0, g->ncols, r0 + tc->strip > g->nrows ? g->nrows - r0 : tc->strip};
        if ((st = sm_raster_read(ra, tc->ctx, 1, g, &win, SM_RESAMPLE_NEAREST, ba)) != SM_OK ||
            (st = sm_raster_read(rb, tc->ctx, 1, g, &win, SM_RESAMPLE_NEAREST, bb)) != SM_OK)
            goto end;
        size_t m = (size_t)win.ncols * (size_t)win.nrows;
        for (size_t i = 0; i < m; i++) {
            if (isnan(ba[i]) || isnan(bb[i]))
                continue; /* nodata in either */
            int x = (int)ba[i], y = (int)bb[i];
            if (x > 0 && x < SM__NCODES && y > 0 && y < SM__NCODES)
                tc->counts[x][y] += 1;
        }
    }
end:
    sm_raster_close(ra);
    sm_raster_close(rb);
    free(ba);
    free(bb);
    return st;
}

static void *count_transitions_main(void *arg)
{
    trans_count *tc = arg;
    tc->st = count_transitions(tc);
    return NULL;
}

/* transitions.csv: land cover from the period's first scene to its last, in pixels, ha and mu,
 * read back from the two written land-cover rasters strip by strip. */
static sm_status write_transitions(sm_context *ctx, run_state *rs, const char *stage, const char *path)
{
    const sm__plan *plan = &rs->plan;
    size_t a, b;
    change_scenes(plan, &a, &b);
    if (a == b)
        return SM_OK;
    sm_status st = SM_OK;
    sm_csv_writer *w = NULL;
    double counts[SM__NCODES][SM__NCODES];
    memset(counts, 0, sizeof counts);
    const sm_grid *g = &plan->grid;
    int64_t strip = sm__strip_rows(g->ncols);
    size_t nstrips = (size_t)((g->nrows + strip - 1) / strip);
    size_t nt = plan->threads > 1 ? (size_t)plan->threads : 1;
    if (nt > nstrips)
        nt = nstrips ? nstrips : 1;
    char *pa = sm__asprintf(ctx, "%s/landcover_%s.tif", stage, plan->scenes[a].job->id);
    char *pb = sm__asprintf(ctx, "%s/landcover_%s.tif", stage, plan->scenes[b].job->id);
    trans_count *tcs = calloc(nt, sizeof *tcs);
    pthread_t *tids = calloc(nt, sizeof *tids);
    int *started = calloc(nt, sizeof *started);
    if (!pa || !pb || !tcs || !tids || !started) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (size_t t = 0; t < nt; t++) {
        tcs[t] = (trans_count){sm_context_create(), pa, pb, g, strip, t * nstrips / nt, (t + 1) * nstrips / nt,
                               {{0}}, SM_OK};
        if (!tcs[t].ctx) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            goto end;
        }
    }
    for (size_t t = 1; t < nt; t++)
        started[t] = pthread_create(&tids[t], NULL, count_transitions_main, &tcs[t]) == 0;
    count_transitions_main(&tcs[0]);
    for (size_t t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(tids[t], NULL);
        else
            count_transitions_main(&tcs[t]); /* no thread to be had: here */
    }
    for (size_t t = 0; t < nt && st == SM_OK; t++) {
        if (tcs[t].st != SM_OK) {
            st = sm_error(ctx, tcs[t].st, "%s", sm_context_message(tcs[t].ctx));
            break;
        }
        for (int x = 0; x < SM__NCODES; x++)
            for (int y = 0; y < SM__NCODES; y++)
                counts[x][y] += tcs[t].counts[x][y];
    }
    if (st != SM_OK)
        goto end;
    if ((st = sm_csv_writer_open(&w, ctx, path, SM_CSV_BOM)) != SM_OK)
        goto end;
    const char *head[] = {"from_code", "from_name", "to_code", "to_name", "pixels", "area_ha", "area_mu"};
    for (size_t k = 0; k < 7; k++)
        if ((st = sm_csv_writer_text(w, head[k])) != SM_OK)
            goto end;
    if ((st = sm_csv_writer_end_row(w)) != SM_OK)
        goto end;
    double cell_ha = g->dx * g->dy / 10000.0;
    for (int x = 1; x < SM__NCODES; x++)
        for (int y = 1; y < SM__NCODES; y++) {
            if (counts[x][y] == 0)
                continue;
            char fx[96], fy[96];
            snprintf(fx, sizeof fx, "%s %s", sm_legend_find(x)->name_zh, sm_legend_find(x)->name_en);
            snprintf(fy, sizeof fy, "%s %s", sm_legend_find(y)->name_zh, sm_legend_find(y)->name_en);
            if ((st = sm_csv_writer_long(w, x)) != SM_OK || (st = sm_csv_writer_text(w, fx)) != SM_OK ||
                (st = sm_csv_writer_long(w, y)) != SM_OK || (st = sm_csv_writer_text(w, fy)) != SM_OK ||
                (st = sm_csv_writer_double(w, counts[x][y])) != SM_OK ||
                (st = sm_csv_writer_double(w, counts[x][y] * cell_ha)) != SM_OK ||
                (st = sm_csv_writer_double(w, sm_ha_to_mu(counts[x][y] * cell_ha))) != SM_OK ||
                (st = sm_csv_writer_end_row(w)) != SM_OK)
                goto end;
        }
    st = sm_csv_writer_close(w);
    w = NULL;
end:
    sm_csv_writer_destroy(w);
    if (tcs)
        for (size_t t = 0; t < nt; t++)
            sm_context_destroy(tcs[t].ctx);
    free(tcs);
    free(tids);
    free(started);
    free(pa);
    free(pb);
    return st;
}

/* ---- summary.csv ---- */

typedef struct group_sum {
    const char *group; /* total, township, land_class */
    char key[128];
    size_t n;
    double area_ha, stand_ha;
    double forest_ha[64], stock[64], carbon[64], carbon_fang[64], pools[64];
    double sink_c, sink_co2, sink_pools, wl_co2, wl_ch4, wl_ch4e, gl_c, gl_co2;
    sm_unc_figures a1, mc; /* 95 % intervals of the group's stands (Approach 1, Monte Carlo) */
} group_sum;

/* The groupings of summary.csv as units of the stands' uncertainty model: grouping k holds the
 * groups g0[k] .. g1[k] − 1 of the summary, and unit[k][row] is the group (less g0[k]) of the
 * stand in that row of the uncertainty results. */
typedef struct group_units {
    size_t n;
    size_t g0[8], g1[8];
    size_t *unit[8];
} group_units;

/* Adds the grouping of groups g0 .. g1 − 1 (pg = each parcel's group). */
static sm_status group_units_add(sm_context *ctx, run_state *rs, group_units *gu, size_t g0, size_t g1,
                                 const size_t *pg)
{
    if (!rs->unc_up || g1 <= g0)
        return SM_OK;
    if (gu->n == sizeof gu->unit / sizeof gu->unit[0])
        return sm_error(ctx, SM_ERR_INTERNAL, "summary: too many groupings");
    size_t *unit = malloc((rs->unc_n ? rs->unc_n : 1) * sizeof *unit);
    if (!unit)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < rs->plan.nparcels; i++) {
        size_t k = rs->unc_index[i];
        if (k == SIZE_MAX)
            continue;
        if (pg[i] < g0 || pg[i] >= g1) {
            free(unit);
            return sm_error(ctx, SM_ERR_INTERNAL, "summary: a stand without a group");
        }
        unit[k] = pg[i] - g0;
    }
    gu->g0[gu->n] = g0;
    gu->g1[gu->n] = g1;
    gu->unit[gu->n++] = unit;
    return SM_OK;
}

static void group_units_free(group_units *gu)
{
    for (size_t k = 0; k < gu->n; k++)
        free(gu->unit[k]);
    gu->n = 0;
}

/* The intervals of every group of every grouping: the stands' uncertainty model with each
 * grouping's groups as its units, all groupings in one pass of each estimator (the same figures
 * as one run per grouping, bit for bit). */
static sm_status group_intervals(sm_context *ctx, run_state *rs, group_sum *gs, const group_units *gu)
{
    if (!rs->unc_up || gu->n == 0)
        return SM_OK;
    sm_unc_grouping gr[8];
    sm_unc_result *a1[8] = {NULL}, *mc[8] = {NULL};
    size_t *count = NULL;
    for (size_t k = 0; k < gu->n; k++) {
        gr[k].units = gu->g1[k] - gu->g0[k];
        gr[k].unit = gu->unit[k];
    }
    sm_status st = sm_uncertainty_approach1_grouped(NULL, a1, ctx, rs->unc_groups, rs->unc_ng, rs->unc_up, rs->unc_n,
                                                    gr, gu->n, &rs->unc_opt);
    if (st == SM_OK && rs->unc2)
        st = sm_uncertainty_mc_grouped(NULL, mc, ctx, rs->unc_groups, rs->unc_ng, rs->unc_up, rs->unc_n, gr, gu->n,
                                       &rs->unc_opt);
    const sm_interval none = {NAN, NAN, NAN, NAN};
    const sm_unc_figures empty = {none, none, none};
    for (size_t k = 0; k < gu->n && st == SM_OK; k++) {
        size_t g0 = gu->g0[k], g1 = gu->g1[k];
        if (!(count = calloc(g1 - g0, sizeof *count))) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t r = 0; r < rs->unc_n; r++)
            count[gu->unit[k][r]]++;
        for (size_t g = g0; g < g1; g++) {
            /* a group without stands has no interval (not a zero-width one) */
            gs[g].a1 = count[g - g0] ? a1[k]->units[g - g0] : empty;
            gs[g].mc = (mc[k] && count[g - g0]) ? mc[k]->units[g - g0] : empty;
        }
        free(count);
        count = NULL;
    }
    for (size_t k = 0; k < gu->n; k++) {
        sm_unc_result_destroy(a1[k]);
        sm_unc_result_destroy(mc[k]);
    }
    return st;
}

static double val0(const sm_results *r, size_t i, long col)
{
    if (col < 0)
        return 0;
    double v = sm_results_get(r, i, (size_t)col);
    return isnan(v) ? 0 : v;
}

static sm_status write_summary(sm_context *ctx, run_state *rs, const char *path)
{
    sm__plan *plan = &rs->plan;
    const sm_job *job = plan->job;
    const sm_results *r = rs->res;
    size_t ns = plan->nscenes, cap = 8 * plan->nparcels + 64, ng = 0;
    group_sum *gs = calloc(cap, sizeof *gs);
    sm_csv_writer *w = NULL;
    sm_status st = SM_OK;
    if (!gs)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    static const char *const GROUPS[] = {"total",   "county",    "township",  "village",
                                         "species_group", "origin", "age_group", "land_class"};
    static const char *const AGE_NAMES[] = {"", "幼龄林 young", "中龄林 middle-aged", "近熟林 near-mature",
                                            "成熟林 mature", "过熟林 over-mature"};
    const sm_parcels *pp = plan->parcels;
    /* the result columns, looked up once */
    long col_area = sm_results_find(r, "area_ha"), col_sink_c = sm_results_find(r, "sink_tc"),
         col_sink_co2 = sm_results_find(r, "sink_co2"), col_sinkp = sm_results_find(r, "sinkp_co2"),
         col_wl_co2 = sm_results_find(r, "wl_co2"), col_wl_ch4 = sm_results_find(r, "wl_ch4"),
         col_wl_ch4e = sm_results_find(r, "wl_ch4co2"), col_gl_c = sm_results_find(r, "gl_tc"),
         col_gl_co2 = sm_results_find(r, "gl_co2");
    long col_ff[64], col_stk[64], col_c[64], col_cf[64], col_cp[64];
    for (size_t s = 0; s < ns; s++) {
        char name[16];
        const char *id = plan->scenes[s].job->id;
        snprintf(name, sizeof name, "ff_%s", id);
        col_ff[s] = sm_results_find(r, name);
        snprintf(name, sizeof name, "stk_%s", id);
        col_stk[s] = sm_results_find(r, name);
        snprintf(name, sizeof name, "c_%s", id);
        col_c[s] = sm_results_find(r, name);
        snprintf(name, sizeof name, "cf_%s", id);
        col_cf[s] = sm_results_find(r, name);
        snprintf(name, sizeof name, "cp_%s", id);
        col_cp[s] = sm_results_find(r, name);
    }
    size_t hcap = 64;
    while (hcap < 2 * (plan->nparcels + 1))
        hcap *= 2;
    group_units gu = {0};
    size_t *htab = malloc(hcap * sizeof *htab);
    size_t *pg = malloc((plan->nparcels ? plan->nparcels : 1) * sizeof *pg);
    if (!htab || !pg) {
        free(htab);
        free(pg);
        free(gs);
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    }
    for (int pass = 0; pass < 8; pass++) {
        const char *gname = GROUPS[pass];
        size_t g0 = ng;
        for (size_t k = 0; k < hcap; k++)
            htab[k] = SIZE_MAX;
        for (size_t i = 0; i < plan->nparcels; i++)
            pg[i] = SIZE_MAX;
        for (size_t i = 0; i < plan->nparcels; i++) {
            char key[128];
            const stand *sd = &rs->stands[i];
            switch (pass) {
            case 0:
                snprintf(key, sizeof key, "all");
                break;
            case 1:
                snprintf(key, sizeof key, "%s", sm_parcels_str(pp, i, SM_FIELD_COUNTY));
                break;
            case 2: /* a township is named within its county */
                snprintf(key, sizeof key, "%s/%s", sm_parcels_str(pp, i, SM_FIELD_COUNTY),
                         sm_parcels_str(pp, i, SM_FIELD_TOWNSHIP));
                break;
            case 3:
                snprintf(key, sizeof key, "%s/%s/%s", sm_parcels_str(pp, i, SM_FIELD_COUNTY),
                         sm_parcels_str(pp, i, SM_FIELD_TOWNSHIP), sm_parcels_str(pp, i, SM_FIELD_VILLAGE));
                break;
            case 4:
                snprintf(key, sizeof key, "%s", sd->is_stand ? sd->group->key : "(no stand)");
                break;
            case 5:
                snprintf(key, sizeof key, "%s", sd->is_stand ? sm_origin_name(sd->origin) : "(no stand)");
                break;
            case 6: {
                const char *ag = sm_parcels_str(pp, i, SM_FIELD_AGE_GROUP);
                int k = atoi(ag);
                if (!sd->is_stand)
                    snprintf(key, sizeof key, "(no stand)");
                else if (k >= 1 && k <= 5 && strlen(ag) == 1)
                    snprintf(key, sizeof key, "%d %s", k, AGE_NAMES[k]);
                else
                    snprintf(key, sizeof key, "%s", ag[0] ? ag : "(none)");
                break;
            }
            default: {
                const sm_legend_entry *e = sm_legend_find(sd->lc_code);
                snprintf(key, sizeof key, "%d %s", e ? e->code : 0, (e && sd->lc_code) ? e->name_zh : "(none)");
                break;
            }
            }
            if ((pass == 1 && !job->fields[SM_FIELD_COUNTY]) || (pass == 2 && !job->fields[SM_FIELD_TOWNSHIP]) ||
                (pass == 3 && !job->fields[SM_FIELD_VILLAGE]) || (pass == 6 && !job->fields[SM_FIELD_AGE_GROUP]))
                break; /* a grouping the job cannot make */
            /* find or add the group: open addressing on the key's FNV-1a hash */
            uint64_t hv = 1469598103934665603ULL;
            for (const unsigned char *q = (const unsigned char *)key; *q; q++)
                hv = (hv ^ *q) * 1099511628211ULL;
            size_t slot = (size_t)hv & (hcap - 1), g = SIZE_MAX;
            while (htab[slot] != SIZE_MAX) {
                if (strcmp(gs[htab[slot]].key, key) == 0) {
                    g = htab[slot];
                    break;
                }
                slot = (slot + 1) & (hcap - 1);
            }
            if (g == SIZE_MAX) {
                if (ng == cap)
                    break;
                snprintf(gs[ng].key, sizeof gs[ng].key, "%s", key);
                htab[slot] = ng;
                g = ng++;
            }
            group_sum *x = &gs[g];
            pg[i] = g;
            x->n++;
            double a = val0(r, i, col_area);
            x->area_ha += a;
            if (rs->stands[i].is_stand)
                x->stand_ha += a;
            for (size_t s = 0; s < ns; s++) {
                x->forest_ha[s] += a * val0(r, i, col_ff[s]);
                x->stock[s] += val0(r, i, col_stk[s]);
                x->carbon[s] += val0(r, i, col_c[s]);
                x->carbon_fang[s] += val0(r, i, col_cf[s]);
                x->pools[s] += val0(r, i, col_cp[s]);
            }
            x->sink_c += val0(r, i, col_sink_c);
            x->sink_co2 += val0(r, i, col_sink_co2);
            x->sink_pools += val0(r, i, col_sinkp);
            x->wl_co2 += val0(r, i, col_wl_co2);
            x->wl_ch4 += val0(r, i, col_wl_ch4);
            x->wl_ch4e += val0(r, i, col_wl_ch4e);
            x->gl_c += val0(r, i, col_gl_c);
            x->gl_co2 += val0(r, i, col_gl_co2);
        }
        for (size_t g = g0; g < ng; g++)
            gs[g].group = gname;
        if ((st = group_units_add(ctx, rs, &gu, g0, ng, pg)) != SM_OK)
            goto end;
    }
    if ((st = group_intervals(ctx, rs, gs, &gu)) != SM_OK)
        goto end;
    if ((st = sm_csv_writer_open(&w, ctx, path, SM_CSV_BOM)) != SM_OK)
        goto end;
    const char *head[] = {"group", "key", "parcels", "area_ha", "area_mu", "stand_ha", "stand_mu"};
    for (size_t k = 0; k < 7; k++)
        if ((st = sm_csv_writer_text(w, head[k])) != SM_OK)
            goto end;
    char name[64];
    for (size_t s = 0; s < ns; s++) {
        const char *id = plan->scenes[s].job->id;
        const char *fmts[] = {"forest_ha_%s", "stock_m3_%s", "carbon_tc_%s", "carbon_fang_tc_%s", "carbon_tco2e_%s",
                              "carbon_pools_tc_%s"};
        for (size_t k = 0; k < 6; k++) {
            snprintf(name, sizeof name, fmts[k], id);
            if ((st = sm_csv_writer_text(w, name)) != SM_OK)
                goto end;
        }
    }
    if (job->sink_from) {
        if ((st = sm_csv_writer_text(w, "sink_tc_per_yr")) != SM_OK || (st = sm_csv_writer_text(w, "sink_tco2e_per_yr")) != SM_OK ||
            (st = sm_csv_writer_text(w, "sink_pools_tco2e_per_yr")) != SM_OK ||
            (st = sm_csv_writer_text(w, "gl_tc_per_yr")) != SM_OK || (st = sm_csv_writer_text(w, "gl_tco2e_per_yr")) != SM_OK)
            goto end;
    }
    for (int a = 0; a < 2 && rs->unc_up; a++) {
        if (a == 1 && !rs->unc2)
            break;
        const char *ap = a ? "mc" : "a1";
        for (int k = 0; k < 3; k++) {
            const char *what = k == 2 ? "sink_tco2e" : "carbon_tc_";
            const char *sid = k == 0 ? job->sink_from : k == 1 ? job->sink_to : "";
            for (int b = 0; b < 2; b++) {
                snprintf(name, sizeof name, "%s%s%s%s%s", what, sid, k < 2 ? "_" : "_", ap, b ? "hi" : "lo");
                if ((st = sm_csv_writer_text(w, name)) != SM_OK)
                    goto end;
            }
        }
    }
    if ((st = sm_csv_writer_text(w, "wetland_sink_tco2e_per_yr")) != SM_OK || (st = sm_csv_writer_text(w, "wetland_ch4_t_per_yr")) != SM_OK ||
        (st = sm_csv_writer_text(w, "wetland_ch4_tco2e_per_yr")) != SM_OK)
        goto end;
    if ((st = sm_csv_writer_end_row(w)) != SM_OK)
        goto end;
    for (size_t g = 0; g < ng; g++) {
        group_sum *x = &gs[g];
        if ((st = sm_csv_writer_text(w, x->group)) != SM_OK || (st = sm_csv_writer_text(w, x->key)) != SM_OK ||
            (st = sm_csv_writer_long(w, (long long)x->n)) != SM_OK || (st = sm_csv_writer_double(w, x->area_ha)) != SM_OK ||
            (st = sm_csv_writer_double(w, sm_ha_to_mu(x->area_ha))) != SM_OK ||
            (st = sm_csv_writer_double(w, x->stand_ha)) != SM_OK ||
            (st = sm_csv_writer_double(w, sm_ha_to_mu(x->stand_ha))) != SM_OK)
            goto end;
        for (size_t s = 0; s < ns; s++) {
            double v[6] = {x->forest_ha[s], x->stock[s], x->carbon[s], x->carbon_fang[s], sm_c_to_co2e(x->carbon[s]), x->pools[s]};
            for (size_t k = 0; k < 6; k++)
                if ((st = sm_csv_writer_double(w, v[k])) != SM_OK)
                    goto end;
        }
        if (job->sink_from && ((st = sm_csv_writer_double(w, x->sink_c)) != SM_OK ||
                               (st = sm_csv_writer_double(w, x->sink_co2)) != SM_OK ||
                               (st = sm_csv_writer_double(w, x->sink_pools)) != SM_OK ||
                               (st = sm_csv_writer_double(w, x->gl_c)) != SM_OK ||
                               (st = sm_csv_writer_double(w, x->gl_co2)) != SM_OK))
            goto end;
        for (int a = 0; a < 2 && rs->unc_up; a++) {
            if (a == 1 && !rs->unc2)
                break;
            const sm_unc_figures *f = a ? &x->mc : &x->a1;
            const sm_interval *iv[3] = {&f->stock1, &f->stock2, &f->sink};
            for (int k = 0; k < 3; k++)
                if ((st = sm_csv_writer_double(w, iv[k]->lo95)) != SM_OK || (st = sm_csv_writer_double(w, iv[k]->hi95)) != SM_OK)
                    goto end;
        }
        if ((st = sm_csv_writer_double(w, x->wl_co2)) != SM_OK || (st = sm_csv_writer_double(w, x->wl_ch4)) != SM_OK ||
            (st = sm_csv_writer_double(w, x->wl_ch4e)) != SM_OK)
            goto end;
        if ((st = sm_csv_writer_end_row(w)) != SM_OK)
            goto end;
    }
    st = sm_csv_writer_close(w);
    w = NULL;
end:
    sm_csv_writer_destroy(w);
    group_units_free(&gu);
    free(htab);
    free(pg);
    free(gs);
    return st;
}

/* ---- volume_model.csv: the regression of each scene and its cross-validation ---- */

static sm_status write_volume_model(sm_context *ctx, run_state *rs, const char *path)
{
    const sm__plan *plan = &rs->plan;
    const sm_job *job = plan->job;
    sm_csv_writer *w = NULL;
    sm_status st = sm_csv_writer_open(&w, ctx, path, SM_CSV_BOM);
    if (st != SM_OK)
        return st;
    char name[48], feats[256] = "";
    for (size_t k = 0; k < rs->vm_nfeat; k++)
        snprintf(feats + strlen(feats), sizeof feats - strlen(feats), "%s%s", k ? "," : "", rs->vm_feat[k]);
    const char *head[] = {"scene", "date", "features", "calibration_parcels", "folds", "seed", "intercept"};
    for (size_t k = 0; k < 7 && st == SM_OK; k++)
        st = sm_csv_writer_text(w, head[k]);
    for (size_t k = 0; k < rs->vm_nfeat && st == SM_OK; k++) {
        snprintf(name, sizeof name, "coef_%s", rs->vm_feat[k]);
        st = sm_csv_writer_text(w, name);
    }
    const char *tail[] = {"r2", "rmse_m3_ha", "cv_r2", "cv_rmse_m3_ha", "applied_parcels", "note"};
    for (size_t k = 0; k < 6 && st == SM_OK; k++)
        st = sm_csv_writer_text(w, tail[k]);
    if (st == SM_OK)
        st = sm_csv_writer_end_row(w);
    for (size_t s = 0; s < plan->nscenes && st == SM_OK; s++) {
        const vm_scene *v = &rs->vm[s];
        if (!v->fitted) {
            /* the scene, its date and features, and why there is no model */
            if ((st = sm_csv_writer_text(w, plan->scenes[s].job->id)) != SM_OK ||
                (st = sm_csv_writer_text(w, plan->scenes[s].job->date)) != SM_OK || (st = sm_csv_writer_text(w, feats)) != SM_OK)
                break;
            for (size_t k = 0; k < 3 + rs->vm_nfeat + 1 + 5 && st == SM_OK; k++)
                st = sm_csv_writer_text(w, "");
            if (st == SM_OK && (st = sm_csv_writer_text(w, v->note)) == SM_OK)
                st = sm_csv_writer_end_row(w);
            continue;
        }
        if ((st = sm_csv_writer_text(w, plan->scenes[s].job->id)) != SM_OK ||
            (st = sm_csv_writer_text(w, plan->scenes[s].job->date)) != SM_OK || (st = sm_csv_writer_text(w, feats)) != SM_OK ||
            (st = sm_csv_writer_long(w, (long long)v->m.n)) != SM_OK || (st = sm_csv_writer_long(w, (long long)v->m.folds)) != SM_OK ||
            (st = sm_csv_writer_long(w, (long long)job->vm_seed)) != SM_OK)
            break;
        for (size_t k = 0; k <= rs->vm_nfeat && st == SM_OK; k++)
            st = sm_csv_writer_double(w, v->m.coef[k]);
        double t[4] = {v->m.r2, v->m.rmse, v->m.cv_r2, v->m.cv_rmse};
        for (size_t k = 0; k < 4 && st == SM_OK; k++)
            st = sm_csv_writer_double(w, t[k]);
        if (st == SM_OK && (st = sm_csv_writer_long(w, (long long)v->applied)) == SM_OK &&
            (st = sm_csv_writer_text(w, "")) == SM_OK)
            st = sm_csv_writer_end_row(w);
    }
    if (st != SM_OK) {
        sm_csv_writer_destroy(w);
        return st;
    }
    return sm_csv_writer_close(w);
}

/* ---- indicators.csv: the plan's 2025 targets (Nanchong 碳达峰实施方案, 三(七)) ---- */

/* Exact overlay areas for the indicators, in the parcels' CRS (m²): the inventory's wetland
 * and water parcels (land classes mapped to 湿地 and 水域) and their part inside the protected
 * areas; the union of the management records dated y0..y1. NAN where the layer is not given. */
static sm_status indicator_overlays(sm_context *ctx, run_state *rs, int y0, int y1, double *wet, double *wet_in,
                                    double *managed)
{
    const sm__plan *plan = &rs->plan;
    const char *wkt = sm_parcels_crs_wkt(plan->parcels);
    sm_parcel_geoms *own = NULL, *pg = NULL;
    sm_overlay *ov = NULL;
    sm_status st = SM_OK;
    *wet = *wet_in = *managed = NAN;
    if (rs->protected_areas) {
        if ((st = sm_parcels_project(&pg, ctx, rs->protected_areas, wkt)) != SM_OK ||
            (st = sm_parcels_project(&own, ctx, plan->parcels, wkt)) != SM_OK || (st = sm_overlay_create(&ov, ctx)) != SM_OK)
            goto end;
        for (size_t k = 0; k < sm_parcels_count(rs->protected_areas); k++) {
            size_t np;
            const sm_polygon *parts = sm_parcel_geoms_parts(pg, k, &np);
            if (np && (st = sm_overlay_add(ov, ctx, parts, np)) != SM_OK)
                goto end;
        }
        if ((st = sm_overlay_finish(ov, ctx)) != SM_OK)
            goto end;
        *wet = *wet_in = 0;
        for (size_t i = 0; i < plan->nparcels; i++) {
            int lc = rs->stands[i].lc_code;
            size_t np;
            const sm_polygon *parts = sm_parcel_geoms_parts(own, i, &np);
            if ((lc != 5 && lc != 6) || !np)
                continue;
            double in;
            if ((st = sm_overlay_inside_area(ov, ctx, parts, np, &in)) != SM_OK)
                goto end;
            *wet += sm_polygon_area(parts, np);
            *wet_in += in;
        }
        sm_overlay_destroy(ov);
        ov = NULL;
    }
    if (rs->mgmt) {
        sm_parcel_geoms_destroy(pg);
        pg = NULL;
        if ((st = sm_parcels_project(&pg, ctx, rs->mgmt, wkt)) != SM_OK || (st = sm_overlay_create(&ov, ctx)) != SM_OK)
            goto end;
        for (size_t k = 0; k < sm_parcels_count(rs->mgmt); k++) {
            int y = atoi(sm_parcels_str(rs->mgmt, k, SM_FIELD_SURVEY_YEAR));
            size_t np;
            const sm_polygon *parts = sm_parcel_geoms_parts(pg, k, &np);
            if (y >= y0 && y <= y1 && np && (st = sm_overlay_add(ov, ctx, parts, np)) != SM_OK)
                goto end;
        }
        if ((st = sm_overlay_finish(ov, ctx)) != SM_OK)
            goto end;
        *managed = sm_overlay_area(ov);
    }
end:
    sm_overlay_destroy(ov);
    sm_parcel_geoms_destroy(pg);
    sm_parcel_geoms_destroy(own);
    return st;
}

static sm_status write_indicators(sm_context *ctx, run_state *rs, const char *path)
{
    const sm__plan *plan = &rs->plan;
    const sm_job *job = plan->job;
    const sm_results *r = rs->res;
    size_t ns = plan->nscenes;
    /* The state at the end of the period (sink_to), else the last scene. */
    size_t last = ns - 1;
    for (size_t s = 0; s < ns && job->sink_to; s++)
        if (strcmp(plan->scenes[s].job->id, job->sink_to) == 0)
            last = s;
    const char *id = plan->scenes[last].job->id;
    char name[16];
    snprintf(name, sizeof name, "stk_%s", id);
    long cstk = sm_results_find(r, name);
    snprintf(name, sizeof name, "obs_%s", id);
    long cobs = sm_results_find(r, name);
    long carea = sm_results_find(r, "area_ha");
    double area = 0, observed = 0, forest = 0, wetland = 0, stock = 0, affor = 0;
    size_t n_inv = 0, n_img = 0;
    size_t first = 0; /* the start of the period: sink_from, else the first scene */
    for (size_t s = 0; s < ns && job->sink_from; s++)
        if (strcmp(plan->scenes[s].job->id, job->sink_from) == 0)
            first = s;
    snprintf(name, sizeof name, "obs_%s", plan->scenes[first].job->id);
    long cobs0 = sm_results_find(r, name);
    int y0 = job->sink_from ? atoi(sm_job_find_scene(job, job->sink_from)->date) : atoi(plan->scenes[0].job->date);
    int y1 = atoi(plan->scenes[last].job->date);
    for (size_t i = 0; i < plan->nparcels; i++) {
        double a = val0(r, i, carea);
        area += a;
        stock += val0(r, i, cstk);
        const sm__scene_acc *acc = &plan->acc[i * ns + last];
        double valid;
        double ff = scene_ff(acc, &valid);
        if (val0(r, i, cobs) >= 0.5 && valid > 0) {
            observed += a;
            forest += a * ff;
            wetland += a * (acc->cls[5] + acc->cls[6]) / valid;
        }
        /* Afforestation, each parcel once: the inventory records a not-yet-closed plantation
         * (DI_LEI 030402) surveyed within the period, or the imagery sees the parcel go from
         * non-forest (forest fraction < 0.5) at the start to forest (>= 0.5) at the end, both
         * dates observing at least half of it. */
        double sy = job->fields[SM_FIELD_SURVEY_YEAR] ? sm_parcels_num(plan->parcels, i, SM_FIELD_SURVEY_YEAR)
                                                      : job->default_survey_year;
        int inv = strncmp(sm_parcels_str(plan->parcels, i, SM_FIELD_LAND_CLASS), "030402", 6) == 0 && sy >= y0 && sy <= y1;
        double ff0 = scene_ff(&plan->acc[i * ns + first], NULL);
        int img = first != last && val0(r, i, cobs0) >= 0.5 && val0(r, i, cobs) >= 0.5 && valid > 0 && ff0 < 0.5 &&
                  ff >= 0.5;
        n_inv += inv;
        n_img += img && !inv;
        if (inv || img)
            affor += a;
    }
    double wet_m2, wet_in_m2, managed_m2;
    sm_status ost = indicator_overlays(ctx, rs, y0, y1, &wet_m2, &wet_in_m2, &managed_m2);
    if (ost != SM_OK)
        return ost;
    sm_csv_writer *w = NULL;
    sm_status st = sm_csv_writer_open(&w, ctx, path, SM_CSV_BOM);
    if (st != SM_OK)
        return st;
    const char *head[] = {"indicator", "name_zh", "value", "unit", "target_2025", "status", "note"};
    for (size_t k = 0; k < 7 && st == SM_OK; k++)
        st = sm_csv_writer_text(w, head[k]);
    if (st == SM_OK)
        st = sm_csv_writer_end_row(w);
    char note[256];
    const char *scope = "over the job's parcels only; the target is city-wide";
    struct {
        const char *key, *zh, *unit;
        double value, target;
        int at_least; /* 1: value >= target meets it */
        const char *note;
    } rows[6] = {
        {"forest_coverage", "森林覆盖率", "%", observed > 0 ? 100.0 * forest / observed : NAN, 41.8, 1, ""},
        {"growing_stock", "森林蓄积量", "m3", stock, 30000000.0, 1, scope},
        {"wetland_area", "湿地面积", "ha", wetland, NAN, 1, "classes 湿地 and 水域 in the imagery"},
        {"wetland_protection_rate", "湿地保护率", "%", wet_m2 > 0 ? 100.0 * wet_in_m2 / wet_m2 : NAN, 60.0, 1,
         "needs a protected-area layer ([wetland] protected); not computed"},
        {"afforestation", "造林", "mu", sm_ha_to_mu(affor), 50000.0, 1, ""},
        {"forest_management", "森林经营", "mu", isnan(managed_m2) ? NAN : sm_ha_to_mu(managed_m2 / 10000.0), 160000.0, 1,
         "needs management records ([management] path); not computed"},
    };
    char wnote[256], mnote[256];
    if (!isnan(wet_m2)) {
        snprintf(wnote, sizeof wnote,
                 "inventory wetland and water parcels (湿地, 水域): %.2f ha, of which %.2f ha inside the protected areas "
                 "(exact polygon intersection)",
                 wet_m2 / 10000.0, wet_in_m2 / 10000.0);
        rows[3].note = wnote;
    }
    if (!isnan(managed_m2)) {
        snprintf(mnote, sizeof mnote, "union of the management records dated %d-%d (overlaps once); %s", y0, y1, scope);
        rows[5].note = mnote;
    }
    snprintf(note, sizeof note, "forest (乔木林 + 竹林) share of the observed parcel area in scene %s", id);
    rows[0].note = note;
    char anote[320];
    snprintf(anote, sizeof anote,
             "%zu parcels recorded as DI_LEI 030402 surveyed %d-%d, %zu more non-forest in scene %s and forest in "
             "scene %s; %s",
             n_inv, y0, y1, n_img, plan->scenes[first].job->id, id, scope);
    rows[4].note = anote;
    for (size_t k = 0; k < 6 && st == SM_OK; k++) {
        const char *status = isnan(rows[k].value) || isnan(rows[k].target) ? "n/a"
                             : rows[k].value >= rows[k].target                ? "meets"
                                                                               : "below";
        if ((st = sm_csv_writer_text(w, rows[k].key)) != SM_OK || (st = sm_csv_writer_text(w, rows[k].zh)) != SM_OK ||
            (st = sm_csv_writer_double(w, rows[k].value)) != SM_OK || (st = sm_csv_writer_text(w, rows[k].unit)) != SM_OK ||
            (st = sm_csv_writer_double(w, rows[k].target)) != SM_OK || (st = sm_csv_writer_text(w, status)) != SM_OK ||
            (st = sm_csv_writer_text(w, rows[k].note)) != SM_OK || (st = sm_csv_writer_end_row(w)) != SM_OK)
            break;
    }
    if (st != SM_OK) {
        sm_csv_writer_destroy(w);
        return st;
    }
    return sm_csv_writer_close(w);
}

/* ---- run.json ---- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Every input file of the run with its SHA-256, hashed once for run.json and the ledger. */
static sm_status add_input(sm_context *ctx, run_state *rs, const char *role, const char *path)
{
    if (rs->ninputs % 16 == 0) {
        sm__input *p = realloc(rs->inputs, (rs->ninputs + 16) * sizeof *p);
        if (!p)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        rs->inputs = p;
    }
    sm__input *in = &rs->inputs[rs->ninputs];
    memset(in, 0, sizeof *in);
    snprintf(in->role, sizeof in->role, "%s", role);
    in->path = sm__strdup(ctx, path);
    if (!in->path)
        return SM_ERR_NOMEM;
    rs->ninputs++;
    in->bytes = sm__file_size(path);
    return SM_OK;
}

static void *hash_thread_main(void *arg)
{
    run_state *rs = arg;
    rs->hash_status = SM_OK;
    for (size_t k = 0; k < rs->ninputs && rs->hash_status == SM_OK; k++)
        rs->hash_status = sm_sha256_file(rs->hash_ctx, rs->inputs[k].path, rs->inputs[k].sha256);
    return NULL;
}

/* Lists the inputs and, with more than one thread, starts hashing them on a background thread;
 * hash_inputs() waits for it, or hashes them itself (one thread, or no thread to be had). */
static sm_status list_inputs(sm_context *ctx, run_state *rs);
static sm_status hash_inputs_start(sm_context *ctx, run_state *rs)
{
    sm_status st = list_inputs(ctx, rs);
    if (st != SM_OK)
        return st;
    rs->hash_ctx = sm_context_create();
    if (!rs->hash_ctx)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    if (rs->plan.threads != 1 && pthread_create(&rs->hash_thread, NULL, hash_thread_main, rs) == 0)
        rs->hash_running = 1;
    return SM_OK;
}

/* Adds a vector layer, and a Shapefile's side files when they exist. */
static sm_status add_input_layer(sm_context *ctx, run_state *rs, const char *role, const char *path)
{
    sm_status st = add_input(ctx, rs, role, path);
    size_t n = strlen(path);
    if (st != SM_OK || n <= 4 || !sm__strieq(path + n - 4, ".shp"))
        return st;
    const char *ext[] = {".dbf", ".shx", ".prj", ".cpg"};
    for (size_t k = 0; k < 4; k++) {
        char *side = sm__asprintf(ctx, "%.*s%s", (int)(n - 4), path, ext[k]);
        if (!side)
            return SM_ERR_NOMEM;
        st = sm__file_exists(side) ? add_input(ctx, rs, role, side) : SM_OK;
        free(side);
        if (st != SM_OK)
            return st;
    }
    return SM_OK;
}

static sm_status list_inputs(sm_context *ctx, run_state *rs)
{
    const sm_job *job = rs->plan.job;
    sm_status st;
    if ((st = add_input_layer(ctx, rs, "parcels", job->parcels_path)) != SM_OK)
        return st;
    for (size_t s = 0; s < job->nscenes; s++) {
        const sm_job_scene *js = &job->scenes[s];
        char role[64];
        snprintf(role, sizeof role, "scene %s", js->id);
        for (size_t k = 0; k < js->nfiles; k++)
            if ((st = add_input(ctx, rs, role, js->files[k].path)) != SM_OK)
                return st;
        if (js->mask && (st = add_input(ctx, rs, role, js->mask)) != SM_OK)
            return st;
    }
    for (size_t d = 0; d < job->ndrones; d++) {
        char role[64];
        snprintf(role, sizeof role, "drone %s", job->drones[d].id);
        if ((st = add_input(ctx, rs, role, job->drones[d].chm)) != SM_OK)
            return st;
    }
    /* Every other file a figure depends on: training samples, a saved model, the protected
     * areas and the management records. */
    const struct {
        const char *role, *path;
    } extra[] = {{"classifier samples", job->cls.samples},
                 {"classifier model", job->cls.model},
                 {"wetland protected", job->wetland_protected},
                 {"management", job->management}};
    for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++)
        if (extra[k].path && (st = add_input_layer(ctx, rs, extra[k].role, extra[k].path)) != SM_OK)
            return st;
    return SM_OK;
}

/* Waits for the inputs' hashes, then the digests of the inputs' and the parameter tables'
 * hashes, in order. */
static sm_status hash_inputs(sm_context *ctx, run_state *rs)
{
    if (!rs->hash_ctx) {
        sm_status st0 = hash_inputs_start(ctx, rs);
        if (st0 != SM_OK)
            return st0;
    }
    if (rs->hash_running) {
        pthread_join(rs->hash_thread, NULL);
        rs->hash_running = 0;
    } else if (!rs->hash_done) {
        hash_thread_main(rs);
    }
    rs->hash_done = 1;
    if (rs->hash_status != SM_OK)
        return sm_error(ctx, rs->hash_status, "%s", sm_context_message(rs->hash_ctx));
    sm_sha256_state h;
    uint8_t dig[32];
    sm_sha256_init(&h);
    for (size_t k = 0; k < rs->ninputs; k++)
        sm_sha256_update(&h, rs->inputs[k].sha256, 64);
    sm_sha256_final(&h, dig);
    sm_hex(dig, 32, rs->inputs_sha256);
    sm_sha256_init(&h);
    for (size_t k = 0; k < sm_params_file_count(rs->params); k++)
        sm_sha256_update(&h, sm_params_file(rs->params, k)->sha256, 64);
    sm_sha256_update(&h, sm_wetland_rates_sha256(rs->wetland), 64);
    if (rs->bamboo)
        sm_sha256_update(&h, sm_bamboo_table_sha256(rs->bamboo), 64);
    sm_sha256_final(&h, dig);
    sm_hex(dig, 32, rs->params_sha256);
    return SM_OK;
}

static sm_status write_run_json(sm_context *ctx, run_state *rs, const char *path, const sm_run_options *opt)
{
    sm__plan *plan = &rs->plan;
    const sm_job *job = plan->job;
    FILE *f = fopen(path, "w");
    if (!f)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot create", path);
    sm_status st = SM_OK;
    char when[64];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    fprintf(f, "{\n  \"tool\": \"sinkmap\",\n  \"version\": \"%s\",\n  \"finished_utc\": \"%s\",\n", sm_version(), when);
    fprintf(f, "  \"job\": {\"name\": ");
    json_str(f, job->name);
    fprintf(f, ", \"path\": ");
    json_str(f, job->path);
    char hex[65];
    if ((st = sm_sha256_file(ctx, job->path, hex)) != SM_OK)
        goto end;
    fprintf(f, ", \"sha256\": \"%s\"},\n", hex);
    fprintf(f, "  \"inputs\": [\n");
    for (size_t k = 0; k < rs->ninputs; k++) {
        const sm__input *in = &rs->inputs[k];
        fprintf(f, "    {\"role\": ");
        json_str(f, in->role);
        fprintf(f, ", \"path\": ");
        json_str(f, in->path);
        fprintf(f, ", \"bytes\": %lld, \"sha256\": \"%s\"}%s\n", in->bytes, in->sha256,
                k + 1 < rs->ninputs ? "," : "");
    }
    fprintf(f, "  ],\n  \"inputs_sha256\": \"%s\",\n  \"params_sha256\": \"%s\",\n", rs->inputs_sha256,
            rs->params_sha256);
    fprintf(f, "  \"parameters\": [\n");
    size_t np = sm_params_file_count(rs->params);
    for (size_t k = 0; k < np; k++) {
        const sm_param_file *pf = sm_params_file(rs->params, k);
        fprintf(f, "    {\"table\": ");
        json_str(f, pf->table);
        fprintf(f, ", \"path\": ");
        json_str(f, pf->path);
        fprintf(f, ", \"sha256\": \"%s\"},\n", pf->sha256);
    }
    fprintf(f, "    {\"table\": \"wetland_rates\", \"path\": ");
    json_str(f, sm_wetland_rates_path(rs->wetland));
    fprintf(f, ", \"sha256\": \"%s\"}", sm_wetland_rates_sha256(rs->wetland));
    if (rs->bamboo) {
        char *bp = sm__path_join(ctx, sm_job_data_dir(job), "bamboo_culms.csv");
        fprintf(f, ",\n    {\"table\": \"bamboo_culms\", \"path\": ");
        json_str(f, bp ? bp : "bamboo_culms.csv");
        fprintf(f, ", \"sha256\": \"%s\"}", sm_bamboo_table_sha256(rs->bamboo));
        free(bp);
    }
    fprintf(f, "\n");
    fprintf(f, "  ],\n  \"gwp_ch4\": {\"set\": \"%s\", \"value\": %g},\n", job->gwp, rs->gwp_ch4);
    fprintf(f, "  \"scenes\": [\n");
    for (size_t s = 0; s < plan->nscenes; s++) {
        const sm__scene *sc = &plan->scenes[s];
        fprintf(f, "    {\"id\": ");
        json_str(f, sc->job->id);
        fprintf(f, ", \"date\": \"%s\", \"reflectance_scaling\": ", sc->job->date);
        json_str(f, sc->bands[SM__ROLE_RED].scaling_source);
        fprintf(f, ", \"scale\": %.17g, \"offset\": %.17g, \"landcover_pixels\": [", sc->bands[SM__ROLE_RED].scale,
                sc->bands[SM__ROLE_RED].offset);
        for (int c = 0; c < SM__NCODES; c++)
            fprintf(f, "%s%.0f", c ? ", " : "", plan->lc_pixels ? plan->lc_pixels[s][c] : 0.0);
        fprintf(f, "]}%s\n", s + 1 < plan->nscenes ? "," : "");
    }
    size_t stands = 0;
    for (size_t i = 0; i < plan->nparcels; i++)
        stands += rs->stands[i].is_stand ? 1 : 0;
    fprintf(f, "  ],\n  \"grid\": {\"x0\": %.17g, \"y0\": %.17g, \"dx\": %.17g, \"dy\": %.17g, \"ncols\": %lld, \"nrows\": %lld},\n",
            plan->grid.x0, plan->grid.y0, plan->grid.dx, plan->grid.dy, (long long)plan->grid.ncols,
            (long long)plan->grid.nrows);
    fprintf(f, "  \"counts\": {\"parcels\": %zu, \"forest_stands\": %zu, \"repaired\": %zu, \"suspected_changes\": %zu, \"cells_read\": %zu, \"warnings\": %zu},\n",
            plan->nparcels, stands, sm_parcels_repaired_count(plan->parcels), rs->nchanged, plan->cells_read,
            sm_context_warning_count(ctx));
    fprintf(f, "  \"run_id\": \"%s\",\n  \"ledger\": {\"path\": ", rs->run_id);
    json_str(f, rs->ledger_path ? rs->ledger_path : "");
    fprintf(f, ", \"added\": %zu, \"superseded\": %zu},\n", rs->ledger_added, rs->ledger_superseded);
    fprintf(f, "  \"threads\": %d,\n", plan->threads);
    fprintf(f, "  \"timings_s\": {\"scenes\": %.3f, \"drones\": %.3f, \"carbon\": %.3f, \"outputs\": %.3f, \"total\": %.3f},\n",
            plan->t_scenes, plan->t_drones, plan->t_carbon, plan->t_outputs, sm__now() - plan->t_start);
    fprintf(f, "  \"command\": ");
    json_str(f, opt && opt->argv0 ? opt->argv0 : "");
    fprintf(f, "\n}\n");
end:
    if (fclose(f) != 0 && st == SM_OK)
        st = sm_error(ctx, SM_ERR_IO, "%s: write failed", path);
    return st;
}

/* ---- the carbon ledger ---- */

static const char LEDGER_METHOD[] =
    "stand carbon by volume factors C = V*SVD*BEF*(1+R)*CF (IPCC 2006 Vol.4); inventory volume "
    "projected by a Richards growth ratio and reduced by the forest loss seen in the imagery; sink "
    "by stock difference (IPCC 2006 eq. 2.5); 95% interval: IPCC Approach 2 Monte Carlo (2.5 and "
    "97.5 percentiles; each factor drawn once per group for both dates), Approach 1 when draws = 0";

/* One entry per stand parcel for the period sink_from..sink_to, pool "stand", in one run. */
static sm_status write_ledger(sm_context *ctx, run_state *rs, const char *out_dir)
{
    const sm__plan *plan = &rs->plan;
    const sm_job *job = plan->job;
    if (job->no_ledger || !job->sink_from)
        return SM_OK;
    static const sm_field_role keys[5] = {SM_FIELD_COUNTY, SM_FIELD_TOWNSHIP, SM_FIELD_VILLAGE,
                                          SM_FIELD_COMPARTMENT, SM_FIELD_SUBCOMPARTMENT};
    for (size_t k = 0; k < 5; k++)
        if (!job->fields[keys[k]]) {
            sm_warn(ctx, "%s: no ledger entries: the parcel key needs field.county, field.township, "
                         "field.village, field.compartment and field.subcompartment",
                    job->path);
            return SM_OK;
        }
    sm_status st = SM_OK;
    sm_ledger *l = NULL;
    char *parent = NULL, *key = NULL;
    if (job->ledger) {
        rs->ledger_path = sm__strdup(ctx, job->ledger);
    } else {
        parent = sm__path_dirname(ctx, out_dir);
        rs->ledger_path = parent ? sm__asprintf(ctx, "%s/ledger.sqlite", parent) : NULL;
    }
    if (!rs->ledger_path) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    const sm_job_scene *a = sm_job_find_scene(job, job->sink_from), *b = sm_job_find_scene(job, job->sink_to);
    char ca[16], cb[16];
    snprintf(ca, sizeof ca, "c_%s", a->id);
    snprintf(cb, sizeof cb, "c_%s", b->id);
    long col_a = sm_results_find(rs->res, ca), col_b = sm_results_find(rs->res, cb);
    if (col_a < 0 || col_b < 0) {
        st = sm_error(ctx, SM_ERR_INTERNAL, "ledger: result columns %s, %s missing", ca, cb);
        goto end;
    }
    double years = sm_decimal_year(rs->dates[b - job->scenes]) - sm_decimal_year(rs->dates[a - job->scenes]);
    if ((st = sm_ledger_open(&l, ctx, rs->ledger_path, SM_LEDGER_CREATE)) != SM_OK)
        goto end;
    if ((st = sm_ledger_begin_run(l, ctx, rs->run_id, NULL, NULL)) != SM_OK)
        goto end;
    char lab[256];
    for (size_t i = 0; i < plan->nparcels; i++) {
        const stand *sd = &rs->stands[i];
        if (!sd->is_stand || sd->model)
            continue; /* a regression volume is not an inventory figure: not posted */
        const char *parts[5];
        for (size_t k = 0; k < 5; k++)
            parts[k] = sm_parcels_str(plan->parcels, i, keys[k]);
        free(key);
        key = NULL;
        if ((st = sm_ledger_parcel_key(ctx, parts, &key)) != SM_OK) {
            label(plan->parcels, i, lab, sizeof lab);
            st = sm_error(ctx, SM_ERR_INPUT, "%s: %s: no ledger key: %s", job->parcels_path, lab,
                          sm_context_message(ctx));
            goto end;
        }
        double s0 = sm_results_get(rs->res, i, (size_t)col_a), s1 = sm_results_get(rs->res, i, (size_t)col_b);
        double sink = sm_c_to_co2e(s1 - s0);
        /* The interval: Monte Carlo when run, else Approach 1; per year in the results, over the
         * period in the ledger. */
        const sm_unc_result *ur = rs->unc2 ? rs->unc2 : rs->unc1;
        double lo = NAN, hi = NAN;
        if (ur && rs->unc_index[i] != SIZE_MAX) {
            const sm_interval *iv = &ur->parcels[rs->unc_index[i]].sink;
            lo = iv->lo95 * years;
            hi = iv->hi95 * years;
            if (lo > sink)
                lo = sink; /* the estimate lies in its own interval */
            if (hi < sink)
                hi = sink;
        }
        sm_ledger_entry e;
        memset(&e, 0, sizeof e);
        e.parcel_key = key;
        e.period_start = a->date;
        e.period_end = b->date;
        e.pool = "stand";
        e.stock_start_tc = s0;
        e.stock_end_tc = s1;
        e.sink_tco2e = sink;
        e.sink_lo95 = lo;
        e.sink_hi95 = hi;
        e.method = LEDGER_METHOD;
        e.params_sha256 = rs->params_sha256;
        e.inputs_sha256 = rs->inputs_sha256;
        if ((st = sm_ledger_append(l, ctx, &e)) != SM_OK)
            goto end;
    }
    st = sm_ledger_commit_run(l, ctx, &rs->ledger_added, &rs->ledger_superseded);
end:
    if (st != SM_OK && l)
        sm_ledger_rollback_run(l);
    sm_ledger_close(l);
    free(key);
    free(parent);
    return st;
}

/* ---- the run ---- */

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 64 ? 64 : n) : 1;
}

/* ---- the parcel layer, written beside the tables ---- */

typedef struct layer_job {
    const sm_results *res;
    const sm_parcels *parcels;
    char *gpkg, *shp;     /* paths (owned); shp NULL: no Shapefile */
    sm_context *ctx;      /* the thread's own context */
    sm_status st;
    pthread_t tid;
    int running;
    char **warn;          /* the thread's warnings, replayed on the run's context in order */
    size_t nwarn;
} layer_job;

static void layer_log(const char *message, void *arg)
{
    layer_job *lj = arg;
    char **w = realloc(lj->warn, (lj->nwarn + 1) * sizeof *w);
    if (!w)
        return;
    lj->warn = w;
    if ((w[lj->nwarn] = strdup(message)) != NULL)
        lj->nwarn++;
}

static void *layer_main(void *arg)
{
    layer_job *lj = arg;
    lj->st = sm_results_write_layer(lj->res, lj->ctx, lj->parcels, lj->gpkg, "GPKG");
    if (lj->st == SM_OK && lj->shp)
        lj->st = sm_results_write_layer(lj->res, lj->ctx, lj->parcels, lj->shp, "ESRI Shapefile");
    return NULL;
}

/* Writes the layer on a new thread (in_thread) or here; layer_finish() waits for it. */
static sm_status layer_start(sm_context *ctx, layer_job *lj, int in_thread)
{
    if (!(lj->ctx = sm_context_create()))
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    sm_context_set_log(lj->ctx, layer_log, lj);
    if (in_thread && pthread_create(&lj->tid, NULL, layer_main, lj) == 0) {
        lj->running = 1;
        return SM_OK;
    }
    layer_main(lj);
    return SM_OK;
}

/* Waits for the layer, replays its warnings, and returns its status (its message in ctx). */
static sm_status layer_finish(sm_context *ctx, layer_job *lj)
{
    if (lj->running) {
        pthread_join(lj->tid, NULL);
        lj->running = 0;
    }
    for (size_t i = 0; i < lj->nwarn; i++)
        sm_warn(ctx, "%s", lj->warn[i]);
    for (size_t i = 0; i < lj->nwarn; i++)
        free(lj->warn[i]);
    lj->nwarn = 0;
    if (lj->st != SM_OK)
        return sm_error(ctx, lj->st, "%s", sm_context_message(lj->ctx));
    return SM_OK;
}

static void layer_job_free(layer_job *lj)
{
    for (size_t i = 0; i < lj->nwarn; i++)
        free(lj->warn[i]);
    free(lj->warn);
    free(lj->gpkg);
    free(lj->shp);
    sm_context_destroy(lj->ctx);
}

/* The maps, drawn from the parcels in memory (sm_maps_write_from) on a thread of their own while
 * the parcel layer and the tables are written, when the run has more than one thread; here, in
 * turn, otherwise. Joined before the ledger: a run whose maps fail posts nothing. */
typedef struct maps_job {
    const sm_job *job;
    const char *dir;
    int threads;
    sm_map_parcels mp;
    double *carbon, *sink; /* owned, behind mp */
    sm_context *ctx;       /* the thread's own context */
    sm_status st;
    sm_map_info *maps;
    size_t nmaps;
    pthread_t tid;
    int running, done;
} maps_job;

static void *maps_main(void *arg)
{
    maps_job *m = arg;
    m->st = sm_maps_write_from(m->ctx, m->job, m->dir, m->threads, m->mp.carbon ? &m->mp : NULL, &m->maps,
                               &m->nmaps);
    m->done = 1;
    return NULL;
}

static sm_status maps_start(sm_context *ctx, maps_job *m, const sm_job *job, const run_state *rs, const char *dir,
                            int threads)
{
    m->job = job;
    m->dir = dir;
    m->threads = threads;
    if (!(m->ctx = sm_context_create()))
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    const sm_results *res = rs->res;
    const char *end_id = job->sink_to ? job->sink_to : job->scenes[job->nscenes - 1].id;
    char n1[80], n2[80];
    snprintf(n1, sizeof n1, "c_%s", end_id);
    snprintf(n2, sizeof n2, "cp_%s", end_id);
    long ia = sm_results_find(res, "area_ha"), ic = sm_results_find(res, n1), ip = sm_results_find(res, n2),
         is = sm_results_find(res, "sink_co2");
    size_t n = res->nrows;
    if (ia >= 0 && (ic >= 0 || ip >= 0)) { /* else the maps read parcels.gpkg (and say what is missing) */
        m->carbon = malloc((n ? n : 1) * sizeof *m->carbon);
        m->sink = malloc((n ? n : 1) * sizeof *m->sink);
        if (!m->carbon || !m->sink)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            double area = sm_results_get(res, i, (size_t)ia);
            m->carbon[i] = sm_map_carbon_per_ha(area, ic >= 0 ? sm_results_get(res, i, (size_t)ic) : NAN,
                                                ip >= 0 ? sm_results_get(res, i, (size_t)ip) : NAN);
            m->sink[i] = sm_map_sink_per_ha(area, is >= 0 ? sm_results_get(res, i, (size_t)is) : NAN);
        }
        m->mp = (sm_map_parcels){sm_parcels_path(rs->plan.parcels), sm_parcels_layer_name(rs->plan.parcels), n,
                                 m->carbon, m->sink};
    }
    /* Without those values the maps read parcels.gpkg: only once it is written (maps_finish). */
    if (m->carbon && threads > 1 && pthread_create(&m->tid, NULL, maps_main, m) == 0)
        m->running = 1;
    return SM_OK;
}

/* Waits for the maps (or draws them now) and returns their status (its message in ctx). */
static sm_status maps_finish(sm_context *ctx, maps_job *m)
{
    if (m->running) {
        pthread_join(m->tid, NULL);
        m->running = 0;
    } else if (!m->done) {
        maps_main(m);
    }
    if (m->st != SM_OK)
        return sm_error(ctx, m->st, "%s", sm_context_message(m->ctx));
    return SM_OK;
}

static void maps_job_free(maps_job *m)
{
    if (m->running)
        pthread_join(m->tid, NULL);
    free(m->carbon);
    free(m->sink);
    free(m->maps);
    sm_context_destroy(m->ctx);
}

sm_status sm_run(sm_context *ctx, const sm_job *job, const sm_run_options *opt)
{
    layer_job lj;
    memset(&lj, 0, sizeof lj);
    maps_job mj;
    memset(&mj, 0, sizeof mj);
    run_state rs;
    char *out_dir = NULL, *stage = NULL, *old = NULL, *path = NULL, *parent = NULL;
    /* --threads 1 means one core: no thread of the run's own beside the main one (the inputs
     * are hashed in turn, the COG tiles compressed on this thread) */
    int threads = (opt && opt->threads > 0) ? opt->threads : job->threads > 0 ? job->threads : default_threads();
    sm_status st = plan_job(ctx, job, &rs, threads);
    if (st != SM_OK)
        goto end;
    if (!job->no_maps && (st = sm_maps_preflight(ctx)) != SM_OK)
        goto end;
    sm__plan *plan = &rs.plan;
    if ((st = hash_inputs_start(ctx, &rs)) != SM_OK) /* overlaps the scenes; joined before run.json */
        goto end;
    out_dir = sm__strdup(ctx, (opt && opt->output) ? opt->output : job->output);
    if (!out_dir) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    size_t ol = strlen(out_dir);
    while (ol > 1 && out_dir[ol - 1] == '/')
        out_dir[--ol] = '\0';
    parent = sm__path_dirname(ctx, out_dir);
    stage = sm__asprintf(ctx, "%s.sinkmap-stage-%ld", out_dir, (long)getpid());
    old = sm__asprintf(ctx, "%s.sinkmap-old-%ld", out_dir, (long)getpid());
    if (!parent || !stage || !old) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if ((st = sm__mkdir_p(ctx, parent)) != SM_OK)
        goto end;
    sm__rm_rf(stage);
    if ((st = sm__mkdir_p(ctx, stage)) != SM_OK)
        goto end;
    double t0 = sm__now();
    /* Land cover per scene (rules, or a model trained on the inventory's land class). */
    int *inv_code = calloc(plan->nparcels ? plan->nparcels : 1, sizeof *inv_code);
    if (!inv_code) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    for (size_t i = 0; i < plan->nparcels; i++)
        inv_code[i] = rs.stands[i].lc_code;
    for (size_t s = 0; s < plan->nscenes && st == SM_OK; s++)
        st = sm__scene_landcover(ctx, plan, s, stage, inv_code);
    {
        sm_status fst = sm__scene_finish_wait(ctx, plan); /* the last scene's COG step */
        if (st == SM_OK)
            st = fst;
    }
    free(inv_code);
    if (st != SM_OK)
        goto end;
    plan->t_scenes = sm__now() - t0;
    t0 = sm__now();
    for (size_t d = 0; d < job->ndrones; d++)
        if ((st = sm__drone_pass(ctx, plan, d)) != SM_OK)
            goto end;
    plan->t_drones = sm__now() - t0;
    t0 = sm__now();
    if ((st = compute_results(ctx, &rs)) != SM_OK)
        goto end;
    if ((st = sm_progress(ctx, 0.96, "uncertainty (IPCC Approaches 1 and 2)")) != SM_OK)
        goto end;
    if ((st = compute_uncertainty(ctx, &rs)) != SM_OK || (st = add_interval_fields(ctx, &rs)) != SM_OK)
        goto end;
    plan->t_carbon = sm__now() - t0;
    t0 = sm__now();
    if ((st = sm_progress(ctx, 0.97, "writing the parcel layer and tables")) != SM_OK)
        goto end;
    static const sm_field_role keys[] = {SM_FIELD_COUNTY,      SM_FIELD_TOWNSHIP,       SM_FIELD_VILLAGE,
                                         SM_FIELD_COMPARTMENT, SM_FIELD_SUBCOMPARTMENT, SM_FIELD_LAND_CLASS,
                                         SM_FIELD_SPECIES};
    sm_field_role mapped[7];
    size_t nk = 0;
    for (size_t k = 0; k < 7; k++)
        if (job->fields[keys[k]])
            mapped[nk++] = keys[k];
    if ((st = hash_inputs(ctx, &rs)) != SM_OK)
        goto end;
    {
        /* A run id unique to this run: time, process and inputs. */
        char seed[256];
        uint8_t dig[32];
        char hex[65];
        snprintf(seed, sizeof seed, "%lld/%ld/%.17g/%s", (long long)time(NULL), (long)getpid(), sm__now(),
                 rs.inputs_sha256);
        sm_sha256(seed, strlen(seed), dig);
        sm_hex(dig, 32, hex);
        snprintf(rs.run_id, sizeof rs.run_id, "%.32s", hex);
    }
    /* The parcel layer (and the one-map's own format, a Shapefile in the input's encoding: GBK
     * stays GBK) is written on a thread of its own while the tables below are written, when the
     * run has more than one thread; the files are the same either way. */
    lj.res = rs.res;
    lj.parcels = plan->parcels;
    lj.gpkg = sm__asprintf(ctx, "%s/parcels.gpkg", stage);
    lj.shp = job->parcels_shapefile ? sm__asprintf(ctx, "%s/parcels.shp", stage) : NULL;
    if (!lj.gpkg || (job->parcels_shapefile && !lj.shp)) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if ((st = layer_start(ctx, &lj, plan->threads != 1)) != SM_OK)
        goto end;
    /* the suspected changes first: the maps, started next, draw them */
    free(path);
    path = sm__asprintf(ctx, "%s/changes.gpkg", stage);
    if (!path || (st = write_changes(ctx, &rs, path, &rs.nchanged)) != SM_OK)
        goto end;
    if (!job->no_maps && (st = maps_start(ctx, &mj, job, &rs, stage, plan->threads)) != SM_OK)
        goto end;
    free(path);
    path = sm__asprintf(ctx, "%s/parcels.csv", stage);
    if (!path || (st = sm_results_write_csv(rs.res, ctx, plan->parcels, mapped, nk, path)) != SM_OK)
        goto end;
    free(path);
    path = sm__asprintf(ctx, "%s/summary.csv", stage);
    if (!path || (st = write_summary(ctx, &rs, path)) != SM_OK)
        goto end;
    if (rs.vm) {
        free(path);
        path = sm__asprintf(ctx, "%s/volume_model.csv", stage);
        if (!path || (st = write_volume_model(ctx, &rs, path)) != SM_OK)
            goto end;
    }
    /* QGIS styles beside the outputs: the land cover paletted, the parcels by sink per ha. */
    for (size_t s = 0; s < plan->nscenes; s++) {
        free(path);
        path = sm__asprintf(ctx, "%s/landcover_%s.qml", stage, plan->scenes[s].job->id);
        size_t nl;
        const sm_legend_entry *lg = sm_legend(&nl);
        if (!path || (st = sm_qml_write_paletted(ctx, path, lg, nl)) != SM_OK)
            goto end;
    }
    if (job->sink_from) {
        static const double breaks[] = {-1e6, -1, 0, 2, 5, 10, 1e6};
        static const char *const colors[] = {"215,48,39,255",  "252,141,89,255", "254,224,139,255",
                                             "217,239,139,255", "145,207,96,255", "26,152,80,255"};
        free(path);
        path = sm__asprintf(ctx, "%s/parcels.qml", stage);
        if (!path || (st = sm_qml_write_graduated(ctx, path, "\"sink_co2\" / \"area_ha\"", "t CO2e/ha/yr", breaks,
                                                  colors, 6)) != SM_OK)
            goto end;
    }
    free(path);
    path = sm__asprintf(ctx, "%s/transitions.csv", stage);
    if (!path || (st = write_transitions(ctx, &rs, stage, path)) != SM_OK)
        goto end;
    if (rs.unc1) {
        free(path);
        path = sm__asprintf(ctx, "%s/uncertainty.csv", stage);
        if (!path || (st = write_uncertainty(ctx, &rs, path)) != SM_OK)
            goto end;
    }
    free(path);
    path = sm__asprintf(ctx, "%s/indicators.csv", stage);
    if (!path || (st = write_indicators(ctx, &rs, path)) != SM_OK)
        goto end;
    if ((st = layer_finish(ctx, &lj)) != SM_OK)
        goto end;
    plan->t_outputs = sm__now() - t0;
    if (!job->no_maps && (st = sm_progress(ctx, 0.985, "maps")) != SM_OK)
        goto end;
    if (!job->no_maps && (st = maps_finish(ctx, &mj)) != SM_OK)
        goto end;
    if ((st = sm_progress(ctx, 0.99, "posting to the carbon ledger")) != SM_OK)
        goto end;
    if ((st = write_ledger(ctx, &rs, out_dir)) != SM_OK)
        goto end;
    free(path);
    path = sm__asprintf(ctx, "%s/run.json", stage);
    if (!path || (st = write_run_json(ctx, &rs, path, opt)) != SM_OK)
        goto end;
    /* Styles, QGIS project, maps and report, from the files written above (src/pipeline/deliver.c). */
    if ((st = sm_deliver_drawn(ctx, job, stage, mj.maps, mj.nmaps)) != SM_OK)
        goto end;
    /* Swap the staging folder into place. */
    sm__rm_rf(old);
    if (sm__dir_exists(out_dir) && rename(out_dir, old) != 0) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot move the previous outputs aside", out_dir);
        goto end;
    }
    if (rename(stage, out_dir) != 0) {
        rename(old, out_dir);
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot move the new outputs into place", out_dir);
        goto end;
    }
    sm__rm_rf(old);
    st = sm_progress(ctx, 1.0, "done");
end:
    if (lj.running) {
        /* an error on this thread while the layer was being written: wait for it first */
        sm_context *tmp = sm_context_create();
        if (tmp) {
            layer_finish(tmp, &lj);
            sm_context_destroy(tmp);
        }
    }
    layer_job_free(&lj);
    maps_job_free(&mj);
    if (st != SM_OK && stage)
        sm__rm_rf(stage);
    free(out_dir);
    free(stage);
    free(old);
    free(path);
    free(parent);
    free_state(&rs);
    return st;
}
