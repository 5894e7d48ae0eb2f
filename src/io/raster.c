/* raster.c: the GDAL adapter for reading rasters by windows and writing GeoTIFFs.
 * Reads are windows of a target grid; a raster on another cell size (20 m SWIR, 20 m scene
 * classes) is resampled on the fly by GDAL's RasterIO with a floating-point source window.
 * Writers stage a tiled GeoTIFF and finish it as a Cloud-Optimized GeoTIFF with overviews. */
#include "sinkmap/raster.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdalwarper.h>
#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <ogr_srs_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/tiffdec.h"

struct sm_raster {
    GDALDatasetH ds;     /* the dataset read: the file, or a warped VRT over it */
    GDALDatasetH src;    /* the file when ds is a warped VRT, else NULL */
    int warped;
    sm_grid target;      /* for reopen: the grid and CRS it was warped to */
    char *target_wkt;
    sm_resample resample;
    char *path;
    char *wkt;
    OGRSpatialReferenceH srs;
    sm_grid grid;
    int nbands;
    double foot[4]; /* xmin, ymin, xmax, ymax of the source's data in the CRS read */
    /* Per band: 0 = not tried yet, 1 = read with the direct decoder, 2 = read with GDAL. One
     * decoder serves every band of the file, so a pixel-interleaved block is decompressed once
     * for all of them. */
    unsigned char *direct_state;
    sm_tiffdec *direct;
    double *scratch; /* upsample_direct's source window and filtered rows */
    size_t scratch_cap;
};

static pthread_once_t gdal_once = PTHREAD_ONCE_INIT;
static void gdal_register(void)
{
    GDALAllRegister();
    CPLSetConfigOption("GDAL_PAM_ENABLED", "YES");
    /* sinkmap reads and writes in one pass of strips: the cache needs the tiles of the strips
     * in flight (a few tile rows per band), not GDAL's default of 5 % of the RAM, which only
     * fills with blocks never read again and makes the resident memory grow with the raster.
     * A program or user that sets GDAL_CACHEMAX first keeps its own value. */
    if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL))
        CPLSetConfigOption("GDAL_CACHEMAX", "128");
}
void sm_gdal_init(void) { pthread_once(&gdal_once, gdal_register); }

static const char *last_gdal_error(void)
{
    const char *m = CPLGetLastErrorMsg();
    return (m && m[0]) ? m : "unknown error";
}

sm_status sm_raster_open(sm_raster **out, sm_context *ctx, const char *path)
{
    *out = NULL;
    sm_gdal_init();
    if (!sm__file_exists(path) && strncmp(path, "/vsi", 4) != 0)
        return sm_error(ctx, SM_ERR_INPUT, "%s: no such raster file", path);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    CPLPopErrorHandler();
    if (!ds)
        return sm_error(ctx, SM_ERR_INPUT, "%s: not a readable raster (%s)", path, last_gdal_error());
    sm_status st = SM_OK;
    sm_raster *r = calloc(1, sizeof *r);
    if (!r) {
        GDALClose(ds);
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    }
    r->ds = ds;
    r->path = sm__strdup(ctx, path);
    r->nbands = GDALGetRasterCount(ds);
    if (r->nbands < 1) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: the raster has no bands", path);
        goto end;
    }
    double gt[6];
    if (GDALGetGeoTransform(ds, gt) != CE_None) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: the raster has no georeferencing (geotransform)", path);
        goto end;
    }
    if (gt[2] != 0.0 || gt[4] != 0.0 || !(gt[1] > 0) || !(gt[5] < 0)) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: rotated or south-up geotransform (%g, %g, %g, %g, %g, %g); expected a "
                      "north-up grid (warp it with gdalwarp first)",
                      path, gt[0], gt[1], gt[2], gt[3], gt[4], gt[5]);
        goto end;
    }
    r->grid.x0 = gt[0];
    r->grid.dx = gt[1];
    r->grid.y0 = gt[3];
    r->grid.dy = -gt[5];
    r->grid.ncols = GDALGetRasterXSize(ds);
    r->grid.nrows = GDALGetRasterYSize(ds);
    r->foot[0] = r->grid.x0;
    r->foot[1] = r->grid.y0 - (double)r->grid.nrows * r->grid.dy;
    r->foot[2] = r->grid.x0 + (double)r->grid.ncols * r->grid.dx;
    r->foot[3] = r->grid.y0;
    OGRSpatialReferenceH srs = GDALGetSpatialRef(ds);
    if (srs && (OSRIsLocal(srs) || (!OSRIsProjected(srs) && !OSRIsGeographic(srs)))) {
        const char *nm = OSRGetName(srs);
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: its CRS ('%s') is a local or engineering CRS, with no transformation "
                      "to the Earth; expected a geographic or projected CRS (e.g. EPSG:32648)",
                      path, nm ? nm : "unnamed");
        goto end;
    }
    if (!srs) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: the raster has no coordinate reference system (set one with "
                      "gdal_edit.py -a_srs EPSG:XXXX)",
                      path);
        goto end;
    }
    r->srs = OSRClone(srs);
    OSRSetAxisMappingStrategy(r->srs, OAMS_TRADITIONAL_GIS_ORDER);
    char *wkt = NULL;
    const char *wopt[] = {"FORMAT=WKT2_2019", NULL};
    if (OSRExportToWktEx(r->srs, &wkt, wopt) != OGRERR_NONE || !wkt) {
        CPLFree(wkt);
        st = sm_error(ctx, SM_ERR_INPUT, "%s: cannot export its CRS as WKT", path);
        goto end;
    }
    r->wkt = sm__strdup(ctx, wkt);
    CPLFree(wkt);
end:
    if (st != SM_OK) {
        sm_raster_close(r);
        return st;
    }
    *out = r;
    return SM_OK;
}

void sm_raster_close(sm_raster *r)
{
    if (!r)
        return;
    sm_tiffdec_close(r->direct);
    free(r->direct_state);
    free(r->scratch);
    if (r->ds)
        GDALClose(r->ds); /* the warped VRT first: it reads from src */
    if (r->src)
        GDALClose(r->src);
    free(r->target_wkt);
    if (r->srs)
        OSRDestroySpatialReference(r->srs);
    free(r->path);
    free(r->wkt);
    free(r);
}

const char *sm_raster_path(const sm_raster *r) { return r->path; }
int sm_raster_is_warped(const sm_raster *r) { return r->warped; }

