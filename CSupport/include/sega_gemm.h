// sega_gemm.h - single-precision GEMM, row-major:
//   C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C
// op(X) = X or X^T, read in place through the leading dimension (no transposed copy).
// BLIS-style loop nest: B panels (KC x NC) and A panels (MC x KC) are packed into the
// engine's workspace; a micro-kernel (6x16 AVX2+FMA, AVX-512, or portable) updates C tiles.
// Threads split M or N, never K, so every C element is summed in the same order whatever the
// thread count: results are byte-identical for 1..T threads.
// beta == 0 means C is written without being read (NaN in C does not propagate).
#ifndef SEGA_GEMM_H
#define SEGA_GEMM_H
#include "sega_common.h"
#include "sega_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Fast path. Returns SEGA_ERR_INVALID_ARG for m, n, k < 0, a null pointer with nonzero
/// size, or a leading dimension smaller than the row length it must hold
/// (lda >= (transA ? m : k), ldb >= (transB ? k : n), ldc >= n). m == 0 or n == 0 is a no-op;
/// k == 0 scales C by beta.
sega_status sega_sgemm(sega_engine *e, int trans_a, int trans_b,
                       int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb,
                       float beta, float *c, int ldc);

/// Naive reference (triple loop, double accumulator), same contract as sega_sgemm.
sega_status sega_sgemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha,
                           const float *a, int lda, const float *b, int ldb,
                           float beta, float *c, int ldc);

/// Name of the micro-kernel the engine's SGEMM dispatches to (e.g. "sgemm_12x32_avx512");
/// "none" for a NULL engine. Static string.
const char *sega_gemm_kernel_name(const sega_engine *e);

#ifdef __cplusplus
}
#endif
#endif
