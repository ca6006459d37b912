// dwconv.c - direct depthwise convolution (groups == channels), forward and both backwards: the
// driver. It plans a call, picks the kernels of the call's ISA from a table once, and splits the
// channels over the engine's pool; the kernels live in dwconv_<isa>.c.
//
// Padded path (forward and input gradient whenever the column stride is <= 4, the kernel has
// <= 64 taps and a band of padded rows fits the 64 KB stack scratch): each channel is copied
// into a zero-padded, phase-major scratch (see dwplan) so that every tap reads contiguous
// memory with no bounds tests; the AVX2+FMA (or AVX-512) kernel computes blocks of rows x 8/16
// outputs with one broadcast per weight. 3x3 and 5x5 with stride 1 or 2 have fully unrolled
// kernels, other shapes go through a per-call table of tap offsets. Work is split over the
// batch's planes (n images x c channels, one dispatch per call) in contiguous blocks, one per
// pool thread; a plane's result does not depend on who computes it, so any thread count gives
// byte-identical output.
// The stride-1 input gradient is the forward correlation of dy with the flipped kernel; other
// strides gather per (row phase, column phase) class from a zero-padded copy of dy (dwgather)
// into the phase-major scratch and copy the interior out, in bands of padded rows when the plane
// does not fit the scratch (scatter, whole planes only, when dy does not fit).
//
// Direct path (exotic shapes, very wide rows): border/interior split per output row
// (dwconv_direct_impl.h). The weight gradient is per channel on the calling thread.
//
// The padded scratch: scratch row r holds padded input row r. For column stride S the row holds
// S phases of LP floats, phase q holding the padded columns q, q+S, q+2S, ... Then tap column
// j*DW of output ox is element ox + (j*DW)/S of phase (j*DW)%S, so every tap of every stride
// reads contiguous memory and 8 (AVX2) or 16 (AVX-512) consecutive outputs are one unaligned
// load per tap. The phases are long enough (LP >= OW rounded up to 16 plus the largest tap
// offset) that whole vectors can be computed and only the stores at the row end are partial.
// All offsets are computed once per call (dwplan), none in the loops. The scratch (64 KB) lives
// on the worker's stack; planes that do not fit go through it in bands of output rows.
#include "sega_conv.h"
#include "sega_engine.h"
#include "sega_eltwise.h"
#include "sega_threads.h"
#include "dwconv_internal.h"
#include <string.h>

// ---------------------------------------------------------------------------------------------
// Kernel tables, one per ISA (an ISA without its own variant of a kernel uses a lower one's).

static const dw_kernels k_portable = {
    .isa = SEGA_ISA_PORTABLE,
    .plane = {sega_dwconv_taps_portable, sega_dwconv_k3s1_portable, sega_dwconv_k3s2_portable,
              sega_dwconv_k5s1_portable, sega_dwconv_k5s2_portable, sega_dwconv_taps_portable,
              sega_dwconv_taps_portable},
    .fill = {NULL, sega_dwconv_fill_portable, sega_dwconv_fill_portable, sega_dwconv_fill_portable,
             sega_dwconv_fill_portable},
    .extract = {NULL, sega_dwconv_extract_portable, sega_dwconv_extract_portable,
                sega_dwconv_extract_portable, sega_dwconv_extract_portable},
    .scatter = sega_dwconv_scatter_portable,
    .gather = sega_dwconv_gather_portable,
    .interior = {NULL, sega_dwconv_direct_k3s1_portable, sega_dwconv_direct_k3s2_portable,
                 sega_dwconv_direct_k5s1_portable, sega_dwconv_direct_k5s2_portable,
                 sega_dwconv_direct_k7s1_portable, sega_dwconv_direct_k7s2_portable},
    .direct_fwd = sega_dwconv_direct_fwd_portable,
    .direct_bwd = sega_dwconv_direct_bwd_portable,
    .wgrad = sega_dwconv_wgrad_portable,
    .mask_row = sega_dwconv_mask_row_portable,
};

