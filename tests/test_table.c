/* test_table.c: the CSV reader and writer: RFC 4180 quoting, BOM, CRLF, line numbers in errors,
 * locale-independent numbers and shortest round-trip formatting of doubles.
 * Every fixture is a few lines whose expected cells and line numbers can be read off by eye. */
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sinkmap/table.h"

static sm_table *parse_ok(sm_context *ctx, const char *text)
{
    sm_table *t = NULL;
    sm_status st = sm_table_parse(&t, ctx, "t.csv", text, strlen(text));
    if (st != SM_OK)
        print_error("unexpected failure: %s\n", sm_context_message(ctx));
    assert_int_equal(st, SM_OK);
    return t;
}

/* Parses text expecting SM_ERR_INPUT and a message equal to (or, with prefix_only, starting
 * with) `expected`. */
static void parse_fails(const char *text, size_t len, const char *expected, int prefix_only)
{
    sm_context *ctx = sm_context_create();
    sm_table *t = NULL;
    assert_int_equal(sm_table_parse(&t, ctx, "t.csv", text, len), SM_ERR_INPUT);
    assert_null(t);
    const char *msg = sm_context_message(ctx);
    if (prefix_only ? strncmp(msg, expected, strlen(expected)) != 0 : strcmp(msg, expected) != 0)
        print_error("expected '%s'\n     got '%s'\n", expected, msg);
    if (prefix_only)
        assert_true(strncmp(msg, expected, strlen(expected)) == 0);
    else
        assert_string_equal(msg, expected);
    sm_context_destroy(ctx);
}

static void test_basic(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_table *t = parse_ok(ctx, "group,name_zh,bef\ncypress,柏木,1.732\n  quercus , 栎类 ,1.355\n");
    assert_int_equal(sm_table_cols(t), 3);
    assert_int_equal(sm_table_rows(t), 2);
    assert_string_equal(sm_table_col_name(t, 1), "name_zh");
    /* Data rows start on lines 2 and 3. */
    assert_int_equal(sm_table_line(t, 0), 2);
    assert_int_equal(sm_table_line(t, 1), 3);
    /* Unquoted fields are trimmed. */
    assert_string_equal(sm_table_cell(t, 1, 0), "quercus");
    assert_string_equal(sm_table_cell(t, 1, 1), "栎类");
    /* Column names match without regard to ASCII case or surrounding spaces. */
    size_t col = 99;
    assert_int_equal(sm_table_find_col(t, "BEF", &col), 1);
    assert_int_equal(col, 2);
    assert_int_equal(sm_table_find_col(t, " Name_ZH ", &col), 1);
    assert_int_equal(col, 1);
    assert_int_equal(sm_table_find_col(t, "svd", &col), 0);
    double v = 0;
    assert_int_equal(sm_table_get_double(t, ctx, 0, 2, &v), SM_OK);
    assert_true(v == 1.732);
    /* Out of range cells read as "". */
    assert_string_equal(sm_table_cell(t, 5, 0), "");
    /* The hash is that of the bytes given. */
    assert_int_equal(strlen(sm_table_sha256(t)), 64);
    sm_table_destroy(t);
    sm_table_destroy(NULL);
    sm_context_destroy(ctx);
}

static void test_quoting(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    /* Line 1 header; line 2 a quoted comma and doubled quotes; lines 3-4 a field holding a line
     * break; line 5 quoted spaces kept and an empty quoted field; line 6 the next record. */
    const char *text = "a,b,c\n"
                       "\"x, y\",\"say \"\"hi\"\"\",plain\n"
                       "\"two\nlines\",2,3\n"
                       "\"  kept  \",\"\",  trimmed  \n"
                       "last,\"\",\"\"\n";
    sm_table *t = parse_ok(ctx, text);
    assert_int_equal(sm_table_rows(t), 4);
    assert_string_equal(sm_table_cell(t, 0, 0), "x, y");
    assert_string_equal(sm_table_cell(t, 0, 1), "say \"hi\"");
    assert_string_equal(sm_table_cell(t, 0, 2), "plain");
    assert_string_equal(sm_table_cell(t, 1, 0), "two\nlines");
    assert_int_equal(sm_table_line(t, 1), 3);
    assert_string_equal(sm_table_cell(t, 2, 0), "  kept  ");
    assert_string_equal(sm_table_cell(t, 2, 1), "");
    assert_string_equal(sm_table_cell(t, 2, 2), "trimmed");
    /* The record after the two-line field starts on line 5, and the next on line 6. */
    assert_int_equal(sm_table_line(t, 2), 5);
    assert_int_equal(sm_table_line(t, 3), 6);
    /* A record of empty but quoted fields is data, not a blank line. */
    assert_string_equal(sm_table_cell(t, 3, 2), "");
    sm_table_destroy(t);
    sm_context_destroy(ctx);
}

