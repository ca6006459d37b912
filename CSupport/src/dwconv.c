// dwconv.c - direct depthwise convolution (groups == channels), forward and both backwards.
//
// Fast path (forward and input gradient whenever the column stride is <= 4, the kernel has
// <= 64 taps and a band of padded rows fits the 64 KB stack scratch): each channel is copied
// into a zero-padded, phase-major scratch (see dwplan below) so that every tap reads contiguous
// memory with no bounds tests; the AVX2+FMA (or AVX-512) kernel computes blocks of rows x 8/16
// outputs with one broadcast per weight. 3x3 and 5x5 with stride 1 or 2 are fully unrolled,
// other shapes go through a per-call table of tap offsets. Work is split over channels in
// contiguous blocks, one per pool thread; a channel's result does not depend on who computes
// it, so any thread count gives byte-identical output.
// The stride-1 input gradient is the forward correlation of dy with the flipped kernel; other
// strides gather per (row phase, column phase) class from a zero-padded copy of dy (dwgather)
// into the phase-major scratch and copy the interior out (scatter when dy does not fit).
//
// Fallback (exotic shapes, very wide rows): each output row is split into a border and an
// interior. In the interior every tap lands inside the image and for 3x3, 5x5, 7x7 kernels with
// stride 1 or 2 a fully unrolled loop vectorises across output columns; borders go tap by tap
// over the column range [lo, hi) where that tap is valid.
// Plane bodies are always-inline and instantiated for the baseline ISA and under
// target("avx2,fma") (the padded-path kernels also under "avx512f"), picked at run time.
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
// Padded-scratch path (the fast one).
//
// A channel's input plane is copied once into a zero-padded scratch that covers every input
// position any tap of any output reads, so the kernels below have no bounds tests at all. Each
// scratch row is stored phase-major: for column stride S the row holds S phases of LP floats,
// phase q holding the padded columns q, q+S, q+2S, ... Then tap column j*DW of output ox is
// element ox + (j*DW)/S of phase (j*DW)%S, so every tap of every stride reads contiguous memory
// and 8 (AVX2) or 16 (AVX-512) consecutive outputs are one unaligned load per tap. The phases
// are long enough (LP >= OW rounded up to 16 plus the largest tap offset) that whole vectors can
// be computed and only the stores at the row end are partial. All offsets are computed once per
// call (dwplan), none in the loops. The scratch (64 KB) lives on the worker's stack; planes
// that do not fit go through it in bands of output rows.

#ifndef DW_SCRATCH_FLOATS
#define DW_SCRATCH_FLOATS 16384   // 64 KB: holds a 3x3 stride-1 plane of 112 x 112 with padding
#endif
#define DW_MAX_SW 4
#define DW_MAX_TAPS 64
#define DW_VEC 8

typedef struct {
    pgeom p;
    int ok;                       // the padded path applies
    int kind;                     // 0 generic taps table; else 10*K + S (KH == KW == K, DH == DW == 1)
    int PH, LP, RS;               // padded plane rows, phase length, row stride (SW * LP)
    int band;                     // output rows per band (== OH when the whole plane fits)
    int SR;                       // scratch rows used by one band
    int rlo, rhi;                 // scratch rows r with input row r - PT inside [0, H)
    int klo[DW_MAX_SW], khi[DW_MAX_SW]; // per phase: k with input column k*SW + q - PL inside [0, W)
    int taps;
    int toff[DW_MAX_TAPS];        // tap (i, j) -> i*DH*RS + ((j*DW) % SW)*LP + (j*DW) / SW
} dwplan;

static void dwplan_make(dwplan *P, const pgeom *p) {
    memset(P, 0, sizeof(*P));
    P->p = *p;
    const long long taps = (long long)p->KH * p->KW;
    if (p->SW > DW_MAX_SW || taps > DW_MAX_TAPS) return;
    const long long PH = (long long)(p->OH - 1) * p->SH + (long long)(p->KH - 1) * p->DH + 1;
    // Rounded to 16 so that the AVX-512 kernel may also read whole vectors.
    const long long owr = ((long long)p->OW + 2 * DW_VEC - 1) / (2 * DW_VEC) * (2 * DW_VEC);
    const long long LP = owr + (long long)(p->KW - 1) * p->DW / p->SW;
    const long long RS = LP * p->SW;
    if (PH <= 0) return;
    // Planes larger than the scratch go in bands of output rows (each band re-reads the
    // (KH-1)*DH rows it shares with the previous one).
    const long long win = (long long)(p->KH - 1) * p->DH + 1;
    long long band = p->OH;
    if (PH * RS > DW_SCRATCH_FLOATS) {
        const long long rows = DW_SCRATCH_FLOATS / RS;
        if (rows < win) return;
        band = (rows - win) / p->SH + 1;
        if (band > p->OH) band = p->OH;
    }
    P->PH = (int)PH; P->LP = (int)LP; P->RS = (int)RS;
    P->band = (int)band;
    P->SR = band >= p->OH ? (int)PH : (int)((band - 1) * p->SH + win);
    sega_tap_range(P->PH, 1, -p->PT, p->H, &P->rlo, &P->rhi);
    for (int q = 0; q < p->SW; q++) sega_tap_range(P->LP, p->SW, q - p->PL, p->W, &P->klo[q], &P->khi[q]);
    P->taps = (int)taps;
    for (int i = 0; i < p->KH; i++)
        for (int j = 0; j < p->KW; j++) {
            const int cj = j * p->DW;
            P->toff[i * p->KW + j] = i * p->DH * P->RS + (cj % p->SW) * P->LP + cj / p->SW;
        }
    if (p->DH == 1 && p->DW == 1 && p->KH == p->KW && p->SH == p->SW && (p->SW == 1 || p->SW == 2) &&
        (p->KH == 3 || p->KH == 5))
        P->kind = 10 * p->KH + p->SW;
    P->ok = 1;
}

