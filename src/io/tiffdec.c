/* tiffdec.c: a direct decoder for the common GeoTIFF layouts (see tiffdec.h).
 * libtiff parses the first directory and hands over raw block bytes; the block is inflated with
 * libdeflate, decompressed with libzstd or used as stored, into one buffer per handle. The
 * predictor is undone while each row is converted to double, so the decompressed block stays as
 * stored and can be kept for the next call (a strip of rows often starts in the block the
 * previous strip ended in). */
#include "io/tiffdec.h"

#include <libdeflate.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <zstd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/util.h"

#ifndef COMPRESSION_ZSTD
#define COMPRESSION_ZSTD 50000
#endif

/* Larger blocks (a whole big raster stored as one strip) go to GDAL, which does not need a
 * buffer for the whole block per reading thread. */
#define SM_TIFFDEC_MAX_BLOCK ((size_t)256 << 20)
#define SM_TIFFDEC_CACHE ((size_t)48 << 20)

enum { KIND_UINT, KIND_INT, KIND_FLOAT };

struct sm_tiffdec {
    TIFF *tif;
    char *path;
    int band;
    uint32_t width, height;
    uint32_t bw, bh;       /* block size: the tile, or the width x RowsPerStrip */
    uint32_t nbx, nby;     /* blocks across and down */
    int tiled;
    uint16_t plane;        /* planar separate: the band's plane; contiguous: 0 */
    size_t spp;            /* samples per pixel within a block row (1 when separate) */
    size_t sample;         /* the band's sample within a pixel (0 when separate) */
    int bytes;             /* bytes per sample: 1, 2, 4 or 8 */
    int kind;
    int predictor;         /* 1, 2 or 3 */
    int compression;
    int swap;              /* the file's byte order is not the machine's */
    double nd;             /* the nodata value compared against, NAN when none */
    double fill;           /* what a sparse block reads as (before the nodata test) */
    size_t row_bytes;      /* bytes of one decoded block row */
    size_t block_bytes;    /* bytes of one decoded block */
    unsigned char *raw;    /* the block's bytes as stored */
    size_t raw_cap;
    /* The decompressed blocks of the last windows read, so that the other bands of a
     * pixel-interleaved file (one handle reads them all, sm_tiffdec_set_band), and a window
     * read again in pieces, do not decompress a block again: at least as many as the last
     * window needed, within SM_TIFFDEC_CACHE bytes (and at least one). */
    struct block_slot {
        uint32_t strile;   /* UINT32_MAX: empty */
        uint64_t used;     /* when last used (the handle's clock) */
        unsigned char *buf;
    } *slots;
    size_t nslots;
    uint64_t clock;
    const unsigned char *data; /* the block load_block made current */
    uint16_t planes;       /* planar separate: the file's planes (bands); contiguous: 0 */
    struct libdeflate_decompressor *inflater;
    ZSTD_DCtx *zstd;
    uint64_t file_size;    /* to tell a truncated file from other read errors */
    char tiff_msg[256];    /* libtiff's last error, for the messages */
};

/* libtiff reports through these instead of printing; returning 1 keeps the global handlers
 * (which print to stderr) from running. */
static int on_tiff_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    (void)module;
    char *msg = user;
    if (msg)
        vsnprintf(msg, 256, fmt, ap);
    return 1;
}

static int on_tiff_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1;
}

/* nodata as GDAL writes it into a block of the band's type (a sparse block is filled with it),
 * read back as double: clamped to the type's range and rounded for integers. */
static double nodata_in_type(double v, int kind, int bytes)
{
    if (kind == KIND_FLOAT)
        return bytes == 4 ? (double)(float)v : v;
    if (isnan(v))
        return 0;
    double lo = 0, hi = 0;
    switch (bytes) {
    case 1: lo = 0, hi = 255; break;
    case 2: lo = kind == KIND_INT ? -32768.0 : 0, hi = kind == KIND_INT ? 32767.0 : 65535.0; break;
    case 4: lo = kind == KIND_INT ? -2147483648.0 : 0, hi = kind == KIND_INT ? 2147483647.0 : 4294967295.0; break;
    default:
        lo = kind == KIND_INT ? (double)INT64_MIN : 0;
        hi = kind == KIND_INT ? (double)INT64_MAX : (double)UINT64_MAX;
        break;
    }
    v = v < lo ? lo : v > hi ? hi : v;
    return round(v);
}

