#!/usr/bin/env python3
"""accuracy.py: accuracy of a class map at reference points, for bench/classify/run.sh.

usage: accuracy.py LABELS VALUES CODES
  LABELS  one reference class name per line
  VALUES  the map's value at the same points, one per line (as gdallocationinfo -valonly
          prints them)
  CODES   comma-separated code=name pairs of the map (e.g. 1=developed,2=agriculture)
Prints overall accuracy, Cohen's kappa and user's / producer's accuracy per class as JSON.
A map value that is no class (0, nodata, unclassified) counts as a wrong answer."""
import json
import sys


def main():
    labels = [l.strip() for l in open(sys.argv[1])]
    values = [v.strip() for v in open(sys.argv[2])]
    codes = dict(kv.split("=") for kv in sys.argv[3].split(","))
    assert len(labels) == len(values), (len(labels), len(values))
    classes = sorted(set(labels) | set(codes.values()))
    n = {}
    for lab, val in zip(labels, values):
        try:
            key = str(int(float(val)))
        except ValueError:
            key = ""
        m = codes.get(key, "(none)")
        n[(m, lab)] = n.get((m, lab), 0) + 1
    total = len(labels)
    correct = sum(n.get((c, c), 0) for c in classes)
    rows = {c: sum(v for (m, _), v in n.items() if m == c) for c in classes}
    cols = {c: sum(v for (_, r), v in n.items() if r == c) for c in classes}
    pe = sum(rows[c] * cols[c] for c in classes) / total ** 2
    po = correct / total
    out = {
        "n": total,
        "overall": po,
        "kappa": (po - pe) / (1 - pe),
        "users": {c: (n.get((c, c), 0) / rows[c] if rows[c] else None) for c in classes},
        "producers": {c: (n.get((c, c), 0) / cols[c] if cols[c] else None) for c in classes},
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
