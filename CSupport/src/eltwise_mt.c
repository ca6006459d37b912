// eltwise_mt.c - elementwise kernels split over the engine's threads: contiguous ranges (whole
// 64-element chunks), one per thread, each run at the engine's ISA (a portable loop and the
// same loop compiled for AVX2). An element's arithmetic never depends on the split.
#include "sega_eltwise.h"
#include "sega_threads.h"
#include "cpu_internal.h"

// Ranges below this many elements per thread are not worth waking a worker for.
#define SEGA_MT_GRAIN 16384

typedef void (*range_fn)(const void *ctx, size_t lo, size_t hi, int avx2);

typedef struct {
    range_fn fn;
    const void *ctx;
    size_t n;
    int avx2;
} mt_job;

static void mt_task(void *vjob, int index, int count) {
    const mt_job *j = (const mt_job *)vjob;
    const size_t chunks = (j->n + 63) / 64;
    size_t lo = chunks * (size_t)index / (size_t)count * 64, hi = chunks * (size_t)(index + 1) / (size_t)count * 64;
    if (hi > j->n) hi = j->n;
    if (lo < hi) j->fn(j->ctx, lo, hi, j->avx2);
}

// Runs fn over [0, n) in ranges, on the engine's pool when n is large enough.
static void mt_run(sega_engine *e, size_t n, range_fn fn, const void *ctx) {
    if (n == 0) return;
    const sega_isa isa = sega__kernel_isa(e, SEGA_ISA_AVX2);
    mt_job j = {fn, ctx, n, isa == SEGA_ISA_AVX2};
    int parts = e ? sega_engine_threads(e) : 1;
    if ((size_t)parts > n / SEGA_MT_GRAIN) parts = (int)(n / SEGA_MT_GRAIN);
    if (parts <= 1) {
        fn(ctx, 0, n, j.avx2);
        return;
    }
    sega_pool_run(sega_engine_pool(e), mt_task, &j, parts);
}

// ---------------------------------------------------------------------------------------------
// relu / relu6 in place, with the mask

typedef struct { float *y; uint8_t *mask; int act; } act_ctx;

SEGA_INLINE void act_body(const act_ctx *c, size_t lo, size_t hi) {
    float *restrict y = c->y;
    uint8_t *restrict m = c->mask;
    if (c->act == SEGA_ACT_RELU) {
        if (m)
            for (size_t i = lo; i < hi; i++) m[i] = (uint8_t)(y[i] > 0.0f);
        for (size_t i = lo; i < hi; i++) y[i] = y[i] < 0.0f ? 0.0f : y[i];
    } else if (c->act == SEGA_ACT_RELU6) {
        if (m)
            for (size_t i = lo; i < hi; i++) m[i] = (uint8_t)((y[i] > 0.0f) & (y[i] < 6.0f));
        for (size_t i = lo; i < hi; i++) {
            const float v = y[i];
            y[i] = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
        }
    }
}
static void act_portable(const act_ctx *c, size_t lo, size_t hi) { act_body(c, lo, hi); }
#if SEGA_HAVE_X86_KERNELS
SEGA_TARGET_AVX2 static void act_avx2(const act_ctx *c, size_t lo, size_t hi) { act_body(c, lo, hi); }
#endif

static void act_range(const void *ctx, size_t lo, size_t hi, int avx2) {
#if SEGA_HAVE_X86_KERNELS
    if (avx2) { act_avx2((const act_ctx *)ctx, lo, hi); return; }
#endif
    (void)avx2;
    act_portable((const act_ctx *)ctx, lo, hi);
}

void sega_act_fwd_inplace(sega_engine *e, size_t n, int act, float *y, uint8_t *mask) {
    const act_ctx c = {y, mask, act};
    mt_run(e, n, act_range, &c);
}

void sega__act_range(size_t n, int act, float *y, uint8_t *mask, int avx2) {
    const act_ctx c = {y, mask, act};
    act_range(&c, 0, n, avx2);
}

// ---------------------------------------------------------------------------------------------
// out = mask ? dy + 0 : 0 (out may be dy)

typedef struct { const float *dy; float *out; const uint8_t *mask; } mask_ctx;

SEGA_INLINE void mask_body(const mask_ctx *c, size_t lo, size_t hi) {
    const float *d = c->dy;
    float *o = c->out;
    const uint8_t *restrict m = c->mask;
    for (size_t i = lo; i < hi; i++) {
        const float v = d[i] + 0.0f;   // loaded unconditionally so the select vectorises
        o[i] = m[i] ? v : 0.0f;
    }
}
static void mask_portable(const mask_ctx *c, size_t lo, size_t hi) { mask_body(c, lo, hi); }
#if SEGA_HAVE_X86_KERNELS
SEGA_TARGET_AVX2 static void mask_avx2(const mask_ctx *c, size_t lo, size_t hi) { mask_body(c, lo, hi); }
#endif

static void mask_range(const void *ctx, size_t lo, size_t hi, int avx2) {
#if SEGA_HAVE_X86_KERNELS
    if (avx2) { mask_avx2((const mask_ctx *)ctx, lo, hi); return; }
#endif
    (void)avx2;
    mask_portable((const mask_ctx *)ctx, lo, hi);
}

void sega_mask_copy(sega_engine *e, size_t n, const uint8_t *mask, const float *dy, float *out) {
    const mask_ctx c = {dy, out, mask};
    mt_run(e, n, mask_range, &c);
}
