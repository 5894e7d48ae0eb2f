/* qml.c: QGIS layer styles (.qml) written beside sinkmap's outputs, which QGIS loads by itself
 * when it opens a file with a .qml of the same base name: the land cover paletted with Chinese
 * and English class names, the parcel layer graduated by sink per hectare. */
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

static sm_status finish(sm_context *ctx, FILE *f, const char *path)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return sm_error(ctx, SM_ERR_IO, "%s: write failed", path);
    return SM_OK;
}

sm_status sm_qml_write_paletted(sm_context *ctx, const char *path, const sm_legend_entry *legend, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot create", path);
    fputs("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
          "<qgis version=\"3.22\" styleCategories=\"AllStyleCategories\">\n"
          "  <pipe>\n"
          "    <rasterrenderer type=\"paletted\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" nodataColor=\"\">\n"
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
          "    </rasterrenderer>\n"
          "  </pipe>\n"
          "</qgis>\n",
          f);
    return finish(ctx, f, path);
}

sm_status sm_qml_write_graduated(sm_context *ctx, const char *path, const char *expression, const char *title,
                                 const double *breaks, const char *const *colors, size_t nclasses)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot create", path);
    fputs("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
          "<qgis version=\"3.22\" styleCategories=\"AllStyleCategories\">\n"
          "  <renderer-v2 type=\"graduatedSymbol\" attr=\"",
          f);
    xml_text(f, expression);
    fputs("\" graduatedMethod=\"GraduatedColor\" symbollevels=\"0\" enableorderby=\"0\">\n    <ranges>\n", f);
    for (size_t k = 0; k < nclasses; k++) {
        char label[128];
        snprintf(label, sizeof label, "%g to %g %s", breaks[k], breaks[k + 1], title);
        fprintf(f, "      <range lower=\"%.17g\" upper=\"%.17g\" symbol=\"%zu\" render=\"true\" label=\"", breaks[k],
                breaks[k + 1], k);
        xml_text(f, label);
        fputs("\"/>\n", f);
    }
    fputs("    </ranges>\n    <symbols>\n", f);
    for (size_t k = 0; k < nclasses; k++)
        fprintf(f,
                "      <symbol type=\"fill\" name=\"%zu\" alpha=\"1\" clip_to_extent=\"1\" force_rhr=\"0\">\n"
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
                k, colors[k], colors[k]);
    fputs("    </symbols>\n  </renderer-v2>\n</qgis>\n", f);
    return finish(ctx, f, path);
}
