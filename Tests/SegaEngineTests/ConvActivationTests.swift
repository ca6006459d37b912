import XCTest
@testable import SegaEngine

/// A convolution with a fused relu / relu6 gives exactly the bytes of the convolution followed by
/// a separate activation op: output, input gradient, and weight and bias gradients, on the
/// depthwise, pointwise (one SGEMM over the batch) and im2col paths (several bands too), at 1
/// and 2 threads.
final class ConvActivationTests: XCTestCase {
    /// (output, dx, dW, db) of conv -> act (fused or not) -> weighted sum, with the gradients
    /// asked for.
    func run(_ c: ConvCase, act: Conv2d.Activation, fused: Bool, weightGrads: Bool, threads: Int,
             data: (x: [Float], w: [Float], b: [Float], seed: [Float])) throws -> [[Float]] {
        let ctx = try Context(threads: threads)
        let g = Graph()
        let x = try g.input(c.xShape)
        let w = weightGrads ? try g.input(c.wShape) : try g.constant(data.w, c.wShape)
        let b = weightGrads ? try g.input([c.cout]) : try g.constant(data.b, [c.cout])
        let pad = Conv2d.Padding.explicit(top: c.pt, left: c.pl, bottom: c.pb, right: c.pr)
        var y = try g.conv2d(x, weight: w, bias: c.bias ? b : nil, stride: (c.sh, c.sw), padding: pad,
                             groups: c.groups, activation: fused ? act : .none)
        if !fused { y = act == .relu ? try g.relu(y) : try g.relu6(y) }
        let s = try g.sum(g.mul(y, g.constant(data.seed, y.shape)), axes: Array(0..<4))
        let grads = weightGrads ? (c.bias ? [x, w, b] : [x, w]) : [x]
        let p = try g.plan(ctx, outputs: [s, y], gradientsFor: grads)
        try p.setInput(x, data.x)
        if weightGrads { try p.setInput(w, data.w); if c.bias { try p.setInput(b, data.b) } }
        p.forward(); p.backward()
        var out = [Array(p.buffer(y)), Array(p.gradient(x)!)]
        if weightGrads { out += [Array(p.gradient(w)!), c.bias ? Array(p.gradient(b)!) : []] }
        return out
    }

