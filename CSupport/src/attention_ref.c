// attention_ref.c - naive references of sega_attention_fwd / _bwd (double sums) for the tests.
#include "sega_attention.h"
#include <limits.h>
#include <math.h>

static int ref_bad(int n, int l, int d, int heads) {
    return n < 1 || l < 1 || d < 1 || heads < 1 || d % heads != 0 || d > INT_MAX / 3 || l > INT_MAX / l;
}

sega_status sega_attention_fwd_ref(int n, int l, int d, int heads, float alpha, const float *qkv,
                                   float *probs, float *y) {
    if (!qkv || !probs || !y || ref_bad(n, l, d, heads)) return SEGA_ERR_INVALID_ARG;
    const int hd = d / heads, ld3 = 3 * d;
    for (int i = 0; i < n; i++) {
        const float *base = qkv + (size_t)i * l * ld3;
        for (int h = 0; h < heads; h++) {
            float *p = probs + ((size_t)i * heads + h) * l * l;
            for (int r = 0; r < l; r++) {
                const float *q = base + (size_t)r * ld3 + h * hd;
                double m = -INFINITY;
                for (int c = 0; c < l; c++) {
                    const float *k = base + (size_t)c * ld3 + d + h * hd;
                    double s = 0;
                    for (int t = 0; t < hd; t++) s += (double)q[t] * k[t];
                    p[(size_t)r * l + c] = (float)((double)alpha * s);
                    if (p[(size_t)r * l + c] > m) m = p[(size_t)r * l + c];
                }
                double sum = 0;
                for (int c = 0; c < l; c++) sum += exp((double)p[(size_t)r * l + c] - m);
                for (int c = 0; c < l; c++) p[(size_t)r * l + c] = (float)(exp((double)p[(size_t)r * l + c] - m) / sum);
                for (int t = 0; t < hd; t++) {
                    double s = 0;
                    for (int c = 0; c < l; c++) s += (double)p[(size_t)r * l + c] * base[(size_t)c * ld3 + 2 * d + h * hd + t];
                    y[((size_t)i * l + r) * d + h * hd + t] = (float)s;
                }
            }
        }
    }
    return SEGA_OK;
}

sega_status sega_attention_bwd_ref(int n, int l, int d, int heads, float alpha, const float *qkv,
                                   const float *probs, const float *dy, float *dp, float beta,
                                   float *dqkv) {
    if (!qkv || !probs || !dy || !dp || !dqkv || ref_bad(n, l, d, heads) || (beta != 0.0f && beta != 1.0f))
        return SEGA_ERR_INVALID_ARG;
    const int hd = d / heads, ld3 = 3 * d;
    for (int i = 0; i < n; i++) {
        const float *base = qkv + (size_t)i * l * ld3;
        float *gbase = dqkv + (size_t)i * l * ld3;
        for (int h = 0; h < heads; h++) {
            const float *p = probs + ((size_t)i * heads + h) * l * l;
            const float *g = dy + (size_t)i * l * d + h * hd;
            // dS = P * (dP - rowsum(dP * P)), dP = dy V^T (double, stored as float in dp)
            for (int r = 0; r < l; r++) {
                double dot = 0;
                for (int c = 0; c < l; c++) {
                    double s = 0;
                    for (int t = 0; t < hd; t++) s += (double)g[(size_t)r * d + t] * base[(size_t)c * ld3 + 2 * d + h * hd + t];
                    dp[(size_t)r * l + c] = (float)s;
                    dot += s * p[(size_t)r * l + c];
                }
                for (int c = 0; c < l; c++)
                    dp[(size_t)r * l + c] = (float)((double)p[(size_t)r * l + c] * ((double)dp[(size_t)r * l + c] - dot));
            }
            for (int r = 0; r < l; r++)
                for (int t = 0; t < hd; t++) {
                    double dq = 0, dk = 0, dv = 0;
                    for (int c = 0; c < l; c++) {
                        dq += (double)dp[(size_t)r * l + c] * base[(size_t)c * ld3 + d + h * hd + t];
                        dk += (double)dp[(size_t)c * l + r] * base[(size_t)c * ld3 + h * hd + t];
                        dv += (double)p[(size_t)c * l + r] * g[(size_t)c * d + t];
                    }
                    float *row = gbase + (size_t)r * ld3 + h * hd + t;
                    const float vq = (float)(alpha * dq), vk = (float)(alpha * dk), vv = (float)dv;
                    row[0] = beta == 0.0f ? vq : vq + row[0];
                    row[d] = beta == 0.0f ? vk : vk + row[d];
                    row[2 * d] = beta == 0.0f ? vv : vv + row[2 * d];
                }
        }
    }
    return SEGA_OK;
}
