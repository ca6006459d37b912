#!/usr/bin/env python3
"""What an attack leaves on clean photos: similarity overall and the change in their flat regions.

    scripts/clean_photos.py PHOTO.png [PHOTO.png ...] [--sega .build/release/sega] [--json OUT]
                            [-- sega attack flags]

Runs `sega attack` (the defaults unless flags follow --) on each photo into a scratch directory and
prints one row per photo and their mean: SSIM and PSNR (sega's own figures), the share of pixels in
flat regions, and there (where the eye sees a pixel-scale pattern first) the mean |change of luma|
and the RMS of its pixel-to-pixel variation (the texture: a smooth shift scores 0), both in 8-bit
levels, and the mean largest channel of the isoluminant rest (the change minus its grey shift, as
sega's chroma budget splits it). Flat: the clean photo's 7x7 luma standard deviation below 1.5
levels. Luma is Rec. 601 (0.299, 0.587, 0.114), as SSIM and the JND maps read it. --json writes the
rows as well. Needs numpy and Pillow (`scripts/deps.sh --python` makes `.venv-tools` with both).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clean_photo_figure import box_mean as valid_box_mean  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUMA = np.array([0.299, 0.587, 0.114])
FLAT_STD = 1.5


def box_mean(a, k):
    """Mean over the k x k window centred on each pixel (edges replicated; k odd)."""
    return valid_box_mean(np.pad(a, k // 2, mode="edge"), k)


def flat_mask(clean):
    """Pixels whose 7x7 luma standard deviation (8-bit levels) is below FLAT_STD."""
    y = clean.astype(np.float64) @ LUMA
    var = box_mean(y * y, 7) - box_mean(y, 7) ** 2
    return np.sqrt(np.maximum(var, 0)) < FLAT_STD


def measure(clean, adv):
    """Flat share, and in flat regions: mean |d luma|, RMS of d luma minus its 3x3 mean, mean max |rest|."""
    d = adv.astype(np.float64) - clean.astype(np.float64)
    dy = d @ LUMA
    rest = np.abs(d - dy[..., None]).max(axis=2)
    hf = dy - box_mean(dy, 3)
    m = flat_mask(clean)
    if not m.any():
        return {"flat": 0.0, "flat_luma": float("nan"), "flat_texture": float("nan"), "flat_rest": float("nan")}
    return {"flat": float(m.mean()), "flat_luma": float(np.abs(dy[m]).mean()),
            "flat_texture": float(np.sqrt((hf[m] ** 2).mean())), "flat_rest": float(rest[m].mean())}


def main():
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photos", nargs="+")
    ap.add_argument("--sega", default=os.path.join(REPO, ".build/release/sega"))
    ap.add_argument("--json", help="also write the rows here (atomically)")
    a = ap.parse_args(own)
    rows = []
    for photo in a.photos:
        clean = np.asarray(Image.open(photo).convert("RGB"))
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run([a.sega, "attack", *extra, photo, "-o", tmp, "--progress", "none"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"clean_photos: sega attack failed on {photo} ({r.returncode}): {r.stderr.strip()}")
            rec = json.loads(r.stdout.strip().splitlines()[-1])
            stem = os.path.splitext(os.path.basename(photo))[0]
            adv = np.asarray(Image.open(os.path.join(tmp, stem + ".png")).convert("RGB"))
        row = {"photo": os.path.basename(photo), "ssim": rec["ssim"], "psnr": rec["psnr"]}
        row.update(measure(clean, adv))
        rows.append(row)
    keys = ["ssim", "psnr", "flat", "flat_luma", "flat_texture", "flat_rest"]
    mean = {"photo": "mean"}
    for k in keys:
        v = [r[k] for r in rows if r[k] == r[k]]
        mean[k] = sum(v) / len(v) if v else float("nan")
    print("| photo | SSIM | PSNR | flat share | flat mean abs d luma | flat luma texture (RMS) | flat mean max abs rest |")
    print("|---|---|---|---|---|---|---|")
    for r in rows + [mean]:
        print(f"| {r['photo']} | {r['ssim']:.4f} | {r['psnr']:.2f} | {r['flat']:.3f} | {r['flat_luma']:.2f} | "
              f"{r['flat_texture']:.2f} | {r['flat_rest']:.2f} |")
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"flags": extra, "rows": rows, "mean": mean}, f, indent=1)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
