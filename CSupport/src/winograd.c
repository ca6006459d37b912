// winograd.c - F(2x2, 3x3) and F(4x4, 3x3) Winograd convolution (see sega_winograd.h): weight
// packing, the per-block driver and its threading. The tile transforms are in
// winograd_transforms.c (per ISA); the weight transforms here (Lavin & Gray 2015, section 4):
//   F(2x2, 3x3): G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   F(4x4, 3x3): G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
// and U = G g G^T (in double, rounded once to float).
//
// One block of tiles per task: its input transform is written straight into packed B slivers
// (per transform point and K block, as gemm.c packs B), the products (one per point) run the
// micro-kernel on the weights packed once (A slivers), into a padded C buffer, then the output
// transform writes the tiles. Blocks (with fewer blocks than threads: a block and a range of
// output rows) are claimed from a counter; an output's arithmetic is fixed by its tile and
// channel alone, so neither the split nor the thread that runs it changes a byte.
#include "engine_internal.h"
#include "winograd_internal.h"
#include "sega_winograd.h"
#include <stdatomic.h>
#include <string.h>

// Weight rows are padded to a multiple of this in every size (a multiple of every MR: 4, 6, 8),
// so sizes never depend on the engine.
#define WINO_ROWPAD 24
// Blocks hold a multiple of this many tiles (a multiple of every NR: 16, 48).
#define WINO_TILEPAD 48
// Target bytes of one thread's transformed input and products (an L2-sized block).
#define WINO_BLOCK_BYTES (1536u * 1024u)

static size_t roundup(size_t v, size_t r) { return (v + r - 1) / r * r; }

static int valid_tile(int tile) { return tile == 2 || tile == 4; }
// Transform points of a tile: (tile + 2)^2.
static int points(int tile) { return (tile + 2) * (tile + 2); }

size_t sega_wino_weight_floats(int tile, int m, int k) {
    if (!valid_tile(tile) || m <= 0 || k <= 0) return 0;
    return (size_t)points(tile) * roundup((size_t)m, WINO_ROWPAD) * (size_t)k;
}

int sega_wino_tile(int k, int m, int h, int w) {
    return h >= 12 && w >= 12 && (long)k * m <= 256L * 256L ? 4 : 2;
}

// Tiles per block for k + m channels (symmetric: one size serves both directions).
static int block_tiles(int tile, int k, int m) {
    const size_t per_tile = (size_t)points(tile) * ((size_t)k + roundup((size_t)m, WINO_ROWPAD) + WINO_ROWPAD) * 4;
    size_t t = WINO_BLOCK_BYTES / per_tile / WINO_TILEPAD * WINO_TILEPAD;
    return t < WINO_TILEPAD ? WINO_TILEPAD : (int)t;
}

// Padding after a row's tile * tiles + 2 input columns: what the vector transforms read (or the
// output transform writes) past the last tile of a run, whose last chunk of 8 may be partial.
static int row_slack(int tile) { return 8 * tile + 8; }

// Row buffer length for a map of width w, rounded.
static size_t row_floats(int tile, int w) {
    return roundup((size_t)(w + tile - 1) / (size_t)tile * (size_t)tile + 2 + (size_t)row_slack(tile), 16);
}

// One thread's scratch: V (P x k x tb), C (P x rows x tb), tile + 2 rows (the input
// transform's; the output transform uses tile of them).
static size_t slot_floats(int tile, int k, int m, int w) {
    const size_t tb = (size_t)block_tiles(tile, k, m);
    const size_t big = (size_t)(k > m ? k : m), small = (size_t)(k > m ? m : k);
    return roundup((size_t)points(tile) * tb * (roundup(big, WINO_ROWPAD) + roundup(small, WINO_ROWPAD)) +
                   (size_t)(tile + 2) * row_floats(tile, w), 16);
}

size_t sega_wino_ws_floats(int tile, int k, int m, int w, int slots) {
    if (!valid_tile(tile) || k <= 0 || m <= 0 || w <= 0 || slots <= 0) return 0;
    return slot_floats(tile, k, m, w) * (size_t)slots;
}

