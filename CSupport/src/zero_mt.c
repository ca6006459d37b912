// zero_mt.c - a list of buffers zeroed by the engine's threads: the concatenation of the spans is
// cut into one contiguous range per thread (whole 64-byte chunks), each zeroed with memset.
#include "sega_zero.h"
#include <string.h>

// Below this many bytes per thread a worker is not worth waking (a 256 KB memset takes ~10-20 us;
// waking a worker on the busy 2-core machine can cost more).
#define SEGA_ZERO_GRAIN (256u * 1024u)

typedef struct {
    void *const *ptrs;
    const size_t *bytes;
    int count;
    size_t total;
} zero_job;

// Zero [lo, hi) of the spans' concatenation.
static void zero_range(const zero_job *j, size_t lo, size_t hi) {
    size_t start = 0;
    for (int i = 0; i < j->count && start < hi; i++) {
        const size_t end = start + j->bytes[i];
        if (end > lo) {
            const size_t a = lo > start ? lo - start : 0, b = (hi < end ? hi : end) - start;
            memset((char *)j->ptrs[i] + a, 0, b - a);
        }
        start = end;
    }
}

static void zero_task(void *vjob, int index, int parts) {
    const zero_job *j = (const zero_job *)vjob;
    const size_t chunks = (j->total + 63) / 64;
    size_t lo = chunks * (size_t)index / (size_t)parts * 64, hi = chunks * (size_t)(index + 1) / (size_t)parts * 64;
    if (hi > j->total) hi = j->total;
    if (lo < hi) zero_range(j, lo, hi);
}

void sega_zero_spans(sega_engine *e, void *const *ptrs, const size_t *bytes, int count) {
    if (count <= 0) return;
    zero_job j = {ptrs, bytes, count, 0};
    for (int i = 0; i < count; i++) j.total += bytes[i];
    int parts = e ? sega_engine_threads(e) : 1;
    if ((size_t)parts > j.total / SEGA_ZERO_GRAIN) parts = (int)(j.total / SEGA_ZERO_GRAIN);
    if (parts <= 1) {
        for (int i = 0; i < count; i++) memset(ptrs[i], 0, bytes[i]);
        return;
    }
    sega_pool_run(sega_engine_pool(e), zero_task, &j, parts);
}
