// ConvKernelTests.swift - im2col/col2im and depthwise convolution against the naive references.
// im2col/col2im must be bit-identical to the references; dwconv is compared with a tolerance
// (the fast path reorders the multiply-adds and may fuse them). Adjoint identities are checked
// in double: <A x, c> == <x, A^T c>.
import XCTest
import CSupport

/// Every geometry of the parameter sweep: kernel {1,2,3,5}, stride {1,2,3}, pad {0,1,2},
/// dilation {1,2}, image sizes around 1, 8 and 16, with some non-square kernels and
/// asymmetric stride/padding mixed in. Only geometries with a non-empty output are returned.
fileprivate func ckSweep(channels: Int = 2) -> [sega_conv_geom] {
    let sizes: [(Int, Int)] = [(1, 1), (1, 6), (5, 1), (2, 3), (4, 4), (7, 7), (8, 9), (9, 8), (15, 16), (17, 15)]
    var out: [sega_conv_geom] = []
    for k in [1, 2, 3, 5] {
        for s in [1, 2, 3] {
            for p in [0, 1, 2] {
                for d in [1, 2] {
                    for (si, (h, w)) in sizes.enumerated() {
                        let kw = (si % 2 == 1 || k == 1) ? k : k - 1
                        let sw = si % 3 == 2 ? s + 1 : s
                        let pl = si % 4 == 3 ? p + 1 : p
                        let oh = Int(sega_conv_out_size(Int32(h), Int32(k), Int32(s), Int32(p), Int32(d)))
                        let ow = Int(sega_conv_out_size(Int32(w), Int32(kw), Int32(sw), Int32(pl), Int32(d)))
                        if oh <= 0 || ow <= 0 { continue }
                        out.append(kernelGeom(c: channels, h: h, w: w, kh: k, kw: kw, sh: s, sw: sw, pt: p, pl: pl,
                                        dh: d, dw: d, oh: oh, ow: ow))
                    }
                }
            }
        }
    }
    return out
}

final class ConvKernelTests: XCTestCase {

    // MARK: geometry

    func testConvOutSizeMatchesPyTorchFormula() {
        // floor((in + 2p - d(k-1) - 1)/s) + 1
        XCTAssertEqual(sega_conv_out_size(224, 7, 2, 3, 1), 112)   // ResNet stem
        XCTAssertEqual(sega_conv_out_size(56, 3, 1, 1, 1), 56)
        XCTAssertEqual(sega_conv_out_size(56, 3, 2, 1, 1), 28)
        XCTAssertEqual(sega_conv_out_size(7, 3, 1, 2, 2), 7)       // dilated "same"
        XCTAssertEqual(sega_conv_out_size(5, 3, 3, 0, 1), 1)
        XCTAssertEqual(sega_conv_out_size(1, 1, 1, 0, 1), 1)
        XCTAssertEqual(sega_conv_out_size(1, 3, 1, 1, 1), 1)
        XCTAssertEqual(sega_conv_out_size(8, 5, 2, 0, 2), 0)       // 8 - 9 < 0: empty
        XCTAssertEqual(sega_conv_out_size(2, 3, 1, 0, 1), 0)
        XCTAssertLessThanOrEqual(sega_conv_out_size(0, 1, 1, 0, 1), 0)
        XCTAssertLessThanOrEqual(sega_conv_out_size(5, 0, 1, 0, 1), 0)
        XCTAssertLessThanOrEqual(sega_conv_out_size(5, 1, 0, 0, 1), 0)
        XCTAssertLessThanOrEqual(sega_conv_out_size(5, 1, 1, -1, 1), 0)
        XCTAssertLessThanOrEqual(sega_conv_out_size(5, 1, 1, 0, 0), 0)
        XCTAssertLessThanOrEqual(sega_conv_out_size(Int32.max, 1, 1, Int32.max, 1), 0)  // overflow
    }

