// WinogradKernelTests.swift - the F(2x2, 3x3) Winograd convolution (sega_wino_conv): forward and
// input gradient against the naive double-accumulator reference (sega_conv3x3_ref), bit-identical
// results at 1, 2 and 3 threads, every ISA against the reference, and the Conv2d op's Winograd
// path against its im2col path and against finite differences.
//
// Tolerance: fp32 convolutions round each product and partial sum; with S = sum over the taps of
// |w * x| (plus |bias|) an im2col SGEMM stays within about K * u * S (u = 2^-24, K = 9 * cin
// terms) in the worst case and a few u * S * sqrt(K) typically. Winograd adds the input
// transform (each point a sum of up to 4 inputs, so 2 roundings on values up to 4x the inputs),
// the weight transform (rounded once from double) and the output transform (sums of up to 9
// points), which multiplies the typical error by a small constant. F(4x4, 3x3) amplifies more:
// its input transform mixes 6x6 values with coefficients up to 5 (row sums of |B^T| up to 10),
// its output transform with coefficients up to 8 (row sums of |A^T| up to 18), its kernels carry
// 1/6 and 1/24, so each point's product carries a relative error up to ~100x larger in the
// worst case. We allow 64 u * S per output for F(2x2) and 512 u * S for F(4x4): the measured
// maxima (testForwardMatchesReference prints them) are a few u * S and a few tens of u * S, and a
// wrong transform coefficient or a wrong tile/channel index gives errors of order S.
import XCTest
import CSupport
import MallocCounter
@testable import SegaEngine

final class WinogradKernelTests: XCTestCase {
    /// (n, k, m, h, w): maps not divisible by the 2x2 tile, 1x1 and 2x2 maps, odd channel
    /// counts, batches, several blocks of tiles (the last ones).
    private let shapes: [(n: Int, k: Int, m: Int, h: Int, w: Int)] = [
        (1, 16, 16, 8, 8), (2, 3, 5, 7, 9), (1, 32, 48, 1, 1), (1, 32, 48, 2, 2), (3, 17, 33, 13, 11),
        (1, 8, 5, 1, 7), (2, 7, 9, 5, 1), (2, 64, 40, 15, 6), (1, 40, 24, 37, 30), (2, 24, 40, 31, 33),
    ]
    private static let u = 1.0 / Double(1 << 24)
    /// Allowed worst error in u * S per tile side (see the file comment).
    private static func tolUnits(_ tile: Int32) -> Double { tile == 2 ? 64 : 512 }
    private static let tiles: [Int32] = [2, 4]

    /// The reference output and its per-output scale S = sum |w x| + |b| (see the file comment).
    private static func reference(n: Int, k: Int, m: Int, h: Int, w: Int, x: [Float], wt: [Float],
                                  bias: [Float]?) -> (y: [Float], scale: [Double]) {
        var y = [Float](repeating: .nan, count: n * m * h * w)
        sega_conv3x3_ref(Int32(n), Int32(k), Int32(m), Int32(h), Int32(w), x, wt, bias, &y)
        let absX = x.map { abs($0) }, absW = wt.map { abs($0) }
        var s = [Float](repeating: 0, count: y.count)
        sega_conv3x3_ref(Int32(n), Int32(k), Int32(m), Int32(h), Int32(w), absX, absW, bias?.map { abs($0) }, &s)
        return (y, s.map { Double($0) })
    }

    /// Kernels rotated 180 degrees with in/out channels swapped: w'[c][o] = rot(w[o][c]).
    private static func rotated(_ wt: [Float], k: Int, m: Int) -> [Float] {
        var r = [Float](repeating: 0, count: wt.count)
        for o in 0..<m { for c in 0..<k { for t in 0..<9 { r[(c * m + o) * 9 + t] = wt[(o * k + c) * 9 + 8 - t] } } }
        return r
    }

