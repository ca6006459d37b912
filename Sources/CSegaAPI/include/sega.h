/* sega.h: the C API of libsega (transferable black-box attacks on NR-IQA models).
 *
 * Install with scripts/install.sh [--prefix DIR] (docs/install.md), then link with plain cc:
 *   cc prog.c $(pkg-config --cflags --libs sega)          libsega.so, the Swift runtime inside
 *   cc prog.c $(pkg-config --cflags --libs sega-static)   libsega.a and the Swift runtime's archives
 * No Swift type crosses this boundary: handles are opaque, images are planar float RGB in [0, 1]
 * (3 x height x width, channel-major), errors are return codes plus a message from
 * sega_last_error(). A context is not thread-safe: use one per thread.
 */
#ifndef SEGA_H
#define SEGA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes. */
enum {
    SEGA_RC_OK = 0,
    SEGA_RC_INVALID_ARGUMENT = 1, /* null pointer, bad shape, option out of range */
    SEGA_RC_IO = 2,               /* file cannot be opened, read or written */
    SEGA_RC_FORMAT = 3,           /* corrupt or truncated image, not an image */
    SEGA_RC_MODEL = 4,            /* unknown model, bad or foreign weights, NaN weights */
    SEGA_RC_MEMORY = 5,           /* the memory budget is too small for the plans */
    SEGA_RC_INTERNAL = 6
};

/* Attack methods, directions, budget shapes and JND models (sega_attack_options; docs/methods.md). */
enum { SEGA_METHOD_SEGA = 0, SEGA_METHOD_IFGSM = 1, SEGA_METHOD_ENS_IFGSM = 2, SEGA_METHOD_MIFGSM = 3,
       SEGA_METHOD_VT = 4, SEGA_METHOD_RANDOM = 5, SEGA_METHOD_SVRE = 6, SEGA_METHOD_CWA = 7,
       SEGA_METHOD_DI_MIFGSM = 8 };
enum { SEGA_DIRECTION_AUTO = 0, SEGA_DIRECTION_UP = 1, SEGA_DIRECTION_DOWN = 2 };
enum { SEGA_BUDGET_UNIFORM = 0, SEGA_BUDGET_JND = 1, SEGA_BUDGET_AUTO = 2 };
enum { SEGA_JND_YANG = 0, SEGA_JND_LIU = 1 };
enum { SEGA_GROWTH_ALL = 0, SEGA_GROWTH_MASKING = 1, SEGA_GROWTH_TEXTURE = 2 };

typedef struct sega_context sega_context;

/* "sega MAJOR.MINOR.PATCH", the string `sega --version` prints; static, never freed. */
const char *sega_version(void);

/* Every field is an attack setting (docs/settings.md lists them with their flags and ranges);
 * fields are only ever appended. Fill with sega_attack_options_init, then change what you need. */
