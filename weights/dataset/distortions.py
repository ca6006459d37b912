"""Synthetic distortions, 12 types x 5 levels, in the spirit of KADID-10k.

Each function maps float64 HxWx3 RGB in [0, 1] to the same, given a level 1..5 (1 = mildest)
and a numpy Generator for the random ones. Codecs go through Pillow (libjpeg-turbo, OpenJPEG),
which are deterministic for a fixed library version.
"""
import io

import numpy as np
from PIL import Image
from scipy import ndimage

from frmetrics import LUMA


def to_u8(x):
    return np.clip(np.floor(x * 255.0 + 0.5), 0, 255).astype(np.uint8)


def from_u8(a):
    return a.astype(np.float64) / 255.0


def _codec(x, **save):
    buf = io.BytesIO()
    Image.fromarray(to_u8(x)).save(buf, **save)
    buf.seek(0)
    return from_u8(np.asarray(Image.open(buf).convert("RGB")))


def gaussian_blur(x, level, rng):
    s = (0.8, 1.5, 2.5, 4.0, 6.0)[level - 1]
    return np.stack([ndimage.gaussian_filter(x[..., c], s, mode="reflect") for c in range(3)], -1)


def motion_blur(x, level, rng):
    length = (5, 9, 15, 21, 31)[level - 1]
    angle = rng.uniform(0.0, np.pi)
    k = np.zeros((length, length))
    c = (length - 1) / 2.0
    for t in np.linspace(-c, c, 4 * length):
        k[int(round(c + t * np.sin(angle))), int(round(c + t * np.cos(angle)))] = 1.0
    k /= k.sum()
    return np.stack([ndimage.correlate(x[..., ch], k, mode="reflect") for ch in range(3)], -1)


def jpeg(x, level, rng):
    q = (40, 20, 12, 7, 3)[level - 1]
    return _codec(x, format="JPEG", quality=q, subsampling=2)


def jpeg2000(x, level, rng):
    rate = (40, 80, 150, 300, 600)[level - 1]
    return _codec(x, format="JPEG2000", quality_mode="rates", quality_layers=[rate])


def white_noise(x, level, rng):
    s = (0.02, 0.04, 0.07, 0.11, 0.17)[level - 1]
    return np.clip(x + rng.normal(0.0, s, x.shape), 0.0, 1.0)


def impulse_noise(x, level, rng):
    p = (0.01, 0.03, 0.06, 0.10, 0.16)[level - 1]
    u = rng.random(x.shape[:2])
    salt = rng.random(x.shape[:2]) < 0.5
    y = x.copy()
    y[u < p] = np.where(salt[u < p, None], 1.0, 0.0)
    return y


def contrast_decrease(x, level, rng):
    c = (0.75, 0.6, 0.45, 0.32, 0.2)[level - 1]
    m = float(np.mean(x @ LUMA))
    return m + c * (x - m)


def darken(x, level, rng):
    g = (1.4, 1.8, 2.4, 3.2, 4.2)[level - 1]
    return x ** g


def brighten(x, level, rng):
    g = (1.4, 1.8, 2.4, 3.2, 4.2)[level - 1]
    return 1.0 - (1.0 - x) ** g


def oversharpen(x, level, rng):
    a = (1.0, 2.0, 3.5, 5.5, 8.0)[level - 1]
    b = np.stack([ndimage.gaussian_filter(x[..., c], 1.5, mode="reflect") for c in range(3)], -1)
    return np.clip(x + a * (x - b), 0.0, 1.0)


def quantize(x, level, rng):
    n = (24, 14, 9, 6, 4)[level - 1]
    return np.floor(x * (n - 1) + 0.5) / (n - 1)


def pixelate(x, level, rng):
    b = (2, 3, 5, 8, 12)[level - 1]
    h, w = x.shape[:2]
    im = Image.fromarray(to_u8(x))
    small = im.resize((max(1, w // b), max(1, h // b)), Image.Resampling.BOX)
    return from_u8(np.asarray(small.resize((w, h), Image.Resampling.NEAREST)))


DISTORTIONS = {
    "gaussian_blur": gaussian_blur,
    "motion_blur": motion_blur,
    "jpeg": jpeg,
    "jpeg2000": jpeg2000,
    "white_noise": white_noise,
    "impulse_noise": impulse_noise,
    "contrast_decrease": contrast_decrease,
    "darken": darken,
    "brighten": brighten,
    "oversharpen": oversharpen,
    "quantize": quantize,
    "pixelate": pixelate,
}
