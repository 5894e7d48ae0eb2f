/* table.c: a strict little CSV reader and writer for parameter and result tables.
 * Tuned for files of a few thousand rows read once per run: the whole file is held in memory,
 * checked (UTF-8, field counts, quotes) before any value is used, and hashed from the same bytes. */
#include "sinkmap/table.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sinkmap/hash.h"

struct sm_table {
    char *name;
    char sha256[65];
    size_t ncols;
    size_t nrows;
    char *text;      /* every cell, NUL-terminated, one after the other */
    size_t *cells;   /* offsets into text: header first (ncols), then nrows * ncols */
    long *lines;     /* starting line of each data row */
};

/* ---- Numbers ---------------------------------------------------------------------------- */

static int is_space(char c) { return c == ' ' || c == '\t'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

int sm_parse_double(const char *text, double *out)
{
    char buf[512];
    const char *p = text;
    while (is_space(*p))
        p++;
    const char *start = p;
    if (*p == '+' || *p == '-')
        p++;
    size_t digits = 0;
    while (is_digit(*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (is_digit(*p)) {
            p++;
            digits++;
        }
    }
    if (digits == 0)
        return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!is_digit(*p))
            return -1;
        while (is_digit(*p))
            p++;
    }
    const char *stop = p;
    while (is_space(*p))
        p++;
    if (*p != '\0')
        return -1;

    /* Copy the number, writing the C library's current decimal point in place of '.', so
     * that strtod reads it the same under any LC_NUMERIC. */
    const char *dp = localeconv()->decimal_point;
    size_t dpn = (dp && dp[0]) ? strlen(dp) : 1;
    size_t n = 0;
    for (const char *q = start; q < stop; q++) {
        if (*q == '.' && dp && dp[0]) {
            if (n + dpn >= sizeof buf)
                return -1;
            memcpy(buf + n, dp, dpn);
            n += dpn;
        } else {
            if (n + 1 >= sizeof buf)
                return -1;
            buf[n++] = *q;
        }
    }
    buf[n] = '\0';
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + n || isinf(v) || isnan(v))
        return -1;
    *out = v;
    return 0;
}

int sm_parse_long(const char *text, long *out)
{
    const char *p = text;
    while (is_space(*p))
        p++;
    const char *q = p;
    if (*q == '+' || *q == '-')
        q++;
    if (!is_digit(*q))
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno == ERANGE)
        return -1;
    while (is_space(*end))
        end++;
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* Replaces the locale's decimal point in s (if it is not '.') by '.'. */
static void c_decimal_point(char *s)
{
    const char *dp = localeconv()->decimal_point;
    if (!dp || !dp[0] || strcmp(dp, ".") == 0)
        return;
    char *at = strstr(s, dp);
    if (!at)
        return;
    size_t n = strlen(dp);
    *at = '.';
    memmove(at + 1, at + n, strlen(at + n) + 1);
}

/* The reference: C's %.15g, %.16g, %.17g in turn, the first that strtod reads back as v. */
static int format_double_printf(double v, char *tmp, size_t n)
{
    if (isnan(v))
        return snprintf(tmp, n, "nan");
    if (isinf(v))
        return snprintf(tmp, n, "%s", v < 0 ? "-inf" : "inf");
    for (int prec = 15; prec <= 17; prec++) {
        double back;
        snprintf(tmp, n, "%.*g", prec, v);
        c_decimal_point(tmp);
        if (sm_parse_double(tmp, &back) == 0 && back == v)
            break;
    }
    return (int)strlen(tmp);
}

/* The fast path gives exactly the reference's text without printf or strtod, for the normal
 * doubles with 1e-11 <= |v| < 1e17 (every figure sinkmap writes in practice). There
 * v = m * 2^e (m < 2^53), and v * 10^k (k = 16 - the decimal exponent of v, 0 <= k <= 27) is
 * m * 5^k * 2^(e+k): a 116-bit integer a shifted by t = e + k. Its integer part q has 17
 * digits; the 16- and 15-digit decimals are q / 10 and q / 100 rounded with what was cut off
 * (q's last digits and the bits shifted out), half to even as printf rounds. Whether a decimal
 * reads back as v (is nearer to v than half the gap to each neighbouring double, ties to the
 * even mantissa, as strtod) is exact in 128-bit integers too. Anything else returns 0 (the
 * reference is used). */
