/* capi_threads.c - the C API from several threads at once, one context per thread, for
 * scripts/fault/tsan_capi.sh (built with -fsanitize=thread against a TSan build of libsega).
 *
 *   capi_threads SOURCE.safetensors TARGET.safetensors OUTDIR [THREADS]
 *
 * Each thread creates its own context (2 engine threads), loads both models, scores a synthetic
 * 24x20 image with each, attacks it with the source (SEGA, 2 iterations), writes the result as
 * a PNG, reads it back and scores it again. Every thread must get the same bytes and scores
 * (same seed => same result, whatever else runs); exits 1 otherwise, 0 with a summary line.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sega.h"

enum { H = 20, W = 24, MAXT = 16 };

typedef struct {
    int index, rc;
    const char *source, *target, *outdir;
    float before, after, target_clean, target_attacked;
    float adv[3 * H * W];
    char err[256];
} job;

static void *run(void *p) {
    job *j = p;
    sega_context *ctx = sega_context_create(0, 2);
    if (!ctx) { j->rc = -1; snprintf(j->err, sizeof j->err, "no context"); return NULL; }
    float img[3 * H * W];
    for (int i = 0; i < 3 * H * W; i++) img[i] = (float)((i * 7919) % 251) / 255.0f;
    int src = -1, tgt = -1, h = 0, w = 0;
    float *back = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/thread%d.png", j->outdir, j->index);
    sega_attack_options o;
    sega_attack_options_init(&o);
    o.iterations = 2;
    o.samples = 2;
    if ((j->rc = sega_model_load(ctx, j->source, &src)) || (j->rc = sega_model_load(ctx, j->target, &tgt)) ||
        (j->rc = sega_score(ctx, tgt, img, H, W, &j->target_clean)) ||
        (j->rc = sega_attack(ctx, &src, 1, img, H, W, &o, j->adv, &j->before, &j->after)) ||
        (j->rc = sega_image_write_png(ctx, path, j->adv, H, W)) ||
        (j->rc = sega_image_read(ctx, path, &back, &h, &w)) ||
        (j->rc = sega_score(ctx, tgt, back, h, w, &j->target_attacked))) {
        snprintf(j->err, sizeof j->err, "%s", sega_last_error(ctx));
    } else if (h != H || w != W || memcmp(back, j->adv, sizeof j->adv) != 0) {
        j->rc = -2;
        snprintf(j->err, sizeof j->err, "the PNG read back differs from the attacked image");
    }
    sega_image_free(back);
    sega_context_destroy(ctx);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s SOURCE TARGET OUTDIR [THREADS]\n", argv[0]); return 2; }
    int n = argc > 4 ? atoi(argv[4]) : 4;
    if (n < 1 || n > MAXT) n = 4;
    static job jobs[MAXT];
    pthread_t t[MAXT];
    for (int i = 0; i < n; i++) {
        jobs[i] = (job){.index = i, .source = argv[1], .target = argv[2], .outdir = argv[3]};
        pthread_create(&t[i], NULL, run, &jobs[i]);
    }
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (jobs[i].rc) { fprintf(stderr, "thread %d: rc %d: %s\n", i, jobs[i].rc, jobs[i].err); bad = 1; continue; }
        if (memcmp(jobs[i].adv, jobs[0].adv, sizeof jobs[0].adv) != 0 || jobs[i].after != jobs[0].after ||
            jobs[i].target_attacked != jobs[0].target_attacked) {
            fprintf(stderr, "thread %d: results differ from thread 0's\n", i);
            bad = 1;
        }
    }
    if (!bad)
        printf("capi-threads: %d threads, one context each: identical results (source %.6f -> %.6f, target %.6f -> %.6f)\n",
               n, jobs[0].before, jobs[0].after, jobs[0].target_clean, jobs[0].target_attacked);
    return bad;
}
