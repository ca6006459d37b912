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
#include "engine_internal.h"
#include "sega_gemm.h"

// ---------------------------------------------------------------------------------------------
// Kernel table.

static const sega_gemm_kdesc k_portable = {4, 16, 128, 256, 2048, sega_sgemm_4x16_portable,
                                           sega_pack_a_portable_4x16, sega_pack_b_portable_4x16,
                                           "sgemm_4x16_portable"};
#if SEGA_HAVE_X86_KERNELS
static const sega_gemm_kdesc k_avx2 = {6, 16, 144, 256, 3072, sega_sgemm_6x16_avx2,
                                       sega_pack_a_avx2_6x16, sega_pack_b_avx2_6x16,
                                       "sgemm_6x16_avx2"};
// AVX-512: 8 x 48 tile (24 zmm accumulators). M is a multiple of 8 for every usual channel
// count, so no rows are wasted. Blocking for Zen 4/5 class cores (L1d 48K, L2 1M): KC = 256
// keeps the 48 KB B sliver L1-sized; MC = 512 covers the channel counts of common networks in one
// A block (512 KB in L2), which selects the small-M path in gemm_block (B streamed through
// L2-sized panels); NC bounds the general path's B panel (4 MB, L3).
static const sega_gemm_kdesc k_avx512 = {8, 48, 512, 256, 4032, sega_sgemm_8x48_avx512,
                                         sega_pack_a_avx512_8x48, sega_pack_b_avx512_8x48,
                                         "sgemm_8x48_avx512"};
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

size_t sega_gemm_apack_floats(const sega_gemm_kdesc *d) { return (size_t)d->mc * (size_t)d->kc; }
size_t sega_gemm_bpack_floats(const sega_gemm_kdesc *d) { return (size_t)d->nc * (size_t)d->kc; }

// ---------------------------------------------------------------------------------------------
// Macro-kernel: all MR x NR tiles of an mc x nc block of C.

#define SEGA_MAX_TILE (16 * 64)

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

