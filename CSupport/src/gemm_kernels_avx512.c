// gemm_kernels_avx512.c - AVX-512F micro-kernel and its packers.
// Row-major C: each row of the 8 x 48 tile is 3 zmm vectors (16 floats each); per k step the
// kernel loads 3 B vectors and broadcasts 8 A values into 24 FMAs on 24 accumulators (enough
// independent chains to cover the FMA latency on two 512-bit pipes). 8 rows fit the channel
// counts of CNN layers exactly. (12 x 32 and 6 x 64 were measured as well: equal on large
// shapes, slower when M = 64.) The 12 x 32 tile (2 vectors a row, also 24 accumulators) is the
// engine's alternative for products with 64 or 32 columns (a transformer's attention heads),
// where 48-wide slivers would compute a third or more of padding.
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
// The fused activation of 16 finished values (see gemm_kernels_avx2.c's act_row16): mask bytes
// from the compare masks (vpmovdb of 0 / 1 lanes), then max(0, x), min(6, x), NaN and -0 kept.
SEGA_AVX512 static inline __m512 act16(__m512 x, int act, uint8_t *m) {
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    if (m) {
        __mmask16 k = _mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ);
        if (act == SEGA_ACT_RELU6) k &= _mm512_cmp_ps_mask(x, six, _CMP_LT_OQ);
        _mm_storeu_si128((__m128i *)m, _mm512_cvtepi32_epi8(_mm512_maskz_mov_epi32(k, _mm512_set1_epi32(1))));
    }
    x = _mm512_max_ps(zero, x);
    return act == SEGA_ACT_RELU6 ? _mm512_min_ps(six, x) : x;
}