// Copy plane x (H x W) into the interior of the scratch. The padding must already be zero and
// stays zero (only the interior positions are written). Rows r in [ra, rb) of the padded plane (all inside [rlo, rhi)) go to scratch row r - r0.
static void dw_fill(const dwplan *P, const float *restrict x, float *restrict s, int ra, int rb, int r0) {
    const pgeom *p = &P->p;
    for (int r = ra; r < rb; r++) {
        const float *xr = x + (size_t)(r - p->PT) * p->W;
        float *sr = s + (size_t)(r - r0) * P->RS;
        if (p->SW == 1) {
            const int lo = P->klo[0], hi = P->khi[0];
            if (lo < hi) memcpy(sr + lo, xr + lo - p->PL, (size_t)(hi - lo) * sizeof(float));
            continue;
        }
        for (int q = 0; q < p->SW; q++) {
            float *sp = sr + (size_t)q * P->LP;
            const float *xq = xr + q - p->PL;
            for (int k = P->klo[q]; k < P->khi[q]; k++) sp[k] = xq[(ptrdiff_t)k * p->SW];
        }
    }
}

// Zero the part of the scratch the plan uses.
static void dw_zero(const dwplan *P, float *s) { memset(s, 0, (size_t)P->SR * P->RS * sizeof(float)); }

// dx plane (H x W) from the scatter scratch: every input position is overwritten.
static void dw_extract(const dwplan *P, const float *restrict s, float *restrict dx) {
    const pgeom *p = &P->p;
    memset(dx, 0, (size_t)p->H * p->W * sizeof(float));
    for (int r = P->rlo; r < P->rhi; r++) {
        float *dxr = dx + (size_t)(r - p->PT) * p->W;
        const float *sr = s + (size_t)r * P->RS;
        for (int q = 0; q < p->SW; q++) {
            const float *sp = sr + (size_t)q * P->LP;
            float *dq = dxr + q - p->PL;
            if (p->SW == 1) {
                if (P->klo[0] < P->khi[0])
                    memcpy(dq + P->klo[0], sp + P->klo[0], (size_t)(P->khi[0] - P->klo[0]) * sizeof(float));
            } else {
                for (int k = P->klo[q]; k < P->khi[q]; k++) dq[(ptrdiff_t)k * p->SW] = sp[k];
            }
        }
    }
}

// --- portable kernels: blocks of DW_VEC outputs in a local array (the compiler vectorises).

// One output row: yr[ox] = b + sum_t w[t] * base[off(t) + ox]. K, S constant after inlining
// (K == 0: generic taps table).
SEGA_INLINE void dwp_row(const dwplan *P, const float *restrict base, const float *restrict w, float b,
                         float *restrict yr, const int K, const int S) {
    const int OW = P->p.OW, LP = P->LP, RS = P->RS;
    for (int ox = 0; ox < OW; ox += DW_VEC) {
        float acc[DW_VEC];
        for (int v = 0; v < DW_VEC; v++) acc[v] = b;
        if (K) {
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) {
                    const float *src = base + (ptrdiff_t)i * RS + (j % S) * LP + j / S + ox;
                    const float wv = w[i * K + j];
                    for (int v = 0; v < DW_VEC; v++) acc[v] += wv * src[v];
                }
        } else {
            for (int t = 0; t < P->taps; t++) {
                const float *src = base + P->toff[t] + ox;
                const float wv = w[t];
                for (int v = 0; v < DW_VEC; v++) acc[v] += wv * src[v];
            }
        }
        const int n = OW - ox < DW_VEC ? OW - ox : DW_VEC;
        for (int v = 0; v < n; v++) yr[ox + v] = acc[v];
    }
}

SEGA_INLINE void dwp_fwd_plane(const dwplan *P, const float *restrict s, const float *restrict w, float b,
                               float *restrict y) {
    const pgeom *p = &P->p;
    for (int oy = 0; oy < p->OH; oy++) {
        const float *base = s + (size_t)oy * p->SH * P->RS;
        float *yr = y + (size_t)oy * p->OW;
        switch (P->kind) {
        case 31: dwp_row(P, base, w, b, yr, 3, 1); break;
        case 32: dwp_row(P, base, w, b, yr, 3, 2); break;
        case 51: dwp_row(P, base, w, b, yr, 5, 1); break;
        case 52: dwp_row(P, base, w, b, yr, 5, 2); break;
        default: dwp_row(P, base, w, b, yr, 0, 1); break;
        }
    }
}

