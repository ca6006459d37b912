import XCTest
import MallocCounter
@testable import SegaEngine

// MARK: - Naive pooling / resize references (PyTorch semantics, double)

/// PyTorch's pooled size, written independently of sega_pool_out_size.
func refPoolOut(_ len: Int, k: Int, s: Int, p: Int, d: Int, ceil: Bool) -> Int {
    let num = len + 2 * p - d * (k - 1) - 1
    var o = (ceil ? (num + s - 1) / s : num / s) + 1
    if ceil && (o - 1) * s >= len + p { o -= 1 }
    return o
}

struct PoolCase: CustomStringConvertible {
    var n = 2, c = 3, h = 7, w = 8, kh = 3, kw = 3, sh = 2, sw = 2, ph = 0, pw = 0, dh = 1, dw = 1
    var ceil = false, includePad = true
    var oh: Int { refPoolOut(h, k: kh, s: sh, p: ph, d: dh, ceil: ceil) }
    var ow: Int { refPoolOut(w, k: kw, s: sw, p: pw, d: dw, ceil: ceil) }
    var description: String { "\(n)x\(c)x\(h)x\(w) k\(kh)x\(kw) s\(sh),\(sw) p\(ph),\(pw) d\(dh),\(dw) ceil \(ceil) incl \(includePad)" }
}

func refMaxPool(_ pc: PoolCase, _ x: [Float]) -> [Double] {
    var y: [Double] = []
    for plane in 0..<(pc.n * pc.c) {
        for oy in 0..<pc.oh {
            for ox in 0..<pc.ow {
                var m = -Double.infinity
                for i in 0..<pc.kh {
                    for j in 0..<pc.kw {
                        let iy = oy * pc.sh - pc.ph + i * pc.dh, ix = ox * pc.sw - pc.pw + j * pc.dw
                        if iy >= 0, iy < pc.h, ix >= 0, ix < pc.w { m = max(m, Double(x[(plane * pc.h + iy) * pc.w + ix])) }
                    }
                }
                y.append(m)
            }
        }
    }
    return y
}

func refAvgPool(_ pc: PoolCase, _ x: [Float]) -> [Double] {
    var y: [Double] = []
    for plane in 0..<(pc.n * pc.c) {
        for oy in 0..<pc.oh {
            for ox in 0..<pc.ow {
                var y0 = oy * pc.sh - pc.ph, x0 = ox * pc.sw - pc.pw
                var y1 = min(y0 + pc.kh, pc.h + pc.ph), x1 = min(x0 + pc.kw, pc.w + pc.pw)
                let padded = (y1 - y0) * (x1 - x0)
                y0 = max(y0, 0); x0 = max(x0, 0); y1 = min(y1, pc.h); x1 = min(x1, pc.w)
                var s = 0.0
                for iy in y0..<max(y0, y1) { for ix in x0..<max(x0, x1) { s += Double(x[(plane * pc.h + iy) * pc.w + ix]) } }
                let div = pc.includePad ? padded : (y1 - y0) * (x1 - x0)
                y.append(div > 0 ? s / Double(div) : 0)
            }
        }
    }
    return y
}

func refBilinear(planes: Int, h: Int, w: Int, oh: Int, ow: Int, alignCorners: Bool, _ x: [Float]) -> [Double] {
    func src(_ i: Int, _ len: Int, _ out: Int) -> (Int, Int, Double) {
        var s: Double
        if alignCorners { s = out > 1 ? Double(i) * Double(len - 1) / Double(out - 1) : 0 }
        else { s = max((Double(i) + 0.5) * Double(len) / Double(out) - 0.5, 0) }
        let i0 = min(Int(s), len - 1)
        return (i0, min(i0 + 1, len - 1), s - Double(i0))
    }
    var y: [Double] = []
    for p in 0..<planes {
        for i in 0..<oh {
            let (r0, r1, fy) = src(i, h, oh)
            for j in 0..<ow {
                let (c0, c1, fx) = src(j, w, ow)
                func at(_ r: Int, _ c: Int) -> Double { Double(x[(p * h + r) * w + c]) }
                y.append((1 - fy) * ((1 - fx) * at(r0, c0) + fx * at(r0, c1)) + fy * ((1 - fx) * at(r1, c0) + fx * at(r1, c1)))
            }
        }
    }
    return y
}

/// Values for a max-type op: distinct, and pairwise gaps well above the FD step 1e-2.
func maxSafeValues(_ n: Int, _ r: inout TestRNG) -> [Float] { r.spread(n, scale: Float(max(n, 8)) * 0.03) }

