/* tiffdec.h: a direct decoder for the common GeoTIFF layouts (internal to libsinkmap).
 * GDAL's block reads go through libtiff's codecs, whose floating-point predictor undo costs about
 * as much as the inflate itself. This decoder uses libtiff only to parse the first directory and
 * fetch raw block bytes, then inflates (libdeflate), unzstds (libzstd) or copies the block, undoes
 * the predictor and converts to double with the nodata test in one pass per row.
 * Layouts it does not handle are refused at open (*out = NULL): the caller reads them with GDAL. */
#ifndef SINKMAP_IO_TIFFDEC_H
#define SINKMAP_IO_TIFFDEC_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/context.h"

typedef struct sm_tiffdec sm_tiffdec;

/* Opens `path` to decode band `band` (1-based) directly. *out = NULL (and SM_OK) when the file
 * or the band's layout is not one the decoder handles (or libtiff cannot open it): the caller
 * then reads with GDAL. SM_ERR_NOMEM when out of memory.
 * has_nodata/nodata: the band's nodata as GDAL reports it (the caller passes GDAL's value, since
 * a .aux.xml may override the TIFF tag). A handle is not thread-safe: each thread opens its own. */
sm_status sm_tiffdec_open(sm_tiffdec **out, sm_context *ctx, const char *path, int band,
                          int has_nodata, double nodata);
/* Makes `band` the band read from now on (with its own nodata), keeping the blocks already
 * decompressed: the bands of a pixel-interleaved file share them. 0 when the file has no such
 * band (the handle is unchanged). */
int sm_tiffdec_set_band(sm_tiffdec *d, int band, int has_nodata, double nodata);
/* NULL is a no-op. */
void sm_tiffdec_close(sm_tiffdec *d);
/* The block (tile, or strip: the raster's width x RowsPerStrip) size in pixels. */
void sm_tiffdec_block_size(const sm_tiffdec *d, int64_t *bw, int64_t *bh);
/* The raster's size in pixels. */
void sm_tiffdec_size(const sm_tiffdec *d, int64_t *ncols, int64_t *nrows);

/* Reads columns [col0, col0+ncols) x rows [row0, row0+nrows) (inside the raster) into buf as
 * doubles, row r at buf + r*stride (stride in doubles); cells equal to nodata become NAN, which
 * is what GDALRasterIO to GDT_Float64 followed by `v == nodata -> NAN` gives. Decodes each
 * needed block once per call (and keeps the last block decoded for the next call). A block that
 * cannot be read or decoded: SM_ERR_INPUT with a message naming the file, the band and the
 * block's pixel column and row. A window outside the raster: SM_ERR_INTERNAL. */
sm_status sm_tiffdec_read(sm_tiffdec *d, sm_context *ctx, int64_t col0, int64_t row0,
                          int64_t ncols, int64_t nrows, double *buf, size_t stride);

/* How many window reads sm_raster_read has resampled itself from the direct decoder (a coarser
 * band split into whole target cells, src/io/raster.c), for the tests to tell that path ran. */
unsigned long sm__raster_upsampled(void);

#endif
