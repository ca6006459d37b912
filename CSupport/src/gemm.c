// gemm.c - packed SGEMM driver (BLIS-style loop nest), threading and kernel selection.
//
// General path (the thread's row range needs several MC blocks):
//   for jc in N by NC:                 (thread-private column range)
//     for pc in K by KC:               pack B[pc:+kc, jc:+nc] -> NR-wide slivers (zero padded)
//       for ic in M by MC:             pack A[ic:+mc, pc:+kc] -> MR-tall slivers (zero padded)
//         for jr in nc by NR:          B sliver stays in L1
//           for ir in mc by MR:        micro-kernel on an MR x NR tile of C
// Small-M path (rows fit one MC block, the common CNN case M = channels <= 512):
//   for pc in K by KC: pack all of A once; for jc in N by an L2-sized panel: pack B, jr/ir as above.
// While one B panel is multiplied, the source of the next one is prefetched a few lines per
// micro-kernel call, so packing it reads from cache rather than DRAM.
// Edge tiles run the same micro-kernel on a private tile (same arithmetic as a full tile).
//
// Threads split M or N (never K) in whole MR/NR units, and the K blocking depends on k alone, so
// every element of C goes through the same sequence of floating-point operations whatever the
// thread count: results are byte-identical for 1..T threads.
//
// sega_gemm_pack_a / sega_gemm_pack_b pack an operand once (a layer's weights) in the layout the
// driver reads, which then takes its K blocks in place instead of packing them on every call.
//
// sega_sgemm_ex adds column blocks (B and C split into images, one product over all of them)
// and epilogues applied by the micro-kernel to the tile's values in registers before it stores
// them (sega_tile_epi): the bias a tile starts from (the first K block), relu/relu6 and their
// mask (after the last K block); and a byte mask on B applied while packing it. Tiles whose columns straddle two blocks go through the private tile
// like edge tiles. The engine may also pick, per call, a second micro-kernel whose tile fits a
// narrow product better (sega_gemm_kdesc_alt); all kernels share KC and the order of the FMAs of
// each C element, so none of this changes a result.
#include "engine_internal.h"
#include "sega_gemm.h"
#include <string.h>

// ---------------------------------------------------------------------------------------------
// Kernel table.

static const sega_gemm_kdesc k_portable = {4, 16, 128, 256, 2048, sega_sgemm_4x16_portable,
                                           sega_pack_a_portable_4x16, sega_pack_a_scalar_portable_4x16,
                                           sega_pack_b_portable_4x16,
                                           sega_pack_bx_portable_4x16, sega_pack_ax_portable_4x16,
                                           sega_gemm_epi_portable_4x16,
                                           "sgemm_4x16_portable"};
#if SEGA_HAVE_X86_KERNELS
static const sega_gemm_kdesc k_avx2 = {6, 16, 144, 256, 3072, sega_sgemm_6x16_avx2,
                                       sega_pack_a_avx2_6x16, sega_pack_a_scalar_avx2_6x16,
                                       sega_pack_b_avx2_6x16,
                                       sega_pack_bx_avx2_6x16, sega_pack_ax_avx2_6x16,
                                       sega_gemm_epi_avx2_6x16,
                                       "sgemm_6x16_avx2"};
// AVX-512: 8 x 48 tile (24 zmm accumulators). M is a multiple of 8 for every usual channel
// count, so no rows are wasted. Blocking for Zen 4/5 class cores (L1d 48K, L2 1M): KC = 256
// keeps the 48 KB B sliver L1-sized; MC = 512 covers the channel counts of common networks in one
// A block (512 KB in L2), which selects the small-M path in gemm_block (B streamed through
// L2-sized panels); NC bounds the general path's B panel (4 MB, L3).
static const sega_gemm_kdesc k_avx512 = {8, 48, 512, 256, 4032, sega_sgemm_8x48_avx512,
                                         sega_pack_a_avx512_8x48, sega_pack_a_scalar_avx512_8x48,
                                         sega_pack_b_avx512_8x48,
                                         sega_pack_bx_avx512_8x48, sega_pack_ax_avx512_8x48,
                                         sega_gemm_epi_avx512_8x48,
                                         "sgemm_8x48_avx512"};
// AVX-512 12 x 32 tile for products whose column count a 48-wide sliver pads badly (64: the
// attention heads of a transformer); blocking within k_avx512's (MC 504 <= 512, same KC, NC).
static const sega_gemm_kdesc k_avx512_narrow = {12, 32, 504, 256, 4032, sega_sgemm_12x32_avx512,
                                                sega_pack_a_avx512_12x32, sega_pack_a_scalar_avx512_12x32,
                                                sega_pack_b_avx512_12x32,
                                                sega_pack_bx_avx512_12x32, sega_pack_ax_avx512_12x32,
                                                sega_gemm_epi_avx512_12x32,
                                                "sgemm_12x32_avx512"};
#endif

const sega_gemm_kdesc *sega_gemm_kdesc_for(sega_isa isa) {
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX2) return &k_avx2;
    if (isa == SEGA_ISA_AVX512) return &k_avx512;
#else
    (void)isa;
#endif
    return &k_portable;
}

// On an AVX-512 engine the AVX2 6 x 16 kernel may run products with few columns (NR 16 wastes
// less than 48 there); its blocking fits inside the AVX-512 descriptor's packing buffers.
const sega_gemm_kdesc *sega_gemm_kdesc_alt(sega_isa isa) {
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX512) return &k_avx2;
#else
    (void)isa;
#endif
    return NULL;
}

