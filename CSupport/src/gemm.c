// gemm.c - packed SGEMM driver (BLIS-style loop nest), threading, kernel selection, and the
// FMA peak probe.
//
//   for jc in N by NC:                 (thread-private column range)
//     for pc in K by KC:               pack B[pc:+kc, jc:+nc] -> NR-wide slivers (zero padded)
//       for ic in M by MC:             pack A[ic:+mc, pc:+kc] -> MR-tall slivers (zero padded)
//         for jr in nc by NR:          B sliver stays in L1
//           for ir in mc by MR:        micro-kernel on an MR x NR tile of C
//
// Threads split M or N (never K), and the K blocking depends on k alone, so every element of C
// goes through the same sequence of floating-point operations whatever the thread count.
#include "engine_internal.h"
#include "sega_gemm.h"

#include <string.h>
#include <time.h>

// ---------------------------------------------------------------------------------------------
// Kernel table.

static const sega_gemm_kdesc k_portable = {4, 16, 128, 256, 2048, sega_sgemm_4x16_portable,
                                           "sgemm_4x16_portable"};
#if SEGA_HAVE_X86_KERNELS
static const sega_gemm_kdesc k_avx2 = {6, 16, 144, 256, 3072, sega_sgemm_6x16_avx2,
                                       "sgemm_6x16_avx2"};
static const sega_gemm_kdesc k_avx512_12x32 = {12, 32, 192, 384, 3072, sega_sgemm_12x32_avx512,
                                               "sgemm_12x32_avx512"};
static const sega_gemm_kdesc k_avx512_6x64 = {6, 64, 96, 256, 3072, sega_sgemm_6x64_avx512,
                                              "sgemm_6x64_avx512"};
static const sega_gemm_kdesc k_avx512_8x48 = {8, 48, 128, 256, 3072, sega_sgemm_8x48_avx512,
                                              "sgemm_8x48_avx512"};
#endif

#include <stdlib.h>

const sega_gemm_kdesc *sega_gemm_kdesc_for(sega_isa isa) {
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX2) return &k_avx2;
    if (isa == SEGA_ISA_AVX512) {
        const char *v = getenv("SEGA_AVX512_KERNEL");  // tuning experiments only
        if (v && strcmp(v, "6x64") == 0) return &k_avx512_6x64;
        if (v && strcmp(v, "8x48") == 0) return &k_avx512_8x48;
        return &k_avx512_12x32;
    }
#else
    (void)isa;
#endif
    return &k_portable;
}

size_t sega_gemm_apack_floats(const sega_gemm_kdesc *d) { return (size_t)d->mc * (size_t)d->kc; }
size_t sega_gemm_bpack_floats(const sega_gemm_kdesc *d) { return (size_t)d->nc * (size_t)d->kc; }

// ---------------------------------------------------------------------------------------------
// Packing.

// A sliver layout: ap[s*mr*kc + p*mr + i] = op(A)(i0 + s*mr + i, p0 + p), zero for rows >= mc.
static void pack_a(int trans, const float *a, long lda, int i0, int mc, int p0, int kc, int mr,
                   float *ap) {
    for (int s = 0; s < mc; s += mr) {
        const int rows = mc - s < mr ? mc - s : mr;
        float *dst = ap + (size_t)s * kc;
        if (!trans) {
            // op(A)(i, p) = a[i*lda + p]: each row is contiguous in p.
            for (int i = 0; i < rows; i++) {
                const float *src = a + (size_t)(i0 + s + i) * lda + p0;
                for (int p = 0; p < kc; p++) dst[(size_t)p * mr + i] = src[p];
            }
            for (int i = rows; i < mr; i++)
                for (int p = 0; p < kc; p++) dst[(size_t)p * mr + i] = 0.0f;
        } else {
            // op(A)(i, p) = a[p*lda + i]: rows of the sliver are contiguous in i.
            for (int p = 0; p < kc; p++) {
                const float *src = a + (size_t)(p0 + p) * lda + i0 + s;
                float *d = dst + (size_t)p * mr;
                int i = 0;
                for (; i < rows; i++) d[i] = src[i];
                for (; i < mr; i++) d[i] = 0.0f;
            }
        }
    }
}