#if SEGA_HAVE_X86_KERNELS
#define DW_AVX2_COMMON                                                                           \
    .fill = {NULL, sega_dwconv_fill_s1_avx2, sega_dwconv_fill_s2_avx2, sega_dwconv_fill_portable,  \
             sega_dwconv_fill_portable},                                                         \
    .extract = {NULL, sega_dwconv_extract_portable, sega_dwconv_extract_s2_avx2,                 \
                sega_dwconv_extract_portable, sega_dwconv_extract_portable},                     \
    .scatter = sega_dwconv_scatter_avx2, .gather = sega_dwconv_gather_avx2,                      \
    .interior = {NULL, sega_dwconv_direct_k3s1_avx2, sega_dwconv_direct_k3s2_avx2,               \
                 sega_dwconv_direct_k5s1_avx2, sega_dwconv_direct_k5s2_avx2,                     \
                 sega_dwconv_direct_k7s1_avx2, sega_dwconv_direct_k7s2_avx2},                    \
    .direct_fwd = sega_dwconv_direct_fwd_avx2, .direct_bwd = sega_dwconv_direct_bwd_avx2,         \
    .wgrad = sega_dwconv_wgrad_avx2, .mask_row = sega_dwconv_mask_row_avx2

static const dw_kernels k_avx2 = {
    .isa = SEGA_ISA_AVX2,
    .plane = {sega_dwconv_taps_avx2, sega_dwconv_k3s1_avx2, sega_dwconv_k3s2_avx2, sega_dwconv_k5s1_avx2,
              sega_dwconv_k5s2_avx2, sega_dwconv_taps_avx2, sega_dwconv_taps_avx2},
    DW_AVX2_COMMON,
};

static const dw_kernels k_avx512 = {
    .isa = SEGA_ISA_AVX512,
    .plane = {sega_dwconv_taps_avx512, sega_dwconv_k3s1_avx512, sega_dwconv_k3s2_avx512,
              sega_dwconv_k5s1_avx512, sega_dwconv_k5s2_avx512, sega_dwconv_taps_avx512,
              sega_dwconv_taps_avx512},
    .narrow = &k_avx2,
    .narrow_ow = DW_VEC,
    DW_AVX2_COMMON,
};
#endif

// The table for one call: the engine's ISA (NULL: the CPU's under the SEGA_ISA cap), at most
// `best` (the best ISA the operation has kernels of its own for).
static const dw_kernels *dw_kernels_for(const sega_engine *e, sega_isa best) {
    const sega_isa isa = sega__kernel_isa(e, best);
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX512) return &k_avx512;
    if (isa == SEGA_ISA_AVX2) return &k_avx2;
#endif
    (void)isa;
    return &k_portable;
}

// ---------------------------------------------------------------------------------------------
// Plans

static pgeom pgeom_of(const sega_conv_geom *g) {
    pgeom p = {g->h, g->w, g->kh, g->kw, g->sh, g->sw, g->pad_t, g->pad_l, g->dh, g->dw, g->oh, g->ow};
    return p;
}

// Geometry of the stride-1 input gradient as a forward: dx = dy (*) flip(w) with padding
// (k-1)*d - pad, output h x w.
static pgeom pgeom_flipped(const sega_conv_geom *g) {
    pgeom p = {g->oh, g->ow, g->kh, g->kw, 1, 1, (g->kh - 1) * g->dh - g->pad_t,
               (g->kw - 1) * g->dw - g->pad_l, g->dh, g->dw, g->h, g->w};
    return p;
}

