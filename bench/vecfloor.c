/* vecfloor.c: the GDAL read floor of a parcel layer: the time OGR takes to hand out every
 * feature once, with its attributes and geometry (the last point of its first ring touched, the
 * first field read as text), on one thread (OGR reads a layer sequentially). The second half of
 * the yardstick for `sinkmap zonal` when the parcels are many: at a million parcels the
 * benchmark's GeoPackage (358 MB) is larger than its raster (321 MB).
 * Build: cc -O2 -o vecfloor vecfloor.c $(pkg-config --cflags --libs gdal)
 * Usage: vecfloor PARCELS   prints the features read, seconds, and a checksum. */
#include <gdal.h>
#include <ogr_api.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: vecfloor PARCELS\n");
        return 2;
    }
    GDALAllRegister();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    GDALDatasetH ds = GDALOpenEx(argv[1], GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    OGRLayerH layer = ds ? GDALDatasetGetLayer(ds, 0) : NULL;
    if (!layer) {
        fprintf(stderr, "vecfloor: %s: no vector layer\n", argv[1]);
        return 2;
    }
    long n = 0;
    double check = 0.0;
    OGRFeatureH f;
    while ((f = OGR_L_GetNextFeature(layer)) != NULL) {
        OGRGeometryH g = OGR_F_GetGeometryRef(f);
        OGRGeometryH ring = g ? OGR_G_GetGeometryRef(g, 0) : NULL;
        if (ring && OGR_G_GetPointCount(ring) > 0)
            check += OGR_G_GetX(ring, OGR_G_GetPointCount(ring) - 1);
        if (OGR_F_GetFieldCount(f) > 0)
            check += (double)(unsigned char)OGR_F_GetFieldAsString(f, 0)[0];
        OGR_F_Destroy(f);
        n++;
    }
    GDALClose(ds);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%ld features %.3f s checksum %.17g\n", n,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), check);
    return 0;
}
