#!/usr/bin/env bash
# bench/classify/run.sh: sinkmap classify (rf, maxlik) against OTB (random forest) and GRASS
# (i.maxlik) on the North Carolina Landsat 7 scene: trained on the 34 labelled polygons, tested
# on the 1000 labelled points, the same split for every tool; then time per megapixel.
#
# usage: bench/classify/run.sh SINKMAP [NC_LANDSAT_DIR] [WORK_DIR]
# needs: gdal-bin, python3, otb-bin (otbcli_*), grass-core. Results go to WORK_DIR/results.json.
set -euo pipefail
SM=$(realpath "${1:?usage: run.sh SINKMAP [NC_LANDSAT_DIR] [WORK_DIR]}")
HERE=$(cd "$(dirname "$0")" && pwd)
D=$(realpath "${2:-$HERE/../../../shared/realdata/nc-landsat}")
W=${3:-/tmp/sinkmap-bench-classify}
REPS=${REPS:-3}
rm -rf "$W"
mkdir -p "$W"
cd "$W"

# Bands 1-5 only: band 7 (lsat7_2000_70) has no data over 38 % of the scene, including the only
# agriculture polygon, so a 6-band stack leaves that class without a training pixel.
BANDS="10 20 30 40 50"
R=()
for b in $BANDS; do R+=("$D/lsat7_2000_$b.tif"); done
POLY=$D/landsat96_polygons.shp
PTS=$D/landsat96_points.shp
# polygon id -> label (the attribute table: 1 developed, 2 agriculture, ...)
ID_CODES=1=developed,2=agriculture,3=herbaceous,4=shrubland,5=forest,6=water,7=sediment
# sinkmap numbers classes 1..K in sorted name order
SM_CODES=1=agriculture,2=developed,3=forest,4=herbaceous,5=sediment,6=shrubland,7=water

# Wall time of a command in seconds (the best of $REPS runs; the machine may be shared).
best_time() {
    local best=""
    for _ in $(seq "$REPS"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" > /dev/null 2>&1
        t1=$(date +%s.%N)
        best=$(python3 -c "import sys; a=$t1-$t0; b='$best'; print(min(a, float(b)) if b else a)")
    done
    echo "$best"
}

# ---- the reference points: those inside the scene with a value in every band (the set
# `sinkmap classify --test` uses)
ogr2ogr -f CSV pts.csv "$PTS" -lco GEOMETRY=AS_XY
tail -n +2 pts.csv | cut -d, -f1,2 | tr , ' ' > xy.txt
tail -n +2 pts.csv | cut -d, -f4 > labels_all.txt
for b in $BANDS; do
    gdallocationinfo -valonly -geoloc "$D/lsat7_2000_$b.tif" < xy.txt > v$b.txt
done
paste -d' ' xy.txt labels_all.txt v10.txt v20.txt v30.txt v40.txt v50.txt |
    awk 'NF == 8 && $4 != -99999 && $5 != -99999 && $6 != -99999 && $7 != -99999 && $8 != -99999' \
        > valid.txt
cut -d' ' -f1,2 valid.txt > vxy.txt
cut -d' ' -f3 valid.txt > vlabels.txt
echo "reference points with data in every band: $(wc -l < vxy.txt)"

sample() { gdallocationinfo -valonly -geoloc "$1" < vxy.txt; }
evaluate() { # NAME MAP CODES
    sample "$2" > "$1.values"
    python3 "$HERE/accuracy.py" vlabels.txt "$1.values" "$3" > "$1.json"
}

# ---- a 16x larger scene for timing (each pixel split 4 x 4: 3.47 megapixels)
BIG=()
for b in $BANDS; do
    gdal_translate -q -outsize 400% 400% -r nearest "$D/lsat7_2000_$b.tif" big$b.tif
    BIG+=("$W/big$b.tif")
done

# ---- sinkmap
for m in rf maxlik maxlik0; do
    case $m in
    rf) opt=(--method rf --trees 100 --seed 1) ;;
    maxlik) opt=(--method maxlik) ;;
    maxlik0) opt=(--method maxlik --reject 0) ;;
    esac
    "$SM" classify "${R[@]}" --train "$POLY" --field label "${opt[@]}" --test "$PTS" \
        --save-model sm_$m.model -o sm_$m.tif --report sm_$m.csv --quiet > sm_$m.txt 2> sm_$m.err
    evaluate sm_$m sm_$m.tif $SM_CODES
    best_time "$SM" classify "${R[@]}" --model sm_$m.model -o t.tif --quiet > sm_$m.small.time
    best_time "$SM" classify "${BIG[@]}" --model sm_$m.model -o t.tif --quiet > sm_$m.big.time
    best_time "$SM" classify "${R[@]}" --train "$POLY" --field label "${opt[@]}" \
        --save-model t.model --quiet > sm_$m.train.time
done

