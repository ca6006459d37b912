#!/usr/bin/env python3
"""sega vs PyTorch on the whole test split, for every shipped model.

    python3 weights/evaluate.py --data DIR --predictions     # PyTorch scores -> DIR/predictions_NAME.tsv
    python3 weights/parity_split.py --data DIR [--sega .build/release/sega] [--models a,b]

Runs `sega score --json --model NAME` over the test images and reports, per model, the largest
relative difference |s_sega - s_torch| / max(|s_torch|, 1) and how many images exceed 1e-4.
Exit status 1 if any does.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--sega", default=os.path.join(os.path.dirname(HERE), ".build/release/sega"))
    ap.add_argument("--models", help="comma-separated weight names (default: the shipped models, iqa_models.SHIPPED)")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--weights", help="score DIR/NAME.safetensors instead of the shipped NAME (e.g. weights/candidates)")
    a = ap.parse_args()
    if a.models is None:
        import iqa_models
        a.models = ",".join(iqa_models.SHIPPED)
    bad = 0
    for name in a.models.split(","):
        with open(os.path.join(a.data, f"predictions_{name}.tsv")) as f:
            ref = dict(line.rstrip("\n").split("\t") for line in f)
        paths = [os.path.join(a.data, p) for p in ref]
        out = subprocess.run([a.sega, "score", "--json", "--model", os.path.join(a.weights, f"{name}.safetensors") if a.weights else name] + paths, check=True,
                             capture_output=True, text=True).stdout
        worst, over = 0.0, 0
        for line in out.splitlines():
            j = json.loads(line)
            t = float(ref[os.path.relpath(j["image"], a.data)])
            rel = abs(j["score"] - t) / max(abs(t), 1.0)
            worst = max(worst, rel)
            over += rel > a.tol
        print(f"parity {name}: {len(ref)} images, max rel {worst:.2e}, {over} above {a.tol:g}")
        bad += over
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
