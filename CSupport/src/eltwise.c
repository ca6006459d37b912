// eltwise.c - elementwise and row-wise kernels (activations, softmax, layernorm, affine).
//
// Loops are written so that clang vectorises them at the baseline ISA; sigmoid is also
// instantiated under target("avx2,fma") and runs at the engine's ISA. GELU (forward, backward)
// and the softmax forward have explicit AVX2 and AVX-512 kernels.
// exp is a branch-free Cody-Waite reduction plus a degree-6 polynomial (about 1-2 ulp), which,
// unlike a libm call, vectorises. Reductions use `vectorize(enable)`, which lets the compiler
// split a float sum into lanes (so sums are not in strict left-to-right order).
// Backward kernels accumulate into dx.
#include "sega_eltwise.h"
#include "cpu_internal.h"
#include <math.h>
#include <stdint.h>
#include <string.h>
#if SEGA_HAVE_X86_KERNELS
#include <immintrin.h>
#endif

// ---------------------------------------------------------------------------------------------
// Vectorisable exp

SEGA_INLINE float f_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// expf for all inputs: NaN -> NaN, x > 88.7228 -> +inf, x < -104 -> 0, denormal results kept.
SEGA_INLINE float sega_exp(float x) {
    // Clamp first (a NaN becomes the lower bound here, and is restored at the end), so that the
    // float -> int conversion below is always defined.
    float xc = x > -104.0f ? x : -104.0f;
    xc = xc < 88.72283f ? xc : 88.72283f;
    const float t = xc * 1.44269504088896341f;
    const int n = (int)(t + (t >= 0.0f ? 0.5f : -0.5f));   // round to nearest
    const float nf = (float)n;
    // r = x - n ln2 in two steps (the high part of ln2 has few bits: n*C1 is exact).
    float r = xc - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    // 2^n as two factors (n in [-150, 128]) so neither leaves the normal exponent range.
    const int n1 = n / 2, n2 = n - n1;
    const float s1 = f_from_bits((uint32_t)(n1 + 127) << 23);
    const float s2 = f_from_bits((uint32_t)(n2 + 127) << 23);
    float res = (p * s1) * s2;
    res = x > 88.72283f ? INFINITY : res;
    res = x < -104.0f ? 0.0f : res;
    return x != x ? x : res;
}

#if SEGA_HAVE_X86_KERNELS
// e^t 2^64 for t <= 0 or NaN, 16 / 8 lanes (the softmax rows and GELU; see softmax_row_avx512 for
// the method): t below -104 is taken as -104, where e^t is below half the least denormal.
#define SMAX_LO (-104.0f)
#define SMAX_LOG2E 1.44269504088896341f
#define SMAX_MAGIC 12583103.0f   /* 1.5 * 2^23 + 191: low bits of t log2 e + MAGIC = n + 191 */
#define SMAX_LN2HI 0.693359375f
#define SMAX_LN2LO (-2.12194440e-4f)

SEGA_TARGET_AVX512 SEGA_INLINE __m512 smax_exp16(__m512 t) {
    t = _mm512_max_ps(_mm512_set1_ps(SMAX_LO), t);   // NaN t: the second operand, NaN
    const __m512 k = _mm512_fmadd_ps(t, _mm512_set1_ps(SMAX_LOG2E), _mm512_set1_ps(SMAX_MAGIC));
    const __m512 nf = _mm512_sub_ps(k, _mm512_set1_ps(SMAX_MAGIC));
    __m512 r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(SMAX_LN2HI), t);
    r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(SMAX_LN2LO), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 q = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);   // e^r - 1
    const __m512 s = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(k), 23));   // 2^(n+64)
    return _mm512_fmadd_ps(q, s, s);
}

SEGA_TARGET_AVX2 SEGA_INLINE __m256 smax_exp8(__m256 t) {
    t = _mm256_max_ps(_mm256_set1_ps(SMAX_LO), t);   // NaN t: the second operand, NaN
    const __m256 k = _mm256_fmadd_ps(t, _mm256_set1_ps(SMAX_LOG2E), _mm256_set1_ps(SMAX_MAGIC));
    const __m256 nf = _mm256_sub_ps(k, _mm256_set1_ps(SMAX_MAGIC));
    __m256 r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(SMAX_LN2HI), t);
    r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(SMAX_LN2LO), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 q = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    const __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(k), 23));
    return _mm256_fmadd_ps(q, s, s);
}

#endif

// ---------------------------------------------------------------------------------------------
// ReLU / ReLU6 (NaN propagates, like torch.relu / clamp)

