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

SEGA_AVX2 static inline void store_row16(float *c, __m256 x0, __m256 x1, __m256 va, __m256 vb,
                                         int use_beta) {
    x0 = _mm256_mul_ps(va, x0);
    x1 = _mm256_mul_ps(va, x1);
    if (use_beta) {
        x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), x0);
        x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), x1);
    }
    _mm256_storeu_ps(c, x0);
    _mm256_storeu_ps(c + 8, x1);
}

SEGA_AVX2 void sega_sgemm_6x16_avx2(long kc, const float *ap, const float *bp, float *c,
                                    long ldc, float alpha, float beta) {
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
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const int ub = beta != 0.0f;
    store_row16(c + 0 * ldc, c00, c01, va, vb, ub);
    store_row16(c + 1 * ldc, c10, c11, va, vb, ub);
    store_row16(c + 2 * ldc, c20, c21, va, vb, ub);
    store_row16(c + 3 * ldc, c30, c31, va, vb, ub);
    store_row16(c + 4 * ldc, c40, c41, va, vb, ub);
    store_row16(c + 5 * ldc, c50, c51, va, vb, ub);
}

// Packers for the 6 x 16 tile, compiled for AVX2.
#define SEGA_PACK_MR 6
#define SEGA_PACK_NR 16
#define SEGA_PACK_ATTR SEGA_AVX2
#define SEGA_PACK_SUFFIX avx2_6x16
#include "gemm_pack_impl.h"

#endif
