// PoolingKernelTests.swift - max/avg pooling against the naive references (bit-exact: the fast
// kernels visit taps in the reference's order), PyTorch output sizes and divisors, adjoints.
import XCTest
import CSupport

fileprivate func pkOut(_ n: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int, _ ceil: Bool) -> Int {
    Int(sega_pool_out_size(Int32(n), Int32(k), Int32(s), Int32(p), Int32(d), ceil ? 1 : 0))
}

/// Pooling sweep: kernel {1,2,3,5}, stride {1,2,3}, pad {0,1,2} (PyTorch needs pad <= k/2, the
/// kernels do not, so larger pads are kept), dilation {1,2} (max only), floor and ceil mode,
/// sizes around 1, 8 and 16.
fileprivate func pkSweep(dilations: [Int]) -> [(sega_conv_geom, Bool)] {
    let sizes: [(Int, Int)] = [(1, 1), (1, 5), (6, 1), (2, 3), (5, 5), (7, 8), (8, 7), (9, 9), (15, 17), (16, 16)]
    var out: [(sega_conv_geom, Bool)] = []
    for k in [1, 2, 3, 5] {
        for s in [1, 2, 3] {
            for p in [0, 1, 2] {
                for d in dilations {
                    for ceil in [false, true] {
                        for (si, (h, w)) in sizes.enumerated() {
                            let kw = si % 2 == 1 ? k : max(1, k - 1)
                            let sw = si % 3 == 2 ? s + 1 : s
                            let pl = si % 4 == 1 ? min(p + 1, 2) : p
                            let oh = pkOut(h, k, s, p, d, ceil), ow = pkOut(w, kw, sw, pl, d, ceil)
                            if oh <= 0 || ow <= 0 { continue }
                            out.append((kernelGeom(c: 2, h: h, w: w, kh: k, kw: kw, sh: s, sw: sw, pt: p, pl: pl,
                                               dh: d, dw: d, oh: oh, ow: ow), ceil))
                        }
                    }
                }
            }
        }
    }
    return out
}

final class PoolingKernelTests: XCTestCase {

    // MARK: output size

    func testPoolOutSizeMatchesPyTorch() {
        // out = floor_or_ceil((in + 2p - d(k-1) - 1)/s) + 1, then in ceil mode drop the last
        // window if it would start at or past in + p (inside the right padding only).
        // in=7 k=3 s=2 p=0: (7-3)/2 = 2 exactly -> 3 in both modes.
        XCTAssertEqual(pkOut(7, 3, 2, 0, 1, false), 3)
        XCTAssertEqual(pkOut(7, 3, 2, 0, 1, true), 3)
        // in=6 k=3 s=2 p=1: 5/2 = 2.5 -> floor 3, ceil 4; last start (4-1)*2 = 6 < 6+1: kept.
        XCTAssertEqual(pkOut(6, 3, 2, 1, 1, false), 3)
        XCTAssertEqual(pkOut(6, 3, 2, 1, 1, true), 4)
        // in=5 k=2 s=2 p=1: 5/2 -> ceil 4, but (4-1)*2 = 6 >= 5+1: the rule drops it -> 3.
        XCTAssertEqual(pkOut(5, 2, 2, 1, 1, true), 3)
        XCTAssertEqual(pkOut(5, 2, 2, 1, 1, false), 3)
        // in=6 k=2 s=2 p=0: exact -> 3 both.
        XCTAssertEqual(pkOut(6, 2, 2, 0, 1, true), 3)
        // in=112 k=3 s=2 p=1 (ResNet): 111/2 = 55.5 -> floor 56, ceil 57, last start 112 >= 113? no -> 57.
        XCTAssertEqual(pkOut(112, 3, 2, 1, 1, false), 56)
        XCTAssertEqual(pkOut(112, 3, 2, 1, 1, true), 57)
        // in=8 k=3 s=3 p=0: 5/3 -> floor 2, ceil 3; last start 6 < 8 -> 3.
        XCTAssertEqual(pkOut(8, 3, 3, 0, 1, false), 2)
        XCTAssertEqual(pkOut(8, 3, 3, 0, 1, true), 3)
        // in=10 k=3 s=2 p=1 d=2: (10+2-4-1) = 7 -> floor 4, ceil 5 ((5-1)*2 = 8 < 11) -> 5.
        XCTAssertEqual(pkOut(10, 3, 2, 1, 2, false), 4)
        XCTAssertEqual(pkOut(10, 3, 2, 1, 2, true), 5)
        // in=1 k=1 s=1 p=0 -> 1; in=1 k=2 s=2 p=1 ceil: (1+2-1-1)=1 -> ceil 2, (2-1)*2=2 >= 2 -> 1.
        XCTAssertEqual(pkOut(1, 1, 1, 0, 1, true), 1)
        XCTAssertEqual(pkOut(1, 2, 2, 1, 1, true), 1)
        XCTAssertEqual(pkOut(1, 2, 2, 1, 1, false), 1)
        // Window bigger than the padded input: empty.
        XCTAssertLessThanOrEqual(pkOut(2, 5, 1, 0, 1, false), 0)
        XCTAssertLessThanOrEqual(pkOut(2, 5, 1, 0, 1, true), 0)
        // Invalid parameters.
        XCTAssertLessThanOrEqual(pkOut(0, 1, 1, 0, 1, false), 0)
        XCTAssertLessThanOrEqual(pkOut(4, 0, 1, 0, 1, false), 0)
        XCTAssertLessThanOrEqual(pkOut(4, 2, 0, 0, 1, false), 0)
        XCTAssertLessThanOrEqual(pkOut(4, 2, 1, -1, 1, false), 0)
        XCTAssertLessThanOrEqual(pkOut(4, 2, 1, 0, 0, false), 0)
    }

