// peak.c - register-only FMA loops per ISA and the timing around them, for the benchmarks'
// "% of peak" (moved out of the engine library: nothing in sega needs it at run time).
// Only the functions carry an ISA target; the file has no global -m flag.
#include "bench_peak.h"

#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Plain C multiply-adds over 32 independent chains (whatever the compiler makes of them).
static double peak_loop_portable(long iters) {
    float acc[32];
    for (int i = 0; i < 32; i++) acc[i] = (float)i * 1e-3f;
    const float x = 0.999999f, y = 1e-7f;
    for (long it = 0; it < iters; it++) {
        for (int i = 0; i < 32; i++) acc[i] = acc[i] * x + y;
    }
    volatile float sink = 0;
    for (int i = 0; i < 32; i++) sink += acc[i];
    (void)sink;
    return 2.0 * 32.0 * (double)iters;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BENCH_HAVE_X86 1

// 12 independent dependency chains of ymm FMAs (8 floats x 2 flops each), register only.
__attribute__((target("avx2,fma"))) static double peak_loop_avx2(long iters) {
    long n = iters < 1 ? 1 : iters;
    const double flops = 2.0 * 8.0 * 12.0 * (double)n;
    __asm__ volatile(
        "vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
        "vmovaps %%ymm0, %%ymm1\n\t vmovaps %%ymm0, %%ymm2\n\t vmovaps %%ymm0, %%ymm3\n\t"
        "vmovaps %%ymm0, %%ymm4\n\t vmovaps %%ymm0, %%ymm5\n\t vmovaps %%ymm0, %%ymm6\n\t"
        "vmovaps %%ymm0, %%ymm7\n\t vmovaps %%ymm0, %%ymm8\n\t vmovaps %%ymm0, %%ymm9\n\t"
        "vmovaps %%ymm0, %%ymm10\n\t vmovaps %%ymm0, %%ymm11\n\t"
        "vmovaps %%ymm0, %%ymm12\n\t vmovaps %%ymm0, %%ymm13\n\t"
        "1:\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm0\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm1\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm2\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm3\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm4\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm5\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm6\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm7\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm8\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm9\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm10\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm11\n\t"
        "dec %0\n\t"
        "jnz 1b\n\t"
        "vzeroupper\n\t"
        : "+r"(n)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm12", "xmm13", "cc");
    return flops;
}

// 24 independent dependency chains of zmm FMAs, register only.
__attribute__((target("avx512f"))) static double peak_loop_avx512(long iters) {
    long n = iters < 1 ? 1 : iters;
    const double flops = 2.0 * 16.0 * 24.0 * (double)n;
    __asm__ volatile(
        "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
        "vmovaps %%zmm0, %%zmm1\n\t vmovaps %%zmm0, %%zmm2\n\t vmovaps %%zmm0, %%zmm3\n\t"
        "vmovaps %%zmm0, %%zmm4\n\t vmovaps %%zmm0, %%zmm5\n\t vmovaps %%zmm0, %%zmm6\n\t"
        "vmovaps %%zmm0, %%zmm7\n\t vmovaps %%zmm0, %%zmm8\n\t vmovaps %%zmm0, %%zmm9\n\t"
        "vmovaps %%zmm0, %%zmm10\n\t vmovaps %%zmm0, %%zmm11\n\t vmovaps %%zmm0, %%zmm12\n\t"
        "vmovaps %%zmm0, %%zmm13\n\t vmovaps %%zmm0, %%zmm14\n\t vmovaps %%zmm0, %%zmm15\n\t"
        "vmovaps %%zmm0, %%zmm16\n\t vmovaps %%zmm0, %%zmm17\n\t vmovaps %%zmm0, %%zmm18\n\t"
        "vmovaps %%zmm0, %%zmm19\n\t vmovaps %%zmm0, %%zmm20\n\t vmovaps %%zmm0, %%zmm21\n\t"
        "vmovaps %%zmm0, %%zmm22\n\t vmovaps %%zmm0, %%zmm23\n\t"
        "vmovaps %%zmm0, %%zmm30\n\t vmovaps %%zmm0, %%zmm31\n\t"
        "1:\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm0\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm1\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm2\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm3\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm4\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm5\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm6\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm7\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm8\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm9\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm10\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm11\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm12\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm13\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm14\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm15\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm16\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm17\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm18\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm19\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm20\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm21\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm22\n\t"
        "vfmadd231ps %%zmm30, %%zmm31, %%zmm23\n\t"
        "dec %0\n\t"
        "jnz 1b\n\t"
        "vzeroupper\n\t"
        : "+r"(n)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18",
          "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm30", "xmm31", "cc");
    return flops;
}
#else
#define BENCH_HAVE_X86 0
#endif

double bench_fma_peak_gflops(int isa, double seconds) {
    double (*loop)(long) = 0;
    if (isa == 0) loop = peak_loop_portable;
#if BENCH_HAVE_X86
    if (isa == 1) loop = peak_loop_avx2;
    if (isa == 2) loop = peak_loop_avx512;
#endif
    if (!loop) return 0.0;
    if (seconds <= 0) seconds = 0.2;
    long iters = 1 << 14;
    double best = 0.0;
    const double t_start = now_seconds();
    for (;;) {
        const double t0 = now_seconds();
        const double flops = loop(iters);
        const double dt = now_seconds() - t0;
        if (dt > 0) {
            const double g = flops / dt * 1e-9;
            if (g > best) best = g;
        }
        if (dt < 0.02) iters *= 2;
        if (now_seconds() - t_start >= seconds) break;
    }
    return best;
}