sm_status sm_raster_open_on_grid(sm_raster **out, sm_context *ctx, const char *path,
                                 const sm_grid *target, const char *target_wkt,
                                 sm_resample resample)
{
    *out = NULL;
    sm_raster *r = NULL;
    sm_status st = sm_raster_open(&r, ctx, path);
    if (st != SM_OK)
        return st;
    OGRSpatialReferenceH dst = OSRNewSpatialReference(NULL);
    GDALWarpOptions *wo = NULL;
    char **to = NULL;
    if (!dst || OSRSetFromUserInput(dst, target_wkt) != OGRERR_NONE) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: the analysis grid's CRS cannot be read", path);
        goto end;
    }
    OSRSetAxisMappingStrategy(dst, OAMS_TRADITIONAL_GIS_ORDER);
    r->target = *target;
    r->resample = resample;
    r->target_wkt = sm__strdup(ctx, target_wkt);
    if (!r->target_wkt) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if (OSRIsSame(r->srs, dst))
        goto end; /* same CRS: windows are resampled by sm_raster_read */
    if (target->ncols > INT32_MAX || target->nrows > INT32_MAX) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: the analysis grid is too large to warp onto", path);
        goto end;
    }
    to = CSLSetNameValue(to, "DST_SRS", target_wkt);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    void *tr = GDALCreateGenImgProjTransformer2(r->ds, NULL, to);
    CPLPopErrorHandler();
    if (!tr) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: no coordinate transformation from its CRS (%s) to the analysis grid's "
                      "CRS (%s): PROJ knows no operation between them",
                      path, OSRGetName(r->srs) ? OSRGetName(r->srs) : "?",
                      OSRGetName(dst) ? OSRGetName(dst) : "?");
        goto end;
    }
    /* The source's footprint in the target CRS (for the overlap check), before the transformer
     * is bound to the target's pixels. */
    {
        double sgt[6], ext[4];
        int snx = 0, sny = 0;
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErr se = GDALSuggestedWarpOutput2(r->ds, GDALGenImgProjTransform, tr, sgt, &snx, &sny, ext, 0);
        CPLPopErrorHandler();
        if (se != CE_None) {
            GDALDestroyGenImgProjTransformer(tr);
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: no coordinate transformation from its CRS (%s) to the analysis "
                          "grid's CRS (%s): PROJ knows no operation between them",
                          path, OSRGetName(r->srs) ? OSRGetName(r->srs) : "?",
                          OSRGetName(dst) ? OSRGetName(dst) : "?");
            goto end;
        }
        memcpy(r->foot, ext, sizeof ext);
    }
    double gt[6] = {target->x0, target->dx, 0, target->y0, 0, -target->dy};
    GDALSetGenImgProjTransformerDstGeoTransform(tr, gt);
    wo = GDALCreateWarpOptions();
    wo->hSrcDS = r->ds;
    wo->nBandCount = r->nbands;
    wo->panSrcBands = CPLMalloc(sizeof(int) * (size_t)r->nbands);
    wo->panDstBands = CPLMalloc(sizeof(int) * (size_t)r->nbands);
    int any_nd = 0;
    for (int b = 0; b < r->nbands; b++) {
        wo->panSrcBands[b] = wo->panDstBands[b] = b + 1;
        int has = 0;
        GDALGetRasterNoDataValue(GDALGetRasterBand(r->ds, b + 1), &has);
        any_nd |= has;
    }
    /* Cells outside the source, or whose source is nodata, come out as nodata (NAN). */
    wo->padfSrcNoDataReal = CPLMalloc(sizeof(double) * (size_t)r->nbands);
    wo->padfDstNoDataReal = CPLMalloc(sizeof(double) * (size_t)r->nbands);
    for (int b = 0; b < r->nbands; b++) {
        int has = 0;
        double nd = GDALGetRasterNoDataValue(GDALGetRasterBand(r->ds, b + 1), &has);
        wo->padfSrcNoDataReal[b] = has ? nd : -1e300;
        wo->padfDstNoDataReal[b] = has ? nd : -1e300;
    }
    (void)any_nd;
    wo->papszWarpOptions = CSLSetNameValue(wo->papszWarpOptions, "INIT_DEST", "NO_DATA");
    wo->eResampleAlg = resample == SM_RESAMPLE_BILINEAR  ? GRA_Bilinear
                       : resample == SM_RESAMPLE_AVERAGE ? GRA_Average
                                                         : GRA_NearestNeighbour;
    wo->pfnTransformer = GDALGenImgProjTransform;
    wo->pTransformerArg = tr;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    GDALDatasetH vrt = GDALCreateWarpedVRT(r->ds, (int)target->ncols, (int)target->nrows, gt, wo);
    CPLPopErrorHandler();
    if (!vrt) {
        GDALDestroyGenImgProjTransformer(tr);
        wo->pTransformerArg = NULL;
        st = sm_error(ctx, SM_ERR_INPUT, "%s: cannot warp onto the analysis grid: %s", path, last_gdal_error());
        goto end;
    }
    for (int b = 1; b <= r->nbands; b++) {
        int has = 0;
        double nd = GDALGetRasterNoDataValue(GDALGetRasterBand(r->ds, b), &has);
        GDALSetRasterNoDataValue(GDALGetRasterBand(vrt, b), has ? nd : -1e300);
    }
    r->src = r->ds;
    r->ds = vrt;
    r->warped = 1;
    r->grid = *target;
    OSRDestroySpatialReference(r->srs);
    r->srs = OSRClone(dst);
    free(r->wkt);
    r->wkt = sm__strdup(ctx, target_wkt);
end:
    if (wo)
        GDALDestroyWarpOptions(wo); /* the VRT keeps its own copy and owns the transformer */
    CSLDestroy(to);
    if (dst)
        OSRDestroySpatialReference(dst);
    if (st != SM_OK) {
        sm_raster_close(r);
        return st;
    }
    *out = r;
    return SM_OK;
}

/* Edges snapped outward to whole multiples of the cell size (a millionth of a cell of slack, so
 * that an edge already on the lattice stays put). */
/* The largest analysis grid: strips of at least 16 rows must fit in memory (2^20 columns is
 * 10,486 km at 10 m), and 2^40 cells keeps every count exact in a double. */
#define SM_GRID_MAX_SIDE ((int64_t)1 << 20)
#define SM_GRID_MAX_CELLS 1099511627776.0

static double snap_down(double v, double res) { return floor(v / res + 1e-6) * res; }
static double snap_up(double v, double res) { return ceil(v / res - 1e-6) * res; }

