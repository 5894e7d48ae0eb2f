"""check_report.py: report.html renders offline in headless Chromium (Selenium + chromedriver).

Usage: check_report.py OUTDIR. Exits 1 with every failure listed.
Checks: no external reference in the HTML (every src= is a data: URI; no http(s)://, no
protocol-relative //, no <script>, <link>, url() or @import); the browser loads it with no
SEVERE console entry and no network request other than the file itself and data: URIs
(DevTools Network.requestWillBeSent); every <img> decodes (naturalWidth > 0), one per PNG in
maps/; the screenshot is not blank (many distinct colours); lang is zh-CN and the font stack
ends with Noto Sans CJK SC, sans-serif. Values: the indicator table has one row per row of
indicators.csv, the township chart one bar per township row of summary.csv, and one table per
accuracy*.csv.
"""
import csv
import glob
import json
import os
import re
import sys

import numpy as np
from osgeo import gdal
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

out = os.path.abspath(sys.argv[1])
page = os.path.join(out, "report.html")
fail = []
text = open(page, encoding="utf-8").read()

# ---- static: nothing that could fetch anything ----
for pat, what in [(r"https?://", "an http(s) URL"), (r"<script", "a <script>"), (r"<link", "a <link>"),
                  (r"url\(", "a CSS url()"), (r"@import", "an @import"), (r"""=\s*["']?//""", "a protocol-relative URL")]:
    if re.search(pat, text, re.I):
        fail.append("report.html holds %s" % what)
for m in re.finditer(r"""\b(src|href|srcset|poster|data)\s*=\s*["']?([^"'\s>]*)""", text, re.I):
    if not m.group(2).startswith("data:"):
        fail.append("%s=%r is not a data: URI" % (m.group(1), m.group(2)[:60]))
if '<html lang="zh-CN">' not in text:
    fail.append('no <html lang="zh-CN">')
if not re.search(r'font-family:[^;}]*"Noto Sans CJK SC",sans-serif', text):
    fail.append("the font stack does not end with Noto Sans CJK SC, sans-serif")

# ---- values against the CSV files ----
def rows(name):
    with open(os.path.join(out, name), encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))

ind = rows("indicators.csv")
m = re.search(r"<caption>indicators.csv</caption>(.*?)</table>", text, re.S)
if not m or m.group(1).count("<tr>") - 1 != len(ind):
    fail.append("indicator table: expected %d rows" % len(ind))
towns = [r for r in rows("summary.csv") if r["group"] == "township"]
m = re.search(r"Sink by township.*?</svg>", text, re.S)
if not m or m.group(0).count("<rect") != len(towns):
    fail.append("township chart: expected %d bars" % len(towns))
else:
    # each bar's label is the township key and its value the CSV's sink, as printed
    for t in towns:
        if ">%s</text>" % t["key"] not in m.group(0):
            fail.append("township chart lacks %s" % t["key"])
# the land-cover chart is drawn from run.json's per-scene pixel counts: each must be the
# histogram of the land cover the run wrote
with open(os.path.join(out, "run.json"), encoding="utf-8") as f:
    run = json.load(f)
for sc in run["scenes"]:
    lc = gdal.Open(os.path.join(out, "landcover_%s.tif" % sc["id"])).ReadAsArray()
    hist = np.bincount(lc.ravel(), minlength=12)[:12].tolist()
    if sc.get("landcover_pixels") != hist:
        fail.append("run.json landcover_pixels of %s: %s, the GeoTIFF has %s" % (sc["id"], sc.get("landcover_pixels"), hist))
# the age groups in the order of their codes, every one of summary.csv's age_group rows that
# has a value in the chart's column
ages = sorted(r["key"] for r in rows("summary.csv") if r["group"] == "age_group")
m = re.search(r"Growing stock by age group.*?</svg>", text, re.S)
if not m:
    fail.append("no age-group chart")
else:
    drawn = [k for k in re.findall(r">([^<>]+)</text>", m.group(0)) if k in ages]
    if drawn != sorted(drawn) or not drawn:
        fail.append("age-group chart: bars %s are not in the order of their codes" % drawn)
for a in sorted(glob.glob(os.path.join(out, "accuracy*.csv"))):
    if "<caption>%s</caption>" % os.path.basename(a) not in text:
        fail.append("no table for %s" % os.path.basename(a))
npng = len(glob.glob(os.path.join(out, "maps", "*.png")))

# ---- the browser ----
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,2400",
          "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"):
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
try:
    url = "file://" + page
    drv.get(url)
    drv.execute_script("return document.readyState")
    for e in drv.get_log("browser"):
        if e.get("level") == "SEVERE":
            fail.append("console: %s" % e.get("message"))
    for e in drv.get_log("performance"):
        msg = json.loads(e["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            u = msg["params"]["request"]["url"]
            if u != url and not u.startswith("data:"):
                fail.append("network request: %s" % u[:100])
    res = drv.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    for u in res:
        if not u.startswith("data:"):
            fail.append("resource entry: %s" % u[:100])
    widths = drv.execute_script("return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
    if len(widths) != npng:
        fail.append("%d <img> for %d PNG maps" % (len(widths), npng))
    if any(w <= 0 for w in widths):
        fail.append("images that did not load: %r" % widths)
    if drv.execute_script("return document.documentElement.lang") != "zh-CN":
        fail.append("document language is not zh-CN")
    shot = drv.get_screenshot_as_png()
    gdal.FileFromMemBuffer("/vsimem/shot.png", shot)
    ds = gdal.Open("/vsimem/shot.png")
    a = ds.ReadAsArray().astype(np.uint32)
    rgb = (a[0] << 16) | (a[1] << 8) | a[2]
    ncol = len(np.unique(rgb))
    nonwhite = float(np.mean(rgb != 0xFFFFFF))
    if ncol < 50 or nonwhite < 0.02:
        fail.append("screenshot looks blank: %d colours, %.3f non-white" % (ncol, nonwhite))
finally:
    drv.quit()

if fail:
    print("FAIL: " + "; ".join(fail))
    sys.exit(1)
print("report.html: %d maps, %d indicator rows, %d townships, offline; 1 passed" % (npng, len(ind), len(towns)))
