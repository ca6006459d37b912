// winograd_transforms.c - the F(2x2, 3x3) tile transforms (winograd.c has the matrices), one
// plain-C body per transform compiled three times: portable, AVX2+FMA and AVX-512 (function
// target attributes, no global flag). Each loops over consecutive tiles so the compiler
// vectorizes across tiles; the arithmetic of a tile is the same whatever the run it is in.
#include "winograd_internal.h"
#include "sega_common.h"

// B^T d B of tile j, d[r][c] = rows[r * rf + 2j + c].
SEGA_INLINE void in_body(const float *restrict rows, int rf, int len, float *restrict dst, size_t ps) {
    const float *r0 = rows, *r1 = rows + rf, *r2 = rows + 2 * (size_t)rf, *r3 = rows + 3 * (size_t)rf;
    for (int j = 0; j < len; j++) {
        const int x = 2 * j;
        // t = d B, row by row: (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
        const float a0 = r0[x] - r0[x + 2], a1 = r0[x + 1] + r0[x + 2], a2 = r0[x + 2] - r0[x + 1], a3 = r0[x + 1] - r0[x + 3];
        const float b0 = r1[x] - r1[x + 2], b1 = r1[x + 1] + r1[x + 2], b2 = r1[x + 2] - r1[x + 1], b3 = r1[x + 1] - r1[x + 3];
        const float c0 = r2[x] - r2[x + 2], c1 = r2[x + 1] + r2[x + 2], c2 = r2[x + 2] - r2[x + 1], c3 = r2[x + 1] - r2[x + 3];
        const float e0 = r3[x] - r3[x + 2], e1 = r3[x + 1] + r3[x + 2], e2 = r3[x + 2] - r3[x + 1], e3 = r3[x + 1] - r3[x + 3];
        // B^T t, column by column: (t0 - t2, t1 + t2, t2 - t1, t1 - t3)
        dst[0 * ps + j] = a0 - c0; dst[1 * ps + j] = a1 - c1; dst[2 * ps + j] = a2 - c2; dst[3 * ps + j] = a3 - c3;
        dst[4 * ps + j] = b0 + c0; dst[5 * ps + j] = b1 + c1; dst[6 * ps + j] = b2 + c2; dst[7 * ps + j] = b3 + c3;
        dst[8 * ps + j] = c0 - b0; dst[9 * ps + j] = c1 - b1; dst[10 * ps + j] = c2 - b2; dst[11 * ps + j] = c3 - b3;
        dst[12 * ps + j] = b0 - e0; dst[13 * ps + j] = b1 - e1; dst[14 * ps + j] = b2 - e2; dst[15 * ps + j] = b3 - e3;
    }
}

// A^T m A of tile j, m[p] = src[p * ps + j]: outputs (0,0), (0,1) to orow[2j], [2j+1], (1,0),
// (1,1) to orow[rf + 2j], [rf + 2j + 1].
SEGA_INLINE void out_body(const float *restrict src, size_t ps, int len, float *restrict orow, size_t rf) {
    float *restrict o1 = orow + rf;
    for (int j = 0; j < len; j++) {
        float s0[4], s1[4];   // rows of m A: (m0 + m1 + m2, m1 - m2 - m3)
        for (int r = 0; r < 4; r++) {
            const float m0 = src[(4 * r) * ps + j], m1 = src[(4 * r + 1) * ps + j];
            const float m2 = src[(4 * r + 2) * ps + j], m3 = src[(4 * r + 3) * ps + j];
            s0[r] = m0 + m1 + m2;
            s1[r] = m1 - m2 - m3;
        }
        orow[2 * j] = s0[0] + s0[1] + s0[2];
        orow[2 * j + 1] = s1[0] + s1[1] + s1[2];
        o1[2 * j] = s0[1] - s0[2] - s0[3];
        o1[2 * j + 1] = s1[1] - s1[2] - s1[3];
    }
}

// The epilogue as the SGEMM's: bias (or +0) added, then relu (max with 0, NaN and -0 kept) or relu6 and
// the mask of their derivative; or accumulation into dst.
SEGA_INLINE void store_body(const float *restrict v, int n, float *restrict dst, const float *bias, int act,
                            uint8_t *restrict mask, int accumulate) {
    if (accumulate) {
        for (int i = 0; i < n; i++) dst[i] += v[i];
        return;
    }
    const float b = bias ? *bias : 0.0f;   // (+0 turns a -0 into +0, as accumulating into zeros would)
    for (int i = 0; i < n; i++) {
        const float y = v[i] + b;
        if (act == SEGA_ACT_RELU) {
            if (mask) mask[i] = (uint8_t)(y > 0.0f);
            dst[i] = y < 0.0f ? 0.0f : y;
        } else if (act == SEGA_ACT_RELU6) {
            if (mask) mask[i] = (uint8_t)((y > 0.0f) & (y < 6.0f));
            dst[i] = y < 0.0f ? 0.0f : (y > 6.0f ? 6.0f : y);
        } else {
            dst[i] = y;
        }
    }
}

#define WINO_VARIANT(SUFFIX, ATTR)                                                                         \
    ATTR static void in_##SUFFIX(const float *rows, int rf, int len, float *dst, size_t ps) {                \
        in_body(rows, rf, len, dst, ps);                                                                   \
    }                                                                                                      \
    ATTR static void out_##SUFFIX(const float *src, size_t ps, int len, float *orow, size_t rf) {            \
        out_body(src, ps, len, orow, rf);                                                                  \
    }                                                                                                      \
    ATTR static void store_##SUFFIX(const float *v, int n, float *dst, const float *bias, int act, uint8_t *mask, \
                                    int accumulate) {                                                      \
        store_body(v, n, dst, bias, act, mask, accumulate);                                                \
    }                                                                                                      \
    static const wino_fns fns_##SUFFIX = {in_##SUFFIX, out_##SUFFIX, store_##SUFFIX};

WINO_VARIANT(portable, )
#if SEGA_HAVE_X86_KERNELS
WINO_VARIANT(avx2, SEGA_TARGET_AVX2)
WINO_VARIANT(avx512, SEGA_TARGET_AVX512)
#endif

const wino_fns *sega__wino_fns(const struct sega_engine *e) {
    const sega_isa isa = sega__kernel_isa(e, SEGA_ISA_AVX512);
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX512) return &fns_avx512;
    if (isa == SEGA_ISA_AVX2) return &fns_avx2;
#endif
    (void)isa;
    return &fns_portable;
}
