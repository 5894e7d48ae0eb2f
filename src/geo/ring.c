/* ring.c: is a ring certainly a valid shell, and its area.
 * Reading a million parcels, GEOS's validity check (a noding of the ring's edges) was the
 * largest cost after OGR itself. Most inventory parcels are one ring of a few dozen points
 * whose edges are far apart compared with rounding: for those a direct test of every pair of
 * edges, with orientations whose sign is certain, settles validity; anything it cannot settle
 * goes to GEOS, so the answer is never "valid" where GEOS would say otherwise. */
#include "sinkmap/ring.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Shewchuk's error bound for the orientation determinant evaluated in doubles (ccwerrboundA,
 * with epsilon = 2^-53): when |det| exceeds it times |detleft| + |detright|, det has the sign
 * of the exact determinant. */
#define ORIENT_EPS 1.1102230246251565e-16
#define ORIENT_BOUND ((3.0 + 16.0 * ORIENT_EPS) * ORIENT_EPS)

#define MIN2(a, b) ((a) < (b) ? (a) : (b))
#define MAX2(a, b) ((a) > (b) ? (a) : (b))

/* +1 / -1: c is certainly left / right of the line a->b; 0: on it, or too close to tell.
 * Without branches: the sign is as likely one way as the other. */
static int orient_certain(const double *a, const double *b, const double *c)
{
    double detleft = (a[0] - c[0]) * (b[1] - c[1]);
    double detright = (a[1] - c[1]) * (b[0] - c[0]);
    double det = detleft - detright;
    double mag = fabs(detleft) + fabs(detright);
    double bound = ORIENT_BOUND * mag;
    int ok = mag > 1e-200; /* not zero, nor near underflow where the bound no longer holds */
    return ((det > bound) - (-det > bound)) & -ok;
}

/* 1: the closed segments p-q and r-s, whose boxes meet, certainly share no point. */
static int apart(const double *p, const double *q, const double *r, const double *s)
{
    int o1 = orient_certain(p, q, r), o2 = orient_certain(p, q, s);
    int o3 = orient_certain(r, s, p), o4 = orient_certain(r, s, q);
    return ((o1 != 0) & (o1 == o2)) | ((o3 != 0) & (o3 == o4));
}

int sm_ring_certainly_simple(const double *xy, size_t npts)
{
    if (npts < 4 || npts > SM_RING_SIMPLE_MAX_POINTS)
        return 0;
    size_t m = npts - 1; /* edges: i runs from point i to point i + 1 */
    int bad = 0;
    for (size_t i = 0; i < 2 * npts; i++)
        bad |= !isfinite(xy[i]);
    /* closed, and no edge of length zero */
    bad |= xy[0] != xy[2 * m] || xy[1] != xy[2 * m + 1];
    for (size_t i = 0; i < m; i++)
        bad |= (xy[2 * i] == xy[2 * i + 2]) & (xy[2 * i + 1] == xy[2 * i + 3]);
    if (bad)
        return 0;
    /* consecutive edges meet only at their shared point: a certain turn there */
    for (size_t i = 0; i < m; i++)
        bad |= orient_certain(xy + 2 * i, xy + 2 * (i + 1), xy + 2 * (i + 2 < m ? i + 2 : i + 2 - m)) == 0;
    if (bad)
        return 0;
    /* The edges' boxes: two edges whose boxes are disjoint share no point (comparisons of
     * finite doubles are exact); the others need the orientation tests. Most pairs of a ring
     * are far apart, so for each edge i the edges j whose boxes meet its box are listed first,
     * without branches, then tested. */
    double x0[SM_RING_SIMPLE_MAX_POINTS], x1[SM_RING_SIMPLE_MAX_POINTS];
    double y0[SM_RING_SIMPLE_MAX_POINTS], y1[SM_RING_SIMPLE_MAX_POINTS];
    unsigned short near[SM_RING_SIMPLE_MAX_POINTS + 2];
    for (size_t i = 0; i < m; i++) {
        const double *a = xy + 2 * i, *b = a + 2;
        x0[i] = MIN2(a[0], b[0]);
        x1[i] = MAX2(a[0], b[0]);
        y0[i] = MIN2(a[1], b[1]);
        y1[i] = MAX2(a[1], b[1]);
    }
    /* every other pair of edges apart (edge m-1 and edge 0 are consecutive through point 0) */
    for (size_t i = 0; i + 2 < m; i++) {
        size_t jend = i == 0 ? m - 1 : m, j = i + 2, nn = 0;
#ifdef __SSE2__
        const __m128d ax0 = _mm_set1_pd(x0[i]), ax1 = _mm_set1_pd(x1[i]);
        const __m128d ay0 = _mm_set1_pd(y0[i]), ay1 = _mm_set1_pd(y1[i]);
        for (; j + 2 <= jend; j += 2) {
            __m128d d = _mm_or_pd(_mm_or_pd(_mm_cmplt_pd(ax1, _mm_loadu_pd(x0 + j)),
                                            _mm_cmplt_pd(_mm_loadu_pd(x1 + j), ax0)),
                                  _mm_or_pd(_mm_cmplt_pd(ay1, _mm_loadu_pd(y0 + j)),
                                            _mm_cmplt_pd(_mm_loadu_pd(y1 + j), ay0)));
            int mask = _mm_movemask_pd(d);
            near[nn] = (unsigned short)j;
            nn += !(mask & 1);
            near[nn] = (unsigned short)(j + 1);
            nn += !(mask & 2);
        }
#endif
        for (; j < jend; j++) {
            near[nn] = (unsigned short)j;
            nn += !((x1[i] < x0[j]) | (x1[j] < x0[i]) | (y1[i] < y0[j]) | (y1[j] < y0[i]));
        }
        for (size_t t = 0; t < nn; t++) {
            size_t q = near[t];
            bad |= !apart(xy + 2 * i, xy + 2 * i + 2, xy + 2 * q, xy + 2 * q + 2);
        }
        if (bad)
            return 0;
    }
    return 1;
}

double sm_ring_area(const double *xy, size_t npts)
{
    if (npts < 3)
        return 0.0;
    double x0 = xy[0], sum = 0.0;
    for (size_t i = 1; i + 1 < npts; i++)
        sum += (xy[2 * i] - x0) * (xy[2 * i - 1] - xy[2 * i + 3]);
    return fabs(sum / 2.0);
}
