// conv_internal.h - private helpers shared by the im2col, depthwise-conv and pooling kernels.
// Not part of the public interface (lives in src/, not include/).
#ifndef SEGA_CONV_INTERNAL_H
#define SEGA_CONV_INTERNAL_H
#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define SEGA_INLINE static inline __attribute__((always_inline))
#define SEGA_AVX2_FN __attribute__((target("avx2,fma")))
#define SEGA_HAVE_AVX2_VARIANTS 1
#else
#define SEGA_INLINE static inline
#define SEGA_AVX2_FN
#define SEGA_HAVE_AVX2_VARIANTS 0
#endif

#if !defined(__x86_64__) && !defined(__i386__)
#undef SEGA_HAVE_AVX2_VARIANTS
#define SEGA_HAVE_AVX2_VARIANTS 0
#endif

// Half-open range [*lo, *hi) of output positions o in [0, on) for which the input coordinate
// o*s + off lies inside [0, n). Computed in 64-bit so that no intermediate overflows; the
// result always satisfies 0 <= *lo <= *hi <= on.
SEGA_INLINE void sega_tap_range(int on, int s, int off, int n, int *lo, int *hi) {
    long long l = 0, h;
    if (off < 0) l = ((long long)-off + s - 1) / s;
    long long lim = (long long)n - off;     // need o*s < lim
    h = lim <= 0 ? 0 : (lim + s - 1) / s;
    if (l > on) l = on;
    if (h > on) h = on;
    if (h < l) h = l;
    *lo = (int)l;
    *hi = (int)h;
}

// Whether the AVX2+FMA variants may run: the engine's ISA when an engine is given, else the CPU.
// Defined in dwconv.c.
struct sega_engine;
int sega__use_avx2(struct sega_engine *e);

#endif
