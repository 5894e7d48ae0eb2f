/* qml.c: QGIS layer styles (.qml) written beside sinkmap's outputs, which QGIS loads by itself
 * when it opens a file with a .qml of the same base name: the land cover paletted with Chinese
 * and English class names, the parcel layer graduated by sink or carbon density per hectare, the
 * suspected changes categorized by reason. The sm_qml_emit_* parts are shared with the .qgs
 * project writer, which embeds the same renderers. */
#include "sinkmap/qml.h"

#include <stdio.h>
#include <string.h>

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

#define QML_HEAD                                                                                                       \
    "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"                                                     \
    "<qgis version=\"3.22\" styleCategories=\"AllStyleCategories\">\n"

static sm_status finish(sm_context *ctx, FILE *f, const char *path)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return sm_error(ctx, SM_ERR_IO, "%s: write failed", path);
    return SM_OK;
}

void sm_qml_emit_paletted(FILE *f, const sm_legend_entry *legend, size_t n)
{
    fputs("    <rasterrenderer type=\"paletted\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" nodataColor=\"\">\n"
          "      <colorPalette>\n",
          f);
    for (size_t i = 0; i < n; i++) {
        if (legend[i].code == 0)
            continue; /* nodata stays transparent */
        fprintf(f, "        <paletteEntry value=\"%d\" color=\"#%02x%02x%02x\" alpha=\"255\" label=\"", legend[i].code,
                legend[i].r, legend[i].g, legend[i].b);
        xml_text(f, legend[i].name_zh);
        fputc(' ', f);
        xml_text(f, legend[i].name_en);
        fputs("\"/>\n", f);
    }
    fputs("      </colorPalette>\n"
          "    </rasterrenderer>\n",
          f);
}

sm_status sm_qml_write_paletted(sm_context *ctx, const char *path, const sm_legend_entry *legend, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot create", path);
    fputs(QML_HEAD "  <pipe>\n", f);
    sm_qml_emit_paletted(f, legend, n);
    fputs("  </pipe>\n</qgis>\n", f);
    return finish(ctx, f, path);
}

static void emit_fill_symbol(FILE *f, const char *name, const char *color)
{
    fputs("      <symbol type=\"fill\" name=\"", f);
    xml_text(f, name);
    fprintf(f,
            "\" alpha=\"1\" clip_to_extent=\"1\" force_rhr=\"0\">\n"
            "        <layer class=\"SimpleFill\" enabled=\"1\" pass=\"0\" locked=\"0\">\n"
            "          <Option type=\"Map\">\n"
            "            <Option type=\"QString\" name=\"color\" value=\"%s\"/>\n"
            "            <Option type=\"QString\" name=\"outline_color\" value=\"80,80,80,255\"/>\n"
            "            <Option type=\"QString\" name=\"outline_width\" value=\"0.1\"/>\n"
            "            <Option type=\"QString\" name=\"style\" value=\"solid\"/>\n"
            "          </Option>\n"
            "          <prop k=\"color\" v=\"%s\"/>\n"
            "          <prop k=\"outline_color\" v=\"80,80,80,255\"/>\n"
            "          <prop k=\"outline_width\" v=\"0.1\"/>\n"
            "        </layer>\n"
            "      </symbol>\n",
            color, color);
}

void sm_qml_emit_graduated(FILE *f, const char *expression, const char *title, const double *breaks,
                           const char *const *colors, size_t nclasses)
{
    fputs("  <renderer-v2 type=\"graduatedSymbol\" attr=\"", f);
    xml_text(f, expression);
    fputs("\" graduatedMethod=\"GraduatedColor\" symbollevels=\"0\" enableorderby=\"0\">\n    <ranges>\n", f);
    for (size_t k = 0; k < nclasses; k++) {
        char label[160];
        sm_qml_range_label(breaks[k], breaks[k + 1], title, label, sizeof label);
        fprintf(f, "      <range lower=\"%.17g\" upper=\"%.17g\" symbol=\"%zu\" render=\"true\" label=\"", breaks[k],
                breaks[k + 1], k);
        xml_text(f, label);
        fputs("\"/>\n", f);
    }
    fputs("    </ranges>\n    <symbols>\n", f);
    for (size_t k = 0; k < nclasses; k++) {
        char name[32];
        snprintf(name, sizeof name, "%zu", k);
        emit_fill_symbol(f, name, colors[k]);
    }
    fputs("    </symbols>\n  </renderer-v2>\n", f);
}

void sm_qml_range_label(double lo, double hi, const char *title, char *buf, size_t size)
{
    /* The open ends (±1e6 in sinkmap's styles) read as "below" / "and above". */
    if (lo <= -1e6)
        snprintf(buf, size, "< %g %s", hi, title);
    else if (hi >= 1e6)
        snprintf(buf, size, "\u2265 %g %s", lo, title);
    else
        snprintf(buf, size, "%g to %g %s", lo, hi, title);
}

