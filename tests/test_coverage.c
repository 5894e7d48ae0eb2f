/* test_coverage.c: tests of coverage fractions (src/geo/coverage.c): exact, centre, touched.
 * Small fixtures whose answers are worked out by hand, invariants on circles and UTM grids, and
 * a randomized oracle that checks every cell of hundreds of polygons against GEOS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <geos_c.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sinkmap/coverage.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---- helpers ------------------------------------------------------------------------------ */

static sm_grid grid_make(double x0, double y0, double dx, double dy, int64_t nc, int64_t nr)
{
    sm_grid g = {x0, y0, dx, dy, nc, nr};
    return g;
}

static void print_matrix(const char *label, const double *m, int64_t nr, int64_t nc)
{
    print_error("%s:\n", label);
    for (int64_t r = 0; r < nr; r++) {
        print_error("  ");
        for (int64_t j = 0; j < nc; j++)
            print_error(" %.17g", m[r * nc + j]);
        print_error("\n");
    }
}

/* Runs the coverage and compares window and values with `want` (nr x nc, row-major). */
static void expect_cov(const sm_grid *g, const sm_polygon *parts, size_t nparts, sm_cover_mode mode,
                       int64_t col0, int64_t row0, int64_t nc, int64_t nr, const double *want,
                       double tol, const char *what)
{
    sm_context *ctx = sm_context_create();
    sm_coverage cov = {{0, 0, 0, 0}, NULL, 0};
    assert_non_null(ctx);
    assert_int_equal(sm_coverage_compute(&cov, ctx, g, parts, nparts, mode), SM_OK);
    if (cov.win.col0 != col0 || cov.win.row0 != row0 || cov.win.ncols != nc ||
        cov.win.nrows != nr) {
        print_error("%s (mode %d): want window {%lld,%lld,%lld x %lld}, got {%lld,%lld,%lld x "
                    "%lld}\n",
                    what, (int)mode, (long long)col0, (long long)row0, (long long)nc, (long long)nr,
                    (long long)cov.win.col0, (long long)cov.win.row0, (long long)cov.win.ncols,
                    (long long)cov.win.nrows);
        fail();
    }
    for (int64_t i = 0; i < nc * nr; i++) {
        if (!(fabs(cov.frac[i] - want[i]) <= tol)) {
            print_error("%s (mode %d): cell %lld differs\n", what, (int)mode, (long long)i);
            print_matrix("expected", want, nr, nc);
            print_matrix("actual", cov.frac, nr, nc);
            fail();
        }
    }
    sm_coverage_free(&cov);
    sm_context_destroy(ctx);
}

/* A ring reversed into `out` (same number of points). */
static void reverse_ring(const double *xy, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = xy[2 * (n - 1 - i)];
        out[2 * i + 1] = xy[2 * (n - 1 - i) + 1];
    }
}

/* Expect the same result for the ring as given and reversed (one-ring polygons). */
static void expect_both_ways(const sm_grid *g, const double *xy, size_t n, sm_cover_mode mode,
                             int64_t col0, int64_t row0, int64_t nc, int64_t nr, const double *want,
                             const char *what)
{
    double rev[2 * 64];
    assert_true(n <= 64);
    sm_ring ring = {xy, n};
    sm_polygon poly = {&ring, 1};
    expect_cov(g, &poly, 1, mode, col0, row0, nc, nr, want, 1e-12, what);
    reverse_ring(xy, n, rev);
    sm_ring rring = {rev, n};
    sm_polygon rpoly = {&rring, 1};
    expect_cov(g, &rpoly, 1, mode, col0, row0, nc, nr, want, 1e-12, what);
}

/* Σ frac over the window. */
static double cov_sum(const sm_coverage *c)
{
    double s = 0.0;
    for (int64_t i = 0; i < c->win.ncols * c->win.nrows; i++)
        s += c->frac[i];
    return s;
}

/* ---- exact-mode fixtures ------------------------------------------------------------------ */

/* 3x3 unit grid, x in [0,3], y in [0,3] (x0 0, y0 3); row 0 is the top row, y in [2,3]. */

static void test_square_half_offset(void **state)
{
    (void)state;
    sm_grid g = grid_make(0, 3, 1, 1, 3, 3);
    /* [0.5,2.5]²: overlaps per column 0.5, 1, 0.5 and per row the same; the product. */
    const double sq[] = {0.5, 0.5, 2.5, 0.5, 2.5, 2.5, 0.5, 2.5, 0.5, 0.5};
    const double want[] = {0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25};
    expect_both_ways(&g, sq, 5, SM_COVER_EXACT, 0, 0, 3, 3, want, "half-offset square");
    /* The same without the closing point. */
    expect_both_ways(&g, sq, 4, SM_COVER_EXACT, 0, 0, 3, 3, want, "unclosed square");
}

static void test_square_fraction_offsets(void **state)
{
    (void)state;
    sm_grid g = grid_make(0, 3, 1, 1, 3, 3);
    /* [0.25,1.75] x [0.75,2.5]: columns 0,1 get 0.75 each; rows: top [2,2.5] 0.5, middle 1,
     * bottom [0.75,1] 0.25. Window cols 0..1, rows 0..2. */
    const double a[] = {0.25, 0.75, 1.75, 0.75, 1.75, 2.5, 0.25, 2.5};
    const double wa[] = {0.375, 0.375, 0.75, 0.75, 0.1875, 0.1875};
    expect_both_ways(&g, a, 4, SM_COVER_EXACT, 0, 0, 2, 3, wa, "square a");

    /* [0.25,1.75] x [1.1,2.6]: columns 0.75, 0.75; rows [2,2.6] 0.6 and [1.1,2] 0.9. */
    const double b[] = {0.25, 1.1, 1.75, 1.1, 1.75, 2.6, 0.25, 2.6};
    const double wb[] = {0.45, 0.45, 0.675, 0.675};
    expect_both_ways(&g, b, 4, SM_COVER_EXACT, 0, 0, 2, 2, wb, "square b");

    /* A square exactly on cell (col 1, row 1): one cell, coverage 1. */
    const double c[] = {1, 1, 2, 1, 2, 2, 1, 2};
    const double wc[] = {1};
    expect_both_ways(&g, c, 4, SM_COVER_EXACT, 1, 1, 1, 1, wc, "cell square");
}

static void test_triangles(void **state)
{
    (void)state;
    /* (0,0),(3,0),(0,3) on the 3x3 grid: x+y <= 3 passes through the corners (1,2), (2,1):
     * the cells below the diagonal are full, the diagonal cells half. */
    sm_grid g3 = grid_make(0, 3, 1, 1, 3, 3);
    const double t1[] = {0, 0, 3, 0, 0, 3};
    const double w1[] = {0.5, 0, 0, 1, 0.5, 0, 1, 1, 0.5};
    expect_both_ways(&g3, t1, 3, SM_COVER_EXACT, 0, 0, 3, 3, w1, "right triangle");

    /* (0,0),(2,0),(2,1) on a 2x1 grid: y <= x/2; column 0 gets ∫0^1 x/2 = 1/4, column 1
     * ∫1^2 x/2 = 3/4. */
    sm_grid g21 = grid_make(0, 1, 1, 1, 2, 1);
    const double t2[] = {0, 0, 2, 0, 2, 1};
    const double w2[] = {0.25, 0.75};
    expect_both_ways(&g21, t2, 3, SM_COVER_EXACT, 0, 0, 2, 1, w2, "slope 1/2 triangle");

    /* (0.5,0.5),(2.5,0.5),(0.5,1.5) on a 3x2 grid (y0 2): below h(x) = 0.5 + (2.5-x)/2.
     * Bottom row: [0.5,1]x[0.5,1] = 0.25; ∫1^1.5 0.5 + ∫1.5^2 (2.5-x)/2 = 0.4375;
     * ∫2^2.5 (2.5-x)/2 = 0.0625. Top row: ∫0.5^1 (1.5-x)/2 = 0.1875; ∫1^1.5 (1.5-x)/2 = 0.0625.
     * Total 1 = the triangle's area. */
    sm_grid g32 = grid_make(0, 2, 1, 1, 3, 2);
    const double t3[] = {0.5, 0.5, 2.5, 0.5, 0.5, 1.5};
    const double w3[] = {0.1875, 0.0625, 0, 0.25, 0.4375, 0.0625};
    expect_both_ways(&g32, t3, 3, SM_COVER_EXACT, 0, 0, 3, 2, w3, "off-grid triangle");

    /* A diamond |x-1.5| + |y-1.5| <= 1: the middle cell is inside (its corners on the edges),
     * the four edge neighbours hold triangles of 1/4, the corner cells nothing. */
    const double d[] = {1.5, 0.5, 2.5, 1.5, 1.5, 2.5, 0.5, 1.5};
    const double wd[] = {0, 0.25, 0, 0.25, 1, 0.25, 0, 0.25, 0};
    expect_both_ways(&g3, d, 4, SM_COVER_EXACT, 0, 0, 3, 3, wd, "diamond");
}