const sega_gemm_kdesc *sega_gemm_kdesc_narrow(sega_isa isa) {
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX512) return &k_avx512_narrow;
#else
    (void)isa;
#endif
    return NULL;
}

int sega_gemm_pack_a_kernel(int kernel, int scalar, int trans, const float *a, long lda, int i0, int mc,
                            int p0, int kc, float *ap) {
    const sega_gemm_kdesc *d = NULL;
    if (kernel == 0) d = &k_portable;
#if SEGA_HAVE_X86_KERNELS
    if (kernel == 1 && sega_cpu_supports(SEGA_ISA_AVX2)) d = &k_avx2;
    if (kernel == 2 && sega_cpu_supports(SEGA_ISA_AVX512)) d = &k_avx512;
    if (kernel == 3 && sega_cpu_supports(SEGA_ISA_AVX512)) d = &k_avx512_narrow;
#endif
    if (!d) return 0;
    (scalar ? d->pack_a_scalar : d->pack_a)(trans != 0, a, lda, i0, mc, p0, kc, ap);
    return d->mr;
}

size_t sega_gemm_apack_floats(const sega_gemm_kdesc *d) { return (size_t)d->mc * (size_t)d->kc; }
size_t sega_gemm_bpack_floats(const sega_gemm_kdesc *d) { return (size_t)d->nc * (size_t)d->kc; }

// ---------------------------------------------------------------------------------------------
// Macro-kernel: all MR x NR tiles of an mc x nc block of C.

#define SEGA_MAX_TILE (16 * 64)
#define SEGA_MAX_MR 16
#define SEGA_MAX_NR (SEGA_MAX_TILE / SEGA_MAX_MR)

// Software prefetch of the *next* B panel's source while the current one is being multiplied,
// so that packing it later reads from cache instead of waiting on DRAM. The region is `rows`
// rows of `row_lines` 64-byte lines, `ld` floats apart; the cursor walks it line by line,
// `per_call` lines per micro-kernel call.
typedef struct pf_cursor {
    const char *base;
    size_t ld_bytes;
    int rows, row_lines;
    int row, line;
    int per_call;
} pf_cursor;

static void pf_init(pf_cursor *pf, const float *base, long ld, int rows, int row_floats,
                    long calls) {
    pf->base = (const char *)base;
    pf->ld_bytes = (size_t)ld * sizeof(float);
    pf->rows = rows;
    // Lines touched by a row (the row may start in the middle of a line).
    const uintptr_t start = (uintptr_t)base & 63u;
    pf->row_lines = (int)((start + (size_t)row_floats * sizeof(float) + 63) / 64);
    pf->row = 0;
    pf->line = 0;
    const long total = (long)rows * pf->row_lines;
    pf->per_call = calls > 0 ? (int)((total + calls - 1) / calls) : 0;
    if (!base || rows <= 0) pf->per_call = 0;
}

static inline void pf_step(pf_cursor *pf) {
    for (int i = 0; i < pf->per_call && pf->row < pf->rows; i++) {
        __builtin_prefetch(pf->base + pf->row * pf->ld_bytes + (size_t)pf->line * 64, 0, 2);
        if (++pf->line == pf->row_lines) {
            pf->line = 0;
            pf->row++;
        }
    }
}

// (macro_kernel and its tile helpers follow the job type below.)

// ---------------------------------------------------------------------------------------------
// Driver.

// Target size of a packed B panel on the small-M path (fits L2 next to the A block).
#ifndef SEGA_GEMM_L2_PANEL_BYTES
#define SEGA_GEMM_L2_PANEL_BYTES (384u * 1024u)
#endif

// Cost of packing one element, in multiply-adds, for the thread-split heuristic.
#define SEGA_GEMM_PACK_COST 16.0

typedef struct gemm_job {
    const sega_gemm_kdesc *d;
    sega_engine *e;
    int ta, tb;
    int m, n, k;
    float alpha, beta;
    const float *a;
    long lda;
    const float *b;
    long ldb;
    float *c;
    long ldc;
    int kc_blk;    // K block size (depends on k only)
    int split_n;   // 1: threads split columns, 0: rows
    int nparts;    // number of parts (== tasks)
    int unit;      // part boundaries are multiples of this (nr or mr)
    // sega_gemm_ext: column blocks of `per` columns (per == n: one block), B and C strides
    // between them; the epilogues (NULL / SEGA_ACT_NONE: none) and B's mask.
    int per;
    long bst, cst;
    const float *bias;
    int act;
    uint8_t *mask;
    const uint8_t *bmask, *amask;
    const float *col_bias;   // C starts as this row vector (each tile's first K block adds it)
    const float *apk;        // op(A) packed once (sega_gemm_pack_a): K block at pc starts at
    int mpad;                // apk + pc * mpad, rows from i at + i * kc within it
    const float *bpk;        // op(B) packed once (sega_gemm_pack_b): K block at pc starts at
    int npad;                // bpk + pc * npad, columns from j at + j * kc within it
} gemm_job;

// ---------------------------------------------------------------------------------------------
// Macro-kernel: all MR x NR tiles of an mc x nc block of C.

// Which K block a macro-kernel call multiplies: the first starts C (from beta * C or the bias),
// the last finishes it (epilogue).
typedef struct { int first, last; float beta; } kblock;

// Offset (in floats, also the mask's offset in bytes) of C element (i, col) in the blocked layout.
SEGA_INLINE size_t c_offset(const gemm_job *j, int i, int col) {
    if (j->per == j->n) return (size_t)i * j->ldc + (size_t)col;
    const int q = col / j->per;
    return (size_t)q * j->cst + (size_t)i * j->ldc + (size_t)(col - q * j->per);
}

