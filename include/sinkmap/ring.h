/* ring.h: a conservative simplicity test and the area of one closed ring, for reading parcels
 * without building a GEOS geometry for each. */
#ifndef SINKMAP_RING_H
#define SINKMAP_RING_H

#include <stddef.h>

/* Rings of more points than this are not tested (the test is quadratic): the caller asks GEOS. */
#define SM_RING_SIMPLE_MAX_POINTS 512

/* 1 when the closed ring xy[0..2*npts) (x,y pairs, last point equal to the first) is certainly
 * a valid polygon shell: at least 4 points, all finite, no two consecutive points equal, every
 * pair of consecutive edges turning by a sign that floating-point rounding cannot have flipped,
 * and every pair of non-consecutive edges certainly apart (disjoint boxes, or one edge's ends
 * certainly on the same side of the other's line). 0 when any of that is not certain, including
 * for rings that are valid but have collinear or touching points: such rings, and rings of more
 * than SM_RING_SIMPLE_MAX_POINTS points, go to a full validity check (GEOS). Never 1 for a ring
 * GEOS would call invalid. */
int sm_ring_certainly_simple(const double *xy, size_t npts);

/* The area enclosed by a closed ring (always >= 0), summed as GEOS sums it (coordinates taken
 * relative to the first x), so that a ring read this way has the area GEOS gives it. */
double sm_ring_area(const double *xy, size_t npts);

#endif