sm_status sm_raster_define_grid(sm_context *ctx, const char *path, const char *job_path,
                                const char *crs, double resx, double resy, const double *extent,
                                sm_grid *grid, char **wkt)
{
    *wkt = NULL;
    sm_raster *r = NULL;
    sm_status st = sm_raster_open(&r, ctx, path);
    if (st != SM_OK)
        return st;
    OGRSpatialReferenceH dst = NULL;
    char *out_wkt = NULL;
    void *tr = NULL;
    char **to = NULL;
    sm_grid g = r->grid;
    if (!crs && resx <= 0 && !extent) {
        out_wkt = sm__strdup(ctx, r->wkt);
        if (!out_wkt)
            st = SM_ERR_NOMEM;
        else if (r->grid.ncols > SM_GRID_MAX_SIDE || r->grid.nrows > SM_GRID_MAX_SIDE ||
                 (double)r->grid.ncols * (double)r->grid.nrows > SM_GRID_MAX_CELLS)
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: %lld x %lld cells is too large for the analysis grid (at most %lld "
                          "a side and %.0f in all); set a coarser [grid] res or a smaller extent",
                          path, (long long)r->grid.ncols, (long long)r->grid.nrows,
                          (long long)SM_GRID_MAX_SIDE, SM_GRID_MAX_CELLS);
        goto end; /* the first scene's grid, exactly */
    }
    if (crs) {
        dst = OSRNewSpatialReference(NULL);
        CPLPushErrorHandler(CPLQuietErrorHandler);
        OGRErr e = dst ? OSRSetFromUserInput(dst, crs) : OGRERR_FAILURE;
        CPLPopErrorHandler();
        if (e != OGRERR_NONE) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: [grid] crs = '%s': not a coordinate reference system GDAL/PROJ "
                          "knows (expected e.g. EPSG:32648, a WKT or a PROJ string)",
                          job_path, crs);
            goto end;
        }
        if (!OSRIsProjected(dst)) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: [grid] crs = '%s': not a projected CRS (%s); expected one in "
                          "metres such as EPSG:32648, so that cells have an area",
                          job_path, crs, OSRGetName(dst) ? OSRGetName(dst) : "?");
            goto end;
        }
        OSRSetAxisMappingStrategy(dst, OAMS_TRADITIONAL_GIS_ORDER);
        const char *wopt[] = {"FORMAT=WKT2_2019", NULL};
        char *w = NULL;
        if (OSRExportToWktEx(dst, &w, wopt) != OGRERR_NONE || !w) {
            CPLFree(w);
            st = sm_error(ctx, SM_ERR_INPUT, "%s: [grid] crs = '%s': cannot be written as WKT",
                          job_path, crs);
            goto end;
        }
        out_wkt = sm__strdup(ctx, w);
        CPLFree(w);
        if (!out_wkt) {
            st = SM_ERR_NOMEM;
            goto end;
        }
    } else {
        out_wkt = sm__strdup(ctx, r->wkt);
        if (!out_wkt) {
            st = SM_ERR_NOMEM;
            goto end;
        }
    }
    double x0 = r->grid.x0, x1 = r->grid.x0 + (double)r->grid.ncols * r->grid.dx;
    double y1 = r->grid.y0, y0 = r->grid.y0 - (double)r->grid.nrows * r->grid.dy;
    double rx = r->grid.dx, ry = r->grid.dy;
    if (dst && !OSRIsSame(r->srs, dst)) {
        /* The raster's footprint and GDAL's suggested cell size in the grid's CRS. */
        to = CSLSetNameValue(to, "DST_SRS", out_wkt);
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErrorReset();
        tr = GDALCreateGenImgProjTransformer2(r->ds, NULL, to);
        double gt[6], ext[4];
        int nx = 0, ny = 0;
        int ok = tr && GDALSuggestedWarpOutput2(r->ds, GDALGenImgProjTransform, tr, gt, &nx, &ny,
                                                 ext, 0) == CE_None;
        CPLPopErrorHandler();
        if (!ok) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: no coordinate transformation from its CRS (%s) to [grid] crs = %s "
                          "of %s: PROJ knows no operation between them",
                          path, OSRGetName(r->srs) ? OSRGetName(r->srs) : "?", crs, job_path);
            goto end;
        }
        x0 = ext[0];
        y0 = ext[1];
        x1 = ext[2];
        y1 = ext[3];
        rx = gt[1];
        ry = -gt[5];
    }
    if (resx > 0) {
        rx = resx;
        ry = resy > 0 ? resy : resx;
    }
    if (extent) {
        x0 = extent[0];
        y0 = extent[1];
        x1 = extent[2];
        y1 = extent[3];
    }
    x0 = snap_down(x0, rx);
    y0 = snap_down(y0, ry);
    x1 = snap_up(x1, rx);
    y1 = snap_up(y1, ry);
    double nc = round((x1 - x0) / rx), nr = round((y1 - y0) / ry);
    if (!(nc >= 1 && nr >= 1) || nc > (double)SM_GRID_MAX_SIDE || nr > (double)SM_GRID_MAX_SIDE ||
        nc * nr > SM_GRID_MAX_CELLS) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: [grid] gives %.0f x %.0f cells of %g x %g; expected 1 to %lld cells a "
                      "side and at most %.0f in all",
                      job_path, nc, nr, rx, ry, (long long)SM_GRID_MAX_SIDE, SM_GRID_MAX_CELLS);
        goto end;
    }
    g.x0 = x0;
    g.y0 = y1;
    g.dx = rx;
    g.dy = ry;
    g.ncols = (int64_t)nc;
    g.nrows = (int64_t)nr;
end:
    if (tr)
        GDALDestroyGenImgProjTransformer(tr);
    CSLDestroy(to);
    if (dst)
        OSRDestroySpatialReference(dst);
    sm_raster_close(r);
    if (st != SM_OK) {
        free(out_wkt);
        return st;
    }
    *grid = g;
    *wkt = out_wkt;
    return SM_OK;
}

sm_status sm_raster_reopen(sm_raster **out, sm_context *ctx, const sm_raster *r)
{
    if (r->target_wkt)
        return sm_raster_open_on_grid(out, ctx, r->path, &r->target, r->target_wkt, r->resample);
    return sm_raster_open(out, ctx, r->path);
}
sm_grid sm_raster_grid(const sm_raster *r) { return r->grid; }
void sm_raster_footprint(const sm_raster *r, double *xmin, double *ymin, double *xmax, double *ymax)
{
    *xmin = r->foot[0];
    *ymin = r->foot[1];
    *xmax = r->foot[2];
    *ymax = r->foot[3];
}
int sm_raster_band_count(const sm_raster *r) { return r->nbands; }
const char *sm_raster_crs_wkt(const sm_raster *r) { return r->wkt; }

int sm_raster_same_crs(const sm_raster *a, const sm_raster *b)
{
    return OSRIsSame(a->srs, b->srs) != 0;
}

int sm_raster_nodata(const sm_raster *r, int band, double *value)
{
    int has = 0;
    double v = GDALGetRasterNoDataValue(GDALGetRasterBand(r->ds, band), &has);
    if (has && value)
        *value = v;
    return has;
}

const char *sm_raster_band_description(const sm_raster *r, int band)
{
    const char *d = GDALGetDescription(GDALGetRasterBand(r->ds, band));
    return d ? d : "";
}

static int meta_double(GDALMajorObjectH obj, const char *key, double *out)
{
    const char *v = GDALGetMetadataItem(obj, key, NULL);
    if (!v || !v[0])
        return 0;
    char *end;
    double d = strtod(v, &end);
    if (end == v || !isfinite(d))
        return 0;
    *out = d;
    return 1;
}

const char *sm_raster_reflectance_scaling(const sm_raster *r, int band, double *scale,
                                          double *offset)
{
    GDALRasterBandH b = GDALGetRasterBand(r->ds, band);
    double add = 0, quant = 0;
    int has_add = meta_double(b, "BOA_ADD_OFFSET", &add) || meta_double(r->ds, "BOA_ADD_OFFSET", &add);
    int has_q = meta_double(b, "BOA_QUANTIFICATION_VALUE", &quant) ||
                meta_double(r->ds, "BOA_QUANTIFICATION_VALUE", &quant);
    if (has_add || has_q) {
        *offset = has_add ? add : 0.0;
        *scale = (has_q && quant > 0) ? 1.0 / quant : 1.0 / 10000.0;
        return "BOA_ADD_OFFSET";
    }
    int has_s = 0, has_o = 0;
    double s = GDALGetRasterScale(b, &has_s);
    double o = GDALGetRasterOffset(b, &has_o);
    if ((has_s && s != 1.0) || (has_o && o != 0.0)) {
        /* refl = DN*s + o = (DN + o/s) * s */
        *scale = s;
        *offset = s != 0 ? o / s : 0.0;
        return "band scale/offset";
    }
    *scale = 1.0;
    *offset = 0.0;
    return "none";
}

/* The direct decoder set to `band`, or NULL when GDAL reads it: a GeoTIFF opened as itself (not
 * warped), whose band has no mask but its nodata, in a layout the decoder knows, of the size GDAL
 * gives it. Decided once per band and handle. */
