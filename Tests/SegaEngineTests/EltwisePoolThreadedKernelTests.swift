// EltwisePoolThreadedKernelTests.swift - add/sub/mul and their gradients (sega_binary_mt), relu/relu6
// and the mask backward, zeroing, LayerNorm (rows; gamma/beta sums by column) and max/avg pooling
// (planes) split over the engine's threads give the bytes of the single-thread code they replace,
// for 1, 2 and 3 threads; and a planned graph of these ops gives the same bytes at 1, 2 and 3
// threads without allocating.
import XCTest
import CSupport
import MallocCounter
@testable import SegaEngine

final class EltwisePoolThreadedKernelTests: XCTestCase {
    /// Sizes below, at and above the split threshold (16384 elements per thread), odd and not
    /// multiples of 64 or of 3.
    private let sizes = [0, 1, 63, 65, 4097, 32_767, 32_768, 32_833, 49_153, 100_003]

    /// NaN, ±inf, -0 and a denormal among the first elements (when there are more than 10), at
    /// `shift` so that two operands never hold NaNs at the same index (which NaN comes out of a
    /// NaN op NaN depends on operand order, which a compiler may commute).
    private static func withSpecials(_ v: [Float], shift: Int = 0) -> [Float] {
        var x = v
        if x.count > 10 + shift {
            x[1 + shift] = .nan; x[2 + shift] = .infinity; x[3 + shift] = -.infinity; x[4 + shift] = -0.0; x[5 + shift] = 1e-40
        }
        return x
    }

    // MARK: add / sub / mul

    func testBinaryThreadedIsTheSingleThreadLoop() {
        let keep = KernelEngines(threads: [1, 2, 3]), list = keep.list   // (3 threads: ranges that do not split evenly)
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(301)
        for n in sizes {
            let a = Self.withSpecials(rng.unitSigneds(n, scale: 4)), b = Self.withSpecials(rng.unitSigneds(n, scale: 4), shift: 5)
            // Binary.forward's same-shape loops.
            let want: [(Int32, [Float])] = [(Int32(SEGA_BIN_ADD), (0..<n).map { a[$0] + b[$0] }),
                                            (Int32(SEGA_BIN_SUB), (0..<n).map { a[$0] - b[$0] }),
                                            (Int32(SEGA_BIN_MUL), (0..<n).map { a[$0] * b[$0] })]
            for (name, e) in list {
                for (op, w) in want {
                    var y = [Float](repeating: 7, count: n)
                    sega_binary_mt(e, n, op, 1, a, b, &y)
                    XCTAssertTrue(bitEqual(y, w), "op \(op) \(name) n\(n)")
                    var inA = a   // out == a
                    inA.withUnsafeMutableBufferPointer { p in sega_binary_mt(e, n, op, 1, p.baseAddress, b, p.baseAddress) }
                    XCTAssertTrue(bitEqual(inA, w), "op \(op) in place \(name) n\(n)")
                }
            }
        }
    }

    /// SET and ACC against Binary.backward's loops: d = 0 + sign * g (* w) when the gradient is
    /// overwritten, else d += g (sega_add_inplace), d += -1 * g (sega_axpy), d += g * w.
    func testBinaryGradientsThreadedAreTheSingleThreadLoops() {
        let keep = KernelEngines(threads: [1, 2, 3]), list = keep.list   // (3 threads: ranges that do not split evenly)
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(302)
        for n in sizes {
            let g = Self.withSpecials(rng.unitSigneds(n, scale: 3)), w = Self.withSpecials(rng.unitSigneds(n, scale: 3), shift: 5)
            let d0 = rng.unitSigneds(n)
            for sign: Float in [1, -1] {
                let setG = (0..<n).map { 0 + sign * g[$0] }, setGW = (0..<n).map { 0 + sign * g[$0] * w[$0] }
                var accG = d0
                if sign == 1 { sega_add_inplace(n, g, &accG) } else { sega_axpy(n, sign, g, &accG) }
                let accGW = (0..<n).map { d0[$0] + g[$0] * w[$0] }   // mul: sign is always 1
                for (name, e) in list {
                    var d = [Float](repeating: .nan, count: n)
                    sega_binary_mt(e, n, Int32(SEGA_BIN_SET), sign, g, nil, &d)
                    XCTAssertTrue(bitEqual(d, setG), "set g sign \(sign) \(name) n\(n)")
                    sega_binary_mt(e, n, Int32(SEGA_BIN_SET), sign, g, w, &d)
                    XCTAssertTrue(bitEqual(d, setGW), "set g*w sign \(sign) \(name) n\(n)")
                    d = d0
                    sega_binary_mt(e, n, Int32(SEGA_BIN_ACC), sign, g, nil, &d)
                    XCTAssertTrue(bitEqual(d, accG), "acc g sign \(sign) \(name) n\(n)")
                    if sign == 1 {
                        d = d0
                        sega_binary_mt(e, n, Int32(SEGA_BIN_ACC), 1, g, w, &d)
                        XCTAssertTrue(bitEqual(d, accGW), "acc g*w \(name) n\(n)")
                    }
                }
            }
        }
    }

