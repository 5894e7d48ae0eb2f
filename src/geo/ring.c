/* ring.c: is a ring certainly a valid shell, and its area.
 * Reading a million parcels, GEOS's validity check (a noding of the ring's edges) was the
 * largest cost after OGR itself. Most inventory parcels are one ring of a few dozen points
 * whose edges are far apart compared with rounding: for those a direct test of every pair of
 * edges, with orientations whose sign is certain, settles validity; anything it cannot settle
 * goes to GEOS, so the answer is never "valid" where GEOS would say otherwise. */
#include "sinkmap/ring.h"

#include <math.h>

/* Shewchuk's error bound for the orientation determinant evaluated in doubles (ccwerrboundA,
 * with epsilon = 2^-53): when |det| exceeds it times |detleft| + |detright|, det has the sign
 * of the exact determinant. */
#define ORIENT_EPS 1.1102230246251565e-16
#define ORIENT_BOUND ((3.0 + 16.0 * ORIENT_EPS) * ORIENT_EPS)

#define MIN2(a, b) ((a) < (b) ? (a) : (b))
#define MAX2(a, b) ((a) > (b) ? (a) : (b))

/* +1 / -1: c is certainly left / right of the line a->b; 0: on it, or too close to tell. */
static int orient_certain(const double *a, const double *b, const double *c)
{
    double detleft = (a[0] - c[0]) * (b[1] - c[1]);
    double detright = (a[1] - c[1]) * (b[0] - c[0]);
    double det = detleft - detright;
    double mag = fabs(detleft) + fabs(detright);
    if (!(mag > 1e-200)) /* zero, or near underflow where the bound no longer holds */
        return 0;
    double bound = ORIENT_BOUND * mag;
    if (det > bound)
        return 1;
    if (-det > bound)
        return -1;
    return 0;
}

/* 1: the closed segments p-q and r-s certainly share no point. */
static int apart(const double *p, const double *q, const double *r, const double *s)
{
    /* boxes: comparisons of doubles are exact (all coordinates are finite here) */
    if (MAX2(p[0], q[0]) < MIN2(r[0], s[0]) || MAX2(r[0], s[0]) < MIN2(p[0], q[0]) ||
        MAX2(p[1], q[1]) < MIN2(r[1], s[1]) || MAX2(r[1], s[1]) < MIN2(p[1], q[1]))
        return 1;
    int o1 = orient_certain(p, q, r), o2 = orient_certain(p, q, s);
    if (o1 != 0 && o1 == o2)
        return 1;
    int o3 = orient_certain(r, s, p), o4 = orient_certain(r, s, q);
    return o3 != 0 && o3 == o4;
}

int sm_ring_certainly_simple(const double *xy, size_t npts)
{
    if (npts < 4 || npts > SM_RING_SIMPLE_MAX_POINTS)
        return 0;
    for (size_t i = 0; i < 2 * npts; i++)
        if (!isfinite(xy[i]))
            return 0;
    size_t m = npts - 1; /* edges: i runs from point i to point i + 1 */
    if (xy[0] != xy[2 * m] || xy[1] != xy[2 * m + 1])
        return 0;
    for (size_t i = 0; i < m; i++)
        if (xy[2 * i] == xy[2 * i + 2] && xy[2 * i + 1] == xy[2 * i + 3])
            return 0;
    /* consecutive edges meet only at their shared point: a certain turn there */
    for (size_t i = 0; i < m; i++)
        if (orient_certain(xy + 2 * i, xy + 2 * (i + 1), xy + 2 * ((i + 2) % m)) == 0)
            return 0;
    /* every other pair of edges apart (edge m-1 and edge 0 are consecutive through point 0) */
    for (size_t i = 0; i + 2 < m; i++)
        for (size_t j = i + 2; j < m; j++) {
            if (i == 0 && j == m - 1)
                continue;
            if (!apart(xy + 2 * i, xy + 2 * i + 2, xy + 2 * j, xy + 2 * j + 2))
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
