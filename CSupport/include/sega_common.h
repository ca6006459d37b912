// sega_common.h - status codes and ISA identifiers shared by every C kernel.
#ifndef SEGA_COMMON_H
#define SEGA_COMMON_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes. Kernels that can fail return one of these; 0 is success.
typedef enum {
    SEGA_OK = 0,
    SEGA_ERR_INVALID_ARG = 1,   ///< zero/negative size, null pointer, inconsistent shape
    SEGA_ERR_ARENA_FULL = 2,    ///< a request did not fit in the arena
    SEGA_ERR_NOMEM = 3,         ///< the one-time system allocation failed
    SEGA_ERR_CORRUPT = 4,       ///< a debug canary was overwritten
    SEGA_ERR_OVERFLOW = 5,      ///< a size computation overflowed size_t
    SEGA_ERR_THREADS = 6        ///< thread creation failed
} sega_status;

/// Instruction sets a kernel family can be dispatched to.
typedef enum {
    SEGA_ISA_AUTO = -1,         ///< pick the best the CPU supports
    SEGA_ISA_PORTABLE = 0,      ///< plain C, any x86-64 or other CPU
    SEGA_ISA_AVX2 = 1,          ///< AVX2 + FMA (Haswell, Zen and later)
    SEGA_ISA_AVX512 = 2         ///< AVX-512F (Skylake-X, Zen 4 and later)
} sega_isa;

/// Activations fused into other kernels (SGEMM epilogues, in-place activation passes).
typedef enum { SEGA_ACT_NONE = 0, SEGA_ACT_RELU = 1, SEGA_ACT_RELU6 = 2 } sega_act;

/// Best ISA the running CPU and OS support (checks CPUID and XGETBV), capped by the environment
/// variable SEGA_ISA=portable|avx2|avx512 when set. SEGA_ISA_AUTO engines, and kernels called
/// with a NULL engine, run at this ISA, so SEGA_ISA caps every kernel.
sega_isa sega_cpu_best_isa(void);
/// Whether `isa` can run on this CPU.
int sega_cpu_supports(sega_isa isa);
/// Testing hook: how many calls of kernels with per-ISA variants (depthwise convolution,
/// pooling, sigmoid, softmax) have run at `isa` since the process started. A call counts once,
/// at the ISA whose variant it picked (the depthwise forward at AVX-512 borrows AVX2 kernels for
/// narrow rows and data movement, and still counts as AVX-512); the tests compare counts before
/// and after a call to see which path ran. 0 for an invalid isa.
uint64_t sega_isa_dispatch_count(sega_isa isa);
/// Human-readable name: "portable", "avx2", "avx512".
const char *sega_isa_name(sega_isa isa);
/// Message for a status code (static string).
const char *sega_status_message(sega_status s);

#ifdef __cplusplus
}
#endif
#endif