    // MARK: max pooling

    func testMaxPoolBitExactOverParameterSweep() {
        let engines = KernelEngines()
        var rng = TestRNG(11)
        let geoms = pkSweep(dilations: [1, 2])
        XCTAssertGreaterThan(geoms.count, 1000)
        for (g0, _) in geoms {
            var g = g0
            XCTAssertEqual(sega_conv_geom_check(&g), SEGA_OK, describeGeom(g))
            let nx = Int(g.c * g.h * g.w), ny = Int(g.c * g.oh * g.ow)
            let x = (0..<nx).map { _ in rng.tiesProne() }
            var yr = [Float](repeating: 3, count: ny), ar = [Int32](repeating: 9, count: ny)
            sega_maxpool_fwd_ref(&g, x, &yr, &ar)
            var af = ar
            for (name, e) in engines.perISA {   // every ISA gives the reference's bits
                var yf = [Float](repeating: .nan, count: ny)
                af = [Int32](repeating: -7, count: ny)
                sega_maxpool_fwd(e, &g, x, &yf, &af)
                XCTAssertTrue(bitEqual(yf, yr), "max y \(name) " + describeGeom(g))
                XCTAssertEqual(af, ar, "argmax \(name) " + describeGeom(g))
            }
            let dy = (0..<ny).map { _ in rng.unitSigned() }
            var dxf = [Float](repeating: .nan, count: nx), dxr = [Float](repeating: 1, count: nx)
            sega_maxpool_bwd(&g, dy, af, &dxf)
            sega_maxpool_bwd_ref(&g, x, dy, &dxr)
            XCTAssertTrue(bitEqual(dxf, dxr), "max bwd " + describeGeom(g))
        }
    }

    func testMaxPoolTiesPaddingAndSpecialValues() {
        // All-equal 4x4, k=2 s=2: every argmax is the window's first pixel (top-left).
        var g = squareGeom(c: 1, h: 4, w: 4, k: 2, s: 2, p: 0, oh: 2, ow: 2)
        var y = [Float](repeating: 0, count: 4), a = [Int32](repeating: 0, count: 4)
        sega_maxpool_fwd(nil, &g, [Float](repeating: 1, count: 16), &y, &a)
        XCTAssertEqual(y, [1, 1, 1, 1])
        XCTAssertEqual(a, [0, 2, 8, 10])
        // Padding is -inf: an all-negative image with pad 1 still yields image values.
        g = squareGeom(c: 1, h: 2, w: 2, k: 3, s: 1, p: 1, oh: 2, ow: 2)
        sega_maxpool_fwd(nil, &g, [-5, -4, -3, -6], &y, &a)
        XCTAssertEqual(y, [-3, -3, -3, -3])
        XCTAssertEqual(a, [2, 2, 2, 2])
        // -inf everywhere: value -inf, argmax the first in-window pixel (PyTorch's initial index).
        let ninf = -Float.infinity
        sega_maxpool_fwd(nil, &g, [ninf, ninf, ninf, ninf], &y, &a)
        XCTAssertEqual(y, [ninf, ninf, ninf, ninf])
        XCTAssertEqual(a, [0, 0, 0, 0])
        // NaN propagates.
        sega_maxpool_fwd(nil, &g, [1, .nan, 2, 3], &y, &a)
        XCTAssertTrue(y.allSatisfy { $0.isNaN })
        XCTAssertEqual(a, [1, 1, 1, 1])
        // A window wholly in the padding (explicit, non-PyTorch geometry): -inf and argmax -1.
        g = kernelGeom(c: 1, h: 1, w: 1, kh: 1, kw: 1, sh: 1, sw: 1, pt: 1, pl: 0, oh: 2, ow: 1)
        var y2 = [Float](repeating: 0, count: 2), a2 = [Int32](repeating: 0, count: 2)
        sega_maxpool_fwd(nil, &g, [4], &y2, &a2)
        XCTAssertEqual(y2, [ninf, 4])
        XCTAssertEqual(a2, [-1, 0])
        var dx = [Float](repeating: 9, count: 1)
        sega_maxpool_bwd(&g, [10, 20], a2, &dx)
        XCTAssertEqual(dx, [20])
    }

