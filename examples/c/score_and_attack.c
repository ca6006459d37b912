/* Score and attack one image through libsega's C API (sega.h).
 *
 *   score_and_attack SOURCE_WEIGHTS TARGET_WEIGHTS IMAGE OUT.png
 *
 * Build against an installed copy (scripts/install.sh), with plain cc:
 *   cc score_and_attack.c $(pkg-config --cflags --libs sega)          (libsega.so)
 *   cc score_and_attack.c $(pkg-config --cflags --libs sega-static)   (libsega.a)
 *
 * Prints the library's version, loads two models, scores IMAGE with both, attacks it with SEGA
 * using the first as the source (eps 4/255, 3 iterations, 2 samples), writes OUT.png, scores the
 * result with the second (the "black-box" target), and shows two error paths (an image loaded as
 * weights, a negative eps) handled by return code.
 */
#include <stdio.h>
#include <stdlib.h>
#include "sega.h"

static int check(sega_context *ctx, int rc, const char *what) {
    if (rc != SEGA_RC_OK) fprintf(stderr, "%s failed (rc %d): %s\n", what, rc, sega_last_error(ctx));
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s SOURCE TARGET IMAGE OUT.png\n", argv[0]); return 2; }
    printf("%s\n", sega_version());
    sega_context *ctx = sega_context_create((size_t)2 << 30, 2);
    if (!ctx) return 1;
    int src, tgt, h, w;
    float *img = NULL;
    if (check(ctx, sega_model_load(ctx, argv[1], &src), "load source") ||
        check(ctx, sega_model_load(ctx, argv[2], &tgt), "load target") ||
        check(ctx, sega_image_read(ctx, argv[3], &img, &h, &w), "read image")) { sega_context_destroy(ctx); return 1; }

    float s_clean, t_clean, t_adv, before, after;
    if (check(ctx, sega_score(ctx, src, img, h, w, &s_clean), "score") ||
        check(ctx, sega_score(ctx, tgt, img, h, w, &t_clean), "score")) return 1;

    sega_attack_options o;
    sega_attack_options_init(&o);
    o.eps = 4.0f / 255.0f; o.iterations = 3; o.samples = 2;
    float *adv = malloc(sizeof(float) * 3 * (size_t)h * (size_t)w);
    if (check(ctx, sega_attack(ctx, &src, 1, img, h, w, &o, adv, &before, &after), "attack") ||
        check(ctx, sega_score(ctx, tgt, adv, h, w, &t_adv), "score attacked") ||
        check(ctx, sega_image_write_png(ctx, argv[4], adv, h, w), "write png")) return 1;
    float linf = 0;
    for (size_t i = 0; i < 3 * (size_t)h * (size_t)w; i++) {
        float d = adv[i] > img[i] ? adv[i] - img[i] : img[i] - adv[i];
        if (d > linf) linf = d;
    }
    printf("image %dx%d\nsource: %.4f -> %.4f\ntarget: %.4f -> %.4f\nlinf: %.6f (eps %.6f)\n",
           w, h, before, after, t_clean, t_adv, linf, o.eps);

    /* Bad input comes back as a code and a message, never an abort. */
    int m;
    int rc = sega_model_load(ctx, argv[3], &m);  /* an image is not a weights file */
    printf("loading an image as weights: rc %d: %s\n", rc, sega_last_error(ctx));
    sega_attack_options bad = o;
    bad.eps = -1;
    rc = sega_attack(ctx, &src, 1, img, h, w, &bad, adv, NULL, NULL);
    printf("negative eps: rc %d: %s\n", rc, sega_last_error(ctx));

    free(adv);
    sega_image_free(img);
    sega_context_destroy(ctx);
    return (linf <= o.eps + 1e-6f && rc == SEGA_RC_INVALID_ARGUMENT) ? 0 : 1;
}
