import XCTest
@testable import SegaEngine

final class AttentionTests: XCTestCase {
    /// Naive per-head Double implementation of torch.nn.MultiheadAttention(batch_first=True).
    private func reference(_ x: [Float], n: Int, l: Int, d: Int, heads: Int, wqkv: [Float], bqkv: [Float],
                           wo: [Float], bo: [Float]) -> [Double] {
        let hd = d / heads
        func proj(_ row: Int, _ which: Int) -> [Double] {  // x[row] W_which^T + b_which
            (0..<d).map { o in
                var s = Double(bqkv[which * d + o])
                for i in 0..<d { s += Double(x[row * d + i]) * Double(wqkv[(which * d + o) * d + i]) }
                return s
            }
        }
        var out: [Double] = []
        for b in 0..<n {
            let q: [[Double]] = (0..<l).map { proj(b * l + $0, 0) }
            let k: [[Double]] = (0..<l).map { proj(b * l + $0, 1) }
            let v: [[Double]] = (0..<l).map { proj(b * l + $0, 2) }
            var ctx = [[Double]](repeating: [Double](repeating: 0, count: d), count: l)
            for h in 0..<heads {
                for i in 0..<l {
                    var sc = [Double](repeating: 0, count: l)
                    for j in 0..<l {
                        var dot = 0.0
                        for t in 0..<hd { dot += q[i][h * hd + t] * k[j][h * hd + t] }
                        sc[j] = dot / Double(hd).squareRoot()
                    }
                    let m = sc.max()!
                    sc = sc.map { Foundation.exp($0 - m) }
                    let z = sc.reduce(0, +)
                    for j in 0..<l { for t in 0..<hd { ctx[i][h * hd + t] += sc[j] / z * v[j][h * hd + t] } }
                }
            }
            for i in 0..<l {
                for o in 0..<d {
                    var s = Double(bo[o])
                    for t in 0..<d { s += ctx[i][t] * Double(wo[o * d + t]) }
                    out.append(s)
                }
            }
        }
        return out
    }

    func testForwardMatchesReference() throws {
        var rng = TestRNG(21)
        for (n, l, d, heads) in [(2, 5, 8, 2), (1, 3, 6, 3), (2, 4, 4, 1), (1, 7, 12, 4)] {
            let x = rng.array(n * l * d), wqkv = rng.array(3 * d * d, -0.5, 0.5), bqkv = rng.array(3 * d)
            let wo = rng.array(d * d, -0.5, 0.5), bo = rng.array(d)
            let g = Graph()
            let xt = try g.input([n, l, d])
            let out = try g.multiHeadSelfAttention(xt, heads: heads, wqkv: try g.constant(wqkv, [3 * d, d]),
                                                   bqkv: try g.constant(bqkv, [3 * d]), wo: try g.constant(wo, [d, d]),
                                                   bo: try g.constant(bo, [d]))
            XCTAssertEqual(out.shape, [n, l, d])
            let plan = try g.plan(Context(), outputs: [out], gradientsFor: [xt])
            try plan.setInput(xt, x)
            plan.forward()
            let y = plan.buffer(out)
            let want = reference(x, n: n, l: l, d: d, heads: heads, wqkv: wqkv, bqkv: bqkv, wo: wo, bo: bo)
            for i in 0..<want.count where abs(Double(y[i]) - want[i]) > 1e-4 * max(1, abs(want[i])) {
                XCTFail("n \(n) l \(l) d \(d) heads \(heads): element \(i) is \(y[i]), want \(want[i])")
                break
            }
            plan.backward()
            XCTAssertTrue(plan.gradient(xt)!.allSatisfy(\.isFinite))
        }
    }

    func testGradients() throws {
        // Gradients for x and every weight (all passed as inputs so the harness perturbs them).
        let (n, l, d) = (2, 3, 4)
        try checkGradients([[n, l, d], [3 * d, d], [3 * d], [d, d], [d]], depth: 16) { g, t in
            try g.multiHeadSelfAttention(t[0], heads: 2, wqkv: t[1], bqkv: t[2], wo: t[3], bo: t[4])
        }
    }