// Scratch extents: padded rows PH, phase length LP, bands. Returns 0 if the padded path does
// not apply.
static int dwplan_extents(dwplan *P, const pgeom *p) {
    if (p->SW > DW_MAX_SW || (long long)p->KH * p->KW > DW_MAX_TAPS) return 0;
    const long long PH = (long long)(p->OH - 1) * p->SH + (long long)(p->KH - 1) * p->DH + 1;
    // Rounded to 16 so that the AVX-512 kernel may also read whole vectors.
    const long long owr = ((long long)p->OW + 2 * DW_VEC - 1) / (2 * DW_VEC) * (2 * DW_VEC);
    const long long LP = owr + (long long)(p->KW - 1) * p->DW / p->SW;
    const long long RS = LP * p->SW;
    if (PH <= 0) return 0;
    // Planes larger than the scratch go in bands of output rows (each band re-reads the
    // (KH-1)*DH rows it shares with the previous one).
    const long long win = (long long)(p->KH - 1) * p->DH + 1;
    long long band = p->OH;
    if (PH * RS > DW_SCRATCH_FLOATS) {
        const long long rows = DW_SCRATCH_FLOATS / RS;
        if (rows < win) return 0;
        band = (rows - win) / p->SH + 1;
        if (band > p->OH) band = p->OH;
    }
    P->PH = (int)PH; P->LP = (int)LP; P->RS = (int)RS;
    P->band = (int)band;
    P->SR = band >= p->OH ? (int)PH : (int)((band - 1) * p->SH + win);
    return 1;
}

static void dwplan_make(dwplan *P, const pgeom *p) {
    memset(P, 0, sizeof(*P));
    P->p = *p;
    if (!dwplan_extents(P, p)) return;
    sega_tap_range(P->PH, 1, -p->PT, p->H, &P->rlo, &P->rhi);
    for (int q = 0; q < p->SW; q++) sega_tap_range(P->LP, p->SW, q - p->PL, p->W, &P->klo[q], &P->khi[q]);
    P->taps = p->KH * p->KW;
    for (int i = 0; i < p->KH; i++)
        for (int j = 0; j < p->KW; j++) {
            const int cj = j * p->DW;
            P->toff[i * p->KW + j] = i * p->DH * P->RS + (cj % p->SW) * P->LP + cj / p->SW;
        }
    P->shape = DW_TAPS;
    if (p->DH == 1 && p->DW == 1 && p->KH == p->KW && p->SH == p->SW && (p->KH == 3 || p->KH == 5))
        P->shape = dw_shape_of(p->KH, p->SW);
    P->ok = 1;
}

// The padded-path forward kernel for a plan.
static dw_plane_fn dw_pick_plane(const dw_kernels *K, const dwplan *P) {
    if (K->narrow && P->p.OW <= K->narrow_ow) K = K->narrow;
    return K->plane[P->shape];
}

// The direct path's interior kernel for a geometry (NULL: tap by tap).
static dw_interior_fn dw_pick_interior(const dw_kernels *K, const pgeom *p) {
    if (p->DH != 1 || p->DW != 1 || p->KH != p->KW) return NULL;
    return K->interior[dw_shape_of(p->KH, p->SW)];
}

// Gather tables of a plan. A class sums its taps in the order of the list: kernel rows top to
// bottom, or (`rows_up`) bottom to top, columns left to right within a row. Bottom to top is
// the order in which the direct path's scatter (oy ascending) adds an input pixel's terms, so a
// gather in that order gives the scatter's bits; the banded gather (planes larger than the
// scratch, which went through the scatter before) uses it, whole planes keep top to bottom.
static void dwgather_make(dwgather *G, const dwplan *P, int rows_up) {
    const pgeom *p = &P->p;
    G->ok = 0;
    if (!P->ok || p->SH > DW_MAX_SW || p->SW > DW_MAX_SW) return;
    G->TY = (p->KH - 1) * p->DH / p->SH;
    G->LY = (p->KW - 1) * p->DW / p->SW;
    int kn = 0;
    for (int q = 0; q < p->SW; q++) if (P->khi[q] > kn) kn = P->khi[q];
    G->KN = kn;
    const long long knr = ((long long)kn + DW_VEC - 1) / DW_VEC * DW_VEC;
    const long long nu = ((long long)P->PH + p->SH - 1) / p->SH;
    const long long yw = knr + G->LY, yr = nu + G->TY;
    if (yw * yr > DW_GATHER_FLOATS) return;
    G->YW = (int)yw; G->YR = (int)yr;
    for (int a = 0; a < p->SH; a++)
        for (int q = 0; q < p->SW; q++) G->n[a][q] = 0;
    for (int ii = 0; ii < p->KH; ii++)
        for (int j = 0; j < p->KW; j++) {
            const int i = rows_up ? p->KH - 1 - ii : ii;
            const int a = i * p->DH % p->SH, di = i * p->DH / p->SH;
            const int q = j * p->DW % p->SW, dj = j * p->DW / p->SW;
            const int m = G->n[a][q]++;
            G->t[a][q][m] = i * p->KW + j;
            G->off[a][q][m] = (G->TY - di) * G->YW + (G->LY - dj);
        }
    G->ok = 1;
}