// Copies between a private tile (row stride nr) and C rows [i0, i0+mv), columns [c0, c0+nv):
// to_c 0 reads C into the tile, 1 writes the tile (and its mask tile, when given) to C. A tile
// inside one column block is a strided block of C; one straddling blocks goes column run by run.
static void tile_copy(const gemm_job *j, float *restrict tile, const uint8_t *restrict mtile, int nr,
                      int i0, int c0, int mv, int nv, int to_c) {
    if (j->per == j->n && !mtile) {   // one block: a plain strided block of C
        float *restrict ct = j->c + (size_t)i0 * j->ldc + c0;
        const long ldc = j->ldc;
        if (to_c) {
            for (int i = 0; i < mv; i++)
                for (int t = 0; t < nv; t++) ct[(size_t)i * ldc + t] = tile[i * nr + t];
        } else {
            for (int i = 0; i < mv; i++)
                for (int t = 0; t < nv; t++) tile[i * nr + t] = ct[(size_t)i * ldc + t];
        }
        return;
    }
    int jj = 0;
    while (jj < nv) {
        const int q = (c0 + jj) / j->per, col = c0 + jj - q * j->per;
        const int run = j->per - col < nv - jj ? j->per - col : nv - jj;
        const size_t o = (size_t)q * j->cst + (size_t)i0 * j->ldc + (size_t)col;
        for (int i = 0; i < mv; i++) {
            float *cr = j->c + o + (size_t)i * j->ldc, *tr = tile + i * nr + jj;
            if (!to_c) {
                for (int t = 0; t < run; t++) tr[t] = cr[t];
                continue;
            }
            for (int t = 0; t < run; t++) cr[t] = tr[t];
            if (mtile) {
                uint8_t *mr = j->mask + o + (size_t)i * j->ldc;
                for (int t = 0; t < run; t++) mr[t] = mtile[i * nr + jj + t];
            }
        }
        jj += run;
    }
}

// The fused epilogue of the tile at rows from i0, columns from col, for one K block: the row or
// column bias it starts from (first K block), the activation and its mask at `mask` (row stride
// ldm) after the last K block.
SEGA_INLINE sega_tile_epi tile_epi(const gemm_job *j, kblock kb, int i0, int col, uint8_t *mask, long ldm) {
    sega_tile_epi ep = {NULL, SEGA_ACT_NONE, NULL, ldm, NULL};
    if (kb.first && j->bias) ep.bias = j->bias + i0;
    if (kb.first && j->col_bias) ep.cbias = j->col_bias + col;
    if (kb.last && j->act != SEGA_ACT_NONE) {
        ep.act = j->act;
        ep.mask = j->mask ? mask : NULL;
    }
    return ep;
}

// Tile at rows [i0, i0+mv) and columns [c0, c0+nv) of C through a private nr-wide tile: edge
// tiles and tiles straddling two column blocks. Same arithmetic as a tile of C itself (the
// kernel's epilogue on the whole tile; rows and columns past the edge are not copied out).
static void tile_private(const gemm_job *j, const float *as, const float *bs, int kc, int i0,
                         int c0, int mv, int nv, kblock kb) {
    const sega_gemm_kdesc *d = j->d;
    const int nr = d->nr;
    _Alignas(64) float tile[SEGA_MAX_TILE];
    _Alignas(64) uint8_t mtile[SEGA_MAX_TILE];
    _Alignas(64) float btile[SEGA_MAX_MR];
    _Alignas(64) float ctile[SEGA_MAX_NR];
    sega_tile_epi ep = tile_epi(j, kb, i0, c0, mtile, nr);
    if (ep.bias) {   // the rows past the edge start from +0 (their results are not copied out)
        for (int i = 0; i < d->mr; i++) btile[i] = i < mv ? ep.bias[i] : 0.0f;
        ep.bias = btile;
    } else if (ep.cbias) {   // the same for the columns past the edge
        for (int t = 0; t < nr; t++) ctile[t] = t < nv ? ep.cbias[t] : 0.0f;
        ep.cbias = ctile;
    } else if (kb.beta != 0.0f) {
        tile_copy(j, tile, NULL, nr, i0, c0, mv, nv, 0);
    }
    d->fn(kc, as, bs, tile, nr, j->alpha, kb.beta, &ep);
    tile_copy(j, tile, ep.mask, nr, i0, c0, mv, nv, 1);
}

// All tiles of C rows [i0, i0+mc) x columns [c0, c0+nc) for one K block.
static void macro_kernel(const gemm_job *j, int i0, int c0, int mc, int nc, int kc,
                         const float *ap, const float *bp, kblock kb, pf_cursor *pf) {
    const sega_gemm_kdesc *d = j->d;
    const int mr = d->mr, nr = d->nr;
    const int fused = (kb.first && (j->bias || j->col_bias)) || (kb.last && j->act != SEGA_ACT_NONE);
    for (int jr = 0; jr < nc; jr += nr) {
        const int nv = nc - jr < nr ? nc - jr : nr, col = c0 + jr;
        // Whole tile inside one column block?
        const int inside = j->per == j->n || col / j->per == (col + nv - 1) / j->per;
        const float *bs = bp + (size_t)jr * kc;
        for (int ir = 0; ir < mc; ir += mr) {
            const int mv = mc - ir < mr ? mc - ir : mr;
            const float *as = ap + (size_t)ir * kc;
            pf_step(pf);
            if (mv == mr && nv == nr && inside) {
                const size_t o = c_offset(j, i0 + ir, col);
                const sega_tile_epi ep = tile_epi(j, kb, i0 + ir, col, j->mask ? j->mask + o : NULL, j->ldc);
                d->fn(kc, as, bs, j->c + o, j->ldc, j->alpha, kb.beta, fused ? &ep : NULL);
            } else {
                tile_private(j, as, bs, kc, i0 + ir, col, mv, nv, kb);
            }
        }
    }
}

