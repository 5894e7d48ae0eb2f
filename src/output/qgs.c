/* qgs.c: sinkmap.qgs, a QGIS project over a run's outputs: one group per scene (its land cover
 * and, when the classifier wrote one, its confidence map) and one group of parcel layers (carbon
 * density, sink, suspected changes), with relative paths so that the folder can be moved or
 * zipped, and the same renderers as the .qml files embedded. Plain XML written here. */
#include "sinkmap/deliver.h"

#include <cpl_conv.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sinkmap/legend.h"
#include "sinkmap/qml.h"
#include "sinkmap/raster.h"

static void xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* What the project needs to know of one layer file. */
typedef struct qlayer {
    char id[64];
    char name[160];
    char source[128]; /* relative datasource, "./parcels.gpkg|layername=xiaoban" */
    char wkbtype[32];
    int raster;
    double ext[4]; /* xmin ymin xmax ymax */
    char *wkt;     /* WKT2 of the CRS (owned) */
    char auth[64];
} qlayer;

static void srs_fill(qlayer *q, OGRSpatialReferenceH srs)
{
    if (!srs)
        return;
    const char *opts[] = {"FORMAT=WKT2_2019", NULL};
    char *w = NULL;
    if (OSRExportToWktEx(srs, &w, opts) == OGRERR_NONE && w) {
        q->wkt = strdup(w);
        CPLFree(w);
    }
    const char *an = OSRGetAuthorityName(srs, NULL), *ac = OSRGetAuthorityCode(srs, NULL);
    if (an && ac)
        snprintf(q->auth, sizeof q->auth, "%s:%s", an, ac);
}