static void test_bom_crlf_cr(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    const char *lf = "species,group\n柏木,cypress\n杉木,chinese_fir\n";
    const char *crlf = "\xEF\xBB\xBFspecies,group\r\n柏木,cypress\r\n杉木,chinese_fir\r\n";
    const char *cr = "species,group\r柏木,cypress\r杉木,chinese_fir";
    const char *texts[3] = {lf, crlf, cr};
    sm_table *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = parse_ok(ctx, texts[i]);
        /* The BOM is not part of the first column's name. */
        assert_string_equal(sm_table_col_name(t[i], 0), "species");
        assert_int_equal(sm_table_rows(t[i]), 2);
        assert_string_equal(sm_table_cell(t[i], 0, 0), "柏木");
        assert_string_equal(sm_table_cell(t[i], 1, 1), "chinese_fir");
        assert_int_equal(sm_table_line(t[i], 1), 3);
    }
    /* Same cells, different bytes: different hashes. */
    assert_string_not_equal(sm_table_sha256(t[0]), sm_table_sha256(t[1]));
    for (int i = 0; i < 3; i++)
        sm_table_destroy(t[i]);
    sm_context_destroy(ctx);
}

static void test_blank_lines(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    /* Lines: 1 header, 2 blank, 3 data, 4 ",," from a spreadsheet, 5 data, 6 blank. */
    sm_table *t = parse_ok(ctx, "a,b,c\n\n1,2,3\n,,\n4,5,6\n\n");
    assert_int_equal(sm_table_rows(t), 2);
    assert_int_equal(sm_table_line(t, 0), 3);
    assert_int_equal(sm_table_line(t, 1), 5);
    assert_string_equal(sm_table_cell(t, 1, 2), "6");
    sm_table_destroy(t);
    /* A header only: no rows. */
    t = parse_ok(ctx, "a,b\n");
    assert_int_equal(sm_table_rows(t), 0);
    sm_table_destroy(t);
    sm_context_destroy(ctx);
}

static void test_parse_errors(void **state)
{
    (void)state;
    const char *s;
    s = "a,b,c\n1,2,3\n4,5\n";
    parse_fails(s, strlen(s), "t.csv:3: 2 fields, but the header has 3", 1);
    s = "a,b\n1,\"open\n\nstill open\n";
    parse_fails(s, strlen(s), "t.csv:2: field 2: quote opened here is never closed", 0);
    s = "a,b\n1,2\n3,4 \"inch\"\n";
    parse_fails(s, strlen(s), "t.csv:3: field 2: a quote inside an unquoted field", 1);
    s = "a,b\n\"x\"y,2\n";
    parse_fails(s, strlen(s), "t.csv:2: field 1: text after a closing quote", 1);
    /* 柏木 in GBK is B0 D8 C4 BE: not UTF-8. */
    s = "species,group\ncypress,1\n\xB0\xD8\xC4\xBE,cypress\n";
    parse_fails(s, strlen(s), "t.csv:3: not valid UTF-8 (byte 0xB0)", 1);
    /* An overlong encoding of '/' and a UTF-8-encoded surrogate are refused too. */
    s = "a\n\xC0\xAF\n";
    parse_fails(s, strlen(s), "t.csv:2: not valid UTF-8", 1);
    s = "a\n\xED\xA0\x80\n";
    parse_fails(s, strlen(s), "t.csv:2: not valid UTF-8", 1);
    s = "\xFF\xFE" "a\0,\0";
    parse_fails(s, 6, "t.csv: the file is UTF-16", 1);
    parse_fails("a,b\n1,\0002\n", 9, "t.csv:2: the file holds a NUL byte", 1);
    s = "a,B,b\n1,2,3\n";
    parse_fails(s, strlen(s), "t.csv:1: header names column 'b' twice (columns 2 and 3)", 0);
    s = "a,,c\n";
    parse_fails(s, strlen(s), "t.csv:1: header column 2 has no name", 0);
    parse_fails("", 0, "t.csv: the file is empty (no header row)", 0);
    parse_fails("\n\n", 2, "t.csv: the file is empty (no header row)", 0);
}