// K block size for k channels, as gemm.c picks it (nearly equal blocks of at most d->kc).
static int kblock_size(const sega_gemm_kdesc *d, int k) {
    const int nkb = (k + d->kc - 1) / d->kc;
    return (k + nkb - 1) / nkb;
}

static const double g_f2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double g_f4[6][3] = {{0.25, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};

// U = G g G^T for one 3x3 kernel (rotated 180 degrees when `rot`), in double, rounded once.
static void weight_transform(int tile, const float *g, int rot, float *u) {
    const int a = tile + 2;
    const double(*G)[3] = tile == 2 ? g_f2 : g_f4;
    double k[3][3], t[6][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) k[i][j] = rot ? g[(2 - i) * 3 + (2 - j)] : g[i * 3 + j];
    for (int r = 0; r < a; r++)
        for (int c = 0; c < 3; c++) t[r][c] = G[r][0] * k[0][c] + G[r][1] * k[1][c] + G[r][2] * k[2][c];
    for (int r = 0; r < a; r++)
        for (int c = 0; c < a; c++) u[r * a + c] = (float)(t[r][0] * G[c][0] + t[r][1] * G[c][1] + t[r][2] * G[c][2]);
}

// Columns the products compute for `tiles` tiles in blocks of at most tb_max, nr-wide slivers
// (the split of split_blocks at one thread).
static double padded_cols(int nr, int tiles, int tb_max) {
    const int blocks = (tiles + tb_max - 1) / tb_max;
    const int tb = (int)roundup((size_t)((tiles + blocks - 1) / blocks), (size_t)nr);
    return (double)(tiles / tb * tb) + (double)roundup((size_t)(tiles % tb), (size_t)nr);
}

// The micro-kernel a call with k -> m channels over `tiles` tiles runs: the engine's, or its
// alternative when that pads the products clearly less (as gemm.c chooses per call; a function
// of the shapes alone, so the packing and the call agree; either gives the same bits).
static const sega_gemm_kdesc *wino_kdesc(const sega_engine *e, int tile, int k, int m, int tiles) {
    const sega_gemm_kdesc *d = e->gemm, *alt = sega_gemm_kdesc_alt(e->isa);
    if (!alt) return d;
    const int tb = block_tiles(tile, k, m);
    const double pd = (double)roundup((size_t)m, (size_t)d->mr) * padded_cols(d->nr, tiles, tb);
    const double pa = (double)roundup((size_t)m, (size_t)alt->mr) * padded_cols(alt->nr, tiles, tb);
    return pa < (sega__cpu_avx512_half_rate() ? 0.9 : 0.5) * pd ? alt : d;
}

static int tile_count(int tile, int n, int h, int w) { return n * ((h + tile - 1) / tile) * ((w + tile - 1) / tile); }

typedef struct pack_job {
    const sega_gemm_kdesc *d;
    int tile, cin, cout, backward, kcb;
    size_t mp;
    const float *wt;
    float *packed;
} pack_job;

// Kernels of output channels [co0, co1): each (co, ci) pair writes its own packed elements.
static void pack_range(const pack_job *j, int co0, int co1) {
    const int k = j->backward ? j->cout : j->cin, np = points(j->tile), mr = j->d->mr;
    for (int co = co0; co < co1; co++)
        for (int ci = 0; ci < j->cin; ci++) {
            float u[WINO_PMAX];
            weight_transform(j->tile, j->wt + ((size_t)co * j->cin + ci) * 9, j->backward, u);
            const int row = j->backward ? ci : co, col = j->backward ? co : ci;
            const int pc = col / j->kcb * j->kcb, kc = k - pc < j->kcb ? k - pc : j->kcb;
            const size_t at = (size_t)pc * j->mp + (size_t)(row / mr * mr) * kc + (size_t)(col - pc) * mr + row % mr;
            for (int p = 0; p < np; p++) j->packed[(size_t)p * j->mp * k + at] = u[p];
        }
}

static void pack_task(void *ctx, int index, int count) {
    const pack_job *j = (const pack_job *)ctx;
    pack_range(j, (int)((long)j->cout * index / count), (int)((long)j->cout * (index + 1) / count));
}

void sega_wino_pack_weights(sega_engine *e, int tile, int n, int h, int w, int cin, int cout, const float *wt,
                            int backward, float *packed) {
    if (!valid_tile(tile)) return;
    const int m = backward ? cin : cout, k = backward ? cout : cin;
    pack_job j = {wino_kdesc(e, tile, k, m, tile_count(tile, n, h, w)), tile, cin, cout, backward, 0, 0, wt, packed};
    j.mp = roundup((size_t)m, (size_t)j.d->mr);
    j.kcb = kblock_size(j.d, k);
    memset(packed, 0, sega_wino_weight_floats(tile, m, k) * sizeof(float));
    const int tasks = e->nthreads < cout ? e->nthreads : cout;
    if (tasks <= 1) pack_range(&j, 0, cout);
    else sega_pool_run(e->pool, pack_task, &j, tasks);
}

// ---------------------------------------------------------------------------------------------
// The driver.

typedef struct wino_job {
    const sega_wino_args *a;
    const sega_gemm_kdesc *d;
    const wino_fns *f;
    int T, np;   // tile side, transform points
    int th, tw, tiles, tb, blocks, kcb;
    int mparts, mrows;   // output rows split into mparts parts of mrows (a multiple of MR) each
    size_t mp, slot;
    atomic_int next;
} wino_job;

// A run of tiles inside one tile row: image, tile row, first tile column, length.
typedef struct { int img, ty, tx, len; } wino_seg;

SEGA_INLINE wino_seg seg_at(const wino_job *j, int t, int end) {
    const int per = j->th * j->tw, rem = t % per;
    wino_seg s = {t / per, rem / j->tw, rem % j->tw, 0};
    s.len = j->tw - s.tx < end - t ? j->tw - s.tx : end - t;
    return s;
}

// Input columns T*tx - 1 ... T*(tx + len) of source row y of plane `plane` into buf (zero outside
// the map; masked elements as +0).
static void fill_row(const wino_job *j, const float *plane, const uint8_t *mplane, int y, int tx, int len, float *buf) {
    const int w = j->a->w, x0 = j->T * tx - 1, n = j->T * len + 2;
    memset(buf + n, 0, (size_t)row_slack(j->T) * sizeof(float));   // read by a partial vector chunk
    if (y < 0 || y >= j->a->h) {
        memset(buf, 0, (size_t)n * sizeof(float));
        return;
    }
    // buf[i] holds column x0 + i; columns in [0, w) are i in [lo, hi)
    const int lo = x0 < 0 ? -x0 : 0, hi = w - x0 < n ? w - x0 : n;
    for (int i = 0; i < lo; i++) buf[i] = 0.0f;
    for (int i = hi; i < n; i++) buf[i] = 0.0f;
    const float *r = plane + (size_t)y * w + x0;
    if (!mplane) {
        memcpy(buf + lo, r + lo, (size_t)(hi - lo) * sizeof(float));
        return;
    }
    const uint8_t *mr = mplane + (size_t)y * w + x0;
    for (int i = lo; i < hi; i++) buf[i] = mr[i] ? r[i] + 0.0f : 0.0f;
}

// Transformed input of tiles [t0, t0 + nt) into V (packed B slivers per point and K block; the
// columns nt..ntp-1 zero).
static void input_block(const wino_job *j, float *V, float *rows, int t0, int nt, int ntp) {
    const sega_wino_args *a = j->a;
    const int nr = j->d->nr, rf = (int)row_floats(j->T, a->w);
    const size_t pstride = (size_t)a->k * ntp, plane = (size_t)a->h * a->w;
    for (int c = 0; c < a->k; c++) {
        const int pc = c / j->kcb * j->kcb, kc = a->k - pc < j->kcb ? a->k - pc : j->kcb;
        float *vc = V + (size_t)pc * ntp + (size_t)(c - pc) * nr;   // + sliver * kc * nr + lane
        for (int t = t0; t < t0 + nt;) {
            const wino_seg s = seg_at(j, t, t0 + nt);
            const size_t off = ((size_t)s.img * a->k + c) * plane;
            for (int r = 0; r < j->T + 2; r++)
                fill_row(j, a->src + off, a->src_mask ? a->src_mask + off : NULL, j->T * s.ty - 1 + r, s.tx, s.len, rows + r * rf);
            for (int q = 0; q < s.len;) {   // runs inside one sliver
                const int col = t - t0 + q, lane = col % nr, len = nr - lane < s.len - q ? nr - lane : s.len - q;
                j->f->in(rows + j->T * q, rf, len, vc + (size_t)(col / nr) * kc * nr + lane, pstride);
                q += len;
            }
            t += s.len;
        }
        if (nt < ntp)   // the last sliver's unused lanes (ntp - nt < nr)
            for (int p = 0; p < j->np; p++)
                memset(vc + (size_t)p * pstride + (size_t)(nt / nr) * kc * nr + nt % nr, 0, (size_t)(ntp - nt) * sizeof(float));
    }
}

// Rows [r0, r1) of the products C_p [mp x ntp] = U_p [mp x k] V_p [k x ntp] through the
// micro-kernel (r0, r1 multiples of MR, or r1 = mp).
static void products(const wino_job *j, const float *V, float *C, int ntp, int r0, int r1) {
    const sega_gemm_kdesc *d = j->d;
    const int k = j->a->k, mp = (int)j->mp;
    for (int p = 0; p < j->np; p++) {
        const float *Up = j->a->packed + (size_t)p * mp * k, *Vp = V + (size_t)p * k * ntp;
        float *Cp = C + (size_t)p * mp * ntp;
        for (int pc = 0; pc < k; pc += j->kcb) {
            const int kc = k - pc < j->kcb ? k - pc : j->kcb;
            const float beta = pc == 0 ? 0.0f : 1.0f;
            for (int jr = 0; jr < ntp; jr += d->nr) {
                const float *bs = Vp + (size_t)pc * ntp + (size_t)jr * kc;
                for (int ir = r0; ir < r1; ir += d->mr)
                    d->fn(kc, Up + (size_t)pc * mp + (size_t)ir * kc, bs, Cp + (size_t)ir * ntp + jr, ntp, 1.0f, beta, NULL);
            }
        }
    }
}

// The T output rows of a segment into dst: bias, activation and mask, or accumulation.
static void store_rows(const wino_job *j, const float *orow, int o, wino_seg s) {
    const sega_wino_args *a = j->a;
    const int T = j->T, x0 = T * s.tx, x1 = T * (s.tx + s.len) < a->w ? T * (s.tx + s.len) : a->w;
    const float b = a->bias ? a->bias[o] : 0.0f;
    for (int r = 0; r < T; r++) {
        const int y = T * s.ty + r;
        if (y >= a->h) break;
        const size_t off = (((size_t)s.img * a->m + o) * a->h + y) * a->w;
        j->f->store(orow + (size_t)r * row_floats(T, a->w), x1 - x0, a->dst + off + x0, a->bias ? &b : NULL, a->act,
                    a->mask ? a->mask + off + x0 : NULL, a->accumulate);
    }
}

// Output transform of output channels [o0, o1) of tiles [t0, t0 + nt) from C into dst.
static void output_block(const wino_job *j, const float *C, float *orow, int t0, int nt, int ntp, int o0, int o1) {
    const sega_wino_args *a = j->a;
    const size_t pstride = j->mp * ntp;
    for (int o = o0; o < o1; o++)
        for (int t = t0; t < t0 + nt;) {
            const wino_seg s = seg_at(j, t, t0 + nt);
            j->f->out(C + (size_t)o * ntp + (t - t0), pstride, s.len, orow, row_floats(j->T, a->w));
            store_rows(j, orow, o, s);
            t += s.len;
        }
}

static void wino_task(void *ctx, int index, int count) {
    wino_job *j = (wino_job *)ctx;
    (void)count;
    const sega_wino_args *a = j->a;
    const size_t tb = (size_t)j->tb;
    float *V = a->ws + (size_t)index * j->slot;
    float *C = V + (size_t)j->np * tb * roundup((size_t)a->k, WINO_ROWPAD);
    float *rows = C + (size_t)j->np * tb * roundup((size_t)a->m, WINO_ROWPAD);
    for (;;) {   // items: block b, output row part q (each part transforms the block's input itself)
        const int item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->blocks * j->mparts) break;
        const int b = item / j->mparts, q = item % j->mparts;
        const int t0 = b * j->tb, nt = j->tiles - t0 < j->tb ? j->tiles - t0 : j->tb;
        const int ntp = (int)roundup((size_t)nt, (size_t)j->d->nr);
        const int r0 = q * j->mrows, r1 = r0 + j->mrows < (int)j->mp ? r0 + j->mrows : (int)j->mp;
        input_block(j, V, rows, t0, nt, ntp);
        products(j, V, C, ntp, r0, r1);
        output_block(j, C, rows, t0, nt, ntp, r0, r1 < a->m ? r1 : a->m);
    }
}

