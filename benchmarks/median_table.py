#!/usr/bin/env python3
"""Markdown table of medians from a hyperfine --export-json file, each
command against the first one. usage: median_table.py RESULT.json"""
import json, sys

results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
print("| command | median ms | min ms | max ms | vs first (median) |")
print("|:---|---:|---:|---:|---:|")
for r in results:
    print(f"| {r['command']} | {r['median'] * 1000:.1f} | {r['min'] * 1000:.1f} | "
          f"{r['max'] * 1000:.1f} | {r['median'] / base:.2f}x |")
