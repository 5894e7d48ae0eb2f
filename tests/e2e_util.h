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

#endif