    func testFusedActivationEqualsSeparateOpOnEveryPath() throws {
        var rng = TestRNG(91)
        let cases: [ConvCase] = [
            ConvCase(n: 2, cin: 6, cout: 6, h: 9, w: 11, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1, groups: 6, bias: true),
            ConvCase(n: 3, cin: 5, cout: 7, h: 6, w: 7, kh: 1, kw: 1, bias: true),
            ConvCase(n: 2, cin: 4, cout: 6, h: 5, w: 9, kh: 1, kw: 1, groups: 2, bias: false),
            ConvCase(n: 2, cin: 3, cout: 5, h: 12, w: 10, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, bias: true),
            ConvCase(n: 1, cin: 4, cout: 4, h: 8, w: 8, kh: 3, kw: 3, sh: 2, sw: 2, pt: 0, pl: 0, pb: 1, pr: 1, groups: 2, bias: true),
        ]
        let saved = Conv2d.im2colCapBytes
        defer { Conv2d.im2colCapBytes = saved }
        for cap in [saved, 256] {   // 256 bytes: several im2col bands
            Conv2d.im2colCapBytes = cap
            for c in cases {
                let ny = c.n * c.cout * c.oh * c.ow
                // Inputs spread so that many outputs fall below 0 and above 6.
                let data = (x: rng.array(c.n * c.cin * c.h * c.w, -4, 4), w: rng.array(c.cout * (c.cin / c.groups) * c.kh * c.kw, -2, 2),
                            b: rng.array(c.cout, -1, 1), seed: rng.array(ny, -1, 1))
                for act in [Conv2d.Activation.relu, .relu6] {
                    for wg in [false, true] {
                        let want = try run(c, act: act, fused: false, weightGrads: wg, threads: 1, data: data)
                        for t in [1, 2] {
                            let got = try run(c, act: act, fused: true, weightGrads: wg, threads: t, data: data)
                            for (k, name) in ["y", "dx", "dW", "db"].prefix(want.count).enumerated() {
                                XCTAssertTrue(bitEqual(got[k], want[k]), "\(name) differs: \(c) \(act) weightGrads \(wg) threads \(t) cap \(cap)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// (y, dx) of a depthwise conv (optionally with a fused activation) -> weighted sum, planned
    /// for the input gradient. `shared` 1 / 2: x also feeds a weighted sum built before / after
    /// the conv, so that the conv's input gradient is the first writer of dx (overwrites) or
    /// not (accumulates into what the other op wrote).
    func runDepthwise(_ c: ConvCase, act: Conv2d.Activation, shared: Int, threads: Int,
                      data: (x: [Float], w: [Float], b: [Float], seed: [Float], seed2: [Float])) throws -> [[Float]] {
        let ctx = try Context(threads: threads)
        let g = Graph()
        let x = try g.input(c.xShape)
        let w = try g.constant(data.w, c.wShape), b = try g.constant(data.b, [c.cout])
        let side = { try g.sum(g.mul(x, g.constant(data.seed2, c.xShape)), axes: Array(0..<4)) }
        let before = shared == 1 ? try side() : nil
        let pad = Conv2d.Padding.explicit(top: c.pt, left: c.pl, bottom: c.pb, right: c.pr)
        let y = try g.conv2d(x, weight: w, bias: b, stride: (c.sh, c.sw), padding: pad, groups: c.groups, activation: act)
        var s = try g.sum(g.mul(y, g.constant(data.seed, y.shape)), axes: Array(0..<4))
        if let t = shared == 2 ? try side() : before { s = try g.add(s, t) }
        let p = try g.plan(ctx, outputs: [s, y], gradientsFor: [x])
        try p.setInput(x, data.x)
        p.forward(); p.backward()
        return [Array(p.buffer(y)), Array(p.gradient(x)!)]
    }

    /// The depthwise path over a batch (one dispatch over its planes, forward and input gradient)
    /// gives the bytes of the same op run image by image, at 1 and 2 threads, with and without a
    /// fused relu / relu6, stride 1 and 2, odd sizes, overwriting and accumulating dx.
    func testDepthwiseBatchEqualsImageByImage() throws {
        var rng = TestRNG(92)
        let cases: [ConvCase] = [
            ConvCase(n: 3, cin: 5, cout: 5, h: 9, w: 11, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, groups: 5),
            ConvCase(n: 4, cin: 3, cout: 3, h: 13, w: 7, kh: 5, kw: 5, sh: 2, sw: 2, pt: 2, pl: 2, pb: 2, pr: 2, groups: 3),
            ConvCase(n: 2, cin: 4, cout: 4, h: 10, w: 9, kh: 3, kw: 3, sh: 2, sw: 2, pt: 0, pl: 0, pb: 1, pr: 1, groups: 4),
        ]
        for c in cases {
            let xs = c.cin * c.h * c.w, ys = c.cout * c.oh * c.ow
            let data = (x: rng.array(c.n * xs, -4, 4), w: rng.array(c.cout * c.kh * c.kw, -2, 2),
                        b: rng.array(c.cout, -1, 1), seed: rng.array(c.n * ys, -1, 1), seed2: rng.array(c.n * xs, -1, 1))
            var one = c
            one.n = 1
            for act in [Conv2d.Activation.none, .relu, .relu6] {
                for shared in [0, 1, 2] {
                    var want: [[Float]] = [[], []]
                    for i in 0..<c.n {
                        let d = (x: Array(data.x[i * xs..<(i + 1) * xs]), w: data.w, b: data.b,
                                 seed: Array(data.seed[i * ys..<(i + 1) * ys]), seed2: Array(data.seed2[i * xs..<(i + 1) * xs]))
                        let r = try runDepthwise(one, act: act, shared: shared, threads: 1, data: d)
                        want[0] += r[0]; want[1] += r[1]
                    }
                    for t in [1, 2] {
                        let got = try runDepthwise(c, act: act, shared: shared, threads: t, data: data)
                        XCTAssertTrue(bitEqual(got[0], want[0]), "y differs: \(c) \(act) shared \(shared) threads \(t)")
                        XCTAssertTrue(bitEqual(got[1], want[1]), "dx differs: \(c) \(act) shared \(shared) threads \(t)")
                    }
                }
            }
        }
    }
}
