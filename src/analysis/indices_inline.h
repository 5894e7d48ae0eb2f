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

#endif
