#!/usr/bin/env python3
"""Build sega's local NR-IQA dataset: pristine photos x 12 distortions x 5 levels, pseudo-MOS.

    python3 weights/dataset/build.py --out DIR [--seed 0] [--photos a,b] [--levels 1,3,5]
                                     [--distortions jpeg,...] [--size 288x384] [--views 1]

Photos (32, listed in PHOTOS below; drawings, renders, gradients and microscopy left out) come
from the Debian packages mate-backgrounds (nature/), lomiri-wallpapers-16.04 and -20.04, and the
photos inside scikit-image. Each is resized (Lanczos) to cover HxW and centre-cropped (with
--views K, train and val photos also get K-1 zoomed crops at seeded positions); every distorted
image is labelled with frmetrics.pseudo_mos against its own pristine crop.

The split is by photo (no photo in two splits), drawn from --seed. The manifest (DIR/manifest.csv)
lists path, mos, split, source, distortion, level and the three metric values. Everything written
is a function of the seed and the library versions in weights/dataset/requirements.txt: a rerun
reproduces the manifest and every PNG byte for byte (weights/dataset/test_build.py checks it).
"""
import argparse
import csv
import hashlib
import io
import os
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from distortions import DISTORTIONS, from_u8, to_u8  # noqa: E402
from frmetrics import pseudo_mos  # noqa: E402

