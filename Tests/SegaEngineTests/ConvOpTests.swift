import XCTest
@testable import SegaEngine

// MARK: - Shared helpers for the conv / pool / network tests

/// Plans `build` over one input, runs forward once, returns the output values and shape.
func opsRunForward(_ ctx: Context, _ xShape: [Int], _ xData: [Float],
                   _ build: (Graph, Tensor) throws -> Tensor) throws -> (values: [Float], shape: [Int]) {
    let g = Graph()
    let x = try g.input(xShape)
    let y = try build(g, x)
    let plan = try g.plan(ctx, outputs: [y])
    try plan.setInput(x, xData)
    plan.forward()
    return (Array(plan.buffer(y)), y.shape)
}

/// |a - b| <= tol * max(1, |b|) elementwise, with a message naming the first failure.
func opsAssertClose(_ a: [Float], _ b: [Double], tol: Double = 1e-4, _ what: @autoclosure () -> String,
                    file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what()): count", file: file, line: line)
    guard a.count == b.count else { return }
    for i in 0..<a.count where !(abs(Double(a[i]) - b[i]) <= tol * max(1, abs(b[i]))) {
        XCTFail("\(what()): element \(i): got \(a[i]), expected \(b[i])", file: file, line: line)
        return
    }
}

/// Asserts `body` throws an EngineError of `kind`.
func opsExpectError(_ kind: EngineError.Kind, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                    _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("\(what): no error thrown", file: file, line: line)
    } catch let e as EngineError {
        XCTAssertEqual(e.kind, kind, "\(what): \(e.message)", file: file, line: line)
    } catch {
        XCTFail("\(what): unexpected error \(error)", file: file, line: line)
    }
}

// MARK: - Naive convolution reference (direct loops, double)

struct ConvCase: CustomStringConvertible {
    var n = 1, cin = 3, cout = 4, h = 7, w = 8, kh = 3, kw = 3
    var sh = 1, sw = 1, pt = 0, pl = 0, pb = 0, pr = 0, dh = 1, dw = 1, groups = 1, bias = false
    var oh: Int { (h + pt + pb - dh * (kh - 1) - 1) / sh + 1 }
    var ow: Int { (w + pl + pr - dw * (kw - 1) - 1) / sw + 1 }
    var xShape: [Int] { [n, cin, h, w] }
    var wShape: [Int] { [cout, cin / groups, kh, kw] }
    var valid: Bool { h + pt + pb >= dh * (kh - 1) + 1 && w + pl + pr >= dw * (kw - 1) + 1 }
    var description: String {
        "n\(n) cin\(cin) cout\(cout) \(h)x\(w) k\(kh)x\(kw) s\(sh),\(sw) pad t\(pt) l\(pl) b\(pb) r\(pr) d\(dh),\(dw) g\(groups) bias \(bias)"
    }
}

/// y[n][co][oy][ox] = b[co] + sum_{ci in group, i, j} w[co][ci][i][j] * x[n][g*cinG+ci][oy*sh-pt+i*dh][ox*sw-pl+j*dw].
func refConv2d(_ c: ConvCase, x: [Float], w: [Float], b: [Float]?) -> [Double] {
    let cinG = c.cin / c.groups, coutG = c.cout / c.groups, oh = c.oh, ow = c.ow
    var y = [Double](repeating: 0, count: c.n * c.cout * oh * ow)
    for n in 0..<c.n {
        for co in 0..<c.cout {
            let g = co / coutG
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var s = b.map { Double($0[co]) } ?? 0
                    for ci in 0..<cinG {
                        for i in 0..<c.kh {
                            for j in 0..<c.kw {
                                let iy = oy * c.sh - c.pt + i * c.dh, ix = ox * c.sw - c.pl + j * c.dw
                                guard iy >= 0, iy < c.h, ix >= 0, ix < c.w else { continue }
                                s += Double(w[((co * cinG + ci) * c.kh + i) * c.kw + j])
                                    * Double(x[((n * c.cin + g * cinG + ci) * c.h + iy) * c.w + ix])
                            }
                        }
                    }
                    y[((n * c.cout + co) * oh + oy) * ow + ox] = s
                }
            }
        }
    }
    return y
}

final class ConvOpTests: XCTestCase {
    // MARK: forward vs reference

