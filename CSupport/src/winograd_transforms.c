// winograd_transforms.c - the F(2x2, 3x3) and F(4x4, 3x3) tile transforms, one plain-C body per
// transform compiled three times: portable, AVX2+FMA and AVX-512 (function target attributes, no
// global flag). Each runs over consecutive tiles, eight at a time in vectors; the arithmetic of
// a tile is the same whatever the run it is in (vector lanes and the scalar tail use the same
// expressions, contracted alike).
//   F(2x2): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1]
//   F(4x4): B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
//                  0 4 0 -5 0 1], A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
#include "winograd_internal.h"
#include "sega_common.h"

// Eight tiles at a time with the compiler's generic vectors (clang: 8-float vectors compile to
// the target's registers, e.g. ymm under AVX2/AVX-512, two xmm in the portable build); the rest
// one by one. Both do each tile's arithmetic in the same order, so the bits do not depend on
// where a tile falls.
#if defined(__clang__)
#define WINO_VEC 1
typedef float v8f __attribute__((ext_vector_type(8)));
typedef float v16f __attribute__((ext_vector_type(16)));
typedef float v32f __attribute__((ext_vector_type(32)));
SEGA_INLINE v8f ld8(const float *p) { v8f v; __builtin_memcpy(&v, p, sizeof v); return v; }
SEGA_INLINE v16f ld16(const float *p) { v16f v; __builtin_memcpy(&v, p, sizeof v); return v; }
SEGA_INLINE void st8(float *p, v8f v) { __builtin_memcpy(p, &v, sizeof v); }
SEGA_INLINE void st16(float *p, v16f v) { __builtin_memcpy(p, &v, sizeof v); }
SEGA_INLINE v32f ld32(const float *p) { v32f v; __builtin_memcpy(&v, p, sizeof v); return v; }
SEGA_INLINE void st32(float *p, v32f v) { __builtin_memcpy(p, &v, sizeof v); }
// Points o[0..np) of tiles j..j+n (n <= 8 lanes) to dst[p * ps + j]: whole vectors, or lane by
// lane for the last, partial chunk of a run (its other lanes were computed from padding).
SEGA_INLINE void put_points(float *dst, size_t ps, int j, const v8f *o, int np, int n) {
    if (n == 8) {
        for (int p = 0; p < np; p++) st8(dst + (size_t)p * ps + j, o[p]);
        return;
    }
    for (int p = 0; p < np; p++)
        for (int l = 0; l < n; l++) dst[(size_t)p * ps + j + l] = o[p][l];
}
#else
#define WINO_VEC 0
#endif

// t = d B of one input row: (d0 - d2, d1 + d2, d2 - d1, d1 - d3); then B^T t over the 4 rows:
// (t0 - t2, t1 + t2, t2 - t1, t1 - t3). The same expressions for a float or a vector of tiles.
#define WINO_ROW(T, r, t0, t1, t2, t3) \
    const T t0 = r##0 - r##2, t1 = r##1 + r##2, t2 = r##2 - r##1, t3 = r##1 - r##3;