    func testMaxPoolKnownValuesWithDilationAndCeil() {
        // 1x5x5 image 0..24, k=2, s=2, d=2, p=0, ceil: (5-2-1)/2 = 1 -> floor 2, ceil 2.
        var g = kernelGeom(c: 1, h: 5, w: 5, kh: 2, kw: 2, sh: 2, sw: 2, pt: 0, pl: 0, dh: 2, dw: 2,
                       oh: pkOut(5, 2, 2, 0, 2, true), ow: pkOut(5, 2, 2, 0, 2, true))
        XCTAssertEqual(g.oh, 2)
        let x = (0..<25).map { Float($0) }
        var y = [Float](repeating: 0, count: 4), a = [Int32](repeating: 0, count: 4)
        sega_maxpool_fwd(nil, &g, x, &y, &a)
        // windows {0,2,10,12} {2,4,12,14} {10,12,20,22} {12,14,22,24}
        XCTAssertEqual(y, [12, 14, 22, 24])
        XCTAssertEqual(a, [12, 14, 22, 24])
        // 1x1x5 row, k=2 s=2 ceil (PyTorch: [1,3,4]); the last window holds just pixel 4.
        g = kernelGeom(c: 1, h: 1, w: 5, kh: 1, kw: 2, sh: 1, sw: 2, pt: 0, pl: 0,
                   oh: 1, ow: pkOut(5, 2, 2, 0, 1, true))
        XCTAssertEqual(g.ow, 3)
        var y3 = [Float](repeating: 0, count: 3), a3 = [Int32](repeating: 0, count: 3)
        sega_maxpool_fwd(nil, &g, [0, 1, 2, 3, 4], &y3, &a3)
        XCTAssertEqual(y3, [1, 3, 4])
        XCTAssertEqual(a3, [1, 3, 4])
    }

    // MARK: average pooling

    func testAvgPoolBitExactOverParameterSweep() {
        let engines = KernelEngines()
        var rng = TestRNG(12)
        for (g0, _) in pkSweep(dilations: [1]) {
            var g = g0
            let nx = Int(g.c * g.h * g.w), ny = Int(g.c * g.oh * g.ow)
            let x = (0..<nx).map { _ in rng.unitSigned() }
            let dy = (0..<ny).map { _ in rng.unitSigned() }
            for cip: Int32 in [0, 1] {
                var yr = [Float](repeating: 5, count: ny)
                sega_avgpool_fwd_ref(&g, g.pad_t, g.pad_l, cip, x, &yr)
                var yf = yr
                for (name, e) in engines.perISA {   // every ISA gives the reference's bits
                    yf = [Float](repeating: .nan, count: ny)
                    sega_avgpool_fwd(e, &g, g.pad_t, g.pad_l, cip, x, &yf)
                    XCTAssertTrue(bitEqual(yf, yr), "avg fwd cip\(cip) \(name) " + describeGeom(g))
                }
                var dxf = [Float](repeating: .nan, count: nx), dxr = [Float](repeating: 5, count: nx)
                sega_avgpool_bwd(&g, g.pad_t, g.pad_l, cip, dy, &dxf)
                sega_avgpool_bwd_ref(&g, g.pad_t, g.pad_l, cip, dy, &dxr)
                XCTAssertTrue(bitEqual(dxf, dxr), "avg bwd cip\(cip) " + describeGeom(g))
                // Adjoint: <avg(x), dy> == <x, avg^T(dy)>.
                let lhs = dotD(yf, dy), rhs = dotD(x, dxf)
                XCTAssertEqual(lhs, rhs, accuracy: 1e-5 * (1 + abs(lhs)), "avg adjoint " + describeGeom(g))
            }
        }
    }

