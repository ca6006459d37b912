// im2col_fuzz.c - libFuzzer harness: sega_im2col / sega_col2im against the naive references,
// bit for bit, over small random geometries (including invalid ones, which must be rejected by
// sega_conv_geom_check). Build and run with fuzz/build_im2col.sh.
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader r = {data, size, 0, (uint32_t)size * 2654435761u};
    sega_conv_geom g;
    fz_geom_size(&r, &g, 3, 13);
    fz_geom_window(&r, &g, (fz_window){6, 4, 5, -1, 3}, 0);
    // Output: PyTorch's size plus a small offset (negative -> invalid, positive -> implied
    // bottom/right padding as in TensorFlow SAME).
    const int offh = fz_range(&r, -1, 3), offw = fz_range(&r, -1, 3);
    g.oh = sega_conv_out_size(g.h, g.kh, g.sh, g.pad_t, g.dh) + (offh == 3 ? -2 : offh);
    g.ow = sega_conv_out_size(g.w, g.kw, g.sw, g.pad_l, g.dw) + (offw == 3 ? -2 : offw);
    if (sega_conv_geom_check(&g) != SEGA_OK) return 0;
    // Accepted geometry must really be valid.
    if (g.c <= 0 || g.h <= 0 || g.w <= 0 || g.kh <= 0 || g.kw <= 0 || g.sh <= 0 || g.sw <= 0 ||
        g.pad_t < 0 || g.pad_l < 0 || g.dh <= 0 || g.dw <= 0 || g.oh <= 0 || g.ow <= 0)
        abort();

    const size_t nx = (size_t)g.c * g.h * g.w;
    const size_t nc = (size_t)g.c * g.kh * g.kw * g.oh * g.ow;
    float *x = (float *)malloc(nx * sizeof(float));
    float *c1 = (float *)malloc(nc * sizeof(float));
    float *c2 = (float *)malloc(nc * sizeof(float));
    float *x1 = (float *)malloc(nx * sizeof(float));
    float *x2 = (float *)malloc(nx * sizeof(float));
    if (!x || !c1 || !c2 || !x1 || !x2) abort();

    fz_fill(&r, x, nx);
    // Different sentinels: an element the fast path forgets to write shows up as a mismatch.
    for (size_t i = 0; i < nc; i++) { c1[i] = 1e30f; c2[i] = -1e30f; }
    sega_im2col(&g, x, c1);
    sega_im2col_ref(&g, x, c2);
    if (memcmp(c1, c2, nc * sizeof(float)) != 0) abort();

    fz_fill(&r, c1, nc);
    fz_fill(&r, x1, nx);   // col2im accumulates into a non-zero x
    memcpy(x2, x1, nx * sizeof(float));
    sega_col2im(&g, c1, x1);
    sega_col2im_ref(&g, c1, x2);
    if (memcmp(x1, x2, nx * sizeof(float)) != 0) abort();

    free(x); free(c1); free(c2); free(x1); free(x2);
    return 0;
}
