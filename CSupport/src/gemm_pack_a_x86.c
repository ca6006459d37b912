// gemm_pack_a_x86.c - SIMD A packers of the x86 micro-kernels (MR 6: AVX2 6 x 16; MR 8 and 12:
// AVX-512 8 x 48 and 12 x 32). Same layout and bytes as the scalar sega_pack_a_scalar_<suffix>
// of gemm_pack_impl.h, ap[s*MR*kc + p*MR + i] = op(A)(i0 + s*MR + i, p0 + p), zero rows past mc:
// values are only moved and shuffled (never computed), so every packed bit is the source's.
// - Non-transposed (MR rows read side by side), 4 k steps at a time: each row's 4 values are a
//   128-bit piece; rows i, i + 4 (and i + 8 for MR 12) go to the 128-bit lanes of one register
//   (vinsertf128 from memory), and a 4 x 4 transpose within the lanes leaves one k step of all
//   rows per register. MR 8: ymm, 8 floats a step. MR 12: zmm (lane 3 unused), 12 floats a
//   step by a masked store. MR 6: ymm with lanes 6, 7 zero; 8 floats stored per step front to
//   back, the 2 extra landing on the next step's first two, which the next store overwrites (the
//   last step of each group stores exactly 6).
// - Transposed: each k step is MR contiguous floats, copied with full-width moves.
// Leftover k steps and edge slivers (fewer than MR rows) go through the scalar code. MR 6 and 8
// need only AVX2 (the AVX-512 engines have it), MR 12 uses AVX-512F; no global -m flag.
#include "gemm_internal.h"

#if SEGA_HAVE_X86_KERNELS
#include <immintrin.h>

#define SEGA_AVX2 SEGA_TARGET_AVX2

// 4 x 4 transpose in each 128-bit lane: lane l of x[i] holds (row i, cols 0..3) of lane l's
// block; afterwards x[j] holds (rows 0..3, col j).
SEGA_INLINE SEGA_AVX2 void tr4x4_lanes(__m256 x[4]) {
    const __m256 t0 = _mm256_unpacklo_ps(x[0], x[1]), t1 = _mm256_unpackhi_ps(x[0], x[1]);
    const __m256 t2 = _mm256_unpacklo_ps(x[2], x[3]), t3 = _mm256_unpackhi_ps(x[2], x[3]);
    x[0] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    x[1] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    x[2] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    x[3] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
}

// Rows lo[i] (lane 0) and hi[i] (lane 1), i < 4, k steps p..p+3: afterwards x[j] = k step p + j
// of the 8 rows lo[0..3], hi[0..3]. hi[i] NULL: that lane is zero.
SEGA_INLINE SEGA_AVX2 void load8x4(__m256 x[4], const float *const lo[4], const float *const hi[4],
                                   int p) {
    for (int i = 0; i < 4; i++) {
        const __m256 l = _mm256_castps128_ps256(_mm_loadu_ps(lo[i] + p));
        x[i] = hi[i] ? _mm256_insertf128_ps(l, _mm_loadu_ps(hi[i] + p), 1)
                     : _mm256_insertf128_ps(l, _mm_setzero_ps(), 1);
    }
    tr4x4_lanes(x);
}

// Scalar k steps [p, kc) of a full sliver whose rows start at src (stride lda).
SEGA_INLINE void pack_tail(float *dst, const float *src, long lda, int p, int kc, int MR) {
    for (; p < kc; p++)
        for (int i = 0; i < MR; i++) dst[(size_t)p * MR + i] = src[(size_t)i * lda + p];
}

// ---- MR 8 ------------------------------------------------------------------------------------
SEGA_AVX2 void sega_pack_a_avx512_8x48(int trans, const float *a, long lda, int i0, int mc, int p0,
                                       int kc, float *ap) {
    enum { MR = 8 };
    for (int s = 0; s < mc; s += MR) {
        float *dst = ap + (size_t)s * kc;
        if (mc - s < MR) {
            sega_pack_a_scalar_avx512_8x48(trans, a, lda, i0 + s, mc - s, p0, kc, dst);
            break;
        }
        if (trans) {
            const float *src = a + (size_t)p0 * lda + i0 + s;
            for (int p = 0; p < kc; p++)
                _mm256_storeu_ps(dst + (size_t)p * MR, _mm256_loadu_ps(src + (size_t)p * lda));
            continue;
        }
        const float *src = a + (size_t)(i0 + s) * lda + p0;
        const float *lo[4], *hi[4];
        for (int i = 0; i < 4; i++) lo[i] = src + (size_t)i * lda, hi[i] = src + (size_t)(i + 4) * lda;
        int p = 0;
        for (; p + 4 <= kc; p += 4) {
            __m256 x[4];
            load8x4(x, lo, hi, p);
            for (int j = 0; j < 4; j++) _mm256_storeu_ps(dst + (size_t)(p + j) * MR, x[j]);
        }
        pack_tail(dst, src, lda, p, kc, MR);
    }
}

