/* readfloor.c: the GDAL read floor: the time to decode every block of a raster band once.
 * The benchmark's yardstick for `sinkmap zonal`: no statistics, no conversion, just
 * GDALReadBlock over each block, rows of blocks shared among N threads (one dataset each).
 * Build: cc -O2 -o readfloor readfloor.c $(pkg-config --cflags --libs gdal) -lpthread
 * Usage: readfloor RASTER [THREADS] [BAND]   prints seconds, blocks, and a checksum. */
#include <gdal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct job {
    const char *path;
    int band, t, nthreads;
    long blocks;
    double sum; /* Σ of the block's first value, to keep the reads observable */
    int failed;
} job;

static void *run(void *arg)
{
    job *j = arg;
    GDALDatasetH ds = GDALOpen(j->path, GA_ReadOnly);
    if (!ds) {
        j->failed = 1;
        return NULL;
    }
    GDALRasterBandH b = GDALGetRasterBand(ds, j->band);
    int bx, by;
    GDALGetBlockSize(b, &bx, &by);
    int nbx = (GDALGetRasterXSize(ds) + bx - 1) / bx, nby = (GDALGetRasterYSize(ds) + by - 1) / by;
    size_t bytes = (size_t)bx * (size_t)by * (size_t)GDALGetDataTypeSizeBytes(GDALGetRasterDataType(b));
    unsigned char *buf = malloc(bytes);
    if (!buf) {
        j->failed = 1;
        GDALClose(ds);
        return NULL;
    }
    /* Rows of blocks in turn: thread t takes rows t, t + n, t + 2n, ... */
    for (int yb = j->t; yb < nby; yb += j->nthreads)
        for (int xb = 0; xb < nbx; xb++) {
            if (GDALReadBlock(b, xb, yb, buf) != CE_None) {
                j->failed = 1;
                goto end;
            }
            j->blocks++;
            j->sum += buf[0];
        }
end:
    free(buf);
    GDALClose(ds);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: readfloor RASTER [THREADS] [BAND]\n");
        return 2;
    }
    int nthreads = argc > 2 ? atoi(argv[2]) : 1, band = argc > 3 ? atoi(argv[3]) : 1;
    if (nthreads < 1)
        nthreads = 1;
    GDALAllRegister();
    /* Blocks are read once each: no point in caching them. */
    GDALSetCacheMax64(64 * 1024 * 1024);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    job *jobs = calloc((size_t)nthreads, sizeof *jobs);
    pthread_t *tid = calloc((size_t)nthreads, sizeof *tid);
    for (int t = 0; t < nthreads; t++) {
        jobs[t] = (job){argv[1], band, t, nthreads, 0, 0.0, 0};
        pthread_create(&tid[t], NULL, run, &jobs[t]);
    }
    long blocks = 0;
    double sum = 0;
    int failed = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(tid[t], NULL);
        blocks += jobs[t].blocks;
        sum += jobs[t].sum;
        failed |= jobs[t].failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("%.3f s, %ld blocks, %d threads, checksum %.0f\n", s, blocks, nthreads, sum);
    free(jobs);
    free(tid);
    return failed ? 1 : 0;
}
