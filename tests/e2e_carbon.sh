#!/bin/bash
# e2e_carbon.sh CLI SRC: the demo run with the volume model, the protected areas and the
# management records, checked against figures recomputed independently (tests/carbon/
# check_demo.py); bamboo by culms against a hand value; and the carbon input errors through the
# CLI: exit 2, one "sinkmap: error:" line naming the field and value, earlier outputs untouched.
set -u
cli=$1
src=$2
py=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d /tmp/sinkmap-e2e-carbon-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
demo=$src/examples/nanchong-demo
# The demo job with absolute paths, a stale-inventory limit of 3 years (the 2020 surveys go to
# the volume model), no ledger.
sed -e "s#\.\./\.\./#$src/#; s#^path = xiaoban.shp#path = $demo/xiaoban.shp#; s#^output = .*#output = $tmp/out#" \
    \
    -e "s#^max_age_years = .*#max_age_years = 3#" "$demo/job.ini" > "$tmp/job.ini"
grep -q "^\[volume_model\]" "$tmp/job.ini" || fail "the demo job has no [volume_model]"
# no maps or report: not this test's business (and they load fonts)
printf '\n[ledger]\npath = none\n\n[output]\nmaps = no\nreport = no\n' >> "$tmp/job.ini"
"$cli" run "$tmp/job.ini" 2>"$tmp/err" || fail "demo run exit $?: $(cat "$tmp/err")"
$py "$src/tests/carbon/check_demo.py" "$tmp/out" "$src" || fail "check_demo.py"

# ---- bamboo by culms: 3000 moso culms/ha on every bamboo parcel --------------------------------
cols="XIAN,XIANG,CUN,LIN_BAN,XIAO_BAN,DI_LEI,QI_YUAN,PINGJUN_NL,LING_ZU,HUO_LMGQXJ,MIAN_JI,DIAOCHA_ND"
mkshp() { # mkshp NAME SELECT-EXTRA
  ogr2ogr -q -f "ESRI Shapefile" "$tmp/$1.shp" "$demo/xiaoban.shp" -lco ENCODING=UTF-8 -dialect sqlite \
    -sql "SELECT $cols, $2, GEOMETRY FROM xiaoban" || fail "ogr2ogr $1"
}
mkshp bamboo "CASE WHEN DI_LEI = '030200' THEN '毛竹' ELSE YOU_SHI_SZ END AS YOU_SHI_SZ, CASE WHEN DI_LEI = '030200' THEN 3000 ELSE NULL END AS ZHUSHU"
sed -e "s#^path = .*xiaoban.shp#path = $tmp/bamboo.shp#; s#^encoding = GBK#encoding = UTF-8#; s#^output = .*#output = $tmp/bam#" \
    -e "s#^\[parcels\]#[parcels]\nfield.culms = ZHUSHU#" "$tmp/job.ini" > "$tmp/bamboo.ini"
"$cli" run "$tmp/bamboo.ini" 2>"$tmp/err" || fail "bamboo run exit $?: $(cat "$tmp/err")"
# By hand: 3000 culms x 10.44 kg / 1000 x CF 0.47 = 14.7204 t C/ha above ground, x (1 + R 0.27)
# = 18.694908 t C/ha; dead wood 0 and soil left out (pools_invest.csv bamboo row, pools_soil = no).
$py - "$tmp/bam/parcels.csv" <<'PY' || fail "bamboo carbon"
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1], encoding="utf-8-sig")) if r["land_class"] == "030200"]
assert len(rows) > 20, len(rows)
for r in rows:
    assert "culms" in r["flags"], r["flags"]
    assert abs(float(r["bam_tcha"]) - 18.694908) < 1e-9, r["bam_tcha"]
    want = 18.694908 * float(r["area_ha"])
    assert abs(float(r["cp_2023a"]) - want) < 1e-6 * want, (r["fid"], r["cp_2023a"], want)
    if "loss_2024a" not in r["flags"]:
        assert abs(float(r["cp_2024a"]) - want) < 1e-6 * want, (r["fid"], r["cp_2024a"], want)
print("bamboo: %d parcels at 18.694908 t C/ha" % len(rows))
PY

