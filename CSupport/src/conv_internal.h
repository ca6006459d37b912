// conv_internal.h - private helpers shared by the im2col, depthwise-conv and pooling kernels.
// Not part of the public interface (lives in src/, not include/).
#ifndef SEGA_CONV_INTERNAL_H
#define SEGA_CONV_INTERNAL_H
#include "cpu_internal.h"
#include <stddef.h>

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

#endif
