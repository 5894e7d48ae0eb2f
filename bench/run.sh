#!/bin/bash
# bench/run.sh: `sinkmap zonal` on a county-size scene against the GDAL read floor and the peers.
# Generates the scene once (bench/gen_scene.py) under a scratch folder, then measures wall time,
# CPU time and peak RSS (GNU time) of: the read floor (bench/readfloor.c, and gdalinfo -checksum;
# the parcels' own with bench/vecfloor.c),
# `sinkmap zonal` (exact, count/sum/mean) at 1 and 2 threads, QGIS native:zonalstatisticsfb and
# GRASS (v.in.ogr + v.to.rast + r.univar zones=) when installed; prints Markdown tables.
#
# Usage: bash bench/run.sh path/to/sinkmap        (make bench does this with a Release build)
# Environment:
#   SINKMAP_BENCH_DIR  scratch folder (default /tmp/sinkmap-bench); never inside the repository
#   COUNTS             parcel counts (default "1000 10000 100000 1000000")
#   REPEAT             runs per sinkmap / read-floor measurement, the fastest kept (default 3)
#   PEERS              peers to run (default "qgis grass"; "" for none)
#   PEER_TIMEOUT       seconds before a peer run is given up (default 7200)
#   ONLY               the parts to run (default "floor sinkmap peers")
#   KEEP=1             keep the scratch folder (default: the outputs are removed, the data kept)
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: bash bench/run.sh path/to/sinkmap" >&2
    exit 2
fi
SINKMAP=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${SINKMAP_BENCH_DIR:-/tmp/sinkmap-bench}
COUNTS=${COUNTS:-"1000 10000 100000 1000000"}
REPEAT=${REPEAT:-3}
PEERS=${PEERS-"qgis grass"}
PEER_TIMEOUT=${PEER_TIMEOUT:-7200}
ONLY=${ONLY:-"floor sinkmap peers"}
part() { [[ " $ONLY " == *" $1 "* ]]; }
PY=/usr/bin/python3
TIME=/usr/bin/time
export QT_QPA_PLATFORM=offscreen

for tool in "$TIME" "$PY" cc gdalinfo ogr2ogr; do
    if ! command -v "$tool" >/dev/null; then
        echo "bench: error: $tool is missing (tools/ensure-deps bench installs what is needed)" >&2
        exit 2
    fi
done
[ -x "$SINKMAP" ] || { echo "bench: error: $SINKMAP is not a program" >&2; exit 2; }