sm_status sm_tiffdec_open(sm_tiffdec **out, sm_context *ctx, const char *path, int band,
                          int has_nodata, double nodata)
{
    *out = NULL;
    sm_tiffdec *d = calloc(1, sizeof *d);
    if (!d)
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) {
        free(d);
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    }
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_tiff_error, d->tiff_msg);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_tiff_warning, NULL);
    /* "m": plain reads rather than a memory map: a block is copied out either way, and read()
     * into a reused buffer is ~10 % faster overall than page-faulting through a map (measured on
     * a 10980² DEFLATE Float32 scene), and a file truncated while open is a read error, not a
     * SIGBUS. The directory's strile arrays are read at open. */
    d->tif = TIFFOpenExt(path, "rm", opts);
    TIFFOpenOptionsFree(opts);
    if (!d->tif)
        goto refuse;
    TIFF *tif = d->tif;
    d->band = band;

    uint16_t bps = 0, fmt = SAMPLEFORMAT_UINT, spp = 1, planar = PLANARCONFIG_CONTIG;
    uint16_t compression = COMPRESSION_NONE, predictor = PREDICTOR_NONE, photometric = PHOTOMETRIC_MINISBLACK;
    uint32_t w = 0, h = 0;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h) ||
        w == 0 || h == 0 || w > INT32_MAX || h > INT32_MAX)
        goto refuse;
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
    /* No photometric tag: GDAL takes the samples as grey levels, as here. */
    TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric);
    /* Inverted grey, CMYK, YCbCr, CIELab...: GDAL may convert the samples; it reads grey, RGB
     * and palette indices as stored. */
    if (photometric != PHOTOMETRIC_MINISBLACK && photometric != PHOTOMETRIC_RGB &&
        photometric != PHOTOMETRIC_PALETTE)
        goto refuse;
    if (compression != COMPRESSION_NONE && compression != COMPRESSION_ADOBE_DEFLATE &&
        compression != COMPRESSION_DEFLATE && compression != COMPRESSION_ZSTD)
        goto refuse;
    /* The predictor tag is only known to libtiff through the codec: a libtiff built without it
     * would hide the predictor. An uncompressed file's predictor tag is ignored (by libtiff and
     * so by GDAL). */
    if (compression != COMPRESSION_NONE) {
        if (!TIFFIsCODECConfigured(compression))
            goto refuse;
        TIFFGetFieldDefaulted(tif, TIFFTAG_PREDICTOR, &predictor);
    }
    if (spp < 1 || band < 1 || band > spp)
        goto refuse;
    if (planar != PLANARCONFIG_CONTIG && planar != PLANARCONFIG_SEPARATE)
        goto refuse;
    switch (fmt) {
    case SAMPLEFORMAT_UINT: d->kind = KIND_UINT; break;
    case SAMPLEFORMAT_INT: d->kind = KIND_INT; break;
    case SAMPLEFORMAT_IEEEFP: d->kind = KIND_FLOAT; break;
    default: goto refuse; /* void, complex */
    }
    if (bps != 8 && bps != 16 && bps != 32 && bps != 64)
        goto refuse;
    /* Signed bytes: GDAL 3.6 reads them as Byte (with a PIXELTYPE=SIGNEDBYTE note); 16-bit floats
     * it widens to Float32. Left to GDAL. */
    if (bps == 8 && d->kind != KIND_UINT)
        goto refuse;
    if (d->kind == KIND_FLOAT && bps < 32)
        goto refuse;
    if (predictor != PREDICTOR_NONE && predictor != PREDICTOR_HORIZONTAL &&
        predictor != PREDICTOR_FLOATINGPOINT)
        goto refuse;
    if (predictor == PREDICTOR_FLOATINGPOINT && d->kind != KIND_FLOAT)
        goto refuse;
    d->width = w;
    d->height = h;
    d->bytes = bps / 8;
    d->predictor = predictor;
    d->compression = compression;
    d->swap = TIFFIsByteSwapped(tif) ? 1 : 0;
    if (planar == PLANARCONFIG_SEPARATE) {
        d->planes = spp;
        d->plane = (uint16_t)(band - 1);
        d->spp = 1;
        d->sample = 0;
    } else {
        d->plane = 0;
        d->spp = spp;
        d->sample = (size_t)(band - 1);
    }
    d->tiled = TIFFIsTiled(tif);
    if (d->tiled) {
        uint32_t tw = 0, th = 0;
        if (!TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw) || !TIFFGetField(tif, TIFFTAG_TILELENGTH, &th) ||
            tw == 0 || th == 0 || tw > INT32_MAX || th > INT32_MAX)
            goto refuse;
        d->bw = tw;
        d->bh = th;
    } else {
        uint32_t rps = 0;
        TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
        if (rps == 0)
            goto refuse;
        d->bw = w;
        d->bh = rps > h ? h : rps;
    }
    d->nbx = (uint32_t)(((uint64_t)w + d->bw - 1) / d->bw);
    d->nby = (uint32_t)(((uint64_t)h + d->bh - 1) / d->bh);
    /* The strile count libtiff derived from the tags must cover every block we will ask for. */
    uint32_t nstriles = d->tiled ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif);
    uint64_t want = (uint64_t)d->nbx * d->nby * (planar == PLANARCONFIG_SEPARATE ? spp : 1);
    if ((uint64_t)nstriles < want)
        goto refuse;
    if (sm_mul3_size(d->bw, d->spp, (size_t)d->bytes, &d->row_bytes) ||
        sm_mul_size(d->row_bytes, d->bh, &d->block_bytes) || d->block_bytes > SM_TIFFDEC_MAX_BLOCK)
        goto refuse;
    d->nd = has_nodata ? nodata : NAN;
    d->fill = has_nodata ? nodata_in_type(nodata, d->kind, d->bytes) : 0.0;
    if (!(d->slots = calloc(1, sizeof *d->slots)) || !(d->slots[0].buf = malloc(d->block_bytes)))
        goto nomem;
    d->slots[0].strile = UINT32_MAX;
    d->nslots = 1;
    if (compression == COMPRESSION_ADOBE_DEFLATE || compression == COMPRESSION_DEFLATE) {
        d->inflater = libdeflate_alloc_decompressor();
        if (!d->inflater)
            goto nomem;
    } else if (compression == COMPRESSION_ZSTD) {
        d->zstd = ZSTD_createDCtx();
        if (!d->zstd)
            goto nomem;
    }
    long long fsz = sm__file_size(path);
    d->file_size = fsz > 0 ? (uint64_t)fsz : UINT64_MAX;
    d->path = sm__strdup(ctx, path);
    if (!d->path) {
        sm_tiffdec_close(d);
        return SM_ERR_NOMEM;
    }
    *out = d;
    return SM_OK;
