// pooling_fuzz.c - libFuzzer harness: max/avg pooling forward and backward against the
// references, bit for bit (the fast kernels visit taps in the reference's order). Inputs mix
// small integers (ties) with NaN, +-inf and -0. The forwards run under the FZ_ENGINES engines.
#include "sega_pooling.h"
#define FZ_ENGINES
#include "fuzz_common.h"
#include <math.h>

static float special(fz_reader *r) {
    const uint8_t b = fz_byte(r);
    switch (b & 31) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return -0.0f;
    default: return (float)((int)(b % 7) - 3);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader r = {data, size, 0, (uint32_t)size * 2654435761u};
    sega_conv_geom g;
    const int ceil_mode = fz_range(&r, 0, 1);
    fz_geom_size(&r, &g, 2, 17);
    fz_geom_window(&r, &g, (fz_window){6, 4, 4, -1, 3}, 0);
    const int explicit_out = fz_range(&r, 0, 3) == 0;
    const int pad_b = fz_range(&r, -1, 7), pad_r = fz_range(&r, -1, 7);
    const int specials = fz_range(&r, 0, 1);
    if (explicit_out) {
        g.oh = fz_range(&r, -1, 12);
        g.ow = fz_range(&r, -1, 12);
    } else {
        g.oh = sega_pool_out_size(g.h, g.kh, g.sh, g.pad_t, g.dh, ceil_mode);
        g.ow = sega_pool_out_size(g.w, g.kw, g.sw, g.pad_l, g.dw, ceil_mode);
    }
    if (sega_conv_geom_check(&g) != SEGA_OK) return 0;

    const size_t nx = (size_t)g.c * g.h * g.w, ny = (size_t)g.c * g.oh * g.ow;
    float *x = malloc(nx * 4), *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *dy = malloc(ny * 4);
    float *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4);
    int32_t *a1 = malloc(ny * 4), *a2 = malloc(ny * 4);
    if (!x || !y1 || !y2 || !dy || !dx1 || !dx2 || !a1 || !a2) abort();
    for (size_t i = 0; i < nx; i++) x[i] = specials ? special(&r) : fz_small(&r);
    fz_fill(&r, dy, ny);
    sega_engine *e = fz_engine(&r);   // last, so the seeds decode as before

    // Max pooling (with dilation).
    sega_maxpool_fwd(e, &g, x, y1, a1);
    sega_maxpool_fwd_ref(&g, x, y2, a2);
    if (memcmp(y1, y2, ny * 4) != 0 || memcmp(a1, a2, ny * 4) != 0) abort();
    for (size_t i = 0; i < ny; i++)
        if (a1[i] < -1 || a1[i] >= (int32_t)((size_t)g.h * g.w)) abort();
    for (size_t i = 0; i < nx; i++) { dx1[i] = 1e30f; dx2[i] = -1e30f; }
    sega_maxpool_bwd(&g, dy, a1, dx1);
    sega_maxpool_bwd_ref(&g, x, dy, dx2);
    if (memcmp(dx1, dx2, nx * 4) != 0) abort();

    // Average pooling (no dilation).
    g.dh = g.dw = 1;
    if (sega_conv_geom_check(&g) == SEGA_OK) {
        for (int cip = 0; cip < 2; cip++) {
            for (size_t i = 0; i < ny; i++) { y1[i] = 1e30f; y2[i] = -1e30f; }
            sega_avgpool_fwd(e, &g, pad_b, pad_r, cip, x, y1);
            sega_avgpool_fwd_ref(&g, pad_b, pad_r, cip, x, y2);
            if (!fz_same(y1, y2, ny)) abort();
            for (size_t i = 0; i < nx; i++) { dx1[i] = 1e30f; dx2[i] = -1e30f; }
            sega_avgpool_bwd(&g, pad_b, pad_r, cip, dy, dx1);
            sega_avgpool_bwd_ref(&g, pad_b, pad_r, cip, dy, dx2);
            if (memcmp(dx1, dx2, nx * 4) != 0) abort();
        }
    }
    free(x); free(y1); free(y2); free(dy); free(dx1); free(dx2); free(a1); free(a2);
    return 0;
}
