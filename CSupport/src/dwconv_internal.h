// dwconv_internal.h - private to the depthwise convolution (dwconv.c and dwconv_<isa>.c): plane
// geometry, the padded-scratch plan, the strided-gradient gather tables, and the table of
// per-ISA kernels the driver picks once per call.
//
// Kernels are named sega_dwconv_<op>_<isa> (BLIS/XNNPACK style): k3s1, k3s2, k5s1, k5s2 are the
// padded-path forward plane kernels unrolled for a 3x3 / 5x5 kernel at stride 1 / 2, taps the
// generic one (any kernel through a table of tap offsets); direct_* are the border/interior
// path for shapes the scratch cannot hold; fill, extract, scatter, gather move data between
// planes and the phase-major scratch; wgrad is the weight gradient of one channel.
#ifndef SEGA_DWCONV_INTERNAL_H
#define SEGA_DWCONV_INTERNAL_H
#include "conv_internal.h"
#include "sega_common.h"

// Plane geometry. Unlike sega_conv_geom the paddings may be negative here (the flipped-kernel
// input gradient uses pad' = (k-1)*d - pad).
typedef struct {
    int H, W, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW;
} pgeom;

#ifndef DW_SCRATCH_FLOATS
#define DW_SCRATCH_FLOATS 16384   // 64 KB: holds a 3x3 stride-1 plane of 112 x 112 with padding
#endif
#define DW_MAX_SW 4
#define DW_MAX_TAPS 64
#define DW_VEC 8
#define DW_GATHER_FLOATS (DW_SCRATCH_FLOATS / 2)

/// Kernel shapes with unrolled kernels: square K x K, dilation 1, column stride S (DW_TAPS:
/// anything else, through the tap table or tap by tap).
typedef enum { DW_TAPS = 0, DW_K3S1, DW_K3S2, DW_K5S1, DW_K5S2, DW_K7S1, DW_K7S2, DW_SHAPES } dw_shape;

/// The shape for a square kernel of side k, dilation 1, column stride s (DW_TAPS if none fits).
static inline dw_shape dw_shape_of(int k, int s) {
    if (s != 1 && s != 2) return DW_TAPS;
    if (k == 3) return s == 1 ? DW_K3S1 : DW_K3S2;
    if (k == 5) return s == 1 ? DW_K5S1 : DW_K5S2;
    if (k == 7) return s == 1 ? DW_K7S1 : DW_K7S2;
    return DW_TAPS;
}

struct dw_kernels;

// Padded-scratch plan of one call (see dwconv.c): a channel's plane is copied into a zero-padded,
// phase-major scratch; scratch row r, phase q, element k holds padded column q + k*SW.
typedef struct dwplan {
    pgeom p;
    int ok;                       // the padded path applies
    dw_shape shape;               // DW_K3S1..DW_K5S2 (KH == KW, SH == SW, dilation 1) or DW_TAPS
    int PH, LP, RS;               // padded plane rows, phase length, row stride (SW * LP)
    int band;                     // output rows per band (== OH when the whole plane fits)
    int SR;                       // scratch rows used by one band
    int rlo, rhi;                 // scratch rows r with input row r - PT inside [0, H)
    int klo[DW_MAX_SW], khi[DW_MAX_SW]; // per phase: k with input column k*SW + q - PL inside [0, W)
    int taps;
    int toff[DW_MAX_TAPS];        // tap (i, j) -> i*DH*RS + ((j*DW) % SW)*LP + (j*DW) / SW
} dwplan;

// Strided input gradient as a gather (see dwconv.c).
typedef struct {
    int ok;
    int TY, LY, YW, YR;   // Y: top and left padding, row width, rows
    int KN;               // phase elements computed per row (max over phases of khi)
    int n[DW_MAX_SW][DW_MAX_SW];             // taps per class (a, q)
    int t[DW_MAX_SW][DW_MAX_SW][DW_MAX_TAPS];   // weight index
    int off[DW_MAX_SW][DW_MAX_SW][DW_MAX_TAPS]; // offset in Y relative to (u, k)
} dwgather;