refuse:
    sm_tiffdec_close(d);
    return SM_OK;
nomem:
    sm_tiffdec_close(d);
    return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
}

void sm_tiffdec_close(sm_tiffdec *d)
{
    if (!d)
        return;
    if (d->tif)
        TIFFClose(d->tif);
    if (d->inflater)
        libdeflate_free_decompressor(d->inflater);
    if (d->zstd)
        ZSTD_freeDCtx(d->zstd);
    for (size_t k = 0; k < d->nslots; k++)
        free(d->slots[k].buf);
    free(d->slots);
    free(d->raw);
    free(d->path);
    free(d);
}

int sm_tiffdec_set_band(sm_tiffdec *d, int band, int has_nodata, double nodata)
{
    if (d->planes) {
        if (band < 1 || band > d->planes)
            return 0;
        d->plane = (uint16_t)(band - 1);
    } else {
        if (band < 1 || (size_t)band > d->spp)
            return 0;
        d->sample = (size_t)(band - 1);
    }
    d->band = band;
    d->nd = has_nodata ? nodata : NAN;
    d->fill = has_nodata ? nodata_in_type(nodata, d->kind, d->bytes) : 0.0;
    return 1;
}

/* Room for `want` blocks in the cache (within its byte budget); 0 when out of memory. */
static int cache_reserve(sm_tiffdec *d, size_t want)
{
    size_t most = SM_TIFFDEC_CACHE / d->block_bytes;
    if (want > most)
        want = most;
    if (want <= d->nslots)
        return 1;
    struct block_slot *s = realloc(d->slots, want * sizeof *s);
    if (!s)
        return 0;
    d->slots = s;
    for (; d->nslots < want; d->nslots++) {
        s[d->nslots].strile = UINT32_MAX;
        s[d->nslots].used = 0;
        if (!(s[d->nslots].buf = malloc(d->block_bytes)))
            return 0;
    }
    return 1;
}

void sm_tiffdec_block_size(const sm_tiffdec *d, int64_t *bw, int64_t *bh)
{
    *bw = d->bw;
    *bh = d->bh;
}

void sm_tiffdec_size(const sm_tiffdec *d, int64_t *ncols, int64_t *nrows)
{
    *ncols = d->width;
    *nrows = d->height;
}

/* ---- row conversion ---------------------------------------------------------------------- */

static inline uint16_t bswap16(uint16_t v) { return (uint16_t)((v >> 8) | (v << 8)); }
static inline uint32_t bswap32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint64_t bswap64(uint64_t v) { return __builtin_bswap64(v); }