    /// Runs one case through the engine (symmetric or explicit padding) and compares.
    private func checkForward(_ ctx: Context, _ c: ConvCase, padding: Conv2d.Padding? = nil, rng: inout TestRNG,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let x = rng.array(product(c.xShape)), w = rng.array(product(c.wShape))
        let b = c.bias ? rng.array(c.cout) : nil
        let pad = padding ?? .symmetric(c.pt, c.pl)
        let (y, shape) = try opsRunForward(ctx, c.xShape, x) { g, xt in
            let wt = try g.constant(w, c.wShape)
            let bt = try b.map { try g.constant($0, [c.cout]) }
            return try g.conv2d(xt, weight: wt, bias: bt, stride: (c.sh, c.sw), padding: pad,
                                dilation: (c.dh, c.dw), groups: c.groups)
        }
        XCTAssertEqual(shape, [c.n, c.cout, c.oh, c.ow], "\(c)", file: file, line: line)
        opsAssertClose(y, refConv2d(c, x: x, w: w, b: b), "\(c)", file: file, line: line)
    }

    func testConvForwardMatchesReference() throws {
        let ctx = try Context(threads: 1)
        var rng = TestRNG(11)
        var count = 0
        // (cin, cout, groups): dense, grouped, depthwise, depthwise multiplier 2, grouped 3.
        let channelSets = [(3, 4, 1), (4, 6, 2), (4, 4, 4), (3, 6, 3), (6, 6, 3)]
        let kernels = [(3, 3), (1, 1), (2, 3)]
        let strides = [(1, 1), (2, 1), (2, 2)]
        let pads = [(0, 0), (1, 1), (0, 2)]
        let dils = [(1, 1), (2, 1)]
        for n in [1, 2] {
            for (cin, cout, groups) in channelSets {
                for (kh, kw) in kernels {
                    for (sh, sw) in strides {
                        for (ph, pw) in pads {
                            for (dh, dw) in dils {
                                // Thin out the cartesian product deterministically (keep ~1/3)
                                // but always keep 1x1/stride-1/pad-0 (the pointwise path).
                                let pointwise = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0
                                if !pointwise && rng.next() % 3 != 0 { continue }
                                let c = ConvCase(n: n, cin: cin, cout: cout, h: 7, w: 8, kh: kh, kw: kw, sh: sh, sw: sw,
                                                 pt: ph, pl: pw, pb: ph, pr: pw, dh: dh, dw: dw, groups: groups,
                                                 bias: rng.next() % 2 == 0)
                                guard c.valid else { continue }
                                try checkForward(ctx, c, rng: &rng)
                                count += 1
                            }
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(count, 100)
    }

    func testConvForwardLargerChannelsAndThreads() throws {
        // Bigger GEMMs (several micro-kernel tiles and K blocks) and a threaded context.
        let cases = [
            ConvCase(n: 2, cin: 16, cout: 24, h: 13, w: 11, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, bias: true),
            ConvCase(n: 1, cin: 32, cout: 40, h: 9, w: 9, kh: 1, kw: 1, bias: true),
            ConvCase(n: 2, cin: 24, cout: 24, h: 10, w: 12, kh: 5, kw: 5, sh: 2, sw: 2, pt: 2, pl: 2, pb: 2, pr: 2, groups: 24, bias: true),
            ConvCase(n: 1, cin: 12, cout: 18, h: 15, w: 10, kh: 3, kw: 3, sh: 2, sw: 1, pt: 2, pl: 2, pb: 2, pr: 2, dh: 2, dw: 2, groups: 3),
        ]
        var rng = TestRNG(5)
        for threads in [1, 3] {
            let ctx = try Context(threads: threads)
            for c in cases { try checkForward(ctx, c, rng: &rng) }
        }
    }

    func testConvExplicitAndSamePadding() throws {
        let ctx = try Context(threads: 1)
        var rng = TestRNG(12)
        // Explicit, asymmetric padding.
        for groups in [1, 3] {
            let c = ConvCase(n: 2, cin: 3, cout: 6, h: 7, w: 6, kh: 3, kw: 2, sh: 2, sw: 1,
                             pt: 1, pl: 0, pb: 2, pr: 1, groups: groups, bias: true)
            try checkForward(ctx, c, padding: .explicit(top: 1, left: 0, bottom: 2, right: 1), rng: &rng)
        }
        // TensorFlow SAME: out = ceil(in / s), total = max((out-1)s + d(k-1)+1 - in, 0), top = total/2.
        for (h, k, s, d) in [(7, 3, 2, 1), (8, 3, 2, 1), (8, 4, 1, 1), (9, 3, 1, 2), (10, 5, 3, 1)] {
            let out = (h + s - 1) / s
            let total = max((out - 1) * s + d * (k - 1) + 1 - h, 0)
            for groups in [1, 4] {
                let c = ConvCase(n: 1, cin: 4, cout: 4, h: h, w: h, kh: k, kw: k, sh: s, sw: s,
                                 pt: total / 2, pl: total / 2, pb: total - total / 2, pr: total - total / 2,
                                 dh: d, dw: d, groups: groups, bias: false)
                XCTAssertEqual(c.oh, out)
                try checkForward(ctx, c, padding: .same, rng: &rng)
            }
        }
    }

    // MARK: gradients vs finite differences

    func testConvInputGradients() throws {
        let cases = [
            ConvCase(n: 2, cin: 3, cout: 4, h: 6, w: 5, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1, bias: true),       // general
            ConvCase(n: 1, cin: 4, cout: 6, h: 7, w: 7, kh: 3, kw: 2, sh: 2, sw: 2, pt: 1, pl: 0, pb: 1, pr: 0, dh: 2, dw: 1, groups: 2),
            ConvCase(n: 2, cin: 4, cout: 5, h: 4, w: 5, kh: 1, kw: 1, bias: true),                                  // pointwise
            ConvCase(n: 2, cin: 4, cout: 6, h: 4, w: 5, kh: 1, kw: 1, groups: 2),                                   // grouped pointwise
            ConvCase(n: 2, cin: 4, cout: 4, h: 6, w: 6, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1, groups: 4, bias: true), // depthwise
            ConvCase(n: 1, cin: 3, cout: 6, h: 5, w: 6, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1, groups: 3),       // dw multiplier 2
            ConvCase(n: 1, cin: 2, cout: 3, h: 5, w: 5, kh: 1, kw: 1, sh: 2, sw: 2),                                // strided 1x1
        ]
        var rng = TestRNG(21)
        for c in cases {
            let w = rng.array(product(c.wShape)), b = c.bias ? rng.array(c.cout) : nil
            try checkGradients([c.xShape], seed: 100) { g, x in
                let wt = try g.constant(w, c.wShape)
                let bt = try b.map { try g.constant($0, [c.cout]) }
                return try g.conv2d(x[0], weight: wt, bias: bt, stride: (c.sh, c.sw), padding: (c.pt, c.pl),
                                    dilation: (c.dh, c.dw), groups: c.groups)
            }
        }
        // Explicit asymmetric padding and SAME through the backward too.
        let wv = rng.array(6 * 1 * 3 * 3)
        try checkGradients([[1, 3, 7, 6]]) { g, x in
            try g.conv2d(x[0], weight: try g.constant(wv, [6, 1, 3, 3]), stride: (2, 1),
                         padding: .explicit(top: 1, left: 0, bottom: 2, right: 1), groups: 3)
        }
        let wv2 = rng.array(6 * 3 * 2 * 2)
        try checkGradients([[1, 3, 8, 7]]) { g, x in
            try g.conv2d(x[0], weight: try g.constant(wv2, [6, 3, 2, 2]), stride: (2, 2), padding: .same)
        }
    }

    func testConvWeightAndBiasGradients() throws {
        // weight and bias as graph inputs: checkGradients checks every input's gradient.
        let cases = [
            ConvCase(n: 2, cin: 3, cout: 4, h: 5, w: 5, kh: 3, kw: 3, sh: 2, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, bias: true),
            ConvCase(n: 2, cin: 4, cout: 6, h: 4, w: 3, kh: 1, kw: 1, groups: 2, bias: true),
            ConvCase(n: 2, cin: 3, cout: 3, h: 5, w: 4, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 2, groups: 3, bias: true),
        ]
        for c in cases {
            try checkGradients([c.xShape, c.wShape, [c.cout]], seed: 7) { g, t in
                try g.conv2d(t[0], weight: t[1], bias: t[2], stride: (c.sh, c.sw), padding: (c.pt, c.pl),
                             dilation: (c.dh, c.dw), groups: c.groups)
            }
        }
    }

    // MARK: linear

    func testLinearForwardAndGradients() throws {
        let ctx = try Context(threads: 1)
        var rng = TestRNG(31)
        for (xShape, outF, hasBias) in [([2, 3, 5], 4, true), ([3, 7], 9, false), ([6], 2, true), ([2, 2, 2, 17], 20, true)] {
            let inF = xShape.last!, rows = product(xShape) / inF
            let x = rng.array(product(xShape)), w = rng.array(outF * inF), b = hasBias ? rng.array(outF) : nil
            let (y, shape) = try opsRunForward(ctx, xShape, x) { g, xt in
                try g.linear(xt, weight: try g.constant(w, [outF, inF]), bias: try b.map { try g.constant($0, [outF]) })
            }
            XCTAssertEqual(shape, Array(xShape.dropLast()) + [outF])
            var ref = [Double](repeating: 0, count: rows * outF)
            for r in 0..<rows {
                for o in 0..<outF {
                    var s = b.map { Double($0[o]) } ?? 0
                    for i in 0..<inF { s += Double(x[r * inF + i]) * Double(w[o * inF + i]) }
                    ref[r * outF + o] = s
                }
            }
            opsAssertClose(y, ref, "linear \(xShape) -> \(outF)")
            try checkGradients([xShape]) { g, t in
                try g.linear(t[0], weight: try g.constant(w, [outF, inF]), bias: try b.map { try g.constant($0, [outF]) })
            }
            try checkGradients([xShape, [outF, inF], [outF]]) { g, t in try g.linear(t[0], weight: t[1], bias: t[2]) }
        }
    }

    /// The weight packed once as the SGEMM's B operand (W^T forward, W for dx) gives the bytes
    /// of packing it on every call: forward with and without bias, dx (accumulated where x has
    /// two consumers, overwritten where linear is its first writer), and dW / db when the weight
    /// and bias are plan inputs (packed by each forward, changed between two passes); 1, 2 and
    /// 3 threads give the same bytes; a one-output head packs nothing (its W^T would pad 48x);
    /// prepared memory only when enabled.
    func testLinearPackedWeightsGiveTheSameBytes() throws {
        let saved = Linear.packRows
        defer { Linear.packRows = saved }
        var rng = TestRNG(79)
        for (xs, outF, hasBias) in [([1, 433, 192], 768, true), ([2, 37, 100], 64, false), ([5, 70], 200, true), ([3, 96], 1, true)] {
            let inF = xs.last!
            let x = rng.array(product(xs), -2, 2), w1 = rng.array(outF * inF), w2 = rng.array(outF * inF)
            let bias = rng.array(outF), seed = rng.array(product(xs) / inF * outF), w3 = rng.array(outF * outF)
            for constant in [true, false] {
                var runs: [[[Float]]] = []
                var prepared: [Int] = []
                for (rows, threads) in [(0, 1), (4096, 1), (4096, 2), (4096, 3)] {
                    Linear.packRows = rows
                    let g = Graph()
                    let xt = try g.input(xs)
                    let wt = constant ? try g.constant(w1, [outF, inF]) : try g.input([outF, inF])
                    let bt = hasBias ? (constant ? try g.constant(bias, [outF]) : try g.input([outF])) : nil
                    // x feeds two linears (the second one's dx accumulates); z's dx is y's first writer.
                    let y = try g.add(g.linear(xt, weight: wt, bias: bt), g.linear(xt, weight: wt, bias: bt))
                    let z = try g.linear(y, weight: try g.constant(w3, [outF, outF]))
                    let plan = try g.plan(try Context(threads: threads), outputs: [z],
                                          gradientsFor: constant ? [xt] : [xt, wt] + (bt.map { [$0] } ?? []))
                    try plan.setInput(xt, x)
                    var out: [[Float]] = []
                    for w in constant ? [w1] : [w1, w2] {
                        if !constant { try plan.setInput(wt, w); if let bt { try plan.setInput(bt, bias) } }
                        _ = plan.seed(for: z)!.update(from: Array(seed.prefix(z.count)))
                        plan.forward(); plan.backward()
                        out += [Array(plan.buffer(z)), Array(plan.gradient(xt)!)]
                        if !constant { out.append(Array(plan.gradient(wt)!)); if let bt { out.append(Array(plan.gradient(bt)!)) } }
                    }
                    runs.append(out)
                    prepared.append(plan.preparedBytes)
                }
                let tag = "x \(xs) -> \(outF), bias \(hasBias), constant \(constant)"
                XCTAssertEqual(prepared[0], 0, tag)
                if outF > 1 { XCTAssertGreaterThan(prepared[1], 0, tag) }  // a one-output head packs nothing
                XCTAssertEqual(prepared[1], prepared[3], tag)
                for r in 1..<runs.count {
                    for (i, (a, b)) in zip(runs[0], runs[r]).enumerated() {
                        XCTAssertTrue(bitEqual(a, b), "packed weights change the bytes (run \(r), output \(i)): \(tag)")
                    }
                }
            }
        }
        // What is packed: forward's W^T, not for the one-output head (padding would dominate), nothing above packRows.
        Linear.packRows = 4096
        XCTAssertGreaterThanOrEqual(Linear.packFloats([[433, 192], [768, 192]]), 768 * 192)
        XCTAssertEqual(Linear.packFloats([[3, 96], [1, 96]]), 0)
        XCTAssertEqual(Linear.packFloats([[4097, 8], [16, 8]]), 0)
    }

    // MARK: batchnorm

    func testBatchNormForwardAndGradients() throws {
        let ctx = try Context(threads: 1)
        var rng = TestRNG(41)
        let c = 5, eps: Float = 1e-3
        let gamma = rng.array(c), beta = rng.array(c), mean = rng.array(c), variance = rng.array(c, 0.2, 2)
        for xShape in [[2, c, 3, 4], [1, c, 6, 1], [3, c]] {
            let x = rng.array(product(xShape))
            let (y, _) = try opsRunForward(ctx, xShape, x) { g, xt in
                try g.batchNorm2d(xt, gamma: try g.constant(gamma, [c]), beta: try g.constant(beta, [c]),
                                  mean: try g.constant(mean, [c]), variance: try g.constant(variance, [c]), eps: eps)
            }
            let plane = product(xShape) / (xShape[0] * c)
            var ref = [Double](repeating: 0, count: x.count)
            for i in 0..<x.count {
                let k = (i / plane) % c
                ref[i] = (Double(x[i]) - Double(mean[k])) / (Double(variance[k]) + Double(eps)).squareRoot()
                    * Double(gamma[k]) + Double(beta[k])
            }
            opsAssertClose(y, ref, tol: 1e-5, "batchnorm \(xShape)")
            try checkGradients([xShape]) { g, t in
                try g.batchNorm2d(t[0], gamma: try g.constant(gamma, [c]), beta: try g.constant(beta, [c]),
                                  mean: try g.constant(mean, [c]), variance: try g.constant(variance, [c]), eps: eps)
            }
        }
        // All parameters as inputs (recomputed every forward); variance kept positive.
        try checkGradients([[2, c, 3, 3], [c], [c], [c], [c]], h: 1e-3,
                           values: { i, r in i == 4 ? r.array(c, 0.5, 2) : r.array(i == 0 ? 90 : c) }) { g, t in
            try g.batchNorm2d(t[0], gamma: t[1], beta: t[2], mean: t[3], variance: t[4], eps: eps)
        }
    }

    // MARK: bad inputs

    func testConvLinearBatchNormShapeErrors() throws {
        func conv(_ xs: [Int], _ ws: [Int], bias: [Int]? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                  dilation: (Int, Int) = (1, 1), groups: Int = 1) throws {
            let g = Graph()
            let x = try g.input(xs)
            let w = try g.input(ws, name: "w")
            let b = try bias.map { try g.input($0, name: "b") }
            _ = try g.conv2d(x, weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
        }
        opsExpectError(.shapeMismatch, "wrong input channels") { try conv([1, 3, 8, 8], [4, 2, 3, 3]) }
        opsExpectError(.shapeMismatch, "weight rank 3") { try conv([1, 3, 8, 8], [4, 3, 3]) }
        opsExpectError(.shapeMismatch, "x rank 3") { try conv([3, 8, 8], [4, 3, 3, 3]) }
        opsExpectError(.shapeMismatch, "groups do not divide Cin") { try conv([1, 4, 8, 8], [6, 2, 3, 3], groups: 3) }
        opsExpectError(.shapeMismatch, "groups do not divide Cout") { try conv([1, 4, 8, 8], [5, 2, 3, 3], groups: 2) }
        opsExpectError(.shapeMismatch, "weight Cin/groups wrong") { try conv([1, 4, 8, 8], [4, 4, 3, 3], groups: 2) }
        opsExpectError(.shapeMismatch, "kernel larger than padded input") { try conv([1, 3, 4, 4], [4, 3, 7, 7], padding: (1, 1)) }
        opsExpectError(.shapeMismatch, "dilated kernel larger than input") { try conv([1, 3, 5, 5], [4, 3, 3, 3], dilation: (3, 1)) }
        opsExpectError(.shapeMismatch, "bias length") { try conv([1, 3, 8, 8], [4, 3, 3, 3], bias: [3]) }
        opsExpectError(.shapeMismatch, "bias rank") { try conv([1, 3, 8, 8], [4, 3, 3, 3], bias: [4, 1]) }
        opsExpectError(.invalidArgument, "stride 0") { try conv([1, 3, 8, 8], [4, 3, 3, 3], stride: (0, 1)) }
        opsExpectError(.invalidArgument, "negative padding") { try conv([1, 3, 8, 8], [4, 3, 3, 3], padding: (-1, 0)) }
        opsExpectError(.invalidArgument, "groups 0") { try conv([1, 3, 8, 8], [4, 3, 3, 3], groups: 0) }

        func linear(_ xs: [Int], _ ws: [Int], bias: [Int]? = nil) throws {
            let g = Graph()
            _ = try g.linear(try g.input(xs), weight: try g.input(ws, name: "w"), bias: try bias.map { try g.input($0, name: "b") })
        }
        opsExpectError(.shapeMismatch, "linear in features") { try linear([2, 5], [3, 4]) }
        opsExpectError(.shapeMismatch, "linear weight rank") { try linear([2, 5], [5]) }
        opsExpectError(.shapeMismatch, "linear bias") { try linear([2, 5], [3, 5], bias: [5]) }

        func bn(_ xs: [Int], _ c: [Int], varShape: [Int]? = nil) throws {
            let g = Graph()
            let p = try g.input(c, name: "p")
            _ = try g.batchNorm2d(try g.input(xs), gamma: p, beta: p, mean: p, variance: try g.input(varShape ?? c, name: "v"))
        }
        opsExpectError(.shapeMismatch, "bn channels") { try bn([1, 3, 4, 4], [4]) }
        opsExpectError(.shapeMismatch, "bn variance shape") { try bn([1, 3, 4, 4], [3], varShape: [3, 1]) }
        opsExpectError(.shapeMismatch, "bn x rank 1") { try bn([3], [3]) }
        opsExpectError(.shapeMismatch, "foldBatchNorm sizes") {
            _ = try foldBatchNorm(weight: [1, 2, 3], bias: nil, outChannels: 2, gamma: [1, 1], beta: [0, 0],
                                  mean: [0, 0], variance: [1, 1], eps: 1e-5)
        }
    }

    // MARK: im2col bands

    /// Runs conv(x, w, b) * r (r a fixed random tensor, so dy is not uniform) forward and
    /// backward with the given im2col cap; returns y, dx, dW, db.
    private func convBandRun(_ c: ConvCase, padding: Conv2d.Padding, cap: Int, threads: Int,
                             x: [Float], w: [Float], b: [Float], r: [Float]) throws -> [[Float]] {
        let saved = Conv2d.im2colCapBytes
        Conv2d.im2colCapBytes = cap
        defer { Conv2d.im2colCapBytes = saved }
        let g = Graph()
        let xt = try g.input(c.xShape), wt = try g.input(c.wShape), bt = try g.input([c.cout])
        let y = try g.conv2d(xt, weight: wt, bias: bt, stride: (c.sh, c.sw), padding: padding,
                             dilation: (c.dh, c.dw), groups: c.groups)
        let out = try g.mul(y, try g.constant(r, y.shape))
        let plan = try g.plan(try Context(threads: threads), outputs: [out], gradientsFor: [xt, wt, bt],
                              options: PlanOptions(keepIntermediates: true))
        try plan.setInput(xt, x); try plan.setInput(wt, w); try plan.setInput(bt, b)
        plan.forward(); plan.backward()
        return [Array(plan.buffer(y)), Array(plan.gradient(xt)!), Array(plan.gradient(wt)!), Array(plan.gradient(bt)!)]
    }

    func testConvIm2colBandsMatchOneBand() throws {
        // General-path cases: strides, dilations, groups, asymmetric and large padding (bands
        // entirely in the top or bottom padding), SAME.
        let cases: [(ConvCase, Conv2d.Padding)] = [
            (ConvCase(n: 2, cin: 3, cout: 4, h: 9, w: 7, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1), .symmetric(1, 1)),
            (ConvCase(n: 1, cin: 4, cout: 6, h: 11, w: 8, kh: 3, kw: 2, sh: 2, sw: 2, pt: 1, pl: 0, pb: 1, pr: 0, dh: 2, dw: 1, groups: 2), .symmetric(1, 0)),
            (ConvCase(n: 1, cin: 2, cout: 3, h: 6, w: 5, kh: 2, kw: 3, sh: 1, sw: 2, pt: 4, pl: 1, pb: 5, pr: 0), .explicit(top: 4, left: 1, bottom: 5, right: 0)),
            (ConvCase(n: 1, cin: 6, cout: 6, h: 10, w: 9, kh: 3, kw: 3, sh: 3, sw: 1, pt: 2, pl: 2, pb: 2, pr: 2, dh: 3, dw: 2, groups: 3), .symmetric(2, 2)),
            (ConvCase(n: 2, cin: 3, cout: 5, h: 12, w: 10, kh: 5, kw: 5, sh: 2, sw: 2, pt: 1, pl: 1, pb: 2, pr: 2), .same),
            (ConvCase(n: 1, cin: 3, cout: 4, h: 8, w: 6, kh: 1, kw: 1, sh: 2, sw: 1), .symmetric(0, 0)),   // strided 1x1
            (ConvCase(n: 1, cin: 2, cout: 16, h: 13, w: 3, kh: 4, kw: 1, sh: 1, sw: 1, pt: 3, pl: 0, pb: 3, pr: 0, dh: 2), .symmetric(3, 0)),
        ]
        var rng = TestRNG(77)
        for (c, pad) in cases {
            let g = Graph()
            let y = try g.conv2d(try g.input(c.xShape), weight: try g.input(c.wShape), stride: (c.sh, c.sw),
                                 padding: pad, dilation: (c.dh, c.dw), groups: c.groups)
            let oh = y.shape[2], ow = y.shape[3]
            let x = rng.array(product(c.xShape)), w = rng.array(product(c.wShape))
            let b = rng.array(c.cout), r = rng.array(c.n * c.cout * oh * ow)
            let rowBytes = (c.cin / c.groups) * c.kh * c.kw * ow * 4
            for threads in [1, 2] {
                let one = try convBandRun(c, padding: pad, cap: 1 << 30, threads: threads, x: x, w: w, b: b, r: r)
                // Reference values, to make sure the one-band run itself is right.
                let ref = refConv2d(ConvCase(n: c.n, cin: c.cin, cout: c.cout, h: c.h, w: c.w, kh: c.kh, kw: c.kw,
                                             sh: c.sh, sw: c.sw, pt: c.pt, pl: c.pl, pb: c.pb, pr: c.pr,
                                             dh: c.dh, dw: c.dw, groups: c.groups), x: x, w: w, b: b)
                opsAssertClose(one[0], ref, "\(c) one band")
                // 1 row per band (cap below one row), 2 and 3 rows per band.
                for cap in [1, 2 * rowBytes, 3 * rowBytes + 5] {
                    let banded = try convBandRun(c, padding: pad, cap: cap, threads: threads, x: x, w: w, b: b, r: r)
                    XCTAssertEqual(banded[0].map(\.bitPattern), one[0].map(\.bitPattern), "\(c) cap \(cap): y")
                    XCTAssertEqual(banded[1].map(\.bitPattern), one[1].map(\.bitPattern), "\(c) cap \(cap): dx")
                    opsAssertClose(banded[2], one[2].map(Double.init), tol: 1e-5, "\(c) cap \(cap): dW")
                    XCTAssertEqual(banded[3].map(\.bitPattern), one[3].map(\.bitPattern), "\(c) cap \(cap): db")
                }
            }
        }
    }

    /// Weights packed once as the SGEMM's A operand (general and pointwise paths, small maps)
    /// give the bytes of packing them on every call: forward (bias, fused relu), dx and the
    /// bias gradient, constant weights (packed at bind) and weights that are plan inputs
    /// (packed by each forward, here changed between two passes), groups, 1 and 2 threads;
    /// the packed sets take prepared memory only when enabled.
    func testPackedWeightsGiveTheSameBytes() throws {
        let saved = Conv2d.packColumns
        defer { Conv2d.packColumns = saved }
        var rng = TestRNG(78)
        for (xs, ws, groups, pad) in [([2, 6, 7, 9], [8, 6, 3, 3], 1, 1), ([1, 16, 5, 4], [24, 16, 1, 1], 1, 0),
                                      ([2, 8, 6, 6], [12, 4, 1, 1], 2, 0), ([1, 6, 9, 8], [9, 2, 3, 2], 3, 1)] {
            let x = rng.array(product(xs), -2, 2), w1 = rng.array(product(ws)), w2 = rng.array(product(ws))
            let bias = rng.array(ws[0]), seed = rng.array(xs[0] * ws[0] * 64)
            for constant in [true, false] { for threads in [1, 2] {
                var runs: [[[Float]]] = []
                var prepared: [Int] = []
                for columns in [0, 4096] {
                    Conv2d.packColumns = columns
                    let g = Graph()
                    let xt = try g.input(xs), bt = try g.constant(bias, [ws[0]])
                    let wt = constant ? try g.constant(w1, ws) : try g.input(ws)
                    let y = try g.conv2d(xt, weight: wt, bias: bt, padding: (pad, pad), groups: groups, activation: .relu)
                    let plan = try g.plan(try Context(threads: threads), outputs: [y], gradientsFor: [xt])
                    try plan.setInput(xt, x)
                    var out: [[Float]] = []
                    for w in constant ? [w1] : [w1, w2] {
                        if !constant { try plan.setInput(wt, w) }
                        _ = plan.seed(for: y)!.update(from: Array(seed.prefix(y.count)))
                        plan.forward(); plan.backward()
                        out += [Array(plan.buffer(y)), Array(plan.gradient(xt)!)]
                    }
                    runs.append(out)
                    prepared.append(plan.preparedBytes)
                }
                let tag = "x \(xs) w \(ws) groups \(groups), constant \(constant), \(threads) threads"
                XCTAssertEqual(prepared[0], 0, tag)
                XCTAssertGreaterThan(prepared[1], 0, tag)
                for (a, b) in zip(runs[0], runs[1]) { XCTAssertTrue(bitEqual(a, b), "packed weights change the bytes: \(tag)") }
            } }
        }
    }

    func testConvIm2colWorkspaceIsBounded() {
        // DBCNN-like: 64 -> 64 channels, 3x3, 384x512. One band of 7 rows (K*OW*4 = 1.18 MB a row).
        let op = Conv2d(stride: (1, 1), padding: .symmetric(1, 1))
        let ws = op.workspaceBytes([[1, 64, 384, 512], [64, 64, 3, 3]], output: [1, 64, 384, 512])
        XCTAssertLessThanOrEqual(ws, Conv2d.im2colCapBytes)
        XCTAssertEqual(ws, 64 * 9 * 512 * 4 * 7)
        // A row larger than the cap: exactly one output row.
        let big = op.workspaceBytes([[1, 2048, 8, 2048], [64, 2048, 3, 3]], output: [1, 64, 8, 2048])
        XCTAssertEqual(big, 2048 * 9 * 2048 * 4)
        // Small images: the whole column matrix, as before.
        let small = op.workspaceBytes([[1, 16, 20, 20], [16, 16, 3, 3]], output: [1, 16, 20, 20])
        XCTAssertEqual(small, 16 * 9 * 400 * 4)
    }
}
