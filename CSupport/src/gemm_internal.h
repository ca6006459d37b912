// gemm_internal.h - private to the SGEMM implementation: micro-kernel descriptors and the
// per-ISA blocking parameters the engine sizes its packing workspace from.
#ifndef SEGA_GEMM_INTERNAL_H
#define SEGA_GEMM_INTERNAL_H
#include "cpu_internal.h"

/// Micro-kernel: C[mr x nr] = alpha * Ap * Bp + beta * C, where Ap is an mr-tall sliver packed
/// k-major (kc x mr) and Bp an nr-wide sliver packed k-major (kc x nr), both 64-byte aligned.
/// beta == 0: C is written without being read. kc >= 1.
typedef void (*sega_ukernel_fn)(long kc, const float *ap, const float *bp, float *c, long ldc,
                                float alpha, float beta);

/// Packs op(A)[i0:i0+mc, p0:p0+kc] into MR-tall k-major slivers (rows past mc zero-filled).
typedef void (*sega_pack_a_fn)(int trans, const float *a, long lda, int i0, int mc, int p0, int kc,
                               float *ap);
/// Packs op(B)[p0:p0+kc, j0:j0+nc] into NR-wide k-major slivers (columns past nc zero-filled).
typedef void (*sega_pack_b_fn)(int trans, const float *b, long ldb, int p0, int kc, int j0, int nc,
                               float *bp);

typedef struct sega_gemm_kdesc {
    int mr, nr;           ///< register tile
    int mc, kc, nc;       ///< cache blocking upper bounds (mc % mr == 0, nc % nr == 0)
    sega_ukernel_fn fn;
    sega_pack_a_fn pack_a;  ///< packers built for the same ISA and tile
    sega_pack_b_fn pack_b;
    const char *name;
} sega_gemm_kdesc;

/// Descriptor for an ISA (never NULL for a valid, supported ISA value).
const sega_gemm_kdesc *sega_gemm_kdesc_for(sega_isa isa);

/// Packing-buffer sizes (in floats) a thread needs for this descriptor.
size_t sega_gemm_apack_floats(const sega_gemm_kdesc *d);
size_t sega_gemm_bpack_floats(const sega_gemm_kdesc *d);

/// Testing hook (not thread-safe, not public): problems with fewer than `work` multiply-adds
/// run on one thread. Default 96^3; the fuzzer sets 0 to thread even tiny problems.
void sega_gemm_set_mt_min_work(double work);

// Kernels (each defined in its own translation unit).
#define SEGA_DECLARE_PACKERS(SUFFIX)                                                           \
    void sega_pack_a_##SUFFIX(int trans, const float *a, long lda, int i0, int mc, int p0,      \
                              int kc, float *ap);                                              \
    void sega_pack_b_##SUFFIX(int trans, const float *b, long ldb, int p0, int kc, int j0,      \
                              int nc, float *bp);

void sega_sgemm_4x16_portable(long kc, const float *ap, const float *bp, float *c, long ldc,
                              float alpha, float beta);
SEGA_DECLARE_PACKERS(portable_4x16)
#if SEGA_HAVE_X86_KERNELS
void sega_sgemm_6x16_avx2(long kc, const float *ap, const float *bp, float *c, long ldc,
                          float alpha, float beta);
SEGA_DECLARE_PACKERS(avx2_6x16)
void sega_sgemm_8x48_avx512(long kc, const float *ap, const float *bp, float *c, long ldc,
                            float alpha, float beta);
SEGA_DECLARE_PACKERS(avx512_8x48)
#endif

#endif
