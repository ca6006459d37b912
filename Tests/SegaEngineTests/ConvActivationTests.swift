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
}