static sm_status raster_layer(sm_context *ctx, qlayer *q, const char *dir, const char *file)
{
    char *p = sm__asprintf(ctx, "%s/%s", dir, file);
    if (!p)
        return SM_ERR_NOMEM;
    GDALDatasetH ds = GDALOpenEx(p, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    double gt[6];
    if (!ds || GDALGetGeoTransform(ds, gt) != CE_None) {
        sm_status st = sm_error(ctx, SM_ERR_IO, "%s: cannot open for the QGIS project", p);
        if (ds)
            GDALClose(ds);
        free(p);
        return st;
    }
    free(p);
    q->raster = 1;
    snprintf(q->source, sizeof q->source, "./%s", file);
    q->ext[0] = gt[0];
    q->ext[3] = gt[3];
    q->ext[2] = gt[0] + GDALGetRasterXSize(ds) * gt[1];
    q->ext[1] = gt[3] + GDALGetRasterYSize(ds) * gt[5];
    OGRSpatialReferenceH srs = GDALGetSpatialRef(ds);
    srs_fill(q, srs);
    GDALClose(ds);
    return SM_OK;
}

static sm_status vector_layer(sm_context *ctx, qlayer *q, const char *dir, const char *file)
{
    char *p = sm__asprintf(ctx, "%s/%s", dir, file);
    if (!p)
        return SM_ERR_NOMEM;
    GDALDatasetH ds = GDALOpenEx(p, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    OGRLayerH lay = NULL;
    for (int i = 0; ds && i < GDALDatasetGetLayerCount(ds) && !lay; i++)
        if (OGR_L_GetGeomType(GDALDatasetGetLayer(ds, i)) != wkbNone)
            lay = GDALDatasetGetLayer(ds, i);
    if (!lay) {
        sm_status st = sm_error(ctx, SM_ERR_IO, "%s: no layer with geometries for the QGIS project", p);
        if (ds)
            GDALClose(ds);
        free(p);
        return st;
    }
    free(p);
    snprintf(q->source, sizeof q->source, "./%s|layername=%s", file, OGR_L_GetName(lay));
    if (wkbFlatten(OGR_L_GetGeomType(lay)) == wkbMultiPolygon)
        snprintf(q->wkbtype, sizeof q->wkbtype, "MultiPolygon");
    else
        snprintf(q->wkbtype, sizeof q->wkbtype, "Polygon");
    OGREnvelope e;
    if (OGR_L_GetExtent(lay, &e, 1) == OGRERR_NONE) {
        q->ext[0] = e.MinX;
        q->ext[1] = e.MinY;
        q->ext[2] = e.MaxX;
        q->ext[3] = e.MaxY;
    }
    srs_fill(q, OGR_L_GetSpatialRef(lay));
    GDALClose(ds);
    return SM_OK;
}

static void write_srs(FILE *f, const qlayer *q, const char *indent)
{
    fprintf(f, "%s<spatialrefsys nativeFormat=\"Wkt\">\n%s  <wkt>", indent, indent);
    xml_text(f, q->wkt);
    fprintf(f, "</wkt>\n%s  <authid>", indent);
    xml_text(f, q->auth);
    fprintf(f, "</authid>\n%s</spatialrefsys>\n", indent);
}

static void write_extent(FILE *f, const double e[4], const char *indent)
{
    fprintf(f, "%s<extent>\n%s  <xmin>%.17g</xmin>\n%s  <ymin>%.17g</ymin>\n%s  <xmax>%.17g</xmax>\n%s  <ymax>%.17g</ymax>\n%s</extent>\n",
            indent, indent, e[0], indent, e[1], indent, e[2], indent, e[3], indent);
}

static void tree_layer(FILE *f, const qlayer *q, int checked)
{
    fputs("      <layer-tree-layer id=\"", f);
    xml_text(f, q->id);
    fputs("\" name=\"", f);
    xml_text(f, q->name);
    fputs("\" source=\"", f);
    xml_text(f, q->source);
    fprintf(f, "\" providerKey=\"%s\" checked=\"%s\" expanded=\"1\">\n        <customproperties/>\n      </layer-tree-layer>\n",
            q->raster ? "gdal" : "ogr", checked ? "Qt::Checked" : "Qt::Unchecked");
}

/* The renderer of a layer: kind 'l' land cover, 'c' confidence, 'k' carbon, 's' sink, 'x' changes. */
static void map_layer(FILE *f, const qlayer *q, char kind, const char *carbon_id)
{
    if (q->raster)
        fputs("    <maplayer type=\"raster\" hasScaleBasedVisibilityFlag=\"0\" styleCategories=\"AllStyleCategories\">\n", f);
    else
        fprintf(f, "    <maplayer type=\"vector\" geometry=\"Polygon\" wkbType=\"%s\" hasScaleBasedVisibilityFlag=\"0\" styleCategories=\"AllStyleCategories\">\n",
                q->wkbtype);
    write_extent(f, q->ext, "      ");
    fputs("      <id>", f);
    xml_text(f, q->id);
    fputs("</id>\n      <datasource>", f);
    xml_text(f, q->source);
    fputs("</datasource>\n      <layername>", f);
    xml_text(f, q->name);
    fputs("</layername>\n      <srs>\n", f);
    write_srs(f, q, "        ");
    fputs("      </srs>\n", f);
    if (q->raster) {
        fputs("      <provider>gdal</provider>\n      <pipe>\n", f);
        if (kind == 'l') {
            size_t n;
            const sm_legend_entry *lg = sm_legend(&n);
            sm_qml_emit_paletted(f, lg, n);
        } else {
            sm_qml_emit_confidence(f);
        }
        fputs("      </pipe>\n", f);
    } else {
        fputs("      <provider encoding=\"UTF-8\">ogr</provider>\n", f);
        if (kind == 'x') {
            const sm_style_categorized *cs = sm_style_changes();
            sm_qml_emit_categorized(f, "reason", cs->values, cs->labels, cs->colors, cs->n);
        } else {
            const sm_style_graduated *gs = kind == 'k' ? sm_style_carbon() : sm_style_sink();
            char expr[160];
            if (kind == 'k')
                sm_style_carbon_expression(carbon_id, expr, sizeof expr);
            else
                snprintf(expr, sizeof expr, "\"sink_co2\" / \"area_ha\"");
            sm_qml_emit_graduated(f, expr, gs->title, gs->breaks, gs->colors, gs->n);
        }
    }
    fputs("    </maplayer>\n", f);
}

sm_status sm_qgs_write(sm_context *ctx, const sm_job *job, const char *dir)
{
    sm_gdal_init();
    sm_status st = SM_OK;
    qlayer *q = calloc(2 * job->nscenes + 3, sizeof *q);
    char *kinds = calloc(2 * job->nscenes + 3, 1);
    size_t *scene_of = calloc(2 * job->nscenes + 3, sizeof *scene_of);
    size_t nq = 0;
    char *path = NULL, *tmp = NULL;
    FILE *f = NULL;
    if (!q || !kinds || !scene_of) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (size_t s = 0; s < job->nscenes; s++) {
        const sm_job_scene *sc = &job->scenes[s];
        char file[64];
        snprintf(file, sizeof file, "landcover_%s.tif", sc->id);
        snprintf(q[nq].id, sizeof q[nq].id, "landcover_%s", sc->id);
        snprintf(q[nq].name, sizeof q[nq].name, "土地覆被 Land cover %s", sc->id);
        if ((st = raster_layer(ctx, &q[nq], dir, file)) != SM_OK)
            goto end;
        kinds[nq] = 'l';
        scene_of[nq++] = s;
        snprintf(file, sizeof file, "confidence_%s.tif", sc->id);
        free(path);
        path = sm__asprintf(ctx, "%s/%s", dir, file);
        if (!path) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        if (sm__file_exists(path)) {
            snprintf(q[nq].id, sizeof q[nq].id, "confidence_%s", sc->id);
            snprintf(q[nq].name, sizeof q[nq].name, "分类置信度 Confidence %s", sc->id);
            if ((st = raster_layer(ctx, &q[nq], dir, file)) != SM_OK)
                goto end;
            kinds[nq] = 'c';
            scene_of[nq++] = s;
        }
    }
    size_t first_vec = nq;
    const char *end_id = job->sink_to ? job->sink_to : job->scenes[job->nscenes - 1].id;
    free(path);
    path = sm__asprintf(ctx, "%s/changes.gpkg", dir);
    if (!path) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if (sm__file_exists(path)) {
        snprintf(q[nq].id, sizeof q[nq].id, "suspected_changes"); /* QGIS renames a layer id "changes" */
        snprintf(q[nq].name, sizeof q[nq].name, "疑似变化小班 Suspected changes");
        if ((st = vector_layer(ctx, &q[nq], dir, "changes.gpkg")) != SM_OK)
            goto end;
        kinds[nq++] = 'x';
    }
    if (job->sink_from) {
        snprintf(q[nq].id, sizeof q[nq].id, "parcels_sink");
        snprintf(q[nq].name, sizeof q[nq].name, "碳汇 Sink %s-%s (t CO2e/ha/yr)", job->sink_from, job->sink_to);
        if ((st = vector_layer(ctx, &q[nq], dir, "parcels.gpkg")) != SM_OK)
            goto end;
        kinds[nq++] = 's';
    }
    snprintf(q[nq].id, sizeof q[nq].id, "parcels_carbon_%s", end_id);
    snprintf(q[nq].name, sizeof q[nq].name, "碳密度 Carbon density %s (t C/ha)", end_id);
    if ((st = vector_layer(ctx, &q[nq], dir, "parcels.gpkg")) != SM_OK)
        goto end;
    kinds[nq++] = 'k';

    free(path);
    if ((st = sm__file_begin(ctx, dir, "sinkmap.qgs", &path, &tmp, &f)) != SM_OK)
        goto end;
    fputs("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n<qgis projectname=\"", f);
    xml_text(f, job->name);
    fputs("\" version=\"3.22.16-Białowieża\">\n  <homePath path=\"\"/>\n  <title>", f);
    xml_text(f, job->name);
    fputs("</title>\n  <projectCrs>\n", f);
    write_srs(f, &q[0], "    ");
    fputs("  </projectCrs>\n  <layer-tree-group>\n    <customproperties/>\n", f);
    /* scene groups, latest first (QGIS draws the top of the tree on top) */
    for (size_t s = job->nscenes; s-- > 0;) {
        fputs("    <layer-tree-group name=\"", f);
        xml_text(f, job->scenes[s].id);
        fprintf(f, " (%s)\" checked=\"%s\" expanded=\"%d\">\n      <customproperties/>\n", job->scenes[s].date,
                s == job->nscenes - 1 ? "Qt::Checked" : "Qt::Unchecked", s == job->nscenes - 1);
        for (size_t k = 0; k < first_vec; k++)
            if (scene_of[k] == s)
                tree_layer(f, &q[k], kinds[k] == 'l');
        fputs("    </layer-tree-group>\n", f);
    }
    fputs("    <layer-tree-group name=\"小班 Parcels\" checked=\"Qt::Checked\" expanded=\"1\">\n      <customproperties/>\n", f);
    for (size_t k = first_vec; k < nq; k++)
        tree_layer(f, &q[k], kinds[k] != 'k');
    fputs("    </layer-tree-group>\n  </layer-tree-group>\n", f);
    /* the canvas: the first land cover's extent in its CRS */
    fputs("  <mapcanvas name=\"theMapCanvas\" annotationsVisible=\"1\">\n    <units>meters</units>\n", f);
    write_extent(f, q[0].ext, "    ");
    fputs("    <rotation>0</rotation>\n    <destinationsrs>\n", f);
    write_srs(f, &q[0], "      ");
    fputs("    </destinationsrs>\n  </mapcanvas>\n  <projectlayers>\n", f);
    for (size_t k = 0; k < nq; k++)
        map_layer(f, &q[k], kinds[k], end_id);
    fputs("  </projectlayers>\n"
          "  <properties>\n"
          "    <Paths>\n"
          "      <Absolute type=\"bool\">false</Absolute>\n"
          "    </Paths>\n"
          "  </properties>\n"
          "</qgis>\n",
          f);
    st = sm__file_commit(ctx, f, tmp, path);
    f = NULL;
end:
    if (f)
        fclose(f);
    for (size_t k = 0; q && k < nq + 1 && k < 2 * job->nscenes + 3; k++)
        free(q[k].wkt);
    free(q);
    free(kinds);
    free(scene_of);
    free(path);
    free(tmp);
    return st;
}
