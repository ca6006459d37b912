// gemm_kernels_avx512.c - AVX-512F micro-kernel and its packers.
// Row-major C: each row of the 8 x 48 tile is 3 zmm vectors (16 floats each); per k step the
// kernel loads 3 B vectors and broadcasts 8 A values into 24 FMAs on 24 accumulators (enough
// independent chains to cover the FMA latency on two 512-bit pipes). 8 rows fit the channel
// counts of CNN layers exactly. (12 x 32 and 6 x 64 were measured as well: equal on large
// shapes, slower when M = 64.)
// Only the functions carry the ISA target; no global -m flag.
#include "gemm_internal.h"

#if SEGA_HAVE_X86_KERNELS
#include <immintrin.h>

#define SEGA_AVX512 SEGA_TARGET_AVX512

// Prefetch distance for the A sliver, in k steps.
#define SEGA_PF_A 8

// One row of accumulators: NV zmm registers c<i>_0 .. c<i>_<NV-1>.
#define DECL2(i) __m512 c##i##_0 = _mm512_setzero_ps(), c##i##_1 = _mm512_setzero_ps()
#define DECL3(i) DECL2(i), c##i##_2 = _mm512_setzero_ps()

// acc_row += broadcast(a[i]) * b (NV vectors b0..b<NV-1>).
#define FMA3(i, A)                                                                             \
    do {                                                                                       \
        const __m512 av_ = _mm512_set1_ps((A)[i]);                                             \
        c##i##_0 = _mm512_fmadd_ps(av_, b0, c##i##_0);                                         \
        c##i##_1 = _mm512_fmadd_ps(av_, b1, c##i##_1);                                         \
        c##i##_2 = _mm512_fmadd_ps(av_, b2, c##i##_2);                                         \
    } while (0)
// C row i = alpha * acc (+ beta * C row i when beta != 0).
SEGA_AVX512 static inline void st1(float *cp, __m512 x, __m512 va, __m512 vb, int ub) {
    x = _mm512_mul_ps(va, x);
    if (ub) x = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cp), x);
    _mm512_storeu_ps(cp, x);
}
#define ST2(i)                                                                                 \
    do {                                                                                       \
        st1(c + (i) * ldc, c##i##_0, va, vb, ub);                                              \
        st1(c + (i) * ldc + 16, c##i##_1, va, vb, ub);                                         \
    } while (0)
#define ST3(i)                                                                                 \
    do {                                                                                       \
        ST2(i);                                                                                \
        st1(c + (i) * ldc + 32, c##i##_2, va, vb, ub);                                         \
    } while (0)
#define PREFETCH_C(MR, NV)                                                                     \
    for (int i_ = 0; i_ < (MR); i_++)                                                          \
        for (int v_ = 0; v_ < (NV); v_++)                                                      \
            _mm_prefetch((const char *)(c + i_ * ldc + v_ * 16), _MM_HINT_T0)

// ---- 8 x 48 ----------------------------------------------------------------------------------
#define STEP_8x48(P)                                                                           \
    do {                                                                                       \
        const __m512 b0 = _mm512_load_ps(bp + (P) * 48);                                       \
        const __m512 b1 = _mm512_load_ps(bp + (P) * 48 + 16);                                  \
        const __m512 b2 = _mm512_load_ps(bp + (P) * 48 + 32);                                  \
        const float *a_ = ap + (P) * 8;                                                        \
        FMA3(0, a_); FMA3(1, a_); FMA3(2, a_); FMA3(3, a_);                                    \
        FMA3(4, a_); FMA3(5, a_); FMA3(6, a_); FMA3(7, a_);                                    \
    } while (0)

SEGA_AVX512 void sega_sgemm_8x48_avx512(long kc, const float *ap, const float *bp, float *c,
                                        long ldc, float alpha, float beta) {
    DECL3(0); DECL3(1); DECL3(2); DECL3(3); DECL3(4); DECL3(5); DECL3(6); DECL3(7);
    PREFETCH_C(8, 3);
    long p = 0;
    for (; p + 4 <= kc; p += 4) {
        _mm_prefetch((const char *)(ap + SEGA_PF_A * 8), _MM_HINT_T0);
        _mm_prefetch((const char *)(ap + SEGA_PF_A * 8 + 16), _MM_HINT_T0);
        STEP_8x48(0);
        STEP_8x48(1);
        STEP_8x48(2);
        STEP_8x48(3);
        ap += 32;
        bp += 192;
    }
    for (; p < kc; p++) {
        STEP_8x48(0);
        ap += 8;
        bp += 48;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const int ub = beta != 0.0f;
    ST3(0); ST3(1); ST3(2); ST3(3); ST3(4); ST3(5); ST3(6); ST3(7);
}

// Packers for the 8 x 48 tile, compiled for AVX-512F.
#define SEGA_PACK_MR 8
#define SEGA_PACK_NR 48
#define SEGA_PACK_ATTR SEGA_AVX512
#define SEGA_PACK_SUFFIX avx512_8x48
#include "gemm_pack_impl.h"

#endif