typedef struct sega_attack_options {
    int method;              /* SEGA_METHOD_* */
    float eps;               /* L-infinity budget in [0, 1] units, in [1/255, 1] (one 8-bit step at least) */
    float alpha;             /* step size; <= 0 means eps / 4 (NaN is refused) */
    int iterations;          /* T */
    int samples;             /* SEGA Monte Carlo samples N */
    float sigma;             /* SEGA smoothing sigma */
    uint64_t seed;
    int direction;           /* SEGA_DIRECTION_* (any other value is refused) */
    float mask_quantile;     /* M^F quantile in [0, 1) */
    float jnd_threshold;     /* M^JND threshold (luma 0..255), 0 keeps all */
    int normalize_sources;   /* 1: divide each source gradient by its mean |g| */
    float mask_agreement;    /* M^F: fraction of sources that must share the ensemble sign, [0, 1] */
    int antithetic;          /* SEGA: 1 draws the noise in pairs (u, -u) (an odd N ends on a lone u) */
    float sega_momentum;     /* SEGA: >0 steps on sign(mom = mu*mom + g/mean|g|) (not in the paper), >= 0 */
    float momentum;          /* momentum decay of MI-FGSM, VT, DI-MI-FGSM, SVRE and CWA, >= 0 */
    int vt_samples;          /* VT: uniform neighbours per source and step, 1...10000 */
    float vt_beta;           /* VT: neighbourhood radius, a multiple of eps, >= 0 */
    int budget;              /* SEGA_BUDGET_*: uniform eps, eps_i = min(eps, budget_lambda * JND_i / 255), or auto (jnd for SEGA, uniform for the baselines; the default) */
    float budget_lambda;     /* JND budget: lambda in just-noticeable differences, > 0 */
    int jnd_model;           /* SEGA_JND_*: the JND model of jnd_threshold and the JND budget */
    int svre_inner;          /* SVRE: inner steps per source and iteration (M = this * K), 1...10000 */
    float cwa_radius;        /* CWA: reverse (sharpness-aware) step, a multiple of eps, [0, 1] */
    float cwa_inner_step;    /* CWA: inner step's RMS per component, a multiple of eps, > 0 */
    int cwa_sweeps;          /* CWA: passes over the sources per iteration, 1...10000 */
    float di_probability;    /* DI: probability of transforming an input copy, [0, 1] */
    float di_resize;         /* DI: content shrunk to between 1/this and 1 of the image, [1, 2] */
    int di_samples;          /* DI: transformed copies per iteration, 1...10000 */
    float jnd_la_cap;        /* JND map: luminance adaptation counted up to this many luma levels, [0, 255]; 0: no cap; default 4 */
    float target_ssim;       /* final perturbation scaled up (c <= 8, radius up to eps) to this SSIM, [0, 1); 0: off; < 0: auto (0.9 for SEGA, off for the baselines) */
    float mask_fill;         /* SEGA: components M^F drops step along a fixed random sign pattern at this fraction, [0, 1]; 0: off */
    float chroma;            /* SEGA, JND budget: isoluminant change per channel up to this fraction of eps beside the luma budget, [0, 1]; 0: off; default 1 */
    int budget_growth;       /* SEGA_GROWTH_*: what the chroma budget and the spend grow: all, only each pixel's masking part of its JND (flat regions keep their luma JND, no colour), or that part scaled by the pixel-scale contrast */
    float sega_di;           /* SEGA: probability that a noisy sample is also DI-transformed (shrunk by up to 1.1, padded), [0, 1]; 0: off */
} sega_attack_options;

/* A context with a memory budget in bytes for all its plans (0: no limit) and a thread count
 * (0: all online CPUs). NULL only if out of memory. */
sega_context *sega_context_create(size_t memory_budget_bytes, int threads);
void sega_context_destroy(sega_context *ctx);

/* The message of the last failed call on ctx ("" after a success). Valid until the next call.
 * For a NULL ctx, a fixed message saying so (never NULL). */
const char *sega_last_error(const sega_context *ctx);

/* Load weights: a .safetensors path, or a model name looked up in $SEGA_WEIGHTS / ./weights.
 * On success *out_model is the model's handle in this context. */
int sega_model_load(sega_context *ctx, const char *path_or_name, int *out_model);

/* Nominal score range of a model (lo, hi). */
int sega_model_range(sega_context *ctx, int model, double *lo, double *hi);

/* Score one image (every value finite and in [0, 1], as for sega_attack; else
 * SEGA_RC_INVALID_ARGUMENT, as for an image smaller than the model takes). */
int sega_score(sega_context *ctx, int model, const float *chw, int height, int width, float *out_score);

/* Defaults (those of `sega attack`): SEGA, eps 8/255, alpha eps/4, T 10, N 12, sigma 0.02, auto
 * direction, normalised, masks off, momentum 1, VT 4 samples at radius 1.5 eps, uniform budget
 * (lambda 1, Yang's JND), SVRE 4 K inner steps, CWA radius eps/15, inner step 10.27 eps, one sweep,
 * DI p 0.5, resize 1.1, one copy. */
void sega_attack_options_init(sega_attack_options *opts);

/* Attack `chw` with the given source models; writes the adversarial image (on the 8-bit grid,
 * within eps in L-infinity, and within eps_i per pixel under the JND budget) to out_chw and, if not NULL, each source's score before and after
 * (n_sources floats each). */
int sega_attack(sega_context *ctx, const int *sources, int n_sources, const float *chw, int height, int width,
                const sega_attack_options *opts, float *out_chw, float *scores_before, float *scores_after);

/* PNG/JPEG to planar float RGB (free with sega_image_free), and lossless 8-bit PNG out
 * (atomic; refuses to overwrite nothing but a directory). */
int sega_image_read(sega_context *ctx, const char *path, float **out_chw, int *height, int *width);
int sega_image_write_png(sega_context *ctx, const char *path, const float *chw, int height, int width);
void sega_image_free(float *chw);

#ifdef __cplusplus
}
#endif
#endif /* SEGA_H */