final class PoolOpTests: XCTestCase {
    private let poolCases: [PoolCase] = [
        PoolCase(),
        PoolCase(kh: 2, kw: 2, sh: 2, sw: 2),
        PoolCase(kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1),
        PoolCase(kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, ceil: true),
        PoolCase(h: 8, w: 7, kh: 3, kw: 2, sh: 2, sw: 3, ph: 1, pw: 0, ceil: true),
        PoolCase(n: 1, h: 6, w: 6, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1),
        PoolCase(n: 1, h: 7, w: 7, kh: 2, kw: 2, sh: 2, sw: 2, ceil: true),
        PoolCase(n: 1, h: 5, w: 9, kh: 5, kw: 4, sh: 3, sw: 2, ph: 2, pw: 2, ceil: true),
    ]

    // MARK: max / avg pooling

    func testMaxPoolForward() throws {
        let ctx = try Context(threads: 1)
        var rng = TestRNG(51)
        var cases = poolCases
        cases.append(PoolCase(n: 1, h: 9, w: 8, kh: 3, kw: 2, sh: 2, sw: 1, ph: 1, pw: 1, dh: 2, dw: 3))
        cases.append(PoolCase(n: 2, h: 9, w: 9, kh: 3, kw: 3, sh: 2, sw: 2, ph: 2, pw: 1, dh: 2, dw: 2, ceil: true))
        for pc in cases {
            let x = rng.array(pc.n * pc.c * pc.h * pc.w)
            let (y, shape) = try opsRunForward(ctx, [pc.n, pc.c, pc.h, pc.w], x) { g, t in
                try g.maxPool2d(t, kernel: (pc.kh, pc.kw), stride: (pc.sh, pc.sw), padding: (pc.ph, pc.pw),
                                dilation: (pc.dh, pc.dw), ceilMode: pc.ceil)
            }
            XCTAssertEqual(shape, [pc.n, pc.c, pc.oh, pc.ow], "\(pc)")
            opsAssertClose(y, refMaxPool(pc, x), tol: 0, "maxpool \(pc)")
        }
        // stride defaults to the kernel
        let (y, shape) = try opsRunForward(ctx, [1, 1, 4, 6], (0..<24).map(Float.init)) { g, t in try g.maxPool2d(t, kernel: (2, 3)) }
        XCTAssertEqual(shape, [1, 1, 2, 2])
        XCTAssertEqual(y, [8, 11, 20, 23])
    }

    func testAvgPoolForward() throws {
        let ctx = try Context(threads: 1)
        var rng = TestRNG(52)
        for base in poolCases {
            for incl in [true, false] {
                var pc = base
                pc.includePad = incl
                let x = rng.array(pc.n * pc.c * pc.h * pc.w)
                let (y, shape) = try opsRunForward(ctx, [pc.n, pc.c, pc.h, pc.w], x) { g, t in
                    try g.avgPool2d(t, kernel: (pc.kh, pc.kw), stride: (pc.sh, pc.sw), padding: (pc.ph, pc.pw),
                                    ceilMode: pc.ceil, countIncludePad: incl)
                }
                XCTAssertEqual(shape, [pc.n, pc.c, pc.oh, pc.ow], "\(pc)")
                opsAssertClose(y, refAvgPool(pc, x), tol: 1e-5, "avgpool \(pc)")
            }
        }
    }

    func testPoolGradients() throws {
        for pc in poolCases.prefix(6) {
            let shape = [pc.n, pc.c, pc.h, pc.w]
            try checkGradients([shape], values: { _, r in maxSafeValues(product(shape), &r) }) { g, x in
                try g.maxPool2d(x[0], kernel: (pc.kh, pc.kw), stride: (pc.sh, pc.sw), padding: (pc.ph, pc.pw), ceilMode: pc.ceil)
            }
            for incl in [true, false] {
                try checkGradients([shape]) { g, x in
                    try g.avgPool2d(x[0], kernel: (pc.kh, pc.kw), stride: (pc.sh, pc.sw), padding: (pc.ph, pc.pw),
                                    ceilMode: pc.ceil, countIncludePad: incl)
                }
            }
        }
        // dilated max pool
        try checkGradients([[1, 2, 9, 8]], values: { _, r in maxSafeValues(144, &r) }) { g, x in
            try g.maxPool2d(x[0], kernel: (3, 2), stride: (2, 1), padding: (1, 1), dilation: (2, 3))
        }
    }

    // MARK: adaptive / global pooling