__extension__ typedef unsigned __int128 sm__u128;

static const uint64_t POW5[28] = {
    1u, 5u, 25u, 125u,
    625u, 3125u, 15625u, 78125u,
    390625u, 1953125u, 9765625u, 48828125u,
    244140625u, 1220703125u, 6103515625u, 30517578125u,
    152587890625u, 762939453125u, 3814697265625u, 19073486328125u,
    95367431640625u, 476837158203125u, 2384185791015625u, 11920928955078125u,
    59604644775390625u, 298023223876953125u, 1490116119384765625u, 7450580596923828125u};
static const uint64_t POW10[19] = {1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u,
                                   100000000u, 1000000000u, 10000000000u, 100000000000u,
                                   1000000000000u, 10000000000000u, 100000000000000u,
                                   1000000000000000u, 10000000000000000u, 100000000000000000u,
                                   1000000000000000000u};

/* v * 10^k = a * 2^t with v = m * 2^e: k, a, t, its integer part q (17 digits) and the
 * decimal exponent x of v's first digit. Returns 0 when out of the fast path's range. */
typedef struct dec17 {
    sm__u128 a, q, rem; /* rem: the sh bits shifted out of a (0 when t >= 0) */
    int k, t, sh, x;
} dec17;

static int decimal17(uint64_t m, int e, dec17 *d)
{
    /* log10(v) lies in [(e+52) log10 2, (e+53) log10 2): a first guess, corrected below. */
    int x = (int)floor((double)(e + 52) * 0.30102999566398120);
    for (int tries = 0; tries < 3; tries++) {
        int k = 16 - x; /* v * 10^k has 17 digits */
        if (k < 0 || k > 27)
            return 0;
        sm__u128 a = (sm__u128)m * POW5[k], q, rem = 0;
        int t = e + k, sh = 0;
        if (t >= 0) {
            if (t > 60 || (a >> (60 - t)) != 0)
                return 0; /* more than 18 digits: not this path */
            q = a << t;
        } else {
            sh = -t;
            if (sh > 68)
                return 0;
            q = a >> sh;
            rem = a & ((((sm__u128)1) << sh) - 1);
        }
        if (q >= POW10[17]) {
            x++;
            continue;
        }
        if (q < POW10[16]) {
            x--;
            continue;
        }
        *d = (dec17){a, q, rem, k, t, sh, x};
        return 1;
    }
    return 0;
}

/* The P-digit decimal (P = 15, 16, 17) of v from its 17-digit form: *digits in
 * [10^(P-1), 10^P), the decimal exponent *x10 of its first digit; returns whether it reads
 * back as v. */
static int round_p(const dec17 *d, int p, int even, int lower_closer, uint64_t *digits, int *x10)
{
    uint64_t q = (uint64_t)d->q, div, qp64; /* q < 10^17: 64 bits; the divisions by constants */
    if (p == 17)
        div = 1, qp64 = q;
    else if (p == 16)
        div = 10, qp64 = q / 10;
    else
        div = 100, qp64 = q / 100;
    sm__u128 qp = qp64, cut = q - qp64 * div;
    /* what was cut off, against half a unit of the last digit kept, both times 2^(sh+1) */
    sm__u128 twice = (cut << (d->sh + 1)) + (d->rem << 1), unit = (sm__u128)div << d->sh;
    sm__u128 dp = qp + (twice > unit || (twice == unit && (qp & 1)));
    /* Round trip, in units of 2^-(sh+2) of v * 10^k: v is a << (t + sh + 2), the decimal
     * dp * div << (sh + 2), half the gap to the next double up 5^k << (t + sh + 1), down the
     * same or 5^k << (t + sh) at a power of two. */
    int s = d->t + d->sh;
    sm__u128 vv = d->a << (s + 2), dd = (dp * div) << (d->sh + 2);
    sm__u128 hu = (sm__u128)POW5[d->k] << (s + 1), hl = lower_closer ? (sm__u128)POW5[d->k] << s : hu;
    int rt;
    if (dd >= vv)
        rt = (dd - vv) < hu || ((dd - vv) == hu && even);
    else
        rt = (vv - dd) < hl || ((vv - dd) == hl && even);
    int x = d->x;
    if (dp == POW10[p]) { /* 99...9.5 rounded up to 10^p */
        dp = POW10[p - 1];
        x++;
    }
    *digits = (uint64_t)dp;
    *x10 = x;
    return rt;
}

