/* maps.c: PNG maps of a run's outputs for the director's report and the field crews: land cover
 * per scene, carbon density at the period's end, the sink, the suspected changes; each with a
 * title, legend, scale bar and north arrow in Chinese and English, drawn with cairo.
 * Read back from the files already written (the land cover at an overview that fits the frame,
 * the parcel layers through OGR), so a map shows what was delivered. A few maps per run, each
 * tens of milliseconds: nothing here is tuned beyond reading no more raster than is shown. */
#include "sinkmap/deliver.h"

#include <cairo.h>
#include <cpl_conv.h>
#include <cpl_string.h>
#include <fontconfig/fontconfig.h>
#include <gdal.h>
#include <math.h>
#include <pthread.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sinkmap/legend.h"
#include "sinkmap/qml.h"
#include "sinkmap/raster.h"

#define MAP_FONT "Noto Sans CJK SC"

/* The page: a title band, a square map frame, a legend panel on the right, a footer. */
#define OUTLINE_W 0.4 /* a parcel's outline, in pixels */
enum { PAGE_W = 1400, PAGE_H = 1100, FRAME_X = 30, FRAME_Y = 100, FRAME_W = 960, FRAME_H = 960, LEGEND_X = 1020 };

/* Where the ground goes on the page. */
typedef struct view {
    double gx0, gy1; /* ground coordinates of the frame's top-left corner */
    double res;      /* metres per page pixel */
    OGRSpatialReferenceH srs;
    char *wkt;
} view;

static double px_x(const view *v, double x) { return FRAME_X + (x - v->gx0) / v->res; }
static double px_y(const view *v, double y) { return FRAME_Y + (v->gy1 - y) / v->res; }

static void rgba_parse(const char *s, double rgba[4])
{
    int r = 128, g = 128, b = 128, a = 255;
    sscanf(s, "%d,%d,%d,%d", &r, &g, &b, &a);
    rgba[0] = r / 255.0;
    rgba[1] = g / 255.0;
    rgba[2] = b / 255.0;
    rgba[3] = a / 255.0;
}

/* ---- text and furniture ---- */

static void text_at(cairo_t *cr, double x, double y, double size, int bold, const char *s)
{
    cairo_select_font_face(cr, MAP_FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

static double text_width(cairo_t *cr, double size, int bold, const char *s)
{
    cairo_text_extents_t e;
    cairo_select_font_face(cr, MAP_FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* Text with a white halo, centred on (x, y), for labels over the map. */
static void label_halo(cairo_t *cr, double x, double y, double size, const char *s)
{
    double w = text_width(cr, size, 1, s);
    cairo_select_font_face(cr, MAP_FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x - w / 2, y + size * 0.35);
    cairo_text_path(cr, s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 3.5);
    cairo_stroke_preserve(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_fill(cr);
}

static void page_begin(cairo_t *cr, const char *title, const char *subtitle)
{
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text_at(cr, FRAME_X, 48, 30, 1, title);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    text_at(cr, FRAME_X, 82, 18, 0, subtitle);
    /* the legend panel: a light warm grey, never a class colour */
    cairo_set_source_rgb(cr, 0.96, 0.96, 0.94);
    cairo_rectangle(cr, LEGEND_X, FRAME_Y, PAGE_W - LEGEND_X - 20, FRAME_H);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text_at(cr, LEGEND_X + 16, FRAME_Y + 36, 22, 1, "图例 Legend");
}

/* A legend row k: a swatch of colour rgba and its label. */
static void legend_row(cairo_t *cr, int k, const double rgba[4], const char *label)
{
    double y = FRAME_Y + 60 + k * 34;
    cairo_rectangle(cr, LEGEND_X + 16, y, 34, 22);
    cairo_set_source_rgba(cr, rgba[0], rgba[1], rgba[2], rgba[3]);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    /* shrink a long label to the panel's width rather than cut it */
    double avail = PAGE_W - 20 - (LEGEND_X + 60) - 10, size = 16, w = text_width(cr, size, 0, label);
    if (w > avail)
        size = fmax(9, size * avail / w);
    text_at(cr, LEGEND_X + 60, y + 17, size, 0, label);
}

static void legend_note(cairo_t *cr, int k, const char *note)
{
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    text_at(cr, LEGEND_X + 16, FRAME_Y + 60 + k * 34 + 17, 14, 0, note);
}

/* The scale bar (bottom left, four segments of a round length) and the north arrow (top right);
 * the map is drawn on its grid, north up. */
static void furniture(cairo_t *cr, const view *v, const char *footer)
{
    double target = FRAME_W * v->res / 4, mag = pow(10, floor(log10(target))), len = mag;
    if (5 * mag <= target)
        len = 5 * mag;
    else if (2 * mag <= target)
        len = 2 * mag;
    double bar = len / v->res, x = FRAME_X + 24, y = FRAME_Y + FRAME_H - 44;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, x - 12, y - 36, bar + 100, 64);
    cairo_fill(cr);
    for (int s = 0; s < 4; s++) {
        cairo_rectangle(cr, x + s * bar / 4, y, bar / 4, 10);
        if (s % 2 == 0)
            cairo_set_source_rgb(cr, 0, 0, 0);
        else
            cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_set_line_width(cr, 1);
        cairo_stroke(cr);
    }
    char buf[64];
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, x - 4, y - 8, 14, 0, "0");
    if (len >= 1000)
        snprintf(buf, sizeof buf, "%g km 公里", len / 1000);
    else
        snprintf(buf, sizeof buf, "%g m 米", len);
    text_at(cr, x + bar - 6, y - 8, 14, 0, buf);
    text_at(cr, x, y + 26, 12, 0, "比例尺 scale");

    /* north arrow */
    double nx = FRAME_X + FRAME_W - 50, ny = FRAME_Y + 20;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, nx - 30, ny - 6, 60, 104);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1.2);
    cairo_move_to(cr, nx, ny + 30);
    cairo_line_to(cr, nx - 14, ny + 74);
    cairo_line_to(cr, nx, ny + 64);
    cairo_close_path(cr);
    cairo_fill(cr);
    cairo_move_to(cr, nx, ny + 30);
    cairo_line_to(cr, nx + 14, ny + 74);
    cairo_line_to(cr, nx, ny + 64);
    cairo_close_path(cr);
    cairo_stroke(cr);
    double w = text_width(cr, 18, 1, "N");
    text_at(cr, nx - w / 2, ny + 22, 18, 1, "N");
    w = text_width(cr, 14, 0, "北");
    text_at(cr, nx - w / 2, ny + 92, 14, 0, "北");

    /* frame and footer */
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, FRAME_X - 0.5, FRAME_Y - 0.5, FRAME_W + 1, FRAME_H + 1);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    text_at(cr, FRAME_X, PAGE_H - 14, 13, 0, footer);
}