static sm_tiffdec *direct_decoder(sm_raster *r, sm_context *ctx, int band)
{
    if (!r->direct_state && !(r->direct_state = calloc((size_t)r->nbands, 1)))
        return NULL; /* GDAL then, which needs no more memory */
    unsigned char *state = &r->direct_state[band - 1];
    if (*state == 2)
        return NULL;
    GDALRasterBandH b = GDALGetRasterBand(r->ds, band);
    int has_nd = 0;
    double nd = GDALGetRasterNoDataValue(b, &has_nd);
    if (*state == 0) {
        *state = 2;
        GDALDriverH drv = GDALGetDatasetDriver(r->ds);
        int flags = GDALGetMaskFlags(b);
        const char *env = getenv("SINKMAP_DIRECT_TIFF"); /* NO: every read through GDAL */
        int allowed = !env || !(strcmp(env, "NO") == 0 || strcmp(env, "no") == 0 || strcmp(env, "0") == 0);
        if (!allowed || r->warped || !drv || strcmp(GDALGetDriverShortName(drv), "GTiff") != 0 ||
            !((flags & GMF_ALL_VALID) || (flags & GMF_NODATA)))
            return NULL;
        if (!r->direct) {
            sm_tiffdec *d = NULL;
            if (sm_tiffdec_open(&d, ctx, r->path, band, has_nd, nd) != SM_OK || !d)
                return NULL;
            int64_t nc, nr;
            sm_tiffdec_size(d, &nc, &nr);
            if (nc != GDALGetRasterXSize(r->ds) || nr != GDALGetRasterYSize(r->ds)) {
                sm_tiffdec_close(d);
                return NULL;
            }
            r->direct = d;
        }
        if (!sm_tiffdec_set_band(r->direct, band, has_nd, nd))
            return NULL;
        *state = 1;
        return r->direct;
    }
    sm_tiffdec_set_band(r->direct, band, has_nd, nd); /* a band it accepted before */
    return r->direct;
}

/* ---- integer-factor upsampling through the direct decoder ----
 * A coarser band of the same CRS (Sentinel-2's 20 m bands and SCL onto the 10 m grid) is what
 * GDAL's RasterIO resamples with a floating-point window. When the target cells are the source
 * cells split k x k (the cell sizes in a ratio k, the window's edges on source-cell fractions of
 * 1/k), the source is decoded with the direct decoder and resampled here to the same values:
 *  - nearest (any k): the source cell holding the target cell's centre;
 *  - bilinear (k = 2, an 8- or 16-bit unsigned band): what GDAL's convolution gives. A target
 *    centre lies a quarter of a source cell from one source centre along each axis, so each
 *    axis weighs two source cells 3/4 and 1/4 (1 on a raster edge, where the other falls
 *    outside). Rows are filtered first, then columns: a value is the weighted mean of the valid
 *    (not nodata) ones of its two inputs, invalid when neither is; the result is rounded half up
 *    to the band's integers. Every product and sum is exact in doubles (values < 2^16, weights
 *    multiples of 1/4), so the order of the operations cannot change a bit. A nodata value
 *    inside the range a mean can take would need GDAL's own rule for a mean equal to it: GDAL
 *    reads those bands. tests/test_raster.c compares both ways on random rasters and windows. */
static _Atomic unsigned long upsampled;
unsigned long sm__raster_upsampled(void) { return upsampled; }

static double *scratch(sm_raster *r, size_t n)
{
    if (n > r->scratch_cap) {
        double *p = realloc(r->scratch, n * sizeof *p);
        if (!p)
            return NULL;
        r->scratch = p;
        r->scratch_cap = n;
    }
    return r->scratch;
}

/* The exact integer ratio of the source cell to the target cell, or 0. */
static int integer_ratio(const sm_grid *s, const sm_grid *t)
{
    double kx = s->dx / t->dx, ky = s->dy / t->dy;
    long k = lround(kx);
    if (k < 2 || k > 64 || fabs(kx - (double)k) > 1e-9 * kx || fabs(ky - (double)k) > 1e-9 * ky)
        return 0;
    return (int)k;
}

/* Whether the 2x bilinear of `band` is exact here: 8- or 16-bit unsigned values, no nodata or
 * one no mean of valid values can round to (0 or the type's largest value). */
static int bilinear_exact(sm_raster *r, int band)
{
    GDALRasterBandH b = GDALGetRasterBand(r->ds, band);
    GDALDataType t = GDALGetRasterDataType(b);
    if (t != GDT_Byte && t != GDT_UInt16)
        return 0;
    int has_nd = 0;
    double nd = GDALGetRasterNoDataValue(b, &has_nd);
    return !has_nd || nd == 0 || nd == (t == GDT_Byte ? 255.0 : 65535.0);
}

/* One axis of the 2x bilinear: the target cell q (in halves of source cells from the source's
 * edge, q = 2 * source offset + index) reads source cells a and b with weights wa and wb. */
static void bilinear_taps(int64_t q, int64_t n, int64_t *a, int64_t *b, double *wa, double *wb)
{
    int64_t p = q >> 1; /* q >= 0 */
    if (q & 1) {        /* centre at p + 1/4 */
        *a = p;
        *b = p + 1;
        *wa = 0.75;
        *wb = 0.25;
    } else { /* centre at p - 1/4 */
        *a = p - 1;
        *b = p;
        *wa = 0.25;
        *wb = 0.75;
    }
    if (*a < 0) {
        *a = *b;
        *wa = 1.0;
        *wb = 0.0;
    } else if (*b >= n) {
        *b = *a;
        *wa = 1.0;
        *wb = 0.0;
    }
}

/* The mean of the valid ones of x and y with weights wx and wy (NAN marks invalid). */
static inline double masked_mean(double x, double y, double wx, double wy)
{
    if (x == x && y == y)
        return wx * x + wy * y;
    return x == x ? x : y; /* wx*x/wx is x exactly */
}

/* Target cells [0, bw) x [0, bh) into dst (row stride `stride`), whose first cell is the source
 * cell fraction (mx / k, my / k) of a source of ns columns x nr rows. *done = 0 (and SM_OK)
 * when there is no memory for the scratch: GDAL then reads, needing less. */