// Y interior = dy (the padding was zeroed once and is never written). Rows and columns of dy
// beyond what any computed position reads (oy >= YR - TY, ox >= YW - LY) are left out.
static void dwg_fill(const dwgather *G, const pgeom *p, const float *restrict dy, float *restrict Y) {
    const int nr = p->OH < G->YR - G->TY ? p->OH : G->YR - G->TY;
    const int nc = p->OW < G->YW - G->LY ? p->OW : G->YW - G->LY;
    for (int oy = 0; oy < nr; oy++)
        memcpy(Y + (size_t)(oy + G->TY) * G->YW + G->LY, dy + (size_t)oy * p->OW, (size_t)nc * sizeof(float));
}

// Zero the part of the scratch the plan uses.
static void dw_zero(const dwplan *P, float *s) { memset(s, 0, (size_t)P->SR * P->RS * sizeof(float)); }

// ---------------------------------------------------------------------------------------------
// Padded-path forward of channels

// Kernels of one padded-path call, chosen once.
typedef struct {
    const dwplan *plan;
    dw_fill_fn fill;
    dw_plane_fn plane;
} dw_padded;

// (The kernels are looked up only for a plan the padded path takes: SW <= DW_MAX_SW there.)
static dw_padded dw_padded_of(const dw_kernels *K, const dwplan *P) {
    dw_padded d = {P, NULL, NULL};
    if (P->ok) {
        d.fill = K->fill[P->p.SW];
        d.plane = dw_pick_plane(K, P);
    }
    return d;
}

// One channel through the scratch s (zeroed by dw_zero before the first channel; the column
// padding is never written, the row padding is rewritten per band when there are several).
static void dw_fwd_one(const dw_padded *D, const float *x, const float *w, float b, float *y, float *s) {
    const dwplan *P = D->plan;
    const pgeom *p = &P->p;
    if (P->band >= p->OH) {
        D->fill(P, x, s, P->rlo, P->rhi, 0);
        D->plane(P, s, w, b, y);
        return;
    }
    dwplan Q = *P;
    for (int oy0 = 0; oy0 < p->OH; oy0 += P->band) {
        const int n = p->OH - oy0 < P->band ? p->OH - oy0 : P->band;
        const int r0 = oy0 * p->SH, r1 = r0 + (n - 1) * p->SH + (p->KH - 1) * p->DH + 1;
        for (int r = r0; r < r1; r++)
            if (r < P->rlo || r >= P->rhi) memset(s + (size_t)(r - r0) * P->RS, 0, (size_t)P->RS * sizeof(float));
        const int ra = r0 > P->rlo ? r0 : P->rlo, rb = r1 < P->rhi ? r1 : P->rhi;
        if (ra < rb) D->fill(P, x, s, ra, rb, r0);
        Q.p.OH = n;
        D->plane(&Q, s, w, b, y + (size_t)oy0 * p->OW);
    }
}

// Number of channel blocks to dispatch: one per pool thread (the split never changes a result,
// each channel is computed the same way whoever computes it), so that each task zeroes its
// scratch once and reuses it for all its channels. At most `cap` blocks.
static int dw_blocks(sega_engine *e, int c, int cap) {
    int n = e ? sega_pool_threads(sega_engine_pool(e)) : 1;
    if (n > c) n = c;
    if (n > cap) n = cap;
    return n < 1 ? 1 : n;
}

