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

/// What sega_sgemm_ex adds to sega_sgemm. A zeroed struct (or NULL) adds nothing.
///
/// Column blocks (batch >= 2): the n columns of op(B) and of C are `batch` blocks of n / batch
/// columns, block q of B at b + q * b_stride and of C at c + q * c_stride (each block read or
/// written with ldb / ldc, which need only hold n / batch columns), e.g. the images of a batch
/// of 1x1 convolutions. Needs trans_b == 0 and n % batch == 0.
///
/// Epilogues, with exactly the arithmetic of the separate passes they replace:
/// - row_bias (needs beta == 0): C starts as row_bias[i] broadcast over row i and the product is
///   accumulated onto it, i.e. the result of filling C with the bias and calling with beta = 1.
/// - act: relu (max(x, 0)) or relu6 (min(max(x, 0), 6), NaN kept) of the finished C; with
///   `mask` (bytes, laid out like C: ldc, and c_stride between blocks), 1 where the derivative
///   is 1 (0 < x, and x < 6 for relu6), as sega_relu{,6}_fwd_mask.
/// - b_mask (needs trans_b == 0): op(B) element (p, j) counts as 0 where the byte at the same
///   position of b_mask (laid out like B: ldb, b_stride) is 0; the masked backward of relu.
/// - a_mask (needs trans_a == 0): the same for A (laid out like A: lda).
/// - a_packed: op(A) packed once by sega_gemm_pack_a (e.g. a layer's weights) instead of on every
///   call; a, lda and trans_a are then not read (a may be NULL) and a_mask must be NULL. The call
///   runs the micro-kernel the buffer was packed for (same bytes as any other).
/// - b_packed: op(B) packed once by sega_gemm_pack_b (e.g. a linear layer's weights, 64-byte
///   aligned); b, ldb and trans_b are then not read (b may be NULL). Needs one column block and
///   no b_mask; with a_packed too, both must have been packed for the same micro-kernel.
/// - col_bias (needs beta == 0, no row_bias, one column block): C starts as col_bias[j] broadcast
///   over column j (a linear layer's bias), added by the micro-kernel to each tile's first K
///   block (C is not read); the result of filling C with the bias and calling with beta = 1.
typedef struct sega_gemm_ext {
    int batch;
    long b_stride, c_stride;
    const float *row_bias;
    int act;
    uint8_t *mask;
    const uint8_t *b_mask;
    const uint8_t *a_mask;
    const float *col_bias;
    const float *a_packed;
    const float *b_packed;
} sega_gemm_ext;

/// sega_sgemm with column blocks and fused epilogues (ext may be NULL: sega_sgemm). Same
/// threading and summation order as sega_sgemm: byte-identical for any thread count, and to
/// the unfused passes. SEGA_ERR_INVALID_ARG also for an inconsistent ext (see above).
sega_status sega_sgemm_ex(sega_engine *e, int trans_a, int trans_b, int m, int n, int k,
                          float alpha, const float *a, int lda, const float *b, int ldb,
                          float beta, float *c, int ldc, const sega_gemm_ext *ext);

/// Floats sega_gemm_pack_a writes for an m x k op(A) used in m x n_hint products on engine e (a
/// small header, then the slivers of every K block); 0 for a NULL engine or negative sizes.
size_t sega_gemm_packed_a_floats(const sega_engine *e, int m, int n_hint, int k);
/// An upper bound of sega_gemm_packed_a_floats over every engine and n_hint (for sizing memory
/// before an engine exists); 0 for negative sizes.
size_t sega_gemm_packed_a_floats_max(int m, int k);
/// Packs op(A) [m x k] (A read through trans_a and lda as sega_sgemm reads it) into `out`
/// (sega_gemm_packed_a_floats of them) for the micro-kernel e picks for m x n_hint products,
/// for later sega_sgemm_ex calls with ext.a_packed = out on an engine of the same ISA, with the
/// same m and k (any n, beta, epilogue). SEGA_ERR_INVALID_ARG for bad sizes or pointers.
sega_status sega_gemm_pack_a(sega_engine *e, int trans_a, int m, int n_hint, int k, const float *a,
                             int lda, float *out);

/// Floats sega_gemm_pack_b writes for a k x n op(B) used in m_hint x n products on engine e (a
/// small header, then the NR-wide slivers of every K block), a multiple of 16 (whole 64-byte
/// lines); 0 for a NULL engine or negative sizes.
size_t sega_gemm_packed_b_floats(const sega_engine *e, int m_hint, int n, int k);
/// An upper bound of sega_gemm_packed_b_floats over every engine and m_hint; 0 for negative sizes.
size_t sega_gemm_packed_b_floats_max(int n, int k);
/// Packs op(B) [k x n] (B read through trans_b and ldb as sega_sgemm reads it) into `out` (64-byte
/// aligned, sega_gemm_packed_b_floats of them) for the micro-kernel e picks for m_hint x n
/// products, for later sega_sgemm_ex calls with ext.b_packed = out on an engine of the same ISA,
/// with the same n and k (any m, beta, epilogue). SEGA_ERR_INVALID_ARG for bad sizes or pointers
/// (out not 64-byte aligned too).
sega_status sega_gemm_pack_b(sega_engine *e, int trans_b, int m_hint, int n, int k, const float *b,
                             int ldb, float *out);

/// Naive reference of sega_sgemm_ex (double accumulator; the epilogues in float, as documented).
sega_status sega_sgemm_ex_ref(int trans_a, int trans_b, int m, int n, int k, float alpha,
                              const float *a, int lda, const float *b, int ldb, float beta,
                              float *c, int ldc, const sega_gemm_ext *ext);

/// Testing hook (not thread-safe): which micro-kernel an AVX-512 engine runs. -1 (default): its
/// own, or the 12 x 32 AVX-512 kernel for products it pads clearly less (64-column ones), or on
/// CPUs where AVX2 and AVX-512 run at the same FLOP rate also the AVX2 6 x 16 kernel; 0: always
/// its own; 1: any of the two wherever it pads less, whatever the CPU; 2: only the 12 x 32 one.
/// Results are the same under every policy (the kernels share the order of every C element's
/// sum); the tests check that.
void sega_gemm_set_kernel_policy(int policy);

/// Testing hook: one micro-kernel's A packer on op(A) rows [i0, i0 + mc), columns [p0, p0 + kc)
/// (A read through trans and lda as sega_sgemm reads it), into ap (ceil(mc / MR) * MR * kc
/// floats: ap[s*MR*kc + p*MR + i] = op(A)(i0 + s*MR + i, p0 + p), 0 for rows past mc). kernel:
/// 0 portable 4 x 16, 1 AVX2 6 x 16, 2 AVX-512 8 x 48, 3 AVX-512 12 x 32; scalar != 0 runs its
/// scalar reference instead of the SIMD packer (the same bytes). Returns MR, or 0 when the kernel
/// is unknown or this CPU cannot run it (nothing written).
int sega_gemm_pack_a_kernel(int kernel, int scalar, int trans, const float *a, long lda, int i0, int mc,
                            int p0, int kc, float *ap);

/// Testing hook (not thread-safe): nonzero makes sega_sgemm / sega_sgemm_ex / sega_gemm_pack_a pack
/// A with the scalar reference packers (the same bytes as the SIMD ones); 0 (default) restores them.
void sega_gemm_set_pack_a_scalar(int on);

/// Name of the micro-kernel the engine's SGEMM dispatches to (e.g. "sgemm_12x32_avx512");
/// "none" for a NULL engine. Static string.
const char *sega_gemm_kernel_name(const sega_engine *e);

#ifdef __cplusplus
}
#endif
#endif
