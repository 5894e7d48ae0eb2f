#!/bin/bash
# e2e_maps.sh: the maps, styles and switches of `sinkmap run` (tests/maps/check_maps.py checks the
# PNGs against the GeoTIFFs and parcels), and their bad input: [output] maps/report other than
# yes|no, and a machine without a CJK font, each one error line, exit 2, earlier outputs untouched.
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

"$cli" run "$job" -o "$tmp/out" --quiet || { echo "FAIL: the demo run failed"; exit 1; }
for f in sinkmap.qgs report.html changes.qml parcels_carbon.qml maps/changes.png; do
  [ -s "$tmp/out/$f" ] || fail "no $f"
done
/usr/bin/python3 "$src/tests/maps/check_maps.py" "$tmp/out" || fails=$((fails + 1))
# sinkmap.qgs: relative paths only, and every file it names exists beside it
grep -q '<Absolute type="bool">false</Absolute>' "$tmp/out/sinkmap.qgs" || fail "sinkmap.qgs: paths not relative"
if grep -o '<datasource>[^<]*</datasource>' "$tmp/out/sinkmap.qgs" | grep -v '<datasource>\./' >/dev/null; then
  fail "sinkmap.qgs: a datasource that is not ./relative"
fi
for ds in $(grep -o '<datasource>[^<|]*' "$tmp/out/sinkmap.qgs" | sed 's/<datasource>//'); do
  [ -f "$tmp/out/$ds" ] || fail "sinkmap.qgs names $ds, which is not in the output folder"
done

# bad values of the new keys: exit 2, one line naming the key and the value
snapshot() { (cd "$tmp/out" && find . -type f -exec sha256sum {} + | sort); }
before=$(snapshot)
for kv in "maps = maybe" "report = perhaps" "maps = YES"; do
  cp "$job" "$tmp/examples/nanchong-demo/bad.ini"
  printf '\n[output]\n%s\n' "$kv" >> "$tmp/examples/nanchong-demo/bad.ini"
  "$cli" run "$tmp/examples/nanchong-demo/bad.ini" -o "$tmp/out" --quiet 2> "$tmp/err"
  rc=$?
  key=${kv%% =*}
  val=${kv##*= }
  [ "$rc" = 2 ] || fail "[output] $kv: exit $rc, expected 2"
  [ "$(wc -l < "$tmp/err")" = 1 ] || fail "[output] $kv: $(wc -l < "$tmp/err") error lines"
  grep -q "^sinkmap: error: .*bad.ini:[0-9]*: \[output\] $key = '$val': expected yes or no$" "$tmp/err" ||
    fail "[output] $kv: message '$(cat "$tmp/err")'"
done
# no CJK font: the maps refuse (rather than draw tofu boxes), the run fails, outputs untouched
printf '<?xml version="1.0"?>\n<fontconfig><cachedir>%s/fc</cachedir></fontconfig>\n' "$tmp" > "$tmp/fonts.conf"
FONTCONFIG_FILE="$tmp/fonts.conf" "$cli" run "$job" -o "$tmp/out" --quiet 2> "$tmp/err"
rc=$?
[ "$rc" = 2 ] || fail "no CJK font: exit $rc, expected 2"
[ "$(wc -l < "$tmp/err")" = 1 ] || fail "no CJK font: $(wc -l < "$tmp/err") error lines"
grep -q "^sinkmap: error: maps: fontconfig has no CJK font .*install fonts-noto-cjk, or set \[output\] maps = no$" "$tmp/err" ||
  fail "no CJK font: message '$(cat "$tmp/err")'"
[ "$(snapshot)" = "$before" ] || fail "a failed run changed the earlier outputs"
ls -d "$tmp"/out.sinkmap-* >/dev/null 2>&1 && fail "a staging folder was left behind"
# ... and it refuses before any pass, so nothing is posted to a ledger for a run that fails
grep -v '^output =' "$src/examples/nanchong-demo/job.ini" > "$tmp/examples/nanchong-demo/nofont.ini"
printf '\n[ledger]\npath = %s/nofont-ledger.sqlite\n' "$tmp" >> "$tmp/examples/nanchong-demo/nofont.ini"
FONTCONFIG_FILE="$tmp/fonts.conf" "$cli" run "$tmp/examples/nanchong-demo/nofont.ini" -o "$tmp/out3" --quiet 2> "$tmp/err"
rc=$?
[ "$rc" = 2 ] || fail "no CJK font, with a ledger: exit $rc, expected 2"
[ -e "$tmp/nofont-ledger.sqlite" ] && fail "no CJK font: the failed run created the ledger"
[ -e "$tmp/out3" ] && fail "no CJK font: the failed run wrote an output folder"
# ... and with maps = no and report = no the same machine runs: no maps/, no report.html, the project
cp "$job" "$tmp/examples/nanchong-demo/nomaps.ini"
printf '\n[output]\nmaps = no\nreport = no\n' >> "$tmp/examples/nanchong-demo/nomaps.ini"
FONTCONFIG_FILE="$tmp/fonts.conf" "$cli" run "$tmp/examples/nanchong-demo/nomaps.ini" -o "$tmp/out2" --quiet ||
  fail "maps = no: the run failed"
[ -e "$tmp/out2/maps" ] && fail "maps = no: maps/ written"
[ -e "$tmp/out2/report.html" ] && fail "report = no: report.html written"
[ -s "$tmp/out2/sinkmap.qgs" ] || fail "maps = no: no sinkmap.qgs"

[ "$fails" = 0 ] || exit 1
echo "1 passed, 0 failed"