// The packed op(B) rows [pc, pc+kc), columns [jc, jc+nc) (jc a multiple of NR): packed into bp
// now (the plain packer when B is one unmasked block, else the blocked/masked one), or where
// the prepacked B holds them.
static const float *pack_b_of(const gemm_job *j, int pc, int kc, int jc, int nc, float *bp) {
    if (j->bpk) return j->bpk + (size_t)pc * (size_t)j->npad + (size_t)jc * (size_t)kc;
    if (j->per == j->n && !j->bmask) {
        j->d->pack_b(j->tb, j->b, j->ldb, pc, kc, jc, nc, bp);
        return bp;
    }
    const sega_bsrc src = {j->b, j->ldb, j->per, j->bst, j->bmask};
    j->d->pack_bx(&src, pc, kc, jc, nc, bp);
    return bp;
}

// The packed op(A) rows [ic, ic+mc), columns [pc, pc+kc): packed into ap now (masked when A
// has a mask), or where the prepacked A holds them.
// Testing hook: 1 packs A with the descriptors' scalar reference packers (same bytes).
static int g_pack_a_scalar = 0;

void sega_gemm_set_pack_a_scalar(int on) { g_pack_a_scalar = on != 0; }

SEGA_INLINE sega_pack_a_fn pack_a_fn(const sega_gemm_kdesc *d) {
    return g_pack_a_scalar ? d->pack_a_scalar : d->pack_a;
}

static const float *pack_a_of(const gemm_job *j, int ic, int mc, int pc, int kc, float *ap) {
    if (j->apk) return j->apk + (size_t)pc * (size_t)j->mpad + (size_t)ic * (size_t)kc;
    if (j->amask) j->d->pack_ax(j->a, j->amask, j->lda, ic, mc, pc, kc, ap);
    else pack_a_fn(j->d)(j->ta, j->a, j->lda, ic, mc, pc, kc, ap);
    return ap;
}

SEGA_INLINE kblock kblock_of(const gemm_job *j, int pc, int kc) {
    kblock kb = {pc == 0, pc + kc >= j->k, pc == 0 ? j->beta : 1.0f};
    return kb;
}

// Range [lo, hi) of part `t` of `total` units split into `parts` nearly equal pieces.
static void part_range(int total_units, int parts, int t, int *lo, int *hi) {
    const int base = total_units / parts, rem = total_units % parts;
    *lo = t * base + (t < rem ? t : rem);
    *hi = *lo + base + (t < rem ? 1 : 0);
}

// Prefetch cursor over the B panel after the current one: op(B) rows from npc (K) and columns
// from njc (N), at most kcb x ncap of them, spread over `calls` micro-kernel calls; an empty
// cursor when that panel is past the end of K or of the column range [.., n1).
static void pf_next_panel(pf_cursor *pf, const gemm_job *j, int npc, int njc, int n1, int ncap,
                          long calls) {
    if (npc >= j->k || njc >= n1) {
        pf_init(pf, NULL, 0, 0, 0, 0);
        return;
    }
    const int nkc = j->k - npc < j->kc_blk ? j->k - npc : j->kc_blk;
    int nnc = n1 - njc < ncap ? n1 - njc : ncap;
    if (j->bpk) {   // the next panel's packed slivers: one contiguous run
        const int nsl = (nnc + j->d->nr - 1) / j->d->nr * j->d->nr;
        pf_init(pf, j->bpk + (size_t)npc * j->npad + (size_t)njc * nkc, 0, 1, nkc * nsl, calls);
    } else if (!j->tb) {   // (column blocks: the part of the panel in njc's block)
        const int q = njc / j->per, col = njc - q * j->per;
        if (nnc > j->per - col) nnc = j->per - col;
        pf_init(pf, j->b + (size_t)q * j->bst + (size_t)npc * j->ldb + col, j->ldb, nkc, nnc, calls);
    } else {
        pf_init(pf, j->b + (size_t)njc * j->ldb + npc, j->ldb, nnc, nkc, calls);
    }
}

// Small-M path: the whole row range [m0, m1) is one A block. Pack it once per K block and
// stream B through panels small enough to stay in L2 (the packed B panel is what limits a
// short, wide product; A is tiny). Every C element still sees the K blocks in order, so the
// result is the same as the general path's.
static void gemm_small_m(const gemm_job *j, float *ap, float *bp, int m0, int m1, int n0, int n1) {
    const sega_gemm_kdesc *d = j->d;
    const int kcb = j->kc_blk, mrange = m1 - m0;
    const long row_tiles = (mrange + d->mr - 1) / d->mr;
    int ncs = (int)(SEGA_GEMM_L2_PANEL_BYTES / ((size_t)kcb * sizeof(float)));
    ncs = ncs / d->nr * d->nr;
    if (ncs < d->nr) ncs = d->nr;
    if (ncs > d->nc) ncs = d->nc;
    for (int pc = 0; pc < j->k; pc += kcb) {
        const int kc = j->k - pc < kcb ? j->k - pc : kcb;
        const kblock kb = kblock_of(j, pc, kc);
        const float *as = pack_a_of(j, m0, mrange, pc, kc, ap);
        for (int jc = n0; jc < n1; jc += ncs) {
            const int nc = n1 - jc < ncs ? n1 - jc : ncs;
            const float *bs = pack_b_of(j, pc, kc, jc, nc, bp);
            // Next panel: next column chunk of this K block, else the first of the next.
            const int last = jc + nc >= n1;
            pf_cursor pf;
            pf_next_panel(&pf, j, last ? pc + kc : pc, last ? n0 : jc + nc, n1, ncs,
                          row_tiles * ((nc + d->nr - 1) / d->nr));
            macro_kernel(j, m0, jc, mrange, nc, kc, as, bs, kb, &pf);
        }
    }
}

