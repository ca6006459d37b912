#!/usr/bin/env python3
"""Compare two `sega eval` report directories file by file, timing aside.

    python3 scripts/compare_reports.py REPORT_A REPORT_B [--timing-keys seconds,seconds_per_image]

Every file under either directory must exist in both. JSON files (records, report.json) are
compared as parsed values without the timing keys (at any depth); report.csv without the timing
columns (or, in the long format, the rows whose metric is a timing key); report.md with the timing
column ("s/image") dropped from its tables; everything else (attacked PNGs, sheets, the SVG and PNG
charts, index.html, which has no timing) byte for byte. Prints one line per difference and a summary;
exits 1 on any difference. Used to show that a refactor writes the same outputs as before.
"""
import argparse
import csv
import io
import json
import os
import sys

TIMING_KEYS = {"seconds", "seconds_per_image", "elapsed", "elapsed_seconds", "timestamp", "time", "started", "finished"}
TIMING_MD_HEADERS = {"s/image", "seconds", "time"}


def files(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def strip_json(v, keys):
    if isinstance(v, dict):
        return {k: strip_json(x, keys) for k, x in v.items() if k not in keys}
    if isinstance(v, list):
        return [strip_json(x, keys) for x in v]
    return v


def strip_csv(text, keys):
    """Without timing columns (a wide CSV) or timing rows (the long report.csv: a 'metric' column)."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return rows
    if "metric" in rows[0]:
        m = rows[0].index("metric")
        rows = [rows[0]] + [r for r in rows[1:] if not (m < len(r) and r[m] in keys)]
    keep = [i for i, h in enumerate(rows[0]) if h not in keys]
    return [[r[i] for i in keep if i < len(r)] for r in rows]


def strip_md(text):
    """Markdown tables without their timing columns (found by header cell)."""
    out, drop = [], None
    for line in text.split("\n"):
        if line.startswith("|"):
            cells = line.split("|")
            if drop is None:
                drop = {i for i, c in enumerate(cells) if c.strip() in TIMING_MD_HEADERS}
            line = "|".join(c for i, c in enumerate(cells) if i not in drop)
        else:
            drop = None
        out.append(line)
    return "\n".join(out)


def same(path_a, path_b, rel, keys):
    with open(path_a, "rb") as f:
        a = f.read()
    with open(path_b, "rb") as f:
        b = f.read()
    if rel.endswith(".json"):
        return strip_json(json.loads(a), keys) == strip_json(json.loads(b), keys)
    if rel.endswith(".csv"):
        return strip_csv(a.decode(), keys) == strip_csv(b.decode(), keys)
    if rel.endswith(".md"):
        return strip_md(a.decode()) == strip_md(b.decode())
    return a == b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--timing-keys", default=",".join(sorted(TIMING_KEYS)),
                    help="JSON keys and CSV columns left out of the comparison")
    args = ap.parse_args()
    keys = set(k for k in args.timing_keys.split(",") if k)
    fa, fb = files(args.a), files(args.b)
    problems = [f"only in {args.a}: {r}" for r in sorted(fa - fb)] + [f"only in {args.b}: {r}" for r in sorted(fb - fa)]
    kinds = {}
    for rel in sorted(fa & fb):
        ext = os.path.splitext(rel)[1] or "(none)"
        kinds[ext] = kinds.get(ext, 0) + 1
        if not same(os.path.join(args.a, rel), os.path.join(args.b, rel), rel, keys):
            problems.append(f"differs: {rel}")
    for p in problems:
        print(p)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"compare: {len(fa & fb)} files in both ({counts}); {len(problems)} difference(s) (timing aside: {', '.join(sorted(keys))})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