static void test_getter_errors(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    /* Line 7 holds the bad BEF (lines 2-6 are good rows). */
    sm_table *t = parse_ok(ctx, "group,bef,n,verified\n"
                                "a,1.1,1,yes\nb,1.2,2,no\nc,1.3,3,YES\nd,1.4,4,No\ne,1.5,5,1\n"
                                "f,abc,1.5,maybe\n"
                                "g,,x,\n");
    double v;
    long n;
    int yes;
    const char *text;
    assert_int_equal(sm_table_get_double(t, ctx, 5, 1, &v), SM_ERR_INPUT);
    assert_string_equal(sm_context_message(ctx), "t.csv:7: column 'bef': 'abc' is not a number");
    assert_int_equal(sm_table_get_long(t, ctx, 5, 2, &n), SM_ERR_INPUT);
    assert_string_equal(sm_context_message(ctx), "t.csv:7: column 'n': '1.5' is not an integer");
    assert_int_equal(sm_table_get_yesno(t, ctx, 5, 3, &yes), SM_ERR_INPUT);
    assert_string_equal(sm_context_message(ctx), "t.csv:7: column 'verified': 'maybe' is not yes or no");
    assert_int_equal(sm_table_get_double(t, ctx, 6, 1, &v), SM_ERR_INPUT);
    assert_string_equal(sm_context_message(ctx),
                        "t.csv:8: column 'bef' is empty (a number is required)");
    assert_int_equal(sm_table_get_text(t, ctx, 6, 3, &text), SM_ERR_INPUT);
    assert_string_equal(sm_context_message(ctx),
                        "t.csv:8: column 'verified' is empty (a value is required)");
    /* yes/no in any case, and 1/0. */
    int expect[5] = {1, 0, 1, 0, 1};
    for (size_t r = 0; r < 5; r++) {
        assert_int_equal(sm_table_get_yesno(t, ctx, r, 3, &yes), SM_OK);
        assert_int_equal(yes, expect[r]);
    }
    assert_int_equal(sm_table_get_long(t, ctx, 4, 2, &n), SM_OK);
    assert_int_equal(n, 5);
    /* A required column that is missing lists those that exist. */
    size_t col;
    assert_int_equal(sm_table_col(t, ctx, "svd", &col), SM_ERR_INPUT);
    assert_string_equal(sm_context_message(ctx),
                        "t.csv: no column 'svd' (the columns are: group, bef, n, verified)");
    sm_table_destroy(t);

    /* A missing file names its path. */
    assert_int_equal(sm_table_read(&t, ctx, "/nonexistent/sinkmap.csv"), SM_ERR_INPUT);
    assert_null(t);
    assert_true(strncmp(sm_context_message(ctx), "/nonexistent/sinkmap.csv: cannot open", 37) == 0);
    sm_context_destroy(ctx);
}

static void test_parse_numbers(void **state)
{
    (void)state;
    double v;
    long n;
    static const struct {
        const char *text;
        double value;
    } good[] = {{"1.5", 1.5},   {" -2e3 ", -2000}, {".5", 0.5},   {"5.", 5},
                {"+0.25", 0.25}, {"1E-2", 0.01},   {"46.1451", 46.1451}, {"-0", -0.0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(sm_parse_double(good[i].text, &v), 0);
        assert_true(v == good[i].value);
    }
    static const char *const bad[] = {"",    " ",    "1,5",  "0x10", "inf", "nan", "1e",
                                      "abc", "1.5x", "--1", ".",    "e5",  "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 42;
        if (sm_parse_double(bad[i], &v) != -1)
            print_error("'%s' parsed as %g\n", bad[i], v);
        assert_int_equal(sm_parse_double(bad[i], &v), -1);
        assert_true(v == 42);
    }
    assert_int_equal(sm_parse_long(" 030100 ", &n), 0);
    assert_int_equal(n, 30100);
    assert_int_equal(sm_parse_long("-7", &n), 0);
    assert_int_equal(n, -7);
    assert_int_equal(sm_parse_long("7.0", &n), -1);
    assert_int_equal(sm_parse_long("", &n), -1);
    assert_int_equal(sm_parse_long("99999999999999999999999", &n), -1);

    /* Under a locale whose decimal point is ',' the reader still wants '.'. */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        char buf[32];
        assert_int_equal(sm_parse_double("0.478", &v), 0);
        assert_true(v == 0.478);
        sm_format_double(0.478, buf, sizeof buf);
        assert_string_equal(buf, "0.478");
        setlocale(LC_NUMERIC, "C");
    } else {
        print_message("(no de_DE/fr_FR locale installed: decimal-comma check skipped)\n");
    }
}