/* Writes digits (p of them, trailing zeros dropped) with decimal exponent x as %.{p}g does. */
static int write_g(char *out, int neg, uint64_t digits, int x, int p)
{
    /* The p digits, two at a time, the last eight and the ones before them side by side (two
     * short chains of divisions instead of one long one). */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char d[24];
    int n = p;
    uint32_t lo = (uint32_t)(digits % 100000000u), hi = (uint32_t)(digits / 100000000u);
    int at = p; /* p >= 15 here: hi has p - 8 >= 7 digits */
    for (int c = 0; c < 4; c++) {
        uint32_t r = lo % 100u;
        lo /= 100u;
        at -= 2;
        memcpy(d + at, pairs + 2 * r, 2);
    }
    while (at >= 2) {
        uint32_t r = hi % 100u;
        hi /= 100u;
        at -= 2;
        memcpy(d + at, pairs + 2 * r, 2);
    }
    if (at == 1)
        d[0] = (char)('0' + hi);
    while (n > 1 && d[n - 1] == '0')
        n--;
    char *o = out;
    if (neg)
        *o++ = '-';
    if (x < -4 || x >= p) {
        *o++ = d[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)(n - 1));
            o += n - 1;
        }
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        if (ax >= 100)
            *o++ = (char)('0' + ax / 100);
        *o++ = (char)('0' + ax / 10 % 10);
        *o++ = (char)('0' + ax % 10);
    } else if (x >= 0) {
        for (int i = 0; i <= x; i++)
            *o++ = i < n ? d[i] : '0';
        if (n > x + 1) {
            *o++ = '.';
            memcpy(o, d + x + 1, (size_t)(n - x - 1));
            o += n - x - 1;
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -x - 1; i++)
            *o++ = '0';
        memcpy(o, d, (size_t)n);
        o += n;
    }
    *o = '\0';
    return (int)(o - out);
}

static int format_double_fast(double v, char *tmp)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int neg = (int)(bits >> 63);
    int bexp = (int)((bits >> 52) & 0x7ff);
    if (bexp == 0 || bexp == 0x7ff)
        return 0; /* zero, subnormal, inf, nan */
    uint64_t m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
    int e = bexp - 1075;
    int even = (m & 1) == 0;
    int lower_closer = (m == (UINT64_C(1) << 52)) && bexp > 1;
    dec17 d;
    if (!decimal17(m, e, &d))
        return 0;
    for (int p = 15; p <= 17; p++) {
        uint64_t digits;
        int x;
        if (round_p(&d, p, even, lower_closer, &digits, &x))
            return write_g(tmp, neg, digits, x, p);
    }
    return 0;
}

int sm_format_double(double v, char *buf, size_t size)
{
    char tmp[64];
    int n = format_double_fast(v, tmp);
    if (n <= 0)
        n = format_double_printf(v, tmp, sizeof tmp);
    if ((size_t)n + 1 > size)
        return -1;
    memcpy(buf, tmp, (size_t)n + 1);
    return n;
}

/* ---- Reading ---------------------------------------------------------------------------- */