    func testAdaptiveAvgPool() throws {
        let ctx = try Context(threads: 1)
        var rng = TestRNG(53)
        for (h, w, oh, ow) in [(7, 8, 3, 3), (6, 6, 2, 3), (5, 4, 7, 6), (4, 4, 1, 1), (9, 5, 4, 5)] {
            let x = rng.array(2 * 3 * h * w)
            let (y, shape) = try opsRunForward(ctx, [2, 3, h, w], x) { g, t in try g.adaptiveAvgPool2d(t, (oh, ow)) }
            XCTAssertEqual(shape, [2, 3, oh, ow])
            var ref: [Double] = []
            for p in 0..<6 {
                for i in 0..<oh {
                    let r0 = Int((Double(i * h) / Double(oh)).rounded(.down)), r1 = Int((Double((i + 1) * h) / Double(oh)).rounded(.up))
                    for j in 0..<ow {
                        let c0 = Int((Double(j * w) / Double(ow)).rounded(.down)), c1 = Int((Double((j + 1) * w) / Double(ow)).rounded(.up))
                        var s = 0.0
                        for r in r0..<r1 { for c in c0..<c1 { s += Double(x[(p * h + r) * w + c]) } }
                        ref.append(s / Double((r1 - r0) * (c1 - c0)))
                    }
                }
            }
            opsAssertClose(y, ref, tol: 1e-5, "adaptive \(h)x\(w) -> \(oh)x\(ow)")
            try checkGradients([[2, 3, h, w]]) { g, t in try g.adaptiveAvgPool2d(t[0], (oh, ow)) }
        }
    }

    func testGlobalPools() throws {
        let ctx = try Context(threads: 1)
        var rng = TestRNG(54)
        let shape = [2, 3, 5, 4]
        let x = rng.array(product(shape))
        for kind in [GlobalPool.Kind.avg, .max, .min] {
            let (y, oshape) = try opsRunForward(ctx, shape, x) { g, t in try g.apply(GlobalPool(kind), [t]) }
            XCTAssertEqual(oshape, [2, 3, 1, 1])
            let ref = (0..<6).map { p -> Double in
                let s = x[(p * 20)..<(p * 20 + 20)].map(Double.init)
                switch kind {
                case .avg: return s.reduce(0, +) / 20
                case .max: return s.max()!
                case .min: return s.min()!
                }
            }
            opsAssertClose(y, ref, tol: 1e-6, "\(kind)")
            try checkGradients([shape], values: { _, r in maxSafeValues(product(shape), &r) }) { g, t in
                try g.apply(GlobalPool(kind), [t[0]])
            }
        }
        // Ties: the whole gradient goes to the first extremum.
        let g = Graph()
        let t = try g.input([1, 1, 2, 2])
        let y = try g.globalMaxPool(t)
        let plan = try g.plan(ctx, outputs: [y], gradientsFor: [t])
        try plan.setInput(t, [1, 3, 3, 2])
        plan.forward(); plan.backward()
        XCTAssertEqual(Array(plan.gradient(t)!), [0, 1, 0, 0])
    }

    func testGlobalPoolsVectorisedAndThreaded() throws {
        // The old scalar loops, as the reference: first strictly-better element wins (ties and a
        // later NaN never replace the best; a NaN in front stays).
        func scalar(_ s: ArraySlice<Float>, max: Bool) -> (Float, Int) {
            let b0 = s.startIndex
            var best = s[b0], bi = 0
            for k in 1..<s.count where max ? s[b0 + k] > best : s[b0 + k] < best { best = s[b0 + k]; bi = k }
            return (best, bi)
        }
        var rng = TestRNG(91)
        // Small planes (scalar tail only), odd sizes (vector body + tail), and one big enough
        // for the threaded path (>= GlobalPool.parallelMinElements).
        for shape in [[2, 3, 2, 3], [2, 3, 37, 41], [1, 5, 300, 251]] {
            let hw = shape[2] * shape[3], planes = shape[0] * shape[1]
            // Few distinct values (many ties, +0 and -0 among them).
            var x = (0..<product(shape)).map { _ -> Float in
                let v = Int(rng.next() % 9) - 4
                return v == 0 ? (rng.next() % 2 == 0 ? 0 : -0.0) : Float(v) * 0.5
            }
            if hw > 20 {
                x[hw + 17] = .nan            // plane 1: a NaN inside is skipped
                x[2 * hw] = .nan             // plane 2: a NaN first stays
                x[planes * hw - 3] = 9       // last plane: the extremum in the tail
            }
            for threads in [1, 2] {
                let ctx = try Context(threads: threads)
                for kind in [GlobalPool.Kind.avg, .max, .min] {
                    let g = Graph()
                    let t = try g.input(shape)
                    let y = try g.apply(GlobalPool(kind), [t])
                    let plan = try g.plan(ctx, outputs: [y], gradientsFor: [t])
                    try plan.setInput(t, x)
                    plan.forward(); plan.backward()
                    XCTAssertEqual(sega_malloc_counter_active(), 1)
                    sega_malloc_counter_start()
                    plan.forward(); plan.backward()
                    XCTAssertEqual(sega_malloc_counter_stop(), 0, "\(kind) \(shape): allocations")
                    let got = Array(plan.buffer(y)), dx = Array(plan.gradient(t)!)
                    for p in 0..<planes {
                        let plane = x[(p * hw)..<((p + 1) * hw)]
                        if kind == .avg {
                            let mean = plane.reduce(0.0) { $0 + Double($1) } / Double(hw)
                            if mean.isNaN { XCTAssertTrue(got[p].isNaN); continue }
                            XCTAssertEqual(got[p], Float(mean), "\(shape) plane \(p) avg")
                            continue
                        }
                        let (best, bi) = scalar(plane, max: kind == .max)
                        XCTAssertEqual(got[p].bitPattern, best.bitPattern, "\(kind) \(shape) plane \(p) threads \(threads)")
                        let hot = dx[(p * hw)..<((p + 1) * hw)].indices.filter { dx[$0] != 0 }.map { $0 - p * hw }
                        XCTAssertEqual(hot, [bi], "\(kind) \(shape) plane \(p): gradient goes to the first extremum")
                    }
                }
            }
        }
    }

