// dwconv_fuzz.c - libFuzzer harness: depthwise convolution (forward, input and weight
// gradients) against the references. With small-integer data every sum is exact in fp32
// whatever the order or FMA use, so results are compared exactly. Runs single-threaded
// (e == NULL), portable 1-thread and AVX2 2-thread engines (FZ_ENGINES).
#define FZ_ENGINES
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader r = {data, size, 0, (uint32_t)size * 2654435761u};
    sega_conv_geom g;
    fz_geom_size(&r, &g, 3, 20);
    const int sq = fz_range(&r, 0, 1);
    // Kernels up to 9 (81 taps) and strides up to 5 reach the direct path (> 64 taps, stride > 4).
    fz_geom_window(&r, &g, (fz_window){9, 5, 5, 0, 3}, sq);
    const int offh = fz_range(&r, -1, 3), offw = fz_range(&r, -1, 3);
    g.oh = sega_conv_out_size(g.h, g.kh, g.sh, g.pad_t, g.dh) + offh;
    g.ow = sega_conv_out_size(g.w, g.kw, g.sw, g.pad_l, g.dw) + offw;
    sega_engine *e = fz_engine(&r);
    const int with_bias = fz_range(&r, 0, 1);
    if (sega_conv_geom_check(&g) != SEGA_OK) return 0;

    const size_t nx = (size_t)g.c * g.h * g.w, ny = (size_t)g.c * g.oh * g.ow;
    const size_t nw = (size_t)g.c * g.kh * g.kw;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)g.c * 4);
    float *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *dy = malloc(ny * 4);
    float *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4), *dw1 = malloc(nw * 4), *dw2 = malloc(nw * 4);
    if (!x || !w || !b || !y1 || !y2 || !dy || !dx1 || !dx2 || !dw1 || !dw2) abort();
    fz_fill(&r, x, nx);
    fz_fill(&r, w, nw);
    fz_fill(&r, b, (size_t)g.c);
    fz_fill(&r, dy, ny);

    for (size_t i = 0; i < ny; i++) { y1[i] = 1e30f; y2[i] = -1e30f; }
    sega_dwconv_fwd(e, &g, x, w, with_bias ? b : NULL, y1);
    sega_dwconv_fwd_ref(&g, x, w, with_bias ? b : NULL, y2);
    if (!fz_same(y1, y2, ny)) abort();

    for (size_t i = 0; i < nx; i++) { dx1[i] = 1e30f; dx2[i] = -1e30f; }   // overwritten
    sega_dwconv_bwd_input(e, &g, dy, w, dx1);
    sega_dwconv_bwd_input_ref(&g, dy, w, dx2);
    if (!fz_same(dx1, dx2, nx)) abort();

    fz_fill(&r, dw1, nw);   // accumulated
    memcpy(dw2, dw1, nw * 4);
    sega_dwconv_bwd_weight(e, &g, x, dy, dw1);
    sega_dwconv_bwd_weight_ref(&g, x, dy, dw2);
    if (!fz_same(dw1, dw2, nw)) abort();

    free(x); free(w); free(b); free(y1); free(y2); free(dy);
    free(dx1); free(dx2); free(dw1); free(dw2);
    return 0;
}
