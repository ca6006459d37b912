// sega_threads.h - a fixed pool of worker threads, created once with the engine context.
// sega_pool_run neither creates threads nor allocates: workers wait on a condition variable
// and the caller thread takes part in the work.
#ifndef SEGA_THREADS_H
#define SEGA_THREADS_H
#include "sega_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sega_pool sega_pool;
/// Task body: called once for each index in [0, count). Indices are handed out statically
/// (thread t runs t, t+T, ...), so the work split never depends on timing.
typedef void (*sega_task_fn)(void *ctx, int index, int count);

/// Create a pool of `nthreads` (>= 1) threads in all: nthreads-1 workers plus the caller.
sega_status sega_pool_create(int nthreads, sega_pool **out);
void sega_pool_destroy(sega_pool *p);
int sega_pool_threads(const sega_pool *p);
/// Run fn(ctx, i, count) for every i in [0, count) and wait. p may be NULL (runs inline).
/// Not re-entrant: a task must not call sega_pool_run on the same pool.
void sega_pool_run(sega_pool *p, sega_task_fn fn, void *ctx, int count);

/// Profiling (off by default; for sega-modelbench --profile-plan): when on, the pool adds up,
/// in nanoseconds of the monotonic clock, the time its workers spend running tasks and the time
/// the calling thread spends waiting for them after its own share. The cores an op keeps busy
/// over a wall time W are then (W - caller_wait + worker_busy) / W. Not thread-safe against a
/// concurrent sega_pool_run; turning it on or off resets both sums.
void sega_pool_set_profiling(sega_pool *p, int on);
void sega_pool_profile(const sega_pool *p, uint64_t *worker_busy_ns, uint64_t *caller_wait_ns);

#ifdef __cplusplus
}
#endif
#endif