static void test_format_double(void **state)
{
    (void)state;
    char buf[32];
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.1, "0.1"},                     /* %.15g already exact */
        {100, "100"},
        {42.222696, "42.222696"},
        {1.0 / 3.0, "0.3333333333333333"}, /* needs 16 digits */
        {2.0 / 3.0, "0.6666666666666666"},
        {0.1 + 0.2, "0.30000000000000004"}, /* needs 17 */
        {-0.0, "-0"},
        {1e-300, "1e-300"},
        {44.0 / 12.0, "3.6666666666666665"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(sm_format_double(cases[i].v, buf, sizeof buf), (int)strlen(cases[i].text));
        assert_string_equal(buf, cases[i].text);
    }
    assert_int_equal(sm_format_double(NAN, buf, sizeof buf), 3);
    assert_string_equal(buf, "nan");
    assert_int_equal(sm_format_double(-INFINITY, buf, sizeof buf), 4);
    assert_string_equal(buf, "-inf");
    assert_int_equal(sm_format_double(0.1 + 0.2, buf, 5), -1);

    /* Oracle: any finite double reads back exactly, with no more digits than needed. */
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d))
            continue;
        double back;
        sm_format_double(d, buf, sizeof buf);
        assert_int_equal(sm_parse_double(buf, &back), 0);
        assert_true(back == d);
        /* The first of %.15g, %.16g, %.17g that reads back is the one chosen. */
        char first[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(first, sizeof first, "%.*g", prec, d);
            if (sm_parse_double(first, &back) == 0 && back == d)
                break;
        }
        assert_string_equal(buf, first);
    }
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 4096);
    *n = fread(buf, 1, 4095, f);
    fclose(f);
    return buf;
}

