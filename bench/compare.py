#!/usr/bin/python3
"""compare.py: sinkmap's cell-centre statistics against QGIS's and GRASS's, parcel by parcel.

Usage: compare.py SINKMAP_CENTER.csv QGIS.gpkg GRASS.csv   (a missing peer file is skipped)
Prints one line: for each peer, how many parcels have the same cell count and the largest
difference of mean. All three rasterize by cell centres, so they should agree cell for cell
except where a centre lies exactly on a parcel edge.
"""
import csv
import math
import os
import sys

from osgeo import ogr


def load_sinkmap(path):
    out = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            mean = float(row["mean"]) if row["mean"] else math.nan
            out[int(row["fid"])] = (float(row["count"]), mean)
    return out


def load_qgis(path):
    out = {}
    ds = ogr.Open(path)
    for feat in ds.GetLayer(0):
        c = feat.GetField("z_count")
        m = feat.GetField("z_mean")
        out[feat.GetFID()] = (float(c or 0), float(m) if m is not None else math.nan)
    return out


def load_grass(path):
    out = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            out[int(row["zone"])] = (float(row["non_null_cells"]), float(row["mean"]))
    return out


def agreement(name, ref, other):
    same = 0
    worst = 0.0
    for fid, (count, mean) in ref.items():
        oc, om = other.get(fid, (0.0, math.nan))
        if oc == count:
            same += 1
        if count > 0 and oc > 0 and not math.isnan(mean) and not math.isnan(om):
            worst = max(worst, abs(mean - om))
    return f"{name}: same cell count for {same}/{len(ref)} parcels, largest |mean difference| {worst:.3g}"


def main():
    ref = load_sinkmap(sys.argv[1])
    parts = []
    if os.path.exists(sys.argv[2]):
        parts.append(agreement("QGIS", ref, load_qgis(sys.argv[2])))
    if os.path.exists(sys.argv[3]):
        parts.append(agreement("GRASS", ref, load_grass(sys.argv[3])))
    print("sinkmap --mode center vs " + "; ".join(parts))


if __name__ == "__main__":
    main()
