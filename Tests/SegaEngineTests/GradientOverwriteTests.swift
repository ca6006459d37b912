import XCTest
@testable import SegaEngine

/// A gradient's first writer may overwrite it instead of the plan zeroing it first
/// (`Op.overwritesInputGradient`: pointwise and depthwise convolutions, and add / sub / mul for
/// an operand of the output's shape). The gradients must be the bytes of the zero-then-accumulate
/// path, at 1 and 2 threads, and fewer bytes must be zeroed.
final class GradientOverwriteTests: XCTestCase {
    /// An MBConv-like chain: pointwise expand (relu6), depthwise (stride 1 and 2, relu6), a
    /// squeeze-excite style broadcast mul, pointwise project, a residual add, a sub with the
    /// input, a tensor added to itself, and a general 3x3 conv (which accumulates).
    private func build(_ g: Graph, _ rng: inout TestRNG) throws -> (x: Tensor, s: Tensor) {
        let x = try g.input([2, 4, 9, 11], name: "x")
        let w1 = try g.constant(rng.array(12 * 4, -1, 1), [12, 4, 1, 1])
        let w2 = try g.constant(rng.array(12 * 9, -1, 1), [12, 1, 3, 3])
        let w3 = try g.constant(rng.array(12 * 25, -1, 1), [12, 1, 5, 5])
        let w4 = try g.constant(rng.array(4 * 12, -1, 1), [4, 12, 1, 1])
        let w5 = try g.constant(rng.array(4 * 4 * 9, -1, 1), [4, 4, 3, 3])
        let b = try g.constant(rng.array(12, -1, 1), [12])
        let e = try g.conv2d(x, weight: w1, bias: b, activation: .relu6)
        let d = try g.conv2d(e, weight: w2, padding: (1, 1), groups: 12, activation: .relu6)
        let se = try g.constant(rng.array(12, 0, 2), [1, 12, 1, 1])
        let m = try g.mul(d, se)
        let p = try g.conv2d(m, weight: w4)
        let r = try g.add(p, x)
        let q = try g.sub(r, g.conv2d(x, weight: w5, padding: (1, 1)))
        let twice = try g.add(q, q)
        let d2 = try g.conv2d(e, weight: w3, stride: (2, 2), padding: (2, 2), groups: 12, activation: .relu6)
        let s1 = try g.sum(g.mul(twice, g.constant(rng.array(2 * 4 * 9 * 11, -1, 1), twice.shape)), axes: [0, 1, 2, 3])
        let s2 = try g.sum(g.mul(d2, g.constant(rng.array(2 * 12 * 5 * 6, -1, 1), d2.shape)), axes: [0, 1, 2, 3])
        return (x, try g.add(s1, s2))
    }

    /// (gradient of x, bytes zeroed per backward) with overwriting on or off.
    private func run(overwrite: Bool, threads: Int, input: [Float]) throws -> ([Float], Int) {
        var rng = TestRNG(57)
        let g = Graph()
        let (x, s) = try build(g, &rng)
        let p = try g.plan(try Context(threads: threads, overwritesGradients: overwrite), outputs: [s], gradientsFor: [x])
        try p.setInput(x, input)
        p.gradient(x)!.update(repeating: .nan)   // overwritten or zeroed: never read
        p.forward(); p.backward()
        return (Array(p.gradient(x)!), p.program.zeroList.reduce(0) { $0 + $1.1 })
    }

    func testOverwrittenGradientsEqualZeroThenAccumulate() throws {
        var rng = TestRNG(58)
        let input = rng.array(2 * 4 * 9 * 11, -4, 4)
        let (want, zeroedOff) = try run(overwrite: false, threads: 1, input: input)
        XCTAssertTrue(want.allSatisfy { $0.isFinite })
        for t in [1, 2] {
            let (got, zeroedOn) = try run(overwrite: true, threads: t, input: input)
            XCTAssertTrue(bitEqual(got, want), "threads \(t): overwritten gradient differs")
            XCTAssertLessThan(zeroedOn, zeroedOff, "threads \(t): nothing was left unzeroed")
            XCTAssertGreaterThan(zeroedOn, 0, "threads \(t): the general conv, the reductions and x + x still accumulate")
        }
    }

    /// Which inputs each op offers to overwrite.
    func testOpsOfferOverwritingOnlyWhereEveryElementIsWritten() {
        let conv = Conv2d(), dw = Conv2d(padding: .symmetric(1, 1), groups: 4), general = Conv2d(padding: .symmetric(1, 1))
        XCTAssertTrue(conv.overwritesInputGradient(0, inputs: [[1, 4, 5, 5], [8, 4, 1, 1]], output: [1, 8, 5, 5]))
        XCTAssertFalse(conv.overwritesInputGradient(1, inputs: [[1, 4, 5, 5], [8, 4, 1, 1]], output: [1, 8, 5, 5]))
        XCTAssertTrue(dw.overwritesInputGradient(0, inputs: [[1, 4, 5, 5], [4, 1, 3, 3]], output: [1, 4, 5, 5]))
        XCTAssertFalse(general.overwritesInputGradient(0, inputs: [[1, 4, 5, 5], [8, 4, 3, 3]], output: [1, 8, 5, 5]))
        let add = Binary(.add)
        XCTAssertTrue(add.overwritesInputGradient(0, inputs: [[2, 3], [1, 3]], output: [2, 3]))
        XCTAssertFalse(add.overwritesInputGradient(1, inputs: [[2, 3], [1, 3]], output: [2, 3]))
    }

