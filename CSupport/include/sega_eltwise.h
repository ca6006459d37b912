// sega_eltwise.h - elementwise and row-wise kernels over contiguous float arrays.
// Backward kernels *accumulate* into dx (dx += ...), matching the engine's convention that
// gradients from several consumers add up. Each has a scalar reference in sega_eltwise_ref.c.
// Kernels with per-ISA variants (sigmoid and softmax forward) take the engine whose ISA they
// run at (e may be NULL: sega_cpu_best_isa()); the others have one variant and take none.
#ifndef SEGA_ELTWISE_H
#define SEGA_ELTWISE_H
#include "sega_common.h"
#include "sega_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

void sega_relu_fwd(size_t n, const float *x, float *y);
/// dx += dy * (x > 0)
void sega_relu_bwd(size_t n, const float *x, const float *dy, float *dx);
void sega_relu6_fwd(size_t n, const float *x, float *y);
/// dx += dy * (0 < x < 6)
void sega_relu6_bwd(size_t n, const float *x, const float *dy, float *dx);
/// relu / relu6 forward that also records the derivative as a byte mask (1 where f'(x) = 1),
/// so the backward needs n bytes instead of the n floats of x.
void sega_relu_fwd_mask(size_t n, const float *x, float *y, uint8_t *mask);
void sega_relu6_fwd_mask(size_t n, const float *x, float *y, uint8_t *mask);
/// dx += mask ? dy : 0 (the backward of relu / relu6 from their mask).
void sega_mask_bwd(size_t n, const uint8_t *mask, const float *dy, float *dx);
void sega_sigmoid_fwd(sega_engine *e, size_t n, const float *x, float *y);
/// dx += dy * y * (1 - y), from the forward output y.
void sega_sigmoid_bwd(size_t n, const float *y, const float *dy, float *dx);
/// GELU, erf form: x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), Phi within about 5 ulp (its lower
/// tail too), at e's ISA (AVX2 or portable; e may be NULL: the CPU's).
void sega_gelu_fwd(sega_engine *e, size_t n, const float *x, float *y);
/// dx += dy * (Phi(x) + x phi(x)).
void sega_gelu_bwd(sega_engine *e, size_t n, const float *x, const float *dy, float *dx);

/// Softmax over each of `rows` rows of length `len` (max-subtracted). A -inf entry gives 0; a row
/// with a NaN or +inf entry, or all -inf, is all NaN (as in PyTorch).
void sega_softmax_fwd(sega_engine *e, size_t rows, size_t len, const float *x, float *y);
/// dx += y * (dy - sum(dy * y)) per row.
void sega_softmax_bwd(size_t rows, size_t len, const float *y, const float *dy, float *dx);
/// g = y * (g - sum(g * y)) per row, in place: the gradient sega_softmax_bwd would accumulate
/// into a zeroed dx (the same bits, except that a zero result may be -0 here).
void sega_softmax_bwd_inplace(size_t rows, size_t len, const float *y, float *g);

/// LayerNorm over the last `len` elements of each row: y = (x - mu) * rstd * gamma + beta.
/// gamma/beta may be NULL (1 and 0). mean/rstd (rows each) are saved for the backward.
void sega_layernorm_fwd(size_t rows, size_t len, float eps, const float *x, const float *gamma,
                        const float *beta, float *y, float *mean, float *rstd);
/// dx += d(LayerNorm)/dx^T dy.
void sega_layernorm_bwd(size_t rows, size_t len, const float *x, const float *gamma,
                        const float *mean, const float *rstd, const float *dy, float *dx);

/// y = x * scale[c] + shift[c] for a (channels x plane) array; batchnorm in eval mode.
void sega_channel_affine_fwd(size_t channels, size_t plane, const float *x, const float *scale,
                             const float *shift, float *y);
/// dx += dy * scale[c].
void sega_channel_affine_bwd(size_t channels, size_t plane, const float *scale, const float *dy,
                             float *dx);

/// y += x (n elements).
void sega_add_inplace(size_t n, const float *x, float *y);
/// y = a * x + y.
void sega_axpy(size_t n, float a, const float *x, float *y);

/// Bilinear resize of a C x H x W plane stack to C x OH x OW (PyTorch's F.interpolate,
/// mode="bilinear", antialias off). align_corners picks the coordinate mapping.
void sega_bilinear_fwd(size_t c, int h, int w, int oh, int ow, int align_corners,
                       const float *x, float *y);
/// Adjoint: dx += resize^T(dy).
void sega_bilinear_bwd(size_t c, int h, int w, int oh, int ow, int align_corners,
                       const float *dy, float *dx);

/// Threaded in-place kernels: split over the engine's threads in contiguous ranges (e may be
/// NULL: the calling thread alone), at the engine's ISA; each element's arithmetic does not
/// depend on the split, so results are byte-identical for any thread count.
/// y = relu(y) (act SEGA_ACT_RELU) or relu6(y) (SEGA_ACT_RELU6), NaN kept; with mask, the
/// derivative mask as sega_relu{,6}_fwd_mask writes it.
void sega_act_fwd_inplace(sega_engine *e, size_t n, int act, float *y, uint8_t *mask);
/// out = mask ? dy + 0 : +0 (out may be dy): the gradient at a relu's input, with the bytes
/// sega_mask_bwd gives when it accumulates into a zeroed buffer (-0 becomes +0 there too).
void sega_mask_copy(sega_engine *e, size_t n, const uint8_t *mask, const float *dy, float *out);

