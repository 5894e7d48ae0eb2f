#!/bin/bash
# e2e_report.sh: the demo's report.html in headless Chromium (tests/report/check_report.py):
# renders, no console errors, every image loads, no network request. Skipped (exit 77) only
# when chromium, chromium-driver or python3-selenium is not installed.
set -u
cli=$1
src=$2
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! /usr/bin/python3 -c "import selenium" 2>/dev/null; then
  echo "SKIP: chromium, chromium-driver or python3-selenium is not installed (tools/ensure-deps test)"
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
HOME="$tmp" timeout 300 /usr/bin/python3 "$src/tests/report/check_report.py" "$tmp/out"
