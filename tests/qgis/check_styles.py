"""check_styles.py: QGIS opens sinkmap's demo outputs as intended (PyQGIS, offscreen).

Usage: check_styles.py OUTDIR. Exits 1 with a message on the first mismatch.
The land cover must load as a paletted layer whose classes carry the Chinese and English
names; the parcel layer must load its graduated style by sink per hectare; changes.gpkg its
categorized style by reason (a category for every reason in the layer); parcels_carbon.qml a
graduated carbon density. sinkmap.qgs, opened from a copy of the folder in another place: every
layer valid and read from that copy (relative paths), one group per scene (from run.json) holding
its land cover (and confidence map when written), a group of parcel layers; renderers paletted
with class names for land cover, graduated for carbon and sink, categorized for changes.
"""
import glob
import json
import os
import shutil
import sys
import tempfile

from qgis.core import (QgsApplication, QgsLayerTreeGroup, QgsLayerTreeLayer, QgsProject, QgsRasterLayer,
                       QgsVectorLayer)

out = sys.argv[1]
app = QgsApplication([], False)
app.initQgis()
fail = []
r = QgsRasterLayer(out + "/landcover_2024a.tif", "landcover")
if not r.isValid():
    fail.append("landcover_2024a.tif is not a valid layer")
elif r.renderer().type() != "paletted":
    fail.append("land cover renderer is %s, expected paletted" % r.renderer().type())
else:
    labels = {int(c.value): c.label for c in r.renderer().classes()}
    if labels.get(1) != "乔木林 tree forest" or labels.get(6) != "水域 water" or len(labels) != 11:
        fail.append("land cover classes: %r" % labels)
v = QgsVectorLayer(out + "/parcels.gpkg", "parcels", "ogr")
if not v.isValid():
    fail.append("parcels.gpkg is not a valid layer")
elif v.renderer().type() != "graduatedSymbol":
    fail.append("parcel renderer is %s, expected graduatedSymbol" % v.renderer().type())
elif v.renderer().classAttribute() != '"sink_co2" / "area_ha"' or len(v.renderer().ranges()) != 6:
    fail.append("parcel style: %s, %d ranges" % (v.renderer().classAttribute(), len(v.renderer().ranges())))
c = QgsVectorLayer(out + "/changes.gpkg", "changes", "ogr")
if not c.isValid():
    fail.append("changes.gpkg is not a valid layer")
elif c.renderer().type() != "categorizedSymbol" or c.renderer().classAttribute() != "reason":
    fail.append("changes renderer is %s on %s" % (c.renderer().type(), c.renderer().classAttribute()))
else:
    cats = {cat.value(): cat.label() for cat in c.renderer().categories()}
    if cats.get("forest_drop") != "森林比例下降 forest fraction drop" or len(cats) != 7:
        fail.append("changes categories: %r" % cats)
    for f in c.getFeatures():
        if f["reason"] not in cats:
            fail.append("changes: reason %r has no category" % f["reason"])
k = QgsVectorLayer(out + "/parcels.gpkg", "carbon", "ogr")
msg, ok = k.loadNamedStyle(out + "/parcels_carbon.qml")
if not ok or k.renderer().type() != "graduatedSymbol" or '"c_' not in k.renderer().classAttribute():
    fail.append("parcels_carbon.qml: %s %s" % (msg, k.renderer().type()))

# ---- the project, from a copy of the folder elsewhere ----
run = json.load(open(out + "/run.json", encoding="utf-8"))
scenes = [(x["id"], x["date"]) for x in run["scenes"]]
moved = tempfile.mkdtemp()
shutil.copytree(out, moved + "/copy")
proj = QgsProject.instance()
if not proj.read(moved + "/copy/sinkmap.qgs"):
    fail.append("sinkmap.qgs does not open: %s" % proj.error())
if proj.readBoolEntry("Paths", "/Absolute", True)[0]:
    fail.append("sinkmap.qgs: paths are absolute")
for lyr in proj.mapLayers().values():
    if not lyr.isValid():
        fail.append("project layer %s is not valid (%s)" % (lyr.name(), lyr.source()))
    elif not os.path.realpath(lyr.source().split("|")[0]).startswith(os.path.realpath(moved + "/copy/")):
        fail.append("project layer %s reads %s, not the copy" % (lyr.name(), lyr.source()))
root = proj.layerTreeRoot()
groups = {g.name(): g for g in root.children() if isinstance(g, QgsLayerTreeGroup)}
want = ["%s (%s)" % sc for sc in scenes] + ["小班 Parcels"]
if sorted(groups) != sorted(want):
    fail.append("project groups %r, expected %r" % (sorted(groups), sorted(want)))
for sid, date in scenes:
    g = groups.get("%s (%s)" % (sid, date))
    if g is None:
        continue
    files = sorted(os.path.basename(l.layer().source()) for l in g.findLayers())
    expect = sorted(os.path.basename(p) for p in glob.glob(out + "/landcover_%s.tif" % sid) +
                    glob.glob(out + "/confidence_%s.tif" % sid))
    if files != expect:
        fail.append("group %s holds %r, expected %r" % (sid, files, expect))
    for l in g.findLayers():
        lyr = l.layer()
        if "landcover_" in lyr.source():
            labels = {int(cl.value): cl.label for cl in lyr.renderer().classes()} if lyr.renderer().type() == "paletted" else {}
            if labels.get(1) != "乔木林 tree forest" or len(labels) != 11:
                fail.append("project land cover %s: %s %r" % (sid, lyr.renderer().type(), labels))
pg = groups.get("小班 Parcels")
if pg is not None:
    kinds = sorted(l.layer().renderer().type() for l in pg.findLayers())
    expect = sorted(["categorizedSymbol", "graduatedSymbol", "graduatedSymbol"])
    if kinds != expect:
        fail.append("parcel group renderers %r, expected %r" % (kinds, expect))
    for l in pg.findLayers():
        r = l.layer().renderer()
        if r.type() == "graduatedSymbol" and not (r.classAttribute() == '"sink_co2" / "area_ha"' or '"c_' in r.classAttribute()):
            fail.append("parcel layer %s graduated on %s" % (l.layer().name(), r.classAttribute()))
shutil.rmtree(moved)

# QGIS's own teardown can crash at interpreter exit on a headless machine: report and leave.
if fail:
    print("FAIL: " + "; ".join(fail), flush=True)
    os._exit(1)
print("1 passed, 0 failed", flush=True)
os._exit(0)
