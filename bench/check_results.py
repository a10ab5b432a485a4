#!/usr/bin/env python3
"""Checks that results.md and results.json of a benchmark run agree, row by row."""
import json
import sys

out = sys.argv[1]
res = json.load(open(f"{out}/results.json"))
md = open(f"{out}/results.md").read().splitlines()
rows = [l for l in md if l.startswith("| ") and not l.startswith("| method") and not l.startswith("| ---")]
json_rows = [r for s in res["scenes"] for r in s["results"]]
table_rows = [l for l in rows if l.count("|") == 11]
assert len(table_rows) == len(json_rows), f"{len(table_rows)} table rows, {len(json_rows)} JSON results"
for line, r in zip(table_rows, json_rows):
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[0] == r["method"], (cells[0], r["method"])
    assert int(cells[1].replace(",", "")) == r["bytes"], (cells[1], r["bytes"])
    assert abs(float(cells[3]) - r["bytes_per_gaussian"]) < 0.006, (cells[3], r["bytes_per_gaussian"])
    psnr = r["psnr"] if r["psnr"] is not None else float("inf")
    assert cells[4] == "inf" or abs(float(cells[4]) - psnr) < 0.006, (cells[4], psnr)
assert len(json_rows) >= 1
print(f"check_results: {len(json_rows)} rows agree")