    func testGeomCheckAcceptsValidAndRejectsBadGeometry() {
        var g = kernelGeom(c: 3, h: 8, w: 9, kh: 3, kw: 3, sh: 2, sw: 1, pt: 1, pl: 1, dh: 1, dw: 2, oh: 4, ow: 7)
        XCTAssertEqual(sega_conv_geom_check(&g), SEGA_OK)
        XCTAssertEqual(sega_conv_geom_check(nil), SEGA_ERR_INVALID_ARG)
        let mutations: [(String, (inout sega_conv_geom) -> Void)] = [
            ("c=0", { $0.c = 0 }), ("h=0", { $0.h = 0 }), ("w=-1", { $0.w = -1 }),
            ("kh=0", { $0.kh = 0 }), ("kw=-2", { $0.kw = -2 }),
            ("sh=0", { $0.sh = 0 }), ("sw=-1", { $0.sw = -1 }),
            ("pad_t=-1", { $0.pad_t = -1 }), ("pad_l=-3", { $0.pad_l = -3 }),
            ("dh=0", { $0.dh = 0 }), ("dw=-1", { $0.dw = -1 }),
            ("oh=0", { $0.oh = 0 }), ("ow=-5", { $0.ow = -5 }),
            ("c*h*w overflow", { $0.c = 1 << 12; $0.h = 1 << 10; $0.w = 1 << 10 }),
            ("c*kh*kw overflow", { $0.c = 1 << 20; $0.kh = 1 << 6; $0.kw = 1 << 6 }),
            ("oh*ow overflow", { $0.oh = 1 << 16; $0.ow = 1 << 16 }),
            ("column matrix overflow", { $0.c = 64; $0.kh = 9; $0.kw = 9; $0.oh = 1 << 10; $0.ow = 1 << 10 }),
            ("coordinate overflow", { $0.sh = Int32.max / 2; $0.oh = 3 }),
            ("dilation overflow", { $0.dw = Int32.max / 2; $0.kw = 3 }),
        ]
        for (name, mutate) in mutations {
            var b = g
            mutate(&b)
            XCTAssertEqual(sega_conv_geom_check(&b), SEGA_ERR_INVALID_ARG, name)
        }
        // Large but representable geometry is fine.
        var big = squareGeom(c: 512, h: 64, w: 64, k: 3, s: 1, p: 1, oh: 64, ow: 64)
        XCTAssertEqual(sega_conv_geom_check(&big), SEGA_OK)
    }

    // MARK: im2col / col2im

    func testIm2colAndCol2imBitExactOverParameterSweep() {
        var rng = TestRNG(1)
        let geoms = ckSweep()
        XCTAssertGreaterThan(geoms.count, 500)
        for var g in geoms {
            XCTAssertEqual(sega_conv_geom_check(&g), SEGA_OK, describeGeom(g))
            let nx = Int(g.c * g.h * g.w), nc = Int(g.c * g.kh * g.kw * g.oh * g.ow)
            let x = rng.smallInts(nx)
            var fast = [Float](repeating: .nan, count: nc)
            var ref = [Float](repeating: 7, count: nc)
            sega_im2col(&g, x, &fast)
            sega_im2col_ref(&g, x, &ref)
            XCTAssertTrue(bitEqual(fast, ref), "im2col " + describeGeom(g))

            let col = rng.unitSigneds(nc)
            let x0 = rng.unitSigneds(nx)   // col2im accumulates: start from non-zero
            var xf = x0, xr = x0
            sega_col2im(&g, col, &xf)
            sega_col2im_ref(&g, col, &xr)
            XCTAssertTrue(bitEqual(xf, xr), "col2im " + describeGeom(g))
        }
    }

    func testIm2colCol2imAreAdjoint() {
        var rng = TestRNG(2)
        for var g in ckSweep(channels: 1) {
            let nx = Int(g.c * g.h * g.w), nc = Int(g.c * g.kh * g.kw * g.oh * g.ow)
            let x = rng.unitSigneds(nx), c = rng.unitSigneds(nc)
            var col = [Float](repeating: 0, count: nc)
            sega_im2col(&g, x, &col)
            var xt = [Float](repeating: 0, count: nx)
            sega_col2im(&g, c, &xt)
            let lhs = dotD(col, c), rhs = dotD(x, xt)
            XCTAssertEqual(lhs, rhs, accuracy: 1e-9 * max(1, abs(lhs)) + 1e-5, describeGeom(g))
        }
    }

