/* test_params_cli.c: `sinkmap params check` through the CLI: the shipped tables list exactly the
 * rows whose verified column is not yes (counted here by reading the CSV files independently),
 * and broken copies of a table exit 2 naming the file and the line. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e_util.h"

#define DATA SM_SOURCE_DIR "/data"

static const char *const TABLES[] = {"landcover_legend.csv", "dilei_landcover.csv",
                                     "species_groups.csv",   "species_map.csv",
                                     "growth_richards.csv",  "pools_invest.csv",
                                     "bamboo_culms.csv"};
#define NTABLES (sizeof TABLES / sizeof TABLES[0])

static char tmp[256];

/* Runs `SM_CLI args` with stdout and stderr captured (each malloc'ed; caller frees). */
static int run(char **out, char **err, const char *fmt, ...)
{
    char args[4096], cmd[8192], op[300], ep[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(op, sizeof op, "%s/stdout.txt", tmp);
    snprintf(ep, sizeof ep, "%s/stderr.txt", tmp);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", SM_CLI, args, op, ep);
    int rc = e2e_sh("%s", cmd);
    *out = e2e_read_all(op);
    *err = e2e_read_all(ep);
    return rc;
}

/* A minimal RFC 4180 reader for the oracle: calls fn(fields, nfields, line, arg) per record
 * (line = the physical line it starts on); skips records whose fields are all empty. */
typedef void (*record_fn)(char **fields, size_t n, long line, void *arg);

static void parse_csv(const char *text, record_fn fn, void *arg)
{
    const char *p = text;
    long line = 1;
    if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF)
        p += 3;
    while (*p) {
        char *fields[64];
        size_t nf = 0;
        long start = line;
        int nonempty = 0;
        for (;;) {
            size_t cap = 64, len = 0;
            char *f = malloc(cap);
            if (*p == '"') {
                p++;
                for (;;) {
                    if (*p == '"' && p[1] == '"') {
                        f[len++] = '"';
                        p += 2;
                    } else if (*p == '"') {
                        p++;
                        break;
                    } else if (!*p) {
                        break;
                    } else {
                        if (*p == '\n')
                            line++;
                        f[len++] = *p++;
                    }
                    if (len + 2 >= cap)
                        f = realloc(f, cap *= 2);
                }
            }
            while (*p && *p != ',' && *p != '\n' && *p != '\r') {
                f[len++] = *p++;
                if (len + 2 >= cap)
                    f = realloc(f, cap *= 2);
            }
            f[len] = '\0';
            if (len)
                nonempty = 1;
            if (nf < 64)
                fields[nf++] = f;
            else
                free(f);
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == '\r')
                p++;
            if (*p == '\n') {
                p++;
                line++;
            }
            break;
        }
        if (nonempty)
            fn(fields, nf, start, arg);
        for (size_t i = 0; i < nf; i++)
            free(fields[i]);
    }
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* The oracle: "file:line" of every data row whose verified column is not yes/true/1. */
typedef struct oracle {
    const char *file;
    long verified_col; /* -1 before the header / when the table has none */
    int header_done;
    char rows[512][64];
    size_t n;
} oracle;

