/* coverage.c: the share of each raster cell covered by a (multi)polygon: exact, centre, touched.
 * Exists so that per-parcel statistics weight each cell by the area it really contributes.
 * Tuned for many small parcels over a large grid: O(edges + cells crossed + window) per call. */
#include "sinkmap/coverage.h"

#include <math.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

/*
 * The exact method, in cell units relative to the window: u = (x - x0)/dx - col0 grows to the
 * right, v = (y0 - y)/dy - row0 grows downwards, cell (r, j) is [j, j+1] x [r, r+1].
 *
 * For a region R bounded by a closed ring traversed so that A = -∮ v du > 0, Green's theorem
 * with h(u,v) = 1[j <= u <= j+1] 1[r <= v <= r+1] gives
 *
 *     area(R ∩ cell(r,j)) = -∮ 1[j <= u <= j+1] g_r(v) du,   g_r(v) = clamp(v - r, 0, 1).
 *
 * No cell walls appear: only the ring's own edges, and no clipping to the grid is needed.
 * Cut each edge at integer u and v lines into pieces that each lie in one cell (r0, j). A piece
 * with width du and mean height f = mean(v) - r0 adds -du*f to row r0 and -du to every row
 * r < r0 of column j (g is 1 there), nothing to rows below. Pieces below the window add -du to
 * all its rows, pieces above or beside it nothing; vertical pieces nothing at all. The "-du to
 * all rows above" part is a difference array summed from the bottom row up; to keep a single
 * buffer, a piece writes p = -du*f into row r0 and (-du - p) into row r0-1, and the suffix sum
 * over rows then telescopes to exactly partial(r) + Σ_{r0 > r} (-du). Since g is continuous,
 * a piece lying on a grid line may be given to either neighbouring band with the same result.
 *
 * Shells count +1 and holes -1 whatever their orientation: each ring's contribution is scaled
 * by sign(A_ring) * (+1 shell, -1 hole). The walk also sets a bit for each cell that a ring
 * passes through (not merely along its walls); every other cell is wholly inside or outside,
 * so it is set to exactly 1 or 0, and the crossed ones are clamped to [0, 1]: rounding never
 * leaves 1e-16 in a cell outside the polygon (which would add it to min/max/count).
 *
 * Centre mode scans the centre line v = r + 0.5 of every row: an edge crosses it when
 * vmin <= r + 0.5 < vmax, and every cell whose centre u = j + 0.5 lies at or right of the
 * crossing toggles its parity (a difference array of toggles, then a prefix XOR per row). So a
 * centre exactly on the boundary is inside when the polygon lies to its right or below it
 * (the left and top edges), outside on right and bottom edges, as in GDAL's rasterizer.
 *
 * Touched mode: a cell is touched when the closed polygon meets the open cell, i.e. when some
 * of the polygon's interior lies in it. Touching a cell only along its edge or at a corner does
 * not count, so a polygon drawn on grid lines touches exactly the cells it covers and two
 * parcels sharing a boundary on a grid line do not both claim the neighbouring cells. It is the
 * union of the cells whose open interior a ring crosses (the bits of the exact walk) and the
 * cells that no ring crosses but whose exact coverage is 1.
 *
 * Rounding: a piece is marked as crossing its cell when it has some length and does not lie on
 * a wall. Where an edge passes exactly through a cell corner, the computed crossing can miss
 * the corner by an ulp and leave a piece of ~1e-16 in a diagonal neighbour the edge only
 * touches; so a piece shorter than 1e-9 cells is marked only if an exact-when-representable
 * separating-axis test confirms that the edge meets the open cell.
 */

#define TINY_PIECE 1e-9

/* The state of one walk over the edges of one ring. */
typedef struct walk {
    double *buf;            /* window cells, row-major */
    double *spare;          /* W cells outside buf, written in place of the row above row 0 */
    unsigned char *crossed; /* one byte per cell: 1 when some ring passes through its interior */
    int64_t W, H;           /* window size in cells */
    double w;               /* +1 or -1: orientation times shell/hole */
    double au, av, bu, bv;  /* the whole edge being walked, before clipping */
} walk;

