// EltwiseKernelTests.swift - activations, softmax, layernorm, affine and bilinear resize.
// Forwards are checked against double-precision formulas / the C references; backwards against
// central finite differences of double-precision re-implementations (so the only error left is
// the float kernel's own rounding), and for bilinear against the reference and the adjoint
// identity. Every backward must accumulate into dx.
import XCTest
import CSupport

// Double-precision re-implementations (the functions being differentiated).
fileprivate func sigmoidD(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
/// The standard normal CDF, from erfc so that its lower tail keeps relative accuracy.
fileprivate func geluCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
fileprivate func geluD(_ x: Double) -> Double { x * geluCDF(x) }
fileprivate func softmaxD(_ x: [Double]) -> [Double] {
    let m = x.max()!
    let e = x.map { exp($0 - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}
fileprivate func layernormD(_ x: [Double], _ gamma: [Double]?, _ beta: [Double]?, _ eps: Double) -> [Double] {
    let n = Double(x.count)
    let mu = x.reduce(0, +) / n
    let v = x.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / n
    let r = 1 / (v + eps).squareRoot()
    return (0..<x.count).map { i in (x[i] - mu) * r * (gamma?[i] ?? 1) + (beta?[i] ?? 0) }
}

/// Gradient of L(x) = sum_i dy_i * f(x)_i for a row function f, by central differences in double.
fileprivate func numericGrad(_ x: [Float], _ dy: [Float], h: Double = 1e-6, _ f: ([Double]) -> [Double]) -> [Double] {
    var xd = x.map { Double($0) }
    let dyd = dy.map { Double($0) }
    var g = [Double](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let keep = xd[i]
        xd[i] = keep + h
        let fp = f(xd)
        xd[i] = keep - h
        let fm = f(xd)
        xd[i] = keep
        var s = 0.0
        for j in 0..<fp.count { s += dyd[j] * (fp[j] - fm[j]) }
        g[i] = s / (2 * h)
    }
    return g
}

fileprivate let ekSizes = [1, 3, 7, 8, 9, 16, 31, 33, 100, 1027]

final class EltwiseKernelTests: XCTestCase {

    private func assertNear(_ a: [Float], _ b: [Double], rel: Double, abs absTol: Double, _ msg: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, msg, file: file, line: line)
        for i in 0..<a.count {
            let d = Swift.abs(Double(a[i]) - b[i])
            if !(d <= absTol + rel * Swift.abs(b[i])) {
                XCTFail("\(msg) [\(i)]: \(a[i]) vs \(b[i])", file: file, line: line)
                return
            }
        }
    }

    /// Runs `body(x, y)` with x and y the same buffer (in place).
    private func inPlace(_ v: [Float], _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        var buf = v
        buf.withUnsafeMutableBufferPointer { p in body(UnsafePointer(p.baseAddress!), p.baseAddress!) }
        return buf
    }

    /// A kernel and its reference on x, each into an output that starts as NaN (so both must
    /// write every element).
    private func kernelAndRef(_ x: [Float], _ kernel: (Int, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void,
                              _ ref: (Int, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void) -> ([Float], [Float]) {
        var y = [Float](repeating: .nan, count: x.count), yr = y
        kernel(x.count, x, &y)
        ref(x.count, x, &yr)
        return (y, yr)
    }

    // MARK: activations

    func testReluAndRelu6() {
        var rng = TestRNG(21)
        for n in ekSizes {
            let x = rng.unitSigneds(n, scale: 8)
            var (y, yr) = kernelAndRef(x, sega_relu_fwd, sega_relu_fwd_ref)
            XCTAssertEqual(y, yr)
            XCTAssertEqual(y, x.map { max($0, 0) })
            XCTAssertTrue(bitEqual(inPlace(x) { sega_relu_fwd(n, $0, $1) }, y))
            sega_relu6_fwd(n, x, &y)
            XCTAssertEqual(y, x.map { min(max($0, 0), 6) })
            XCTAssertTrue(bitEqual(inPlace(x) { sega_relu6_fwd(n, $0, $1) }, y))
            // Backward accumulates dy * mask.
            let dy = rng.unitSigneds(n), dx0 = rng.unitSigneds(n)
            var dx = dx0
            sega_relu_bwd(n, x, dy, &dx)
            XCTAssertEqual(dx, (0..<n).map { dx0[$0] + (x[$0] > 0 ? dy[$0] : 0) })
            dx = dx0
            sega_relu6_bwd(n, x, dy, &dx)
            XCTAssertEqual(dx, (0..<n).map { dx0[$0] + (x[$0] > 0 && x[$0] < 6 ? dy[$0] : 0) })
        }
        var y = [Float](repeating: 0, count: 4)
        sega_relu_fwd(4, [.nan, -.infinity, .infinity, -0.0], &y)
        XCTAssertTrue(y[0].isNaN)
        XCTAssertEqual(Array(y[1...]), [0, .infinity, 0])
        sega_relu6_fwd(4, [.nan, -.infinity, .infinity, 6.5], &y)
        XCTAssertTrue(y[0].isNaN)
        XCTAssertEqual(Array(y[1...]), [0, 6, 6])
    }

    /// Sigmoid on engine `e` (every ISA it has a variant for must meet the same bound).
    private func checkSigmoid(_ e: OpaquePointer?, _ name: String) {
        var rng = TestRNG(22)
        for n in ekSizes {
            let x = rng.unitSigneds(n, scale: 20)
            var y = [Float](repeating: .nan, count: n)
            sega_sigmoid_fwd(e, n, x, &y)
            assertNear(y, x.map { sigmoidD(Double($0)) }, rel: 4e-7, abs: 1e-30, "sigmoid \(name) n\(n)")
            XCTAssertTrue(bitEqual(inPlace(x) { sega_sigmoid_fwd(e, n, $0, $1) }, y), "sigmoid in place \(name)")
        }
        // Dense sweep over the whole useful range, including the exp clamps and denormals.
        let xs = (0...40000).map { Float($0 - 20000) * 0.0055 }   // [-110, 110]
        var ys = [Float](repeating: 0, count: xs.count)
        sega_sigmoid_fwd(e, xs.count, xs, &ys)
        assertNear(ys, xs.map { sigmoidD(Double($0)) }, rel: 4e-7, abs: 3e-45, "sigmoid sweep \(name)")
        let special: [Float] = [.infinity, -.infinity, .nan, 0, 88.8, -88.8, 104.5, -104.5, 1e-30]
        var s = [Float](repeating: 0, count: special.count)
        sega_sigmoid_fwd(e, special.count, special, &s)
        XCTAssertEqual(s[0], 1, name)
        XCTAssertEqual(s[1], 0, name)
        XCTAssertTrue(s[2].isNaN, name)
        XCTAssertEqual(s[3], 0.5, name)
        XCTAssertEqual(s[4], 1, name)
        XCTAssertEqual(Double(s[5]), sigmoidD(-88.8), accuracy: 1e-44, name)
        XCTAssertEqual(s[6], 1, name)
        XCTAssertEqual(s[7], 0, name)
        XCTAssertEqual(s[8], 0.5, name)
    }

    func testSigmoidForwardAccuracyAndSpecialValues() {
        let engines = KernelEngines()
        for (name, e) in engines.list { checkSigmoid(e, name) }
        var rng = TestRNG(22)
        for n in ekSizes {
            let x = rng.unitSigneds(n, scale: 20)
            var yr = [Float](repeating: .nan, count: n)
            sega_sigmoid_fwd_ref(n, x, &yr)
            assertNear(yr, x.map { sigmoidD(Double($0)) }, rel: 1.2e-7, abs: 1e-30, "sigmoid ref n\(n)")
        }
    }

    /// GELU on engine `e` (every ISA it has a variant for) against double precision: the CDF
    /// keeps its relative accuracy in the lower tail, where 1 + erf(x / sqrt 2) cancels (the
    /// libm form `0.5 x (1 + erff(x / sqrt 2))` misses this bound by orders of magnitude below
    /// x = -3), and the backward's Phi(x) + x phi(x) is within a few ulp of its own scale.
    private func checkGelu(_ e: OpaquePointer?, _ name: String) {
        var rng = TestRNG(23)
        for n in ekSizes {
            let x = rng.unitSigneds(n, scale: 6)
            var y = [Float](repeating: .nan, count: n), yr = y
            sega_gelu_fwd(e, n, x, &y)
            sega_gelu_fwd_ref(n, x, &yr)
            assertNear(y, x.map { geluD(Double($0)) }, rel: 8e-7, abs: 1e-37, "gelu \(name) n\(n)")
            assertNear(yr, x.map { geluD(Double($0)) }, rel: 1e-7, abs: 1e-37, "gelu ref n\(n)")
            XCTAssertTrue(bitEqual(inPlace(x) { sega_gelu_fwd(e, n, $0, $1) }, y), "gelu in place \(name)")
        }
        // Dense sweep over [-13, 13] (both polynomial pieces, their seam at |x| = 1/sqrt 2, the
        // lower tail down to 6e-39); a relative bound, so the tail's values count.
        let xs = (0...52000).map { Float($0 - 26000) * 0.0005 }
        var ys = [Float](repeating: 0, count: xs.count)
        sega_gelu_fwd(e, xs.count, xs, &ys)
        assertNear(ys, xs.map { geluD(Double($0)) }, rel: 8e-7, abs: 1e-44, "gelu sweep \(name)")
        let dy = [Float](repeating: 1, count: xs.count)
        var dx = [Float](repeating: 0, count: xs.count)
        sega_gelu_bwd(e, xs.count, xs, dy, &dx)
        // d/dx is 0 near x = -0.75: the bound is relative to the terms' own scale, Phi + |x| phi.
        for (i, v) in xs.enumerated() {
            let d = Double(v), cdf = geluCDF(d), pdf = exp(-0.5 * d * d) / (2 * Double.pi).squareRoot()
            XCTAssertEqual(Double(dx[i]), cdf + d * pdf, accuracy: 1e-6 * (cdf + abs(d) * pdf) + 1e-44,
                           "gelu bwd \(name) at \(v)")
        }
        let special: [Float] = [.infinity, -.infinity, .nan, -0.0, 1e-40, -20, 20, -13.3]
        var s = [Float](repeating: 7, count: special.count)
        sega_gelu_fwd(e, special.count, special, &s)
        XCTAssertEqual(s[0], .infinity, name)
        XCTAssertTrue(s[1].isNaN && s[2].isNaN, name)           // -inf * 0, as 0.5 * -inf * (1 + erf(-inf))
        XCTAssertTrue(s[3] == 0 && s[3].sign == .minus, name)
        XCTAssertEqual(s[4], 5e-41, accuracy: 1e-45, name)
        XCTAssertTrue(s[5] == 0 && s[5].sign == .minus, name)  // -20 Phi(-20): below the denormals
        XCTAssertEqual(s[6], 20, name)
        XCTAssertEqual(Double(s[7]), geluD(-13.3), accuracy: 2e-44, name)
    }

    func testGeluAccuracyPerISA() {
        let engines = KernelEngines()
        for (name, e) in engines.list { checkGelu(e, name) }
    }

    func testActivationBackwardsMatchFiniteDifferences() {
        var rng = TestRNG(24)
        let n = 257
        let x = rng.unitSigneds(n, scale: 5), dy = rng.unitSigneds(n), dx0 = rng.unitSigneds(n)
        // Sigmoid: backward from the forward output.
        var y = [Float](repeating: 0, count: n)
        sega_sigmoid_fwd(nil, n, x, &y)
        var dx = dx0
        sega_sigmoid_bwd(n, y, dy, &dx)
        let gs = numericGrad(x, dy) { $0.map(sigmoidD) }
        assertNear((0..<n).map { dx[$0] - dx0[$0] }, gs, rel: 1e-5, abs: 2e-6, "sigmoid bwd")
        // GELU.
        dx = dx0
        sega_gelu_bwd(nil, n, x, dy, &dx)
        let gg = numericGrad(x, dy) { $0.map(geluD) }
        assertNear((0..<n).map { dx[$0] - dx0[$0] }, gg, rel: 1e-5, abs: 2e-6, "gelu bwd")
    }

    // MARK: softmax

    /// Softmax forward on engine `e` against double precision and the reference.
    private func checkSoftmax(_ e: OpaquePointer?, _ name: String) {
        var rng = TestRNG(25)
        for len in ekSizes {
            let rows = 3
            let x = rng.unitSigneds(rows * len, scale: 10)
            var y = [Float](repeating: .nan, count: rows * len), yr = y
            sega_softmax_fwd(e, rows, len, x, &y)
            sega_softmax_fwd_ref(rows, len, x, &yr)
            for r in 0..<rows {
                let row = Array(x[r * len..<(r + 1) * len]).map { Double($0) }
                // The float kernel forms x - max in float: that costs up to ulp(|x - max|).
                assertNear(Array(y[r * len..<(r + 1) * len]), softmaxD(row), rel: 4e-6, abs: 1e-12, "softmax \(name) len\(len)")
                assertNear(Array(yr[r * len..<(r + 1) * len]), softmaxD(row), rel: 1e-6, abs: 1e-12, "softmax ref len\(len)")
                let s = y[r * len..<(r + 1) * len].reduce(0.0) { $0 + Double($1) }
                XCTAssertEqual(s, 1, accuracy: 1e-5, name)
            }
            XCTAssertTrue(bitEqual(inPlace(x) { sega_softmax_fwd(e, rows, len, $0, $1) }, y), "in place \(name)")
        }
        // Large logits do not overflow (max subtracted); -inf entries get 0; an all -inf row is NaN.
        var y = [Float](repeating: 0, count: 4)
        sega_softmax_fwd(e, 1, 4, [1000, 1000, -.infinity, 999], &y)
        let ex = exp(-1.0), z = 2 + ex
        assertNear(y, [1 / z, 1 / z, 0, ex / z], rel: 1e-6, abs: 0, "large logits \(name)")
        sega_softmax_fwd(e, 1, 4, [-.infinity, -.infinity, -.infinity, -.infinity], &y)
        XCTAssertTrue(y.allSatisfy { $0.isNaN }, name)
        sega_softmax_fwd(e, 1, 1, [42], &y)
        XCTAssertEqual(y[0], 1, name)
    }

    func testSoftmaxForward() {
        let engines = KernelEngines()
        for (name, e) in engines.list { checkSoftmax(e, name) }
    }

    func testSoftmaxBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(26)
        for len in [1, 2, 7, 8, 9, 33] {
            let rows = 2
            let x = rng.unitSigneds(rows * len, scale: 3), dy = rng.unitSigneds(rows * len), dx0 = rng.unitSigneds(rows * len)
            var y = [Float](repeating: 0, count: rows * len)
            sega_softmax_fwd(nil, rows, len, x, &y)
            var dx = dx0
            sega_softmax_bwd(rows, len, y, dy, &dx)
            for r in 0..<rows {
                let sl = r * len..<(r + 1) * len
                let g = numericGrad(Array(x[sl]), Array(dy[sl])) { softmaxD($0) }
                assertNear(sl.map { dx[$0] - dx0[$0] }, g, rel: 1e-5, abs: 1e-6, "softmax bwd len\(len)")
            }
        }
    }

    // MARK: layernorm

    func testLayerNormForward() {
        var rng = TestRNG(27)
        for len in ekSizes where len > 1 {
            let rows = 3
            let x = (0..<rows * len).map { i in rng.unitSigned() * 4 + Float(i % 3) * 10 }   // offset rows
            let gamma = rng.unitSigneds(len), beta = rng.unitSigneds(len)
            for (gm, bt) in [(gamma, beta), (nil, nil), (gamma, nil), (nil, beta)] as [([Float]?, [Float]?)] {
                var y = [Float](repeating: .nan, count: rows * len), yr = y
                var mean = [Float](repeating: 0, count: rows), rstd = mean
                sega_layernorm_fwd(rows, len, 1e-5, x, gm, bt, &y, &mean, &rstd)
                sega_layernorm_fwd_ref(rows, len, 1e-5, x, gm, bt, &yr)
                for r in 0..<rows {
                    let sl = r * len..<(r + 1) * len
                    let row = x[sl].map { Double($0) }
                    let exact = layernormD(row, gm.map { $0.map { Double($0) } }, bt.map { $0.map { Double($0) } }, 1e-5)
                    assertNear(Array(y[sl]), exact, rel: 2e-5, abs: 2e-5, "layernorm len\(len)")
                    assertNear(Array(yr[sl]), exact, rel: 1e-6, abs: 1e-6, "layernorm ref len\(len)")
                    let mu = row.reduce(0, +) / Double(len)
                    let v = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(len)
                    XCTAssertEqual(Double(mean[r]), mu, accuracy: 1e-5 * (1 + abs(mu)))
                    XCTAssertEqual(Double(rstd[r]), 1 / (v + 1e-5).squareRoot(), accuracy: 1e-5 / (v + 1e-5).squareRoot())
                }
                let yin = inPlace(x) { sega_layernorm_fwd(rows, len, 1e-5, $0, gm, bt, $1, nil, nil) }
                XCTAssertTrue(bitEqual(yin, y), "layernorm in place len\(len)")
            }
        }
        // Constant row: variance 0, output beta (rstd = 1/sqrt(eps)).
        var y = [Float](repeating: 0, count: 4)
        sega_layernorm_fwd(1, 4, 1e-5, [3, 3, 3, 3], nil, [1, 2, 3, 4], &y, nil, nil)
        XCTAssertEqual(y, [1, 2, 3, 4])
    }

    func testLayerNormBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(28)
        let eps: Float = 1e-5
        for len in [2, 7, 8, 9, 48] {
            let rows = 2
            let x = rng.unitSigneds(rows * len, scale: 2), dy = rng.unitSigneds(rows * len), dx0 = rng.unitSigneds(rows * len)
            let gamma = rng.unitSigneds(len), beta = rng.unitSigneds(len)
            for gm in [gamma, nil] as [[Float]?] {
                var y = [Float](repeating: 0, count: rows * len)
                var mean = [Float](repeating: 0, count: rows), rstd = mean
                sega_layernorm_fwd(rows, len, eps, x, gm, beta, &y, &mean, &rstd)
                var dx = dx0
                sega_layernorm_bwd(rows, len, x, gm, mean, rstd, dy, &dx)
                let gd = gm.map { $0.map { Double($0) } }
                for r in 0..<rows {
                    let sl = r * len..<(r + 1) * len
                    let g = numericGrad(Array(x[sl]), Array(dy[sl]), h: 1e-5) { layernormD($0, gd, nil, Double(eps)) }
                    assertNear(sl.map { dx[$0] - dx0[$0] }, g, rel: 2e-4, abs: 2e-5, "layernorm bwd len\(len) gamma \(gm != nil)")
                }
            }
        }
    }

    // MARK: affine, add, axpy

    func testChannelAffineAddAxpy() {
        var rng = TestRNG(29)
        let c = 3, plane = 37
        let x = rng.unitSigneds(c * plane), scale = rng.unitSigneds(c), shift = rng.unitSigneds(c)
        var y = [Float](repeating: 0, count: c * plane)
        sega_channel_affine_fwd(c, plane, x, scale, shift, &y)
        for i in 0..<c * plane { XCTAssertEqual(y[i], x[i] * scale[i / plane] + shift[i / plane], accuracy: 1e-6) }
        XCTAssertTrue(bitEqual(inPlace(x) { sega_channel_affine_fwd(c, plane, $0, scale, shift, $1) }, y))
        let dy = rng.unitSigneds(c * plane), dx0 = rng.unitSigneds(c * plane)
        var dx = dx0
        sega_channel_affine_bwd(c, plane, scale, dy, &dx)
        for i in 0..<c * plane { XCTAssertEqual(dx[i], dx0[i] + dy[i] * scale[i / plane], accuracy: 1e-6) }
        var acc = dx0
        sega_add_inplace(c * plane, x, &acc)
        XCTAssertEqual(acc, (0..<c * plane).map { dx0[$0] + x[$0] })
        acc = dx0
        sega_axpy(c * plane, -0.5, x, &acc)
        for i in 0..<c * plane { XCTAssertEqual(acc[i], dx0[i] - 0.5 * x[i], accuracy: 1e-6) }
    }

    // MARK: bilinear

    func testBilinearKnownPyTorchValues() {
        let x: [Float] = [1, 2, 3, 4]
        var y = [Float](repeating: 0, count: 16)
        // F.interpolate(x, size=(4,4), mode='bilinear', align_corners=False)
        sega_bilinear_fwd(1, 2, 2, 4, 4, 0, x, &y)
        XCTAssertEqual(y, [1.0, 1.25, 1.75, 2.0,
                           1.5, 1.75, 2.25, 2.5,
                           2.5, 2.75, 3.25, 3.5,
                           3.0, 3.25, 3.75, 4.0])
        // align_corners=True, 3x3
        var y3 = [Float](repeating: 0, count: 9)
        sega_bilinear_fwd(1, 2, 2, 3, 3, 1, x, &y3)
        XCTAssertEqual(y3, [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4])
        // Downsampling 4 -> 2 (align_corners=False) averages pixel pairs: src = 0.5, 2.5.
        let x4 = (0..<16).map { Float($0) }
        var y2 = [Float](repeating: 0, count: 4)
        sega_bilinear_fwd(1, 4, 4, 2, 2, 0, x4, &y2)
        XCTAssertEqual(y2, [2.5, 4.5, 10.5, 12.5])
        // Output size 1: align_corners=True samples the origin; False the centre (src = 1.5).
        var y1 = [Float](repeating: 0, count: 1)
        sega_bilinear_fwd(1, 4, 4, 1, 1, 1, x4, &y1)
        XCTAssertEqual(y1, [0])
        sega_bilinear_fwd(1, 4, 4, 1, 1, 0, x4, &y1)
        XCTAssertEqual(y1, [7.5])
        // Identity size.
        var yi = [Float](repeating: 0, count: 16)
        sega_bilinear_fwd(1, 4, 4, 4, 4, 0, x4, &yi)
        XCTAssertEqual(yi, x4)
        // 1x1 input broadcasts.
        var yb = [Float](repeating: 0, count: 6)
        sega_bilinear_fwd(1, 1, 1, 2, 3, 0, [5], &yb)
        XCTAssertEqual(yb, [Float](repeating: 5, count: 6))
    }

    func testBilinearMatchesReferenceAndIsAdjoint() {
        var rng = TestRNG(30)
        let sizes = [1, 2, 3, 5, 8, 9, 16, 17]
        for h in sizes {
            for w in [1, 4, 7, 16] {
                for oh in [1, 3, 8, 17, 32] {
                    for ow in [1, 2, 9, 16, 33] {
                        for ac: Int32 in [0, 1] {
                            let c = 2
                            let x = rng.unitSigneds(c * h * w), dy = rng.unitSigneds(c * oh * ow)
                            var y = [Float](repeating: .nan, count: c * oh * ow), yr = y
                            sega_bilinear_fwd(c, Int32(h), Int32(w), Int32(oh), Int32(ow), ac, x, &y)
                            sega_bilinear_fwd_ref(c, Int32(h), Int32(w), Int32(oh), Int32(ow), ac, x, &yr)
                            let tag = "\(h)x\(w)->\(oh)x\(ow) ac\(ac)"
                            XCTAssertTrue(bitEqual(y, yr), "fwd " + tag)
                            let dx0 = rng.unitSigneds(c * h * w)
                            var dx = dx0, dxr = dx0
                            sega_bilinear_bwd(c, Int32(h), Int32(w), Int32(oh), Int32(ow), ac, dy, &dx)
                            sega_bilinear_bwd_ref(c, Int32(h), Int32(w), Int32(oh), Int32(ow), ac, dy, &dxr)
                            XCTAssertTrue(bitEqual(dx, dxr), "bwd " + tag)
                            // Adjoint on the accumulated part: <resize(x), dy> == <x, dx - dx0>.
                            let lhs = dotD(y, dy)
                            let rhs = dotD(x, (0..<dx.count).map { dx[$0] - dx0[$0] })
                            XCTAssertEqual(lhs, rhs, accuracy: 1e-5 * (1 + abs(lhs)), "adjoint " + tag)
                        }
                    }
                }
            }
        }
    }

    func testBilinearWideRowsUseChunkedTables() {
        // Wider than the 1024-column table chunk: still identical to the reference.
        var rng = TestRNG(31)
        let (h, w, oh, ow) = (3, 700, 5, 2100)
        let x = rng.unitSigneds(h * w), dy = rng.unitSigneds(oh * ow)
        for ac: Int32 in [0, 1] {
            var y = [Float](repeating: 0, count: oh * ow), yr = y
            sega_bilinear_fwd(1, Int32(h), Int32(w), Int32(oh), Int32(ow), ac, x, &y)
            sega_bilinear_fwd_ref(1, Int32(h), Int32(w), Int32(oh), Int32(ow), ac, x, &yr)
            XCTAssertTrue(bitEqual(y, yr))
            var dx = [Float](repeating: 0, count: h * w), dxr = dx
            sega_bilinear_bwd(1, Int32(h), Int32(w), Int32(oh), Int32(ow), ac, dy, &dx)
            sega_bilinear_bwd_ref(1, Int32(h), Int32(w), Int32(oh), Int32(ow), ac, dy, &dxr)
            XCTAssertTrue(bitEqual(dx, dxr))
        }
    }
}