/* ---- georeferencing of the PNG ---- */

static sm_status write_georef(sm_context *ctx, const view *v, const char *png)
{
    size_t n = strlen(png);
    char *pgw = sm__asprintf(ctx, "%.*s.pgw", (int)(n - 4), png);
    char *aux = sm__asprintf(ctx, "%s.aux.xml", png);
    sm_status st = SM_OK;
    FILE *f = NULL;
    if (!pgw || !aux) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    /* World file: pixel size, rotations, then the centre of the image's top-left pixel. */
    if (!(f = fopen(pgw, "w"))) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot create", pgw);
        goto end;
    }
    fprintf(f, "%.10f\n0\n0\n%.10f\n%.10f\n%.10f\n", v->res, -v->res, v->gx0 - (FRAME_X - 0.5) * v->res,
            v->gy1 + (FRAME_Y - 0.5) * v->res);
    if (fclose(f) != 0) {
        f = NULL;
        st = sm_error(ctx, SM_ERR_IO, "%s: write failed", pgw);
        goto end;
    }
    if (!(f = fopen(aux, "w"))) {
        st = sm_error(ctx, SM_ERR_IO, "%s: cannot create", aux);
        goto end;
    }
    fputs("<PAMDataset>\n  <SRS dataAxisToSRSAxisMapping=\"1,2\">", f);
    for (const char *s = v->wkt; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
    fputs("</SRS>\n</PAMDataset>\n", f);
    if (fclose(f) != 0)
        st = sm_error(ctx, SM_ERR_IO, "%s: write failed", aux);
    f = NULL;
end:
    free(pgw);
    free(aux);
    return st;
}

static sm_status page_end(sm_context *ctx, cairo_surface_t *surf, const view *v, const char *path)
{
    cairo_surface_flush(surf);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS)
        return sm_error(ctx, SM_ERR_IO, "%s: drawing failed: %s", path, cairo_status_to_string(cairo_surface_status(surf)));
    /* Written with libpng directly: SUB filter and deflate level 2 suit flat map colours and
     * take a fraction of the time of cairo's writer (adaptive filters, level 6). Cairo's RGB24
     * pixels are native-endian 32-bit words 0x00RRGGBB. */
    unsigned char *px = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf);
    FILE *f = fopen(path, "wb");
    if (!f)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot create", path);
    unsigned char *row = malloc((size_t)PAGE_W * 3);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!row || !png || !info) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        free(row);
        fclose(f);
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        fclose(f);
        return sm_error(ctx, SM_ERR_IO, "%s: cannot write the PNG", path);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, PAGE_W, PAGE_H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_set_compression_level(png, 2);
    png_write_info(png, info);
    for (int y = 0; y < PAGE_H; y++) {
        const uint32_t *in = (const uint32_t *)(const void *)(px + (size_t)y * (size_t)stride);
        for (int x = 0; x < PAGE_W; x++) {
            row[3 * x] = (unsigned char)(in[x] >> 16);
            row[3 * x + 1] = (unsigned char)(in[x] >> 8);
            row[3 * x + 2] = (unsigned char)in[x];
        }
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    if (fclose(f) != 0)
        return sm_error(ctx, SM_ERR_IO, "%s: write failed", path);
    return write_georef(ctx, v, path);
}

/* ---- the land cover ---- */

/* Draws the land cover of `tif` into the frame, from the coarsest overview that still has at
 * least one cell per page pixel (nearest neighbour, nodata transparent); present[code] is set
 * for every code drawn. */
static sm_status draw_landcover(sm_context *ctx, cairo_t *cr, const view *v, const char *tif, int present[256],
                                char names[256][96])
{
    GDALDatasetH ds = GDALOpenEx(tif, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot open for the map: %s", tif, CPLGetLastErrorMsg());
    sm_status st = SM_OK;
    unsigned char *buf = NULL;
    cairo_surface_t *img = NULL;
    GDALRasterBandH band = GDALGetRasterBand(ds, 1);
    double gt[6];
    if (!band || GDALGetGeoTransform(ds, gt) != CE_None || gt[2] != 0 || gt[4] != 0) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: expected a north-up georeferenced raster", tif);
        goto end;
    }
    int nx = GDALGetRasterXSize(ds), ny = GDALGetRasterYSize(ds);
    double shown_w = nx * gt[1] / v->res; /* page pixels the raster spans */
    GDALRasterBandH rb = band;
    int rx = nx, ry = ny;
    for (int o = 0; o < GDALGetOverviewCount(band); o++) {
        GDALRasterBandH ob = GDALGetOverview(band, o);
        if (ob && GDALGetRasterBandXSize(ob) >= shown_w && GDALGetRasterBandXSize(ob) < rx) {
            rb = ob;
            rx = GDALGetRasterBandXSize(ob);
            ry = GDALGetRasterBandYSize(ob);
        }
    }
    if ((size_t)rx > SIZE_MAX / 4 / (size_t)ry) {
        st = sm_error(ctx, SM_ERR_NOMEM, "%s: %d x %d cells is too large to draw", tif, rx, ry);
        goto end;
    }
    buf = malloc((size_t)rx * (size_t)ry);
    img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, rx, ry);
    if (!buf || cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    if (GDALRasterIO(rb, GF_Read, 0, 0, rx, ry, buf, rx, ry, GDT_Byte, 0, 0) != CE_None) {
        st = sm_error(ctx, SM_ERR_IO, "%s: read failed: %s", tif, CPLGetLastErrorMsg());
        goto end;
    }
    int has_nd = 0;
    double nd = GDALGetRasterNoDataValue(band, &has_nd);
    GDALColorTableH ct = GDALGetRasterColorTable(band);
    uint32_t lut[256];
    for (int c = 0; c < 256; c++) {
        const sm_legend_entry *e = sm_legend_find(c);
        GDALColorEntry ce = {0, 0, 0, 0};
        if (ct && c < GDALGetColorEntryCount(ct))
            GDALGetColorEntryAsRGB(ct, c, &ce);
        else if (e) {
            ce.c1 = e->r;
            ce.c2 = e->g;
            ce.c3 = e->b;
            ce.c4 = 255;
        }
        if ((has_nd && c == (int)nd) || (!ct && !e))
            lut[c] = 0;
        else
            lut[c] = 0xff000000u | (uint32_t)ce.c1 << 16 | (uint32_t)ce.c2 << 8 | (uint32_t)ce.c3;
    }
    char **cats = GDALGetRasterCategoryNames(band);
    for (int c = 0; c < 256; c++) {
        const sm_legend_entry *e = sm_legend_find(c);
        if (cats && c < CSLCount(cats) && cats[c][0])
            snprintf(names[c], 96, "%s", cats[c]);
        else if (e)
            snprintf(names[c], 96, "%s %s", e->name_zh, e->name_en);
        else
            snprintf(names[c], 96, "%d", c);
    }
    unsigned char *px = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (int r = 0; r < ry; r++) {
        uint32_t *row = (uint32_t *)(void *)(px + (size_t)r * (size_t)stride);
        const unsigned char *in = buf + (size_t)r * (size_t)rx;
        for (int c = 0; c < rx; c++) {
            row[c] = lut[in[c]];
            if (lut[in[c]])
                present[in[c]] = 1;
        }
    }
    cairo_surface_mark_dirty(img);
    cairo_save(cr);
    cairo_rectangle(cr, FRAME_X, FRAME_Y, FRAME_W, FRAME_H);
    cairo_clip(cr);
    cairo_translate(cr, px_x(v, gt[0]), px_y(v, gt[3]));
    cairo_scale(cr, shown_w / rx, (ny * -gt[5] / v->res) / ry);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    cairo_restore(cr);
end:
    if (img)
        cairo_surface_destroy(img);
    free(buf);
    GDALClose(ds);
    return st;
}

