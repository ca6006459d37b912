// sega_engine.h - the engine context: chosen ISA, thread pool, and the GEMM packing workspace.
// Everything a kernel call needs is allocated here, once; kernel calls allocate nothing.
#ifndef SEGA_ENGINE_H
#define SEGA_ENGINE_H
#include "sega_common.h"
#include "sega_threads.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sega_engine sega_engine;

/// Create a context with `nthreads` threads (>= 1) and the given ISA (SEGA_ISA_AUTO picks the
/// best supported; asking for an unsupported ISA is SEGA_ERR_INVALID_ARG).
sega_status sega_engine_create(int nthreads, sega_isa isa, sega_engine **out);
void sega_engine_destroy(sega_engine *e);
int sega_engine_threads(const sega_engine *e);
sega_isa sega_engine_isa(const sega_engine *e);
sega_pool *sega_engine_pool(sega_engine *e);

#ifdef __cplusplus
}
#endif
#endif