    /// The attention core as the primitive ops built it before it was one op: q, k, v split out
    /// of qkv by reshape + permute + slice, matmul, softmax, matmul, heads merged by permute.
    private func primitiveCore(_ g: Graph, _ qkv: Tensor, heads: Int) throws -> Tensor {
        let (n, l, d) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3), hd = d / heads
        let split = try g.permute(try g.reshape(qkv, [n, l, 3, heads, hd]), [2, 0, 3, 1, 4])
        func part(_ i: Int) throws -> Tensor { try g.reshape(try g.slice(split, axis: 0, start: i, end: i + 1), [n, heads, l, hd]) }
        let scores = try g.matmul(try part(0), try part(1), transposeB: true, alpha: 1 / Float(hd).squareRoot())
        let ctx = try g.matmul(try g.softmax(scores, axis: -1), try part(2))
        return try g.reshape(try g.permute(ctx, [0, 2, 1, 3]), [n, l, d])
    }

    /// Forward bytes and qkv's gradient of the attention op equal the primitive ops' (the same
    /// GEMMs on Q, K, V read in place instead of copied; gradients compared as values, so -0 and
    /// +0 count as equal), at 1, 2 and 3 threads, with the gradient overwritten (first writer)
    /// and accumulated; and the op's results are the same bytes at every thread count.
    func testCoreEqualsThePrimitiveOpsAndIsThreadIndependent() throws {
        var rng = TestRNG(33)
        for (n, l, d, heads) in [(1, 433, 192, 3), (2, 5, 8, 2), (1, 7, 12, 4), (3, 1, 6, 1)] {
            let qkvVals = rng.array(n * l * 3 * d, -2, 2), seed = rng.array(n * l * d)
            var first: ([Float], [Float])? = nil
            for threads in [1, 2, 3] { for overwrite in [true, false] {
                var results: [([Float], [Float])] = []
                for primitive in [false, true] {
                    let g = Graph()
                    let qkv = try g.input([n, l, 3 * d])
                    let y = primitive ? try primitiveCore(g, qkv, heads: heads) : try g.attention(qkv, heads: heads)
                    let plan = try g.plan(try Context(threads: threads, overwritesGradients: overwrite), outputs: [y], gradientsFor: [qkv])
                    try plan.setInput(qkv, qkvVals)
                    _ = plan.seed(for: y)!.update(from: seed)
                    plan.forward()
                    plan.backward()
                    results.append((Array(plan.buffer(y)), Array(plan.gradient(qkv)!)))
                }
                let tag = "n \(n) l \(l) d \(d) heads \(heads), \(threads) threads, overwrite \(overwrite)"
                XCTAssertTrue(bitEqual(results[0].0, results[1].0), "forward differs from the primitive ops: \(tag)")
                XCTAssertEqual(results[0].1, results[1].1, "qkv gradient differs from the primitive ops: \(tag)")
                if let f = first {
                    XCTAssertTrue(bitEqual(results[0].0, f.0) && bitEqual(results[0].1, f.1), "differs from 1 thread: \(tag)")
                } else { first = results[0] }
            } }
        }
    }

    /// qkv feeding the attention and another op: whichever backward runs first writes the
    /// gradient and the other accumulates onto it (both orders), against finite differences.
    func testCoreGradientWithASecondConsumer() throws {
        for attentionFirst in [true, false] {
            try checkGradients([[2, 4, 18]], depth: 12) { g, t in
                let side = try g.slice(t[0], axis: 2, start: 3, end: 9)
                let a = try g.attention(t[0], heads: 3)
                return attentionFirst ? try g.add(a, side) : try g.add(side, a)
            }
        }
    }

    func testCoreBadShapes() throws {
        let g = Graph()
        for (shape, heads) in [([2, 3, 7], 1), ([2, 3, 12], 3), ([3, 12], 1), ([2, 3, 12], 0)] {
            XCTAssertThrowsError(try g.attention(try g.input(shape), heads: heads), "qkv \(shape), \(heads) heads") { e in
                XCTAssertEqual((e as? EngineError)?.kind, .shapeMismatch, "qkv \(shape), \(heads) heads")
            }
        }
        XCTAssertEqual(try g.attention(try g.input([2, 3, 12]), heads: 2).shape, [2, 3, 4])
    }

    func testBadShapes() throws {
        let g = Graph()
        let x = try g.input([2, 3, 6])
        let w = try g.input([18, 6]), b = try g.input([18]), wo = try g.input([6, 6]), bo = try g.input([6])
        func expectMismatch(_ what: String, _ body: () throws -> Void) {
            do { try body(); XCTFail("\(what): expected a shape mismatch") } catch let e as EngineError {
                XCTAssertEqual(e.kind, .shapeMismatch, "\(what): \(e.message)")
            } catch { XCTFail("\(what): \(error)") }
        }
        expectMismatch("heads not dividing D") { _ = try g.multiHeadSelfAttention(x, heads: 4, wqkv: w, bqkv: b, wo: wo, bo: bo) }
        expectMismatch("wqkv shape") { _ = try g.multiHeadSelfAttention(x, heads: 2, wqkv: wo, bqkv: b, wo: wo, bo: bo) }
        expectMismatch("x rank") { _ = try g.multiHeadSelfAttention(try g.input([3, 6]), heads: 2, wqkv: w, bqkv: b, wo: wo, bo: bo) }
        XCTAssertNoThrow(try g.multiHeadSelfAttention(x, heads: 3, wqkv: w, bqkv: b, wo: wo, bo: bo))
    }
}