#define WINO_IN_STORE(ST, a, b, c, e)                                                                       \
    ST(0, a##0 - c##0); ST(1, a##1 - c##1); ST(2, a##2 - c##2); ST(3, a##3 - c##3);                          \
    ST(4, b##0 + c##0); ST(5, b##1 + c##1); ST(6, b##2 + c##2); ST(7, b##3 + c##3);                          \
    ST(8, c##0 - b##0); ST(9, c##1 - b##1); ST(10, c##2 - b##2); ST(11, c##3 - b##3);                        \
    ST(12, b##0 - e##0); ST(13, b##1 - e##1); ST(14, b##2 - e##2); ST(15, b##3 - e##3);

// B^T d B of tile j, d[r][c] = rows[r * rf + 2j + c], point p to dst[p * ps + j].
SEGA_INLINE void in2_body(const float *restrict rows, int rf, int len, float *restrict dst, size_t ps) {
    const float *r0 = rows, *r1 = rows + rf, *r2 = rows + 2 * (size_t)rf, *r3 = rows + 3 * (size_t)rf;
    int j = 0;
#if WINO_VEC
    for (; j < len; j += 8) {   // columns 2j.. split into even/odd lanes: d0 d1, then d2 d3
        const v16f q0 = ld16(r0 + 2 * j), p0 = ld16(r0 + 2 * j + 2), q1 = ld16(r1 + 2 * j), p1 = ld16(r1 + 2 * j + 2);
        const v16f q2 = ld16(r2 + 2 * j), p2 = ld16(r2 + 2 * j + 2), q3 = ld16(r3 + 2 * j), p3 = ld16(r3 + 2 * j + 2);
        const v8f a0 = q0.even, a1 = q0.odd, a2 = p0.even, a3 = p0.odd, b0 = q1.even, b1 = q1.odd, b2 = p1.even, b3 = p1.odd;
        const v8f c0 = q2.even, c1 = q2.odd, c2 = p2.even, c3 = p2.odd, e0 = q3.even, e1 = q3.odd, e2 = p3.even, e3 = p3.odd;
        WINO_ROW(v8f, a, ta0, ta1, ta2, ta3)
        WINO_ROW(v8f, b, tb0, tb1, tb2, tb3)
        WINO_ROW(v8f, c, tc0, tc1, tc2, tc3)
        WINO_ROW(v8f, e, te0, te1, te2, te3)
        v8f o[16];
#define ST(p, v) o[p] = (v)
        WINO_IN_STORE(ST, ta, tb, tc, te)
#undef ST
        put_points(dst, ps, j, o, 16, len - j < 8 ? len - j : 8);
    }
#endif
    for (; j < len; j++) {
        const int x = 2 * j;
        const float a0 = r0[x], a1 = r0[x + 1], a2 = r0[x + 2], a3 = r0[x + 3], b0 = r1[x], b1 = r1[x + 1], b2 = r1[x + 2], b3 = r1[x + 3];
        const float c0 = r2[x], c1 = r2[x + 1], c2 = r2[x + 2], c3 = r2[x + 3], e0 = r3[x], e1 = r3[x + 1], e2 = r3[x + 2], e3 = r3[x + 3];
        WINO_ROW(float, a, ta0, ta1, ta2, ta3)
        WINO_ROW(float, b, tb0, tb1, tb2, tb3)
        WINO_ROW(float, c, tc0, tc1, tc2, tc3)
        WINO_ROW(float, e, te0, te1, te2, te3)
#define ST(p, v) dst[(size_t)(p) * ps + j] = (v)
        WINO_IN_STORE(ST, ta, tb, tc, te)
#undef ST
    }
}

// A^T m A of one tile from its 16 points m0..m15 (a float or a vector of tiles): rows of m A are
// (m0 + m1 + m2, m1 - m2 - m3); Y00, Y01 sum rows 0-2 of them, Y10, Y11 take row 1 - row 2 - row 3.
#define WINO_OUT(T, m, y00, y01, y10, y11)                                                                   \
    const T s00 = m##0 + m##1 + m##2, s01 = m##1 - m##2 - m##3, s10 = m##4 + m##5 + m##6, s11 = m##5 - m##6 - m##7; \
    const T s20 = m##8 + m##9 + m##10, s21 = m##9 - m##10 - m##11;                                          \
    const T s30 = m##12 + m##13 + m##14, s31 = m##13 - m##14 - m##15;                                        \
    const T y00 = s00 + s10 + s20, y01 = s01 + s11 + s21, y10 = s10 - s20 - s30, y11 = s11 - s21 - s31;

#define WINO_LOAD16(T, LD, m)                                                                                \
    const T m##0 = LD(0), m##1 = LD(1), m##2 = LD(2), m##3 = LD(3), m##4 = LD(4), m##5 = LD(5), m##6 = LD(6);   \
    const T m##7 = LD(7), m##8 = LD(8), m##9 = LD(9), m##10 = LD(10), m##11 = LD(11), m##12 = LD(12);          \
    const T m##13 = LD(13), m##14 = LD(14), m##15 = LD(15);

// A^T m A of tile j, m[p] = src[p * ps + j]: outputs (0,0), (0,1) to orow[2j], [2j+1], (1,0),
// (1,1) to orow[rf + 2j], [rf + 2j + 1].
SEGA_INLINE void out2_body(const float *restrict src, size_t ps, int len, float *restrict orow, size_t rf) {
    float *restrict o1 = orow + rf;
    int j = 0;
#if WINO_VEC
    for (; j < len; j += 8) {   // (a partial last chunk writes its lanes' values and padding: orow has room)
#define LD(p) ld8(src + (size_t)(p) * ps + j)
        WINO_LOAD16(v8f, LD, m)
#undef LD
        WINO_OUT(v8f, m, y00, y01, y10, y11)
        st16(orow + 2 * j, __builtin_shufflevector(y00, y01, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15));
        st16(o1 + 2 * j, __builtin_shufflevector(y10, y11, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15));
    }
#endif
    for (; j < len; j++) {
#define LD(p) src[(size_t)(p) * ps + j]
        WINO_LOAD16(float, LD, m)
#undef LD
        WINO_OUT(float, m, y00, y01, y10, y11)
        orow[2 * j] = y00;
        orow[2 * j + 1] = y01;
        o1[2 * j] = y10;
        o1[2 * j + 1] = y11;
    }
}

// F(4x4): one row (or column) of B^T d, six values to six, and of A^T m, six to four; the same
// expressions for a float and for a vector of eight tiles.
#define WINO_F4_FNS(SUF, T)                                                                       \
    SEGA_INLINE void f4_in_##SUF(const T *d, T *o) {                                              \
        o[0] = (d[4] + 4.0f * d[0]) - 5.0f * d[2];                                                \
        o[1] = (d[3] + d[4]) - 4.0f * (d[1] + d[2]);                                              \
        o[2] = (d[4] - d[3]) + 4.0f * (d[1] - d[2]);                                              \
        o[3] = (d[4] - d[2]) + 2.0f * (d[3] - d[1]);                                              \
        o[4] = (d[4] - d[2]) - 2.0f * (d[3] - d[1]);                                              \
        o[5] = (d[5] + 4.0f * d[1]) - 5.0f * d[3];                                                \
    }                                                                                             \
    SEGA_INLINE void f4_out_##SUF(const T *m, T *o) {                                             \
        const T a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], e = m[3] - m[4];               \
        o[0] = (m[0] + a) + c;                                                                    \
        o[1] = b + 2.0f * e;                                                                      \
        o[2] = a + 4.0f * c;                                                                      \
        o[3] = (b + 8.0f * e) + m[5];                                                             \
    }                                                                                             \
    /* the 6x6 input transform of d (row r at d + 6r) into o (point 6i + c) */                    \
    SEGA_INLINE void f4_in_tile_##SUF(const T *d, T *o) {                                         \
        T t[36], col[6], v[6];                                                                    \
        for (int r = 0; r < 6; r++) f4_in_##SUF(d + 6 * r, t + 6 * r);                            \
        for (int c = 0; c < 6; c++) {                                                             \
            for (int r = 0; r < 6; r++) col[r] = t[6 * r + c];                                    \
            f4_in_##SUF(col, v);                                                                  \
            for (int i = 0; i < 6; i++) o[6 * i + c] = v[i];                                      \
        }                                                                                         \
    }                                                                                             \
    /* the output transform of the 36 points m into y (row i at y + 4i) */                        \
    SEGA_INLINE void f4_out_tile_##SUF(const T *m, T *y) {                                        \
        T s[24], col[6], v[4];                                                                    \
        for (int r = 0; r < 6; r++) f4_out_##SUF(m + 6 * r, s + 4 * r);                           \
        for (int c = 0; c < 4; c++) {                                                             \
            for (int r = 0; r < 6; r++) col[r] = s[4 * r + c];                                    \
            f4_out_##SUF(col, v);                                                                 \
            for (int i = 0; i < 4; i++) y[4 * i + c] = v[i];                                      \
        }                                                                                         \
    }

