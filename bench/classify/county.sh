#!/usr/bin/env bash
# bench/classify/county.sh: classification throughput on the county scene (issue #5 item 9):
# megapixels per second per core of `sinkmap classify --model` for a random forest of 100 trees
# and for maximum likelihood, applied to one whole 10980 x 10980 date of the county job that
# bench/run/gen_job.py writes (synthetic Sentinel-2 L2A, 10 m), with 1 and 2 threads.
#
# Run by hand, never in the tests (on the 2-core machine: rf ~25-40 min per configuration,
# maxlik ~2-3 min, the whole script ~75 min; results in bench/RESULTS_classify.md):
#   bash bench/classify/county.sh SINKMAP [WORK_DIR]
# SINKMAP is a Release build of the CLI; libsinkmap.a is taken from beside it (or $LIBSINKMAP)
# to build the I/O floor program. WORK_DIR defaults to /tmp/sinkmap-bench-classify-county
# (never the repository). Environment:
#   JOB       the generated county job (default /tmp/sinkmap-bench-run/1x; generated there with
#             bench/run/gen_job.py when missing, as bench/run/run.sh does)
#   SCENE     the date classified (default 2023a: the cloud-free autumn scene)
#   THREADS   "1 2" (default)     METHODS  "rf maxlik" (default)     REPS  runs per config (1)
#   OTB       1: also OTB ImageClassifier, rf 100 trees (default: 1 when otbcli_* exist)
#   OTB_MAX   skip OTB's whole-scene run when a trial on the first OTB_TRIAL_ROWS rows (default
#             256) extrapolates above this many seconds (default 900)
#   TRAIN_EVERY   train on every Nth parcel (default 100)
#   SKIP_TRAIN=1  reuse the models already in WORK_DIR
#   DIAG_ROWS the rows of the strip the forest diagnostic uses (default 96)
#
# What is timed: the whole `sinkmap classify R10 R20 --model M -o MAP --threads T` process
# (open, read and decode both rasters, bilinear resampling of the 20 m bands onto the 10 m grid,
# the indices, prediction, the Byte COG with overviews and statistics) with GNU time (wall,
# user + sys, peak RSS). Training happens once, before, and is timed on its own.
#
# Features (10, the standalone CLI's closest match to the run's): B2 B3 B4 B8 (10 m), B11 B12
# (20 m, bilinear onto 10 m), NDVI, NDWI, MNDWI, NDBI, on the raw digital numbers (the CLI
# applies no BOA offset and no cloud mask; the run's scene pass does both and has 12 features:
# the same six bands plus NDVI, EVI, NDWI, MNDWI, NDBI, NBR).
#
# The floor, measured apart: (a) bench/run/readfloor.c: every block of both rasters decoded once
# with GDAL; (b) iofloor (below, linked against libsinkmap.a): sinkmap's own I/O path without
# the prediction: the same strips read through sm_stack_read (decode, resampling, float
# conversion, indices) and the map re-written through sm_raster_writer (staged GeoTIFF, COG
# with overviews and statistics). Prediction = classify - (b) in CPU seconds.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: bash bench/classify/county.sh SINKMAP [WORK_DIR]" >&2; exit 2; }
SM=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
W=${2:-/tmp/sinkmap-bench-classify-county}
JOB=${JOB:-/tmp/sinkmap-bench-run/1x}
SCENE=${SCENE:-2023a}
THREADS=${THREADS:-"1 2"}
METHODS=${METHODS:-"rf maxlik"}
REPS=${REPS:-1}
TRAIN_EVERY=${TRAIN_EVERY:-100}
OTB_MAX=${OTB_MAX:-900}
LIBSM=${LIBSINKMAP:-$(dirname "$SM")/libsinkmap.a}
if [ -z "${OTB:-}" ]; then
    if command -v otbcli_ImageClassifier > /dev/null; then OTB=1; else OTB=0; fi
fi
TIME=/usr/bin/time
for tool in "$TIME" python3 cc gdal-config gdal_translate gdalbuildvrt ogr2ogr; do
    command -v "$tool" > /dev/null || { echo "county.sh: $tool is missing" >&2; exit 2; }
