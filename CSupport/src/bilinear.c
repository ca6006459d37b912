// bilinear.c - bilinear resize (PyTorch F.interpolate, mode="bilinear", antialias off).
//
// Source coordinate of destination index d (all in float, as PyTorch computes it for float):
//   align_corners:  src = d * (in-1)/(out-1)          (scale 0 when out == 1)
//   otherwise:      src = (d + 0.5) * in/out - 0.5,   clamped below at 0
// i0 = min(floor(src), in-1), i1 = i0 + (i0 < in-1), lambda = clamp(src - i0, 0, 1).
// y = h0*(w0*x[i0][j0] + w1*x[i0][j1]) + h1*(w0*x[i1][j0] + w1*x[i1][j1]).
// The per-column indices and weights are computed once per chunk of at most 256 columns into
// stack tables (no allocation), then reused for every channel and row. The backward keeps the
// reference's (channel, row, column) scatter order, so its sums are bit-identical to it.
#include "sega_eltwise.h"
#include <math.h>
#include <stdint.h>

#pragma STDC FP_CONTRACT OFF

typedef struct {
    int i0, i1;
    float l0, l1;
} lin_tap;

static float lin_scale(int in, int out, int align_corners) {
    if (align_corners) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return (float)in / (float)out;
}

static lin_tap lin_index(float scale, int d, int in, int align_corners) {
    float src;
    if (align_corners) {
        src = scale * (float)d;
    } else {
        src = scale * ((float)d + 0.5f) - 0.5f;
        if (src < 0.0f) src = 0.0f;
    }
    int i0 = (int)floorf(src);
    if (i0 > in - 1) i0 = in - 1;
    float lam = src - (float)i0;
    lam = lam < 0.0f ? 0.0f : (lam > 1.0f ? 1.0f : lam);
    lin_tap t = {i0, i0 + (i0 < in - 1 ? 1 : 0), 1.0f - lam, lam};
    return t;
}

#define SEGA_BL_CHUNK 1024

// Column taps of a chunk of at most SEGA_BL_CHUNK output columns.
typedef struct {
    int j0[SEGA_BL_CHUNK], j1[SEGA_BL_CHUNK];
    float w0[SEGA_BL_CHUNK], w1[SEGA_BL_CHUNK];
} lin_cols;

// Taps of output columns [c0, c0 + n) (input width w, scale sx).
static void lin_columns(lin_cols *t, float sx, int c0, int n, int w, int align_corners) {
    for (int k = 0; k < n; k++) {
        const lin_tap tp = lin_index(sx, c0 + k, w, align_corners);
        t->j0[k] = tp.i0; t->j1[k] = tp.i1; t->w0[k] = tp.l0; t->w1[k] = tp.l1;
    }
}

void sega_bilinear_fwd(size_t c, int h, int w, int oh, int ow, int align_corners,
                       const float *x, float *y) {
    const float sy = lin_scale(h, oh, align_corners), sx = lin_scale(w, ow, align_corners);
    const size_t plane = (size_t)h * w, oplane = (size_t)oh * ow;
    lin_cols tab;
    for (int c0 = 0; c0 < ow; c0 += SEGA_BL_CHUNK) {
        const int n = ow - c0 < SEGA_BL_CHUNK ? ow - c0 : SEGA_BL_CHUNK;
        lin_columns(&tab, sx, c0, n, w, align_corners);
        for (int oy = 0; oy < oh; oy++) {
            const lin_tap ty = lin_index(sy, oy, h, align_corners);
            for (size_t ch = 0; ch < c; ch++) {
                const float *r0 = x + ch * plane + (size_t)ty.i0 * w;
                const float *r1 = x + ch * plane + (size_t)ty.i1 * w;
                float *yr = y + ch * oplane + (size_t)oy * ow + c0;
                for (int t = 0; t < n; t++) {
                    const float a = tab.w0[t] * r0[tab.j0[t]] + tab.w1[t] * r0[tab.j1[t]];
                    const float b = tab.w0[t] * r1[tab.j0[t]] + tab.w1[t] * r1[tab.j1[t]];
                    yr[t] = ty.l0 * a + ty.l1 * b;
                }
            }
        }
    }
}

void sega_bilinear_bwd(size_t c, int h, int w, int oh, int ow, int align_corners,
                       const float *dy, float *dx) {
    const float sy = lin_scale(h, oh, align_corners), sx = lin_scale(w, ow, align_corners);
    const size_t plane = (size_t)h * w, oplane = (size_t)oh * ow;
    lin_cols tab;
    const int one_chunk = ow <= SEGA_BL_CHUNK;
    if (one_chunk) lin_columns(&tab, sx, 0, ow, w, align_corners);
    for (size_t ch = 0; ch < c; ch++) {
        for (int oy = 0; oy < oh; oy++) {
            const lin_tap ty = lin_index(sy, oy, h, align_corners);
            float *r0 = dx + ch * plane + (size_t)ty.i0 * w;
            float *r1 = dx + ch * plane + (size_t)ty.i1 * w;
            for (int c0 = 0; c0 < ow; c0 += SEGA_BL_CHUNK) {
                const int n = ow - c0 < SEGA_BL_CHUNK ? ow - c0 : SEGA_BL_CHUNK;
                if (!one_chunk) lin_columns(&tab, sx, c0, n, w, align_corners);
                const float *dyr = dy + ch * oplane + (size_t)oy * ow + c0;
                for (int t = 0; t < n; t++) {
                    const float d = dyr[t];
                    r0[tab.j0[t]] += ty.l0 * tab.w0[t] * d;
                    r0[tab.j1[t]] += ty.l0 * tab.w1[t] * d;
                    r1[tab.j0[t]] += ty.l1 * tab.w0[t] * d;
                    r1[tab.j1[t]] += ty.l1 * tab.w1[t] * d;
                }
            }
        }
    }
}
