// cpu_internal.h - private to CSupport: the per-function ISA target attributes every kernel
// file uses, and the one rule by which a kernel with per-ISA variants picks its variant.
// No file is compiled with a global -m flag: SIMD variants carry a target attribute and are
// chosen at run time, so the library runs on any x86-64 (or other) CPU.
#ifndef SEGA_CPU_INTERNAL_H
#define SEGA_CPU_INTERNAL_H
#include "sega_common.h"

#if defined(__GNUC__) || defined(__clang__)
#define SEGA_INLINE static inline __attribute__((always_inline))
#else
#define SEGA_INLINE static inline
#endif

// x86-64 SIMD variants (AVX2+FMA, AVX-512F) exist only where the compiler has per-function
// target attributes; elsewhere every kernel has its portable variant alone.
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define SEGA_HAVE_X86_KERNELS 1
#define SEGA_TARGET_AVX2 __attribute__((target("avx2,fma")))
// avx512f implies avx2 and fma; they are spelled out so the intent is plain.
#define SEGA_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define SEGA_HAVE_X86_KERNELS 0
#define SEGA_TARGET_AVX2
#define SEGA_TARGET_AVX512
#endif

struct sega_engine;

/// The ISA one kernel call runs at: the engine's ISA (e == NULL: sega_cpu_best_isa(), which
/// honours the SEGA_ISA cap), lowered to `best_variant`, the best ISA the kernel has a variant
/// for (and to SEGA_ISA_PORTABLE where SEGA_HAVE_X86_KERNELS is 0). Every kernel with per-ISA
/// variants calls this once per call and runs the variant it returns; the call is counted for
/// sega_isa_dispatch_count.
sega_isa sega__kernel_isa(const struct sega_engine *e, sega_isa best_variant);

/// 1 when the CPU runs 512-bit FMAs at half the rate of 256-bit ones per instruction, i.e. the
/// same FLOP rate as AVX2 (AMD Zen 4: family 19h with AVX-512), else 0. Only a performance
/// hint (which SGEMM micro-kernel pads less); never a reason for a different result.
int sega__cpu_avx512_half_rate(void);

/// sega_act_fwd_inplace's activation and mask on [0, n) on the calling thread, with its AVX2 loop
/// when `avx2` (sega__kernel_isa(e, SEGA_ISA_AVX2) == SEGA_ISA_AVX2, as sega_act_fwd_inplace
/// decides it), else its portable one: the same bytes (eltwise_mt.c).
void sega__act_range(size_t n, int act, float *y, uint8_t *mask, int avx2);

/// GELU forward / backward on [0, n) on the calling thread, the loop for `isa` (as sega_gelu_fwd /
/// sega_gelu_bwd decide it on their engine: sega__kernel_isa(e, SEGA_ISA_AVX512)) (eltwise.c).
void sega__gelu_fwd_range(size_t n, const float *x, float *y, sega_isa isa);
void sega__gelu_bwd_range(size_t n, const float *x, const float *dy, float *dx, sega_isa isa);

/// sega_layernorm_fwd / sega_layernorm_bwd on rows [r0, r1) (the same compiled loops; eltwise.c).
void sega__layernorm_fwd_rows(size_t r0, size_t r1, size_t len, float eps, const float *x,
                              const float *gamma, const float *beta, float *y, float *mean, float *rstd);
void sega__layernorm_bwd_rows(size_t r0, size_t r1, size_t len, const float *x, const float *gamma,
                              const float *mean, const float *rstd, const float *dy, float *dx);

#endif
