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

// Offset of element (row, col) of a column-blocked matrix (blocks of `per` columns).
static size_t blocked(long ld, int per, long stride, int row, int col) {
    const int q = col / per;
    return (size_t)q * (size_t)stride + (size_t)row * (size_t)ld + (size_t)(col - q * per);
}

// The reference of one element of sega_sgemm_ex before the epilogue (double accumulator).
static double ref_dot(int trans_a, int trans_b, int k, const float *a, int lda, const uint8_t *amask,
                      const float *b, int ldb, int per, long bst, const uint8_t *bmask, int i, int j) {
    double s = 0.0;
    for (int p = 0; p < k; p++) {
        double av = trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
        if (amask && !amask[(size_t)i * lda + p]) av = 0.0;
        double bv;
        if (trans_b) {
            bv = b[(size_t)j * ldb + p];
        } else {
            const size_t o = blocked(ldb, per, bst, p, j);
            bv = bmask && !bmask[o] ? 0.0 : b[o];
        }
        s += av * bv;
    }
    return s;
}

sega_status sega_sgemm_ex_ref(int trans_a, int trans_b, int m, int n, int k, float alpha,
                              const float *a, int lda, const float *b, int ldb, float beta,
                              float *c, int ldc, const sega_gemm_ext *x) {
    if (!x) return sega_sgemm_ref(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    const int batch = x->batch > 1 ? x->batch : 1;
    if (m < 0 || n < 0 || k < 0 || (batch > 1 && (trans_b || n % batch)) || (x->b_mask && trans_b) || (x->a_mask && trans_a) ||
        (x->row_bias && beta != 0.0f) || (x->mask && x->act == SEGA_ACT_NONE) ||
        (x->col_bias && (beta != 0.0f || x->row_bias || batch > 1)))
        return SEGA_ERR_INVALID_ARG;
    if (m == 0 || n == 0) return SEGA_OK;
    const int per = n / batch;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            const size_t o = blocked(ldc, per, x->c_stride, i, j);
            double r = (double)alpha * ref_dot(trans_a, trans_b, k, a, lda, x->a_mask, b, ldb, per, x->b_stride, x->b_mask, i, j);
            if (x->row_bias) r += (double)x->row_bias[i];
            else if (x->col_bias) r += (double)x->col_bias[j];
            else if (beta != 0.0f) r += (double)beta * (double)c[o];
            float v = (float)r;
            if (x->mask) x->mask[o] = (uint8_t)(x->act == SEGA_ACT_RELU ? v > 0.0f : (v > 0.0f && v < 6.0f));
            if (x->act != SEGA_ACT_NONE) v = v < 0.0f ? 0.0f : (x->act == SEGA_ACT_RELU6 && v > 6.0f ? 6.0f : v);
            c[o] = v;
        }
    return SEGA_OK;
}