static double clamp01(double t) { return t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t); }

/* Whether the walked edge meets the open cell (r0, j): by the separating axis test, the closed
 * segment misses the open box iff their u or v ranges do not overlap or no two corners
 * lie strictly on opposite sides of the segment's line. The products are exact when the
 * coordinates are small multiples of a power of two (grid-aligned drawings), so an edge
 * passing exactly through a cell corner touches neither diagonal neighbour. */
static int edge_meets_open_cell(const walk *k, int64_t r0, int64_t j)
{
    double c0 = (double)j, c1 = c0 + 1.0, r_0 = (double)r0, r_1 = r_0 + 1.0;
    double umin = k->au < k->bu ? k->au : k->bu, umax = k->au < k->bu ? k->bu : k->au;
    double vmin = k->av < k->bv ? k->av : k->bv, vmax = k->av < k->bv ? k->bv : k->av;
    /* The closed range [min, max] meets the open one (c0, c1) iff min < c1 and max > c0. */
    if (!(umin < c1 && umax > c0 && vmin < r_1 && vmax > r_0))
        return 0;
    double du = k->bu - k->au, dv = k->bv - k->av;
    double o[4] = {du * (r_0 - k->av) - dv * (c0 - k->au), du * (r_0 - k->av) - dv * (c1 - k->au),
                   du * (r_1 - k->av) - dv * (c0 - k->au), du * (r_1 - k->av) - dv * (c1 - k->au)};
    int pos = 0, neg = 0;
    for (int i = 0; i < 4; i++) {
        pos |= o[i] > 0.0;
        neg |= o[i] < 0.0;
    }
    return pos && neg;
}

/* One piece in one cell: band r0 (-1 above, H below the window), column j in [0, W). */
static void piece(walk *k, int64_t r0, int64_t j, double us, double vs, double ue, double ve)
{
    if (r0 < 0)
        return;
    double du = ue - us;
    if (r0 >= k->H) {
        k->buf[(k->H - 1) * k->W + j] -= k->w * du;
        return;
    }
    int64_t i = r0 * k->W + j;
    if (!k->crossed[i]) {
        int on_wall = (us == ue && (vs == ve || us == (double)j || us == (double)(j + 1))) ||
                      (vs == ve && (vs == (double)r0 || vs == (double)(r0 + 1)));
        if (!on_wall && (fabs(du) + fabs(ve - vs) > TINY_PIECE || edge_meets_open_cell(k, r0, j)))
            k->crossed[i] = 1;
    }
    if (du == 0.0)
        return;
    double f = 0.5 * (clamp01(vs - (double)r0) + clamp01(ve - (double)r0));
    double p = -du * f;
    k->buf[i] += k->w * p;
    if (r0 >= 1)
        k->buf[i - k->W] += k->w * (-du - p);
}

/* A piece that lies in one band r0: cut it at integer u lines. us, ue are within [0, W]. */
static void walk_band(walk *k, int64_t r0, double us, double vs, double ue, double ve)
{
    if (r0 < 0 || (us == ue && r0 >= k->H))
        return; /* above the window: no area; vertical and below it: nothing */
    if (us == ue) {
        double fl = floor(us);
        int64_t j = (int64_t)fl;
        if (fl == us || j < 0 || j >= k->W)
            return; /* on a column line (never inside an open cell) or outside */
        piece(k, r0, j, us, vs, ue, ve);
        return;
    }
    /* The slope only when the piece crosses a column line (a steep edge's pieces seldom do):
     * a division is the dearest step of the walk. */
    double lo = r0 < 0 ? -INFINITY : (double)r0, hi = r0 >= k->H ? INFINITY : (double)(r0 + 1);
    double pu = us, pv = vs;
    if (ue > us) {
        /* Lines m with us < m < ue. */
        double m = floor(us) + 1.0;
        double slope = m < ue ? (ve - vs) / (ue - us) : 0.0;
        for (; m < ue; m += 1.0) {
            double v = vs + (m - us) * slope;
            v = v < lo ? lo : (v > hi ? hi : v);
            piece(k, r0, (int64_t)m - 1, pu, pv, m, v);
            pu = m;
            pv = v;
        }
        int64_t j = (int64_t)floor(pu);
        if (j >= k->W)
            j = k->W - 1;
        piece(k, r0, j, pu, pv, ue, ve);
    } else {
        double m = ceil(us) - 1.0;
        double slope = m > ue ? (ve - vs) / (ue - us) : 0.0;
        for (; m > ue; m -= 1.0) {
            double v = vs + (m - us) * slope;
            v = v < lo ? lo : (v > hi ? hi : v);
            piece(k, r0, (int64_t)m, pu, pv, m, v);
            pu = m;
            pv = v;
        }
        int64_t j = (int64_t)ceil(pu) - 1;
        if (j < 0)
            j = 0;
        piece(k, r0, j, pu, pv, ue, ve);
    }
}

