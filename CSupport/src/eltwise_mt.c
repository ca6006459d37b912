// eltwise_mt.c - elementwise and row-wise kernels split over the engine's threads: contiguous
// ranges of whole units (64-element chunks for elementwise kernels, whole rows for row kernels),
// one per thread. relu/relu6 and the mask copy run at the engine's ISA (a portable loop and the
// same loop compiled for AVX2); GELU and softmax call their single-thread kernels on each range.
// An element's (a row's) arithmetic never depends on the split.
#include "sega_eltwise.h"
#include "sega_threads.h"
#include "cpu_internal.h"

// Ranges below this many elements per thread are not worth waking a worker for (cheap kernels:
// relu, the mask copy).
#define SEGA_MT_GRAIN 16384
// The same for GELU and softmax (several ns per element: erff/expf, exp per element): about
// 10 us of work per thread (measured: below it the split is not faster).
#define SEGA_MT_GRAIN_HEAVY 2048

typedef void (*range_fn)(const void *ctx, size_t lo, size_t hi, int avx2);

typedef struct {
    range_fn fn;
    const void *ctx;
    size_t n;      // items (elements or rows)
    size_t unit;   // items per indivisible unit (64 elements, 1 row)
    int avx2;
} mt_job;

static void mt_task(void *vjob, int index, int count) {
    const mt_job *j = (const mt_job *)vjob;
    const size_t units = (j->n + j->unit - 1) / j->unit;
    size_t lo = units * (size_t)index / (size_t)count * j->unit;
    size_t hi = units * (size_t)(index + 1) / (size_t)count * j->unit;
    if (hi > j->n) hi = j->n;
    if (lo < hi) j->fn(j->ctx, lo, hi, j->avx2);
}

// Runs fn over [0, n) items in ranges of whole units, on the engine's pool when the work
// (`elems` elements in all) gives each thread at least `grain` elements.
static void mt_run_units(sega_engine *e, size_t n, size_t unit, size_t elems, size_t grain,
                         range_fn fn, const void *ctx) {
    if (n == 0) return;
    const sega_isa isa = sega__kernel_isa(e, SEGA_ISA_AVX2);
    mt_job j = {fn, ctx, n, unit, isa == SEGA_ISA_AVX2};
    int parts = e ? sega_engine_threads(e) : 1;
    if ((size_t)parts > elems / grain) parts = (int)(elems / grain);
    if ((size_t)parts > (n + unit - 1) / unit) parts = (int)((n + unit - 1) / unit);
    if (parts <= 1) {
        fn(ctx, 0, n, j.avx2);
        return;
    }
    sega_pool_run(sega_engine_pool(e), mt_task, &j, parts);
}

// Elementwise: 64-element chunks, the cheap kernels' grain.
static void mt_run(sega_engine *e, size_t n, range_fn fn, const void *ctx) {
    mt_run_units(e, n, 64, n, SEGA_MT_GRAIN, fn, ctx);
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

// ---------------------------------------------------------------------------------------------
// GELU forward / backward and softmax forward / backward: the single-thread kernels on ranges

typedef struct { const float *a, *b; float *out; size_t len; sega_engine *e; } heavy_ctx;

static void gelu_fwd_range(const void *ctx, size_t lo, size_t hi, int avx2) {
    const heavy_ctx *c = (const heavy_ctx *)ctx;
    (void)avx2;
    sega_gelu_fwd(hi - lo, c->a + lo, c->out + lo);
}

static void gelu_bwd_range(const void *ctx, size_t lo, size_t hi, int avx2) {
    const heavy_ctx *c = (const heavy_ctx *)ctx;
    (void)avx2;
    sega_gelu_bwd(hi - lo, c->a + lo, c->b + lo, c->out + lo);
}

static void softmax_fwd_range(const void *ctx, size_t lo, size_t hi, int avx2) {
    const heavy_ctx *c = (const heavy_ctx *)ctx;
    (void)avx2;
    sega_softmax_fwd(c->e, hi - lo, c->len, c->a + lo * c->len, c->out + lo * c->len);
}

static void softmax_bwd_range(const void *ctx, size_t lo, size_t hi, int avx2) {
    const heavy_ctx *c = (const heavy_ctx *)ctx;
    (void)avx2;
    sega_softmax_bwd(hi - lo, c->len, c->a + lo * c->len, c->b + lo * c->len, c->out + lo * c->len);
}

void sega_gelu_fwd_mt(sega_engine *e, size_t n, const float *x, float *y) {
    const heavy_ctx c = {x, NULL, y, 0, e};
    mt_run_units(e, n, 64, n, SEGA_MT_GRAIN_HEAVY, gelu_fwd_range, &c);
}

void sega_gelu_bwd_mt(sega_engine *e, size_t n, const float *x, const float *dy, float *dx) {
    const heavy_ctx c = {x, dy, dx, 0, e};
    mt_run_units(e, n, 64, n, SEGA_MT_GRAIN_HEAVY, gelu_bwd_range, &c);
}

void sega_softmax_fwd_mt(sega_engine *e, size_t rows, size_t len, const float *x, float *y) {
    const heavy_ctx c = {x, NULL, y, len, e};
    mt_run_units(e, rows, 1, rows * len, SEGA_MT_GRAIN_HEAVY, softmax_fwd_range, &c);
}

void sega_softmax_bwd_mt(sega_engine *e, size_t rows, size_t len, const float *y, const float *dy,
                         float *dx) {
    const heavy_ctx c = {y, dy, dx, len, e};
    mt_run_units(e, rows, 1, rows * len, SEGA_MT_GRAIN_HEAVY, softmax_bwd_range, &c);
}
