// sega_arena.h - one 64-byte-aligned block, bump allocation, mark/reset, high-water mark.
// A request that does not fit returns SEGA_ERR_ARENA_FULL (never aborts). With debug canaries
// on, every block is followed by a 64-byte canary that sega_arena_check verifies.
#ifndef SEGA_ARENA_H
#define SEGA_ARENA_H
#include "sega_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SEGA_ARENA_ALIGN 64
#define SEGA_ARENA_CANARY_BYTES 64
#define SEGA_ARENA_MAX_BLOCKS 4096  /* canary bookkeeping capacity in debug mode */

typedef struct sega_arena {
    uint8_t *base;      ///< 64-byte-aligned block (owned unless `borrowed`)
    size_t capacity;    ///< bytes in the block
    size_t used;        ///< bump offset
    size_t high_water;  ///< largest `used` ever seen
    size_t failed_request; ///< size of the last request that did not fit (0 if none)
    int debug;          ///< canaries on
    int borrowed;       ///< base was supplied by the caller
    uint32_t nblocks;   ///< live blocks (debug only)
    size_t block_end[SEGA_ARENA_MAX_BLOCKS]; ///< end offset of each live block (debug only)
} sega_arena;

/// Allocate the arena's one block (`capacity` bytes, rounded up to 64). `debug` turns on canaries.
sega_status sega_arena_init(sega_arena *a, size_t capacity, int debug);
/// Use caller memory (must be 64-byte aligned); the arena never frees it.
sega_status sega_arena_init_borrowed(sega_arena *a, void *mem, size_t capacity, int debug);
/// Free the block (if owned) and zero the struct. Safe on a zeroed struct.
void sega_arena_destroy(sega_arena *a);
/// Bump-allocate `bytes` (0 is allowed: returns an aligned pointer, consumes nothing but the canary)
/// aligned to `align` (a power of two <= 4096; 0 means 64). On failure *out is NULL and the
/// arena is unchanged.
sega_status sega_arena_alloc(sega_arena *a, size_t bytes, size_t align, void **out);
/// Bytes that sega_arena_alloc would consume for this request at the current offset.
size_t sega_arena_cost(const sega_arena *a, size_t bytes, size_t align);
/// Current offset, to return to with sega_arena_reset.
size_t sega_arena_mark(const sega_arena *a);
/// Drop every block allocated after `mark` (debug mode re-checks their canaries first).
sega_status sega_arena_reset(sega_arena *a, size_t mark);
/// Verify every live canary; SEGA_ERR_CORRUPT if any was overwritten.
sega_status sega_arena_check(const sega_arena *a);

#ifdef __cplusplus
}
#endif
#endif