done
case $(realpath -m "$W") in "$REPO"|"$REPO"/*) echo "county.sh: WORK_DIR must be outside the repository" >&2; exit 2 ;; esac
mkdir -p "$W"
cd "$W"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---- the county job
if [ ! -f "$JOB/job.ini" ]; then
    log "generating the county job in $JOB (bench/run/gen_job.py, a few minutes)"
    python3 "$REPO/bench/run/gen_job.py" --out "$JOB" --size 10980 >&2
fi
R10=$JOB/s2_${SCENE}_10m.tif
R20=$JOB/s2_${SCENE}_20m.tif
NCOLS=$(gdalinfo "$R10" | awk '/^Size is/{sub(",", "", $3); print $3}')
NROWS=$(gdalinfo "$R10" | awk '/^Size is/{print $4}')
MPX=$(awk -v c="$NCOLS" -v r="$NROWS" 'BEGIN{printf "%.4f", c * r / 1e6}')
FEAT=(--roles blue,green,red,nir,swir1,swir2 --indices ndvi,ndwi,mndwi,ndbi)

# ---- the training sample: every 100th inventory parcel (about 1,000 of 100,000), labelled by
# its land class (DI_LEI, 10 classes); the model keeps at most 5,000 pixels per class (the
# run's max_per_class) and holds 30 % of the parcels out (the run's test_share).
if [ "${SKIP_TRAIN:-0}" != 1 ] || [ ! -f rf.model ] || [ ! -f maxlik.model ]; then
    rm -f train.gpkg
    ogr2ogr -f GPKG train.gpkg "$JOB/xiaoban.gpkg" -where "fid % $TRAIN_EVERY = 0" -nln train
    log "training on $(ogrinfo -so -al train.gpkg | awk '/Feature Count/{print $3}') parcels"
    for m in $METHODS; do
        case $m in
        rf) opt=(--method rf --trees 100 --seed 1) ;;
        maxlik) opt=(--method maxlik) ;;
        esac
        "$TIME" -f "%e %U %S %M" -o train_$m.time "$SM" classify "$R10" "$R20" "${FEAT[@]}" \
            --train train.gpkg --field DI_LEI "${opt[@]}" --max-per-class 5000 --holdout 0.3 \
            --save-model $m.model --threads 2 --quiet > train_$m.txt
    done
fi

# ---- the floor programs
cc -O2 -o readfloor "$REPO/bench/run/readfloor.c" $(gdal-config --cflags) $(gdal-config --libs) -lpthread
cat > iofloor.c << 'EOF'
/* iofloor: `sinkmap classify --model`'s I/O without the prediction: the same strips of the same
 * stack read with sm_stack_read, then a class map (MAP_IN, read with GDAL, timed apart) written
 * through sm_raster_writer as sm_classify_map writes its map.
 * usage: iofloor ROLES INDICES MAP_IN MAP_OUT RASTER...
 * prints: stack_wall stack_cpu mapread_wall mapread_cpu write_wall write_cpu (seconds) */
#include <cpl_conv.h>
#include <gdal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sinkmap/context.h"
#include "sinkmap/raster.h"
#include "sinkmap/train.h"

