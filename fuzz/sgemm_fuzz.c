// sgemm_fuzz.c - libFuzzer harness: sega_sgemm (every ISA this CPU supports, 1 and 2 threads)
// against sega_sgemm_ref, bit for bit.
//
// Input: [m n k flags alpha_idx beta_idx] then matrix entries, one byte each. Sizes are
// 0..40, entries are integers in [-4, 4], alpha and beta are small integers or powers of two,
// so every product, every partial sum (|sum| <= 40*16) and alpha*sum + beta*c is exact in fp32:
// any correct summation order gives the same bits, and any indexing, packing, edge-tile,
// transpose or threading bug shows up as a mismatch. Padding of A and B holds NaN (reading it
// poisons C), padding of C holds a sentinel that must survive, and with beta == 0 the valid
// part of C starts as NaN (it must not be read).
// Build and run: fuzz/build_sgemm.sh [seconds]   (or the generic fuzz/run.sh sgemm)
#include "sega_gemm.h"
#include "gemm_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXD 40
#define MAXPAD 3

static sega_engine *g_engines[8];
static int g_nengines;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const sega_isa isas[] = {SEGA_ISA_PORTABLE, SEGA_ISA_AVX2, SEGA_ISA_AVX512};
    for (int i = 0; i < 3; i++) {
        if (!sega_cpu_supports(isas[i])) continue;
        for (int t = 1; t <= 2; t++) {
            sega_engine *e = NULL;
            if (sega_engine_create(t, isas[i], &e) != SEGA_OK) abort();
            g_engines[g_nengines++] = e;
        }
    }
    // Thread even the tiniest problem, so the 2-thread engines really split M or N.
    sega_gemm_set_mt_min_work(0.0);
    return 0;
}

static float g_a[(MAXD + MAXPAD) * MAXD], g_b[(MAXD + MAXPAD) * MAXD];
static float g_c0[MAXD * (MAXD + MAXPAD)], g_ref[MAXD * (MAXD + MAXPAD)], g_out[MAXD * (MAXD + MAXPAD)];

static const float k_alpha[8] = {1.0f, -1.0f, 2.0f, 0.0f, 0.5f, 3.0f, -2.0f, 0.25f};
static const float k_beta[8] = {0.0f, 1.0f, -1.0f, 2.0f, 0.5f, -3.0f, 0.0f, 0.25f};
static const float k_sentinel = -777.25f;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 6) return 0;
    const int m = data[0] % (MAXD + 1), n = data[1] % (MAXD + 1), k = data[2] % (MAXD + 1);
    const int flags = data[3];
    const int ta = flags & 1, tb = (flags >> 1) & 1;
    const int pad_a = (flags >> 2) & 3, pad_b = (flags >> 4) & 3, pad_c = (flags >> 6) & 3;
    const float alpha = k_alpha[data[4] & 7], beta = k_beta[data[5] & 7];
    data += 6;
    size -= 6;
    size_t pos = 0;
#define NEXT_VAL() ((float)((int)(pos < size ? data[pos++] % 9 : (pos++ * 7) % 9) - 4))

    const int a_rows = ta ? k : m, a_cols = ta ? m : k;
    const int b_rows = tb ? n : k, b_cols = tb ? k : n;
    const int lda = a_cols + pad_a, ldb = b_cols + pad_b, ldc = n + pad_c;
    for (int i = 0; i < a_rows; i++)
        for (int j = 0; j < lda; j++) g_a[i * lda + j] = j < a_cols ? NEXT_VAL() : NAN;
    for (int i = 0; i < b_rows; i++)
        for (int j = 0; j < ldb; j++) g_b[i * ldb + j] = j < b_cols ? NEXT_VAL() : NAN;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < ldc; j++)
            g_c0[i * ldc + j] = j >= n ? k_sentinel : (beta == 0.0f ? NAN : NEXT_VAL());
#undef NEXT_VAL

    const size_t cbytes = (size_t)m * (size_t)ldc * sizeof(float);
    memcpy(g_ref, g_c0, cbytes);
    if (sega_sgemm_ref(ta, tb, m, n, k, alpha, g_a, lda, g_b, ldb, beta, g_ref, ldc) != SEGA_OK) abort();
    for (int e = 0; e < g_nengines; e++) {
        memcpy(g_out, g_c0, cbytes);
        const sega_status st = sega_sgemm(g_engines[e], ta, tb, m, n, k, alpha, g_a, lda, g_b, ldb,
                                          beta, g_out, ldc);
        if (st != SEGA_OK || memcmp(g_out, g_ref, cbytes) != 0) {
            fprintf(stderr, "sgemm mismatch: isa=%s threads=%d ta=%d tb=%d m=%d n=%d k=%d pads=%d,%d,%d "
                    "alpha=%g beta=%g status=%d\n", sega_isa_name(sega_engine_isa(g_engines[e])),
                    sega_engine_threads(g_engines[e]), ta, tb, m, n, k, pad_a, pad_b, pad_c, alpha, beta, st);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < ldc; j++)
                    if (memcmp(&g_out[i * ldc + j], &g_ref[i * ldc + j], sizeof(float)) != 0) {
                        fprintf(stderr, "  first difference at (%d,%d): got %g want %g\n", i, j,
                                g_out[i * ldc + j], g_ref[i * ldc + j]);
                        abort();
                    }
            abort();
        }
    }
    return 0;
}
