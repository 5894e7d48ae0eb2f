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
# the demo job in a mirror of the source tree, no ledger (tests/demo_mirror.sh)
. "$src/tests/demo_mirror.sh"
demo_mirror "$src" "$tmp"
"$cli" run "$job" -o "$tmp/out" --quiet || { echo "FAIL: the demo run failed"; exit 1; }
QT_QPA_PLATFORM=offscreen timeout 300 /usr/bin/python3 "$src/tests/qgis/check_styles.py" "$tmp/out" 2>&1 \
  | grep -v -e "^Application path" -e "QStandardPaths"
exit "${PIPESTATUS[0]}"
