// dwconv_avx512.c - AVX-512F padded-path plane kernels: 16 outputs per vector, masked stores at
// the row end. Rows of at most 8 outputs stay on the AVX2 kernels (a 16-lane vector would be
// mostly idle; the driver's kernel table says so), and the data movement, strided gradient and
// direct path are AVX2's. Only the functions carry the ISA target; no global -m flag.
#include "dwconv_internal.h"

#if SEGA_HAVE_X86_KERNELS
#include <immintrin.h>

SEGA_TARGET_AVX512 SEGA_INLINE void dwz_store(float *dst, __m512 v, int n) {
    if (n >= 16) _mm512_storeu_ps(dst, v);
    else _mm512_mask_storeu_ps(dst, (__mmask16)((1u << n) - 1u), v);
}

// R output rows x NV vectors of 16 outputs from column ox (as dwa_block in dwconv_avx2.c).
SEGA_TARGET_AVX512 SEGA_INLINE void dwz_block(const dwplan *P, const float *restrict base,
                                              const float *restrict w, float b, float *restrict yr, int ox,
                                              const int K, const int S, const int R, const int NV) {
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

SEGA_TARGET_AVX512 SEGA_INLINE void dwz_plane(const dwplan *P, const float *restrict s, const float *restrict w,
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

#define SEGA_DW_PLANE(NAME, K, S)                                                                \
    SEGA_TARGET_AVX512 void sega_dwconv_##NAME##_avx512(const dwplan *P, const float *s, const float *w, \
                                                        float b, float *y) {                    \
        dwz_plane(P, s, w, b, y, K, S);                                                         \
    }
SEGA_DW_PLANES(SEGA_DW_PLANE)
#undef SEGA_DW_PLANE

#endif