/* The band of a v-piece: -1 above the window, H below it, else floor of its middle. */
static int64_t band_of(const walk *k, double vs, double ve)
{
    double vm = 0.5 * (vs + ve);
    if (vm < 0.0)
        return -1;
    if (vm >= (double)k->H)
        return k->H;
    int64_t r0 = (int64_t)floor(vm);
    return r0 >= k->H ? k->H - 1 : r0;
}

/* One edge (ua,va) -> (ub,vb): clip to the window's columns, cut at integer v lines in [0, H]. */
static void walk_edge(walk *k, double ua, double va, double ub, double vb)
{
    double W = (double)k->W, H = (double)k->H;
    if ((ua <= 0.0 && ub <= 0.0) || (ua >= W && ub >= W))
        return; /* beside the window (or on its side lines): no area, no open cell */
    if ((va <= 0.0 && vb <= 0.0))
        return; /* above the window (or on its top line) */
    if (ua == ub && va >= H && vb >= H)
        return; /* vertical and below the window: no area, no cell crossed */
    k->au = ua;
    k->av = va;
    k->bu = ub;
    k->bv = vb;
    if (ua != ub) {
        /* Clip to u in [0, W], interpolating from the original endpoints. */
        double s = (vb - va) / (ub - ua);
        double ca = ua, cva = va, cb = ub, cvb = vb;
        if (ua < 0.0) {
            cva = va + (0.0 - ua) * s;
            ca = 0.0;
        } else if (ua > W) {
            cva = va + (W - ua) * s;
            ca = W;
        }
        if (ub < 0.0) {
            cvb = va + (0.0 - ua) * s;
            cb = 0.0;
        } else if (ub > W) {
            cvb = va + (W - ua) * s;
            cb = W;
        }
        ua = ca;
        va = cva;
        ub = cb;
        vb = cvb;
    }
    if (va == vb) {
        walk_band(k, band_of(k, va, vb), ua, va, ub, vb);
        return;
    }
    double inv = (ub - ua) / (vb - va);
    double umin = ua < ub ? ua : ub, umax = ua < ub ? ub : ua;
    double pu = ua, pv = va;
    if (vb > va) {
        double m = floor(va) + 1.0, last = ceil(vb) - 1.0;
        if (m < 0.0)
            m = 0.0;
        if (last > H)
            last = H;
        for (; m <= last; m += 1.0) {
            double u = ua + (m - va) * inv;
            u = u < umin ? umin : (u > umax ? umax : u);
            walk_band(k, band_of(k, pv, m), pu, pv, u, m);
            pu = u;
            pv = m;
        }
    } else {
        double m = ceil(va) - 1.0, last = floor(vb) + 1.0;
        if (m > H)
            m = H;
        if (last < 0.0)
            last = 0.0;
        for (; m >= last; m -= 1.0) {
            double u = ua + (m - va) * inv;
            u = u < umin ? umin : (u > umax ? umax : u);
            walk_band(k, band_of(k, pv, m), pu, pv, u, m);
            pu = u;
            pv = m;
        }
    }
    walk_band(k, band_of(k, pv, vb), pu, pv, ub, vb);
}

/* Cell-unit coordinates of a ring's vertex i relative to the window. */
typedef struct frame {
    double x0, y0, dx, dy, col0, row0;
} frame;