// Blocks of at most block_tiles tiles, at least one per thread while each holds a sliver, of
// nearly equal whole slivers. (The split never changes a tile's arithmetic.)
static void split_blocks(wino_job *j, int threads) {
    const int nr = j->d->nr, slivers = (j->tiles + nr - 1) / nr;
    const int tb_max = block_tiles(j->T, j->a->k, j->a->m);
    int blocks = (j->tiles + tb_max - 1) / tb_max;
    if (blocks < threads) blocks = threads < slivers ? threads : slivers;
    j->tb = (int)roundup((size_t)((j->tiles + blocks - 1) / blocks), (size_t)nr);
    j->blocks = (j->tiles + j->tb - 1) / j->tb;
    // Fewer blocks than threads (small maps): split the output rows too, in whole MR slivers.
    const int rs = (int)(j->mp / (size_t)j->d->mr);
    j->mparts = j->blocks < threads ? (threads + j->blocks - 1) / j->blocks : 1;
    if (j->mparts > rs) j->mparts = rs;
    j->mrows = (rs + j->mparts - 1) / j->mparts * j->d->mr;
    j->mparts = (int)((j->mp + (size_t)j->mrows - 1) / (size_t)j->mrows);
}

sega_status sega_wino_conv(sega_engine *e, const sega_wino_args *a) {
    if (!e || !a || !valid_tile(a->tile) || a->n < 1 || a->k < 1 || a->m < 1 || a->h < 1 || a->w < 1 || a->slots < 1)
        return SEGA_ERR_INVALID_ARG;
    if (!a->src || !a->packed || !a->dst || !a->ws || (a->mask && a->act == SEGA_ACT_NONE)) return SEGA_ERR_INVALID_ARG;
    if ((uintptr_t)a->ws % 64 != 0) return SEGA_ERR_INVALID_ARG;   // the kernels' aligned loads
    wino_job j;
    j.a = a;
    j.T = a->tile;
    j.np = points(a->tile);
    j.d = wino_kdesc(e, j.T, a->k, a->m, tile_count(j.T, a->n, a->h, a->w));
    j.f = sega__wino_fns(e, j.T);
    j.th = (a->h + j.T - 1) / j.T;
    j.tw = (a->w + j.T - 1) / j.T;
    j.tiles = tile_count(j.T, a->n, a->h, a->w);
    j.kcb = kblock_size(j.d, a->k);
    j.mp = roundup((size_t)a->m, (size_t)j.d->mr);
    split_blocks(&j, e->nthreads < a->slots ? e->nthreads : a->slots);
    j.slot = slot_floats(j.T, a->k, a->m, a->w);
    atomic_init(&j.next, 0);
    int tasks = e->nthreads < a->slots ? e->nthreads : a->slots;
    if (tasks > j.blocks * j.mparts) tasks = j.blocks * j.mparts;
    if (tasks <= 1) wino_task(&j, 0, 1);
    else sega_pool_run(e->pool, wino_task, &j, tasks);
    return SEGA_OK;
}