static double clk(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#define WALL clk(CLOCK_MONOTONIC)
#define CPU clk(CLOCK_PROCESS_CPUTIME_ID)

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: iofloor ROLES INDICES MAP_IN MAP_OUT RASTER...\n");
        return 2;
    }
    CPLSetConfigOption("GDAL_CACHEMAX", "64"); /* as the CLI */
    sm_context *ctx = sm_context_create();
    sm_stack_options so = SM_STACK_OPTIONS_INIT;
    so.roles = argv[1];
    so.indices = argv[2];
    sm_stack *stack = NULL;
    if (sm_stack_open(&stack, ctx, (const char *const *)argv + 5, (size_t)argc - 5, &so) != SM_OK) {
        fprintf(stderr, "iofloor: cannot open the stack\n");
        return 1;
    }
    sm_grid g = sm_stack_grid(stack);
    size_t p = (size_t)sm_stack_nfeatures(stack);
    int64_t rows = g.ncols > 0 ? (1 << 20) / g.ncols : 1; /* sm_classify_map's strips */
    if (rows < 1)
        rows = 1;
    if (rows > g.nrows)
        rows = g.nrows;
    size_t cells = (size_t)rows * (size_t)g.ncols;
    float *feat = malloc(cells * p * sizeof *feat);
    double *out = malloc(cells * sizeof *out);
    double w0 = WALL, c0 = CPU, sum = 0;
    for (int64_t r0 = 0; r0 < g.nrows; r0 += rows) {
        sm_window win = {0, r0, g.ncols, r0 + rows > g.nrows ? g.nrows - r0 : rows};
        if (sm_stack_read(stack, ctx, &win, feat) != SM_OK)
            return 1;
        sum += feat[0];
    }
    double w1 = WALL, c1 = CPU;
    GDALDatasetH in = GDALOpen(argv[3], GA_ReadOnly);
    if (!in)
        return 1;
    sm_raster_writer_options wo = SM_RASTER_WRITER_OPTIONS_INIT;
    wo.type = SM_PIXEL_BYTE;
    wo.has_nodata = 1;
    wo.categorical = 1;
    wo.description = "iofloor";
    sm_raster_writer *mw = NULL;
    if (sm_raster_writer_create(&mw, ctx, argv[4], &g, sm_stack_wkt(stack), &wo) != SM_OK)
        return 1;
    double rw = 0, rc = 0;
    for (int64_t r0 = 0; r0 < g.nrows; r0 += rows) {
        sm_window win = {0, r0, g.ncols, r0 + rows > g.nrows ? g.nrows - r0 : rows};
        double a = WALL, b = CPU;
        if (GDALRasterIO(GDALGetRasterBand(in, 1), GF_Read, 0, (int)r0, (int)win.ncols,
                         (int)win.nrows, out, (int)win.ncols, (int)win.nrows, GDT_Float64, 0,
                         0) != CE_None)
            return 1;
        rw += WALL - a;
        rc += CPU - b;
        if (sm_raster_writer_write(mw, ctx, 1, &win, out) != SM_OK)
            return 1;
    }
    if (sm_raster_writer_finish(mw, ctx) != SM_OK)
        return 1;
    double w2 = WALL, c2 = CPU;
    sm_raster_writer_destroy(mw);
    GDALClose(in);
    printf("%.3f %.3f %.3f %.3f %.3f %.3f\n", w1 - w0, c1 - c0, rw, rc, w2 - w1 - rw, c2 - c1 - rc);
    fprintf(stderr, "iofloor: %lld x %lld x %zu features, checksum %g\n", (long long)g.ncols,
            (long long)g.nrows, p, sum);
    free(feat);
    free(out);
    sm_stack_close(stack);
    sm_context_destroy(ctx);
    return 0;
}
EOF
cc -O2 -I"$REPO/include" -o iofloor iofloor.c "$LIBSM" $(gdal-config --cflags) \
    $(gdal-config --libs) $(pkg-config --libs proj geos inih sqlite3 libtiff-4 cairo fontconfig libpng libcrypto) -lpthread -lm

load() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' /; }
# GNU time into NAME.time: "wall user sys maxrss_kb"; the load average at the start into NAME.load
measure() { # NAME cmd...
    local n=$1; shift
    load > "$n.load"
    "$TIME" -f "%e %U %S %M" -o "$n.time" "$@"
}

# ---- sinkmap classify, the timed part
for m in $METHODS; do
    for t in $THREADS; do
        for rep in $(seq "$REPS"); do
            n=sm_${m}_t${t}_r$rep
            log "$n: load $(load)"
            rm -f map_${m}_t$t.tif map_${m}_t$t.tif.aux.xml
            measure "$n" "$SM" classify "$R10" "$R20" "${FEAT[@]}" --model $m.model \
                -o map_${m}_t$t.tif --threads "$t" --quiet > "$n.txt"
            log "$n: $(cat "$n.time") ($(grep -o 'in [0-9.]* s' "$n.txt"))"
        done
    done
    # the maps must not depend on the thread count
    first=""
    for t in $THREADS; do
        if [ -z "$first" ]; then first=$t; continue; fi
        cmp -s map_${m}_t$first.tif map_${m}_t$t.tif ||
            echo "county.sh: WARNING: $m: the map differs between $first and $t threads" >&2
    done
done

# ---- the floor (single-threaded, as sinkmap's reading is; the COG step uses every core)
for rep in $(seq "$REPS"); do
    for t in 1 2; do
        measure floor_read_t${t}_r$rep ./readfloor $t "$R10" "$R20" > floor_read_t${t}_r$rep.txt
    done
    m1=$(set -- $METHODS; echo "$1")
    rm -f floor_map.tif floor_map.tif.aux.xml
    measure floor_io_r$rep ./iofloor blue,green,red,nir,swir1,swir2 ndvi,ndwi,mndwi,ndbi \
        map_${m1}_t1.tif floor_map.tif "$R10" "$R20" > floor_io_r$rep.txt
    log "floor: read $(cat floor_read_t1_r$rep.time); sinkmap I/O $(cat floor_io_r$rep.txt)"
