// conv_ref.c - naive references for im2col/col2im and depthwise convolution.
// One output element at a time with an explicit bounds test per tap; written for obviousness,
// not speed. The tests compare the fast kernels against these.
#include "sega_conv.h"
#include "sega_winograd.h"
#include <stddef.h>

static int inside(int v, int n) { return v >= 0 && v < n; }

// Every (column-matrix row, output pixel) pair in order, with the input element the tap reads:
// adjoint == 0 writes col from x (0 outside the image), adjoint == 1 adds col into x.
static void im2col_ref_walk(const sega_conv_geom *g, float *x, float *col, int adjoint) {
    const size_t ohw = (size_t)g->oh * g->ow;
    for (int ci = 0; ci < g->c; ci++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                const size_t row = ((size_t)ci * g->kh + i) * g->kw + j;
                for (int oy = 0; oy < g->oh; oy++)
                    for (int ox = 0; ox < g->ow; ox++) {
                        const int iy = oy * g->sh - g->pad_t + i * g->dh;
                        const int ix = ox * g->sw - g->pad_l + j * g->dw;
                        const int in = inside(iy, g->h) && inside(ix, g->w);
                        float *xe = in ? &x[((size_t)ci * g->h + iy) * g->w + ix] : NULL;
                        float *ce = &col[row * ohw + (size_t)oy * g->ow + ox];
                        if (!adjoint) *ce = xe ? *xe : 0.0f;
                        else if (xe) *xe += *ce;
                    }
            }
}

void sega_im2col_ref(const sega_conv_geom *g, const float *x, float *col) {
    im2col_ref_walk(g, (float *)x, col, 0);   // reads x only
}

void sega_col2im_ref(const sega_conv_geom *g, const float *col, float *x) {
    im2col_ref_walk(g, x, (float *)col, 1);   // reads col only
}

void sega_dwconv_fwd_ref(const sega_conv_geom *g, const float *x, const float *w,
                         const float *bias, float *y) {
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * g->h * g->w;
        const float *wc = w + (size_t)c * g->kh * g->kw;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                float acc = bias ? bias[c] : 0.0f;
                for (int i = 0; i < g->kh; i++)
                    for (int j = 0; j < g->kw; j++) {
                        const int iy = oy * g->sh - g->pad_t + i * g->dh;
                        const int ix = ox * g->sw - g->pad_l + j * g->dw;
                        if (inside(iy, g->h) && inside(ix, g->w))
                            acc += wc[i * g->kw + j] * xc[(size_t)iy * g->w + ix];
                    }
                y[((size_t)c * g->oh + oy) * g->ow + ox] = acc;
            }
    }
}

void sega_dwconv_bwd_input_ref(const sega_conv_geom *g, const float *dy, const float *w, float *dx) {
    const size_t plane = (size_t)g->h * g->w;
    for (size_t t = 0; t < (size_t)g->c * plane; t++) dx[t] = 0.0f;
    for (int c = 0; c < g->c; c++) {
        float *dxc = dx + (size_t)c * plane;
        const float *wc = w + (size_t)c * g->kh * g->kw;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                const float d = dy[((size_t)c * g->oh + oy) * g->ow + ox];
                for (int i = 0; i < g->kh; i++)
                    for (int j = 0; j < g->kw; j++) {
                        const int iy = oy * g->sh - g->pad_t + i * g->dh;
                        const int ix = ox * g->sw - g->pad_l + j * g->dw;
                        if (inside(iy, g->h) && inside(ix, g->w))
                            dxc[(size_t)iy * g->w + ix] += wc[i * g->kw + j] * d;
                    }
            }
    }
}

void sega_dwconv_bwd_weight_ref(const sega_conv_geom *g, const float *x, const float *dy, float *dw) {
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * g->h * g->w;
        const float *dyc = dy + (size_t)c * g->oh * g->ow;
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                float acc = 0.0f;
                for (int oy = 0; oy < g->oh; oy++)
                    for (int ox = 0; ox < g->ow; ox++) {
                        const int iy = oy * g->sh - g->pad_t + i * g->dh;
                        const int ix = ox * g->sw - g->pad_l + j * g->dw;
                        if (inside(iy, g->h) && inside(ix, g->w))
                            acc += dyc[(size_t)oy * g->ow + ox] * xc[(size_t)iy * g->w + ix];
                    }
                dw[((size_t)c * g->kh + i) * g->kw + j] += acc;
            }
    }
}

void sega_conv3x3_ref(int n, int k, int m, int h, int w, const float *x, const float *wt,
                      const float *bias, float *y) {
    const size_t plane = (size_t)h * w;
    for (int i = 0; i < n; i++)
        for (int o = 0; o < m; o++)
            for (int oy = 0; oy < h; oy++)
                for (int ox = 0; ox < w; ox++) {
                    double acc = bias ? bias[o] : 0.0;
                    for (int c = 0; c < k; c++)
                        for (int a = 0; a < 3; a++)
                            for (int b = 0; b < 3; b++) {
                                const int iy = oy - 1 + a, ix = ox - 1 + b;
                                if (inside(iy, h) && inside(ix, w))
                                    acc += (double)wt[(((size_t)o * k + c) * 3 + a) * 3 + b] *
                                           (double)x[((size_t)i * k + c) * plane + (size_t)iy * w + ix];
                            }
                    y[((size_t)i * m + o) * plane + (size_t)oy * w + ox] = (float)acc;
                }
}
