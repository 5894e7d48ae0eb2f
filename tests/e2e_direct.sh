#!/bin/bash
# e2e_direct.sh: the demo run gives the same land covers and tables whether its GeoTIFFs (ZSTD
# tiles with a predictor) are read by sinkmap's own decoder (src/io/tiffdec.c, the default) or by
# GDAL (SINKMAP_DIRECT_TIFF=NO): every .tif and .csv of the output, byte for byte.
set -u
cli=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# the demo job in a mirror of the source tree, no ledger (tests/demo_mirror.sh)
. "$src/tests/demo_mirror.sh"
demo_mirror "$src" "$tmp"

"$cli" run "$job" -o "$tmp/direct" --quiet || { echo "FAIL: the demo run failed"; exit 1; }
SINKMAP_DIRECT_TIFF=NO "$cli" run "$job" -o "$tmp/gdal" --quiet || { echo "FAIL: the demo run through GDAL failed"; exit 1; }
n=0
for f in $(cd "$tmp/gdal" && find . -name '*.tif' -o -name '*.csv' | sort); do
  n=$((n + 1))
  [ -f "$tmp/direct/$f" ] || { fail "$f: missing from the default run"; continue; }
  cmp -s "$tmp/gdal/$f" "$tmp/direct/$f" || fail "$f differs between the decoder and GDAL"
done
[ "$n" -ge 10 ] || fail "only $n .tif/.csv outputs compared (expected the land covers and the tables)"
echo "$((n - fails)) passed, $fails failed ($n files compared)"
[ "$fails" -eq 0 ]
