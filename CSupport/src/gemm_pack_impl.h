// gemm_pack_impl.h - packing routines and the tile epilogue, instantiated once per micro-kernel
// so that MR and NR are
// compile-time constants and the copies are compiled for the kernel's ISA (function target
// attribute, no global flag). Include after defining:
//   SEGA_PACK_MR, SEGA_PACK_NR   register tile
//   SEGA_PACK_ATTR               e.g. __attribute__((target("avx512f"))) or empty
//   SEGA_PACK_SUFFIX             name suffix: defines sega_pack_a_scalar_<suffix>,
//                                sega_pack_a_<suffix>, sega_pack_b_<suffix>, sega_pack_bx_<suffix>,
//                                sega_pack_ax_<suffix>, sega_gemm_epi_<suffix>
//   SEGA_PACK_A_SIMD (optional)  sega_pack_a_<suffix> is defined elsewhere (gemm_pack_a_x86.c);
//                                the scalar A packer here is then its reference
// (no include guard on purpose; the macros are #undef'd at the end).
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
// Scalar; the SIMD packers of the x86 kernels write the same bytes (tested against this one).
SEGA_PACK_ATTR void SEGA_PACK_CAT(sega_pack_a_scalar_, SEGA_PACK_SUFFIX)(int trans, const float *a,
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

#ifndef SEGA_PACK_A_SIMD
SEGA_PACK_ATTR void SEGA_PACK_CAT(sega_pack_a_, SEGA_PACK_SUFFIX)(int trans, const float *a,
                                                                   long lda, int i0, int mc,
                                                                   int p0, int kc, float *ap) {
    SEGA_PACK_CAT(sega_pack_a_scalar_, SEGA_PACK_SUFFIX)(trans, a, lda, i0, mc, p0, kc, ap);
}
#endif

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

#ifndef SEGA_PACK_BX_HELPERS
#define SEGA_PACK_BX_HELPERS
// n elements of a row into a sliver, masked (select: the value or +0) or not. Called with a
// constant n for whole slivers, so those compile to fixed-length vector code.
SEGA_INLINE void pack_run(float *restrict d, const float *restrict s, const uint8_t *restrict m, int n) {
    if (m) {
        for (int t = 0; t < n; t++) {
            const float v = s[t];   // loaded unconditionally so the select vectorises
            d[t] = m[t] ? v : 0.0f;
        }
    } else {
        for (int t = 0; t < n; t++) d[t] = s[t];
    }
}

// n contiguous source elements s (mask m or NULL) into packed columns [j, j + n) of k step p
// (column j is lane j % NR of sliver j / NR): the rest of j's sliver, whole slivers with a
// constant length, then the start of the last one. NR is constant after inlining.
SEGA_INLINE void pack_span(float *restrict bp, int kc, int p, int j, const float *restrict s,
                           const uint8_t *restrict m, int n, const int NR) {
    const int lane = j % NR;
    float *d = bp + (size_t)(j / NR) * NR * kc + (size_t)p * NR + lane;
    if (lane) {
        const int head = NR - lane < n ? NR - lane : n;
        pack_run(d, s, m, head);
        n -= head;
        s += head;
        if (m) m += head;
        d += (size_t)NR * kc - lane;
    }
    for (; n >= NR; n -= NR, s += NR, d += (size_t)NR * kc) {
        pack_run(d, s, m, NR);
        if (m) m += NR;
    }
    if (n > 0) pack_run(d, s, m, n);
}

// Epilogue of one row of n elements: relu / relu6 in place (NaN kept) and, when mr is not NULL,
// the derivative mask (as sega_relu{,6}_fwd_mask). Constant n for whole tile rows.
SEGA_INLINE void epi_row(float *restrict r, uint8_t *restrict mr, int n, int act) {
    if (act == SEGA_ACT_RELU6) {
        if (mr)
            for (int j = 0; j < n; j++) mr[j] = (uint8_t)((r[j] > 0.0f) & (r[j] < 6.0f));
        for (int j = 0; j < n; j++) {
            const float v = r[j];
            r[j] = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
        }
    } else if (act == SEGA_ACT_RELU) {
        if (mr)
            for (int j = 0; j < n; j++) mr[j] = (uint8_t)(r[j] > 0.0f);
        for (int j = 0; j < n; j++) r[j] = r[j] < 0.0f ? 0.0f : r[j];
    }
}
#endif

// B from column blocks, optionally masked (sega_bsrc; non-transposed): each row is walked front
// to back, one contiguous run per block, into the NR-wide slivers (zero past nc). The mask
// select keeps the value or writes +0, as dx = mask ? dy : 0 does.
SEGA_PACK_ATTR void SEGA_PACK_CAT(sega_pack_bx_, SEGA_PACK_SUFFIX)(const sega_bsrc *s, int p0,
                                                                    int kc, int j0, int nc,
                                                                    float *bp) {
    enum { NR = SEGA_PACK_NR };
    const int q0 = j0 / s->per, c0 = j0 - q0 * s->per;
    const int padded = (nc + NR - 1) / NR * NR;
    for (int p = 0; p < kc; p++) {
        int q = q0, c = c0, j = 0;
        while (j < nc) {   // the run of block q from column c
            const size_t off = (size_t)q * s->bst + (size_t)(p0 + p) * s->ldb + (size_t)c;
            const int run = s->per - c < nc - j ? s->per - c : nc - j;
            pack_span(bp, kc, p, j, s->b + off, s->mask ? s->mask + off : NULL, run, NR);
            j += run;
            q++;
            c = 0;
        }
        for (; j < padded; j++) bp[(size_t)(j / NR) * NR * kc + (size_t)p * NR + j % NR] = 0.0f;
    }
}

// Masked non-transposed A: as the plain packer (MR row streams side by side), elements whose
// mask byte is 0 packed as +0.
SEGA_PACK_ATTR void SEGA_PACK_CAT(sega_pack_ax_, SEGA_PACK_SUFFIX)(const float *a, const uint8_t *mask,
                                                                    long lda, int i0, int mc, int p0,
                                                                    int kc, float *ap) {
    enum { MR = SEGA_PACK_MR };
    for (int s = 0; s < mc; s += MR) {
        const int rows = mc - s < MR ? mc - s : MR;
        float *dst = ap + (size_t)s * kc;
        const size_t base = (size_t)(i0 + s) * lda + p0;
        for (int p = 0; p < kc; p++) {
            float *d = dst + (size_t)p * MR;
            int i = 0;
            for (; i < rows; i++) {
                const float v = a[base + (size_t)i * lda + p];
                d[i] = mask[base + (size_t)i * lda + p] ? v : 0.0f;
            }
            for (; i < MR; i++) d[i] = 0.0f;
        }
    }
}

// Tile epilogue: relu / relu6 in place and the derivative mask when m is not NULL.
SEGA_PACK_ATTR void SEGA_PACK_CAT(sega_gemm_epi_, SEGA_PACK_SUFFIX)(float *c, long ldc, uint8_t *m,
                                                                     long ldm, int rows, int cols,
                                                                     int act) {
    enum { NR = SEGA_PACK_NR };
    for (int i = 0; i < rows; i++) {
        float *r = c + (size_t)i * ldc;
        uint8_t *mr = m ? m + (size_t)i * ldm : NULL;
        if (cols == NR) epi_row(r, mr, NR, act);
        else epi_row(r, mr, cols, act);
    }
}

#undef SEGA_PACK_CAT
#undef SEGA_PACK_CAT2
#undef SEGA_PACK_MR
#undef SEGA_PACK_NR
#undef SEGA_PACK_ATTR
#undef SEGA_PACK_SUFFIX
#undef SEGA_PACK_A_SIMD