/* Growable byte buffer and offset list used while parsing. */
typedef struct parse_state {
    sm_context *ctx;
    const char *name;
    char *text;
    size_t ntext, captext;
    size_t *cells;
    size_t ncells, capcells;
    long *lines;
    size_t nlines, caplines;
    size_t ncols; /* set once the header is read */
} parse_state;

static sm_status grow(sm_context *ctx, void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return SM_OK;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return sm_error(ctx, SM_ERR_NOMEM, "size overflow while reading a table");
        ncap *= 2;
    }
    size_t bytes;
    if (sm_mul_size(ncap, elem, &bytes))
        return sm_error(ctx, SM_ERR_NOMEM, "size overflow while reading a table");
    void *q = sm_realloc(ctx, *p, bytes);
    if (!q)
        return SM_ERR_NOMEM;
    *p = q;
    *cap = ncap;
    return SM_OK;
}

static sm_status put_char(parse_state *ps, char c)
{
    sm_status st = grow(ps->ctx, (void **)&ps->text, &ps->captext, ps->ntext + 1, 1);
    if (st == SM_OK)
        ps->text[ps->ntext++] = c;
    return st;
}

static sm_status put_cell(parse_state *ps, size_t offset)
{
    sm_status st = grow(ps->ctx, (void **)&ps->cells, &ps->capcells, ps->ncells + 1, sizeof(size_t));
    if (st == SM_OK)
        ps->cells[ps->ncells++] = offset;
    return st;
}

/* Line number of byte offset `at` (1-based). */
static long line_of(const unsigned char *data, size_t at)
{
    long line = 1;
    for (size_t i = 0; i < at; i++)
        if (data[i] == '\n' || (data[i] == '\r' && data[i + 1] != '\n'))
            line++;
    return line;
}

/* Checks that data is UTF-8 (no overlong forms, no surrogates, at most U+10FFFF) without NUL.
 * Returns the offset of the first bad byte, or size when all is well. */
