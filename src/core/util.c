/* util.c: small internal helpers (strings, paths, folders, clocks).
 * Kept apart so that every module uses one definition of path joining and
 * one way to create and remove folders. */
#include "core/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *sm__strdup(sm_context *ctx, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = sm_malloc(ctx, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *sm__asprintf(sm_context *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = sm_malloc(ctx, (size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *sm__path_join(sm_context *ctx, const char *dir, const char *rel)
{
    if (!rel)
        return NULL;
    if (rel[0] == '/' || !dir || !dir[0] || strcmp(dir, ".") == 0)
        return sm__strdup(ctx, rel);
    size_t n = strlen(dir);
    return sm__asprintf(ctx, "%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", rel);
}

char *sm__path_dirname(sm_context *ctx, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return sm__strdup(ctx, ".");
    if (slash == path)
        return sm__strdup(ctx, "/");
    size_t n = (size_t)(slash - path);
    char *d = sm_malloc(ctx, n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

const char *sm__path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int sm__file_exists(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int sm__dir_exists(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

sm_status sm__mkdir_p(sm_context *ctx, const char *path)
{
    char *p = sm__strdup(ctx, path);
    if (!p)
        return SM_ERR_NOMEM;
    sm_status st = SM_OK;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                st = sm_error(ctx, SM_ERR_IO, "%s: cannot create folder: %s", p, strerror(errno));
                break;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    if (st == SM_OK && !sm__dir_exists(path))
        st = sm_error(ctx, SM_ERR_IO, "%s: exists and is not a folder", path);
    free(p);
    return st;
}

sm_status sm__file_begin(sm_context *ctx, const char *dir, const char *name, char **path, char **tmp, FILE **f)
{
    *f = NULL;
    *path = sm__asprintf(ctx, "%s/%s", dir, name);
    *tmp = sm__asprintf(ctx, "%s/%s.tmp", dir, name);
    if (!*path || !*tmp)
        return SM_ERR_NOMEM;
    if (!(*f = fopen(*tmp, "w")))
        return sm_error(ctx, SM_ERR_IO, "%s: cannot create", *tmp);
    return SM_OK;
}

sm_status sm__file_commit(sm_context *ctx, FILE *f, const char *tmp, const char *path)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return sm_error(ctx, SM_ERR_IO, "%s: write failed", tmp);
    if (rename(tmp, path) != 0)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot rename into place", path);
    return SM_OK;
}

void sm__rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                size_t n = strlen(path) + strlen(e->d_name) + 2;
                char *child = malloc(n);
                if (!child)
                    continue;
                snprintf(child, n, "%s/%s", path, e->d_name);
                sm__rm_rf(child);
                free(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

char *sm__trim(char *s)
{
    if (!s)
        return s;
    char *b = s;
    while (*b && isspace((unsigned char)*b))
        b++;
    size_t n = strlen(b);
    while (n > 0 && isspace((unsigned char)b[n - 1]))
        n--;
    memmove(s, b, n);
    s[n] = '\0';
    return s;
}

int sm__strieq(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    return *a == *b;
}

long long sm__file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (long long)st.st_size;
}

double sm__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
