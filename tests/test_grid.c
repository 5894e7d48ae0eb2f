/* test_grid.c: tests of grids and windows (src/geo/grid.c).
 * Every expected window is worked out by hand in the comment beside it.
 * Fast: pure arithmetic, no files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <math.h>

#include "sinkmap/grid.h"

static void expect_window(sm_window got, int64_t col0, int64_t row0, int64_t ncols, int64_t nrows,
                          const char *what)
{
    if (got.col0 != col0 || got.row0 != row0 || got.ncols != ncols || got.nrows != nrows) {
        print_error("%s: want {col0 %lld, row0 %lld, %lld x %lld}, got {col0 %lld, row0 %lld, "
                    "%lld x %lld}\n",
                    what, (long long)col0, (long long)row0, (long long)ncols, (long long)nrows,
                    (long long)got.col0, (long long)got.row0, (long long)got.ncols,
                    (long long)got.nrows);
        fail();
    }
}

/* x0 100, y0 200, cells 10 x 5, 8 columns, 6 rows: x in [100,180], y in [170,200]. */
static const sm_grid G = {100.0, 200.0, 10.0, 5.0, 8, 6};

static void test_subgrid(void **state)
{
    (void)state;
    sm_window w = {2, 3, 4, 2};
    sm_grid s = sm_grid_subgrid(&G, &w);
    /* x0 = 100 + 2*10, y0 = 200 - 3*5. */
    assert_true(s.x0 == 120.0);
    assert_true(s.y0 == 185.0);
    assert_true(s.dx == 10.0 && s.dy == 5.0);
    assert_int_equal(s.ncols, 4);
    assert_int_equal(s.nrows, 2);

    sm_window all = {0, 0, 8, 6};
    s = sm_grid_subgrid(&G, &all);
    assert_true(s.x0 == G.x0 && s.y0 == G.y0 && s.ncols == 8 && s.nrows == 6);

    /* A cell of the subgrid is the same cell of the grid: cell (1,1) of s is (4,3) of G,
     * whose box in G's window_for_box is {3,4,1,1}. */
    s = sm_grid_subgrid(&G, &w);
    sm_window back = sm_grid_window_for_box(&G, s.x0 + 1.2 * s.dx, s.y0 - 1.8 * s.dy,
                                            s.x0 + 1.7 * s.dx, s.y0 - 1.3 * s.dy);
    expect_window(back, 3, 4, 1, 1, "subgrid cell back in the grid");
}

static void test_window_intersect(void **state)
{
    (void)state;
    sm_window a = {0, 0, 5, 5}, b = {3, 2, 5, 5};
    expect_window(sm_window_intersect(&a, &b), 3, 2, 2, 3, "overlap");
    expect_window(sm_window_intersect(&b, &a), 3, 2, 2, 3, "overlap, swapped");

    sm_window inner = {1, 1, 2, 2};
    expect_window(sm_window_intersect(&a, &inner), 1, 1, 2, 2, "contained");
    expect_window(sm_window_intersect(&a, &a), 0, 0, 5, 5, "itself");

    /* Half-open: a = cols [0,5), c starts at column 5: they share no cell. */
    sm_window c = {5, 0, 3, 3};
    sm_window e = sm_window_intersect(&a, &c);
    assert_int_equal(e.ncols, 0);
    assert_int_equal(e.nrows, 0);

    /* Overlapping columns but disjoint rows: empty in both sizes. */
    sm_window d = {1, 7, 2, 2};
    e = sm_window_intersect(&a, &d);
    assert_int_equal(e.ncols, 0);
    assert_int_equal(e.nrows, 0);

    /* An empty window intersects to empty. */
    sm_window z = {2, 2, 0, 0};
    e = sm_window_intersect(&a, &z);
    assert_int_equal(e.ncols, 0);
    assert_int_equal(e.nrows, 0);

    /* Negative offsets (windows partly off a grid) still intersect by arithmetic. */
    sm_window n = {-3, -2, 5, 4};
    expect_window(sm_window_intersect(&a, &n), 0, 0, 2, 2, "negative offsets");
}

