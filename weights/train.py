#!/usr/bin/env python3
"""Train one of sega's shipped NR-IQA models on the local dataset (weights/dataset/build.py).

    python3 weights/train.py --arch ARCH --data DIR --out weights/NAME.safetensors
                             [--epochs E] [--batch B] [--lr LR] [--seed S] [--threads T]

ARCH: cnniqa, wadiqam (from scratch), hyperiqa_lite0, linearityiqa_lite0, dbcnn_lite0 (ImageNet
EfficientNet-Lite0 backbone, fine-tuned), vitiqa (transformer on the pretrained Lite0 stem).
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
import models_lite0 as ml  # noqa: E402
from convert import write_safetensors  # noqa: E402

FROZEN_BLOCKS = 3  # default of --freeze
# WaDIQaM at half pyiqa's width (16..256 channels): a quarter of the FLOPs (3.0 GFLOPs per
# 288x384 image instead of about 12), so 8 epochs on the 3-view data take about 40 min on one core.
WADIQAM_BASE = 16

DEFAULTS = {  # epochs, batch, lr (head), backbone lr multiplier
    "cnniqa": (40, 16, 1e-3, 1.0),
    "wadiqam": (8, 16, 3e-4, 1.0),
    "hyperiqa_lite0": (14, 8, 1e-3, 0.3),
    "linearityiqa_lite0": (14, 8, 1e-3, 0.3),
    "dbcnn_lite0": (14, 8, 1e-3, 0.3),
    "vitiqa": (16, 16, 3e-4, 0.5),
}


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


def feature_tap(model, arch):
    """(channels, hook): a forward hook keeps in hook.feat the pooled features the quality head reads."""
    class Tap:
        feat = None
    tap = Tap()
    if arch == "cnniqa":
        model.fc1.register_forward_pre_hook(lambda m, inp: setattr(tap, "feat", inp[0]))
        return model.fc1.in_features, tap
    if arch == "wadiqam":  # the forward keeps the patch-mean features in model.feat
        return model.fc_q[0].in_features, model
    if arch == "vitiqa":
        model.norm.register_forward_hook(lambda m, inp, out: setattr(tap, "feat", out[:, 0]))
        return model.norm.normalized_shape[0], tap

    def pooled(m, inp, out):
        f = out[0] if isinstance(out, tuple) else out
        tap.feat = f.mean(dim=(2, 3))
    model.backbone.register_forward_hook(pooled)
    return model.backbone.head_channels, tap


# MARK: - models

class CNNIQA(nn.Module):
    """pyiqa's CNNIQA layout (conv1 k x k, global max+min pool, fc1-fc2-fc3), names as pyiqa."""

    def __init__(self, ker=50, k=7, n1=800, n2=800, lcn_c=None):
        super().__init__()
        self.lcn_c = lcn_c
        self.conv1 = nn.Conv2d(3 if lcn_c is None else 4, ker, k)
        self.fc1 = nn.Linear(2 * ker, n1)
        self.fc2 = nn.Linear(n1, n2)
        self.fc3 = nn.Linear(n2, 1)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        if self.lcn_c is not None:
            x = lcn_input(x, self.lcn_c)
        h = self.conv1(x)
        h1 = F.max_pool2d(h, h.shape[-2:])
        h2 = -F.max_pool2d(-h, h.shape[-2:])
        h = torch.cat([h1, h2], 1).flatten(1)
        h = self.dropout(F.relu(self.fc1(h)))
        h = F.relu(self.fc2(h))
        return self.fc3(h).reshape(-1)


LCN_WINDOW = 7  # Kang et al.'s P = Q = 3
LUMA = (0.299, 0.587, 0.114)


def lcn_input(x, c):
    """[RGB, LCN(luma)] cropped to the valid window: Kang et al.'s local contrast normalisation
    (l - mean) / sqrt(var + c) over 7x7 windows (no padding), a fourth input channel beside the
    RGB it was computed from, so brightness and contrast stay visible to the filters."""
    g = F.conv2d(x, torch.tensor(LUMA, dtype=x.dtype).reshape(1, 3, 1, 1))
    mu = F.avg_pool2d(g, LCN_WINDOW, 1)
    var = F.avg_pool2d(g * g, LCN_WINDOW, 1) - mu * mu
    r = LCN_WINDOW // 2
    l = (g[..., r:-r, r:-r] - mu) * torch.rsqrt(var + c)
    return torch.cat([x[..., r:-r, r:-r], l], 1)


