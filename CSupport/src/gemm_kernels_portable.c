// gemm_kernels_portable.c - plain C micro-kernel (4 x 16), any CPU.
#include "gemm_internal.h"

#define PMR 4
#define PNR 16

void sega_sgemm_4x16_portable(long kc, const float *ap, const float *bp, float *c, long ldc,
                              float alpha, float beta, const sega_tile_epi *ep) {
    float acc[PMR][PNR];
    for (int i = 0; i < PMR; i++)
        for (int j = 0; j < PNR; j++) acc[i][j] = 0.0f;
    for (long p = 0; p < kc; p++) {
        const float *a = ap + p * PMR;
        const float *b = bp + p * PNR;
        for (int i = 0; i < PMR; i++) {
            const float ai = a[i];
            for (int j = 0; j < PNR; j++) acc[i][j] += ai * b[j];
        }
    }
    const float *bias = ep ? ep->bias : NULL, *cbias = ep ? ep->cbias : NULL;
    if (bias) {   // C filled with the bias, beta 1
        for (int i = 0; i < PMR; i++)
            for (int j = 0; j < PNR; j++) c[i * ldc + j] = alpha * acc[i][j] + bias[i];
    } else if (cbias) {   // C filled with the column bias, beta 1
        for (int i = 0; i < PMR; i++)
            for (int j = 0; j < PNR; j++) c[i * ldc + j] = alpha * acc[i][j] + cbias[j];
    } else if (beta == 0.0f) {
        for (int i = 0; i < PMR; i++)
            for (int j = 0; j < PNR; j++) c[i * ldc + j] = alpha * acc[i][j];
    } else {
        for (int i = 0; i < PMR; i++)
            for (int j = 0; j < PNR; j++) c[i * ldc + j] = alpha * acc[i][j] + beta * c[i * ldc + j];
    }
    if (ep && ep->act != SEGA_ACT_NONE) sega_gemm_epi_portable_4x16(c, ldc, ep->mask, ep->ldm, PMR, PNR, ep->act);
}

#define SEGA_PACK_MR PMR
#define SEGA_PACK_NR PNR
#define SEGA_PACK_ATTR
#define SEGA_PACK_SUFFIX portable_4x16
#include "gemm_pack_impl.h"
