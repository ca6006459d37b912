// pooling_ref.c - naive pooling references: one output at a time, explicit window scan.
#include "sega_pooling.h"
#include <math.h>
#include <string.h>

// Max over one window in scan order; the first in-image tap is taken unconditionally, then a
// tap wins if it is larger or NaN. Returns the winner's flat index (or -1) and its value.
static int32_t window_max(const sega_conv_geom *g, const float *xc, int oy, int ox, float *val) {
    float m = -INFINITY;
    int32_t idx = -1;
    for (int i = 0; i < g->kh; i++)
        for (int j = 0; j < g->kw; j++) {
            const int iy = oy * g->sh - g->pad_t + i * g->dh;
            const int ix = ox * g->sw - g->pad_l + j * g->dw;
            if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
            const float v = xc[(size_t)iy * g->w + ix];
            if (idx < 0 || v > m || isnan(v)) {
                m = v;
                idx = iy * g->w + ix;
            }
        }
    *val = m;
    return idx;
}

void sega_maxpool_fwd_ref(const sega_conv_geom *g, const float *x, float *y, int32_t *argmax) {
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * g->h * g->w;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                const size_t o = ((size_t)c * g->oh + oy) * g->ow + ox;
                argmax[o] = window_max(g, xc, oy, ox, &y[o]);
            }
    }
}

void sega_maxpool_bwd_ref(const sega_conv_geom *g, const float *x, const float *dy, float *dx) {
    const size_t plane = (size_t)g->h * g->w;
    memset(dx, 0, (size_t)g->c * plane * sizeof(float));
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * plane;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                float v;
                const int32_t idx = window_max(g, xc, oy, ox, &v);
                if (idx >= 0) dx[(size_t)c * plane + idx] += dy[((size_t)c * g->oh + oy) * g->ow + ox];
            }
    }
}

// PyTorch avg_pool2d: window [y0, y0+kh) clipped to the declared padded extent gives the
// count_include_pad divisor; clipped to the image it gives the pixels summed (and the other
// divisor). An empty clipped window gives 0.
static int avg_window(const sega_conv_geom *g, int pad_b, int pad_r, int cip, int oy, int ox,
                      int *ya, int *yb, int *xa, int *xb, long long *div) {
    // Declared paddings are clamped to [0, k] (beyond k they cannot clip a window that holds
    // a pixel; negative ones are meaningless).
    if (pad_b < 0) pad_b = 0;
    if (pad_b > g->kh) pad_b = g->kh;
    if (pad_r < 0) pad_r = 0;
    if (pad_r > g->kw) pad_r = g->kw;
    long long y0 = (long long)oy * g->sh - g->pad_t, x0 = (long long)ox * g->sw - g->pad_l;
    long long y1 = y0 + g->kh, x1 = x0 + g->kw;
    if (y1 > (long long)g->h + pad_b) y1 = (long long)g->h + pad_b;
    if (x1 > (long long)g->w + pad_r) x1 = (long long)g->w + pad_r;
    const long long pool = (y1 - y0) * (x1 - x0);
    if (y0 < 0) y0 = 0;
    if (x0 < 0) x0 = 0;
    if (y1 > g->h) y1 = g->h;
    if (x1 > g->w) x1 = g->w;
    if (y0 >= y1 || x0 >= x1) return 0;
    *ya = (int)y0; *yb = (int)y1; *xa = (int)x0; *xb = (int)x1;
    *div = cip ? pool : (y1 - y0) * (x1 - x0);
    return 1;
}

void sega_avgpool_fwd_ref(const sega_conv_geom *g, int pad_b, int pad_r, int count_include_pad,
                          const float *x, float *y) {
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * g->h * g->w;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                const size_t o = ((size_t)c * g->oh + oy) * g->ow + ox;
                int ya, yb, xa, xb;
                long long div;
                if (!avg_window(g, pad_b, pad_r, count_include_pad, oy, ox, &ya, &yb, &xa, &xb, &div)) {
                    y[o] = 0.0f;
                    continue;
                }
                float s = 0.0f;
                for (int iy = ya; iy < yb; iy++)
                    for (int ix = xa; ix < xb; ix++) s += xc[(size_t)iy * g->w + ix];
                y[o] = s / (float)div;
            }
    }
}

void sega_avgpool_bwd_ref(const sega_conv_geom *g, int pad_b, int pad_r, int count_include_pad,
                          const float *dy, float *dx) {
    const size_t plane = (size_t)g->h * g->w;
    memset(dx, 0, (size_t)g->c * plane * sizeof(float));
    for (int c = 0; c < g->c; c++) {
        float *dxc = dx + (size_t)c * plane;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                int ya, yb, xa, xb;
                long long div;
                if (!avg_window(g, pad_b, pad_r, count_include_pad, oy, ox, &ya, &yb, &xa, &xb, &div))
                    continue;
                const float d = dy[((size_t)c * g->oh + oy) * g->ow + ox] / (float)div;
                for (int iy = ya; iy < yb; iy++)
                    for (int ix = xa; ix < xb; ix++) dxc[(size_t)iy * g->w + ix] += d;
            }
    }
}
