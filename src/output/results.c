/* results.c: the per-parcel results table and its writers (GeoPackage/Shapefile, CSV).
 * The parcel layer is rebuilt from the input file feature by feature, so every input
 * attribute and geometry passes through untouched; results are matched by feature order. */
#include "sinkmap/results.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <math.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "pipeline/internal.h"
#include "sinkmap/raster.h"
#include "sinkmap/table.h"

sm_status sm_results_create(sm_results **out, sm_context *ctx, size_t nrows)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    (*out)->nrows = nrows;
    return SM_OK;
}

void sm_results_destroy(sm_results *r)
{
    if (!r)
        return;
    for (size_t k = 0; k < r->nfields; k++) {
        if (r->text[k])
            for (size_t i = 0; i < r->nrows; i++)
                free(r->text[k][i]);
        free(r->text[k]);
        free(r->num[k]);
    }
    free(r->text);
    free(r->num);
    free(r->fields);
    free(r);
}

sm_status sm_results_add(sm_results *r, sm_context *ctx, const char *name, sm_result_type type,
                         const char *unit, const char *meaning, size_t *col)
{
    if (strlen(name) > 63)
        return sm_error(ctx, SM_ERR_INTERNAL, "result field name '%s' is longer than 63 characters", name);
    if (sm_results_find(r, name) >= 0)
        return sm_error(ctx, SM_ERR_INTERNAL, "result field '%s' added twice", name);
    if (r->nfields == r->cap_fields) {
        size_t cap = r->cap_fields ? 2 * r->cap_fields : 16;
        sm_result_field *f = realloc(r->fields, cap * sizeof *f);
        if (f)
            r->fields = f;
        double **num = f ? realloc(r->num, cap * sizeof *num) : NULL;
        if (num)
            r->num = num;
        char ***text = num ? realloc(r->text, cap * sizeof *text) : NULL;
        if (!text)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        r->text = text;
        r->cap_fields = cap;
    }
    size_t k = r->nfields;
    double *column = malloc((r->nrows ? r->nrows : 1) * sizeof *column);
    if (!column)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory for a result field of %zu rows", r->nrows);
    for (size_t i = 0; i < r->nrows; i++)
        column[i] = NAN;
    r->num[k] = column;
    r->text[k] = NULL;
    sm_result_field *nfd = &r->fields[k];
    memset(nfd, 0, sizeof *nfd);
    snprintf(nfd->name, sizeof nfd->name, "%s", name);
    nfd->type = type;
    nfd->unit = unit ? unit : "";
    nfd->meaning = meaning ? meaning : "";
    *col = k;
    r->nfields = k + 1;
    return SM_OK;
}

void sm_results_set(sm_results *r, size_t row, size_t col, double v) { r->num[col][row] = v; }

sm_status sm_results_set_text(sm_results *r, sm_context *ctx, size_t row, size_t col, const char *text)
{
    if (!r->text[col] && !(r->text[col] = calloc(r->nrows ? r->nrows : 1, sizeof *r->text[col])))
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    char **slot = &r->text[col][row];
    free(*slot);
    *slot = NULL;
    if (text) {
        *slot = sm__strdup(ctx, text);
        if (!*slot)
            return SM_ERR_NOMEM;
    }
    return SM_OK;
}

double sm_results_get(const sm_results *r, size_t row, size_t col) { return r->num[col][row]; }

long sm_results_find(const sm_results *r, const char *name)
{
    for (size_t k = 0; k < r->nfields; k++)
        if (strcmp(r->fields[k].name, name) == 0)
            return (long)k;
    return -1;
}

static const char *gdal_msg(void)
{
    const char *m = CPLGetLastErrorMsg();
    return (m && m[0]) ? m : "unknown error";
}

