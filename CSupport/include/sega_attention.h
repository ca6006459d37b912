// sega_attention.h - the middle of multi-head self-attention, forward and input backward, split
// over the engine's threads by query rows (one product per thread instead of threads per product).
#ifndef SEGA_ATTENTION_H
#define SEGA_ATTENTION_H
#include "sega_common.h"
#include "sega_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/// qkv is [n, l, 3d] (columns Q | K | V, head h at h * hd within each, hd = d / heads). Per image
/// i and head h: P = softmax(alpha Q_h K_h^T) [l, l] is written to probs + (i * heads + h) * l * l,
/// and P V_h to y's columns [h hd, (h + 1) hd) of image i ([n, l, d]). Each element is computed
/// as sega_sgemm and sega_softmax_fwd compute it (the same bytes as those calls, for any thread
/// count). SEGA_ERR_INVALID_ARG for NULL pointers, sizes < 1, heads not dividing d, or l * l or
/// 3 d beyond int.
sega_status sega_attention_fwd(sega_engine *e, int n, int l, int d, int heads, float alpha,
                               const float *qkv, float *probs, float *y);

/// The gradient of qkv from dy [n, l, d], with the forward's probs:
///   dV_h = P^T dy_h,  dS = P * (dP - rowsum(dP * P)) with dP = dy_h V_h^T,
///   dQ_h = alpha dS K_h,  dK_h = alpha dS^T Q_h,
/// written into dqkv [n, l, 3d] (beta 0) or added to it (beta 1). dp is l * l floats of
/// workspace. Same bytes as those products by sega_sgemm (and sega_softmax_bwd_inplace) for any
/// thread count. Errors as sega_attention_fwd, and for beta other than 0 or 1.
sega_status sega_attention_bwd(sega_engine *e, int n, int l, int d, int heads, float alpha,
                               const float *qkv, const float *probs, const float *dy, float *dp,
                               float beta, float *dqkv);

/// Naive references of both for the tests: plain loops with double sums (the softmax in double
/// too), results rounded to float once; probs are read (bwd) and written (fwd) as floats.
sega_status sega_attention_fwd_ref(int n, int l, int d, int heads, float alpha, const float *qkv,
                                   float *probs, float *y);
sega_status sega_attention_bwd_ref(int n, int l, int d, int heads, float alpha, const float *qkv,
                                   const float *probs, const float *dy, float *dp, float beta,
                                   float *dqkv);

#ifdef __cplusplus
}
#endif
#endif