    // MARK: GEMM ops

    /// Linear and matmul as first writers: linear's dx, matmul operands that are not broadcast
    /// (alpha 1) overwrite; shared operands (wb, and wa whose gradient sums six GEMMs), a matmul
    /// of a tensor with itself and an alpha other than 1 accumulate. Reshapes in between (views
    /// sharing the gradient).
    private func runGemm(overwrite: Bool, threads: Int) throws -> ([UInt32], Int) {
        var rng = TestRNG(61)
        let g = Graph()
        let x = try g.input([2, 3, 5, 4], name: "x"), y = try g.input([2, 3, 4, 6], name: "y")
        let w = try g.constant(rng.array(16, -1, 1), [4, 4]), wb = try g.constant(rng.array(18, -1, 1), [6, 3])
        let h = try g.linear(x, weight: w)                               // dx overwritten
        let p = try g.matmul(g.reshape(h, [6, 5, 4]), g.reshape(y, [6, 4, 6]))   // dA, dB overwritten
        let q = try g.matmul(g.reshape(p, [2, 3, 5, 6]), wb)             // dA overwritten; wb shared
        let r = try g.matmul(q, q, transposeB: true)                     // q twice: accumulates
        let s = try g.matmul(r, g.constant(rng.array(2 * 3 * 5 * 2, -1, 1), [2, 3, 5, 2]), alpha: 0.5)
        let wa = try g.constant(rng.array(15, -1, 1), [3, 5])
        let u = try g.matmul(wa, s)                                      // wa broadcast over 6 GEMMs: accumulates
        let out = try g.sum(g.mul(g.gelu(u), g.constant(rng.array(36, -1, 1), u.shape)), axes: [0, 1, 2, 3])
        let grads = [x, y, w, wb, wa]
        let plan = try g.plan(try Context(threads: threads, overwritesGradients: overwrite), outputs: [out], gradientsFor: grads)
        var r2 = TestRNG(62)
        try plan.setInput(x, r2.array(x.count, -1, 1)); try plan.setInput(y, r2.array(y.count, -1, 1))
        var bits: [UInt32] = []
        for _ in 0..<2 {
            for t in grads { plan.gradient(t)!.update(repeating: .nan) }   // overwritten or zeroed: never read
            plan.forward(); plan.backward()
            bits = grads.flatMap { plan.gradient($0)!.map(\.bitPattern) }
        }
        return (bits, plan.program.zeroList.reduce(0) { $0 + $1.1 })
    }

    func testGemmOverwrittenGradientsEqualZeroThenAccumulate() throws {
        let (want, zeroedOff) = try runGemm(overwrite: false, threads: 1)
        XCTAssertTrue(want.allSatisfy { Float(bitPattern: $0).isFinite })
        for t in [1, 2, 3] {
            let (got, zeroedOn) = try runGemm(overwrite: true, threads: t)
            XCTAssertEqual(got, want, "threads \(t): overwritten gradient differs")
            XCTAssertLessThan(zeroedOn, zeroedOff, "threads \(t): nothing was left unzeroed")
            XCTAssertGreaterThan(zeroedOn, 0, "threads \(t): the shared A, q x q^T and alpha 0.5 still accumulate")
        }
    }

    func testGemmOpsOfferOverwritingOnlyForWholeOperands() {
        XCTAssertTrue(Linear().overwritesInputGradient(0, inputs: [[2, 5, 4], [3, 4]], output: [2, 5, 3]))
        XCTAssertFalse(Linear().overwritesInputGradient(1, inputs: [[2, 5, 4], [3, 4]], output: [2, 5, 3]))
        let mm = MatMul(), scaled = MatMul(alpha: 0.5)
        XCTAssertTrue(mm.overwritesInputGradient(0, inputs: [[6, 5, 4], [6, 4, 3]], output: [6, 5, 3]))
        XCTAssertTrue(mm.overwritesInputGradient(1, inputs: [[6, 5, 4], [6, 4, 3]], output: [6, 5, 3]))
        XCTAssertFalse(mm.overwritesInputGradient(1, inputs: [[6, 5, 4], [4, 3]], output: [6, 5, 3]))
        XCTAssertFalse(mm.overwritesInputGradient(0, inputs: [[1, 5, 4], [6, 4, 3]], output: [6, 5, 3]))
        XCTAssertFalse(scaled.overwritesInputGradient(0, inputs: [[6, 5, 4], [6, 4, 3]], output: [6, 5, 3]))
    }
}
