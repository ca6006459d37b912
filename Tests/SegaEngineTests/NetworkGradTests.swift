import XCTest
import MallocCounter
@testable import SegaEngine

/// Small composed networks: end-to-end gradients, batchnorm folding, and no allocation in the
/// hot path.
final class NetworkGradTests: XCTestCase {
    /// Parameters of a conv(3->6, 3x3, pad 1) + batchnorm(6) block.
    private struct ConvBN {
        var w: [Float], b: [Float], gamma: [Float], beta: [Float], mean: [Float], variance: [Float]
        init(_ rng: inout TestRNG, cin: Int = 3, cout: Int = 6, k: Int = 3) {
            w = rng.array(cout * cin * k * k, -0.5, 0.5); b = rng.array(cout, -0.2, 0.2)
            gamma = rng.array(cout, 0.5, 1.5); beta = rng.array(cout, -0.3, 0.3)
            mean = rng.array(cout, -0.3, 0.3); variance = rng.array(cout, 0.3, 2)
        }
    }

    // MARK: conv -> batchnorm -> relu -> maxpool -> linear

    func testConvBnReluPoolLinearGradients() throws {
        var rng = TestRNG(61)
        let p = ConvBN(&rng)
        let fc = rng.array(5 * 6 * 3 * 3, -0.3, 0.3), fcb = rng.array(5)
        // h = 1e-3 keeps the FD step away from relu/max kinks for this seed; depth covers the
        // extra rounding of a 6-op path.
        try checkGradients([[2, 3, 6, 6]], seed: 3, h: 1e-3, depth: 16) { g, x in
            let w = try g.constant(p.w, [6, 3, 3, 3]), b = try g.constant(p.b, [6])
            var y = try g.conv2d(x[0], weight: w, bias: b, padding: (1, 1))
            y = try g.batchNorm2d(y, gamma: try g.constant(p.gamma, [6]), beta: try g.constant(p.beta, [6]),
                                  mean: try g.constant(p.mean, [6]), variance: try g.constant(p.variance, [6]))
            y = try g.relu(y)
            y = try g.maxPool2d(y, kernel: (2, 2))                  // [2, 6, 3, 3]
            y = try g.reshape(y, [2, 54])
            return try g.linear(y, weight: try g.constant(fc, [5, 54]), bias: try g.constant(fcb, [5]))
        }
    }

    func testDepthwiseSeparableBlockGradients() throws {
        // depthwise 3x3 stride 2 -> pointwise 1x1 -> global avg -> linear, a MobileNet-style tail.
        var rng = TestRNG(62)
        let dw = rng.array(4 * 9), pw = rng.array(8 * 4), fc = rng.array(3 * 8)
        try checkGradients([[2, 4, 7, 7]], depth: 12) { g, x in
            var y = try g.conv2d(x[0], weight: try g.constant(dw, [4, 1, 3, 3]), stride: (2, 2), padding: (1, 1), groups: 4)
            y = try g.conv2d(y, weight: try g.constant(pw, [8, 4, 1, 1]))
            y = try g.globalAvgPool(y)
            y = try g.reshape(y, [2, 8])
            return try g.linear(y, weight: try g.constant(fc, [3, 8]))
        }
    }

    // MARK: batchnorm folding