    /// The fused kernels against their two passes: sega_binary_act_mt = sega_binary_mt then
    /// sega_act_fwd_mt (y and mask), sega_binary_grad_masked_mt = sega_mask_copy then SET / ACC.
    func testFusedBinaryKernelsAreTheirTwoPasses() {
        let keep = KernelEngines(threads: [1, 2, 3]), list = keep.list   // (3 threads: ranges that do not split evenly)
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(309)
        for n in sizes {
            let a = Self.withSpecials(rng.unitSigneds(n, scale: 8)), b = Self.withSpecials(rng.unitSigneds(n, scale: 8), shift: 5)
            let mask = (0..<n).map { _ in UInt8(rng.next() & 1) }, d0 = rng.unitSigneds(n)
            var masked = [Float](repeating: 0, count: n)
            sega_mask_copy(nil, n, mask, a, &masked)
            for (name, e) in list {
                for op in [SEGA_BIN_ADD, SEGA_BIN_SUB, SEGA_BIN_MUL] {
                    for act in [SEGA_ACT_RELU, SEGA_ACT_RELU6] {
                        var want = [Float](repeating: 0, count: n), wantMask = [UInt8](repeating: 9, count: n)
                        sega_binary_mt(nil, n, Int32(op), 1, a, b, &want)
                        sega_act_fwd_inplace(nil, n, Int32(act.rawValue), &want, &wantMask)
                        var y = [Float](repeating: 7, count: n), m = [UInt8](repeating: 9, count: n)
                        sega_binary_act_mt(e, n, Int32(op), a, b, &y, Int32(act.rawValue), &m)
                        XCTAssertTrue(bitEqual(y, want) && m == wantMask, "op \(op) act \(act.rawValue) \(name) n\(n)")
                    }
                }
                for op in [SEGA_BIN_SET, SEGA_BIN_ACC] {
                    for sign: Float in [1, -1] {
                        for w in [nil, b] {
                            var want = d0, got = d0
                            sega_binary_mt(nil, n, Int32(op), sign, masked, w, &want)
                            sega_binary_grad_masked_mt(e, n, Int32(op), sign, mask, a, w, &got)
                            XCTAssertTrue(bitEqual(got, want), "masked op \(op) sign \(sign) w \(w != nil) \(name) n\(n)")
                        }
                    }
                }
            }
        }
    }

    // MARK: relu / relu6, mask backward, zeroing

