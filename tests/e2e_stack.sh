#!/bin/bash
# e2e_stack.sh CLI SRC: [classifier] features = stack in `sinkmap run` on a synthetic two-season
# scene (tests/stack/make_fixture.py) where two classes differ only in the second season:
# accuracy and maps against the fixture's truth (tests/stack/check.py), the fallback to the
# scene's own features where the partner is clouded (the pixel count in the warning), outputs
# byte-identical for 1 and 2 threads, stack_days leaving no partner = the season features, a
# partner that cannot train a class = the season features; [classifier] drone = yes (drone canopy
# cover and height on the grid) with the CHM in the grid's CRS and in another one, the cells a
# flight covers by half counted exactly, a flight off the grid = no drone features; and the bad
# settings: exit 2, one "sinkmap: error:" line naming the key, earlier outputs untouched.
set -u
cli=$1
src=$2
py=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
$py -c "import numpy; from osgeo import gdal" 2>/dev/null || { echo "python3-gdal or numpy missing"; exit 77; }
tmp=$(mktemp -d /tmp/sinkmap-e2e-stack-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
$py "$src/tests/stack/make_fixture.py" "$tmp" || fail "make_fixture.py"

# mkjob NAME SCENE-SECTIONS CLASSIFIER-LINES: writes $tmp/NAME.ini, output $tmp/NAME
mkjob() {
  {
    printf '[job]\nname = %s\noutput = %s\n[parcels]\npath = parcels.gpkg\nfield.subcompartment = ID\n' "$1" "$1"
    printf '%s\n' "$2"
    printf '[classifier]\nsamples = parcels.gpkg\ntrees = 30\n%s\n' "$3"
    printf '[ledger]\npath = none\n[output]\nmaps = no\nreport = no\n'
  } > "$tmp/$1.ini"
}
scene() { # scene ID DATE RASTER [MASK]
  printf '[scene.%s]\ndate = %s\nraster.10m = %s\nroles.10m = blue,green,red,nir\nscale = 0.0001\noffset = 0\n' "$1" "$2" "$3"
  if [ -n "${4:-}" ]; then printf 'mask = %s\nmask_values = 9\n' "$4"; fi
}
# job NAME METHOD FEATURES MASK-OF-B [EXTRA-CLASSIFIER-LINES]: scenes a and b
job() {
  mkjob "$1" "$(scene a 2024-04-15 a_10m.tif; scene b 2024-10-12 b_10m.tif "$4")" \
    "$(printf 'method = %s\nfield = CLS\nfeatures = %s\n%s' "$2" "$3" "${5:-}")"
}
# djob NAME CHM DRONE-SETTING [METHOD]: scene d and one flight
djob() {
  mkjob "$1" "$(scene d 2024-09-15 d_10m.tif; printf '[drone.f1]\ndate = 2024-09-20\nchm = %s\ncanopy_height = 2\n' "$2")" \
    "$(printf 'method = %s\nfield = CLS_D\ndrone = %s\n' "${4:-rf}" "$3")"
}
run() { # run NAME [ARGS]: exit status of sinkmap run, stderr in $tmp/NAME.err
  local name=$1
  shift
  "$cli" run "$tmp/$name.ini" "$@" 2>"$tmp/$name.err"
}

for m in rf maxlik; do
  job season_$m $m season mask_block.tif
  job stack_$m $m stack mask_block.tif
  run season_$m || fail "season $m: exit $?: $(cat "$tmp/season_$m.err")"
  run stack_$m || fail "stack $m: exit $?: $(cat "$tmp/stack_$m.err")"
  # 100 cells clouded in b out of a's 120 x 120 observed ones
  grep -q "scene a: 100 of its 14400 observed pixels (0.69 %) lack an observation in every partner scene (b) and were classified by a model of the scene's own features" "$tmp/stack_$m.err" ||
    fail "stack $m: no fallback warning with 100 of 14400 pixels: $(cat "$tmp/stack_$m.err")"
  # b is clouded nowhere in a: none of b's pixels needs the fallback
  ! grep -q "scene b:" "$tmp/stack_$m.err" || fail "stack $m: a warning for scene b: $(cat "$tmp/stack_$m.err")"
done
# drone = yes on scene d with one flight (chm.tif: columns 0-59 whole, 40 % of column 60)
djob drone chm.tif yes
djob drone_gk chm_gk.tif yes
djob drone_no chm.tif no
for r in drone drone_gk drone_no; do run $r || fail "$r: exit $?: $(cat "$tmp/$r.err")"; done
for r in drone drone_gk; do
  grep -q "scene d: 7200 of its 14400 observed pixels (50.00 %) lack drone features (a flight covering at least half of the cell) and were classified by a model of the scene's own features" "$tmp/$r.err" ||
    fail "$r: no fallback warning with 7200 of 14400 pixels: $(cat "$tmp/$r.err")"
done
$py "$src/tests/stack/check.py" "$tmp" || fail "check.py"
# a flight outside the grid: no sample has drone features, so the scene is classified by its own
# features alone (a warning), the same bytes as with drone = no
djob drone_far chm_far.tif yes
run drone_far || fail "drone_far: $(cat "$tmp/drone_far.err")"
grep -q "scene d: drone = yes: .*class '.*' has 0 training samples.*the scene is classified by its own features" "$tmp/drone_far.err" ||
  fail "drone_far: no warning: $(cat "$tmp/drone_far.err")"
[ "$(grep -c . "$tmp/drone_far.err")" -eq 1 ] || fail "drone_far: expected one warning: $(cat "$tmp/drone_far.err")"
for f in landcover_d.tif confidence_d.tif accuracy_d.csv; do
  cmp -s "$tmp/drone_far/$f" "$tmp/drone_no/$f" || fail "drone_far: $f differs from drone = no"
done
for t in 1 2; do
  djob dt$t chm_gk.tif yes
  run dt$t --threads $t || fail "drone threads $t: $(cat "$tmp/dt$t.err")"
done
for f in landcover_d.tif confidence_d.tif accuracy_d.csv parcels.csv; do
  cmp -s "$tmp/dt1/$f" "$tmp/dt2/$f" || fail "drone: $f differs between 1 and 2 threads"
done

# 1 and 2 threads: the same bytes
for t in 1 2; do
  cp "$tmp/stack_rf.ini" "$tmp/t$t.ini"
  sed -i "s#^output = .*#output = t$t#" "$tmp/t$t.ini"
  run t$t --threads $t || fail "threads $t: $(cat "$tmp/t$t.err")"
done
for f in landcover_a.tif landcover_b.tif confidence_a.tif confidence_b.tif accuracy_a.csv accuracy_b.csv parcels.csv; do
  cmp -s "$tmp/t1/$f" "$tmp/t2/$f" || fail "$f differs between 1 and 2 threads"
done

# stack_days = 10: b (180 days away) is no partner of a, so a is classified as with its own features
job days rf stack mask_block.tif "stack_days = 10"
run days || fail "stack_days = 10: $(cat "$tmp/days.err")"
for f in landcover_a.tif confidence_a.tif accuracy_a.csv; do
  cmp -s "$tmp/days/$f" "$tmp/season_rf/$f" || fail "stack_days = 10: $f differs from the season features"
done

# b clouded over every cropland cell: no cropland sample of a is observed in b, so the stack
# cannot be trained (a warning naming the class) and a is classified by its own features alone,
# the same bytes as with features = season
job crop rf stack mask_crop.tif
run crop || fail "cropland clouded: $(cat "$tmp/crop.err")"
grep -q "scene a: features = stack: .*class 'cropland' has 0 training samples.*the scene is classified by its own features" "$tmp/crop.err" ||
  fail "cropland clouded: no warning naming the class: $(cat "$tmp/crop.err")"
for f in landcover_a.tif confidence_a.tif accuracy_a.csv; do
  cmp -s "$tmp/crop/$f" "$tmp/season_rf/$f" || fail "cropland clouded: $f differs from the season features"
done

# ---- bad settings: exit 2, one error line naming the key, the earlier output untouched ------
(cd "$tmp/stack_rf" && find . -type f | sort | xargs sha256sum) > "$tmp/before.sha"
bad() { # bad LABEL NEEDLE: runs $tmp/bad.ini (output stack_rf)
  sed -i "s#^output = .*#output = stack_rf#" "$tmp/bad.ini"
  "$cli" run "$tmp/bad.ini" 2>"$tmp/bad.err"
  local rc=$?
  [ $rc -eq 2 ] || fail "$1: exit $rc, expected 2: $(cat "$tmp/bad.err")"
  [ "$(grep -c . "$tmp/bad.err")" -eq 1 ] || fail "$1: expected one line: $(cat "$tmp/bad.err")"
  grep -q "^sinkmap: error: .*$2" "$tmp/bad.err" || fail "$1: message lacks '$2': $(cat "$tmp/bad.err")"
  (cd "$tmp/stack_rf" && find . -type f | sort | xargs sha256sum) | cmp -s - "$tmp/before.sha" ||
    fail "$1: the earlier output changed"
}
job bad rules stack mask_block.tif
sed -i '/^samples = /d; /^field = CLS/d' "$tmp/bad.ini"
bad "stack with rules" "bad.ini: \[classifier\] features = stack is set but method = rules"
job bad rf stack mask_block.tif "stack_days = 0"
bad "stack_days 0" "stack_days = 0: expected 1 to 3660 days"
job bad rf stack mask_block.tif "stack_days = ten"
bad "stack_days ten" "stack_days"
job bad rf seasons mask_block.tif
bad "features seasons" "features = 'seasons': expected season .* or stack"
# ten scenes ten days apart: nine partners each, one more than the bound
job bad rf stack mask_block.tif
for k in 1 2 3 4 5 6 7 8; do
  printf '[scene.c%d]\ndate = 2024-10-%02d\nraster.10m = b_10m.tif\nroles.10m = blue,green,red,nir\nscale = 0.0001\noffset = 0\n' $k $((12 + k)) >> "$tmp/bad.ini"
done
bad "nine partners" "features = stack: 9 scenes lie within stack_days = 200 of \[scene.a\]; expected at most 8"
djob bad chm.tif maybe
bad "drone maybe" "drone = 'maybe': expected yes"
djob bad chm.tif yes rules
sed -i '/^samples = /d; /^field = CLS_D/d' "$tmp/bad.ini"
bad "drone with rules" "drone = yes is set but method = rules"
djob bad chm.tif yes
sed -i '/^\[drone.f1\]/,/^canopy_height/d' "$tmp/bad.ini"
bad "drone without a flight" "drone = yes needs a \[drone.<id>\] section"
echo "e2e_stack: all checks passed"