static void to_uv(const frame *f, const double *xy, double *u, double *v)
{
    *u = (xy[0] - f->x0) / f->dx - f->col0;
    *v = (f->y0 - xy[1]) / f->dy - f->row0;
}

/* A ring's vertices in (u, v), each converted once: uv[2 i], uv[2 i + 1]. Returns 1 when
 * every vertex lies in the window, [0, W] x [0, H]. */
static int ring_to_uv(const frame *f, const sm_ring *ring, double *uv, double W, double H)
{
    int inside = 1;
    for (size_t i = 0; i < ring->npoints; i++) {
        to_uv(f, ring->xy + 2 * i, &uv[2 * i], &uv[2 * i + 1]);
        inside &= (uv[2 * i] >= 0.0) & (uv[2 * i] <= W) & (uv[2 * i + 1] >= 0.0) & (uv[2 * i + 1] <= H);
    }
    return inside;
}

/* Twice the signed area of a ring in (u, v), relative to its first vertex. */
static double ring_area2_uv(const double *uv, size_t n)
{
    double u0 = uv[0], v0 = uv[1], s = 0.0;
    for (size_t i = 1; i + 1 < n; i++) {
        const double *a = uv + 2 * i, *b = a + 2;
        s += (a[0] - u0) * (b[1] - v0) - (b[0] - u0) * (a[1] - v0);
    }
    return s;
}

/* Along one axis, for an edge from a to b (b > a when s = +1, b < a when s = -1): the cell
 * index it starts in, the first grid line ahead of it, and how many lines lie strictly
 * between a and b. */
static void axis_start(double a, double b, int64_t s, int64_t *cell, double *line, int64_t *count)
{
    if (s > 0) {
        *cell = (int64_t)floor(a);
        *line = (double)(*cell + 1);
        *count = (int64_t)ceil(b) - 1 - *cell;
    } else {
        *cell = (int64_t)ceil(a) - 1;
        *line = (double)*cell;
        *count = *cell - (int64_t)floor(b);
    }
}

/* A slanted edge (neither vertical nor horizontal) whose ends both lie in the window: the
 * common case, walked as one sequence of pieces instead of bands then cells. Each step goes
 * to the nearer of the next column line and the next row line (both at a tie, through a cell
 * corner), chosen and taken without branches; the number of lines of each kind is known in
 * advance, so the walk never leaves the window. A line is reached where the edge's own
 * equation meets it, computed from the edge's first end, and the crossing is clamped to the
 * edge's box. Each piece does what piece() does for a piece in the window. */
static void walk_edge_inside(walk *k, double ua, double va, double ub, double vb)
{
    const int64_t W = k->W;
    k->au = ua;
    k->av = va;
    k->bu = ub;
    k->bv = vb;
    double du = ub - ua, dv = vb - va, adu = fabs(du), adv = fabs(dv);
    double s_vu = dv / du, s_uv = du / dv;
    double umin = du > 0.0 ? ua : ub, umax = du > 0.0 ? ub : ua;
    double vmin = dv > 0.0 ? va : vb, vmax = dv > 0.0 ? vb : va;
    int64_t su = du > 0.0 ? 1 : -1, sv = dv > 0.0 ? 1 : -1;
    /* the cell the edge starts in, the first line of each kind ahead, how many lines */
    int64_t j, r, ru, rv;
    double mu, mv;
    axis_start(ua, ub, su, &j, &mu, &ru);
    axis_start(va, vb, sv, &r, &mv, &rv);
    double *buf = k->buf, w = k->w;
    unsigned char *crossed = k->crossed;
    double pu = ua, pv = va;
    for (;;) {
        double nu, nv;
        int64_t cu, cv;
        if (ru + rv > 0) {
            /* the edge's parameter at each line, scaled by |du| |dv| so as not to divide */
            double tu = ru > 0 ? fabs(mu - ua) * adv : INFINITY;
            double tv = rv > 0 ? fabs(mv - va) * adu : INFINITY;
            cu = tu <= tv;
            cv = tv <= tu;
            double iu = ua + (mv - va) * s_uv, iv = va + (mu - ua) * s_vu;
            iu = iu < umin ? umin : (iu > umax ? umax : iu);
            iv = iv < vmin ? vmin : (iv > vmax ? vmax : iv);
            nu = cu ? mu : iu;
            nv = cv ? mv : iv;
        } else {
            cu = cv = 0;
            nu = ub;
            nv = vb;
        }
        /* the piece (pu, pv) -> (nu, nv) in cell (r, j) */
        int64_t i = r * W + j;
        double pdu = nu - pu;
        double f = 0.5 * (clamp01(pv - (double)r) + clamp01(nv - (double)r));
        double p = -pdu * f;
        buf[i] += w * p;
        double *above = r >= 1 ? &buf[i - W] : &k->spare[j];
        *above += w * (-pdu - p);
        /* A piece too short to measure marks its cell only if the edge meets the open cell,
         * as in piece(). Here a corner is crossed as a tie of the two lines, so such a piece
         * needs a tie that the products misjudge: a guard, not a path the tests reach. */
        if (fabs(pdu) + fabs(nv - pv) > TINY_PIECE)
            crossed[i] = 1;
        else if (edge_meets_open_cell(k, r, j))
            crossed[i] = 1;
        if (!(cu | cv))
            break;
        j += cu * su;
        mu += (double)(cu * su);
        ru -= cu;
        r += cv * sv;
        mv += (double)(cv * sv);
        rv -= cv;
        pu = nu;
        pv = nv;
    }
}