    func testActivationThreadedIsTheSingleThreadKernel() {
        let keep = KernelEngines(threads: [1, 2, 3]), list = keep.list   // (3 threads: ranges that do not split evenly)
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(303)
        for n in sizes {
            let x = Self.withSpecials(rng.unitSigneds(n, scale: 8))
            for act in [SEGA_ACT_RELU, SEGA_ACT_RELU6] {
                var want = [Float](repeating: 0, count: n), wantMask = [UInt8](repeating: 9, count: n)
                var wantNoMask = [Float](repeating: 0, count: n)
                if act == SEGA_ACT_RELU { sega_relu_fwd_mask(n, x, &want, &wantMask); sega_relu_fwd(n, x, &wantNoMask) }
                else { sega_relu6_fwd_mask(n, x, &want, &wantMask); sega_relu6_fwd(n, x, &wantNoMask) }
                XCTAssertTrue(bitEqual(want, wantNoMask))
                for (name, e) in list {
                    var y = [Float](repeating: 7, count: n), m = [UInt8](repeating: 9, count: n)
                    sega_act_fwd_mt(e, n, Int32(act.rawValue), x, &y, &m)
                    XCTAssertTrue(bitEqual(y, want) && m == wantMask, "act \(act.rawValue) mask \(name) n\(n)")
                    y = [Float](repeating: 7, count: n)
                    sega_act_fwd_mt(e, n, Int32(act.rawValue), x, &y, nil)
                    XCTAssertTrue(bitEqual(y, want), "act \(act.rawValue) \(name) n\(n)")
                    var inPlace = x
                    m = [UInt8](repeating: 9, count: n)
                    inPlace.withUnsafeMutableBufferPointer { p in sega_act_fwd_mt(e, n, Int32(act.rawValue), p.baseAddress, p.baseAddress, &m) }
                    XCTAssertTrue(bitEqual(inPlace, want) && m == wantMask, "act \(act.rawValue) in place \(name) n\(n)")
                }
            }
            // dx += mask ? dy : 0
            let mask = (0..<n).map { _ in UInt8(rng.next() & 1) }
            let dy = Self.withSpecials(rng.unitSigneds(n)), dx0 = rng.unitSigneds(n)
            var want = dx0
            sega_mask_bwd(n, mask, dy, &want)
            for (name, e) in list {
                var dx = dx0
                sega_mask_bwd_mt(e, n, mask, dy, &dx)
                XCTAssertTrue(bitEqual(dx, want), "mask bwd \(name) n\(n)")
            }
        }
    }

    func testZeroThreadedZeroesExactlyTheRange() {
        let keep = KernelEngines(threads: [1, 2, 3]), list = keep.list   // (3 threads: ranges that do not split evenly)
        defer { withExtendedLifetime(keep) {} }
        for n in sizes {
            for (name, e) in list {
                var p = [Float](repeating: -3, count: n + 1)   // the last one must stay
                sega_zero_mt(e, n, &p)
                XCTAssertTrue(p.dropLast().allSatisfy { $0.bitPattern == 0 } && p[n] == -3, "zero \(name) n\(n)")
            }
        }
    }

    // MARK: LayerNorm

    /// (rows, len): one long row, few long rows, many short ones, the ViT's 433 x 192.
    private let lnShapes = [(0, 5), (1, 1), (3, 700), (7, 433), (5001, 7), (101, 397), (1, 40_000), (433, 192), (257, 193)]