// 16 columns of C row i (v: which 16): alpha * acc, then the row or column bias (fma(1, bias, x)
// == bias + x) or beta * C, then the fused activation; stored.
SEGA_AVX512 static inline void st1(float *cp, __m512 x, const sega_tile_finish *f, int i, int v) {
    if (f->scale) x = _mm512_mul_ps(_mm512_set1_ps(f->alpha), x);
    if (f->bias) x = _mm512_add_ps(_mm512_set1_ps(f->bias[i]), x);
    else if (f->cbias) x = _mm512_add_ps(_mm512_loadu_ps(f->cbias + v * 16), x);
    else if (f->beta != 0.0f) x = _mm512_fmadd_ps(_mm512_set1_ps(f->beta), _mm512_loadu_ps(cp), x);
    if (f->act != SEGA_ACT_NONE) x = act16(x, f->act, f->mask ? f->mask + (size_t)i * f->ldm + v * 16 : NULL);
    _mm512_storeu_ps(cp, x);
}
// Row i's three vectors: plain stores (P 1: nothing to finish) or through st1.
#define ST1(i, v, P)                                                                           \
    do {                                                                                       \
        if (P) _mm512_storeu_ps(c + (i) * ldc + (v) * 16, c##i##_##v);                         \
        else st1(c + (i) * ldc + (v) * 16, c##i##_##v, &f, i, v);                              \
    } while (0)
#define ST3(i, P)                                                                              \
    do {                                                                                       \
        ST1(i, 0, P); ST1(i, 1, P); ST1(i, 2, P);                                              \
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
                                        long ldc, float alpha, float beta, const sega_tile_epi *ep) {
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
    const sega_tile_finish f = sega_tile_finish_of(alpha, beta, ep);
    if (!ep && alpha == 1.0f && beta == 0.0f) {   // nothing to finish
        ST3(0, 1); ST3(1, 1); ST3(2, 1); ST3(3, 1); ST3(4, 1); ST3(5, 1); ST3(6, 1); ST3(7, 1);
        return;
    }
    ST3(0, 0); ST3(1, 0); ST3(2, 0); ST3(3, 0); ST3(4, 0); ST3(5, 0); ST3(6, 0); ST3(7, 0);
}

// ---- 12 x 32 ---------------------------------------------------------------------------------
#define FMA2(i, A)                                                                             \
    do {                                                                                       \
        const __m512 av_ = _mm512_set1_ps((A)[i]);                                             \
        c##i##_0 = _mm512_fmadd_ps(av_, b0, c##i##_0);                                         \
        c##i##_1 = _mm512_fmadd_ps(av_, b1, c##i##_1);                                         \
    } while (0)
#define ST2(i, P)                                                                              \
    do {                                                                                       \
        ST1(i, 0, P); ST1(i, 1, P);                                                            \
    } while (0)
#define STEP_12x32(P)                                                                          \
    do {                                                                                       \
        const __m512 b0 = _mm512_load_ps(bp + (P) * 32);                                       \
        const __m512 b1 = _mm512_load_ps(bp + (P) * 32 + 16);                                  \
        const float *a_ = ap + (P) * 12;                                                       \
        FMA2(0, a_); FMA2(1, a_); FMA2(2, a_); FMA2(3, a_); FMA2(4, a_); FMA2(5, a_);          \
        FMA2(6, a_); FMA2(7, a_); FMA2(8, a_); FMA2(9, a_); FMA2(10, a_); FMA2(11, a_);        \
    } while (0)

SEGA_AVX512 void sega_sgemm_12x32_avx512(long kc, const float *ap, const float *bp, float *c,
                                         long ldc, float alpha, float beta, const sega_tile_epi *ep) {
    DECL2(0); DECL2(1); DECL2(2); DECL2(3); DECL2(4); DECL2(5);
    DECL2(6); DECL2(7); DECL2(8); DECL2(9); DECL2(10); DECL2(11);
    PREFETCH_C(12, 2);
    long p = 0;
    for (; p + 4 <= kc; p += 4) {
        _mm_prefetch((const char *)(ap + SEGA_PF_A * 12), _MM_HINT_T0);
        _mm_prefetch((const char *)(ap + SEGA_PF_A * 12 + 16), _MM_HINT_T0);
        _mm_prefetch((const char *)(ap + SEGA_PF_A * 12 + 32), _MM_HINT_T0);
        STEP_12x32(0);
        STEP_12x32(1);
        STEP_12x32(2);
        STEP_12x32(3);
        ap += 48;
        bp += 128;
    }
    for (; p < kc; p++) {
        STEP_12x32(0);
        ap += 12;
        bp += 32;
    }
    const sega_tile_finish f = sega_tile_finish_of(alpha, beta, ep);
    if (!ep && alpha == 1.0f && beta == 0.0f) {   // nothing to finish
        ST2(0, 1); ST2(1, 1); ST2(2, 1); ST2(3, 1); ST2(4, 1); ST2(5, 1);
        ST2(6, 1); ST2(7, 1); ST2(8, 1); ST2(9, 1); ST2(10, 1); ST2(11, 1);
        return;
    }
    ST2(0, 0); ST2(1, 0); ST2(2, 0); ST2(3, 0); ST2(4, 0); ST2(5, 0);
    ST2(6, 0); ST2(7, 0); ST2(8, 0); ST2(9, 0); ST2(10, 0); ST2(11, 0);
}

// Packers for the 12 x 32 tile, compiled for AVX-512F.
#define SEGA_PACK_MR 12
#define SEGA_PACK_NR 32
#define SEGA_PACK_ATTR SEGA_AVX512
#define SEGA_PACK_SUFFIX avx512_12x32
#define SEGA_PACK_A_SIMD
#include "gemm_pack_impl.h"

// Packers for the 8 x 48 tile, compiled for AVX-512F.
#define SEGA_PACK_MR 8
#define SEGA_PACK_NR 48
#define SEGA_PACK_ATTR SEGA_AVX512
#define SEGA_PACK_SUFFIX avx512_8x48
#define SEGA_PACK_A_SIMD
#include "gemm_pack_impl.h"

#endif