// Scatter dy into the zeroed scratch: s[oy*SH*RS + off(t) + ox] += w[t] * dy[oy][ox].
static void dwp_scatter_plane(const dwplan *P, const float *restrict dy, const float *restrict w,
                              float *restrict s) {
    const pgeom *p = &P->p;
    for (int oy = 0; oy < p->OH; oy++) {
        float *base = s + (size_t)oy * p->SH * P->RS;
        const float *dyr = dy + (size_t)oy * p->OW;
        for (int t = 0; t < P->taps; t++) {
            float *dst = base + P->toff[t];
            const float wv = w[t];
            for (int ox = 0; ox < p->OW; ox++) dst[ox] += wv * dyr[ox];
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Strided input gradient as a gather. Padded row r = u*SH + a and phase-major column (q, k) of
// the scatter scratch receive exactly the taps (i, j) with (i*DH) % SH == a and (j*DW) % SW == q,
// from dy[u - (i*DH)/SH][k - (j*DW)/SW]. So with dy copied into a zero-padded buffer Y (TY rows
// on top, LY columns on the left) every (a, q) class is a stride-1 correlation: contiguous
// loads, no read-modify-write. The result lands in the phase-major scratch and is copied out
// with dw_extract.

#define DW_GATHER_FLOATS (DW_SCRATCH_FLOATS / 2)

typedef struct {
    int ok;
    int TY, LY, YW, YR;   // Y: top and left padding, row width, rows
    int KN;               // phase elements computed per row (max over phases of khi)
    int n[DW_MAX_SW][DW_MAX_SW];             // taps per class (a, q)
    int t[DW_MAX_SW][DW_MAX_SW][DW_MAX_TAPS];   // weight index
    int off[DW_MAX_SW][DW_MAX_SW][DW_MAX_TAPS]; // offset in Y relative to (u, k)
} dwgather;

static void dwgather_make(dwgather *G, const dwplan *P) {
    const pgeom *p = &P->p;
    G->ok = 0;
    if (!P->ok || P->band < p->OH || p->SH > DW_MAX_SW || p->SW > DW_MAX_SW) return;
    G->TY = (p->KH - 1) * p->DH / p->SH;
    G->LY = (p->KW - 1) * p->DW / p->SW;
    int kn = 0;
    for (int q = 0; q < p->SW; q++) if (P->khi[q] > kn) kn = P->khi[q];
    G->KN = kn;
    const long long knr = ((long long)kn + DW_VEC - 1) / DW_VEC * DW_VEC;
    const long long nu = ((long long)P->PH + p->SH - 1) / p->SH;
    const long long yw = knr + G->LY, yr = nu + G->TY;
    if (yw * yr > DW_GATHER_FLOATS) return;
    G->YW = (int)yw; G->YR = (int)yr;
    for (int a = 0; a < p->SH; a++)
        for (int q = 0; q < p->SW; q++) G->n[a][q] = 0;
    for (int i = 0; i < p->KH; i++)
        for (int j = 0; j < p->KW; j++) {
            const int a = i * p->DH % p->SH, di = i * p->DH / p->SH;
            const int q = j * p->DW % p->SW, dj = j * p->DW / p->SW;
            const int m = G->n[a][q]++;
            G->t[a][q][m] = i * p->KW + j;
            G->off[a][q][m] = (G->TY - di) * G->YW + (G->LY - dj);
        }
    G->ok = 1;
}

// Y interior = dy (the padding was zeroed once and is never written). Rows and columns of dy
// beyond what any computed position reads (oy >= YR - TY, ox >= YW - LY) are left out.
static void dwg_fill(const dwgather *G, const pgeom *p, const float *restrict dy, float *restrict Y) {
    const int nr = p->OH < G->YR - G->TY ? p->OH : G->YR - G->TY;
    const int nc = p->OW < G->YW - G->LY ? p->OW : G->YW - G->LY;
    for (int oy = 0; oy < nr; oy++)
        memcpy(Y + (size_t)(oy + G->TY) * G->YW + G->LY, dy + (size_t)oy * p->OW, (size_t)nc * sizeof(float));
}

static void dwg_plane_portable(const dwplan *P, const dwgather *G, const float *restrict Y,
                               const float *restrict w, float *restrict s) {
    const pgeom *p = &P->p;
    for (int r = P->rlo; r < P->rhi; r++) {
        const int u = r / p->SH, a = r % p->SH;
        const float *yb = Y + (size_t)u * G->YW;
        for (int q = 0; q < p->SW; q++) {
            float *d = s + (size_t)r * P->RS + (size_t)q * P->LP;
            const int n = G->n[a][q];
            for (int k = 0; k < G->KN; k++) {
                float acc = 0.0f;
                for (int m = 0; m < n; m++) acc += w[G->t[a][q][m]] * yb[G->off[a][q][m] + k];
                d[k] = acc;
            }
        }
    }
}

#if SEGA_HAVE_AVX2_VARIANTS
#include <immintrin.h>

static const int32_t dw_mask_tab[2 * DW_VEC] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

SEGA_AVX2_FN SEGA_INLINE void dwa_store(float *dst, __m256 v, int n) {
    if (n >= DW_VEC) _mm256_storeu_ps(dst, v);
    else _mm256_maskstore_ps(dst, _mm256_loadu_si256((const __m256i *)(dw_mask_tab + DW_VEC - n)), v);
}

// R output rows x NV vectors of outputs starting at column ox (R, NV, K, S constant after
// inlining; K == 0: generic taps table). Each weight is broadcast once for the R*NV products.
// Rows r of the block read the scratch at base + r*SH*RS.
SEGA_AVX2_FN SEGA_INLINE void dwa_block(const dwplan *P, const float *restrict base, const float *restrict w,
                                        float b, float *restrict yr, int ox, const int K, const int S,
                                        const int R, const int NV) {
    const int OW = P->p.OW, LP = P->LP, RS = P->RS;
    const ptrdiff_t rstep = (ptrdiff_t)P->p.SH * RS;
    __m256 acc[4][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm256_set1_ps(b);
    if (K) {
#pragma clang loop unroll(full)
        for (int i = 0; i < K; i++)
#pragma clang loop unroll(full)
            for (int j = 0; j < K; j++) {
                const __m256 wv = _mm256_broadcast_ss(w + i * K + j);
                const float *src = base + (ptrdiff_t)i * RS + (j % S) * LP + j / S + ox;
                for (int r = 0; r < R; r++)
                    for (int v = 0; v < NV; v++)
                        acc[r][v] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(src + r * rstep + v * DW_VEC), acc[r][v]);
            }
    } else {
        for (int t = 0; t < P->taps; t++) {
            const __m256 wv = _mm256_broadcast_ss(w + t);
            const float *src = base + P->toff[t] + ox;
            for (int r = 0; r < R; r++)
                for (int v = 0; v < NV; v++)
                    acc[r][v] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(src + r * rstep + v * DW_VEC), acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++)
            dwa_store(yr + (size_t)r * OW + ox + v * DW_VEC, acc[r][v], OW - ox - v * DW_VEC);
}

SEGA_AVX2_FN SEGA_INLINE void dwa_plane_k(const dwplan *P, const float *restrict s, const float *restrict w,
                                          float b, float *restrict y, const int K, const int S) {
    const pgeom *p = &P->p;
    const int OW = p->OW, OH = p->OH;
    const size_t rstep = (size_t)p->SH * P->RS;
    int oy = 0;
    if (OW <= DW_VEC) {
        // Small planes: four rows per step share each weight broadcast.
        for (; oy + 4 <= OH; oy += 4) dwa_block(P, s + oy * rstep, w, b, y + (size_t)oy * OW, 0, K, S, 4, 1);
        switch (OH - oy) {
        case 3: dwa_block(P, s + oy * rstep, w, b, y + (size_t)oy * OW, 0, K, S, 3, 1); break;
        case 2: dwa_block(P, s + oy * rstep, w, b, y + (size_t)oy * OW, 0, K, S, 2, 1); break;
        case 1: dwa_block(P, s + oy * rstep, w, b, y + (size_t)oy * OW, 0, K, S, 1, 1); break;
        default: break;
        }
    } else if (OW <= 2 * DW_VEC) {
        for (; oy + 4 <= OH; oy += 4) dwa_block(P, s + oy * rstep, w, b, y + (size_t)oy * OW, 0, K, S, 4, 2);
        for (; oy + 2 <= OH; oy += 2) dwa_block(P, s + oy * rstep, w, b, y + (size_t)oy * OW, 0, K, S, 2, 2);
        for (; oy < OH; oy++) dwa_block(P, s + oy * rstep, w, b, y + (size_t)oy * OW, 0, K, S, 1, 2);
    } else {
        for (; oy < OH; oy++) {
            const float *base = s + oy * rstep;
            float *yr = y + (size_t)oy * OW;
            int ox = 0;
            for (; ox + DW_VEC < OW; ox += 2 * DW_VEC) dwa_block(P, base, w, b, yr, ox, K, S, 1, 2);
            if (ox < OW) dwa_block(P, base, w, b, yr, ox, K, S, 1, 1);
        }
    }
}

SEGA_AVX2_FN static void dwa_fwd_plane(const dwplan *P, const float *restrict s, const float *restrict w,
                                       float b, float *restrict y) {
    switch (P->kind) {
    case 31: dwa_plane_k(P, s, w, b, y, 3, 1); break;
    case 32: dwa_plane_k(P, s, w, b, y, 3, 2); break;
    case 51: dwa_plane_k(P, s, w, b, y, 5, 1); break;
    case 52: dwa_plane_k(P, s, w, b, y, 5, 2); break;
    default: dwa_plane_k(P, s, w, b, y, 0, 1); break;
    }
}

// Taps outer (column index j outer, row i inner, so consecutive read-modify-writes hit different
// rows or phases and never a store still in flight at an overlapping address), columns inner.
SEGA_AVX2_FN static void dwa_scatter_plane(const dwplan *P, const float *restrict dy, const float *restrict w,
                                           float *restrict s) {
    const pgeom *p = &P->p;
    const int OW = p->OW, nfull = OW / DW_VEC * DW_VEC, rem = OW - nfull;
    const __m256i m = _mm256_loadu_si256((const __m256i *)(dw_mask_tab + DW_VEC - (rem ? rem : DW_VEC)));
    for (int oy = 0; oy < p->OH; oy++) {
        float *base = s + (size_t)oy * p->SH * P->RS;
        const float *dyr = dy + (size_t)oy * OW;
        const __m256 dtail = rem ? _mm256_maskload_ps(dyr + nfull, m) : _mm256_setzero_ps();
        for (int j = 0; j < p->KW; j++)
            for (int i = 0; i < p->KH; i++) {
                const int t = i * p->KW + j;
                float *dst = base + P->toff[t];
                const __m256 wv = _mm256_broadcast_ss(w + t);
                for (int ox = 0; ox < nfull; ox += DW_VEC)
                    _mm256_storeu_ps(dst + ox, _mm256_fmadd_ps(wv, _mm256_loadu_ps(dyr + ox), _mm256_loadu_ps(dst + ox)));
                if (rem)
                    _mm256_maskstore_ps(dst + nfull, m, _mm256_fmadd_ps(wv, dtail, _mm256_maskload_ps(dst + nfull, m)));
            }
    }
}

SEGA_AVX2_FN static void dwg_plane_avx2(const dwplan *P, const dwgather *G, const float *restrict Y,
                                        const float *restrict w, float *restrict s) {
    const pgeom *p = &P->p;
    const int KN = G->KN;
    for (int r = P->rlo; r < P->rhi; r++) {
        const int u = r / p->SH, a = r % p->SH;
        const float *yb = Y + (size_t)u * G->YW;
        for (int q = 0; q < p->SW; q++) {
            float *d = s + (size_t)r * P->RS + (size_t)q * P->LP;
            const int n = G->n[a][q];
            const int *tt = G->t[a][q], *oo = G->off[a][q];
            int k = 0;
            for (; k + DW_VEC < KN; k += 2 * DW_VEC) {
                __m256 a0 = _mm256_setzero_ps(), a1 = a0;
                for (int m = 0; m < n; m++) {
                    const __m256 wv = _mm256_broadcast_ss(w + tt[m]);
                    const float *src = yb + oo[m] + k;
                    a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(src), a0);
                    a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(src + DW_VEC), a1);
                }
                _mm256_storeu_ps(d + k, a0);
                dwa_store(d + k + DW_VEC, a1, KN - k - DW_VEC);
            }
            if (k < KN) {
                __m256 a0 = _mm256_setzero_ps();
                for (int m = 0; m < n; m++)
                    a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + tt[m]), _mm256_loadu_ps(yb + oo[m] + k), a0);
                dwa_store(d + k, a0, KN - k);
            }
        }
    }
}

