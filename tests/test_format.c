/* test_format.c: sm_format_double (table.h), the number formatter of every CSV, against the
 * C library: for millions of doubles (random bit patterns over the whole range, subnormals,
 * whole numbers, powers of ten and their neighbours, short decimals and the midpoints between
 * neighbouring doubles) its text must be exactly the first of printf's %.15g, %.16g, %.17g
 * that strtod reads back as the same double, and strtod must read it back exactly. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sinkmap/table.h"

/* The oracle, from glibc alone (the tests run in the C locale). */
static void oracle(double v, char *out, size_t n)
{
    if (isnan(v)) {
        snprintf(out, n, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, n, "%s", v < 0 ? "-inf" : "inf");
        return;
    }
    for (int p = 15; p <= 17; p++) {
        snprintf(out, n, "%.*g", p, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t checked;

static void check(double v)
{
    char got[64], want[64];
    int n = sm_format_double(v, got, sizeof got);
    oracle(v, want, sizeof want);
    if (n != (int)strlen(want) || strcmp(got, want) != 0) {
        print_error("%a: sm_format_double gives '%s' (%d), printf/strtod give '%s'\n", v, got, n, want);
        fail();
    }
    if (isfinite(v)) {
        double back = strtod(got, NULL);
        if (memcmp(&back, &v, sizeof v) != 0) { /* bit for bit: -0 stays -0 */
            print_error("%a: '%s' reads back as %a\n", v, got, back);
            fail();
        }
    }
    checked++;
}

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static void test_random_bits(void **state)
{
    (void)state;
    /* Every exponent alike: most of these are outside the fast path, a check of the fallback. */
    for (int i = 0; i < 500000; i++)
        check(from_bits(next()));
    /* Subnormals and the smallest normals. */
    for (int i = 0; i < 200000; i++)
        check(from_bits(next() & ((UINT64_C(1) << 53) - 1)) * ((next() & 1) ? -1.0 : 1.0));
    check(from_bits(1));
    check(DBL_MIN);
    check(DBL_MAX);
    check(-DBL_MAX);
    check(0.0);
    check(-0.0);
    check(NAN);
    check(INFINITY);
    check(-INFINITY);
}

static void test_typical_range(void **state)
{
    (void)state;
    /* Log-uniform over 1e-13 .. 1e17, both signs: the figures of the CSVs (shares, ha, m³, t). */
    for (int i = 0; i < 2000000; i++) {
        double u = (double)(next() >> 11) / 9007199254740992.0;
        double v = pow(10.0, -13.0 + 30.0 * u);
        check((next() & 1) ? -v : v);
    }
}

static void test_integers_and_decimals(void **state)
{
    (void)state;
    for (int64_t k = -100000; k <= 100000; k++)
        check((double)k);
    for (int i = 0; i < 300000; i++) {
        check((double)(next() >> 11));                      /* up to 2^53 */
        check((double)(next() >> (11 + next() % 40)));       /* smaller whole numbers */
    }
    /* Short decimals k / 10^j, as areas and factors are typed. */
    for (int j = 0; j <= 12; j++)
        for (int i = 0; i < 50000; i++) {
            double v = (double)(next() % 100000000) / pow(10.0, j);
            check(v);
            check(nextafter(v, INFINITY));
            check(nextafter(v, -INFINITY));
        }
}

static void test_powers_of_ten(void **state)
{
    (void)state;
    char text[32];
    for (int x = -323; x <= 308; x++) {
        snprintf(text, sizeof text, "1e%d", x);
        double v = strtod(text, NULL);
        check(v);
        check(nextafter(v, INFINITY));
        check(nextafter(v, 0.0));
        check(-v);
        for (int d = 2; d <= 9; d++) {
            snprintf(text, sizeof text, "%de%d", d, x);
            check(strtod(text, NULL));
        }
    }
    /* Powers of two, where the gap below is half the gap above. */
    for (int x = -1074; x <= 1023; x++) {
        double v = ldexp(1.0, x);
        check(v);
        check(nextafter(v, 0.0));
        check(nextafter(v, INFINITY));
    }
}

/* Decimals that lie exactly halfway between two 15-, 16- or 17-digit decimals (k + 0.5 scaled
 * by a power of two, exactly representable), where printf rounds half to even. */
static void test_ties(void **state)
{
    (void)state;
    for (int i = 0; i < 200000; i++) {
        int p = 15 + (int)(next() % 3);
        uint64_t k = next() % 1000000000000000u;
        double v = ((double)k + 0.5) * ldexp(1.0, -(int)(next() % 4));
        (void)p;
        check(v);
        check(v / 1024.0);
        check(v * 1e-3);
    }
    printf("checked %zu doubles\n", checked);
    /* For the record (not a test: no timing assertions): the speed against printf + strtod. */
    char buf[64];
    clock_t t0 = clock();
    for (int i = 0; i < 1000000; i++)
        sm_format_double(1.0 + (double)i * 0.123456789, buf, sizeof buf);
    clock_t t1 = clock();
    for (int i = 0; i < 1000000; i++)
        oracle(1.0 + (double)i * 0.123456789, buf, sizeof buf);
    clock_t t2 = clock();
    printf("1e6 numbers: sm_format_double %.3f s, printf + strtod %.3f s\n", (double)(t1 - t0) / CLOCKS_PER_SEC,
           (double)(t2 - t1) / CLOCKS_PER_SEC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_bits),       cmocka_unit_test(test_typical_range),
        cmocka_unit_test(test_integers_and_decimals), cmocka_unit_test(test_powers_of_ten),
        cmocka_unit_test(test_ties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
