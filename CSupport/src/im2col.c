// im2col.c - conv geometry helpers and the fast im2col / col2im (single image, CHW).
//
// Both kernels walk the column matrix row by row (one row per (channel, ki, kj) tap). For a
// tap the valid output columns [ox_lo, ox_hi) and rows [oy_lo, oy_hi) are computed once, so
// the inner loops carry no bounds checks: stride-1 rows become one memcpy plus two zero runs,
// and col2im's stride-1 rows become a vectorisable add of two contiguous runs.
// col2im adds the rows in the same (channel, ki, kj) order as the reference and every tap
// touches an input pixel at most once, so the fast and reference results are bit-identical.
#include "sega_conv.h"
#include "conv_internal.h"
#include <limits.h>
#include <string.h>

int sega_conv_out_size(int in, int k, int stride, int pad, int dil) {
    // Invalid parameters, and sizes that do not fit in int, give -1; an empty output gives 0.
    if (in <= 0 || k <= 0 || stride <= 0 || pad < 0 || dil <= 0) return -1;
    long long num = (long long)in + 2LL * pad - (long long)dil * (k - 1) - 1;
    if (num < 0) return 0;
    long long out = num / stride + 1;
    return out > INT_MAX ? -1 : (int)out;
}

static int mul_fits(long long a, long long b, long long *out) {
    // a, b >= 0 and each < 2^31, so the product cannot overflow 64 bits.
    long long p = a * b;
    *out = p;
    return p <= INT_MAX;
}

sega_status sega_conv_geom_check(const sega_conv_geom *g) {
    if (!g) return SEGA_ERR_INVALID_ARG;
    if (g->c <= 0 || g->h <= 0 || g->w <= 0) return SEGA_ERR_INVALID_ARG;
    if (g->kh <= 0 || g->kw <= 0) return SEGA_ERR_INVALID_ARG;
    if (g->sh <= 0 || g->sw <= 0) return SEGA_ERR_INVALID_ARG;
    if (g->pad_t < 0 || g->pad_l < 0) return SEGA_ERR_INVALID_ARG;
    if (g->dh <= 0 || g->dw <= 0) return SEGA_ERR_INVALID_ARG;
    if (g->oh <= 0 || g->ow <= 0) return SEGA_ERR_INVALID_ARG;
    long long t, chw, ckk, ohw;
    // Input plane stack, column rows, output plane, output stack, column matrix.
    if (!mul_fits(g->c, g->h, &t) || !mul_fits(t, g->w, &chw)) return SEGA_ERR_INVALID_ARG;
    if (!mul_fits(g->c, g->kh, &t) || !mul_fits(t, g->kw, &ckk)) return SEGA_ERR_INVALID_ARG;
    if (!mul_fits(g->oh, g->ow, &ohw)) return SEGA_ERR_INVALID_ARG;
    if (!mul_fits(g->c, ohw, &t)) return SEGA_ERR_INVALID_ARG;
    if (!mul_fits(ckk, ohw, &t)) return SEGA_ERR_INVALID_ARG;
    // Every input coordinate the kernels compute, oy*sh - pad_t + ki*dh (and likewise for x),
    // must fit in int; the smallest is -pad_t, the largest (oh-1)*sh + (kh-1)*dh.
    long long ymax = (long long)(g->oh - 1) * g->sh + (long long)(g->kh - 1) * g->dh;
    long long xmax = (long long)(g->ow - 1) * g->sw + (long long)(g->kw - 1) * g->dw;
    if (ymax > INT_MAX || xmax > INT_MAX) return SEGA_ERR_INVALID_ARG;
    // Flat indices iy*w + ix of in-image pixels are below c*h*w; kernel taps below c*kh*kw.
    (void)chw;
    return SEGA_OK;
}

// ---------------------------------------------------------------------------------------------
// Tap windows

// Kernel tap (i, j) reads input row oy*sh + offy and column ox*sw + offx of output (oy, ox);
// it lands inside the image for rows [oy_lo, oy_hi) and columns [ox_lo, ox_hi).
typedef struct {
    int offy, offx, oy_lo, oy_hi, ox_lo, ox_hi;
} tap_window;