    func testLayerNormThreadedIsTheSingleThreadCode() {
        let keep = KernelEngines(threads: [1, 2, 3]), list = keep.list   // (3 threads: ranges that do not split evenly)
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(304)
        for (rows, len) in lnShapes {
            let n = rows * len
            let x = rng.unitSigneds(n, scale: 3), dy = rng.unitSigneds(n), dx0 = rng.unitSigneds(n)
            let gamma = rng.unitSigneds(len, scale: 2), beta = rng.unitSigneds(len)
            let dg0 = rng.unitSigneds(len), db0 = rng.unitSigneds(len)
            for (useGamma, useBeta) in [(true, true), (false, false), (true, false)] {
                let gp: [Float]? = useGamma ? gamma : nil, bp: [Float]? = useBeta ? beta : nil
                var y = [Float](repeating: .nan, count: n)
                var mean = [Float](repeating: .nan, count: rows), rstd = [Float](repeating: .nan, count: rows)
                sega_layernorm_fwd(rows, len, 1e-5, x, gp, bp, &y, &mean, &rstd)
                var dx = dx0
                sega_layernorm_bwd(rows, len, x, gp, mean, rstd, dy, &dx)
                // LayerNorm.backward's former Swift loops for dgamma / dbeta.
                var dg = dg0, db = db0
                for r in 0..<rows {
                    let m = mean[r], s = rstd[r]
                    for j in 0..<len { dg[j] += dy[r * len + j] * (x[r * len + j] - m) * s }
                    for j in 0..<len { db[j] += dy[r * len + j] }
                }
                let tag = "\(rows)x\(len) gamma \(useGamma) beta \(useBeta)"
                for (name, e) in list {
                    var y2 = [Float](repeating: 7, count: n)
                    var m2 = [Float](repeating: 7, count: rows), r2 = [Float](repeating: 7, count: rows)
                    sega_layernorm_fwd_mt(e, rows, len, 1e-5, x, gp, bp, &y2, &m2, &r2)
                    XCTAssertTrue(bitEqual(y2, y) && bitEqual(m2, mean) && bitEqual(r2, rstd), "ln fwd \(tag) \(name)")
                    var inPlace = x
                    inPlace.withUnsafeMutableBufferPointer { p in sega_layernorm_fwd_mt(e, rows, len, 1e-5, p.baseAddress, gp, bp, p.baseAddress, &m2, &r2) }
                    XCTAssertTrue(bitEqual(inPlace, y), "ln fwd in place \(tag) \(name)")
                    var dx2 = dx0, dg2 = dg0, db2 = db0
                    dg2.withUnsafeMutableBufferPointer { pg in
                        db2.withUnsafeMutableBufferPointer { pb in
                            sega_layernorm_bwd_mt(e, rows, len, x, gp, mean, rstd, dy, &dx2,
                                                  useGamma ? pg.baseAddress : nil, useGamma && useBeta ? pb.baseAddress : nil)
                        }
                    }
                    XCTAssertTrue(bitEqual(dx2, dx), "ln bwd dx \(tag) \(name)")
                    XCTAssertTrue(bitEqual(dg2, useGamma ? dg : dg0), "ln bwd dgamma \(tag) \(name)")
                    XCTAssertTrue(bitEqual(db2, useGamma && useBeta ? db : db0), "ln bwd dbeta \(tag) \(name)")
                    // No dx wanted: the parameter sums alone.
                    dg2 = dg0; db2 = db0
                    sega_layernorm_bwd_mt(e, rows, len, x, gp, mean, rstd, dy, nil, &dg2, &db2)
                    XCTAssertTrue(bitEqual(dg2, dg) && bitEqual(db2, db), "ln bwd params only \(tag) \(name)")
                }
            }
        }
    }

    // MARK: pooling

    /// Planes x geometry: one plane, two, a ResNet stem's, many small ones, odd counts.
    private var poolGeoms: [(sega_conv_geom, pad: (Int, Int))] {
        [(squareGeom(c: 1, h: 300, w: 301, k: 3, s: 2, p: 1, oh: 150, ow: 151), (1, 1)),
         (squareGeom(c: 2, h: 131, w: 129, k: 3, s: 2, p: 1, oh: 66, ow: 65), (1, 1)),
         (squareGeom(c: 7, h: 5, w: 6, k: 2, s: 2, p: 0, oh: 2, ow: 3), (0, 0)),
         (squareGeom(c: 67, h: 31, w: 29, k: 3, s: 2, p: 1, oh: 16, ow: 15), (1, 1)),
         (squareGeom(c: 64, h: 56, w: 56, k: 3, s: 2, p: 1, oh: 28, ow: 28), (1, 1)),
         (squareGeom(c: 1001, h: 7, w: 9, k: 2, s: 1, p: 1, oh: 8, ow: 10), (1, 1))]
    }