/* ---- parcel layers ---- */

typedef struct vlayer {
    GDALDatasetH ds;
    OGRLayerH layer;
    OGRCoordinateTransformationH ct; /* NULL when already in the view's CRS */
    OGRSpatialReferenceH lsrs;
} vlayer;

static void vlayer_close(vlayer *l)
{
    if (l->ct)
        OCTDestroyCoordinateTransformation(l->ct);
    if (l->lsrs)
        OSRDestroySpatialReference(l->lsrs);
    if (l->ds)
        GDALClose(l->ds);
    memset(l, 0, sizeof *l);
}

/* Opens the layer `name` of an OGR file, or (name NULL) its first layer with geometries, and a
 * transformation to the view. */
static sm_status vlayer_open_named(sm_context *ctx, vlayer *l, const view *v, const char *path, const char *name)
{
    memset(l, 0, sizeof *l);
    l->ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!l->ds)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot open for the map: %s", path, CPLGetLastErrorMsg());
    if (name)
        l->layer = GDALDatasetGetLayerByName(l->ds, name);
    for (int i = 0; !name && i < GDALDatasetGetLayerCount(l->ds) && !l->layer; i++) {
        OGRLayerH lay = GDALDatasetGetLayer(l->ds, i);
        if (OGR_L_GetGeomType(lay) != wkbNone)
            l->layer = lay;
    }
    if (!l->layer) {
        vlayer_close(l);
        return sm_error(ctx, SM_ERR_INPUT, "%s: no layer with geometries", path);
    }
    OGRSpatialReferenceH s = OGR_L_GetSpatialRef(l->layer);
    if (s && !OSRIsSame(s, v->srs)) {
        l->lsrs = OSRClone(s);
        OSRSetAxisMappingStrategy(l->lsrs, OAMS_TRADITIONAL_GIS_ORDER);
        l->ct = OCTNewCoordinateTransformation(l->lsrs, v->srs);
        if (!l->ct) {
            vlayer_close(l);
            return sm_error(ctx, SM_ERR_INPUT, "%s: cannot transform to the land cover's CRS", path);
        }
    }
    OGR_L_ResetReading(l->layer);
    return SM_OK;
}

static sm_status vlayer_open(sm_context *ctx, vlayer *l, const view *v, const char *path)
{
    return vlayer_open_named(ctx, l, v, path, NULL);
}

static void path_geometry(cairo_t *cr, const view *v, OGRGeometryH g)
{
    OGRwkbGeometryType t = wkbFlatten(OGR_G_GetGeometryType(g));
    if (t == wkbPolygon || t == wkbMultiPolygon || t == wkbGeometryCollection) {
        for (int i = 0; i < OGR_G_GetGeometryCount(g); i++)
            path_geometry(cr, v, OGR_G_GetGeometryRef(g, i));
        return;
    }
    int n = OGR_G_GetPointCount(g);
    for (int i = 0; i < n; i++) {
        double x = px_x(v, OGR_G_GetX(g, i)), y = px_y(v, OGR_G_GetY(g, i));
        if (i == 0)
            cairo_move_to(cr, x, y);
        else
            cairo_line_to(cr, x, y);
    }
    if (n > 0)
        cairo_close_path(cr);
}

/* The feature's geometry in the view's CRS (caller destroys), or NULL. */
static OGRGeometryH feature_geometry(const vlayer *l, OGRFeatureH f)
{
    OGRGeometryH g = OGR_F_GetGeometryRef(f);
    if (!g)
        return NULL;
    g = OGR_G_Clone(g);
    if (l->ct && OGR_G_Transform(g, l->ct) != OGRERR_NONE) {
        OGR_G_DestroyGeometry(g);
        return NULL;
    }
    return g;
}

static void fill_stroke(cairo_t *cr, const double rgba[4], double lw, double grey)
{
    cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD);
    cairo_set_source_rgba(cr, rgba[0], rgba[1], rgba[2], rgba[3]);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, grey, grey, grey);
    cairo_set_line_width(cr, lw);
    cairo_stroke(cr);
}

/* Field value as a double; NaN when the field is missing or NULL. */
static double field_num(OGRFeatureH f, int idx)
{
    if (idx < 0 || !OGR_F_IsFieldSetAndNotNull(f, idx))
        return NAN;
    return OGR_F_GetFieldAsDouble(f, idx);
}

/* The class of v in a graduated style as QGIS picks it: the first range with lo <= v <= hi. */
static int grad_class(const sm_style_graduated *s, double v)
{
    if (isnan(v))
        return -1;
    for (size_t k = 0; k < s->n; k++)
        if (s->breaks[k] <= v && v <= s->breaks[k + 1])
            return (int)k;
    return -1;
}