SEGA_INLINE tap_window tap_window_of(const sega_conv_geom *g, int i, int j) {
    tap_window t;
    t.offy = i * g->dh - g->pad_t;
    t.offx = j * g->dw - g->pad_l;
    sega_tap_range(g->oh, g->sh, t.offy, g->h, &t.oy_lo, &t.oy_hi);
    sega_tap_range(g->ow, g->sw, t.offx, g->w, &t.ox_lo, &t.ox_hi);
    return t;
}

// Whole rows of the tap map to whole input rows (stride 1, no column shift or crop).
SEGA_INLINE int tap_rows_contiguous(const sega_conv_geom *g, const tap_window *t) {
    return g->sh == 1 && g->sw == 1 && g->ow == g->w && t->offx == 0;
}

// ---------------------------------------------------------------------------------------------
// im2col

SEGA_INLINE void gather_run(float *restrict d, const float *restrict s, int n, int stride) {
    if (stride == 1) {
        memcpy(d, s, (size_t)n * sizeof(float));
    } else if (stride == 2) {
        for (int t = 0; t < n; t++) d[t] = s[2 * t];
    } else {
        for (int t = 0; t < n; t++) d[t] = s[(size_t)t * stride];
    }
}

// One column-matrix row: tap t of plane xc, every output (0 where the tap is outside).
SEGA_INLINE void im2col_row(const sega_conv_geom *g, const tap_window *t, const float *restrict xc,
                            float *restrict dst) {
    const int W = g->w, OW = g->ow, OH = g->oh, SW = g->sw;
    if (t->ox_lo == t->ox_hi || t->oy_lo == t->oy_hi) {
        memset(dst, 0, (size_t)OH * OW * sizeof(float));
        return;
    }
    memset(dst, 0, (size_t)t->oy_lo * OW * sizeof(float));
    if (tap_rows_contiguous(g, t)) {
        // Whole rows map to whole rows: one copy for the entire valid block.
        memcpy(dst + (size_t)t->oy_lo * OW, xc + (size_t)(t->oy_lo + t->offy) * W,
               (size_t)(t->oy_hi - t->oy_lo) * OW * sizeof(float));
    } else {
        const int n = t->ox_hi - t->ox_lo;
        for (int oy = t->oy_lo; oy < t->oy_hi; oy++) {
            float *d = dst + (size_t)oy * OW;
            const float *xr = xc + (size_t)(oy * g->sh + t->offy) * W;
            if (t->ox_lo > 0) memset(d, 0, (size_t)t->ox_lo * sizeof(float));
            gather_run(d + t->ox_lo, xr + (ptrdiff_t)t->ox_lo * SW + t->offx, n, SW);
            if (t->ox_hi < OW) memset(d + t->ox_hi, 0, (size_t)(OW - t->ox_hi) * sizeof(float));
        }
    }
    memset(dst + (size_t)t->oy_hi * OW, 0, (size_t)(OH - t->oy_hi) * OW * sizeof(float));
}

void sega_im2col(const sega_conv_geom *g, const float *x, float *col) {
    const size_t ohw = (size_t)g->oh * g->ow;
    float *dst = col;
    for (int ci = 0; ci < g->c; ci++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, dst += ohw) {
                const tap_window t = tap_window_of(g, i, j);
                im2col_row(g, &t, x + (size_t)ci * g->h * g->w, dst);
            }
}

// ---------------------------------------------------------------------------------------------
// col2im (accumulates into x)

SEGA_INLINE void scatter_add_run(float *restrict d, const float *restrict s, int n, int stride) {
    if (stride == 1) {
        for (int t = 0; t < n; t++) d[t] += s[t];
    } else if (stride == 2) {
        for (int t = 0; t < n; t++) d[2 * t] += s[t];
    } else {
        for (int t = 0; t < n; t++) d[(size_t)t * stride] += s[t];
    }
}

// Adds one column-matrix row (tap t) into plane xc.
SEGA_INLINE void col2im_row(const sega_conv_geom *g, const tap_window *t, const float *restrict src,
                            float *restrict xc) {
    const int W = g->w, OW = g->ow;
    if (t->ox_lo == t->ox_hi || t->oy_lo == t->oy_hi) return;
    if (tap_rows_contiguous(g, t)) {
        // Contiguous block: one long vectorisable add.
        scatter_add_run(xc + (size_t)(t->oy_lo + t->offy) * W, src + (size_t)t->oy_lo * OW,
                        (t->oy_hi - t->oy_lo) * OW, 1);
        return;
    }
    const int n = t->ox_hi - t->ox_lo;
    for (int oy = t->oy_lo; oy < t->oy_hi; oy++) {
        float *xr = xc + (size_t)(oy * g->sh + t->offy) * W;
        scatter_add_run(xr + (ptrdiff_t)t->ox_lo * g->sw + t->offx, src + (size_t)oy * OW + t->ox_lo, n, g->sw);
    }
}

