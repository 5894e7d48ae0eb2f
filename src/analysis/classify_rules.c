/* classify_rules.c: the rule-based single-scene land-cover classifier (sinkmap/classify.h).
 * A decision tree on reflectance and normalized-difference indices whose thresholds are
 * documented in the header. Tuned for streaming strips of pixels: no allocation, no state. */
#include "sinkmap/classify.h"

#include <math.h>

#include "analysis/indices_inline.h"

static int has(float v) { return !isnan(v); }

#if defined(__GNUC__)
#define SM_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SM_ALWAYS_INLINE inline
#endif

/* The tree, inlined into the block loop below (sm_classify_rules_pixel is the same tree). */
static SM_ALWAYS_INLINE uint8_t rules_pixel(const sm_rules_params *p, float blue, float green, float red,
                                            float nir, float swir1, float swir2)
{
    if (!isfinite(red) || !isfinite(nir))
        return SM_LC_NODATA;
    float ndvi = sm__ndvi(red, nir);
    if (isnan(ndvi))
        return SM_LC_UNCLASSIFIED; /* red + nir == 0: nothing to go on */
    float mndwi = (has(green) && has(swir1)) ? sm__mndwi(green, swir1) : NAN;
    float ndwi = has(green) ? sm__ndwi(green, nir) : NAN;
    float ndmi = has(swir1) ? sm__ndmi(nir, swir1) : NAN;

    /* 1. open water */
    if (nir < p->water_nir_max) {
        if (has(mndwi) ? mndwi > p->water_mndwi_min : (has(ndwi) && ndwi > p->water_ndwi_min))
            return SM_LC_WATER;
    }
    /* 2. wet surfaces: shallow water over mud, or wet vegetation */
    if (has(mndwi)) {
        if (ndvi < p->wet_ndvi_max && nir < p->wet_nir_max && mndwi > p->wet_mndwi_min)
            return SM_LC_WETLAND;
        if (ndvi >= p->barren_ndvi_max && ndvi < p->wetveg_ndvi_max && has(ndmi) &&
            ndmi >= p->wetveg_ndmi_min && swir1 < p->wetveg_swir1_max)
            return SM_LC_WETLAND;
    }
    /* 3. barren: built-up or bare soil */
    if (ndvi < p->barren_ndvi_max) {
        if (has(blue) && red > 0.0f) {
            int flat = blue / red >= p->built_flatness_min;
            int ndbi_ok = !has(swir1) || sm__ndbi(nir, swir1) >= p->built_ndbi_min;
            return (flat && ndbi_ok) ? SM_LC_BUILT : SM_LC_BARE;
        }
        if (has(swir1) && has(swir2) && swir1 > 0.0f)
            return swir2 / swir1 >= p->built_swir_ratio ? SM_LC_BUILT : SM_LC_BARE;
        return SM_LC_UNCLASSIFIED;
    }
    /* 4. partial, seasonal cover */
    if (ndvi < p->crop_ndvi_max)
        return SM_LC_CROP;
    /* 5-6. woody or herbaceous vegetation */
    int forest, shrub;
    if (has(ndmi)) {
        float s = ndvi + p->ndmi_weight * ndmi;
        forest = s >= p->forest_score_min && ndvi >= p->forest_ndvi_min;
        shrub = s >= p->shrub_score_min;
    } else {
        forest = ndvi >= p->noswir_forest_ndvi;
        shrub = ndvi >= p->noswir_shrub_ndvi;
    }
    if (forest) {
        if (has(green) && green >= p->bamboo_green_min && nir >= p->bamboo_nir_min)
            return SM_LC_BAMBOO;
        return SM_LC_FOREST;
    }
    return shrub ? SM_LC_SHRUB : SM_LC_GRASS;
}

uint8_t sm_classify_rules_pixel(const sm_rules_params *p, float blue, float green, float red,
                                float nir, float swir1, float swir2)
{
    return rules_pixel(p, blue, green, red, nir, swir1, swir2);
}

sm_status sm_classify_rules(sm_context *ctx, const sm_pixel_block *in, const sm_rules_params *p,
                            uint8_t *out_class)
{
    static const sm_rules_params defaults = SM_RULES_PARAMS_INIT;
    if (!in || !out_class)
        return sm_error(ctx, SM_ERR_INTERNAL, "sm_classify_rules: NULL block or output");
    if (!p)
        p = &defaults;
    if (p->version != SM_RULES_PARAMS_VERSION)
        return sm_error(ctx, SM_ERR_INPUT, "rule classifier: parameter version %u, expected %u",
                        p->version, (unsigned)SM_RULES_PARAMS_VERSION);
    if (in->n && (!in->red || !in->nir))
        return sm_error(ctx, SM_ERR_INPUT,
                        "rule classifier: the red and nir bands are required (roles red, nir)");
    for (size_t i = 0; i < in->n; i++) {
        if (in->valid && !in->valid[i]) {
            out_class[i] = SM_LC_NODATA;
            continue;
        }
        if (in->cloud && in->cloud[i]) {
            out_class[i] = SM_LC_CLOUD;
            continue;
        }
        out_class[i] = rules_pixel(
            p, in->blue ? in->blue[i] : NAN, in->green ? in->green[i] : NAN, in->red[i],
            in->nir[i], in->swir1 ? in->swir1[i] : NAN, in->swir2 ? in->swir2[i] : NAN);
    }
    return SM_OK;
}