    func testAvgPoolDivisorsMatchPyTorch() {
        // ones(6x6), k=3, s=2, p=1, ceil -> 4x4. Windows along an axis start at -1, 1, 3, 5.
        // count_include_pad: extent clipped to [-1, 7): 3, 3, 3, 2 (the last overhangs the
        // padding by one and that column is not counted); pixels in the image: 2, 3, 3, 1.
        let n = pkOut(6, 3, 2, 1, 1, true)
        XCTAssertEqual(n, 4)
        var g = squareGeom(c: 1, h: 6, w: 6, k: 3, s: 2, p: 1, oh: n, ow: n)
        let ones = [Float](repeating: 1, count: 36)
        var y = [Float](repeating: 0, count: 16)
        sega_avgpool_fwd(nil, &g, 1, 1, 1, ones, &y)
        let pix: [Float] = [2, 3, 3, 1], ext: [Float] = [3, 3, 3, 2]
        for r in 0..<4 {
            for c in 0..<4 {
                XCTAssertEqual(y[r * 4 + c], (pix[r] * pix[c]) / (ext[r] * ext[c]), "cip r\(r) c\(c)")
            }
        }
        XCTAssertEqual(y[0], 4.0 / 9.0)
        XCTAssertEqual(y[15], 0.25)
        // Without count_include_pad every window of ones averages to 1.
        sega_avgpool_fwd(nil, &g, 1, 1, 0, ones, &y)
        XCTAssertEqual(y, [Float](repeating: 1, count: 16))
        // Concrete values: 1x1x4 row 1..4, k=3 s=2 p=1 ceil: (4+2-3)/2 -> ceil 2, +1 = 3 outputs
        // (last start 4 < 4+1 is kept). Windows [-1,2) [1,4) [3,6)->[3,5) (extent 3, 3, 2).
        // cip: [(0+1+2)/3, (2+3+4)/3, (4+0)/2] = [1, 3, 2]; no cip: [3/2, 9/3, 4/1] = [1.5, 3, 4].
        g = kernelGeom(c: 1, h: 1, w: 4, kh: 1, kw: 3, sh: 1, sw: 2, pt: 0, pl: 1, oh: 1, ow: pkOut(4, 3, 2, 1, 1, true))
        XCTAssertEqual(g.ow, 3)
        var y2 = [Float](repeating: 0, count: 3)
        sega_avgpool_fwd(nil, &g, 0, 1, 1, [1, 2, 3, 4], &y2)
        XCTAssertEqual(y2, [1, 3, 2])
        sega_avgpool_fwd(nil, &g, 0, 1, 0, [1, 2, 3, 4], &y2)
        XCTAssertEqual(y2, [1.5, 3, 4])
        // A window wholly past the padding (explicit geometry) gives 0 and no gradient.
        g = squareGeom(c: 1, h: 2, w: 2, k: 1, s: 2, p: 0, oh: 2, ow: 2)
        var y3 = [Float](repeating: 7, count: 4)
        sega_avgpool_fwd(nil, &g, 0, 0, 1, [1, 2, 3, 4], &y3)
        XCTAssertEqual(y3, [1, 0, 0, 0])
        var dx = [Float](repeating: 7, count: 4)
        sega_avgpool_bwd(&g, 0, 0, 1, [1, 1, 1, 1], &dx)
        XCTAssertEqual(dx, [1, 0, 0, 0])
    }

    func testPoolingLargerShapes() {
        let engines = KernelEngines()
        var rng = TestRNG(13)
        let cases: [sega_conv_geom] = [
            squareGeom(c: 8, h: 112, w: 112, k: 3, s: 2, p: 1, oh: 56, ow: 56),
            squareGeom(c: 4, h: 57, w: 57, k: 3, s: 2, p: 0, oh: 29, ow: 29),  // ceil
            squareGeom(c: 4, h: 35, w: 33, k: 3, s: 1, p: 1, oh: 35, ow: 33),
            squareGeom(c: 2, h: 14, w: 14, k: 7, s: 7, p: 0, oh: 2, ow: 2),
        ]
        for var g in cases {
            XCTAssertEqual(sega_conv_geom_check(&g), SEGA_OK)
            let nx = Int(g.c * g.h * g.w), ny = Int(g.c * g.oh * g.ow)
            let x = (0..<nx).map { _ in rng.tiesProne() }
            var y1 = [Float](repeating: 0, count: ny), y2 = y1
            var a1 = [Int32](repeating: 0, count: ny), a2 = a1
            sega_maxpool_fwd_ref(&g, x, &y2, &a2)
            for (name, e) in engines.perISA {
                sega_maxpool_fwd(e, &g, x, &y1, &a1)
                XCTAssertEqual(y1, y2, "\(name) " + describeGeom(g))
                XCTAssertEqual(a1, a2, "\(name) " + describeGeom(g))
            }
            for cip: Int32 in [0, 1] {
                sega_avgpool_fwd_ref(&g, g.pad_t, g.pad_l, cip, x, &y2)
                for (name, e) in engines.perISA {
                    sega_avgpool_fwd(e, &g, g.pad_t, g.pad_l, cip, x, &y1)
                    XCTAssertTrue(bitEqual(y1, y2), "\(name) " + describeGeom(g))
                }
            }
        }
    }
}
