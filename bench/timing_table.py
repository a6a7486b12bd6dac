#!/usr/bin/env python3
"""Reads 'sandvisor: timing (ms since main): k v k v ...' lines; prints median/min/max per step."""
import statistics
import sys

rows = {}
for line in sys.stdin:
    if "timing" not in line:
        continue
    parts = line.split(":", 2)[2].split()
    for k, v in zip(parts[0::2], parts[1::2]):
        rows.setdefault(k, []).append(float(v))
print(f"{'step':<16}{'median':>10}{'min':>10}{'max':>10}   (ms since main(), n={len(next(iter(rows.values()), []))})")
for k, vals in rows.items():
    print(f"{k:<16}{statistics.median(vals):>10.3f}{min(vals):>10.3f}{max(vals):>10.3f}")