static void dw_block_range(int c, int idx, int count, int *c0, int *c1) {
    *c0 = (int)((long long)c * idx / count);
    *c1 = (int)((long long)c * (idx + 1) / count);
}

// Runs task(ctx, i, nb) for the nb blocks: on the pool when there are several.
static void dw_run_blocks(sega_engine *e, int nb, sega_task_fn task, void *ctx) {
    if (e && nb > 1) sega_pool_run(sega_engine_pool(e), task, ctx, nb);
    else task(ctx, 0, 1);
}

// Runs task(ctx, c, n) for each of the n = c channels: on the pool when there are several.
static void dw_run_channels(sega_engine *e, int c, sega_task_fn task, void *ctx) {
    if (e && c > 1) {
        sega_pool_run(sega_engine_pool(e), task, ctx, c);
    } else {
        for (int i = 0; i < c; i++) task(ctx, i, c);
    }
}

// ---------------------------------------------------------------------------------------------
// Forward

// Planes are numbered over the batch: plane q is channel q % c of image q / c, at x + q * h * w
// and y + q * oh * ow (images are contiguous).
typedef struct {
    const sega_conv_geom *g;
    const float *x, *w, *bias;
    float *y;
    const dw_kernels *k;
    dw_interior_fn interior;   // direct path
    dw_padded padded;          // padded path
    int planes;                // n * c
    int act, act_avx2;         // activation after each plane (sega__act_range)
    uint8_t *mask;
} fwd_ctx;

// Planes whose activation runs in one call (small planes are grouped so that the call's cost
// is spread; a group stays in L1/L2: at most this many floats, or one plane).
#define DW_ACT_RUN 4096

// The activation (and mask) on planes [qa, qb), right after they are computed.
static void fwd_act(const fwd_ctx *k, int qa, int qb) {
    if (k->act == SEGA_ACT_NONE || qa >= qb) return;
    const size_t ys = (size_t)k->g->oh * k->g->ow, o = (size_t)qa * ys;
    sega__act_range((size_t)(qb - qa) * ys, k->act, k->y + o, k->mask ? k->mask + o : NULL, k->act_avx2);
}

static void fwd_channel(void *vctx, int q, int count) {
    (void)count;
    const fwd_ctx *k = (const fwd_ctx *)vctx;
    const sega_conv_geom *g = k->g;
    const pgeom p = pgeom_of(g);
    const int c = q % g->c;
    k->k->direct_fwd(&p, k->x + (size_t)q * g->h * g->w, k->w + (size_t)c * g->kh * g->kw,
                     k->bias ? k->bias[c] : 0.0f, k->y + (size_t)q * g->oh * g->ow, k->interior);
    fwd_act(k, q, q + 1);
}

static void fwd_block(void *vctx, int idx, int count) {
    const fwd_ctx *k = (const fwd_ctx *)vctx;
    const sega_conv_geom *g = k->g;
    int q0, q1;
    dw_block_range(k->planes, idx, count, &q0, &q1);
    float s[DW_SCRATCH_FLOATS] __attribute__((aligned(64)));
    const size_t xs = (size_t)g->h * g->w, ys = (size_t)g->oh * g->ow, ws = (size_t)g->kh * g->kw;
    dw_zero(k->padded.plan, s);
    int pending = q0;   // first plane not activated yet
    for (int q = q0; q < q1; q++) {
        const int c = q % g->c;
        dw_fwd_one(&k->padded, k->x + (size_t)q * xs, k->w + (size_t)c * ws, k->bias ? k->bias[c] : 0.0f,
                   k->y + (size_t)q * ys, s);
        if ((size_t)(q + 1 - pending) * ys >= DW_ACT_RUN || q + 1 == q1) {
            fwd_act(k, pending, q + 1);
            pending = q + 1;
        }
    }
}

