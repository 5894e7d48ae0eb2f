#!/bin/bash
# bench/run/run.sh: the whole `sinkmap run` on a county-size job against the I/O floor.
# Generates the jobs once (bench/run/gen_job.py: 1x = 10980 x 10980, 2x = 15528 x 15528, three
# dates, 100,000 parcels) under a scratch folder, then measures with GNU time, for each size and
# thread count: the run (wall, CPU, megapixels/s, peak RSS) and the floor = read floor (every
# block of every input band decoded once, bench/run/readfloor.c, same thread count) + write floor
# (gdal_translate of the run's own land-cover rasters to COGs with sinkmap's options, and
# ogr2ogr of the parcel layer to a GeoPackage). Prints a Markdown table.
#
# Usage: bash bench/run/run.sh path/to/sinkmap
# Environment:
#   SINKMAP_BENCH_RUN_DIR  scratch folder (default /tmp/sinkmap-bench-run); never the repository
#   SIZES                  "1x 2x" (default)     THREADS   "1 2" (default)
#   KEEP=1                 keep the run outputs (the generated inputs are always kept)
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: bash bench/run/run.sh path/to/sinkmap" >&2; exit 2; }
SINKMAP=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${SINKMAP_BENCH_RUN_DIR:-/tmp/sinkmap-bench-run}
SIZES=${SIZES:-"1x 2x"}
THREADS=${THREADS:-"1 2"}
PY=/usr/bin/python3
TIME=/usr/bin/time
for tool in "$TIME" "$PY" cc gdal-config gdal_translate ogr2ogr; do
    command -v "$tool" >/dev/null || { echo "bench: error: $tool is missing (apt-get install -y time gdal-bin libgdal-dev)" >&2; exit 2; }
done
mkdir -p "$DIR"
cc -O2 -o "$DIR/readfloor" "$HERE/readfloor.c" $(gdal-config --cflags) $(gdal-config --libs) -lpthread

# GNU time: wall seconds, user+sys seconds, peak RSS in MiB
measure() { # measure OUTFILE cmd...
    local o=$1; shift
    "$TIME" -f "%e %U %S %M" -o "$o" "$@" >/dev/null
    awk '{printf "%.1f %.1f %.0f\n", $1, $2 + $3, $4 / 1024}' "$o"
}

echo "| size | cells | threads | run wall s | run CPU s | Mpx/s | peak RSS MiB | read floor wall / CPU s | write floor wall / CPU s | floor wall / CPU s | run / floor (wall) | run / floor (CPU) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for size in $SIZES; do
    case $size in
        1x) n=10980 ;;
        2x) n=15528 ;;
        *) echo "bench: error: unknown size $size" >&2; exit 2 ;;
    esac
    job="$DIR/$size"
    if [ ! -f "$job/job.ini" ]; then
        "$PY" "$HERE/gen_job.py" --out "$job" --size $n >&2
    fi
    for t in $THREADS; do
        out="$job/out-t$t"
        rm -rf "$out"
        read -r wall cpu rss < <(measure "$DIR/time.txt" "$SINKMAP" run "$job/job.ini" --threads "$t" --quiet -o "$out")
        # the floor at the same thread count
        read -r rwall rcpu _ < <(measure "$DIR/time.txt" "$DIR/readfloor" "$t" "$job"/s2_*.tif)
        wfloor=0
        wcpu=0
        for lc in "$out"/landcover_*.tif; do
            rm -f "$DIR/floor.tif"
            read -r w c _ < <(measure "$DIR/time.txt" gdal_translate -q -of COG -co BLOCKSIZE=512 \
                -co COMPRESS=DEFLATE -co OVERVIEW_RESAMPLING=MODE -co NUM_THREADS="$t" "$lc" "$DIR/floor.tif")
            wfloor=$(awk -v a="$wfloor" -v b="$w" 'BEGIN{print a + b}')
            wcpu=$(awk -v a="$wcpu" -v b="$c" 'BEGIN{print a + b}')
        done
        rm -f "$DIR/floor.gpkg"
        read -r w c _ < <(measure "$DIR/time.txt" ogr2ogr -f GPKG "$DIR/floor.gpkg" "$job/xiaoban.gpkg")
        wfloor=$(awk -v a="$wfloor" -v b="$w" 'BEGIN{print a + b}')
        wcpu=$(awk -v a="$wcpu" -v b="$c" 'BEGIN{print a + b}')
        rm -f "$DIR/floor.tif" "$DIR/floor.gpkg"
        awk -v s=$size -v n=$n -v t=$t -v w=$wall -v c=$cpu -v r=$rss -v rf=$rwall -v wf=$wfloor \
            -v rc=$rcpu -v wc=$wcpu 'BEGIN{
            f = rf + wf; fc = rc + wc
            printf "| %s | %d x %d | %d | %.1f | %.1f | %.1f | %d | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.2f | %.2f |\n",
                   s, n, n, t, w, c, 3 * n * n / 1e6 / w, r, rf, rc, wf, wc, f, fc, w / f, c / fc }'
    done
    # the outputs must not depend on the thread count
    first=""
    for t in $THREADS; do
        if [ -z "$first" ]; then first=$t; continue; fi
        for f in parcels.csv summary.csv landcover_2023a.tif landcover_2024s.tif landcover_2024a.tif; do
            cmp -s "$job/out-t$first/$f" "$job/out-t$t/$f" || echo "bench: WARNING: $size: $f differs between $first and $t threads" >&2
        done
    done
    [ "${KEEP:-0}" = 1 ] || for t in $THREADS; do rm -rf "$job/out-t$t"; done
done
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), GDAL $(gdal-config --version); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
