// engine_internal.h - the engine context's layout, private to CSupport's C sources.
#ifndef SEGA_ENGINE_INTERNAL_H
#define SEGA_ENGINE_INTERNAL_H
#include "sega_engine.h"
#include "gemm_internal.h"

struct sega_engine {
    int nthreads;
    sega_isa isa;
    sega_pool *pool;
    const sega_gemm_kdesc *gemm;  ///< micro-kernel and blocking for `isa`
    float **apack;                ///< nthreads pointers, each apack_floats, 64-byte aligned
    float **bpack;                ///< nthreads pointers, each bpack_floats, 64-byte aligned
    size_t apack_floats;
    size_t bpack_floats;
    void *workspace;              ///< the one block the pack buffers live in
    size_t workspace_bytes;
};

#endif
