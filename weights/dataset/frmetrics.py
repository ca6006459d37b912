"""Full-reference quality metrics used to label the dataset (numpy/scipy, float64).

Own implementations, written from the papers, so that the builder needs no PyTorch:
* MS-SSIM (Wang, Simoncelli, Bovik 2003): 11x11 Gaussian window, sigma 1.5, 5 scales with
  2x2 average downsampling, exponents (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), per RGB channel,
  averaged; negative contrast-structure terms are clamped to 0 (as piq does).
* GMSD (Xue et al. 2014): luma, 2x2 average + downsample by 2, Prewitt gradients (/3),
  c = 170 / 255^2, the standard deviation of the gradient-magnitude similarity map.
* VIFp (Sheikh & Bovik 2006, pixel-domain version): luma on the 0..255 scale, 4 scales,
  Gaussian windows of size 2^(5-s)+1 and sd size/5, sigma_nsq = 2.
`weights/dataset/check_metrics.py` compares them with piq's implementations.
"""
import numpy as np
from scipy import ndimage

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
LUMA = np.array([0.299, 0.587, 0.114])


def _gauss_kernel(size, sd):
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    k = np.exp(-(r * r) / (2.0 * sd * sd))
    return k / k.sum()


def _filter_valid(x, k):
    """Separable correlation with a 1-D kernel along both axes, 'valid' region only."""
    y = ndimage.correlate1d(x, k, axis=0, mode="constant")
    y = ndimage.correlate1d(y, k, axis=1, mode="constant")
    r = len(k) // 2
    return y[r:x.shape[0] - r, r:x.shape[1] - r]


def _ssim_terms(x, y, data_range=1.0):
    k = _gauss_kernel(11, 1.5)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = _filter_valid(x, k), _filter_valid(y, k)
    sxx = _filter_valid(x * x, k) - mx * mx
    syy = _filter_valid(y * y, k) - my * my
    sxy = _filter_valid(x * y, k) - mx * my
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    return lum, cs


def _down2(x):
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    x = x[:h, :w]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def ms_ssim(ref, dist):
    """ref, dist: float64 HxWx3 in [0, 1]."""
    vals = []
    for c in range(3):
        x, y = ref[..., c], dist[..., c]
        out = 1.0
        for s, w in enumerate(MSSSIM_WEIGHTS):
            lum, cs = _ssim_terms(x, y)
            if s == len(MSSSIM_WEIGHTS) - 1:
                out *= max(float(np.mean(lum * cs)), 0.0) ** w
            else:
                out *= max(float(np.mean(cs)), 0.0) ** w
                x, y = _down2(x), _down2(y)
        vals.append(out)
    return float(np.mean(vals))


def _luma(img):
    return img @ LUMA


def gmsd(ref, dist):
    x, y = _down2(_luma(ref)), _down2(_luma(dist))
    p = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float64) / 3.0

    def gm(z):
        gx = ndimage.correlate(z, p, mode="nearest")
        gy = ndimage.correlate(z, p.T, mode="nearest")
        return np.sqrt(gx * gx + gy * gy)

    c = 170.0 / 255.0 ** 2
    a, b = gm(x), gm(y)
    gms = (2 * a * b + c) / (a * a + b * b + c)
    return float(np.std(gms))


def vifp(ref, dist):
    x, y = _luma(ref) * 255.0, _luma(dist) * 255.0
    sigma_nsq = 2.0
    num = den = 0.0
    for s in range(1, 5):
        n = 2 ** (4 - s + 1) + 1
        k = _gauss_kernel(n, n / 5.0)
        if s > 1:
            x, y = _filter_valid(x, k)[::2, ::2], _filter_valid(y, k)[::2, ::2]
        mx, my = _filter_valid(x, k), _filter_valid(y, k)
        sxx = np.maximum(_filter_valid(x * x, k) - mx * mx, 0.0)
        syy = np.maximum(_filter_valid(y * y, k) - my * my, 0.0)
        sxy = _filter_valid(x * y, k) - mx * my
        g = sxy / (sxx + 1e-10)
        sv = syy - g * sxy
        g = np.where(sxx < 1e-10, 0.0, g)
        sv = np.where(sxx < 1e-10, syy, sv)
        sxx = np.where(sxx < 1e-10, 0.0, sxx)
        g = np.where(syy < 1e-10, 0.0, g)
        sv = np.where(syy < 1e-10, 0.0, sv)
        sv = np.where(g < 0, syy, sv)
        g = np.maximum(g, 0.0)
        sv = np.maximum(sv, 1e-10)
        num += float(np.sum(np.log10(1.0 + g * g * sxx / (sv + sigma_nsq))))
        den += float(np.sum(np.log10(1.0 + sxx / sigma_nsq)))
    return num / den if den > 0 else 1.0


def pseudo_mos(ref, dist):
    """(mos on 0..100, ms_ssim, vif, gmsd): the mean of MS-SSIM, VIF (clipped to [0, 1]) and
    1 - GMSD / 0.35 (clipped), mapped to 0..100 by a fixed monotone curve."""
    m, v, g = ms_ssim(ref, dist), vifp(ref, dist), gmsd(ref, dist)
    q = (min(max(m, 0.0), 1.0) + min(max(v, 0.0), 1.0) + min(max(1.0 - g / 0.35, 0.0), 1.0)) / 3.0
    mos = 100.0 * q ** 1.5
    return mos, m, v, g
