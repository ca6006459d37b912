// dwconv_direct_impl.h - the direct (border/interior) depthwise path and the weight gradient,
// instantiated once per ISA file so the same source is compiled for that ISA (the AVX2 build
// fuses multiply-adds, so its results differ from the portable build's in the last bits).
// Include after defining:
//   SEGA_DW_ATTR     the function target attribute (empty for portable)
//   SEGA_DW_SUFFIX   portable | avx2: defines sega_dwconv_direct_*_<suffix>, sega_dwconv_wgrad_<suffix>
// (no include guard on purpose; both macros are #undef'd at the end).
//
// Each output row is split into a border and an interior. In the interior every tap lands inside
// the image, and for 3x3, 5x5, 7x7 kernels with stride 1 or 2 a fully unrolled loop (one
// function per shape, picked once per call) vectorises across output columns; borders go tap by
// tap over the column range [lo, hi) where that tap is valid.
#include "dwconv_internal.h"
#include <string.h>

#define SEGA_DW_CAT2(a, b) a##b
#define SEGA_DW_CAT(a, b) SEGA_DW_CAT2(a, b)
#define SEGA_DW_NAME(op) SEGA_DW_CAT(SEGA_DW_CAT(sega_dwconv_, op), SEGA_DW_CAT(_, SEGA_DW_SUFFIX))

// y[ox] += wv * xr[ox*S + off] for ox in [lo, hi).
SEGA_INLINE void axpy_strided(float *restrict yr, const float *restrict xr, float wv, int lo, int hi,
                              int off, int S) {
    if (S == 1) {
        for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox + off];
    } else if (S == 2) {
        for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xr[2 * ox + off];
    } else {
        for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xr[(ptrdiff_t)ox * S + off];
    }
}

// Generic forward over output columns [c0, c1) of row oy, tap by tap.
SEGA_INLINE void fwd_row_taps(const pgeom *p, const float *restrict x, const float *restrict w, float b,
                              float *restrict yr, int oy, int c0, int c1) {
    if (c0 >= c1) return;
    for (int ox = c0; ox < c1; ox++) yr[ox] = b;
    const int iy0 = oy * p->SH - p->PT;
    for (int i = 0; i < p->KH; i++) {
        const int iy = iy0 + i * p->DH;
        if (iy < 0 || iy >= p->H) continue;
        const float *xr = x + (size_t)iy * p->W;
        for (int j = 0; j < p->KW; j++) {
            const int off = j * p->DW - p->PL;
            int lo, hi;
            sega_tap_range(p->OW, p->SW, off, p->W, &lo, &hi);
            if (lo < c0) lo = c0;
            if (hi > c1) hi = c1;
            if (lo < hi) axpy_strided(yr, xr, w[i * p->KW + j], lo, hi, off, p->SW);
        }
    }
}

// Interior of a row whose window rows are all inside: K x K taps, stride S, dilation 1, all
// unrolled (K, S are constants after inlining). xr0 points at the window's top input row.
SEGA_INLINE void fwd_interior(const float *restrict xr0, int W, const float *restrict w, float b,
                              float *restrict yr, int xa, int xb, int off0, const int K, const int S) {
    for (int ox = xa; ox < xb; ox++) {
        const float *px = xr0 + (ptrdiff_t)ox * S + off0;
        float acc = b;
#pragma clang loop unroll(full)
        for (int i = 0; i < K; i++)
#pragma clang loop unroll(full)
            for (int j = 0; j < K; j++) acc += w[i * K + j] * px[(ptrdiff_t)i * W + j];
        yr[ox] = acc;
    }
}

#define SEGA_DW_INTERIOR(K, S)                                                                   \
    SEGA_DW_ATTR void SEGA_DW_NAME(direct_k##K##s##S)(const float *xr0, int W, const float *w,     \
                                                      float b, float *yr, int xa, int xb, int off0) { \
        fwd_interior(xr0, W, w, b, yr, xa, xb, off0, K, S);                                     \
    }
SEGA_DW_INTERIORS(SEGA_DW_INTERIOR)
#undef SEGA_DW_INTERIOR

