#!/usr/bin/python3
"""make_fixture.py DIR: a two-season scene where cropland and grassland look the same in spring
(scene a) and differ only in autumn (scene b), for the features = stack tests (e2e_stack.sh).

Grid: 120 x 120 cells of 10 m in EPSG:32648. Parcels: 6 x 6 squares of 20 x 20 cells, class
(row + 2 col) mod 3 -> cropland, grassland, water. Bands blue, green, red, nir as UInt16 DN
(reflectance x 10000) with Gaussian noise of 0.01. Masks of scene b (value 9 = cloud):
mask_block.tif clouds the 10 x 10 cells at the top left; mask_crop.tif clouds every cropland
cell. truth.tif holds the legend code of every cell (7 cropland, 4 grassland, 6 water).

For drone = yes: scene d (d_10m.tif) where tree forest and shrubland (CLS_D; same parcels,
tree_forest, shrub, water) share one spectral distribution, and chm.tif, a 1 m canopy-height
model over x in [X0, X0 + 604 m]: trees 8-15 m, shrubs 0.3-1.5 m, water 0. It covers columns
0-59 of the grid whole and 40 % of column 60 (less than half: no drone features there), so
7200 of the 14400 cells have drone features. truth_d.tif: 1 tree forest, 3 shrubland, 6 water."""
import sys

import numpy as np
from osgeo import gdal, ogr, osr

out = sys.argv[1]
N, P, RES, X0, Y0 = 120, 20, 10.0, 600000.0, 3400000.0
CLASSES = [("cropland", 7), ("grassland", 4), ("water", 6)]
srs = osr.SpatialReference()
srs.ImportFromEPSG(32648)

cls = np.zeros((N, N), dtype=np.int32)
for i in range(N // P):
    for j in range(N // P):
        cls[i * P:(i + 1) * P, j * P:(j + 1) * P] = (i + 2 * j) % 3
truth = np.choose(cls, [c[1] for c in CLASSES]).astype(np.uint8)

# mean reflectance (blue, green, red, nir) per class and scene
MEAN = {
    "a": [(0.04, 0.08, 0.06, 0.30), (0.04, 0.08, 0.06, 0.30), (0.06, 0.05, 0.03, 0.02)],
    "b": [(0.07, 0.10, 0.12, 0.12), (0.04, 0.08, 0.06, 0.30), (0.06, 0.05, 0.03, 0.02)],
}


def write(path, arrays, dtype):
    ds = gdal.GetDriverByName("GTiff").Create(path, N, N, len(arrays), dtype)
    ds.SetGeoTransform((X0, RES, 0, Y0, 0, -RES))
    ds.SetProjection(srs.ExportToWkt())
    for k, a in enumerate(arrays):
        ds.GetRasterBand(k + 1).WriteArray(a)
    ds = None


rng = np.random.RandomState(7)
for scene, means in MEAN.items():
    bands = []
    for b in range(4):
        mu = np.choose(cls, [m[b] for m in means])
        refl = mu + rng.normal(0.0, 0.01, (N, N))
        bands.append(np.clip(np.round(refl * 10000), 1, 10000).astype(np.uint16))
    write(f"{out}/{scene}_10m.tif", bands, gdal.GDT_UInt16)
block = np.zeros((N, N), dtype=np.uint8)
block[:10, :10] = 9
write(f"{out}/mask_block.tif", [block], gdal.GDT_Byte)
write(f"{out}/mask_crop.tif", [np.where(cls == 0, 9, 0).astype(np.uint8)], gdal.GDT_Byte)
write(f"{out}/truth.tif", [truth], gdal.GDT_Byte)

# drone = yes: tree forest and shrubland alike in the scene, apart in the CHM
DCLASSES = [("tree_forest", 1), ("shrub", 3), ("water", 6)]
write(f"{out}/truth_d.tif", [np.choose(cls, [c[1] for c in DCLASSES]).astype(np.uint8)], gdal.GDT_Byte)
dmeans = [(0.03, 0.06, 0.04, 0.28), (0.03, 0.06, 0.04, 0.28), (0.06, 0.05, 0.03, 0.02)]
bands = []
for b in range(4):
    refl = np.choose(cls, [m[b] for m in dmeans]) + rng.normal(0.0, 0.01, (N, N))
    bands.append(np.clip(np.round(refl * 10000), 1, 10000).astype(np.uint16))
write(f"{out}/d_10m.tif", bands, gdal.GDT_UInt16)
CW, CH = 604, N * 10  # CHM columns and rows of 1 m
fine = np.repeat(np.repeat(cls, 10, axis=0), 10, axis=1)[:, :CW]
chm = np.where(fine == 0, rng.uniform(8.0, 15.0, fine.shape),
               np.where(fine == 1, rng.uniform(0.3, 1.5, fine.shape), 0.0)).astype(np.float32)
ds = gdal.GetDriverByName("GTiff").Create(f"{out}/chm.tif", CW, CH, 1, gdal.GDT_Float32, ["COMPRESS=DEFLATE"])
ds.SetGeoTransform((X0, 1.0, 0, Y0, 0, -1.0))
ds.SetProjection(srs.ExportToWkt())
ds.GetRasterBand(1).SetNoDataValue(-9999)
ds.GetRasterBand(1).WriteArray(chm)
ds = None
# the same CHM in CGCS2000 / 3-degree Gauss-Kruger CM 105E (read through the warper), and moved
# 100 km east (outside the grid)
gdal.Warp(f"{out}/chm_gk.tif", f"{out}/chm.tif", dstSRS="EPSG:4544", resampleAlg="near", xRes=1.0, yRes=1.0)
far = gdal.Translate(f"{out}/chm_far.tif", f"{out}/chm.tif")
far.SetGeoTransform((X0 + 100000.0, 1.0, 0, Y0, 0, -1.0))
far = None

drv = ogr.GetDriverByName("GPKG")
ds = drv.CreateDataSource(f"{out}/parcels.gpkg")
lyr = ds.CreateLayer("parcels", srs, ogr.wkbPolygon)
lyr.CreateField(ogr.FieldDefn("ID", ogr.OFTString))
lyr.CreateField(ogr.FieldDefn("CLS", ogr.OFTString))
lyr.CreateField(ogr.FieldDefn("CLS_D", ogr.OFTString))
for i in range(N // P):
    for j in range(N // P):
        x0, y1 = X0 + j * P * RES, Y0 - i * P * RES
        x1, y0 = x0 + P * RES, y1 - P * RES
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)):
            ring.AddPoint_2D(x, y)
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField("ID", f"{i}-{j}")
        f.SetField("CLS", CLASSES[(i + 2 * j) % 3][0])
        f.SetField("CLS_D", DCLASSES[(i + 2 * j) % 3][0])
        f.SetGeometry(poly)
        lyr.CreateFeature(f)
ds = None