static void test_writer_round_trip(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    char path[] = "/tmp/sm_test_table_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    sm_csv_writer *w = NULL;
    assert_int_equal(sm_csv_writer_open(&w, ctx, path, SM_CSV_BOM | SM_CSV_CRLF), SM_OK);
    const char *header[4] = {"name", "carbon_t", "note", "n"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(sm_csv_writer_text(w, header[i]), SM_OK);
    assert_int_equal(sm_csv_writer_end_row(w), SM_OK);
    assert_int_equal(sm_csv_writer_text(w, "柏木"), SM_OK);
    assert_int_equal(sm_csv_writer_double(w, 0.1 + 0.2), SM_OK);
    assert_int_equal(sm_csv_writer_text(w, "a, \"b\"\nc"), SM_OK);
    assert_int_equal(sm_csv_writer_long(w, -12), SM_OK);
    assert_int_equal(sm_csv_writer_end_row(w), SM_OK);
    assert_int_equal(sm_csv_writer_text(w, " padded "), SM_OK);
    assert_int_equal(sm_csv_writer_double(w, NAN), SM_OK); /* missing: empty field */
    assert_int_equal(sm_csv_writer_text(w, ""), SM_OK);
    assert_int_equal(sm_csv_writer_long(w, 0), SM_OK);
    assert_int_equal(sm_csv_writer_end_row(w), SM_OK);
    assert_int_equal(sm_csv_writer_double(w, INFINITY), SM_ERR_INTERNAL);
    assert_int_equal(sm_csv_writer_close(w), SM_OK);
    assert_int_equal(sm_csv_writer_close(NULL), SM_OK);

    size_t n;
    char *bytes = slurp(path, &n);
    const char *expected = "\xEF\xBB\xBFname,carbon_t,note,n\r\n"
                           "柏木,0.30000000000000004,\"a, \"\"b\"\"\nc\",-12\r\n"
                           "\" padded \",,\"\",0\r\n";
    assert_int_equal(n, strlen(expected));
    assert_memory_equal(bytes, expected, n);
    free(bytes);

    sm_table *t = NULL;
    assert_int_equal(sm_table_read(&t, ctx, path), SM_OK);
    assert_int_equal(sm_table_rows(t), 2);
    assert_string_equal(sm_table_cell(t, 0, 0), "柏木");
    double v;
    assert_int_equal(sm_table_get_double(t, ctx, 0, 1, &v), SM_OK);
    assert_true(v == 0.1 + 0.2);
    assert_string_equal(sm_table_cell(t, 0, 2), "a, \"b\"\nc");
    assert_string_equal(sm_table_cell(t, 1, 0), " padded ");
    assert_string_equal(sm_table_cell(t, 1, 1), "");
    sm_table_destroy(t);
    unlink(path);

    /* A writer on a folder that does not exist fails naming the path. */
    assert_int_equal(sm_csv_writer_open(&w, ctx, "/nonexistent/out.csv", 0), SM_ERR_IO);
    assert_null(w);
    assert_non_null(strstr(sm_context_message(ctx), "/nonexistent/out.csv"));
    sm_csv_writer_destroy(NULL);
    sm_context_destroy(ctx);
}

/* A full disk: writing to /dev/full must be reported at close. */
static void test_writer_full_disk(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0) {
        print_message("(no /dev/full: skipped)\n");
        return;
    }
    sm_context *ctx = sm_context_create();
    sm_csv_writer *w = NULL;
    assert_int_equal(sm_csv_writer_open(&w, ctx, "/dev/full", 0), SM_OK);
    sm_status st = SM_OK;
    for (int i = 0; i < 10000 && st == SM_OK; i++) {
        st = sm_csv_writer_text(w, "some text that fills a stdio buffer");
        if (st == SM_OK)
            st = sm_csv_writer_end_row(w);
    }
    sm_status cst = sm_csv_writer_close(w);
    assert_true(st == SM_ERR_IO || cst == SM_ERR_IO);
    assert_non_null(strstr(sm_context_message(ctx), "/dev/full"));
    sm_context_destroy(ctx);
}

/* Integers are written as %lld writes them (the writer formats them itself), across a buffer
 * boundary: many rows through one writer into memory, compared with snprintf's text. */
static void test_writer_integers(void **state)
{
    (void)state;
    static const long long edge[] = {0, 1, -1, 9, 10, -10, 99, 100, 1234567890123LL, -987654321LL,
                                     INT64_MAX, INT64_MIN, INT64_MIN + 1};
    sm_context *ctx = sm_context_create();
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    assert_non_null(f);
    sm_csv_writer *w = NULL;
    assert_int_equal(sm_csv_writer_stream(&w, ctx, f, "mem", 0), SM_OK);
    size_t cap = 1 << 22, n = 0;
    char *want = malloc(cap);
    assert_non_null(want);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        long long v;
        if (i < (int)(sizeof edge / sizeof edge[0])) {
            v = edge[i];
        } else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
            v = (long long)(x >> (i % 64)) * (i % 3 == 0 ? -1 : 1);
        }
        assert_int_equal(sm_csv_writer_long(w, v), SM_OK);
        assert_int_equal(sm_csv_writer_text(w, "x"), SM_OK);
        assert_int_equal(sm_csv_writer_end_row(w), SM_OK);
        n += (size_t)snprintf(want + n, cap - n, "%lld,x\n", v);
    }
    assert_int_equal(sm_csv_writer_close(w), SM_OK);
    fclose(f);
    assert_true(n > 65536); /* more than the writer's buffer */
    assert_int_equal(len, n);
    assert_memory_equal(mem, want, n);
    free(mem);
    free(want);
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),          cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_bom_crlf_cr),    cmocka_unit_test(test_blank_lines),
        cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_getter_errors),
        cmocka_unit_test(test_parse_numbers),  cmocka_unit_test(test_format_double),
        cmocka_unit_test(test_writer_round_trip), cmocka_unit_test(test_writer_full_disk),
        cmocka_unit_test(test_writer_integers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
