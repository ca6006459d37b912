// attention.c - multi-head self-attention's middle (softmax(alpha Q K^T) V), split by rows.
//
// Per image and head the forward is two products and a softmax, the backward four products and
// the softmax's backward, all of them 433 x 433 x 64-sized for a ViT at 288 x 384. Threading each
// product separately costs a wake-up and a join per product and sends rows written on one core
// to the other. Here each thread takes a fixed range of query rows (whole 8-row units, a
// function of l and the thread count only) and runs every step on it with the single-thread
// GEMM (sega__sgemm_thread):
//   forward, one pool run for all images and heads: S_r = alpha Q_r K^T, P_r = softmax(S_r),
//     y_r = P_r V;
//   backward, per image and head, two runs: (1) dP_r = dy_r V^T, dS_r = softmax'(P_r, dP_r),
//     dQ_r = alpha dS_r K; (2) after all of dS exists, the rows j of dV and dK:
//     dV_j = P[:, j]^T dy, dK_j = alpha dS[:, j]^T Q.
// A row range of a product is computed exactly as the whole product computes it (the K blocks
// depend on k alone), so the bytes are those of sega_sgemm / sega_softmax_fwd /
// sega_softmax_bwd_inplace on whole heads, for any thread count.
#include "engine_internal.h"
#include "sega_attention.h"
#include "sega_eltwise.h"
#include <limits.h>

#define SEGA_ATTN_UNIT 8   // rows per unit of the split

typedef struct attn_job {
    sega_engine *e;
    int n, l, d, heads, hd, parts;
    float alpha, beta;
    const float *qkv, *probs, *dy;
    float *p_out, *y, *dp, *dqkv;
    int img, head;   // backward: the image and head in hand
} attn_job;

// Rows [r0, r1) of part t.
static int rows_of(const attn_job *j, int t, int *r0, int *r1) {
    const int units = (j->l + SEGA_ATTN_UNIT - 1) / SEGA_ATTN_UNIT;
    const int base = units / j->parts, rem = units % j->parts;
    const int lo = t * base + (t < rem ? t : rem), hi = lo + base + (t < rem ? 1 : 0);
    *r0 = lo * SEGA_ATTN_UNIT;
    *r1 = hi * SEGA_ATTN_UNIT < j->l ? hi * SEGA_ATTN_UNIT : j->l;
    return *r1 > *r0;
}

static void fwd_task(void *ctx, int t, int count) {
    const attn_job *j = (const attn_job *)ctx;
    (void)count;
    int r0, r1;
    if (!rows_of(j, t, &r0, &r1)) return;
    const int l = j->l, d = j->d, hd = j->hd, ld3 = 3 * d, rows = r1 - r0;
    for (int i = 0; i < j->n; i++) {
        const float *base = j->qkv + (size_t)i * l * ld3;
        for (int h = 0; h < j->heads; h++) {
            float *p = j->p_out + ((size_t)i * j->heads + h) * l * l + (size_t)r0 * l;
            sega__sgemm_thread(j->e, t, 0, 1, rows, l, hd, j->alpha, base + (size_t)r0 * ld3 + h * hd, ld3,
                               base + d + h * hd, ld3, 0.0f, p, l);
            sega_softmax_fwd(j->e, (size_t)rows, (size_t)l, p, p);
            sega__sgemm_thread(j->e, t, 0, 0, rows, hd, l, 1.0f, p, l, base + 2 * d + h * hd, ld3, 0.0f,
                               j->y + ((size_t)i * l + r0) * d + h * hd, d);
        }
    }
}

// Backward step 1 on the query rows of part t.
static void bwd_rows_task(void *ctx, int t, int count) {
    const attn_job *j = (const attn_job *)ctx;
    (void)count;
    int r0, r1;
    if (!rows_of(j, t, &r0, &r1)) return;
    const int l = j->l, d = j->d, hd = j->hd, ld3 = 3 * d, rows = r1 - r0, h = j->head;
    const float *base = j->qkv + (size_t)j->img * l * ld3;
    const float *p = j->probs + ((size_t)j->img * j->heads + h) * l * l + (size_t)r0 * l;
    const float *g = j->dy + ((size_t)j->img * l + r0) * d + h * hd;
    float *dp = j->dp + (size_t)r0 * l;
    float *gq = j->dqkv + ((size_t)j->img * l + r0) * ld3 + h * hd;
    sega__sgemm_thread(j->e, t, 0, 1, rows, l, hd, 1.0f, g, d, base + 2 * d + h * hd, ld3, 0.0f, dp, l);
    sega_softmax_bwd_inplace((size_t)rows, (size_t)l, p, dp);
    sega__sgemm_thread(j->e, t, 0, 0, rows, hd, l, j->alpha, dp, l, base + d + h * hd, ld3, j->beta, gq, ld3);
}