// Unary map y[i] = EXPR(v) with v = x[i]. In place (x == y) runs through a single pointer,
// otherwise through two restrict pointers: either way the loop vectorises with no run-time
// alias check (a partial overlap of x and y is not supported).
#define SEGA_MAP(n, x, y, EXPR)                                                             \
    do {                                                                                    \
        if ((const float *)(y) == (x)) {                                                    \
            float *p_ = (y);                                                                \
            for (size_t i_ = 0; i_ < (n); i_++) { const float v = p_[i_]; p_[i_] = (EXPR); } \
        } else {                                                                            \
            const float *restrict s_ = (x);                                                 \
            float *restrict d_ = (y);                                                       \
            for (size_t i_ = 0; i_ < (n); i_++) { const float v = s_[i_]; d_[i_] = (EXPR); } \
        }                                                                                   \
    } while (0)

void sega_relu_fwd(size_t n, const float *x, float *y) {
    SEGA_MAP(n, x, y, v < 0.0f ? 0.0f : v);
}

void sega_relu_bwd(size_t n, const float *restrict x, const float *restrict dy, float *restrict dx) {
    for (size_t i = 0; i < n; i++) {
        const float d = dy[i];   // loaded unconditionally so the select vectorises
        dx[i] += x[i] > 0.0f ? d : 0.0f;
    }
}

void sega_relu_fwd_mask(size_t n, const float *restrict x, float *restrict y, uint8_t *restrict mask) {
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = v < 0.0f ? 0.0f : v;
        mask[i] = (uint8_t)(v > 0.0f);
    }
}

void sega_relu6_fwd_mask(size_t n, const float *restrict x, float *restrict y, uint8_t *restrict mask) {
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
        mask[i] = (uint8_t)((v > 0.0f) & (v < 6.0f));
    }
}

void sega_mask_bwd(size_t n, const uint8_t *restrict mask, const float *restrict dy, float *restrict dx) {
    for (size_t i = 0; i < n; i++) {
        const float d = dy[i];
        dx[i] += mask[i] ? d : 0.0f;
    }
}

void sega_relu6_fwd(size_t n, const float *x, float *y) {
    SEGA_MAP(n, x, y, v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v));
}

void sega_relu6_bwd(size_t n, const float *restrict x, const float *restrict dy, float *restrict dx) {
    for (size_t i = 0; i < n; i++) {
        const float v = x[i], d = dy[i];
        dx[i] += ((v > 0.0f) & (v < 6.0f)) ? d : 0.0f;
    }
}

// ---------------------------------------------------------------------------------------------
// Sigmoid

// With e = exp(-|x|) (never overflows): 1/(1+e) for x >= 0, e/(1+e) for x < 0, which keeps
// full relative accuracy down to the denormal results of very negative x.
SEGA_INLINE float sigmoid1(float v) {
    const float e = sega_exp(-fabsf(v));
    const float r = 1.0f / (1.0f + e);
    return v >= 0.0f ? r : e * r;
}

SEGA_INLINE void sigmoid_body(size_t n, const float *x, float *y) {
    SEGA_MAP(n, x, y, sigmoid1(v));
}
static void sigmoid_portable(size_t n, const float *x, float *y) { sigmoid_body(n, x, y); }
#if SEGA_HAVE_X86_KERNELS
SEGA_TARGET_AVX2 static void sigmoid_avx2(size_t n, const float *x, float *y) { sigmoid_body(n, x, y); }
#endif

void sega_sigmoid_fwd(sega_engine *e, size_t n, const float *x, float *y) {
    const sega_isa isa = sega__kernel_isa(e, SEGA_ISA_AVX2);
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX2) { sigmoid_avx2(n, x, y); return; }
#endif
    (void)isa;
    sigmoid_portable(n, x, y);
}

void sega_sigmoid_bwd(size_t n, const float *restrict y, const float *restrict dy, float *restrict dx) {
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * (y[i] * (1.0f - y[i]));
}