/* The sample at p (of `bytes` bytes, in the file's order) as an unsigned integer in the
 * machine's order. */
static inline __attribute__((always_inline)) uint64_t load(const unsigned char *p, int bytes, int swap)
{
    switch (bytes) {
    case 1: return *p;
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return swap ? bswap16(v) : v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return swap ? bswap32(v) : v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return swap ? bswap64(v) : v;
    }
    }
}

/* The sample's bits (low `bytes` bytes of u) as the value GDAL gives in Float64. */
static inline __attribute__((always_inline)) double to_double(uint64_t u, int bytes, int kind)
{
    switch (bytes) {
    case 1: return (double)(uint8_t)u;
    case 2: return kind == KIND_INT ? (double)(int16_t)(uint16_t)u : (double)(uint16_t)u;
    case 4:
        if (kind == KIND_FLOAT) {
            uint32_t b = (uint32_t)u;
            float f;
            memcpy(&f, &b, 4);
            return (double)f;
        }
        return kind == KIND_INT ? (double)(int32_t)(uint32_t)u : (double)(uint32_t)u;
    default:
        if (kind == KIND_FLOAT) {
            double f;
            memcpy(&f, &u, 8);
            return f;
        }
        return kind == KIND_INT ? (double)(int64_t)u : (double)u;
    }
}

/* Predictor 1 or 2, one block row: samples x*spp + sample for x in [a, b) into out[0, b - a).
 * Horizontal differencing works on the integers in the machine's order (libtiff swaps before
 * adding), per sample, wrapping at the sample's width. Inlined with constant
 * bytes/kind/pred/swap so each layout gets its own tight loop. */
static inline __attribute__((always_inline)) void row_int(const unsigned char *p, size_t spp, size_t sample,
                                                          uint32_t a, uint32_t b, double nd, double *out,
                                                          int bytes, int kind, int pred, int swap)
{
    const size_t step = spp * (size_t)bytes;
    const unsigned char *q = p + sample * (size_t)bytes;
    if (pred == 2) {
        const uint64_t mask = bytes == 8 ? UINT64_MAX : (((uint64_t)1 << (8 * bytes)) - 1);
        uint64_t acc = 0;
        uint32_t x = 0;
        for (; x < a; x++, q += step)
            acc += load(q, bytes, swap);
        for (; x < b; x++, q += step) {
            acc += load(q, bytes, swap);
            double v = to_double(acc & mask, bytes, kind);
            out[x - a] = v == nd ? NAN : v;
        }
    } else {
        q += (size_t)a * step;
        for (uint32_t x = a; x < b; x++, q += step) {
            double v = to_double(load(q, bytes, swap), bytes, kind);
            out[x - a] = v == nd ? NAN : v;
        }
    }
}

#define ROW_INT_FN(name, bytes, kind, pred, swap)                                                     \
    static void name(const unsigned char *p, size_t spp, size_t sample, uint32_t a, uint32_t b,     \
                     double nd, double *out)                                                          \
    {                                                                                                 \
        row_int(p, spp, sample, a, b, nd, out, bytes, kind, pred, swap);                              \
    }