REPO=$(cd "$HERE/.." && pwd)
case "$(realpath -m "$DATA")/" in
"$REPO"/*)
    echo "bench: error: SINKMAP_BENCH_DIR=$DATA is inside the repository; use a scratch folder" >&2
    exit 2
    ;;
esac
mkdir -p "$DATA"
OUT="$DATA/out"
mkdir -p "$OUT"
RESULTS="$DATA/results.md"
: >"$RESULTS"
say() { echo "$@" | tee -a "$RESULTS"; }

echo "bench: data in $DATA" >&2
"$PY" "$HERE/gen_scene.py" --out "$DATA" --counts "$(echo $COUNTS | tr ' ' ',')"
SCENE="$DATA/scene.tif"
cc -O2 -o "$DATA/readfloor" "$HERE/readfloor.c" $(pkg-config --cflags --libs gdal) -lpthread
cc -O2 -o "$DATA/vecfloor" "$HERE/vecfloor.c" $(pkg-config --cflags --libs gdal)

# run_timed LIMIT CMD...: runs CMD once under GNU time; prints "wall_s peak_rss_mb cpu_s" (cpu:
# user + system, of CMD and its children), or "timeout" / "failed". Output and errors of CMD go
# to $OUT/last.{out,err}.
run_timed() {
    local limit=$1
    shift
    local rc=0
    "$TIME" -f "%e %M %U %S" -o "$OUT/time.txt" timeout "$limit" "$@" >"$OUT/last.out" 2>"$OUT/last.err" || rc=$?
    if [ $rc -eq 0 ]; then
        tail -1 "$OUT/time.txt" | awk '{printf "%.2f %.0f %.2f\n", $1, $2 / 1024, $3 + $4}'
    elif [ $rc -eq 124 ]; then
        echo "timeout"
    else
        echo "bench: $* failed:" >&2
        tail -5 "$OUT/last.err" >&2
        echo "failed"
    fi
}

# best N CMD...: N runs: the least wall time, the largest peak RSS, the least CPU time.
best() {
    local n=$1 b="" r
    shift
    for ((i = 0; i < n; i++)); do
        r=$(run_timed 36000 "$@")
        case "$r" in timeout | failed) echo "$r"; return ;; esac
        b=$(echo "$b $r" | awk 'NF == 3 { print; exit }
            { w = $1 < $4 ? $1 : $4; m = $2 > $5 ? $2 : $5; c = $3 < $6 ? $3 : $6; print w, m, c }')
    done
    echo "$b"
}

wall() { echo "$1" | awk '{ print $1 }'; }
rss() { case "$1" in timeout | failed) echo "-" ;; *) echo "$1" | awk '{ print $2 }' ;; esac; }
cpu() { case "$1" in timeout | failed) echo "-" ;; *) echo "$1" | awk '{ print $3 }' ;; esac; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'; }

say "## Machine"
say ""
say "- $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/ {print $2}') GB RAM"
say "- $(gdalinfo --version), $("$SINKMAP" --version 2>/dev/null | head -1 || echo sinkmap)"
say "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
say ""

# ---- the read floor ----
declare -A FLOOR FLOORCPU VFLOOR BOTH
if part floor; then
say "## GDAL read floor: $(basename "$SCENE") ($(gdalinfo "$SCENE" | awk '/^Size is/ {print $3 $4}' | tr ',' 'x') Float32, 512x512 DEFLATE tiles)"
say ""
say "| measure | threads | wall s | CPU s | peak RSS MB |"
say "|---|---:|---:|---:|---:|"
for t in 1 2; do
    r=$(best "$REPEAT" "$DATA/readfloor" "$SCENE" "$t")
    FLOOR[$t]=$(wall "$r")
    FLOORCPU[$t]=$(cpu "$r")
    say "| readfloor (GDALReadBlock, every block once) | $t | $(wall "$r") | $(cpu "$r") | $(rss "$r") |"
done
r=$(best "$REPEAT" gdalinfo -checksum "$SCENE")
say "| gdalinfo -checksum | 1 | $(wall "$r") | $(cpu "$r") | $(rss "$r") |"
say ""
# The parcels' own read floor: OGR handing out every feature once (one thread: OGR reads a
# layer in sequence). At a million parcels the GeoPackage is larger than the raster.
say "## GDAL read floor of the parcels (vecfloor: OGR_L_GetNextFeature over the layer, 1 thread)"
say ""
say "| parcels | file MiB | wall s | CPU s | peak RSS MB | raster (2 thr) + parcels floor, wall s |"
say "|---:|---:|---:|---:|---:|---:|"
for n in $COUNTS; do
    r=$(best "$REPEAT" "$DATA/vecfloor" "$DATA/parcels_$n.gpkg")
    VFLOOR[$n]=$(wall "$r")
    BOTH[$n]=$(awk -v a="${FLOOR[2]}" -v b="$(wall "$r")" 'BEGIN { printf "%.2f", a + b }')
    say "| $n | $(du -m "$DATA/parcels_$n.gpkg" | cut -f1) | $(wall "$r") | $(cpu "$r") | $(rss "$r") | ${BOTH[$n]} |"
done
say ""
fi

# ---- sinkmap ----
declare -A SM
if part sinkmap; then
say "## sinkmap zonal --mode exact --stats count,sum,mean (fastest of $REPEAT)"
say ""
say "| parcels | threads | wall s | CPU s | peak RSS MB | wall × read floor (same threads) | CPU × read floor | wall × (raster + parcels floor) |"
say "|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in $COUNTS; do
    for t in 1 2; do
        r=$(best "$REPEAT" "$SINKMAP" zonal "$SCENE" "$DATA/parcels_$n.gpkg" --stats count,sum,mean \
            --threads "$t" --quiet -o "$OUT/sinkmap_${n}_$t.csv")
        SM[$n,$t]=$(wall "$r")
        both="-"
        [ "$t" = 2 ] && both=$(ratio "$(wall "$r")" "${BOTH[$n]:-}")
        say "| $n | $t | $(wall "$r") | $(cpu "$r") | $(rss "$r") | $(ratio "$(wall "$r")" "${FLOOR[$t]:-}") | $(ratio "$(cpu "$r")" "${FLOORCPU[$t]:-}") | $both |"
    done
    if ! cmp -s "$OUT/sinkmap_${n}_1.csv" "$OUT/sinkmap_${n}_2.csv"; then
        say "| $n | | **1 and 2 threads differ** | | | | | |"
    fi
done
say ""
fi

# ---- peers ----
declare -A QG GR
part peers || PEERS=""
if [[ " $PEERS " == *" qgis "* ]] && command -v qgis_process.bin >/dev/null; then
    for n in $COUNTS; do
        rm -f "$OUT/qgis_$n.gpkg"
        r=$(run_timed "$PEER_TIMEOUT" qgis_process.bin run native:zonalstatisticsfb \
            --INPUT="$DATA/parcels_$n.gpkg" --INPUT_RASTER="$SCENE" --RASTER_BAND=1 \
            --COLUMN_PREFIX=z_ --STATISTICS=0,1,2 --OUTPUT="$OUT/qgis_$n.gpkg")
        QG[$n]=$r
    done
elif [[ " $PEERS " == *" qgis "* ]]; then
    echo "bench: qgis_process.bin not found (apt-get install qgis): QGIS skipped" >&2
fi
if [[ " $PEERS " == *" grass "* ]] && command -v grass >/dev/null; then
    cat >"$OUT/grass_zonal.sh" <<'EOF'
#!/bin/bash
# Inside a GRASS session: link the raster (-r: without scanning it for its range), import the
# parcels, rasterize them (cell centres), and the zonal statistics per parcel category.
set -e
t0=$(date +%s.%N)
r.external input="$1" output=scene -o -r --quiet
t1=$(date +%s.%N)
v.in.ogr input="$2" output=parcels -o --quiet
t2=$(date +%s.%N)
g.region raster=scene
v.to.rast input=parcels output=zones use=cat --quiet
t3=$(date +%s.%N)
r.univar -t map=scene zones=zones output="$3" separator=comma --quiet
t4=$(date +%s.%N)
echo "$t0 $t1 $t2 $t3 $t4" | awk '{printf "r.external %.1f, v.in.ogr %.1f, v.to.rast %.1f, r.univar %.1f\n", $2-$1, $3-$2, $4-$3, $5-$4}' >"$4"
EOF
    chmod +x "$OUT/grass_zonal.sh"
    for n in $COUNTS; do
        rm -f "$OUT/grass_$n.csv" "$OUT/grass_$n.steps"
        r=$(run_timed "$PEER_TIMEOUT" grass --tmp-location EPSG:32648 --exec "$OUT/grass_zonal.sh" \
            "$SCENE" "$DATA/parcels_$n.gpkg" "$OUT/grass_$n.csv" "$OUT/grass_$n.steps")
        GR[$n]=$r
    done
elif [[ " $PEERS " == *" grass "* ]]; then
    echo "bench: grass not found (apt-get install grass-core): GRASS skipped" >&2
fi

if [ -n "$PEERS" ]; then
    say "## Peers (one run each; timeout $PEER_TIMEOUT s)"
    say ""
    say "| parcels | tool | wall s | CPU s | peak RSS MB | sinkmap (2 threads) × faster, wall | notes |"
    say "|---:|---|---:|---:|---:|---:|---|"
    for n in $COUNTS; do
        if [ -n "${QG[$n]:-}" ]; then
            say "| $n | QGIS native:zonalstatisticsfb | $(wall "${QG[$n]}") | $(cpu "${QG[$n]}") | $(rss "${QG[$n]}") | $(ratio "$(wall "${QG[$n]}")" "${SM[$n,2]:-}") | |"
        fi
        if [ -n "${GR[$n]:-}" ]; then
            steps=$(cat "$OUT/grass_$n.steps" 2>/dev/null || echo "")
            say "| $n | GRASS v.in.ogr + v.to.rast + r.univar | $(wall "${GR[$n]}") | $(cpu "${GR[$n]}") | $(rss "${GR[$n]}") | $(ratio "$(wall "${GR[$n]}")" "${SM[$n,2]:-}") | $steps |"
        fi
    done
    say ""
    # Agreement: sinkmap --mode center against the peers' cell-centre statistics.
    for n in $COUNTS; do
        if [ -e "$OUT/qgis_$n.gpkg" ] || [ -e "$OUT/grass_$n.csv" ]; then
            "$SINKMAP" zonal "$SCENE" "$DATA/parcels_$n.gpkg" --mode center --stats count,sum,mean \
                --quiet -o "$OUT/sinkmap_center_$n.csv"
            "$PY" "$HERE/compare.py" "$OUT/sinkmap_center_$n.csv" "$OUT/qgis_$n.gpkg" "$OUT/grass_$n.csv" \
                | sed "s/^/- $n parcels: /" | tee -a "$RESULTS"
        fi
    done
fi
say ""
say "Measured $(date -u '+%Y-%m-%d %H:%M UTC'); load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench: tables written to $RESULTS" >&2
if [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$OUT"
fi