// Stride-2 extract (inverse of dwa_fill_s2): interleave the two phases back into dx rows.
SEGA_AVX2_FN static void dwa_extract_s2(const dwplan *P, const float *restrict s, float *restrict dx) {
    const pgeom *p = &P->p;
    memset(dx, 0, (size_t)p->H * p->W * sizeof(float));
    const int lo = P->klo[0] > P->klo[1] ? P->klo[0] : P->klo[1];
    const int hi = P->khi[0] < P->khi[1] ? P->khi[0] : P->khi[1];
    for (int r = P->rlo; r < P->rhi; r++) {
        float *dxr = dx + (size_t)(r - p->PT) * p->W;
        const float *s0 = s + (size_t)r * P->RS, *s1 = s0 + P->LP;
        float *d0 = dxr - p->PL, *d1 = dxr + 1 - p->PL;
        for (int k = P->klo[0]; k < P->khi[0] && k < lo; k++) d0[2 * k] = s0[k];
        for (int k = P->klo[1]; k < P->khi[1] && k < lo; k++) d1[2 * k] = s1[k];
        int k = lo;
        for (; k + DW_VEC <= hi; k += DW_VEC) {
            const __m256 e = _mm256_loadu_ps(s0 + k), o = _mm256_loadu_ps(s1 + k);
            const __m256 l = _mm256_unpacklo_ps(e, o), h = _mm256_unpackhi_ps(e, o);
            _mm256_storeu_ps(d0 + 2 * k, _mm256_permute2f128_ps(l, h, 0x20));
            _mm256_storeu_ps(d0 + 2 * k + DW_VEC, _mm256_permute2f128_ps(l, h, 0x31));
        }
        for (int kk = k; kk < P->khi[0]; kk++) d0[2 * kk] = s0[kk];
        for (int kk = k; kk < P->khi[1]; kk++) d1[2 * kk] = s1[kk];
    }
}