done

# ---- where the forest's time goes: tree sizes and depths, the steps the lockstep walk takes
# (every pixel walks each tree to the tree's maximum depth) against the steps a pixel's own
# path takes, and the CPU time of the library's block prediction (lockstep) against the
# one-pixel-at-a-time walk (sm_rf_predict), on one strip of DIAG_ROWS rows at mid-scene.
if [[ " $METHODS " == *" rf "* ]]; then
    cat > rfdiag.c << 'EOF'
/* rfdiag: the forest's shape and the cost of its two prediction walks on one strip.
 * usage: rfdiag MODEL ROLES INDICES ROW0 NROWS RASTER... */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sinkmap/context.h"
#include "sinkmap/model.h"
#include "sinkmap/rf.h"
#include "sinkmap/train.h"

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: rfdiag MODEL ROLES INDICES ROW0 NROWS RASTER...\n");
        return 2;
    }
    sm_context *ctx = sm_context_create();
    sm_model *m = NULL;
    sm_stack *s = NULL;
    sm_stack_options so = SM_STACK_OPTIONS_INIT;
    so.roles = argv[2];
    so.indices = argv[3];
    if (sm_model_load(&m, ctx, argv[1], NULL) != SM_OK ||
        sm_stack_open(&s, ctx, (const char *const *)argv + 6, (size_t)argc - 6, &so) != SM_OK)
        return 1;
    const sm_rf *rf = sm_model_rf(m);
    int nt = sm_rf_ntrees(rf), p = sm_rf_nfeatures(rf);
    double nodes = 0, maxd = 0, leafd = 0, leaves = 0;
    int dmin = 1 << 30, dmax = 0;
    int *maxdepth = malloc((size_t)nt * sizeof *maxdepth);
    for (int t = 0; t < nt; t++) {
        size_t nn;
        const sm_rf_node *nd = sm_rf_tree(rf, t, &nn);
        int *d = calloc(nn, sizeof *d), md = 0;
        for (size_t i = 0; i < nn; i++) {
            if (nd[i].feature >= 0) {
                d[nd[i].child] = d[nd[i].child + 1] = d[i] + 1;
            } else {
                leafd += d[i];
                leaves++;
                if (d[i] > md)
                    md = d[i];
            }
        }
        free(d);
        maxdepth[t] = md;
        nodes += (double)nn;
        maxd += md;
        dmin = md < dmin ? md : dmin;
        dmax = md > dmax ? md : dmax;
    }
    sm_grid g = sm_stack_grid(s);
    sm_window win = {0, atoll(argv[4]), g.ncols, atoll(argv[5])};
    size_t n = (size_t)win.ncols * (size_t)win.nrows;
    float *x = malloc(n * (size_t)p * sizeof *x);
    int *cls = malloc(n * sizeof *cls);
    if (sm_stack_read(s, ctx, &win, x) != SM_OK)
        return 1;
    double steps = 0, lock = 0, valid = 0;
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * (size_t)p;
        int ok = 1;
        for (int j = 0; j < p; j++)
            ok &= isfinite(xi[j]) != 0;
        if (!ok)
            continue;
        valid++;
        for (int t = 0; t < nt; t++) {
            size_t nn;
            const sm_rf_node *nd = sm_rf_tree(rf, t, &nn);
            int32_t j = 0;
            while (nd[j].feature >= 0) {
                j = nd[j].child + !(xi[nd[j].feature] <= nd[j].threshold);
                steps++;
            }
            lock += maxdepth[t];
        }
    }
    double c0 = cpu();
    sm_rf_predict_block(rf, x, n, cls, NULL);
    double c1 = cpu();
    long agree = 0;
    for (size_t i = 0; i < n; i++)
        agree += sm_rf_predict(rf, x + i * (size_t)p, NULL) == cls[i];
    double c2 = cpu();
    printf("forest: %d trees, %.0f nodes per tree, maximum depth %.1f per tree (%d to %d), "
           "mean leaf depth %.1f\n", nt, nodes / nt, maxd / nt, dmin, dmax, leafd / leaves);
    printf("strip rows %s-%lld (%.2f Mpx, %.0f valid pixels): steps per pixel and tree: own path "
           "%.1f, lockstep %.1f (%.2fx)\n", argv[4], (long long)(win.row0 + win.nrows - 1),
           n / 1e6, valid, steps / valid / nt, lock / valid / nt, lock / steps);
    printf("prediction CPU, 1 thread: lockstep block %.2f s per Mpx, one pixel at a time %.2f s "
           "per Mpx (same classes: %ld of %zu)\n", (c1 - c0) / (n / 1e6), (c2 - c1) / (n / 1e6),
           agree, n);
    return 0;
}
EOF
    cc -O3 -DNDEBUG -I"$REPO/include" -o rfdiag rfdiag.c "$LIBSM" $(gdal-config --cflags) \
        $(gdal-config --libs) $(pkg-config --libs proj geos inih sqlite3 libtiff-4 cairo fontconfig libpng libcrypto) -lpthread -lm
    ./rfdiag rf.model blue,green,red,nir,swir1,swir2 ndvi,ndwi,mndwi,ndbi \
        $(( NROWS / 2 )) "${DIAG_ROWS:-96}" "$R10" "$R20" > rfdiag.txt
    log "$(cat rfdiag.txt)"