// --- Kernel signatures -------------------------------------------------------------------------

/// Padded path: y (P->p.OH x OW) = b + taps of w over the filled scratch s.
typedef void dw_plane_kernel(const dwplan *P, const float *s, const float *w, float b, float *y);
typedef dw_plane_kernel *dw_plane_fn;
/// Padded rows [ra, rb) of plane x into the scratch (row r at scratch row r - r0).
typedef void (*dw_fill_fn)(const dwplan *P, const float *x, float *s, int ra, int rb, int r0);
/// dx rows of padded rows [ra, rb) (scratch row r - ra) from the interior of the scratch; dx
/// outside the interior is left as it is (the caller zeroes the plane first).
typedef void (*dw_extract_fn)(const dwplan *P, const float *s, float *dx, int ra, int rb);
/// Scratch (zeroed) += w[t] * dy scattered through the tap offsets.
typedef void (*dw_scatter_fn)(const dwplan *P, const float *dy, const float *w, float *s);
/// Padded rows [ra, rb) of the strided input gradient (at scratch row r - ra) from the
/// zero-padded copy Y of dy.
typedef void (*dw_gather_fn)(const dwplan *P, const dwgather *G, const float *Y, const float *w,
                             float *s, int ra, int rb);
/// Direct path: one row's interior [xa, xb), every tap inside the image (K, S of the shape).
typedef void dw_interior_kernel(const float *xr0, int W, const float *w, float b, float *yr, int xa,
                                int xb, int off0);
typedef dw_interior_kernel *dw_interior_fn;
/// Direct path forward of one plane; `interior` NULL: every column tap by tap.
typedef void (*dw_direct_fwd_fn)(const pgeom *p, const float *x, const float *w, float b, float *y,
                                 dw_interior_fn interior);
/// Direct path input gradient of one plane by scattering (dx overwritten).
typedef void (*dw_direct_bwd_fn)(const pgeom *p, const float *dy, const float *w, float *dx);
/// Weight gradient of one channel (dw accumulated).
typedef void (*dw_wgrad_fn)(const pgeom *p, const float *x, const float *dy, float *dw);
/// out[i] = m[i] ? x[i] + 0 : +0 for i < n (sega_mask_copy's bytes): dy under a fused relu/relu6's
/// derivative mask, a plane at a time right before the input gradient reads it.
typedef void (*dw_mask_row_fn)(int n, const uint8_t *m, const float *x, float *out);

/// The kernels of one ISA. An ISA without a variant of some kernel points at the best lower
/// one (AVX-512 uses AVX2's data movement and direct path).
typedef struct dw_kernels {
    sega_isa isa;
    dw_plane_fn plane[DW_SHAPES];       // padded-path forward by shape (K7 shapes: taps)
    const struct dw_kernels *narrow;    // rows of at most narrow_ow outputs use narrow->plane
    int narrow_ow;
    dw_fill_fn fill[DW_MAX_SW + 1];     // by column stride 1..DW_MAX_SW
    dw_extract_fn extract[DW_MAX_SW + 1];
    dw_scatter_fn scatter;
    dw_gather_fn gather;
    dw_interior_fn interior[DW_SHAPES]; // direct-path interiors by shape ([DW_TAPS] NULL)
    dw_direct_fwd_fn direct_fwd;
    dw_direct_bwd_fn direct_bwd;
    dw_wgrad_fn wgrad;
    dw_mask_row_fn mask_row;
} dw_kernels;

// --- Per-ISA kernels (dwconv_portable.c, dwconv_avx2.c, dwconv_avx512.c) ----------------------