    // MARK: bilinear resize

    func testBilinearResize() throws {
        let ctx = try Context(threads: 1)
        var rng = TestRNG(55)
        for (h, w, oh, ow) in [(5, 7, 9, 4), (4, 4, 8, 8), (6, 5, 3, 2), (1, 3, 2, 5), (3, 3, 1, 1)] {
            for ac in [false, true] {
                let x = rng.array(2 * 2 * h * w)
                let (y, shape) = try opsRunForward(ctx, [2, 2, h, w], x) { g, t in
                    try g.resizeBilinear(t, size: (oh, ow), alignCorners: ac)
                }
                XCTAssertEqual(shape, [2, 2, oh, ow])
                opsAssertClose(y, refBilinear(planes: 4, h: h, w: w, oh: oh, ow: ow, alignCorners: ac, x), tol: 1e-5,
                               "bilinear \(h)x\(w) -> \(oh)x\(ow) align \(ac)")
                try checkGradients([[2, 2, h, w]]) { g, t in try g.resizeBilinear(t[0], size: (oh, ow), alignCorners: ac) }
            }
        }
    }

    // MARK: bad inputs

    func testPoolShapeErrors() throws {
        func build(_ xs: [Int], _ f: (Graph, Tensor) throws -> Tensor) throws {
            let g = Graph()
            _ = try f(g, try g.input(xs))
        }
        opsExpectError(.shapeMismatch, "maxpool rank 3") { try build([1, 4, 4]) { try $0.maxPool2d($1, kernel: (2, 2)) } }
        opsExpectError(.shapeMismatch, "avgpool rank 5") { try build([1, 1, 1, 4, 4]) { try $0.avgPool2d($1, kernel: (2, 2)) } }
        opsExpectError(.shapeMismatch, "maxpool kernel > padded input") {
            try build([1, 1, 3, 3]) { try $0.maxPool2d($1, kernel: (6, 6), padding: (1, 1)) }
        }
        opsExpectError(.shapeMismatch, "dilated maxpool kernel > input") {
            try build([1, 1, 4, 8]) { try $0.maxPool2d($1, kernel: (3, 3), dilation: (2, 1)) }
        }
        opsExpectError(.shapeMismatch, "avgpool kernel > input") { try build([1, 1, 3, 8]) { try $0.avgPool2d($1, kernel: (4, 2)) } }
        opsExpectError(.invalidArgument, "maxpool padding > half kernel") {
            try build([1, 1, 8, 8]) { try $0.maxPool2d($1, kernel: (3, 3), padding: (2, 0)) }
        }
        opsExpectError(.invalidArgument, "avgpool stride 0") { try build([1, 1, 8, 8]) { try $0.avgPool2d($1, kernel: (2, 2), stride: (0, 1)) } }
        opsExpectError(.shapeMismatch, "adaptive rank 2") { try build([4, 4]) { try $0.adaptiveAvgPool2d($1, (2, 2)) } }
        opsExpectError(.invalidArgument, "adaptive size 0") { try build([1, 1, 4, 4]) { try $0.adaptiveAvgPool2d($1, (0, 2)) } }
        opsExpectError(.shapeMismatch, "global pool rank 3") { try build([1, 4, 4]) { try $0.globalAvgPool($1) } }
        opsExpectError(.shapeMismatch, "resize rank 3") { try build([1, 4, 4]) { try $0.resizeBilinear($1, size: (2, 2)) } }
        opsExpectError(.invalidArgument, "resize size 0") { try build([1, 1, 4, 4]) { try $0.resizeBilinear($1, size: (2, 0)) } }
    }
}