static const double NA_RGBA[4] = {220 / 255.0, 220 / 255.0, 220 / 255.0, 1}; /* #dcdcdc */

/* The parcels of parcels.gpkg, read and projected once for all the maps: each outline as a
 * cairo path in page pixels, and the per-hectare values the maps class. */
typedef struct pcache {
    size_t n, cap;
    cairo_path_t **paths; /* NULL where a feature has no geometry */
    double *carbon;       /* t C/ha at the period's end: (c_<s> or cp_<s>) / area_ha; NaN = none */
    double *sink;         /* t CO2e/ha/yr: sink_co2 / area_ha; NaN = none */
    cairo_surface_t *outline; /* every parcel's outline, stroked once (A8), for the three maps */
} pcache;

double sm_map_carbon_per_ha(double area_ha, double c, double cp)
{
    return (area_ha > 0 && (!isnan(c) || !isnan(cp))) ? ((isnan(c) ? 0 : c) + (isnan(cp) ? 0 : cp)) / area_ha : NAN;
}

double sm_map_sink_per_ha(double area_ha, double sink_co2) { return area_ha > 0 ? sink_co2 / area_ha : NAN; }

static void pcache_free(pcache *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->paths[i])
            cairo_path_destroy(c->paths[i]);
    free(c->paths);
    free(c->carbon);
    free(c->sink);
    if (c->outline)
        cairo_surface_destroy(c->outline);
    memset(c, 0, sizeof *c);
}

static sm_status pcache_read(sm_context *ctx, pcache *c, cairo_t *cr, const view *v, const char *gpkg, const char *end_id,
                             const sm_map_parcels *mp)
{
    vlayer l;
    memset(c, 0, sizeof *c);
    sm_status st = mp ? vlayer_open_named(ctx, &l, v, mp->path, mp->layer) : vlayer_open(ctx, &l, v, gpkg);
    if (st != SM_OK)
        return st;
    OGRFeatureDefnH defn = OGR_L_GetLayerDefn(l.layer);
    if (mp) { /* the geometries only: the values come from mp */
        int nf = OGR_FD_GetFieldCount(defn), ni = 0;
        const char **ignored = calloc((size_t)nf + 2, sizeof *ignored);
        if (ignored) {
            for (int k = 0; k < nf; k++)
                ignored[ni++] = OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(defn, k));
            ignored[ni++] = "OGR_STYLE";
            OGR_L_SetIgnoredFields(l.layer, ignored); /* an optimisation: its failure changes nothing */
            free(ignored);
        }
    }
    char n1[32], n2[32];
    snprintf(n1, sizeof n1, "c_%s", end_id);
    snprintf(n2, sizeof n2, "cp_%s", end_id);
    int ia = OGR_FD_GetFieldIndex(defn, "area_ha"), ic = OGR_FD_GetFieldIndex(defn, n1),
        ip = OGR_FD_GetFieldIndex(defn, n2), is = OGR_FD_GetFieldIndex(defn, "sink_co2");
    if (!mp && (ia < 0 || (ic < 0 && ip < 0))) {
        vlayer_close(&l);
        return sm_error(ctx, SM_ERR_INPUT, "%s: fields area_ha and %s or %s are needed for the maps", gpkg, n1, n2);
    }
    if (!mp) {
        /* only the four fields the maps class by are read: the layer has a hundred */
        const char *keep[4] = {"area_ha", n1, n2, "sink_co2"};
        int nf = OGR_FD_GetFieldCount(defn), ni = 0;
        const char **ignored = calloc((size_t)nf + 2, sizeof *ignored);
        if (ignored) {
            for (int k = 0; k < nf; k++) {
                const char *name = OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(defn, k));
                int wanted = 0;
                for (int q = 0; q < 4; q++)
                    wanted |= strcmp(name, keep[q]) == 0;
                if (!wanted)
                    ignored[ni++] = name;
            }
            ignored[ni++] = "OGR_STYLE";
            OGR_L_SetIgnoredFields(l.layer, ignored); /* an optimisation: its failure changes nothing */
            free(ignored);
        }
    }
    OGRFeatureH f;
    while ((f = OGR_L_GetNextFeature(l.layer)) != NULL) {
        if (c->n == c->cap) {
            size_t nc = c->cap ? 2 * c->cap : 1024;
            cairo_path_t **p = realloc(c->paths, nc * sizeof *p);
            if (p)
                c->paths = p;
            double *x = realloc(c->carbon, nc * sizeof *x);
            if (x)
                c->carbon = x;
            double *y = realloc(c->sink, nc * sizeof *y);
            if (y)
                c->sink = y;
            if (!p || !x || !y) {
                OGR_F_Destroy(f);
                st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
                break;
            }
            c->cap = nc;
        }
        if (mp && c->n >= mp->n) {
            OGR_F_Destroy(f);
            st = sm_error(ctx, SM_ERR_INPUT, "%s: the parcels changed while sinkmap was running", mp->path);
            break;
        }
        size_t i = c->n++;
        c->paths[i] = NULL;
        if (mp) {
            c->carbon[i] = mp->carbon[i];
            c->sink[i] = mp->sink[i];
        } else {
            double area = field_num(f, ia), a = field_num(f, ic), b = field_num(f, ip), sk = field_num(f, is);
            c->carbon[i] = sm_map_carbon_per_ha(area, a, b);
            c->sink[i] = sm_map_sink_per_ha(area, sk);
        }
        OGRGeometryH g = feature_geometry(&l, f);
        if (g) {
            cairo_new_path(cr);
            path_geometry(cr, v, g);
            c->paths[i] = cairo_copy_path(cr);
            cairo_new_path(cr);
            OGR_G_DestroyGeometry(g);
        }
        OGR_F_Destroy(f);
    }
    vlayer_close(&l);
    if (st == SM_OK && mp && c->n != mp->n)
        st = sm_error(ctx, SM_ERR_INPUT, "%s: the parcels changed while sinkmap was running", mp->path);
    if (st == SM_OK) {
        /* The outlines, stroked once into a mask the carbon, sink and changes maps each paint
         * in their grey over their fills: stroking 100,000 parcels was most of a map's time. */
        c->outline = cairo_image_surface_create(CAIRO_FORMAT_A8, PAGE_W, PAGE_H);
        cairo_t *m = cairo_create(c->outline);
        if (cairo_status(m) != CAIRO_STATUS_SUCCESS) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        } else {
            cairo_rectangle(m, FRAME_X, FRAME_Y, FRAME_W, FRAME_H);
            cairo_clip(m);
            cairo_set_line_width(m, OUTLINE_W);
            for (size_t i = 0; i < c->n; i++)
                if (c->paths[i]) {
                    cairo_append_path(m, c->paths[i]);
                    cairo_stroke(m);
                }
        }
        cairo_destroy(m);
    }
    if (st != SM_OK)
        pcache_free(c);
    return st;
}