/// The padded-path plane kernels every ISA defines, as X(name, K, S) (K 0: the taps table).
#define SEGA_DW_PLANES(X) X(taps, 0, 1) X(k3s1, 3, 1) X(k3s2, 3, 2) X(k5s1, 5, 1) X(k5s2, 5, 2)
/// The direct path's unrolled interiors (portable and AVX2), as X(K, S).
#define SEGA_DW_INTERIORS(X) X(3, 1) X(3, 2) X(5, 1) X(5, 2) X(7, 1) X(7, 2)

dw_plane_kernel sega_dwconv_taps_portable, sega_dwconv_k3s1_portable, sega_dwconv_k3s2_portable,
    sega_dwconv_k5s1_portable, sega_dwconv_k5s2_portable;
dw_interior_kernel sega_dwconv_direct_k3s1_portable, sega_dwconv_direct_k3s2_portable,
    sega_dwconv_direct_k5s1_portable, sega_dwconv_direct_k5s2_portable, sega_dwconv_direct_k7s1_portable,
    sega_dwconv_direct_k7s2_portable;
void sega_dwconv_direct_fwd_portable(const pgeom *p, const float *x, const float *w, float b, float *y,
                                     dw_interior_fn interior);
void sega_dwconv_direct_bwd_portable(const pgeom *p, const float *dy, const float *w, float *dx);
void sega_dwconv_wgrad_portable(const pgeom *p, const float *x, const float *dy, float *dw);
void sega_dwconv_fill_portable(const dwplan *P, const float *x, float *s, int ra, int rb, int r0);
void sega_dwconv_mask_row_portable(int n, const uint8_t *m, const float *x, float *out);
void sega_dwconv_extract_portable(const dwplan *P, const float *s, float *dx, int ra, int rb);
void sega_dwconv_scatter_portable(const dwplan *P, const float *dy, const float *w, float *s);
void sega_dwconv_gather_portable(const dwplan *P, const dwgather *G, const float *Y, const float *w,
                                 float *s, int ra, int rb);
#if SEGA_HAVE_X86_KERNELS
dw_plane_kernel sega_dwconv_taps_avx2, sega_dwconv_k3s1_avx2, sega_dwconv_k3s2_avx2, sega_dwconv_k5s1_avx2,
    sega_dwconv_k5s2_avx2;
dw_interior_kernel sega_dwconv_direct_k3s1_avx2, sega_dwconv_direct_k3s2_avx2, sega_dwconv_direct_k5s1_avx2,
    sega_dwconv_direct_k5s2_avx2, sega_dwconv_direct_k7s1_avx2, sega_dwconv_direct_k7s2_avx2;
void sega_dwconv_direct_fwd_avx2(const pgeom *p, const float *x, const float *w, float b, float *y,
                                 dw_interior_fn interior);
void sega_dwconv_direct_bwd_avx2(const pgeom *p, const float *dy, const float *w, float *dx);
void sega_dwconv_wgrad_avx2(const pgeom *p, const float *x, const float *dy, float *dw);
void sega_dwconv_fill_s1_avx2(const dwplan *P, const float *x, float *s, int ra, int rb, int r0);
void sega_dwconv_mask_row_avx2(int n, const uint8_t *m, const float *x, float *out);
void sega_dwconv_fill_s2_avx2(const dwplan *P, const float *x, float *s, int ra, int rb, int r0);
void sega_dwconv_extract_s2_avx2(const dwplan *P, const float *s, float *dx, int ra, int rb);
void sega_dwconv_scatter_avx2(const dwplan *P, const float *dy, const float *w, float *s);
void sega_dwconv_gather_avx2(const dwplan *P, const dwgather *G, const float *Y, const float *w,
                             float *s, int ra, int rb);
dw_plane_kernel sega_dwconv_taps_avx512, sega_dwconv_k3s1_avx512, sega_dwconv_k3s2_avx512,
    sega_dwconv_k5s1_avx512, sega_dwconv_k5s2_avx512;
#endif

#endif