// ---------------------------------------------------------------------------------------------
// GELU (erf form): y = x Phi(x), Phi the standard normal CDF, without libm (so it vectorises).
//
// With a = |x| / sqrt 2:
// - a < 0.5: erf(a) = a P(a^2), P of degree 4, and Phi = 0.5 +- 0.5 erf(a);
// - else: erfc(a) = exp(-a^2) Q(s) / (a + 2), s = (a - 2) / (a + 2), Q of degree 9, and
//   Phi = 1 - 0.5 erfc(a) for x > 0, 0.5 erfc(a) for x < 0: the lower tail keeps its relative
//   accuracy (1 + erf(x / sqrt 2) cancels there) down to the denormals.
// exp(-x^2 / 2) takes x^2 = hi + lo exactly (Veltkamp split), so its argument is not rounded.
// P and Q are least-squares Chebyshev fits (numpy, double) of erf(a)/a on a^2 in [0, 0.25] and
// of erfc(a) exp(a^2) (a + 2) on a in [0.5, 10], converted to powers; in float the CDF is within
// about 5 ulp (relative 3.1e-7) of the exact one wherever it is a normal number. The tail is
// computed on |x| clamped to 20 (exp(-200) is 0 in float); inf and NaN give the libm form's
// results (gelu(-inf) = NaN as 0.5 * -inf * 0, gelu(inf) = inf).
SEGA_INLINE float gelu_cdf(float v, float *gauss) {
    float t = fabsf(v);
    t = t < 20.0f ? t : 20.0f;   // a NaN becomes 20 here, and propagates through v below
    const float c = t * 4097.0f;
    const float th = c - (c - t), tl = t - th;
    const float hi = t * t;
    const float lo = ((th * th - hi) + 2.0f * th * tl) + tl * tl;
    const float e = sega_exp(-0.5f * hi) * (1.0f - 0.5f * lo);   // exp(-x^2 / 2)
    *gauss = e;
    const float a = t * 0.70710678118654752f;
    const float z = 0.5f * hi;   // a^2
    float p = 4.719274849e-03f;
    p = p * z - 2.675615979e-02f;
    p = p * z + 1.128277026e-01f;
    p = p * z - 3.761260264e-01f;
    p = p * z + 1.128379164e+00f;
    const float erfa = a * p;
    const float ac = a < 10.0f ? a : 10.0f;
    const float r = 1.0f / (ac + 2.0f);
    const float s = (ac - 2.0f) * r;
    float q = 1.293865509e-04f;
    q = q * s - 5.550905018e-04f;
    q = q * s - 8.990260686e-04f;
    q = q * s + 3.061289652e-03f;
    q = q * s + 6.493979522e-03f;
    q = q * s - 2.150745201e-02f;
    q = q * s - 3.644356603e-02f;
    q = q * s + 2.794719742e-01f;
    q = q * s - 6.871606521e-01f;
    q = q * s + 1.021582706e+00f;
    const float erfca = e * q * r;
    const float upper = a < 0.5f ? 0.5f + 0.5f * erfa : 1.0f - 0.5f * erfca;
    const float lower = a < 0.5f ? 0.5f - 0.5f * erfa : 0.5f * erfca;
    return v > 0.0f ? upper : lower;
}

SEGA_INLINE float gelu1(float v) {
    float g;
    return v * gelu_cdf(v, &g);
}

SEGA_INLINE void gelu_fwd_body(size_t n, const float *x, float *y) {
    SEGA_MAP(n, x, y, gelu1(v));
}

SEGA_INLINE void gelu_bwd_body(size_t n, const float *restrict x, const float *restrict dy,
                               float *restrict dx) {
#pragma clang loop vectorize(enable)
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        float g;
        const float cdf = gelu_cdf(v, &g);
        dx[i] += dy[i] * (cdf + v * (g * 0.39894228040143268f));
    }
}

static void gelu_fwd_portable(size_t n, const float *x, float *y) { gelu_fwd_body(n, x, y); }
static void gelu_bwd_portable(size_t n, const float *x, const float *dy, float *dx) {
    gelu_bwd_body(n, x, dy, dx);
}
#if SEGA_HAVE_X86_KERNELS
// Explicit-intrinsics GELU for AVX-512F (16 lanes) and AVX2+FMA (8 lanes): gelu_cdf's formulas
// on whole vectors, the range end a masked vector (no scalar loop), so an element's bits depend
// only on its value (not on n, the pointers, in place or the thread split). Differences from the
// scalar form, all within its accuracy bound:
// - x^2 = hi + lo with lo = fma(t, t, -hi) (exact, as the Veltkamp split);
// - exp(-hi / 2) is smax_exp16 / smax_exp8 (e^u 2^64, u clamped below at -104 where e^u is below
//   half the least denormal), and exp(-x^2 / 2) = e^u 2^64 * (2^-64 - 2^-65 lo), rounded once;
// - Phi = base + c w with w = erf(a) (a < 0.5) or erfc(a) and base, c = +-0.5 picked by lane.
// Both parts are computed for every vector. Measured and not taken (433 x 768 elements, one core):
// skipping the erfc part when all lanes have a < 0.5 (or the erf part when none has) was slower on
// mixed data (mispredicted branches) and no faster elsewhere; rcp14 / rcp plus a Newton step in
// place of the division was slower than the division.
#define GELU_RSQRT2 0.70710678118654752f
#define GELU_RSQRT2PI 0.39894228040143268f
#define GELU_2M64 5.42101086242752217e-20f   /* 2^-64 */
#define GELU_2M65 2.71050543121376109e-20f   /* 2^-65 */

SEGA_TARGET_AVX512 SEGA_INLINE __m512 gelu_erf16(__m512 a, __m512 z) {   // erf(a), z = a^2
    __m512 p = _mm512_set1_ps(4.719274849e-03f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-2.675615979e-02f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.128277026e-01f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.761260264e-01f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.128379164e+00f));
    return _mm512_mul_ps(a, p);
}

