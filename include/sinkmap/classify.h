/* sinkmap/classify.h: per-pixel land-cover classification of one scene's surface reflectance.
 * The rule-based classifier is a documented decision tree on reflectance and indices; it needs
 * no training data and writes the legend codes of sinkmap/legend.h (data/landcover_legend.csv). */
#ifndef SINKMAP_CLASSIFY_H
#define SINKMAP_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/context.h"
#include "sinkmap/indices.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Legend codes written by the classifiers (see data/landcover_legend.csv). */
enum {
    SM_LC_NODATA = 0,
    SM_LC_FOREST = 1,
    SM_LC_BAMBOO = 2,
    SM_LC_SHRUB = 3,
    SM_LC_GRASS = 4,
    SM_LC_WETLAND = 5,
    SM_LC_WATER = 6,
    SM_LC_CROP = 7,
    SM_LC_BUILT = 8,
    SM_LC_BARE = 9,
    SM_LC_UNCLASSIFIED = 10,
    SM_LC_CLOUD = 11
};

/* A block of n pixels of one scene, band by band, as surface reflectance (0..1).
 * red and nir are required; any other band may be NULL when the sensor lacks it (Gaofen WFV
 * has no SWIR), and a NaN value means "absent at this pixel" (a 20 m band at the swath edge):
 * the rules that need that band are then skipped for the pixel, never guessed. */
typedef struct sm_pixel_block {
    size_t n;
    const float *blue, *green, *red, *nir, *swir1, *swir2;
    const uint8_t *valid; /* 1 valid, 0 no data; NULL: all valid */
    const uint8_t *cloud; /* 1 cloud, cloud shadow or cirrus (masked); NULL: none */
} sm_pixel_block;

/* Thresholds of the decision tree. Every default is chosen from the physics of the surface,
 * with typical Sentinel-2 L2A spectra in mind, not fitted to a data set; change them per
 * region or season in the job when the local spectra differ. The rules, in the order applied:
 *
 *  1. Open water: NIR < water_nir_max AND (MNDWI > water_mndwi_min, or without SWIR
 *     NDWI > water_ndwi_min). Water absorbs NIR and SWIR almost completely; green stays
 *     higher, so the green-vs-infrared indices are positive. NIR alone would also catch shade.
 *  2. Wet surfaces (seasonal wetland): either shallow water over mud, NDVI < wet_ndvi_max AND
 *     NIR < wet_nir_max AND MNDWI > wet_mndwi_min (a dark NIR mixed with water, not yet water);
 *     or wet vegetation, barren_ndvi_max <= NDVI < wetveg_ndvi_max AND NDMI >= wetveg_ndmi_min AND
 *     SWIR1 < wetveg_swir1_max: sedges and mud saturated with water absorb SWIR (high NDMI,
 *     low SWIR1) far more than dry grass or stubble with the same NDVI. Needs green and SWIR1.
 *  3. NDVI < barren_ndvi_max: too little green cover for vegetation. Built-up if its visible
 *     spectrum is flat, blue/red >= built_flatness_min (concrete, asphalt and roofs are grey),
 *     and NDBI >= built_ndbi_min when SWIR1 is known; bare soil otherwise (iron oxides make
 *     soil redder than blue, so blue/red is low). Without blue, SWIR2/SWIR1 >= built_swir_ratio
 *     (clay minerals give soils a deeper SWIR2 absorption); without either, unclassified.
 *  4. NDVI < crop_ndvi_max: partial cover of seasonal crops and stubble over soil: cropland.
 *  5. Woody vegetation by a canopy score s = NDVI + ndmi_weight * NDMI (NDVI alone without
 *     SWIR1): closed tree canopies combine high NDVI with much leaf water and shade (high
 *     NDMI); shrubs reach a similar NDVI with less biomass. Tree cover if s >= forest_score_min
 *     and NDVI >= forest_ndvi_min; bamboo within it when green >= bamboo_green_min and
 *     NIR >= bamboo_nir_min (culms and leaves of Sinocalamus bamboo are a bright yellow-green,
 *     far brighter in green than the shaded crowns of conifers and broadleaves).
 *  6. Shrub if s >= shrub_score_min; grassland otherwise.
 */
