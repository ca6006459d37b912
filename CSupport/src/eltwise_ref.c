// eltwise_ref.c - scalar references for the elementwise, row-wise and resize kernels.
// Written for obviousness; transcendental math and reductions in double.
#include "sega_eltwise.h"
#include <math.h>

#pragma STDC FP_CONTRACT OFF

void sega_relu_fwd_ref(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = isnan(x[i]) ? x[i] : (x[i] > 0.0f ? x[i] : 0.0f);
}

void sega_sigmoid_fwd_ref(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
}

void sega_gelu_fwd_ref(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) {
        const double v = x[i];
        y[i] = (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0))));
    }
}

void sega_softmax_fwd_ref(size_t rows, size_t len, const float *x, float *y) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * len;
        double m = -INFINITY;
        for (size_t i = 0; i < len; i++) if (xr[i] > m) m = xr[i];
        double s = 0.0;
        for (size_t i = 0; i < len; i++) s += exp((double)xr[i] - m);
        for (size_t i = 0; i < len; i++) y[r * len + i] = (float)(exp((double)xr[i] - m) / s);
    }
}

void sega_layernorm_fwd_ref(size_t rows, size_t len, float eps, const float *x, const float *gamma,
                            const float *beta, float *y) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * len;
        double mu = 0.0, var = 0.0;
        for (size_t i = 0; i < len; i++) mu += xr[i];
        mu /= (double)len;
        for (size_t i = 0; i < len; i++) var += ((double)xr[i] - mu) * ((double)xr[i] - mu);
        var /= (double)len;
        const double rstd = 1.0 / sqrt(var + (double)eps);
        for (size_t i = 0; i < len; i++) {
            double v = ((double)xr[i] - mu) * rstd;
            if (gamma) v *= gamma[i];
            if (beta) v += beta[i];
            y[r * len + i] = (float)v;
        }
    }
}

// Reference source-index computation, per output pixel (the same float formula PyTorch uses).
static void ref_src(int d, int in, int out, int ac, int *i0, int *i1, float *lam) {
    float src;
    if (ac) {
        const float scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
        src = scale * (float)d;
    } else {
        const float scale = (float)in / (float)out;
        src = scale * ((float)d + 0.5f) - 0.5f;
        if (src < 0.0f) src = 0.0f;
    }
    int f = (int)floorf(src);
    if (f > in - 1) f = in - 1;
    float l = src - (float)f;
    if (l < 0.0f) l = 0.0f;
    if (l > 1.0f) l = 1.0f;
    *i0 = f;
    *i1 = f < in - 1 ? f + 1 : f;
    *lam = l;
}

void sega_bilinear_fwd_ref(size_t c, int h, int w, int oh, int ow, int align_corners,
                           const float *x, float *y) {
    for (size_t ch = 0; ch < c; ch++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int y0, y1, x0, x1;
                float ly, lx;
                ref_src(oy, h, oh, align_corners, &y0, &y1, &ly);
                ref_src(ox, w, ow, align_corners, &x0, &x1, &lx);
                const float *p = x + ch * (size_t)h * w;
                const float top = (1.0f - lx) * p[(size_t)y0 * w + x0] + lx * p[(size_t)y0 * w + x1];
                const float bot = (1.0f - lx) * p[(size_t)y1 * w + x0] + lx * p[(size_t)y1 * w + x1];
                y[(ch * oh + oy) * (size_t)ow + ox] = (1.0f - ly) * top + ly * bot;
            }
}

void sega_bilinear_bwd_ref(size_t c, int h, int w, int oh, int ow, int align_corners,
                           const float *dy, float *dx) {
    for (size_t ch = 0; ch < c; ch++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int y0, y1, x0, x1;
                float ly, lx;
                ref_src(oy, h, oh, align_corners, &y0, &y1, &ly);
                ref_src(ox, w, ow, align_corners, &x0, &x1, &lx);
                float *p = dx + ch * (size_t)h * w;
                const float d = dy[(ch * oh + oy) * (size_t)ow + ox];
                p[(size_t)y0 * w + x0] += (1.0f - ly) * (1.0f - lx) * d;
                p[(size_t)y0 * w + x1] += (1.0f - ly) * lx * d;
                p[(size_t)y1 * w + x0] += ly * (1.0f - lx) * d;
                p[(size_t)y1 * w + x1] += ly * lx * d;
            }
}
