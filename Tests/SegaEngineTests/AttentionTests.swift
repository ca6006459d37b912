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
