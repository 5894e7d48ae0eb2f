/* readfloor.c: the read floor of a sinkmap run: decode every block of every band of the given
 * rasters exactly once with GDALReadBlock (no resampling, no type conversion, no block cache),
 * split over N threads that each open their own handles, as sinkmap's workers do.
 * Usage: readfloor THREADS RASTER...   prints "blocks=B bytes=D seconds=S". */
#include <gdal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct task {
    char **paths;
    int npaths, nthreads, id;
    long long blocks, bytes;
    int failed;
} task;

static void *run(void *arg)
{
    task *t = arg;
    long long k = 0; /* global block index: blocks are dealt round-robin to threads */
    for (int f = 0; f < t->npaths; f++) {
        GDALDatasetH ds = GDALOpen(t->paths[f], GA_ReadOnly);
        if (!ds) {
            t->failed = 1;
            return NULL;
        }
        for (int b = 1; b <= GDALGetRasterCount(ds); b++) {
            GDALRasterBandH band = GDALGetRasterBand(ds, b);
            int bx, by;
            GDALGetBlockSize(band, &bx, &by);
            int nx = (GDALGetRasterBandXSize(band) + bx - 1) / bx;
            int ny = (GDALGetRasterBandYSize(band) + by - 1) / by;
            size_t sz = (size_t)bx * (size_t)by * (size_t)GDALGetDataTypeSizeBytes(GDALGetRasterDataType(band));
            void *buf = malloc(sz);
            if (!buf) {
                t->failed = 1;
                GDALClose(ds);
                return NULL;
            }
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++, k++) {
                    if (k % t->nthreads != t->id)
                        continue;
                    if (GDALReadBlock(band, x, y, buf) != CE_None)
                        t->failed = 1;
                    t->blocks++;
                    t->bytes += (long long)sz;
                }
            free(buf);
        }
        GDALClose(ds);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: readfloor THREADS RASTER...\n");
        return 2;
    }
    int n = atoi(argv[1]);
    if (n < 1 || n > 64)
        n = 1;
    GDALAllRegister();
    task tasks[64];
    pthread_t tid[64];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        tasks[i] = (task){argv + 2, argc - 2, n, i, 0, 0, 0};
        pthread_create(&tid[i], NULL, run, &tasks[i]);
    }
    long long blocks = 0, bytes = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(tid[i], NULL);
        blocks += tasks[i].blocks;
        bytes += tasks[i].bytes;
        failed |= tasks[i].failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    printf("blocks=%lld bytes=%lld seconds=%.3f\n", blocks, bytes, s);
    if (failed)
        fprintf(stderr, "readfloor: a raster or block could not be read\n");
    return failed ? 1 : 0;
}