static size_t utf8_check(const unsigned char *d, size_t size)
{
    size_t i = 0;
    while (i < size) {
        unsigned c = d[i];
        if (c == 0)
            return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned min;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            min = 0x80;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            min = 0x800;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            min = 0x10000;
            cp = c & 0x07;
        } else
            return i;
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= size || (d[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (d[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return size;
}

/* 1 if the record just parsed (fields from `first` on) is all empty and had no quotes. */
static int record_blank(const parse_state *ps, size_t first, int any_quoted)
{
    if (any_quoted)
        return 0;
    for (size_t i = first; i < ps->ncells; i++)
        if (ps->text[ps->cells[i]] != '\0')
            return 0;
    return 1;
}

static sm_status parse(parse_state *ps, const unsigned char *data, size_t size)
{
    sm_context *ctx = ps->ctx;
    const char *name = ps->name;
    size_t p = 0;
    long line = 1;
    size_t ncols = 0; /* 0 until the header is read */
    sm_status st;

    if (size >= 2 && ((data[0] == 0xFF && data[1] == 0xFE) || (data[0] == 0xFE && data[1] == 0xFF)))
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: the file is UTF-16; save it as UTF-8 (in Excel: 'CSV UTF-8')", name);
    if (size >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF)
        p = 3;
    size_t bad = utf8_check(data + p, size - p);
    if (bad != size - p) {
        size_t at = p + bad;
        if (data[at] == 0)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s:%ld: the file holds a NUL byte: not a text CSV (UTF-16?); save it "
                            "as UTF-8",
                            name, line_of(data, at));
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s:%ld: not valid UTF-8 (byte 0x%02X); the file may be GBK/ANSI: save it "
                        "as UTF-8 (in Excel: 'CSV UTF-8')",
                        name, line_of(data, at), data[at]);
    }

    while (p < size) {
        size_t first = ps->ncells;
        long record_line = line;
        int any_quoted = 0;
        for (;;) { /* one field */
            size_t col = ps->ncells - first + 1;
            while (p < size && is_space((char)data[p]))
                p++;
            size_t offset = ps->ntext;
            if (p < size && data[p] == '"') {
                long quote_line = line;
                any_quoted = 1;
                p++;
                for (;;) {
                    if (p >= size)
                        return sm_error(ctx, SM_ERR_INPUT,
                                        "%s:%ld: field %zu: quote opened here is never closed",
                                        name, quote_line, col);
                    unsigned char c = data[p];
                    if (c == '"') {
                        if (p + 1 < size && data[p + 1] == '"') {
                            if ((st = put_char(ps, '"')))
                                return st;
                            p += 2;
                            continue;
                        }
                        p++;
                        break;
                    }
                    if (c == '\n' || (c == '\r' && (p + 1 >= size || data[p + 1] != '\n')))
                        line++;
                    if ((st = put_char(ps, (char)c)))
                        return st;
                    p++;
                }
                while (p < size && is_space((char)data[p]))
                    p++;
                if (p < size && data[p] != ',' && data[p] != '\r' && data[p] != '\n')
                    return sm_error(ctx, SM_ERR_INPUT,
                                    "%s:%ld: field %zu: text after a closing quote (a quote "
                                    "inside a quoted field is written \"\")",
                                    name, line, col);
            } else {
                size_t begin = ps->ntext;
                while (p < size && data[p] != ',' && data[p] != '\r' && data[p] != '\n') {
                    if (data[p] == '"')
                        return sm_error(ctx, SM_ERR_INPUT,
                                        "%s:%ld: field %zu: a quote inside an unquoted field "
                                        "(quote the whole field and double the quote)",
                                        name, line, col);
                    if ((st = put_char(ps, (char)data[p])))
                        return st;
                    p++;
                }
                while (ps->ntext > begin && is_space(ps->text[ps->ntext - 1]))
                    ps->ntext--;
            }
            if ((st = put_char(ps, '\0')) || (st = put_cell(ps, offset)))
                return st;
            if (p < size && data[p] == ',') {
                p++;
                continue;
            }
            /* End of the record: CRLF, LF, a lone CR, or the end of the data. */
            if (p < size && data[p] == '\r')
                p++;
            if (p < size && data[p] == '\n')
                p++;
            line++;
            break;
        }
        size_t nfields = ps->ncells - first;
        if (record_blank(ps, first, any_quoted)) {
            ps->ncells = first;
            continue;
        }
        if (ncols == 0) {
            ncols = nfields;
            for (size_t i = 0; i < ncols; i++) {
                const char *h = ps->text + ps->cells[i];
                if (!h[0])
                    return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: header column %zu has no name",
                                    name, record_line, i + 1);
                for (size_t j = 0; j < i; j++)
                    if (sm__strieq(h, ps->text + ps->cells[j]))
                        return sm_error(ctx, SM_ERR_INPUT,
                                        "%s:%ld: header names column '%s' twice (columns %zu "
                                        "and %zu)",
                                        name, record_line, h, j + 1, i + 1);
            }
            continue;
        }
        if (nfields != ncols)
            return sm_error(ctx, SM_ERR_INPUT,
                            "%s:%ld: %zu field%s, but the header has %zu (an unquoted comma in a "
                            "value?)",
                            name, record_line, nfields, nfields == 1 ? "" : "s", ncols);
        if ((st = grow(ctx, (void **)&ps->lines, &ps->caplines, ps->nlines + 1, sizeof(long))))
            return st;
        ps->lines[ps->nlines++] = record_line;
    }
    if (ncols == 0)
        return sm_error(ctx, SM_ERR_INPUT, "%s: the file is empty (no header row)", name);
    ps->ncols = ncols;
    return SM_OK;
}

sm_status sm_table_parse(sm_table **out, sm_context *ctx, const char *name, const void *data,
                         size_t size)
{
    sm_status st = SM_OK;
    parse_state ps = {.ctx = ctx, .name = name ? name : "(table)"};
    sm_table *t = NULL;
    uint8_t digest[32];
    *out = NULL;

    t = sm_calloc(ctx, 1, sizeof *t);
    if (!t) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    t->name = sm__strdup(ctx, ps.name);
    if (!t->name) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    sm_sha256(data, size, digest);
    sm_hex(digest, sizeof digest, t->sha256);
    if ((st = parse(&ps, data ? data : (const void *)"", size)))
        goto end;
    /* The header's cells come first; every data row has exactly ncols cells. */
    t->ncols = ps.ncols;
    t->nrows = ps.nlines;
    t->text = ps.text;
    t->cells = ps.cells;
    t->lines = ps.lines;
    ps.text = NULL;
    ps.cells = NULL;
    ps.lines = NULL;
    *out = t;
    t = NULL;
end:
    free(ps.text);
    free(ps.cells);
    free(ps.lines);
    sm_table_destroy(t);
    return st;
}

sm_status sm_table_read(sm_table **out, sm_context *ctx, const char *path)
{
    sm_status st = SM_OK;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sm_error(ctx, errno == ENOENT ? SM_ERR_INPUT : SM_ERR_IO, "%s: cannot open: %s",
                        path, strerror(errno));
    for (;;) {
        if ((st = grow(ctx, (void **)&buf, &cap, n + 65536, 1)))
            goto end;
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                st = sm_error(ctx, SM_ERR_IO, "%s: read failed: %s", path, strerror(errno));
                goto end;
            }
            break;
        }
    }
    st = sm_table_parse(out, ctx, path, buf, n);
