// sega_conv.h - im2col/col2im and direct depthwise convolution, single image, CHW layout.
// Geometry: input C x H x W; kernel kh x kw; stride sh, sw; padding pad_t (top), pad_l (left);
// dilation dh, dw; output oh x ow is given explicitly (bottom/right padding is implied), which
// covers PyTorch's symmetric padding and TensorFlow's SAME padding alike.
#ifndef SEGA_CONV_H
#define SEGA_CONV_H
#include "sega_common.h"
#include "sega_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sega_conv_geom {
    int c, h, w;        ///< input channels (of this group), height, width
    int kh, kw;         ///< kernel
    int sh, sw;         ///< stride (>= 1)
    int pad_t, pad_l;   ///< top/left zero padding (>= 0)
    int dh, dw;         ///< dilation (>= 1)
    int oh, ow;         ///< output size (>= 1)
} sega_conv_geom;

/// Output extent PyTorch gives: floor((in + 2*pad - dil*(k-1) - 1)/stride) + 1 (<= 0 if empty).
int sega_conv_out_size(int in, int k, int stride, int pad, int dil);
/// SEGA_OK if every field is in range and the products fit in int; SEGA_ERR_INVALID_ARG otherwise.
sega_status sega_conv_geom_check(const sega_conv_geom *g);

/// col[(ci*kh + i)*kw + j][oy*ow + ox] = x[ci][oy*sh - pad_t + i*dh][ox*sw - pad_l + j*dw] (0 outside).
/// col is (c*kh*kw) x (oh*ow), row stride oh*ow.
void sega_im2col(const sega_conv_geom *g, const float *x, float *col);
void sega_im2col_ref(const sega_conv_geom *g, const float *x, float *col);
/// Adjoint of im2col: x[...] += col[...]. x is accumulated into, not overwritten.
void sega_col2im(const sega_conv_geom *g, const float *col, float *x);
void sega_col2im_ref(const sega_conv_geom *g, const float *col, float *x);
/// The same split over e's threads (e may be NULL: the calling thread), with input planes
/// plane_stride floats apart (>= h*w; a band of a taller image passes the image's plane size):
/// im2col by ranges of column-matrix rows, col2im by ranges of channels, each plane's taps added
/// in the order above, so the bytes are sega_im2col's / sega_col2im's for any thread count.
/// Small matrices stay on the calling thread.
void sega_im2col_mt(sega_engine *e, const sega_conv_geom *g, const float *x, size_t plane_stride, float *col);
void sega_col2im_mt(sega_engine *e, const sega_conv_geom *g, const float *col, float *x, size_t plane_stride);

/// Depthwise conv (groups == channels, multiplier 1): y[c] = w[c] (*) x[c] + bias[c].
/// w is c x kh x kw, bias may be NULL, y is c x oh x ow (overwritten).
/// Threaded over channels through the engine's pool, at the engine's ISA (e may be NULL: single
/// thread, at sega_cpu_best_isa()).
void sega_dwconv_fwd(sega_engine *e, const sega_conv_geom *g, const float *x, const float *w,
                     const float *bias, float *y);
void sega_dwconv_fwd_ref(const sega_conv_geom *g, const float *x, const float *w,
                         const float *bias, float *y);
/// n images of c channels at once (x and y hold them one after another): one dispatch over the
/// n * c planes, each plane followed while it is in cache by the activation `act` (sega_act;
/// SEGA_ACT_NONE: none) and its derivative mask (NULL: none, else n * c * oh * ow bytes). The
/// bytes of n sega_dwconv_fwd calls followed by sega_act_fwd_inplace on y.
void sega_dwconv_fwd_batch(sega_engine *e, const sega_conv_geom *g, int n, const float *x, const float *w,
                           const float *bias, float *y, int act, uint8_t *mask);
/// Gradient to the input: dx = conv^T(dy, w). dx is overwritten.
void sega_dwconv_bwd_input(sega_engine *e, const sega_conv_geom *g, const float *dy,
                           const float *w, float *dx);
/// n images of c channels at once (dy and dx hold them one after another): one dispatch over the
/// n * c planes. With `mask` (n * c * oh * ow bytes, a fused relu/relu6's derivative mask; NULL:
/// none) the gradient is taken of mask ? dy + 0 : +0, masked as each plane is read (dy is not
/// changed). `accumulate` 0: dx is overwritten; else the planes' gradients are added to dx. `ws`:
/// c * h * w floats (used when accumulating) followed by c * oh * ow floats (used with a mask),
/// NULL when neither. The bytes of, per image, sega_mask_copy of dy, then sega_dwconv_bwd_input
/// (into a buffer added to dx with sega_add_inplace when accumulating).
void sega_dwconv_bwd_input_batch(sega_engine *e, const sega_conv_geom *g, int n, const float *dy,
                                 const uint8_t *mask, const float *w, float *dx, int accumulate, float *ws);
void sega_dwconv_bwd_input_ref(const sega_conv_geom *g, const float *dy, const float *w, float *dx);
/// Gradient to the weights: dw[c][i][j] += sum dy * x (accumulated), on the calling thread at
/// the engine's ISA (e may be NULL).
void sega_dwconv_bwd_weight(sega_engine *e, const sega_conv_geom *g, const float *x, const float *dy,
                            float *dw);
void sega_dwconv_bwd_weight_ref(const sega_conv_geom *g, const float *x, const float *dy, float *dw);

#ifdef __cplusplus
}
#endif
#endif