/* Fills the current path (even-odd) in rgba. */
static void fill_only(cairo_t *cr, const double rgba[4])
{
    cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD);
    cairo_set_source_rgba(cr, rgba[0], rgba[1], rgba[2], rgba[3]);
    cairo_fill(cr);
}

/* The parcels' outlines in grey over what is drawn. */
static void paint_outlines(cairo_t *cr, const pcache *c, double grey)
{
    cairo_set_source_rgb(cr, grey, grey, grey);
    cairo_mask_surface(cr, c->outline, 0, 0);
}

/* Parcels filled by a graduated style on vals[] (per hectare). counts[k] receives parcels per
 * class, counts[s->n] those without a value. */
static void draw_graduated(cairo_t *cr, const pcache *c, const double *vals, const sm_style_graduated *s, size_t *counts)
{
    double rgba[8][4];
    for (size_t k = 0; k < s->n && k < 8; k++)
        rgba_parse(s->colors[k], rgba[k]);
    cairo_save(cr);
    cairo_rectangle(cr, FRAME_X, FRAME_Y, FRAME_W, FRAME_H);
    cairo_clip(cr);
    for (size_t i = 0; i < c->n; i++) {
        int k = grad_class(s, vals[i]);
        counts[k < 0 ? s->n : (size_t)k]++;
        if (!c->paths[i])
            continue;
        cairo_append_path(cr, c->paths[i]);
        fill_only(cr, k < 0 ? NA_RGBA : rgba[k]);
    }
    paint_outlines(cr, c, 0.45);
    cairo_restore(cr);
}

static int change_category(const sm_style_categorized *s, const char *reason)
{
    for (size_t k = 0; k < s->n; k++)
        if (strcmp(s->values[k], reason) == 0)
            return (int)k;
    return -1;
}

/* All parcels in pale grey, the suspected changes filled by reason and labelled by rank.
 * counts[k] receives the changes per category. */
static sm_status draw_changes(sm_context *ctx, cairo_t *cr, const view *v, const pcache *pc, const char *changes,
                              size_t *counts)
{
    vlayer l;
    sm_status st;
    cairo_save(cr);
    cairo_rectangle(cr, FRAME_X, FRAME_Y, FRAME_W, FRAME_H);
    cairo_clip(cr);
    static const double PALE[4] = {0.94, 0.94, 0.92, 1};
    OGRFeatureH f;
    for (size_t i = 0; i < pc->n; i++)
        if (pc->paths[i]) {
            cairo_append_path(cr, pc->paths[i]);
            fill_only(cr, PALE);
        }
    paint_outlines(cr, pc, 0.6);
    if ((st = vlayer_open(ctx, &l, v, changes)) != SM_OK) {
        cairo_restore(cr);
        return st;
    }
    const sm_style_categorized *s = sm_style_changes();
    OGRFeatureDefnH defn = OGR_L_GetLayerDefn(l.layer);
    int ir = OGR_FD_GetFieldIndex(defn, "reason"), ik = OGR_FD_GetFieldIndex(defn, "rank");
    while ((f = OGR_L_GetNextFeature(l.layer)) != NULL) {
        int k = ir >= 0 ? change_category(s, OGR_F_GetFieldAsString(f, ir)) : -1;
        double rgba[4];
        rgba_parse(k >= 0 ? s->colors[k] : "120,120,120,255", rgba);
        counts[k < 0 ? s->n : (size_t)k]++;
        OGRGeometryH g = feature_geometry(&l, f);
        if (g) {
            path_geometry(cr, v, g);
            fill_stroke(cr, rgba, 1.6, 0.0);
            OGRGeometryH c = OGR_G_PointOnSurface(g);
            if (c && ik >= 0) {
                char rank[32];
                snprintf(rank, sizeof rank, "%d", OGR_F_GetFieldAsInteger(f, ik));
                label_halo(cr, px_x(v, OGR_G_GetX(c, 0)), px_y(v, OGR_G_GetY(c, 0)), 15, rank);
            }
            if (c)
                OGR_G_DestroyGeometry(c);
            OGR_G_DestroyGeometry(g);
        }
        OGR_F_Destroy(f);
    }
    cairo_restore(cr);
    vlayer_close(&l);
    return SM_OK;
}

/* ---- the maps ---- */

static sm_status check_font(sm_context *ctx);

sm_status sm_maps_preflight(sm_context *ctx)
{
    sm_status st = check_font(ctx);
    FcFini(); /* fontconfig's caches live until the maps are drawn, not across the passes */
    return st;
}

/* The font the maps draw with must carry CJK glyphs: fontconfig's best match for MAP_FONT must
 * be that family, else every Chinese label would be tofu boxes. */
static sm_status check_font(sm_context *ctx)
{
    sm_status st = SM_OK;
    FcPattern *p = FcNameParse((const FcChar8 *)MAP_FONT);
    FcResult res;
    if (!p)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    FcConfigSubstitute(NULL, p, FcMatchPattern);
    FcDefaultSubstitute(p);
    FcPattern *m = FcFontMatch(NULL, p, &res);
    FcChar8 *fam = NULL;
    if (!m || FcPatternGetString(m, FC_FAMILY, 0, &fam) != FcResultMatch || !fam ||
        strstr((const char *)fam, "CJK") == NULL)
        st = sm_error(ctx, SM_ERR_INPUT,
                      "maps: fontconfig has no CJK font ('%s' resolves to '%s'); install fonts-noto-cjk, or set "
                      "[output] maps = no",
                      MAP_FONT, fam ? (const char *)fam : "nothing");
    if (m)
        FcPatternDestroy(m);
    FcPatternDestroy(p);
    return st;
}

