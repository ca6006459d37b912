// sega_winograd.h - dense 3x3, stride-1, pad-1 convolution (groups 1, dilation 1) by Winograd's
// minimal filtering F(T x T, 3x3), T = 2 or 4 (Lavin & Gray 2015): each T x T output tile is
// A^T [(G g G^T) . (B^T d B)] A over a (T+2) x (T+2) input tile d, so the channel sums become
// (T+2)^2 independent products (one per transform point): 2.25x (T = 2) or 4x (T = 4) fewer
// multiplies than the direct sum. F(4x4) rounds more (its transforms have entries up to 8 and
// 1/24). NCHW, n images at once; output maps have the input's size.
//
// The weights are transformed once (sega_wino_pack_weights) into the SGEMM micro-kernel's packed
// A layout for the engine; a call then runs, per block of tiles (on one thread each): the input
// transform straight into packed B slivers, the 16 products through the engine's micro-kernel,
// and the output transform. A tile's values never depend on the block it falls in, nor on the
// thread that runs it: results are byte-identical for any thread count.
//
// The input gradient of such a convolution is the same kind of convolution of dy with every
// kernel rotated 180 degrees and the channel roles swapped: pack the weights with backward = 1
// and call sega_wino_conv with dy as the source (k = cout, m = cin).
#ifndef SEGA_WINOGRAD_H
#define SEGA_WINOGRAD_H
#include "sega_common.h"
#include "sega_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/// One call: n images of k channels of h x w in, m channels of h x w out.
typedef struct sega_wino_args {
    int tile;                ///< T: 2 or 4
    int n, k, m, h, w;
    const float *src;        ///< n x k x h x w
    const uint8_t *src_mask; ///< NULL, or bytes like src: source elements whose byte is 0 count as +0
    const float *packed;     ///< sega_wino_pack_weights for this tile, shape and engine
    const float *bias;       ///< NULL or m values added to every output of a channel
    int act;                 ///< sega_act applied last (SEGA_ACT_NONE: none)
    uint8_t *mask;           ///< NULL, or the activation's derivative mask, bytes like dst
    float *dst;              ///< n x m x h x w
    int accumulate;          ///< 0: dst is overwritten; else the result is added to it
    float *ws;               ///< sega_wino_ws_floats(tile, k, m, w, slots) floats, 64-byte aligned
    int slots;               ///< the thread count ws was sized for
} sega_wino_args;

/// The tile side sega picks for a k -> m convolution on h x w maps: 4 (fewer multiplies, more
/// rounding, packed weights 4x the kernels' size per direction) on maps from 12 x 12 up with at
/// most 256 x 256 channels, else 2 (1.78x; below 12 x 12 a 4 x 4 tile wastes too much padding).
int sega_wino_tile(int k, int m, int h, int w);
/// Floats of one packed weight set for m output rows and k input channels (any engine); 0 for a
/// tile other than 2 or 4.
size_t sega_wino_weight_floats(int tile, int m, int k);
/// Packs the transformed weights for `e` and calls with this tile on n images of h x w. wt is cout x cin x 3 x 3.
/// backward 0: the forward convolution (m = cout, k = cin); 1: its input gradient (m = cin,
/// k = cout, kernels rotated). `packed` holds sega_wino_weight_floats(m, k) floats; it is zeroed
/// and filled, on the engine's threads.
void sega_wino_pack_weights(sega_engine *e, int tile, int n, int h, int w, int cin, int cout, const float *wt,
                            int backward, float *packed);
/// Scratch floats a call with k input and m output channels (or the reverse) of width w needs
/// when the engine runs `slots` threads.
size_t sega_wino_ws_floats(int tile, int k, int m, int w, int slots);
/// Runs the convolution. SEGA_ERR_INVALID_ARG for bad sizes or NULL buffers.
sega_status sega_wino_conv(sega_engine *e, const sega_wino_args *a);

/// Naive reference: dense 3x3 stride-1 pad-1 convolution of n images (k -> m channels), double
/// accumulator; w is m x k x 3 x 3; bias may be NULL; y overwritten (conv_ref.c).
void sega_conv3x3_ref(int n, int k, int m, int h, int w, const float *x, const float *wt,
                      const float *bias, float *y);

#ifdef __cplusplus
}
#endif
#endif
