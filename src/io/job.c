/* job.c: reads a job file (INI, parsed by libinih) into an sm_job.
 * Strict on purpose: an unknown section or key is an error with its line number, since a
 * mistyped key silently ignored would change an audited figure without anyone noticing. */
#include "sinkmap/job.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sinkmap/carbon.h"

static const char *const ROLE_KEYS[SM_FIELD_COUNT] = {
    "id",       "county",  "township", "village", "compartment", "subcompartment", "land_class",
    "species",  "origin",  "age",      "volume",  "area",        "survey_year", "age_group", "culms"};

const char *sm_field_role_key(sm_field_role role)
{
    return (role >= 0 && role < SM_FIELD_COUNT) ? ROLE_KEYS[role] : "?";
}

typedef struct parse_state {
    sm_context *ctx;
    sm_job *job;
    FILE *fp;
    int line;
    int failed;
    sm_status status;
    int seen_job, seen_parcels;
} parse_state;

static char *reader(char *str, int num, void *stream)
{
    parse_state *ps = stream;
    char *r = fgets(str, num, ps->fp);
    if (r)
        ps->line++;
    return r;
}

static int fail(parse_state *ps, const char *fmt, ...)
{
    if (ps->failed)
        return 0;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sm_error(ps->ctx, SM_ERR_INPUT, "%s:%d: %s", ps->job->path, ps->line, buf);
    ps->failed = 1;
    ps->status = SM_ERR_INPUT;
    return 0;
}

static int set_str(parse_state *ps, char **dst, const char *value)
{
    free(*dst);
    *dst = sm__strdup(ps->ctx, value);
    if (!*dst) {
        ps->failed = 1;
        ps->status = SM_ERR_NOMEM;
        return 0;
    }
    return 1;
}

static int set_path(parse_state *ps, char **dst, const char *value)
{
    if (!value[0])
        return fail(ps, "empty path");
    free(*dst);
    *dst = sm__path_join(ps->ctx, ps->job->dir, value);
    return *dst ? 1 : 0;
}

static int parse_double(parse_state *ps, const char *key, const char *value, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end != '\0' || errno != 0 || !isfinite(v))
        return fail(ps, "%s = '%s': expected a number", key, value);
    *out = v;
    return 1;
}

static int parse_int(parse_state *ps, const char *key, const char *value, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (end == value || *end != '\0' || errno != 0 || v < -2147483647L || v > 2147483647L)
        return fail(ps, "%s = '%s': expected a whole number", key, value);
    *out = (int)v;
    return 1;
}

static int valid_date(const char *s)
{
    int y, m, d;
    char extra;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3)
        return 0;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 2 && d == 29 && !leap)
        return 0;
    return 1;
}

/* Splits a comma list into at most cap trimmed items (each strdup'ed). */
static int split_list(parse_state *ps, const char *key, const char *value, char **items, size_t cap,
                      size_t *n)
{
    char *copy = sm__strdup(ps->ctx, value);
    if (!copy)
        return 0;
    size_t k = 0;
    int ok = 1;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        sm__trim(tok);
        if (!tok[0]) {
            ok = fail(ps, "%s: empty item in list '%s'", key, value);
            break;
        }
        if (k == cap) {
            ok = fail(ps, "%s: more than %zu items", key, cap);
            break;
        }
        items[k] = sm__strdup(ps->ctx, tok);
        if (!items[k]) {
            ok = 0;
            break;
        }
        k++;
    }
    free(copy);
    *n = k;
    if (ok && k == 0)
        ok = fail(ps, "%s: empty list", key);
    return ok;
}

