#!/usr/bin/python3
"""check_demo.py OUT SRC: checks a sinkmap run of the demo (with the volume model, the protected
areas and the management records) against figures recomputed here, independently of sinkmap:
group intervals by the IPCC combination rules, gain-loss from the Richards curve and the factor
tables, the volume regression by normal equations, and the indicators by OGR/GEOS overlays."""
import csv
import math
import sys

from osgeo import ogr, osr

ogr.UseExceptions()
out, src = sys.argv[1], sys.argv[2]
fails = []


def check(ok, what):
    if not ok:
        fails.append(what)


def close(a, b, rel=1e-9, absol=1e-9):
    return abs(a - b) <= max(absol, rel * max(abs(a), abs(b)))


def read(path):
    with open(path, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def num(v):
    return float(v) if v not in ("", None) else None


parcels = read(out + "/parcels.csv")
summary = read(out + "/summary.csv")
groups = {r["group"]: r for r in read(src + "/data/species_groups.csv")}
vm = {r["scene"]: r for r in read(out + "/volume_model.csv")}

# ---- group intervals (Approach 1 by hand; single-parcel groups equal the parcel's) ----------
def u_factor(g):
    r = float(g["r"])
    return math.sqrt(float(g["svd_u95_pct"]) ** 2 + float(g["bef_u95_pct"]) ** 2 +
                     (float(g["r_u95_pct"]) * r / (1 + r)) ** 2 + float(g["cf_u95_pct"]) ** 2)


cv_rmse_to = float(vm["2024a"]["cv_rmse_m3_ha"])
stands = [p for p in parcels if p["sink_a1lo"] != ""]
check(len(stands) > 300, "stands with intervals: %d" % len(stands))


def key(p, grouping):
    if grouping == "township":
        return p["county"] + "/" + p["township"]
    if grouping == "village":
        return p["county"] + "/" + p["township"] + "/" + p["village"]
    if grouping == "species_group":
        return p["sp_group"]
    return "all"


checked_single = checked_sum = 0
for grouping in ("total", "township", "village", "species_group"):
    members = {}
    for p in stands:
        members.setdefault(key(p, grouping), []).append(p)
    rows = {r["key"]: r for r in summary if r["group"] == grouping}
    for k, ps in members.items():
        row = rows.get(k)
        check(row is not None, "summary has no %s %s" % (grouping, k))
        if row is None:
            continue
        if len(ps) == 1:
            for f in ("a1lo", "a1hi", "mclo", "mchi"):
                check(close(float(row["sink_tco2e_" + f]), float(ps[0]["sink_" + f]), 1e-9),
                      "%s %s sink_%s: %s vs parcel %s" % (grouping, k, f, row["sink_tco2e_" + f],
                                                          ps[0]["sink_" + f]))
            checked_single += 1
        # H^2 = sum_g (U_g/100 * S_g)^2 + sum_i (U_v,i/100 * s_i)^2, U_v = 196 RMSE_cv / V2 %
        by_g, h2, total = {}, 0.0, 0.0
        for p in ps:
            s = float(p["sink_co2"])
            total += s
            by_g[p["sp_group"]] = by_g.get(p["sp_group"], 0.0) + s
            if "vol_model" in p["flags"]:
                uv = 196.0 * cv_rmse_to / float(p["vol_2024a"]) if float(p["vol_2024a"]) > 0 else 0.0
                h2 += (uv / 100.0 * s) ** 2
        for g, sg in by_g.items():
            h2 += (u_factor(groups[g]) / 100.0 * sg) ** 2
        h = math.sqrt(h2)
        check(close(float(row["sink_tco2e_per_yr"]), total, 1e-9, 1e-6), "%s %s sink sum" % (grouping, k))
        check(close(float(row["sink_tco2e_a1lo"]), total - h, 1e-8, 1e-6) and
              close(float(row["sink_tco2e_a1hi"]), total + h, 1e-8, 1e-6),
              "%s %s A1 [%s, %s], by hand [%.6f, %.6f]" % (grouping, k, row["sink_tco2e_a1lo"],
                                                          row["sink_tco2e_a1hi"], total - h, total + h))
        lo, hi = float(row["sink_tco2e_mclo"]), float(row["sink_tco2e_mchi"])
        check(lo < total < hi or len(ps) == 0, "%s %s MC interval [%g, %g] misses %g" % (grouping, k, lo, hi, total))
        checked_sum += 1
check(checked_single >= 2, "only %d single-parcel groups checked" % checked_single)
check(checked_sum >= 20, "only %d groups checked" % checked_sum)

# ---- gain-loss of stands without loss, from the tables and the inventory --------------------
curves = {(r["group"], r["origin"]): r for r in read(src + "/data/growth_richards.csv")}
ds = ogr.Open(src + "/examples/nanchong-demo/xiaoban.shp")
lyr = ds.GetLayer()
inv = {f.GetFID(): f for f in lyr}


def richards(c, t):
    a, b, k, m = (float(c[x]) for x in ("a_m3_ha", "b", "k_per_yr", "m"))
    return a * (1 - b * math.exp(-k * t)) ** (1 / (1 - m))


t1 = 2023 + (295 - 0.5) / 365  # 2023-10-22 is day 295
ngl = 0
for p in parcels:
    if p["gl_tc"] == "":
        continue
    check(close(float(p["gl_tc"]), float(p["gl_gain"]) - float(p["gl_loss"]), 1e-12, 1e-9), "gl_tc of fid " + p["fid"])
    check(close(float(p["gl_co2"]), float(p["gl_tc"]) * 44 / 12, 1e-12, 1e-9), "gl_co2 of fid " + p["fid"])
    if "loss_" in p["flags"]:
        continue
    f = inv[int(p["fid"])]
    g = groups[p["sp_group"]]
    origin = "natural" if f["QI_YUAN"][0] == "1" else "planted"
    c = curves[(p["sp_group"], origin)]
    age0 = float(f["PINGJUN_NL"])
    a1 = age0 + t1 - (f["DIAOCHA_ND"] + 0.5)
    inc = float(f["HUO_LMGQXJ"]) / richards(c, age0) * (richards(c, a1 + 1) - richards(c, a1))
    fac = float(g["svd_t_m3"]) * float(g["bef"]) * (1 + float(g["r"])) * float(g["cf"])
    want = float(p["area_ha"]) * inc * fac
    check(close(float(p["gl_gain"]), want, 1e-9) and float(p["gl_loss"]) == 0,
          "gain of fid %s: %s, by hand %.9f" % (p["fid"], p["gl_gain"], want))
    ngl += 1
check(ngl >= 250, "gain-loss checked on %d stands" % ngl)
tot = [r for r in summary if r["group"] == "total"][0]
check(close(float(tot["gl_tc_per_yr"]), sum(float(p["gl_tc"] or 0) for p in parcels), 1e-9), "summary gl total")

# ---- the volume regression of 2024a by normal equations -------------------------------------
rows = [p for p in parcels if p["sp_group"] and "vol_model" not in p["flags"] and p["vol_2024a"] != ""
        and float(p["obs_2024a"]) >= 0.5 and p["ff_2024a"] != "" and p["nbr_2024a"] != ""]
X = [[1.0, float(p["ff_2024a"]), float(p["nbr_2024a"])] for p in rows]
y = [float(p["vol_2024a"]) for p in rows]
A = [[sum(x[i] * x[j] for x in X) for j in range(3)] + [sum(x[i] * v for x, v in zip(X, y))] for i in range(3)]
for i in range(3):  # Gauss-Jordan with partial pivoting
    piv = max(range(i, 3), key=lambda r: abs(A[r][i]))
    A[i], A[piv] = A[piv], A[i]
    for r in range(3):
        if r != i:
            fct = A[r][i] / A[i][i]
            A[r] = [a - fct * b for a, b in zip(A[r], A[i])]
beta = [A[i][3] / A[i][i] for i in range(3)]
m = vm["2024a"]
check(int(m["calibration_parcels"]) == len(rows), "calibration parcels %s vs %d" % (m["calibration_parcels"], len(rows)))
for name, b in zip(("intercept", "coef_ff", "coef_nbr"), beta):
    check(close(float(m[name]), b, 1e-7, 1e-7), "volume model %s: %s vs %.9g" % (name, m[name], b))
ybar = sum(y) / len(y)
sse = sum((v - sum(bb * xx for bb, xx in zip(beta, x))) ** 2 for x, v in zip(X, y))
sst = sum((v - ybar) ** 2 for v in y)
check(close(float(m["r2"]), 1 - sse / sst, 1e-7, 1e-9), "volume model R2 %s vs %.9g" % (m["r2"], 1 - sse / sst))
applied = [p for p in parcels if "vol_model" in p["flags"] and p["vol_2024a"] != ""]
check(int(m["applied_parcels"]) == len(applied) and len(applied) > 0, "applied parcels")
for p in applied:
    want = max(0.0, beta[0] + beta[1] * float(p["ff_2024a"]) + beta[2] * float(p["nbr_2024a"]))
    check(close(float(p["vol_2024a"]), want, 1e-7, 1e-7), "model volume of fid " + p["fid"])

# ---- indicators: exact overlays with OGR/GEOS, in the parcels' CRS ----------------------------
gk = osr.SpatialReference()
gk.ImportFromEPSG(4544)
gk.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)