static void macro_kernel(const sega_gemm_kdesc *d, int mc, int nc, int kc, const float *ap,
                         const float *bp, float *c, long ldc, float alpha, float beta,
                         pf_cursor *pf) {
    const int mr = d->mr, nr = d->nr;
    const sega_ukernel_fn fn = d->fn;
    _Alignas(64) float tile[SEGA_MAX_TILE];
    for (int jr = 0; jr < nc; jr += nr) {
        const int nv = nc - jr < nr ? nc - jr : nr;
        const float *bs = bp + (size_t)jr * kc;
        for (int ir = 0; ir < mc; ir += mr) {
            const int mv = mc - ir < mr ? mc - ir : mr;
            const float *as = ap + (size_t)ir * kc;
            float *ct = c + (size_t)ir * ldc + jr;
            pf_step(pf);
            if (mv == mr && nv == nr) {
                fn(kc, as, bs, ct, ldc, alpha, beta);
            } else {
                // Edge tile: run the same kernel on a private tile holding the valid part of C
                // (same arithmetic as a full tile), then write back only the valid part.
                if (beta != 0.0f) {
                    for (int i = 0; i < mv; i++)
                        for (int j = 0; j < nv; j++) tile[i * nr + j] = ct[(size_t)i * ldc + j];
                }
                fn(kc, as, bs, tile, nr, alpha, beta);
                for (int i = 0; i < mv; i++)
                    for (int j = 0; j < nv; j++) ct[(size_t)i * ldc + j] = tile[i * nr + j];
            }
        }
    }
}

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
} gemm_job;

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
    const int nnc = n1 - njc < ncap ? n1 - njc : ncap;
    if (!j->tb)
        pf_init(pf, j->b + (size_t)npc * j->ldb + njc, j->ldb, nkc, nnc, calls);
    else
        pf_init(pf, j->b + (size_t)njc * j->ldb + npc, j->ldb, nnc, nkc, calls);
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
        const float beta = pc == 0 ? j->beta : 1.0f;
        d->pack_a(j->ta, j->a, j->lda, m0, mrange, pc, kc, ap);
        for (int jc = n0; jc < n1; jc += ncs) {
            const int nc = n1 - jc < ncs ? n1 - jc : ncs;
            d->pack_b(j->tb, j->b, j->ldb, pc, kc, jc, nc, bp);
            // Next panel: next column chunk of this K block, else the first of the next.
            const int last = jc + nc >= n1;
            pf_cursor pf;
            pf_next_panel(&pf, j, last ? pc + kc : pc, last ? n0 : jc + nc, n1, ncs,
                          row_tiles * ((nc + d->nr - 1) / d->nr));
            macro_kernel(d, mrange, nc, kc, ap, bp, j->c + (size_t)m0 * j->ldc + jc, j->ldc,
                         j->alpha, beta, &pf);
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
            const float beta = pc == 0 ? j->beta : 1.0f;
            d->pack_b(j->tb, j->b, j->ldb, pc, kc, jc, nc, bp);
            // Where the next B panel comes from (next K block, else first K block of the next
            // column block), to prefetch it during this panel's micro-kernel calls.
            const int last = pc + kc >= j->k;
            pf_cursor pf;
            pf_next_panel(&pf, j, last ? 0 : pc + kc, last ? jc + nc : jc, n1, ncb,
                          row_tiles * ((nc + d->nr - 1) / d->nr));
            for (int ic = m0; ic < m1; ic += mcb) {
                const int mc = m1 - ic < mcb ? m1 - ic : mcb;
                d->pack_a(j->ta, j->a, j->lda, ic, mc, pc, kc, ap);
                macro_kernel(d, mc, nc, kc, ap, bp, j->c + (size_t)ic * j->ldc + jc, j->ldc,
                             j->alpha, beta, &pf);
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

static void gemm_task(void *ctx, int index, int count) {
    const gemm_job *j = (const gemm_job *)ctx;
    (void)count;
    int lo, hi;
    if (j->split_n) {
        const int units = (j->n + j->unit - 1) / j->unit;
        part_range(units, j->nparts, index, &lo, &hi);
        lo *= j->unit;
        hi = hi * j->unit < j->n ? hi * j->unit : j->n;
        if (lo < hi) gemm_block(j, index, 0, j->m, lo, hi);
    } else {
        const int units = (j->m + j->unit - 1) / j->unit;
        part_range(units, j->nparts, index, &lo, &hi);
        lo *= j->unit;
        hi = hi * j->unit < j->m ? hi * j->unit : j->m;
        if (lo < hi) gemm_block(j, index, lo, hi, 0, j->n);
    }
}

static void scale_c(int m, int n, float beta, float *c, long ldc) {
    for (int i = 0; i < m; i++) {
        float *row = c + (size_t)i * ldc;
        if (beta == 0.0f) {
            for (int jj = 0; jj < n; jj++) row[jj] = 0.0f;
        } else if (beta != 1.0f) {
            for (int jj = 0; jj < n; jj++) row[jj] *= beta;
        }
    }
}

// Work below this many multiply-adds runs on the calling thread only (waking a worker costs
// more than it saves). Tests and the fuzzer lower it to force the threaded path on tiny shapes.
static double g_mt_min_work = 96.0 * 96.0 * 96.0;

void sega_gemm_set_mt_min_work(double work) { g_mt_min_work = work < 0 ? 0 : work; }

sega_status sega_sgemm(sega_engine *e, int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta, float *c,
                       int ldc) {
    if (!e || m < 0 || n < 0 || k < 0) return SEGA_ERR_INVALID_ARG;
    if (lda < (trans_a ? m : k) || ldb < (trans_b ? k : n) || ldc < n)
        return SEGA_ERR_INVALID_ARG;
    if ((m > 0 && k > 0 && !a) || (k > 0 && n > 0 && !b) || (m > 0 && n > 0 && !c))
        return SEGA_ERR_INVALID_ARG;
    if (m == 0 || n == 0) return SEGA_OK;
    if (k == 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return SEGA_OK;
    }

    const sega_gemm_kdesc *d = e->gemm;
    gemm_job j;
    j.d = d;
    j.e = e;
    j.ta = trans_a != 0;
    j.tb = trans_b != 0;
    j.m = m;
    j.n = n;
    j.k = k;
    j.alpha = alpha;
    j.beta = beta;
    j.a = a;
    j.lda = lda;
    j.b = b;
    j.ldb = ldb;
    j.c = c;
    j.ldc = ldc;
    // K blocks of nearly equal size (a function of k alone: thread-count independent).
    {
        const int nkb = (k + d->kc - 1) / d->kc;
        j.kc_blk = (k + nkb - 1) / nkb;
    }

    int T = e->nthreads;
    const double work = (double)m * (double)n * (double)k;
    const int ntiles = (n + d->nr - 1) / d->nr;
    const int mtiles = (m + d->mr - 1) / d->mr;
    if (work < g_mt_min_work) T = 1;
    // Split columns or rows, whichever gives the cheaper slowest thread: its share of the
    // multiply-adds (whole tiles, so uneven splits count) plus its packing, weighted as
    // SEGA_GEMM_PACK_COST multiply-adds per packed element (per unit of K, both sides).
    int split_n = 1;
    if (T > 1) {
        const int tn = T < ntiles ? T : ntiles, tm = T < mtiles ? T : mtiles;
        double cols = (double)((ntiles + tn - 1) / tn) * d->nr, rows = (double)((mtiles + tm - 1) / tm) * d->mr;
        if (cols > n) cols = n;
        if (rows > m) rows = m;
        const double cost_n = (double)m * cols + SEGA_GEMM_PACK_COST * ((double)m + cols);
        const double cost_m = rows * (double)n + SEGA_GEMM_PACK_COST * (rows + (double)n);
        split_n = cost_n <= cost_m;
    }
    if (split_n) {
        j.split_n = 1;
        j.unit = d->nr;
        if (T > ntiles) T = ntiles;
    } else {
        j.split_n = 0;
        j.unit = d->mr;
        if (T > mtiles) T = mtiles;
    }
    if (T < 1) T = 1;
    j.nparts = T;
    if (T == 1) {
        gemm_task(&j, 0, 1);
    } else {
        sega_pool_run(e->pool, gemm_task, &j, T);
    }
    return SEGA_OK;
}

const char *sega_gemm_kernel_name(const sega_engine *e) {
    return e && e->gemm ? e->gemm->name : "none";
}