end:
    fclose(f);
    free(buf);
    return st;
}

void sm_table_destroy(sm_table *table)
{
    if (!table)
        return;
    free(table->name);
    free(table->text);
    free(table->cells);
    free(table->lines);
    free(table);
}

const char *sm_table_name(const sm_table *table) { return table->name; }
const char *sm_table_sha256(const sm_table *table) { return table->sha256; }
size_t sm_table_rows(const sm_table *table) { return table->nrows; }
size_t sm_table_cols(const sm_table *table) { return table->ncols; }

const char *sm_table_col_name(const sm_table *table, size_t col)
{
    return col < table->ncols ? table->text + table->cells[col] : "";
}

long sm_table_line(const sm_table *table, size_t row)
{
    return row < table->nrows ? table->lines[row] : 0;
}

const char *sm_table_cell(const sm_table *table, size_t row, size_t col)
{
    if (row >= table->nrows || col >= table->ncols)
        return "";
    return table->text + table->cells[(row + 1) * table->ncols + col];
}

int sm_table_find_col(const sm_table *table, const char *name, size_t *col)
{
    char want[256];
    snprintf(want, sizeof want, "%s", name ? name : "");
    sm__trim(want);
    for (size_t i = 0; i < table->ncols; i++)
        if (sm__strieq(want, sm_table_col_name(table, i))) {
            *col = i;
            return 1;
        }
    return 0;
}

sm_status sm_table_col(const sm_table *table, sm_context *ctx, const char *name, size_t *col)
{
    if (sm_table_find_col(table, name, col))
        return SM_OK;
    char list[1024];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; i < table->ncols && n < sizeof list; i++) {
        int w = snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                         sm_table_col_name(table, i));
        if (w < 0)
            break;
        n += (size_t)w;
    }
    return sm_error(ctx, SM_ERR_INPUT, "%s: no column '%s' (the columns are: %s)", table->name,
                    name, list);
}

/* Checks row/col and that the cell is not empty; *cell is set for the caller. */
static sm_status cell_nonempty(const sm_table *t, sm_context *ctx, size_t row, size_t col,
                               const char *what, const char **cell)
{
    if (row >= t->nrows || col >= t->ncols)
        return sm_error(ctx, SM_ERR_INTERNAL, "%s: row %zu column %zu is outside the table",
                        t->name, row, col);
    *cell = sm_table_cell(t, row, col);
    if ((*cell)[0] == '\0')
        return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: column '%s' is empty (%s is required)",
                        t->name, t->lines[row], sm_table_col_name(t, col), what);
    return SM_OK;
}