static sm_job_scene *scene_for(parse_state *ps, const char *id)
{
    sm_job *job = ps->job;
    for (size_t i = 0; i < job->nscenes; i++)
        if (strcmp(job->scenes[i].id, id) == 0)
            return &job->scenes[i];
    sm_job_scene *s = realloc(job->scenes, (job->nscenes + 1) * sizeof *s);
    if (!s) {
        sm_error(ps->ctx, SM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    job->scenes = s;
    s = &job->scenes[job->nscenes++];
    memset(s, 0, sizeof *s);
    s->id = sm__strdup(ps->ctx, id);
    s->scale_auto = s->offset_auto = 1;
    return s;
}

static sm_job_drone *drone_for(parse_state *ps, const char *id)
{
    sm_job *job = ps->job;
    for (size_t i = 0; i < job->ndrones; i++)
        if (strcmp(job->drones[i].id, id) == 0)
            return &job->drones[i];
    sm_job_drone *d = realloc(job->drones, (job->ndrones + 1) * sizeof *d);
    if (!d) {
        sm_error(ps->ctx, SM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    job->drones = d;
    d = &job->drones[job->ndrones++];
    memset(d, 0, sizeof *d);
    d->id = sm__strdup(ps->ctx, id);
    d->canopy_height = 2.0;
    return d;
}

static sm_job_file *file_for(parse_state *ps, sm_job_scene *s, const char *tag)
{
    for (size_t i = 0; i < s->nfiles; i++)
        if (strcmp(s->files[i].tag, tag) == 0)
            return &s->files[i];
    if (s->nfiles == SM_JOB_MAX_FILES) {
        fail(ps, "scene '%s': more than %d rasters", s->id, SM_JOB_MAX_FILES);
        return NULL;
    }
    sm_job_file *f = &s->files[s->nfiles++];
    memset(f, 0, sizeof *f);
    f->tag = sm__strdup(ps->ctx, tag);
    return f;
}

static int valid_id(const char *id)
{
    if (!id[0] || strlen(id) > 6)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    return 1;
}

static int handle_scene(parse_state *ps, const char *id, const char *name, const char *value)
{
    if (!valid_id(id))
        return fail(ps, "[scene.%s]: a scene id is 1-6 letters, digits or '_' (it becomes part of 10-character field names)", id);
    sm_job_scene *s = scene_for(ps, id);
    if (!s)
        return 0;
    if (strcmp(name, "date") == 0) {
        if (!valid_date(value))
            return fail(ps, "date = '%s': expected a date YYYY-MM-DD", value);
        return set_str(ps, &s->date, value);
    }
    if (strncmp(name, "raster.", 7) == 0 || strncmp(name, "roles.", 6) == 0) {
        int is_raster = name[1] == 'a';
        const char *tag = name + (is_raster ? 7 : 6);
        if (!tag[0])
            return fail(ps, "%s: a tag is needed after the dot (raster.10m, roles.10m)", name);
        sm_job_file *f = file_for(ps, s, tag);
        if (!f)
            return 0;
        if (is_raster)
            return set_path(ps, &f->path, value);
        for (size_t i = 0; i < f->nroles; i++)
            free(f->roles[i]);
        return split_list(ps, name, value, f->roles, SM_JOB_MAX_ROLES, &f->nroles);
    }
    if (strcmp(name, "mask") == 0)
        return set_path(ps, &s->mask, value);
    if (strcmp(name, "mask_values") == 0) {
        char *items[SM_JOB_MAX_MASK];
        size_t n = 0;
        int ok = split_list(ps, name, value, items, SM_JOB_MAX_MASK, &n);
        for (size_t i = 0; i < n; i++) {
            if (ok)
                ok = parse_int(ps, name, items[i], &s->mask_values[i]);
            free(items[i]);
        }
        s->nmask_values = ok ? n : 0;
        return ok;
    }
    if (strcmp(name, "scale") == 0 || strcmp(name, "offset") == 0) {
        int is_scale = name[0] == 's';
        if (sm__strieq(value, "auto")) {
            *(is_scale ? &s->scale_auto : &s->offset_auto) = 1;
            return 1;
        }
        *(is_scale ? &s->scale_auto : &s->offset_auto) = 0;
        if (!parse_double(ps, name, value, is_scale ? &s->scale : &s->offset))
            return 0;
        if (is_scale && !(s->scale > 0))
            return fail(ps, "scale = '%s': expected a positive number or auto", value);
        return 1;
    }
    if (strcmp(name, "season") == 0)
        return 1; /* informational */
    return fail(ps, "[scene.%s]: unknown key '%s' (expected date, raster.<tag>, roles.<tag>, "
                    "mask, mask_values, scale, offset, season)",
                id, name);
}

/* [grid] crs / res / extent. The CRS itself is checked when the job is planned (it needs
 * PROJ); here only the numbers: res one or two positive numbers, extent four with min < max. */
static int handle_grid(parse_state *ps, const char *name, const char *value)
{
    sm_job *job = ps->job;
    if (strcmp(name, "crs") == 0) {
        if (!value[0])
            return fail(ps, "[grid] crs: empty (expected a CRS such as EPSG:32648)");
        return set_str(ps, &job->grid_crs, value);
    }
    if (strcmp(name, "res") == 0 || strcmp(name, "extent") == 0) {
        int is_res = name[0] == 'r';
        char *items[4] = {NULL, NULL, NULL, NULL};
        size_t n = 0;
        double v[4] = {0, 0, 0, 0};
        int ok = split_list(ps, name, value, items, 4, &n);
        for (size_t i = 0; i < n; i++) {
            if (ok)
                ok = parse_double(ps, name, items[i], &v[i]);
            free(items[i]);
        }
        if (!ok)
            return 0;
        if (is_res) {
            if ((n != 1 && n != 2) || !(v[0] > 0) || (n == 2 && !(v[1] > 0)))
                return fail(ps, "[grid] res = '%s': expected a cell size > 0 in the CRS's units "
                                "(m), or x,y",
                            value);
            job->grid_res_x = v[0];
            job->grid_res_y = n == 2 ? v[1] : v[0];
            return 1;
        }
        if (n != 4 || !(v[0] < v[2]) || !(v[1] < v[3]))
            return fail(ps, "[grid] extent = '%s': expected xmin,ymin,xmax,ymax with xmin < xmax "
                            "and ymin < ymax",
                        value);
        memcpy(job->grid_extent, v, sizeof v);
        job->grid_has_extent = 1;
        return 1;
    }
    return fail(ps, "[grid]: unknown key '%s' (expected crs, res, extent)", name);
}

/* [classifier]: the method and the supervised classifiers' settings. */
static int handle_classifier(parse_state *ps, const char *name, const char *value)
{
    sm_job *job = ps->job;
    sm_job_classifier *c = &job->cls;
    if (strcmp(name, "method") == 0) {
        if (strcmp(value, "rules") != 0 && strcmp(value, "rf") != 0 && strcmp(value, "maxlik") != 0)
            return fail(ps, "method = '%s': expected rules, rf or maxlik", value);
        return set_str(ps, &job->classifier, value);
    }
    if (strcmp(name, "samples") == 0)
        return set_path(ps, &c->samples, value);
    if (strcmp(name, "model") == 0)
        return set_path(ps, &c->model, value);
    if (strcmp(name, "field") == 0) {
        if (!value[0])
            return fail(ps, "field: empty field name");
        return set_str(ps, &c->field, value);
    }
    if (strcmp(name, "features") == 0) {
        if (strcmp(value, "stack") != 0 && strcmp(value, "season") != 0)
            return fail(ps, "features = '%s': expected season (each scene's own features) or stack "
                            "(with the features of the scenes dated within stack_days and the "
                            "seasonal differences of the indices)",
                        value);
        c->stack = strcmp(value, "stack") == 0;
        return 1;
    }
    if (strcmp(name, "drone") == 0) {
        if (strcmp(value, "yes") && strcmp(value, "no"))
            return fail(ps, "drone = '%s': expected yes (the drone canopy cover and height on the "
                            "grid as features) or no",
                        value);
        c->drone = strcmp(value, "yes") == 0;
        return 1;
    }
    if (strcmp(name, "stack_days") == 0) {
        double v = 0;
        if (!parse_double(ps, name, value, &v))
            return 0;
        if (!(v >= 1 && v <= 3660))
            return fail(ps, "stack_days = %s: expected 1 to 3660 days", value);
        c->stack_days = v;
        return 1;
    }
    if (strcmp(name, "test_share") == 0 || strcmp(name, "reject") == 0) {
        double v = 0;
        if (!parse_double(ps, name, value, &v))
            return 0;
        if (!(v >= 0 && v < 1))
            return fail(ps, "%s = %s: expected a share from 0 to below 1", name, value);
        *(strcmp(name, "reject") == 0 ? &c->reject : &c->test_share) = v;
        return 1;
    }
    if (strcmp(name, "seed") == 0) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (end == value || *end || errno || value[0] == '-')
            return fail(ps, "seed = '%s': expected a whole number >= 0", value);
        c->seed = v;
        return 1;
    }
    static const struct {
        const char *key;
        int lo, hi;
        const char *what;
    } INTS[] = {{"max_per_class", 0, 100000000, "0 (all) to 100000000 samples per class"},
                {"min_samples", 1, 1000000, "1 to 1000000 samples"},
                {"trees", 1, 10000, "1 to 10000 trees"},
                {"mtry", 0, 256, "0 (floor of the square root of the feature count) to 256"},
                {"min_leaf", 1, 100000, "1 to 100000 samples"},
                {"max_depth", 0, 1000, "0 (unlimited) to 1000"}};
    for (size_t i = 0; i < sizeof INTS / sizeof INTS[0]; i++) {
        if (strcmp(name, INTS[i].key) != 0)
            continue;
        int v = 0;
        if (!parse_int(ps, name, value, &v))
            return 0;
        if (v < INTS[i].lo || v > INTS[i].hi)
            return fail(ps, "%s = %s: expected %s", name, value, INTS[i].what);
        switch (i) {
        case 0: c->max_per_class = v; break;
        case 1: c->min_samples = v; break;
        case 2: c->trees = v; break;
        case 3: c->mtry = v; break;
        case 4: c->min_leaf = v; break;
        default: c->max_depth = v; break;
        }
        return 1;
    }
    return fail(ps, "[classifier]: unknown key '%s' (expected method, samples, field, model, "
                    "features, stack_days, drone, max_per_class, min_samples, test_share, seed, trees, mtry, "
                    "min_leaf, max_depth, reject)",
                name);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parse_state *ps = user;
    sm_job *job = ps->job;
    if (ps->failed)
        return 0;
    if (strcmp(section, "job") == 0) {
        ps->seen_job = 1;
        if (strcmp(name, "name") == 0)
            return set_str(ps, &job->name, value);
        if (strcmp(name, "output") == 0)
            return set_path(ps, &job->output, value);
        if (strcmp(name, "threads") == 0) {
            if (!parse_int(ps, name, value, &job->threads))
                return 0;
            if (job->threads < 0 || job->threads > 1024)
                return fail(ps, "threads = %s: expected 0 (all cores) to 1024", value);
            return 1;
        }
        return fail(ps, "[job]: unknown key '%s' (expected name, output, threads)", name);
    }
    if (strcmp(section, "parcels") == 0) {
        ps->seen_parcels = 1;
        if (strcmp(name, "path") == 0)
            return set_path(ps, &job->parcels_path, value);
        if (strcmp(name, "encoding") == 0)
            return set_str(ps, &job->encoding, value);
        if (strcmp(name, "survey_year") == 0)
            return parse_double(ps, name, value, &job->default_survey_year);
        if (strncmp(name, "field.", 6) == 0) {
            for (int r = 0; r < SM_FIELD_COUNT; r++)
                if (strcmp(name + 6, ROLE_KEYS[r]) == 0) {
                    if (!value[0])
                        return fail(ps, "%s: empty field name", name);
                    return set_str(ps, &job->fields[r], value);
                }
            return fail(ps, "[parcels]: unknown field role '%s' (expected field.county, "
                            "field.township, field.village, field.compartment, "
                            "field.subcompartment, field.land_class, field.species, "
                            "field.origin, field.age, field.volume, field.area, "
                            "field.survey_year, field.age_group, field.culms, field.id)",
                        name + 6);
        }
        return fail(ps, "[parcels]: unknown key '%s' (expected path, encoding, survey_year, "
                        "field.<role>)",
                    name);
    }
    if (strncmp(section, "scene.", 6) == 0)
        return handle_scene(ps, section + 6, name, value);
    if (strncmp(section, "drone.", 6) == 0) {
        if (!valid_id(section + 6))
            return fail(ps, "[%s]: a drone id is 1-6 letters, digits or '_' (it becomes part of 10-character field names)", section);
        sm_job_drone *d = drone_for(ps, section + 6);
        if (!d)
            return 0;
        if (strcmp(name, "date") == 0) {
            if (!valid_date(value))
                return fail(ps, "date = '%s': expected a date YYYY-MM-DD", value);
            return set_str(ps, &d->date, value);
        }
        if (strcmp(name, "chm") == 0)
            return set_path(ps, &d->chm, value);
        if (strcmp(name, "canopy_height") == 0) {
            if (!parse_double(ps, name, value, &d->canopy_height))
                return 0;
            if (d->canopy_height < 0)
                return fail(ps, "canopy_height = %s: expected metres >= 0", value);
            return 1;
        }
        return fail(ps, "[%s]: unknown key '%s' (expected date, chm, canopy_height)", section, name);
    }
    if (strcmp(section, "classifier") == 0)
        return handle_classifier(ps, name, value);
    if (strcmp(section, "carbon") == 0) {
        if (strcmp(name, "sink_from") == 0)
            return set_str(ps, &job->sink_from, value);
        if (strcmp(name, "sink_to") == 0)
            return set_str(ps, &job->sink_to, value);
        if (strcmp(name, "data") == 0)
            return set_path(ps, &job->data_dir, value);
        if (strcmp(name, "gwp") == 0) {
            if (strcmp(value, "AR4") && strcmp(value, "AR5") && strcmp(value, "AR6"))
                return fail(ps, "gwp = '%s': expected AR4, AR5 or AR6 (the IPCC GWP100 set for CH4)", value);
            return set_str(ps, &job->gwp, value);
        }
        if (strcmp(name, "pools_soil") == 0) {
            if (strcmp(value, "yes") && strcmp(value, "no"))
                return fail(ps, "pools_soil = '%s': expected yes or no", value);
            job->pools_soil = value[0] == 'y';
            return 1;
        }
        if (strcmp(name, "loss_threshold") == 0) {
            if (!parse_double(ps, name, value, &job->loss_threshold))
                return 0;
            if (job->loss_threshold <= 0 || job->loss_threshold >= 1)
                return fail(ps, "loss_threshold = %s: expected a share between 0 and 1", value);
            return 1;
        }
        return fail(ps, "[carbon]: unknown key '%s' (expected sink_from, sink_to, "
                        "loss_threshold, data, gwp, pools_soil)",
                    name);
    }
    if (strcmp(section, "output") == 0) {
        if (strcmp(name, "parcels") == 0) {
            if (strcmp(value, "gpkg") == 0)
                job->parcels_shapefile = 0;
            else if (strcmp(value, "shapefile") == 0)
                job->parcels_shapefile = 1;
            else
                return fail(ps, "parcels = '%s': expected gpkg or shapefile", value);
            return 1;
        }
        if (strcmp(name, "maps") == 0 || strcmp(name, "report") == 0) {
            int *no = name[0] == 'm' ? &job->no_maps : &job->no_report;
            if (strcmp(value, "yes") == 0)
                *no = 0;
            else if (strcmp(value, "no") == 0)
                *no = 1;
            else
                return fail(ps, "[output] %s = '%s': expected yes or no", name, value);
            return 1;
        }
        return fail(ps, "[output]: unknown key '%s' (expected parcels, maps, report)", name);
    }
    if (strcmp(section, "change") == 0) {
        double *dst = strcmp(name, "min_forest") == 0   ? &job->change_min_forest
                      : strcmp(name, "forest_drop") == 0 ? &job->change_drop
                      : strcmp(name, "dnbr") == 0        ? &job->change_dnbr
                                                         : NULL;
        if (!dst)
            return fail(ps, "[change]: unknown key '%s' (expected min_forest, forest_drop, dnbr)", name);
        if (!parse_double(ps, name, value, dst))
            return 0;
        if (dst != &job->change_dnbr && (*dst <= 0 || *dst >= 1))
            return fail(ps, "%s = %s: expected a share between 0 and 1", name, value);
        return 1;
    }
    if (strcmp(section, "uncertainty") == 0) {
        int v = 0;
        if (strcmp(name, "draws") == 0) {
            if (!parse_int(ps, name, value, &v))
                return 0;
            if (v < 0 || v > 1000000)
                return fail(ps, "draws = %s: expected 0 (Approach 1 only) to 1000000", value);
            job->mc_draws = (size_t)v;
            return 1;
        }
        if (strcmp(name, "seed") == 0) {
            if (!parse_int(ps, name, value, &v))
                return 0;
            if (v < 0)
                return fail(ps, "seed = %s: expected a whole number >= 0", value);
            job->mc_seed = (unsigned long long)v;
            return 1;
        }
        return fail(ps, "[uncertainty]: unknown key '%s' (expected draws, seed)", name);
    }
    if (strcmp(section, "grid") == 0)
        return handle_grid(ps, name, value);
    if (strcmp(section, "volume_model") == 0) {
        if (strcmp(name, "enabled") == 0) {
            if (strcmp(value, "yes") && strcmp(value, "no"))
                return fail(ps, "enabled = '%s': expected yes or no", value);
            job->vm_enabled = value[0] == 'y';
            return 1;
        }
        if (strcmp(name, "features") == 0)
            return set_str(ps, &job->vm_features, value);
        if (strcmp(name, "max_age_years") == 0) {
            if (!parse_double(ps, name, value, &job->vm_max_age))
                return 0;
            if (job->vm_max_age < 0)
                return fail(ps, "max_age_years = %s: expected years >= 0", value);
            return 1;
        }
        if (strcmp(name, "folds") == 0) {
            if (!parse_int(ps, name, value, &job->vm_folds))
                return 0;
            if (job->vm_folds < 2 || job->vm_folds > 100)
                return fail(ps, "folds = %s: expected 2 to 100", value);
            return 1;
        }
        if (strcmp(name, "seed") == 0) {
            int v = 0;
            if (!parse_int(ps, name, value, &v))
                return 0;
            if (v < 0)
                return fail(ps, "seed = %s: expected a whole number >= 0", value);
            job->vm_seed = (unsigned long long)v;
            return 1;
        }
        return fail(ps, "[volume_model]: unknown key '%s' (expected enabled, features, max_age_years, folds, seed)", name);
    }
    if (strcmp(section, "wetland") == 0) {
        if (strcmp(name, "protected") == 0)
            return set_path(ps, &job->wetland_protected, value);
        return fail(ps, "[wetland]: unknown key '%s' (expected protected)", name);
    }
    if (strcmp(section, "management") == 0) {
        if (strcmp(name, "path") == 0)
            return set_path(ps, &job->management, value);
        if (strcmp(name, "year_field") == 0) {
            if (!value[0])
                return fail(ps, "year_field: empty field name");
            return set_str(ps, &job->management_year, value);
        }
        return fail(ps, "[management]: unknown key '%s' (expected path, year_field)", name);
    }
    if (strcmp(section, "ledger") == 0) {
        if (strcmp(name, "path") == 0) {
            if (strcmp(value, "none") == 0) {
                job->no_ledger = 1;
                return 1;
            }
            job->no_ledger = 0;
            return set_path(ps, &job->ledger, value);
        }
        return fail(ps, "[ledger]: unknown key '%s' (expected path)", name);
    }
    return fail(ps, "unknown section [%s] (expected job, parcels, scene.<id>, drone.<id>, "
                    "classifier, carbon, change, uncertainty, volume_model, wetland, management, output, "
                    "ledger, grid)",
                section);
}

static sm_status check_required(sm_context *ctx, sm_job *job)
{
    const char *p = job->path;
    if (!job->parcels_path)
        return sm_error(ctx, SM_ERR_INPUT, "%s: [parcels] path is required", p);
    if (job->nscenes == 0)
        return sm_error(ctx, SM_ERR_INPUT, "%s: at least one [scene.<id>] section is required", p);
    for (size_t i = 0; i < job->nscenes; i++) {
        sm_job_scene *s = &job->scenes[i];
        if (!s->date)
            return sm_error(ctx, SM_ERR_INPUT, "%s: [scene.%s] date is required", p, s->id);
        if (s->nfiles == 0)
            return sm_error(ctx, SM_ERR_INPUT, "%s: [scene.%s] needs raster.<tag> and roles.<tag>",
                            p, s->id);
        for (size_t f = 0; f < s->nfiles; f++) {
            if (!s->files[f].path)
                return sm_error(ctx, SM_ERR_INPUT, "%s: [scene.%s] roles.%s has no raster.%s", p,
                                s->id, s->files[f].tag, s->files[f].tag);
            if (s->files[f].nroles == 0)
                return sm_error(ctx, SM_ERR_INPUT, "%s: [scene.%s] raster.%s has no roles.%s", p,
                                s->id, s->files[f].tag, s->files[f].tag);
        }
        if (s->mask && s->nmask_values == 0)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: [scene.%s] mask needs mask_values (the class codes to mask)", p,
                            s->id);
        /* Dates ascend so that sinks and change run forward in time. */
        if (i > 0 && strcmp(job->scenes[i - 1].date, s->date) >= 0)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: [scene.%s] date %s is not after [scene.%s] date %s (list scenes "
                            "in time order)",
                            p, s->id, s->date, job->scenes[i - 1].id, job->scenes[i - 1].date);
    }
    for (size_t i = 0; i < job->ndrones; i++) {
        if (!job->drones[i].chm)
            return sm_error(ctx, SM_ERR_INPUT, "%s: [drone.%s] chm is required", p,
                            job->drones[i].id);
        if (!job->drones[i].date)
            return sm_error(ctx, SM_ERR_INPUT, "%s: [drone.%s] date is required", p,
                            job->drones[i].id);
    }
    if ((job->sink_from == NULL) != (job->sink_to == NULL))
        return sm_error(ctx, SM_ERR_INPUT, "%s: [carbon] needs both sink_from and sink_to", p);
    if (job->sink_from) {
        const sm_job_scene *a = sm_job_find_scene(job, job->sink_from);
        const sm_job_scene *b = sm_job_find_scene(job, job->sink_to);
        if (!a)
            return sm_error(ctx, SM_ERR_INPUT, "%s: [carbon] sink_from = %s: no such scene", p,
                            job->sink_from);
        if (!b)
            return sm_error(ctx, SM_ERR_INPUT, "%s: [carbon] sink_to = %s: no such scene", p,
                            job->sink_to);
        if (strcmp(a->date, b->date) >= 0)
            return sm_error(ctx, SM_ERR_INPUT, "%s: [carbon] sink_from (%s) must be before sink_to (%s)",
                            p, a->date, b->date);
    }
    if (!job->output) {
        job->output = sm__path_join(ctx, job->dir, "output");
        if (!job->output)
            return SM_ERR_NOMEM;
    }
    if (!job->name) {
        job->name = sm__strdup(ctx, "job");
        if (!job->name)
            return SM_ERR_NOMEM;
    }
    if (!job->gwp) {
        job->gwp = sm__strdup(ctx, "AR5");
        if (!job->gwp)
            return SM_ERR_NOMEM;
    }
    if (!job->classifier) {
        job->classifier = sm__strdup(ctx, "rules");
        if (!job->classifier)
            return SM_ERR_NOMEM;
    }
    if (job->cls.samples && !job->cls.field)
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: [classifier] samples = %s needs field = the layer's class field",
                        job->path, job->cls.samples);
    if (strcmp(job->classifier, "rules") == 0 &&
        (job->cls.samples || job->cls.model))
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: [classifier] %s is set but method = rules does not use it; expected "
                        "method = rf or maxlik",
                        job->path, job->cls.samples ? "samples" : "model");
    if (strcmp(job->classifier, "rules") == 0 && job->cls.stack)
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: [classifier] features = stack is set but method = rules uses each scene's "
                        "own bands; expected method = rf or maxlik",
                        job->path);
    if (job->cls.drone && strcmp(job->classifier, "rules") == 0)
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: [classifier] drone = yes is set but method = rules does not use drone "
                        "features; expected method = rf or maxlik",
                        job->path);
    if (job->cls.drone && job->ndrones == 0)
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: [classifier] drone = yes needs a [drone.<id>] section with a canopy-height "
                        "model; the job has none",
                        job->path);
    /* features = stack: at most SM_JOB_MAX_PARTNERS partners per scene (the run's bound) */
    for (size_t i = 0; job->cls.stack && i < job->nscenes; i++) {
        sm_date di, dj;
        size_t n = 0;
        if (sm_date_parse(ctx, job->scenes[i].date, &di) != SM_OK)
            return SM_ERR_INPUT;
        for (size_t j = 0; j < job->nscenes; j++) {
            if (j == i || sm_date_parse(ctx, job->scenes[j].date, &dj) != SM_OK)
                continue;
            if (fabs(sm_decimal_year(dj) - sm_decimal_year(di)) * 365.25 <= job->cls.stack_days + 0.5)
                n++;
        }
        if (n > SM_JOB_MAX_PARTNERS)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s: [classifier] features = stack: %zu scenes lie within stack_days = %g "
                            "of [scene.%s]; expected at most %d (lower stack_days)",
                            job->path, n, job->cls.stack_days, job->scenes[i].id, SM_JOB_MAX_PARTNERS);
    }
    return SM_OK;
}