# ---- OTB: random forest (OpenCV) on the same pixels: the polygons' pixel centres, masked
# where a band has no data; deep trees as ours (max depth 25, min 1 sample per node, 100 trees,
# mtry floor(sqrt 5) = 2 by default)
mask_exp="(im1b1!=-99999 && im2b1!=-99999 && im3b1!=-99999 && im4b1!=-99999 && im5b1!=-99999) ? 1 : 0"
gdalbuildvrt -q -separate stack.vrt "${R[@]}"
gdalbuildvrt -q -separate bigstack.vrt "${BIG[@]}"
otbcli_BandMath -il "${R[@]}" -exp "$mask_exp" -out mask.tif uint8 > otb.log 2>&1
otbcli_BandMath -il "${BIG[@]}" -exp "$mask_exp" -out bigmask.tif uint8 >> otb.log 2>&1
otb_train() {
    rm -f sel.sqlite samples.sqlite
    otbcli_PolygonClassStatistics -in stack.vrt -mask mask.tif -vec "$POLY" -field id \
        -out stats.xml &&
        otbcli_SampleSelection -in stack.vrt -mask mask.tif -vec "$POLY" -instats stats.xml \
            -field id -strategy all -out sel.sqlite &&
        otbcli_SampleExtraction -in stack.vrt -vec sel.sqlite -field id -outfield prefix \
            -outfield.prefix.name value_ -out samples.sqlite &&
        otbcli_TrainVectorClassifier -io.vd samples.sqlite -feat value_0 value_1 value_2 value_3 \
            value_4 -cfield id -classifier rf -classifier.rf.max 25 -classifier.rf.min 1 \
            -classifier.rf.nbtrees 100 -classifier.rf.acc 0 -rand 1 -io.out otb_rf.model
}
otb_train >> otb.log 2>&1
otbcli_ImageClassifier -in stack.vrt -mask mask.tif -model otb_rf.model -out otb_rf.tif uint8 \
    >> otb.log 2>&1
evaluate otb_rf otb_rf.tif $ID_CODES
best_time otbcli_ImageClassifier -in stack.vrt -mask mask.tif -model otb_rf.model \
    -out t_otb.tif uint8 > otb_rf.small.time
best_time otbcli_ImageClassifier -in bigstack.vrt -mask bigmask.tif -model otb_rf.model \
    -out t_otb.tif uint8 > otb_rf.big.time
best_time otb_train > otb_rf.train.time

# ---- GRASS: i.gensig + i.maxlik on the same bands and polygons (rasterized by cell centre)
grass -c "$D/lsat7_2000_10.tif" "$W/grassdb/nc" -e > grass.log 2>&1
cat > grass_job.sh << EOF
set -e
for b in $BANDS; do r.in.gdal -o --quiet input=$D/lsat7_2000_\$b.tif output=b\$b; done
g.region raster=b10
v.in.ogr -o --quiet input=$POLY output=polys
v.to.rast --quiet input=polys output=train_all use=attr attribute_column=id
# i.gensig counts a cell with no data in a band as a sample with value 0 there (the water
# signature then has 352 samples instead of 209, its band-1 mean 41.6 instead of 70.1): keep
# the training cells that have data in every band, as sinkmap and OTB (with its mask) do.
r.mapcalc --quiet "train = if(isnull(b10) || isnull(b20) || isnull(b30) || isnull(b40) || isnull(b50), null(), train_all)"
i.group --quiet group=g subgroup=g input=b10,b20,b30,b40,b50
i.gensig --quiet trainingmap=train group=g subgroup=g signaturefile=sig
i.maxlik --quiet --overwrite group=g subgroup=g signaturefile=sig output=gr_ml reject=gr_rej
r.out.gdal --quiet --overwrite -c input=gr_ml output=$W/gr_ml.tif type=Byte
# timing: i.maxlik alone, on this grid and on the 4x finer one (GRASS resamples on the fly)
python3 - << 'PY' > $W/gr_ml.small.time
import subprocess, time
best = None
for _ in range($REPS):
    t0 = time.time()
    subprocess.run(["i.maxlik", "--quiet", "--overwrite", "group=g", "subgroup=g",
                    "signaturefile=sig", "output=t"], check=True)
    best = min(best or 1e9, time.time() - t0)
print(best)
PY
g.region raster=b10 res=7.125 -a
python3 - << 'PY' > $W/gr_ml.big.time
import subprocess, time
best = None
for _ in range($REPS):
    t0 = time.time()
    subprocess.run(["i.maxlik", "--quiet", "--overwrite", "group=g", "subgroup=g",
                    "signaturefile=sig", "output=t"], check=True)
    best = min(best or 1e9, time.time() - t0)
print(best)
PY
g.region -p | grep -E "rows|cols|cells" > $W/gr_big_region.txt
g.region raster=b10
python3 - << 'PY' > $W/gr_ml.train.time
import subprocess, time
best = None
for _ in range($REPS):
    t0 = time.time()
    subprocess.run(["i.gensig", "--quiet", "--overwrite", "trainingmap=train", "group=g",
                    "subgroup=g", "signaturefile=sig2"], check=True)
    best = min(best or 1e9, time.time() - t0)
print(best)
PY
EOF
grass "$W/grassdb/nc/PERMANENT" --exec bash grass_job.sh >> grass.log 2>&1
evaluate gr_ml gr_ml.tif $ID_CODES

# ---- one JSON with everything
python3 - "$W" << 'PY'
import json, os, sys
w = sys.argv[1]
out = {}
for name in ["sm_rf", "sm_maxlik", "sm_maxlik0", "otb_rf", "gr_ml"]:
    r = json.load(open(os.path.join(w, name + ".json")))
    for kind in ["small", "big", "train"]:
        p = os.path.join(w, "%s.%s.time" % (name, kind))
        r["time_" + kind] = float(open(p).read().strip()) if os.path.exists(p) else None
    out[name] = r
json.dump(out, open(os.path.join(w, "results.json"), "w"), indent=1)
print(json.dumps({k: (round(v["overall"], 4), round(v["kappa"], 4), v["time_small"], v["time_big"])
                  for k, v in out.items()}, indent=1))
PY