// General path: column blocks of ncb, K blocks, row blocks of mcb.
static void gemm_general(const gemm_job *j, float *ap, float *bp, int m0, int m1, int n0, int n1,
                         int mcb, int ncb) {
    const sega_gemm_kdesc *d = j->d;
    const int kcb = j->kc_blk;
    const long row_tiles = (m1 - m0 + d->mr - 1) / d->mr;
    for (int jc = n0; jc < n1; jc += ncb) {
        const int nc = n1 - jc < ncb ? n1 - jc : ncb;
        for (int pc = 0; pc < j->k; pc += kcb) {
            const int kc = j->k - pc < kcb ? j->k - pc : kcb;
            const kblock kb = kblock_of(j, pc, kc);
            const float *bs = pack_b_of(j, pc, kc, jc, nc, bp);
            // Where the next B panel comes from (next K block, else first K block of the next
            // column block), to prefetch it during this panel's micro-kernel calls.
            const int last = pc + kc >= j->k;
            pf_cursor pf;
            pf_next_panel(&pf, j, last ? 0 : pc + kc, last ? jc + nc : jc, n1, ncb,
                          row_tiles * ((nc + d->nr - 1) / d->nr));
            for (int ic = m0; ic < m1; ic += mcb) {
                const int mc = m1 - ic < mcb ? m1 - ic : mcb;
                const float *as = pack_a_of(j, ic, mc, pc, kc, ap);
                macro_kernel(j, ic, jc, mc, nc, kc, as, bs, kb, &pf);
            }
        }
    }
}

static void gemm_block(const gemm_job *j, int tid, int m0, int m1, int n0, int n1) {
    const sega_gemm_kdesc *d = j->d;
    // Balance M blocks within the range so the last block is not tiny.
    const int mrange = m1 - m0;
    const int nmb = (mrange + d->mc - 1) / d->mc;
    int mcb = (mrange + nmb - 1) / nmb;
    mcb = (mcb + d->mr - 1) / d->mr * d->mr;
    // Same for N blocks (rounded to whole slivers).
    const int nrange = n1 - n0;
    const int nnb = (nrange + d->nc - 1) / d->nc;
    int ncb = (nrange + nnb - 1) / nnb;
    ncb = (ncb + d->nr - 1) / d->nr * d->nr;
    if (nmb == 1) gemm_small_m(j, j->e->apack[tid], j->e->bpack[tid], m0, m1, n0, n1);
    else gemm_general(j, j->e->apack[tid], j->e->bpack[tid], m0, m1, n0, n1, mcb, ncb);
}

// C rows [m0, m1), columns [n0, n1) set to the column bias (one column block).
static void fill_col_bias(const gemm_job *j, int m0, int m1, int n0, int n1) {
    for (int i = m0; i < m1; i++) {
        float *restrict cr = j->c + (size_t)i * j->ldc;
        for (int t = n0; t < n1; t++) cr[t] = j->col_bias[t];
    }
}

static void gemm_task(void *ctx, int index, int count) {
    const gemm_job *j = (const gemm_job *)ctx;
    (void)count;
    int lo, hi, m0 = 0, m1 = j->m, n0 = 0, n1 = j->n;
    if (j->split_n) {
        const int units = (j->n + j->unit - 1) / j->unit;
        part_range(units, j->nparts, index, &lo, &hi);
        lo *= j->unit;
        hi = hi * j->unit < j->n ? hi * j->unit : j->n;
        n0 = lo; n1 = hi;
    } else {
        const int units = (j->m + j->unit - 1) / j->unit;
        part_range(units, j->nparts, index, &lo, &hi);
        lo *= j->unit;
        hi = hi * j->unit < j->m ? hi * j->unit : j->m;
        m0 = lo; m1 = hi;
    }
    if (lo >= hi) return;
    gemm_block(j, index, m0, m1, n0, n1);
}

// k == 0 or alpha == 0: C = beta * C (or the bias), then the epilogue, element by element.
static void scale_c(const gemm_job *j) {
    for (int i = 0; i < j->m; i++)
        for (int jj = 0; jj < j->n; jj++) {
            const size_t o = c_offset(j, i, jj);
            float v = j->bias ? j->bias[i] : (j->beta == 0.0f ? 0.0f : j->c[o]);
            if (!j->bias && j->beta != 0.0f && j->beta != 1.0f) v *= j->beta;
            j->c[o] = v;
            if (j->act != SEGA_ACT_NONE) j->d->epi(j->c + o, 1, j->mask ? j->mask + o : NULL, 1, 1, 1, j->act);
        }
}

// Work below this many multiply-adds runs on the calling thread only (waking a worker costs
// more than it saves). Tests and the fuzzer lower it to force the threaded path on tiny shapes.
static double g_mt_min_work = 96.0 * 96.0 * 96.0;

void sega_gemm_set_mt_min_work(double work) { g_mt_min_work = work < 0 ? 0 : work; }

