// sega_zero.h - zeroing a list of buffers (a plan's gradient buffers before their first writer)
// split over the engine's threads.
#ifndef SEGA_ZERO_H
#define SEGA_ZERO_H
#include "sega_common.h"
#include "sega_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Zero bytes[i] bytes at ptrs[i] for i in [0, count). The spans' total is cut into equal
/// 64-byte-aligned ranges, one per thread (fewer when the total is small; e may be NULL: the
/// calling thread does it all). Allocates nothing; the result never depends on the split.
void sega_zero_spans(sega_engine *e, void *const *ptrs, const size_t *bytes, int count);

#ifdef __cplusplus
}
#endif
#endif
