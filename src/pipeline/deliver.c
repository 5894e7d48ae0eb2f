/* deliver.c: the last step of a run: the styles that still lack a file (changes.qml, the
 * parcels' carbon-density style), the QGIS project, the PNG maps and the offline report, all
 * made from the outputs already in the staging folder. A failure here fails the run like any
 * other output, so the staging folder is discarded and the previous outputs stay. */
#include "sinkmap/deliver.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/util.h"
#include "sinkmap/qml.h"

static sm_status deliver(sm_context *ctx, const sm_job *job, const char *dir, int threads, int drawn,
                         const sm_map_info *given, size_t ngiven)
{
    sm_status st = SM_OK;
    sm_map_info *maps = NULL;
    size_t nmaps = 0;
    char *path = sm__asprintf(ctx, "%s/changes.gpkg", dir);
    if (!path)
        return SM_ERR_NOMEM;
    if (sm__file_exists(path)) {
        const sm_style_categorized *cs = sm_style_changes();
        free(path);
        path = sm__asprintf(ctx, "%s/changes.qml", dir);
        if (!path || (st = sm_qml_write_categorized(ctx, path, "reason", cs->values, cs->labels, cs->colors, cs->n)) != SM_OK)
            goto end;
    }
    {
        /* The carbon density at the period's end: a second style for parcels.gpkg (QGIS loads
         * parcels.qml by itself; this one through Layer Properties > Style > Load, or from the
         * project, which holds both). */
        const char *end_id = job->sink_to ? job->sink_to : job->scenes[job->nscenes - 1].id;
        const sm_style_graduated *gs = sm_style_carbon();
        char expr[160];
        sm_style_carbon_expression(end_id, expr, sizeof expr);
        free(path);
        path = sm__asprintf(ctx, "%s/parcels_carbon.qml", dir);
        if (!path || (st = sm_qml_write_graduated(ctx, path, expr, gs->title, gs->breaks, gs->colors, gs->n)) != SM_OK)
            goto end;
    }
    for (size_t s = 0; s < job->nscenes; s++) {
        /* the classifier's confidence map, when it wrote one */
        free(path);
        path = sm__asprintf(ctx, "%s/confidence_%s.tif", dir, job->scenes[s].id);
        if (!path) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        if (!sm__file_exists(path))
            continue;
        free(path);
        path = sm__asprintf(ctx, "%s/confidence_%s.qml", dir, job->scenes[s].id);
        if (!path || (st = sm_qml_write_confidence(ctx, path)) != SM_OK)
            goto end;
    }
    if ((st = sm_progress(ctx, 0.995, drawn ? "QGIS project and report" : "maps, QGIS project and report")) != SM_OK)
        goto end;
    if (!drawn && !job->no_maps && (st = sm_maps_write(ctx, job, dir, threads, &maps, &nmaps)) != SM_OK)
        goto end;
    if ((st = sm_qgs_write(ctx, job, dir)) != SM_OK)
        goto end;
    if (!job->no_report &&
        (st = sm_report_write(ctx, job, dir, drawn ? given : maps, drawn ? ngiven : nmaps)) != SM_OK)
        goto end;
end:
    free(path);
    free(maps);
    return st;
}

sm_status sm_deliver(sm_context *ctx, const sm_job *job, const char *dir, int threads)
{
    return deliver(ctx, job, dir, threads, 0, NULL, 0);
}

sm_status sm_deliver_drawn(sm_context *ctx, const sm_job *job, const char *dir, const sm_map_info *maps, size_t nmaps)
{
    return deliver(ctx, job, dir, 1, 1, maps, nmaps);
}