def layer_geoms(path, where=None):
    d = ogr.Open(path)
    lyr = d.GetLayer()
    s = lyr.GetSpatialRef()
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    tr = osr.CoordinateTransformation(s, gk)
    out = []
    for f in lyr:
        if where and not where(f):
            continue
        g = f.GetGeometryRef().Clone()
        g.Transform(tr)
        out.append(g.MakeValid())
    return out


def union(gs):
    u = ogr.Geometry(ogr.wkbMultiPolygon)
    for g in gs:
        u = u.Union(g)
    return u


prot = union(layer_geoms(src + "/examples/nanchong-demo/protected.geojson"))
wet = wet_in = 0.0
for fid, f in inv.items():
    dl = f["DI_LEI"] or ""
    if dl.startswith("00") or dl.startswith("11"):
        g = f.GetGeometryRef().MakeValid()
        wet += g.GetArea()
        wet_in += g.Intersection(prot).GetArea()
ind = {r["indicator"]: r for r in read(out + "/indicators.csv")}
check(wet_in > 0 and wet_in < wet, "the demo's protected area covers part of the wetland")
check(close(float(ind["wetland_protection_rate"]["value"]), 100 * wet_in / wet, 1e-7),
      "wetland protection rate %s vs %.9f" % (ind["wetland_protection_rate"]["value"], 100 * wet_in / wet))
