// dwconv.c - direct depthwise convolution (groups == channels), forward and both backwards.
//
// Each output row is split into a border and an interior. In the interior every tap of the
// kernel lands inside the image, and for the common shapes (3x3, 5x5, 7x7 kernels, stride 1
// or 2, no dilation) a fully unrolled loop keeps the accumulator in registers and vectorises
// across output columns. Everything else (borders, rows whose kernel window is clipped, other
// shapes) goes tap by tap over the column range [lo, hi) where that tap is valid, so no loop
// carries a per-element bounds test. The plane bodies are always-inline and instantiated twice:
// once for the baseline ISA and once under target("avx2,fma"), picked at run time.
// The stride-1 input gradient is the forward correlation of dy with the flipped kernel; other
// strides scatter tap by tap.
#include "sega_conv.h"
#include "sega_engine.h"
#include "sega_threads.h"
#include "conv_internal.h"
#include <stdatomic.h>
#include <string.h>

int sega__use_avx2(struct sega_engine *e) {
#if SEGA_HAVE_AVX2_VARIANTS
    if (e) return sega_engine_isa(e) >= SEGA_ISA_AVX2;
    static atomic_int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        v = sega_cpu_supports(SEGA_ISA_AVX2) ? 1 : 0;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
#else
    (void)e;
    return 0;
#endif
}

// Plane geometry. Unlike sega_conv_geom the paddings may be negative here (the flipped-kernel
// input gradient uses pad' = (k-1)*d - pad).
typedef struct {
    int H, W, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW;
} pgeom;

static pgeom pgeom_of(const sega_conv_geom *g) {
    pgeom p = {g->h, g->w, g->kh, g->kw, g->sh, g->sw, g->pad_t, g->pad_l, g->dh, g->dw, g->oh, g->ow};
    return p;
}

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

SEGA_INLINE void fwd_plane_body(const pgeom *p, const float *restrict x, const float *restrict w,
                                float b, float *restrict y) {
    // Columns where every horizontal tap is inside: lo of the first tap .. hi of the last.
    int xa, xb, ya, yb, t;
    sega_tap_range(p->OW, p->SW, -p->PL, p->W, &xa, &t);
    sega_tap_range(p->OW, p->SW, (p->KW - 1) * p->DW - p->PL, p->W, &t, &xb);
    sega_tap_range(p->OH, p->SH, -p->PT, p->H, &ya, &t);
    sega_tap_range(p->OH, p->SH, (p->KH - 1) * p->DH - p->PT, p->H, &t, &yb);
    int kind = 0;   // 0: generic; else 10*K + S
    if (p->DH == 1 && p->DW == 1 && p->KH == p->KW && (p->SW == 1 || p->SW == 2) && xb > xa &&
        (p->KH == 3 || p->KH == 5 || p->KH == 7))
        kind = 10 * p->KH + p->SW;
    for (int oy = 0; oy < p->OH; oy++) {
        float *yr = y + (size_t)oy * p->OW;
        if (kind == 0 || oy < ya || oy >= yb) {
            fwd_row_taps(p, x, w, b, yr, oy, 0, p->OW);
            continue;
        }
        fwd_row_taps(p, x, w, b, yr, oy, 0, xa);
        const float *xr0 = x + (ptrdiff_t)(oy * p->SH - p->PT) * p->W;
        const int off0 = -p->PL;
        switch (kind) {
        case 31: fwd_interior(xr0, p->W, w, b, yr, xa, xb, off0, 3, 1); break;
        case 32: fwd_interior(xr0, p->W, w, b, yr, xa, xb, off0, 3, 2); break;
        case 51: fwd_interior(xr0, p->W, w, b, yr, xa, xb, off0, 5, 1); break;
        case 52: fwd_interior(xr0, p->W, w, b, yr, xa, xb, off0, 5, 2); break;
        case 71: fwd_interior(xr0, p->W, w, b, yr, xa, xb, off0, 7, 1); break;
        default: fwd_interior(xr0, p->W, w, b, yr, xa, xb, off0, 7, 2); break;
        }
        fwd_row_taps(p, x, w, b, yr, oy, xb, p->OW);
    }
}