sm_status sm_table_get_double(const sm_table *table, sm_context *ctx, size_t row, size_t col,
                              double *out)
{
    const char *cell = NULL;
    sm_status st = cell_nonempty(table, ctx, row, col, "a number", &cell);
    if (st)
        return st;
    if (sm_parse_double(cell, out))
        return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: column '%s': '%s' is not a number",
                        table->name, table->lines[row], sm_table_col_name(table, col), cell);
    return SM_OK;
}

sm_status sm_table_get_long(const sm_table *table, sm_context *ctx, size_t row, size_t col,
                            long *out)
{
    const char *cell = NULL;
    sm_status st = cell_nonempty(table, ctx, row, col, "an integer", &cell);
    if (st)
        return st;
    if (sm_parse_long(cell, out))
        return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: column '%s': '%s' is not an integer",
                        table->name, table->lines[row], sm_table_col_name(table, col), cell);
    return SM_OK;
}

sm_status sm_table_get_text(const sm_table *table, sm_context *ctx, size_t row, size_t col,
                            const char **out)
{
    return cell_nonempty(table, ctx, row, col, "a value", out);
}

sm_status sm_table_get_yesno(const sm_table *table, sm_context *ctx, size_t row, size_t col,
                             int *out)
{
    const char *cell = NULL;
    sm_status st = cell_nonempty(table, ctx, row, col, "yes or no", &cell);
    if (st)
        return st;
    if (sm__strieq(cell, "yes") || sm__strieq(cell, "true") || strcmp(cell, "1") == 0)
        *out = 1;
    else if (sm__strieq(cell, "no") || sm__strieq(cell, "false") || strcmp(cell, "0") == 0)
        *out = 0;
    else
        return sm_error(ctx, SM_ERR_INPUT, "%s:%ld: column '%s': '%s' is not yes or no",
                        table->name, table->lines[row], sm_table_col_name(table, col), cell);
    return SM_OK;
}

/* ---- Writing ---------------------------------------------------------------------------- */

struct sm_csv_writer {
    sm_context *ctx;
    FILE *f;
    int owns;
    char *name;
    unsigned flags;
    size_t fields; /* fields written in the current record */
    char *buf;     /* bytes not yet handed to f: one fwrite per WRITER_BUF bytes, not per field */
    size_t len;
};

#define WRITER_BUF 65536

static sm_status writer_new(sm_csv_writer **out, sm_context *ctx, FILE *f, int owns,
                            const char *name, unsigned flags)
{
    sm_csv_writer *w = sm_calloc(ctx, 1, sizeof *w);
    if (!w)
        return SM_ERR_NOMEM;
    w->ctx = ctx;
    w->f = f;
    w->owns = owns;
    w->flags = flags;
    w->name = sm__strdup(ctx, name ? name : "(stream)");
    w->buf = sm_malloc(ctx, WRITER_BUF);
    if (!w->name || !w->buf) {
        free(w->name);
        free(w->buf);
        free(w);
        return SM_ERR_NOMEM;
    }
    if ((flags & SM_CSV_BOM) && fputs("\xEF\xBB\xBF", f) == EOF) {
        sm_status st = sm_error(ctx, SM_ERR_IO, "%s: write failed: %s", w->name, strerror(errno));
        free(w->name);
        free(w->buf);
        free(w);
        return st;
    }
    *out = w;
    return SM_OK;
}

