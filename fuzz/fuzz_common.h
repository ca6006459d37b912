// fuzz_common.h - shared decoding helpers for the kernel fuzzers (libFuzzer).
// Geometry fields are decoded as small signed values so that invalid ones (0, negative) occur
// and must be rejected by sega_conv_geom_check without crashing. Data are small integers,
// exact in fp32, so that sums are exact and results can be compared bit for bit.
#ifndef SEGA_FUZZ_COMMON_H
#define SEGA_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t n, i;
    uint32_t lcg;
} fz_reader;

static uint8_t fz_byte(fz_reader *r) {
    if (r->i < r->n) return r->p[r->i++];
    r->lcg = r->lcg * 1664525u + 1013904223u;   // past the input: deterministic filler
    return (uint8_t)(r->lcg >> 24);
}

// Value in [lo, hi] (inclusive).
static int fz_range(fz_reader *r, int lo, int hi) {
    return lo + (int)(fz_byte(r) % (unsigned)(hi - lo + 1));
}

// Small integer in [-8, 7], exact in fp32.
static float fz_small(fz_reader *r) { return (float)((int)(fz_byte(r) & 15) - 8); }

static void fz_fill(fz_reader *r, float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = fz_small(r);
}

// Equal as numbers (so +0 == -0), NaN equal to NaN.
static int fz_same(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (a[i] != a[i] && b[i] != b[i]) continue;
        if (a[i] != b[i]) return 0;
    }
    return 1;
}
#endif
