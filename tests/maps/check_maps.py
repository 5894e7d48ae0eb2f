"""check_maps.py: the PNG maps of a sinkmap run against independent oracles (GDAL, OGR, numpy).

Usage: check_maps.py OUTDIR. Exits 1 with every failure listed.
- Every map is 1400 x 1100 RGB with a world file; the page layout (README): the map frame is
  x 30..990, y 100..1060, the legend panel x >= 1020.
- Land cover: every page pixel of the frame over the raster, mapped through the world file to
  ground coordinates and from there to a cell of landcover_<s>.tif, has that cell's colour from
  the GeoTIFF's own colour table (white where nodata), except under the scale bar and north
  arrow: at least 96 % of the frame. The legend panel shows exactly the colours of the classes
  present in the GeoTIFF.
- Carbon density and sink: for each parcel, a point inside it (OGR PointOnSurface) falls on a
  page pixel with the colour of its class, the class worked out here from parcels.gpkg
  ((c_<s> + cp_<s>) / area_ha, sink_co2 / area_ha) and the README's breaks and colours.
- fontconfig resolves "Noto Sans CJK SC" to a CJK font (fc-match), so labels are not tofu.
"""
import glob
import os
import subprocess
import sys

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()
out = sys.argv[1]
fail = []
W, H, FX0, FY0, FX1, FY1, LX = 1400, 1100, 30, 100, 990, 1060, 1020

fam = subprocess.run(["fc-match", "-f", "%{family}", "Noto Sans CJK SC"], capture_output=True, text=True).stdout
if "Noto Sans CJK" not in fam:
    fail.append("fc-match resolves Noto Sans CJK SC to %r" % fam)


def open_png(name):
    p = os.path.join(out, "maps", name)
    ds = gdal.Open(p)
    if (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) != (W, H, 3):
        fail.append("%s: %dx%d, %d bands" % (name, ds.RasterXSize, ds.RasterYSize, ds.RasterCount))
    a = ds.ReadAsArray().astype(np.int64)
    return ds.GetGeoTransform(), (a[0] << 16) | (a[1] << 8) | a[2]


def hexrgb(r, g, b):
    return (r << 16) | (g << 8) | b


shares = []
scenes = sorted(p[len(out) + 11:-4] for p in glob.glob(os.path.join(out, "landcover_*.tif")))
for s in scenes:
    tif = gdal.Open(os.path.join(out, "landcover_%s.tif" % s))
    band = tif.GetRasterBand(1)
    cls = band.ReadAsArray()
    tgt = tif.GetGeoTransform()
    ct = band.GetColorTable()
    lut = np.full(256, 0xFFFFFF, dtype=np.int64)
    for c in range(1, min(256, ct.GetCount())):
        e = ct.GetColorEntry(c)
        lut[c] = hexrgb(e[0], e[1], e[2])
    pgt, img = open_png("landcover_%s.png" % s)
    rows, cols = np.mgrid[FY0:FY1, FX0:FX1]
    gx = pgt[0] + (cols + 0.5) * pgt[1]
    gy = pgt[3] + (rows + 0.5) * pgt[5]
    ti = np.floor((gx - tgt[0]) / tgt[1]).astype(int)
    tj = np.floor((gy - tgt[3]) / tgt[5]).astype(int)
    inside = (ti >= 0) & (ti < cls.shape[1]) & (tj >= 0) & (tj < cls.shape[0])
    want = lut[cls[tj[inside], ti[inside]]]
    got = img[FY0:FY1, FX0:FX1][inside]
    share = float(np.mean(want == got))
    shares.append(share)
    if share < 0.96:
        fail.append("landcover_%s.png: %.3f of the frame has the GeoTIFF's colour" % (s, share))
    present = {hexrgb(*ct.GetColorEntry(int(c))[:3]) for c in np.unique(cls) if c != 0}
    panel = img[FY0:FY1, LX:W - 20]
    palette = {hexrgb(*ct.GetColorEntry(c)[:3]) for c in range(1, ct.GetCount())}
    vals, counts = np.unique(panel, return_counts=True)
    shown = {int(v) for v, n in zip(vals, counts) if int(v) in palette and n >= 300}
    if shown != present:
        fail.append("landcover_%s.png legend colours %s, classes present %s" %
                    (s, sorted(map(hex, shown)), sorted(map(hex, present))))