WINO_F4_FNS(s, float)
#if WINO_VEC
WINO_F4_FNS(v, v8f)
// Lanes c, c + 4, ..., c + 28 of a 32-float run: column c of eight 4-wide tiles.
#define WINO_LANE4(q, c) __builtin_shufflevector(q, q, c, c + 4, c + 8, c + 12, c + 16, c + 20, c + 24, c + 28)
#endif

// F(4x4) B^T d B of tile j, d[r][c] = rows[r * rf + 4j + c], point p to dst[p * ps + j].
SEGA_INLINE void in4_body(const float *restrict rows, int rf, int len, float *restrict dst, size_t ps) {
    int j = 0;
#if WINO_VEC
    for (; j < len; j += 8) {
        v8f d[36], o[36];
        for (int r = 0; r < 6; r++) {
            const v32f q = ld32(rows + (size_t)r * rf + 4 * j), q4 = ld32(rows + (size_t)r * rf + 4 * j + 4);
            d[6 * r] = WINO_LANE4(q, 0); d[6 * r + 1] = WINO_LANE4(q, 1); d[6 * r + 2] = WINO_LANE4(q, 2);
            d[6 * r + 3] = WINO_LANE4(q, 3); d[6 * r + 4] = WINO_LANE4(q4, 0); d[6 * r + 5] = WINO_LANE4(q4, 1);
        }
        f4_in_tile_v(d, o);
        put_points(dst, ps, j, o, 36, len - j < 8 ? len - j : 8);
    }
#endif
    for (; j < len; j++) {
        float d[36], o[36];
        for (int r = 0; r < 6; r++)
            for (int c = 0; c < 6; c++) d[6 * r + c] = rows[(size_t)r * rf + 4 * j + c];
        f4_in_tile_s(d, o);
        for (int p = 0; p < 36; p++) dst[(size_t)p * ps + j] = o[p];
    }
}

