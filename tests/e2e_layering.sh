#!/bin/bash
# e2e_layering.sh: the core (src/core, src/geo, src/analysis) includes no GDAL/OGR/CPL header,
# so it can be tested with in-memory data; the adapters live in io, output and pipeline.
set -u
src=$2
bad=$(grep -lE '#include *[<"](gdal|ogr_|cpl_|gdalwarper)' "$src"/src/core/*.[ch] "$src"/src/geo/*.[ch] "$src"/src/analysis/*.[ch] 2>/dev/null)
if [ -n "$bad" ]; then
  echo "FAIL: GDAL included in the core: $bad"
  exit 1
fi
echo "1 passed, 0 failed"
