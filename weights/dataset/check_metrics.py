#!/usr/bin/env python3
"""Check frmetrics.py (our MS-SSIM, VIFp, GMSD) against piq's implementations.

    python3 weights/dataset/check_metrics.py --data DIR [--every 8]

Needs torch and piq (pip install piq) besides the builder's requirements. For every k-th image
of DIR/manifest.csv (a dataset written by build.py) it computes each metric both ways against
the image's pristine reference (DIR/refs/SOURCE.png) and prints, per metric, the largest absolute
difference and the Spearman/Pearson correlation of ours with piq's. Exit status 1 if a
correlation is below --min-srocc (default 0.99): the labels would then not be the metrics they
claim to be. Measured (seed-0 dataset, every 40th image, piq 0.8.0): MS-SSIM and VIFp agree to
3e-14 and 1.5e-8; GMSD to 1.5e-3 (SROCC 0.995: the gradient filters' border handling differs).
"""
import argparse
import csv
import os
import sys

import numpy as np
from PIL import Image
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from frmetrics import gmsd, ms_ssim, vifp  # noqa: E402


def load(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--every", type=int, default=8)
    ap.add_argument("--min-srocc", type=float, default=0.99)
    a = ap.parse_args()
    import piq
    import torch

    def t(x):
        return torch.from_numpy(x).permute(2, 0, 1).unsqueeze(0)

    with open(os.path.join(a.data, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))[::a.every]
    ours = {"ms_ssim": [], "vif": [], "gmsd": []}
    theirs = {"ms_ssim": [], "vif": [], "gmsd": []}
    for r in rows:
        ref = load(os.path.join(a.data, "refs", f"{r['source']}.png"))
        dist = load(os.path.join(a.data, r["path"]))
        ours["ms_ssim"].append(ms_ssim(ref, dist))
        ours["vif"].append(vifp(ref, dist))
        ours["gmsd"].append(gmsd(ref, dist))
        x, y = t(dist), t(ref)
        with torch.no_grad():
            theirs["ms_ssim"].append(float(piq.multi_scale_ssim(x, y, data_range=1.0)))
            theirs["vif"].append(float(piq.vif_p(x, y, data_range=1.0)))
            theirs["gmsd"].append(float(piq.gmsd(x, y, data_range=1.0)))
    status = 0
    print(f"check-metrics: {len(rows)} images (every {a.every}th of {a.data}/manifest.csv), ours vs piq {piq.__version__}")
    for k in ours:
        o, p = np.array(ours[k]), np.array(theirs[k])
        s = stats.spearmanr(o, p).statistic
        c = stats.pearsonr(o, p).statistic
        ok = s >= a.min_srocc
        status |= not ok
        print(f"check-metrics: {k:8s} max|diff| {np.max(np.abs(o - p)):.4g}  mean|diff| {np.mean(np.abs(o - p)):.4g}  "
              f"SROCC {s:.5f}  PLCC {c:.5f}  {'ok' if ok else 'FAILED'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
