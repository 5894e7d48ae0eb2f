/* sinkmap/raster.h: raster sources (read by windows of a target grid) and writers.
 * The GDAL adapter: every raster is read window by window, never whole, and a window of a
 * coarser or finer raster on the same CRS is resampled on the fly onto the target grid. */
#ifndef SINKMAP_RASTER_H
#define SINKMAP_RASTER_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/context.h"
#include "sinkmap/grid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sm_raster sm_raster;

typedef enum sm_resample {
    SM_RESAMPLE_NEAREST = 0,
    SM_RESAMPLE_BILINEAR = 1,
    SM_RESAMPLE_AVERAGE = 2
} sm_resample;

/* Opens a raster for reading. Errors (SM_ERR_INPUT) name the file: missing, unreadable,
 * rotated geotransform, no CRS. Caller frees with sm_raster_close(). */
sm_status sm_raster_open(sm_raster **out, sm_context *ctx, const char *path);
void sm_raster_close(sm_raster *r);

/* Opens a raster to be read on `target` (a grid in CRS `target_wkt`): when its CRS differs,
 * GDAL's warper reprojects it on the fly (a warped VRT over the whole target grid, no
 * temporary file) with `resample`; when the CRS is the same it is opened as is and windows
 * are resampled by sm_raster_read. Errors name the file and both CRSs when no transformation
 * exists. Caller frees with sm_raster_close(). */
sm_status sm_raster_open_on_grid(sm_raster **out, sm_context *ctx, const char *path,
                                 const sm_grid *target, const char *target_wkt,
                                 sm_resample resample);
/* The analysis grid of a job, from the raster at `path` (the first scene's first raster) and
 * the job's [grid] choices: `crs` (any definition GDAL/PROJ reads; NULL = the raster's own),
 * cell size `resx` × `resy` (0 = the raster's when the CRS is its own, else GDAL's suggested
 * warp resolution), `extent` (xmin, ymin, xmax, ymax in that CRS; NULL = the raster's footprint
 * there). With no choice at all the grid is the raster's exactly; otherwise its edges are
 * snapped outward to whole multiples of the cell size, so that grids of other jobs align.
 * `job_path` names the job in errors: an unknown or non-projected CRS, no transformation from
 * the raster's CRS, a grid too large (more than 2^31 - 1 cells a side or 2^53 in all). On
 * success *wkt is the CRS as WKT2 (caller frees with free()). */
sm_status sm_raster_define_grid(sm_context *ctx, const char *path, const char *job_path,
                                const char *crs, double resx, double resy, const double *extent,
                                sm_grid *grid, char **wkt);

/* Opens the same raster again, the same way (for another thread: GDAL handles are not shared
 * between threads). Caller frees with sm_raster_close(). */
sm_status sm_raster_reopen(sm_raster **out, sm_context *ctx, const sm_raster *r);
/* 1 when the raster is warped on the fly from another CRS. */
int sm_raster_is_warped(const sm_raster *r);

const char *sm_raster_path(const sm_raster *r);
sm_grid sm_raster_grid(const sm_raster *r);
/* The extent of the file's own cells in the CRS it is read in (for a warped raster: its
 * footprint transformed to the target CRS, which may be smaller than the target grid). */
void sm_raster_footprint(const sm_raster *r, double *xmin, double *ymin, double *xmax, double *ymax);
int sm_raster_band_count(const sm_raster *r);
/* The CRS as WKT (owned by the raster). */
const char *sm_raster_crs_wkt(const sm_raster *r);
/* 1 if both rasters' CRSs are the same. */
int sm_raster_same_crs(const sm_raster *a, const sm_raster *b);
/* Band nodata value; returns 0 when the band has none. */
int sm_raster_nodata(const sm_raster *r, int band, double *value);
/* The band's description ("" if none), owned by the raster. */
const char *sm_raster_band_description(const sm_raster *r, int band);
/* Reflectance scale and offset of a band from the file, as refl = (DN + offset) * scale:
 * BOA_ADD_OFFSET / BOA_QUANTIFICATION_VALUE metadata (Sentinel-2 L2A convention), else the
 * band's own GDAL scale/offset (refl = DN * s + o, converted), else 1 and 0. Returns the
 * name of the source used ("BOA_ADD_OFFSET", "band scale/offset", "none"). */
const char *sm_raster_reflectance_scaling(const sm_raster *r, int band, double *scale,
                                          double *offset);

/* Reads `band` (1-based) over window `win` of `target` (a grid on the same CRS, any cell
 * size) into `buf` (win.nrows * win.ncols doubles, row-major), resampling when the raster's
 * grid differs. Cells outside the raster or equal to its nodata get NAN. Errors name the file,
 * the band and the window (a corrupt block). */
sm_status sm_raster_read(sm_raster *r, sm_context *ctx, int band, const sm_grid *target,
                         const sm_window *win, sm_resample resample, double *buf);

/* ---- writing ---- */

typedef struct sm_raster_writer sm_raster_writer;

typedef enum sm_pixel_type { SM_PIXEL_BYTE = 1, SM_PIXEL_FLOAT32 = 6 } sm_pixel_type;

typedef struct sm_class_entry {
    int code;
    const char *name; /* category name */
    uint8_t r, g, b;
} sm_class_entry;

typedef struct sm_raster_writer_options {
    int version;
    sm_pixel_type type;
    int nbands;
    double nodata;
    int has_nodata;
    const char *description; /* band description (band 1) */
    const char *unit;        /* unit type */
    const sm_class_entry *classes; /* a class map: color table and category names */
    size_t nclasses;
    int categorical; /* overviews by MODE (classes) or AVERAGE (continuous) */
    int threads;     /* threads compressing the COG's tiles (0 = one per core); the bytes are
                        the same for any number */
} sm_raster_writer_options;
#define SM_RASTER_WRITER_OPTIONS_INIT {1, SM_PIXEL_BYTE, 1, 0, 0, NULL, NULL, NULL, 0, 0, 0}

/* Creates `path` as a tiled, compressed GeoTIFF on `grid` in CRS `wkt`. Windows are written
 * with sm_raster_writer_write(); sm_raster_writer_finish() builds the overviews and rewrites
 * it as a Cloud-Optimized GeoTIFF with statistics. Data go to a temporary file beside `path`
 * until finish succeeds. Caller frees with sm_raster_writer_destroy() (which discards an
 * unfinished file). */
sm_status sm_raster_writer_create(sm_raster_writer **out, sm_context *ctx, const char *path,
                                  const sm_grid *grid, const char *wkt,
                                  const sm_raster_writer_options *opt);
/* Writes band `band` over window `win` from buf (doubles, row-major). */
sm_status sm_raster_writer_write(sm_raster_writer *w, sm_context *ctx, int band,
                                 const sm_window *win, const double *buf);
/* The same from a buffer of `type` (uint8_t or float) whose rows are `stride` pixels apart: no
 * conversion where it is the band's own type. */
sm_status sm_raster_writer_write_typed(sm_raster_writer *w, sm_context *ctx, int band, const sm_window *win,
                                       sm_pixel_type type, const void *buf, size_t stride);
sm_status sm_raster_writer_finish(sm_raster_writer *w, sm_context *ctx);
void sm_raster_writer_destroy(sm_raster_writer *w);

/* One-time GDAL registration (safe to call many times). */
void sm_gdal_init(void);

#ifdef __cplusplus
}
#endif
#endif
