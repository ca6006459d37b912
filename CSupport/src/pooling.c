// pooling.c - max and average pooling, forward and backward, single image CHW.
//
// Row-pass structure: for an output row, each kernel tap (i, j) is applied over the column
// range [lo, hi) where it is inside the image, so inner loops have no bounds tests and
// vectorise (max with selects, avg with adds). Taps are visited in the reference's scan order,
// so for every output the same comparisons / additions happen in the same order as in the
// reference: maxpool (values and argmax) and avgpool (forward and backward) are bit-identical
// to pooling_ref.c. Average pooling ignores dilation (PyTorch has none for it).
#include "sega_pooling.h"
#include "conv_internal.h"
#include "sega_engine.h"
#include "sega_threads.h"
#include <limits.h>
#include <math.h>
#include <string.h>

static long long floor_div(long long a, long long b) {
    long long q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

int sega_pool_out_size(int in, int k, int stride, int pad, int dil, int ceil_mode) {
    if (in <= 0 || k <= 0 || stride <= 0 || pad < 0 || dil <= 0) return -1;
    long long num = (long long)in + 2LL * pad - (long long)dil * (k - 1) - 1;
    long long out = floor_div(num + (ceil_mode ? stride - 1 : 0), stride) + 1;
    // Ceil mode: the last window must start inside the input or the left padding.
    if (ceil_mode && (out - 1) * stride >= (long long)in + pad) out--;
    if (out < 0) out = 0;
    return out > 0x7fffffffLL ? -1 : (int)out;
}

// ---------------------------------------------------------------------------------------------
// Planes split over the engine's threads: contiguous ranges of whole planes, one per thread, each
// plane computed by the same single-thread code (so the bytes never depend on the split).

// Input elements per thread below which a split is not worth waking a worker for.
#define SEGA_POOL_GRAIN 16384

typedef void (*planes_fn)(const void *ctx, int c0, int c1);
typedef struct { planes_fn fn; const void *ctx; int planes; } planes_job;

static void planes_task(void *vjob, int index, int count) {
    const planes_job *j = (const planes_job *)vjob;
    const int c0 = (int)((long long)j->planes * index / count), c1 = (int)((long long)j->planes * (index + 1) / count);
    if (c0 < c1) j->fn(j->ctx, c0, c1);
}

// fn over planes [0, g->c), split when e has threads and there is enough work.
static void run_planes(sega_engine *e, const sega_conv_geom *g, planes_fn fn, const void *ctx) {
    if (g->c <= 0) return;
    int parts = e ? sega_engine_threads(e) : 1;
    const size_t work = (size_t)g->c * ((size_t)g->h * g->w + (size_t)g->oh * g->ow);
    if ((size_t)parts > work / SEGA_POOL_GRAIN) parts = (int)(work / SEGA_POOL_GRAIN);
    if (parts > g->c) parts = g->c;
    if (parts <= 1) {
        fn(ctx, 0, g->c);
        return;
    }
    planes_job j = {fn, ctx, g->c};
    sega_pool_run(sega_engine_pool(e), planes_task, &j, parts);
}

// ---------------------------------------------------------------------------------------------
// Max pooling

// One tap over columns [lo, hi): take v if the slot is still empty (argmax < 0), if v is
// larger, or if v is NaN (PyTorch propagates NaN: the last NaN in scan order wins).
SEGA_INLINE void max_tap(float *restrict yr, int32_t *restrict ar, const float *restrict xr,
                         int lo, int hi, int off, int base, const int S) {
    for (int ox = lo; ox < hi; ox++) {
        const int ix = ox * S + off;
        const float v = xr[ix];
        const float cur = yr[ox];
        const int32_t ca = ar[ox];
        const int take = (ca < 0) | (v > cur) | (v != v);
        yr[ox] = take ? v : cur;
        ar[ox] = take ? base + ix : ca;
    }
}

SEGA_INLINE void maxpool_plane(const sega_conv_geom *g, const float *restrict x,
                               float *restrict y, int32_t *restrict am) {
    const int W = g->w, OW = g->ow, S = g->sw;
    for (int oy = 0; oy < g->oh; oy++) {
        float *yr = y + (size_t)oy * OW;
        int32_t *ar = am + (size_t)oy * OW;
        for (int ox = 0; ox < OW; ox++) { yr[ox] = -INFINITY; ar[ox] = -1; }
        const int iy0 = oy * g->sh - g->pad_t;
        for (int i = 0; i < g->kh; i++) {
            const int iy = iy0 + i * g->dh;
            if (iy < 0 || iy >= g->h) continue;
            const float *xr = x + (size_t)iy * W;
            const int base = iy * W;
            for (int j = 0; j < g->kw; j++) {
                const int off = j * g->dw - g->pad_l;
                int lo, hi;
                sega_tap_range(OW, S, off, W, &lo, &hi);
                if (S == 1) max_tap(yr, ar, xr, lo, hi, off, base, 1);
                else if (S == 2) max_tap(yr, ar, xr, lo, hi, off, base, 2);
                else max_tap(yr, ar, xr, lo, hi, off, base, S);
            }
        }
    }
}

static void maxpool_plane_portable(const sega_conv_geom *g, const float *x, float *y, int32_t *am) {
    maxpool_plane(g, x, y, am);
}
#if SEGA_HAVE_X86_KERNELS
SEGA_TARGET_AVX2 static void maxpool_plane_avx2(const sega_conv_geom *g, const float *x, float *y,
                                                int32_t *am) {
    maxpool_plane(g, x, y, am);
}
#endif

typedef void (*maxpool_plane_fn)(const sega_conv_geom *, const float *, float *, int32_t *);
typedef struct {
    const sega_conv_geom *g;
    const float *x, *dy;
    float *y, *dx;
    int32_t *argmax;
    const int32_t *am_in;
    maxpool_plane_fn plane;
} maxpool_ctx;

static void maxpool_fwd_planes(const void *vctx, int c0, int c1) {
    const maxpool_ctx *c = (const maxpool_ctx *)vctx;
    const sega_conv_geom *g = c->g;
    for (int p = c0; p < c1; p++) {
        const size_t o = (size_t)p * g->oh * g->ow;
        c->plane(g, c->x + (size_t)p * g->h * g->w, c->y + o, c->argmax + o);
    }
}

void sega_maxpool_fwd(sega_engine *e, const sega_conv_geom *g, const float *x, float *y, int32_t *argmax) {
    const sega_isa isa = sega__kernel_isa(e, SEGA_ISA_AVX2);
    maxpool_ctx c = {g, x, NULL, y, NULL, argmax, NULL, maxpool_plane_portable};
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX2) c.plane = maxpool_plane_avx2;
#endif
    (void)isa;
    run_planes(e, g, maxpool_fwd_planes, &c);
}