typedef struct sm_rules_params {
    unsigned version;         /* SM_RULES_PARAMS_VERSION */
    float water_nir_max;      /* 0.08: clear and turbid water stay below 0.05 in NIR */
    float water_mndwi_min;    /* 0.20: Xu 2006 uses 0; 0.2 keeps out wet soil and shade */
    float water_ndwi_min;     /* 0.10: McFeeters 1996 uses 0 */
    float wet_ndvi_max;       /* 0.35: flooded mud with at most sparse shoots */
    float wet_nir_max;        /* 0.13: darker in NIR than any dry soil (0.18 and up) */
    float wet_mndwi_min;      /* -0.20: wetter than dry soil (MNDWI about -0.5) */
    float wetveg_ndvi_max;    /* 0.66: denser canopies are shrub or forest */
    float wetveg_ndmi_min;    /* 0.12: dry grass, stubble and crops lie near 0 */
    float wetveg_swir1_max;   /* 0.18: dry grass and soil are 0.22 and up */
    float barren_ndvi_max;    /* 0.30: bare soil and built-up 0.1-0.25, sparse crops above */
    float built_flatness_min; /* 0.72: blue/red; grey urban surfaces 0.8-0.95, soils 0.5-0.65 */
    float built_ndbi_min;     /* -0.05: built-up reflects more in SWIR1 than in NIR */
    float built_swir_ratio;   /* 0.85: SWIR2/SWIR1 when blue is missing */
    float crop_ndvi_max;      /* 0.53: stubble and autumn fields 0.35-0.48; grass 0.55-0.7 */
    float ndmi_weight;        /* 0.5: weight of NDMI in the canopy score */
    float forest_score_min;   /* 0.86: forests 0.93-1.0, shrubs 0.75-0.8 (NDVI + 0.5 NDMI) */
    float forest_ndvi_min;    /* 0.70 */
    float shrub_score_min;    /* 0.70: grass 0.6-0.66 */
    float noswir_forest_ndvi; /* 0.76: tree cover by NDVI alone when SWIR1 is missing */
    float noswir_shrub_ndvi;  /* 0.66: shrub by NDVI alone when SWIR1 is missing */
    float bamboo_green_min;   /* 0.07: bamboo 0.08-0.09; conifers 0.04, broadleaves 0.055 */
    float bamboo_nir_min;     /* 0.30: bamboo 0.38-0.40 */
} sm_rules_params;

#define SM_RULES_PARAMS_VERSION 1
#define SM_RULES_PARAMS_INIT                                                                   \
    {                                                                                          \
        SM_RULES_PARAMS_VERSION, 0.08f, 0.20f, 0.10f, 0.35f, 0.13f, -0.20f, 0.66f, 0.12f,      \
            0.18f, 0.30f, 0.72f, -0.05f, 0.85f, 0.53f, 0.5f, 0.86f, 0.70f, 0.70f, 0.76f,       \
            0.66f, 0.07f, 0.30f                                                                \
    }

/* Classifies one pixel of reflectance; NaN marks an absent band. red and nir must be finite,
 * else the pixel is no data (0). Returns a legend code 1-10 (never 11: clouds come from the
 * mask, see sm_classify_rules). */
uint8_t sm_classify_rules_pixel(const sm_rules_params *p, float blue, float green, float red,
                                float nir, float swir1, float swir2);

/* Classifies every pixel of `in` into out_class[0..n-1]: 0 where valid is 0 or red/nir are not
 * finite, 11 where cloud is 1, else sm_classify_rules_pixel(). p may be NULL for the defaults.
 * Returns SM_ERR_INPUT (message in ctx) if red or nir is NULL or p has another version. */
sm_status sm_classify_rules(sm_context *ctx, const sm_pixel_block *in, const sm_rules_params *p,
                            uint8_t *out_class);

#ifdef __cplusplus
}
#endif
#endif
