#!/usr/bin/env python3
"""Train one of sega's shipped NR-IQA models on the local dataset (weights/dataset/build.py).

    python3 weights/train.py --arch ARCH --data DIR --out weights/NAME.safetensors
                             [--epochs E] [--batch B] [--lr LR] [--seed S] [--threads T]

ARCH: cnniqa, wadiqam (from scratch), hyperiqa_lite0, linearityiqa_lite0, dbcnn_lite0 (ImageNet
EfficientNet-Lite0 backbone, fine-tuned), vitiqa (transformer on the pretrained Lite0 stem);
the targets lite2iqa (ImageNet EfficientNet-Lite2, fine-tuned) and vitiqa_patch (a ViT on pixel
patches, from scratch; --group/--rank train it on batches of versions of one photo with a
within-photo ranking loss). The models, their defaults and crop protocols are the registry's
(weights/iqa_models.py).
Targets are MOS / 100; the model's last affine layer is scaled by 100 at export, so every shipped
model predicts MOS on 0..100 directly. Model selection: the epoch with the best val SROCC (with
--train-on train,val nothing is held out and the last epoch is kept).
Backbone BatchNorm layers keep their ImageNet statistics (eval mode, affine trained): batches of
8 give poor statistics. The weights are written in fp16 (weights/convert.py's writer) with the
metadata sega needs (arch, num_crop, crop_size, num_heads, score range, training record).
"""
import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import iqa_models as R  # noqa: E402
import models_lite0 as ml  # noqa: E402
from convert import write_safetensors  # noqa: E402
from iqa_models import FROZEN_BLOCKS  # noqa: E402


# MARK: - data

def read_manifest(root):
    with open(os.path.join(root, "manifest.csv")) as f:
        return list(csv.DictReader(f))


def load_split(root, rows, split):
    """Images and MOS of the rows whose split is in `split` (a comma-separated list)."""
    rows = [r for r in rows if r["split"] in split.split(",")]
    imgs = np.stack([np.asarray(Image.open(os.path.join(root, r["path"])).convert("RGB")) for r in rows])
    mos = np.array([float(r["mos"]) for r in rows], dtype=np.float32)
    return rows, torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(mos)


def to_float(batch_u8):
    # channels_last: oneDNN's convolutions run about 15% faster on CPU in that layout
    return batch_u8.float().div_(255.0).contiguous(memory_format=torch.channels_last)


# MARK: - auxiliary task

class AuxHead(nn.Module):
    """Training-only head: distortion type (cross-entropy) and level (regression) predicted from
    the pooled features that feed the quality head. Not exported. With 20 training photos a
    MOS regressor alone learns content as much as distortion (val SROCC about 0.68 for
    LinearityIQA-Lite0); naming the distortion and its level pushes the shared features toward
    what generalises across photos, as DBCNN pre-trains its S-CNN on distortion classes."""

    def __init__(self, channels, types):
        super().__init__()
        self.fc = nn.Linear(channels, types + 1)
        self.types = types

    def loss(self, feat, dtype, level):
        o = self.fc(feat)
        return F.cross_entropy(o[:, :self.types], dtype) + F.mse_loss(o[:, self.types], level)


# MARK: - models (weights/iqa_models.py: the registry)

def build_model(arch, opts, freeze=FROZEN_BLOCKS):
    """An untrained model of `arch` (opts: num_crop, lcn, grid); a pretrained backbone is loaded
    from its ImageNet checkpoint and its first blocks frozen."""
    spec = R.get(arch, "train")
    m = spec.new(opts)
    if spec.imagenet is None:
        return m
    skipped = ml.load_imagenet_backbone(m, prefix="backbone.", variant=spec.imagenet)
    print(f"train: ImageNet backbone loaded ({len(skipped)} checkpoint tensors not used)", file=sys.stderr)
    # The stem and blocks 0-2 (stride 2-4, the most expensive part to back-propagate through at
    # 288x384) stay at their ImageNet values: 2 CPU cores, about 15 minutes per model.
    frozen = ["backbone._conv_stem.", "backbone._bn0."] + [f"backbone._blocks.{i}." for i in range(freeze)]
    for n, p in m.named_parameters():
        if any(n.startswith(f) for f in frozen):
            p.requires_grad_(False)
    return m