sm_status sm_job_load(sm_job **out, sm_context *ctx, const char *path)
{
    *out = NULL;
    sm_status st = SM_OK;
    parse_state ps;
    memset(&ps, 0, sizeof ps);
    sm_job *job = calloc(1, sizeof *job);
    if (!job)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    job->loss_threshold = 0.1;
    job->cls.max_per_class = 5000;
    job->cls.min_samples = 30;
    job->cls.test_share = 0.3;
    job->cls.seed = 1;
    job->cls.trees = 100;
    job->cls.min_leaf = 1;
    job->cls.stack_days = 200;
    job->mc_draws = 1000;
    job->change_min_forest = 0.5;
    job->change_drop = 0.2;
    job->change_dnbr = 0.27;
    job->mc_seed = 1;
    job->vm_max_age = 5;
    job->vm_folds = 5;
    job->vm_seed = 1;
    job->default_survey_year = NAN;
    job->path = sm__strdup(ctx, path);
    job->dir = sm__path_dirname(ctx, path);
    if (!job->path || !job->dir) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    ps.ctx = ctx;
    ps.job = job;
    ps.fp = fopen(path, "r");
    if (!ps.fp) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: cannot open the job file: %s", path, strerror(errno));
        goto end;
    }
    int rc = ini_parse_stream(reader, &ps, handler, &ps);
    fclose(ps.fp);
    if (ps.failed) {
        st = ps.status;
        goto end;
    }
    if (rc > 0) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s:%d: malformed line (expected [section], key = value, or a ; comment)",
                      path, rc);
        goto end;
    }
    if (rc < 0) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: cannot read the job file", path);
        goto end;
    }
    st = check_required(ctx, job);
