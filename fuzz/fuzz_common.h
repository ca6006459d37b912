// fuzz_common.h - shared decoding helpers for the kernel fuzzers (libFuzzer).
// Geometry fields are decoded as small signed values so that invalid ones (0, negative) occur
// and must be rejected by sega_conv_geom_check without crashing. Data are small integers,
// exact in fp32, so that sums are exact and results can be compared bit for bit.
#ifndef SEGA_FUZZ_COMMON_H
#define SEGA_FUZZ_COMMON_H
#include "sega_conv.h"
#include "sega_engine.h"
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

// Channels and plane: c in [0, cmax], h and w in [-1, hwmax].
static void fz_geom_size(fz_reader *r, sega_conv_geom *g, int cmax, int hwmax) {
    g->c = fz_range(r, 0, cmax);
    g->h = fz_range(r, -1, hwmax);
    g->w = fz_range(r, -1, hwmax);
}

// Limits of the window fields (upper bounds; kernels, strides and pads start at -1, dilations
// at dil_lo).
typedef struct {
    int k, s, pad, dil_lo, dil;
} fz_window;

// Kernel, stride, padding, dilation in the order kh kw sh sw pad_t pad_l dh dw. With `square`
// the column fields are not decoded but copied from the row ones.
static void fz_geom_window(fz_reader *r, sega_conv_geom *g, fz_window L, int square) {
    g->kh = fz_range(r, -1, L.k);
    g->kw = square ? g->kh : fz_range(r, -1, L.k);
    g->sh = fz_range(r, -1, L.s);
    g->sw = square ? g->sh : fz_range(r, -1, L.s);
    g->pad_t = fz_range(r, -1, L.pad);
    g->pad_l = fz_range(r, -1, L.pad);
    g->dh = fz_range(r, L.dil_lo, L.dil);
    g->dw = square ? g->dh : fz_range(r, L.dil_lo, L.dil);
}

#ifdef FZ_ENGINES
// Harnesses that define FZ_ENGINES before including this header run their kernels under these
// engines: NULL (single thread, sega_cpu_best_isa()), a portable 1-thread and, where the CPU
// has it, an AVX2 2-thread engine, created once by LLVMFuzzerInitialize.
static sega_engine *fz_engine_list[3];
static int fz_nengines;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    fz_engine_list[fz_nengines++] = NULL;
    if (sega_engine_create(1, SEGA_ISA_PORTABLE, &fz_engine_list[fz_nengines]) == SEGA_OK) fz_nengines++;
    if (sega_cpu_supports(SEGA_ISA_AVX2) &&
        sega_engine_create(2, SEGA_ISA_AVX2, &fz_engine_list[fz_nengines]) == SEGA_OK) fz_nengines++;
    return 0;
}

// One of the engines, chosen by the next input byte.
static sega_engine *fz_engine(fz_reader *r) { return fz_engine_list[fz_range(r, 0, 2) % fz_nengines]; }
#endif

// Equal as numbers (so +0 == -0), NaN equal to NaN.
static int fz_same(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (a[i] != a[i] && b[i] != b[i]) continue;
        if (a[i] != b[i]) return 0;
    }
    return 1;
}
#endif