static sm_status upsample_direct(sm_raster *r, sm_context *ctx, sm_tiffdec *d, int k, int bilinear,
                                 int64_t mx, int64_t my, int64_t bw, int64_t bh, double *dst, size_t stride,
                                 int *done)
{
    *done = 1;
    int64_t ns = r->grid.ncols, nr = r->grid.nrows;
    /* the source cells read: those holding the centres, and for bilinear their neighbours */
    int64_t sx0, sx1, sy0, sy1;
    if (bilinear) {
        int64_t a, b;
        double wa, wb;
        bilinear_taps(mx, ns, &a, &b, &wa, &wb);
        sx0 = a;
        bilinear_taps(mx + bw - 1, ns, &a, &b, &wa, &wb);
        sx1 = b + 1;
        bilinear_taps(my, nr, &a, &b, &wa, &wb);
        sy0 = a;
        bilinear_taps(my + bh - 1, nr, &a, &b, &wa, &wb);
        sy1 = b + 1;
    } else {
        sx0 = mx / k;
        sx1 = (mx + bw - 1) / k + 1;
        sy0 = my / k;
        sy1 = (my + bh - 1) / k + 1;
    }
    if (sx0 < 0 || sy0 < 0 || sx1 > ns || sy1 > nr)
        return sm_error(ctx, SM_ERR_INTERNAL, "%s: upsampling window outside the raster", r->path);
    size_t sw = (size_t)(sx1 - sx0), sh = (size_t)(sy1 - sy0);
    /* the source window, then (bilinear) one filtered row per source row */
    size_t need = sw * sh + (bilinear ? (size_t)bw * sh + 4 * (size_t)bw : (size_t)bw / 2 + 1);
    double *src = scratch(r, need);
    if (!src) {
        *done = 0;
        return SM_OK;
    }
    sm_status st = sm_tiffdec_read(d, ctx, sx0, sy0, (int64_t)sw, (int64_t)sh, src, sw);
    if (st != SM_OK)
        return st;
    upsampled++;
    if (!bilinear) {
        int32_t *col = (int32_t *)(void *)(src + sw * sh); /* the source column of each target one */
        for (int64_t x = 0; x < bw; x++)
            col[x] = (int32_t)((mx + x) / k - sx0);
        for (int64_t y = 0; y < bh; y++) {
            const double *srow = src + (size_t)((my + y) / k - sy0) * sw;
            double *out = dst + (size_t)y * stride;
            if (y > 0 && (my + y) / k == (my + y - 1) / k) { /* the row above again */
                memcpy(out, out - stride, (size_t)bw * sizeof *out);
                continue;
            }
            for (int64_t x = 0; x < bw; x++)
                out[x] = srow[col[x]];
        }
        return SM_OK;
    }
    double *hrow = src + sw * sh; /* sh rows of bw */
    int64_t *ta = (int64_t *)(void *)(hrow + (size_t)bw * sh), *tb = ta + bw;
    double *twa = (double *)(void *)(tb + bw), *twb = twa + bw;
    for (int64_t x = 0; x < bw; x++) {
        bilinear_taps(mx + x, ns, &ta[x], &tb[x], &twa[x], &twb[x]);
        ta[x] -= sx0;
        tb[x] -= sx0;
    }
    /* The interior columns in pairs: target columns x, x + 1 (x + mx even, source cell p) are
     * 1/4 s[p-1] + 3/4 s[p] and 3/4 s[p] + 1/4 s[p+1]; [xa, xb) holds whole such pairs whose
     * taps are all inside the raster (the edges keep the scalar loop). */
    int64_t xa = (mx & 1) ? 1 : 0;
    while (xa < bw && !(twa[xa] == 0.25 && xa + 1 < bw && twb[xa + 1] == 0.25))
        xa += 2;
    int64_t xb = xa;
    while (xb + 1 < bw && twa[xb] == 0.25 && twb[xb + 1] == 0.25)
        xb += 2;
    for (size_t y = 0; y < sh; y++) {
        const double *srow = src + y * sw;
        double *h = hrow + y * (size_t)bw;
        int64_t x = 0;
        for (; x < xa && x < bw; x++)
            h[x] = masked_mean(srow[ta[x]], srow[tb[x]], twa[x], twb[x]);
#if defined(__SSE2__)
        const __m128d q1 = _mm_set1_pd(0.25), q3 = _mm_set1_pd(0.75);
        for (; x + 4 <= xb; x += 4) {
            const double *sp = srow + tb[x]; /* s[p]: the even column's second tap */
            __m128d A = _mm_loadu_pd(sp - 1), B = _mm_loadu_pd(sp), C = _mm_loadu_pd(sp + 1);
            __m128d va = _mm_cmpord_pd(A, A), vb = _mm_cmpord_pd(B, B), vc = _mm_cmpord_pd(C, C);
            /* both valid: the weighted sum; else the valid one (or NAN) */
            __m128d e = _mm_add_pd(_mm_mul_pd(q1, A), _mm_mul_pd(q3, B));
            __m128d o = _mm_add_pd(_mm_mul_pd(q3, B), _mm_mul_pd(q1, C));
            __m128d eab = _mm_and_pd(va, vb), obc = _mm_and_pd(vb, vc);
            e = _mm_or_pd(_mm_and_pd(eab, e), _mm_andnot_pd(eab, _mm_or_pd(_mm_and_pd(va, A), _mm_andnot_pd(va, B))));
            o = _mm_or_pd(_mm_and_pd(obc, o), _mm_andnot_pd(obc, _mm_or_pd(_mm_and_pd(vb, B), _mm_andnot_pd(vb, C))));
            _mm_storeu_pd(h + x, _mm_unpacklo_pd(e, o));
            _mm_storeu_pd(h + x + 2, _mm_unpackhi_pd(e, o));
        }
#endif
        for (; x < bw; x++)
            h[x] = masked_mean(srow[ta[x]], srow[tb[x]], twa[x], twb[x]);
    }
    for (int64_t y = 0; y < bh; y++) {
        int64_t a, b;
        double wa, wb;
        bilinear_taps(my + y, nr, &a, &b, &wa, &wb);
        const double *ha = hrow + (size_t)(a - sy0) * (size_t)bw, *hb = hrow + (size_t)(b - sy0) * (size_t)bw;
        double *out = dst + (size_t)y * stride;
        int64_t x = 0;
#if defined(__SSE2__)
        const __m128d vwa = _mm_set1_pd(wa), vwb = _mm_set1_pd(wb), half = _mm_set1_pd(0.5);
        for (; x + 2 <= bw; x += 2) {
            __m128d A = _mm_loadu_pd(ha + x), B = _mm_loadu_pd(hb + x);
            __m128d va = _mm_cmpord_pd(A, A), vb = _mm_cmpord_pd(B, B), both = _mm_and_pd(va, vb);
            __m128d v = _mm_add_pd(_mm_mul_pd(vwa, A), _mm_mul_pd(vwb, B));
            v = _mm_or_pd(_mm_and_pd(both, v), _mm_andnot_pd(both, _mm_or_pd(_mm_and_pd(va, A), _mm_andnot_pd(va, B))));
            /* rounded half up (values below 2^16: int32 holds them); NAN stays */
            __m128d rd = _mm_cvtepi32_pd(_mm_cvttpd_epi32(_mm_add_pd(v, half)));
            __m128d ok = _mm_cmpord_pd(v, v);
            _mm_storeu_pd(out + x, _mm_or_pd(_mm_and_pd(ok, rd), _mm_andnot_pd(ok, v)));
        }
#endif
        for (; x < bw; x++) {
            double v = masked_mean(ha[x], hb[x], wa, wb);
            out[x] = v == v ? (double)(int64_t)(v + 0.5) : v; /* rounded half up; NAN stays */
        }
    }
    return SM_OK;
}

