// AttentionKernelTests.swift - sega_attention_fwd / _bwd (the rows split over threads) against
// the products head by head (the bytes the attention op had before) and the naive reference.
import XCTest
import CSupport

final class AttentionKernelTests: XCTestCase {
    /// (images, tokens, width, heads): tiny (one part), one above the split threshold with a
    /// last row unit of 5 rows, and ViT-like head widths.
    private static let shapes: [(n: Int, l: Int, d: Int, heads: Int)] = [
        (2, 9, 8, 1), (1, 101, 64, 2), (2, 70, 96, 3), (1, 133, 192, 3),
    ]

    private struct Case {
        let n, l, d, heads: Int
        let alpha: Float
        let qkv, dy, g0: [Float]
        var probsCount: Int { n * heads * l * l }
    }

    private func makeCase(_ s: (n: Int, l: Int, d: Int, heads: Int), _ rng: inout TestRNG) -> Case {
        Case(n: s.n, l: s.l, d: s.d, heads: s.heads, alpha: 1 / Float(s.d / s.heads).squareRoot(),
             qkv: rng.array(s.n * s.l * 3 * s.d, -2, 2), dy: rng.array(s.n * s.l * s.d), g0: rng.array(s.n * s.l * 3 * s.d))
    }

    /// What AttentionCore computed before the split: whole-head products on the engine's threads,
    /// the threaded softmax forward and the one-thread softmax backward. Returns (probs, y, dqkv).
    private func headByHead(_ c: Case, _ e: OpaquePointer, beta: Float) -> ([Float], [Float], [Float]) {
        let (n, l, d, hd) = (c.n, c.l, c.d, c.d / c.heads)
        var probs = [Float](repeating: 0, count: c.probsCount), y = [Float](repeating: 0, count: n * l * d)
        var g = beta == 0 ? [Float](repeating: .nan, count: c.g0.count) : c.g0
        var dp = [Float](repeating: 0, count: l * l)
        let li = Int32(l), hi = Int32(hd), ld3 = Int32(3 * d), ldy = Int32(d)
        c.qkv.withUnsafeBufferPointer { q in c.dy.withUnsafeBufferPointer { dyb in
            probs.withUnsafeMutableBufferPointer { pb in y.withUnsafeMutableBufferPointer { yb in
                g.withUnsafeMutableBufferPointer { gb in dp.withUnsafeMutableBufferPointer { dpb in
                    for i in 0..<n {
                        let base = q.baseAddress! + i * l * 3 * d, gbase = gb.baseAddress! + i * l * 3 * d
                        for h in 0..<c.heads {
                            let p = pb.baseAddress! + (i * c.heads + h) * l * l
                            let qh = base + h * hd, kh = base + d + h * hd, vh = base + 2 * d + h * hd
                            let yh = yb.baseAddress! + i * l * d + h * hd, gh = dyb.baseAddress! + i * l * d + h * hd
                            XCTAssertEqual(sega_sgemm(e, 0, 1, li, li, hi, c.alpha, qh, ld3, kh, ld3, 0, p, li), SEGA_OK)
                            sega_softmax_fwd_mt(e, l, l, p, p)
                            XCTAssertEqual(sega_sgemm(e, 0, 0, li, hi, li, 1, p, li, vh, ld3, 0, yh, Int32(d)), SEGA_OK)
                            _ = sega_sgemm(e, 1, 0, li, hi, li, 1, p, li, gh, ldy, beta, gbase + 2 * d + h * hd, ld3)
                            _ = sega_sgemm(e, 0, 1, li, li, hi, 1, gh, ldy, vh, ld3, 0, dpb.baseAddress!, li)
                            sega_softmax_bwd_inplace(l, l, p, dpb.baseAddress!)
                            _ = sega_sgemm(e, 0, 0, li, hi, li, c.alpha, dpb.baseAddress!, li, kh, ld3, beta, gbase + h * hd, ld3)
                            _ = sega_sgemm(e, 1, 0, li, hi, li, c.alpha, dpb.baseAddress!, li, qh, ld3, beta, gbase + d + h * hd, ld3)
                        }
                    }
                } }
            } }
        } }
        return (probs, y, g)
    }

