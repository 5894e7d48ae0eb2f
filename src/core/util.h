/* util.h: small internal helpers shared between files (strings, paths, files).
 * Internal to libsinkmap (sm__ prefix); not part of the public API.
 * Nothing here is on a hot path. */
#ifndef SINKMAP_UTIL_H
#define SINKMAP_UTIL_H

#include <stddef.h>

#include <stdio.h>

#include "sinkmap/context.h"

/* strdup that records "out of memory" in ctx; NULL in, NULL out. */
char *sm__strdup(sm_context *ctx, const char *s);
/* printf into a new string; caller frees. */
char *sm__asprintf(sm_context *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* `rel` resolved against folder `dir` (unchanged when absolute or dir is NULL/""). */
char *sm__path_join(sm_context *ctx, const char *dir, const char *rel);
/* The folder part of a path ("." when none); caller frees. */
char *sm__path_dirname(sm_context *ctx, const char *path);
/* The last component of a path (a pointer into `path`). */
const char *sm__path_basename(const char *path);
/* 1 if the path exists and is a regular file / a folder. */
int sm__file_exists(const char *path);
int sm__dir_exists(const char *path);
/* Creates a folder and its parents (like mkdir -p). */
sm_status sm__mkdir_p(sm_context *ctx, const char *path);
/* Opens dir/name.tmp for writing, to be committed to dir/name with sm__file_commit: *path and
 * *tmp receive both names (caller frees them with free(), also on failure), *f the stream. */
sm_status sm__file_begin(sm_context *ctx, const char *dir, const char *name, char **path, char **tmp, FILE **f);
/* Closes f, written to `tmp`, and renames tmp to `path`; on any write or close error the error
 * names tmp. f is closed in every case. */
sm_status sm__file_commit(sm_context *ctx, FILE *f, const char *tmp, const char *path);
/* Removes a folder and everything in it; missing is fine. */
void sm__rm_rf(const char *path);
/* Trims ASCII white space in place; returns s. */
char *sm__trim(char *s);
/* Case-insensitive ASCII compare. */
int sm__strieq(const char *a, const char *b);
/* Size of a file in bytes, -1 if unknown. */
long long sm__file_size(const char *path);
/* Seconds since an arbitrary epoch, monotonic. */
double sm__now(void);

#endif