/// y = relu(x) / relu6(x) (x == y allowed), with the mask when mask is non-NULL: the bytes of
/// sega_relu{,6}_fwd and sega_relu{,6}_fwd_mask.
void sega_act_fwd_mt(sega_engine *e, size_t n, int act, const float *x, float *y, uint8_t *mask);
/// dx += mask ? dy : 0: sega_mask_bwd's bytes.
void sega_mask_bwd_mt(sega_engine *e, size_t n, const uint8_t *mask, const float *dy, float *dx);

/// Operations of sega_binary_mt.
enum { SEGA_BIN_ADD = 0, SEGA_BIN_SUB = 1, SEGA_BIN_MUL = 2, SEGA_BIN_SET = 3, SEGA_BIN_ACC = 4 };
/// Over n contiguous elements (out may be a or b; no partial overlap): out = a + b, a - b, a * b
/// (ADD, SUB, MUL; sign unused); out = 0 + sign * a * b (SET) or out += sign * a * b (ACC), the
/// products rounded left to right, b NULL meaning no factor: the gradients of add/sub/mul.
void sega_binary_mt(sega_engine *e, size_t n, int op, float sign, const float *a, const float *b, float *out);
/// y = act(a op b) for op ADD/SUB/MUL and act SEGA_ACT_RELU / _RELU6 (NONE: sega_binary_mt), with
/// the activation's mask when mask is non-NULL: the bytes of sega_binary_mt then sega_act_fwd_mt.
void sega_binary_act_mt(sega_engine *e, size_t n, int op, const float *a, const float *b, float *y, int act,
                        uint8_t *mask);
/// SET / ACC of sega_binary_mt with g first masked as sega_mask_copy does (gmask ? g + 0 : +0):
/// the gradient of a fused activation's input, then of the binary op's operand.
void sega_binary_grad_masked_mt(sega_engine *e, size_t n, int op, float sign, const uint8_t *gmask,
                                const float *g, const float *w, float *d);
/// p[0..<n] = +0.
void sega_zero_mt(sega_engine *e, size_t n, float *p);
/// sega_layernorm_fwd split by rows (the same bytes).
void sega_layernorm_fwd_mt(sega_engine *e, size_t rows, size_t len, float eps, const float *x,
                           const float *gamma, const float *beta, float *y, float *mean, float *rstd);
/// sega_layernorm_bwd (dx may be NULL) split by rows, then, when non-NULL, dgamma[c] +=
/// sum over rows r in order of dy[r,c] * (x[r,c] - mean[r]) * rstd[r] and dbeta[c] += the same of
/// dy[r,c], split by columns.
void sega_layernorm_bwd_mt(sega_engine *e, size_t rows, size_t len, const float *x, const float *gamma,
                           const float *mean, const float *rstd, const float *dy, float *dx,
                           float *dgamma, float *dbeta);

/// GELU and the softmax forward split over the engine's threads (e may be NULL: the calling thread alone):
/// GELU in ranges of whole 64-element chunks, softmax in ranges of whole rows (claimed by whichever
/// thread is free: a descheduled worker does not hold the caller up), each range run by
/// the single-thread kernel above, so the bytes are those of sega_gelu_fwd / sega_gelu_bwd /
/// sega_softmax_fwd for any thread count. Small arrays stay on one thread. (The softmax backward,
/// a dot and an axpy per row, is as cheap as add/mul and was slower split: measured.)
void sega_gelu_fwd_mt(sega_engine *e, size_t n, const float *x, float *y);
void sega_gelu_bwd_mt(sega_engine *e, size_t n, const float *x, const float *dy, float *dx);
void sega_softmax_fwd_mt(sega_engine *e, size_t rows, size_t len, const float *x, float *y);

/// Scalar references for the tests.
void sega_relu_fwd_ref(size_t n, const float *x, float *y);
void sega_gelu_fwd_ref(size_t n, const float *x, float *y);
void sega_softmax_fwd_ref(size_t rows, size_t len, const float *x, float *y);
void sega_layernorm_fwd_ref(size_t rows, size_t len, float eps, const float *x, const float *gamma,
                            const float *beta, float *y);
void sega_bilinear_fwd_ref(size_t c, int h, int w, int oh, int ow, int align_corners,
                           const float *x, float *y);
void sega_bilinear_bwd_ref(size_t c, int h, int w, int oh, int ow, int align_corners,
                           const float *dy, float *dx);
/// Sigmoid in double through libm exp (checks the fast exp's accuracy).
void sega_sigmoid_fwd_ref(size_t n, const float *x, float *y);

#ifdef __cplusplus
}
#endif
#endif