static void test_hole_and_multipolygon(void **state)
{
    (void)state;
    /* 4x4 unit grid; shell [0,4]², hole [1.5,2.5]²: the four middle cells lose 1/4 each. */
    sm_grid g = grid_make(0, 4, 1, 1, 4, 4);
    const double shell[] = {0, 0, 4, 0, 4, 4, 0, 4, 0, 0};
    const double hole[] = {1.5, 1.5, 2.5, 1.5, 2.5, 2.5, 1.5, 2.5, 1.5, 1.5};
    double rshell[10], rhole[10];
    reverse_ring(shell, 5, rshell);
    reverse_ring(hole, 5, rhole);
    const double want[] = {1, 1, 1, 1, 1, 0.75, 0.75, 1, 1, 0.75, 0.75, 1, 1, 1, 1, 1};
    /* All four combinations of ring orientations. */
    const double *shells[2] = {shell, rshell}, *holes[2] = {hole, rhole};
    for (int a = 0; a < 2; a++) {
        for (int b = 0; b < 2; b++) {
            sm_ring rings[2] = {{shells[a], 5}, {holes[b], 5}};
            sm_polygon p = {rings, 2};
            expect_cov(&g, &p, 1, SM_COVER_EXACT, 0, 0, 4, 4, want, 1e-12, "hole");
        }
    }
    assert_true(fabs(sm_polygon_area(&(sm_polygon){(sm_ring[]){{shell, 5}, {rhole, 5}}, 2}, 1) -
                     15.0) < 1e-12);

    /* Multipolygon on the 3x3 grid: [0,1]² fills the bottom-left cell, [2.5,3]² a quarter of
     * the top-right one; the window is their joint bounding box (the whole grid). */
    sm_grid g3 = grid_make(0, 3, 1, 1, 3, 3);
    const double p1[] = {0, 0, 1, 0, 1, 1, 0, 1};
    const double p2[] = {2.5, 2.5, 2.5, 3, 3, 3, 3, 2.5}; /* clockwise */
    sm_ring r1 = {p1, 4}, r2 = {p2, 4};
    sm_polygon parts[2] = {{&r1, 1}, {&r2, 1}};
    const double wm[] = {0, 0, 0.25, 0, 0, 0, 1, 0, 0};
    expect_cov(&g3, parts, 2, SM_COVER_EXACT, 0, 0, 3, 3, wm, 1e-12, "multipolygon");
    assert_true(fabs(sm_polygon_area(parts, 2) - 1.25) < 1e-12);

    /* A multipolygon part whose hole holds another part (an island in a lake). */
    const double isl[] = {1.75, 1.75, 2.25, 1.75, 2.25, 2.25, 1.75, 2.25};
    sm_ring rings[2] = {{shell, 5}, {hole, 5}};
    sm_ring ri = {isl, 4};
    sm_polygon lake[2] = {{rings, 2}, {&ri, 1}};
    /* The island gives each middle cell 1/16 back. */
    const double wl[] = {1, 1, 1, 1, 1, 0.8125, 0.8125, 1, 1, 0.8125, 0.8125, 1, 1, 1, 1, 1};
    expect_cov(&g, lake, 2, SM_COVER_EXACT, 0, 0, 4, 4, wl, 1e-12, "island in a hole");
}

static void test_ring_on_cell_edges(void **state)
{
    (void)state;
    /* An L along grid lines: the bottom row and the left column of the 3x3 grid. */
    sm_grid g = grid_make(0, 3, 1, 1, 3, 3);
    const double l[] = {0, 0, 3, 0, 3, 1, 1, 1, 1, 3, 0, 3, 0, 0};
    const double want[] = {1, 0, 0, 1, 0, 0, 1, 1, 1};
    expect_both_ways(&g, l, 7, SM_COVER_EXACT, 0, 0, 3, 3, want, "L on lines");
    expect_both_ways(&g, l, 7, SM_COVER_CENTER, 0, 0, 3, 3, want, "L on lines, centre");
    expect_both_ways(&g, l, 7, SM_COVER_TOUCHED, 0, 0, 3, 3, want, "L on lines, touched");

    /* The L upside down (a Γ): its edge along y = 2 has the polygon above it, so the cells
     * below that line (row 1, columns 1-2) are outside and untouched. */
    const double gam[] = {0, 0, 1, 0, 1, 2, 3, 2, 3, 3, 0, 3};
    const double wg[] = {1, 1, 1, 1, 0, 0, 1, 0, 0};
    expect_both_ways(&g, gam, 6, SM_COVER_EXACT, 0, 0, 3, 3, wg, "Γ on lines");
    expect_both_ways(&g, gam, 6, SM_COVER_CENTER, 0, 0, 3, 3, wg, "Γ on lines, centre");
    expect_both_ways(&g, gam, 6, SM_COVER_TOUCHED, 0, 0, 3, 3, wg, "Γ on lines, touched");

    /* Collinear extra vertices and a repeated vertex along the lines change nothing. */
    const double l2[] = {0, 0, 1, 0, 1, 0, 2, 0, 3, 0, 3, 1, 2, 1, 1, 1, 1, 2, 1, 3, 0, 3, 0, 1};
    expect_both_ways(&g, l2, 12, SM_COVER_EXACT, 0, 0, 3, 3, want, "L with extra vertices");
}