SEGA_TARGET_AVX512 SEGA_INLINE __m512 gelu_erfc16(__m512 a, __m512 e) {   // erfc(a), e = exp(-a^2)
    const __m512 ac = _mm512_min_ps(a, _mm512_set1_ps(10.0f));
    const __m512 d = _mm512_add_ps(ac, _mm512_set1_ps(2.0f));
    const __m512 r = _mm512_div_ps(_mm512_set1_ps(1.0f), d);
    const __m512 s = _mm512_mul_ps(_mm512_sub_ps(ac, _mm512_set1_ps(2.0f)), r);
    __m512 q = _mm512_set1_ps(1.293865509e-04f);
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(-5.550905018e-04f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(-8.990260686e-04f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(3.061289652e-03f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(6.493979522e-03f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(-2.150745201e-02f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(-3.644356603e-02f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(2.794719742e-01f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(-6.871606521e-01f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(1.021582706e+00f));
    return _mm512_mul_ps(_mm512_mul_ps(e, q), r);
}

// Phi(v) per lane; *gauss = exp(-v^2 / 2) when gauss is not NULL (the backward).
SEGA_TARGET_AVX512 SEGA_INLINE __m512 gelu_cdf16(__m512 v, __m512 *gauss) {
    const __m512 t = _mm512_min_ps(_mm512_abs_ps(v), _mm512_set1_ps(20.0f));   // NaN -> 20
    const __m512 hi = _mm512_mul_ps(t, t);
    const __m512 a = _mm512_mul_ps(t, _mm512_set1_ps(GELU_RSQRT2));
    const __m512 z = _mm512_mul_ps(hi, _mm512_set1_ps(0.5f));
    const __mmask16 small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.5f), _CMP_LT_OQ);
    const __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
    const __m512 lo = _mm512_fmsub_ps(t, t, hi);
    const __m512 f = _mm512_fnmadd_ps(lo, _mm512_set1_ps(GELU_2M65), _mm512_set1_ps(GELU_2M64));
    const __m512 e = _mm512_mul_ps(smax_exp16(_mm512_mul_ps(hi, _mm512_set1_ps(-0.5f))), f);
    if (gauss) *gauss = e;
    const __m512 w = _mm512_mask_blend_ps(small, gelu_erfc16(a, e), gelu_erf16(a, z));
    // Phi = 0.5 +- 0.5 erf(a) (a < 0.5), 1 - 0.5 erfc(a) (x > 0), 0.5 erfc(a) (x <= 0 or NaN).
    const __m512 base = _mm512_mask_blend_ps(small, _mm512_mask_blend_ps(pos, _mm512_setzero_ps(), _mm512_set1_ps(1.0f)),
                                             _mm512_set1_ps(0.5f));
    const __m512 c = _mm512_mask_blend_ps(_kxor_mask16(small, pos), _mm512_set1_ps(0.5f), _mm512_set1_ps(-0.5f));
    return _mm512_fmadd_ps(c, w, base);
}

SEGA_TARGET_AVX512 static void gelu_fwd_avx512(size_t n, const float *x, float *y) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(y + i, _mm512_mul_ps(v, gelu_cdf16(v, NULL)));
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, gelu_cdf16(v, NULL)));
    }
}

// dx += dy (Phi(x) + x phi(x)).
SEGA_TARGET_AVX512 static void gelu_bwd_avx512(size_t n, const float *x, const float *dy, float *dx) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        __m512 g;
        const __m512 cdf = gelu_cdf16(v, &g);
        const __m512 d = _mm512_fmadd_ps(v, _mm512_mul_ps(g, _mm512_set1_ps(GELU_RSQRT2PI)), cdf);
        _mm512_storeu_ps(dx + i, _mm512_fmadd_ps(_mm512_loadu_ps(dy + i), d, _mm512_loadu_ps(dx + i)));
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 g;
        const __m512 cdf = gelu_cdf16(v, &g);
        const __m512 d = _mm512_fmadd_ps(v, _mm512_mul_ps(g, _mm512_set1_ps(GELU_RSQRT2PI)), cdf);
        _mm512_mask_storeu_ps(dx + i, m, _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, dy + i), d, _mm512_maskz_loadu_ps(m, dx + i)));
    }
}

SEGA_TARGET_AVX2 SEGA_INLINE __m256 gelu_erf8(__m256 a, __m256 z) {
    __m256 p = _mm256_set1_ps(4.719274849e-03f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-2.675615979e-02f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.128277026e-01f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.761260264e-01f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.128379164e+00f));
    return _mm256_mul_ps(a, p);
}