    func testPoolingThreadedIsTheSingleThreadCode() {
        let keep = KernelEngines(threads: [1, 2, 3]), list = keep.list   // (3 threads: ranges that do not split evenly)
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(305)
        for (g0, pad) in poolGeoms {
            var g = g0
            let planes = Int(g.c), hw = Int(g.h * g.w), ohw = Int(g.oh * g.ow)
            var x = rng.unitSigneds(planes * hw, scale: 4)
            x[3] = .nan; x[hw + 5 < x.count ? hw + 5 : 0] = -.infinity
            let dy = rng.unitSigneds(planes * ohw), dx0 = rng.unitSigneds(planes * hw)
            var ymax = [Float](repeating: 0, count: planes * ohw), am = [Int32](repeating: 0, count: planes * ohw)
            sega_maxpool_fwd_ref(&g, x, &ymax, &am)
            var yavg = [Float](repeating: 0, count: planes * ohw)
            sega_avgpool_fwd_ref(&g, Int32(pad.0), Int32(pad.1), 1, x, &yavg)
            // Pool2d.backward's former code: the Swift scatter-add; sega_avgpool_bwd then add.
            var dmax = dx0
            for p in 0..<planes {
                for o in 0..<ohw where am[p * ohw + o] >= 0 { dmax[p * hw + Int(am[p * ohw + o])] += dy[p * ohw + o] }
            }
            var ws = [Float](repeating: 0, count: planes * hw), davg = dx0
            sega_avgpool_bwd(&g, Int32(pad.0), Int32(pad.1), 1, dy, &ws)
            sega_add_inplace(planes * hw, ws, &davg)
            for (name, e) in list {
                let tag = "\(describeGeom(g)) \(name)"
                var y = [Float](repeating: 7, count: planes * ohw), a = [Int32](repeating: 7, count: planes * ohw)
                sega_maxpool_fwd(e, &g, x, &y, &a)
                XCTAssertTrue(bitEqual(y, ymax) && a == am, "maxpool fwd \(tag)")
                y = [Float](repeating: 7, count: planes * ohw)
                sega_avgpool_fwd(e, &g, Int32(pad.0), Int32(pad.1), 1, x, &y)
                XCTAssertTrue(bitEqual(y, yavg), "avgpool fwd \(tag)")
                var dx = dx0
                sega_maxpool_bwd_acc(e, &g, dy, am, &dx)
                XCTAssertTrue(bitEqual(dx, dmax), "maxpool bwd \(tag)")
                dx = dx0
                var ws2 = [Float](repeating: .nan, count: planes * hw)
                sega_avgpool_bwd_acc(e, &g, Int32(pad.0), Int32(pad.1), 1, dy, &ws2, &dx)
                XCTAssertTrue(bitEqual(dx, davg), "avgpool bwd \(tag)")
            }
        }
    }

    // MARK: planned graph

