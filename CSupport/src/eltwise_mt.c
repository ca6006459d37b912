// eltwise_mt.c - elementwise and row-wise kernels split over the engine's threads. relu/relu6
// and the mask copy: contiguous ranges (whole 64-element chunks), one per thread, each run at the
// engine's ISA (a portable loop and the same loop compiled for AVX2). GELU and softmax forward:
// ranges of whole 64-element chunks or whole rows claimed from a counter, each run by the
// single-thread kernel (the softmax backward, ~0.3 ns per element, stays on one thread). An element's (a row's) arithmetic never depends on the split.
#include "sega_eltwise.h"
#include "sega_threads.h"
#include "cpu_internal.h"
#include <stdatomic.h>

// Ranges below this many elements per thread are not worth waking a worker for.
#define SEGA_MT_GRAIN 16384
// The same for GELU and the softmax forward (GELU 1-8 ns per element; the softmax forward was
// about 1 ns, 0.34 / 0.54 ns since its explicit AVX-512 / AVX2 rows): on the shared
// 2-core machine waking a worker cost about 100 us whenever other processes held both cores
// (measured), so a thread gets at least ~70 us of GELU (but only ~6 us of softmax now: not re-tuned).
#define SEGA_MT_GRAIN_HEAVY 16384

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

// ---------------------------------------------------------------------------------------------
// Heavy kernels (GELU, softmax): ranges claimed one at a time from a shared counter, so a thread
// the OS has descheduled (a shared machine) leaves its work to the others instead of making the
// caller wait for it. Which thread computes a range never changes its bytes: the ranges are fixed
// (whole units, `chunk` items each) and each is computed by the same single-thread kernel.

// Items per claimed range: about this many elements (a few microseconds of GELU or softmax).
#define SEGA_MT_CLAIM 4096

typedef struct {
    range_fn fn;
    const void *ctx;
    size_t n, chunk;       // items; items per claimed range (whole units)
    atomic_size_t next;    // next range to claim
} claim_job;

static void claim_task(void *vjob, int index, int count) {
    claim_job *j = (claim_job *)vjob;
    (void)index; (void)count;
    for (;;) {
        const size_t c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (c >= (j->n + j->chunk - 1) / j->chunk) return;
        const size_t lo = c * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
        j->fn(j->ctx, lo, hi, 0);
    }
}

// Runs fn over [0, n) items (`unit_elems` elements each) in claimed ranges of whole `unit`s,
// on the engine's pool when there are at least SEGA_MT_GRAIN_HEAVY elements per thread.
static void mt_run_claimed(sega_engine *e, size_t n, size_t unit, size_t unit_elems, range_fn fn,
                           const void *ctx) {
    if (n == 0) return;
    int parts = e ? sega_engine_threads(e) : 1;
    if ((size_t)parts > n * unit_elems / SEGA_MT_GRAIN_HEAVY) parts = (int)(n * unit_elems / SEGA_MT_GRAIN_HEAVY);
    if (parts <= 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    size_t units = SEGA_MT_CLAIM / (unit * unit_elems);
    claim_job j = {fn, ctx, n, (units ? units : 1) * unit, 0};
    sega_pool_run(sega_engine_pool(e), claim_task, &j, parts);
}

// GELU forward / backward and softmax forward: the single-thread kernels on ranges.
// `isa`: the ISA the single-thread kernel would pick on e, decided once by the caller.
typedef struct { const float *a, *b; float *out; size_t len; sega_engine *e; sega_isa isa; } heavy_ctx;

static void gelu_fwd_range(const void *ctx, size_t lo, size_t hi, int avx2) {
    const heavy_ctx *c = (const heavy_ctx *)ctx;
    (void)avx2;
    sega__gelu_fwd_range(hi - lo, c->a + lo, c->out + lo, c->isa);
}

static void gelu_bwd_range(const void *ctx, size_t lo, size_t hi, int avx2) {
    const heavy_ctx *c = (const heavy_ctx *)ctx;
    (void)avx2;
    sega__gelu_bwd_range(hi - lo, c->a + lo, c->b + lo, c->out + lo, c->isa);
}

static void softmax_fwd_range(const void *ctx, size_t lo, size_t hi, int avx2) {
    const heavy_ctx *c = (const heavy_ctx *)ctx;
    (void)avx2;
    sega_softmax_fwd(c->e, hi - lo, c->len, c->a + lo * c->len, c->out + lo * c->len);
}

void sega_gelu_fwd_mt(sega_engine *e, size_t n, const float *x, float *y) {
    const heavy_ctx c = {x, NULL, y, 0, e, sega__kernel_isa(e, SEGA_ISA_AVX512)};
    mt_run_claimed(e, n, 64, 1, gelu_fwd_range, &c);
}

void sega_gelu_bwd_mt(sega_engine *e, size_t n, const float *x, const float *dy, float *dx) {
    const heavy_ctx c = {x, dy, dx, 0, e, sega__kernel_isa(e, SEGA_ISA_AVX512)};
    mt_run_claimed(e, n, 64, 1, gelu_bwd_range, &c);
}

void sega_softmax_fwd_mt(sega_engine *e, size_t rows, size_t len, const float *x, float *y) {
    const heavy_ctx c = {x, NULL, y, len, e, SEGA_ISA_PORTABLE};
    mt_run_claimed(e, rows, 1, len, softmax_fwd_range, &c);
}