fi

# ---- OTB ImageClassifier, rf 100 trees, on the six bands (no indices: OTB takes one image)
if [ "$OTB" = 1 ]; then
    export ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=2 OTB_MAX_RAM_HINT=256
    bands=()
    for b in 1 2 3 4; do
        gdal_translate -q -of VRT -b $b "$R10" otb_b$b.vrt
        bands+=(otb_b$b.vrt)
    done
    for b in 1 2; do
        gdal_translate -q -of VRT -b $b "$R20" otb_b2$b.vrt
        bands+=(otb_b2$b.vrt)
    done
    # the 20 m bands resampled bilinearly onto the 10 m grid by the VRT, as sinkmap does
    gdalbuildvrt -q -separate -r bilinear -tr 10 10 -tap otb_stack.vrt "${bands[@]}"
    TRIAL_ROWS=${OTB_TRIAL_ROWS:-256}
    gdal_translate -q -of VRT -srcwin 0 0 "$NCOLS" "$TRIAL_ROWS" otb_stack.vrt otb_trial.vrt
    if [ "${SKIP_TRAIN:-0}" != 1 ] || [ ! -f otb_rf.model ]; then
        rm -f train_utm.gpkg
        ogr2ogr -f GPKG train_utm.gpkg train.gpkg -t_srs "$(gdalsrsinfo -o wkt1 "$R10" | tr -d '\n')" \
            -nln train -sql "SELECT geom, CAST(DI_LEI AS INTEGER) AS cls FROM train"
        # the same parcels, at most 5000 pixels per class, every pixel for training; OpenCV's
        # forest with deep trees as ours (depth 25, 1 sample per node, all 100 trees)
        "$TIME" -f "%e %U %S %M" -o train_otb_rf.time otbcli_TrainImagesClassifier \
            -io.il otb_stack.vrt -io.vd train_utm.gpkg -sample.vfn cls -sample.mt 5000 \
            -sample.mv 0 -sample.bm 0 -sample.vtr 0 -classifier rf -classifier.rf.max 25 \
            -classifier.rf.min 1 -classifier.rf.nbtrees 100 -classifier.rf.acc 0 -rand 1 \
            -io.out otb_rf.model > train_otb_rf.txt 2>&1
    fi
    measure otb_trial otbcli_ImageClassifier -in otb_trial.vrt -model otb_rf.model \
        -out otb_trial.tif uint8 > otb_trial.txt 2>&1
    est=$(awk -v n="$NROWS" -v r="$TRIAL_ROWS" '{printf "%.0f", $1 * n / r}' otb_trial.time)
    echo "$TRIAL_ROWS" > otb_trial.rows
    log "OTB trial ($TRIAL_ROWS rows): $(cat otb_trial.time); whole scene estimated at $est s"
    if [ "$est" -le "$OTB_MAX" ]; then
        measure otb_rf_t2_r1 otbcli_ImageClassifier -in otb_stack.vrt -model otb_rf.model \
            -out otb_rf.tif uint8 > otb_rf.txt 2>&1
        log "OTB whole scene: $(cat otb_rf_t2_r1.time)"
    else
        echo "OTB whole scene skipped: $est s estimated > OTB_MAX=$OTB_MAX" > otb_skipped.txt
    fi
fi

# ---- the table
python3 - "$W" "$MPX" "$NCOLS" "$NROWS" << 'PY'
import glob, os, re, sys
w, mpx, nc, nr = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
def t(name):
    a = open(os.path.join(w, name + ".time")).read().split()
    return float(a[0]), float(a[1]) + float(a[2]), float(a[3]) / 1024