    /// Runs sega_wino_conv (packing the weights for this engine and shape first).
    private static func run(_ e: OpaquePointer, tile: Int32, threads: Int, n: Int, cin: Int, cout: Int, h: Int, w: Int,
                            src: [Float], srcMask: [UInt8]? = nil, wt: [Float], backward: Bool, bias: [Float]? = nil,
                            act: sega_act = SEGA_ACT_NONE, mask: inout [UInt8], dst: inout [Float], accumulate: Bool = false) {
        let k = backward ? cout : cin, m = backward ? cin : cout
        var packed = [Float](repeating: .nan, count: Int(sega_wino_weight_floats(tile, Int32(m), Int32(k))))
        sega_wino_pack_weights(e, tile, Int32(n), Int32(h), Int32(w), Int32(cin), Int32(cout), wt, backward ? 1 : 0, &packed)
        let wsFloats = Int(sega_wino_ws_floats(tile, Int32(k), Int32(m), Int32(w), Int32(threads)))
        let ws = UnsafeMutableRawPointer.allocate(byteCount: wsFloats * 4 + 64, alignment: 64)
        defer { ws.deallocate() }
        ws.initializeMemory(as: UInt8.self, repeating: 0xFF, count: wsFloats * 4)   // NaN garbage
        let st = src.withUnsafeBufferPointer { sp in
            packed.withUnsafeBufferPointer { pk in
                mask.withUnsafeMutableBufferPointer { mk in
                    dst.withUnsafeMutableBufferPointer { d in
                        withOptionalPointers(srcMask, bias) { sm, bp in
                            var a = sega_wino_args(tile: tile, n: Int32(n), k: Int32(k), m: Int32(m), h: Int32(h), w: Int32(w),
                                                   src: sp.baseAddress, src_mask: sm, packed: pk.baseAddress, bias: bp,
                                                   act: Int32(act.rawValue), mask: act == SEGA_ACT_NONE ? nil : mk.baseAddress,
                                                   dst: d.baseAddress, accumulate: accumulate ? 1 : 0,
                                                   ws: ws.assumingMemoryBound(to: Float.self), slots: Int32(threads))
                            return sega_wino_conv(e, &a)
                        }
                    }
                }
            }
        }
        XCTAssertEqual(st, SEGA_OK)
    }

    /// body(mask pointer, bias pointer), nil where the array is nil.
    private static func withOptionalPointers<R>(_ m: [UInt8]?, _ b: [Float]?,
                                                _ body: (UnsafePointer<UInt8>?, UnsafePointer<Float>?) -> R) -> R {
        func withB(_ mp: UnsafePointer<UInt8>?) -> R {
            guard let b else { return body(mp, nil) }
            return b.withUnsafeBufferPointer { body(mp, $0.baseAddress) }
        }
        guard let m else { return withB(nil) }
        return m.withUnsafeBufferPointer { withB($0.baseAddress) }
    }

    /// Worst |got - want| / S over the outputs, in units of u.
    private static func worstUnits(_ got: [Float], _ want: [Float], _ scale: [Double]) -> Double {
        var worst = 0.0
        for i in 0..<got.count {
            let e = abs(Double(got[i]) - Double(want[i])) / (max(scale[i], 1e-30) * u)
            worst = got[i].isNaN ? .infinity : max(worst, e)
        }
        return worst
    }

    /// One engine per ISA and thread count (1, 2, 3).
    private static func engines() -> [(name: String, threads: Int, e: OpaquePointer)] {
        var list: [(String, Int, OpaquePointer)] = []
        for isa in KernelEngines.supportedISAs {
            for t in 1...3 {
                var e: OpaquePointer? = nil
                if sega_engine_create(Int32(t), isa, &e) == SEGA_OK, let e { list.append(("\(String(cString: sega_isa_name(isa)))/\(t)t", t, e)) }
            }
        }
        return list
    }