# (short id, package, path inside the package or the scikit-image wheel)
PHOTOS = [
    ("aqua", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/Aqua.jpg"),
    ("blinds", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/Blinds.jpg"),
    ("dune", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/Dune.jpg"),
    ("freshflower", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/FreshFlower.jpg"),
    ("garden", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/Garden.jpg"),
    ("greenmeadow", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg"),
    ("ladybird", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/LadyBird.jpg"),
    ("raindrops", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/RainDrops.jpg"),
    ("storm", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/Storm.jpg"),
    ("twowings", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/TwoWings.jpg"),
    ("wood", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/Wood.jpg"),
    ("yellowflower", "mate-backgrounds", "/usr/share/backgrounds/mate/nature/YellowFlower.jpg"),
    ("bridge", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg"),
    ("dragonfly", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/Dragonfly_by_Bolly.jpg"),
    ("picture0b", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/Picture_0B_by_freespace.jpg"),
    ("picture1a", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/Picture_1A_by_freespace.jpg"),
    ("wine", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg"),
    ("aitzgorri", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg"),
    ("free", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/free_by_Peter_Nerlich.jpg"),
    ("friends", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg"),
    ("greentock", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg"),
    ("life", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg"),
    ("picosdeeuropa", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg"),
    ("seeding", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg"),
    ("sunset", "lomiri-wallpapers-16.04", "/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg"),
    ("infinitesea", "lomiri-wallpapers-20.04", "/usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg"),
    ("kleiber", "lomiri-wallpapers-20.04", "/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg"),
    ("astronaut", "scikit-image", "skimage/data/astronaut.png"),
    ("chelsea", "scikit-image", "skimage/data/chelsea.png"),
    ("coffee", "scikit-image", "skimage/data/coffee.png"),
    ("rocket", "scikit-image", "skimage/data/rocket.jpg"),
    ("motorcycle", "scikit-image", "skimage/data/motorcycle_left.png"),
]
SPLIT_SIZES = {"train": 20, "val": 5, "test": 7}


def photo_path(pkg, path):
    if pkg == "scikit-image":
        import skimage
        return os.path.join(os.path.dirname(skimage.__file__), path[len("skimage/"):])
    return path


def load_photo(pkg, path, h, w, view=0, seed=0, pi=0):
    """Decode, resize (Lanczos) to cover h x w, crop: uint8 HxWx3.

    View 0 is the centre crop of the whole photo resized to cover h x w. View j >= 1 (training
    photos only, --views) first resizes to cover zoom * (h x w), zoom uniform in [1.3, 2.2] drawn
    from (seed, photo, j) but never above the photo's own resolution, and crops at a random position: a closer look at another part of the
    same photo, i.e. new content at the same resolution, never shared across splits.
    """
    full = photo_path(pkg, path)
    if not os.path.exists(full):
        raise SystemExit(f"build: missing photo {full} (install the Debian package '{pkg}')")
    im = Image.open(full).convert("RGB")
    sw, sh = im.size
    zoom, rng = 1.0, None
    if view > 0:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 104729, pi, view]))
        zoom = float(rng.uniform(1.3, 2.2))
    scale = max(zoom * w / sw, zoom * h / sh)
    if view > 0:
        # Never upsample a zoomed view (soft "pristine" content would teach blur as quality): a
        # small photo gives native-resolution crops instead.
        scale = min(scale, max(1.0, w / sw, h / sh))
    nw, nh = max(w, int(round(sw * scale))), max(h, int(round(sh * scale)))
    im = im.resize((nw, nh), Image.Resampling.LANCZOS)
    if rng is None:
        left, top = (nw - w) // 2, (nh - h) // 2
    else:
        left, top = int(rng.integers(0, nw - w + 1)), int(rng.integers(0, nh - h + 1))
    return np.asarray(im.crop((left, top, left + w, top + h)))


def assign_splits(ids, seed):
    order = np.random.default_rng(np.random.SeedSequence([seed, 7919])).permutation(len(ids))
    splits, i = {}, 0
    for name in ("train", "val", "test"):
        for j in order[i:i + SPLIT_SIZES[name]]:
            splits[ids[j]] = name
        i += SPLIT_SIZES[name]
    for j in order[i:]:
        splits[ids[j]] = "train"
    return splits


def png_bytes(a):
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def write_atomic(path, data):
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="288x384", help="HxW of every image")
    ap.add_argument("--photos", default="", help="comma-separated photo ids (default: all)")
    ap.add_argument("--distortions", default="", help="comma-separated (default: all 12)")
    ap.add_argument("--levels", default="1,2,3,4,5")
    ap.add_argument("--views", type=int, default=1,
                    help="crops per train/val photo (1: the centre crop only; test photos always get 1)")
    a = ap.parse_args(argv)
    h, w = (int(v) for v in a.size.lower().split("x"))
    ids = [p[0] for p in PHOTOS]
    splits = assign_splits(ids, a.seed)
    chosen = a.photos.split(",") if a.photos else ids
    for c in chosen:
        if c not in ids:
            raise SystemExit(f"build: unknown photo id '{c}'")
    dists = a.distortions.split(",") if a.distortions else list(DISTORTIONS)
    for d in dists:
        if d not in DISTORTIONS:
            raise SystemExit(f"build: unknown distortion '{d}'")
    levels = [int(v) for v in a.levels.split(",")]
    if not 1 <= a.views <= 16:
        raise SystemExit(f"build: --views must be 1..16, got {a.views}")
    os.makedirs(os.path.join(a.out, "images"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "refs"), exist_ok=True)
    rows = []
    for pi, (pid, pkg, path) in enumerate(PHOTOS):
        if pid not in chosen:
            continue
        views = 1 if splits[pid] == "test" else a.views
        for view in range(views):
            # View 0 keeps the names and noise seeds of a one-view build, so --views only adds files.
            name = pid if view == 0 else f"{pid}-v{view}"
            ref8 = load_photo(pkg, path, h, w, view, a.seed, pi)
            write_atomic(os.path.join(a.out, "refs", f"{name}.png"), png_bytes(ref8))
            ref = from_u8(ref8)
            for di, dname in enumerate(DISTORTIONS):
                if dname not in dists:
                    continue
                for lv in levels:
                    key = [a.seed, pi, di, lv] + ([view] if view else [])
                    rng = np.random.default_rng(np.random.SeedSequence(key))
                    out8 = to_u8(DISTORTIONS[dname](ref, lv, rng))
                    mos, m, v, g = pseudo_mos(ref, from_u8(out8))
                    rel = f"images/{name}_{dname}_{lv}.png"
                    write_atomic(os.path.join(a.out, rel), png_bytes(out8))
                    rows.append([rel, f"{mos:.4f}", splits[pid], pid, dname, lv,
                                 f"{m:.6f}", f"{v:.6f}", f"{g:.6f}"])
        print(f"build: {pid} ({splits[pid]}) done", file=sys.stderr)
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(["path", "mos", "split", "source", "distortion", "level", "ms_ssim", "vif", "gmsd"])
    wr.writerows(rows)
    write_atomic(os.path.join(a.out, "manifest.csv"), buf.getvalue().encode())
    digest = hashlib.sha256(buf.getvalue().encode()).hexdigest()
    print(f"build: {len(rows)} images, manifest sha256 {digest}", file=sys.stderr)


if __name__ == "__main__":
    main()
