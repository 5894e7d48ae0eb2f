/* mc_bench.c: times sm_uncertainty_mc on a synthetic inventory: 100,000 parcels, 14 species
 * groups, 50 units, 1,000 draws, once with exact volumes and once with a volume U95 on every
 * parcel (the slow path: one stream per parcel and draw, drawn twice). Target: < 60 s on 2 cores.
 * Build (after a CMake build in build/):
 *   cc -O2 -Iinclude -o mc_bench bench/mc_bench.c build/libsinkmap.a \
 *      $(pkg-config --libs gdal proj geos inih sqlite3 libtiff-4) -lpthread -lm
 * Usage: mc_bench [THREADS] [DRAWS] [PARCELS]   (defaults 2, 1000, 100000)
 * Measured (RelWithDebInfo library, -O2 bench, 2-core build box; ranges over repeated runs, the
 * slower ones while other builds shared the box):
 *   2 threads: exact volumes 0.04–0.08 s, volume U on every parcel 3.6–7.6 s (18.3 s and
 *   0.18 s with a load average of 10 on the 2 cores);
 *   1 thread:  exact volumes 0.04 s, volume U on every parcel 7.3 s;
 *   10,000 draws, 2 threads: 0.12 s and 69 s (the per-parcel streams scale with draws).
 * Since the volume draws are chunked (each (parcel, draw) drawn once, not twice), the second
 * figure is about a third lower: 9.3 -> 6.2 s at 1 thread (load average 3.5, same figures).
 * The third and fourth lines time the 8 groupings of summary.csv (1, 8, 96, 1920, 9, 3, 6, 9
 * units; sinkmap run's write_summary), once with one sm_uncertainty_mc per grouping and once with
 * sm_uncertainty_mc_grouped, whose figures are the same bit for bit (checked here): 16.9 and
 * 2.4 s at 1 thread, 1,000 draws, a volume U on every third parcel (load average 3.5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sinkmap/uncertainty.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t draws = argc > 2 ? (size_t)atol(argv[2]) : 1000;
    size_t nparcels = argc > 3 ? (size_t)atol(argv[3]) : 100000;
    enum { NGROUPS = 14, NUNITS = 50 };
    sm_species_group groups[NGROUPS] = {{0}};
    for (int g = 0; g < NGROUPS; g++) {
        groups[g].key = "bench";
        groups[g].svd = 0.30 + 0.03 * g;
        groups[g].svd_u95 = 8 + g % 5;
        groups[g].bef = 1.35 + 0.03 * g;
        groups[g].bef_u95 = 10 + g % 7;
        groups[g].r = 0.18 + 0.01 * g;
        groups[g].r_u95 = 30 + g % 4 * 5;
        groups[g].cf = 0.46 + 0.003 * g;
        groups[g].cf_u95 = 2;
    }
    sm_unc_parcel *p = calloc(nparcels, sizeof *p);
    if (!p)
        return 1;
    unsigned long long x = 88172645463325252ull; /* xorshift64 for the synthetic inventory */
    for (size_t i = 0; i < nparcels; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i].group = (size_t)(x % NGROUPS);
        p[i].unit = (size_t)(x >> 8) % NUNITS;
        p[i].v1 = 20 + (double)((x >> 16) % 200);
        p[i].v2 = p[i].v1 * (1.0 + (double)((x >> 32) % 30) / 100.0);
        p[i].area_ha = 0.2 + (double)((x >> 40) % 100) / 10.0;
    }
    sm_context *ctx = sm_context_create();
    sm_unc_options opt = SM_UNC_OPTIONS_INIT;
    opt.units = NUNITS;
    opt.years = 5;
    opt.draws = draws;
    opt.seed = 2024;
    opt.threads = threads;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nparcels; i++)
            p[i].v_u95_pct = pass ? 15.0 : 0.0;
        sm_unc_result *r = NULL;
        double t0 = now();
        if (sm_uncertainty_mc(&r, ctx, groups, NGROUPS, p, nparcels, &opt) != SM_OK) {
            fprintf(stderr, "mc_bench: %s\n", sm_context_message(ctx));
            return 1;
        }
        double t1 = now();
        printf("%s: %zu parcels x %zu draws, %d threads: %.2f s; total sink %.1f [%.1f, %.1f] "
               "t CO2e/yr\n",
               pass ? "volume U on every parcel" : "exact volumes", nparcels, draws, threads,
               t1 - t0, r->total.sink.mean, r->total.sink.lo95, r->total.sink.hi95);
        sm_unc_result_destroy(r);
    }
    /* The groupings of summary.csv, with a volume U on every third parcel. */
    enum { NGRP = 8 };
    static const size_t gunits[NGRP] = {1, 8, 96, 1920, 9, 3, 6, 9};
    sm_unc_grouping gr[NGRP];
    size_t *gu = malloc(NGRP * nparcels * sizeof *gu);
    sm_unc_parcel *q = malloc(nparcels * sizeof *q);
    if (!gu || !q)
        return 1;
    for (size_t i = 0; i < nparcels; i++) {
        size_t village = (size_t)(p[i].v1 * 7919 + (double)i) % 1920;
        const size_t u[NGRP] = {0, village / 240, village / 20, village, p[i].group % 9, i % 3,
                                i / 7 % 6, (size_t)p[i].area_ha % 9};
        for (int k = 0; k < NGRP; k++)
            gu[k * nparcels + i] = u[k];
        p[i].v_u95_pct = i % 3 ? 0.0 : 15.0;
    }
    for (int k = 0; k < NGRP; k++) {
        gr[k].units = gunits[k];
        gr[k].unit = &gu[k * nparcels];
    }
    sm_unc_result *one[NGRP], *all[NGRP];
    double t0 = now();
    for (int k = 0; k < NGRP; k++) {
        memcpy(q, p, nparcels * sizeof *q);
        for (size_t i = 0; i < nparcels; i++)
            q[i].unit = gr[k].unit[i];
        sm_unc_options o = opt;
        o.units = gr[k].units;
        if (sm_uncertainty_mc(&one[k], ctx, groups, NGROUPS, q, nparcels, &o) != SM_OK) {
            fprintf(stderr, "mc_bench: %s\n", sm_context_message(ctx));
            return 1;
        }
    }
    double t1 = now();
    if (sm_uncertainty_mc_grouped(NULL, all, ctx, groups, NGROUPS, p, nparcels, gr, NGRP, &opt) !=
        SM_OK) {
        fprintf(stderr, "mc_bench: %s\n", sm_context_message(ctx));
        return 1;
    }
    double t2 = now();
    int same = 1;
    for (int k = 0; k < NGRP; k++) {
        same &= memcmp(one[k]->units, all[k]->units, gunits[k] * sizeof *all[k]->units) == 0 &&
                memcmp(&one[k]->total, &all[k]->total, sizeof all[k]->total) == 0;
        sm_unc_result_destroy(one[k]);
        sm_unc_result_destroy(all[k]);
    }
    printf("8 groupings, volume U on every third parcel, %d threads: one sm_uncertainty_mc per "
           "grouping %.2f s\n", threads, t1 - t0);
    printf("8 groupings, volume U on every third parcel, %d threads: sm_uncertainty_mc_grouped "
           "%.2f s (figures %s)\n", threads, t2 - t1, same ? "identical" : "DIFFERENT");
    free(gu);
    free(q);
    sm_context_destroy(ctx);
    free(p);
    return same ? 0 : 1;
}
