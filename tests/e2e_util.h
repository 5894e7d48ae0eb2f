/* e2e_util.h: helpers for the end-to-end tests that run the sinkmap program.
 * Run the CLI with arguments, capture its exit code and stderr, make temporary folders,
 * copy files; header-only so that each test program stays self-contained. */
#ifndef SINKMAP_E2E_UTIL_H
#define SINKMAP_E2E_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Runs `SM_CLI args` (args already shell-quoted) with stderr captured into err (at most n bytes).
 * Returns the exit code, or -1 when the program did not exit normally. */
static inline int e2e_run(char *err, size_t n, const char *fmt, ...)
{
    char args[4096], cmd[8192], errpath[] = "/tmp/sinkmap-e2e-err-XXXXXX";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int fd = mkstemp(errpath);
    if (fd < 0)
        return -1;
    snprintf(cmd, sizeof cmd, "'%s' %s 2>'%s' >/dev/null", SM_CLI, args, errpath);
    int rc = system(cmd);
    FILE *f = fopen(errpath, "r");
    size_t got = 0;
    if (f && err && n > 0) {
        got = fread(err, 1, n - 1, f);
        err[got] = '\0';
    }
    if (f)
        fclose(f);
    remove(errpath);
    (void)fd;
    if (rc == -1 || !WIFEXITED(rc))
        return -1;
    return WEXITSTATUS(rc);
}

/* Creates a fresh temporary folder; returns its path in buf. */
static inline const char *e2e_tmpdir(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "/tmp/sinkmap-e2e-%s-XXXXXX", tag);
    return mkdtemp(buf);
}

static inline int e2e_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return (rc != -1 && WIFEXITED(rc)) ? WEXITSTATUS(rc) : -1;
}

static inline int e2e_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of lines in s (a final line without a newline counts). */
static inline int e2e_lines(const char *s)
{
    int n = 0;
    for (const char *p = s; *p; p++)
        if (*p == '\n')
            n++;
    if (*s && s[strlen(s) - 1] != '\n')
        n++;
    return n;
}

/* The whole file as a NUL-terminated string (malloc'd), or NULL. */
static inline char *e2e_read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

/* Replaces every `from` in s by `to`: a new string; s is freed. */
static inline char *e2e_replace(char *s, const char *from, const char *to)
{
    size_t count = 0, lf = strlen(from), lt = strlen(to);
    for (const char *p = strstr(s, from); p; p = strstr(p + lf, from))
        count++;
    char *out = malloc(strlen(s) + count * lt + 1), *o = out;
    if (!out) {
        free(s);
        return NULL;
    }
    const char *p = s;
    for (const char *q; (q = strstr(p, from)) != NULL; p = q + lf) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, lt);
        o += lt;
    }
    strcpy(o, p);
    free(s);
    return out;
}

#endif
