#!/usr/bin/python3
"""check.py FIXTURE: the features = stack outputs of e2e_stack.sh against the fixture's truth.

Scene a's cropland and grassland share one spectral distribution (make_fixture.py), so a
classifier of a's own features can only guess between them: its held-out overall accuracy is
about 1/3 (water) + 2/3 x 1/2 = 2/3. With b's features and the seasonal differences they are
separable (NIR 0.30 against 0.12, noise 0.01): every pixel right but those of the block below. The 10 x 10 cells at the top
left are clouded in b: there a's pixels go to the model of its own features (classified, never
unclassified or cloud)."""
import csv
import sys

import numpy as np
from osgeo import gdal

fx = sys.argv[1]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def band(path):
    ds = gdal.Open(path)
    if ds is None:
        fail(f"cannot open {path}")
    return ds.GetRasterBand(1).ReadAsArray()


def overall(path, measure):
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["section"] == "overall" and row["measure"] == measure:
                return float(row["value"])
    fail(f"{path}: no overall {measure}")


def heldout_oa(path):
    return overall(path, "overall")


truth = band(f"{fx}/truth.tif")
block = np.zeros(truth.shape, dtype=bool)
block[:10, :10] = True

for method in ("rf", "maxlik"):
    season, stack = f"{fx}/season_{method}", f"{fx}/stack_{method}"
    oa_season, oa_stack = heldout_oa(f"{season}/accuracy_a.csv"), heldout_oa(f"{stack}/accuracy_a.csv")
    print(f"{method}: held-out overall accuracy of scene a: season {oa_season:.4f}, stack {oa_stack:.4f}")
    if not (0.55 <= oa_season <= 0.78):
        fail(f"{method} season: held-out OA {oa_season} is not near 2/3 (cropland and grassland look alike in a)")
    # every held-out pixel right but those of the clouded block (at most its 100 cells), which
    # a's own features cannot tell apart
    bound = 1.0 - 100.0 / overall(f"{stack}/accuracy_a.csv", "samples")
    if not oa_stack >= bound:
        fail(f"{method} stack: held-out OA {oa_stack} < {bound}")
    m = band(f"{stack}/landcover_a.tif")
    outside = ~block
    right = np.mean(m[outside] == truth[outside])
    print(f"{method}: stack map of a outside the clouded block: {right:.5f} of the pixels right")
    if not right >= 0.995:
        fail(f"{method} stack: map of a right on {right} of the pixels outside the block")
    inblock = np.unique(m[block])
    if not set(inblock.tolist()) <= {4, 6, 7}:
        fail(f"{method} stack: codes {inblock} in the block clouded in b (expected classes from a's own features)")
    mb = band(f"{stack}/landcover_b.tif")
    if not (mb[block] == 11).all():
        fail(f"{method} stack: b's own clouded block is not cloud (11) in b's map")
    if not np.mean(mb[outside] == truth[outside]) >= 0.995:
        fail(f"{method} stack: b's map wrong outside the block")
    conf = band(f"{stack}/confidence_a.tif")
    if not (np.isfinite(conf).all() and (conf > 0).all() and (conf <= 1).all()):
        fail(f"{method} stack: confidence of a not in (0, 1] everywhere")
# drone = yes: tree forest and shrubland alike in scene d, apart in the CHM over columns 0-59
truth_d = band(f"{fx}/truth_d.tif")
oa_no = heldout_oa(f"{fx}/drone_no/accuracy_d.csv")
for run in ("drone", "drone_gk"):
    m = band(f"{fx}/{run}/landcover_d.tif")
    cols = 60 if run == "drone" else 59  # the warped CHM's edge falls inside column 59 or 60
    right = np.mean(m[:, :cols] == truth_d[:, :cols])
    oa = heldout_oa(f"{fx}/{run}/accuracy_d.csv")
    print(f"{run}: map right on {right:.5f} of columns 0-{cols - 1}; held-out OA {oa:.4f} (own features {oa_no:.4f})")
    if not right >= 0.995:
        fail(f"{run}: map of d right on {right} of the cells the drone covers")
    if not set(np.unique(m).tolist()) <= {1, 3, 6}:
        fail(f"{run}: codes {np.unique(m)} in the map of d")
    if not oa >= oa_no + 0.1:
        fail(f"{run}: held-out OA {oa} is not above the own features' {oa_no} by 0.1")
print("stack checks passed")