sm_status sm_raster_read(sm_raster *r, sm_context *ctx, int band, const sm_grid *target,
                         const sm_window *win, sm_resample resample, double *buf)
{
    size_t n;
    if (win->ncols <= 0 || win->nrows <= 0)
        return SM_OK;
    if (sm_mul_size((size_t)win->ncols, (size_t)win->nrows, &n))
        return sm_error(ctx, SM_ERR_NOMEM, "%s: window %lld x %lld overflows", r->path,
                        (long long)win->ncols, (long long)win->nrows);
    if (band < 1 || band > r->nbands)
        return sm_error(ctx, SM_ERR_INPUT, "%s: band %d does not exist (the raster has %d)",
                        r->path, band, r->nbands);
    const sm_grid *s = &r->grid;
    /* Target cells that lie inside the source extent (with a tolerance of 1e-6 cell). */
    double tx0 = target->x0 + (double)win->col0 * target->dx;
    double ty0 = target->y0 - (double)win->row0 * target->dy;
    double sx1 = s->x0 + (double)s->ncols * s->dx, sy1 = s->y0 - (double)s->nrows * s->dy;
    double eps = 1e-6;
    int64_t c0 = (int64_t)ceil((s->x0 - tx0) / target->dx - eps);
    int64_t c1 = (int64_t)floor((sx1 - tx0) / target->dx + eps);
    int64_t r0 = (int64_t)ceil((ty0 - s->y0) / target->dy - eps);
    int64_t r1 = (int64_t)floor((ty0 - sy1) / target->dy + eps);
    if (c0 < 0)
        c0 = 0;
    if (r0 < 0)
        r0 = 0;
    if (c1 > win->ncols)
        c1 = win->ncols;
    if (r1 > win->nrows)
        r1 = win->nrows;
    /* Cells outside the source are NAN; when the source covers the window, GDAL fills it all. */
    if (c1 <= c0 || r1 <= r0) {
        for (size_t i = 0; i < n; i++)
            buf[i] = NAN;
        return SM_OK;
    }
    if (c0 > 0 || r0 > 0 || c1 < win->ncols || r1 < win->nrows)
        for (size_t i = 0; i < n; i++)
            buf[i] = NAN;
    int64_t bw = c1 - c0, bh = r1 - r0;
    double fx = (tx0 + (double)c0 * target->dx - s->x0) / s->dx;
    double fy = (s->y0 - (ty0 - (double)r0 * target->dy)) / s->dy;
    double fw = (double)bw * target->dx / s->dx, fh = (double)bh * target->dy / s->dy;
    int same = fabs(fx - round(fx)) < 1e-9 && fabs(fy - round(fy)) < 1e-9 &&
               fabs(target->dx - s->dx) < 1e-9 * s->dx && fabs(target->dy - s->dy) < 1e-9 * s->dy;
    if (!same && !r->warped && (resample == SM_RESAMPLE_NEAREST || resample == SM_RESAMPLE_BILINEAR)) {
        int k = integer_ratio(s, target);
        double kfx = fx * k, kfy = fy * k;
        if (k && fabs(kfx - round(kfx)) < 1e-6 && fabs(kfy - round(kfy)) < 1e-6 && kfx > -0.5 && kfy > -0.5 &&
            (resample == SM_RESAMPLE_NEAREST || (k == 2 && bilinear_exact(r, band)))) {
            sm_tiffdec *direct = direct_decoder(r, ctx, band);
            if (direct) {
                int done = 0;
                sm_status st = upsample_direct(r, ctx, direct, k, resample == SM_RESAMPLE_BILINEAR, llround(kfx),
                                               llround(kfy), bw, bh, buf + (size_t)r0 * (size_t)win->ncols + (size_t)c0,
                                               (size_t)win->ncols, &done);
                if (st != SM_OK || done)
                    return st;
            }
        }
    }
    GDALRasterIOExtraArg extra;
    INIT_RASTERIO_EXTRA_ARG(extra);
    int xoff, yoff, xsize, ysize;
    if (same) {
        xoff = (int)llround(fx);
        yoff = (int)llround(fy);
        xsize = (int)bw;
        ysize = (int)bh;
    } else {
        xoff = (int)floor(fx + 1e-9);
        yoff = (int)floor(fy + 1e-9);
        int x1 = (int)ceil(fx + fw - 1e-9), y1 = (int)ceil(fy + fh - 1e-9);
        if (x1 > s->ncols)
            x1 = (int)s->ncols;
        if (y1 > s->nrows)
            y1 = (int)s->nrows;
        if (xoff < 0)
            xoff = 0;
        if (yoff < 0)
            yoff = 0;
        xsize = x1 - xoff;
        ysize = y1 - yoff;
        extra.bFloatingPointWindowValidity = TRUE;
        extra.dfXOff = fx < 0 ? 0 : fx;
        extra.dfYOff = fy < 0 ? 0 : fy;
        extra.dfXSize = fw;
        extra.dfYSize = fh;
        if (extra.dfXOff + extra.dfXSize > (double)s->ncols)
            extra.dfXSize = (double)s->ncols - extra.dfXOff;
        if (extra.dfYOff + extra.dfYSize > (double)s->nrows)
            extra.dfYSize = (double)s->nrows - extra.dfYOff;
        extra.eResampleAlg = resample == SM_RESAMPLE_BILINEAR  ? GRIORA_Bilinear
                             : resample == SM_RESAMPLE_AVERAGE ? GRIORA_Average
                                                               : GRIORA_NearestNeighbour;
    }
    if (xsize <= 0 || ysize <= 0) {
        for (size_t i = 0; i < n; i++)
            buf[i] = NAN;
        return SM_OK;
    }
    double *dst = buf + (size_t)r0 * (size_t)win->ncols + (size_t)c0;
    sm_tiffdec *direct = same ? direct_decoder(r, ctx, band) : NULL;
    if (direct) /* nodata is NAN already; the band has no other mask */
        return sm_tiffdec_read(direct, ctx, xoff, yoff, bw, bh, dst, (size_t)win->ncols);
    GDALRasterBandH b = GDALGetRasterBand(r->ds, band);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    CPLErr err = GDALRasterIOEx(b, GF_Read, xoff, yoff, xsize, ysize, dst, (int)bw, (int)bh,
                                GDT_Float64, (GSpacing)sizeof(double),
                                (GSpacing)(sizeof(double) * (size_t)win->ncols), &extra);
    CPLPopErrorHandler();
    if (err != CE_None)
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: band %d: cannot read the block at column %d, row %d (%d x %d "
                        "pixels): %s",
                        r->path, band, xoff, yoff, xsize, ysize, last_gdal_error());
    int has_nd = 0;
    double nd = GDALGetRasterNoDataValue(b, &has_nd);
    if (has_nd) {
        for (int64_t y = r0; y < r1; y++) {
            double *row = buf + (size_t)y * (size_t)win->ncols;
            for (int64_t x = c0; x < c1; x++)
                if (row[x] == nd || (isnan(nd) && isnan(row[x])))
                    row[x] = NAN;
        }
    }
    /* A GDAL mask band (a per-dataset mask or an alpha band) also marks cells invalid. */
    int flags = GDALGetMaskFlags(b);
    if (!(flags & GMF_ALL_VALID) && !(flags & GMF_NODATA) && (flags & (GMF_PER_DATASET | GMF_ALPHA))) {
        size_t m = (size_t)bw * (size_t)bh;
        unsigned char *mk = malloc(m ? m : 1);
        if (!mk)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        GDALRasterIOExtraArg mextra = extra;
        mextra.eResampleAlg = GRIORA_NearestNeighbour;
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErr merr = GDALRasterIOEx(GDALGetMaskBand(b), GF_Read, xoff, yoff, xsize, ysize, mk, (int)bw, (int)bh,
                                     GDT_Byte, 1, (GSpacing)bw, &mextra);
        CPLPopErrorHandler();
        if (merr != CE_None) {
            free(mk);
            return sm_error(ctx, SM_ERR_INPUT, "%s: band %d: cannot read the mask at column %d, row %d: %s", r->path,
                            band, xoff, yoff, last_gdal_error());
        }
        for (int64_t y = 0; y < bh; y++) {
            double *row = buf + (size_t)(r0 + y) * (size_t)win->ncols + (size_t)c0;
            for (int64_t x = 0; x < bw; x++)
                if (mk[(size_t)y * (size_t)bw + (size_t)x] == 0)
                    row[x] = NAN;
        }
        free(mk);
    }
    return SM_OK;
}

/* ---- writer ---- */

struct sm_raster_writer {
    char *path;     /* final */
    char *tmp_path; /* staged tiled GeoTIFF */
    GDALDatasetH ds;
    sm_raster_writer_options opt;
    int finished;
};

/* The palette and class names of a categorical band. Set before the first pixel is written:
 * the GeoTIFF's photometric tag (palette) cannot change once tiles are in the file. */
static void set_classes(GDALRasterBandH band, const sm_raster_writer_options *opt)
{
    if (opt->nclasses > 0) {
        int maxcode = 0;
        for (size_t i = 0; i < opt->nclasses; i++)
            if (opt->classes[i].code > maxcode)
                maxcode = opt->classes[i].code;
        GDALColorTableH ct = GDALCreateColorTable(GPI_RGB);
        char **names = NULL;
        for (int c = 0; c <= maxcode; c++) {
            GDALColorEntry e = {0, 0, 0, 0};
            const char *name = "";
            for (size_t i = 0; i < opt->nclasses; i++)
                if (opt->classes[i].code == c) {
                    e.c1 = opt->classes[i].r;
                    e.c2 = opt->classes[i].g;
                    e.c3 = opt->classes[i].b;
                    e.c4 = 255;
                    name = opt->classes[i].name;
                }
            if (opt->has_nodata && c == (int)opt->nodata)
                e.c4 = 0;
            GDALSetColorEntry(ct, c, &e);
            names = CSLAddString(names, name);
        }
        GDALSetRasterColorTable(band, ct);
        GDALSetRasterColorInterpretation(band, GCI_PaletteIndex);
        GDALSetRasterCategoryNames(band, names);
        GDALDestroyColorTable(ct);
        CSLDestroy(names);
    }
}