SEGA_TARGET_AVX2 SEGA_INLINE __m256 gelu_erfc8(__m256 a, __m256 e) {
    const __m256 ac = _mm256_min_ps(a, _mm256_set1_ps(10.0f));
    const __m256 d = _mm256_add_ps(ac, _mm256_set1_ps(2.0f));
    const __m256 r = _mm256_div_ps(_mm256_set1_ps(1.0f), d);
    const __m256 s = _mm256_mul_ps(_mm256_sub_ps(ac, _mm256_set1_ps(2.0f)), r);
    __m256 q = _mm256_set1_ps(1.293865509e-04f);
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-5.550905018e-04f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-8.990260686e-04f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(3.061289652e-03f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(6.493979522e-03f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-2.150745201e-02f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-3.644356603e-02f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(2.794719742e-01f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-6.871606521e-01f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(1.021582706e+00f));
    return _mm256_mul_ps(_mm256_mul_ps(e, q), r);
}

SEGA_TARGET_AVX2 SEGA_INLINE __m256 gelu_cdf8(__m256 v, __m256 *gauss) {
    const __m256 t = _mm256_min_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v), _mm256_set1_ps(20.0f));
    const __m256 hi = _mm256_mul_ps(t, t);
    const __m256 a = _mm256_mul_ps(t, _mm256_set1_ps(GELU_RSQRT2));
    const __m256 z = _mm256_mul_ps(hi, _mm256_set1_ps(0.5f));
    const __m256 small = _mm256_cmp_ps(a, _mm256_set1_ps(0.5f), _CMP_LT_OQ);
    const __m256 pos = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ);
    const __m256 lo = _mm256_fmsub_ps(t, t, hi);
    const __m256 f = _mm256_fnmadd_ps(lo, _mm256_set1_ps(GELU_2M65), _mm256_set1_ps(GELU_2M64));
    const __m256 e = _mm256_mul_ps(smax_exp8(_mm256_mul_ps(hi, _mm256_set1_ps(-0.5f))), f);
    if (gauss) *gauss = e;
    const __m256 w = _mm256_blendv_ps(gelu_erfc8(a, e), gelu_erf8(a, z), small);
    const __m256 base = _mm256_blendv_ps(_mm256_and_ps(pos, _mm256_set1_ps(1.0f)), _mm256_set1_ps(0.5f), small);
    // c = 0.5 with the sign bit set where small != pos.
    const __m256 c = _mm256_xor_ps(_mm256_set1_ps(0.5f), _mm256_and_ps(_mm256_xor_ps(small, pos), _mm256_set1_ps(-0.0f)));
    return _mm256_fmadd_ps(c, w, base);
}

SEGA_TARGET_AVX2 static void gelu_fwd_avx2(size_t n, const float *x, float *y) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(v, gelu_cdf8(v, NULL)));
    }
    if (i < n) {
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 v = _mm256_maskload_ps(x + i, m);
        _mm256_maskstore_ps(y + i, m, _mm256_mul_ps(v, gelu_cdf8(v, NULL)));
    }
}

SEGA_TARGET_AVX2 static void gelu_bwd_avx2(size_t n, const float *x, const float *dy, float *dx) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        __m256 g;
        const __m256 cdf = gelu_cdf8(v, &g);
        const __m256 d = _mm256_fmadd_ps(v, _mm256_mul_ps(g, _mm256_set1_ps(GELU_RSQRT2PI)), cdf);
        _mm256_storeu_ps(dx + i, _mm256_fmadd_ps(_mm256_loadu_ps(dy + i), d, _mm256_loadu_ps(dx + i)));
    }
    if (i < n) {
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 v = _mm256_maskload_ps(x + i, m);
        __m256 g;
        const __m256 cdf = gelu_cdf8(v, &g);
        const __m256 d = _mm256_fmadd_ps(v, _mm256_mul_ps(g, _mm256_set1_ps(GELU_RSQRT2PI)), cdf);
        _mm256_maskstore_ps(dx + i, m, _mm256_fmadd_ps(_mm256_maskload_ps(dy + i, m), d, _mm256_maskload_ps(dx + i, m)));
    }
}
#endif

void sega__gelu_fwd_range(size_t n, const float *x, float *y, sega_isa isa) {
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX512) { gelu_fwd_avx512(n, x, y); return; }
    if (isa == SEGA_ISA_AVX2) { gelu_fwd_avx2(n, x, y); return; }
#endif
    (void)isa;
    gelu_fwd_portable(n, x, y);
}

void sega__gelu_bwd_range(size_t n, const float *x, const float *dy, float *dx, sega_isa isa) {
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX512) { gelu_bwd_avx512(n, x, dy, dx); return; }
    if (isa == SEGA_ISA_AVX2) { gelu_bwd_avx2(n, x, dy, dx); return; }
#endif
    (void)isa;
    gelu_bwd_portable(n, x, dy, dx);
}

void sega_gelu_fwd(sega_engine *e, size_t n, const float *x, float *y) {
    sega__gelu_fwd_range(n, x, y, sega__kernel_isa(e, SEGA_ISA_AVX512));
}

void sega_gelu_bwd(sega_engine *e, size_t n, const float *x, const float *dy, float *dx) {
    sega__gelu_bwd_range(n, x, dy, dx, sega__kernel_isa(e, SEGA_ISA_AVX512));
}

// ---------------------------------------------------------------------------------------------
// Softmax