static sm_status write_dictionary(const sm_results *r, sm_context *ctx, GDALDatasetH ds)
{
    OGRLayerH lyr = GDALDatasetCreateLayer(ds, "sinkmap_fields", NULL, wkbNone, NULL);
    if (!lyr)
        return sm_error(ctx, SM_ERR_IO, "cannot create the table sinkmap_fields: %s", gdal_msg());
    const char *cols[3] = {"name", "meaning", "unit"};
    for (int k = 0; k < 3; k++) {
        OGRFieldDefnH fd = OGR_Fld_Create(cols[k], OFTString);
        OGR_L_CreateField(lyr, fd, TRUE);
        OGR_Fld_Destroy(fd);
    }
    for (size_t k = 0; k < r->nfields; k++) {
        OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(lyr));
        OGR_F_SetFieldString(f, 0, r->fields[k].name);
        OGR_F_SetFieldString(f, 1, r->fields[k].meaning);
        OGR_F_SetFieldString(f, 2, r->fields[k].unit);
        OGRErr e = OGR_L_CreateFeature(lyr, f);
        OGR_F_Destroy(f);
        if (e != OGRERR_NONE)
            return sm_error(ctx, SM_ERR_IO, "cannot write sinkmap_fields: %s", gdal_msg());
    }
    return SM_OK;
}

sm_status sm_results_write_layer(const sm_results *r, sm_context *ctx, const sm_parcels *p,
                                 const char *path, const char *driver)
{
    return sm_results_write_layer_subset(r, ctx, p, path, driver, NULL);
}