static void test_window_for_box(void **state)
{
    (void)state;
    /* Inside: cols floor(1.5)=1 .. ceil(3.5)=4, rows floor((200-193)/5)=1 .. ceil(18/5)=4. */
    expect_window(sm_grid_window_for_box(&G, 115, 182, 135, 193), 1, 1, 3, 3, "inside");

    /* On cell lines: exactly cols [2,4) and rows [2,4), no neighbour on the closing side. */
    expect_window(sm_grid_window_for_box(&G, 120, 180, 140, 190), 2, 2, 2, 2, "on lines");

    /* A point on a cell corner (120,190) gets the one cell to its lower right. */
    expect_window(sm_grid_window_for_box(&G, 120, 190, 120, 190), 2, 2, 1, 1, "corner point");
    /* A point inside cell (col 2, row 2). */
    expect_window(sm_grid_window_for_box(&G, 125, 187, 125, 187), 2, 2, 1, 1, "inner point");
    /* A vertical segment on the line x = 130 from y 181 to 189: column 3, rows 2..3. */
    expect_window(sm_grid_window_for_box(&G, 130, 181, 130, 189), 3, 2, 1, 2, "vertical line");

    /* Partly outside (left and top): cols 0..ceil(1.5)=2, rows 0..ceil(10/5)=2. */
    expect_window(sm_grid_window_for_box(&G, 50, 190, 115, 260), 0, 0, 2, 2, "partly outside");
    /* Partly outside (right and bottom): cols floor(6.5)=6..8, rows floor(4.4)=4..6. */
    expect_window(sm_grid_window_for_box(&G, 165, 100, 500, 178), 6, 4, 2, 2, "right bottom");

    /* Larger than the grid: the whole grid. */
    expect_window(sm_grid_window_for_box(&G, -1e9, -1e9, 1e9, 1e9), 0, 0, 8, 6, "larger");

    /* Outside: beyond the right edge (starting exactly on it), left of the left edge (ending
     * exactly on it), below the bottom, above the top. */
    sm_window e = sm_grid_window_for_box(&G, 180, 175, 190, 185);
    assert_true(e.ncols == 0 && e.nrows == 0);
    e = sm_grid_window_for_box(&G, 90, 175, 100, 185);
    assert_true(e.ncols == 0 && e.nrows == 0);
    e = sm_grid_window_for_box(&G, 110, 160, 120, 170);
    assert_true(e.ncols == 0 && e.nrows == 0);
    e = sm_grid_window_for_box(&G, 110, 200, 120, 210);
    assert_true(e.ncols == 0 && e.nrows == 0);
    /* Far outside and NaN: empty, no overflow. */
    e = sm_grid_window_for_box(&G, 1e300, 1e300, 2e300, 2e300);
    assert_true(e.ncols == 0 && e.nrows == 0);
    e = sm_grid_window_for_box(&G, NAN, 175, 120, 185);
    assert_true(e.ncols == 0 && e.nrows == 0);

    /* UTM-like: x0 600000, y0 3400000, 10 m cells, 100 x 100. A box from (600123.4, 3399876.5)
     * to (600150, 3399900): cols floor(12.34)=12 .. ceil(15)=15, rows floor(10)=10 ..
     * ceil(12.35)=13. */
    sm_grid u = {600000.0, 3400000.0, 10.0, 10.0, 100, 100};
    expect_window(sm_grid_window_for_box(&u, 600123.4, 3399876.5, 600150.0, 3399900.0), 12, 10, 3,
                  3, "utm");
}

static void test_cell_area(void **state)
{
    (void)state;
    assert_true(sm_grid_cell_area(&G) == 50.0);
    sm_grid g = {0, 0, 0.5, 0.25, 1, 1};
    assert_true(sm_grid_cell_area(&g) == 0.125);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subgrid),
        cmocka_unit_test(test_window_intersect),
        cmocka_unit_test(test_window_for_box),
        cmocka_unit_test(test_cell_area),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
