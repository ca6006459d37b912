// sega_pooling.h - 2-D max and average pooling, forward and backward, CHW layout.
// Geometry reuses sega_conv_geom (dh = dw = 1 for avg; max honours dilation).
// PyTorch semantics: padding counts as -inf for max; for avg with count_include_pad the
// divisor is the window clipped to the padded extent [-pad, in + pad) (ceil-mode overhang past
// the padding is not counted), otherwise the window clipped to the image.
// A window lying wholly in the overhang (possible only with ceil mode) yields 0 for avg.
#ifndef SEGA_POOLING_H
#define SEGA_POOLING_H
#include "sega_common.h"
#include "sega_conv.h"

#ifdef __cplusplus
extern "C" {
#endif

/// PyTorch's pooled size: floor or ceil of (in + 2p - d(k-1) - 1)/s + 1, with the ceil-mode
/// rule that the last window must start inside the input or left padding.
int sega_pool_out_size(int in, int k, int stride, int pad, int dil, int ceil_mode);

/// y = max over the window; argmax[o] = flat index (iy*w + ix) into the channel plane of the
/// winner, the first one in scan order on ties, -1 if the window holds no input pixel.
/// The forwards run at the engine's ISA (e may be NULL: sega_cpu_best_isa()); every ISA gives
/// the same bits. The backwards have one (portable) variant. The forwards and the _acc
/// backwards split the planes (g->c) over e's threads above a size threshold, every plane
/// computed by the same code: the bytes do not depend on the thread count.
void sega_maxpool_fwd(sega_engine *e, const sega_conv_geom *g, const float *x, float *y, int32_t *argmax);
void sega_maxpool_fwd_ref(const sega_conv_geom *g, const float *x, float *y, int32_t *argmax);
/// dx = scatter-add of dy through argmax (dx overwritten: zeroed first).
void sega_maxpool_bwd(const sega_conv_geom *g, const float *dy, const int32_t *argmax, float *dx);
/// dx += scatter of dy through argmax (accumulates; no zeroing).
void sega_maxpool_bwd_acc(sega_engine *e, const sega_conv_geom *g, const float *dy, const int32_t *argmax,
                          float *dx);
/// Reference for the tests: recomputes the winners from x by a window scan, then scatters dy
/// (dx overwritten).
void sega_maxpool_bwd_ref(const sega_conv_geom *g, const float *x, const float *dy, float *dx);

/// Average pooling; pad_b/pad_r are the *declared* bottom/right padding (PyTorch pads symmetrically:
/// pad_b = pad_t, pad_r = pad_l) used for the count_include_pad divisor; values outside [0, k]
/// are clamped to it (beyond k they cannot change a divisor).
void sega_avgpool_fwd(sega_engine *e, const sega_conv_geom *g, int pad_b, int pad_r,
                      int count_include_pad, const float *x, float *y);
void sega_avgpool_fwd_ref(const sega_conv_geom *g, int pad_b, int pad_r, int count_include_pad,
                          const float *x, float *y);
/// dx overwritten.
void sega_avgpool_bwd(const sega_conv_geom *g, int pad_b, int pad_r, int count_include_pad,
                      const float *dy, float *dx);
/// dx += the gradient sega_avgpool_bwd writes, through ws (c*h*w floats, overwritten).
void sega_avgpool_bwd_acc(sega_engine *e, const sega_conv_geom *g, int pad_b, int pad_r,
                          int count_include_pad, const float *dy, float *ws, float *dx);
void sega_avgpool_bwd_ref(const sega_conv_geom *g, int pad_b, int pad_r, int count_include_pad,
                          const float *dy, float *dx);

#ifdef __cplusplus
}
#endif
#endif
