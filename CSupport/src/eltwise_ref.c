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

// The four input pixels output (oy, ox) of one plane interpolates, as flat indices (top-left,
// top-right, bottom-left, bottom-right), and its row and column weights ly, lx.
typedef struct {
    size_t tl, tr, bl, br;
    float ly, lx;
} ref_pixel;

static ref_pixel ref_pixel_of(int oy, int ox, int h, int w, int oh, int ow, int ac) {
    int y0, y1, x0, x1;
    ref_pixel r;
    ref_src(oy, h, oh, ac, &y0, &y1, &r.ly);
    ref_src(ox, w, ow, ac, &x0, &x1, &r.lx);
    r.tl = (size_t)y0 * w + x0; r.tr = (size_t)y0 * w + x1;
    r.bl = (size_t)y1 * w + x0; r.br = (size_t)y1 * w + x1;
    return r;
}

// Every output pixel of every plane in order: adjoint == 0 writes y from x, adjoint == 1 adds
// the transpose of the same interpolation, y into x (x is then the gradient, y the output's).
static void bilinear_ref_walk(size_t c, int h, int w, int oh, int ow, int ac, float *x, float *y,
                              int adjoint) {
    for (size_t ch = 0; ch < c; ch++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                const ref_pixel r = ref_pixel_of(oy, ox, h, w, oh, ow, ac);
                float *p = x + ch * (size_t)h * w, *o = y + (ch * oh + oy) * (size_t)ow + ox;
                if (!adjoint) {
                    const float top = (1.0f - r.lx) * p[r.tl] + r.lx * p[r.tr];
                    const float bot = (1.0f - r.lx) * p[r.bl] + r.lx * p[r.br];
                    *o = (1.0f - r.ly) * top + r.ly * bot;
                } else {
                    const float d = *o;
                    p[r.tl] += (1.0f - r.ly) * (1.0f - r.lx) * d;
                    p[r.tr] += (1.0f - r.ly) * r.lx * d;
                    p[r.bl] += r.ly * (1.0f - r.lx) * d;
                    p[r.br] += r.ly * r.lx * d;
                }
            }
}

void sega_bilinear_fwd_ref(size_t c, int h, int w, int oh, int ow, int align_corners,
                           const float *x, float *y) {
    bilinear_ref_walk(c, h, w, oh, ow, align_corners, (float *)x, y, 0);   // reads x only
}

void sega_bilinear_bwd_ref(size_t c, int h, int w, int oh, int ow, int align_corners,
                           const float *dy, float *dx) {
    bilinear_ref_walk(c, h, w, oh, ow, align_corners, dx, (float *)dy, 1);   // reads dy only
}