# ---- input errors through the CLI ----------------------------------------------------------------
mkdir -p "$tmp/prev" && echo "earlier output" > "$tmp/prev/sentinel.txt"
expect_error() { # expect_error INI TEXT...
  local ini=$1; shift
  sed -i "s#^output = .*#output = $tmp/prev#" "$ini"
  "$cli" run "$ini" 2>"$tmp/err" >/dev/null; local rc=$?
  [ $rc -eq 2 ] || fail "$ini: exit $rc, expected 2: $(cat "$tmp/err")"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "$ini: more than one line: $(cat "$tmp/err")"
  grep -q "^sinkmap: error: " "$tmp/err" || fail "$ini: no 'sinkmap: error:' prefix: $(cat "$tmp/err")"
  for t in "$@"; do grep -qF -- "$t" "$tmp/err" || fail "$ini: message lacks '$t': $(cat "$tmp/err")"; done
  [ "$(cat "$tmp/prev/sentinel.txt")" = "earlier output" ] && [ "$(ls "$tmp/prev")" = "sentinel.txt" ] ||
    fail "$ini: earlier outputs touched"
}
first="(SELECT MIN(ROWID) FROM xiaoban WHERE DI_LEI = '030100')"
# a missing volume on a tree-forest parcel (the volume model off)
mkshp novol "YOU_SHI_SZ, CASE WHEN ROWID = $first THEN NULL ELSE HUO_LMGQXJ END AS HUO_LMGQX2"
sed -e "s#^path = .*xiaoban.shp#path = $tmp/novol.shp#; s#^encoding = GBK#encoding = UTF-8#; s#^field.volume = .*#field.volume = HUO_LMGQX2#; s#^enabled = yes#enabled = no#" "$tmp/job.ini" > "$tmp/novol.ini"
expect_error "$tmp/novol.ini" "novol.shp" "field HUO_LMGQX2: '' is not a volume; expected m³/ha >= 0"
# an age beyond the growth curve (max_age 150 for natural cypress)
mkshp oldage "YOU_SHI_SZ, CASE WHEN ROWID = $first THEN 400 ELSE PINGJUN_NL END AS AGE2"
sed -e "s#^path = .*xiaoban.shp#path = $tmp/oldage.shp#; s#^encoding = GBK#encoding = UTF-8#; s#^field.age = .*#field.age = AGE2#" "$tmp/job.ini" > "$tmp/oldage.ini"
expect_error "$tmp/oldage.ini" "age at the survey 400 years is beyond the growth curve's max_age"
# an unknown bamboo species: the closest known names
mkshp badbam "CASE WHEN DI_LEI = '030200' THEN '毛竹林' ELSE YOU_SHI_SZ END AS YOU_SHI_SZ, CASE WHEN DI_LEI = '030200' THEN 3000 ELSE NULL END AS ZHUSHU"
sed -e "s#$tmp/bamboo.shp#$tmp/badbam.shp#" "$tmp/bamboo.ini" > "$tmp/badbam.ini"
expect_error "$tmp/badbam.ini" "field YOU_SHI_SZ: bamboo species '毛竹林' has no row in" "closest known: 毛竹"
# a culm count that is not a number of culms
mkshp badculm "CASE WHEN DI_LEI = '030200' THEN '毛竹' ELSE YOU_SHI_SZ END AS YOU_SHI_SZ, CASE WHEN DI_LEI = '030200' THEN -5 ELSE NULL END AS ZHUSHU"
sed -e "s#$tmp/bamboo.shp#$tmp/badculm.shp#" "$tmp/bamboo.ini" > "$tmp/badculm.ini"
expect_error "$tmp/badculm.ini" "field ZHUSHU: '-5' is not a culm count; expected culms per ha >= 0"
# the volume model: an unknown feature; a missing protected-area layer; management without years
sed -e "s#^features = .*#features = ff,ndvi#" "$tmp/job.ini" > "$tmp/feat.ini"
expect_error "$tmp/feat.ini" "[volume_model] features = ff,ndvi: 'ndvi' is not a feature"
sed -e "s#^protected = .*#protected = $tmp/nowhere.geojson#" "$tmp/job.ini" > "$tmp/prot.ini"
expect_error "$tmp/prot.ini" "$tmp/nowhere.geojson: no such file ([wetland] protected"
sed -e "s#^year_field = .*#year_field = type#" "$tmp/job.ini" > "$tmp/mgmt.ini"
expect_error "$tmp/mgmt.ini" "management.geojson: record fid" "field type: '抚育 tending' is not a year"
# a volume model the data cannot carry (only the drone's few parcels, 100 folds): found after the
# passes, still one line and the earlier outputs untouched (the run is staged)
sed -e "s#^features = .*#features = chm_2024,cc_2024#; s#^folds = .*#folds = 100#" "$tmp/job.ini" > "$tmp/folds.ini"
expect_error "$tmp/folds.ini" "[volume_model] cannot be fitted at any scene (scene 2023a: volume model: 100 folds for" "calibration parcels"
echo "1 passed, 0 failed"
