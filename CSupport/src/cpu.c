// cpu.c - run-time ISA detection (CPUID + XGETBV), the SEGA_ISA cap, the per-call ISA choice
// of the kernels (sega__kernel_isa) with its test counters, ISA names and status messages.
#include "cpu_internal.h"
#include "sega_engine.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t sega_xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

// Hardware capability without any cap: 0 portable, 1 avx2+fma, 2 avx512f.
static int sega_cpu_detect(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return SEGA_ISA_PORTABLE;
    const int has_fma = (c >> 12) & 1;
    const int has_osxsave = (c >> 27) & 1;
    const int has_avx = (c >> 28) & 1;
    if (!has_osxsave || !has_avx || !has_fma) return SEGA_ISA_PORTABLE;
    const uint64_t xcr0 = sega_xgetbv0();
    // XMM (bit 1) and YMM (bit 2) state must be enabled by the OS.
    if ((xcr0 & 0x6) != 0x6) return SEGA_ISA_PORTABLE;
    if (__get_cpuid_max(0, NULL) < 7) return SEGA_ISA_PORTABLE;
    __cpuid_count(7, 0, a, b, c, d);
    const int has_avx2 = (b >> 5) & 1;
    const int has_avx512f = (b >> 16) & 1;
    if (!has_avx2) return SEGA_ISA_PORTABLE;
    // AVX-512 needs opmask (bit 5), ZMM_Hi256 (bit 6) and Hi16_ZMM (bit 7) state as well.
    if (has_avx512f && (xcr0 & 0xE6) == 0xE6) return SEGA_ISA_AVX512;
    return SEGA_ISA_AVX2;
}

// AMD family 19h (Zen 3 and Zen 4; only Zen 4 has AVX-512) runs a 512-bit FMA as two 256-bit
// halves. Family = base family + extended family when the base is 0xF.
static int sega_cpu_half_rate512(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    const int amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;   // "AuthenticAMD"
    if (!amd || !__get_cpuid(1, &a, &b, &c, &d)) return 0;
    unsigned int family = (a >> 8) & 0xF;
    if (family == 0xF) family += (a >> 20) & 0xFF;
    return family == 0x19 && sega_cpu_detect() == SEGA_ISA_AVX512;
}
#else
static int sega_cpu_detect(void) { return SEGA_ISA_PORTABLE; }
static int sega_cpu_half_rate512(void) { return 0; }
#endif

// Cached results: every thread computes the same value, stored and read atomically (relaxed),
// so contexts created on several threads at once do not race (ThreadSanitizer reported the plain
// volatile int here: scripts/fault/tsan_capi.sh).
static int g_half_rate = -1;

int sega__cpu_avx512_half_rate(void) {
    int v = __atomic_load_n(&g_half_rate, __ATOMIC_RELAXED);
    if (v == -1) {
        v = sega_cpu_half_rate512();
        __atomic_store_n(&g_half_rate, v, __ATOMIC_RELAXED);
    }
    return v;
}

static int g_hw_isa = -2;
static int g_cap_isa = -2;

static int sega_hw_isa(void) {
    int v = __atomic_load_n(&g_hw_isa, __ATOMIC_RELAXED);
    if (v == -2) {
        v = sega_cpu_detect();
        __atomic_store_n(&g_hw_isa, v, __ATOMIC_RELAXED);
    }
    return v;
}

// Optional cap from the environment: SEGA_ISA=portable|avx2|avx512 (anything else: no cap).
static int sega_env_cap(void) {
    int v = __atomic_load_n(&g_cap_isa, __ATOMIC_RELAXED);
    if (v == -2) {
        v = SEGA_ISA_AVX512;
        const char *s = getenv("SEGA_ISA");
        if (s) {
            if (strcmp(s, "portable") == 0) v = SEGA_ISA_PORTABLE;
            else if (strcmp(s, "avx2") == 0) v = SEGA_ISA_AVX2;
            else if (strcmp(s, "avx512") == 0) v = SEGA_ISA_AVX512;
        }
        __atomic_store_n(&g_cap_isa, v, __ATOMIC_RELAXED);
    }
    return v;
}

sega_isa sega_cpu_best_isa(void) {
    int hw = sega_hw_isa();
    int cap = sega_env_cap();
    return (sega_isa)(hw < cap ? hw : cap);
}

// Kernel calls dispatched per ISA (testing hook; relaxed: only totals matter).
static atomic_ullong g_dispatched[SEGA_ISA_AVX512 + 1];

sega_isa sega__kernel_isa(const struct sega_engine *e, sega_isa best_variant) {
    sega_isa isa = e ? sega_engine_isa(e) : sega_cpu_best_isa();
    if (!SEGA_HAVE_X86_KERNELS || best_variant < SEGA_ISA_PORTABLE) best_variant = SEGA_ISA_PORTABLE;
    if (isa > best_variant) isa = best_variant;
    atomic_fetch_add_explicit(&g_dispatched[isa], 1, memory_order_relaxed);
    return isa;
}

uint64_t sega_isa_dispatch_count(sega_isa isa) {
    if (isa < SEGA_ISA_PORTABLE || isa > SEGA_ISA_AVX512) return 0;
    return (uint64_t)atomic_load_explicit(&g_dispatched[isa], memory_order_relaxed);
}

int sega_cpu_supports(sega_isa isa) {
    if (isa == SEGA_ISA_AUTO) return 1;
    if (isa < SEGA_ISA_PORTABLE || isa > SEGA_ISA_AVX512) return 0;
    return (int)isa <= sega_hw_isa();
}

const char *sega_isa_name(sega_isa isa) {
    switch (isa) {
    case SEGA_ISA_AUTO: return "auto";
    case SEGA_ISA_PORTABLE: return "portable";
    case SEGA_ISA_AVX2: return "avx2";
    case SEGA_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

const char *sega_status_message(sega_status s) {
    switch (s) {
    case SEGA_OK: return "ok";
    case SEGA_ERR_INVALID_ARG: return "invalid argument";
    case SEGA_ERR_ARENA_FULL: return "arena full";
    case SEGA_ERR_NOMEM: return "out of memory";
    case SEGA_ERR_CORRUPT: return "memory corruption detected (canary overwritten)";
    case SEGA_ERR_OVERFLOW: return "size computation overflow";
    case SEGA_ERR_THREADS: return "thread creation failed";
    }
    return "unknown status";
}
