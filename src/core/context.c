/* context.c: the sinkmap context: last error message, warnings, progress, GEOS handle.
 * One context is used by one thread at a time (as GEOS's handles are); worker threads
 * get their own. Tuned for nothing: it is touched once per message, never per pixel. */
#include "sinkmap/context.h"

#include <geos_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sm_context {
    sm_status status;
    char message[2048];
    sm_log_fn log_fn;
    void *log_arg;
    size_t warnings;
    sm_progress_fn progress_fn;
    void *progress_arg;
    GEOSContextHandle_t geos;
};

static void default_log(const char *message, void *arg)
{
    (void)arg;
    fprintf(stderr, "sinkmap: warning: %s\n", message);
}

static void geos_notice(const char *msg, void *arg)
{
    (void)msg;
    (void)arg;
}

static void geos_error(const char *msg, void *arg)
{
    sm_context *ctx = arg;
    snprintf(ctx->message, sizeof ctx->message, "GEOS: %s", msg);
}

sm_context *sm_context_create(void)
{
    sm_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->log_fn = default_log;
    return ctx;
}

void sm_context_destroy(sm_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->geos)
        GEOS_finish_r(ctx->geos);
    free(ctx);
}

sm_status sm_verror(sm_context *ctx, sm_status status, const char *fmt, va_list ap)
{
    if (!ctx)
        return status;
    /* Format aside first: the arguments may include the context's own message. */
    char buf[sizeof ctx->message];
    vsnprintf(buf, sizeof buf, fmt, ap);
    memcpy(ctx->message, buf, sizeof buf);
    ctx->status = status;
    return status;
}

sm_status sm_error(sm_context *ctx, sm_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sm_verror(ctx, status, fmt, ap);
    va_end(ap);
    return status;
}

const char *sm_context_message(const sm_context *ctx) { return ctx ? ctx->message : ""; }
sm_status sm_context_status(const sm_context *ctx) { return ctx ? ctx->status : SM_OK; }

void sm_context_clear(sm_context *ctx)
{
    if (!ctx)
        return;
    ctx->status = SM_OK;
    ctx->message[0] = '\0';
}

void sm_warn(sm_context *ctx, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!ctx) {
        default_log(buf, NULL);
        return;
    }
    ctx->warnings++;
    if (ctx->log_fn)
        ctx->log_fn(buf, ctx->log_arg);
}

void sm_context_set_log(sm_context *ctx, sm_log_fn fn, void *arg)
{
    ctx->log_fn = fn;
    ctx->log_arg = arg;
}

size_t sm_context_warning_count(const sm_context *ctx) { return ctx ? ctx->warnings : 0; }

void sm_context_set_progress(sm_context *ctx, sm_progress_fn fn, void *arg)
{
    ctx->progress_fn = fn;
    ctx->progress_arg = arg;
}

sm_status sm_progress(sm_context *ctx, double complete, const char *message)
{
    if (!ctx || !ctx->progress_fn)
        return SM_OK;
    if (!ctx->progress_fn(complete, message, ctx->progress_arg))
        return sm_error(ctx, SM_ERR_CANCELLED, "cancelled by the caller");
    return SM_OK;
}

void *sm_context_geos(sm_context *ctx)
{
    if (!ctx->geos) {
        ctx->geos = GEOS_init_r();
        if (ctx->geos) {
            GEOSContext_setNoticeMessageHandler_r(ctx->geos, geos_notice, ctx);
            GEOSContext_setErrorMessageHandler_r(ctx->geos, geos_error, ctx);
        }
    }
    return ctx->geos;
}

int sm_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

int sm_mul3_size(size_t a, size_t b, size_t c, size_t *out)
{
    size_t ab;
    if (sm_mul_size(a, b, &ab))
        return -1;
    return sm_mul_size(ab, c, out);
}

void *sm_malloc(sm_context *ctx, size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        sm_error(ctx, SM_ERR_NOMEM, "out of memory (%zu bytes)", n);
    return p;
}

void *sm_calloc(sm_context *ctx, size_t count, size_t size)
{
    size_t n;
    if (sm_mul_size(count, size, &n)) {
        sm_error(ctx, SM_ERR_NOMEM, "size overflow: %zu x %zu", count, size);
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        sm_error(ctx, SM_ERR_NOMEM, "out of memory (%zu bytes)", n);
    return p;
}

void *sm_realloc(sm_context *ctx, void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        sm_error(ctx, SM_ERR_NOMEM, "out of memory (%zu bytes)", n);
    return q;
}

const char *sm_version(void) { return SINKMAP_VERSION; }
