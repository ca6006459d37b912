#!/usr/bin/env python3
"""A clean photo beside its attacked version, whole and as a 2x crop of its flattest region.

    scripts/clean_photo_figure.py PHOTO.png --out docs/clean-photo.png [--sega .build/release/sega]
                                  [--crop 96x128] [-- sega attack flags]

Runs `sega attack` (the defaults unless flags follow --) on PHOTO into a scratch directory and
writes one PNG: the clean and the attacked photo side by side, and below them the same crop of
each enlarged 2x by pixel repetition (no smoothing, so every attacked pixel is seen as it is).
The crop is the window of --crop size with the lowest mean local luma variance (7x7), i.e. the
flattest region, where a texture-like perturbation is most visible; its rectangle is drawn on the
whole images. Prints the attack's JSON line (SSIM, PSNR, L-inf, scores) and where the crop is.
Needs numpy and Pillow (`scripts/deps.sh --python` makes `.venv-tools` with both).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def box_mean(a, k):
    """Mean over every k x k window (valid positions only), by an integral image."""
    c = np.pad(a, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def flattest(rgb, ch, cw):
    """Top-left corner of the ch x cw window with the lowest mean 7x7 luma variance."""
    y = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    var = box_mean(y * y, 7) - box_mean(y, 7) ** 2
    score = box_mean(np.maximum(var, 0), 1)
    # mean local variance over each crop window (windows of the variance map)
    h, w = score.shape
    if h < ch or w < cw:
        sys.exit(f"clean_photo_figure: the photo is smaller than the crop {ch}x{cw}")
    c = np.pad(score, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    win = c[ch:, cw:] - c[:-ch, cw:] - c[ch:, :-cw] + c[:-ch, :-cw]
    i = int(np.argmin(win))
    return divmod(i, win.shape[1])


def main():
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photo")
    ap.add_argument("--out", required=True)
    ap.add_argument("--sega", default=os.path.join(REPO, ".build/release/sega"))
    ap.add_argument("--crop", default="96x128", help="HxW of the enlarged crop (default 96x128)")
    a = ap.parse_args(own)
    ch, cw = (int(v) for v in a.crop.lower().split("x"))
    if os.path.abspath(a.out) == os.path.abspath(a.photo):
        sys.exit("clean_photo_figure: --out is the input photo")
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([a.sega, "attack", *extra, a.photo, "-o", tmp, "--progress", "none"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"clean_photo_figure: sega attack failed ({r.returncode}): {r.stderr.strip()}")
        line = r.stdout.strip().splitlines()[-1]
        stem = os.path.splitext(os.path.basename(a.photo))[0]
        adv = np.asarray(Image.open(os.path.join(tmp, stem + ".png")).convert("RGB"))
    clean = np.asarray(Image.open(a.photo).convert("RGB"))
    y0, x0 = flattest(clean, ch, cw)
    h, w = clean.shape[:2]
    gap = 8
    W = 2 * w + gap
    H = h + gap + 2 * ch
    sheet = Image.new("RGB", (max(W, 4 * cw + gap), H), (255, 255, 255))
    for k, img in enumerate((clean, adv)):
        im = Image.fromarray(img)
        d = ImageDraw.Draw(im)
        d.rectangle([x0 - 1, y0 - 1, x0 + cw, y0 + ch], outline=(255, 0, 0))
        sheet.paste(im, (k * (w + gap), 0))
        crop = Image.fromarray(img[y0:y0 + ch, x0:x0 + cw]).resize((2 * cw, 2 * ch), Image.NEAREST)
        sheet.paste(crop, (k * (2 * cw + gap), h + gap))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)) or ".", exist_ok=True)
    tmp_out = a.out + ".tmp.png"
    sheet.save(tmp_out, optimize=True)
    os.replace(tmp_out, a.out)
    rec = json.loads(line)
    print(line)
    print(f"clean_photo_figure: crop {ch}x{cw} at (y {y0}, x {x0}) (the flattest window), enlarged 2x; "
          f"linf {int(np.abs(adv.astype(int) - clean.astype(int)).max())}/255; wrote {a.out}", file=sys.stderr)
    return rec


if __name__ == "__main__":
    main()