sm_status sm_results_write_layer_subset(const sm_results *r, sm_context *ctx, const sm_parcels *p,
                                        const char *path, const char *driver, const unsigned char *keep)
{
    sm_gdal_init();
    sm_status st = SM_OK;
    char **oo = NULL, **lco = NULL;
    GDALDatasetH src = NULL, dst = NULL;
    int is_shp = strcmp(driver, "ESRI Shapefile") == 0;
    const char *enc = sm_parcels_encoding(p);
    if (enc && enc[0])
        oo = CSLSetNameValue(oo, "ENCODING", enc);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    src = GDALOpenEx(sm_parcels_path(p), GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, (const char *const *)oo, NULL);
    CPLPopErrorHandler();
    if (!src) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: cannot reopen: %s", sm_parcels_path(p), gdal_msg());
        goto end;
    }
    OGRLayerH sl = GDALDatasetGetLayerByName(src, sm_parcels_layer_name(p));
    GDALDriverH drv = GDALGetDriverByName(driver);
    if (!sl || !drv) {
        st = sm_error(ctx, SM_ERR_INTERNAL, "cannot prepare %s", path);
        goto end;
    }
    CPLPushErrorHandler(CPLQuietErrorHandler);
    dst = GDALCreate(drv, path, 0, 0, 0, GDT_Unknown, NULL);
    CPLPopErrorHandler();
    if (!dst) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot create: %s", path, gdal_msg());
        goto end;
    }
    if (is_shp)
        lco = CSLSetNameValue(lco, "ENCODING", (enc && enc[0]) ? enc : "UTF-8");
    OGRLayerH dl = GDALDatasetCreateLayer(dst, sm_parcels_layer_name(p), OGR_L_GetSpatialRef(sl),
                                          is_shp ? wkbPolygon : wkbMultiPolygon, lco);
    if (!dl) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot create the layer: %s", path, gdal_msg());
        goto end;
    }
    OGRFeatureDefnH sdefn = OGR_L_GetLayerDefn(sl);
    int nsrc = OGR_FD_GetFieldCount(sdefn);
    for (int k = 0; k < nsrc; k++) {
        OGRFieldDefnH fd = OGR_FD_GetFieldDefn(sdefn, k);
        if (sm_results_find(r, OGR_Fld_GetNameRef(fd)) >= 0) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: the parcels already have a field '%s', which sinkmap writes; "
                          "rename it in the input",
                          sm_parcels_path(p), OGR_Fld_GetNameRef(fd));
            goto end;
        }
        if (OGR_L_CreateField(dl, fd, TRUE) != OGRERR_NONE) {
            st = sm_error(ctx, SM_ERR_IO, "%s: cannot create field %s", path, OGR_Fld_GetNameRef(fd));
            goto end;
        }
    }
    for (size_t k = 0; k < r->nfields; k++) {
        OGRFieldType t = r->fields[k].type == SM_RESULT_TEXT  ? OFTString
                         : r->fields[k].type == SM_RESULT_INT ? OFTInteger
                                                              : OFTReal;
        OGRFieldDefnH fd = OGR_Fld_Create(r->fields[k].name, t);
        if (t == OFTString)
            OGR_Fld_SetWidth(fd, 200);
        if (t == OFTReal && is_shp) {
            OGR_Fld_SetWidth(fd, 24);
            OGR_Fld_SetPrecision(fd, 15);
        }
        OGRErr e = OGR_L_CreateField(dl, fd, TRUE);
        OGR_Fld_Destroy(fd);
        if (e != OGRERR_NONE) {
            st = sm_error(ctx, SM_ERR_IO, "%s: cannot create field %s", path, r->fields[k].name);
            goto end;
        }
    }
    OGRFeatureDefnH ddefn = OGR_L_GetLayerDefn(dl);
    /* GeoPackage writes in one transaction; a Shapefile has none (and needs none). */
    int in_tx = GDALDatasetStartTransaction(dst, FALSE) == OGRERR_NONE;
    OGR_L_ResetReading(sl);
    OGRFeatureH sf;
    size_t i = 0;
    while ((sf = OGR_L_GetNextFeature(sl)) != NULL) {
        if (i >= r->nrows || OGR_F_GetFID(sf) != sm_parcels_fid(p, i)) {
            OGR_F_Destroy(sf);
            st = sm_error(ctx, SM_ERR_INPUT, "%s: the parcels changed while sinkmap was running",
                          sm_parcels_path(p));
            goto end;
        }
        if (keep && !keep[i]) {
            OGR_F_Destroy(sf);
            i++;
            continue;
        }
        OGRFeatureH df = OGR_F_Create(ddefn);
        OGR_F_SetFrom(df, sf, TRUE);
        OGRGeometryH geom = OGR_F_GetGeometryRef(df);
        if (geom && !is_shp && wkbFlatten(OGR_G_GetGeometryType(geom)) == wkbPolygon)
            OGR_F_SetGeometryDirectly(df, OGR_G_ForceToMultiPolygon(OGR_G_Clone(geom)));
        for (size_t k = 0; k < r->nfields; k++) {
            int fi = nsrc + (int)k;
            if (r->fields[k].type == SM_RESULT_TEXT) {
                const char *t = r->text[k] ? r->text[k][i] : NULL;
                if (t)
                    OGR_F_SetFieldString(df, fi, t);
                else
                    OGR_F_SetFieldNull(df, fi);
            } else {
                double v = r->num[k][i];
                if (isnan(v))
                    OGR_F_SetFieldNull(df, fi);
                else if (r->fields[k].type == SM_RESULT_INT)
                    OGR_F_SetFieldInteger(df, fi, (int)v);
                else
                    OGR_F_SetFieldDouble(df, fi, v);
            }
        }
        OGRErr e = OGR_L_CreateFeature(dl, df);
        OGR_F_Destroy(df);
        OGR_F_Destroy(sf);
        if (e != OGRERR_NONE) {
            st = sm_error(ctx, SM_ERR_IO, "%s: cannot write feature %zu: %s", path, i, gdal_msg());
            goto end;
        }
        i++;
    }
    if (in_tx && GDALDatasetCommitTransaction(dst) != OGRERR_NONE) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot commit: %s", path, gdal_msg());
        goto end;
    }
    if (!is_shp && (st = write_dictionary(r, ctx, dst)) != SM_OK)
        goto end;
