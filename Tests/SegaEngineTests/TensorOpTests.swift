import XCTest
import MallocCounter
@testable import SegaEngine

// MARK: - Naive Double references (index math written independently of the engine)

/// Row-major multi-indices of a shape, in order.
private func indices(_ shape: [Int]) -> [[Int]] {
    var out: [[Int]] = []
    var idx = [Int](repeating: 0, count: shape.count)
    for _ in 0..<shape.reduce(1, *) {
        out.append(idx)
        var d = shape.count - 1
        while d >= 0 { idx[d] += 1; if idx[d] < shape[d] { break }; idx[d] = 0; d -= 1 }
    }
    return out
}

private func flat(_ idx: [Int], _ shape: [Int]) -> Int {
    var o = 0
    for d in 0..<shape.count { o = o * shape[d] + idx[d] }
    return o
}

private func refBroadcast(_ a: [Float], _ sa: [Int], _ b: [Float], _ sb: [Int], _ f: (Double, Double) -> Double) -> ([Double], [Int]) {
    let r = max(sa.count, sb.count)
    let pa = [Int](repeating: 1, count: r - sa.count) + sa, pb = [Int](repeating: 1, count: r - sb.count) + sb
    let so = (0..<r).map { max(pa[$0], pb[$0]) }
    let y = indices(so).map { i -> Double in
        let ia = (0..<r).map { pa[$0] == 1 ? 0 : i[$0] }, ib = (0..<r).map { pb[$0] == 1 ? 0 : i[$0] }
        return f(Double(a[flat(ia, pa)]), Double(b[flat(ib, pb)]))
    }
    return (y, so)
}

/// Run a graph forward once; returns the output values and shape.
private func runGraph(_ shapes: [[Int]], _ values: [[Float]], _ build: (Graph, [Tensor]) throws -> Tensor) throws -> ([Float], [Int]) {
    let g = Graph()
    let ins = try shapes.enumerated().map { try g.input($0.element, name: "x\($0.offset)") }
    let out = try build(g, ins)
    let plan = try g.plan(Context(), outputs: [out])
    for (t, v) in zip(ins, values) { try plan.setInput(t, v) }
    plan.forward()
    return (Array(plan.buffer(out)), out.shape)
}

private func assertClose(_ got: [Float], _ want: [Double], tol: Double = 1e-5, _ what: String,
                         file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(got.count, want.count, "\(what): count", file: file, line: line)
    for i in 0..<min(got.count, want.count) where abs(Double(got[i]) - want[i]) > tol * max(1, abs(want[i])) {
        XCTFail("\(what): element \(i) is \(got[i]), want \(want[i])", file: file, line: line)
        return
    }
}

private func assertShapeMismatch(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("\(what): expected a shape mismatch", file: file, line: line)
    } catch let e as EngineError {
        XCTAssertEqual(e.kind, .shapeMismatch, "\(what): \(e.message)", file: file, line: line)
    } catch {
        XCTFail("\(what): unexpected error \(error)", file: file, line: line)
    }
}

final class TensorOpTests: XCTestCase {
    // MARK: - Broadcasting add / sub / mul

    func testBroadcastForward() throws {
        var rng = TestRNG(7)
        let cases: [([Int], [Int])] = [([2, 3, 4], [3, 1]), ([1], [2, 3]), ([2, 3], [3]), ([4, 1, 3], [2, 1]),
                                       ([3], [2, 1, 3]), ([2, 3, 4], [2, 3, 4]), ([2, 1, 4, 1], [3, 1, 5]), ([1, 1], [1])]
        for (sa, sb) in cases {
            let a = rng.array(sa.reduce(1, *)), b = rng.array(sb.reduce(1, *))
            for (kind, f) in [(Binary.Kind.add, { (x: Double, y: Double) in x + y }), (.sub, { $0 - $1 }), (.mul, { $0 * $1 })] {
                let (y, s) = try runGraph([sa, sb], [a, b]) { g, x in try g.apply(Binary(kind), x) }
                let (want, ws) = refBroadcast(a, sa, b, sb, f)
                XCTAssertEqual(s, ws, "\(kind) \(sa) \(sb) shape")
                assertClose(y, want, "\(kind) \(sa) \(sb)")
            }
        }
    }

