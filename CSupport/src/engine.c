// engine.c - engine context: ISA choice, thread pool, and the GEMM packing workspace, all
// allocated once here so that kernel calls allocate nothing.
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>

static size_t sega_round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

sega_status sega_engine_create(int nthreads, sega_isa isa, sega_engine **out) {
    if (!out) return SEGA_ERR_INVALID_ARG;
    *out = NULL;
    if (nthreads < 1 || nthreads > 1024) return SEGA_ERR_INVALID_ARG;
    if (isa == SEGA_ISA_AUTO) isa = sega_cpu_best_isa();
    if (isa < SEGA_ISA_PORTABLE || isa > SEGA_ISA_AVX512 || !sega_cpu_supports(isa))
        return SEGA_ERR_INVALID_ARG;

    sega_engine *e = (sega_engine *)calloc(1, sizeof(*e));
    if (!e) return SEGA_ERR_NOMEM;
    e->nthreads = nthreads;
    e->isa = isa;
    e->gemm = sega_gemm_kdesc_for(isa);
    e->apack_floats = sega_round_up(sega_gemm_apack_floats(e->gemm), 16);
    e->bpack_floats = sega_round_up(sega_gemm_bpack_floats(e->gemm), 16);
    e->apack = (float **)calloc((size_t)nthreads, sizeof(float *));
    e->bpack = (float **)calloc((size_t)nthreads, sizeof(float *));
    if (!e->apack || !e->bpack) {
        sega_engine_destroy(e);
        return SEGA_ERR_NOMEM;
    }
    // Per thread: A buffer then B buffer, each a multiple of 64 bytes; one extra 64-byte
    // line between buffers keeps threads' buffers on distinct cache lines.
    const size_t per_thread = (e->apack_floats + e->bpack_floats) * sizeof(float) + 64;
    if (per_thread > ((size_t)-1) / (size_t)nthreads) {
        sega_engine_destroy(e);
        return SEGA_ERR_OVERFLOW;
    }
    e->workspace_bytes = per_thread * (size_t)nthreads;
    void *ws = NULL;
    if (posix_memalign(&ws, 64, e->workspace_bytes) != 0 || !ws) {
        sega_engine_destroy(e);
        return SEGA_ERR_NOMEM;
    }
    e->workspace = ws;
    uint8_t *p = (uint8_t *)ws;
    for (int t = 0; t < nthreads; t++) {
        e->apack[t] = (float *)p;
        p += e->apack_floats * sizeof(float);
        e->bpack[t] = (float *)p;
        p += e->bpack_floats * sizeof(float) + 64;
    }
    sega_status st = sega_pool_create(nthreads, &e->pool);
    if (st != SEGA_OK) {
        sega_engine_destroy(e);
        return st;
    }
    *out = e;
    return SEGA_OK;
}

void sega_engine_destroy(sega_engine *e) {
    if (!e) return;
    sega_pool_destroy(e->pool);
    free(e->workspace);
    free(e->apack);
    free(e->bpack);
    free(e);
}

int sega_engine_threads(const sega_engine *e) { return e ? e->nthreads : 1; }
sega_isa sega_engine_isa(const sega_engine *e) { return e ? e->isa : SEGA_ISA_PORTABLE; }
sega_pool *sega_engine_pool(sega_engine *e) { return e ? e->pool : NULL; }
