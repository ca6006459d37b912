// dwconv_portable.c - depthwise convolution kernels in plain C (any CPU): the padded-path plane
// kernels (blocks of DW_VEC outputs in a local array, which the compiler vectorises), the data
// movement between planes and the phase-major scratch for any column stride, the strided
// gradient's scatter and gather, and the direct path (dwconv_direct_impl.h).
#include "dwconv_internal.h"
#include <string.h>

#define SEGA_DW_ATTR
#define SEGA_DW_SUFFIX portable
#include "dwconv_direct_impl.h"

// --- plane kernels ---------------------------------------------------------------------------

// One output row: yr[ox] = b + sum_t w[t] * base[off(t) + ox]. K, S constant after inlining
// (K == 0: generic taps table).
SEGA_INLINE void dwp_row(const dwplan *P, const float *restrict base, const float *restrict w, float b,
                         float *restrict yr, const int K, const int S) {
    const int OW = P->p.OW, LP = P->LP, RS = P->RS;
    for (int ox = 0; ox < OW; ox += DW_VEC) {
        float acc[DW_VEC];
        for (int v = 0; v < DW_VEC; v++) acc[v] = b;
        if (K) {
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) {
                    const float *src = base + (ptrdiff_t)i * RS + (j % S) * LP + j / S + ox;
                    const float wv = w[i * K + j];
                    for (int v = 0; v < DW_VEC; v++) acc[v] += wv * src[v];
                }
        } else {
            for (int t = 0; t < P->taps; t++) {
                const float *src = base + P->toff[t] + ox;
                const float wv = w[t];
                for (int v = 0; v < DW_VEC; v++) acc[v] += wv * src[v];
            }
        }
        const int n = OW - ox < DW_VEC ? OW - ox : DW_VEC;
        for (int v = 0; v < n; v++) yr[ox + v] = acc[v];
    }
}

SEGA_INLINE void dwp_plane(const dwplan *P, const float *restrict s, const float *restrict w, float b,
                           float *restrict y, const int K, const int S) {
    const pgeom *p = &P->p;
    for (int oy = 0; oy < p->OH; oy++)
        dwp_row(P, s + (size_t)oy * p->SH * P->RS, w, b, y + (size_t)oy * p->OW, K, S);
}

#define SEGA_DW_PLANE(NAME, K, S)                                                                \
    void sega_dwconv_##NAME##_portable(const dwplan *P, const float *s, const float *w, float b,  \
                                       float *y) {                                              \
        dwp_plane(P, s, w, b, y, K, S);                                                         \
    }
SEGA_DW_PLANES(SEGA_DW_PLANE)
#undef SEGA_DW_PLANE

// --- data movement ---------------------------------------------------------------------------

// Copy rows [ra, rb) of the padded plane (all inside [rlo, rhi)) of x (H x W) into the interior
// of the scratch, row r at scratch row r - r0. The padding must already be zero and stays zero
// (only the interior positions are written).
void sega_dwconv_fill_portable(const dwplan *P, const float *restrict x, float *restrict s, int ra, int rb,
                               int r0) {
    const pgeom *p = &P->p;
    for (int r = ra; r < rb; r++) {
        const float *xr = x + (size_t)(r - p->PT) * p->W;
        float *sr = s + (size_t)(r - r0) * P->RS;
        if (p->SW == 1) {
            const int lo = P->klo[0], hi = P->khi[0];
            if (lo < hi) memcpy(sr + lo, xr + lo - p->PL, (size_t)(hi - lo) * sizeof(float));
            continue;
        }
        for (int q = 0; q < p->SW; q++) {
            float *sp = sr + (size_t)q * P->LP;
            const float *xq = xr + q - p->PL;
            for (int k = P->klo[q]; k < P->khi[q]; k++) sp[k] = xq[(ptrdiff_t)k * p->SW];
        }
    }
}

void sega_dwconv_mask_row_portable(int n, const uint8_t *restrict m, const float *restrict x,
                                   float *restrict out) {
    for (int i = 0; i < n; i++) {
        const float v = x[i] + 0.0f;   // loaded unconditionally so the select vectorises
        out[i] = m[i] ? v : 0.0f;
    }
}

// dx rows of padded rows [ra, rb) from the scratch (scratch row r - ra); the caller zeroes the plane.
void sega_dwconv_extract_portable(const dwplan *P, const float *restrict s, float *restrict dx, int ra,
                                  int rb) {
    const pgeom *p = &P->p;
    for (int r = ra; r < rb; r++) {
        float *dxr = dx + (size_t)(r - p->PT) * p->W;
        const float *sr = s + (size_t)(r - ra) * P->RS;
        for (int q = 0; q < p->SW; q++) {
            const float *sp = sr + (size_t)q * P->LP;
            float *dq = dxr + q - p->PL;
            if (p->SW == 1) {
                if (P->klo[0] < P->khi[0])
                    memcpy(dq + P->klo[0], sp + P->klo[0], (size_t)(P->khi[0] - P->klo[0]) * sizeof(float));
            } else {
                for (int k = P->klo[q]; k < P->khi[q]; k++) dq[(ptrdiff_t)k * p->SW] = sp[k];
            }
        }
    }
}

// --- strided input gradient ------------------------------------------------------------------

// Scatter dy into the zeroed scratch: s[oy*SH*RS + off(t) + ox] += w[t] * dy[oy][ox].
void sega_dwconv_scatter_portable(const dwplan *P, const float *restrict dy, const float *restrict w,
                                  float *restrict s) {
    const pgeom *p = &P->p;
    for (int oy = 0; oy < p->OH; oy++) {
        float *base = s + (size_t)oy * p->SH * P->RS;
        const float *dyr = dy + (size_t)oy * p->OW;
        for (int t = 0; t < P->taps; t++) {
            float *dst = base + P->toff[t];
            const float wv = w[t];
            for (int ox = 0; ox < p->OW; ox++) dst[ox] += wv * dyr[ox];
        }
    }
}

void sega_dwconv_gather_portable(const dwplan *P, const dwgather *G, const float *restrict Y,
                                 const float *restrict w, float *restrict s, int ra, int rb) {
    const pgeom *p = &P->p;
    for (int r = ra; r < rb; r++) {
        const int u = r / p->SH, a = r % p->SH;
        const float *yb = Y + (size_t)u * G->YW;
        for (int q = 0; q < p->SW; q++) {
            float *d = s + (size_t)(r - ra) * P->RS + (size_t)q * P->LP;
            const int n = G->n[a][q];
            for (int k = 0; k < G->KN; k++) {
                float acc = 0.0f;
                for (int m = 0; m < n; m++) acc += w[G->t[a][q][m]] * yb[G->off[a][q][m] + k];
                d[k] = acc;
            }
        }
    }
}