    func testIm2colKnownSmallExample() {
        // 1 channel 3x3 image 1..9, 2x2 kernel, stride 1, pad 0 -> 4 rows x 4 columns.
        var g = squareGeom(c: 1, h: 3, w: 3, k: 2, s: 1, p: 0, oh: 2, ow: 2)
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        var col = [Float](repeating: 0, count: 16)
        sega_im2col(&g, x, &col)
        XCTAssertEqual(col, [1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9])
        // Padding 1, stride 2, 3x3 kernel: output 2x2, top-left tap sees padding except at (1,1).
        g = squareGeom(c: 1, h: 3, w: 3, k: 3, s: 2, p: 1, oh: 2, ow: 2)
        col = [Float](repeating: -1, count: 36)
        sega_im2col(&g, x, &col)
        XCTAssertEqual(Array(col[0..<4]), [0, 0, 0, 5])      // tap (0,0)
        XCTAssertEqual(Array(col[16..<20]), [1, 3, 7, 9])    // centre tap (1,1)
        XCTAssertEqual(Array(col[32..<36]), [5, 0, 0, 0])    // tap (2,2)
    }

    func testIm2colLargerShapesBitExact() {
        var rng = TestRNG(3)
        let cases: [sega_conv_geom] = [
            squareGeom(c: 3, h: 64, w: 64, k: 7, s: 2, p: 3, oh: 32, ow: 32),
            squareGeom(c: 8, h: 33, w: 31, k: 3, s: 1, p: 1, oh: 33, ow: 31),
            squareGeom(c: 4, h: 20, w: 20, k: 3, s: 1, p: 2, d: 2, oh: 20, ow: 20),
            squareGeom(c: 16, h: 9, w: 9, k: 1, s: 1, p: 0, oh: 9, ow: 9),
            // TensorFlow SAME with asymmetric padding: explicit output larger than floor rule.
            squareGeom(c: 2, h: 10, w: 10, k: 3, s: 2, p: 0, oh: 5, ow: 5),
        ]
        for var g in cases {
            XCTAssertEqual(sega_conv_geom_check(&g), SEGA_OK)
            let nx = Int(g.c * g.h * g.w), nc = Int(g.c * g.kh * g.kw * g.oh * g.ow)
            let x = rng.smallInts(nx)
            var a = [Float](repeating: 1, count: nc), b = [Float](repeating: 2, count: nc)
            sega_im2col(&g, x, &a)
            sega_im2col_ref(&g, x, &b)
            XCTAssertTrue(bitEqual(a, b), describeGeom(g))
            let col = rng.unitSigneds(nc)
            var xa = [Float](repeating: 0, count: nx), xb = xa
            sega_col2im(&g, col, &xa)
            sega_col2im_ref(&g, col, &xb)
            XCTAssertTrue(bitEqual(xa, xb), describeGeom(g))
        }
    }

