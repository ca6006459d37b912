// eltwise_mt.c - elementwise and row-wise kernels split over the engine's threads. relu/relu6
// (in place or not) and the mask copy / mask backward, add/sub/mul and their gradients, zeroing:
// contiguous ranges (whole 64-element chunks), one per thread, each run at the engine's ISA (a
// portable loop and the same loop compiled for AVX2). LayerNorm: ranges of whole rows, each by
// the single-thread row loop (eltwise.c), and gamma/beta's sums by column. GELU and softmax
// forward: ranges of whole 64-element chunks or whole rows claimed from a counter, each run by the
// single-thread kernel (the softmax backward, ~0.3 ns per element, stays on one thread). An
// element's (a row's, a column's) arithmetic never depends on the split.
#include "sega_eltwise.h"
#include "sega_threads.h"
#include "cpu_internal.h"
#include <stdatomic.h>
#include <string.h>

// Every product and sum is rounded on its own (no FMA contraction under the AVX2 target), as
// in the single-thread Swift and C loops these kernels stand in for.
#pragma STDC FP_CONTRACT OFF

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

// Runs fn over [0, n) in ranges, on the engine's pool when n is large enough; `variants`: fn has
// an AVX2 variant, picked at e's ISA (a counted dispatch), else it is told avx2 = 0.
static void mt_run_v(sega_engine *e, size_t n, range_fn fn, const void *ctx, int variants) {
    if (n == 0) return;
    const int avx2 = variants && sega__kernel_isa(e, SEGA_ISA_AVX2) == SEGA_ISA_AVX2;
    mt_job j = {fn, ctx, n, avx2};
    int parts = e ? sega_engine_threads(e) : 1;
    if ((size_t)parts > n / SEGA_MT_GRAIN) parts = (int)(n / SEGA_MT_GRAIN);
    if (parts <= 1) {
        fn(ctx, 0, n, j.avx2);
        return;
    }
    sega_pool_run(sega_engine_pool(e), mt_task, &j, parts);
}

static void mt_run(sega_engine *e, size_t n, range_fn fn, const void *ctx) { mt_run_v(e, n, fn, ctx, 1); }

// ---------------------------------------------------------------------------------------------
// relu / relu6 in place, with the mask

typedef struct { const float *x; float *y; uint8_t *mask; int act; } act_ctx;

