// dwconv_avx2.c - AVX2+FMA depthwise convolution kernels: the padded-path plane kernels (blocks
// of rows x 8/16 outputs, one broadcast per weight), stride-1/2 fills, the stride-2 extract, the
// strided gradient's scatter and gather, and the direct path (dwconv_direct_impl.h compiled for
// AVX2). Only the functions carry the ISA target; the file has no global -m flag.
#include "dwconv_internal.h"

#if SEGA_HAVE_X86_KERNELS
#include <immintrin.h>
#include <string.h>

#define SEGA_DW_ATTR SEGA_TARGET_AVX2
#define SEGA_DW_SUFFIX avx2
#include "dwconv_direct_impl.h"

static const int32_t dw_mask_tab[2 * DW_VEC] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

SEGA_TARGET_AVX2 SEGA_INLINE void dwa_store(float *dst, __m256 v, int n) {
    if (n >= DW_VEC) _mm256_storeu_ps(dst, v);
    else _mm256_maskstore_ps(dst, _mm256_loadu_si256((const __m256i *)(dw_mask_tab + DW_VEC - n)), v);
}

// --- plane kernels ---------------------------------------------------------------------------

// R output rows x NV vectors of outputs starting at column ox (R, NV, K, S constant after
// inlining; K == 0: generic taps table). Each weight is broadcast once for the R*NV products.
// Rows r of the block read the scratch at base + r*SH*RS.
SEGA_TARGET_AVX2 SEGA_INLINE void dwa_block(const dwplan *P, const float *restrict base,
                                            const float *restrict w, float b, float *restrict yr, int ox,
                                            const int K, const int S, const int R, const int NV) {
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

SEGA_TARGET_AVX2 SEGA_INLINE void dwa_plane(const dwplan *P, const float *restrict s, const float *restrict w,
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

#define SEGA_DW_PLANE(NAME, K, S)                                                                \
    SEGA_TARGET_AVX2 void sega_dwconv_##NAME##_avx2(const dwplan *P, const float *s, const float *w, \
                                                    float b, float *y) {                        \
        dwa_plane(P, s, w, b, y, K, S);                                                         \
    }
SEGA_DW_PLANES(SEGA_DW_PLANE)
#undef SEGA_DW_PLANE

// --- data movement ---------------------------------------------------------------------------

// Stride-1 fill: row copies with 8-wide loads and stores, the last one masked (no memcpy calls
// for the short rows of small planes).
SEGA_TARGET_AVX2 void sega_dwconv_fill_s1_avx2(const dwplan *P, const float *restrict x, float *restrict s,
                                               int ra, int rb, int r0) {
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

// out = m ? x + 0 : +0: the portable loop compiled for AVX2 (sega_mask_copy's, which the compiler
// vectorises 32 lanes at a time; hand-written 8-lane code took 3.6x its instructions).
SEGA_TARGET_AVX2 void sega_dwconv_mask_row_avx2(int n, const uint8_t *restrict m, const float *restrict x,
                                                float *restrict out) {
    for (int i = 0; i < n; i++) {
        const float v = x[i] + 0.0f;   // loaded unconditionally so the select vectorises
        out[i] = m[i] ? v : 0.0f;
    }
}

// Stride-2 fill: de-interleave pairs of input columns into the two phases, 8 pairs per step.
SEGA_TARGET_AVX2 void sega_dwconv_fill_s2_avx2(const dwplan *P, const float *restrict x, float *restrict s,
                                               int ra, int rb, int r0) {
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

// Stride-2 extract (inverse of the stride-2 fill): interleave the two phases back into dx rows.
SEGA_TARGET_AVX2 void sega_dwconv_extract_s2_avx2(const dwplan *P, const float *restrict s, float *restrict dx,
                                                  int ra, int rb) {
    const pgeom *p = &P->p;
    const int lo = P->klo[0] > P->klo[1] ? P->klo[0] : P->klo[1];
    const int hi = P->khi[0] < P->khi[1] ? P->khi[0] : P->khi[1];
    for (int r = ra; r < rb; r++) {
        float *dxr = dx + (size_t)(r - p->PT) * p->W;
        const float *s0 = s + (size_t)(r - ra) * P->RS, *s1 = s0 + P->LP;
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

// --- strided input gradient ------------------------------------------------------------------

// Taps outer (column index j outer, row i inner, so consecutive read-modify-writes hit different
// rows or phases and never a store still in flight at an overlapping address), columns inner.
SEGA_TARGET_AVX2 void sega_dwconv_scatter_avx2(const dwplan *P, const float *restrict dy,
                                               const float *restrict w, float *restrict s) {
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

// One phase row of the gather: d[k] = sum_m w[tt[m]] * yb[oo[m] + k] for k < KN, 16 at a time.
SEGA_TARGET_AVX2 SEGA_INLINE void dwg_row(const float *restrict yb, const float *restrict w, const int *tt,
                                          const int *oo, int n, int KN, float *restrict d) {
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

SEGA_TARGET_AVX2 void sega_dwconv_gather_avx2(const dwplan *P, const dwgather *G, const float *restrict Y,
                                              const float *restrict w, float *restrict s, int ra, int rb) {
    const pgeom *p = &P->p;
    for (int r = ra; r < rb; r++) {
        const int u = r / p->SH, a = r % p->SH;
        const float *yb = Y + (size_t)u * G->YW;
        for (int q = 0; q < p->SW; q++)
            dwg_row(yb, w, G->t[a][q], G->off[a][q], G->n[a][q], G->KN,
                    s + (size_t)(r - ra) * P->RS + (size_t)q * P->LP);
    }
}

#endif