SEGA_DW_ATTR void SEGA_DW_NAME(direct_fwd)(const pgeom *p, const float *restrict x, const float *restrict w,
                                           float b, float *restrict y, dw_interior_fn interior) {
    // Columns where every horizontal tap is inside: lo of the first tap .. hi of the last.
    int xa, xb, ya, yb, t;
    sega_tap_range(p->OW, p->SW, -p->PL, p->W, &xa, &t);
    sega_tap_range(p->OW, p->SW, (p->KW - 1) * p->DW - p->PL, p->W, &t, &xb);
    sega_tap_range(p->OH, p->SH, -p->PT, p->H, &ya, &t);
    sega_tap_range(p->OH, p->SH, (p->KH - 1) * p->DH - p->PT, p->H, &t, &yb);
    if (xb <= xa) interior = NULL;
    for (int oy = 0; oy < p->OH; oy++) {
        float *yr = y + (size_t)oy * p->OW;
        if (!interior || oy < ya || oy >= yb) {
            fwd_row_taps(p, x, w, b, yr, oy, 0, p->OW);
            continue;
        }
        fwd_row_taps(p, x, w, b, yr, oy, 0, xa);
        interior(x + (ptrdiff_t)(oy * p->SH - p->PT) * p->W, p->W, w, b, yr, xa, xb, -p->PL);
        fwd_row_taps(p, x, w, b, yr, oy, xb, p->OW);
    }
}

// Input gradient by scattering tap by tap (any stride). dx plane is overwritten.
SEGA_DW_ATTR void SEGA_DW_NAME(direct_bwd)(const pgeom *p, const float *restrict dy, const float *restrict w,
                                           float *restrict dx) {
    memset(dx, 0, (size_t)p->H * p->W * sizeof(float));
    for (int oy = 0; oy < p->OH; oy++) {
        const float *dyr = dy + (size_t)oy * p->OW;
        const int iy0 = oy * p->SH - p->PT;
        for (int i = 0; i < p->KH; i++) {
            const int iy = iy0 + i * p->DH;
            if (iy < 0 || iy >= p->H) continue;
            float *dxr = dx + (size_t)iy * p->W;
            for (int j = 0; j < p->KW; j++) {
                const int off = j * p->DW - p->PL;
                int lo, hi;
                sega_tap_range(p->OW, p->SW, off, p->W, &lo, &hi);
                const float wv = w[i * p->KW + j];
                if (p->SW == 1) {
                    for (int ox = lo; ox < hi; ox++) dxr[ox + off] += wv * dyr[ox];
                } else if (p->SW == 2) {
                    for (int ox = lo; ox < hi; ox++) dxr[2 * ox + off] += wv * dyr[ox];
                } else {
                    for (int ox = lo; ox < hi; ox++) dxr[(ptrdiff_t)ox * p->SW + off] += wv * dyr[ox];
                }
            }
        }
    }
}

// Weight gradient of one channel: dw[i][j] += sum over valid outputs of dy * x.
SEGA_DW_ATTR void SEGA_DW_NAME(wgrad)(const pgeom *p, const float *restrict x, const float *restrict dy,
                                      float *restrict dw) {
    for (int i = 0; i < p->KH; i++) {
        int oy_lo, oy_hi;
        const int offy = i * p->DH - p->PT;
        sega_tap_range(p->OH, p->SH, offy, p->H, &oy_lo, &oy_hi);
        for (int j = 0; j < p->KW; j++) {
            const int off = j * p->DW - p->PL;
            int lo, hi;
            sega_tap_range(p->OW, p->SW, off, p->W, &lo, &hi);
            float acc = 0.0f;
            for (int oy = oy_lo; oy < oy_hi && lo < hi; oy++) {
                const float *xr = x + (size_t)(oy * p->SH + offy) * p->W;
                const float *dyr = dy + (size_t)oy * p->OW;
                float s = 0.0f;
                if (p->SW == 1) {
#pragma clang loop vectorize(enable) interleave(enable)
                    for (int ox = lo; ox < hi; ox++) s += dyr[ox] * xr[ox + off];
                } else {
#pragma clang loop vectorize(enable)
                    for (int ox = lo; ox < hi; ox++) s += dyr[ox] * xr[(ptrdiff_t)ox * p->SW + off];
                }
                acc += s;
            }
            dw[i * p->KW + j] += acc;
        }
    }
}

#undef SEGA_DW_NAME
#undef SEGA_DW_CAT
#undef SEGA_DW_CAT2
#undef SEGA_DW_ATTR
#undef SEGA_DW_SUFFIX
