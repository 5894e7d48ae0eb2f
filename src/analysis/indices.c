/* indices.c: spectral indices of surface reflectance (NDVI, EVI, NDWI, MNDWI, NDBI, NBR, NDMI).
 * They exist so that every module computes an index the same way, with the same guard against a
 * zero denominator. Tuned for per-pixel calls in tight loops: no branches beyond the guard. */
#include "sinkmap/indices.h"

#include <math.h>

#include "analysis/indices_inline.h"

float sm_normdiff(float a, float b) { return sm__normdiff(a, b); }

float sm_ndvi(float red, float nir) { return sm__ndvi(red, nir); }

float sm_evi(float blue, float red, float nir)
{
    float d = nir + 6.0f * red - 7.5f * blue + 1.0f;
    if (d == 0.0f || isnan(d))
        return NAN;
    return 2.5f * (nir - red) / d;
}

float sm_ndwi(float green, float nir) { return sm__ndwi(green, nir); }
float sm_mndwi(float green, float swir1) { return sm__mndwi(green, swir1); }
float sm_ndbi(float nir, float swir1) { return sm__ndbi(nir, swir1); }
float sm_nbr(float nir, float swir2) { return sm__nbr(nir, swir2); }
float sm_ndmi(float nir, float swir1) { return sm__ndmi(nir, swir1); }
