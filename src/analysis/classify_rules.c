/* classify_rules.c: the rule-based single-scene land-cover classifier (sinkmap/classify.h).
 * A decision tree on reflectance and normalized-difference indices whose thresholds are
 * documented in the header. Tuned for streaming strips of pixels: no allocation, no state. */
#include "sinkmap/classify.h"

#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

#if defined(__SSE2__)
/* The same tree on four pixels at once (SSE2): every quantity is computed for all four with the
 * scalar code's float operations in the same order (so the same floats: IEEE arithmetic, no
 * contraction), and the rules are applied in the scalar code's order, each setting the class of
 * the lanes no earlier rule has decided. A comparison with NaN is false in both, which makes
 * the scalar code's has() tests before a comparison implicit here. tests/test_classify.c
 * compares both on millions of random pixels with NaNs, zeros, infinities and thresholds.
 * decide(): the lanes of `res` not yet decided and in `m` get class c. */
static inline void decide(__m128i *res, __m128i *done, __m128 m, int c)
{
    __m128i mi = _mm_andnot_si128(*done, _mm_castps_si128(m));
    *res = _mm_or_si128(_mm_andnot_si128(mi, *res), _mm_and_si128(mi, _mm_set1_epi32(c)));
    *done = _mm_or_si128(*done, mi);
}

