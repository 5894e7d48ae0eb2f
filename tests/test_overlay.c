/* test_overlay.c: exact overlay areas worked out by hand: a union of two overlapping squares
 * counts the overlap once; a square straddling its edge, a polygon with a hole and a disjoint
 * polygon get the area of their part inside. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sinkmap/overlay.h"

static void square(double *xy, double x0, double y0, double x1, double y1)
{
    double v[10] = {x0, y0, x1, y0, x1, y1, x0, y1, x0, y0};
    for (int k = 0; k < 10; k++)
        xy[k] = v[k];
}

static void test_union_and_inside(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_overlay *o = NULL;
    assert_int_equal(sm_overlay_create(&o, ctx), SM_OK);
    double a[10], b[10];
    square(a, 0, 0, 10, 10);
    square(b, 5, 0, 15, 10); /* overlaps a on [5,10] x [0,10] */
    sm_ring ra = {a, 5}, rb = {b, 4}; /* b given without its closing point */
    sm_polygon pa = {&ra, 1}, pb = {&rb, 1};
    assert_int_equal(sm_overlay_add(o, ctx, &pa, 1), SM_OK);
    assert_int_equal(sm_overlay_add(o, ctx, &pb, 1), SM_OK);
    assert_int_equal(sm_overlay_finish(o, ctx), SM_OK);
    /* union [0,15] x [0,10] = 150, not 100 + 100 */
    assert_true(fabs(sm_overlay_area(o) - 150.0) < 1e-9);
    double c[10], area;
    square(c, 8, 8, 12, 12); /* inside: [8,12] x [8,10] = 8 */
    sm_ring rc = {c, 5};
    sm_polygon pc = {&rc, 1};
    assert_int_equal(sm_overlay_inside_area(o, ctx, &pc, 1, &area), SM_OK);
    assert_true(fabs(area - 8.0) < 1e-9);
    double shell[10], hole[10];
    square(shell, 1, 1, 5, 5);
    square(hole, 2, 2, 4, 4);
    sm_ring rh[2] = {{shell, 5}, {hole, 5}};
    sm_polygon ph = {rh, 2}; /* 16 − 4 = 12, all inside */
    assert_int_equal(sm_overlay_inside_area(o, ctx, &ph, 1, &area), SM_OK);
    assert_true(fabs(area - 12.0) < 1e-9);
    double d[10];
    square(d, 20, 20, 30, 30);
    sm_ring rd = {d, 5};
    sm_polygon two[2] = {{&rd, 1}, {&rc, 1}}; /* a multipolygon: 0 + 8 */
    assert_int_equal(sm_overlay_inside_area(o, ctx, two, 2, &area), SM_OK);
    assert_true(fabs(area - 8.0) < 1e-9);
    assert_int_equal(sm_overlay_inside_area(o, ctx, two, 1, &area), SM_OK);
    assert_true(area == 0.0);
    sm_overlay_destroy(o);
    sm_overlay_destroy(NULL);
    sm_context_destroy(ctx);
}

static void test_empty(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_overlay *o = NULL;
    assert_int_equal(sm_overlay_create(&o, ctx), SM_OK);
    assert_int_equal(sm_overlay_finish(o, ctx), SM_OK);
    assert_true(sm_overlay_area(o) == 0.0);
    sm_overlay_destroy(o);
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_union_and_inside),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