static void walk_ring(walk *k, const double *uv, size_t n, int inside)
{
    double ua = uv[2 * (n - 1)], va = uv[2 * (n - 1) + 1];
    for (size_t i = 0; i < n; i++) {
        double ub = uv[2 * i], vb = uv[2 * i + 1];
        if (inside && ua != ub && va != vb)
            walk_edge_inside(k, ua, va, ub, vb);
        else if (ua != ub || va != vb)
            walk_edge(k, ua, va, ub, vb);
        ua = ub;
        va = vb;
    }
}

/* Centre mode for one ring: toggle parity at the first centre at or right of each crossing. */
static void centre_ring(double *buf, int64_t W, int64_t H, const frame *f, const sm_ring *ring)
{
    size_t n = ring->npoints;
    double pu, pv;
    to_uv(f, ring->xy + 2 * (n - 1), &pu, &pv);
    for (size_t i = 0; i < n; i++) {
        double qu, qv;
        to_uv(f, ring->xy + 2 * i, &qu, &qv);
        if (pv != qv) {
            /* Interpolate from the upper end, so that an edge shared by two parcels gives the
             * same crossings whichever way each of them runs along it. */
            double u1 = pv < qv ? pu : qu, v1 = pv < qv ? pv : qv;
            double u2 = pv < qv ? qu : pu, v2 = pv < qv ? qv : pv;
            double rs = ceil(v1 - 0.5), re = ceil(v2 - 0.5) - 1.0;
            if (rs < 0.0)
                rs = 0.0;
            if (re > (double)(H - 1))
                re = (double)(H - 1);
            double du = u2 - u1, dv = v2 - v1, inv = du / dv;
            for (double r = rs; r <= re; r += 1.0) {
                double vc = r + 0.5;
                /* First centre at or right of the crossing: a guess by interpolation, settled
                 * by the exact-when-representable test (j+0.5-u1)*dv >= (vc-v1)*du. */
                double rhs = (vc - v1) * du;
                double jc = ceil(u1 + (vc - v1) * inv - 0.5);
                if (jc < -1.0)
                    jc = -1.0;
                if (jc > (double)W)
                    jc = (double)W;
                while (jc > -1.0 && (jc - 0.5 - u1) * dv >= rhs)
                    jc -= 1.0;
                while (jc < (double)W && !((jc + 0.5 - u1) * dv >= rhs))
                    jc += 1.0;
                if (jc >= (double)W)
                    continue;
                int64_t j = jc < 0.0 ? 0 : (int64_t)jc;
                double *c = &buf[(int64_t)r * W + j];
                *c = *c != 0.0 ? 0.0 : 1.0;
            }
        }
        pu = qu;
        pv = qv;
    }
}

static int ring_is_finite(const sm_ring *ring)
{
    for (size_t i = 0; i < 2 * ring->npoints; i++)
        if (!isfinite(ring->xy[i]))
            return 0;
    return 1;
}