def best(prefix):
    runs = sorted(glob.glob(os.path.join(w, prefix + "_r*.time")))
    return min((t(os.path.basename(p)[:-5]) + (p,) for p in runs), key=lambda r: r[1]) if runs else None
io = [list(map(float, open(p).read().split())) for p in glob.glob(os.path.join(w, "floor_io_r*.txt"))]
io = min(io, key=lambda r: r[1] + r[5]) if io else None
fl_cpu = io[1] + io[5] if io else None
print("county scene: %s x %s = %.2f Mpx; features: 6 bands + 4 indices" % (nc, nr, mpx))
for m in ("rf", "maxlik"):
    p = os.path.join(w, "train_%s.time" % m)
    if os.path.exists(p):
        a = open(p).read().split()
        txt = open(os.path.join(w, "train_%s.txt" % m)).read()
        s = re.search(r"sampled and trained in ([0-9.]+) s", txt)
        print("training %s: %s s wall (process), %s s sampling + training; %s" % (
            m, a[0], s.group(1) if s else "?", " ".join(l for l in txt.splitlines() if "overall" in l).strip()))
print()
print("| method | threads | load at start (1/5/15 min) | wall s | CPU s | Mpx/s (wall) | Mpx/s per core (CPU) | peak RSS MB | classify pass s (CLI) | prediction CPU s (CPU - I/O floor) | prediction Mpx/s per core |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
rows = []
for m in ("rf", "maxlik"):
    for th in ("1", "2"):
        r = best("sm_%s_t%s" % (m, th))
        if not r:
            continue
        wall, cpu, rss, path = r
        n = os.path.basename(path)[:-5]
        ld = open(os.path.join(w, n + ".load")).read().strip()
        txt = open(os.path.join(w, n + ".txt")).read()
        s = re.search(r"in ([0-9.]+) s \(", txt)
        pc = cpu - fl_cpu if fl_cpu is not None else None
        print("| sinkmap %s | %s | %s | %.1f | %.1f | %.2f | %.2f | %.0f | %s | %s | %s |" % (
            "rf 100 trees" if m == "rf" else "maxlik", th, ld, wall, cpu, mpx / wall, mpx / cpu, rss,
            s.group(1) if s else "?", "%.1f" % pc if pc is not None else "-",
            "%.2f" % (mpx / pc) if pc and pc > 0 else "-"))
p = os.path.join(w, "otb_rf_t2_r1.time")
if os.path.exists(p):
    wall, cpu, rss = t("otb_rf_t2_r1")
    ld = open(os.path.join(w, "otb_rf_t2_r1.load")).read().strip()
    print("| OTB rf 100 trees (6 bands, uint8 GeoTIFF) | 2 | %s | %.1f | %.1f | %.2f | %.2f | %.0f | - | - | - |" % (
        ld, wall, cpu, mpx / wall, mpx / cpu, rss))
elif os.path.exists(os.path.join(w, "otb_trial.time")):
    wall, cpu, rss = t("otb_trial")
    rows = int(open(os.path.join(w, "otb_trial.rows")).read())
    f = rows / float(nr)
    print("| OTB rf 100 trees (6 bands), %d-row trial (%.2f Mpx), whole scene skipped | 2 | %s | %.1f | %.1f | %.2f | %.2f | %.0f | - | - | - |" % (
        rows, mpx * f, open(os.path.join(w, "otb_trial.load")).read().strip(), wall, cpu, mpx * f / wall,
        mpx * f / cpu, rss))
print()
for th in ("1", "2"):
    r = best("floor_read_t%s" % th)
    if r:
        print("read floor (readfloor, %s thread%s: every block of both rasters decoded once): %.1f s wall, %.1f s CPU" % (
            th, "s" if th == "2" else "", r[0], r[1]))
if io:
    print("sinkmap I/O floor (iofloor): stack read %.1f s wall / %.1f s CPU; map write (staged GeoTIFF + COG + overviews + statistics) %.1f / %.1f s; [map read to feed it, excluded: %.1f / %.1f s]" % (
        io[0], io[1], io[4], io[5], io[2], io[3]))
    print("I/O floor CPU used for the prediction column: %.1f s" % fl_cpu)
if os.path.exists(os.path.join(w, "rfdiag.txt")):
    print(open(os.path.join(w, "rfdiag.txt")).read().strip())
print("machine: %d cores, %s" % (os.cpu_count(), open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip()))
PY