    func testForwardMatchesReference() {
        let list = Self.engines()
        defer { for l in list { sega_engine_destroy(l.e) } }
        var rng = TestRNG(201)
        var report: [String: Double] = [:]
        for s in shapes {
            let x = rng.array(s.n * s.k * s.h * s.w), wt = rng.array(s.m * s.k * 9), b = rng.array(s.m)
            let (want, scale) = Self.reference(n: s.n, k: s.k, m: s.m, h: s.h, w: s.w, x: x, wt: wt, bias: b)
            for tile in Self.tiles { for l in list {
                var y = [Float](repeating: .nan, count: want.count), mask = [UInt8](repeating: 7, count: want.count)
                Self.run(l.e, tile: tile, threads: l.threads, n: s.n, cin: s.k, cout: s.m, h: s.h, w: s.w, src: x, wt: wt,
                         backward: false, bias: b, mask: &mask, dst: &y)
                let units = Self.worstUnits(y, want, scale), key = "F\(tile) \(l.name)"
                report[key] = max(report[key] ?? 0, units)
                XCTAssertLessThanOrEqual(units, Self.tolUnits(tile), "forward F\(tile) \(l.name) \(s)")
                // relu with its mask: the activation of the same values, mask where they are > 0
                var yr = [Float](repeating: .nan, count: want.count)
                Self.run(l.e, tile: tile, threads: l.threads, n: s.n, cin: s.k, cout: s.m, h: s.h, w: s.w, src: x, wt: wt,
                         backward: false, bias: b, act: SEGA_ACT_RELU, mask: &mask, dst: &yr)
                XCTAssertTrue(bitEqual(yr, y.map { $0 < 0 ? 0 : $0 }), "relu \(l.name) \(s)")
                XCTAssertEqual(mask, y.map { $0 > 0 ? 1 : 0 }, "relu mask \(l.name) \(s)")
            } }
        }
        print("winograd forward, worst error in u * S:", report.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" })
    }

    func testInputGradientMatchesReference() {
        let list = Self.engines()
        defer { for l in list { sega_engine_destroy(l.e) } }
        var rng = TestRNG(202)
        for s in shapes {
            let dy = rng.array(s.n * s.m * s.h * s.w), wt = rng.array(s.m * s.k * 9)
            let dmask = (0..<dy.count).map { _ in UInt8(rng.next() % 3 == 0 ? 0 : 1) }
            let masked = zip(dy, dmask).map { $1 != 0 ? $0 : 0 }
            let (want, scale) = Self.reference(n: s.n, k: s.m, m: s.k, h: s.h, w: s.w, x: masked,
                                               wt: Self.rotated(wt, k: s.k, m: s.m), bias: nil)
            let dx0 = rng.array(want.count)
            for tile in Self.tiles { for l in list {
                var dx = [Float](repeating: .nan, count: want.count), unused = [UInt8]()
                Self.run(l.e, tile: tile, threads: l.threads, n: s.n, cin: s.k, cout: s.m, h: s.h, w: s.w, src: dy, srcMask: dmask,
                         wt: wt, backward: true, mask: &unused, dst: &dx)
                XCTAssertLessThanOrEqual(Self.worstUnits(dx, want, scale), Self.tolUnits(tile), "input gradient F\(tile) \(l.name) \(s)")
                XCTAssertFalse(dx.contains { $0 == 0 && $0.sign == .minus }, "overwrite leaves no -0 \(l.name) \(s)")
                var acc = dx0
                Self.run(l.e, tile: tile, threads: l.threads, n: s.n, cin: s.k, cout: s.m, h: s.h, w: s.w, src: dy, srcMask: dmask,
                         wt: wt, backward: true, mask: &unused, dst: &acc, accumulate: true)
                XCTAssertTrue(bitEqual(acc, zip(dx0, dx).map { $0 + $1 }), "accumulate \(l.name) \(s)")
            } }
        }
    }

    /// 1, 2 and 3 threads give the same bytes (forward with bias and relu, input gradient).
    func testThreadCountsAreBitIdentical() {
        let list = Self.engines()
        defer { for l in list { sega_engine_destroy(l.e) } }
        var rng = TestRNG(203)
        for s in [(n: 2, k: 64, m: 64, h: 30, w: 34), (n: 1, k: 24, m: 136, h: 9, w: 70), (n: 3, k: 40, m: 32, h: 16, w: 16),
                  (n: 1, k: 136, m: 200, h: 7, w: 7)] {   // (the last: one block, split by output rows)
            let x = rng.array(s.n * s.k * s.h * s.w), wt = rng.array(s.m * s.k * 9), b = rng.array(s.m)
            let dy = rng.array(s.n * s.m * s.h * s.w)
            for tile in Self.tiles {
            var byISA: [String: ([Float], [UInt8], [Float])] = [:]
            for l in list {
                var y = [Float](repeating: .nan, count: dy.count), mask = [UInt8](repeating: 9, count: dy.count)
                Self.run(l.e, tile: tile, threads: l.threads, n: s.n, cin: s.k, cout: s.m, h: s.h, w: s.w, src: x, wt: wt,
                         backward: false, bias: b, act: SEGA_ACT_RELU, mask: &mask, dst: &y)
                var dx = [Float](repeating: .nan, count: x.count), unused = [UInt8]()
                Self.run(l.e, tile: tile, threads: l.threads, n: s.n, cin: s.k, cout: s.m, h: s.h, w: s.w, src: dy, srcMask: mask,
                         wt: wt, backward: true, mask: &unused, dst: &dx)
                let isa = KernelEngines.isaName(l.name)
                if let first = byISA[isa] {
                    XCTAssertTrue(bitEqual(y, first.0) && mask == first.1, "forward F\(tile) \(l.name) vs 1 thread \(s)")
                    XCTAssertTrue(bitEqual(dx, first.2), "input gradient F\(tile) \(l.name) vs 1 thread \(s)")
                } else {
                    byISA[isa] = (y, mask, dx)
                }
            }
            }
        }
    }

    /// Each ISA against the portable kernels, within the tolerance.
    func testISAsAgreeWithPortable() {
        let list = Self.engines().filter { $0.threads == 2 }
        defer { for l in list { sega_engine_destroy(l.e) } }
        guard let portable = list.first(where: { $0.name.hasPrefix("portable") }) else { return XCTFail("no portable engine") }
        var rng = TestRNG(204)
        let s = (n: 2, k: 48, m: 72, h: 19, w: 26)
        let x = rng.array(s.n * s.k * s.h * s.w), wt = rng.array(s.m * s.k * 9)
        let (_, scale) = Self.reference(n: s.n, k: s.k, m: s.m, h: s.h, w: s.w, x: x, wt: wt, bias: nil)
        for tile in Self.tiles {
        var want = [Float](repeating: .nan, count: scale.count), unused = [UInt8]()
        Self.run(portable.e, tile: tile, threads: 2, n: s.n, cin: s.k, cout: s.m, h: s.h, w: s.w, src: x, wt: wt, backward: false,
                 mask: &unused, dst: &want)
        for l in list where l.name != portable.name {
            var y = [Float](repeating: .nan, count: scale.count)
            Self.run(l.e, tile: tile, threads: 2, n: s.n, cin: s.k, cout: s.m, h: s.h, w: s.w, src: x, wt: wt, backward: false,
                     mask: &unused, dst: &y)
            XCTAssertLessThanOrEqual(Self.worstUnits(y, want, scale), 2 * Self.tolUnits(tile), "F\(tile) \(l.name) vs portable")
        }
        }
    }

    func testBadArgumentsAreRefused() {
        var e: OpaquePointer? = nil
        XCTAssertEqual(sega_engine_create(1, SEGA_ISA_AUTO, &e), SEGA_OK)
        defer { sega_engine_destroy(e) }
        let y = UnsafeMutablePointer<Float>.allocate(capacity: 4), x = UnsafeMutablePointer<Float>.allocate(capacity: 4)
        let wsFloats = Int(sega_wino_ws_floats(2, 1, 1, 2, 1)), pkFloats = Int(sega_wino_weight_floats(2, 1, 1))
        // The workspace must be 64-byte aligned (sega_wino_args): the transforms' aligned loads.
        let wsRaw = UnsafeMutableRawPointer.allocate(byteCount: (wsFloats + 16) * 4, alignment: 64)
        let ws = wsRaw.bindMemory(to: Float.self, capacity: wsFloats + 16), pk = UnsafeMutablePointer<Float>.allocate(capacity: pkFloats)
        defer { y.deallocate(); x.deallocate(); wsRaw.deallocate(); pk.deallocate() }
        x.initialize(repeating: 0, count: 4); ws.initialize(repeating: 0, count: wsFloats + 16); pk.initialize(repeating: 0, count: pkFloats)
        var a = sega_wino_args(tile: 2, n: 1, k: 1, m: 1, h: 2, w: 2, src: x, src_mask: nil, packed: pk, bias: nil, act: 0,
                               mask: nil, dst: y, accumulate: 0, ws: ws, slots: 1)
        XCTAssertEqual(sega_wino_conv(e, &a), SEGA_OK)
        var bad = a; bad.h = 0
        XCTAssertEqual(sega_wino_conv(e, &bad), SEGA_ERR_INVALID_ARG)
        bad = a; bad.dst = nil
        XCTAssertEqual(sega_wino_conv(e, &bad), SEGA_ERR_INVALID_ARG)
        bad = a; bad.tile = 3
        XCTAssertEqual(sega_wino_conv(e, &bad), SEGA_ERR_INVALID_ARG)
        bad = a; bad.slots = 0
        XCTAssertEqual(sega_wino_conv(e, &bad), SEGA_ERR_INVALID_ARG)
        bad = a; bad.ws = ws + 4   // 16 bytes off the required 64-byte alignment: refused, not a crash
        XCTAssertEqual(sega_wino_conv(e, &bad), SEGA_ERR_INVALID_ARG)
        bad = a; bad.act = Int32(SEGA_ACT_NONE.rawValue); bad.mask = UnsafeMutablePointer<UInt8>(bitPattern: 64)
        XCTAssertEqual(sega_wino_conv(e, &bad), SEGA_ERR_INVALID_ARG)
        XCTAssertEqual(sega_wino_conv(nil, &a), SEGA_ERR_INVALID_ARG)
        XCTAssertEqual(sega_wino_weight_floats(2, 0, 3), 0)
        XCTAssertEqual(sega_wino_weight_floats(3, 4, 3), 0)
        XCTAssertEqual(sega_wino_ws_floats(5, 4, 3, 8, 1), 0)
    }

    // MARK: the Conv2d op

    /// Forward (bias, fused relu) and the gradients of x (and of the weight and bias when
    /// `weightIsInput`) through a plan, with the given Winograd policy.
    private static func runOp(policy: Conv2d.WinogradPolicy, threads: Int = 1, overwrite: Bool = true, weightIsInput: Bool,
                              n: Int, k: Int, m: Int, h: Int, w: Int, x: [Float], wt: [Float], b: [Float],
                              seed: [Float]) throws -> (y: [Float], dx: [Float], dw: [Float]?, db: [Float]?, prepared: Int) {
        let saved = Conv2d.winogradPolicy
        Conv2d.winogradPolicy = policy
        defer { Conv2d.winogradPolicy = saved }
        let g = Graph()
        let xt = try g.input([n, k, h, w])
        let wtT = weightIsInput ? try g.input([m, k, 3, 3]) : try g.constant(wt, [m, k, 3, 3])
        let bt = weightIsInput ? try g.input([m]) : try g.constant(b, [m])
        let y = try g.conv2d(xt, weight: wtT, bias: bt, padding: (1, 1), activation: .relu)
        let ctx = try Context(threads: threads, overwritesGradients: overwrite)
        let plan = try g.plan(ctx, outputs: [y], gradientsFor: weightIsInput ? [xt, wtT, bt] : [xt])
        try plan.setInput(xt, x)
        if weightIsInput { try plan.setInput(wtT, wt); try plan.setInput(bt, b) }
        _ = plan.seed(for: y)!.update(from: seed)
        plan.forward()
        plan.backward()
        return (Array(plan.buffer(y)), Array(plan.gradient(xt)!), weightIsInput ? Array(plan.gradient(wtT)!) : nil,
                weightIsInput ? Array(plan.gradient(bt)!) : nil, plan.preparedBytes)
    }

    /// The op's Winograd path against its im2col path: forward and input gradient within the
    /// tolerance (relative to the largest value), the weight and bias gradients (the same
    /// im2col code on the same dy) bit for bit; the packed weights are planned only on the
    /// Winograd path; 1, 2 and 3 threads and overwriting dx or not give the same bytes.
    func testConvOpWinogradPathMatchesIm2colPath() throws {
        var rng = TestRNG(205)
        for (n, k, m, h, w) in [(2, 16, 24, 9, 10), (1, 64, 64, 14, 14), (3, 5, 7, 1, 2)] {
            let x = rng.array(n * k * h * w), wt = rng.array(m * k * 9), b = rng.array(m), seed = rng.array(n * m * h * w)
            for weightIsInput in [false, true] {
                let im = try Self.runOp(policy: .never, weightIsInput: weightIsInput, n: n, k: k, m: m, h: h, w: w,
                                        x: x, wt: wt, b: b, seed: seed)
                let wi = try Self.runOp(policy: .always, weightIsInput: weightIsInput, n: n, k: k, m: m, h: h, w: w,
                                        x: x, wt: wt, b: b, seed: seed)
                // im2col: the weights packed once as the SGEMM's A (forward W, input gradient W^T).
                XCTAssertEqual(im.prepared, Self.im2colPackedBytes(k: k, m: m, h: h, w: w))
                let tile = sega_wino_tile(Int32(k), Int32(m), Int32(h), Int32(w))
                XCTAssertEqual(wi.prepared, Int(sega_wino_weight_floats(tile, Int32(m), Int32(k)) + sega_wino_weight_floats(tile, Int32(k), Int32(m))) * 4)
                let ymax = Double(im.y.map { abs($0) }.max()!), dmax = Double(im.dx.map { abs($0) }.max()!)
                XCTAssertLessThanOrEqual(zip(im.y, wi.y).map { Double(abs($0 - $1)) }.max()!, 1e-4 * ymax, "y \(n) \(k) \(m) \(h) \(w)")
                XCTAssertLessThanOrEqual(zip(im.dx, wi.dx).map { Double(abs($0 - $1)) }.max()!, 1e-4 * dmax, "dx \(n) \(k) \(m) \(h) \(w)")
                if weightIsInput, zip(im.y, wi.y).allSatisfy({ ($0 > 0) == ($1 > 0) }) {   // same relu mask: same dy
                    XCTAssertTrue(bitEqual(im.dw!, wi.dw!) && bitEqual(im.db!, wi.db!), "dW, db \(n) \(k) \(m) \(h) \(w)")
                }
                for (t, over) in [(2, true), (3, true), (1, false)] {
                    let other = try Self.runOp(policy: .always, threads: t, overwrite: over, weightIsInput: weightIsInput,
                                               n: n, k: k, m: m, h: h, w: w, x: x, wt: wt, b: b, seed: seed)
                    XCTAssertTrue(bitEqual(other.y, wi.y) && bitEqual(other.dx, wi.dx), "\(t) threads, overwrite \(over)")
                }
            }
        }
    }

    /// Finite differences through the Winograd path: x and the weight (a plan input, so packed
    /// by every forward) of a conv with bias (no relu: its kinks are no place for differences;
    /// the relu mask is checked against the im2col path above).
    func testConvOpWinogradGradientsMatchFiniteDifferences() throws {
        let saved = Conv2d.winogradPolicy
        Conv2d.winogradPolicy = .always
        defer { Conv2d.winogradPolicy = saved }
        for (x, wt) in [([2, 5, 7, 6], [6, 5, 3, 3]), ([1, 4, 13, 12], [3, 4, 3, 3])] {   // F(2x2), F(4x4)
            try checkGradients([x, wt, [wt[0]]], seed: 206) { g, t in
                try g.conv2d(t[0], weight: t[1], bias: t[2], padding: (1, 1))
            }
        }
    }

    /// Prepared bytes of the im2col path of a 3x3 k -> m convolution on h x w with a backward:
    /// each weight packed once for the forward and the input gradient (maps of at most
    /// `Conv2d.packColumns` columns per band), else none.
    static func im2colPackedBytes(k: Int, m: Int, h: Int, w: Int) -> Int {
        let cols = min(Conv2d.bandRows(kdim: k * 9, ow: w, oh: h), h) * w
        guard cols <= Conv2d.packColumns else { return 0 }
        let bytes = Int(sega_gemm_packed_a_floats_max(Int32(m), Int32(k * 9)) + sega_gemm_packed_a_floats_max(Int32(k * 9), Int32(m))) * 4
        return (bytes + 63) / 64 * 64   // the plan's 64-byte granularity
    }

    /// `.auto` takes the path where `winogradPays` says so and nowhere else.
    func testAutoPolicyFollowsTheGate() throws {
        XCTAssertTrue(Conv2d.winogradPays(cin: 64, cout: 64, h: 56, w: 56))
        XCTAssertTrue(Conv2d.winogradPays(cin: 512, cout: 512, h: 7, w: 7))
        XCTAssertFalse(Conv2d.winogradPays(cin: 64, cout: 128, h: 7, w: 7))   // hyperiqa_lite0's fc_w.0
        XCTAssertFalse(Conv2d.winogradPays(cin: 3, cout: 64, h: 224, w: 224))
        for (k, m, h, expect) in [(64, 64, 14, true), (64, 128, 7, false), (32, 64, 32, false)] {
            let r = try Self.runOp(policy: .auto, weightIsInput: false, n: 1, k: k, m: m, h: h, w: h,
                                   x: [Float](repeating: 0.5, count: k * h * h), wt: [Float](repeating: 0.1, count: m * k * 9),
                                   b: [Float](repeating: 0, count: m), seed: [Float](repeating: 1, count: m * h * h))
            let tile = sega_wino_tile(Int32(k), Int32(m), Int32(h), Int32(h))
            let wino = Int(sega_wino_weight_floats(tile, Int32(m), Int32(k)) + sega_wino_weight_floats(tile, Int32(k), Int32(m))) * 4
            XCTAssertEqual(r.prepared, expect ? wino : Self.im2colPackedBytes(k: k, m: m, h: h, w: h), "\(k) -> \(m) at \(h)x\(h)")
        }
    }

    /// A planned forward + backward through Winograd convolutions (F(4x4) on 14x14, F(2x2) on
    /// 7x7 maps, constant weights and a weight that is a plan input, packed by every forward;
    /// one 64 -> 128 conv on 7x7 stays on im2col) allocates nothing, at 1 and 2 threads.
    func testWinogradPlanAllocatesNothing() throws {
        let g = Graph()
        var r = TestRNG(207)
        let x = try g.input([2, 64, 14, 14])
        let w1 = try g.constant(r.array(64 * 64 * 9), [64, 64, 3, 3]), w4 = try g.input([128, 128, 3, 3])
        var h = try g.conv2d(x, weight: w1, bias: try g.constant(r.array(64), [64]), padding: (1, 1), activation: .relu)
        h = try g.maxPool2d(h, kernel: (2, 2), stride: (2, 2))
        h = try g.conv2d(h, weight: try g.constant(r.array(64 * 128 * 9), [128, 64, 3, 3]), padding: (1, 1))
        h = try g.conv2d(h, weight: try g.constant(r.array(128 * 128 * 9), [128, 128, 3, 3]), padding: (1, 1), activation: .relu)
        let out = try g.sum(g.conv2d(h, weight: w4, padding: (1, 1)))
        for threads in [1, 2] {
            let plan = try g.plan(try Context(threads: threads), outputs: [out], gradientsFor: [x])
            XCTAssertGreaterThan(plan.preparedBytes, 0)
            try plan.setInput(x, r.array(x.count))
            try plan.setInput(w4, r.array(w4.count))
            plan.forward(); plan.backward()   // warm-up
            sega_malloc_counter_start()
            for _ in 0..<3 { plan.forward(); plan.backward() }
            XCTAssertEqual(sega_malloc_counter_stop(), 0, "heap allocations with \(threads) threads")
            XCTAssertTrue(plan.gradient(x)!.contains { $0 != 0 })
        }
    }
}
