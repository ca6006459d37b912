// gemm_kernels_avx2.c - AVX2+FMA micro-kernel (6 x 16: 12 ymm accumulators, 2 for B, 1 for
// the broadcast of A) and its packers. Only the functions carry the ISA target; the file is
// compiled without any global -m flag.
#include "gemm_internal.h"

#if SEGA_HAVE_X86_KERNELS
#include <immintrin.h>

#define SEGA_AVX2 SEGA_TARGET_AVX2

// Row i of the tile at k step P: broadcast A[i] once, two FMAs into c<i>0, c<i>1.
#define K6X16_ROW(P, i)                                                                        \
    do {                                                                                       \
        const __m256 av = _mm256_broadcast_ss(ap + (P) * 6 + i);                               \
        c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);                                            \
        c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);                                            \
    } while (0)

#define K6X16_STEP(P)                                                                          \
    do {                                                                                       \
        const __m256 b0 = _mm256_load_ps(bp + (P) * 16);                                       \
        const __m256 b1 = _mm256_load_ps(bp + (P) * 16 + 8);                                   \
        K6X16_ROW(P, 0); K6X16_ROW(P, 1); K6X16_ROW(P, 2);                                     \
        K6X16_ROW(P, 3); K6X16_ROW(P, 4); K6X16_ROW(P, 5);                                     \
    } while (0)

// The fused activation of 16 finished values (sega_tile_epi): the mask bytes (0 < x, and x < 6
// for relu6; NaN fails both) when m is not NULL, then max(0, x) and min(6, x) with x as the
// second operand, which maxps / minps return when the comparison fails: NaN and -0 are kept,
// as the scalar epilogue's x < 0 ? 0 : (x > 6 ? 6 : x) keeps them.
SEGA_AVX2 static inline void act_row16(__m256 *x0, __m256 *x1, int act, uint8_t *m) {
    const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
    if (m) {
        __m256 k0 = _mm256_cmp_ps(*x0, zero, _CMP_GT_OQ), k1 = _mm256_cmp_ps(*x1, zero, _CMP_GT_OQ);
        if (act == SEGA_ACT_RELU6) {
            k0 = _mm256_and_ps(k0, _mm256_cmp_ps(*x0, six, _CMP_LT_OQ));
            k1 = _mm256_and_ps(k1, _mm256_cmp_ps(*x1, six, _CMP_LT_OQ));
        }
        // 16 lanes of 0 / -1 to 16 bytes in order: the packs work within 128-bit halves, the
        // permute puts the four 4-byte groups back in column order.
        const __m256i w = _mm256_packs_epi32(_mm256_castps_si256(k0), _mm256_castps_si256(k1));
        const __m256i y = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w, w),
                                                      _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm_storeu_si128((__m128i *)m, _mm_and_si128(_mm256_castsi256_si128(y), _mm_set1_epi8(1)));
    }
    *x0 = _mm256_max_ps(zero, *x0);
    *x1 = _mm256_max_ps(zero, *x1);
    if (act == SEGA_ACT_RELU6) {
        *x0 = _mm256_min_ps(six, *x0);
        *x1 = _mm256_min_ps(six, *x1);
    }
}

// Row i of the tile: alpha * acc, then the bias, or beta * C, then the fused activation; stored.
SEGA_AVX2 static inline void store_row16(float *c, __m256 x0, __m256 x1, const sega_tile_finish *f,
                                         int i) {
    if (f->scale) {
        const __m256 va = _mm256_set1_ps(f->alpha);
        x0 = _mm256_mul_ps(va, x0);
        x1 = _mm256_mul_ps(va, x1);
    }
    if (f->bias) {   // C filled with the bias and beta 1: fma(1, bias, x) == bias + x
        const __m256 bv = _mm256_broadcast_ss(f->bias + i);
        x0 = _mm256_add_ps(bv, x0);
        x1 = _mm256_add_ps(bv, x1);
    } else if (f->cbias) {   // the same with a column bias
        x0 = _mm256_add_ps(_mm256_loadu_ps(f->cbias), x0);
        x1 = _mm256_add_ps(_mm256_loadu_ps(f->cbias + 8), x1);
    } else if (f->beta != 0.0f) {
        const __m256 vb = _mm256_set1_ps(f->beta);
        x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), x0);
        x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), x1);
    }
    if (f->act != SEGA_ACT_NONE) act_row16(&x0, &x1, f->act, f->mask ? f->mask + (size_t)i * f->ldm : NULL);
    _mm256_storeu_ps(c, x0);
    _mm256_storeu_ps(c + 8, x1);
}

// The 6 rows of the tile: plain stores when there is nothing to finish (alpha 1, beta 0, no
// epilogue), else row by row through store_row16.
#define K6X16_STORE(ROW)                                                                       \
    do {                                                                                       \
        ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21);                                  \
        ROW(3, c30, c31); ROW(4, c40, c41); ROW(5, c50, c51);                                  \
    } while (0)
#define K6X16_PLAIN(i, x0, x1) (_mm256_storeu_ps(c + (i) * ldc, x0), _mm256_storeu_ps(c + (i) * ldc + 8, x1))
#define K6X16_FINISH(i, x0, x1) store_row16(c + (i) * ldc, x0, x1, &f, i)

SEGA_AVX2 void sega_sgemm_6x16_avx2(long kc, const float *ap, const float *bp, float *c,
                                    long ldc, float alpha, float beta, const sega_tile_epi *ep) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int i = 0; i < 6; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
    }
    long p = 0;
    for (; p + 4 <= kc; p += 4) {
        _mm_prefetch((const char *)(ap + 96), _MM_HINT_T0);
        K6X16_STEP(0);
        K6X16_STEP(1);
        K6X16_STEP(2);
        K6X16_STEP(3);
        ap += 24;
        bp += 64;
    }
    for (; p < kc; p++) {
        K6X16_STEP(0);
        ap += 6;
        bp += 16;
    }
    if (!ep && alpha == 1.0f && beta == 0.0f) {
        K6X16_STORE(K6X16_PLAIN);
        return;
    }
    const sega_tile_finish f = sega_tile_finish_of(alpha, beta, ep);
    K6X16_STORE(K6X16_FINISH);
}

// Packers for the 6 x 16 tile, compiled for AVX2.
#define SEGA_PACK_MR 6
#define SEGA_PACK_NR 16
#define SEGA_PACK_ATTR SEGA_AVX2
#define SEGA_PACK_SUFFIX avx2_6x16
#define SEGA_PACK_A_SIMD
#include "gemm_pack_impl.h"

#endif