def set_train_mode(model, arch):
    model.train()
    if R.get(arch).imagenet is not None:
        for mod in model.backbone.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.eval()


def train_forward(model, arch, x, gen, crop=None):
    """Training-time forward on one random crop per batch: HyperIQA 224x224 (as the paper trains);
    LinearityIQA and DBCNN 224x288 (0.58x the cost; the distortions are global, so a crop keeps
    its image's label); CNNIQA 112x144 (patch training as Kang et al.); WaDIQaM 97x129 (a 3 x 4
    grid of its 32x32 patches; pyiqa trains on random patches too); crop overrides (the crop
    protocol is the registry's train_crop). All are tested on the whole image (HyperIQA on its
    num_crop crops); models without a crop protocol (vitiqa) resize the whole image themselves."""
    spec = R.get(arch)
    if spec.train_crop is not None:
        ch, cw = crop or spec.train_crop(model)
        _, _, h, w = x.shape
        if ch > h or cw > w:
            raise SystemExit(f"train: crop {ch}x{cw} is larger than the {h}x{w} images")
        step = spec.crop_step  # corners on this grid (1: anywhere)
        i = int(torch.randint(0, (h - ch) // step + 1, (1,), generator=gen)) * step
        j = int(torch.randint(0, (w - cw) // step + 1, (1,), generator=gen)) * step
        x = x[..., i:i + ch, j:j + cw]
        return spec.crop_forward(model, x, i, j) if spec.crop_forward else model(x)
    return model(x)


# MARK: - batches of one photo's versions

def grouped_order(view, k, gen):
    """A permutation of the training rows in runs of k rows of the same photo view (its
    distortions and levels; the last run of a view may be shorter), the runs in random order:
    a batch of B rows then holds B / k photos, each in k versions, and a within-photo loss
    compares versions of one content."""
    runs = []
    for v in torch.unique(view).tolist():
        rows = torch.nonzero(view == v).flatten()
        rows = rows[torch.randperm(len(rows), generator=gen)]
        runs += [rows[i:i + k] for i in range(0, len(rows), k)]
    order = torch.randperm(len(runs), generator=gen).tolist()
    return torch.cat([runs[i] for i in order])


def within_group_rank_loss(p, y, group, tau=0.05):
    """RankNet's pairwise logistic loss over the pairs of one photo view in the batch: for every
    pair with y_i > y_j, softplus(-(p_i - p_j) / tau) (tau in MOS / 100 units), times tau so its
    gradient is that of a hinge of slope 1 far from the margin; 0 when no pair qualifies."""
    pair = (group[:, None] == group[None, :]) & (y[:, None] > y[None, :])
    if not bool(pair.any()):
        return p.sum() * 0
    d = (p[:, None] - p[None, :])[pair]
    return tau * F.softplus(-d / tau).mean()


# MARK: - norm-in-norm loss

def norm_in_norm(p, y, eps=1e-8):
    """LinearityIQA's norm-in-norm loss (Li et al. 2020, q = 2, p = 1): predictions and labels of
    the batch each centred and divided by their L2 norm, then the mean absolute difference,
    scaled by sqrt(N) / 2 so it lies in [0, 1]. Invariant to the output's offset and scale, so
    it trains the ranking and linearity the correlations measure; the scale is fitted after."""
    ps, ys = p - p.mean(), y - y.mean()
    ps, ys = ps / (ps.norm() + eps), ys / (ys.norm() + eps)
    return (ps - ys).abs().mean() * math.sqrt(len(p)) / 2


@torch.no_grad()
def calibrate(model, arch, xtr, ytr):
    """Least-squares k, b mapping the output s to the training labels, folded into the model's last
    affine map(s) as k s + b (LinearityIQA fits the same linear mapping after its loss)."""
    s = torch.from_numpy(predict(model, xtr)).double()
    A = torch.stack([s, torch.ones_like(s)], 1)
    k, b = torch.linalg.lstsq(A, ytr.double().unsqueeze(1)).solution.reshape(-1).tolist()
    R.scale_output(model, arch, k, b)
    print(f"train: calibrated k {k:.5f} b {b:.5f}", file=sys.stderr, flush=True)


# MARK: - metrics

def srocc(a, b):
    ra = np.argsort(np.argsort(a)).astype(np.float64)
    rb = np.argsort(np.argsort(b)).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


def plcc(a, b):
    return float(np.corrcoef(np.asarray(a, np.float64), np.asarray(b, np.float64))[0, 1])


@torch.no_grad()
def predict(model, imgs, batch=8):
    model.eval()
    out = []
    for i in range(0, len(imgs), batch):
        out.append(model(to_float(imgs[i:i + batch])))
    return torch.cat(out).numpy()


# MARK: - main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", required=True, choices=sorted(R.trainable()))
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--num-crop", type=int, default=4, help="hyperiqa_lite0 test-time crops")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke runs)")
    ap.add_argument("--train-on", default="train",
                    help="splits to train on; with 'train,val' the last epoch is kept (val is no longer held out)")
    ap.add_argument("--aux", type=float, default=1.0, help="weight of the distortion type/level auxiliary loss (0: off)")
    ap.add_argument("--denoise", type=float, default=0.0,
                    help="train on (1-w) MOS + w * the training photos' mean MOS of the same distortion and level")
    ap.add_argument("--freeze", type=int, default=FROZEN_BLOCKS,
                    help="Lite0 blocks (after the stem) kept at their ImageNet values")
    ap.add_argument("--swa", type=float, default=0.0,
                    help="export the mean of the weights at the end of the last ceil(F * epochs) epochs "
                         "(stochastic weight averaging; 0: the selected epoch)")
    ap.add_argument("--crop", help="training crop HxW instead of the architecture's default (e.g. 224x288)")
    ap.add_argument("--loss", choices=("smoothl1", "nin"), default="smoothl1",
                    help="quality loss: smooth L1 on MOS/100, or norm-in-norm (the output's offset and scale fitted after)")
    ap.add_argument("--grid", type=int, default=14,
                    help="vitiqa: token grid g (the image is resized to 16 g x 16 g; sega reads g from pos_embed)")
    ap.add_argument("--lcn", type=float,
                    help="cnniqa: add a local-contrast-normalised luma channel, (l - mean) / sqrt(var + LCN) over 7x7")
    ap.add_argument("--save-last", help="also write the last epoch's weights here (to compare with --swa)")
    ap.add_argument("--group", type=int, default=0,
                    help="batches of runs of K versions (distortions, levels) of one photo view (0: plain shuffle)")
    ap.add_argument("--rank", type=float, default=0.0,
                    help="weight of a within-photo pairwise ranking loss (RankNet, temperature 0.05; needs --group)")
    ap.add_argument("--wd", type=float, default=1e-4, help="AdamW weight decay")
    ap.add_argument("--vit-depth", type=int, default=6, help="vitiqa_patch: transformer blocks")
    ap.add_argument("--tuned-on", choices=("val",),
                    help="record (for the card) that this recipe was chosen on the val split only")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    spec = R.get(a.arch, "train")
    epochs, batch, lr, bb_mult = spec.defaults
    epochs, batch, lr = a.epochs or epochs, a.batch or batch, a.lr or lr
    crop = None
    if a.crop:
        try:
            crop = tuple(int(v) for v in a.crop.split("x"))
        except ValueError:
            crop = ()
        if len(crop) != 2 or min(crop) < 33:
            raise SystemExit(f"train: --crop must be HxW with both sides > 32, got '{a.crop}'")
        if spec.train_crop is None:
            raise SystemExit(f"train: --crop does not apply to {a.arch} ({spec.no_crop})")

    if a.grid != 14 and (a.arch != "vitiqa" or not 1 <= a.grid <= 64):
        raise SystemExit(f"train: --grid applies to vitiqa only and must be 1..64, got {a.grid} for {a.arch}")
    if a.lcn is not None and (a.arch != "cnniqa" or not a.lcn >= 1e-6):  # sega refuses c < 1e-6 (fp32 var)
        raise SystemExit(f"train: --lcn applies to cnniqa only and must be >= 1e-6, got {a.lcn} for {a.arch}")
    if a.group < 0 or a.group == 1 or (a.rank > 0 and a.group == 0) or a.rank < 0:
        raise SystemExit(f"train: --group must be 0 or >= 2 and --rank >= 0 needs --group, got {a.group}, {a.rank}")
    rows = read_manifest(a.data)
    trows, xtr, ytr = load_split(a.data, rows, a.train_on)
    held_out = "val" not in a.train_on.split(",")
    if held_out:
        vrows, xva, yva = load_split(a.data, rows, "val")
    types = sorted(set(r["distortion"] for r in rows))
    dtr = torch.tensor([types.index(r["distortion"]) for r in trows])
    ltr = torch.tensor([(float(r["level"]) - 1) / 4 for r in trows])
    if a.denoise > 0:
        # The part of a label that depends on the photo (e.g. how much detail a blur removes) cannot
        # be learnt from 20 photos; shrinking toward the group mean keeps the model off it.
        groups = {}
        for r, y in zip(trows, ytr.tolist()):
            groups.setdefault((r["distortion"], r["level"]), []).append(y)
        gm = torch.tensor([float(np.mean(groups[(r["distortion"], r["level"])])) for r in trows])
        ytr = (1 - a.denoise) * ytr + a.denoise * gm
    # Photo view of each training row (build.py --views): the name before _distortion_level.
    view_of = [r["path"][:-len(f"_{r['distortion']}_{r['level']}.png")] for r in trows]
    if a.limit:
        xtr, ytr, dtr, ltr = xtr[:a.limit], ytr[:a.limit], dtr[:a.limit], ltr[:a.limit]
        view_of = view_of[:a.limit]
    view_ids = {v: i for i, v in enumerate(sorted(set(view_of)))}
    gtr = torch.tensor([view_ids[v] for v in view_of])
    ytr = ytr / 100.0
    model = build_model(a.arch, a, a.freeze).to(memory_format=torch.channels_last)
    if spec.data_init is not None:  # e.g. vitiqa_patch: whiten its patch embedding on 64 training images
        spec.data_init(model, to_float(xtr[::max(1, len(xtr) // 64)][:64]))
    aux = None
    if a.aux > 0:
        channels, tap = spec.tap(model)
        aux = AuxHead(channels, len(types))
    bb = [p for n, p in model.named_parameters() if n.startswith("backbone.") and p.requires_grad]
    rest = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
    if aux is not None:
        rest += list(aux.parameters())
    groups = [{"params": rest, "lr": lr}]
    if bb:
        groups.append({"params": bb, "lr": lr * bb_mult})
    opt = torch.optim.AdamW(groups, weight_decay=a.wd)
    steps = epochs * math.ceil(len(xtr) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in groups], total_steps=steps,
                                                pct_start=0.1, anneal_strategy="cos")
    gen = torch.Generator().manual_seed(a.seed)
    best, best_state, log = -2.0, None, []
    swa_epochs = math.ceil(a.swa * epochs) if a.swa > 0 else 0
    swa_state = None
    t0 = time.time()
    for ep in range(epochs):
        set_train_mode(model, a.arch)
        perm = grouped_order(gtr, a.group, gen) if a.group else torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            if len(idx) < 2:
                continue
            x = to_float(xtr[idx])
            # Mirror images left-right and upside down: the labels do not change, and with 20-25
            # photos every new-looking view of the content helps (train SROCC 0.96 vs test 0.81).
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x[flip] = x[flip].flip(-1)
            vflip = torch.rand(len(idx), generator=gen) < 0.5
            x[vflip] = x[vflip].flip(-2)
            y = ytr[idx]
            p = train_forward(model, a.arch, x, gen, crop)
            main = norm_in_norm(p, y) if a.loss == "nin" else F.smooth_l1_loss(p, y, beta=0.05)
            loss = main if aux is None else main + a.aux * aux.loss(tap.feat, dtr[idx], ltr[idx])
            if a.rank > 0:
                loss = loss + a.rank * within_group_rank_loss(p, y, gtr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += main.item() * len(idx)
            if (i // batch) % 25 == 0:
                print(f"train {a.arch}: epoch {ep + 1} step {i // batch} loss {float(loss):.4f} ({time.time() - t0:.0f} s)",
                      file=sys.stderr, flush=True)
        if held_out:
            pv = predict(model, xva)
            s, pl = srocc(pv, yva.numpy()), plcc(pv, yva.numpy())
        else:  # val is in the training set: nothing to select on, the last epoch is kept
            s = pl = None
        log.append({"epoch": ep + 1, "loss": total / len(xtr), "val_srocc": s, "val_plcc": pl,
                    "seconds": round(time.time() - t0, 1)})
        val = f"val SROCC {s:.4f} PLCC {pl:.4f}" if held_out else "no val (trained on it)"
        print(f"train {a.arch}: epoch {ep + 1}/{epochs} loss {total / len(xtr):.5f} {val} ({time.time() - t0:.0f} s)",
              file=sys.stderr, flush=True)
        if not held_out or s > best:
            best = s
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if ep >= epochs - swa_epochs:  # running mean of the last swa_epochs epochs' weights
            n = ep - (epochs - swa_epochs) + 1
            cur = model.state_dict()
            if swa_state is None:
                swa_state = {k: v.detach().clone() for k, v in cur.items()}
            else:
                for k, v in swa_state.items():
                    if v.is_floating_point():
                        v.add_((cur[k] - v) / n)
    if a.save_last:
        export(model, a, a.save_last, {"epochs": epochs, "batch": batch, "lr": lr, "best_val_srocc": None,
                                       "kept": "last epoch", "log": log, "seconds": round(time.time() - t0, 1)})
    if swa_state is not None:
        model.load_state_dict(swa_state)
        chosen = f"mean of the last {swa_epochs} epochs"
    else:
        model.load_state_dict(best_state)
        chosen = f"best val SROCC {best:.4f}" if held_out else "last epoch"
    if a.loss == "nin":  # the loss left the output's offset and scale free: fit them on the training set
        calibrate(model, a.arch, xtr, ytr)
    # Crops per photo in the training rows (build.py --views): the name before _distortion_level.
    names = {}
    for r in trows:
        names.setdefault(r["source"], set()).add(r["path"][:-len(f"_{r['distortion']}_{r['level']}.png")])
    views = max(len(v) for v in names.values())
    extra = {k: v for k, v, d in (("group", a.group, 0), ("rank", a.rank, 0.0), ("wd", a.wd, 1e-4),
                                  ("tuned_on", a.tuned_on, None)) if v != d}
    export(model, a, a.out, {"views": views, "train_images": len(xtr), **({"val_images": len(vrows)} if held_out else {}), **extra,
                             "crop": list(crop) if crop else None,
                             "epochs": epochs, "batch": batch, "lr": lr, "best_val_srocc": best if held_out else None,
                             "kept": chosen, "log": log, "seconds": round(time.time() - t0, 1)})
    print(f"train: wrote {a.out} ({chosen}, {time.time() - t0:.0f} s)", file=sys.stderr)


def export(model, a, path, record):
    """Write model (with its output scaled to MOS 0..100) in fp16 with sega's metadata; model is left unscaled."""
    spec = R.get(a.arch)
    R.scale_output(model, a.arch, 100.0)
    meta = {"arch": a.arch, "score_lo": "0", "score_hi": "100",
            "training": json.dumps({"data": "sega-iqa (weights/dataset/build.py"
                                    + (f" --views {record['views']})" if record.get("views", 1) > 1 else ")"), "seed": a.seed,
                                    "threads": a.threads, "train_on": a.train_on, "aux": a.aux,
                                    "denoise": a.denoise, "freeze": a.freeze, "swa": a.swa, "loss": a.loss,
                                    **spec.record(model), **record})}
    meta.update(R.export_metadata(model, a.arch))
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    write_safetensors(path, sd, meta, "f16")
    R.scale_output(model, a.arch, 0.01)


if __name__ == "__main__":
    main()