static sm_status view_from(sm_context *ctx, view *v, const char *tif)
{
    memset(v, 0, sizeof *v);
    GDALDatasetH ds = GDALOpenEx(tif, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot open for the maps: %s", tif, CPLGetLastErrorMsg());
    double gt[6];
    const char *wkt = GDALGetProjectionRef(ds);
    if (GDALGetGeoTransform(ds, gt) != CE_None || !wkt || !wkt[0]) {
        GDALClose(ds);
        return sm_error(ctx, SM_ERR_INPUT, "%s: no georeferencing for the maps", tif);
    }
    double w = GDALGetRasterXSize(ds) * gt[1], h = GDALGetRasterYSize(ds) * -gt[5];
    double cx = gt[0] + w / 2, cy = gt[3] - h / 2;
    v->res = fmax(w / FRAME_W, h / FRAME_H);
    v->gx0 = cx - FRAME_W * v->res / 2;
    v->gy1 = cy + FRAME_H * v->res / 2;
    v->wkt = sm__strdup(ctx, wkt);
    v->srs = OSRNewSpatialReference(wkt);
    GDALClose(ds);
    if (!v->wkt || !v->srs)
        return sm_error(ctx, SM_ERR_INPUT, "%s: unreadable CRS", tif);
    OSRSetAxisMappingStrategy(v->srs, OAMS_TRADITIONAL_GIS_ORDER);
    return SM_OK;
}

static void footer_text(const view *v, const sm_job *job, char *buf, size_t size)
{
    const char *an = OSRGetAuthorityName(v->srs, NULL), *ac = OSRGetAuthorityCode(v->srs, NULL);
    const char *nm = OSRGetName(v->srs);
    snprintf(buf, size, "坐标系 CRS: %s%s%s %s · %s · sinkmap", an ? an : "", an ? ":" : "", ac ? ac : "",
             nm ? nm : "", job->name ? job->name : "");
}

static sm_map_info *add_map(sm_context *ctx, sm_map_info **maps, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        sm_map_info *m = realloc(*maps, nc * sizeof *m);
        if (!m) {
            sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            return NULL;
        }
        *maps = m;
        *cap = nc;
    }
    sm_map_info *m = &(*maps)[(*n)++];
    memset(m, 0, sizeof *m);
    return m;
}

static sm_status graduated_legend(cairo_t *cr, const sm_style_graduated *s, const size_t *counts, const char *na)
{
    int row = 0;
    for (size_t k = s->n; k-- > 0;) {
        char label[160], lab2[200];
        double rgba[4];
        sm_qml_range_label(s->breaks[k], s->breaks[k + 1], s->title, label, sizeof label);
        snprintf(lab2, sizeof lab2, "%s (%zu)", label, counts[k]);
        rgba_parse(s->colors[k], rgba);
        legend_row(cr, row++, rgba, lab2);
    }
    char lab[200];
    snprintf(lab, sizeof lab, "%s (%zu)", na, counts[s->n]);
    legend_row(cr, row++, NA_RGBA, lab);
    legend_note(cr, row + 1, "括号内为小班数 parcels in brackets");
    return SM_OK;
}

/* What a parcel map is drawn with and added to. */
typedef struct page_ctx {
    sm_map_info **maps;
    size_t *nmaps, *cap;
    cairo_t *cr;
    cairo_surface_t *surf;
    const view *v;
    const char *footer, *mdir;
    const pcache *pc;
} page_ctx;

/* One graduated parcel map (carbon density, sink): the parcels coloured by `vals`, the legend with
 * each class's count (`na` for parcels without a value), the furniture, written to mdir/file. */
static sm_status graduated_map(sm_context *ctx, page_ctx *g, const char *file, const char *title, const char *sub,
                               const double *vals, const sm_style_graduated *gs, const char *na)
{
    sm_map_info *m = add_map(ctx, g->maps, g->nmaps, g->cap);
    if (!m)
        return SM_ERR_NOMEM;
    snprintf(m->file, sizeof m->file, "%s", file);
    snprintf(m->title, sizeof m->title, "%s", title);
    page_begin(g->cr, m->title, sub);
    size_t counts[16] = {0};
    draw_graduated(g->cr, g->pc, vals, gs, counts);
    graduated_legend(g->cr, gs, counts, na);
    furniture(g->cr, g->v, g->footer);
    char *path = sm__asprintf(ctx, "%s/%s", g->mdir, m->file);
    sm_status st = path ? page_end(ctx, g->surf, g->v, path) : SM_ERR_NOMEM;
    free(path);
    return st;
}

/* A graduated map on a surface and a map list of its own, so that it can be drawn on a thread
 * while the others are drawn (the sink map beside the carbon map); listed in its place either
 * way. */
typedef struct grad_job {
    sm_context *ctx; /* the thread's own */
    page_ctx g;
    sm_map_info *maps;
    size_t n, cap;
    char file[64], title[192], sub[256];
    const double *vals;
    const sm_style_graduated *gs;
    const char *na;
    sm_status st;
    int running;
} grad_job;

static void *grad_main(void *arg)
{
    grad_job *j = arg;
    j->st = graduated_map(j->ctx, &j->g, j->file, j->title, j->sub, j->vals, j->gs, j->na);
    return NULL;
}

/* Sets up job j on a new surface (page_ctx fields from `like`). */
static sm_status grad_job_init(sm_context *ctx, grad_job *j, const page_ctx *like)
{
    memset(j, 0, sizeof *j);
    j->g = *like;
    j->g.maps = &j->maps;
    j->g.nmaps = &j->n;
    j->g.cap = &j->cap;
    j->g.surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, PAGE_W, PAGE_H);
    j->g.cr = cairo_create(j->g.surf);
    if (!(j->ctx = sm_context_create()) || cairo_status(j->g.cr) != CAIRO_STATUS_SUCCESS)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    return SM_OK;
}

static void grad_job_free(grad_job *j)
{
    if (j->g.cr)
        cairo_destroy(j->g.cr);
    if (j->g.surf)
        cairo_surface_destroy(j->g.surf);
    free(j->maps);
    sm_context_destroy(j->ctx);
    memset(j, 0, sizeof *j);
}

/* The land-cover maps (one per scene, into lc->maps[0..nscenes)), on their own surface. */
typedef struct lc_maps {
    sm_context *ctx; /* the thread's own */
    const sm_job *job;
    const char *dir, *mdir;
    const view *v;
    const char *footer;
    sm_map_info *maps;
    sm_status st;
    int running;
} lc_maps;

