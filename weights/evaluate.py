#!/usr/bin/env python3
"""Evaluate shipped models on the dataset's test split and write their model cards.

    python3 weights/evaluate.py --data DIR [--models cnniqa,...] [--cards] [--fixtures N]

For each weights/NAME.safetensors (the fp16 file sega ships, loaded back into the PyTorch
definition): SROCC and PLCC on the test split (photos never seen in training), overall and per
distortion type, written to weights/NAME.eval.json; with --cards, weights/NAME.md (architecture,
input protocol, training data, figures, size, FLOPs); with --fixtures N, N test images copied to
weights/samples/ (the README's sample images) and every model's PyTorch score of each written to
Tests/Fixtures/trained/expect.tsv (the parity test reads them), or, for weights outside weights/
(--weights DIR, e.g. weights/candidates), to DIR/NAME.expect.tsv, the lines that replace NAME's
when the file ships; --predictions writes PyTorch's
test-split scores to DIR/predictions_NAME.tsv for weights/parity_split.py.
"""
import argparse
import csv
import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import iqa_models as R  # noqa: E402
from iqa_models import FROZEN_BLOCKS  # noqa: E402
from train import srocc, plcc  # noqa: E402

DEFAULT_MODELS = R.SHIPPED


def load_model(path):
    return R.load_file(path, "evaluate")


def read_image(path):
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0)


@torch.no_grad()
def scores(model, paths):
    return np.array([float(model(read_image(p))[0]) for p in paths], dtype=np.float64)


def flops(model, h, w):
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.rand(1, 3, h, w))
    return fc.get_total_flops()


def recipe(name, arch, training, meta_lcn=None):
    """The train.py command line that reproduces a shipped model (from its training record)."""
    cmd = f"python3 weights/train.py --arch {arch} --data DIR --out weights/{name}.safetensors --epochs {training.get('epochs', '?')}"
    if training.get("batch") is not None:
        cmd += f" --batch {training['batch']} --lr {training.get('lr')}"
    if training.get("train_on", "train") != "train":
        cmd += f" --train-on {training['train_on']}"
    if training.get("denoise"):
        cmd += f" --denoise {training['denoise']}"
    if training.get("freeze") not in (None, FROZEN_BLOCKS):
        cmd += f" --freeze {training['freeze']}"
    if training.get("swa"):
        cmd += f" --swa {training['swa']}"
    if training.get("crop"):
        cmd += f" --crop {training['crop'][0]}x{training['crop'][1]}"
    if meta_lcn is not None:
        cmd += f" --lcn {meta_lcn}"
    if training.get("loss", "smoothl1") != "smoothl1":
        cmd += f" --loss {training['loss']}"
    if training.get("grid", 14) != 14:
        cmd += f" --grid {training['grid']}"
    if training.get("aux", 1.0) != 1.0:
        cmd += f" --aux {training['aux']}"
    for key in ("group", "rank", "wd", "tuned_on"):  # recorded only when not the default
        if key in training:
            cmd += f" --{key.replace('_', '-')} {training[key]}"
    return cmd


def selection(training):
    """How the shipped epoch was chosen, stated plainly (and what --denoise did to the labels)."""
    pre = ""
    if training.get("denoise"):
        w = training["denoise"]
        pre = (f"Labels were denoised: each training target is {1 - w:g} x its pseudo-MOS + {w:g} x the mean pseudo-MOS "
               "of the training images with the same distortion and level. ")
    caveat = ("was chosen after comparing a few runs on the test split, so the test figures below are optimistic by "
              "that selection.")
    if training.get("swa"):
        pre += f"The shipped weights are the {training.get('kept', 'mean of the last epochs')} (weight averaging). "
    if "val" in training.get("train_on", "train"):
        kept = "" if training.get("swa") else "the last epoch is shipped. "
        return pre + ("The val photos are part of the training set here, so nothing was held out for model selection: "
                      + kept + "The recipe (epochs, label denoising, weight averaging, train+val) " + caveat)
    if training.get("tuned_on") == "val":  # train.py --tuned-on val
        caveat = ("was chosen on the val split only (runs trained on the train split, compared by val SROCC); the test "
                  "split was scored once, for this file.")
    best = training.get("best_val_srocc")
    best = "?" if best is None or best != best else f"{best:.4f}"
    return pre + f"The epoch with the best val SROCC ({best}) is kept. The recipe " + caveat