// Argument checks of sega_sgemm_ex (sega_sgemm's, and the extension's own).
static sega_status check_args(int ta, int tb, int m, int n, int k, const float *a, int lda,
                              const float *b, int ldb, float beta, const float *c, int ldc,
                              const sega_gemm_ext *x) {
    if (m < 0 || n < 0 || k < 0) return SEGA_ERR_INVALID_ARG;
    const int batch = x && x->batch > 1 ? x->batch : 1;
    if (batch > 1 && (tb || n % batch != 0 || x->b_stride < 0 || x->c_stride < 0)) return SEGA_ERR_INVALID_ARG;
    const int per = n / batch;   // the columns each row of a block holds
    const int packed = x && x->a_packed;     // a and lda unused
    const int bpacked = x && x->b_packed;    // b and ldb unused
    if ((!packed && lda < (ta ? m : k)) || (!bpacked && ldb < (tb ? k : per)) || ldc < per) return SEGA_ERR_INVALID_ARG;
    if ((m > 0 && k > 0 && !a && !packed) || (k > 0 && n > 0 && !b && !bpacked) || (m > 0 && n > 0 && !c))
        return SEGA_ERR_INVALID_ARG;
    if (!x) return SEGA_OK;
    if (packed && x->a_mask) return SEGA_ERR_INVALID_ARG;
    if (bpacked && (x->b_mask || batch > 1)) return SEGA_ERR_INVALID_ARG;
    if ((x->b_mask && tb) || (x->a_mask && ta)) return SEGA_ERR_INVALID_ARG;
    if (x->row_bias && beta != 0.0f) return SEGA_ERR_INVALID_ARG;
    if (x->col_bias && (beta != 0.0f || x->row_bias || batch > 1)) return SEGA_ERR_INVALID_ARG;
    if (x->act < SEGA_ACT_NONE || x->act > SEGA_ACT_RELU6) return SEGA_ERR_INVALID_ARG;
    if (x->mask && x->act == SEGA_ACT_NONE) return SEGA_ERR_INVALID_ARG;
    return SEGA_OK;
}

// Padded multiply-adds of an m x n product on tiles of a descriptor (what its kernel computes).
static double padded_work(const sega_gemm_kdesc *d, int m, int n) {
    return (double)((m + d->mr - 1) / d->mr * d->mr) * (double)((n + d->nr - 1) / d->nr * d->nr);
}

// The engine's micro-kernel, or an alternative when that computes clearly less padding: the
// same-ISA narrow tile (AVX-512 12 x 32) on any CPU, the AVX2 6 x 16 tile only where the CPU runs
// it at the same FMA rate (AVX-512 at half rate, e.g. Zen 4; elsewhere the 512-bit kernels do
// twice the work per instruction). Policy (testing hook): -1 that, 0 the engine's own kernel
// always, 1 every alternative wherever it pads less whatever the CPU, 2 only the narrow tile.
static int g_kernel_policy = -1;

void sega_gemm_set_kernel_policy(int policy) { g_kernel_policy = policy < 0 ? -1 : (policy > 2 ? 2 : policy); }

static const sega_gemm_kdesc *choose_kdesc(const sega_engine *e, int m, int n) {
    const sega_gemm_kdesc *d = e->gemm, *best = d;
    if (g_kernel_policy == 0) return d;
    double w = 0.9 * padded_work(d, m, n);
    const sega_gemm_kdesc *narrow = sega_gemm_kdesc_narrow(e->isa), *alt = sega_gemm_kdesc_alt(e->isa);
    if (narrow && padded_work(narrow, m, n) < w) { best = narrow; w = padded_work(narrow, m, n); }
    const int use_alt = g_kernel_policy == 1 || (g_kernel_policy == -1 && sega__cpu_avx512_half_rate());
    if (alt && use_alt && padded_work(alt, m, n) < w) best = alt;
    return best;
}

// Split columns or rows, whichever gives the cheaper slowest thread: its share of the
// multiply-adds (whole tiles, so uneven splits count) plus its packing, weighted as
// SEGA_GEMM_PACK_COST multiply-adds per packed element (per unit of K, both sides).
static void plan_split(gemm_job *j, int T) {
    const sega_gemm_kdesc *d = j->d;
    const int m = j->m, n = j->n;
    const int ntiles = (n + d->nr - 1) / d->nr, mtiles = (m + d->mr - 1) / d->mr;
    if ((double)m * (double)n * (double)j->k < g_mt_min_work) T = 1;
    int split_n = 1;
    if (T > 1) {
        const int tn = T < ntiles ? T : ntiles, tm = T < mtiles ? T : mtiles;
        double cols = (double)((ntiles + tn - 1) / tn) * d->nr, rows = (double)((mtiles + tm - 1) / tm) * d->mr;
        if (cols > n) cols = n;
        if (rows > m) rows = m;
        // (A prepacked B costs nothing to pack.)
        const double bw = j->bpk ? 0.0 : 1.0;
        const double cost_n = (double)m * cols + SEGA_GEMM_PACK_COST * ((double)m + bw * cols);
        const double cost_m = rows * (double)n + SEGA_GEMM_PACK_COST * (rows + bw * (double)n);
        split_n = cost_n <= cost_m;
    }
    j->split_n = split_n;
    j->unit = split_n ? d->nr : d->mr;
    const int tiles = split_n ? ntiles : mtiles;
    if (T > tiles) T = tiles;
    j->nparts = T < 1 ? 1 : T;
}