// Input gradient by scattering tap by tap (any stride). dx plane is overwritten.
SEGA_INLINE void bwd_plane_scatter_body(const pgeom *p, const float *restrict dy,
                                        const float *restrict w, float *restrict dx) {
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
SEGA_INLINE void bwd_weight_plane_body(const pgeom *p, const float *restrict x,
                                       const float *restrict dy, float *restrict dw) {
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

static void fwd_plane_portable(const pgeom *p, const float *x, const float *w, float b, float *y) {
    fwd_plane_body(p, x, w, b, y);
}
static void bwd_scatter_portable(const pgeom *p, const float *dy, const float *w, float *dx) {
    bwd_plane_scatter_body(p, dy, w, dx);
}
static void bwd_weight_portable(const pgeom *p, const float *x, const float *dy, float *dw) {
    bwd_weight_plane_body(p, x, dy, dw);
}
#if SEGA_HAVE_AVX2_VARIANTS
SEGA_AVX2_FN static void fwd_plane_avx2(const pgeom *p, const float *x, const float *w, float b,
                                        float *y) {
    fwd_plane_body(p, x, w, b, y);
}
SEGA_AVX2_FN static void bwd_scatter_avx2(const pgeom *p, const float *dy, const float *w, float *dx) {
    bwd_plane_scatter_body(p, dy, w, dx);
}
SEGA_AVX2_FN static void bwd_weight_avx2(const pgeom *p, const float *x, const float *dy, float *dw) {
    bwd_weight_plane_body(p, x, dy, dw);
}
#endif

static void fwd_plane(int avx2, const pgeom *p, const float *x, const float *w, float b, float *y) {
#if SEGA_HAVE_AVX2_VARIANTS
    if (avx2) { fwd_plane_avx2(p, x, w, b, y); return; }
#endif
    (void)avx2;
    fwd_plane_portable(p, x, w, b, y);
}

// ---------------------------------------------------------------------------------------------
// Forward

typedef struct {
    const sega_conv_geom *g;
    const float *x, *w, *bias;
    float *y;
    int avx2;
} fwd_ctx;

static void fwd_channel(void *vctx, int c, int count) {
    (void)count;
    const fwd_ctx *k = (const fwd_ctx *)vctx;
    const sega_conv_geom *g = k->g;
    const pgeom p = pgeom_of(g);
    fwd_plane(k->avx2, &p, k->x + (size_t)c * g->h * g->w, k->w + (size_t)c * g->kh * g->kw,
              k->bias ? k->bias[c] : 0.0f, k->y + (size_t)c * g->oh * g->ow);
}

void sega_dwconv_fwd(sega_engine *e, const sega_conv_geom *g, const float *x, const float *w,
                     const float *bias, float *y) {
    fwd_ctx k = {g, x, w, bias, y, sega__use_avx2(e)};
    if (e && g->c > 1) {
        sega_pool_run(sega_engine_pool(e), fwd_channel, &k, g->c);
    } else {
        for (int c = 0; c < g->c; c++) fwd_channel(&k, c, g->c);
    }
}

// ---------------------------------------------------------------------------------------------
// Input gradient

#define SEGA_DW_FLIP_MAX 256   // largest kh*kw handled through the flipped-kernel forward

typedef struct {
    const sega_conv_geom *g;
    const float *dy, *w;
    float *dx;
    int avx2;
} bwd_ctx;

static void bwd_channel(void *vctx, int c, int count) {
    (void)count;
    const bwd_ctx *k = (const bwd_ctx *)vctx;
    const sega_conv_geom *g = k->g;
    const float *dy = k->dy + (size_t)c * g->oh * g->ow;
    const float *w = k->w + (size_t)c * g->kh * g->kw;
    float *dx = k->dx + (size_t)c * g->h * g->w;
    const int taps = g->kh * g->kw;
    if (g->sh == 1 && g->sw == 1 && taps <= SEGA_DW_FLIP_MAX) {
        // dx = dy (*) flip(w) with padding (k-1)*d - pad, output h x w.
        float wf[SEGA_DW_FLIP_MAX];
        for (int t = 0; t < taps; t++) wf[t] = w[taps - 1 - t];
        pgeom p = {g->oh, g->ow, g->kh, g->kw, 1, 1,
                   (g->kh - 1) * g->dh - g->pad_t, (g->kw - 1) * g->dw - g->pad_l,
                   g->dh, g->dw, g->h, g->w};
        fwd_plane(k->avx2, &p, dy, wf, 0.0f, dx);
        return;
    }
    const pgeom p = pgeom_of(g);
#if SEGA_HAVE_AVX2_VARIANTS
    if (k->avx2) { bwd_scatter_avx2(&p, dy, w, dx); return; }
#endif
    bwd_scatter_portable(&p, dy, w, dx);
}

void sega_dwconv_bwd_input(sega_engine *e, const sega_conv_geom *g, const float *dy,
                           const float *w, float *dx) {
    bwd_ctx k = {g, dy, w, dx, sega__use_avx2(e)};
    if (e && g->c > 1) {
        sega_pool_run(sega_engine_pool(e), bwd_channel, &k, g->c);
    } else {
        for (int c = 0; c < g->c; c++) bwd_channel(&k, c, g->c);
    }
}

// ---------------------------------------------------------------------------------------------
// Weight gradient (single thread; no engine in the signature)

void sega_dwconv_bwd_weight(const sega_conv_geom *g, const float *x, const float *dy, float *dw) {
    const pgeom p = pgeom_of(g);
    const int avx2 = sega__use_avx2(NULL);
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * g->h * g->w;
        const float *dyc = dy + (size_t)c * g->oh * g->ow;
        float *dwc = dw + (size_t)c * g->kh * g->kw;
#if SEGA_HAVE_AVX2_VARIANTS
        if (avx2) { bwd_weight_avx2(&p, xc, dyc, dwc); continue; }
#endif
        (void)avx2;
        bwd_weight_portable(&p, xc, dyc, dwc);
    }
}