/* Row r's weights are its own entries plus everything in its column below it (the difference
 * array of the walk); `sums` keeps the running sums of the rows below, so one pass from the
 * bottom row up both sums and finishes. With SSE2, two cells at a time, the same operations:
 * max(s, 0) then min(., 1) is clamp01's value (s is never NaN), the choice a mask. */
static void finish_rows(double *buf, double *sums, const unsigned char *crossed, int64_t W,
                        int64_t H, int touched)
{
    for (int64_t j = 0; j < W; j++)
        sums[j] = 0.0;
    for (int64_t r = H - 1; r >= 0; r--) {
        double *row = buf + r * W;
        const unsigned char *cr = crossed + r * W;
        int64_t j = 0;
#ifdef __SSE2__
        const __m128d zero = _mm_setzero_pd(), one = _mm_set1_pd(1.0), half = _mm_set1_pd(0.5);
        for (; j + 2 <= W; j += 2) {
            __m128d s = _mm_add_pd(_mm_loadu_pd(row + j), _mm_loadu_pd(sums + j));
            _mm_storeu_pd(sums + j, s);
            __m128d in = _mm_and_pd(_mm_cmpgt_pd(s, half), one);
            __m128d m = _mm_castsi128_pd(
                _mm_set_epi64x(-(long long)(cr[j + 1] != 0), -(long long)(cr[j] != 0)));
            __m128d when = touched ? one : _mm_min_pd(_mm_max_pd(s, zero), one);
            _mm_storeu_pd(row + j, _mm_or_pd(_mm_and_pd(m, when), _mm_andnot_pd(m, in)));
        }
#endif
        for (; j < W; j++) {
            double s = row[j] + sums[j];
            sums[j] = s;
            double in = s > 0.5 ? 1.0 : 0.0;
            row[j] = cr[j] ? (touched ? 1.0 : clamp01(s)) : in;
        }
    }
}