sm_status sm_qml_write_graduated(sm_context *ctx, const char *path, const char *expression, const char *title,
                                 const double *breaks, const char *const *colors, size_t nclasses)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot create", path);
    fputs(QML_HEAD, f);
    sm_qml_emit_graduated(f, expression, title, breaks, colors, nclasses);
    fputs("</qgis>\n", f);
    return finish(ctx, f, path);
}

void sm_qml_emit_categorized(FILE *f, const char *field, const char *const *values, const char *const *labels,
                             const char *const *colors, size_t n)
{
    fputs("  <renderer-v2 type=\"categorizedSymbol\" attr=\"", f);
    xml_text(f, field);
    fputs("\" symbollevels=\"0\" enableorderby=\"0\" forceraster=\"0\">\n    <categories>\n", f);
    for (size_t k = 0; k < n; k++) {
        fputs("      <category value=\"", f);
        xml_text(f, values[k]);
        fprintf(f, "\" symbol=\"%zu\" render=\"true\" label=\"", k);
        xml_text(f, labels[k]);
        fputs("\"/>\n", f);
    }
    fputs("    </categories>\n    <symbols>\n", f);
    for (size_t k = 0; k < n; k++) {
        char name[32];
        snprintf(name, sizeof name, "%zu", k);
        emit_fill_symbol(f, name, colors[k]);
    }
    fputs("    </symbols>\n  </renderer-v2>\n", f);
}

sm_status sm_qml_write_categorized(sm_context *ctx, const char *path, const char *field, const char *const *values,
                                   const char *const *labels, const char *const *colors, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot create", path);
    fputs(QML_HEAD, f);
    sm_qml_emit_categorized(f, field, values, labels, colors, n);
    fputs("</qgis>\n", f);
    return finish(ctx, f, path);
}

void sm_qml_emit_confidence(FILE *f)
{
    fputs("    <rasterrenderer type=\"singlebandgray\" grayBand=\"1\" gradient=\"BlackToWhite\" opacity=\"1\" alphaBand=\"-1\">\n"
          "      <contrastEnhancement>\n"
          "        <minValue>0</minValue>\n"
          "        <maxValue>1</maxValue>\n"
          "        <algorithm>StretchToMinimumMaximum</algorithm>\n"
          "      </contrastEnhancement>\n"
          "    </rasterrenderer>\n",
          f);
}

sm_status sm_qml_write_confidence(sm_context *ctx, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot create", path);
    fputs(QML_HEAD "  <pipe>\n", f);
    sm_qml_emit_confidence(f);
    fputs("  </pipe>\n</qgis>\n", f);
    return finish(ctx, f, path);
}

/* ---- sinkmap's styles ---- */

static const double SINK_BREAKS[] = {-1e6, -1, 0, 2, 5, 10, 1e6};
static const char *const SINK_COLORS[] = {"215,48,39,255",  "252,141,89,255", "254,224,139,255",
                                          "217,239,139,255", "145,207,96,255", "26,152,80,255"};
static const sm_style_graduated SINK_STYLE = {"t CO2e/ha/yr", SINK_BREAKS, SINK_COLORS, 6};

static const double CARBON_BREAKS[] = {0, 5, 10, 20, 40, 60, 100, 1e6};
static const char *const CARBON_COLORS[] = {"255,255,204,255", "217,240,163,255", "173,221,142,255", "120,198,121,255",
                                            "65,171,93,255",   "35,132,67,255",   "0,90,50,255"};
static const sm_style_graduated CARBON_STYLE = {"t C/ha", CARBON_BREAKS, CARBON_COLORS, 7};

static const char *const CHANGE_VALUES[] = {"forest_below_min",
                                            "forest_drop",
                                            "dnbr",
                                            "forest_below_min;forest_drop",
                                            "forest_below_min;dnbr",
                                            "forest_drop;dnbr",
                                            "forest_below_min;forest_drop;dnbr"};
static const char *const CHANGE_LABELS[] = {
    "森林比例低于下限 forest below minimum",
    "森林比例下降 forest fraction drop",
    "dNBR 超阈值 dNBR above threshold",
    "低于下限+下降 below minimum + drop",
    "低于下限+dNBR below minimum + dNBR",
    "下降+dNBR drop + dNBR",
    "低于下限+下降+dNBR below minimum + drop + dNBR"};
static const char *const CHANGE_COLORS[] = {"253,191,111,255", "255,127,0,255",  "166,86,40,255", "227,26,28,255",
                                            "202,178,214,255", "106,61,154,255", "165,0,38,255"};
static const sm_style_categorized CHANGE_STYLE = {CHANGE_VALUES, CHANGE_LABELS, CHANGE_COLORS, 7};

const sm_style_graduated *sm_style_sink(void) { return &SINK_STYLE; }
const sm_style_graduated *sm_style_carbon(void) { return &CARBON_STYLE; }
const sm_style_categorized *sm_style_changes(void) { return &CHANGE_STYLE; }

void sm_style_carbon_expression(const char *id, char *buf, size_t size)
{
    snprintf(buf, size, "(coalesce(\"c_%s\", 0) + coalesce(\"cp_%s\", 0)) / \"area_ha\"", id, id);
}