end:
    if (st != SM_OK) {
        sm_job_destroy(job);
        return st;
    }
    *out = job;
    return SM_OK;
}

void sm_job_destroy(sm_job *job)
{
    if (!job)
        return;
    free(job->path);
    free(job->dir);
    free(job->name);
    free(job->output);
    free(job->parcels_path);
    free(job->encoding);
    for (int i = 0; i < SM_FIELD_COUNT; i++)
        free(job->fields[i]);
    for (size_t i = 0; i < job->nscenes; i++) {
        sm_job_scene *s = &job->scenes[i];
        free(s->id);
        free(s->date);
        free(s->mask);
        for (size_t f = 0; f < s->nfiles; f++) {
            free(s->files[f].tag);
            free(s->files[f].path);
            for (size_t r = 0; r < s->files[f].nroles; r++)
                free(s->files[f].roles[r]);
        }
    }
    free(job->scenes);
    for (size_t i = 0; i < job->ndrones; i++) {
        free(job->drones[i].id);
        free(job->drones[i].date);
        free(job->drones[i].chm);
    }
    free(job->drones);
    free(job->classifier);
    free(job->cls.samples);
    free(job->cls.field);
    free(job->cls.model);
    free(job->data_dir);
    free(job->sink_from);
    free(job->sink_to);
    free(job->ledger);
    free(job->grid_crs);
    free(job->gwp);
    free(job->vm_features);
    free(job->wetland_protected);
    free(job->management);
    free(job->management_year);
    free(job);
}

const sm_job_scene *sm_job_find_scene(const sm_job *job, const char *id)
{
    for (size_t i = 0; i < job->nscenes; i++)
        if (strcmp(job->scenes[i].id, id) == 0)
            return &job->scenes[i];
    return NULL;
}

const char *sm_job_data_dir(const sm_job *job)
{
    if (job && job->data_dir)
        return job->data_dir;
    const char *env = getenv("SINKMAP_DATA");
    if (env && env[0])
        return env;
#ifdef SINKMAP_DATA_DIR
    return SINKMAP_DATA_DIR;
#else
    return "data";
#endif
}