sm_status sm_coverage_compute(sm_coverage *out, sm_context *ctx, const sm_grid *grid,
                              const sm_polygon *parts, size_t nparts, sm_cover_mode mode)
{
    sm_status st = SM_OK;
    double xmin = INFINITY, ymin = INFINITY, xmax = -INFINITY, ymax = -INFINITY;
    size_t ncells;

    memset(&out->win, 0, sizeof out->win);
    if (mode != SM_COVER_EXACT && mode != SM_COVER_CENTER && mode != SM_COVER_TOUCHED) {
        st = sm_error(ctx, SM_ERR_INPUT, "coverage: unknown mode %d", (int)mode);
        goto end;
    }
    if (!(grid->dx > 0.0) || !(grid->dy > 0.0) || grid->ncols < 0 || grid->nrows < 0) {
        st = sm_error(ctx, SM_ERR_INPUT, "coverage: bad grid (cell %g x %g, %lld x %lld cells)",
                      grid->dx, grid->dy, (long long)grid->ncols, (long long)grid->nrows);
        goto end;
    }
    size_t maxpts = 0;
    for (size_t p = 0; p < nparts; p++) {
        for (size_t r = 0; r < parts[p].nrings; r++) {
            const sm_ring *ring = &parts[p].rings[r];
            if (ring->npoints == 0)
                continue;
            if (!ring_is_finite(ring)) {
                st = sm_error(ctx, SM_ERR_INPUT,
                              "coverage: part %zu ring %zu has a non-finite coordinate", p, r);
                goto end;
            }
            for (size_t i = 0; i < ring->npoints; i++) {
                double x = ring->xy[2 * i], y = ring->xy[2 * i + 1];
                xmin = x < xmin ? x : xmin;
                xmax = x > xmax ? x : xmax;
                ymin = y < ymin ? y : ymin;
                ymax = y > ymax ? y : ymax;
            }
            maxpts = ring->npoints > maxpts ? ring->npoints : maxpts;
        }
    }
    if (!(xmin <= xmax))
        goto end; /* no vertices: empty window */

    sm_window win = sm_grid_window_for_box(grid, xmin, ymin, xmax, ymax);
    if (win.ncols == 0 || win.nrows == 0)
        goto end;
    /* The weights, a row of running sums, one byte per cell (crossed by a ring), then a ring's
     * vertices in cell units, in the same buffer. */
    if (sm_mul_size((size_t)win.ncols, (size_t)win.nrows, &ncells) ||
        ncells > SIZE_MAX / sizeof(double) / 2 - (size_t)win.ncols - 2 ||
        maxpts > SIZE_MAX / sizeof(double) / 4) {
        st = sm_error(ctx, SM_ERR_NOMEM, "coverage: window of %lld x %lld cells is too large",
                      (long long)win.ncols, (long long)win.nrows);
        goto end;
    }
    size_t zeroed = ncells + (size_t)win.ncols + (ncells + 7) / 8, need = zeroed + 2 * maxpts;
    if (out->cap < need) {
        double *p = sm_realloc(ctx, out->frac, need * sizeof(double));
        if (!p) {
            st = SM_ERR_NOMEM;
            goto end;
        }
        out->frac = p;
        out->cap = need;
    }
    memset(out->frac, 0, zeroed * sizeof(double));

    frame f = {grid->x0, grid->y0, grid->dx, grid->dy, (double)win.col0, (double)win.row0};
    int64_t W = win.ncols, H = win.nrows;
    double *buf = out->frac;

    if (mode == SM_COVER_CENTER) {
        for (size_t p = 0; p < nparts; p++)
            for (size_t r = 0; r < parts[p].nrings; r++)
                if (parts[p].rings[r].npoints >= 3)
                    centre_ring(buf, W, H, &f, &parts[p].rings[r]);
        for (int64_t r = 0; r < H; r++) {
            double *row = buf + r * W, acc = 0.0;
            for (int64_t j = 0; j < W; j++) {
                if (row[j] != 0.0)
                    acc = 1.0 - acc;
                row[j] = acc;
            }
        }
        out->win = win;
        goto end;
    }

    double *sums = buf + ncells;
    unsigned char *crossed = (unsigned char *)(sums + W);
    double *uv = out->frac + zeroed;
    walk k = {buf, sums, crossed, W, H, 1.0, 0.0, 0.0, 0.0, 0.0};
    for (size_t p = 0; p < nparts; p++) {
        for (size_t r = 0; r < parts[p].nrings; r++) {
            const sm_ring *ring = &parts[p].rings[r];
            if (ring->npoints < 3)
                continue;
            int inside = ring_to_uv(&f, ring, uv, (double)W, (double)H);
            double a2 = ring_area2_uv(uv, ring->npoints);
            if (a2 == 0.0)
                continue;
            k.w = (a2 > 0.0 ? 1.0 : -1.0) * (r == 0 ? 1.0 : -1.0);
            walk_ring(&k, uv, ring->npoints, inside);
        }
    }
    /* The suffix sums over rows, bottom up, each row finished as soon as it is summed. */
    finish_rows(buf, sums, crossed, W, H, mode == SM_COVER_TOUCHED);
    out->win = win;

end:
    return st;
}

void sm_coverage_free(sm_coverage *cov)
{
    if (!cov)
        return;
    free(cov->frac);
    cov->frac = NULL;
    cov->cap = 0;
    memset(&cov->win, 0, sizeof cov->win);
}

double sm_polygon_area(const sm_polygon *parts, size_t nparts)
{
    double total = 0.0;
    for (size_t p = 0; p < nparts; p++) {
        for (size_t r = 0; r < parts[p].nrings; r++) {
            const sm_ring *ring = &parts[p].rings[r];
            size_t n = ring->npoints;
            if (n < 3)
                continue;
            double x0 = ring->xy[0], y0 = ring->xy[1], s = 0.0;
            for (size_t i = 1; i + 1 < n; i++) {
                const double *a = ring->xy + 2 * i, *b = ring->xy + 2 * (i + 1);
                s += (a[0] - x0) * (b[1] - y0) - (b[0] - x0) * (a[1] - y0);
            }
            double area = 0.5 * fabs(s);
            total += r == 0 ? area : -area;
        }
    }
    return total;
}