void sega_dwconv_fwd_batch(sega_engine *e, const sega_conv_geom *g, int n, const float *x, const float *w,
                           const float *bias, float *y, int act, uint8_t *mask) {
    const dw_kernels *K = dw_kernels_for(e, SEGA_ISA_AVX512);
    dwplan plan;
    const pgeom p = pgeom_of(g);
    dwplan_make(&plan, &p);
    const int avx2 = act != SEGA_ACT_NONE && sega__kernel_isa(e, SEGA_ISA_AVX2) == SEGA_ISA_AVX2;
    fwd_ctx k = {g, x, w, bias, y, K, NULL, dw_padded_of(K, &plan), n * g->c, act, avx2, mask};
    if (plan.ok) {
        dw_run_blocks(e, dw_blocks(e, k.planes, k.planes), fwd_block, &k);
        return;
    }
    k.interior = dw_pick_interior(K, &p);
    dw_run_channels(e, k.planes, fwd_channel, &k);
}

void sega_dwconv_fwd(sega_engine *e, const sega_conv_geom *g, const float *x, const float *w,
                     const float *bias, float *y) {
    sega_dwconv_fwd_batch(e, g, 1, x, w, bias, y, SEGA_ACT_NONE, NULL);
}

// ---------------------------------------------------------------------------------------------
// Input gradient
//
// Planes are numbered over the batch as in the forward (plane q: channel q % c of image q / c).
// With a mask (a fused relu/relu6 of the forward), the kernels read mask ? dy + 0 : +0 instead of
// dy (the kernels' mask_row: sega_mask_copy's bytes), masked into the thread block's part of the
// workspace in runs of consecutive planes (up to DW_ACT_RUN floats, or one plane) right before
// they are computed, so that they are read from cache and small planes share a call (masking
// row by row as the scratch is filled, or plane by plane, cost more instructions). With
// `acc`, each plane is computed into the block's own plane of the workspace and then added to
// dx (sega_add_inplace, as the per-image op did).

#define SEGA_DW_FLIP_MAX 256   // largest kh*kw handled through the flipped-kernel forward

typedef struct {
    const sega_conv_geom *g;
    const float *dy, *w;
    float *dx;
    const dw_kernels *k;
    dw_interior_fn interior;  // direct path, stride 1 (flipped forward)
    dw_padded padded;         // stride 1: the flipped forward; else the scatter/gather plan
    const dwgather *gather;   // strided: gather tables (ok == 0: scatter)
    int planes;               // n * c
    const uint8_t *mask;      // NULL: dy as it is
    int acc;                  // dx += the result, else dx = the result
    float *ws;                // block b: ws + b * xs (acc), ws + c * xs + b * room * ys (masked dy)
    size_t xs, ys;            // h * w, oh * ow
    int room;                 // masked dy planes per block (c / blocks)
} bwd_ctx;

// A block's masked planes: [qa, qb) of dy at buf.
typedef struct { int qa, qb, q1; float *buf; } dy_run;

static dy_run bwd_run(const bwd_ctx *k, int b, int q0, int q1) {
    dy_run r = {q0, q0, q1, k->ws ? k->ws + (size_t)k->g->c * k->xs + (size_t)b * k->room * k->ys : NULL};
    return r;
}

// Plane q of dy as the kernels read it: dy itself, or masked in the block's run (the next run
// is masked when q is past the last one).
static const float *bwd_dy(const bwd_ctx *k, int q, dy_run *r) {
    const float *dy = k->dy + (size_t)q * k->ys;
    if (!k->mask) return dy;
    if (q >= r->qb) {
        int m = DW_ACT_RUN / (int)(k->ys < DW_ACT_RUN ? k->ys : DW_ACT_RUN);
        if (m > k->room) m = k->room;
        if (m > r->q1 - q) m = r->q1 - q;
        k->k->mask_row((int)(m * k->ys), k->mask + (size_t)q * k->ys, dy, r->buf);
        r->qa = q;
        r->qb = q + m;
    }
    return r->buf + (size_t)(q - r->qa) * k->ys;
}