// Backward step 2 on the key/value rows of part t (columns of P and dS).
static void bwd_cols_task(void *ctx, int t, int count) {
    const attn_job *j = (const attn_job *)ctx;
    (void)count;
    int r0, r1;
    if (!rows_of(j, t, &r0, &r1)) return;
    const int l = j->l, d = j->d, hd = j->hd, ld3 = 3 * d, rows = r1 - r0, h = j->head;
    const float *base = j->qkv + (size_t)j->img * l * ld3;
    const float *p = j->probs + ((size_t)j->img * j->heads + h) * l * l;
    const float *g = j->dy + (size_t)j->img * l * d + h * hd;
    float *gbase = j->dqkv + ((size_t)j->img * l + r0) * ld3;
    sega__sgemm_thread(j->e, t, 1, 0, rows, hd, l, 1.0f, p + r0, l, g, d, j->beta, gbase + 2 * d + h * hd, ld3);
    sega__sgemm_thread(j->e, t, 1, 0, rows, hd, l, j->alpha, j->dp + r0, l, base + h * hd, ld3, j->beta,
                       gbase + d + h * hd, ld3);
}

static int bad_sizes(int n, int l, int d, int heads) {
    if (n < 1 || l < 1 || d < 1 || heads < 1 || d % heads != 0) return 1;
    if (d > INT_MAX / 3 || l > INT_MAX / l) return 1;
    return 0;
}

// Parts: the engine's threads, at most one per row unit; one part when the whole is small.
static int parts_of(const sega_engine *e, int l, int hd) {
    const int units = (l + SEGA_ATTN_UNIT - 1) / SEGA_ATTN_UNIT;
    int parts = e->nthreads < units ? e->nthreads : units;
    if ((double)l * (double)l * (double)hd < 64.0 * 64.0 * 64.0) parts = 1;
    return parts < 1 ? 1 : parts;
}

static void run(attn_job *j, sega_task_fn fn) {
    if (j->parts == 1) fn(j, 0, 1);
    else sega_pool_run(j->e->pool, fn, j, j->parts);
}

sega_status sega_attention_fwd(sega_engine *e, int n, int l, int d, int heads, float alpha,
                               const float *qkv, float *probs, float *y) {
    if (!e || !qkv || !probs || !y || bad_sizes(n, l, d, heads)) return SEGA_ERR_INVALID_ARG;
    attn_job j = {0};
    j.e = e; j.n = n; j.l = l; j.d = d; j.heads = heads; j.hd = d / heads; j.alpha = alpha;
    j.qkv = qkv; j.p_out = probs; j.y = y;
    j.parts = parts_of(e, l, j.hd);
    run(&j, fwd_task);
    return SEGA_OK;
}

sega_status sega_attention_bwd(sega_engine *e, int n, int l, int d, int heads, float alpha,
                               const float *qkv, const float *probs, const float *dy, float *dp,
                               float beta, float *dqkv) {
    if (!e || !qkv || !probs || !dy || !dp || !dqkv || bad_sizes(n, l, d, heads) ||
        (beta != 0.0f && beta != 1.0f))
        return SEGA_ERR_INVALID_ARG;
    attn_job j = {0};
    j.e = e; j.n = n; j.l = l; j.d = d; j.heads = heads; j.hd = d / heads;
    j.alpha = alpha; j.beta = beta;
    j.qkv = qkv; j.probs = probs; j.dy = dy; j.dp = dp; j.dqkv = dqkv;
    j.parts = parts_of(e, l, j.hd);
    for (int i = 0; i < n; i++)
        for (int h = 0; h < heads; h++) {
            j.img = i; j.head = h;
            run(&j, bwd_rows_task);
            run(&j, bwd_cols_task);
        }
    return SEGA_OK;
}
