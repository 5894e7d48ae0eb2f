#!/usr/bin/python3
"""gen_job.py: write a county-size sinkmap job (rasters, parcels, job.ini) for bench/run/run.sh.

A Sentinel-2 tile's worth of synthetic L2A data (default 10980 x 10980 at 10 m, EPSG:32648):
three dates, each a 4-band 10 m UInt16 file (B2 B3 B4 B8), a 2-band 20 m file (B11 B12) and a
20 m SCL-like mask, tiled 512, ZSTD + predictor 2, BOA_ADD_OFFSET metadata like the demo's;
~100,000 parcels tiling the area (a jittered lattice, 8 vertices each) in EPSG:4544 as a
GeoPackage with the demo's inventory fields. Spectra are the demo's (tools/make-demo) per surface
type, on 640 m patches, with per-pixel noise: plausible, and fast to generate (about a minute
per scene). The spring scene has clouds (SCL 8/9) and the second autumn some clear-cuts.

Usage: gen_job.py [--out DIR] [--size N] [--parcels N] [--seed S]
"""
import argparse
import math
import os
import sys
import time

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()
gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")

RES = 10.0
X0 = 500000.0      # west edge, a multiple of 20 m (105.0 E)
Y1 = 3460000.0     # north edge (31.27 N)
PATCH = 64         # surface patches of 64 x 64 cells (640 m)

# surface types and the demo's L2A reflectance [B2 B3 B4 B8 B11 B12] (tools/make-demo)
TYPES = ["cypress", "pine", "broad", "bamboo", "shrub", "grass", "wetland", "water",
         "paddy", "drycrop", "urban", "soil", "cut"]
SPEC_AUTUMN = np.array([
    (0.020, 0.038, 0.024, 0.235, 0.118, 0.052),
    (0.022, 0.042, 0.026, 0.265, 0.135, 0.060),
    (0.026, 0.056, 0.036, 0.330, 0.165, 0.076),
    (0.030, 0.085, 0.048, 0.400, 0.200, 0.090),
    (0.030, 0.058, 0.048, 0.270, 0.198, 0.100),
    (0.038, 0.072, 0.068, 0.285, 0.255, 0.145),
    (0.040, 0.066, 0.060, 0.185, 0.125, 0.075),
    (0.048, 0.066, 0.050, 0.028, 0.012, 0.008),
    (0.050, 0.074, 0.082, 0.215, 0.215, 0.150),
    (0.058, 0.082, 0.092, 0.225, 0.240, 0.170),
    (0.095, 0.105, 0.112, 0.165, 0.205, 0.185),
    (0.070, 0.095, 0.125, 0.195, 0.290, 0.235),
    (0.068, 0.088, 0.112, 0.190, 0.285, 0.225),
], np.float32)
SPEC_SPRING = SPEC_AUTUMN.copy()
SPEC_SPRING[2] = (0.034, 0.064, 0.058, 0.255, 0.190, 0.102)
SPEC_SPRING[8] = (0.055, 0.072, 0.068, 0.085, 0.060, 0.042)
SPEC_SPRING[9] = (0.035, 0.068, 0.052, 0.320, 0.225, 0.120)
CLOUD = np.array((0.42, 0.41, 0.41, 0.44, 0.33, 0.22), np.float32)
SIGMA = np.array((0.0035, 0.0035, 0.0035, 0.0045, 0.0045, 0.0040), np.float32)
WEIGHTS = np.array([14, 14, 10, 4, 6, 5, 1, 3, 12, 16, 5, 3, 0], np.float64)
FOREST = {0: "柏木", 1: "马尾松", 2: "栎类", 3: None}
DILEI = ["030100", "030100", "030100", "030200", "030302", "040400", "110600", "110100",
         "010100", "010300", "201000", "120600", "030100"]
SCENES = [("2023a", "2023-10-22", SPEC_AUTUMN), ("2024s", "2024-04-15", SPEC_SPRING),
          ("2024a", "2024-10-20", SPEC_AUTUMN)]
OFFSET = 1000      # DN = reflectance * 10000 + 1000 (BOA_ADD_OFFSET = -1000)


def utm():
    s = osr.SpatialReference()
    s.ImportFromEPSG(32648)
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return s