// dx += scatter of dy through argmax, planes [c0, c1) (a winner lies in its own plane).
static void maxpool_bwd_acc_planes(const void *vctx, int c0, int c1) {
    const maxpool_ctx *c = (const maxpool_ctx *)vctx;
    const sega_conv_geom *g = c->g;
    const size_t plane = (size_t)g->h * g->w, oplane = (size_t)g->oh * g->ow;
    for (int p = c0; p < c1; p++) {
        float *dxc = c->dx + (size_t)p * plane;
        const float *dyc = c->dy + (size_t)p * oplane;
        const int32_t *ac = c->am_in + (size_t)p * oplane;
        for (size_t o = 0; o < oplane; o++)
            if (ac[o] >= 0) dxc[ac[o]] += dyc[o];
    }
}

void sega_maxpool_bwd_acc(sega_engine *e, const sega_conv_geom *g, const float *dy, const int32_t *argmax,
                          float *dx) {
    const maxpool_ctx c = {g, NULL, dy, NULL, dx, NULL, argmax, NULL};
    run_planes(e, g, maxpool_bwd_acc_planes, &c);
}

void sega_maxpool_bwd(const sega_conv_geom *g, const float *dy, const int32_t *argmax, float *dx) {
    const size_t plane = (size_t)g->h * g->w, oplane = (size_t)g->oh * g->ow;
    memset(dx, 0, (size_t)g->c * plane * sizeof(float));
    for (int c = 0; c < g->c; c++) {
        float *dxc = dx + (size_t)c * plane;
        const float *dyc = dy + (size_t)c * oplane;
        const int32_t *ac = argmax + (size_t)c * oplane;
        for (size_t o = 0; o < oplane; o++)
            if (ac[o] >= 0) dxc[ac[o]] += dyc[o];
    }
}

// ---------------------------------------------------------------------------------------------
// Average pooling

