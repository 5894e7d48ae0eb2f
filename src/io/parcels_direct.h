/* parcels_direct.h: how a layer of parcels was read, and a prefetch of their geometry for the
 * passes that visit parcels in an order of their own (internal to libsinkmap and its tests).
 * GeoPackage tables are read directly with SQLite on several threads when every value and
 * geometry can be taken exactly as OGR would give it (src/io/parcels.c); anything else, and
 * everything when SINKMAP_DIRECT_GPKG=NO, goes through OGR. */
#ifndef SINKMAP_IO_PARCELS_DIRECT_H
#define SINKMAP_IO_PARCELS_DIRECT_H

#include "sinkmap/parcels.h"

/* 1 when the parcels were read directly from the GeoPackage, 0 when through OGR. */
int sm__parcels_read_directly(const sm_parcels *p);
/* Why they were read through OGR ("" when read directly): a short constant string. */
const char *sm__parcels_direct_why(const sm_parcels *p);

/* Asks the cache for parcel i's geometry ahead of its use, in stages: each stage reads what
 * the stage before it fetched, so a caller walking parcels in an order of its own issues
 * stage 0 for the parcel 8 ahead, 1 for 4 ahead, 2 for 2 ahead and 3 for the next one. */
void sm__parcel_geoms_prefetch(const sm_parcel_geoms *g, size_t i, int stage);

#endif