    func testBinaryGradients() throws {
        for kind in [Binary.Kind.add, .sub, .mul] {
            for shapes in [[[2, 3, 4], [3, 1]], [[1], [2, 3]], [[4, 1, 3], [2, 1]], [[2, 3], [2, 3]], [[3], [2, 1, 3]]] {
                try checkGradients(shapes) { g, x in try g.apply(Binary(kind), x) }
            }
        }
        // the same tensor on both sides: gradients of both operands add up (d(x*x) = 2x).
        try checkGradients([[3, 4]]) { g, x in try g.mul(x[0], x[0]) }
        try checkGradients([[3, 4]]) { g, x in try g.sub(x[0], x[0]) }
    }

    /// Rows where b is one value per row (a per-channel constant, as a normalisation or a
    /// squeeze-excite scale) take a vectorised loop: the bytes of the scalar operation.
    func testBinaryForwardPerRowScalarBitExact() throws {
        var rng = TestRNG(43)
        for kind in [Binary.Kind.add, .sub, .mul] {
            for (sa, sb) in [([2, 6, 9], [6, 1]), ([1, 3, 17, 5], [1, 3, 1, 1]), ([4, 33], [4, 1])] {
                let g = Graph()
                let a = try g.input(sa), b = try g.input(sb)
                let y = try g.apply(Binary(kind), [a, b])
                let plan = try g.plan(Context(), outputs: [y])
                let av = rng.array(a.count), bv = rng.array(b.count)
                try plan.setInput(a, av); try plan.setInput(b, bv)
                plan.forward()
                // b's value runs over the trailing dims where b has size 1.
                let run = zip(sa.reversed(), sb.reversed()).prefix { $0.1 == 1 }.reduce(1) { $0 * $1.0 }
                let want: [Float] = av.indices.map { i in
                    let s = bv[(i / run) % bv.count]
                    switch kind { case .add: return av[i] + s; case .sub: return av[i] - s; case .mul: return av[i] * s }
                }
                XCTAssertEqual(Array(plan.buffer(y)).map(\.bitPattern), want.map(\.bitPattern), "\(kind) \(sa) \(sb)")
            }
        }
    }

    func testBinaryBackwardContiguousRowsBitExact() throws {
        // Same-shape operands (one contiguous row) and broadcasts whose inner rows are contiguous
        // take the vectorised path; it must match the scalar per-element arithmetic exactly.
        var rng = TestRNG(41)
        for kind in [Binary.Kind.add, .sub, .mul] {
            // The last two: b constant along rows (per channel): d(a) takes a vectorised loop; d(b)
            // sums each row first, so only d(a) follows this per-element order.
            for (sa, sb) in [([3, 5, 7], [3, 5, 7]), ([4, 1, 9], [4, 6, 9]), ([2, 6, 9], [6, 9]), ([1003], [1003]),
                             ([2, 6, 9], [6, 1]), ([3, 4, 10], [1, 4, 1])] {
                let checkB = !(sb.last == 1)
                let g = Graph()
                let a = try g.input(sa), b = try g.input(sb)
                let y = try g.apply(Binary(kind), [a, b])
                let r = rng.array(y.count)
                let out = try g.mul(y, try g.constant(r, y.shape))
                let plan = try g.plan(Context(), outputs: [out], gradientsFor: [a, b])
                let av = rng.array(a.count), bv = rng.array(b.count)
                try plan.setInput(a, av); try plan.setInput(b, bv)
                plan.forward(); plan.backward()
                // Scalar reference, in the loop's order (row-major over y).
                let so = y.shape, rk = so.count
                let pa = [Int](repeating: 1, count: rk - sa.count) + sa, pb = [Int](repeating: 1, count: rk - sb.count) + sb
                var da = [Float](repeating: 0, count: a.count), db = [Float](repeating: 0, count: b.count)
                for (i, idx) in indices(so).enumerated() {
                    let ia = flat((0..<rk).map { pa[$0] == 1 ? 0 : idx[$0] }, pa)
                    let ib = flat((0..<rk).map { pb[$0] == 1 ? 0 : idx[$0] }, pb)
                    let gy = 1 * r[i]
                    switch kind {
                    case .add: da[ia] += gy; db[ib] += gy
                    case .sub: da[ia] += gy; db[ib] += -1 * gy
                    case .mul: da[ia] += gy * bv[ib]; db[ib] += gy * av[ia]
                    }
                }
                XCTAssertEqual(Array(plan.gradient(a)!).map(\.bitPattern), da.map(\.bitPattern), "\(kind) \(sa) \(sb): da")
                if checkB { XCTAssertEqual(Array(plan.gradient(b)!).map(\.bitPattern), db.map(\.bitPattern), "\(kind) \(sa) \(sb): db") }
            }
        }
    }