// B sliver layout: bp[s*nr*kc + p*nr + j] = op(B)(p0 + p, j0 + s*nr + j), zero for cols >= nc.
static void pack_b(int trans, const float *b, long ldb, int p0, int kc, int j0, int nc, int nr,
                   float *bp) {
    for (int s = 0; s < nc; s += nr) {
        const int cols = nc - s < nr ? nc - s : nr;
        float *dst = bp + (size_t)s * kc;
        if (!trans) {
            // op(B)(p, j) = b[p*ldb + j]: contiguous in j.
            for (int p = 0; p < kc; p++) {
                const float *src = b + (size_t)(p0 + p) * ldb + j0 + s;
                float *d = dst + (size_t)p * nr;
                if (cols == nr) {
                    memcpy(d, src, (size_t)nr * sizeof(float));
                } else {
                    int j = 0;
                    for (; j < cols; j++) d[j] = src[j];
                    for (; j < nr; j++) d[j] = 0.0f;
                }
            }
        } else {
            // op(B)(p, j) = b[j*ldb + p]: contiguous in p.
            for (int j = 0; j < cols; j++) {
                const float *src = b + (size_t)(j0 + s + j) * ldb + p0;
                for (int p = 0; p < kc; p++) dst[(size_t)p * nr + j] = src[p];
            }
            for (int j = cols; j < nr; j++)
                for (int p = 0; p < kc; p++) dst[(size_t)p * nr + j] = 0.0f;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Macro-kernel: all MR x NR tiles of an mc x nc block of C.

#define SEGA_MAX_TILE (16 * 64)

static void macro_kernel(const sega_gemm_kdesc *d, int mc, int nc, int kc, const float *ap,
                         const float *bp, float *c, long ldc, float alpha, float beta) {
    const int mr = d->mr, nr = d->nr;
    const sega_ukernel_fn fn = d->fn;
    _Alignas(64) float tile[SEGA_MAX_TILE];
    for (int jr = 0; jr < nc; jr += nr) {
        const int nv = nc - jr < nr ? nc - jr : nr;
        const float *bs = bp + (size_t)jr * kc;
        for (int ir = 0; ir < mc; ir += mr) {
            const int mv = mc - ir < mr ? mc - ir : mr;
            const float *as = ap + (size_t)ir * kc;
            float *ct = c + (size_t)ir * ldc + jr;
            if (mv == mr && nv == nr) {
                fn(kc, as, bs, ct, ldc, alpha, beta);
            } else {
                // Edge tile: run the same kernel on a private tile holding the valid part of C
                // (same arithmetic as a full tile), then write back only the valid part.
                if (beta != 0.0f) {
                    for (int i = 0; i < mv; i++)
                        for (int j = 0; j < nv; j++) tile[i * nr + j] = ct[(size_t)i * ldc + j];
                }
                fn(kc, as, bs, tile, nr, alpha, beta);
                for (int i = 0; i < mv; i++)
                    for (int j = 0; j < nv; j++) ct[(size_t)i * ldc + j] = tile[i * nr + j];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Driver.

typedef struct gemm_job {
    const sega_gemm_kdesc *d;
    sega_engine *e;
    int ta, tb;
    int m, n, k;
    float alpha, beta;
    const float *a;
    long lda;
    const float *b;
    long ldb;
    float *c;
    long ldc;
    int kc_blk;    // K block size (depends on k only)
    int split_n;   // 1: threads split columns, 0: rows
    int nparts;    // number of parts (== tasks)
    int unit;      // part boundaries are multiples of this (nr or mr)
} gemm_job;

// Range [lo, hi) of part `t` of `total` units split into `parts` nearly equal pieces.
static void part_range(int total_units, int parts, int t, int *lo, int *hi) {
    const int base = total_units / parts, rem = total_units % parts;
    *lo = t * base + (t < rem ? t : rem);
    *hi = *lo + base + (t < rem ? 1 : 0);
}

static void gemm_block(const gemm_job *j, int tid, int m0, int m1, int n0, int n1) {
    const sega_gemm_kdesc *d = j->d;
    float *ap = j->e->apack[tid];
    float *bp = j->e->bpack[tid];
    const int kcb = j->kc_blk;
    // Balance M blocks within the range so the last block is not tiny.
    const int mrange = m1 - m0;
    int nmb = (mrange + d->mc - 1) / d->mc;
    int mcb = (mrange + nmb - 1) / nmb;
    mcb = (mcb + d->mr - 1) / d->mr * d->mr;
    for (int jc = n0; jc < n1; jc += d->nc) {
        const int nc = n1 - jc < d->nc ? n1 - jc : d->nc;
        for (int pc = 0; pc < j->k; pc += kcb) {
            const int kc = j->k - pc < kcb ? j->k - pc : kcb;
            const float beta = pc == 0 ? j->beta : 1.0f;
            pack_b(j->tb, j->b, j->ldb, pc, kc, jc, nc, d->nr, bp);
            for (int ic = m0; ic < m1; ic += mcb) {
                const int mc = m1 - ic < mcb ? m1 - ic : mcb;
                pack_a(j->ta, j->a, j->lda, ic, mc, pc, kc, d->mr, ap);
                macro_kernel(d, mc, nc, kc, ap, bp, j->c + (size_t)ic * j->ldc + jc, j->ldc,
                             j->alpha, beta);
            }
        }
    }
}

static void gemm_task(void *ctx, int index, int count) {
    const gemm_job *j = (const gemm_job *)ctx;
    (void)count;
    int lo, hi;
    if (j->split_n) {
        const int units = (j->n + j->unit - 1) / j->unit;
        part_range(units, j->nparts, index, &lo, &hi);
        lo *= j->unit;
        hi = hi * j->unit < j->n ? hi * j->unit : j->n;
        if (lo < hi) gemm_block(j, index, 0, j->m, lo, hi);
    } else {
        const int units = (j->m + j->unit - 1) / j->unit;
        part_range(units, j->nparts, index, &lo, &hi);
        lo *= j->unit;
        hi = hi * j->unit < j->m ? hi * j->unit : j->m;
        if (lo < hi) gemm_block(j, index, lo, hi, 0, j->n);
    }
}

static void scale_c(int m, int n, float beta, float *c, long ldc) {
    for (int i = 0; i < m; i++) {
        float *row = c + (size_t)i * ldc;
        if (beta == 0.0f) {
            for (int jj = 0; jj < n; jj++) row[jj] = 0.0f;
        } else if (beta != 1.0f) {
            for (int jj = 0; jj < n; jj++) row[jj] *= beta;
        }
    }
}

// Work below this many multiply-adds runs on the calling thread only (waking a worker costs
// more than it saves).
#define SEGA_GEMM_MT_MIN_WORK (96.0 * 96.0 * 96.0)

sega_status sega_sgemm(sega_engine *e, int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta, float *c,
                       int ldc) {
    if (!e || m < 0 || n < 0 || k < 0) return SEGA_ERR_INVALID_ARG;
    if (lda < (trans_a ? m : k) || ldb < (trans_b ? k : n) || ldc < n)
        return SEGA_ERR_INVALID_ARG;
    if ((m > 0 && k > 0 && !a) || (k > 0 && n > 0 && !b) || (m > 0 && n > 0 && !c))
        return SEGA_ERR_INVALID_ARG;
    if (m == 0 || n == 0) return SEGA_OK;
    if (k == 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return SEGA_OK;
    }

    const sega_gemm_kdesc *d = e->gemm;
    gemm_job j;
    j.d = d;
    j.e = e;
    j.ta = trans_a != 0;
    j.tb = trans_b != 0;
    j.m = m;
    j.n = n;
    j.k = k;
    j.alpha = alpha;
    j.beta = beta;
    j.a = a;
    j.lda = lda;
    j.b = b;
    j.ldb = ldb;
    j.c = c;
    j.ldc = ldc;
    // K blocks of nearly equal size (a function of k alone: thread-count independent).
    {
        const int nkb = (k + d->kc - 1) / d->kc;
        j.kc_blk = (k + nkb - 1) / nkb;
    }

    int T = e->nthreads;
    const double work = (double)m * (double)n * (double)k;
    const int ntiles = (n + d->nr - 1) / d->nr;
    const int mtiles = (m + d->mr - 1) / d->mr;
    if (work < SEGA_GEMM_MT_MIN_WORK) T = 1;
    if (ntiles >= 2 * T || ntiles >= mtiles) {
        j.split_n = 1;
        j.unit = d->nr;
        if (T > ntiles) T = ntiles;
    } else {
        j.split_n = 0;
        j.unit = d->mr;
        if (T > mtiles) T = mtiles;
    }
    if (T < 1) T = 1;
    j.nparts = T;
    if (T == 1) {
        gemm_task(&j, 0, 1);
    } else {
        sega_pool_run(e->pool, gemm_task, &j, T);
    }
    return SEGA_OK;
}

// ---------------------------------------------------------------------------------------------
// FMA peak probe.

static double sega_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double portable_peak_loop(long iters) {
    // Plain C multiply-adds over 32 independent chains (whatever the compiler makes of them).
    float acc[32];
    for (int i = 0; i < 32; i++) acc[i] = (float)i * 1e-3f;
    const float x = 0.999999f, y = 1e-7f;
    for (long it = 0; it < iters; it++) {
        for (int i = 0; i < 32; i++) acc[i] = acc[i] * x + y;
    }
    volatile float sink = 0;
    for (int i = 0; i < 32; i++) sink += acc[i];
    (void)sink;
    return 2.0 * 32.0 * (double)iters;
}

double sega_measure_fma_peak_gflops(sega_isa isa, double seconds) {
    if (isa == SEGA_ISA_AUTO) isa = sega_cpu_best_isa();
    if (!sega_cpu_supports(isa)) return 0.0;
    if (seconds <= 0) seconds = 0.2;
    double (*loop)(long) = portable_peak_loop;
#if SEGA_HAVE_X86_KERNELS
    if (isa == SEGA_ISA_AVX2) loop = sega_fma_peak_loop_avx2;
    if (isa == SEGA_ISA_AVX512) loop = sega_fma_peak_loop_avx512;
#endif
    long iters = 1 << 14;
    double best = 0.0;
    const double t_start = sega_now();
    for (;;) {
        const double t0 = sega_now();
        const double flops = loop(iters);
        const double dt = sega_now() - t0;
        if (dt > 0) {
            const double g = flops / dt * 1e-9;
            if (g > best) best = g;
        }
        if (dt < 0.02) iters *= 2;
        if (sega_now() - t_start >= seconds) break;
    }
    return best;
}
