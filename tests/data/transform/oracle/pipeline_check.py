#!/usr/bin/env python3
"""Checks that the committed vectors (made via Transformation::instantiate) equal what the
real rule pipeline produces, for every transformation. Outputs longer than 100 bytes are
skipped (ModSecurity cuts [data] at 200 characters).

    g++ -O1 -std=c++17 -o /tmp/pipeline-check tests/data/transform/oracle/pipeline_check.cc -lmodsecurity
    python3 tests/data/transform/oracle/pipeline_check.py /tmp/pipeline-check
"""
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
tool = sys.argv[1] if len(sys.argv) > 1 else "/tmp/pipeline-check"
total = bad = 0
for path in sorted(glob.glob(os.path.join(os.path.dirname(HERE), "*.json"))):
    d = json.load(open(path))
    if d.get("unicode_map"):
        continue
    cases = [c for c in d["cases"] if len(c["out"]) <= 100]
    req = "".join(c["in"].encode("latin-1").hex() + "\n" for c in cases)
    res = subprocess.run([tool, d["transformation"]], input=req.encode(), capture_output=True, check=True)
    outs = res.stdout.decode().split("\n")
    for c, o in zip(cases, outs):
        total += 1
        if o != c["out"].encode("latin-1").hex():
            bad += 1
            if bad <= 20:
                print(f"{d['transformation']}: in={c['in']!r} vector={c['out']!r} pipeline={o}")
print(f"{total - bad}/{total} vectors agree with the rule pipeline")
sys.exit(1 if bad else 0)