// Window rows of output row oy: image rows [*a, *b); *ph = rows of the window clipped to the
// declared padded extent (the count_include_pad height).
static void avg_rows(const sega_conv_geom *g, int pad_b, int oy, int *a, int *b, int *ph) {
    const int y0 = oy * g->sh - g->pad_t;
    long long y1 = (long long)y0 + g->kh;
    if (y1 > (long long)g->h + pad_b) y1 = (long long)g->h + pad_b;
    *ph = (int)(y1 - y0);
    *a = y0 < 0 ? 0 : y0;
    *b = (int)(y1 < g->h ? y1 : g->h);
}

// Divisor of output column ox given the row extent; 0 when the window holds no pixel.
static float avg_div(const sega_conv_geom *g, int pad_r, int cip, int ox, int rows, int ph) {
    const int x0 = ox * g->sw - g->pad_l;
    long long x1 = (long long)x0 + g->kw;
    if (x1 > (long long)g->w + pad_r) x1 = (long long)g->w + pad_r;
    const long long pw = x1 - x0;
    const long long a = x0 < 0 ? 0 : x0, b = x1 < g->w ? x1 : g->w;
    if (rows <= 0 || b <= a) return 0.0f;
    return (float)(cip ? (long long)ph * pw : (long long)rows * (b - a));
}

SEGA_INLINE void add_tap(float *restrict yr, const float *restrict xr, int lo, int hi, int off,
                         const int S) {
    for (int ox = lo; ox < hi; ox++) yr[ox] += xr[ox * S + off];
}

SEGA_INLINE void avgpool_plane(const sega_conv_geom *g, int pad_b, int pad_r, int cip,
                               const float *restrict xc, float *restrict yc) {
    const int W = g->w, OW = g->ow, S = g->sw, KW = g->kw, PL = g->pad_l;
    const long long wl = (long long)W + pad_r;
    const int wlim = wl > INT_MAX ? INT_MAX : (int)wl;
    for (int oy = 0; oy < g->oh; oy++) {
        float *yr = yc + (size_t)oy * OW;
        int a, b, ph;
        avg_rows(g, pad_b, oy, &a, &b, &ph);
        for (int ox = 0; ox < OW; ox++) yr[ox] = 0.0f;
        if (b <= a) continue;
        for (int iy = a; iy < b; iy++) {
            const float *xr = xc + (size_t)iy * W;
            for (int j = 0; j < KW; j++) {
                const int off = j - PL;
                int lo, hi;
                sega_tap_range(OW, S, off, W, &lo, &hi);
                if (S == 1) add_tap(yr, xr, lo, hi, off, 1);
                else if (S == 2) add_tap(yr, xr, lo, hi, off, 2);
                else add_tap(yr, xr, lo, hi, off, S);
            }
        }
        // Divisors in plain int arithmetic (vectorises); same values as avg_div.
        const int rows = b - a;
        for (int ox = 0; ox < OW; ox++) {
            const int x0 = ox * S - PL;
            const int x1 = x0 < wlim - KW ? x0 + KW : wlim;   // min(x0 + KW, wlim), no overflow
            const int xa = x0 > 0 ? x0 : 0, xb = x1 < W ? x1 : W;
            const int d = cip ? ph * (x1 - x0) : rows * (xb - xa);
            yr[ox] = xb > xa ? yr[ox] / (float)d : 0.0f;
        }
    }
}

static void avgpool_plane_portable(const sega_conv_geom *g, int pb, int pr, int cip, const float *x,
                                   float *y) {
    avgpool_plane(g, pb, pr, cip, x, y);
}
#if SEGA_HAVE_X86_KERNELS
SEGA_TARGET_AVX2 static void avgpool_plane_avx2(const sega_conv_geom *g, int pb, int pr, int cip,
                                                const float *x, float *y) {
    avgpool_plane(g, pb, pr, cip, x, y);
}
#endif

// Declared bottom/right paddings only clip windows; beyond the kernel size they no longer
// matter, and negative ones are meaningless: both are clamped to [0, k] (as in the reference).
static int clamp_pad(int p, int k) { return p < 0 ? 0 : (p > k ? k : p); }

typedef void (*avgpool_plane_fn)(const sega_conv_geom *, int, int, int, const float *, float *);
typedef struct {
    const sega_conv_geom *g;
    int pad_b, pad_r, cip;
    const float *x;
    float *y, *ws;
    avgpool_plane_fn plane;
} avgpool_ctx;

