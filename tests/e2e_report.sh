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
# the demo job in a mirror of the source tree, no ledger (tests/demo_mirror.sh)
. "$src/tests/demo_mirror.sh"
demo_mirror "$src" "$tmp"
"$cli" run "$job" -o "$tmp/out" --quiet || { echo "FAIL: the demo run failed"; exit 1; }
HOME="$tmp" timeout 300 /usr/bin/python3 "$src/tests/report/check_report.py" "$tmp/out"