    func testFoldedBatchNormMatchesUnfolded() throws {
        var rng = TestRNG(63)
        let ctx = try Context(threads: 1)
        for (groups, cout, hasBias) in [(1, 6, true), (1, 6, false), (3, 6, true), (3, 3, false)] {
            let cin = 3
            var p = ConvBN(&rng, cin: cin / groups, cout: cout)
            p.w = rng.array(cout * (cin / groups) * 9, -0.5, 0.5)
            let x = rng.array(2 * cin * 8 * 7)
            func build(fold: Bool) throws -> ([Float], Int) {
                let g = Graph()
                let xt = try g.input([2, cin, 8, 7])
                let w = try g.constant(p.w, [cout, cin / groups, 3, 3])
                let b = hasBias ? try g.constant(p.b, [cout]) : nil
                let gm = try g.constant(p.gamma, [cout]), bt = try g.constant(p.beta, [cout])
                let mn = try g.constant(p.mean, [cout]), vr = try g.constant(p.variance, [cout])
                let y: Tensor
                if fold {
                    y = try g.conv2dBatchNorm(xt, weight: w, bias: b, gamma: gm, beta: bt, mean: mn, variance: vr,
                                              eps: 1e-5, stride: (2, 1), padding: .symmetric(1, 1), groups: groups)
                } else {
                    let c = try g.conv2d(xt, weight: w, bias: b, stride: (2, 1), padding: (1, 1), groups: groups)
                    y = try g.batchNorm2d(c, gamma: gm, beta: bt, mean: mn, variance: vr, eps: 1e-5)
                }
                let plan = try g.plan(ctx, outputs: [y])
                try plan.setInput(xt, x)
                plan.forward()
                let ops = g.nodes.filter { if case .op = $0.kind { return true } else { return false } }.count
                return (Array(plan.buffer(y)), ops)
            }
            let (folded, nf) = try build(fold: true), (plain, np) = try build(fold: false)
            XCTAssertEqual(nf, 1, "folded graph has a single conv")
            XCTAssertEqual(np, 2)
            opsAssertClose(folded, plain.map(Double.init), tol: 1e-5, "folded vs unfolded, groups \(groups) bias \(hasBias)")
        }
    }

    func testConvBatchNormNotFoldedWhenParamsAreInputs() throws {
        // Non-constant batchnorm parameters: conv2dBatchNorm must emit conv + bn, and gradients
        // flow to every input.
        var rng = TestRNG(64)
        let w = rng.array(4 * 2 * 9)
        try checkGradients([[1, 2, 5, 5], [4], [4], [4], [4]], h: 1e-3,
                           values: { i, r in i == 4 ? r.array(4, 0.5, 2) : r.array(i == 0 ? 50 : 4) }) { g, t in
            let y = try g.conv2dBatchNorm(t[0], weight: try g.constant(w, [4, 2, 3, 3]), gamma: t[1], beta: t[2],
                                          mean: t[3], variance: t[4], padding: .symmetric(1, 1))
            XCTAssertEqual(g.nodes.filter { $0.name == "batchnorm2d" }.count, 1)
            return y
        }
    }

    // MARK: no allocation in forward/backward

    func testForwardBackwardDoNotAllocate() throws {
        XCTAssertEqual(sega_malloc_counter_active(), 1, "allocator interposer missing")
        var rng = TestRNG(65)
        let g = Graph()
        let x = try g.input([2, 3, 12, 12])
        var y = try g.resizeBilinear(x, size: (10, 10), alignCorners: false)
        y = try g.conv2d(y, weight: try g.constant(rng.array(8 * 3 * 9), [8, 3, 3, 3]), bias: try g.constant(rng.array(8), [8]),
                         stride: (1, 1), padding: (1, 1))
        y = try g.batchNorm2d(y, gamma: try g.constant(rng.array(8), [8]), beta: try g.constant(rng.array(8), [8]),
                              mean: try g.constant(rng.array(8), [8]), variance: try g.constant(rng.array(8, 0.5, 1), [8]))
        y = try g.conv2d(y, weight: try g.constant(rng.array(8 * 9), [8, 1, 3, 3]), padding: (1, 1), groups: 8)
        y = try g.conv2d(y, weight: try g.constant(rng.array(16 * 8), [16, 8, 1, 1]))
        y = try g.conv2d(y, weight: try g.constant(rng.array(16 * 8 * 9), [16, 8, 3, 3]), stride: (2, 2), padding: (1, 1), groups: 2)
        let a = try g.maxPool2d(y, kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true)
        let b = try g.avgPool2d(y, kernel: (2, 2), countIncludePad: false)
        let c = try g.adaptiveAvgPool2d(b, (2, 2))
        let d = try g.globalMaxPool(a), e = try g.globalAvgPool(c), f = try g.globalMinPool(a)
        let lin = try g.linear(try g.reshape(d, [2, 16]), weight: try g.constant(rng.array(4 * 16), [4, 16]))
        for threads in [1, 2] {
            let plan = try g.plan(try Context(threads: threads), outputs: [lin, e, f], gradientsFor: [x])
            try plan.setInput(x, rng.array(x.count))
            plan.forward(); plan.backward()    // warm up
            sega_malloc_counter_start()
            plan.forward(); plan.backward()
            let n = sega_malloc_counter_stop()
            XCTAssertEqual(n, 0, "forward+backward allocated (\(threads) threads)")
        }
    }
}