// ---- MR 12 -----------------------------------------------------------------------------------
SEGA_TARGET_AVX512 void sega_pack_a_avx512_12x32(int trans, const float *a, long lda, int i0, int mc, int p0,
                                        int kc, float *ap) {
    enum { MR = 12 };
    for (int s = 0; s < mc; s += MR) {
        float *dst = ap + (size_t)s * kc;
        if (mc - s < MR) {
            sega_pack_a_scalar_avx512_12x32(trans, a, lda, i0 + s, mc - s, p0, kc, dst);
            break;
        }
        if (trans) {
            const float *src = a + (size_t)p0 * lda + i0 + s;
            for (int p = 0; p < kc; p++) {
                const float *sp = src + (size_t)p * lda;
                float *d = dst + (size_t)p * MR;
                _mm256_storeu_ps(d, _mm256_loadu_ps(sp));
                _mm_storeu_ps(d + 8, _mm_loadu_ps(sp + 8));
            }
            continue;
        }
        const float *src = a + (size_t)(i0 + s) * lda + p0;
        const float *lo[4], *hi[4], *r8[4];   // rows i, i + 4, i + 8: lanes 0, 1, 2
        for (int i = 0; i < 4; i++) {
            lo[i] = src + (size_t)i * lda;
            hi[i] = src + (size_t)(i + 4) * lda;
            r8[i] = src + (size_t)(i + 8) * lda;
        }
        int p = 0;
        for (; p + 4 <= kc; p += 4) {
            __m512 x[4];
            for (int i = 0; i < 4; i++) {
                __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(lo[i] + p));
                v = _mm512_insertf32x4(v, _mm_loadu_ps(hi[i] + p), 1);
                x[i] = _mm512_insertf32x4(v, _mm_loadu_ps(r8[i] + p), 2);
            }
            const __m512 t0 = _mm512_unpacklo_ps(x[0], x[1]), t1 = _mm512_unpackhi_ps(x[0], x[1]);
            const __m512 t2 = _mm512_unpacklo_ps(x[2], x[3]), t3 = _mm512_unpackhi_ps(x[2], x[3]);
            float *d = dst + (size_t)p * MR;
            _mm512_mask_storeu_ps(d, 0x0fff, _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)));
            _mm512_mask_storeu_ps(d + MR, 0x0fff, _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)));
            _mm512_mask_storeu_ps(d + 2 * MR, 0x0fff, _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)));
            _mm512_mask_storeu_ps(d + 3 * MR, 0x0fff, _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)));
        }
        pack_tail(dst, src, lda, p, kc, MR);
    }
}

// ---- MR 6 ------------------------------------------------------------------------------------
SEGA_AVX2 void sega_pack_a_avx2_6x16(int trans, const float *a, long lda, int i0, int mc, int p0,
                                     int kc, float *ap) {
    enum { MR = 6 };
    for (int s = 0; s < mc; s += MR) {
        float *dst = ap + (size_t)s * kc;
        if (mc - s < MR) {
            sega_pack_a_scalar_avx2_6x16(trans, a, lda, i0 + s, mc - s, p0, kc, dst);
            break;
        }
        if (trans) {
            const float *src = a + (size_t)p0 * lda + i0 + s;
            for (int p = 0; p < kc; p++) {
                const float *sp = src + (size_t)p * lda;
                float *d = dst + (size_t)p * MR;
                _mm_storeu_ps(d, _mm_loadu_ps(sp));
                _mm_storel_epi64((__m128i *)(d + 4), _mm_loadl_epi64((const __m128i *)(sp + 4)));
            }
            continue;
        }
        const float *src = a + (size_t)(i0 + s) * lda + p0;
        const float *lo[4], *hi[4];
        for (int i = 0; i < 4; i++) {
            lo[i] = src + (size_t)i * lda;
            hi[i] = i < 2 ? src + (size_t)(i + 4) * lda : NULL;
        }
        int p = 0;
        for (; p + 4 <= kc; p += 4) {
            __m256 x[4];
            load8x4(x, lo, hi, p);
            float *d = dst + (size_t)p * MR;
            // Steps 0..2: 8 floats (lanes 6, 7 overwritten by the next store); step 3: exactly 6.
            for (int j = 0; j < 3; j++) _mm256_storeu_ps(d + j * MR, x[j]);
            _mm_storeu_ps(d + 3 * MR, _mm256_castps256_ps128(x[3]));
            _mm_storel_epi64((__m128i *)(d + 3 * MR + 4), _mm_castps_si128(_mm256_extractf128_ps(x[3], 1)));
        }
        pack_tail(dst, src, lda, p, kc, MR);
    }
}

#endif
