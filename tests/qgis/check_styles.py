"""check_styles.py: QGIS opens sinkmap's demo outputs as intended (PyQGIS, offscreen).

Usage: check_styles.py OUTDIR. Exits 1 with a message on the first mismatch.
The land cover must load as a paletted layer whose classes carry the Chinese and English
names; the parcel layer must load its graduated style by sink per hectare.
"""
import os
import sys

from qgis.core import QgsApplication, QgsRasterLayer, QgsVectorLayer

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
# QGIS's own teardown can crash at interpreter exit on a headless machine: report and leave.
if fail:
    print("FAIL: " + "; ".join(fail), flush=True)
    os._exit(1)
print("1 passed, 0 failed", flush=True)
os._exit(0)