def licences(spec, splits):
    """The card's licence section: one paragraph (code, data, backbone) that points at
    weights/LICENSES.md for each photo's author, licence and split. The data part is derived from
    weights/dataset/licences.py (Debian copyright files, scikit-image's data docstrings), the one
    source LICENSES.md's photo table was read from (splits: photo id -> split)."""
    sys.path.insert(0, os.path.join(HERE, "dataset"))
    from licences import photo_licences
    seen = {}
    for pid, pkg, holder, lic, src in photo_licences():
        part = "test" if splits.get(pid) == "test" else "train and val"
        seen.setdefault(part, {}).setdefault(pkg.split("-1")[0].split("-2")[0], set()).add(lic)

    def summary(part):
        groups = seen.get(part, {})
        return "; ".join(f"{pkg} ({', '.join(sorted(l))})" for pkg, l in groups.items())
    count = {part: sum(1 for pid, *_ in photo_licences() if ("test" if splits.get(pid) == "test" else "train and val") == part)
             for part in seen}
    backbone = R.IMAGENET_LICENCE.get(spec.imagenet, "none (trained from scratch)")
    text = (f"Code: Apache-2.0 ([LICENSE](../LICENSE)). Data: the {count.get('train and val', 0)} train and val photos of "
            f"sega's dataset, from {summary('train and val')}; the {count.get('test', 0)} test photos: {summary('test')}. "
            f"Backbone: {backbone}. Each photo's author, licence and split, and what this means for the weights: "
            "[LICENSES.md](LICENSES.md).")
    return ["## Licences", "", text]


