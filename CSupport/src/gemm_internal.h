// gemm_internal.h - private to the SGEMM implementation: micro-kernel descriptors and the
// per-ISA blocking parameters the engine sizes its packing workspace from.
#ifndef SEGA_GEMM_INTERNAL_H
#define SEGA_GEMM_INTERNAL_H
#include "sega_common.h"

#if defined(__x86_64__) || defined(_M_X64)
#define SEGA_HAVE_X86_KERNELS 1
#else
#define SEGA_HAVE_X86_KERNELS 0
#endif

/// Micro-kernel: C[mr x nr] = alpha * Ap * Bp + beta * C, where Ap is an mr-tall sliver packed
/// k-major (kc x mr) and Bp an nr-wide sliver packed k-major (kc x nr), both 64-byte aligned.
/// beta == 0: C is written without being read. kc >= 1.
typedef void (*sega_ukernel_fn)(long kc, const float *ap, const float *bp, float *c, long ldc,
                                float alpha, float beta);

typedef struct sega_gemm_kdesc {
    int mr, nr;           ///< register tile
    int mc, kc, nc;       ///< cache blocking upper bounds (mc % mr == 0, nc % nr == 0)
    sega_ukernel_fn fn;
    const char *name;
} sega_gemm_kdesc;

/// Descriptor for an ISA (never NULL for a valid, supported ISA value).
const sega_gemm_kdesc *sega_gemm_kdesc_for(sega_isa isa);

/// Packing-buffer sizes (in floats) a thread needs for this descriptor.
size_t sega_gemm_apack_floats(const sega_gemm_kdesc *d);
size_t sega_gemm_bpack_floats(const sega_gemm_kdesc *d);

// Kernels (each defined in its own translation unit).
void sega_sgemm_4x16_portable(long kc, const float *ap, const float *bp, float *c, long ldc,
                              float alpha, float beta);
#if SEGA_HAVE_X86_KERNELS
void sega_sgemm_6x16_avx2(long kc, const float *ap, const float *bp, float *c, long ldc,
                          float alpha, float beta);
void sega_sgemm_12x32_avx512(long kc, const float *ap, const float *bp, float *c, long ldc,
                             float alpha, float beta);
void sega_sgemm_6x64_avx512(long kc, const float *ap, const float *bp, float *c, long ldc,
                            float alpha, float beta);
void sega_sgemm_8x48_avx512(long kc, const float *ap, const float *bp, float *c, long ldc,
                            float alpha, float beta);
/// Register-only FMA loops used by sega_measure_fma_peak_gflops; return flops done.
double sega_fma_peak_loop_avx2(long iters);
double sega_fma_peak_loop_avx512(long iters);
#endif

#endif