// Stride-1 fill: row copies with 8-wide loads and stores, the last one masked (no memcpy calls
// for the short rows of small planes).
SEGA_AVX2_FN static void dwa_fill_s1(const dwplan *P, const float *restrict x, float *restrict s, int ra,
                                     int rb, int r0) {
    const pgeom *p = &P->p;
    const int lo = P->klo[0], n = P->khi[0] - lo;
    if (n <= 0) return;
    const int nfull = n / DW_VEC * DW_VEC, rem = n - nfull;
    const __m256i m = _mm256_loadu_si256((const __m256i *)(dw_mask_tab + DW_VEC - (rem ? rem : DW_VEC)));
    for (int r = ra; r < rb; r++) {
        const float *src = x + (size_t)(r - p->PT) * p->W + lo - p->PL;
        float *dst = s + (size_t)(r - r0) * P->RS + lo;
        for (int k = 0; k < nfull; k += DW_VEC) _mm256_storeu_ps(dst + k, _mm256_loadu_ps(src + k));
        if (rem) _mm256_maskstore_ps(dst + nfull, m, _mm256_maskload_ps(src + nfull, m));
    }
}

// Stride-2 fill: de-interleave pairs of input columns into the two phases, 8 pairs per step.
SEGA_AVX2_FN static void dwa_fill_s2(const dwplan *P, const float *restrict x, float *restrict s, int ra,
                                     int rb, int r0) {
    const pgeom *p = &P->p;
    const int lo = P->klo[0] > P->klo[1] ? P->klo[0] : P->klo[1];
    const int hi = P->khi[0] < P->khi[1] ? P->khi[0] : P->khi[1];
    for (int r = ra; r < rb; r++) {
        const float *xr = x + (size_t)(r - p->PT) * p->W;
        float *s0 = s + (size_t)(r - r0) * P->RS, *s1 = s0 + P->LP;
        const float *x0 = xr - p->PL, *x1 = xr + 1 - p->PL;
        int k = P->klo[0];
        for (; k < P->khi[0] && k < lo; k++) s0[k] = x0[2 * k];
        for (k = P->klo[1]; k < P->khi[1] && k < lo; k++) s1[k] = x1[2 * k];
        k = lo;
        for (; k + DW_VEC <= hi; k += DW_VEC) {
            const __m256 a = _mm256_loadu_ps(x0 + 2 * k), b = _mm256_loadu_ps(x0 + 2 * k + DW_VEC);
            // a = x0..x7, b = x8..x15 -> evens/odds within 128-bit lanes, then fix the lane order.
            const __m256 ev = _mm256_shuffle_ps(a, b, 0x88), od = _mm256_shuffle_ps(a, b, 0xDD);
            _mm256_storeu_ps(s0 + k, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8)));
            _mm256_storeu_ps(s1 + k, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xD8)));
        }
        for (int kk = k; kk < P->khi[0]; kk++) s0[kk] = x0[2 * kk];
        for (int kk = k; kk < P->khi[1]; kk++) s1[kk] = x1[2 * kk];
    }
}