static sm_status draw_landcover_maps(lc_maps *lc)
{
    sm_context *ctx = lc->ctx;
    const sm_job *job = lc->job;
    const char *dir = lc->dir, *mdir = lc->mdir, *footer = lc->footer;
    const view v = *lc->v;
    char sub[256], *tif = NULL, *path = NULL;
    sm_status st = SM_OK;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, PAGE_W, PAGE_H);
    cairo_t *cr = cairo_create(surf);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (size_t s = 0; s < job->nscenes; s++) {
        const sm_job_scene *sc = &job->scenes[s];
        sm_map_info *m = &lc->maps[s];
        free(tif);
        tif = sm__asprintf(ctx, "%s/landcover_%s.tif", dir, sc->id);
        if (!m || !tif) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        snprintf(m->file, sizeof m->file, "landcover_%s.png", sc->id);
        snprintf(m->title, sizeof m->title, "土地覆被 Land cover · %s (%s)", sc->id, sc->date);
        snprintf(sub, sizeof sub, "%s · landcover_%s.tif", job->name, sc->id);
        page_begin(cr, m->title, sub);
        int present[256] = {0};
        char(*names)[96] = malloc(256 * sizeof *names);
        if (!names) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            goto end;
        }
        if ((st = draw_landcover(ctx, cr, &v, tif, present, names)) != SM_OK) {
            free(names);
            goto end;
        }
        int row = 0;
        for (int c = 1; c < 256; c++)
            if (present[c]) {
                const sm_legend_entry *e = sm_legend_find(c);
                double rgba[4] = {0.5, 0.5, 0.5, 1};
                if (e) {
                    rgba[0] = e->r / 255.0;
                    rgba[1] = e->g / 255.0;
                    rgba[2] = e->b / 255.0;
                }
                legend_row(cr, row++, rgba, names[c]);
            }
        free(names);
        furniture(cr, &v, footer);
        free(path);
        path = sm__asprintf(ctx, "%s/%s", mdir, m->file);
        if (!path || (st = page_end(ctx, surf, &v, path)) != SM_OK)
            goto end;
    }

end:
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    free(tif);
    free(path);
    return st;
}

static void *lc_main(void *arg)
{
    lc_maps *lc = arg;
    lc->st = draw_landcover_maps(lc);
    return NULL;
}

/* The suspected-changes map, on a surface of its own (so that it can be drawn on a thread while
 * the other parcel maps are drawn): reads changes.gpkg and the parcel cache, writes
 * maps/changes.png, fills `info`. */
typedef struct chg_map {
    sm_context *ctx; /* the thread's own */
    const sm_job *job;
    const view *v;
    const pcache *pc;
    const char *chg, *mdir, *footer;
    sm_map_info info;
    sm_status st;
    int running, wanted;
} chg_map;

static sm_status draw_changes_map(chg_map *cm)
{
    sm_context *ctx = cm->ctx;
    const sm_job *job = cm->job;
    sm_status st = SM_OK;
    char sub[256], *path = NULL;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, PAGE_W, PAGE_H);
    cairo_t *cr = cairo_create(surf);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    size_t a = 0, b = job->nscenes - 1;
    if (job->sink_from) {
        a = (size_t)(sm_job_find_scene(job, job->sink_from) - job->scenes);
        b = (size_t)(sm_job_find_scene(job, job->sink_to) - job->scenes);
    }
    sm_map_info *m = &cm->info;
    snprintf(m->file, sizeof m->file, "changes.png");
    snprintf(m->title, sizeof m->title, "疑似变化小班 Suspected changes · %s → %s", job->scenes[a].id,
             job->scenes[b].id);
    snprintf(sub, sizeof sub, "%s · changes.gpkg, 数字为核查顺序 numbers are the rank (1 = most forest lost)",
             job->name);
    page_begin(cr, m->title, sub);
    size_t counts[16] = {0};
    if ((st = draw_changes(ctx, cr, cm->v, cm->pc, cm->chg, counts)) != SM_OK)
        goto end;
    const sm_style_categorized *cs = sm_style_changes();
    int row = 0;
    size_t total = 0;
    for (size_t k = 0; k < cs->n; k++) {
        total += counts[k];
        if (!counts[k])
            continue;
        char lab[220];
        double rgba[4];
        rgba_parse(cs->colors[k], rgba);
        snprintf(lab, sizeof lab, "%s (%zu)", cs->labels[k], counts[k]);
        legend_row(cr, row++, rgba, lab);
    }
    char note[128];
    snprintf(note, sizeof note, "共 %zu 个小班 %zu parcels in all", total + counts[cs->n], total + counts[cs->n]);
    legend_note(cr, row + 1, note);
    furniture(cr, cm->v, cm->footer);
    path = sm__asprintf(ctx, "%s/%s", cm->mdir, m->file);
    if (!path || (st = page_end(ctx, surf, cm->v, path)) != SM_OK)
        goto end;
end:
    free(path);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    return st;
}

static void *cm_main(void *arg)
{
    chg_map *cm = arg;
    cm->st = draw_changes_map(cm);
    return NULL;
}

sm_status sm_maps_write(sm_context *ctx, const sm_job *job, const char *dir, int threads, sm_map_info **maps_out,
                        size_t *nmaps_out)
{
    return sm_maps_write_from(ctx, job, dir, threads, NULL, maps_out, nmaps_out);
}