    /// sega_attention_fwd then _bwd (beta 0 starts from NaNs: every element must be written).
    private func fused(_ c: Case, _ e: OpaquePointer, beta: Float) -> ([Float], [Float], [Float]) {
        var probs = [Float](repeating: 0, count: c.probsCount), y = [Float](repeating: 0, count: c.n * c.l * c.d)
        var g = beta == 0 ? [Float](repeating: .nan, count: c.g0.count) : c.g0
        var dp = [Float](repeating: 0, count: c.l * c.l)
        let (n, l, d, h) = (Int32(c.n), Int32(c.l), Int32(c.d), Int32(c.heads))
        XCTAssertEqual(sega_attention_fwd(e, n, l, d, h, c.alpha, c.qkv, &probs, &y), SEGA_OK)
        XCTAssertEqual(sega_attention_bwd(e, n, l, d, h, c.alpha, c.qkv, probs, c.dy, &dp, beta, &g), SEGA_OK)
        return (probs, y, g)
    }

    private func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }

    /// Every engine (ISA x 1, 2, 3 threads): the split kernels give the bytes of the whole-head
    /// products on the same engine, for beta 0 and 1.
    func testSameBytesAsHeadByHeadProducts() throws {
        var rng = TestRNG(41)
        for isa in KernelEngines.supportedISAs {
            for threads in [1, 2, 3] {
                var e: OpaquePointer? = nil
                XCTAssertEqual(sega_engine_create(Int32(threads), isa, &e), SEGA_OK)
                defer { sega_engine_destroy(e) }
                for s in Self.shapes {
                    let c = makeCase(s, &rng)
                    for beta: Float in [0, 1] {
                        let want = headByHead(c, e!, beta: beta), got = fused(c, e!, beta: beta)
                        let what = "\(String(cString: sega_isa_name(isa)))/\(threads)t \(s) beta \(beta)"
                        XCTAssertEqual(bits(got.0), bits(want.0), "probs, \(what)")
                        XCTAssertEqual(bits(got.1), bits(want.1), "y, \(what)")
                        XCTAssertEqual(bits(got.2), bits(want.2), "dqkv, \(what)")
                    }
                }
            }
        }
    }

    /// 1, 2 and 3 threads give the same bytes (the split depends on the thread count).
    func testSameBytesForAnyThreadCount() throws {
        var rng = TestRNG(42)
        for s in Self.shapes {
            let c = makeCase(s, &rng)
            var results: [([Float], [Float], [Float])] = []
            for threads in [1, 2, 3] {
                var e: OpaquePointer? = nil
                XCTAssertEqual(sega_engine_create(Int32(threads), SEGA_ISA_AUTO, &e), SEGA_OK)
                defer { sega_engine_destroy(e) }
                results.append(fused(c, e!, beta: 1))
            }
            for r in results.dropFirst() {
                XCTAssertEqual(bits(r.0), bits(results[0].0), "\(s)")
                XCTAssertEqual(bits(r.1), bits(results[0].1), "\(s)")
                XCTAssertEqual(bits(r.2), bits(results[0].2), "\(s)")
            }
        }
    }

    /// Against the naive Double reference, relative to each output's scale.
    func testMatchesNaiveReference() throws {
        var rng = TestRNG(43)
        var e: OpaquePointer? = nil
        XCTAssertEqual(sega_engine_create(2, SEGA_ISA_AUTO, &e), SEGA_OK)
        defer { sega_engine_destroy(e) }
        for s in Self.shapes {
            let c = makeCase(s, &rng)
            for beta: Float in [0, 1] {
                let got = fused(c, e!, beta: beta)
                var probs = [Float](repeating: 0, count: c.probsCount), y = [Float](repeating: 0, count: c.n * c.l * c.d)
                var g = beta == 0 ? [Float](repeating: .nan, count: c.g0.count) : c.g0
                var dp = [Float](repeating: 0, count: c.l * c.l)
                let (n, l, d, h) = (Int32(c.n), Int32(c.l), Int32(c.d), Int32(c.heads))
                XCTAssertEqual(sega_attention_fwd_ref(n, l, d, h, c.alpha, c.qkv, &probs, &y), SEGA_OK)
                XCTAssertEqual(sega_attention_bwd_ref(n, l, d, h, c.alpha, c.qkv, probs, c.dy, &dp, beta, &g), SEGA_OK)
                for (name, a, b) in [("probs", got.0, probs), ("y", got.1, y), ("dqkv", got.2, g)] {
                    let scale = b.map { abs($0) }.max()!
                    let err = zip(a, b).map { abs($0 - $1) }.max()!
                    XCTAssertFalse(a.contains { !$0.isFinite }, "\(name) \(s) beta \(beta)")
                    XCTAssertLessThan(err, 2e-5 * max(scale, 1), "\(name) \(s) beta \(beta)")
                }
            }
        }
    }

    func testRefusesBadArguments() {
        var e: OpaquePointer? = nil
        XCTAssertEqual(sega_engine_create(1, SEGA_ISA_AUTO, &e), SEGA_OK)
        defer { sega_engine_destroy(e) }
        var qkv = [Float](repeating: 0, count: 2 * 3 * 6), probs = [Float](repeating: 0, count: 3 * 4)
        var y = [Float](repeating: 0, count: 12), dy = [Float](repeating: 0, count: 12), dp = [Float](repeating: 0, count: 4)
        var g = qkv
        XCTAssertEqual(sega_attention_fwd(e, 1, 2, 6, 3, 1, &qkv, &probs, &y), SEGA_OK)
        XCTAssertEqual(sega_attention_fwd(e, 1, 2, 6, 4, 1, &qkv, &probs, &y), SEGA_ERR_INVALID_ARG)   // 4 heads, d 6
        XCTAssertEqual(sega_attention_fwd(e, 0, 2, 6, 3, 1, &qkv, &probs, &y), SEGA_ERR_INVALID_ARG)
        XCTAssertEqual(sega_attention_fwd(nil, 1, 2, 6, 3, 1, &qkv, &probs, &y), SEGA_ERR_INVALID_ARG)
        XCTAssertEqual(sega_attention_fwd(e, 1, 2, 6, 3, 1, nil, &probs, &y), SEGA_ERR_INVALID_ARG)
        XCTAssertEqual(sega_attention_fwd(e, 1, 70_000, 6, 3, 1, &qkv, &probs, &y), SEGA_ERR_INVALID_ARG)   // l * l > int
        XCTAssertEqual(sega_attention_bwd(e, 1, 2, 6, 3, 1, &qkv, &probs, &dy, &dp, 1, &g), SEGA_OK)
        XCTAssertEqual(sega_attention_bwd(e, 1, 2, 6, 3, 1, &qkv, &probs, &dy, &dp, 0.5, &g), SEGA_ERR_INVALID_ARG)
        XCTAssertEqual(sega_attention_bwd(e, 1, 2, 6, 3, 1, &qkv, &probs, &dy, nil, 0, &g), SEGA_ERR_INVALID_ARG)
        XCTAssertEqual(sega_attention_fwd_ref(1, 2, 6, 4, 1, &qkv, &probs, &y), SEGA_ERR_INVALID_ARG)
        XCTAssertEqual(sega_attention_bwd_ref(1, 2, 6, 3, 1, &qkv, &probs, &dy, &dp, 2, &g), SEGA_ERR_INVALID_ARG)
    }
}