class WaDIQaM(nn.Module):
    """WaDIQaM-NR (Bosse et al. 2018) in pyiqa's layout (names features.N, fc_q.N, fc_w.N): every
    non-overlapping 32x32 patch of pyiqa's eval grid (corners range(0, side - 32, 32)) through 10
    3x3 convs with a 2x2 max pool after every second, then score = sum(q w) / sum(w) over the
    patches, q = fc_q(f), w = fc_w(f) + 1e-8. From scratch: no normalisation of the input.
    base: channels of the first conv (pyiqa's 32; the widths double at each pool up to 16 x base)."""

    def __init__(self, base=32):
        super().__init__()
        layers, c = [], 3
        for v in [base, base, "M", 2 * base, 2 * base, "M", 4 * base, 4 * base, "M",
                  8 * base, 8 * base, "M", 16 * base, 16 * base, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                conv = nn.Conv2d(c, v, 3, padding=1)
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # 10 plain convs: keep the scale
                nn.init.zeros_(conv.bias)
                layers += [conv, nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.fc_q = nn.Sequential(nn.Linear(c, c), nn.ReLU(True), nn.Dropout(), nn.Linear(c, 1))
        self.fc_w = nn.Sequential(nn.Linear(c, c), nn.ReLU(True), nn.Dropout(), nn.Linear(c, 1), nn.ReLU(True))
        self.feat = None

    def forward(self, x):
        b, _, h, w = x.shape
        r, c = (h - 1) // 32, (w - 1) // 32
        p = x[:, :, :r * 32, :c * 32].reshape(b, 3, r, 32, c, 32).permute(0, 2, 4, 1, 3, 5)
        f = self.features(p.reshape(b * r * c, 3, 32, 32).contiguous()).flatten(1)
        q = self.fc_q(f).reshape(b, r * c)
        wt = self.fc_w(f).reshape(b, r * c) + 1e-8
        self.feat = f.reshape(b, r * c, -1).mean(1)
        return (q * wt).sum(1) / wt.sum(1)


def build_model(arch, num_crop, freeze=FROZEN_BLOCKS, lcn=None, grid=14):
    if arch == "cnniqa":
        return CNNIQA(lcn_c=lcn)
    if arch == "wadiqam":
        return WaDIQaM(base=WADIQAM_BASE)
    if arch == "hyperiqa_lite0":
        m = ml.HyperIQALite0(num_crop=num_crop)
    elif arch == "linearityiqa_lite0":
        m = ml.LinearityIQALite0()
    elif arch == "dbcnn_lite0":
        m = ml.DBCNNLite0()
    elif arch == "vitiqa":
        m = ml.ViTIQA(grid=grid)
    else:
        raise SystemExit(f"train: unknown arch {arch}")
    skipped = ml.load_imagenet_backbone(m, prefix="backbone.")
    print(f"train: ImageNet backbone loaded ({len(skipped)} checkpoint tensors not used)", file=sys.stderr)
    # The stem and blocks 0-2 (stride 2-4, the most expensive part to back-propagate through at
    # 288x384) stay at their ImageNet values: 2 CPU cores, about 15 minutes per model.
    frozen = ["backbone._conv_stem.", "backbone._bn0."] + [f"backbone._blocks.{i}." for i in range(freeze)]
    for n, p in m.named_parameters():
        if any(n.startswith(f) for f in frozen):
            p.requires_grad_(False)
    return m


def output_affine(model, arch):
    """(tensors, bias): the tensors whose common scaling scales the model's output, and the bias
    whose shift shifts it (the last affine map; wadiqam's score is a weighted mean of q, so q's
    map; hyperiqa_lite0's is generated: the hyper network's last weight and bias layers)."""
    if arch == "cnniqa":
        return [model.fc3.weight, model.fc3.bias], model.fc3.bias
    if arch == "wadiqam":
        return [model.fc_q[3].weight, model.fc_q[3].bias], model.fc_q[3].bias
    if arch == "hyperiqa_lite0":
        return [t for lin in (model.fc_w[4], model.fc_b[4]) for t in (lin.weight, lin.bias)], model.fc_b[4].bias
    if arch == "linearityiqa_lite0":
        return [model.k, model.b], model.b
    if arch == "dbcnn_lite0":
        return [model.fc.weight, model.fc.bias], model.fc.bias
    if arch == "vitiqa":
        return [model.head.weight, model.head.bias], model.head.bias
    raise SystemExit(f"train: no output map known for {arch}")


@torch.no_grad()
def scale_output(model, arch, factor, shift=0.0):
    """Map the model's output s to factor * s + shift by changing its last affine map."""
    tensors, bias = output_affine(model, arch)
    for t in tensors:
        t.mul_(factor)
    bias.add_(shift)


def set_train_mode(model, arch):
    model.train()
    if arch not in ("cnniqa", "wadiqam"):
        for mod in model.backbone.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.eval()


# Training crop (h, w) per architecture; vitiqa resizes the whole image to 224x224 instead.
TRAIN_CROP = {"cnniqa": (112, 144), "wadiqam": (97, 129), "linearityiqa_lite0": (224, 288),
              "dbcnn_lite0": (224, 288)}  # hyperiqa_lite0: its own crop_size, square


def train_forward(model, arch, x, gen, crop=None):
    """Training-time forward on one random crop per batch: HyperIQA 224x224 (as the paper trains);
    LinearityIQA and DBCNN 224x288 (0.58x the cost; the distortions are global, so a crop keeps
    its image's label); CNNIQA 112x144 (patch training as Kang et al.); WaDIQaM 97x129 (a 3 x 4
    grid of its 32x32 patches; pyiqa trains on random patches too); crop overrides. All are
    tested on the whole image (HyperIQA on its num_crop crops)."""
    if arch != "vitiqa":
        ch, cw = crop or TRAIN_CROP.get(arch) or (model.crop_size, model.crop_size)
        _, _, h, w = x.shape
        if ch > h or cw > w:
            raise SystemExit(f"train: crop {ch}x{cw} is larger than the {h}x{w} images")
        i = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
        j = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
        x = x[..., i:i + ch, j:j + cw]
        return model.forward_patch(x) if arch == "hyperiqa_lite0" else model(x)
    return model(x)


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
    scale_output(model, arch, k, b)
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
    ap.add_argument("--arch", required=True, choices=sorted(DEFAULTS))
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
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    epochs, batch, lr, bb_mult = DEFAULTS[a.arch]
    epochs, batch, lr = a.epochs or epochs, a.batch or batch, a.lr or lr
    crop = None
    if a.crop:
        try:
            crop = tuple(int(v) for v in a.crop.split("x"))
        except ValueError:
            crop = ()
        if len(crop) != 2 or min(crop) < 33:
            raise SystemExit(f"train: --crop must be HxW with both sides > 32, got '{a.crop}'")
        if a.arch == "vitiqa":
            raise SystemExit("train: --crop does not apply to vitiqa (it resizes the whole image to 16 g x 16 g, --grid g)")

    if a.grid != 14 and (a.arch != "vitiqa" or not 1 <= a.grid <= 64):
        raise SystemExit(f"train: --grid applies to vitiqa only and must be 1..64, got {a.grid} for {a.arch}")
    if a.lcn is not None and (a.arch != "cnniqa" or not a.lcn >= 1e-6):  # sega refuses c < 1e-6 (fp32 var)
        raise SystemExit(f"train: --lcn applies to cnniqa only and must be >= 1e-6, got {a.lcn} for {a.arch}")
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
    if a.limit:
        xtr, ytr, dtr, ltr = xtr[:a.limit], ytr[:a.limit], dtr[:a.limit], ltr[:a.limit]
    ytr = ytr / 100.0
    model = build_model(a.arch, a.num_crop, a.freeze, a.lcn, a.grid).to(memory_format=torch.channels_last)
    aux = None
    if a.aux > 0:
        channels, tap = feature_tap(model, a.arch)
        aux = AuxHead(channels, len(types))
    bb = [p for n, p in model.named_parameters() if n.startswith("backbone.") and p.requires_grad]
    rest = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
    if aux is not None:
        rest += list(aux.parameters())
    groups = [{"params": rest, "lr": lr}]
    if bb:
        groups.append({"params": bb, "lr": lr * bb_mult})
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
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
        perm = torch.randperm(len(xtr), generator=gen)
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
    export(model, a, a.out, {"views": views, "train_images": len(xtr),
                             "crop": list(crop) if crop else None,
                             "epochs": epochs, "batch": batch, "lr": lr, "best_val_srocc": best if held_out else None,
                             "kept": chosen, "log": log, "seconds": round(time.time() - t0, 1)})
    print(f"train: wrote {a.out} ({chosen}, {time.time() - t0:.0f} s)", file=sys.stderr)


def export(model, a, path, record):
    """Write model (with its output scaled to MOS 0..100) in fp16 with sega's metadata; model is left unscaled."""
    scale_output(model, a.arch, 100.0)
    meta = {"arch": a.arch, "score_lo": "0", "score_hi": "100",
            "training": json.dumps({"data": "sega-iqa (weights/dataset/build.py"
                                    + (f" --views {record['views']})" if record.get("views", 1) > 1 else ")"), "seed": a.seed,
                                    "threads": a.threads, "train_on": a.train_on, "aux": a.aux,
                                    "denoise": a.denoise, "freeze": a.freeze, "swa": a.swa, "loss": a.loss,
                                    **({"grid": model.grid} if a.arch == "vitiqa" else {}), **record})}
    if a.arch == "hyperiqa_lite0":
        meta.update({"num_crop": str(model.num_crop), "crop_size": str(model.crop_size)})
    if a.arch == "vitiqa":
        meta["num_heads"] = str(model.num_heads)
    if a.arch == "cnniqa" and model.lcn_c is not None:
        meta["lcn_c"] = repr(model.lcn_c)
    if a.arch == "wadiqam":
        meta["base_channels"] = str(model.features[0].out_channels)
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    write_safetensors(path, sd, meta, "f16")
    scale_output(model, a.arch, 0.01)


if __name__ == "__main__":
    main()