sm_status sm_maps_write_from(sm_context *ctx, const sm_job *job, const char *dir, int threads, const sm_map_parcels *mp,
                             sm_map_info **maps_out, size_t *nmaps_out)
{
    lc_maps lc;
    chg_map cm;
    grad_job sj;
    pthread_t lc_tid, cm_tid, sj_tid;
    memset(&lc, 0, sizeof lc);
    memset(&cm, 0, sizeof cm);
    memset(&sj, 0, sizeof sj);
    sm_gdal_init();
    *maps_out = NULL;
    *nmaps_out = 0;
    sm_map_info *maps = NULL;
    size_t nmaps = 0, cap = 0;
    view v;
    memset(&v, 0, sizeof v);
    char *mdir = NULL, *path = NULL, *tif = NULL, *gpkg = NULL, *chg = NULL;
    cairo_surface_t *surf = NULL;
    cairo_t *cr = NULL;
    pcache pc;
    memset(&pc, 0, sizeof pc);
    sm_status st = check_font(ctx);
    if (st != SM_OK)
        goto end;
    mdir = sm__asprintf(ctx, "%s/maps", dir);
    gpkg = sm__asprintf(ctx, "%s/parcels.gpkg", dir);
    chg = sm__asprintf(ctx, "%s/changes.gpkg", dir);
    tif = sm__asprintf(ctx, "%s/landcover_%s.tif", dir, job->scenes[0].id);
    if (!mdir || !gpkg || !chg || !tif) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    if ((st = sm__mkdir_p(ctx, mdir)) != SM_OK || (st = view_from(ctx, &v, tif)) != SM_OK)
        goto end;
    surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, PAGE_W, PAGE_H);
    cr = cairo_create(surf);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    char footer[512], sub[256];
    footer_text(&v, job, footer, sizeof footer);

    /* land cover, one map per scene: on a thread of its own (its own surface) while the
     * parcel maps are drawn here, when the run has more than one thread */
    for (size_t k = 0; k < job->nscenes; k++)
        if (!add_map(ctx, &maps, &nmaps, &cap)) {
            st = SM_ERR_NOMEM;
            goto end;
        }
    /* the thread fills an array of its own (maps may move as the parcel maps are added) */
    lc = (lc_maps){NULL, job, dir, mdir, &v, footer, calloc(job->nscenes, sizeof *lc.maps), SM_OK, 0};
    if (!lc.maps || !(lc.ctx = sm_context_create())) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    if (threads > 1 && pthread_create(&lc_tid, NULL, lc_main, &lc) == 0)
        lc.running = 1;
    else
        lc_main(&lc);

    /* carbon density at the period's end, the sink over the period */
    const char *end_id = job->sink_to ? job->sink_to : job->scenes[job->nscenes - 1].id;
    if ((st = pcache_read(ctx, &pc, cr, &v, gpkg, end_id, mp)) != SM_OK)
        goto end;
    /* the changes map only reads the parcel cache: on a thread of its own (its own surface)
     * while the carbon and sink maps are drawn here, when the run has more than one thread;
     * it is listed last either way */
    cm.job = job;
    cm.v = &v;
    cm.pc = &pc;
    cm.chg = chg;
    cm.mdir = mdir;
    cm.footer = footer;
    cm.wanted = sm__file_exists(chg);
    if (cm.wanted) {
        if (!(cm.ctx = sm_context_create())) {
            st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
            goto end;
        }
        if (threads > 1 && pthread_create(&cm_tid, NULL, cm_main, &cm) == 0)
            cm.running = 1;
        else
            cm_main(&cm);
    }
    page_ctx gm = {&maps, &nmaps, &cap, cr, surf, &v, footer, mdir, &pc};
    char mapfile[64];
    /* the sink map on a thread of its own too (its own surface), listed after the carbon map */
    if (job->sink_from) {
        if ((st = grad_job_init(ctx, &sj, &gm)) != SM_OK)
            goto end;
        snprintf(sj.title, sizeof sj.title, "碳汇 Carbon sink · %s → %s, t CO2e/ha/yr", job->sink_from, job->sink_to);
        snprintf(sj.sub, sizeof sj.sub, "%s · parcels.gpkg: sink_co2 / area_ha (正值为吸收 positive = removal)", job->name);
        snprintf(sj.file, sizeof sj.file, "sink_%s_%s.png", job->sink_from, job->sink_to);
        sj.vals = pc.sink;
        sj.gs = sm_style_sink();
        sj.na = "非林分 no stand";
        if (threads > 1 && pthread_create(&sj_tid, NULL, grad_main, &sj) == 0)
            sj.running = 1;
    }
    {
        const sm_job_scene *sc = sm_job_find_scene(job, end_id);
        char title[192];
        snprintf(title, sizeof title, "碳密度 Carbon density · %s (%s), t C/ha", end_id, sc ? sc->date : "");
        snprintf(sub, sizeof sub, "%s · parcels.gpkg: (c_%s or cp_%s) / area_ha", job->name, end_id, end_id);
        snprintf(mapfile, sizeof mapfile, "carbon_%s.png", end_id);
        if ((st = graduated_map(ctx, &gm, mapfile, title, sub, pc.carbon, sm_style_carbon(), "无数据 no value")) != SM_OK)
            goto end;
    }
    if (job->sink_from) {
        if (sj.running) {
            pthread_join(sj_tid, NULL);
            sj.running = 0;
        } else {
            grad_main(&sj);
        }
        if (sj.st != SM_OK) {
            st = sm_error(ctx, sj.st, "%s", sm_context_message(sj.ctx));
            goto end;
        }
        sm_map_info *m = add_map(ctx, &maps, &nmaps, &cap);
        if (!m) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        *m = sj.maps[0];
    }
    if (cm.running) {
        pthread_join(cm_tid, NULL);
        cm.running = 0;
    }
    if (cm.wanted) {
        if (cm.st != SM_OK) {
            st = sm_error(ctx, cm.st, "%s", sm_context_message(cm.ctx));
            goto end;
        }
        sm_map_info *m = add_map(ctx, &maps, &nmaps, &cap);
        if (!m) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        *m = cm.info;
    }
end:
    if (cm.running)
        pthread_join(cm_tid, NULL);
    sm_context_destroy(cm.ctx);
    if (sj.running)
        pthread_join(sj_tid, NULL);
    grad_job_free(&sj);
    if (lc.running) {
        pthread_join(lc_tid, NULL);
        lc.running = 0;
    }
    if (st == SM_OK && lc.st != SM_OK)
        st = sm_error(ctx, lc.st, "%s", sm_context_message(lc.ctx));
    if (st == SM_OK && lc.maps)
        memcpy(maps, lc.maps, job->nscenes * sizeof *maps);
    free(lc.maps);
    sm_context_destroy(lc.ctx);
    pcache_free(&pc);
    if (cr)
        cairo_destroy(cr);
    if (surf)
        cairo_surface_destroy(surf);
    /* Release cairo's font caches and fontconfig's configuration, which both keep for the
     * life of the process (leak checkers report them): nothing else in sinkmap draws, and
     * both are set up again on the next use. */
    cairo_debug_reset_static_data();
    FcFini();
    if (v.srs)
        OSRDestroySpatialReference(v.srs);
    free(v.wkt);
    free(mdir);
    free(path);
    free(tif);
    free(gpkg);
    free(chg);
    if (st != SM_OK) {
        free(maps);
        return st;
    }
    *maps_out = maps;
    *nmaps_out = nmaps;
    return SM_OK;
}