    /// Same-shape add/sub/mul, a broadcast add and mul (the strided loop), relu and relu6 with
    /// their masks, max and avg pooling, LayerNorm with gamma/beta: `big` puts every op above
    /// the split threshold for 3 threads.
    private func build(big: Bool) throws -> (Graph, Tensor, Tensor, Tensor, Tensor) {
        var rng = TestRNG(306)
        let g = Graph()
        let shape = big ? [2, 9, 57, 61] : [1, 3, 9, 7]
        let n = shape.reduce(1, *), c = shape[1]
        let x = try g.input(shape, name: "x")
        let gamma = try g.input([shape[3]], name: "gamma"), beta = try g.input([shape[3]], name: "beta")
        let k1 = try g.constant(rng.array(n, -1, 1), shape), k2 = try g.constant(rng.array(n, -1, 1), shape)
        let perC = try g.constant(rng.array(c, -1, 1), [1, c, 1, 1])
        let s = try g.relu(try g.add(x, k1))
        let t = try g.sub(try g.mul(s, k2), x)
        let u = try g.relu6(try g.mul(try g.add(t, perC), perC))
        let mp = try g.maxPool2d(u, kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        let ap = try g.avgPool2d(t, kernel: (2, 2), stride: (2, 2), padding: (1, 1), ceilMode: true, countIncludePad: false)
        let ln = try g.layerNorm(try g.add(u, t), gamma: gamma, beta: beta)
        let w1 = try g.constant(rng.array(mp.count, -1, 1), mp.shape), w2 = try g.constant(rng.array(ap.count, -1, 1), ap.shape)
        let w3 = try g.constant(rng.array(ln.count, -1, 1), ln.shape)
        let out = try g.add(try g.add(try g.sum(try g.mul(mp, w1)), try g.sum(try g.mul(ap, w2))), try g.sum(try g.mul(ln, w3)))
        return (g, x, gamma, beta, out)
    }

    func testPlannedOpsSameBytesAtOneTwoThreeThreadsWithoutAllocating() throws {
        for big in [false, true] {
            let (g, x, gamma, beta, out) = try build(big: big)
            var results: [[UInt32]] = []
            for threads in [1, 2, 3] {
                let plan = try g.plan(try Context(threads: threads), outputs: [out], gradientsFor: [x, gamma, beta])
                var r = TestRNG(307)
                try plan.setInput(x, r.array(x.count, -2, 2))
                try plan.setInput(gamma, r.array(gamma.count, 0.5, 1.5))
                try plan.setInput(beta, r.array(beta.count, -1, 1))
                plan.forward(); plan.backward()   // warm-up
                sega_malloc_counter_start()
                plan.forward(); plan.backward()
                XCTAssertEqual(sega_malloc_counter_stop(), 0, "allocations at \(threads) threads, big \(big)")
                let grads = [x, gamma, beta].flatMap { plan.gradient($0)!.map(\.bitPattern) }
                XCTAssertTrue(plan.gradient(x)!.contains { $0 != 0 } && plan.gradient(gamma)!.contains { $0 != 0 })
                results.append(plan.buffer(out).map(\.bitPattern) + grads)
            }
            XCTAssertEqual(results[0], results[1], "1 vs 2 threads, big \(big)")
            XCTAssertEqual(results[0], results[2], "1 vs 3 threads, big \(big)")
        }
    }

    // MARK: fused add + relu

    /// x -> a = x * k (so a's gradient is an intermediate the add may overwrite), y = act(a + b)
    /// (b an input of a's shape or per channel), out = sum(y * w); fused or add then Activation.
    private func fusedOrNot(fused: Bool, act: Conv2d.Activation, shape: [Int], perChannel: Bool,
                            threads: Int, overwrite: Bool) throws -> [UInt32] {
        var rng = TestRNG(308)
        let g = Graph()
        let n = shape.reduce(1, *)
        let bShape = perChannel ? [1, shape[1], 1, 1] : shape
        let x = try g.input(shape, name: "x"), b = try g.input(bShape, name: "b")
        let a = try g.mul(x, try g.constant(rng.array(n, -2, 2), shape))
        let y = fused ? try g.add(a, b, activation: act)
                      : (act == .relu ? try g.relu(try g.add(a, b)) : try g.relu6(try g.add(a, b)))
        let out = try g.sum(try g.mul(y, try g.constant(rng.array(n, -1, 1), shape)))
        let plan = try g.plan(try Context(threads: threads, overwritesGradients: overwrite), outputs: [out], gradientsFor: [x, b])
        try plan.setInput(x, rng.array(n, -4, 4))
        try plan.setInput(b, rng.array(b.count, -3, 3))
        plan.forward(); plan.backward()
        sega_malloc_counter_start()
        plan.forward(); plan.backward()
        XCTAssertEqual(sega_malloc_counter_stop(), 0, "allocations, fused \(fused) threads \(threads)")
        XCTAssertTrue(plan.gradient(x)!.contains { $0 == 0 } && plan.gradient(x)!.contains { $0 != 0 }, "the mask cuts some")
        return plan.buffer(out).map(\.bitPattern) + plan.gradient(x)!.map(\.bitPattern) + plan.gradient(b)!.map(\.bitPattern)
    }

    func testFusedAddActivationIsAddThenActivation() throws {
        for shape in [[1, 3, 5, 7], [2, 9, 57, 61]] {
            for perChannel in [false, true] {
                for act in [Conv2d.Activation.relu, .relu6] {
                    for overwrite in [false, true] {
                        let want = try fusedOrNot(fused: false, act: act, shape: shape, perChannel: perChannel, threads: 1, overwrite: overwrite)
                        for threads in [1, 2, 3] {
                            let got = try fusedOrNot(fused: true, act: act, shape: shape, perChannel: perChannel, threads: threads, overwrite: overwrite)
                            XCTAssertEqual(got, want, "\(shape) per channel \(perChannel) \(act) overwrite \(overwrite) threads \(threads)")
                        }
                    }
                }
            }
        }
        XCTAssertEqual(Binary(.add, activation: .relu).name, "add+relu")
        XCTAssertEqual(Binary(.add, activation: .relu).savedBytes([[2, 3], [2, 3]], output: [2, 3]), 6)
        XCTAssertEqual(Binary(.add, activation: .relu).workspaceBytes([[2, 3], [2, 3]], output: [2, 3]), 0)
        XCTAssertEqual(Binary(.add, activation: .relu).workspaceBytes([[2, 3], [1, 3]], output: [2, 3]), 24)
        XCTAssertEqual(Binary(.add).savedBytes([[2, 3], [2, 3]], output: [2, 3]), 0)
    }
}
