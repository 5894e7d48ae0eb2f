/* map_accuracy.c: the accuracy of a land-cover map against a reference layer (`sinkmap
 * accuracy`): reference labels (legend codes or names) read under points or polygons, the
 * mapped area of every class counted over the whole map, and the Olofsson et al. (2014)
 * estimators; also the shared step that turns a code-by-code sample matrix into that report. */
#include <math.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "pipeline/internal.h"
#include "sinkmap/legend.h"
#include "sinkmap/train.h"

/* Strata are the legend's land-cover codes 1..10 (unclassified included); 0 (no data) and 11
 * (cloud or shadow) are not land cover and are left out of the areas and the sample. */
static int is_stratum(int code) { return code >= 1 && code <= SM__CODE_UNCLASSIFIED; }

sm_status sm__accuracy_from_codes(sm_area_result **out, sm_context *ctx, const double *counts,
                                  const double *pixels, double cell_m2, const char *source,
                                  const char *map_path, const char *ref_path)
{
    *out = NULL;
    int use[SM__NCODES] = {0};
    size_t k = 0;
    for (int c = 0; c < SM__NCODES; c++) {
        if (!is_stratum(c))
            continue;
        double col = 0;
        for (int m = 0; m < SM__NCODES; m++)
            col += counts[m * SM__NCODES + c];
        if (pixels[c] > 0 || col > 0)
            use[c] = 1;
        k += (size_t)use[c];
    }
    sm_area_result *r = sm_calloc(ctx, 1, sizeof *r);
    sm_area_input *in = sm_calloc(ctx, 1, sizeof *in);
    if (!r || !in) {
        free(r);
        free(in);
        return SM_ERR_NOMEM;
    }
    r->input = in;
    sm_status st = SM_OK;
    in->nclasses = k;
    in->names = sm_calloc(ctx, k ? k : 1, sizeof *in->names);
    in->counts = sm_calloc(ctx, k ? k * k : 1, sizeof *in->counts);
    in->mapped_ha = sm_calloc(ctx, k ? k : 1, sizeof *in->mapped_ha);
    in->counts_path = sm__strdup(ctx, ref_path);
    in->mapped_path = sm__strdup(ctx, map_path);
    if (!in->names || !in->counts || !in->mapped_ha || !in->counts_path || !in->mapped_path) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    size_t i = 0;
    int codes[SM__NCODES];
    for (int c = 0; c < SM__NCODES; c++)
        if (use[c]) {
            codes[i] = c;
            if (!(in->names[i] = sm__strdup(ctx, sm_legend_find(c)->key))) {
                st = SM_ERR_NOMEM;
                goto end;
            }
            in->mapped_ha[i] = pixels[c] * cell_m2 / 10000.0;
            in->population += pixels[c];
            i++;
        }
    for (size_t a = 0; a < k; a++)
        for (size_t b = 0; b < k; b++)
            in->counts[a * k + b] = counts[codes[a] * SM__NCODES + codes[b]];
    st = sm_accuracy_compute(&r->accuracy, ctx, k, (const char *const *)in->names, in->counts,
                             in->mapped_ha, source);
end:
    if (st != SM_OK) {
        sm_area_result_destroy(r);
        return st;
    }
    *out = r;
    return SM_OK;
}

/* The cell area in m² of a projected grid; SM_ERR_INPUT for a geographic CRS. */
static sm_status cell_area(sm_context *ctx, const char *path, const char *wkt, const sm_grid *g,
                           double *m2)
{
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    char *w = (char *)wkt;
    if (!srs || !wkt || !wkt[0] || OSRImportFromWkt(srs, &w) != OGRERR_NONE) {
        if (srs)
            OSRDestroySpatialReference(srs);
        return sm_error(ctx, SM_ERR_INPUT, "%s: the map has no CRS; its cell area is unknown", path);
    }
    sm_status st = SM_OK;
    if (OSRIsGeographic(srs)) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: the map is in a geographic CRS (degrees); expected a projected CRS in "
                      "metres so that pixels have one area",
                      path);
    } else {
        double f = OSRGetLinearUnits(srs, NULL);
        *m2 = fabs(g->dx * g->dy) * f * f;
    }
    OSRDestroySpatialReference(srs);
    return st;
}