// `inplace` is a constant after inlining: when set, x == y and only y is used.
SEGA_INLINE void softmax_row(size_t len, const float *xin, float *y, const int inplace) {
    const float *x = inplace ? y : xin;
    // Row max in 8 independent lanes (exact whatever the order; NaN inputs give NaN rows
    // through the exp below anyway).
    float m8[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    size_t i0 = 0;
    for (; i0 + 8 <= len; i0 += 8)
        for (int k = 0; k < 8; k++) m8[k] = x[i0 + k] > m8[k] ? x[i0 + k] : m8[k];
    float m = -INFINITY;
    for (int k = 0; k < 8; k++) m = m8[k] > m ? m8[k] : m;
    for (; i0 < len; i0++) m = x[i0] > m ? x[i0] : m;
    if (m == -INFINITY) m = 0.0f;   // all -inf: exp(-inf - 0) = 0, sum 0 -> NaN like PyTorch
    float s = 0.0f;
#pragma clang loop vectorize(enable)
    for (size_t i = 0; i < len; i++) {
        const float e = sega_exp(x[i] - m);
        y[i] = e;
        s += e;
    }
    const float inv = 1.0f / s;
    for (size_t i = 0; i < len; i++) y[i] *= inv;
}

SEGA_INLINE void softmax_body(size_t rows, size_t len, const float *x, float *y) {
    if (x == y) {
        for (size_t r = 0; r < rows; r++) softmax_row(len, NULL, y + r * len, 1);
    } else {
        for (size_t r = 0; r < rows; r++) softmax_row(len, x + r * len, y + r * len, 0);
    }
}
static void softmax_portable(size_t rows, size_t len, const float *x, float *y) {
    softmax_body(rows, len, x, y);
}
#if SEGA_HAVE_X86_KERNELS
// Explicit-intrinsics rows for AVX2+FMA (8 lanes) and AVX-512F (16 lanes): a max pass, a fused
// exp + sum pass (two accumulators) and a scale pass; the row end is a masked vector, never a
// scalar loop, so a row's arithmetic depends only on its values and length. x == y is allowed
// (every vector is read before it is written), a partial overlap is not.
//
// The exp is specialised to t = x - max <= 0 (or NaN). t is clamped below at -104 (max(-104, t):
// a NaN t stays NaN); n = round(t log2 e) is read from the low bits of t log2 e + 1.5 * 2^23 + 191,
// r = t - n ln2 (Cody-Waite, FMA) and e^r = 1 + r + r^2 P(r) with sega_exp's polynomial. The row
// holds e' = e^t 2^64 = e^r 2^(n+64): n + 64 is in [-86, 64], so 2^(n+64) is one normal float
// built by a shift and nothing overflows or goes denormal; the scale pass multiplies by
// 1 / sum(e') (sum >= 2^64), where the 2^64 cancels. So an output is rounded once from the normal
// e' (denormal outputs are kept), an x - max of -104 or less (-inf entries) gives exactly 0 (its y
// is below 2^-150, half the least denormal), a NaN entry or a +inf entry (inf - inf) makes the
// row NaN, and an all -inf row is NaN (-inf - -inf), as in the portable kernel.
SEGA_TARGET_AVX512 SEGA_INLINE void softmax_row_avx512(size_t len, const float *x, float *y) {
    const size_t nv = len / 16;
    const __mmask16 tail = (__mmask16)((1u << (len % 16)) - 1u);
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    size_t v = 0;
    for (; v + 2 <= nv; v += 2) {
        m0 = _mm512_max_ps(_mm512_loadu_ps(x + 16 * v), m0);
        m1 = _mm512_max_ps(_mm512_loadu_ps(x + 16 * v + 16), m1);
    }
    if (v < nv) m0 = _mm512_max_ps(_mm512_loadu_ps(x + 16 * v), m0);
    if (tail) m1 = _mm512_max_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail, x + 16 * nv), m1);
    const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(_mm512_max_ps(m0, m1)));
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    for (v = 0; v + 2 <= nv; v += 2) {
        const __m512 e0 = smax_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + 16 * v), mx));
        const __m512 e1 = smax_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + 16 * v + 16), mx));
        _mm512_storeu_ps(y + 16 * v, e0);
        _mm512_storeu_ps(y + 16 * v + 16, e1);
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    if (v < nv) {
        const __m512 e0 = smax_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + 16 * v), mx));
        _mm512_storeu_ps(y + 16 * v, e0);
        s0 = _mm512_add_ps(s0, e0);
    }
    if (tail) {
        const __m512 e1 = smax_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + 16 * nv), mx));
        _mm512_mask_storeu_ps(y + 16 * nv, tail, e1);
        s1 = _mm512_mask_add_ps(s1, tail, s1, e1);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)));
    for (v = 0; v < nv; v++) _mm512_storeu_ps(y + 16 * v, _mm512_mul_ps(_mm512_loadu_ps(y + 16 * v), inv));
    if (tail)
        _mm512_mask_storeu_ps(y + 16 * nv, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, y + 16 * nv), inv));
}