// --- AVX-512: 16 outputs per vector, masked stores at the row end. Rows of at most 8 outputs
// stay on the AVX2 kernel (a 16-lane vector would be mostly idle).
#define SEGA_AVX512_FN __attribute__((target("avx512f,avx2,fma")))

SEGA_AVX512_FN SEGA_INLINE void dwz_store(float *dst, __m512 v, int n) {
    if (n >= 16) _mm512_storeu_ps(dst, v);
    else _mm512_mask_storeu_ps(dst, (__mmask16)((1u << n) - 1u), v);
}

SEGA_AVX512_FN SEGA_INLINE void dwz_block(const dwplan *P, const float *restrict base, const float *restrict w,
                                          float b, float *restrict yr, int ox, const int K, const int S,
                                          const int R, const int NV) {
    const int OW = P->p.OW, LP = P->LP, RS = P->RS;
    const ptrdiff_t rstep = (ptrdiff_t)P->p.SH * RS;
    __m512 acc[4][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_set1_ps(b);
    if (K) {
#pragma clang loop unroll(full)
        for (int i = 0; i < K; i++)
#pragma clang loop unroll(full)
            for (int j = 0; j < K; j++) {
                const __m512 wv = _mm512_set1_ps(w[i * K + j]);
                const float *src = base + (ptrdiff_t)i * RS + (j % S) * LP + j / S + ox;
                for (int r = 0; r < R; r++)
                    for (int v = 0; v < NV; v++)
                        acc[r][v] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src + r * rstep + v * 16), acc[r][v]);
            }
    } else {
        for (int t = 0; t < P->taps; t++) {
            const __m512 wv = _mm512_set1_ps(w[t]);
            const float *src = base + P->toff[t] + ox;
            for (int r = 0; r < R; r++)
                for (int v = 0; v < NV; v++)
                    acc[r][v] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src + r * rstep + v * 16), acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++)
            dwz_store(yr + (size_t)r * OW + ox + v * 16, acc[r][v], OW - ox - v * 16);
}

SEGA_AVX512_FN SEGA_INLINE void dwz_plane_k(const dwplan *P, const float *restrict s, const float *restrict w,
                                            float b, float *restrict y, const int K, const int S) {
    const pgeom *p = &P->p;
    const int OW = p->OW, OH = p->OH;
    const size_t rstep = (size_t)p->SH * P->RS;
    int oy = 0;
    if (OW <= 16) {
        for (; oy + 4 <= OH; oy += 4) dwz_block(P, s + oy * rstep, w, b, y + (size_t)oy * OW, 0, K, S, 4, 1);
        for (; oy < OH; oy++) dwz_block(P, s + oy * rstep, w, b, y + (size_t)oy * OW, 0, K, S, 1, 1);
    } else if (OW <= 32) {
        for (; oy + 2 <= OH; oy += 2) dwz_block(P, s + oy * rstep, w, b, y + (size_t)oy * OW, 0, K, S, 2, 2);
        for (; oy < OH; oy++) dwz_block(P, s + oy * rstep, w, b, y + (size_t)oy * OW, 0, K, S, 1, 2);
    } else {
        for (; oy < OH; oy++) {
            const float *base = s + oy * rstep;
            float *yr = y + (size_t)oy * OW;
            int ox = 0;
            for (; ox + 16 < OW; ox += 32) dwz_block(P, base, w, b, yr, ox, K, S, 1, 2);
            if (ox < OW) dwz_block(P, base, w, b, yr, ox, K, S, 1, 1);
        }
    }
}

