/* indices_inline.h: the normalized differences of sinkmap/indices.h as inline functions, for the
 * per-pixel loops of the library (the classifier, the scene pass), which the compiler cannot
 * inline across files. indices.c defines the public functions with these, so both give the same
 * floats. Internal to libsinkmap. */
#ifndef SINKMAP_ANALYSIS_INDICES_INLINE_H
#define SINKMAP_ANALYSIS_INDICES_INLINE_H

#include <math.h>

static inline float sm__normdiff(float a, float b)
{
    float s = a + b;
    if (s == 0.0f || isnan(s))
        return NAN;
    return (a - b) / s;
}
static inline float sm__ndvi(float red, float nir) { return sm__normdiff(nir, red); }
static inline float sm__ndwi(float green, float nir) { return sm__normdiff(green, nir); }
static inline float sm__mndwi(float green, float swir1) { return sm__normdiff(green, swir1); }
static inline float sm__ndbi(float nir, float swir1) { return sm__normdiff(swir1, nir); }
static inline float sm__nbr(float nir, float swir2) { return sm__normdiff(nir, swir2); }
static inline float sm__ndmi(float nir, float swir1) { return sm__normdiff(nir, swir1); }

#if defined(__SSE2__)
#include <emmintrin.h>
/* sm__normdiff on four lanes: the same operations, so the same floats (NaN where a + b is 0 or
 * NaN). */
static inline __m128 sm__normdiff4(__m128 a, __m128 b)
{
    __m128 s = _mm_add_ps(a, b);
    __m128 q = _mm_div_ps(_mm_sub_ps(a, b), s);
    __m128 ok = _mm_and_ps(_mm_cmpneq_ps(s, _mm_setzero_ps()), _mm_cmpord_ps(s, s));
    return _mm_or_ps(_mm_and_ps(ok, q), _mm_andnot_ps(ok, _mm_set1_ps(NAN)));
}
#endif

#endif