// Horizontal max / sum of 8 lanes in a fixed order.
SEGA_TARGET_AVX2 SEGA_INLINE float smax_hmax8(__m256 v) {
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}
SEGA_TARGET_AVX2 SEGA_INLINE float smax_hsum8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

SEGA_TARGET_AVX2 SEGA_INLINE void softmax_row_avx2(size_t len, const float *x, float *y) {
    const size_t nv = len / 8, rem = len % 8;
    // Lane i of `tail` is all ones for i < rem (maskload / maskstore read the sign bit).
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256 tailf = _mm256_castsi256_ps(tail);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 m0 = ninf, m1 = ninf;
    size_t v = 0;
    for (; v + 2 <= nv; v += 2) {
        m0 = _mm256_max_ps(_mm256_loadu_ps(x + 8 * v), m0);
        m1 = _mm256_max_ps(_mm256_loadu_ps(x + 8 * v + 8), m1);
    }
    if (v < nv) m0 = _mm256_max_ps(_mm256_loadu_ps(x + 8 * v), m0);
    if (rem) m1 = _mm256_max_ps(_mm256_blendv_ps(ninf, _mm256_maskload_ps(x + 8 * nv, tail), tailf), m1);
    const __m256 mx = _mm256_set1_ps(smax_hmax8(_mm256_max_ps(m0, m1)));
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    for (v = 0; v + 2 <= nv; v += 2) {
        const __m256 e0 = smax_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + 8 * v), mx));
        const __m256 e1 = smax_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + 8 * v + 8), mx));
        _mm256_storeu_ps(y + 8 * v, e0);
        _mm256_storeu_ps(y + 8 * v + 8, e1);
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    if (v < nv) {
        const __m256 e0 = smax_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + 8 * v), mx));
        _mm256_storeu_ps(y + 8 * v, e0);
        s0 = _mm256_add_ps(s0, e0);
    }
    if (rem) {
        const __m256 e1 = smax_exp8(_mm256_sub_ps(_mm256_maskload_ps(x + 8 * nv, tail), mx));
        _mm256_maskstore_ps(y + 8 * nv, tail, e1);
        s1 = _mm256_add_ps(s1, _mm256_and_ps(e1, tailf));
    }
    const __m256 inv = _mm256_set1_ps(1.0f / smax_hsum8(_mm256_add_ps(s0, s1)));
    for (v = 0; v < nv; v++) _mm256_storeu_ps(y + 8 * v, _mm256_mul_ps(_mm256_loadu_ps(y + 8 * v), inv));
    if (rem) _mm256_maskstore_ps(y + 8 * nv, tail, _mm256_mul_ps(_mm256_maskload_ps(y + 8 * nv, tail), inv));
}

SEGA_TARGET_AVX2 static void softmax_avx2(size_t rows, size_t len, const float *x, float *y) {
    for (size_t r = 0; r < rows; r++) softmax_row_avx2(len, x + r * len, y + r * len);
}
SEGA_TARGET_AVX512 static void softmax_avx512(size_t rows, size_t len, const float *x, float *y) {
    for (size_t r = 0; r < rows; r++) softmax_row_avx512(len, x + r * len, y + r * len);
}
#endif

void sega_softmax_fwd(sega_engine *e, size_t rows, size_t len, const float *x, float *y) {
    const sega_isa isa = sega__kernel_isa(e, SEGA_ISA_AVX512);
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX512) { softmax_avx512(rows, len, x, y); return; }
    if (isa == SEGA_ISA_AVX2) { softmax_avx2(rows, len, x, y); return; }
#endif
    (void)isa;
    softmax_portable(rows, len, x, y);
}

void sega_softmax_bwd(size_t rows, size_t len, const float *restrict y, const float *restrict dy,
                      float *restrict dx) {
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * len, *dyr = dy + r * len;
        float *dxr = dx + r * len;
        float dot = 0.0f;
#pragma clang loop vectorize(enable)
        for (size_t i = 0; i < len; i++) dot += dyr[i] * yr[i];
        for (size_t i = 0; i < len; i++) dxr[i] += yr[i] * (dyr[i] - dot);
    }
}

void sega_softmax_bwd_inplace(size_t rows, size_t len, const float *restrict y, float *restrict g) {
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * len;
        float *gr = g + r * len;
        float dot = 0.0f;
#pragma clang loop vectorize(enable)
        for (size_t i = 0; i < len; i++) dot += gr[i] * yr[i];
        for (size_t i = 0; i < len; i++) gr[i] = yr[i] * (gr[i] - dot);
    }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm (biased variance, two-pass)