static void oracle_record(char **f, size_t n, long line, void *arg)
{
    oracle *o = arg;
    if (!o->header_done) {
        o->header_done = 1;
        o->verified_col = -1;
        for (size_t i = 0; i < n; i++) {
            char *h = trim(f[i]);
            for (char *c = h; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            if (strcmp(h, "verified") == 0)
                o->verified_col = (long)i;
        }
        return;
    }
    if (o->verified_col < 0 || (size_t)o->verified_col >= n)
        return;
    char *v = trim(f[o->verified_col]);
    for (char *c = v; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (strcmp(v, "yes") && strcmp(v, "true") && strcmp(v, "1") && o->n < 512)
        snprintf(o->rows[o->n++], 64, "%s:%ld", o->file, line);
}

/* The CLI's stdout records: table,key,path:line,source. */
typedef struct listed {
    char rows[512][64];
    size_t n;
    int bad; /* a record without 4 fields */
} listed;

static void listed_record(char **f, size_t n, long line, void *arg)
{
    (void)line;
    listed *l = arg;
    if (n != 4) {
        l->bad = 1;
        return;
    }
    const char *slash = strrchr(f[2], '/');
    if (l->n < 512)
        snprintf(l->rows[l->n++], 64, "%s", slash ? slash + 1 : f[2]);
}

static int setup(void **state)
{
    (void)state;
    return e2e_tmpdir(tmp, sizeof tmp, "params") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    e2e_sh("rm -rf '%s'", tmp);
    return 0;
}

static void test_shipped_tables(void **state)
{
    (void)state;
    static oracle o;
    memset(&o, 0, sizeof o);
    for (size_t t = 0; t < NTABLES; t++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", DATA, TABLES[t]);
        char *text = e2e_read_all(path);
        assert_non_null(text);
        o.file = TABLES[t];
        o.header_done = 0;
        parse_csv(text, oracle_record, &o);
        free(text);
    }
    assert_true(o.n > 0); /* the shipped defaults are not verified yet */

    char *out = NULL, *err = NULL;
    int rc = run(&out, &err, "params check");
    assert_int_equal(rc, 0);
    static listed l;
    memset(&l, 0, sizeof l);
    parse_csv(out, listed_record, &l);
    assert_false(l.bad);
    assert_int_equal(l.n, o.n);
    /* the same rows, with the same file and line */
    for (size_t i = 0; i < o.n; i++) {
        int found = 0;
        for (size_t j = 0; j < l.n; j++)
            found |= strcmp(o.rows[i], l.rows[j]) == 0;
        if (!found)
            print_error("%s is not listed\nstdout:\n%s\n", o.rows[i], out);
        assert_true(found);
    }
    char want[128];
    snprintf(want, sizeof want, "%zu rows unverified: check them before figures go to the ledger\n",
             o.n);
    assert_string_equal(err, want);
    /* the same with --data naming the folder */
    free(out);
    free(err);
    rc = run(&out, &err, "params check --data '%s'", DATA);
    assert_int_equal(rc, 0);
    assert_string_equal(err, want);
    /* a pools row: its table, key and quoted source */
    assert_non_null(strstr(out, "pools_invest,1 (tree_forest),"));
    free(out);
    free(err);
}

static void test_broken_and_verified_copies(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    /* a record with too few fields on line 3 */
    assert_int_equal(e2e_sh("rm -rf '%s/d' && cp -r '%s' '%s/d' && sed -i '3i broken,row' "
                            "'%s/d/species_groups.csv'",
                            tmp, DATA, tmp, tmp),
                     0);
    int rc = run(&out, &err, "params check --data '%s/d'", tmp);
    assert_int_equal(rc, 2);
    assert_int_equal(e2e_lines(err), 1);
    assert_non_null(strstr(err, "species_groups.csv:3"));
    assert_string_equal(out, "");
    free(out);
    free(err);
    /* a number that is not one, line 2 of growth_richards.csv */
    assert_int_equal(e2e_sh("rm -rf '%s/d' && cp -r '%s' '%s/d' && awk -F, 'BEGIN{OFS=\",\"} "
                            "NR==2{$3=\"abc\"} {print}' '%s/growth_richards.csv' > "
                            "'%s/d/growth_richards.csv'",
                            tmp, DATA, tmp, DATA, tmp),
                     0);
    rc = run(&out, &err, "params check --data '%s/d'", tmp);
    assert_int_equal(rc, 2);
    if (!strstr(err, "growth_richards.csv:2") || !strstr(err, "'abc'"))
        print_error("stderr: %s\n", err);
    assert_non_null(strstr(err, "growth_richards.csv:2"));
    assert_non_null(strstr(err, "'abc'"));
    free(out);
    free(err);
    /* a missing table */
    assert_int_equal(e2e_sh("rm '%s/d/pools_invest.csv'", tmp), 0);
    rc = run(&out, &err, "params check --data '%s/d'", tmp);
    assert_int_equal(rc, 2);
    free(out);
    free(err);
    /* every row verified: nothing listed */
    assert_int_equal(
        e2e_sh("rm -rf '%s/d' && cp -r '%s' '%s/d' && sed -i 's/,no$/,yes/' '%s'/d/*.csv", tmp,
               DATA, tmp, tmp),
        0);
    rc = run(&out, &err, "params check --data '%s/d'", tmp);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
    assert_string_equal(err, "0 rows unverified: every parameter row is marked verified\n");
    free(out);
    free(err);
}

static void test_usage(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(run(&out, &err, "params --help"), 0);
    assert_non_null(strstr(out, "usage: sinkmap params check"));
    free(out);
    free(err);
    assert_int_equal(run(&out, &err, "params check --help"), 0);
    free(out);
    free(err);
    assert_int_equal(run(&out, &err, "params"), 2);
    free(out);
    free(err);
    assert_int_equal(run(&out, &err, "params verify"), 2);
    assert_non_null(strstr(err, "'verify'"));
    free(out);
    free(err);
    assert_int_equal(run(&out, &err, "params check --data"), 2);
    free(out);
    free(err);
    assert_int_equal(run(&out, &err, "params check --bogus"), 2);
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_tables),
        cmocka_unit_test(test_broken_and_verified_copies),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