#define ROW_INT_SET(bytes, kind, tag)                      \
    ROW_INT_FN(row_##tag##_p1, bytes, kind, 1, 0)          \
    ROW_INT_FN(row_##tag##_p1s, bytes, kind, 1, 1)         \
    ROW_INT_FN(row_##tag##_p2, bytes, kind, 2, 0)          \
    ROW_INT_FN(row_##tag##_p2s, bytes, kind, 2, 1)
ROW_INT_SET(1, KIND_UINT, u8)
ROW_INT_SET(2, KIND_UINT, u16)
ROW_INT_SET(2, KIND_INT, i16)
ROW_INT_SET(4, KIND_UINT, u32)
ROW_INT_SET(4, KIND_INT, i32)
ROW_INT_SET(4, KIND_FLOAT, f32)
ROW_INT_SET(8, KIND_UINT, u64)
ROW_INT_SET(8, KIND_INT, i64)
ROW_INT_SET(8, KIND_FLOAT, f64)

typedef void (*row_fn)(const unsigned char *, size_t, size_t, uint32_t, uint32_t, double, double *);

static row_fn pick_row_int(const sm_tiffdec *d)
{
    static const row_fn table[9][4] = {
        {row_u8_p1, row_u8_p1s, row_u8_p2, row_u8_p2s},
        {row_u16_p1, row_u16_p1s, row_u16_p2, row_u16_p2s},
        {row_i16_p1, row_i16_p1s, row_i16_p2, row_i16_p2s},
        {row_u32_p1, row_u32_p1s, row_u32_p2, row_u32_p2s},
        {row_i32_p1, row_i32_p1s, row_i32_p2, row_i32_p2s},
        {row_f32_p1, row_f32_p1s, row_f32_p2, row_f32_p2s},
        {row_u64_p1, row_u64_p1s, row_u64_p2, row_u64_p2s},
        {row_i64_p1, row_i64_p1s, row_i64_p2, row_i64_p2s},
        {row_f64_p1, row_f64_p1s, row_f64_p2, row_f64_p2s},
    };
    int t;
    switch (d->bytes) {
    case 1: t = 0; break;
    case 2: t = d->kind == KIND_INT ? 2 : 1; break;
    case 4: t = d->kind == KIND_FLOAT ? 5 : d->kind == KIND_INT ? 4 : 3; break;
    default: t = d->kind == KIND_FLOAT ? 8 : d->kind == KIND_INT ? 7 : 6; break;
    }
    return table[t][(d->predictor == 2 ? 2 : 0) + d->swap];
}

/* Sum mod 256 of the bytes p[0], p[stride], ... (n of them). */
static unsigned byte_sum(const unsigned char *p, size_t n, size_t stride)
{
    unsigned s = 0;
    size_t i = 0;
    if (stride == 1) {
#if defined(__SSE2__)
        /* psadbw against zero adds 8 bytes into each 64-bit lane: 16 bytes per instruction. */
        __m128i acc = _mm_setzero_si128(), zero = _mm_setzero_si128();
        for (; i + 16 <= n; i += 16)
            acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128((const __m128i *)(p + i)), zero));
        s = (unsigned)_mm_cvtsi128_si32(acc) + (unsigned)_mm_cvtsi128_si32(_mm_unpackhi_epi64(acc, acc));
#endif
        for (; i < n; i++)
            s += p[i];
    } else {
        for (; i < n; i++)
            s += p[i * stride];
    }
    return s & 255u;
}

/* A Float32 from its four bytes, most significant first, as a double; nodata to NAN. */
static inline double f32_of(uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3, double nd)
{
    uint32_t u = (uint32_t)b0 << 24 | (uint32_t)b1 << 16 | (uint32_t)b2 << 8 | b3;
    float f;
    memcpy(&f, &u, 4);
    double v = f;
    return v == nd ? NAN : v;
}

/* Predictor 3 (floating point), one block row of wc = width*spp values of `bytes` bytes: the
 * row is stored as `bytes` planes of wc bytes, most significant byte first, and the whole
 * plane sequence is differenced byte-wise with a stride of spp bytes (one chain per sample,
 * running on from the end of one plane into the next). For value i, plane k's running sum
 * therefore starts from the sum of the earlier planes' bytes of the same sample: computed
 * first, then one pass over the values keeps the `bytes` running sums in registers and
 * assembles each value directly, without writing the undone bytes back to memory. */
static inline __attribute__((always_inline)) void row_fp(const unsigned char *p, size_t wc, size_t spp,
                                                         size_t sample, uint32_t a, uint32_t b, double nd,
                                                         double *out, int bytes)
{
    uint8_t s[8];
    const unsigned char *pl[8];
    unsigned carry = 0;
    size_t per_plane = wc / spp; /* values of this sample in a plane (the block width) */
    for (int k = 0; k < bytes; k++) {
        pl[k] = p + (size_t)k * wc + sample;
        /* Sum of the plane before the window (the earlier values feed the chains), plus the
         * earlier planes' totals. */
        s[k] = (uint8_t)(carry + byte_sum(pl[k], a, spp));
        if (k + 1 < bytes)
            carry += byte_sum(pl[k], per_plane, spp);
    }
    if (bytes == 4) {
        uint8_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
        const unsigned char *p0 = pl[0], *p1 = pl[1], *p2 = pl[2], *p3 = pl[3];
        for (size_t x = a; x < b; x++) {
            size_t i = x * spp;
            s0 = (uint8_t)(s0 + p0[i]);
            s1 = (uint8_t)(s1 + p1[i]);
            s2 = (uint8_t)(s2 + p2[i]);
            s3 = (uint8_t)(s3 + p3[i]);
            out[x - a] = f32_of(s0, s1, s2, s3, nd);
        }
    } else {
        for (size_t x = a; x < b; x++) {
            size_t i = x * spp;
            uint64_t u = 0;
            for (int k = 0; k < 8; k++) {
                s[k] = (uint8_t)(s[k] + pl[k][i]);
                u = u << 8 | s[k];
            }
            double v;
            memcpy(&v, &u, 8);
            out[x - a] = v == nd ? NAN : v;
        }
    }
}

#if defined(__SSE2__)
/* Inclusive prefix sum of the 16 bytes of v (mod 256) plus `carry` in every byte. */
static inline __m128i prefix16(__m128i v, __m128i carry)
{
    v = _mm_add_epi8(v, _mm_slli_si128(v, 1));
    v = _mm_add_epi8(v, _mm_slli_si128(v, 2));
    v = _mm_add_epi8(v, _mm_slli_si128(v, 4));
    v = _mm_add_epi8(v, _mm_slli_si128(v, 8));
    return _mm_add_epi8(v, carry);
}

/* Every byte set to byte 15 of v. */
static inline __m128i last_byte(__m128i v)
{
    return _mm_set1_epi8((char)(_mm_extract_epi16(v, 7) >> 8));
}

/* Two floats (the low half of f) to doubles, nodata to NAN, stored at out. */
static inline void store2(double *out, __m128 f, __m128d nd, __m128d nan)
{
    __m128d v = _mm_cvtps_pd(f);
    __m128d m = _mm_cmpeq_pd(v, nd);
    _mm_storeu_pd(out, _mm_or_pd(_mm_andnot_pd(m, v), _mm_and_pd(m, nan)));
}
#endif

/* Predictor 3, Float32, one sample per pixel: the common case (single-band float GeoTIFFs),
 * 16 values at a time with SSE2: each plane's 16 bytes are prefix-summed in a register, the four
 * planes interleaved into four vectors of four floats, widened to doubles and nodata-masked. */
static void row_fp32_1(const unsigned char *p, size_t wc, uint32_t a, uint32_t b, double nd, double *out)
{
#if defined(__SSE2__)
    const unsigned char *p0 = p, *p1 = p + wc, *p2 = p + 2 * wc, *p3 = p + 3 * wc;
    /* Running sums entering column a (as in row_fp). */
    unsigned c0 = byte_sum(p0, wc, 1), c1 = c0 + byte_sum(p1, wc, 1), c2 = c1 + byte_sum(p2, wc, 1);
    __m128i s0 = _mm_set1_epi8((char)byte_sum(p0, a, 1));
    __m128i s1 = _mm_set1_epi8((char)(c0 + byte_sum(p1, a, 1)));
    __m128i s2 = _mm_set1_epi8((char)(c1 + byte_sum(p2, a, 1)));
    __m128i s3 = _mm_set1_epi8((char)(c2 + byte_sum(p3, a, 1)));
    const __m128d ndv = _mm_set1_pd(nd), nan = _mm_set1_pd(NAN);
    size_t x = a;
    for (; x + 16 <= b; x += 16) {
        __m128i v0 = prefix16(_mm_loadu_si128((const __m128i *)(p0 + x)), s0);
        __m128i v1 = prefix16(_mm_loadu_si128((const __m128i *)(p1 + x)), s1);
        __m128i v2 = prefix16(_mm_loadu_si128((const __m128i *)(p2 + x)), s2);
        __m128i v3 = prefix16(_mm_loadu_si128((const __m128i *)(p3 + x)), s3);
        s0 = last_byte(v0);
        s1 = last_byte(v1);
        s2 = last_byte(v2);
        s3 = last_byte(v3);
        /* Little-endian words: byte 0 from the least significant plane (3). */
        __m128i lo32 = _mm_unpacklo_epi8(v3, v2), hi32 = _mm_unpacklo_epi8(v1, v0);
        __m128i lo32b = _mm_unpackhi_epi8(v3, v2), hi32b = _mm_unpackhi_epi8(v1, v0);
        __m128 f[4] = {
            _mm_castsi128_ps(_mm_unpacklo_epi16(lo32, hi32)),
            _mm_castsi128_ps(_mm_unpackhi_epi16(lo32, hi32)),
            _mm_castsi128_ps(_mm_unpacklo_epi16(lo32b, hi32b)),
            _mm_castsi128_ps(_mm_unpackhi_epi16(lo32b, hi32b)),
        };
        double *o = out + (x - a);
        for (int k = 0; k < 4; k++) {
            store2(o + 4 * k, f[k], ndv, nan);
            store2(o + 4 * k + 2, _mm_movehl_ps(f[k], f[k]), ndv, nan);
        }
    }
    /* The tail, scalar, from the sums reached. */
    uint8_t t0 = (uint8_t)_mm_cvtsi128_si32(s0), t1 = (uint8_t)_mm_cvtsi128_si32(s1);
    uint8_t t2 = (uint8_t)_mm_cvtsi128_si32(s2), t3 = (uint8_t)_mm_cvtsi128_si32(s3);
    for (; x < b; x++) {
        t0 = (uint8_t)(t0 + p0[x]);
        t1 = (uint8_t)(t1 + p1[x]);
        t2 = (uint8_t)(t2 + p2[x]);
        t3 = (uint8_t)(t3 + p3[x]);
        out[x - a] = f32_of(t0, t1, t2, t3, nd);
    }
#else
    row_fp(p, wc, 1, 0, a, b, nd, out, 4);
#endif
}
static void row_fp_any(const unsigned char *p, size_t wc, size_t spp, size_t sample, uint32_t a,
                       uint32_t b, double nd, double *out, int bytes)
{
    if (bytes == 4)
        row_fp(p, wc, spp, sample, a, b, nd, out, 4);
    else
        row_fp(p, wc, spp, sample, a, b, nd, out, 8);
}

/* ---- blocks ------------------------------------------------------------------------------ */

static sm_status block_error(sm_tiffdec *d, sm_context *ctx, uint32_t bx, uint32_t by, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static sm_status block_error(sm_tiffdec *d, sm_context *ctx, uint32_t bx, uint32_t by, const char *fmt, ...)
{
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    long long x0 = (long long)bx * d->bw, y0 = (long long)by * d->bh;
    long long w = (long long)d->width - x0, h = (long long)d->height - y0;
    if (w > d->bw)
        w = d->bw;
    if (h > d->bh)
        h = d->bh;
    return sm_error(ctx, SM_ERR_INPUT,
                    "%s: band %d: cannot read the block at column %lld, row %lld (%lld x %lld pixels): %s",
                    d->path, d->band, x0, y0, w, h, why);
}

/* Makes d->data the decompressed block (bx, by); *sparse = 1 for a block never written. */
static sm_status load_block(sm_tiffdec *d, sm_context *ctx, uint32_t bx, uint32_t by, int *sparse)
{
    *sparse = 0;
    uint32_t strile = d->tiled ? TIFFComputeTile(d->tif, bx * d->bw, by * d->bh, 0, d->plane)
                               : TIFFComputeStrip(d->tif, by * d->bh, d->plane);
    struct block_slot *slot = &d->slots[0];
    for (size_t k = 0; k < d->nslots; k++) {
        if (d->slots[k].strile == strile) {
            d->slots[k].used = ++d->clock;
            d->data = d->slots[k].buf;
            return SM_OK;
        }
        if (d->slots[k].used < slot->used)
            slot = &d->slots[k]; /* the least recently used, empty ones first */
    }
    slot->strile = UINT32_MAX;
    slot->used = 0;
    d->data = NULL;
    uint32_t rows = d->tiled || (by + 1) * (uint64_t)d->bh <= d->height ? d->bh : d->height - by * d->bh;
    size_t need = d->row_bytes * rows;
    int err = 0;
    d->tiff_msg[0] = '\0';
    uint64_t off = TIFFGetStrileOffsetWithErr(d->tif, strile, &err);
    uint64_t cnt = err ? 0 : TIFFGetStrileByteCountWithErr(d->tif, strile, &err);
    if (err)
        return block_error(d, ctx, bx, by, "cannot read its offset (%s)",
                           d->tiff_msg[0] ? d->tiff_msg : "libtiff error");
    if (off == 0 || cnt == 0) {
        *sparse = 1; /* GDAL reads a block never written as nodata, or 0 */
        return SM_OK;
    }
    /* Stored data never has to be much larger than the block; a larger count is corrupt, and
     * would otherwise make us allocate whatever it says. */
    if (cnt > (uint64_t)d->block_bytes + d->block_bytes / 4 + 65536)
        return block_error(d, ctx, bx, by, "its byte count (%llu) is larger than the block can need",
                           (unsigned long long)cnt);
    if (cnt > d->raw_cap) {
        size_t cap = (size_t)cnt > 2 * d->raw_cap ? (size_t)cnt : 2 * d->raw_cap;
        unsigned char *r = realloc(d->raw, cap);
        if (!r)
            return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
        d->raw = r;
        d->raw_cap = cap;
    }
    if (off > d->file_size || cnt > d->file_size - off)
        return block_error(d, ctx, bx, by, "the file ends inside its data (%llu bytes at offset %llu; the file "
                           "has %llu): truncated file", (unsigned long long)cnt, (unsigned long long)off,
                           (unsigned long long)d->file_size);
    tmsize_t got = d->tiled ? TIFFReadRawTile(d->tif, strile, d->raw, (tmsize_t)cnt)
                            : TIFFReadRawStrip(d->tif, strile, d->raw, (tmsize_t)cnt);
    if (got != (tmsize_t)cnt)
        return block_error(d, ctx, bx, by, "read error (%s)",
                           d->tiff_msg[0] ? d->tiff_msg : "short read");
    size_t have;
    if (d->compression == COMPRESSION_NONE) {
        have = (size_t)cnt < d->block_bytes ? (size_t)cnt : d->block_bytes;
        memcpy(slot->buf, d->raw, have);
    } else if (d->inflater) {
        size_t in_used = 0;
        enum libdeflate_result r = libdeflate_zlib_decompress_ex(d->inflater, d->raw, (size_t)cnt, slot->buf,
                                                                 d->block_bytes, &in_used, &have);
        if (r != LIBDEFLATE_SUCCESS)
            return block_error(d, ctx, bx, by, "%s",
                               r == LIBDEFLATE_INSUFFICIENT_SPACE ? "its DEFLATE data decompresses to more than a block"
                                                                  : "corrupt DEFLATE data");
    } else {
        size_t r = ZSTD_decompressDCtx(d->zstd, slot->buf, d->block_bytes, d->raw, (size_t)cnt);
        if (ZSTD_isError(r))
            return block_error(d, ctx, bx, by, "corrupt ZSTD data (%s)", ZSTD_getErrorName(r));
        have = r;
    }
    if (have < need)
        return block_error(d, ctx, bx, by, "it holds %zu bytes, %zu expected", have, need);
    slot->strile = strile;
    slot->used = ++d->clock;
    d->data = slot->buf;
    return SM_OK;
}

sm_status sm_tiffdec_read(sm_tiffdec *d, sm_context *ctx, int64_t col0, int64_t row0, int64_t ncols,
                          int64_t nrows, double *buf, size_t stride)
{
    if (col0 < 0 || row0 < 0 || ncols < 0 || nrows < 0 || col0 + ncols > d->width ||
        row0 + nrows > d->height || (nrows > 1 && stride < (size_t)ncols))
        return sm_error(ctx, SM_ERR_INTERNAL, "%s: band %d: window (%lld, %lld, %lld x %lld) outside the raster",
                        d->path, d->band, (long long)col0, (long long)row0, (long long)ncols, (long long)nrows);
    if (ncols == 0 || nrows == 0)
        return SM_OK;
    row_fn fn_int = d->predictor == 3 ? NULL : pick_row_int(d);
    double fill = d->fill == d->nd ? NAN : d->fill;
    size_t wc = (size_t)d->bw * d->spp;
    uint32_t bx0 = (uint32_t)(col0 / d->bw), bx1 = (uint32_t)((col0 + ncols - 1) / d->bw);
    uint32_t by0 = (uint32_t)(row0 / d->bh), by1 = (uint32_t)((row0 + nrows - 1) / d->bh);
    if (!cache_reserve(d, (size_t)(bx1 - bx0 + 1) * (size_t)(by1 - by0 + 1)))
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    for (uint32_t by = by0; by <= by1; by++) {
        int64_t y0 = (int64_t)by * d->bh;
        int64_t ya = row0 > y0 ? row0 : y0;
        int64_t yb = row0 + nrows < y0 + d->bh ? row0 + nrows : y0 + d->bh;
        for (uint32_t bx = bx0; bx <= bx1; bx++) {
            int64_t x0 = (int64_t)bx * d->bw;
            /* Columns of the block to copy: [a, b) in block coordinates. */
            uint32_t a = (uint32_t)(col0 > x0 ? col0 - x0 : 0);
            uint32_t b = (uint32_t)((col0 + ncols < x0 + d->bw ? col0 + ncols : x0 + d->bw) - x0);
            int sparse = 0;
            sm_status st = load_block(d, ctx, bx, by, &sparse);
            if (st != SM_OK)
                return st;
            for (int64_t y = ya; y < yb; y++) {
                double *out = buf + (size_t)(y - row0) * stride + (size_t)(x0 + a - col0);
                if (sparse) {
                    for (uint32_t x = a; x < b; x++)
                        out[x - a] = fill;
                    continue;
                }
                const unsigned char *p = d->data + (size_t)(y - y0) * d->row_bytes;
                if (fn_int)
                    fn_int(p, d->spp, d->sample, a, b, d->nd, out);
                else if (d->spp == 1 && d->bytes == 4)
                    row_fp32_1(p, wc, a, b, d->nd, out);
                else
                    row_fp_any(p, wc, d->spp, d->sample, a, b, d->nd, out, d->bytes);
            }
        }
    }
    return SM_OK;
}