end:
    if (dst) {
        CPLErrorReset();
        GDALClose(dst);
        if (CPLGetLastErrorType() >= CE_Failure && st == SM_OK)
            st = sm_error(ctx, SM_ERR_IO, "%s: cannot finish writing: %s", path, gdal_msg());
    }
    if (src)
        GDALClose(src);
    CSLDestroy(oo);
    CSLDestroy(lco);
    return st;
}

/* One writer for both layouts: with_fid puts "fid" first; id_field (not NULL) puts the id. */
/* What a CSV's rows are made of: the parcel's fid and/or id, key fields, then the results. */
typedef struct csv_layout {
    const sm_results *r;
    const sm_parcels *p;
    int with_fid;
    const char *id_field;
    const sm_field_role *keys;
    size_t nkeys;
} csv_layout;

static sm_status write_rows(sm_csv_writer *w, const csv_layout *L, size_t i0, size_t i1)
{
    const sm_results *r = L->r;
    sm_status st = SM_OK;
    for (size_t i = i0; i < i1; i++) {
        if (L->with_fid && (st = sm_csv_writer_long(w, (long long)sm_parcels_fid(L->p, i))) != SM_OK)
            return st;
        if (L->id_field && (st = sm_csv_writer_text(w, sm_parcels_str(L->p, i, SM_FIELD_ID))) != SM_OK)
            return st;
        for (size_t k = 0; k < L->nkeys; k++)
            if ((st = sm_csv_writer_text(w, sm_parcels_str(L->p, i, L->keys[k]))) != SM_OK)
                return st;
        for (size_t k = 0; k < r->nfields; k++) {
            if (r->fields[k].type == SM_RESULT_TEXT)
                st = sm_csv_writer_text(w, r->text[k] ? r->text[k][i] : NULL);
            else
                st = sm_csv_writer_double(w, r->num[k][i]);
            if (st != SM_OK)
                return st;
        }
        if ((st = sm_csv_writer_end_row(w)) != SM_OK)
            return st;
    }
    return SM_OK;
}

#define CSV_CHUNK_ROWS 16384

/* The rows in chunks of CSV_CHUNK_ROWS, formatted in memory by the workers of the ordered
 * pipeline (sm__pipe_run: at most two chunks per thread ahead of the writing) and written here
 * in order as each is done: the same bytes as one writer writing every row. */
typedef struct csv_pass {
    const csv_layout *L;
    const char *name;
    unsigned flags;
    sm_csv_writer *out;
    sm_context **ctx; /* one per worker */
    struct csv_slot {
        char *buf;
        size_t len;
    } *slots;
} csv_pass;

static sm_status csv_work(void *arg, int t, size_t m, size_t k)
{
    csv_pass *cp = arg;
    struct csv_slot *sl = &cp->slots[k];
    sm_context *ctx = cp->ctx[t];
    size_t n = cp->L->r->nrows, i0 = m * CSV_CHUNK_ROWS, i1 = i0 + CSV_CHUNK_ROWS < n ? i0 + CSV_CHUNK_ROWS : n;
    FILE *f = open_memstream(&sl->buf, &sl->len);
    if (!f)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory formatting %s", cp->name);
    sm_csv_writer *w = NULL;
    sm_status st = sm_csv_writer_stream(&w, ctx, f, cp->name, cp->flags & ~(unsigned)SM_CSV_BOM);
    if (st == SM_OK)
        st = write_rows(w, cp->L, i0, i1);
    if (st == SM_OK)
        st = sm_csv_writer_close(w);
    else
        sm_csv_writer_destroy(w);
    if (fclose(f) != 0 && st == SM_OK)
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory formatting %s", cp->name);
    return st;
}