// ---------------------------------------------------------------------------------------------
// A packed once (sega_gemm_pack_a): a 64-byte header (which micro-kernel, m, k), then for each
// K block (the same blocks sega_sgemm_ex cuts, a function of k alone) the MR-tall slivers of all
// m rows, as pack_a writes them for one block of C: the driver reads them in place.

#define SEGA_APACK_HEADER 16
#define SEGA_APACK_MAGIC 0x53504b41   // "APKS"

// The engine's descriptors a packed A may name: 0 its own, 1 the narrow tile, 2 the AVX2 one.
static const sega_gemm_kdesc *kdesc_slot(const sega_engine *e, int slot) {
    if (slot == 0) return e->gemm;
    if (slot == 1) return sega_gemm_kdesc_narrow(e->isa);
    if (slot == 2) return sega_gemm_kdesc_alt(e->isa);
    return NULL;
}

static int kdesc_slot_of(const sega_engine *e, const sega_gemm_kdesc *d) {
    for (int s = 0; s < 3; s++) if (kdesc_slot(e, s) == d) return s;
    return -1;
}

// K block size of a product with this k (as sega_sgemm_ex cuts it).
static int kc_block(const sega_gemm_kdesc *d, int k) {
    const int nkb = (k + d->kc - 1) / d->kc;
    return nkb > 0 ? (k + nkb - 1) / nkb : 0;
}

// The descriptor a packed A was made for, if it is one of e's and matches m and k; else NULL.
static const sega_gemm_kdesc *packed_a_kdesc(const sega_engine *e, const float *packed, int m, int k) {
    int h[6];
    memcpy(h, packed, sizeof h);
    if (h[0] != SEGA_APACK_MAGIC || h[2] != m || h[3] != k) return NULL;
    const sega_gemm_kdesc *d = kdesc_slot(e, h[1]);
    return d && d->mr == h[4] && d->kc == h[5] ? d : NULL;   // packed on an engine of another ISA: refused
}

size_t sega_gemm_packed_a_floats(const sega_engine *e, int m, int n_hint, int k) {
    if (!e || m < 0 || k < 0 || n_hint < 0) return 0;
    const sega_gemm_kdesc *d = choose_kdesc(e, m, n_hint);
    return SEGA_APACK_HEADER + (size_t)((m + d->mr - 1) / d->mr * d->mr) * (size_t)k;
}

size_t sega_gemm_packed_a_floats_max(int m, int k) {
    if (m < 0 || k < 0) return 0;
    return SEGA_APACK_HEADER + (size_t)(m + SEGA_MAX_MR - 1) * (size_t)k;   // MR <= SEGA_MAX_MR
}

sega_status sega_gemm_pack_a(sega_engine *e, int trans_a, int m, int n_hint, int k, const float *a,
                             int lda, float *out) {
    if (!e || !out || m < 0 || k < 0 || n_hint < 0 || lda < (trans_a ? m : k) || (m > 0 && k > 0 && !a))
        return SEGA_ERR_INVALID_ARG;
    const sega_gemm_kdesc *d = choose_kdesc(e, m, n_hint);
    const int h[6] = {SEGA_APACK_MAGIC, kdesc_slot_of(e, d), m, k, d->mr, d->kc};
    memset(out, 0, SEGA_APACK_HEADER * sizeof(float));
    memcpy(out, h, sizeof h);
    const int kcb = kc_block(d, k), mpad = (m + d->mr - 1) / d->mr * d->mr;
    for (int pc = 0; pc < k && m > 0; pc += kcb) {
        const int kc = k - pc < kcb ? k - pc : kcb;
        pack_a_fn(d)(trans_a != 0, a, lda, 0, m, pc, kc, out + SEGA_APACK_HEADER + (size_t)pc * (size_t)mpad);
    }
    return SEGA_OK;
}

// B packed once (sega_gemm_pack_b): the same header (another magic; n in place of m, NR in place
// of MR), then for each K block the NR-wide slivers of all n columns, as pack_b writes them for
// one panel starting at column 0: the driver reads any panel (whole slivers) in place.

#define SEGA_BPACK_MAGIC 0x53504b42   // "BPKS"

static const sega_gemm_kdesc *packed_b_kdesc(const sega_engine *e, const float *packed, int n, int k) {
    int h[6];
    memcpy(h, packed, sizeof h);
    if (h[0] != SEGA_BPACK_MAGIC || h[2] != n || h[3] != k) return NULL;
    const sega_gemm_kdesc *d = kdesc_slot(e, h[1]);
    return d && d->nr == h[4] && d->kc == h[5] ? d : NULL;   // packed on an engine of another ISA: refused
}

// Rounded up to whole 64-byte lines, so that buffers laid end to end stay aligned.
static size_t whole_lines(size_t floats) { return (floats + 15) / 16 * 16; }

size_t sega_gemm_packed_b_floats(const sega_engine *e, int m_hint, int n, int k) {
    if (!e || m_hint < 0 || n < 0 || k < 0) return 0;
    const sega_gemm_kdesc *d = choose_kdesc(e, m_hint, n);
    return whole_lines(SEGA_APACK_HEADER + (size_t)((n + d->nr - 1) / d->nr * d->nr) * (size_t)k);
}

size_t sega_gemm_packed_b_floats_max(int n, int k) {
    if (n < 0 || k < 0) return 0;
    // n padded to the widest multiple of any descriptor's NR an engine may pack for.
    const sega_gemm_kdesc *all[] = {
        &k_portable,
#if SEGA_HAVE_X86_KERNELS
        &k_avx2, &k_avx512, &k_avx512_narrow,
#endif
    };
    size_t npad = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const size_t p = (size_t)((n + all[i]->nr - 1) / all[i]->nr * all[i]->nr);
        if (p > npad) npad = p;
    }
    return whole_lines(SEGA_APACK_HEADER + npad * (size_t)k);
}