    // MARK: - Softmax

    private func refSoftmax(_ x: [Float], _ s: [Int], axis: Int) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for i in indices(s) where i[axis] == 0 {
            var j = i, vals: [Double] = []
            for t in 0..<s[axis] { j[axis] = t; vals.append(Double(x[flat(j, s)])) }
            let m = vals.max()!, e = vals.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
            for t in 0..<s[axis] { j[axis] = t; y[flat(j, s)] = e[t] / z }
        }
        return y
    }

    func testSoftmax() throws {
        var rng = TestRNG(3)
        let s = [2, 3, 5]
        let x = rng.array(30, -4, 4)
        for axis in [-1, 0, 1, 2] {
            let (y, _) = try runGraph([s], [x]) { g, t in try g.softmax(t[0], axis: axis) }
            assertClose(y, refSoftmax(x, s, axis: (axis + 3) % 3), "softmax axis \(axis)")
            try checkGradients([s]) { g, t in try g.softmax(t[0], axis: axis) }
        }
    }

    // MARK: - LayerNorm

    func testLayerNorm() throws {
        var rng = TestRNG(4)
        let s = [2, 3, 6], d = 6
        let x = rng.array(36, -2, 2), gamma = rng.array(d, 0.5, 1.5), beta = rng.array(d)
        for (useG, useB) in [(false, false), (true, true), (true, false), (false, true)] {
            var shapes = [s], vals = [x]
            if useG { shapes.append([d]); vals.append(gamma) }
            if useB { shapes.append([d]); vals.append(beta) }
            let build: (Graph, [Tensor]) throws -> Tensor = { g, t in
                try g.layerNorm(t[0], gamma: useG ? t[1] : nil, beta: useB ? t[useG ? 2 : 1] : nil, eps: 1e-5)
            }
            let (y, _) = try runGraph(shapes, vals, build)
            var want: [Double] = []
            for r in 0..<6 {
                let row = (0..<d).map { Double(x[r * d + $0]) }
                let m = row.reduce(0, +) / Double(d)
                let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(d)
                for j in 0..<d {
                    want.append((row[j] - m) / (v + 1e-5).squareRoot() * (useG ? Double(gamma[j]) : 1) + (useB ? Double(beta[j]) : 0))
                }
            }
            assertClose(y, want, tol: 1e-4, "layernorm gamma \(useG) beta \(useB)")
            try checkGradients(shapes, values: { i, r in i == 0 ? r.array(36, -2, 2) : r.array(d, 0.5, 1.5) }, build)
        }
    }

    // MARK: - Concat / slice / reshape / permute

    func testConcat() throws {
        var rng = TestRNG(5)
        for axis in [0, 1, 2, -1] {
            let a = (axis + 3) % 3
            var shapes: [[Int]] = []
            for len in [2, 1, 3] { var s = [2, 3, 4]; s[a] = len; shapes.append(s) }
            let vals = shapes.map { rng.array($0.reduce(1, *)) }
            let (y, ys) = try runGraph(shapes, vals) { g, t in try g.concat(t, axis: axis) }
            var want: [Double] = []
            for i in indices(ys) {
                var j = i, k = 0
                while j[a] >= shapes[k][a] { j[a] -= shapes[k][a]; k += 1 }
                want.append(Double(vals[k][flat(j, shapes[k])]))
            }
            assertClose(y, want, tol: 0, "concat axis \(axis)")
            try checkGradients(shapes) { g, t in try g.concat(t, axis: axis) }
        }
    }

    func testSlice() throws {
        var rng = TestRNG(6)
        let s = [4, 5, 6], x = rng.array(120)
        let cases: [([Int], [Int], [Int])] = [([0, 1, 0], [4, 4, 6], [1, 1, 1]), ([1, 0, 1], [4, 5, 6], [2, 2, 3]),
                                              ([-3, 2, -1], [-1, 3, 6], [1, 1, 1]), ([0, 0, 0], [1, 5, 6], [1, 1, 1])]
        for (st, en, sp) in cases {
            let (y, ys) = try runGraph([s], [x]) { g, t in try g.slice(t[0], starts: st, ends: en, steps: sp) }
            let starts = (0..<3).map { st[$0] < 0 ? st[$0] + s[$0] : st[$0] }
            let ends = (0..<3).map { en[$0] < 0 ? en[$0] + s[$0] : en[$0] }
            XCTAssertEqual(ys, (0..<3).map { (ends[$0] - starts[$0] + sp[$0] - 1) / sp[$0] })
            let want = indices(ys).map { i in Double(x[flat((0..<3).map { starts[$0] + i[$0] * sp[$0] }, s)]) }
            assertClose(y, want, tol: 0, "slice \(st) \(en) \(sp)")
            try checkGradients([s]) { g, t in try g.slice(t[0], starts: st, ends: en, steps: sp) }
        }
        let (y, _) = try runGraph([s], [x]) { g, t in try g.slice(t[0], axis: -1, start: 1, end: 5, step: 2) }
        XCTAssertEqual(y.count, 40)
        XCTAssertEqual(y[0], x[1]); XCTAssertEqual(y[1], x[3]); XCTAssertEqual(y[2], x[7])
    }

    func testReshape() throws {
        var rng = TestRNG(8)
        let x = rng.array(24)
        for target in [[4, 6], [-1, 3], [2, -1, 2], [24], [1, 2, 3, 4]] {
            let (y, ys) = try runGraph([[2, 3, 4]], [x]) { g, t in try g.reshape(t[0], target) }
            XCTAssertEqual(ys.reduce(1, *), 24)
            XCTAssertEqual(y, x)
            try checkGradients([[2, 3, 4]]) { g, t in try g.reshape(t[0], target) }
        }
    }

    func testPermute() throws {
        var rng = TestRNG(9)
        let cases: [([Int], [Int])] = [([2, 3], [1, 0]), ([2, 3, 4], [2, 0, 1]), ([2, 3, 4, 5], [0, 2, 1, 3]),
                                       ([2, 1, 3, 2, 2, 3], [5, 3, 1, 0, 4, 2]), ([3, 4], [0, 1])]
        for (s, p) in cases {
            let x = rng.array(s.reduce(1, *))
            let (y, ys) = try runGraph([s], [x]) { g, t in try g.permute(t[0], p) }
            XCTAssertEqual(ys, p.map { s[$0] })
            let want = indices(ys).map { i -> Double in
                var j = [Int](repeating: 0, count: s.count)
                for d in 0..<s.count { j[p[d]] = i[d] }
                return Double(x[flat(j, s)])
            }
            assertClose(y, want, tol: 0, "permute \(s) \(p)")
            try checkGradients([s]) { g, t in try g.permute(t[0], p) }
        }
    }

    // MARK: - Scalar affine, sqrt, rsqrt, signed sqrt

    func testAffine() throws {
        var rng = TestRNG(10)
        let x = rng.array(12)
        let (y, _) = try runGraph([[3, 4]], [x]) { g, t in try g.affine(t[0], scale: 1 / 0.229, shift: -0.485 / 0.229) }
        assertClose(y, x.map { Double($0) / 0.229 - 0.485 / 0.229 }, "affine")
        try checkGradients([[3, 4]]) { g, t in try g.affine(t[0], scale: -2.5, shift: 0.5) }
    }

    func testSqrt() throws {
        var rng = TestRNG(11)
        let x = rng.array(24, 0.3, 3)
        let (y, _) = try runGraph([[4, 6]], [x]) { g, t in try g.sqrt(t[0]) }
        assertClose(y, x.map { Double($0).squareRoot() }, "sqrt")
        // positive inputs away from the kink at 0.
        try checkGradients([[4, 6]], values: { _, r in r.array(24, 0.3, 3) }) { g, t in try g.sqrt(t[0]) }

        let (ry, _) = try runGraph([[4, 6]], [x]) { g, t in try g.rsqrt(t[0]) }
        assertClose(ry, x.map { 1 / Double($0).squareRoot() }, "rsqrt")
        try checkGradients([[4, 6]], values: { _, r in r.array(24, 0.3, 3) }) { g, t in try g.rsqrt(t[0]) }

        let eps: Float = 1e-3
        let xs = rng.spread(24, scale: 2) + [0]
        let (z, _) = try runGraph([[25]], [xs]) { g, t in try g.signedSqrt(t[0], eps: eps) }
        let want = xs.map { (v: Float) -> Double in
            let r = (abs(Double(v)) + Double(eps)).squareRoot()
            return v > 0 ? r : (v < 0 ? -r : 0)
        }
        assertClose(z, want, "signed sqrt")
        XCTAssertEqual(z[24], 0)
        try checkGradients([[4, 6]], values: { _, r in r.spread(24, scale: 2) }) { g, t in try g.signedSqrt(t[0], eps: eps) }
        // PyTorch's gradient at exactly 0 is 0.
        let g = Graph(), t = try g.input([2]), out = try g.signedSqrt(t, eps: eps)
        let plan = try g.plan(Context(), outputs: [out], gradientsFor: [t])
        try plan.setInput(t, [0, 4])
        plan.forward(); plan.backward()
        XCTAssertEqual(plan.gradient(t)![0], 0)
        XCTAssertEqual(plan.gradient(t)![1], 0.5 / (4 + eps).squareRoot(), accuracy: 1e-6)
    }

    // MARK: - L2 normalise

    func testL2Normalize() throws {
        var rng = TestRNG(12)
        let s = [2, 4, 3]
        var x = rng.array(24)
        for j in 0..<4 { x[12 + j * 3] = 0 }  // one all-zero vector along axis 1 (the eps branch)
        for axis in [1, -1, 0] {
            let a = (axis + 3) % 3
            let (y, _) = try runGraph([s], [x]) { g, t in try g.l2Normalize(t[0], axis: axis) }
            var want = [Double](repeating: 0, count: 24)
            for i in indices(s) where i[a] == 0 {
                var j = i, n2 = 0.0
                for t in 0..<s[a] { j[a] = t; n2 += Double(x[flat(j, s)]) * Double(x[flat(j, s)]) }
                let den = max(n2.squareRoot(), 1e-12)
                for t in 0..<s[a] { j[a] = t; want[flat(j, s)] = Double(x[flat(j, s)]) / den }
            }
            assertClose(y, want, "l2 normalise axis \(axis)")
            try checkGradients([s]) { g, t in try g.l2Normalize(t[0], axis: axis) }
        }
        // eps branch: vectors shorter than eps are divided by eps.
        try checkGradients([[3, 2]], values: { _, r in r.array(6, -0.01, 0.01) }) { g, t in try g.l2Normalize(t[0], axis: 1, eps: 0.5) }
    }

    // MARK: - Reductions

    func testReductions() throws {
        var rng = TestRNG(13)
        let s = [2, 3, 4, 5], x = rng.array(120)
        for axes in [[1], [-1], [0, 2], [1, 2, 3], [], [3, 0]] {
            for keep in [false, true] {
                for kind in [Reduce.Kind.sum, .mean] {
                    let (y, ys) = try runGraph([s], [x]) { g, t in try g.apply(Reduce(kind, axes: axes, keepDims: keep), [t[0]]) }
                    let red = (0..<4).map { d in axes.isEmpty || axes.contains(d) || axes.contains(d - 4) }
                    let kept = (0..<4).map { red[$0] ? 1 : s[$0] }
                    var want = [Double](repeating: 0, count: kept.reduce(1, *))
                    for i in indices(s) { want[flat((0..<4).map { red[$0] ? 0 : i[$0] }, kept)] += Double(x[flat(i, s)]) }
                    if kind == .mean { want = want.map { $0 * Double(want.count) / 120 } }
                    var wantShape = (0..<4).compactMap { red[$0] ? (keep ? 1 : nil) : s[$0] }
                    if wantShape.isEmpty { wantShape = [1] }
                    XCTAssertEqual(ys, wantShape, "\(kind) \(axes) keep \(keep)")
                    assertClose(y, want, "\(kind) \(axes) keep \(keep)")
                    try checkGradients([s]) { g, t in try g.apply(Reduce(kind, axes: axes, keepDims: keep), [t[0]]) }
                }
            }
        }
    }

    // MARK: - Batched matmul

    private func refMatmul(_ a: [Float], _ sa: [Int], _ b: [Float], _ sb: [Int], tA: Bool, tB: Bool, alpha: Double) -> ([Double], [Int]) {
        let ba = Array(sa.dropLast(2)), bb = Array(sb.dropLast(2))
        let m = tA ? sa.last! : sa[sa.count - 2], k = tA ? sa[sa.count - 2] : sa.last!
        let n = tB ? sb[sb.count - 2] : sb.last!
        let r = max(ba.count, bb.count)
        let pa = [Int](repeating: 1, count: r - ba.count) + ba, pb = [Int](repeating: 1, count: r - bb.count) + bb
        let batch = (0..<r).map { max(pa[$0], pb[$0]) }
        var out: [Double] = []
        for bi in indices(batch) {
            let oa = flat((0..<r).map { pa[$0] == 1 ? 0 : bi[$0] }, pa) * m * k
            let ob = flat((0..<r).map { pb[$0] == 1 ? 0 : bi[$0] }, pb) * k * n
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for t in 0..<k {
                        let av = a[oa + (tA ? t * m + i : i * k + t)], bv = b[ob + (tB ? j * k + t : t * n + j)]
                        s += Double(av) * Double(bv)
                    }
                    out.append(alpha * s)
                }
            }
        }
        return (out, batch + [m, n])
    }

    func testMatMul() throws {
        var rng = TestRNG(14)
        // (A shape, B shape, transA, transB) with the stored (possibly transposed) layouts.
        let cases: [([Int], [Int], Bool, Bool)] = [
            ([3, 4], [4, 5], false, false), ([4, 3], [4, 5], true, false), ([3, 4], [5, 4], false, true),
            ([4, 3], [5, 4], true, true), ([2, 3, 4], [2, 4, 5], false, false), ([2, 1, 3, 4], [3, 4, 2], false, false),
            ([2, 3, 4], [5, 4], false, true), ([2, 3, 4], [4, 5], false, false), ([3, 4], [2, 4, 5], false, false),
            ([2, 4, 3], [2, 5, 4], true, true), ([1, 3, 4], [2, 2, 4, 5], false, false), ([2, 3, 4], [1, 5, 4], false, true),
        ]
        for (sa, sb, tA, tB) in cases {
            for alpha: Float in [1, 0.5] {
                let a = rng.array(sa.reduce(1, *)), b = rng.array(sb.reduce(1, *))
                let (y, ys) = try runGraph([sa, sb], [a, b]) { g, t in try g.matmul(t[0], t[1], transposeA: tA, transposeB: tB, alpha: alpha) }
                let (want, ws) = refMatmul(a, sa, b, sb, tA: tA, tB: tB, alpha: Double(alpha))
                XCTAssertEqual(ys, ws, "matmul \(sa) \(sb) \(tA) \(tB)")
                assertClose(y, want, tol: 1e-5, "matmul \(sa) \(sb) \(tA) \(tB)")
                try checkGradients([sa, sb]) { g, t in try g.matmul(t[0], t[1], transposeA: tA, transposeB: tB, alpha: alpha) }
            }
        }
        // Larger than one GEMM tile, batch folded into M and not, on 3 threads.
        for (sa, sb, tB) in [([2, 37, 29], [41, 29], true), ([3, 19, 33], [3, 33, 45], false)] {
            let a = rng.array(sa.reduce(1, *)), b = rng.array(sb.reduce(1, *))
            let g = Graph()
            let ta = try g.input(sa), tb = try g.input(sb), out = try g.matmul(ta, tb, transposeB: tB)
            let plan = try g.plan(Context(threads: 3), outputs: [out])
            try plan.setInput(ta, a); try plan.setInput(tb, b)
            plan.forward()
            assertClose(Array(plan.buffer(out)), refMatmul(a, sa, b, sb, tA: false, tB: tB, alpha: 1).0, tol: 1e-5, "matmul \(sa) \(sb) on 3 threads")
            try checkGradients([sa, sb], maxCoords: 60, threads: 3) { g, t in try g.matmul(t[0], t[1], transposeB: tB) }
        }
        // x x^T: both operands are the same tensor.
        try checkGradients([[2, 3, 4]]) { g, t in try g.matmul(t[0], t[0], transposeB: true) }
    }

    // MARK: - Bad inputs

    func testShapeMismatches() throws {
        let g = Graph()
        let a = try g.input([2, 3, 4]), b = try g.input([3, 2]), c = try g.input([2, 5, 4]), v = try g.input([4, 5])
        assertShapeMismatch("incompatible broadcast") { _ = try g.add(a, b) }
        assertShapeMismatch("incompatible broadcast mul") { _ = try g.mul(a, try g.input([5])) }
        assertShapeMismatch("reshape count") { _ = try g.reshape(a, [5, 5]) }
        assertShapeMismatch("reshape -1 not dividing") { _ = try g.reshape(a, [-1, 5]) }
        assertShapeMismatch("reshape two -1") { _ = try g.reshape(a, [-1, -1]) }
        assertShapeMismatch("bad permutation") { _ = try g.permute(a, [0, 0, 1]) }
        assertShapeMismatch("permutation rank") { _ = try g.permute(a, [1, 0]) }
        assertShapeMismatch("permute rank 7") { _ = try g.permute(try g.input([1, 1, 1, 1, 1, 1, 2]), Array(0..<7)) }
        assertShapeMismatch("concat off-axis") { _ = try g.concat([a, c], axis: 2) }
        assertShapeMismatch("concat rank") { _ = try g.concat([a, b], axis: 0) }
        assertShapeMismatch("concat axis") { _ = try g.concat([a, c], axis: 3) }
        assertShapeMismatch("slice end") { _ = try g.slice(a, axis: 1, start: 0, end: 4) }
        assertShapeMismatch("slice start") { _ = try g.slice(a, axis: 2, start: -5, end: 2) }
        assertShapeMismatch("slice empty") { _ = try g.slice(a, axis: 0, start: 1, end: 1) }
        assertShapeMismatch("slice step") { _ = try g.slice(a, axis: 0, start: 0, end: 2, step: 0) }
        assertShapeMismatch("slice arity") { _ = try g.slice(a, starts: [0], ends: [1]) }
        assertShapeMismatch("matmul inner") { _ = try g.matmul(a, c) }
        assertShapeMismatch("matmul inner transposed") { _ = try g.matmul(a, v, transposeB: true) }
        assertShapeMismatch("matmul batch") { _ = try g.matmul(try g.input([3, 3, 4]), try g.input([2, 4, 4])) }
        assertShapeMismatch("matmul rank") { _ = try g.matmul(a, try g.input([4])) }
        assertShapeMismatch("softmax axis") { _ = try g.softmax(a, axis: 3) }
        assertShapeMismatch("layernorm gamma") { _ = try g.layerNorm(a, gamma: try g.input([3])) }
        assertShapeMismatch("l2 axis") { _ = try g.l2Normalize(a, axis: -4) }
        assertShapeMismatch("reduce axis") { _ = try g.sum(a, axes: [3]) }
        assertShapeMismatch("reduce repeated axis") { _ = try g.mean(a, axes: [1, -2]) }
    }

    // MARK: - No allocation in forward/backward

    func testForwardBackwardDoNotAllocate() throws {
        let g = Graph()
        let x = try g.input([2, 3, 4]), w = try g.input([5, 4]), gm = try g.input([5])
        var h = try g.matmul(x, w, transposeB: true)                     // [2, 3, 5]
        h = try g.layerNorm(h, gamma: gm, beta: gm)
        h = try g.add(h, try g.affine(try g.slice(h, axis: 1, start: 0, end: 1), scale: 2, shift: 1))
        h = try g.mul(try g.softmax(h, axis: 1), try g.permute(try g.reshape(h, [2, 5, 3]), [0, 2, 1]))
        h = try g.concat([h, try g.sub(h, gm)], axis: -1)                 // [2, 3, 10]
        h = try g.l2Normalize(try g.signedSqrt(h, eps: 1e-3), axis: -1)
        h = try g.add(try g.sqrt(try g.affine(h, scale: 1, shift: 2)), try g.mean(h, axes: [1], keepDims: true))
        let out = try g.sum(h, axes: [0, 2])
        let plan = try g.plan(Context(), outputs: [out], gradientsFor: [x, w, gm])
        var rng = TestRNG(2)
        for t in [x, w, gm] { try plan.setInput(t, rng.array(t.count)) }
        plan.forward(); plan.backward()
        XCTAssertEqual(sega_malloc_counter_active(), 1, "allocator interposer missing")
        sega_malloc_counter_start()
        plan.forward(); plan.backward()
        let n = sega_malloc_counter_stop()
        XCTAssertEqual(n, 0, "allocations during forward/backward")
        XCTAssertTrue(plan.gradient(x)!.allSatisfy(\.isFinite))
    }
}