// x == y (in place) or no overlap: every element is read before its own slot is written.
SEGA_INLINE void act_body(const act_ctx *c, size_t lo, size_t hi) {
    const float *x = c->x;
    float *y = c->y;
    uint8_t *restrict m = c->mask;
    if (c->act == SEGA_ACT_RELU) {
        if (m)
            for (size_t i = lo; i < hi; i++) m[i] = (uint8_t)(x[i] > 0.0f);
#pragma clang loop vectorize(assume_safety)
        for (size_t i = lo; i < hi; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
    } else if (c->act == SEGA_ACT_RELU6) {
        if (m)
            for (size_t i = lo; i < hi; i++) m[i] = (uint8_t)((x[i] > 0.0f) & (x[i] < 6.0f));
#pragma clang loop vectorize(assume_safety)
        for (size_t i = lo; i < hi; i++) {
            const float v = x[i];
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
    const act_ctx c = {y, y, mask, act};
    mt_run(e, n, act_range, &c);
}

void sega_act_fwd_mt(sega_engine *e, size_t n, int act, const float *x, float *y, uint8_t *mask) {
    const act_ctx c = {x, y, mask, act};
    mt_run(e, n, act_range, &c);
}

void sega__act_range(size_t n, int act, float *y, uint8_t *mask, int avx2) {
    const act_ctx c = {y, y, mask, act};
    act_range(&c, 0, n, avx2);
}

// ---------------------------------------------------------------------------------------------
// out = mask ? dy + 0 : 0 (out may be dy)

typedef struct { const float *dy; float *out; const uint8_t *mask; int acc; } mask_ctx;

SEGA_INLINE void mask_body(const mask_ctx *c, size_t lo, size_t hi) {
    const float *d = c->dy;
    float *o = c->out;
    const uint8_t *restrict m = c->mask;
    if (c->acc) {   // sega_mask_bwd's loop (out is dx, distinct from dy)
        for (size_t i = lo; i < hi; i++) {
            const float v = d[i];
            o[i] += m[i] ? v : 0.0f;
        }
        return;
    }
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
    const mask_ctx c = {dy, out, mask, 0};
    mt_run(e, n, mask_range, &c);
}

void sega_mask_bwd_mt(sega_engine *e, size_t n, const uint8_t *mask, const float *dy, float *dx) {
    const mask_ctx c = {dy, dx, mask, 1};
    mt_run(e, n, mask_range, &c);
}

// ---------------------------------------------------------------------------------------------
// Binary elementwise ops and the gradients of add / sub / mul over contiguous arrays (out may be
// an input: each element is read before its own slot is written). FP contraction is off in this
// file, so a * b + c is two roundings here as in the Swift loops these replace.

typedef struct {
    const float *a, *b;
    float *out;
    float sign;
    int op;
    int act;                 // ADD/SUB/MUL: then out = act(out), its derivative into mask
    uint8_t *mask;
    const uint8_t *gmask;    // SET/ACC: a is masked first, a -> (gmask ? a + 0 : +0)
} bin_ctx;

SEGA_INLINE void bin_body(const bin_ctx *c, size_t lo, size_t hi) {
    const float *a = c->a, *b = c->b;
    float *o = c->out;
    const float s = c->sign;
    const uint8_t *restrict gm = c->gmask;
    switch (c->op) {
    case SEGA_BIN_ADD:
#pragma clang loop vectorize(assume_safety)
        for (size_t i = lo; i < hi; i++) o[i] = a[i] + b[i];
        break;
    case SEGA_BIN_SUB:
#pragma clang loop vectorize(assume_safety)
        for (size_t i = lo; i < hi; i++) o[i] = a[i] - b[i];
        break;
    case SEGA_BIN_MUL:
#pragma clang loop vectorize(assume_safety)
        for (size_t i = lo; i < hi; i++) o[i] = a[i] * b[i];
        break;
    case SEGA_BIN_SET:   // out = 0 + sign * a (* b)
        if (gm && b) {
#pragma clang loop vectorize(assume_safety)
            for (size_t i = lo; i < hi; i++) {
                const float v = a[i] + 0.0f, t = gm[i] ? v : 0.0f;
                o[i] = 0.0f + s * t * b[i];
            }
        } else if (gm) {
#pragma clang loop vectorize(assume_safety)
            for (size_t i = lo; i < hi; i++) {
                const float v = a[i] + 0.0f, t = gm[i] ? v : 0.0f;
                o[i] = 0.0f + s * t;
            }
        } else if (b) {
#pragma clang loop vectorize(assume_safety)
            for (size_t i = lo; i < hi; i++) o[i] = 0.0f + s * a[i] * b[i];
        } else {
#pragma clang loop vectorize(assume_safety)
            for (size_t i = lo; i < hi; i++) o[i] = 0.0f + s * a[i];
        }
        return;
    case SEGA_BIN_ACC:   // out += sign * a (* b)
        if (gm && b) {
#pragma clang loop vectorize(assume_safety)
            for (size_t i = lo; i < hi; i++) {
                const float v = a[i] + 0.0f, t = gm[i] ? v : 0.0f;
                o[i] += s * t * b[i];
            }
        } else if (gm) {
#pragma clang loop vectorize(assume_safety)
            for (size_t i = lo; i < hi; i++) {
                const float v = a[i] + 0.0f, t = gm[i] ? v : 0.0f;
                o[i] += s * t;
            }
        } else if (b) {
#pragma clang loop vectorize(assume_safety)
            for (size_t i = lo; i < hi; i++) o[i] += s * a[i] * b[i];
        } else {
#pragma clang loop vectorize(assume_safety)
            for (size_t i = lo; i < hi; i++) o[i] += s * a[i];
        }
        return;
    }
    if (c->act != SEGA_ACT_NONE) {   // the activation over the range just written (in cache)
        const act_ctx ac = {o, o, c->mask, c->act};
        act_body(&ac, lo, hi);
    }
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

void sega_binary_mt(sega_engine *e, size_t n, int op, float sign, const float *a, const float *b, float *out) {
    const bin_ctx c = {a, b, out, sign, op, SEGA_ACT_NONE, NULL, NULL};
    mt_run(e, n, bin_range, &c);
}

void sega_binary_act_mt(sega_engine *e, size_t n, int op, const float *a, const float *b, float *y, int act,
                        uint8_t *mask) {
    const bin_ctx c = {a, b, y, 1.0f, op, act, mask, NULL};
    mt_run(e, n, bin_range, &c);
}

void sega_binary_grad_masked_mt(sega_engine *e, size_t n, int op, float sign, const uint8_t *gmask,
                                const float *g, const float *w, float *d) {
    const bin_ctx c = {g, w, d, sign, op, SEGA_ACT_NONE, NULL, gmask};
    mt_run(e, n, bin_range, &c);
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

// ---------------------------------------------------------------------------------------------
// Zeroing (gradient buffers before their first writer)

typedef struct { float *p; } zero_ctx;

static void zero_range(const void *ctx, size_t lo, size_t hi, int avx2) {
    (void)avx2;
    memset(((const zero_ctx *)ctx)->p + lo, 0, (hi - lo) * sizeof(float));
}

void sega_zero_mt(sega_engine *e, size_t n, float *p) {
    const zero_ctx c = {p};
    mt_run_v(e, n, zero_range, &c, 0);   // memset: no ISA variants
}

// ---------------------------------------------------------------------------------------------
// LayerNorm: rows split over the threads (each row by the single-thread loop, eltwise.c); the
// backward's dgamma / dbeta (sums over rows) split by columns, every column summing its rows in
// order, as the single-thread loop does.

typedef struct {
    size_t rows, len;
    float eps;
    const float *x, *gamma, *beta, *mean, *rstd, *dy;
    float *y, *mu_out, *rs_out, *dx, *dgamma, *dbeta;
} ln_job;

// Rows (or columns in units of 16) of part `index` of `count`.
static void ln_part(size_t n, size_t unit, int index, int count, size_t *lo, size_t *hi) {
    const size_t units = (n + unit - 1) / unit;
    *lo = units * (size_t)index / (size_t)count * unit;
    *hi = units * (size_t)(index + 1) / (size_t)count * unit;
    if (*hi > n) *hi = n;
    if (*lo > n) *lo = n;
}

static void ln_fwd_task(void *vjob, int index, int count) {
    const ln_job *j = (const ln_job *)vjob;
    size_t lo, hi;
    ln_part(j->rows, 1, index, count, &lo, &hi);
    if (lo < hi) sega__layernorm_fwd_rows(lo, hi, j->len, j->eps, j->x, j->gamma, j->beta, j->y, j->mu_out, j->rs_out);
}

// dgamma[c] += dy[r, c] * (x[r, c] - mean[r]) * rstd[r], dbeta[c] += dy[r, c] over rows r in
// order, for columns [c0, c1).
static void ln_params_cols(const ln_job *j, size_t c0, size_t c1) {
    const size_t len = j->len;
    for (size_t r = 0; r < j->rows; r++) {
        const float *gr = j->dy + r * len;
        if (j->dgamma) {
            const float m = j->mean[r], s = j->rstd[r];
            const float *xr = j->x + r * len;
            float *restrict dg = j->dgamma;
            for (size_t c = c0; c < c1; c++) dg[c] += gr[c] * (xr[c] - m) * s;
        }
        if (j->dbeta) {
            float *restrict db = j->dbeta;
            for (size_t c = c0; c < c1; c++) db[c] += gr[c];
        }
    }
}

static void ln_bwd_task(void *vjob, int index, int count) {
    const ln_job *j = (const ln_job *)vjob;
    size_t lo, hi;
    if (j->dx) {
        ln_part(j->rows, 1, index, count, &lo, &hi);
        if (lo < hi) sega__layernorm_bwd_rows(lo, hi, j->len, j->x, j->gamma, j->mean, j->rstd, j->dy, j->dx);
    }
    if (j->dgamma || j->dbeta) {
        ln_part(j->len, 16, index, count, &lo, &hi);
        if (lo < hi) ln_params_cols(j, lo, hi);
    }
}

// Threads for rows x len elements (1 below the grain or without an engine).
static int ln_parts(sega_engine *e, size_t rows, size_t len) {
    int parts = e ? sega_engine_threads(e) : 1;
    const size_t n = rows * len;
    if ((size_t)parts > n / SEGA_MT_GRAIN) parts = (int)(n / SEGA_MT_GRAIN);
    if ((size_t)parts > rows) parts = (int)rows;
    return parts;
}

void sega_layernorm_fwd_mt(sega_engine *e, size_t rows, size_t len, float eps, const float *x,
                           const float *gamma, const float *beta, float *y, float *mean, float *rstd) {
    ln_job j = {rows, len, eps, x, gamma, beta, NULL, NULL, NULL, y, mean, rstd, NULL, NULL, NULL};
    const int parts = ln_parts(e, rows, len);
    if (parts <= 1) {
        sega__layernorm_fwd_rows(0, rows, len, eps, x, gamma, beta, y, mean, rstd);
        return;
    }
    sega_pool_run(sega_engine_pool(e), ln_fwd_task, &j, parts);
}

void sega_layernorm_bwd_mt(sega_engine *e, size_t rows, size_t len, const float *x, const float *gamma,
                           const float *mean, const float *rstd, const float *dy, float *dx,
                           float *dgamma, float *dbeta) {
    ln_job j = {rows, len, 0.0f, x, gamma, NULL, mean, rstd, dy, NULL, NULL, NULL, dx, dgamma, dbeta};
    if (rows == 0 || len == 0) return;
    const int parts = ln_parts(e, rows, len);
    if (parts <= 1) {
        ln_bwd_task(&j, 0, 1);
        return;
    }
    sega_pool_run(sega_engine_pool(e), ln_bwd_task, &j, parts);
}
