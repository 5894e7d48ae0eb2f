#!/bin/bash
# e2e_qgis.sh: the demo's outputs as QGIS sees them (PyQGIS offscreen): land cover paletted with
# its class names, parcels with their graduated style. Skipped, saying so, without python3-qgis.
set -u
cli=$1
src=$2
if ! /usr/bin/python3 -c "import qgis.core" 2>/dev/null; then
  echo "SKIP: python3-qgis is not installed (apt-get install python3-qgis to run this check)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the demo job in a mirror of the source tree (every top-level entry linked), so that its
# relative paths (../../rasters, protected.geojson, ...) resolve whatever the job names
mkdir -p "$tmp/examples/nanchong-demo"
for e in "$src"/*; do [ "$(basename "$e")" = examples ] || ln -s "$e" "$tmp/"; done
for e in "$src"/examples/nanchong-demo/*; do ln -s "$e" "$tmp/examples/nanchong-demo/"; done
rm "$tmp/examples/nanchong-demo/job.ini"
grep -v '^output =' "$src/examples/nanchong-demo/job.ini" > "$tmp/examples/nanchong-demo/job.ini"
printf '\n[ledger]\npath = none\n' >> "$tmp/examples/nanchong-demo/job.ini"
job="$tmp/examples/nanchong-demo/job.ini"
"$cli" run "$job" -o "$tmp/out" --quiet || { echo "FAIL: the demo run failed"; exit 1; }
QT_QPA_PLATFORM=offscreen timeout 300 /usr/bin/python3 "$src/tests/qgis/check_styles.py" "$tmp/out" 2>&1 \
  | grep -v -e "^Application path" -e "QStandardPaths"
exit "${PIPESTATUS[0]}"
