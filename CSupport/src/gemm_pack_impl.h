// gemm_pack_impl.h - packing routines, instantiated once per micro-kernel so that MR and NR are
// compile-time constants and the copies are compiled for the kernel's ISA (function target
// attribute, no global flag). Include after defining:
//   SEGA_PACK_MR, SEGA_PACK_NR   register tile
//   SEGA_PACK_ATTR               e.g. __attribute__((target("avx512f"))) or empty
//   SEGA_PACK_SUFFIX             name suffix: defines sega_pack_a_<suffix>, sega_pack_b_<suffix>
// (no include guard on purpose; the four macros are #undef'd at the end).
#define SEGA_PACK_CAT2(a, b) a##b
#define SEGA_PACK_CAT(a, b) SEGA_PACK_CAT2(a, b)

#ifndef SEGA_PACK_EDGE_HELPERS
#define SEGA_PACK_EDGE_HELPERS
// Edge slivers (fewer than MR rows / NR columns left), shared by both packers: d[p*N + i] for
// p < kc holds the n < N valid elements of k step p, then zeros up to N.
// Contiguous source: element i of step p at s[p*ld + i].
SEGA_INLINE void pack_edge_contiguous(float *d, const float *s, long ld, int kc, int n, int N) {
    for (int p = 0; p < kc; p++, d += N) {
        const float *sp = s + (size_t)p * ld;
        int i = 0;
        for (; i < n; i++) d[i] = sp[i];
        for (; i < N; i++) d[i] = 0.0f;
    }
}
// Strided source: element i of step p at s[i*ld + p].
SEGA_INLINE void pack_edge_strided(float *d, const float *s, long ld, int kc, int n, int N) {
    for (int p = 0; p < kc; p++, d += N) {
        int i = 0;
        for (; i < n; i++) d[i] = s[(size_t)i * ld + p];
        for (; i < N; i++) d[i] = 0.0f;
    }
}
#endif

// A sliver layout: ap[s*MR*kc + p*MR + i] = op(A)(i0 + s*MR + i, p0 + p), zero for rows >= mc.
SEGA_PACK_ATTR void SEGA_PACK_CAT(sega_pack_a_, SEGA_PACK_SUFFIX)(int trans, const float *a,
                                                                   long lda, int i0, int mc,
                                                                   int p0, int kc, float *ap) {
    enum { MR = SEGA_PACK_MR };
    for (int s = 0; s < mc; s += MR) {
        const int rows = mc - s < MR ? mc - s : MR;
        float *dst = ap + (size_t)s * kc;
        if (!trans) {
            // op(A)(i, p) = a[i*lda + p]: MR row streams read side by side, sliver written
            // front to back.
            const float *src = a + (size_t)(i0 + s) * lda + p0;
            if (rows == MR) {
                const float *r[MR];
                for (int i = 0; i < MR; i++) r[i] = src + (size_t)i * lda;
                for (int p = 0; p < kc; p++) {
                    float *d = dst + (size_t)p * MR;
                    for (int i = 0; i < MR; i++) d[i] = r[i][p];
                }
            } else {
                pack_edge_strided(dst, src, lda, kc, rows, MR);
            }
        } else if (rows == MR) {
            // op(A)(i, p) = a[p*lda + i]: each k step is MR contiguous floats.
            for (int p = 0; p < kc; p++) {
                const float *src = a + (size_t)(p0 + p) * lda + i0 + s;
                float *d = dst + (size_t)p * MR;
                for (int i = 0; i < MR; i++) d[i] = src[i];
            }
        } else {
            pack_edge_contiguous(dst, a + (size_t)p0 * lda + i0 + s, lda, kc, rows, MR);
        }
    }
}

// B sliver layout: bp[s*NR*kc + p*NR + j] = op(B)(p0 + p, j0 + s*NR + j), zero for cols >= nc.
SEGA_PACK_ATTR void SEGA_PACK_CAT(sega_pack_b_, SEGA_PACK_SUFFIX)(int trans, const float *b,
                                                                   long ldb, int p0, int kc,
                                                                   int j0, int nc, float *bp) {
    enum { NR = SEGA_PACK_NR };
    if (!trans) {
        // op(B)(p, j) = b[p*ldb + j]: walk each source row once, front to back (streams well),
        // scattering NR-wide pieces into the slivers.
        const int full = nc / NR * NR;
        for (int p = 0; p < kc; p++) {
            const float *src = b + (size_t)(p0 + p) * ldb + j0;
            float *d = bp + (size_t)p * NR;
            int s = 0;
            for (; s < full; s += NR) {
                const float *sp = src + s;
                float *dp = d + (size_t)s * kc;
                for (int j = 0; j < NR; j++) dp[j] = sp[j];
            }
            if (s < nc) {
                const float *sp = src + s;
                float *dp = d + (size_t)s * kc;
                const int cols = nc - s;
                int j = 0;
                for (; j < cols; j++) dp[j] = sp[j];
                for (; j < NR; j++) dp[j] = 0.0f;
            }
        }
        return;
    }
    // op(B)(p, j) = b[j*ldb + p]: contiguous in p; NR source rows read side by side.
    for (int s = 0; s < nc; s += NR) {
        const int cols = nc - s < NR ? nc - s : NR;
        float *dst = bp + (size_t)s * kc;
        const float *src = b + (size_t)(j0 + s) * ldb + p0;
        if (cols == NR) {
            for (int p = 0; p < kc; p++) {
                float *d = dst + (size_t)p * NR;
                for (int j = 0; j < NR; j++) d[j] = src[(size_t)j * ldb + p];
            }
        } else {
            pack_edge_strided(dst, src, ldb, kc, cols, NR);
        }
    }
}

#undef SEGA_PACK_CAT
#undef SEGA_PACK_CAT2
#undef SEGA_PACK_MR
#undef SEGA_PACK_NR
#undef SEGA_PACK_ATTR
#undef SEGA_PACK_SUFFIX
