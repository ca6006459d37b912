// malloc_counter.c - interposes the allocator in the test executable. Every entry point
// forwards to glibc's __libc_* implementation and, while counting is on, bumps an atomic counter.
#define _GNU_SOURCE
#include "malloc_counter.h"
#include <stddef.h>
#include <errno.h>
#include <stdatomic.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_int counting;
static atomic_uint_fast64_t count;
static atomic_int seen;

static inline void note(void) {
    atomic_store_explicit(&seen, 1, memory_order_relaxed);
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
}

void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { note(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t al, size_t n) { note(); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { note(); return __libc_memalign(al, n); }
void *valloc(size_t n) { note(); return __libc_memalign(4096, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    note();
    if (al < sizeof(void *) || (al & (al - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(al, n);
    if (!p && n) return ENOMEM;
    *out = p;
    return 0;
}

void sega_malloc_counter_start(void) {
    atomic_store(&count, 0);
    atomic_store(&counting, 1);
}
uint64_t sega_malloc_counter_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&count);
}
int sega_malloc_counter_active(void) {
    atomic_store(&seen, 0);
    void *volatile p = malloc(16);
    free(p);
    return atomic_load(&seen);
}

/* Defined here, out of the optimizer's sight in the Swift tests: a pointer handed to it counts as
   used, so a malloc/free pair around it cannot be removed (the release build did remove them). */
static void *volatile kept;
void sega_malloc_counter_keep(void *p) { kept = p; }