mg = union(layer_geoms(src + "/examples/nanchong-demo/management.geojson", lambda f: 2023 <= int(f["year"]) <= 2024))
check(close(float(ind["forest_management"]["value"]), mg.GetArea() / 10000 * 15, 1e-7),
      "forest management %s mu vs %.9f" % (ind["forest_management"]["value"], mg.GetArea() / 10000 * 15))
aff = 0.0
for p in parcels:
    f = inv[int(p["fid"])]
    recorded = (f["DI_LEI"] or "").startswith("030402") and 2023 <= f["DIAOCHA_ND"] <= 2024
    o0, o1, f0, f1 = (num(p[k]) for k in ("obs_2023a", "obs_2024a", "ff_2023a", "ff_2024a"))
    seen = None not in (o0, o1, f0, f1) and o0 >= 0.5 and o1 >= 0.5 and f0 < 0.5 and f1 >= 0.5
    if recorded or seen:
        aff += float(p["area_mu"])
check(close(float(ind["afforestation"]["value"]), aff, 1e-9), "afforestation %s vs %.9f" % (ind["afforestation"]["value"], aff))

for f in fails[:20]:
    print("FAIL: " + f)
if fails:
    print("%d failures" % len(fails))
    sys.exit(1)
print("check_demo: intervals of %d groups (%d single-parcel), gain of %d stands, %d model volumes, "
      "indicators: all match" % (checked_sum, checked_single, ngl, len(applied)))
