// winograd_internal.h - private to the Winograd convolution (winograd.c, winograd_transforms.c):
// the per-ISA tile transforms the driver picks once per call.
#ifndef SEGA_WINOGRAD_INTERNAL_H
#define SEGA_WINOGRAD_INTERNAL_H
#include "cpu_internal.h"
#include <stddef.h>
#include <stdint.h>

#define WINO_PMAX 36   // transform points of F(4x4, 3x3): a 6x6 tile

typedef struct wino_fns {
    /// Input transform of `len` consecutive tiles of side T: tile j reads rows[r * rf + T*j + c]
    /// (r, c < T + 2) and writes point p of B^T d B to dst[p * pstride + j].
    void (*in)(const float *rows, int rf, int len, float *dst, size_t pstride);
    /// Output transform of `len` tiles: tile j reads point p at src[p * pstride + j] and writes
    /// its T x T outputs to orow[r * rf + T*j + c].
    void (*out)(const float *src, size_t pstride, int len, float *orow, size_t rf);
    /// n outputs into dst: + *bias (bias NULL: none), the activation `act` and its mask (NULL:
    /// none); accumulate: dst += v instead.
    void (*store)(const float *v, int n, float *dst, const float *bias, int act, uint8_t *mask, int accumulate);
} wino_fns;

struct sega_engine;
/// The transforms of tile side T (2 or 4) at the engine's ISA (counted as one kernel dispatch).
const wino_fns *sega__wino_fns(const struct sega_engine *e, int T);

#endif