// Where plane q's gradient is computed: dx itself, or block b's workspace plane (acc).
static float *bwd_dst(const bwd_ctx *k, int q, int b) {
    return k->acc ? k->ws + (size_t)b * k->xs : k->dx + (size_t)q * k->xs;
}

// Plane q's gradient is in dst: added to dx when accumulating.
static void bwd_done(const bwd_ctx *k, int q, const float *dst) {
    if (k->acc) sega_add_inplace(k->xs, dst, k->dx + (size_t)q * k->xs);
}

// Direct path, one plane (stride 1: the flipped forward; else the kernel's own scatter).
static void bwd_direct_one(const bwd_ctx *k, const float *dy, const float *w, float *dx) {
    const sega_conv_geom *g = k->g;
    const int taps = g->kh * g->kw;
    if (g->sh == 1 && g->sw == 1 && taps <= SEGA_DW_FLIP_MAX) {
        float wf[SEGA_DW_FLIP_MAX];
        for (int t = 0; t < taps; t++) wf[t] = w[taps - 1 - t];
        const pgeom p = pgeom_flipped(g);
        k->k->direct_fwd(&p, dy, wf, 0.0f, dx, k->interior);
        return;
    }
    const pgeom p = pgeom_of(g);
    k->k->direct_bwd(&p, dy, w, dx);
}

static void bwd_direct_block(void *vctx, int idx, int count) {
    const bwd_ctx *k = (const bwd_ctx *)vctx;
    int q0, q1;
    dw_block_range(k->planes, idx, count, &q0, &q1);
    dy_run r = bwd_run(k, idx, q0, q1);
    for (int q = q0; q < q1; q++) {
        float *dst = bwd_dst(k, q, idx);
        bwd_direct_one(k, bwd_dy(k, q, &r), k->w + (size_t)(q % k->g->c) * k->g->kh * k->g->kw, dst);
        bwd_done(k, q, dst);
    }
}

// Stride 1: flipped-kernel forward of dy, plane by plane (w flipped per plane).
static void bwd_flipped(const bwd_ctx *k, int q0, int q1, int b, float *s) {
    const sega_conv_geom *g = k->g;
    const dwplan *P = k->padded.plan;
    const size_t ws = (size_t)g->kh * g->kw;
    float wf[DW_MAX_TAPS];
    const int taps = (int)ws;
    dw_zero(P, s);
    dy_run r = bwd_run(k, b, q0, q1);
    for (int q = q0; q < q1; q++) {
        const float *w = k->w + (size_t)(q % g->c) * ws;
        for (int t = 0; t < taps; t++) wf[t] = w[taps - 1 - t];
        float *dst = bwd_dst(k, q, b);
        dw_fwd_one(&k->padded, bwd_dy(k, q, &r), wf, 0.0f, dst, s);
        bwd_done(k, q, dst);
    }
}

// Strided, dy fits the gather buffer: gather each (row phase, column phase) class, in bands of
// as many padded rows as the scratch holds (each row is computed from Y alone, so the band size
// changes no result).
static void bwd_gathered(const bwd_ctx *k, int q0, int q1, int b, float *s) {
    const sega_conv_geom *g = k->g;
    const dwplan *P = k->padded.plan;
    const dwgather *G = k->gather;
    const size_t xs = k->xs, ws = (size_t)g->kh * g->kw;
    const dw_extract_fn extract = k->k->extract[P->p.SW];
    const int rows = DW_SCRATCH_FLOATS / P->RS;
    float Y[DW_GATHER_FLOATS] __attribute__((aligned(64)));
    memset(Y, 0, (size_t)G->YR * G->YW * sizeof(float));
    dy_run r = bwd_run(k, b, q0, q1);
    for (int q = q0; q < q1; q++) {
        float *dx = bwd_dst(k, q, b);
        dwg_fill(G, &P->p, bwd_dy(k, q, &r), Y);
        memset(dx, 0, xs * sizeof(float));
        for (int ra = P->rlo; ra < P->rhi; ra += rows) {
            const int rb = P->rhi - ra < rows ? P->rhi : ra + rows;
            k->k->gather(P, G, Y, k->w + (size_t)(q % g->c) * ws, s, ra, rb);
            extract(P, s, dx, ra, rb);
        }
        bwd_done(k, q, dx);
    }
}

