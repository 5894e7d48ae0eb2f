#!/usr/bin/python3
"""gen_scene.py: a county-size benchmark scene for `sinkmap zonal` and its peers.

Writes, under a scratch folder (default /tmp/sinkmap-bench, or $SINKMAP_BENCH_DIR, or --out):
  scene.tif           10980 x 10980 Float32 at 10 m in EPSG:32648 (one Sentinel-2 tile), tiled
                      512 x 512, DEFLATE + floating-point predictor, nodata -9999 in a few blobs;
                      values are a smooth "biomass-like" field plus noise, deterministic (--seed).
  parcels_<N>.gpkg    N polygons (layer `parcels`, fields `xbh` text id and `zone` integer) cut
                      from a jittered, variable-size grid tessellation with wiggly shared edges
                      (12 vertices per parcel), mean area min(5 ha, 0.9 x scene area / N): 1-15 ha
                      up to 100k parcels; at 1M parcels the scene is nearly tiled (mean ~1.1 ha).
                      The N parcels are a random subset of the tessellation, so they are spread
                      over the whole scene, and are written in row-major (map) order.

Needs Debian's python3 with numpy and python3-gdal (/usr/bin/python3), and ogr2ogr.
Nothing is written into the repository.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()

X0, Y0, RES = 399960.0, 3400020.0, 10.0  # a Sentinel-2 tile origin in UTM 48N


def log(msg):
    print(f"gen_scene: {msg}", file=sys.stderr, flush=True)


def write_raster(path, size, seed):
    rng = np.random.default_rng(seed)
    drv = gdal.GetDriverByName("GTiff")
    opts = ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "COMPRESS=DEFLATE", "PREDICTOR=3",
            "BIGTIFF=IF_SAFER"]
    ds = drv.Create(path + ".part.tif", size, size, 1, gdal.GDT_Float32, opts)
    ds.SetGeoTransform((X0, RES, 0.0, Y0, 0.0, -RES))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)
    ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    band.SetNoDataValue(-9999.0)
    # A smooth field: a few random plane waves; blobs of nodata (clouds) as discs.
    waves = [(rng.uniform(-1, 1, 2) * rng.uniform(2e-4, 3e-3), rng.uniform(0, 2 * np.pi),
              rng.uniform(5, 30)) for _ in range(8)]
    blobs = [(rng.uniform(0, size), rng.uniform(0, size), rng.uniform(30, 250)) for _ in range(40)]
    cols = np.arange(size, dtype=np.float64)
    step = 512
    for r0 in range(0, size, step):
        rows = np.arange(r0, min(size, r0 + step), dtype=np.float64)
        yy, xx = np.meshgrid(rows, cols, indexing="ij")
        v = np.full(xx.shape, 120.0)
        for (k, ph, amp) in waves:
            v += amp * np.sin(k[0] * xx + k[1] * yy + ph)
        v += rng.normal(0.0, 6.0, xx.shape)
        v = np.round(v, 2)
        for (bx, by, br) in blobs:
            if by + br < rows[0] or by - br > rows[-1]:
                continue
            v[(xx - bx) ** 2 + (yy - by) ** 2 < br * br] = -9999.0
        band.WriteArray(v.astype(np.float32), 0, r0)
    band = None
    ds = None
    os.replace(path + ".part.tif", path)


def tessellation(size_m, mean_area, seed):
    """Vertices of a jittered grid with variable widths: corners[nr+1, nc+1, 2]."""
    rng = np.random.default_rng(seed)
    s = np.sqrt(mean_area)
    margin = 20.0
    span = size_m - 2 * margin
    nc = max(1, int(span / s))
    nr = nc

    def cuts(n):
        w = rng.uniform(0.5, 1.5, n)
        c = np.concatenate([[0.0], np.cumsum(w)])
        return margin + c / c[-1] * span

    xs, ys = cuts(nc), cuts(nr)
    cx, cy = np.meshgrid(xs, ys)  # [nr+1, nc+1]
    # Jitter interior vertices by up to 0.12 of the narrowest neighbouring spacing.
    dxs, dys = np.diff(xs), np.diff(ys)
    minx = np.minimum(np.concatenate([[dxs[0]], dxs]), np.concatenate([dxs, [dxs[-1]]]))
    miny = np.minimum(np.concatenate([[dys[0]], dys]), np.concatenate([dys, [dys[-1]]]))
    jx = rng.uniform(-0.12, 0.12, cx.shape) * minx[None, :]
    jy = rng.uniform(-0.12, 0.12, cy.shape) * miny[:, None]
    jx[:, 0] = jx[:, -1] = 0.0
    jy[0, :] = jy[-1, :] = 0.0
    corners = np.stack([X0 + cx + jx, Y0 - (cy + jy)], axis=-1)
    # Wiggles: each edge gets two inner points at 1/3 and 2/3, offset across the edge by up
    # to 0.05 s (shared by the two parcels on either side).
    hw = rng.uniform(-0.05, 0.05, (nr + 1, nc, 2)) * s  # horizontal edges
    vw = rng.uniform(-0.05, 0.05, (nr, nc + 1, 2)) * s  # vertical edges
    return corners, hw, vw, nr, nc


def edge_points(a, b, offs):
    d = b - a
    n = np.stack([-d[..., 1], d[..., 0]], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    p1 = a + d / 3.0 + n * offs[..., 0:1]
    p2 = a + 2.0 * d / 3.0 + n * offs[..., 1:2]
    return p1, p2


def write_parcels(path, n, size, seed, tmpdir):
    size_m = size * RES
    mean_area = min(5e4, 0.9 * size_m * size_m / n)
    corners, hw, vw, nr, nc = tessellation(size_m, mean_area, seed)
    m = nr * nc
    if m < n:
        raise SystemExit(f"tessellation has {m} cells, fewer than {n}")
    rng = np.random.default_rng(seed + 1)
    pick = np.sort(rng.choice(m, n, replace=False))
    r, c = pick // nc, pick % nc
    ul, ur = corners[r, c], corners[r, c + 1]
    lr, ll = corners[r + 1, c + 1], corners[r + 1, c]
    t1, t2 = edge_points(ul, ur, hw[r, c])         # top, left to right
    rt1, rt2 = edge_points(ur, lr, vw[r, c + 1])   # right, top to bottom
    b1, b2 = edge_points(ll, lr, hw[r + 1, c])     # bottom, left to right (walked backwards)
    l1, l2 = edge_points(ul, ll, vw[r, c])         # left, top to bottom (walked backwards)
    ring = np.stack([ul, t1, t2, ur, rt1, rt2, lr, b2, b1, ll, l2, l1, ul], axis=1)  # [n, 13, 2]
    csv_path = os.path.join(tmpdir, f"parcels_{n}.csv")
    with open(csv_path, "w") as f:
        f.write("xbh,zone,wkt\n")
        for i in range(n):
            pts = ",".join(f"{x:.3f} {y:.3f}" for x, y in ring[i])
            f.write(f"XB{i + 1:07d},{int(r[i]) // 100 + 1},\"POLYGON(({pts}))\"\n")
    tmp = path + ".part.gpkg"
    if os.path.exists(tmp):
        os.remove(tmp)
    subprocess.run(["ogr2ogr", "-q", "-f", "GPKG", tmp, csv_path, "-nln", "parcels",
                    "-a_srs", "EPSG:32648", "-nlt", "POLYGON",
                    "-oo", "GEOM_POSSIBLE_NAMES=wkt", "-oo", "KEEP_GEOM_COLUMNS=NO",
                    "-oo", "AUTODETECT_TYPE=YES", "-gt", "65536"], check=True)
    os.remove(csv_path)
    os.replace(tmp, path)
    # Check validity (the peers do not repair geometries; sinkmap does).
    ds = ogr.Open(path)
    lyr = ds.GetLayer(0)
    sql = ds.ExecuteSQL("SELECT COUNT(*) FROM parcels WHERE ST_IsValid(geom) = 0", dialect="SQLITE")
    invalid = sql.GetNextFeature().GetField(0)
    ds.ReleaseResultSet(sql)
    areas = np.abs(0.5 * np.sum(ring[:, :-1, 0] * ring[:, 1:, 1] - ring[:, 1:, 0] * ring[:, :-1, 1],
                                axis=1)) / 1e4
    log(f"{path}: {lyr.GetFeatureCount()} parcels, area {areas.min():.2f}..{areas.max():.2f} ha "
        f"(mean {areas.mean():.2f}), {invalid} invalid")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.environ.get("SINKMAP_BENCH_DIR", "/tmp/sinkmap-bench"))
    ap.add_argument("--size", type=int, default=10980, help="raster width and height in cells")
    ap.add_argument("--counts", default="1000,10000,100000,1000000")
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--force", action="store_true", help="rewrite files that exist")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    repo = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
    if os.path.realpath(a.out).startswith(repo + os.sep):
        raise SystemExit("gen_scene: refusing to write benchmark data inside the repository")
    scene = os.path.join(a.out, "scene.tif")
    if a.force or not os.path.exists(scene):
        t = time.time()
        write_raster(scene, a.size, a.seed)
        log(f"{scene}: {a.size} x {a.size} Float32 in {time.time() - t:.0f} s")
    for n in (int(x) for x in a.counts.split(",") if x):
        p = os.path.join(a.out, f"parcels_{n}.gpkg")
        if a.force or not os.path.exists(p):
            t = time.time()
            write_parcels(p, n, a.size, a.seed + n, a.out)
            log(f"{p} in {time.time() - t:.0f} s")


if __name__ == "__main__":
    main()