    /// sega_im2col_mt / sega_col2im_mt: the single-thread kernels' bytes on 1, 2 and 3 threads
    /// (and no engine), with planes further apart than h*w (a band of a taller image), on shapes
    /// below the threading threshold (the sweep) and above it.
    func testThreadedIm2colCol2imAreTheSingleThreadKernels() {
        var rng = TestRNG(4)
        var engines: [OpaquePointer?] = [nil]
        for t in [1, 2, 3] {
            var e: OpaquePointer? = nil
            XCTAssertEqual(sega_engine_create(Int32(t), SEGA_ISA_AUTO, &e), SEGA_OK)
            engines.append(e)
        }
        defer { for e in engines where e != nil { sega_engine_destroy(e) } }
        let large: [sega_conv_geom] = [
            squareGeom(c: 3, h: 64, w: 64, k: 7, s: 2, p: 3, oh: 32, ow: 32),
            squareGeom(c: 5, h: 90, w: 94, k: 3, s: 2, p: 1, oh: 45, ow: 47),
            squareGeom(c: 48, h: 80, w: 80, k: 1, s: 2, p: 0, oh: 40, ow: 40),
            squareGeom(c: 2, h: 90, w: 91, k: 3, s: 1, p: 1, oh: 90, ow: 91),
        ]
        for (gi, var g) in (ckSweep().enumerated().filter { $0.offset % 7 == 0 }.map(\.element) + large).enumerated() {
            let planeGap = gi % 2 == 0 ? 0 : 5   // floats between planes beyond h*w
            let plane = Int(g.h * g.w) + planeGap
            let nx = Int(g.c) * plane, nc = Int(g.c * g.kh * g.kw * g.oh * g.ow)
            let x = rng.smallInts(nx)
            // The single-thread kernels, plane by plane (their plane stride is h*w).
            var one = g
            one.c = 1
            let rowsPerPlane = Int(g.kh * g.kw * g.oh * g.ow)
            var want = [Float](repeating: 0, count: nc)
            let col = rng.unitSigneds(nc), x0 = rng.unitSigneds(nx)
            var wantX = x0
            for ci in 0..<Int(g.c) {
                x.withUnsafeBufferPointer { xb in want.withUnsafeMutableBufferPointer { wb in
                    sega_im2col(&one, xb.baseAddress! + ci * plane, wb.baseAddress! + ci * rowsPerPlane) } }
                col.withUnsafeBufferPointer { cb in wantX.withUnsafeMutableBufferPointer { xb in
                    sega_col2im(&one, cb.baseAddress! + ci * rowsPerPlane, xb.baseAddress! + ci * plane) } }
            }
            for e in engines {
                var got = [Float](repeating: .nan, count: nc)
                sega_im2col_mt(e, &g, x, plane, &got)
                XCTAssertTrue(bitEqual(got, want), "im2col_mt \(describeGeom(g)) gap \(planeGap)")
                var gotX = x0
                sega_col2im_mt(e, &g, col, &gotX, plane)
                XCTAssertTrue(bitEqual(gotX, wantX), "col2im_mt \(describeGeom(g)) gap \(planeGap)")
            }
        }
    }

    // MARK: depthwise convolution

