// gemm_internal.h - private to the SGEMM implementation: micro-kernel descriptors and the
// per-ISA blocking parameters the engine sizes its packing workspace from.
#ifndef SEGA_GEMM_INTERNAL_H
#define SEGA_GEMM_INTERNAL_H
#include "cpu_internal.h"
#include "sega_gemm.h"

/// What a micro-kernel does to its tile's values in registers before storing them (the fused
/// epilogue; NULL: nothing), with the arithmetic of the separate passes it replaces:
/// - bias (NULL: none): the tile's mr row values; C = alpha * Ap * Bp + bias[i], C not read (the
///   bits of C filled with the bias and beta = 1, since fma(1, bias, x) == bias + x);
/// - cbias (NULL: none; not with bias): the tile's nr column values (a linear layer's bias);
///   C = alpha * Ap * Bp + cbias[j], C not read (the bits of C filled with it and beta = 1);
/// - act: relu / relu6 of the finished value (NaN and -0 kept, as sega_gemm_epi_fn), and with
///   mask (row stride ldm) its derivative mask bytes (0 < x, and x < 6 for relu6).
typedef struct sega_tile_epi {
    const float *bias;
    int act;
    uint8_t *mask;
    long ldm;
    const float *cbias;
} sega_tile_epi;

/// How a micro-kernel finishes its tile, decided once per tile from alpha, beta and the epilogue:
/// scale: alpha != 1 (alpha 1 needs no multiply: exact); bias or cbias (both NULL: beta * C when
/// beta != 0); the activation and its mask (NULL: none).
typedef struct sega_tile_finish {
    int scale, act;
    float alpha, beta;
    const float *bias;
    uint8_t *mask;
    long ldm;
    const float *cbias;
} sega_tile_finish;

SEGA_INLINE sega_tile_finish sega_tile_finish_of(float alpha, float beta, const sega_tile_epi *ep) {
    const sega_tile_finish f = {alpha != 1.0f, ep ? ep->act : SEGA_ACT_NONE, alpha, beta,
                                ep ? ep->bias : NULL, ep ? ep->mask : NULL, ep ? ep->ldm : 0,
                                ep ? ep->cbias : NULL};
    return f;
}

/// Micro-kernel: C[mr x nr] = alpha * Ap * Bp + beta * C, where Ap is an mr-tall sliver packed
/// k-major (kc x mr) and Bp an nr-wide sliver packed k-major (kc x nr), both 64-byte aligned.
/// beta == 0: C is written without being read. kc >= 1. ep: the fused epilogue (NULL: none).
typedef void (*sega_ukernel_fn)(long kc, const float *ap, const float *bp, float *c, long ldc,
                                float alpha, float beta, const sega_tile_epi *ep);

/// Packs op(A)[i0:i0+mc, p0:p0+kc] into MR-tall k-major slivers (rows past mc zero-filled).
typedef void (*sega_pack_a_fn)(int trans, const float *a, long lda, int i0, int mc, int p0, int kc,
                               float *ap);
/// Packs op(B)[p0:p0+kc, j0:j0+nc] into NR-wide k-major slivers (columns past nc zero-filled).
typedef void (*sega_pack_b_fn)(int trans, const float *b, long ldb, int p0, int kc, int j0, int nc,
                               float *bp);

/// Non-transposed B read from column blocks, optionally masked (sega_gemm_ext):
/// op(B)(p, j) = b[(j / per) * bst + p * ldb + j % per], times (mask[same offset] != 0) if mask.
typedef struct sega_bsrc {
    const float *b;
    long ldb;
    int per;              ///< columns per block (n when there is one block)
    long bst;             ///< floats between blocks
    const uint8_t *mask;  ///< NULL: no mask
} sega_bsrc;

/// Packs columns [j0, j0+nc) of rows [p0, p0+kc) of a sega_bsrc like sega_pack_b_fn.
typedef void (*sega_pack_bx_fn)(const sega_bsrc *s, int p0, int kc, int j0, int nc, float *bp);
/// Packs non-transposed A like sega_pack_a_fn, elements whose byte in `mask` (laid out like A) is 0
/// as +0.
typedef void (*sega_pack_ax_fn)(const float *a, const uint8_t *mask, long lda, int i0, int mc, int p0,
                                int kc, float *ap);
/// Epilogue on a rows x cols tile of C (row stride ldc): activation `act` (sega_act) in place,
/// and its derivative mask (row stride ldm) when m is not NULL.
typedef void (*sega_gemm_epi_fn)(float *c, long ldc, uint8_t *m, long ldm, int rows, int cols, int act);