static sm_status csv_merge(void *arg, sm_context *ctx, size_t m, size_t k)
{
    (void)ctx;
    (void)m;
    csv_pass *cp = arg;
    struct csv_slot *sl = &cp->slots[k];
    sm_status st = sm_csv_writer_append(cp->out, sl->buf, sl->len);
    free(sl->buf);
    sl->buf = NULL;
    sl->len = 0;
    return st;
}

static sm_context *csv_ctx(void *arg, int t)
{
    return ((csv_pass *)arg)->ctx[t];
}

static sm_status write_rows_parallel(sm_csv_writer *w, sm_context *ctx, const csv_layout *L,
                                     const char *path, unsigned flags, int threads)
{
    size_t nchunks = (L->r->nrows + CSV_CHUNK_ROWS - 1) / CSV_CHUNK_ROWS, nslots = sm__pipe_slots(threads);
    csv_pass cp = {L, path, flags, w, calloc((size_t)threads, sizeof *cp.ctx), calloc(nslots, sizeof *cp.slots)};
    sm_status st = SM_OK;
    if (!cp.ctx || !cp.slots)
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory writing %s", path);
    for (int t = 0; st == SM_OK && t < threads; t++)
        if (!(cp.ctx[t] = sm_context_create()))
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory writing %s", path);
    if (st == SM_OK) {
        sm__pipe_ops ops = {&cp, csv_work, csv_merge, csv_ctx};
        st = sm__pipe_run(ctx, nchunks, threads, &ops);
    }
    for (size_t k = 0; cp.slots && k < nslots; k++)
        free(cp.slots[k].buf);
    for (int t = 0; cp.ctx && t < threads; t++)
        sm_context_destroy(cp.ctx[t]);
    free(cp.slots);
    free(cp.ctx);
    return st;
}

static sm_status write_csv(const sm_results *r, sm_context *ctx, const sm_parcels *p, int with_fid,
                           const char *id_field, const sm_field_role *keys, size_t nkeys,
                           const char *path, unsigned flags)
{
    sm_csv_writer *w = NULL;
    sm_status st = sm_csv_writer_open(&w, ctx, path, flags);
    if (st != SM_OK)
        return st;
    if (with_fid && (st = sm_csv_writer_text(w, "fid")) != SM_OK)
        goto end;
    if (id_field && (st = sm_csv_writer_text(w, id_field)) != SM_OK)
        goto end;
    for (size_t k = 0; k < nkeys; k++)
        if ((st = sm_csv_writer_text(w, sm_field_role_key(keys[k]))) != SM_OK)
            goto end;
    for (size_t k = 0; k < r->nfields; k++)
        if ((st = sm_csv_writer_text(w, r->fields[k].name)) != SM_OK)
            goto end;
    if ((st = sm_csv_writer_end_row(w)) != SM_OK)
        goto end;
    csv_layout L = {r, p, with_fid, id_field, keys, nkeys};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = r->threads > 0 ? r->threads : (ncpu > 0 ? (int)ncpu : 1);
    if (threads > 64)
        threads = 64;
    if (threads > 1 && r->nrows >= 2 * CSV_CHUNK_ROWS)
        st = write_rows_parallel(w, ctx, &L, path, flags, threads);
    else
        st = write_rows(w, &L, 0, r->nrows);
    if (st != SM_OK)
        goto end;
    st = sm_csv_writer_close(w);
    w = NULL;
end:
    sm_csv_writer_destroy(w);
    return st;
}

sm_status sm_results_write_csv(const sm_results *r, sm_context *ctx, const sm_parcels *p,
                               const sm_field_role *keys, size_t nkeys, const char *path)
{
    return write_csv(r, ctx, p, 1, NULL, keys, nkeys, path, SM_CSV_BOM);
}

sm_status sm_results_write_csv_by_id(const sm_results *r, sm_context *ctx, const sm_parcels *p,
                                     const char *id_field, const char *path)
{
    return write_csv(r, ctx, p, id_field == NULL, id_field, NULL, 0, path, 0);
}