sm_status sm_map_accuracy(sm_area_result **out, sm_context *ctx, const char *map_path,
                          const char *ref_path, const sm_map_accuracy_options *opt)
{
    *out = NULL;
    if (!opt || !opt->field || !opt->field[0])
        return sm_error(ctx, SM_ERR_INPUT, "%s: no class field given (--field)", ref_path);
    sm_stack *stack = NULL;
    sm_samples *s = NULL;
    float *buf = NULL;
    int *ref_code = NULL;
    double counts[SM__NCODES * SM__NCODES] = {0}, pixels[SM__NCODES] = {0};
    sm_stack_options so = SM_STACK_OPTIONS_INIT;
    sm_status st = sm_stack_open(&stack, ctx, &map_path, 1, &so);
    if (st != SM_OK)
        goto end;
    if (sm_stack_nfeatures(stack) != 1) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: %d bands; expected a single-band land-cover map",
                      map_path, sm_stack_nfeatures(stack));
        goto end;
    }
    sm_grid g = sm_stack_grid(stack);
    double m2 = 0;
    if ((st = cell_area(ctx, map_path, sm_stack_wkt(stack), &g, &m2)) != SM_OK)
        goto end;
    /* Mapped pixels per code over the whole map, 256 rows at a time. */
    buf = malloc((size_t)256 * (size_t)g.ncols * sizeof *buf);
    if (!buf) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (int64_t r0 = 0; r0 < g.nrows; r0 += 256) {
        sm_window w = {0, r0, g.ncols, g.nrows - r0 < 256 ? g.nrows - r0 : 256};
        if ((st = sm_stack_read(stack, ctx, &w, buf)) != SM_OK)
            goto end;
        size_t n = (size_t)w.ncols * (size_t)w.nrows;
        for (size_t i = 0; i < n; i++) {
            float v = buf[i];
            if (isnan(v))
                continue;
            if (!(v >= 0 && v < SM__NCODES && v == floorf(v))) {
                st = sm_error(ctx, SM_ERR_INPUT,
                              "%s: row %lld, column %lld holds %g, not a land-cover code; "
                              "expected a sinkmap legend code 0-11",
                              map_path, (long long)(r0 + (int64_t)(i / (size_t)w.ncols)),
                              (long long)(i % (size_t)w.ncols), (double)v);
                goto end;
            }
            pixels[(int)v]++;
        }
    }
    sm_reference_options ro = SM_REFERENCE_OPTIONS_INIT;
    ro.field = opt->field;
    ro.layer = opt->layer;
    if ((st = sm_reference_sample(&s, ctx, stack, ref_path, &ro, 0, NULL)) != SM_OK)
        goto end;
    ref_code = malloc((size_t)(s->k ? s->k : 1) * sizeof *ref_code);
    if (!ref_code) {
        st = sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        goto end;
    }
    for (int c = 0; c < s->k; c++) {
        int code = sm_legend_parse(s->class_names[c]);
        if (!is_stratum(code)) {
            char names[1024];
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: field '%s': class '%s' is not a land-cover class of the legend "
                          "(expected a code or a name: %s)",
                          ref_path, opt->field, s->class_names[c],
                          sm_legend_names(names, sizeof names, 1, SM__CODE_UNCLASSIFIED));
            goto end;
        }
        ref_code[c] = code;
    }
    size_t off_map = 0;
    for (size_t i = 0; i < s->n; i++) {
        int m = (int)s->x[i];
        if (!is_stratum(m)) {
            off_map++; /* no data (0) or cloud (11) under the sample */
            continue;
        }
        counts[m * SM__NCODES + ref_code[s->y[i]]]++;
    }
    if (off_map)
        sm_warn(ctx, "%s: %zu sample pixels fall on map pixels of no data or cloud and were left out",
                ref_path, off_map);
    for (int c = 0; c < SM__NCODES; c++)
        if (!is_stratum(c))
            pixels[c] = 0;
    char source[1024];
    snprintf(source, sizeof source, "%s against %s", map_path, ref_path);
    st = sm__accuracy_from_codes(out, ctx, counts, pixels, m2, source, map_path, ref_path);
end:
    free(ref_code);
    free(buf);
    sm_samples_destroy(s);
    sm_stack_close(stack);
    return st;
}