typedef struct sega_gemm_kdesc {
    int mr, nr;           ///< register tile
    int mc, kc, nc;       ///< cache blocking upper bounds (mc % mr == 0, nc % nr == 0)
    sega_ukernel_fn fn;
    sega_pack_a_fn pack_a;  ///< packers built for the same ISA and tile
    sega_pack_a_fn pack_a_scalar;  ///< pack_a's scalar reference (same bytes; testing hooks)
    sega_pack_b_fn pack_b;
    sega_pack_bx_fn pack_bx;
    sega_pack_ax_fn pack_ax;
    sega_gemm_epi_fn epi;
    const char *name;
} sega_gemm_kdesc;

/// Descriptor for an ISA (never NULL for a valid, supported ISA value).
const sega_gemm_kdesc *sega_gemm_kdesc_for(sega_isa isa);
/// A second descriptor an engine at `isa` may pick per call for problems its own tile fits badly
/// (few columns), NULL if none. Every descriptor has the same KC, so the K blocks and the order
/// of every C element's sum are the same whichever runs: the choice never changes a result.
const sega_gemm_kdesc *sega_gemm_kdesc_alt(sega_isa isa);
/// A same-ISA alternative (the AVX-512 12 x 32 tile for products with 32 or 64 columns), NULL if
/// none; same KC and packing-buffer bounds as the ISA's own descriptor.
const sega_gemm_kdesc *sega_gemm_kdesc_narrow(sega_isa isa);

/// Packing-buffer sizes (in floats) a thread needs for this descriptor.
size_t sega_gemm_apack_floats(const sega_gemm_kdesc *d);
size_t sega_gemm_bpack_floats(const sega_gemm_kdesc *d);

/// Testing hook (not thread-safe, not public): problems with fewer than `work` multiply-adds
/// run on one thread. Default 96^3; the fuzzer sets 0 to thread even tiny problems.
void sega_gemm_set_mt_min_work(double work);

// sega_sgemm's m x n product (sizes valid, unchecked) computed by the calling thread alone, on
// the packing buffers of pool thread `tid` of e (0 <= tid < its threads; the thread running task
// `tid` of a sega_pool_run with at most that many tasks): for kernels that split their work
// themselves. Every C element gets the same arithmetic as in sega_sgemm with any thread count.
void sega__sgemm_thread(sega_engine *e, int tid, int trans_a, int trans_b, int m, int n,
                        int k, float alpha, const float *a, int lda, const float *b, int ldb,
                        float beta, float *c, int ldc);

// Kernels (each defined in its own translation unit).
#define SEGA_DECLARE_PACKERS(SUFFIX)                                                           \
    void sega_pack_a_scalar_##SUFFIX(int trans, const float *a, long lda, int i0, int mc, int p0,\
                                     int kc, float *ap);                                       \
    void sega_pack_a_##SUFFIX(int trans, const float *a, long lda, int i0, int mc, int p0,      \
                              int kc, float *ap);                                              \
    void sega_pack_b_##SUFFIX(int trans, const float *b, long ldb, int p0, int kc, int j0,      \
                              int nc, float *bp);                                              \
    void sega_pack_bx_##SUFFIX(const sega_bsrc *s, int p0, int kc, int j0, int nc, float *bp); \
    void sega_pack_ax_##SUFFIX(const float *a, const uint8_t *mask, long lda, int i0, int mc,    \
                               int p0, int kc, float *ap);                                     \
    void sega_gemm_epi_##SUFFIX(float *c, long ldc, uint8_t *m, long ldm, int rows, int cols,   \
                                int act);

void sega_sgemm_4x16_portable(long kc, const float *ap, const float *bp, float *c, long ldc,
                              float alpha, float beta, const sega_tile_epi *ep);
SEGA_DECLARE_PACKERS(portable_4x16)
#if SEGA_HAVE_X86_KERNELS
void sega_sgemm_6x16_avx2(long kc, const float *ap, const float *bp, float *c, long ldc,
                          float alpha, float beta, const sega_tile_epi *ep);
SEGA_DECLARE_PACKERS(avx2_6x16)
void sega_sgemm_8x48_avx512(long kc, const float *ap, const float *bp, float *c, long ldc,
                            float alpha, float beta, const sega_tile_epi *ep);
SEGA_DECLARE_PACKERS(avx512_8x48)
void sega_sgemm_12x32_avx512(long kc, const float *ap, const float *bp, float *c, long ldc,
                             float alpha, float beta, const sega_tile_epi *ep);
SEGA_DECLARE_PACKERS(avx512_12x32)
#endif

#endif