// F(4x4) A^T m A of tile j, m[p] = src[p * ps + j]: output (i, c) to orow[i * rf + 4j + c].
SEGA_INLINE void out4_body(const float *restrict src, size_t ps, int len, float *restrict orow, size_t rf) {
    int j = 0;
#if WINO_VEC
    for (; j < len; j += 8) {   // (a partial last chunk writes its lanes' values and padding: orow has room)
        v8f m[36], y[16];
        for (int p = 0; p < 36; p++) m[p] = ld8(src + (size_t)p * ps + j);
        f4_out_tile_v(m, y);
        for (int i = 0; i < 4; i++) {
            const v16f a = __builtin_shufflevector(y[4 * i], y[4 * i + 1], 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
            const v16f b = __builtin_shufflevector(y[4 * i + 2], y[4 * i + 3], 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
            st32(orow + (size_t)i * rf + 4 * j,
                 __builtin_shufflevector(a, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23, 8, 9, 24, 25, 10, 11,
                                         26, 27, 12, 13, 28, 29, 14, 15, 30, 31));
        }
    }
#endif
    for (; j < len; j++) {
        float m[36], y[16];
        for (int p = 0; p < 36; p++) m[p] = src[(size_t)p * ps + j];
        f4_out_tile_s(m, y);
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < 4; c++) orow[(size_t)i * rf + 4 * j + c] = y[4 * i + c];
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
    ATTR static void in2_##SUFFIX(const float *rows, int rf, int len, float *dst, size_t ps) {               \
        in2_body(rows, rf, len, dst, ps);                                                                  \
    }                                                                                                      \
    ATTR static void out2_##SUFFIX(const float *src, size_t ps, int len, float *orow, size_t rf) {           \
        out2_body(src, ps, len, orow, rf);                                                                 \
    }                                                                                                      \
    ATTR static void in4_##SUFFIX(const float *rows, int rf, int len, float *dst, size_t ps) {               \
        in4_body(rows, rf, len, dst, ps);                                                                  \
    }                                                                                                      \
    ATTR static void out4_##SUFFIX(const float *src, size_t ps, int len, float *orow, size_t rf) {           \
        out4_body(src, ps, len, orow, rf);                                                                 \
    }                                                                                                      \
    ATTR static void store_##SUFFIX(const float *v, int n, float *dst, const float *bias, int act, uint8_t *mask, \
                                    int accumulate) {                                                      \
        store_body(v, n, dst, bias, act, mask, accumulate);                                                \
    }                                                                                                      \
    static const wino_fns fns2_##SUFFIX = {in2_##SUFFIX, out2_##SUFFIX, store_##SUFFIX};                     \
    static const wino_fns fns4_##SUFFIX = {in4_##SUFFIX, out4_##SUFFIX, store_##SUFFIX};

WINO_VARIANT(portable, )
#if SEGA_HAVE_X86_KERNELS
WINO_VARIANT(avx2, SEGA_TARGET_AVX2)
WINO_VARIANT(avx512, SEGA_TARGET_AVX512)
#endif

const wino_fns *sega__wino_fns(const struct sega_engine *e, int T) {
    const sega_isa isa = sega__kernel_isa(e, SEGA_ISA_AVX512);
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX512) return T == 4 ? &fns4_avx512 : &fns2_avx512;
    if (isa == SEGA_ISA_AVX2) return T == 4 ? &fns4_avx2 : &fns2_avx2;
#endif
    (void)isa;
    return T == 4 ? &fns4_portable : &fns2_portable;
}