// The micro-kernels load B slivers with aligned vector loads.
SEGA_INLINE int aligned64(const float *p) { return ((uintptr_t)p & 63u) == 0; }

sega_status sega_gemm_pack_b(sega_engine *e, int trans_b, int m_hint, int n, int k, const float *b,
                             int ldb, float *out) {
    if (!e || !out || !aligned64(out) || m_hint < 0 || n < 0 || k < 0 || ldb < (trans_b ? k : n) ||
        (n > 0 && k > 0 && !b))
        return SEGA_ERR_INVALID_ARG;
    const sega_gemm_kdesc *d = choose_kdesc(e, m_hint, n);
    const int h[6] = {SEGA_BPACK_MAGIC, kdesc_slot_of(e, d), n, k, d->nr, d->kc};
    memset(out, 0, SEGA_APACK_HEADER * sizeof(float));
    memcpy(out, h, sizeof h);
    const int kcb = kc_block(d, k), npad = (n + d->nr - 1) / d->nr * d->nr;
    for (int pc = 0; pc < k && n > 0; pc += kcb) {
        const int kc = k - pc < kcb ? k - pc : kcb;
        d->pack_b(trans_b != 0, b, ldb, pc, kc, 0, n, out + SEGA_APACK_HEADER + (size_t)pc * (size_t)npad);
    }
    return SEGA_OK;
}

// The job of an m x n product in `batch` column blocks (no epilogue yet), on the micro-kernel
// that pads a block's columns least.
static gemm_job job_of(sega_engine *e, int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc,
                       int batch) {
    gemm_job j = {0};
    j.d = choose_kdesc(e, m, n / batch);
    j.e = e;
    j.ta = trans_a != 0;
    j.tb = trans_b != 0;
    j.m = m; j.n = n; j.k = k;
    j.alpha = alpha; j.beta = beta;
    j.a = a; j.lda = lda; j.b = b; j.ldb = ldb; j.c = c; j.ldc = ldc;
    j.per = n / batch;
    return j;
}

sega_status sega_sgemm_ex(sega_engine *e, int trans_a, int trans_b, int m, int n, int k, float alpha,
                          const float *a, int lda, const float *b, int ldb, float beta, float *c,
                          int ldc, const sega_gemm_ext *x) {
    if (!e) return SEGA_ERR_INVALID_ARG;
    const sega_status st = check_args(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc, x);
    if (st != SEGA_OK) return st;
    if (m == 0 || n == 0) return SEGA_OK;
    const int batch = x && x->batch > 1 ? x->batch : 1;
    gemm_job j = job_of(e, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch);
    if (x) {
        j.bst = x->b_stride; j.cst = x->c_stride;
        j.bias = x->row_bias; j.act = x->act; j.mask = x->mask; j.bmask = x->b_mask; j.amask = x->a_mask;
        j.col_bias = x->col_bias;
        if (x->a_packed) {
            const sega_gemm_kdesc *pd = packed_a_kdesc(e, x->a_packed, m, k);
            if (!pd) return SEGA_ERR_INVALID_ARG;
            j.d = pd;
            j.apk = x->a_packed + SEGA_APACK_HEADER;
            j.mpad = (m + pd->mr - 1) / pd->mr * pd->mr;
        }
        if (x->b_packed) {
            const sega_gemm_kdesc *pd = aligned64(x->b_packed) ? packed_b_kdesc(e, x->b_packed, n, k) : NULL;
            if (!pd || (j.apk && pd != j.d)) return SEGA_ERR_INVALID_ARG;
            j.d = pd;
            j.bpk = x->b_packed + SEGA_APACK_HEADER;
            j.npad = (n + pd->nr - 1) / pd->nr * pd->nr;
        }
    }
    if (k == 0 || alpha == 0.0f) {
        if (j.col_bias) {   // C is the bias
            fill_col_bias(&j, 0, m, 0, n);
            j.beta = 1.0f;
        }
        scale_c(&j);
        return SEGA_OK;
    }
    // K blocks of nearly equal size (a function of k alone: thread-count independent).
    j.kc_blk = kc_block(j.d, k);
    plan_split(&j, e->nthreads);
    if (j.nparts == 1) gemm_task(&j, 0, 1);
    else sega_pool_run(e->pool, gemm_task, &j, j.nparts);
    return SEGA_OK;
}

// One thread's product for kernels that split their work over the engine's threads themselves
// (gemm_internal.h): the whole m x n product on pool thread `tid`'s packing buffers, with the
// same K blocks, micro-kernel choice and per-element order as sega_sgemm on any thread count.
void sega__sgemm_thread(sega_engine *e, int tid, int trans_a, int trans_b, int m, int n, int k,
                        float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                        float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    gemm_job j = job_of(e, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 1);
    if (k == 0 || alpha == 0.0f) {
        scale_c(&j);
        return;
    }
    j.kc_blk = kc_block(j.d, k);
    j.nparts = 1;
    j.unit = j.d->mr;
    gemm_block(&j, tid, 0, m, 0, n);
}

sega_status sega_sgemm(sega_engine *e, int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta, float *c,
                       int ldc) {
    return sega_sgemm_ex(e, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
}

const char *sega_gemm_kernel_name(const sega_engine *e) {
    return e && e->gemm ? e->gemm->name : "none";
}