sm_status sm_raster_writer_create(sm_raster_writer **out, sm_context *ctx, const char *path,
                                  const sm_grid *grid, const char *wkt,
                                  const sm_raster_writer_options *opt)
{
    *out = NULL;
    sm_gdal_init();
    size_t cells;
    if (grid->ncols <= 0 || grid->nrows <= 0 || grid->ncols > INT32_MAX || grid->nrows > INT32_MAX ||
        sm_mul3_size((size_t)grid->ncols, (size_t)grid->nrows, (size_t)(opt->nbands > 0 ? opt->nbands : 1),
                     &cells))
        return sm_error(ctx, SM_ERR_INPUT, "%s: raster size %lld x %lld x %d is out of range", path,
                        (long long)grid->ncols, (long long)grid->nrows, opt->nbands);
    sm_raster_writer *w = calloc(1, sizeof *w);
    if (!w)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    sm_status st = SM_OK;
    w->opt = *opt;
    w->path = sm__strdup(ctx, path);
    w->tmp_path = sm__asprintf(ctx, "%s.part.tif", path);
    if (!w->path || !w->tmp_path) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    char **co = NULL;
    co = CSLSetNameValue(co, "TILED", "YES");
    co = CSLSetNameValue(co, "BLOCKXSIZE", "512");
    co = CSLSetNameValue(co, "BLOCKYSIZE", "512");
    /* The staged file is read once by the COG step and deleted: compressing it would cost a
     * DEFLATE pass per pixel for nothing. */
    co = CSLSetNameValue(co, "COMPRESS", "NONE");
    co = CSLSetNameValue(co, "BIGTIFF", "IF_SAFER");
    co = CSLSetNameValue(co, "SPARSE_OK", "TRUE");
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    w->ds = GDALCreate(drv, w->tmp_path, (int)grid->ncols, (int)grid->nrows, opt->nbands,
                       opt->type == SM_PIXEL_FLOAT32 ? GDT_Float32 : GDT_Byte, co);
    CPLPopErrorHandler();
    CSLDestroy(co);
    if (!w->ds) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot create (%s)", w->tmp_path, last_gdal_error());
        goto end;
    }
    double gt[6] = {grid->x0, grid->dx, 0, grid->y0, 0, -grid->dy};
    GDALSetGeoTransform(w->ds, gt);
    if (wkt)
        GDALSetProjection(w->ds, wkt);
    for (int b = 1; b <= opt->nbands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(w->ds, b);
        /* With SPARSE_OK, windows never written read back as nodata. */
        if (opt->has_nodata)
            GDALSetRasterNoDataValue(band, opt->nodata);
        set_classes(band, opt);
    }
end:
    if (st != SM_OK) {
        sm_raster_writer_destroy(w);
        return st;
    }
    *out = w;
    return SM_OK;
}

static sm_status writer_write(sm_raster_writer *w, sm_context *ctx, int band, const sm_window *win,
                              GDALDataType type, const void *buf, size_t stride)
{
    if (win->ncols <= 0 || win->nrows <= 0)
        return SM_OK;
    GDALRasterBandH b = GDALGetRasterBand(w->ds, band);
    int size = GDALGetDataTypeSizeBytes(type);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    CPLErr err = GDALRasterIOEx(b, GF_Write, (int)win->col0, (int)win->row0, (int)win->ncols,
                                (int)win->nrows, (void *)buf, (int)win->ncols, (int)win->nrows, type,
                                size, (GSpacing)size * (GSpacing)stride, NULL);
    /* A write that ends on a tile row (strips written top down) completes the tiles above it:
     * hand them to the file now, so that dirty blocks never pile up in the cache. */
    int64_t end = win->row0 + win->nrows;
    if (err == CE_None && (end % 512 == 0 || end == GDALGetRasterYSize(w->ds)))
        err = GDALFlushRasterCache(b);
    CPLPopErrorHandler();
    if (err != CE_None)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot write band %d at column %lld, row %lld: %s",
                        w->tmp_path, band, (long long)win->col0, (long long)win->row0,
                        last_gdal_error());
    return SM_OK;
}

sm_status sm_raster_writer_write(sm_raster_writer *w, sm_context *ctx, int band,
                                 const sm_window *win, const double *buf)
{
    return writer_write(w, ctx, band, win, GDT_Float64, buf, win->ncols > 0 ? (size_t)win->ncols : 0);
}

sm_status sm_raster_writer_write_typed(sm_raster_writer *w, sm_context *ctx, int band, const sm_window *win,
                                       sm_pixel_type type, const void *buf, size_t stride)
{
    return writer_write(w, ctx, band, win, type == SM_PIXEL_FLOAT32 ? GDT_Float32 : GDT_Byte, buf, stride);
}

/* ---- overviews of class maps ----
 * GDAL's COG driver computes MODE overviews at about a second per 120 Mpx, more than writing the
 * whole file; a 2 x 2 mode is a few comparisons. So the staged file of a class map gets its
 * overviews here, and the COG step copies them as they are. Each level is made from the one
 * above it (as GDAL's COG driver and gdaladdo do for MODE), every cell from the 2 x 2 cells above
 * it (fewer on the last row or column of an odd size; sizes rounded up, as gdaladdo's): the most
 * frequent value that is not nodata, and of equally frequent ones the one that reached that count
 * first in row-major order (GDAL's rule); nodata when all four are. The levels go on until the
 * smallest fits one 512 tile, as the COG driver's. tests/test_raster.c compares the overviews
 * with gdaladdo -r mode's. */
static inline uint8_t mode4(const uint8_t *v, int n, int has_nd, uint8_t nd)
{
    if (n == 4 && v[0] == v[1] && v[0] == v[2] && v[0] == v[3])
        return v[0];
    int best = -1, bestc = 0;
    for (int k = 0; k < n; k++) {
        if (has_nd && v[k] == nd)
            continue;
        int c = 0;
        for (int m = 0; m <= k; m++)
            c += v[m] == v[k] && !(has_nd && v[m] == nd);
        if (c > bestc) {
            bestc = c;
            best = v[k];
        }
    }
    return best < 0 ? nd : (uint8_t)best;
}

