/* sinkmap/indices.h: spectral indices of surface reflectance (0..1), as DOMAIN.md §3 defines them.
 * Every index is NaN-safe: a zero denominator, or a NaN input, gives NaN (never inf, never a
 * trap), so callers can test isnan() and fall back to rules that do not need the index. */
#ifndef SINKMAP_INDICES_H
#define SINKMAP_INDICES_H

#ifdef __cplusplus
extern "C" {
#endif

/* Normalized difference (a - b) / (a + b); NaN when a + b == 0 or an input is NaN. */
float sm_normdiff(float a, float b);

/* NDVI = (NIR - red) / (NIR + red). */
float sm_ndvi(float red, float nir);
/* EVI = 2.5 (NIR - red) / (NIR + 6 red - 7.5 blue + 1) (Huete et al. 2002). */
float sm_evi(float blue, float red, float nir);
/* NDWI (McFeeters 1996) = (green - NIR) / (green + NIR): open water > 0. */
float sm_ndwi(float green, float nir);
/* MNDWI (Xu 2006) = (green - SWIR1) / (green + SWIR1): water > 0, built-up < 0. */
float sm_mndwi(float green, float swir1);
/* NDBI = (SWIR1 - NIR) / (SWIR1 + NIR): built-up and bare soil > 0. */
float sm_ndbi(float nir, float swir1);
/* NBR = (NIR - SWIR2) / (NIR + SWIR2); dNBR = NBR_before - NBR_after marks forest loss. */
float sm_nbr(float nir, float swir2);
/* NDMI = (NIR - SWIR1) / (NIR + SWIR1): canopy water content. */
float sm_ndmi(float nir, float swir1);

#ifdef __cplusplus
}
#endif
#endif
