// gemm_ref.c - naive reference SGEMM (triple loop, double accumulator), same contract as
// sega_sgemm: row-major, op(X) read through the leading dimension, beta == 0 never reads C,
// alpha == 0 or k == 0 only scales C by beta.
#include "sega_gemm.h"

sega_status sega_sgemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha,
                           const float *a, int lda, const float *b, int ldb, float beta, float *c,
                           int ldc) {
    if (m < 0 || n < 0 || k < 0) return SEGA_ERR_INVALID_ARG;
    if (lda < (trans_a ? m : k) || ldb < (trans_b ? k : n) || ldc < n)
        return SEGA_ERR_INVALID_ARG;
    if ((m > 0 && k > 0 && !a) || (k > 0 && n > 0 && !b) || (m > 0 && n > 0 && !c))
        return SEGA_ERR_INVALID_ARG;
    if (k == 0 || alpha == 0.0f) {
        // C = beta * C; beta == 0 writes +0 without reading C (BLAS semantics).
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                float *cij = c + (size_t)i * ldc + j;
                *cij = beta == 0.0f ? 0.0f : (float)((double)beta * (double)*cij);
            }
        return SEGA_OK;
    }
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            float *cij = c + (size_t)i * ldc + j;
            double s = 0.0;
            for (int p = 0; p < k; p++) {
                const double av = trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                const double bv = trans_b ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += av * bv;
            }
            double r = (double)alpha * s;
            if (beta != 0.0f) r += (double)beta * (double)*cij;
            *cij = (float)r;
        }
    }
    return SEGA_OK;
}
