// arena.c - one aligned block, bump allocation, optional canaries between blocks.
#include "sega_arena.h"
#include <stdlib.h>
#include <string.h>

#define CANARY_BYTE 0xA5u

static size_t align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }

static sega_status init_common(sega_arena *a, int debug) {
    a->used = 0;
    a->high_water = 0;
    a->failed_request = 0;
    a->debug = debug ? 1 : 0;
    a->nblocks = 0;
    return SEGA_OK;
}

sega_status sega_arena_init(sega_arena *a, size_t capacity, int debug) {
    if (!a) return SEGA_ERR_INVALID_ARG;
    memset(a, 0, sizeof(*a) - sizeof(a->block_end));
    if (capacity > SIZE_MAX - SEGA_ARENA_ALIGN) return SEGA_ERR_OVERFLOW;
    capacity = align_up(capacity, SEGA_ARENA_ALIGN);
    void *mem = NULL;
    if (capacity > 0 && posix_memalign(&mem, SEGA_ARENA_ALIGN, capacity) != 0) return SEGA_ERR_NOMEM;
    a->base = (uint8_t *)mem;
    a->capacity = capacity;
    a->borrowed = 0;
    return init_common(a, debug);
}

sega_status sega_arena_init_borrowed(sega_arena *a, void *mem, size_t capacity, int debug) {
    if (!a || (!mem && capacity) || ((uintptr_t)mem % SEGA_ARENA_ALIGN) != 0) return SEGA_ERR_INVALID_ARG;
    memset(a, 0, sizeof(*a) - sizeof(a->block_end));
    a->base = (uint8_t *)mem;
    a->capacity = capacity;
    a->borrowed = 1;
    return init_common(a, debug);
}

void sega_arena_destroy(sega_arena *a) {
    if (!a) return;
    if (a->base && !a->borrowed) free(a->base);
    memset(a, 0, sizeof(*a) - sizeof(a->block_end));
}

/* Start offset and end offset (including canary) of a request, or 0 on overflow. */
static int place(const sega_arena *a, size_t bytes, size_t align, size_t *start, size_t *end) {
    if (align == 0) align = SEGA_ARENA_ALIGN;
    if ((align & (align - 1)) != 0 || align > 4096) return 0;
    /* align relative to the absolute address so borrowed blocks keep the promise */
    uintptr_t basep = (uintptr_t)a->base;
    uintptr_t cur = basep + a->used;
    if (cur > UINTPTR_MAX - align) return 0;
    size_t s = (size_t)(((cur + align - 1) & ~(uintptr_t)(align - 1)) - basep);
    size_t extra = a->debug ? SEGA_ARENA_CANARY_BYTES : 0;
    if (bytes > SIZE_MAX - s - extra) return 0;
    *start = s;
    *end = s + bytes + extra;
    return 1;
}

size_t sega_arena_cost(const sega_arena *a, size_t bytes, size_t align) {
    size_t s, e;
    if (!a || !place(a, bytes, align, &s, &e)) return SIZE_MAX;
    return e - a->used;
}

sega_status sega_arena_alloc(sega_arena *a, size_t bytes, size_t align, void **out) {
    if (out) *out = NULL;
    if (!a || !out) return SEGA_ERR_INVALID_ARG;
    if (align != 0 && ((align & (align - 1)) != 0 || align > 4096)) return SEGA_ERR_INVALID_ARG;
    size_t s, e;
    if (!place(a, bytes, align, &s, &e)) { a->failed_request = bytes; return SEGA_ERR_OVERFLOW; }
    if (e > a->capacity || !a->base) { a->failed_request = bytes; return SEGA_ERR_ARENA_FULL; }
    if (a->debug) {
        if (a->nblocks >= SEGA_ARENA_MAX_BLOCKS) { a->failed_request = bytes; return SEGA_ERR_ARENA_FULL; }
        memset(a->base + s + bytes, CANARY_BYTE, SEGA_ARENA_CANARY_BYTES);
        a->block_end[a->nblocks++] = s + bytes;
    }
    a->used = e;
    if (e > a->high_water) a->high_water = e;
    *out = a->base + s;
    return SEGA_OK;
}

size_t sega_arena_mark(const sega_arena *a) { return a ? a->used : 0; }

static int canary_ok(const sega_arena *a, size_t end) {
    const uint8_t *p = a->base + end;
    for (size_t i = 0; i < SEGA_ARENA_CANARY_BYTES; i++)
        if (p[i] != CANARY_BYTE) return 0;
    return 1;
}

sega_status sega_arena_check(const sega_arena *a) {
    if (!a) return SEGA_ERR_INVALID_ARG;
    if (!a->debug) return SEGA_OK;
    for (uint32_t i = 0; i < a->nblocks; i++)
        if (!canary_ok(a, a->block_end[i])) return SEGA_ERR_CORRUPT;
    return SEGA_OK;
}

sega_status sega_arena_reset(sega_arena *a, size_t mark) {
    if (!a || mark > a->used) return SEGA_ERR_INVALID_ARG;
    sega_status st = SEGA_OK;
    if (a->debug) {
        while (a->nblocks > 0 && a->block_end[a->nblocks - 1] >= mark) {
            if (!canary_ok(a, a->block_end[a->nblocks - 1])) st = SEGA_ERR_CORRUPT;
            a->nblocks--;
        }
    }
    a->used = mark;
    return st;
}