SEGA_AVX512_FN static void dwz_fwd_plane(const dwplan *P, const float *restrict s, const float *restrict w,
                                         float b, float *restrict y) {
    if (P->p.OW <= DW_VEC) { dwa_fwd_plane(P, s, w, b, y); return; }
    switch (P->kind) {
    case 31: dwz_plane_k(P, s, w, b, y, 3, 1); break;
    case 32: dwz_plane_k(P, s, w, b, y, 3, 2); break;
    case 51: dwz_plane_k(P, s, w, b, y, 5, 1); break;
    case 52: dwz_plane_k(P, s, w, b, y, 5, 2); break;
    default: dwz_plane_k(P, s, w, b, y, 0, 1); break;
    }
}
#endif

static void dw_fill_any(const dwplan *P, int lvl, const float *x, float *s, int ra, int rb, int r0) {
#if SEGA_HAVE_AVX2_VARIANTS
    if (lvl && P->p.SW == 2) { dwa_fill_s2(P, x, s, ra, rb, r0); return; }
    if (lvl && P->p.SW == 1) { dwa_fill_s1(P, x, s, ra, rb, r0); return; }
#endif
    (void)lvl;
    dw_fill(P, x, s, ra, rb, r0);
}

static void dw_kernel_any(const dwplan *P, int lvl, const float *s, const float *w, float b, float *y) {
#if SEGA_HAVE_AVX2_VARIANTS
    if (lvl >= 2) { dwz_fwd_plane(P, s, w, b, y); return; }
    if (lvl) { dwa_fwd_plane(P, s, w, b, y); return; }
#endif
    (void)lvl;
    dwp_fwd_plane(P, s, w, b, y);
}

// One channel through the scratch s (zeroed by dw_zero before the first channel; the column
// padding is never written, the row padding is rewritten per band when there are several).
static void dw_fwd_one(const dwplan *P, int lvl, const float *x, const float *w, float b, float *y,
                       float *s) {
    const pgeom *p = &P->p;
    if (P->band >= p->OH) {
        dw_fill_any(P, lvl, x, s, P->rlo, P->rhi, 0);
        dw_kernel_any(P, lvl, s, w, b, y);
        return;
    }
    dwplan Q = *P;
    for (int oy0 = 0; oy0 < p->OH; oy0 += P->band) {
        const int n = p->OH - oy0 < P->band ? p->OH - oy0 : P->band;
        const int r0 = oy0 * p->SH, r1 = r0 + (n - 1) * p->SH + (p->KH - 1) * p->DH + 1;
        for (int r = r0; r < r1; r++)
            if (r < P->rlo || r >= P->rhi) memset(s + (size_t)(r - r0) * P->RS, 0, (size_t)P->RS * sizeof(float));
        const int ra = r0 > P->rlo ? r0 : P->rlo, rb = r1 < P->rhi ? r1 : P->rhi;
        if (ra < rb) dw_fill_any(P, lvl, x, s, ra, rb, r0);
        Q.p.OH = n;
        dw_kernel_any(&Q, lvl, s, w, b, y + (size_t)oy0 * p->OW);
    }
}

// Forward over channels [c0, c1) through the scratch. x, w, y point at channel 0.
static void dw_fwd_channels(const dwplan *P, int lvl, const float *x, const float *w, const float *bias,
                            float *y, int c0, int c1) {
    float s[DW_SCRATCH_FLOATS] __attribute__((aligned(64)));
    const pgeom *p = &P->p;
    const size_t xs = (size_t)p->H * p->W, ys = (size_t)p->OH * p->OW, ws = (size_t)p->KH * p->KW;
    dw_zero(P, s);
    for (int c = c0; c < c1; c++)
        dw_fwd_one(P, lvl, x + (size_t)c * xs, w + (size_t)c * ws, bias ? bias[c] : 0.0f, y + (size_t)c * ys, s);
}

// ---------------------------------------------------------------------------------------------
// Forward

// Number of channel blocks to dispatch: one per pool thread (the split never changes a result,
// each channel is computed the same way whoever computes it), so that each task zeroes its
// scratch once and reuses it for all its channels.
static int dw_blocks(sega_engine *e, int c) {
    int n = e ? sega_pool_threads(sega_engine_pool(e)) : 1;
    if (n > c) n = c;
    return n < 1 ? 1 : n;
}

static void dw_block_range(int c, int idx, int count, int *c0, int *c1) {
    *c0 = (int)((long long)c * idx / count);
    *c1 = (int)((long long)c * (idx + 1) / count);
}

typedef struct {
    const sega_conv_geom *g;
    const float *x, *w, *bias;
    float *y;
    int avx2;             // 0 portable, 1 AVX2+FMA, 2 AVX-512 (padded path only; the fallback uses AVX2)
    const dwplan *plan;
} fwd_ctx;

// Kernel level for the padded path: the engine's ISA when given, else the CPU's.
static int dw_level(sega_engine *e) {
    if (!sega__use_avx2(e)) return 0;
#if SEGA_HAVE_AVX2_VARIANTS
    if (e) return sega_engine_isa(e) >= SEGA_ISA_AVX512 ? 2 : 1;
    static atomic_int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        v = sega_cpu_supports(SEGA_ISA_AVX512) ? 2 : 1;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
#else
    return 1;
#endif
}

