// malloc_counter.h - counts heap allocations in the test binary (malloc, calloc, realloc,
// posix_memalign, aligned_alloc, memalign, valloc) while counting is on, from any thread.
#ifndef SEGA_MALLOC_COUNTER_H
#define SEGA_MALLOC_COUNTER_H
#include <stdint.h>
void sega_malloc_counter_start(void);
/// Stops counting and returns how many allocations happened since start.
uint64_t sega_malloc_counter_stop(void);
/// 1 if the interposer is live (a probe malloc was seen), 0 otherwise.
int sega_malloc_counter_active(void);
/// Marks `p` as used (an opaque call with a volatile store), so that the optimizer cannot drop
/// the allocation it came from: the counter's own control test needs its allocations to happen.
void sega_malloc_counter_keep(void *p);
#endif
