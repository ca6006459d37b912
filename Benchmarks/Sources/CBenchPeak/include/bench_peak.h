// bench_peak.h - the machine's single-core FMA peak, measured (not part of the engine).
#ifndef BENCH_PEAK_H
#define BENCH_PEAK_H

#ifdef __cplusplus
extern "C" {
#endif

/// Best GFLOPS of a register-only FMA loop over about `seconds` (<= 0: 0.2) on the calling
/// thread: isa 0 plain C multiply-adds, 1 AVX2+FMA (12 ymm chains), 2 AVX-512F (24 zmm chains),
/// the values of sega_isa. The caller checks that the CPU supports `isa`
/// (sega_cpu_supports); another value gives 0.
double bench_fma_peak_gflops(int isa, double seconds);

#ifdef __cplusplus
}
#endif
#endif