static void fwd_channel(void *vctx, int c, int count) {
    (void)count;
    const fwd_ctx *k = (const fwd_ctx *)vctx;
    const sega_conv_geom *g = k->g;
    const pgeom p = pgeom_of(g);
    fwd_plane(k->avx2, &p, k->x + (size_t)c * g->h * g->w, k->w + (size_t)c * g->kh * g->kw,
              k->bias ? k->bias[c] : 0.0f, k->y + (size_t)c * g->oh * g->ow);
}

static void fwd_block(void *vctx, int idx, int count) {
    const fwd_ctx *k = (const fwd_ctx *)vctx;
    int c0, c1;
    dw_block_range(k->g->c, idx, count, &c0, &c1);
    dw_fwd_channels(k->plan, k->avx2, k->x, k->w, k->bias, k->y, c0, c1);
}

void sega_dwconv_fwd(sega_engine *e, const sega_conv_geom *g, const float *x, const float *w,
                     const float *bias, float *y) {
    dwplan plan;
    const pgeom p = pgeom_of(g);
    dwplan_make(&plan, &p);
    fwd_ctx k = {g, x, w, bias, y, sega__use_avx2(e), &plan};
    if (plan.ok) {
        k.avx2 = dw_level(e);
        const int nb = dw_blocks(e, g->c);
        if (e && nb > 1) sega_pool_run(sega_engine_pool(e), fwd_block, &k, nb);
        else fwd_block(&k, 0, 1);
        return;
    }
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
    const dwplan *plan;   // stride 1: plan of the flipped forward; else plan of the scatter
    const dwgather *gather; // strided: gather tables (ok == 0: scatter)
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

static void bwd_block(void *vctx, int idx, int count) {
    const bwd_ctx *k = (const bwd_ctx *)vctx;
    const sega_conv_geom *g = k->g;
    const dwplan *P = k->plan;
    int c0, c1;
    dw_block_range(g->c, idx, count, &c0, &c1);
    const size_t xs = (size_t)g->h * g->w, ys = (size_t)g->oh * g->ow, ws = (size_t)g->kh * g->kw;
    float s[DW_SCRATCH_FLOATS] __attribute__((aligned(64)));
    if (g->sh == 1 && g->sw == 1) {
        // Flipped-kernel forward of dy, channel by channel (w flipped per channel).
        float wf[DW_MAX_TAPS];
        const int taps = (int)ws;
        dw_zero(P, s);
        for (int c = c0; c < c1; c++) {
            const float *w = k->w + (size_t)c * ws;
            for (int t = 0; t < taps; t++) wf[t] = w[taps - 1 - t];
            dw_fwd_one(P, k->avx2, k->dy + (size_t)c * ys, wf, 0.0f, k->dx + (size_t)c * xs, s);
        }
        return;
    }
    if (k->gather->ok) {
        const dwgather *G = k->gather;
        float Y[DW_GATHER_FLOATS] __attribute__((aligned(64)));
        memset(Y, 0, (size_t)G->YR * G->YW * sizeof(float));
        for (int c = c0; c < c1; c++) {
            const float *w = k->w + (size_t)c * ws;
            dwg_fill(G, &P->p, k->dy + (size_t)c * ys, Y);
#if SEGA_HAVE_AVX2_VARIANTS
            if (k->avx2) {
                dwg_plane_avx2(P, G, Y, w, s);
                if (P->p.SW == 2) dwa_extract_s2(P, s, k->dx + (size_t)c * xs);
                else dw_extract(P, s, k->dx + (size_t)c * xs);
                continue;
            }
#endif
            dwg_plane_portable(P, G, Y, w, s);
            dw_extract(P, s, k->dx + (size_t)c * xs);
        }
        return;
    }
    for (int c = c0; c < c1; c++) {
        dw_zero(P, s);
        const float *dy = k->dy + (size_t)c * ys, *w = k->w + (size_t)c * ws;
#if SEGA_HAVE_AVX2_VARIANTS
        if (k->avx2) dwa_scatter_plane(P, dy, w, s);
        else
#endif
            dwp_scatter_plane(P, dy, w, s);
        dw_extract(P, s, k->dx + (size_t)c * xs);
    }
}

void sega_dwconv_bwd_input(sega_engine *e, const sega_conv_geom *g, const float *dy,
                           const float *w, float *dx) {
    dwplan plan;
    dwgather gather;
    gather.ok = 0;
    if (g->sh == 1 && g->sw == 1) {
        const pgeom p = {g->oh, g->ow, g->kh, g->kw, 1, 1,
                         (g->kh - 1) * g->dh - g->pad_t, (g->kw - 1) * g->dw - g->pad_l,
                         g->dh, g->dw, g->h, g->w};
        dwplan_make(&plan, &p);
    } else {
        const pgeom p = pgeom_of(g);
        dwplan_make(&plan, &p);
        if (plan.band < g->oh) plan.ok = 0;   // the scatter needs the whole plane
        dwgather_make(&gather, &plan);
    }
    bwd_ctx k = {g, dy, w, dx, sega__use_avx2(e), &plan, &gather};
    if (plan.ok) {
        k.avx2 = dw_level(e);
        const int nb = dw_blocks(e, g->c);
        if (e && nb > 1) sega_pool_run(sega_engine_pool(e), bwd_block, &k, nb);
        else bwd_block(&k, 0, 1);
        return;
    }
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
