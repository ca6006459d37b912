// GeluSimdKernelTests.swift - GELU's explicit AVX2 and AVX-512 kernels (eltwise.c: gelu_cdf8 /
// gelu_cdf16, masked range ends) against double precision, x Phi(x) with Phi(x) =
// erfc(-x / sqrt 2) / 2 and the derivative Phi(x) + x phi(x): a dense sweep over [-20, 20], random
// values, values near 0, +-0, denormals, +-inf, NaN; every length 1...40 and 1000 at odd element
// offsets with guards on both sides; in place against out of place; the backward's accumulation;
// the threaded kernels at 1, 2 and 3 threads against the single-thread ones. The portable loop is
// EltwiseKernelTests' business.
import XCTest
import CSupport

fileprivate func phiD(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
fileprivate func pdfD(_ x: Double) -> Double { exp(-0.5 * x * x) / (2 * Double.pi).squareRoot() }

final class GeluSimdKernelTests: XCTestCase {
    private let lengths = Array(1...40) + [1000]
    /// (x offset, y offset) in elements: aligned, then odd offsets for both pointers.
    private let offsets = [(0, 0), (1, 3), (3, 1), (5, 5)]

    /// Special values and values near the pieces' seam (|x| = 1/sqrt 2) and the clamps.
    private static let specials: [Float] = [
        .nan, .infinity, -.infinity, 0, -0.0, 0x1p-133, -0x1p-133, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
        1e-30, -1e-30, 1e-7, -1e-7, 0.70710677, -0.70710677, 0.7071068, -0.7071068, 14.142135, -14.142135,
        -13.3, -14.5, 20, -20, 20.5, -20.5, 1e30, -1e30, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]

    /// `n` inputs: random in [-scale, scale], with the special values spread through them.
    private static func inputs(_ n: Int, _ rng: inout TestRNG, scale: Float = 8) -> [Float] {
        var x = rng.unitSigneds(n, scale: scale)
        for i in 0..<n where rng.next() % 5 == 0 { x[i] = specials[Int(rng.next() % UInt64(specials.count))] }
        return x
    }

    /// The forward against double: NaN for NaN and -inf, inf for inf, +-0 with x's sign for x = +-0,
    /// else within 8e-7 relative plus 2e-44 (a few denormal steps in the lower tail).
    private func assertForward(_ y: [Float], _ x: [Float], _ msg: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        for i in 0..<x.count {
            let v = x[i], ok: Bool
            if v.isNaN || v == -.infinity {
                ok = y[i].isNaN
            } else if v == .infinity {
                ok = y[i] == .infinity
            } else if v == 0 {
                ok = y[i].bitPattern == v.bitPattern
            } else {
                let r = Double(v) * phiD(Double(v))
                ok = Swift.abs(Double(y[i]) - r) <= 8e-7 * Swift.abs(r) + 2e-44
            }
            if !ok {
                XCTFail("\(msg) [\(i)]: gelu(\(v)) = \(y[i]), double \(Double(v) * phiD(Double(v)))", file: file, line: line)
                return
            }
        }
    }

    /// The backward's dx = dx0 + dy (Phi(x) + x phi(x)) against double: within 1e-6 of
    /// |dy| (Phi + |x| phi) (the derivative is 0 near x = -0.75) plus an ulp of dx0, plus
    /// |dy| (1 + |x|) 1.5e-45 (exp(-x^2 / 2) is a denormal, rounded to a step of 1.4e-45, beyond
    /// |x| = 13.2, as in the portable loop); NaN exactly where x is not finite (x phi(x) is inf * 0
    /// there, as in the portable loop).
    private func assertBackward(_ dx: [Float], _ x: [Float], _ dy: [Float], _ dx0: [Float], _ msg: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        for i in 0..<x.count {
            let v = x[i], ok: Bool
            if !v.isFinite {
                ok = dx[i].isNaN
            } else {
                let d = Double(v), cdf = phiD(d), pdf = pdfD(d)
                let r = Double(dx0[i]) + Double(dy[i]) * (cdf + d * pdf)
                let tol = 1e-6 * Swift.abs(Double(dy[i])) * (cdf + Swift.abs(d) * pdf) + 1.2e-7 * Swift.abs(Double(dx0[i]))
                    + 1.5e-45 * Swift.abs(Double(dy[i])) * (1 + Swift.abs(d)) + 1e-44
                ok = Swift.abs(Double(dx[i]) - r) <= tol
            }
            if !ok {
                XCTFail("\(msg) [\(i)]: x \(v) dy \(dy[i]) dx0 \(dx0[i]) -> \(dx[i])", file: file, line: line)
                return
            }
        }
    }


    func testForwardMatchesDoubleAtEveryLengthAndOffset() {
        let keep = KernelEngines.simd(), list = keep.list
        defer { withExtendedLifetime(keep) {} }
        XCTAssertFalse(list.isEmpty && sega_cpu_supports(SEGA_ISA_AVX2) != 0)
        var rng = TestRNG(1251)
        for n in lengths {
            let x = Self.inputs(n, &rng)
            for (name, e) in list {
                var first: [Float]? = nil
                for (xo, yo) in offsets {
                    let msg = "\(name) n \(n) offsets \(xo),\(yo)"
                    let y = placed(x, xOff: xo, yOff: yo, msg) { sega_gelu_fwd(e, n, $0, $1) }
                    assertForward(y, x, msg)
                    // An element's bits depend on neither the pointers nor in place.
                    if let f = first { XCTAssertTrue(bitEqual(y, f), "bits depend on the offsets: \(msg)") } else { first = y }
                    let inp = placed(x, xOff: yo, yOff: yo, inPlace: true, msg) { sega_gelu_fwd(e, n, $0, $1) }
                    XCTAssertTrue(bitEqual(inp, y), "in place \(msg)")
                }
            }
        }
    }

    func testBackwardAccumulatesAtEveryLengthAndOffset() {
        let keep = KernelEngines.simd(), list = keep.list
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(1252)
        for n in lengths {
            let x = Self.inputs(n, &rng), dy = rng.unitSigneds(n, scale: 2), dx0 = rng.unitSigneds(n, scale: 3)
            for (name, e) in list {
                var first: [Float]? = nil
                for (xo, yo) in offsets {
                    let msg = "\(name) n \(n) offsets \(xo),\(yo)"
                    // dy at the x offset + 2 (a third alignment).
                    var dyb = [Float](repeating: 1000, count: xo + 2 + n + 40)
                    dyb.replaceSubrange(xo + 2..<xo + 2 + n, with: dy)
                    let dx = dyb.withUnsafeBufferPointer { dp in
                        placed(x, xOff: xo, yOff: yo, y0: dx0, msg) { sega_gelu_bwd(e, n, $0, dp.baseAddress! + xo + 2, $1) }
                    }
                    assertBackward(dx, x, dy, dx0, msg)
                    if let f = first { XCTAssertTrue(bitEqual(dx, f), "bits depend on the offsets: \(msg)") } else { first = dx }
                }
            }
        }
    }

    /// x from -20 to 20 in steps of 1/4096 (both pieces, their seam, the lower tail into the
    /// denormals), random values over [-30, 30], values near 0 and the special values.
    func testDenseSweepForwardAndBackward() {
        let keep = KernelEngines.simd(), list = keep.list
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(1253)
        var x = (-81920...81920).map { Float($0) / 4096 }
        x += rng.unitSigneds(20_000, scale: 30)
        x += (0..<2000).map { _ in rng.unitSigned() * 1e-3 }
        x += (0..<200).map { _ in Float(sign: rng.next() & 1 == 0 ? .plus : .minus, exponent: -Int(rng.next() % 150), significand: 1.5) }
        x += Self.specials
        let n = x.count
        let dy = rng.unitSigneds(n, scale: 2)
        for (name, e) in list {
            var y = [Float](repeating: 7, count: n)
            sega_gelu_fwd(e, n, x, &y)
            assertForward(y, x, "sweep \(name)")
            var dx = [Float](repeating: 0, count: n)
            sega_gelu_bwd(e, n, x, dy, &dx)
            assertBackward(dx, x, dy, [Float](repeating: 0, count: n), "sweep bwd \(name)")
            XCTAssertTrue(y.contains { $0 != 0 && $0.isSubnormal }, "denormal outputs \(name)")
            // Exact values: gelu(-inf) NaN, gelu(inf) inf, -0 kept, gelu(-20) = -0, gelu(20) = 20.
            var s = [Float](repeating: 7, count: 6)
            sega_gelu_fwd(e, 6, [-.infinity, .infinity, -0.0, -20, 20, .nan], &s)
            XCTAssertTrue(s[0].isNaN && s[5].isNaN, name)
            XCTAssertEqual(s[1], .infinity, name)
            XCTAssertTrue(s[2] == 0 && s[2].sign == .minus && s[3] == 0 && s[3].sign == .minus, name)
            XCTAssertEqual(s[4], 20, name)
        }
    }

    /// sega_gelu_{fwd,bwd}_mt on 1, 2 and 3 threads (odd offsets, and the forward in place) give
    /// the single-thread kernel's bytes at the same ISA.
    func testThreadedIsTheSingleThreadKernel() {
        var rng = TestRNG(1254)
        let keep = [1, 2, 3].map { KernelEngines.simd(threads: $0) }, single = KernelEngines.simd()
        let byThreads = keep.map(\.list)
        defer { withExtendedLifetime((keep, single)) {} }
        for n in [1, 17, 1000, 40_001, 100_003] {
            let x = Self.inputs(n, &rng), dy = rng.unitSigneds(n, scale: 2), dx0 = rng.unitSigneds(n, scale: 3)
            for (k, (name, e1)) in single.list.enumerated() {
                var want = [Float](repeating: 7, count: n)
                sega_gelu_fwd(e1, n, x, &want)
                var wantDx = dx0
                sega_gelu_bwd(e1, n, x, dy, &wantDx)
                for list in byThreads {
                    let (tname, et) = list[k]
                    let msg = "\(name) vs \(tname) n \(n)"
                    let y = placed(x, xOff: 1, yOff: 3, msg) { sega_gelu_fwd_mt(et, n, $0, $1) }
                    XCTAssertTrue(bitEqual(y, want), "threaded \(msg)")
                    let inp = placed(x, xOff: 5, yOff: 5, inPlace: true, msg) { sega_gelu_fwd_mt(et, n, $0, $1) }
                    XCTAssertTrue(bitEqual(inp, want), "threaded in place \(msg)")
                    let dx = placed(x, xOff: 3, yOff: 1, y0: dx0, msg) { sega_gelu_bwd_mt(et, n, $0, dy, $1) }
                    XCTAssertTrue(bitEqual(dx, wantDx), "threaded bwd \(msg)")
                }
            }
        }
    }
}