static void test_small_and_large(void **state)
{
    (void)state;
    sm_grid g = grid_make(0, 3, 1, 1, 3, 3);
    /* A triangle of area 0.5*0.5*0.4 = 0.1 inside cell (col 1, row 1). */
    const double t[] = {1.2, 1.2, 1.7, 1.2, 1.2, 1.6};
    const double w[] = {0.1};
    expect_both_ways(&g, t, 3, SM_COVER_EXACT, 1, 1, 1, 1, w, "tiny triangle");
    const double w1[] = {1};
    expect_both_ways(&g, t, 3, SM_COVER_TOUCHED, 1, 1, 1, 1, w1, "tiny triangle, touched");
    /* Its centre (1.5,1.5): (0.3/0.5) + (0.3/0.4) = 1.35 > 1, outside. */
    const double w0[] = {0};
    expect_both_ways(&g, t, 3, SM_COVER_CENTER, 1, 1, 1, 1, w0, "tiny triangle, centre");

    /* Larger than the grid: every cell 1, in all modes. */
    const double big[] = {-10, -10, 20, -10, 20, 20, -10, 20};
    const double ones[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    expect_both_ways(&g, big, 4, SM_COVER_EXACT, 0, 0, 3, 3, ones, "larger than grid");
    expect_both_ways(&g, big, 4, SM_COVER_CENTER, 0, 0, 3, 3, ones, "larger, centre");
    expect_both_ways(&g, big, 4, SM_COVER_TOUCHED, 0, 0, 3, 3, ones, "larger, touched");

    /* A huge triangle whose edges all miss the grid, with the grid inside it. */
    const double tri[] = {-1e6, -1e6, 1e6, -1e6, 0, 1e6};
    expect_both_ways(&g, tri, 3, SM_COVER_EXACT, 0, 0, 3, 3, ones, "huge triangle");

    /* Partly outside: [-1,1.5] x [1.5,5] is clipped to [0,1.5] x [1.5,3]: columns 1, 0.5,
     * rows 1, 0.5. */
    const double po[] = {-1, 1.5, 1.5, 1.5, 1.5, 5, -1, 5};
    const double wp[] = {1, 0.5, 0.5, 0.25};
    expect_both_ways(&g, po, 4, SM_COVER_EXACT, 0, 0, 2, 2, wp, "partly outside");
    /* A diagonal crossing the grid's edge: (-1,0),(2,0),(-1,3): x+y <= 2 clipped to x >= 0:
     * cells below the line x+y = 2 through the corner (1,1). Window cols 0..1, rows 0..2. */
    const double pd[] = {-1, 0, 2, 0, -1, 3};
    const double wd[] = {0, 0, 0.5, 0, 1, 0.5};
    expect_both_ways(&g, pd, 3, SM_COVER_EXACT, 0, 0, 2, 3, wd, "diagonal partly outside");

    /* Wholly outside: an empty window and no error. */
    sm_context *ctx = sm_context_create();
    sm_coverage cov = {{0, 0, 0, 0}, NULL, 0};
    const double out[] = {5, 5, 6, 5, 6, 6};
    sm_ring r = {out, 3};
    sm_polygon p = {&r, 1};
    assert_int_equal(sm_coverage_compute(&cov, ctx, &g, &p, 1, SM_COVER_EXACT), SM_OK);
    assert_int_equal(cov.win.ncols, 0);
    assert_int_equal(cov.win.nrows, 0);
    /* No parts at all. */
    assert_int_equal(sm_coverage_compute(&cov, ctx, &g, NULL, 0, SM_COVER_EXACT), SM_OK);
    assert_int_equal(cov.win.ncols, 0);
    sm_coverage_free(&cov);
    sm_context_destroy(ctx);
}

static void test_utm_fixture(void **state)
{
    (void)state;
    /* The half-offset square on a UTM grid of 10 m cells. */
    sm_grid g = grid_make(600000, 3400000, 10, 10, 50, 40);
    const double sq[] = {600105, 3399875, 600125, 3399875, 600125, 3399895, 600105, 3399895};
    const double want[] = {0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25};
    /* x: cols floor(10.5)=10 .. ceil(12.5)=13; y: rows floor(10.5)=10 .. 13. */
    expect_both_ways(&g, sq, 4, SM_COVER_EXACT, 10, 10, 3, 3, want, "utm square");

    /* Unequal cell sizes: dx 20, dy 5; the square [600030,600050] x [3399985,3399995]:
     * columns [20,40],[40,60] get 0.5 each; rows [3399990,3399995] 1, [3399985,3399990] 1. */
    sm_grid g2 = grid_make(600000, 3400000, 20, 5, 10, 10);
    const double r[] = {600030, 3399985, 600050, 3399985, 600050, 3399995, 600030, 3399995};
    const double w2[] = {0.5, 0.5, 0.5, 0.5};
    expect_both_ways(&g2, r, 4, SM_COVER_EXACT, 1, 1, 2, 2, w2, "dx != dy");
}

/* A regular n-gon of radius rad around (cx, cy), counter-clockwise. */
static double *ngon(double cx, double cy, double rad, size_t n)
{
    double *xy = malloc(2 * n * sizeof *xy);
    assert_non_null(xy);
    for (size_t i = 0; i < n; i++) {
        double a = 2.0 * M_PI * (double)i / (double)n;
        xy[2 * i] = cx + rad * cos(a);
        xy[2 * i + 1] = cy + rad * sin(a);
    }
    return xy;
}

static void circle_case(const sm_grid *g, double cx, double cy, double rad, size_t n)
{
    sm_context *ctx = sm_context_create();
    sm_coverage cov = {{0, 0, 0, 0}, NULL, 0};
    double *xy = ngon(cx, cy, rad, n);
    sm_ring ring = {xy, n};
    sm_polygon p = {&ring, 1};
    double area = sm_polygon_area(&p, 1);
    /* The inscribed n-gon has area n/2 r² sin(2π/n), a little below πr². */
    double ngon_area = 0.5 * (double)n * rad * rad * sin(2.0 * M_PI / (double)n);
    assert_true(fabs(area - ngon_area) <= 1e-9 * ngon_area);
    double step = 2.0 * M_PI / (double)n; /* sin(s)/s > 1 - s²/6 */
    assert_true(area < M_PI * rad * rad && area > M_PI * rad * rad * (1.0 - step * step / 5.0));

    assert_int_equal(sm_coverage_compute(&cov, ctx, g, &p, 1, SM_COVER_EXACT), SM_OK);
    double got = cov_sum(&cov) * sm_grid_cell_area(g);
    if (!(fabs(got - area) <= 1e-9 * area)) {
        print_error("circle: Σc·A = %.17g, shoelace %.17g\n", got, area);
        fail();
    }
    /* Cells wholly inside the n-gon (farthest corner within r cos(π/n)) are 1, cells wholly
     * outside the circle (nearest point beyond r) are 0. */
    double rin = rad * cos(M_PI / (double)n);
    for (int64_t r = 0; r < cov.win.nrows; r++) {
        for (int64_t j = 0; j < cov.win.ncols; j++) {
            double xa = g->x0 + (double)(cov.win.col0 + j) * g->dx, xb = xa + g->dx;
            double yb = g->y0 - (double)(cov.win.row0 + r) * g->dy, ya = yb - g->dy;
            double fx = fmax(fabs(xa - cx), fabs(xb - cx)), fy = fmax(fabs(ya - cy), fabs(yb - cy));
            double nx = (cx >= xa && cx <= xb) ? 0 : fmin(fabs(xa - cx), fabs(xb - cx));
            double ny = (cy >= ya && cy <= yb) ? 0 : fmin(fabs(ya - cy), fabs(yb - cy));
            double c = cov.frac[r * cov.win.ncols + j];
            if (hypot(fx, fy) < rin)
                assert_true(fabs(c - 1.0) < 1e-12);
            if (hypot(nx, ny) > rad)
                assert_true(c == 0.0);
            assert_true(c >= 0.0 && c <= 1.0);
        }
    }
    free(xy);
    sm_coverage_free(&cov);
    sm_context_destroy(ctx);
}

static void test_circles(void **state)
{
    (void)state;
    /* Unit cells, grid 12 x 10. */
    sm_grid g = grid_make(0, 10, 1, 1, 12, 10);
    circle_case(&g, 5.3, 4.7, 3.2, 720);
    /* A circle smaller than a cell, and one across many cells with 10000 vertices. */
    circle_case(&g, 5.3, 4.7, 0.2, 64);
    sm_grid gb = grid_make(-50, 50, 0.5, 0.5, 200, 200);
    circle_case(&gb, 0.123, -0.456, 40.0, 10000);
    /* UTM coordinates, 10 m cells, and 10 m x 20 m cells. */
    sm_grid gu = grid_make(600000, 3400000, 10, 10, 100, 100);
    circle_case(&gu, 600437.77, 3399512.31, 123.4, 2000);
    sm_grid gv = grid_make(599990, 3400020, 10, 20, 100, 100);
    circle_case(&gv, 600437.77, 3399512.31, 123.4, 2000);
    /* Non-zero origin and cells that are not powers of two. */
    sm_grid gn = grid_make(-1234.5, 987.25, 0.3, 0.7, 100, 100);
    circle_case(&gn, -1220.1, 970.3, 8.9, 997);
}

/* ---- centre and touched fixtures ---------------------------------------------------------- */

static void test_center_fixtures(void **state)
{
    (void)state;
    /* 4x4 unit grid (y0 4). The square [0.5,2.5] x [1.5,3.5] has centres on all four sides:
     * left (x 0.5) and top (y 3.5) count, right (x 2.5) and bottom (y 1.5) do not. Window:
     * cols 0..2, rows floor(0.5)=0 .. ceil(2.5)=3. */
    sm_grid g = grid_make(0, 4, 1, 1, 4, 4);
    const double sq[] = {0.5, 1.5, 2.5, 1.5, 2.5, 3.5, 0.5, 3.5};
    const double want[] = {1, 1, 0, 1, 1, 0, 0, 0, 0};
    expect_both_ways(&g, sq, 4, SM_COVER_CENTER, 0, 0, 3, 3, want, "centres on the sides");
    const double wex[] = {0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25};
    expect_both_ways(&g, sq, 4, SM_COVER_EXACT, 0, 0, 3, 3, wex, "centres on the sides, exact");

    /* The diamond on the 3x3 grid has centres on its four vertices: the left vertex (0.5,1.5)
     * counts (the polygon lies to its right), the right, top and bottom vertices do not. */
    sm_grid g3 = grid_make(0, 3, 1, 1, 3, 3);
    const double d[] = {1.5, 0.5, 2.5, 1.5, 1.5, 2.5, 0.5, 1.5};
    const double wd[] = {0, 0, 0, 1, 1, 0, 0, 0, 0};
    expect_both_ways(&g3, d, 4, SM_COVER_CENTER, 0, 0, 3, 3, wd, "diamond centres");

    /* (0,0),(3,0),(0,3): centres strictly inside are those with x+y < 3: (0.5,0.5),
     * (1.5,0.5), (0.5,1.5); (2.5,0.5), (1.5,1.5), (0.5,2.5) lie on the hypotenuse, the
     * polygon is to their left: outside. */
    const double t[] = {0, 0, 3, 0, 0, 3};
    const double wt[] = {0, 0, 0, 1, 0, 0, 1, 1, 0};
    expect_both_ways(&g3, t, 3, SM_COVER_CENTER, 0, 0, 3, 3, wt, "triangle centres");

    /* Slope-1/2 triangle on a 2x1 grid: centre (0.5,0.5) is above y = x/2, (1.5,0.5) below. */
    sm_grid g21 = grid_make(0, 1, 1, 1, 2, 1);
    const double t2[] = {0, 0, 2, 0, 2, 1};
    const double w2[] = {0, 1};
    expect_both_ways(&g21, t2, 3, SM_COVER_CENTER, 0, 0, 2, 1, w2, "slope triangle centres");

    /* Two squares sharing the edge x = 1.5 through the centres of column 1: each centre goes
     * to exactly one of them (the right one, whose left edge it is). */
    sm_grid g31 = grid_make(0, 1, 1, 1, 3, 1);
    const double left[] = {0, 0, 1.5, 0, 1.5, 1, 0, 1}, right[] = {1.5, 0, 3, 0, 3, 1, 1.5, 1};
    const double wl[] = {1, 0}, wr[] = {1, 1};
    expect_both_ways(&g31, left, 4, SM_COVER_CENTER, 0, 0, 2, 1, wl, "shared edge, left");
    expect_both_ways(&g31, right, 4, SM_COVER_CENTER, 1, 0, 2, 1, wr, "shared edge, right");

    /* A hole whose edges pass through centres: shell [0,4]², hole [0.5,2.5] x [1.5,3.5] (the
     * square above): the hole takes the centres the square would, the rest are in. */
    const double shell[] = {0, 0, 4, 0, 4, 4, 0, 4};
    sm_ring rings[2] = {{shell, 4}, {sq, 4}};
    sm_polygon ph = {rings, 2};
    const double wh[] = {0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    expect_cov(&g, &ph, 1, SM_COVER_CENTER, 0, 0, 4, 4, wh, 0, "hole through centres");
}

static void test_touched_fixtures(void **state)
{
    (void)state;
    sm_grid g3 = grid_make(0, 3, 1, 1, 3, 3);
    /* Half-offset square: every cell holds some of it. */
    const double sq[] = {0.5, 0.5, 2.5, 0.5, 2.5, 2.5, 0.5, 2.5};
    const double all[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    expect_both_ways(&g3, sq, 4, SM_COVER_TOUCHED, 0, 0, 3, 3, all, "square touched");

    /* The diamond touches the corner cells only at their corners: not touched. */
    const double d[] = {1.5, 0.5, 2.5, 1.5, 1.5, 2.5, 0.5, 1.5};
    const double wd[] = {0, 1, 0, 1, 1, 1, 0, 1, 0};
    expect_both_ways(&g3, d, 4, SM_COVER_TOUCHED, 0, 0, 3, 3, wd, "diamond touched");

    /* (0,0),(3,0),(0,3): the hypotenuse passes through corners (1,2) and (2,1) only, so the
     * cells above the diagonal cells stay untouched. */
    const double t[] = {0, 0, 3, 0, 0, 3};
    const double wt[] = {1, 0, 0, 1, 1, 0, 1, 1, 1};
    expect_both_ways(&g3, t, 3, SM_COVER_TOUCHED, 0, 0, 3, 3, wt, "triangle touched");

    /* Off-grid triangle: top-right cell [2,3]x[1,2] is missed (h(2) = 0.75 < 1). */
    sm_grid g32 = grid_make(0, 2, 1, 1, 3, 2);
    const double t3[] = {0.5, 0.5, 2.5, 0.5, 0.5, 1.5};
    const double w3[] = {1, 1, 0, 1, 1, 1};
    expect_both_ways(&g32, t3, 3, SM_COVER_TOUCHED, 0, 0, 3, 2, w3, "off-grid triangle");
    const double w3c[] = {0, 0, 0, 0, 0, 0};
    expect_both_ways(&g32, t3, 3, SM_COVER_CENTER, 0, 0, 3, 2, w3c, "off-grid triangle centres");

    /* A thin sliver along x = 1 (width 1e-9) crossing three rows: touches column 1 only. */
    const double sl[] = {1, 0.2, 1 + 1e-9, 0.2, 1 + 1e-9, 2.8, 1, 2.8};
    const double ws[] = {1, 1, 1};
    expect_both_ways(&g3, sl, 4, SM_COVER_TOUCHED, 1, 0, 1, 3, ws, "sliver touched");

    /* A hole: shell [0,3]², hole exactly cell (1,1): the hole cell is untouched. */
    const double shell[] = {0, 0, 3, 0, 3, 3, 0, 3};
    const double hole[] = {1, 1, 2, 1, 2, 2, 1, 2};
    sm_ring rings[2] = {{shell, 4}, {hole, 4}};
    sm_polygon ph = {rings, 2};
    const double wh[] = {1, 1, 1, 1, 0, 1, 1, 1, 1};
    expect_cov(&g3, &ph, 1, SM_COVER_TOUCHED, 0, 0, 3, 3, wh, 0, "hole cell untouched");
    expect_cov(&g3, &ph, 1, SM_COVER_EXACT, 0, 0, 3, 3, wh, 1e-12, "hole cell exact");
}

/* Cases where interpolating the crossing rounds the wrong way (found by searching lattice
 * edges): the rules must still hold exactly. */
static void test_rounding_traps(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_coverage a = {{0, 0, 0, 0}, NULL, 0}, b = a;

    /* The rectangle [0,18] x [2,16] on a unit grid (y0 16, so v = 16 - y) cut by its diagonal
     * from (u,v) = (0,0) to (18,14). The centres (4.5,3.5) and (13.5,10.5) lie on it; the
     * interpolated crossing on row 10 is 13.500000000000002. Each centre goes to exactly one
     * triangle, the on-diagonal ones to the triangle on their right (larger u). */
    sm_grid g = grid_make(0, 16, 1, 1, 18, 14);
    const double right[] = {0, 16, 18, 16, 18, 2};
    const double left[] = {0, 16, 18, 2, 0, 2};
    sm_ring rr = {right, 3}, rl = {left, 3};
    sm_polygon pr = {&rr, 1}, pl = {&rl, 1};
    assert_int_equal(sm_coverage_compute(&a, ctx, &g, &pr, 1, SM_COVER_CENTER), SM_OK);
    assert_int_equal(sm_coverage_compute(&b, ctx, &g, &pl, 1, SM_COVER_CENTER), SM_OK);
    assert_true(a.win.ncols == 18 && a.win.nrows == 14 && b.win.ncols == 18 && b.win.nrows == 14);
    for (int64_t r = 0; r < 14; r++) {
        for (int64_t j = 0; j < 18; j++) {
            double ca = a.frac[r * 18 + j], cb = b.frac[r * 18 + j];
            /* Strictly right of the diagonal: 7u > 9v with (u,v) = (j+0.5, r+0.5). */
            double side = 7.0 * ((double)j + 0.5) - 9.0 * ((double)r + 0.5);
            double want = side >= 0.0 ? 1.0 : 0.0;
            if (ca != want || ca + cb != 1.0) {
                print_error("diagonal: cell (%lld,%lld): right %g left %g, want right %g\n",
                            (long long)r, (long long)j, ca, cb, want);
                fail();
            }
        }
    }
    assert_true(a.frac[10 * 18 + 13] == 1.0 && a.frac[3 * 18 + 4] == 1.0);

    /* The edge (0.5,0.5) -> (15.5,11.5) passes exactly through the corner (8,6); the crossing
     * of v = 6 is computed as u = 7.9999999999999991, which leaves a 1e-16 piece in cell
     * (row 6, col 7) that the edge only touches at its corner. For the triangle right of the
     * edge that cell is outside: untouched and exactly 0; cells (5,7) and (6,8) are crossed. */
    sm_grid g2 = grid_make(0, 12, 1, 1, 16, 12);
    const double t[] = {0.5, 11.5, 15.5, 11.5, 15.5, 0.5};
    const double trev[] = {15.5, 0.5, 15.5, 11.5, 0.5, 11.5};
    for (int way = 0; way < 2; way++) {
        sm_ring rt = {way ? trev : t, 3};
        sm_polygon pt = {&rt, 1};
        assert_int_equal(sm_coverage_compute(&a, ctx, &g2, &pt, 1, SM_COVER_EXACT), SM_OK);
        assert_int_equal(sm_coverage_compute(&b, ctx, &g2, &pt, 1, SM_COVER_TOUCHED), SM_OK);
        assert_true(a.win.col0 == 0 && a.win.row0 == 0 && a.win.ncols == 16 && a.win.nrows == 12);
        assert_true(a.frac[6 * 16 + 7] == 0.0);
        assert_true(b.frac[6 * 16 + 7] == 0.0);
        assert_true(b.frac[5 * 16 + 7] == 1.0 && b.frac[6 * 16 + 8] == 1.0);
        assert_true(a.frac[5 * 16 + 7] > 0.0 && a.frac[5 * 16 + 7] < 1.0);
        /* Over the whole window, touched = exact > 0 (a valid polygon has no cell it touches with
         * zero area), and the exact sum is the triangle's area 15 x 11 / 2. */
        double sum = 0.0;
        for (int64_t i = 0; i < 16 * 12; i++) {
            assert_true(b.frac[i] == (a.frac[i] > 0.0 ? 1.0 : 0.0));
            sum += a.frac[i];
        }
        assert_true(fabs(sum - 82.5) < 1e-12);
    }
    sm_coverage_free(&a);
    sm_coverage_free(&b);
    sm_context_destroy(ctx);
}

/* The same corner trap on grids whose cells are not a power of two wide (0.2 m, 0.3 m, 2.5 m,
 * 10/3 m ... at random origins): the vertices, written in map units, are rounded, and so are
 * they when brought back to cell units, so the edge through the corner (8, 6) passes beside it
 * by a rounding error one way or the other: the cell it touches at that corner, (row 6, col 7)
 * of the triangle right of the edge, may hold a sliver of 1e-12 cells or less, never more.
 * Whatever it holds, a cell is touched exactly when its exact weight is above 0 (a piece of
 * the walk too short to measure counts as crossing its cell only if the edge meets the open
 * cell), its two neighbours along the edge are crossed, and the weights sum to the area. The
 * walk of a polygon inside its window and the general one (the grid cut so that the window is
 * clipped) are both checked. */
static void test_corner_traps_scaled(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_coverage a = {{0, 0, 0, 0}, NULL, 0}, b = a;
    static const double scales[] = {0.1, 0.3, 0.7, 2.5, 10.0 / 3.0, 0.2, 30.0, 0.05};
    int slivers = 0;
    uint64_t x = 0x2545F4914F6CDD1Du;
    int hits = 0;
    for (int trial = 0; trial < 400; trial++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double s = scales[trial % 8] * (1.0 + (double)(x % 1000) / 997.0);
        double x0 = s * (double)((int64_t)(x >> 20) % 100000 - 50000) + (trial % 3 ? 0.0 : s * 0.25);
        double y0 = s * (double)((int64_t)(x >> 40) % 100000);
        int clip = trial % 4 == 3; /* the grid ends at column 15: the window is clipped */
        sm_grid g = grid_make(x0, y0, s, s, clip ? 15 : 16, 12);
        double t[6], trev[6];
        const double uv[6] = {0.5, 0.5, 15.5, 11.5, 15.5, 0.5}; /* right of (0.5,0.5)->(15.5,11.5) */
        for (int q = 0; q < 3; q++) {
            t[2 * q] = x0 + uv[2 * q] * s;
            t[2 * q + 1] = y0 - uv[2 * q + 1] * s;
        }
        for (int q = 0; q < 3; q++) {
            trev[2 * q] = t[2 * (2 - q)];
            trev[2 * q + 1] = t[2 * (2 - q) + 1];
        }
        for (int way = 0; way < 2; way++) {
            sm_ring rt = {way ? trev : t, 3};
            sm_polygon pt = {&rt, 1};
            assert_int_equal(sm_coverage_compute(&a, ctx, &g, &pt, 1, SM_COVER_EXACT), SM_OK);
            assert_int_equal(sm_coverage_compute(&b, ctx, &g, &pt, 1, SM_COVER_TOUCHED), SM_OK);
            int64_t W = a.win.ncols, c0 = a.win.col0, r0 = a.win.row0;
            assert_true(W >= 15 && a.win.nrows >= 11 && b.win.ncols == W);
            /* cell (row, col) of the grid in the window */
#define AT(m, row, col) (m).frac[((row) - r0) * W + ((col) - c0)]
            if (!(AT(a, 6, 7) < 1e-12) || AT(b, 5, 7) != 1.0 || AT(b, 6, 8) != 1.0) {
                print_error("trial %d (cell %.17g m, origin %.17g, %.17g, %s, way %d): exact (6,7) %g, "
                            "touched (6,7) %g (5,7) %g (6,8) %g\n",
                            trial, s, x0, y0, clip ? "clipped" : "inside", way, AT(a, 6, 7),
                            AT(b, 6, 7), AT(b, 5, 7), AT(b, 6, 8));
                fail();
            }
            slivers += AT(a, 6, 7) > 0.0;
#undef AT
            double sum = 0.0;
            for (int64_t i = 0; i < W * a.win.nrows; i++) {
                if (b.frac[i] != (a.frac[i] > 0.0 ? 1.0 : 0.0)) {
                    print_error("trial %d (cell %.17g m, %s, way %d): cell %lld exact %g touched %g\n", trial,
                                s, clip ? "clipped" : "inside", way, (long long)i, a.frac[i], b.frac[i]);
                    fail();
                }
                sum += a.frac[i];
            }
            /* clipped at u = 15: less the sliver 15 <= u <= 15.5, of area (11/15) (15^2 - 14.5^2) / 2 */
            double want = clip ? 82.5 - 11.0 / 15.0 * (15.0 * 15.0 - 14.5 * 14.5) / 2.0 : 82.5;
            assert_true(fabs(sum - want) < 1e-9 * want);
            hits++;
        }
    }
    assert_int_equal(hits, 800);
    print_message("corner traps: %d of 800 with a sliver in the corner cell\n", slivers);
    sm_coverage_free(&a);
    sm_coverage_free(&b);
    sm_context_destroy(ctx);
}

static void test_api_contract(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_grid g = grid_make(0, 100, 1, 1, 100, 100);
    sm_coverage cov = {{0, 0, 0, 0}, NULL, 0};
    const double big[] = {0.5, 0.5, 99.5, 0.5, 99.5, 99.5};
    const double small[] = {10.5, 10.5, 11.5, 10.5, 11.5, 11.5};
    sm_ring rb = {big, 3}, rs = {small, 3};
    sm_polygon pb = {&rb, 1}, ps = {&rs, 1};

    /* The buffer grows once and is reused for a smaller window. */
    assert_int_equal(sm_coverage_compute(&cov, ctx, &g, &pb, 1, SM_COVER_EXACT), SM_OK);
    assert_true(cov.cap >= 100 * 100);
    double *buf = cov.frac;
    size_t cap = cov.cap;
    assert_int_equal(sm_coverage_compute(&cov, ctx, &g, &ps, 1, SM_COVER_EXACT), SM_OK);
    assert_ptr_equal(cov.frac, buf);
    assert_int_equal(cov.cap, cap);
    assert_int_equal(cov.win.ncols, 2);
    assert_int_equal(cov.win.nrows, 2);
    /* (10.5,10.5),(11.5,10.5),(11.5,11.5) is 10.5 <= y <= x: cell [10,11]² gets
     * ∫10.5^11 (x-10.5) = 1/8, [11,12]x[10,11] a 1/2 x 1/2 square, [11,12]² 1/8 again. */
    assert_int_equal(cov.win.col0, 10);
    assert_int_equal(cov.win.row0, 88);
    assert_true(fabs(cov.frac[0] - 0.0) < 1e-15 && fabs(cov.frac[1] - 0.125) < 1e-15);
    assert_true(fabs(cov.frac[2] - 0.125) < 1e-15 && fabs(cov.frac[3] - 0.25) < 1e-15);

    /* Non-finite coordinates and bad grids are input errors that name the problem. */
    const double bad[] = {0, 0, NAN, 1, 1, 1};
    sm_ring rn = {bad, 3};
    sm_polygon pn = {&rn, 1};
    assert_int_equal(sm_coverage_compute(&cov, ctx, &g, &pn, 1, SM_COVER_EXACT), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "non-finite"));
    sm_grid g0 = grid_make(0, 0, 0, 1, 3, 3);
    assert_int_equal(sm_coverage_compute(&cov, ctx, &g0, &ps, 1, SM_COVER_EXACT), SM_ERR_INPUT);
    assert_int_equal(sm_coverage_compute(&cov, ctx, &g, &ps, 1, (sm_cover_mode)7), SM_ERR_INPUT);

    /* Degenerate rings (fewer than 3 points, zero area) contribute nothing. */
    const double line[] = {1.5, 1.5, 5.5, 5.5, 1.5, 1.5};
    sm_ring rl = {line, 3};
    sm_polygon pl = {&rl, 1};
    for (int m = 0; m < 3; m++) {
        assert_int_equal(sm_coverage_compute(&cov, ctx, &g, &pl, 1, (sm_cover_mode)m), SM_OK);
        assert_true(cov_sum(&cov) == 0.0);
    }

    sm_coverage_free(&cov);
    assert_null(cov.frac);
    assert_int_equal(cov.cap, 0);
    sm_coverage_free(&cov); /* twice is fine */
    sm_coverage_free(NULL);
    sm_context_destroy(ctx);
}

static void test_polygon_area(void **state)
{
    (void)state;
    /* Orientation-free: 2 x 3 rectangle both ways, minus a unit hole either way. */
    const double r[] = {0, 0, 2, 0, 2, 3, 0, 3};
    const double h[] = {0.5, 0.5, 0.5, 1.5, 1.5, 1.5, 1.5, 0.5};
    double rr[8];
    reverse_ring(r, 4, rr);
    sm_ring a[2] = {{r, 4}, {h, 4}}, b[2] = {{rr, 4}, {h, 4}};
    sm_polygon pa = {a, 2}, pb = {b, 2};
    assert_true(sm_polygon_area(&pa, 1) == 5.0);
    assert_true(sm_polygon_area(&pb, 1) == 5.0);
    sm_polygon parts[2] = {{a, 1}, {b, 2}};
    assert_true(sm_polygon_area(parts, 2) == 11.0);
    /* UTM coordinates lose nothing: a 10 m x 10 m square at (600000, 3400000). */
    const double u[] = {600000, 3400000, 600010, 3400000, 600010, 3400010, 600000, 3400010};
    sm_ring ru = {u, 4};
    sm_polygon pu = {&ru, 1};
    assert_true(sm_polygon_area(&pu, 1) == 100.0);
    assert_true(sm_polygon_area(NULL, 0) == 0.0);
}

/* ---- randomized oracle against GEOS ------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unif(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
static int rng_int(rng *r, int lo, int hi)
{
    return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Rings are stored in one array of coordinates; the polygon structures point into it. */
typedef struct shape {
    double xy[2 * 400];
    size_t used;
    sm_ring rings[8];
    size_t nrings;
    sm_polygon parts[4];
    size_t nparts;
    int lattice; /* vertices are exact multiples of half a cell */
} shape;

/* A star-shaped ring around (cx, cy): n vertices at jittered angles (gaps under 1.8 x 360°/n) and
 * radii in [rmin, rmax]; snapped to multiples of `snap` (0: not snapped); reversed if `rev`. */
static void add_star(shape *s, rng *r, double cx, double cy, double rmin, double rmax, int n,
                     double snapx, double snapy, int rev, int close)
{
    double *xy = s->xy + s->used;
    int k = 0;
    for (int i = 0; i < n; i++) {
        double a = 2.0 * M_PI * ((double)i + 0.8 * (rng_unif(r) - 0.5)) / (double)n;
        double rad = rmin + (rmax - rmin) * rng_unif(r);
        double x = cx + rad * cos(a), y = cy + rad * sin(a);
        if (snapx > 0) {
            x = cx + snapx * round((x - cx) / snapx);
            y = cy + snapy * round((y - cy) / snapy);
        }
        xy[2 * k] = x;
        xy[2 * k + 1] = y;
        k++;
    }
    if (close) {
        xy[2 * k] = xy[0];
        xy[2 * k + 1] = xy[1];
        k++;
    }
    if (rev) {
        for (int i = 0; i < k / 2; i++) {
            double tx = xy[2 * i], ty = xy[2 * i + 1];
            xy[2 * i] = xy[2 * (k - 1 - i)];
            xy[2 * i + 1] = xy[2 * (k - 1 - i) + 1];
            xy[2 * (k - 1 - i)] = tx;
            xy[2 * (k - 1 - i) + 1] = ty;
        }
    }
    s->rings[s->nrings].xy = xy;
    s->rings[s->nrings].npoints = (size_t)k;
    s->nrings++;
    s->used += 2 * (size_t)k;
}

/* The oracle works in coordinates relative to the grid's origin (ox, oy): subtracting is exact
 * for UTM values near the origin, and GEOS then computes cell intersections with 1e-16 rather
 * than 1e-10 m of rounding (which on a 0.4 m cell would be a 3e-10 error of GEOS's own). */
static GEOSGeometry *geos_ring(GEOSContextHandle_t h, const sm_ring *ring, double ox, double oy)
{
    size_t n = ring->npoints;
    int closed = ring->xy[0] == ring->xy[2 * (n - 1)] && ring->xy[1] == ring->xy[2 * (n - 1) + 1];
    size_t m = closed ? n : n + 1;
    GEOSCoordSequence *cs = GEOSCoordSeq_create_r(h, (unsigned)m, 2);
    for (size_t i = 0; i < m; i++) {
        size_t k = i % n;
        GEOSCoordSeq_setXY_r(h, cs, (unsigned)i, ring->xy[2 * k] - ox, ring->xy[2 * k + 1] - oy);
    }
    return GEOSGeom_createLinearRing_r(h, cs);
}

static GEOSGeometry *geos_polygon(GEOSContextHandle_t h, const sm_polygon *parts, size_t nparts,
                                  double ox, double oy)
{
    GEOSGeometry *polys[8];
    for (size_t p = 0; p < nparts; p++) {
        GEOSGeometry *holes[8];
        for (size_t r = 1; r < parts[p].nrings; r++)
            holes[r - 1] = geos_ring(h, &parts[p].rings[r], ox, oy);
        polys[p] = GEOSGeom_createPolygon_r(h, geos_ring(h, &parts[p].rings[0], ox, oy), holes,
                                            (unsigned)(parts[p].nrings - 1));
    }
    return GEOSGeom_createCollection_r(h, GEOS_MULTIPOLYGON, polys, (unsigned)nparts);
}

static GEOSGeometry *geos_box(GEOSContextHandle_t h, double xa, double ya, double xb, double yb)
{
    const double xy[] = {xa, ya, xb, ya, xb, yb, xa, yb};
    sm_ring r = {xy, 4};
    return GEOSGeom_createPolygon_r(h, geos_ring(h, &r, 0.0, 0.0), NULL, 0);
}

/* Builds a random test polygon of one of six kinds on grid g (GEOS checks its validity). */
static void make_shape(shape *s, rng *r, const sm_grid *g, int kind)
{
    double w = g->dx * (double)g->ncols, hgt = g->dy * (double)g->nrows;
    double ext = fmin(w, hgt);
    memset(s, 0, sizeof *s);
    /* Centre anywhere over the grid and 20% around it, so some polygons stick out. */
    double cx = g->x0 - 0.2 * w + 1.4 * w * rng_unif(r);
    double cy = g->y0 - hgt - 0.2 * hgt + 1.4 * hgt * rng_unif(r);
    double scale = rng_unif(r) < 0.15 ? 0.4 * fmin(g->dx, g->dy) / ext : 0.1 + 0.5 * rng_unif(r);
    double rmax = scale * ext, rmin = rmax * (0.3 + 0.5 * rng_unif(r));
    int n = rng_int(r, 3, 40);
    int close = rng_int(r, 0, 1);
    s->nparts = 1;
    switch (kind) {
    case 0: /* a star */
        add_star(s, r, cx, cy, rmin, rmax, n, 0, 0, rng_int(r, 0, 1), close);
        break;
    case 1: /* a star with a star-shaped hole inside the disk of radius rmin cos(gap/2) */
        add_star(s, r, cx, cy, rmin, rmax, rng_int(r, 10, 40), 0, 0, rng_int(r, 0, 1), close);
        add_star(s, r, cx + 0.1 * rmin * (rng_unif(r) - 0.5), cy, 0.2 * rmin, 0.7 * rmin,
                 rng_int(r, 3, 20), 0, 0, rng_int(r, 0, 1), close);
        break;
    case 2:   /* a star on the half-cell lattice: edges along grid lines, through corners and */
    case 4: { /* centres; the centre sits on a lattice point. Kind 4: the quarter-cell lattice */
        double hx = (kind == 2 ? 0.5 : 0.25) * g->dx, hy = (kind == 2 ? 0.5 : 0.25) * g->dy;
        cx = g->x0 + hx * round((cx - g->x0) / hx);
        cy = g->y0 + hy * round((cy - g->y0) / hy);
        rmax = fmax(rmax, 2.0 * fmax(g->dx, g->dy));
        add_star(s, r, cx, cy, rmin, rmax, rng_int(r, 3, 14), hx, hy, rng_int(r, 0, 1), close);
        if (rng_int(r, 0, 2) == 0)
            add_star(s, r, cx, cy, 0.2 * rmin, 0.5 * rmin, rng_int(r, 3, 8), hx, hy,
                     rng_int(r, 0, 1), close);
        s->lattice = 1;
        break;
    }
    case 5: /* many vertices per cell: a wiggly star, or a sliver 1e-6 cells wide */
        if (rng_int(r, 0, 1)) {
            add_star(s, r, cx, cy, 0.6 * rmax, rmax, rng_int(r, 150, 390), 0, 0, rng_int(r, 0, 1),
                     close);
        } else {
            double a = M_PI * rng_unif(r), len = rmax, wid = 1e-6 * fmin(g->dx, g->dy);
            double ux = cos(a), uy = sin(a);
            double *xy = s->xy;
            const double pts[4][2] = {{-len, -wid}, {len, -wid}, {len, wid}, {-len, wid}};
            for (int i = 0; i < 4; i++) {
                xy[2 * i] = cx + pts[i][0] * ux - pts[i][1] * uy;
                xy[2 * i + 1] = cy + pts[i][0] * uy + pts[i][1] * ux;
            }
            s->rings[0].xy = xy;
            s->rings[0].npoints = 4;
            s->nrings = 1;
            s->used = 8;
        }
        break;
    default: /* two stars side by side, the second maybe with a hole */
        add_star(s, r, cx, cy, 0.5 * rmin, 0.5 * rmax, n, 0, 0, rng_int(r, 0, 1), close);
        add_star(s, r, cx + 1.2 * rmax, cy + 0.3 * rmax, 0.5 * rmin, 0.5 * rmax, rng_int(r, 8, 30),
                 0, 0, rng_int(r, 0, 1), close);
        if (rng_int(r, 0, 1))
            add_star(s, r, cx + 1.2 * rmax, cy + 0.3 * rmax, 0.1 * rmin, 0.3 * rmin, 5, 0, 0,
                     rng_int(r, 0, 1), close);
        s->nparts = 2;
        break;
    }
    /* Parts: the first ring of each part is its shell. */
    if (s->nparts == 1) {
        s->parts[0].rings = s->rings;
        s->parts[0].nrings = s->nrings;
    } else {
        s->parts[0].rings = s->rings;
        s->parts[0].nrings = 1;
        s->parts[1].rings = s->rings + 1;
        s->parts[1].nrings = s->nrings - 1;
    }
}

typedef struct tally {
    long cells, exact_bad, centre_bad, centre_skipped, touched_bad, corner_only, margin_bad;
    long polygons, sum_bad;
    double worst;
} tally;

static void oracle_one(GEOSContextHandle_t h, sm_context *ctx, const sm_grid *g, const shape *s,
                       sm_coverage *ce, sm_coverage *cc, sm_coverage *ct, tally *t, int verbose)
{
    double ox = g->x0, oy = g->y0;
    GEOSGeometry *poly = geos_polygon(h, s->parts, s->nparts, ox, oy);
    const GEOSPreparedGeometry *prep = GEOSPrepare_r(h, poly);
    GEOSGeometry *bnd = GEOSBoundary_r(h, poly);
    double cell = sm_grid_cell_area(g);

    assert_int_equal(sm_coverage_compute(ce, ctx, g, s->parts, s->nparts, SM_COVER_EXACT), SM_OK);
    assert_int_equal(sm_coverage_compute(cc, ctx, g, s->parts, s->nparts, SM_COVER_CENTER), SM_OK);
    assert_int_equal(sm_coverage_compute(ct, ctx, g, s->parts, s->nparts, SM_COVER_TOUCHED), SM_OK);
    /* The window is the bounding box's, the same in every mode. */
    double xmin = INFINITY, ymin, xmax, ymax;
    ymin = INFINITY;
    xmax = ymax = -INFINITY;
    for (size_t r = 0; r < s->nrings; r++) {
        for (size_t i = 0; i < s->rings[r].npoints; i++) {
            xmin = fmin(xmin, s->rings[r].xy[2 * i]);
            xmax = fmax(xmax, s->rings[r].xy[2 * i]);
            ymin = fmin(ymin, s->rings[r].xy[2 * i + 1]);
            ymax = fmax(ymax, s->rings[r].xy[2 * i + 1]);
        }
    }
    sm_window bw = sm_grid_window_for_box(g, xmin, ymin, xmax, ymax);
    assert_memory_equal(&bw, &ce->win, sizeof bw);
    assert_memory_equal(&bw, &cc->win, sizeof bw);
    assert_memory_equal(&bw, &ct->win, sizeof bw);
    sm_window w = ce->win;

    /* Cells of the window and a margin of one cell around it (inside the grid). */
    double total = 0.0;
    for (int64_t row = w.row0 - 1; row <= w.row0 + w.nrows; row++) {
        for (int64_t col = w.col0 - 1; col <= w.col0 + w.ncols; col++) {
            if (row < 0 || col < 0 || row >= g->nrows || col >= g->ncols)
                continue;
            int inside = w.nrows > 0 && row >= w.row0 && row < w.row0 + w.nrows && col >= w.col0 &&
                         col < w.col0 + w.ncols;
            double xa = (double)col * g->dx, xb = (double)(col + 1) * g->dx;
            double yb = -(double)row * g->dy, ya = -(double)(row + 1) * g->dy;
            GEOSGeometry *box = geos_box(h, xa, ya, xb, yb);
            double want = 0.0;
            int meets = GEOSPreparedIntersects_r(h, prep, box);
            int interiors = 0;
            if (meets) {
                if (GEOSPreparedContains_r(h, prep, box)) {
                    want = 1.0;
                    interiors = 1;
                } else {
                    GEOSGeometry *ix = GEOSIntersection_r(h, poly, box);
                    assert_non_null(ix);
                    double a = 0.0;
                    GEOSArea_r(h, ix, &a);
                    want = a / cell;
                    GEOSGeom_destroy_r(h, ix);
                    interiors = GEOSRelatePattern_r(h, poly, box, "T********");
                }
            }
            if (!inside) {
                /* Nothing may be lost outside the window. */
                if (interiors || want > 1e-12)
                    t->margin_bad++;
                GEOSGeom_destroy_r(h, box);
                continue;
            }
            size_t i = (size_t)((row - w.row0) * w.ncols + (col - w.col0));
            t->cells++;
            double got = ce->frac[i];
            total += got;
            double err = fabs(got - want);
            if (err > t->worst)
                t->worst = err;
            if (!(err <= 1e-9)) {
                t->exact_bad++;
                if (verbose && t->exact_bad < 5)
                    print_error("exact: cell (%lld,%lld) want %.17g got %.17g\n", (long long)row,
                                (long long)col, want, got);
            }
            /* Touched: the polygon's interior meets the cell's interior. */
            if (meets && !interiors)
                t->corner_only++;
            if ((ct->frac[i] == 1.0) != (interiors != 0)) {
                t->touched_bad++;
                if (verbose && t->touched_bad < 5)
                    print_error("touched: cell (%lld,%lld) want %d got %g\n", (long long)row,
                                (long long)col, interiors, ct->frac[i]);
            }
            /* Centre: the rule is "inside after an infinitesimal shift right, then down": with
             * lattice coordinates that is exactly a shift by (1e-4, -1e-7) cells. Elsewhere,
             * centres within 1e-3 cells of the boundary are skipped. */
            double xc = ((double)col + 0.5) * g->dx, yc = -((double)row + 0.5) * g->dy;
            int check = 1;
            if (!s->lattice) {
                GEOSGeometry *pt = GEOSGeom_createPointFromXY_r(h, xc, yc);
                double dist = 0.0;
                GEOSDistance_r(h, bnd, pt, &dist);
                GEOSGeom_destroy_r(h, pt);
                check = dist > 1e-3 * fmin(g->dx, g->dy);
            }
            if (check) {
                GEOSGeometry *pt =
                    GEOSGeom_createPointFromXY_r(h, xc + 1e-4 * g->dx, yc - 1e-7 * g->dy);
                int in = GEOSPreparedContains_r(h, prep, pt);
                GEOSGeom_destroy_r(h, pt);
                if ((cc->frac[i] == 1.0) != (in != 0)) {
                    t->centre_bad++;
                    if (verbose && t->centre_bad < 5)
                        print_error("centre: cell (%lld,%lld) want %d got %g\n", (long long)row,
                                    (long long)col, in, cc->frac[i]);
                }
            } else {
                t->centre_skipped++;
            }
            GEOSGeom_destroy_r(h, box);
        }
    }

    /* Σc·A equals the area of the polygon clipped to the grid. */
    GEOSGeometry *gbox = geos_box(h, 0.0, -g->dy * (double)g->nrows, g->dx * (double)g->ncols, 0.0);
    GEOSGeometry *clip = GEOSIntersection_r(h, poly, gbox);
    double carea = 0.0;
    GEOSArea_r(h, clip, &carea);
    if (!(fabs(total * cell - carea) <= 1e-9 * fmax(carea, cell))) {
        t->sum_bad++;
        if (verbose)
            print_error("sum: Σc·A %.17g, GEOS %.17g\n", total * cell, carea);
    }
    t->polygons++;
    GEOSGeom_destroy_r(h, clip);
    GEOSGeom_destroy_r(h, gbox);
    GEOSGeom_destroy_r(h, bnd);
    GEOSPreparedGeom_destroy_r(h, prep);
    GEOSGeom_destroy_r(h, poly);
}

static void random_grid(rng *r, sm_grid *g, int lattice)
{
    static const double sizes[] = {0.25, 0.5, 1.0, 2.0, 10.0, 20.0, 30.0};
    int utm = rng_int(r, 0, 2) == 0;
    if (lattice) {
        g->dx = sizes[rng_int(r, 0, 6)];
        g->dy = rng_int(r, 0, 1) ? g->dx : sizes[rng_int(r, 0, 6)];
    } else {
        g->dx = 0.3 + 29.7 * rng_unif(r);
        g->dy = rng_int(r, 0, 1) ? g->dx : 0.3 + 29.7 * rng_unif(r);
    }
    if (utm) {
        g->x0 = 600000.0 + g->dx * rng_int(r, -100, 100);
        g->y0 = 3400000.0 + g->dy * rng_int(r, -100, 100);
    } else {
        g->x0 = lattice ? g->dx * rng_int(r, -50, 50) : -1000.0 + 2000.0 * rng_unif(r);
        g->y0 = lattice ? g->dy * rng_int(r, -50, 50) : -1000.0 + 2000.0 * rng_unif(r);
    }
    g->ncols = rng_int(r, 3, 24);
    g->nrows = rng_int(r, 3, 24);
}

static void test_random_oracle(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    GEOSContextHandle_t h = sm_context_geos(ctx);
    assert_non_null(h);
    sm_coverage ce = {{0, 0, 0, 0}, NULL, 0}, cc = ce, ct = ce;
    tally t;
    memset(&t, 0, sizeof t);
    rng r = {20240611};
    shape *s = malloc(sizeof *s);
    assert_non_null(s);
    long invalid = 0;
    for (int iter = 0; iter < 600; iter++) {
        int kind = iter % 6;
        sm_grid g;
        random_grid(&r, &g, kind == 2 || kind == 4);
        make_shape(s, &r, &g, kind);
        GEOSGeometry *poly = geos_polygon(h, s->parts, s->nparts, g.x0, g.y0);
        double area = 0.0;
        GEOSArea_r(h, poly, &area);
        int valid = GEOSisValid_r(h, poly) == 1 && area > 0.0;
        GEOSGeom_destroy_r(h, poly);
        if (!valid) {
            invalid++; /* snapping can fold a lattice star onto itself: draw again */
            iter--;
            assert_true(invalid < 2000);
            continue;
        }
        /* sm_polygon_area agrees with GEOS. */
        assert_true(fabs(sm_polygon_area(s->parts, s->nparts) - area) <= 1e-9 * area);
        long before = t.exact_bad + t.centre_bad + t.touched_bad + t.margin_bad + t.sum_bad;
        oracle_one(h, ctx, &g, s, &ce, &cc, &ct, &t, 1);
        if (t.exact_bad + t.centre_bad + t.touched_bad + t.margin_bad + t.sum_bad != before)
            print_error("  ... in polygon %d (kind %d, grid x0 %.17g y0 %.17g dx %.17g dy %.17g "
                        "%lld x %lld)\n",
                        iter, kind, g.x0, g.y0, g.dx, g.dy, (long long)g.ncols, (long long)g.nrows);
    }
    print_message("oracle: %ld polygons, %ld cells, worst exact error %.3g, %ld centres near the "
                  "boundary skipped, %ld cells touched only on their boundary, %ld invalid "
                  "draws\n",
                  t.polygons, t.cells, t.worst, t.centre_skipped, t.corner_only, invalid);
    assert_true(t.polygons >= 600);
    assert_int_equal(t.exact_bad, 0);
    assert_int_equal(t.centre_bad, 0);
    assert_int_equal(t.touched_bad, 0);
    assert_int_equal(t.margin_bad, 0);
    assert_int_equal(t.sum_bad, 0);
    free(s);
    sm_coverage_free(&ce);
    sm_coverage_free(&cc);
    sm_coverage_free(&ct);
    sm_context_destroy(ctx);
}

/* Adjacent parcels that tile a region: exact coverages add up to 1 in every cell, centres go to
 * exactly one parcel. A 6 x 5 block of UTM cells cut by a zig-zag line into two parcels. */
static void test_partition(void **state)
{
    (void)state;
    sm_context *ctx = sm_context_create();
    sm_grid g = grid_make(600000, 3400000, 10, 10, 6, 5);
    sm_coverage a = {{0, 0, 0, 0}, NULL, 0}, b = a;
    /* Cut from (600000, 3399975) through (600013,3399962), (600031,3399988), (600047,3399955)
     * to (600060, 3399971). */
    const double top[] = {600000,  3400000, 600000,  3399975, 600013,  3399962, 600031,
                          3399988, 600047,  3399955, 600060,  3399971, 600060,  3400000};
    const double bot[] = {600000,  3399950, 600060,  3399950, 600060,  3399971, 600047,
                          3399955, 600031,  3399988, 600013,  3399962, 600000,  3399975};
    sm_ring rt = {top, 7}, rb = {bot, 7};
    sm_polygon pt = {&rt, 1}, pb = {&rb, 1};
    for (int m = 0; m < 2; m++) {
        sm_cover_mode mode = m ? SM_COVER_CENTER : SM_COVER_EXACT;
        assert_int_equal(sm_coverage_compute(&a, ctx, &g, &pt, 1, mode), SM_OK);
        assert_int_equal(sm_coverage_compute(&b, ctx, &g, &pb, 1, mode), SM_OK);
        assert_true(a.win.col0 == 0 && a.win.ncols == 6 && b.win.col0 == 0 && b.win.ncols == 6);
        for (int64_t row = 0; row < 5; row++) {
            for (int64_t col = 0; col < 6; col++) {
                double ca = 0, cb = 0;
                if (row >= a.win.row0 && row < a.win.row0 + a.win.nrows)
                    ca = a.frac[(row - a.win.row0) * 6 + col];
                if (row >= b.win.row0 && row < b.win.row0 + b.win.nrows)
                    cb = b.frac[(row - b.win.row0) * 6 + col];
                if (!(fabs(ca + cb - 1.0) <= 1e-12)) {
                    print_error("mode %d cell (%lld,%lld): %.17g + %.17g\n", (int)mode,
                                (long long)row, (long long)col, ca, cb);
                    fail();
                }
            }
        }
    }
    sm_coverage_free(&a);
    sm_coverage_free(&b);
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_square_half_offset), cmocka_unit_test(test_square_fraction_offsets),
        cmocka_unit_test(test_triangles),          cmocka_unit_test(test_hole_and_multipolygon),
        cmocka_unit_test(test_ring_on_cell_edges), cmocka_unit_test(test_small_and_large),
        cmocka_unit_test(test_utm_fixture),        cmocka_unit_test(test_circles),
        cmocka_unit_test(test_center_fixtures),    cmocka_unit_test(test_touched_fixtures),
        cmocka_unit_test(test_rounding_traps),     cmocka_unit_test(test_corner_traps_scaled),
        cmocka_unit_test(test_api_contract),
        cmocka_unit_test(test_polygon_area),       cmocka_unit_test(test_partition),
        cmocka_unit_test(test_random_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