def create(path, n, res, nbands, dtype, md, descs):
    opt = ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "COMPRESS=ZSTD", "ZSTD_LEVEL=1",
           "PREDICTOR=2", "NUM_THREADS=ALL_CPUS", "BIGTIFF=IF_SAFER"]
    ds = gdal.GetDriverByName("GTiff").Create(path, n, n, nbands, dtype, options=opt)
    ds.SetGeoTransform((X0, res, 0, Y1, 0, -res))
    ds.SetSpatialRef(utm())
    ds.SetMetadata(md)
    for i, d in enumerate(descs):
        b = ds.GetRasterBand(i + 1)
        b.SetDescription(d)
        b.SetNoDataValue(0)
    return ds


def patch_types(n, rng):
    """Surface type per 640 m patch; the 2024a scene gets 2 % of forest patches clear-cut."""
    npatch = n // PATCH + 2
    t = rng.choice(len(TYPES), size=(npatch, npatch), p=WEIGHTS / WEIGHTS.sum()).astype(np.uint8)
    cut = t.copy()
    forest = t <= 2
    cut[forest & (rng.random(t.shape) < 0.02)] = 12
    return t, cut


def clouds(n, rng):
    """Cloud discs (centre x, y, radius in 10 m cells) for the spring scene."""
    k = max(3, n // 1500)
    return [(rng.uniform(0, n), rng.uniform(0, n), rng.uniform(80, 400)) for _ in range(k)]


def cloud_rows(discs, y, ny, nx, scale):
    m = np.zeros((ny, nx), bool)
    yy = (np.arange(y, y + ny, dtype=np.float32)[:, None] + 0.5) * scale
    xx = (np.arange(nx, dtype=np.float32)[None, :] + 0.5) * scale
    for cx, cy, r in discs:
        if cy + r < y * scale or cy - r > (y + ny) * scale:
            continue
        m |= (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
    return m


def write_scene(out, sid, date, spec, types, n, discs, rng):
    md = {"BOA_ADD_OFFSET": "-1000", "BOA_QUANTIFICATION_VALUE": "10000",
          "ACQUISITION_DATE": date, "PROCESSING_LEVEL": "Level-2A",
          "SOURCE": "synthetic benchmark scene written by bench/run/gen_job.py (not real imagery)"}
    d10 = create(os.path.join(out, "s2_%s_10m.tif" % sid), n, RES, 4, gdal.GDT_UInt16, md,
                 ["B2 blue", "B3 green", "B4 red", "B8 nir"])
    n20 = n // 2
    d20 = create(os.path.join(out, "s2_%s_20m.tif" % sid), n20, 2 * RES, 2, gdal.GDT_UInt16, md,
                 ["B11 swir1", "B12 swir2"])
    dscl = create(os.path.join(out, "s2_%s_scl.tif" % sid), n20, 2 * RES, 1, gdal.GDT_Byte, md,
                  ["SCL scene classification"])
    # a noise table reused with random shifts: per-pixel noise without drawing 10^9 normals
    noise = rng.standard_normal((4096 * 1024,), dtype=np.float32)

    def pixels(res_scale, y, ny, nx, bands):
        p = PATCH // res_scale
        ty = types[(np.arange(y, y + ny) // p)[:, None], (np.arange(nx) // p)[None, :]]
        cl = cloud_rows(discs, y, ny, nx, res_scale) if discs else None
        outb = []
        for b in bands:
            refl = spec[ty, b]
            k = ny * nx
            off = int(rng.integers(0, noise.size - k)) if k < noise.size else 0
            nz = noise[off:off + k] if k < noise.size else rng.standard_normal(k, dtype=np.float32)
            refl = refl + SIGMA[b] * nz.reshape(ny, nx)
            if cl is not None:
                refl = np.where(cl, CLOUD[b], refl)
            outb.append(np.clip(refl * 10000 + OFFSET, 1, 65535).astype(np.uint16))
        return ty, cl, outb

    step = 512
    for y in range(0, n, step):
        ny = min(step, n - y)
        _, _, bands = pixels(1, y, ny, n, range(4))
        for i, a in enumerate(bands):
            d10.GetRasterBand(i + 1).WriteArray(a, 0, y)
    for y in range(0, n20, step):
        ny = min(step, n20 - y)
        ty, cl, bands = pixels(2, y, ny, n20, (4, 5))
        for i, a in enumerate(bands):
            d20.GetRasterBand(i + 1).WriteArray(a, 0, y)
        scl = np.where(ty <= 5, 4, 5).astype(np.uint8)
        scl[ty == 7] = 6
        if cl is not None:
            scl[cl] = 9
        dscl.GetRasterBand(1).WriteArray(scl, 0, y)
    d10 = d20 = dscl = None


def write_parcels(path, n, nparcels, types, rng):
    """A jittered lattice of ~nparcels quadrilaterals with jittered edge midpoints (8 vertices),
    tiling the raster's extent, written in EPSG:4544."""
    side = n * RES / math.sqrt(nparcels)
    k = int(round(n * RES / side))
    side = n * RES / k
    j = 0.2 * side
    vx = X0 + np.arange(k + 1)[None, :] * side + rng.uniform(-j, j, (k + 1, k + 1))
    vy = Y1 - np.arange(k + 1)[:, None] * side + rng.uniform(-j, j, (k + 1, k + 1))
    # the outer ring of vertices stays on the extent (a few parcels then lie partly outside)
    hx = (vx[:, :-1] + vx[:, 1:]) / 2 + rng.uniform(-j / 2, j / 2, (k + 1, k))
    hy = (vy[:, :-1] + vy[:, 1:]) / 2 + rng.uniform(-j / 2, j / 2, (k + 1, k))
    wx = (vx[:-1, :] + vx[1:, :]) / 2 + rng.uniform(-j / 2, j / 2, (k, k + 1))
    wy = (vy[:-1, :] + vy[1:, :]) / 2 + rng.uniform(-j / 2, j / 2, (k, k + 1))
    dst = osr.SpatialReference()
    dst.ImportFromEPSG(4544)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(utm(), dst)

    def tr(x, y):
        p = np.array(ct.TransformPoints(np.column_stack([x.ravel(), y.ravel()]).tolist()))
        return p[:, 0].reshape(x.shape), p[:, 1].reshape(x.shape)

    vx, vy = tr(vx, vy)
    hx, hy = tr(hx, hy)
    wx, wy = tr(wx, wy)
    drv = ogr.GetDriverByName("GPKG")
    if os.path.exists(path):
        drv.DeleteDataSource(path)
    ds = drv.CreateDataSource(path)
    lyr = ds.CreateLayer("xiaoban", dst, ogr.wkbPolygon, ["SPATIAL_INDEX=YES"])
    for name, typ, w in [("XIAN", ogr.OFTString, 16), ("XIANG", ogr.OFTString, 20),
                         ("CUN", ogr.OFTString, 20), ("LIN_BAN", ogr.OFTString, 6),
                         ("XIAO_BAN", ogr.OFTString, 6), ("DI_LEI", ogr.OFTString, 6),
                         ("YOU_SHI_SZ", ogr.OFTString, 16), ("QI_YUAN", ogr.OFTString, 2),
                         ("PINGJUN_NL", ogr.OFTInteger, 4), ("LING_ZU", ogr.OFTString, 1),
                         ("HUO_LMGQXJ", ogr.OFTReal, 7), ("MIAN_JI", ogr.OFTReal, 10),
                         ("DIAOCHA_ND", ogr.OFTInteger, 4)]:
        fd = ogr.FieldDefn(name, typ)
        fd.SetWidth(w)
        lyr.CreateField(fd)
    defn = lyr.GetLayerDefn()
    species = ["柏木", "马尾松", "杉木", "桤木", "栎类", "柳杉", "湿地松", "其他软阔", "针阔混交林"]
    counties = ["顺庆区", "高坪区", "嘉陵区", "南部县", "西充县", "蓬安县", "营山县", "仪陇县"]
    ds.StartTransaction()
    for r in range(k):
        for c in range(k):
            ring = ogr.Geometry(ogr.wkbLinearRing)
            for x, y in ((vx[r, c], vy[r, c]), (hx[r, c], hy[r, c]), (vx[r, c + 1], vy[r, c + 1]),
                         (wx[r, c + 1], wy[r, c + 1]), (vx[r + 1, c + 1], vy[r + 1, c + 1]),
                         (hx[r + 1, c], hy[r + 1, c]), (vx[r + 1, c], vy[r + 1, c]),
                         (wx[r, c], wy[r, c]), (vx[r, c], vy[r, c])):
                ring.AddPoint_2D(float(x), float(y))
            poly = ogr.Geometry(ogr.wkbPolygon)
            poly.AddGeometryDirectly(ring)
            f = ogr.Feature(defn)
            f.SetGeometryDirectly(poly)
            # the surface type under the parcel's centre decides its inventory record
            py = int((r + 0.5) * side / RES) // PATCH
            px = int((c + 0.5) * side / RES) // PATCH
            t = int(types[py, px])
            f["XIAN"] = counties[(r * len(counties)) // k]
            f["XIANG"] = "乡镇%02d" % ((c * 12) // k + 1)
            f["CUN"] = "村%03d" % ((r * 40) // k * 40 + (c * 40) // k + 1)
            f["LIN_BAN"] = "%03d" % ((r // 10) * 100 % 1000 + c // 10 % 100)
            f["XIAO_BAN"] = str((r % 10) * 10 + c % 10 + 1)
            f["DI_LEI"] = DILEI[t]
            if t <= 3:
                age = int(rng.integers(5, 60))
                f["YOU_SHI_SZ"] = "竹" if t == 3 else species[int(rng.integers(0, len(species)))]
                f["QI_YUAN"] = "11" if rng.random() < 0.4 else "21"
                f["PINGJUN_NL"] = age
                f["LING_ZU"] = str(min(5, 1 + age // 12))
                f["HUO_LMGQXJ"] = 0.0 if t == 3 else round(float(rng.uniform(30, 180)), 1)
            f["MIAN_JI"] = round(side * side / 10000.0, 2)
            f["DIAOCHA_ND"] = 2021
            lyr.CreateFeature(f)
    ds.CommitTransaction()
    ds = None
    return k * k


JOB = """; sinkmap job: the county-size benchmark written by bench/run/gen_job.py (synthetic data)
[job]
name = bench-run-{n}
output = out

[parcels]
path = xiaoban.gpkg
field.county = XIAN
field.township = XIANG
field.village = CUN
field.compartment = LIN_BAN
field.subcompartment = XIAO_BAN
field.land_class = DI_LEI
field.species = YOU_SHI_SZ
field.origin = QI_YUAN
field.age = PINGJUN_NL
field.age_group = LING_ZU
field.volume = HUO_LMGQXJ
field.area = MIAN_JI
field.survey_year = DIAOCHA_ND
{scenes}
[classifier]
method = rules

[carbon]
sink_from = 2023a
sink_to = 2024a
loss_threshold = 0.1

[ledger]
path = {ledger}
"""

SCENE = """
[scene.{sid}]
date = {date}
raster.10m = s2_{sid}_10m.tif
roles.10m = blue,green,red,nir
raster.20m = s2_{sid}_20m.tif
roles.20m = swir1,swir2
mask = s2_{sid}_scl.tif
mask_values = 0,3,8,9,10
scale = auto
offset = auto
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/sinkmap-bench-run/1x")
    ap.add_argument("--size", type=int, default=10980, help="cells per side at 10 m (even)")
    ap.add_argument("--parcels", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--ledger", default="none", help="[ledger] path of the job (default none)")
    a = ap.parse_args()
    if a.size % 2:
        sys.exit("gen_job.py: --size must be even (the 20 m grid nests in the 10 m grid)")
    out = os.path.abspath(a.out)
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    if out == repo or out.startswith(repo + os.sep):
        sys.exit("gen_job.py: refusing to write into the repository (%s)" % out)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    types, cut = patch_types(a.size, rng)
    np_ = write_parcels(os.path.join(out, "xiaoban.gpkg"), a.size, a.parcels, types, rng)
    print("gen_job: %d parcels (%.0f s)" % (np_, time.time() - t0), file=sys.stderr)
    for sid, date, spec in SCENES:
        discs = clouds(a.size, rng) if sid == "2024s" else None
        write_scene(out, sid, date, spec, cut if sid == "2024a" else types, a.size, discs, rng)
        print("gen_job: scene %s (%.0f s)" % (sid, time.time() - t0), file=sys.stderr)
    with open(os.path.join(out, "job.ini"), "w", encoding="utf-8") as f:
        f.write(JOB.format(n=a.size, ledger=a.ledger,
                           scenes="".join(SCENE.format(sid=s, date=d) for s, d, _ in SCENES)))
    print("gen_job: wrote %s/job.ini" % out, file=sys.stderr)


if __name__ == "__main__":
    main()
