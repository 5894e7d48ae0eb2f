/* sinkmap/context.h: the library context, status codes, messages and progress.
 * Every fallible function takes an sm_context and returns an sm_status; the
 * message that explains a failure (naming the file, field or value) stays in the context. */
#ifndef SINKMAP_CONTEXT_H
#define SINKMAP_CONTEXT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SINKMAP_VERSION_MAJOR 0
#define SINKMAP_VERSION_MINOR 1
#define SINKMAP_VERSION_PATCH 0
#define SINKMAP_VERSION "0.1.0"

/* Status codes. The command line maps them to exit codes: SM_ERR_INPUT -> 2,
 * SM_ERR_CANCELLED -> 3, every other failure -> 1. */
typedef enum sm_status {
    SM_OK = 0,
    SM_ERR_INTERNAL = 1,  /* a bug: an invariant did not hold */
    SM_ERR_INPUT = 2,     /* bad usage or bad input: the message names it */
    SM_ERR_CANCELLED = 3, /* a progress callback asked to stop */
    SM_ERR_NOMEM = 4,     /* out of memory, or a size that overflows */
    SM_ERR_IO = 5         /* a write or read failed for a reason outside the input's content */
} sm_status;

typedef struct sm_context sm_context;

/* Progress in GDALProgressFunc's shape: complete in [0,1]; return 0 to cancel. */
typedef int (*sm_progress_fn)(double complete, const char *message, void *arg);

/* Where warnings go. The default writes "sinkmap: warning: MSG" to stderr. */
typedef void (*sm_log_fn)(const char *message, void *arg);

/* Creates a context. Caller frees it with sm_context_destroy(). Returns NULL if out of memory. */
sm_context *sm_context_create(void);
/* Frees the context; NULL is a no-op. */
void sm_context_destroy(sm_context *ctx);

/* Records a failure message (printf-style) and returns `status`, so callers write
 * `return sm_error(ctx, SM_ERR_INPUT, "%s: field '%s' not found", path, name);`. */
sm_status sm_error(sm_context *ctx, sm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
sm_status sm_verror(sm_context *ctx, sm_status status, const char *fmt, va_list ap);

/* The last failure message ("" when none). Owned by the context. */
const char *sm_context_message(const sm_context *ctx);
sm_status sm_context_status(const sm_context *ctx);
void sm_context_clear(sm_context *ctx);

/* Warnings: passed to the log callback and counted. */
void sm_warn(sm_context *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sm_context_set_log(sm_context *ctx, sm_log_fn fn, void *arg);
size_t sm_context_warning_count(const sm_context *ctx);

/* Progress callback used by long operations started with this context (may be NULL). */
void sm_context_set_progress(sm_context *ctx, sm_progress_fn fn, void *arg);
/* Reports progress; returns SM_ERR_CANCELLED (with a message) if the callback asked to stop. */
sm_status sm_progress(sm_context *ctx, double complete, const char *message);

/* The GEOS reentrant handle of this context (created on first use; owned by the context).
 * Returned as void* so that this header does not require geos_c.h; cast to GEOSContextHandle_t. */
void *sm_context_geos(sm_context *ctx);

/* Checked size arithmetic: returns 0 and sets *out on success, -1 on overflow. */
int sm_mul_size(size_t a, size_t b, size_t *out);
int sm_mul3_size(size_t a, size_t b, size_t c, size_t *out);

/* Allocation helpers that record "out of memory" in ctx on failure. */
void *sm_malloc(sm_context *ctx, size_t n);
void *sm_calloc(sm_context *ctx, size_t count, size_t size);
void *sm_realloc(sm_context *ctx, void *p, size_t n);

const char *sm_version(void);

#ifdef __cplusplus
}
#endif
#endif