# ---- parcels: carbon density and sink by class ----
SINK = ([-1e6, -1, 0, 2, 5, 10, 1e6], [(215, 48, 39), (252, 141, 89), (254, 224, 139), (217, 239, 139),
                                        (145, 207, 96), (26, 152, 80)])
CARBON = ([0, 5, 10, 20, 40, 60, 100, 1e6], [(255, 255, 204), (217, 240, 163), (173, 221, 142), (120, 198, 121),
                                              (65, 171, 93), (35, 132, 67), (0, 90, 50)])
NA = (220, 220, 220)  # no value: #dcdcdc


def klass(style, v):
    br, col = style
    if v is None:
        return NA
    for k in range(len(col)):
        if br[k] <= v <= br[k + 1]:
            return col[k]
    return NA


def check_parcels(png, style, value):
    if not os.path.exists(os.path.join(out, "maps", png)):
        fail.append("no maps/%s" % png)
        return
    pgt, img = open_png(png)
    ds = ogr.Open(os.path.join(out, "parcels.gpkg"))
    lay = [ds.GetLayer(i) for i in range(ds.GetLayerCount()) if ds.GetLayer(i).GetGeomType() != ogr.wkbNone][0]
    dst = osr.SpatialReference()
    dst.ImportFromWkt(gdal.Open(os.path.join(out, "maps", png)).GetProjection())  # from the .png.aux.xml
    src = lay.GetSpatialRef()
    for r in (src, dst):
        r.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    tr = osr.CoordinateTransformation(src, dst)
    n = ok = 0
    for f in lay:
        g = f.GetGeometryRef()
        if g is None or g.GetArea() < 20000:  # under 2 ha: too few pixels to sample safely
            continue
        g = g.Clone()
        g.Transform(tr)
        p = g.PointOnSurface()
        col = int((p.GetX() - pgt[0]) / pgt[1])
        row = int((p.GetY() - pgt[3]) / pgt[5])
        if not (FX0 + 2 <= col < FX1 - 2 and FY0 + 2 <= row < FY1 - 2):
            continue
        want = hexrgb(*klass(style, value(f)))
        n += 1
        ok += int(img[row, col]) == want
    if n < 100 or ok < 0.95 * n:
        fail.append("%s: %d of %d parcels have their class colour" % (png, ok, n))
    return n


def num(f, name):
    i = f.GetFieldIndex(name)
    return None if i < 0 or not f.IsFieldSetAndNotNull(i) else f.GetFieldAsDouble(i)


def carbon(f, s):
    a, c, cp = num(f, "area_ha"), num(f, "c_" + s), num(f, "cp_" + s)
    if not a or (c is None and cp is None):
        return None
    return ((c or 0) + (cp or 0)) / a


def sink(f):
    a, s = num(f, "area_ha"), num(f, "sink_co2")
    return None if not a or s is None else s / a


cpng = glob.glob(os.path.join(out, "maps", "carbon_*.png"))
spng = glob.glob(os.path.join(out, "maps", "sink_*.png"))
if len(cpng) != 1 or len(spng) != 1:
    fail.append("expected one carbon and one sink map, got %d and %d" % (len(cpng), len(spng)))
else:
    end = os.path.basename(cpng[0])[7:-4]
    nc = check_parcels(os.path.basename(cpng[0]), CARBON, lambda f: carbon(f, end))
    ns = check_parcels(os.path.basename(spng[0]), SINK, sink)
if not os.path.exists(os.path.join(out, "maps", "changes.png")):
    fail.append("no maps/changes.png")

if fail:
    print("FAIL: " + "; ".join(fail))
    sys.exit(1)
print("maps: %d land-cover maps match their GeoTIFFs (%s of the frame); carbon %d and sink %d parcels in their "
      "classes; 1 passed" % (len(scenes), ", ".join("%.4f" % x for x in shares), nc, ns))