// One row; `inplace` is a constant after inlining (x == y: only y is used).
SEGA_INLINE void layernorm_row(size_t len, float eps, const float *xin, const float *restrict gamma,
                               const float *restrict beta, float *y, float *mu_out, float *rs_out,
                               const int inplace) {
    const float *x = inplace ? y : xin;
    const float inv_len = 1.0f / (float)len;
    float s = 0.0f;
#pragma clang loop vectorize(enable)
    for (size_t i = 0; i < len; i++) s += x[i];
    const float mu = s * inv_len;
    float q = 0.0f;
#pragma clang loop vectorize(enable)
    for (size_t i = 0; i < len; i++) {
        const float d = x[i] - mu;
        q += d * d;
    }
    const float rs = 1.0f / sqrtf(q * inv_len + eps);
    *mu_out = mu;
    *rs_out = rs;
    if (gamma && beta) {
        for (size_t i = 0; i < len; i++) y[i] = (x[i] - mu) * rs * gamma[i] + beta[i];
    } else if (gamma) {
        for (size_t i = 0; i < len; i++) y[i] = (x[i] - mu) * rs * gamma[i];
    } else if (beta) {
        for (size_t i = 0; i < len; i++) y[i] = (x[i] - mu) * rs + beta[i];
    } else {
        for (size_t i = 0; i < len; i++) y[i] = (x[i] - mu) * rs;
    }
}

// Rows [r0, r1): one compiled body (noinline) for sega_layernorm_fwd and the threaded
// sega_layernorm_fwd_mt, so a row's sums are vectorised the same way in both.
__attribute__((noinline)) void sega__layernorm_fwd_rows(size_t r0, size_t r1, size_t len, float eps,
                                                        const float *x, const float *gamma,
                                                        const float *beta, float *y, float *mean,
                                                        float *rstd) {
    for (size_t r = r0; r < r1; r++) {
        float mu, rs;
        if (x == y) layernorm_row(len, eps, NULL, gamma, beta, y + r * len, &mu, &rs, 1);
        else layernorm_row(len, eps, x + r * len, gamma, beta, y + r * len, &mu, &rs, 0);
        if (mean) mean[r] = mu;
        if (rstd) rstd[r] = rs;
    }
}

void sega_layernorm_fwd(size_t rows, size_t len, float eps, const float *x, const float *gamma,
                        const float *beta, float *y, float *mean, float *rstd) {
    sega__layernorm_fwd_rows(0, rows, len, eps, x, gamma, beta, y, mean, rstd);
}

// With xh = (x - mu) * rstd and g = dy * gamma:
//   dx = rstd * (g - mean(g) - xh * mean(g * xh)).
SEGA_INLINE void layernorm_bwd_row(size_t len, const float *restrict x, const float *restrict gamma,
                                   float mu, float rs, const float *restrict dy, float *restrict dx,
                                   const int has_gamma) {
    const float inv_len = 1.0f / (float)len;
    float sg = 0.0f, sgx = 0.0f;
#pragma clang loop vectorize(enable)
    for (size_t i = 0; i < len; i++) {
        const float gi = has_gamma ? dy[i] * gamma[i] : dy[i];
        const float xh = (x[i] - mu) * rs;
        sg += gi;
        sgx += gi * xh;
    }
    const float mg = sg * inv_len, mgx = sgx * inv_len;
    for (size_t i = 0; i < len; i++) {
        const float gi = has_gamma ? dy[i] * gamma[i] : dy[i];
        const float xh = (x[i] - mu) * rs;
        dx[i] += rs * (gi - mg - xh * mgx);
    }
}

__attribute__((noinline)) void sega__layernorm_bwd_rows(size_t r0, size_t r1, size_t len,
                                                        const float *x, const float *gamma,
                                                        const float *mean, const float *rstd,
                                                        const float *dy, float *dx) {
    for (size_t r = r0; r < r1; r++) {
        if (gamma)
            layernorm_bwd_row(len, x + r * len, gamma, mean[r], rstd[r], dy + r * len, dx + r * len, 1);
        else
            layernorm_bwd_row(len, x + r * len, NULL, mean[r], rstd[r], dy + r * len, dx + r * len, 0);
    }
}

void sega_layernorm_bwd(size_t rows, size_t len, const float *x, const float *gamma,
                        const float *mean, const float *rstd, const float *dy, float *dx) {
    sega__layernorm_bwd_rows(0, rows, len, x, gamma, mean, rstd, dy, dx);
}

// ---------------------------------------------------------------------------------------------
// Per-channel affine, add, axpy

void sega_channel_affine_fwd(size_t channels, size_t plane, const float *x, const float *scale,
                             const float *shift, float *y) {
    for (size_t c = 0; c < channels; c++) {
        const float a = scale[c], b = shift ? shift[c] : 0.0f;
        SEGA_MAP(plane, x + c * plane, y + c * plane, v * a + b);
    }
}

void sega_channel_affine_bwd(size_t channels, size_t plane, const float *restrict scale,
                             const float *restrict dy, float *restrict dx) {
    for (size_t c = 0; c < channels; c++) {
        const float a = scale[c];
        const float *dyc = dy + c * plane;
        float *dxc = dx + c * plane;
        for (size_t i = 0; i < plane; i++) dxc[i] += dyc[i] * a;
    }
}

void sega_add_inplace(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void sega_axpy(size_t n, float a, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}