static void avgpool_fwd_planes(const void *vctx, int c0, int c1) {
    const avgpool_ctx *c = (const avgpool_ctx *)vctx;
    const sega_conv_geom *g = c->g;
    for (int p = c0; p < c1; p++)
        c->plane(g, c->pad_b, c->pad_r, c->cip, c->x + (size_t)p * g->h * g->w, c->y + (size_t)p * g->oh * g->ow);
}

void sega_avgpool_fwd(sega_engine *e, const sega_conv_geom *g, int pad_b, int pad_r,
                      int count_include_pad, const float *x, float *y) {
    pad_b = clamp_pad(pad_b, g->kh);
    pad_r = clamp_pad(pad_r, g->kw);
    const sega_isa isa = sega__kernel_isa(e, SEGA_ISA_AVX2);
    avgpool_ctx c = {g, pad_b, pad_r, count_include_pad, x, y, NULL, avgpool_plane_portable};
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX2) c.plane = avgpool_plane_avx2;
#endif
    (void)isa;
    run_planes(e, g, avgpool_fwd_planes, &c);
}

#define SEGA_AVG_CHUNK 512

void sega_avgpool_bwd(const sega_conv_geom *g, int pad_b, int pad_r, int count_include_pad,
                      const float *dy, float *dx) {
    pad_b = clamp_pad(pad_b, g->kh);
    pad_r = clamp_pad(pad_r, g->kw);
    const int W = g->w, OW = g->ow, S = g->sw;
    float gr[SEGA_AVG_CHUNK];
    memset(dx, 0, (size_t)g->c * g->h * W * sizeof(float));
    for (int c = 0; c < g->c; c++) {
        float *dxc = dx + (size_t)c * g->h * W;
        const float *dyc = dy + (size_t)c * g->oh * OW;
        for (int oy = 0; oy < g->oh; oy++) {
            int a, b, ph;
            avg_rows(g, pad_b, oy, &a, &b, &ph);
            if (b <= a) continue;
            const float *dyr = dyc + (size_t)oy * OW;
            for (int c0 = 0; c0 < OW; c0 += SEGA_AVG_CHUNK) {
                const int c1 = OW - c0 < SEGA_AVG_CHUNK ? OW : c0 + SEGA_AVG_CHUNK;
                for (int ox = c0; ox < c1; ox++) {
                    const float d = avg_div(g, pad_r, count_include_pad, ox, b - a, ph);
                    gr[ox - c0] = d > 0.0f ? dyr[ox] / d : 0.0f;
                }
                for (int iy = a; iy < b; iy++) {
                    float *dxr = dxc + (size_t)iy * W;
                    // Taps right to left: for a fixed input pixel the contributions then arrive
                    // in increasing ox, the reference's order, so the sums are bit-identical.
                    for (int j = g->kw - 1; j >= 0; j--) {
                        const int off = j - g->pad_l;
                        int lo, hi;
                        sega_tap_range(OW, S, off, W, &lo, &hi);
                        if (lo < c0) lo = c0;
                        if (hi > c1) hi = c1;
                        for (int ox = lo; ox < hi; ox++) dxr[(ptrdiff_t)ox * S + off] += gr[ox - c0];
                    }
                }
            }
        }
    }
}

// Planes [c0, c1): sega_avgpool_bwd on those planes alone into ws, then dx += ws there.
static void avgpool_bwd_acc_planes(const void *vctx, int c0, int c1) {
    const avgpool_ctx *c = (const avgpool_ctx *)vctx;
    sega_conv_geom sub = *c->g;
    sub.c = c1 - c0;
    const size_t plane = (size_t)sub.h * sub.w, n = (size_t)sub.c * plane;
    const float *dy = c->x + (size_t)c0 * sub.oh * sub.ow;
    float *ws = c->ws + (size_t)c0 * plane, *dx = c->y + (size_t)c0 * plane;
    sega_avgpool_bwd(&sub, c->pad_b, c->pad_r, c->cip, dy, ws);
    for (size_t i = 0; i < n; i++) dx[i] += ws[i];
}

void sega_avgpool_bwd_acc(sega_engine *e, const sega_conv_geom *g, int pad_b, int pad_r,
                          int count_include_pad, const float *dy, float *ws, float *dx) {
    const avgpool_ctx c = {g, pad_b, pad_r, count_include_pad, dy, dx, ws, NULL};
    run_planes(e, g, avgpool_bwd_acc_planes, &c);
}