/* The level below `src` (w x h) into `dst` ((w + 1) / 2 x (h + 1) / 2), 256 rows at a time. */
static sm_status mode_level(GDALRasterBandH src, GDALRasterBandH dst, int has_nd, uint8_t nd, const char *path,
                            sm_context *ctx)
{
    int w = GDALGetRasterBandXSize(src), h = GDALGetRasterBandYSize(src);
    int ow = GDALGetRasterBandXSize(dst), oh = GDALGetRasterBandYSize(dst);
    if (ow != (w + 1) / 2 || oh != (h + 1) / 2)
        return sm_error(ctx, SM_ERR_INTERNAL, "%s: overview of %d x %d is %d x %d", path, w, h, ow, oh);
    enum { ROWS = 256 };
    uint8_t *in = malloc((size_t)w * 2 * ROWS), *out = malloc((size_t)ow * ROWS);
    sm_status st = SM_OK;
    if (!in || !out) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (int r0 = 0; r0 < oh; r0 += ROWS) {
        int nr = oh - r0 < ROWS ? oh - r0 : ROWS;
        int sr0 = 2 * r0, snr = 2 * nr > h - sr0 ? h - sr0 : 2 * nr;
        if (GDALRasterIO(src, GF_Read, 0, sr0, w, snr, in, w, snr, GDT_Byte, 0, 0) != CE_None) {
            st = sm_error(ctx, SM_ERR_IO, "%s: cannot read back rows %d-%d for the overviews: %s", path, sr0,
                          sr0 + snr - 1, last_gdal_error());
            goto end;
        }
        for (int y = 0; y < nr; y++) {
            const uint8_t *a = in + (size_t)(2 * y) * (size_t)w;
            const uint8_t *b = 2 * y + 1 < snr ? a + w : NULL;
            uint8_t *o = out + (size_t)y * (size_t)ow;
            for (int x = 0; x < ow; x++) {
                uint8_t v[4];
                int n = 0, c = 2 * x;
                v[n++] = a[c];
                if (c + 1 < w)
                    v[n++] = a[c + 1];
                if (b) {
                    v[n++] = b[c];
                    if (c + 1 < w)
                        v[n++] = b[c + 1];
                }
                o[x] = mode4(v, n, has_nd, nd);
            }
        }
        if (GDALRasterIO(dst, GF_Write, 0, r0, ow, nr, out, ow, nr, GDT_Byte, 0, 0) != CE_None) {
            st = sm_error(ctx, SM_ERR_IO, "%s: cannot write the overviews: %s", path, last_gdal_error());
            goto end;
        }
    }
end:
    free(in);
    free(out);
    return st;
}

static sm_status mode_overviews(sm_raster_writer *w, sm_context *ctx)
{
    int nx = GDALGetRasterXSize(w->ds), ny = GDALGetRasterYSize(w->ds), n = 0;
    while (n < 30 && ((nx >> n) > 512 || (ny >> n) > 512))
        n++;
    if (n == 0)
        return SM_OK;
    int factors[30];
    for (int i = 0; i < n; i++)
        factors[i] = 2 << i;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    CPLErr e = GDALBuildOverviews(w->ds, "NONE", n, factors, 0, NULL, NULL, NULL);
    CPLPopErrorHandler();
    if (e != CE_None)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot add overviews: %s", w->tmp_path, last_gdal_error());
    for (int b = 1; b <= w->opt.nbands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(w->ds, b);
        if (GDALGetOverviewCount(band) != n)
            return sm_error(ctx, SM_ERR_INTERNAL, "%s: %d overviews made, %d asked", w->tmp_path,
                            GDALGetOverviewCount(band), n);
        int has_nd = 0;
        double nd = GDALGetRasterNoDataValue(band, &has_nd);
        has_nd = has_nd && nd >= 0 && nd <= 255 && nd == floor(nd);
        GDALRasterBandH src = band;
        for (int i = 0; i < n; i++) {
            GDALRasterBandH dst = GDALGetOverview(band, i);
            sm_status st = mode_level(src, dst, has_nd, has_nd ? (uint8_t)nd : 0, w->tmp_path, ctx);
            if (st != SM_OK)
                return st;
            src = dst;
        }
    }
    return SM_OK;
}

sm_status sm_raster_writer_finish(sm_raster_writer *w, sm_context *ctx)
{
    sm_status st = SM_OK;
    char **co = NULL;
    GDALDatasetH cog = NULL;
    for (int b = 1; b <= w->opt.nbands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(w->ds, b);
        if (w->opt.description)
            GDALSetDescription(band, w->opt.description);
        /* A class map without a unit of its own is in classes. */
        const char *unit = w->opt.unit ? w->opt.unit
                                       : (w->opt.categorical || w->opt.nclasses > 0) ? "class" : NULL;
        if (unit)
            GDALSetRasterUnitType(band, unit);
        double mn, mx, mean, sd;
        CPLPushErrorHandler(CPLQuietErrorHandler);
        if (GDALComputeRasterStatistics(band, FALSE, &mn, &mx, &mean, &sd, NULL, NULL) == CE_None)
            GDALSetRasterStatistics(band, mn, mx, mean, sd);
        CPLPopErrorHandler();
    }
    if (w->opt.categorical && w->opt.type == SM_PIXEL_BYTE && (st = mode_overviews(w, ctx)) != SM_OK)
        goto end;
    GDALFlushCache(w->ds);
    GDALDriverH cogdrv = GDALGetDriverByName("COG");
    if (!cogdrv) {
        st = sm_error(ctx, SM_ERR_INTERNAL, "GDAL has no COG driver (GDAL >= 3.1 needed)");
        goto end;
    }
    co = CSLSetNameValue(co, "BLOCKSIZE", "512");
    co = CSLSetNameValue(co, "COMPRESS", "DEFLATE");
    co = CSLSetNameValue(co, "PREDICTOR", w->opt.type == SM_PIXEL_FLOAT32 ? "YES" : "NO");
    co = CSLSetNameValue(co, "OVERVIEW_RESAMPLING", w->opt.categorical ? "MODE" : "AVERAGE");
    co = CSLSetNameValue(co, "BIGTIFF", "IF_SAFER");
    /* Compress tiles on every core, or on the threads asked for (the bytes written do not
     * depend on the thread count). */
    char nt[16];
    snprintf(nt, sizeof nt, "%d", w->opt.threads);
    co = CSLSetNameValue(co, "NUM_THREADS", w->opt.threads > 0 ? nt : "ALL_CPUS");
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    cog = GDALCreateCopy(cogdrv, w->path, w->ds, FALSE, co, NULL, NULL);
    CPLPopErrorHandler();
    if (!cog) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot write the Cloud-Optimized GeoTIFF: %s", w->path,
                      last_gdal_error());
        goto end;
    }
    CPLErrorReset();
    GDALClose(cog);
    cog = NULL;
    if (CPLGetLastErrorType() >= CE_Failure) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot finish writing: %s", w->path, last_gdal_error());
        goto end;
    }
    /* Category names cannot live in a TIFF tag: opened read-only, GDAL keeps them in the
     * .aux.xml beside the file (PAM), and the COG's layout is left as written. */
    if (w->opt.nclasses > 0) {
        GDALDatasetH ro = GDALOpen(w->path, GA_ReadOnly);
        if (!ro) {
            st = sm_error(ctx, SM_ERR_IO, "%s: cannot reopen: %s", w->path, last_gdal_error());
            goto end;
        }
        for (int b = 1; b <= w->opt.nbands; b++) {
            char **names = GDALGetRasterCategoryNames(GDALGetRasterBand(w->ds, b));
            if (names)
                GDALSetRasterCategoryNames(GDALGetRasterBand(ro, b), names);
        }
        CPLErrorReset();
        GDALClose(ro);
        if (CPLGetLastErrorType() >= CE_Failure) {
            st = sm_error(ctx, SM_ERR_IO, "%s.aux.xml: cannot write: %s", w->path, last_gdal_error());
            goto end;
        }
    }
    w->finished = 1;
end:
    if (cog)
        GDALClose(cog);
    CSLDestroy(co);
    return st;
}

void sm_raster_writer_destroy(sm_raster_writer *w)
{
    if (!w)
        return;
    if (w->ds) {
        GDALClose(w->ds);
        GDALDriverH drv = GDALGetDriverByName("GTiff");
        CPLPushErrorHandler(CPLQuietErrorHandler);
        GDALDeleteDataset(drv, w->tmp_path);
        CPLPopErrorHandler();
    }
    free(w->path);
    free(w->tmp_path);
    free(w);
}