    /// |fast - ref| <= tol, with tol scaled by the sum of |terms| an output can collect.
    private func assertClose(_ a: [Float], _ b: [Float], terms: Int, _ msg: String) {
        XCTAssertEqual(a.count, b.count)
        let tol = Float(terms) * 4e-7 + 1e-6
        var worst: Float = 0
        for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i]) / (1 + abs(b[i]))) }
        XCTAssertLessThanOrEqual(worst, tol, msg)
    }

    /// Random data for a depthwise geometry and the reference forward and input gradient.
    private struct DwCase {
        var g: sega_conv_geom
        let x, w, bias, dy, y, dx: [Float]
        init(_ g0: sega_conv_geom, _ rng: inout TestRNG) {
            g = g0
            let nx = Int(g.c * g.h * g.w), ny = Int(g.c * g.oh * g.ow), nw = Int(g.c * g.kh * g.kw)
            x = rng.unitSigneds(nx); w = rng.unitSigneds(nw); bias = rng.unitSigneds(Int(g.c)); dy = rng.unitSigneds(ny)
            var yr = [Float](repeating: 0, count: ny), dxr = [Float](repeating: 0, count: nx)
            sega_dwconv_fwd_ref(&g, x, w, bias, &yr)
            sega_dwconv_bwd_input_ref(&g, dy, w, &dxr)
            y = yr; dx = dxr
        }
    }

    /// Forward and input gradient on engine `e`, each checked against the reference; returned
    /// for bitwise comparisons between engines. Outputs start as NaN: both are overwritten.
    private func runDwconv(_ c: inout DwCase, _ name: String, _ e: OpaquePointer?) -> (y: [Float], dx: [Float]) {
        var y = [Float](repeating: .nan, count: c.y.count), dx = [Float](repeating: .nan, count: c.dx.count)
        sega_dwconv_fwd(e, &c.g, c.x, c.w, c.bias, &y)
        sega_dwconv_bwd_input(e, &c.g, c.dy, c.w, &dx)
        let taps = Int(c.g.kh * c.g.kw)
        assertClose(y, c.y, terms: taps, "dwconv fwd \(name) " + describeGeom(c.g))
        assertClose(dx, c.dx, terms: taps, "dwconv bwd_input \(name) " + describeGeom(c.g))
        return (y, dx)
    }

    func testDwconvMatchesReferenceOverParameterSweep() {
        let engines = KernelEngines()
        var rng = TestRNG(4)
        for g0 in ckSweep(channels: 3) {
            var c = DwCase(g0, &rng)
            var g = g0
            for (name, e) in engines.list { _ = runDwconv(&c, name, e) }
            // Weight gradient (accumulates), at every ISA.
            let nw = c.w.count, ny = c.y.count, taps = Int(g.kh * g.kw)
            let (x, w, dy) = (c.x, c.w, c.dy)
            let dw0 = rng.unitSigneds(nw)
            var dwr = dw0
            sega_dwconv_bwd_weight_ref(&g, x, dy, &dwr)
            for (name, e) in engines.perISA {
                var dwf = dw0
                sega_dwconv_bwd_weight(e, &g, x, dy, &dwf)
                assertClose(dwf, dwr, terms: Int(g.oh * g.ow), "dwconv bwd_weight \(name) " + describeGeom(g))
            }
            // Without bias.
            var y0 = [Float](repeating: 0, count: ny), y0r = y0
            sega_dwconv_fwd(nil, &g, x, w, nil, &y0)
            sega_dwconv_fwd_ref(&g, x, w, nil, &y0r)
            assertClose(y0, y0r, terms: taps, "dwconv fwd no bias " + describeGeom(g))
        }
    }

    func testDwconvCommonShapesAndThreadDeterminism() {
        let engines = KernelEngines()
        var rng = TestRNG(5)
        let cases: [sega_conv_geom] = [
            squareGeom(c: 32, h: 28, w: 28, k: 3, s: 1, p: 1, oh: 28, ow: 28),
            squareGeom(c: 16, h: 29, w: 30, k: 3, s: 2, p: 1, oh: 15, ow: 15),
            squareGeom(c: 8, h: 21, w: 19, k: 5, s: 1, p: 2, oh: 21, ow: 19),
            squareGeom(c: 8, h: 22, w: 22, k: 5, s: 2, p: 2, oh: 11, ow: 11),
            squareGeom(c: 6, h: 24, w: 24, k: 7, s: 1, p: 3, oh: 24, ow: 24),
            squareGeom(c: 6, h: 24, w: 23, k: 7, s: 2, p: 3, oh: 12, ow: 12),
            squareGeom(c: 4, h: 17, w: 17, k: 3, s: 1, p: 2, d: 2, oh: 17, ow: 17),
            // TF SAME, stride 2, even input: pad_t = 0 with the bottom padding implied.
            squareGeom(c: 5, h: 16, w: 16, k: 3, s: 2, p: 0, oh: 8, ow: 8),
            // Padding larger than the kernel: whole windows in the padding.
            squareGeom(c: 3, h: 6, w: 5, k: 3, s: 1, p: 4, oh: 12, ow: 11),
            // EfficientNet-Lite0 style planes (padded-scratch path: row-blocked small planes, TF SAME
            // stride 2 with pad_t = 1 and 0, wide rows with a partial last vector).
            squareGeom(c: 7, h: 7, w: 7, k: 5, s: 1, p: 2, oh: 7, ow: 7),
            squareGeom(c: 5, h: 14, w: 14, k: 5, s: 2, p: 1, oh: 7, ow: 7),
            squareGeom(c: 5, h: 14, w: 14, k: 3, s: 1, p: 1, oh: 14, ow: 14),
            squareGeom(c: 3, h: 112, w: 112, k: 3, s: 2, p: 0, oh: 56, ow: 56),
            squareGeom(c: 3, h: 13, w: 40, k: 5, s: 1, p: 2, oh: 13, ow: 40),
            // Plane larger than the stack scratch: the padded path in bands of output rows.
            squareGeom(c: 2, h: 150, w: 150, k: 3, s: 1, p: 1, oh: 150, ow: 150),
            // Strided, plane larger than the scratch, dy small enough to gather: the input
            // gradient gathers in bands of padded rows (2 and 3 bands; Lite0's first stride-2 layer
            // at 288 x 384 is the first).
            squareGeom(c: 3, h: 144, w: 192, k: 3, s: 2, p: 0, oh: 72, ow: 96),
            squareGeom(c: 2, h: 131, w: 150, k: 3, s: 2, p: 1, oh: 66, ow: 75),
            squareGeom(c: 2, h: 150, w: 122, k: 5, s: 2, p: 2, oh: 75, ow: 61),
            squareGeom(c: 2, h: 260, w: 100, k: 3, s: 2, p: 1, oh: 130, ow: 50),
            // The direct (border/interior) path: rows too wide for the scratch (unrolled 5x5 s1,
            // 3x3 s2 and 7x7 s2 interiors; the strided gradient scatters), more than 64 taps,
            // column stride above 4.
            squareGeom(c: 2, h: 9, w: 5000, k: 5, s: 1, p: 2, oh: 9, ow: 5000),
            squareGeom(c: 2, h: 9, w: 9000, k: 3, s: 2, p: 1, oh: 5, ow: 4500),
            squareGeom(c: 2, h: 9, w: 5000, k: 7, s: 2, p: 3, oh: 5, ow: 2500),
            squareGeom(c: 3, h: 20, w: 21, k: 9, s: 1, p: 4, oh: 20, ow: 21),
            squareGeom(c: 2, h: 23, w: 23, k: 3, s: 5, p: 1, oh: 5, ow: 5),
        ]
        for var g in cases {
            XCTAssertEqual(sega_conv_geom_check(&g), SEGA_OK, describeGeom(g))
            var c = DwCase(g, &rng)
            var byIsa: [String: ([Float], [Float])] = [:]
            for (name, e) in engines.list {
                let (y, dx) = runDwconv(&c, name, e)
                // The thread count never changes the result: compare 1 and 2 threads bit-wise.
                let isa = KernelEngines.isaName(name)
                if let (y1, dx1) = byIsa[isa] {
                    XCTAssertTrue(bitEqual(y1, y), "threads fwd " + name)
                    XCTAssertTrue(bitEqual(dx1, dx), "threads bwd " + name)
                } else {
                    byIsa[isa] = (y, dx)
                }
            }
        }
    }

    /// The batched forward with a fused activation: the bytes of one sega_dwconv_fwd per image
    /// followed by sega_act_fwd_inplace (values and mask), on the padded path (whole planes and
    /// bands of rows) and the direct path, at every ISA and thread count.
    func testDwconvBatchWithActivationEqualsPerImageThenActivation() {
        let engines = KernelEngines()
        var rng = TestRNG(7)
        let cases: [sega_conv_geom] = [
            squareGeom(c: 5, h: 14, w: 14, k: 3, s: 1, p: 1, oh: 14, ow: 14),
            squareGeom(c: 3, h: 15, w: 16, k: 5, s: 2, p: 2, oh: 8, ow: 8),
            squareGeom(c: 2, h: 150, w: 150, k: 3, s: 1, p: 1, oh: 150, ow: 150),
            squareGeom(c: 2, h: 5, w: 5000, k: 3, s: 2, p: 1, oh: 3, ow: 2500),
        ]
        for var g in cases {
            XCTAssertEqual(sega_conv_geom_check(&g), SEGA_OK, describeGeom(g))
            let n = 3, xs = Int(g.c * g.h * g.w), ys = Int(g.c * g.oh * g.ow)
            let x = rng.unitSigneds(n * xs).map { $0 * 4 }, w = rng.unitSigneds(Int(g.c * g.kh * g.kw)).map { $0 * 2 }
            let bias = rng.unitSigneds(Int(g.c))
            for (name, e) in engines.list {
                for act in [SEGA_ACT_NONE, SEGA_ACT_RELU, SEGA_ACT_RELU6] {
                    var want = [Float](repeating: .nan, count: n * ys), wm = [UInt8](repeating: 9, count: n * ys)
                    want.withUnsafeMutableBufferPointer { yp in
                        for i in 0..<n { x.withUnsafeBufferPointer { sega_dwconv_fwd(e, &g, $0.baseAddress! + i * xs, w, bias, yp.baseAddress! + i * ys) } }
                    }
                    if act != SEGA_ACT_NONE { sega_act_fwd_inplace(e, n * ys, Int32(act.rawValue), &want, &wm) }
                    var got = [Float](repeating: .nan, count: n * ys), gm = [UInt8](repeating: 9, count: n * ys)
                    gm.withUnsafeMutableBufferPointer { mp in
                        sega_dwconv_fwd_batch(e, &g, Int32(n), x, w, bias, &got, Int32(act.rawValue),
                                              act == SEGA_ACT_NONE ? nil : mp.baseAddress)
                    }
                    XCTAssertTrue(bitEqual(got, want), "\(name) act \(act) " + describeGeom(g))
                    XCTAssertEqual(gm, wm, "\(name) act \(act) mask " + describeGeom(g))
                }
            }
        }
    }

    /// The batched input gradient: the bytes of, per image, sega_mask_copy of dy (with a mask),
    /// sega_dwconv_bwd_input, and (accumulating) sega_add_inplace into dx, on every path of the
    /// input gradient (stride-1 flipped forward on whole planes and in bands, strided gather on
    /// whole planes and in bands, the scatter, the direct path: stride 1 and 2, more than 64 taps,
    /// column stride above 4), odd sizes, at every ISA and thread count. dy holds -0s (a mask
    /// turns them into +0) and the workspace starts as NaN.
    func testDwconvBatchInputGradientEqualsPerImage() {
        let engines = KernelEngines()
        var rng = TestRNG(8)
        let cases: [sega_conv_geom] = [
            squareGeom(c: 5, h: 14, w: 14, k: 3, s: 1, p: 1, oh: 14, ow: 14),
            squareGeom(c: 3, h: 13, w: 11, k: 5, s: 1, p: 2, oh: 13, ow: 11),
            squareGeom(c: 2, h: 150, w: 150, k: 3, s: 1, p: 1, oh: 150, ow: 150),
            squareGeom(c: 3, h: 15, w: 16, k: 5, s: 2, p: 2, oh: 8, ow: 8),
            squareGeom(c: 4, h: 9, w: 11, k: 3, s: 2, p: 1, oh: 5, ow: 6),
            squareGeom(c: 2, h: 131, w: 150, k: 3, s: 2, p: 1, oh: 66, ow: 75),
            kernelGeom(c: 3, h: 23, w: 17, kh: 3, kw: 3, sh: 5, sw: 2, pt: 1, pl: 1, oh: 5, ow: 9),
            squareGeom(c: 2, h: 9, w: 5000, k: 5, s: 1, p: 2, oh: 9, ow: 5000),
            squareGeom(c: 2, h: 9, w: 9000, k: 3, s: 2, p: 1, oh: 5, ow: 4500),
            squareGeom(c: 3, h: 20, w: 21, k: 9, s: 1, p: 4, oh: 20, ow: 21),
            squareGeom(c: 2, h: 23, w: 23, k: 3, s: 5, p: 1, oh: 5, ow: 5),
        ]
        for var g in cases {
            XCTAssertEqual(sega_conv_geom_check(&g), SEGA_OK, describeGeom(g))
            let n = 3, xs = Int(g.c * g.h * g.w), ys = Int(g.c * g.oh * g.ow)
            let dy = rng.unitSigneds(n * ys).enumerated().map { $0.offset % 7 == 3 ? -0.0 : $0.element }
            let w = rng.unitSigneds(Int(g.c * g.kh * g.kw)), dx0 = rng.unitSigneds(n * xs)
            let mask = (0..<n * ys).map { _ in UInt8(rng.next() % 2) }
            for (name, e) in engines.list {
                for masked in [false, true] {
                    for acc in [false, true] {
                        let label = "\(name) mask \(masked) acc \(acc) " + describeGeom(g)
                        var want = acc ? dx0 : [Float](repeating: .nan, count: n * xs)
                        var dyi = [Float](repeating: 0, count: ys), tmp = [Float](repeating: 0, count: xs)
                        for i in 0..<n {
                            dy.withUnsafeBufferPointer { d in
                                if masked { mask.withUnsafeBufferPointer { sega_mask_copy(e, ys, $0.baseAddress! + i * ys, d.baseAddress! + i * ys, &dyi) } }
                                else { dyi = Array(d[i * ys..<(i + 1) * ys]) }
                            }
                            sega_dwconv_bwd_input(e, &g, dyi, w, &tmp)
                            want.withUnsafeMutableBufferPointer { wp in
                                if acc { sega_add_inplace(xs, tmp, wp.baseAddress! + i * xs) }
                                else { wp.baseAddress!.advanced(by: i * xs).update(from: tmp, count: xs) }
                            }
                        }
                        var got = acc ? dx0 : [Float](repeating: .nan, count: n * xs)
                        var ws = [Float](repeating: .nan, count: xs + ys)
                        ws.withUnsafeMutableBufferPointer { wsp in
                            mask.withUnsafeBufferPointer { mp in
                                sega_dwconv_bwd_input_batch(e, &g, Int32(n), dy, masked ? mp.baseAddress : nil, w, &got,
                                                            acc ? 1 : 0, (masked || acc) ? wsp.baseAddress : nil)
                            }
                        }
                        XCTAssertTrue(bitEqual(got, want), label)
                    }
                }
            }
        }
    }

    func testDwconvForwardAndInputGradientAreAdjoint() {
        var rng = TestRNG(6)
        for var g in ckSweep(channels: 2) {
            let nx = Int(g.c * g.h * g.w), ny = Int(g.c * g.oh * g.ow), nw = Int(g.c * g.kh * g.kw)
            let x = rng.unitSigneds(nx), w = rng.unitSigneds(nw), dy = rng.unitSigneds(ny)
            var y = [Float](repeating: 0, count: ny), dx = [Float](repeating: 0, count: nx)
            sega_dwconv_fwd(nil, &g, x, w, nil, &y)
            sega_dwconv_bwd_input(nil, &g, dy, w, &dx)
            let lhs = dotD(y, dy), rhs = dotD(x, dx)
            XCTAssertEqual(lhs, rhs, accuracy: 2e-5 * (1 + abs(lhs)), describeGeom(g))
            // And in the weights: <conv_w(x), dy> == <w, dW>.
            var dW = [Float](repeating: 0, count: nw)
            sega_dwconv_bwd_weight(nil, &g, x, dy, &dW)
            XCTAssertEqual(lhs, dotD(w, dW), accuracy: 2e-5 * (1 + abs(lhs)), "weights " + describeGeom(g))
        }
    }

    func testDwconvKnownValues() {
        // 1 channel 3x3 image 1..9, 3x3 all-ones kernel, pad 1: box sums; bias 0.5.
        var g = squareGeom(c: 1, h: 3, w: 3, k: 3, s: 1, p: 1, oh: 3, ow: 3)
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        let w = [Float](repeating: 1, count: 9)
        var y = [Float](repeating: 0, count: 9)
        sega_dwconv_fwd(nil, &g, x, w, [0.5], &y)
        XCTAssertEqual(y, [12, 21, 16, 27, 45, 33, 24, 39, 28].map { $0 + 0.5 })
    }
}
