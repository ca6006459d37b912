// winograd.c - F(2x2, 3x3) Winograd convolution (see sega_winograd.h): weight packing, the
// per-block driver and its threading. The transforms are in winograd_transforms.c (per ISA).
//
// Transforms (Lavin & Gray 2015, section 4.1), d a 4x4 input tile, g a 3x3 kernel, Y a 2x2 tile:
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]                        Y = A^T [(G g G^T) . (B^T d B)] A
//
// One block of tiles per task: its input transform is written straight into packed B slivers
// (per transform point and K block, as gemm.c packs B), the 16 products run the engine's
// micro-kernel on the weights packed once (A slivers), into a padded C buffer, then the output
// transform writes the tiles. Blocks are claimed from a counter; a block's arithmetic is fixed
// by its tiles alone, so the thread that runs it never changes a byte.
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

size_t sega_wino_weight_floats(int m, int k) {
    return m <= 0 || k <= 0 ? 0 : (size_t)WINO_P * roundup((size_t)m, WINO_ROWPAD) * (size_t)k;
}

// Tiles per block for k + m channels (symmetric: one size serves both directions).
static int block_tiles(int k, int m) {
    const size_t per_tile = (size_t)WINO_P * ((size_t)k + roundup((size_t)m, WINO_ROWPAD) + WINO_ROWPAD) * 4;
    size_t t = WINO_BLOCK_BYTES / per_tile / WINO_TILEPAD * WINO_TILEPAD;
    return t < WINO_TILEPAD ? WINO_TILEPAD : (int)t;
}

// Row buffer length for a map of width w: 2 * tiles + 2 input columns, rounded.
static size_t row_floats(int w) { return roundup((size_t)(w + 1) / 2 * 2 + 2, 16); }

// One thread's scratch: V (16 x k x tb), C (16 x rows x tb), 4 input rows and 2 output rows.
static size_t slot_floats(int k, int m, int w) {
    const size_t tb = (size_t)block_tiles(k, m);
    const size_t big = (size_t)(k > m ? k : m), small = (size_t)(k > m ? m : k);
    return roundup(WINO_P * tb * (roundup(big, WINO_ROWPAD) + roundup(small, WINO_ROWPAD)) + 6 * row_floats(w), 16);
}

size_t sega_wino_ws_floats(int k, int m, int w, int slots) {
    if (k <= 0 || m <= 0 || w <= 0 || slots <= 0) return 0;
    return slot_floats(k, m, w) * (size_t)slots;
}

// K block size for k channels, as gemm.c picks it (nearly equal blocks of at most d->kc).
static int kblock_size(const sega_gemm_kdesc *d, int k) {
    const int nkb = (k + d->kc - 1) / d->kc;
    return (k + nkb - 1) / nkb;
}

// U = G g G^T for one 3x3 kernel (rotated 180 degrees when `rot`), in double, rounded once.
static void weight_transform(const float *g, int rot, float u[WINO_P]) {
    double k[3][3], t[4][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) k[i][j] = rot ? g[(2 - i) * 3 + (2 - j)] : g[i * 3 + j];
    for (int c = 0; c < 3; c++) {
        t[0][c] = k[0][c];
        t[1][c] = 0.5 * (k[0][c] + k[1][c] + k[2][c]);
        t[2][c] = 0.5 * (k[0][c] - k[1][c] + k[2][c]);
        t[3][c] = k[2][c];
    }
    for (int r = 0; r < 4; r++) {
        u[r * 4 + 0] = (float)t[r][0];
        u[r * 4 + 1] = (float)(0.5 * (t[r][0] + t[r][1] + t[r][2]));
        u[r * 4 + 2] = (float)(0.5 * (t[r][0] - t[r][1] + t[r][2]));
        u[r * 4 + 3] = (float)t[r][2];
    }
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
static const sega_gemm_kdesc *wino_kdesc(const sega_engine *e, int k, int m, int tiles) {
    const sega_gemm_kdesc *d = e->gemm, *alt = sega_gemm_kdesc_alt(e->isa);
    if (!alt) return d;
    const int tb = block_tiles(k, m);
    const double pd = (double)roundup((size_t)m, (size_t)d->mr) * padded_cols(d->nr, tiles, tb);
    const double pa = (double)roundup((size_t)m, (size_t)alt->mr) * padded_cols(alt->nr, tiles, tb);
    return pa < (sega__cpu_avx512_half_rate() ? 0.9 : 0.5) * pd ? alt : d;
}

static int tile_count(int n, int h, int w) { return n * ((h + 1) / 2) * ((w + 1) / 2); }

void sega_wino_pack_weights(sega_engine *e, int n, int h, int w, int cin, int cout, const float *wt, int backward,
                            float *packed) {
    const int m = backward ? cin : cout, k = backward ? cout : cin;
    const sega_gemm_kdesc *d = wino_kdesc(e, k, m, tile_count(n, h, w));
    const size_t mp = roundup((size_t)m, (size_t)d->mr);
    const int kcb = kblock_size(d, k);
    memset(packed, 0, sega_wino_weight_floats(m, k) * sizeof(float));
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++) {
            float u[WINO_P];
            weight_transform(wt + ((size_t)co * cin + ci) * 9, backward, u);
            const int row = backward ? ci : co, col = backward ? co : ci;
            const int pc = col / kcb * kcb, kc = k - pc < kcb ? k - pc : kcb;
            const size_t at = (size_t)pc * mp + (size_t)(row / d->mr * d->mr) * kc + (size_t)(col - pc) * d->mr + row % d->mr;
            for (int p = 0; p < WINO_P; p++) packed[(size_t)p * mp * k + at] = u[p];
        }
}