def card(name, path, meta, ev, gflops, model, splits):
    spec = R.get(meta["arch"], "evaluate")
    title, init, layout, protocol = spec.card(meta, model)
    training = json.loads(meta.get("training", "{}"))
    size = os.path.getsize(path)
    views = int(training.get("views", 1))
    views_flag = f", --views {views}" if views > 1 else ""
    # val_images (train.py records it): the validation set the epoch was chosen on, when its build had
    # fewer views than the training rows' (e.g. vitiqa_patch: train rows of a --views 10 build, val of --views 3).
    val_views = int(training.get("val_images", 300 * views)) // 300
    views_note = (f": each train photo gives its centre crop and {views - 1} zoomed crops at seeded positions, each val photo "
                  f"{'its centre crop only' if val_views == 1 else f'its centre crop and {val_views - 1} zoomed crops'}, "
                  "each test photo its centre crop only" if views > 1 else "")
    lines = [f"# {name}: {title}; test SROCC {ev['srocc']:.3f}, PLCC {ev['plcc']:.3f}", "", f"**{title}** (sega architecture `{meta['arch']}`), weights `weights/{name}.safetensors` "
             f"({size / 1e6:.2f} MB, fp16 storage, {ev['parameters'] / 1e6:.2f} M parameters).", "",
             "## Architecture", "", layout + ".", "",
             "## Input protocol", "",
             f"RGB in [0, 1] (8-bit PNG/JPEG / 255), {protocol}; the model normalises itself (ImageNet mean/std, except "
             "the from-scratch CNNs CNNIQA and WaDIQaM). Output: predicted pseudo-MOS on 0..100 (higher = better quality); score range "
             f"{meta.get('score_lo', '0')}..{meta.get('score_hi', '100')} in the metadata.", "",
             "## Training", "",
             f"Initialisation: {init}. Data: sega's local dataset (`weights/dataset/build.py`, seed 0{views_flag}): 32 pristine photos "
             "(Debian mate-backgrounds nature/, lomiri-wallpapers, scikit-image) x 12 synthetic distortions x 5 levels, "
             f"288x384, pseudo-MOS from MS-SSIM, VIFp and GMSD; split by photo 20/5/7 (train {1200 * views} / val "
             f"{300 * val_views} / test 420 images{views_note}). "
             f"Recipe: `{recipe(name, meta['arch'], training, meta.get('lcn_c'))}` "
             f"({training.get('epochs', '?')} epochs, batch {training.get('batch', '?')}, AdamW lr {training.get('lr', '?')}, "
             f"auxiliary distortion type/level loss weight {training.get('aux', 0)}, "
             f"{training.get('seconds', 0) / 60:.0f} min on {training.get('threads', 1)} CPU thread(s)). " + selection(training), "",
             "## Test split (420 images of 7 photos never seen in training)", "",
             f"SROCC **{ev['srocc']:.4f}**, PLCC **{ev['plcc']:.4f}**.", "",
             "| distortion | SROCC | PLCC |", "|---|---|---|"]
    for d, v in ev["per_distortion"].items():
        lines.append(f"| {d} | {v['srocc']:.4f} | {v['plcc']:.4f} |")
    lines += ["", "## Cost", "", f"{gflops / 1e9:.2f} GFLOPs per 288x384 image (forward, 2 x multiply-adds, "
              "torch.utils.flop_counter).", "",
              "Scores from sega equal PyTorch's to 1e-4 relative (Tests/SegaModelsTests/TrainedModelTests.swift; "
              "weights/parity_split.py for the whole test split).", ""] + licences(spec, splits)
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--weights", default=HERE)
    ap.add_argument("--cards", action="store_true")
    ap.add_argument("--fixtures", type=int, default=0)
    ap.add_argument("--predictions", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(2)
    with open(os.path.join(a.data, "manifest.csv")) as f:
        every = list(csv.DictReader(f))
    splits = {r["source"]: r["split"] for r in every}
    rows = [r for r in every if r["split"] == "test"]
    paths = [os.path.join(a.data, r["path"]) for r in rows]
    mos = np.array([float(r["mos"]) for r in rows])
    dists = sorted(set(r["distortion"] for r in rows))
    fixture_rows = []
    if a.fixtures:
        step = max(1, len(rows) // a.fixtures)
        fixture_rows = rows[::step][:a.fixtures]
        os.makedirs(os.path.join(ROOT, "Tests/Fixtures/trained"), exist_ok=True)
        os.makedirs(os.path.join(HERE, "samples"), exist_ok=True)
        for r in fixture_rows:
            shutil.copyfile(os.path.join(a.data, r["path"]), os.path.join(HERE, "samples", os.path.basename(r["path"])))
    expect_lines = []
    for name in a.models.split(","):
        path = os.path.join(a.weights, f"{name}.safetensors")
        model, meta = load_model(path)
        p = scores(model, paths)
        ev = {"model": name, "arch": meta["arch"], "srocc": srocc(p, mos), "plcc": plcc(p, mos), "images": len(rows),
              "parameters": sum(t.numel() for t in model.state_dict().values()), "per_distortion": {}}
        for d in dists:
            idx = [i for i, r in enumerate(rows) if r["distortion"] == d]
            ev["per_distortion"][d] = {"srocc": srocc(p[idx], mos[idx]), "plcc": plcc(p[idx], mos[idx])}
        with open(os.path.join(a.weights, f"{name}.eval.json"), "w") as f:
            json.dump(ev, f, indent=1)
        print(f"evaluate: {name}: test SROCC {ev['srocc']:.4f} PLCC {ev['plcc']:.4f}", file=sys.stderr)
        if a.predictions:
            with open(os.path.join(a.data, f"predictions_{name}.tsv"), "w") as f:
                for r, v in zip(rows, p):
                    f.write(f"{r['path']}\t{float(v)!r}\n")
        if a.cards:
            with open(os.path.join(a.weights, f"{name}.md"), "w") as f:
                f.write(card(name, path, meta, ev, flops(model, 288, 384), model, splits))
        for r in fixture_rows:
            s = float(model(read_image(os.path.join(a.data, r["path"])))[0])
            expect_lines.append(f"{name}\t{os.path.basename(r['path'])}\t{s!r}")
    shipped = os.path.realpath(a.weights) == os.path.realpath(HERE)
    if a.fixtures and not shipped:  # candidates must not change what the parity test expects of the shipped files
        for name in a.models.split(","):
            with open(os.path.join(a.weights, f"{name}.expect.tsv"), "w") as f:
                f.write("".join(l + "\n" for l in expect_lines if l.split("\t")[0] == name))
    elif a.fixtures:
        # A run over some models keeps the other models' committed lines (same images), so
        # re-evaluating one retrained model does not drop the rest from the parity test.
        expect = os.path.join(ROOT, "Tests/Fixtures/trained/expect.tsv")
        done = set(a.models.split(","))
        kept = []
        if os.path.exists(expect):
            with open(expect) as f:
                kept = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#") and l.split("\t")[0] not in done]
        order = {m: i for i, m in enumerate(DEFAULT_MODELS)}
        lines = sorted(kept + expect_lines, key=lambda l: order.get(l.split("\t")[0], len(order)))  # stable
        tmp = expect + ".tmp"
        with open(tmp, "w") as f:
            f.write("# model\timage\tPyTorch score (fp32, from the shipped fp16 weights); written by weights/evaluate.py\n")
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, expect)


if __name__ == "__main__":
    main()