void sega_col2im(const sega_conv_geom *g, const float *col, float *x) {
    const size_t ohw = (size_t)g->oh * g->ow;
    const float *src = col;
    for (int ci = 0; ci < g->c; ci++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, src += ohw) {
                const tap_window t = tap_window_of(g, i, j);
                col2im_row(g, &t, src, x + (size_t)ci * g->h * g->w);
            }
}

// ---------------------------------------------------------------------------------------------
// Threaded: im2col by ranges of column-matrix rows, col2im by ranges of channels (a plane's taps
// are still added in (ki, kj) order by one thread), so the bytes are those of the loops above.

// Below this many column-matrix elements a call stays on the calling thread.
#define SEGA_IM2COL_MT_MIN 65536

typedef struct {
    const sega_conv_geom *g;
    const float *x;
    float *col;
    size_t plane;   // floats between input planes
    int parts;
} i2c_job;

static void part_of(int total, int parts, int t, int *lo, int *hi) {
    const int base = total / parts, rem = total % parts;
    *lo = t * base + (t < rem ? t : rem);
    *hi = *lo + base + (t < rem ? 1 : 0);
}

static void im2col_task(void *ctx, int t, int count) {
    const i2c_job *j = (const i2c_job *)ctx;
    const sega_conv_geom *g = j->g;
    const int taps = g->kh * g->kw;
    const size_t ohw = (size_t)g->oh * g->ow;
    int lo, hi;
    part_of(g->c * taps, count, t, &lo, &hi);
    for (int r = lo; r < hi; r++) {
        const int ci = r / taps, i = (r % taps) / g->kw, jj = r % g->kw;
        const tap_window tw = tap_window_of(g, i, jj);
        im2col_row(g, &tw, j->x + (size_t)ci * j->plane, j->col + (size_t)r * ohw);
    }
}

static void col2im_task(void *ctx, int t, int count) {
    const i2c_job *j = (const i2c_job *)ctx;
    const sega_conv_geom *g = j->g;
    const size_t ohw = (size_t)g->oh * g->ow;
    int lo, hi;
    part_of(g->c, count, t, &lo, &hi);
    const float *src = j->col + (size_t)lo * g->kh * g->kw * ohw;
    for (int ci = lo; ci < hi; ci++)
        for (int i = 0; i < g->kh; i++)
            for (int jj = 0; jj < g->kw; jj++, src += ohw) {
                const tap_window tw = tap_window_of(g, i, jj);
                col2im_row(g, &tw, src, (float *)j->x + (size_t)ci * j->plane);
            }
}

static int mt_parts(sega_engine *e, const sega_conv_geom *g, int units) {
    int parts = e ? sega_engine_threads(e) : 1;
    if (parts > units) parts = units;
    if ((double)g->c * g->kh * g->kw * g->oh * g->ow < SEGA_IM2COL_MT_MIN) parts = 1;
    return parts < 1 ? 1 : parts;
}

void sega_im2col_mt(sega_engine *e, const sega_conv_geom *g, const float *x, size_t plane_stride, float *col) {
    i2c_job j = {g, x, col, plane_stride, 0};
    j.parts = mt_parts(e, g, g->c * g->kh * g->kw);
    if (j.parts == 1) im2col_task(&j, 0, 1);
    else sega_pool_run(sega_engine_pool(e), im2col_task, &j, j.parts);
}

void sega_col2im_mt(sega_engine *e, const sega_conv_geom *g, const float *col, float *x, size_t plane_stride) {
    i2c_job j = {g, x, (float *)col, plane_stride, 0};
    j.parts = mt_parts(e, g, g->c);
    if (j.parts == 1) col2im_task(&j, 0, 1);
    else sega_pool_run(sega_engine_pool(e), col2im_task, &j, j.parts);
}