// ---------------------------------------------------------------------------------------------
// The driver.

typedef struct wino_job {
    const sega_wino_args *a;
    const sega_gemm_kdesc *d;
    const wino_fns *f;
    int th, tw, tiles, tb, blocks, kcb;
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

// Input columns 2*tx - 1 ... 2*(tx + len) of source row y of plane `plane` into buf (zero outside
// the map; masked elements as +0).
static void fill_row(const wino_job *j, const float *plane, const uint8_t *mplane, int y, int tx, int len, float *buf) {
    const int w = j->a->w, x0 = 2 * tx - 1, n = 2 * len + 2;
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
    const int nr = j->d->nr, rf = (int)row_floats(a->w);
    const size_t pstride = (size_t)a->k * ntp, plane = (size_t)a->h * a->w;
    for (int c = 0; c < a->k; c++) {
        const int pc = c / j->kcb * j->kcb, kc = a->k - pc < j->kcb ? a->k - pc : j->kcb;
        float *vc = V + (size_t)pc * ntp + (size_t)(c - pc) * nr;   // + sliver * kc * nr + lane
        for (int t = t0; t < t0 + nt;) {
            const wino_seg s = seg_at(j, t, t0 + nt);
            const size_t off = ((size_t)s.img * a->k + c) * plane;
            for (int r = 0; r < 4; r++)
                fill_row(j, a->src + off, a->src_mask ? a->src_mask + off : NULL, 2 * s.ty - 1 + r, s.tx, s.len, rows + r * rf);
            for (int q = 0; q < s.len;) {   // runs inside one sliver
                const int col = t - t0 + q, lane = col % nr, len = nr - lane < s.len - q ? nr - lane : s.len - q;
                j->f->in(rows + 2 * q, rf, len, vc + (size_t)(col / nr) * kc * nr + lane, pstride);
                q += len;
            }
            t += s.len;
        }
        if (nt < ntp)   // the last sliver's unused lanes (ntp - nt < nr)
            for (int p = 0; p < WINO_P; p++)
                memset(vc + (size_t)p * pstride + (size_t)(nt / nr) * kc * nr + nt % nr, 0, (size_t)(ntp - nt) * sizeof(float));
    }
}

// The 16 products C_p [mp x ntp] = U_p [mp x k] V_p [k x ntp] through the micro-kernel.
static void products(const wino_job *j, const float *V, float *C, int ntp) {
    const sega_gemm_kdesc *d = j->d;
    const int k = j->a->k, mp = (int)j->mp;
    for (int p = 0; p < WINO_P; p++) {
        const float *Up = j->a->packed + (size_t)p * mp * k, *Vp = V + (size_t)p * k * ntp;
        float *Cp = C + (size_t)p * mp * ntp;
        for (int pc = 0; pc < k; pc += j->kcb) {
            const int kc = k - pc < j->kcb ? k - pc : j->kcb;
            const float beta = pc == 0 ? 0.0f : 1.0f;
            for (int jr = 0; jr < ntp; jr += d->nr) {
                const float *bs = Vp + (size_t)pc * ntp + (size_t)jr * kc;
                for (int ir = 0; ir < mp; ir += d->mr)
                    d->fn(kc, Up + (size_t)pc * mp + (size_t)ir * kc, bs, Cp + (size_t)ir * ntp + jr, ntp, 1.0f, beta, NULL);
            }
        }
    }
}

// One output row pair of a segment into dst: bias, activation and mask, or accumulation.
static void store_rows(const wino_job *j, const float *orow, int o, wino_seg s) {
    const sega_wino_args *a = j->a;
    const int x0 = 2 * s.tx, x1 = 2 * (s.tx + s.len) < a->w ? 2 * (s.tx + s.len) : a->w;
    const float b = a->bias ? a->bias[o] : 0.0f;
    for (int r = 0; r < 2; r++) {
        const int y = 2 * s.ty + r;
        if (y >= a->h) break;
        const size_t off = (((size_t)s.img * a->m + o) * a->h + y) * a->w;
        j->f->store(orow + (size_t)r * row_floats(a->w), x1 - x0, a->dst + off + x0, a->bias ? &b : NULL, a->act,
                    a->mask ? a->mask + off + x0 : NULL, a->accumulate);
    }
}

// Output transform of tiles [t0, t0 + nt) from C into dst.
static void output_block(const wino_job *j, const float *C, float *orow, int t0, int nt, int ntp) {
    const sega_wino_args *a = j->a;
    const size_t pstride = j->mp * ntp;
    for (int o = 0; o < a->m; o++)
        for (int t = t0; t < t0 + nt;) {
            const wino_seg s = seg_at(j, t, t0 + nt);
            j->f->out(C + (size_t)o * ntp + (t - t0), pstride, s.len, orow, row_floats(a->w));
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
    float *C = V + WINO_P * tb * roundup((size_t)a->k, WINO_ROWPAD), *rows = C + WINO_P * tb * roundup((size_t)a->m, WINO_ROWPAD);
    for (;;) {
        const int b = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (b >= j->blocks) break;
        const int t0 = b * j->tb, nt = j->tiles - t0 < j->tb ? j->tiles - t0 : j->tb;
        const int ntp = (int)roundup((size_t)nt, (size_t)j->d->nr);
        input_block(j, V, rows, t0, nt, ntp);
        products(j, V, C, ntp);
        output_block(j, C, rows, t0, nt, ntp);
    }
}

// Blocks of at most block_tiles tiles, at least one per thread while each holds a sliver, of
// nearly equal whole slivers. (The split never changes a tile's arithmetic.)
static void split_blocks(wino_job *j, int threads) {
    const int nr = j->d->nr, slivers = (j->tiles + nr - 1) / nr;
    const int tb_max = block_tiles(j->a->k, j->a->m);
    int blocks = (j->tiles + tb_max - 1) / tb_max;
    if (blocks < threads) blocks = threads < slivers ? threads : slivers;
    j->tb = (int)roundup((size_t)((j->tiles + blocks - 1) / blocks), (size_t)nr);
    j->blocks = (j->tiles + j->tb - 1) / j->tb;
}

sega_status sega_wino_conv(sega_engine *e, const sega_wino_args *a) {
    if (!e || !a || a->n < 1 || a->k < 1 || a->m < 1 || a->h < 1 || a->w < 1 || a->slots < 1) return SEGA_ERR_INVALID_ARG;
    if (!a->src || !a->packed || !a->dst || !a->ws || (a->mask && a->act == SEGA_ACT_NONE)) return SEGA_ERR_INVALID_ARG;
    wino_job j;
    j.a = a;
    j.d = wino_kdesc(e, a->k, a->m, tile_count(a->n, a->h, a->w));
    j.f = sega__wino_fns(e);
    j.th = (a->h + 1) / 2;
    j.tw = (a->w + 1) / 2;
    j.tiles = tile_count(a->n, a->h, a->w);
    split_blocks(&j, e->nthreads < a->slots ? e->nthreads : a->slots);
    j.kcb = kblock_size(j.d, a->k);
    j.mp = roundup((size_t)a->m, (size_t)j.d->mr);
    j.slot = slot_floats(a->k, a->m, a->w);
    atomic_init(&j.next, 0);
    int tasks = e->nthreads < a->slots ? e->nthreads : a->slots;
    if (tasks > j.blocks) tasks = j.blocks;
    if (tasks <= 1) wino_task(&j, 0, 1);
    else sega_pool_run(e->pool, wino_task, &j, tasks);
    return SEGA_OK;
}