static inline __m128i rules4(const sm_rules_params *p, __m128 blue, __m128 green, __m128 red, __m128 nir,
                             __m128 swir1, __m128 swir2)
{
    const __m128 zero = _mm_setzero_ps();
    const __m128 inf = _mm_set1_ps(INFINITY);
    __m128i res = _mm_setzero_si128(), done = _mm_setzero_si128();
#define P(f) _mm_set1_ps(p->f)
    /* finite: |x| < inf (false for NaN) */
    const __m128 absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    __m128 fin = _mm_and_ps(_mm_cmplt_ps(_mm_and_ps(red, absmask), inf), _mm_cmplt_ps(_mm_and_ps(nir, absmask), inf));
    decide(&res, &done, _mm_cmpeq_ps(fin, zero), SM_LC_NODATA); /* fin is all-ones or zero bits */
    __m128 ndvi = sm__normdiff4(nir, red);
    decide(&res, &done, _mm_cmpunord_ps(ndvi, ndvi), SM_LC_UNCLASSIFIED);
    __m128 mndwi = sm__normdiff4(green, swir1);
    __m128 ndwi = sm__normdiff4(green, nir);
    __m128 ndmi = sm__normdiff4(nir, swir1);
    __m128 hasm = _mm_cmpord_ps(mndwi, mndwi);
    /* 1. open water */
    __m128 wt = _mm_or_ps(_mm_and_ps(hasm, _mm_cmpgt_ps(mndwi, P(water_mndwi_min))),
                          _mm_andnot_ps(hasm, _mm_cmpgt_ps(ndwi, P(water_ndwi_min))));
    decide(&res, &done, _mm_and_ps(_mm_cmplt_ps(nir, P(water_nir_max)), wt), SM_LC_WATER);
    /* 2. wet surfaces */
    __m128 w1 = _mm_and_ps(_mm_and_ps(_mm_cmplt_ps(ndvi, P(wet_ndvi_max)), _mm_cmplt_ps(nir, P(wet_nir_max))),
                           _mm_cmpgt_ps(mndwi, P(wet_mndwi_min)));
    __m128 w2 = _mm_and_ps(_mm_and_ps(_mm_cmpge_ps(ndvi, P(barren_ndvi_max)), _mm_cmplt_ps(ndvi, P(wetveg_ndvi_max))),
                           _mm_and_ps(_mm_cmpge_ps(ndmi, P(wetveg_ndmi_min)), _mm_cmplt_ps(swir1, P(wetveg_swir1_max))));
    decide(&res, &done, _mm_and_ps(hasm, _mm_or_ps(w1, w2)), SM_LC_WETLAND);
    /* 3. barren */
    __m128 barren = _mm_cmplt_ps(ndvi, P(barren_ndvi_max));
    __m128 byblue = _mm_and_ps(_mm_cmpord_ps(blue, blue), _mm_cmpgt_ps(red, zero));
    __m128 flat = _mm_cmpge_ps(_mm_div_ps(blue, red), P(built_flatness_min));
    __m128 ndbi_ok = _mm_or_ps(_mm_cmpunord_ps(swir1, swir1), _mm_cmpge_ps(sm__normdiff4(swir1, nir), P(built_ndbi_min)));
    __m128 built_b = _mm_and_ps(flat, ndbi_ok);
    __m128 byswir = _mm_and_ps(_mm_and_ps(_mm_cmpord_ps(swir1, swir1), _mm_cmpord_ps(swir2, swir2)),
                               _mm_cmpgt_ps(swir1, zero));
    __m128 built_s = _mm_cmpge_ps(_mm_div_ps(swir2, swir1), P(built_swir_ratio));
    __m128 bb = _mm_and_ps(barren, byblue);
    decide(&res, &done, _mm_and_ps(bb, built_b), SM_LC_BUILT);
    decide(&res, &done, bb, SM_LC_BARE);
    __m128 bs = _mm_and_ps(barren, byswir);
    decide(&res, &done, _mm_and_ps(bs, built_s), SM_LC_BUILT);
    decide(&res, &done, bs, SM_LC_BARE);
    decide(&res, &done, barren, SM_LC_UNCLASSIFIED);
    /* 4. partial cover */
    decide(&res, &done, _mm_cmplt_ps(ndvi, P(crop_ndvi_max)), SM_LC_CROP);
    /* 5-6. woody or herbaceous */
    __m128 hasn = _mm_cmpord_ps(ndmi, ndmi);
    __m128 score = _mm_add_ps(ndvi, _mm_mul_ps(P(ndmi_weight), ndmi));
    __m128 forest = _mm_or_ps(
        _mm_and_ps(hasn, _mm_and_ps(_mm_cmpge_ps(score, P(forest_score_min)), _mm_cmpge_ps(ndvi, P(forest_ndvi_min)))),
        _mm_andnot_ps(hasn, _mm_cmpge_ps(ndvi, P(noswir_forest_ndvi))));
    __m128 shrub = _mm_or_ps(_mm_and_ps(hasn, _mm_cmpge_ps(score, P(shrub_score_min))),
                             _mm_andnot_ps(hasn, _mm_cmpge_ps(ndvi, P(noswir_shrub_ndvi))));
    __m128 bamboo = _mm_and_ps(_mm_cmpge_ps(green, P(bamboo_green_min)), _mm_cmpge_ps(nir, P(bamboo_nir_min)));
    decide(&res, &done, _mm_and_ps(forest, bamboo), SM_LC_BAMBOO);
    decide(&res, &done, forest, SM_LC_FOREST);
    decide(&res, &done, shrub, SM_LC_SHRUB);
    decide(&res, &done, _mm_castsi128_ps(_mm_set1_epi32(-1)), SM_LC_GRASS);
#undef P
    return res;
}
#endif

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
    size_t i = 0;
#if defined(__SSE2__)
    const __m128 qnan = _mm_set1_ps(NAN);
    const sm_rules_params local = *p; /* not reloaded after every store of a class (a byte may alias it) */
    for (; i + 4 <= in->n; i += 4) {
        __m128i c = rules4(&local, in->blue ? _mm_loadu_ps(in->blue + i) : qnan,
                           in->green ? _mm_loadu_ps(in->green + i) : qnan, _mm_loadu_ps(in->red + i),
                           _mm_loadu_ps(in->nir + i), in->swir1 ? _mm_loadu_ps(in->swir1 + i) : qnan,
                           in->swir2 ? _mm_loadu_ps(in->swir2 + i) : qnan);
        int32_t cl[4];
        _mm_storeu_si128((__m128i *)(void *)cl, c);
        for (int k = 0; k < 4; k++) {
            uint8_t v = (uint8_t)cl[k];
            if (in->cloud && in->cloud[i + k])
                v = SM_LC_CLOUD;
            if (in->valid && !in->valid[i + k])
                v = SM_LC_NODATA;
            out_class[i + k] = v;
        }
    }
#endif
    for (; i < in->n; i++) {
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