// Strided, otherwise: scatter dy into the scratch tap by tap.
static void bwd_scattered(const bwd_ctx *k, int q0, int q1, int b, float *s) {
    const sega_conv_geom *g = k->g;
    const dwplan *P = k->padded.plan;
    const size_t xs = k->xs, ws = (size_t)g->kh * g->kw;
    dy_run r = bwd_run(k, b, q0, q1);
    for (int q = q0; q < q1; q++) {
        float *dx = bwd_dst(k, q, b);
        dw_zero(P, s);
        k->k->scatter(P, bwd_dy(k, q, &r), k->w + (size_t)(q % g->c) * ws, s);
        memset(dx, 0, xs * sizeof(float));
        k->k->extract[P->p.SW](P, s + (size_t)P->rlo * P->RS, dx, P->rlo, P->rhi);
        bwd_done(k, q, dx);
    }
}

static void bwd_block(void *vctx, int idx, int count) {
    const bwd_ctx *k = (const bwd_ctx *)vctx;
    int q0, q1;
    dw_block_range(k->planes, idx, count, &q0, &q1);
    float s[DW_SCRATCH_FLOATS] __attribute__((aligned(64)));
    if (k->g->sh == 1 && k->g->sw == 1) bwd_flipped(k, q0, q1, idx, s);
    else if (k->gather->ok) bwd_gathered(k, q0, q1, idx, s);
    else bwd_scattered(k, q0, q1, idx, s);
}

void sega_dwconv_bwd_input_batch(sega_engine *e, const sega_conv_geom *g, int n, const float *dy,
                                 const uint8_t *mask, const float *w, float *dx, int accumulate, float *ws) {
    const dw_kernels *K = dw_kernels_for(e, SEGA_ISA_AVX512);
    dwplan plan;
    dwgather gather;
    gather.ok = 0;
    const int unit = g->sh == 1 && g->sw == 1;
    const pgeom p = unit ? pgeom_flipped(g) : pgeom_of(g);
    dwplan_make(&plan, &p);
    if (!unit) {
        dwgather_make(&gather, &plan, plan.band < g->oh);
        if (plan.band < g->oh && !gather.ok) plan.ok = 0;   // the scatter needs the whole plane
    }
    bwd_ctx k = {g, dy, w, dx, K, NULL, dw_padded_of(K, &plan), &gather, n * g->c, mask, accumulate != 0, ws,
                 (size_t)g->h * g->w, (size_t)g->oh * g->ow, 0};
    // Blocks that use the workspace have at least a plane of it each: at most c blocks.
    const int nb = dw_blocks(e, k.planes, accumulate || mask ? g->c : k.planes);
    k.room = g->c / nb;
    if (!plan.ok && unit) k.interior = dw_pick_interior(K, &p);
    dw_run_blocks(e, nb, plan.ok ? bwd_block : bwd_direct_block, &k);
}

void sega_dwconv_bwd_input(sega_engine *e, const sega_conv_geom *g, const float *dy,
                           const float *w, float *dx) {
    sega_dwconv_bwd_input_batch(e, g, 1, dy, NULL, w, dx, 0, NULL);
}

// ---------------------------------------------------------------------------------------------
// Weight gradient (calling thread only)

void sega_dwconv_bwd_weight(sega_engine *e, const sega_conv_geom *g, const float *x, const float *dy,
                            float *dw) {
    const dw_wgrad_fn wgrad = dw_kernels_for(e, SEGA_ISA_AVX2)->wgrad;
    const pgeom p = pgeom_of(g);
    for (int c = 0; c < g->c; c++)
        wgrad(&p, x + (size_t)c * g->h * g->w, dy + (size_t)c * g->oh * g->ow, dw + (size_t)c * g->kh * g->kw);
}