sm_status sm_csv_writer_open(sm_csv_writer **out, sm_context *ctx, const char *path,
                             unsigned flags)
{
    *out = NULL;
    FILE *f = fopen(path, "wb");
    if (!f)
        return sm_error(ctx, SM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    sm_status st = writer_new(out, ctx, f, 1, path, flags);
    if (st)
        fclose(f);
    return st;
}

sm_status sm_csv_writer_stream(sm_csv_writer **out, sm_context *ctx, FILE *stream,
                               const char *name, unsigned flags)
{
    *out = NULL;
    return writer_new(out, ctx, stream, 0, name, flags);
}

static sm_status write_out(sm_csv_writer *w, const char *s, size_t n)
{
    if (n && fwrite(s, 1, n, w->f) != n)
        return sm_error(w->ctx, SM_ERR_IO, "%s: write failed: %s", w->name, strerror(errno));
    return SM_OK;
}

static sm_status flush_buf(sm_csv_writer *w)
{
    size_t n = w->len;
    w->len = 0;
    return write_out(w, w->buf, n);
}

static sm_status put(sm_csv_writer *w, const char *s, size_t n)
{
    if (n > WRITER_BUF - w->len) {
        sm_status st = flush_buf(w);
        if (st != SM_OK)
            return st;
        if (n >= WRITER_BUF)
            return write_out(w, s, n);
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    return SM_OK;
}

static sm_status separator(sm_csv_writer *w)
{
    return w->fields++ ? put(w, ",", 1) : SM_OK;
}

sm_status sm_csv_writer_text(sm_csv_writer *w, const char *text)
{
    sm_status st;
    if (!text)
        text = "";
    size_t n = strlen(text);
    if ((st = separator(w)))
        return st;
    int quote = n == 0 || is_space(text[0]) || is_space(text[n - 1]) || strpbrk(text, ",\"\r\n");
    if (!quote)
        return put(w, text, n);
    if ((st = put(w, "\"", 1)))
        return st;
    for (const char *p = text; *p; p++) {
        if ((st = put(w, p, 1)) || (*p == '"' && (st = put(w, "\"", 1))))
            return st;
    }
    return put(w, "\"", 1);
}

sm_status sm_csv_writer_double(sm_csv_writer *w, double v)
{
    char buf[32];
    sm_status st;
    if (isinf(v))
        return sm_error(w->ctx, SM_ERR_INTERNAL, "%s: refusing to write an infinite value in "
                        "column %zu", w->name, w->fields + 1);
    if ((st = separator(w)))
        return st;
    if (isnan(v))
        return SM_OK;
    int n = sm_format_double(v, buf, sizeof buf);
    return put(w, buf, (size_t)n);
}

sm_status sm_csv_writer_long(sm_csv_writer *w, long long v)
{
    char buf[32];
    sm_status st;
    if ((st = separator(w)))
        return st;
    /* the digits from the last: what %lld gives, without printf */
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    char *e = buf + sizeof buf, *b = e;
    do {
        *--b = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--b = '-';
    return put(w, b, (size_t)(e - b));
}

sm_status sm_csv_writer_end_row(sm_csv_writer *w)
{
    w->fields = 0;
    return (w->flags & SM_CSV_CRLF) ? put(w, "\r\n", 2) : put(w, "\n", 1);
}

sm_status sm_csv_writer_append(sm_csv_writer *w, const char *records, size_t n)
{
    if (w->fields)
        return sm_error(w->ctx, SM_ERR_INTERNAL, "%s: records appended inside a record", w->name);
    return put(w, records, n);
}

sm_status sm_csv_writer_close(sm_csv_writer *w)
{
    sm_status st = SM_OK;
    if (!w)
        return SM_OK;
    if ((st = flush_buf(w)) != SM_OK) {
        sm_csv_writer_destroy(w);
        return st;
    }
    if (fflush(w->f) != 0 || ferror(w->f))
        st = sm_error(w->ctx, SM_ERR_IO, "%s: write failed: %s", w->name, strerror(errno));
    if (w->owns && fclose(w->f) != 0 && st == SM_OK)
        st = sm_error(w->ctx, SM_ERR_IO, "%s: close failed: %s", w->name, strerror(errno));
    w->f = NULL;
    free(w->name);
    free(w->buf);
    free(w);
    return st;
}

void sm_csv_writer_destroy(sm_csv_writer *w)
{
    if (!w)
        return;
    if (w->len && w->f)
        (void)fwrite(w->buf, 1, w->len, w->f); /* what was written so far, as before buffering */
    if (w->owns && w->f)
        fclose(w->f);
    free(w->name);
    free(w->buf);
    free(w);
}
