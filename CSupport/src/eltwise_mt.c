// eltwise_mt.c - elementwise kernels split over the engine's threads: contiguous ranges (whole
// 64-element chunks), one per thread, each run at the engine's ISA (a portable loop and the
// same loop compiled for AVX2). An element's arithmetic never depends on the split.
#include "sega_eltwise.h"
#include "sega_threads.h"
#include "cpu_internal.h"
#include <string.h>

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
// The single-threaded kernels of eltwise.c, run on subranges (an element's value never depends
// on which range holds it).

typedef enum {
    MT_GELU_FWD, MT_GELU_BWD, MT_ADD, MT_AXPY, MT_MASK_BWD, MT_ZERO, MT_RELU, MT_RELU6, MT_RELU_MASK, MT_RELU6_MASK
} mt_op;

typedef struct {
    mt_op op;
    const float *x, *dy;
    float *y;
    const uint8_t *mask;
    float a;
} map_ctx;

static void map_range(const void *ctx, size_t lo, size_t hi, int avx2) {
    const map_ctx *c = (const map_ctx *)ctx;
    const size_t n = hi - lo;
    (void)avx2;
    switch (c->op) {
    case MT_GELU_FWD: sega_gelu_fwd(n, c->x + lo, c->y + lo); break;
    case MT_GELU_BWD: sega_gelu_bwd(n, c->x + lo, c->dy + lo, c->y + lo); break;
    case MT_ADD: sega_add_inplace(n, c->x + lo, c->y + lo); break;
    case MT_AXPY: sega_axpy(n, c->a, c->x + lo, c->y + lo); break;
    case MT_MASK_BWD: sega_mask_bwd(n, c->mask + lo, c->dy + lo, c->y + lo); break;
    case MT_ZERO: memset(c->y + lo, 0, n * sizeof(float)); break;
    case MT_RELU: sega_relu_fwd(n, c->x + lo, c->y + lo); break;
    case MT_RELU6: sega_relu6_fwd(n, c->x + lo, c->y + lo); break;
    case MT_RELU_MASK: sega_relu_fwd_mask(n, c->x + lo, c->y + lo, (uint8_t *)c->mask + lo); break;
    case MT_RELU6_MASK: sega_relu6_fwd_mask(n, c->x + lo, c->y + lo, (uint8_t *)c->mask + lo); break;
    }
}

static void map_run(sega_engine *e, size_t n, map_ctx c) { mt_run(e, n, map_range, &c); }

void sega_gelu_fwd_mt(sega_engine *e, size_t n, const float *x, float *y) {
    map_run(e, n, (map_ctx){MT_GELU_FWD, x, NULL, y, NULL, 0});
}
void sega_gelu_bwd_mt(sega_engine *e, size_t n, const float *x, const float *dy, float *dx) {
    map_run(e, n, (map_ctx){MT_GELU_BWD, x, dy, dx, NULL, 0});
}
void sega_add_inplace_mt(sega_engine *e, size_t n, const float *x, float *y) {
    map_run(e, n, (map_ctx){MT_ADD, x, NULL, y, NULL, 0});
}
void sega_axpy_mt(sega_engine *e, size_t n, float a, const float *x, float *y) {
    map_run(e, n, (map_ctx){MT_AXPY, x, NULL, y, NULL, a});
}
void sega_mask_bwd_mt(sega_engine *e, size_t n, const uint8_t *mask, const float *dy, float *dx) {
    map_run(e, n, (map_ctx){MT_MASK_BWD, NULL, dy, dx, mask, 0});
}
void sega_zero_mt(sega_engine *e, size_t n, float *y) {
    map_run(e, n, (map_ctx){MT_ZERO, NULL, NULL, y, NULL, 0});
}
void sega_act_fwd_mt(sega_engine *e, size_t n, int act, const float *x, float *y, uint8_t *mask) {
    const mt_op op = act == SEGA_ACT_RELU ? (mask ? MT_RELU_MASK : MT_RELU) : (mask ? MT_RELU6_MASK : MT_RELU6);
    if (act != SEGA_ACT_RELU && act != SEGA_ACT_RELU6) return;
    map_run(e, n, (map_ctx){op, x, NULL, y, mask, 0});
}

// ---------------------------------------------------------------------------------------------
// y = a op b, operands contiguous or broadcast (stride 0)

typedef struct { int op; const float *a, *b; long sa, sb; float *y; } bin_ctx;

// One (op, sa, sb) combination per loop so that each vectorises.
#define SEGA_BIN_LOOP(EXPR)                                                                     \
    do {                                                                                        \
        if (c->sa && c->sb) { for (size_t i = lo; i < hi; i++) { const float x = a[i], z = b[i]; y[i] = (EXPR); } } \
        else if (c->sa) { const float z = b[0]; for (size_t i = lo; i < hi; i++) { const float x = a[i]; y[i] = (EXPR); } } \
        else if (c->sb) { const float x = a[0]; for (size_t i = lo; i < hi; i++) { const float z = b[i]; y[i] = (EXPR); } } \
        else { const float x = a[0], z = b[0]; for (size_t i = lo; i < hi; i++) y[i] = (EXPR); } \
    } while (0)

SEGA_INLINE void bin_body(const bin_ctx *c, size_t lo, size_t hi) {
    const float *a = c->a, *b = c->b;
    float *y = c->y;
    if (c->op == 0) SEGA_BIN_LOOP(x + z);
    else if (c->op == 1) SEGA_BIN_LOOP(x - z);
    else SEGA_BIN_LOOP(x * z);
}
static void bin_portable(const bin_ctx *c, size_t lo, size_t hi) { bin_body(c, lo, hi); }
#if SEGA_HAVE_X86_KERNELS
SEGA_TARGET_AVX2 static void bin_avx2(const bin_ctx *c, size_t lo, size_t hi) { bin_body(c, lo, hi); }
#endif

static void bin_range(const void *ctx, size_t lo, size_t hi, int avx2) {
#if SEGA_HAVE_X86_KERNELS
    if (avx2) { bin_avx2((const bin_ctx *)ctx, lo, hi); return; }
#endif
    (void)avx2;
    bin_portable((const bin_ctx *)ctx, lo, hi);
}

void sega_binary_mt(sega_engine *e, int op, size_t n, const float *a, long sa, const float *b, long sb, float *y) {
    const bin_ctx c = {op, a, b, sa != 0, sb != 0, y};
    mt_run(e, n, bin_range, &c);
}
