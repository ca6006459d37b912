import XCTest
@testable import SegaAttack

/// Matching an attack to an SSIM level: inside the eps ball and on the 8-bit grid always, SSIM
/// in [tau, tau + 0.01] (or the attack as it is when already above), deterministic.
final class SSIMMatchTests: XCTestCase {
    let h = 40, w = 48

    /// A clean image on the 8-bit grid: smooth gradients, a flat patch and some texture.
    func clean() -> [Float] {
        var x = [Float](repeating: 0, count: 3 * h * w)
        for c in 0..<3 {
            for y in 0..<h {
                for i in 0..<w {
                    let flat = y < 14 && i < 16
                    let v = flat ? 120 : 50 + y * 2 + i + c * 10 + ((y * 7 + i * 13) % 5) * 3
                    x[c * h * w + y * w + i] = Float(v) / 255
                }
            }
        }
        return x
    }

    /// Perturbations in whole levels within eps (levels), of several kinds.
    func perturbations(_ x: [Float], eps m: Int) -> [(String, [Float])] {
        let n = x.count
        let stream = NoiseStream(seed: 11)
        func apply(_ d: (Int) -> Int) -> [Float] {
            (0..<n).map { i in
                let q = Int((x[i] * 255).rounded()), k = max(-m, min(m, d(i)))
                return Float(min(255, max(0, q + k))) / 255
            }
        }
        return [
            ("signs at +-eps everywhere (I-FGSM, random)", apply { stream.bits(UInt64($0)) >> 63 == 0 ? m : -m }),
            ("varied levels", apply { Int(stream.bits(UInt64($0)) % UInt64(2 * m + 1)) - m }),
            ("sparse", apply { $0 % 7 == 0 ? m : 0 }),
            ("smooth", apply { i in Int((Double(m) * sin(Double(i % w) / 5) * cos(Double(i / w) / 7)).rounded()) }),
        ]
    }

    func ssim(_ a: [Float], _ b: [Float]) -> Double {
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in SSIM.ssim(pa, pb, height: h, width: w) } }
    }

    func match(_ x: [Float], _ adv: [Float], eps: Float, tau: Double) -> (SSIMMatch, [Float], SSIMMatcher) {
        var m = x.withUnsafeBufferPointer { c in adv.withUnsafeBufferPointer { a in SSIMMatcher(clean: c, attacked: a, height: h, width: w, eps: eps) } }
        var out = [Float](repeating: -1, count: x.count)
        let r = out.withUnsafeMutableBufferPointer { m.match(tau: tau, into: $0) }
        return (r, out, m)
    }

    /// Every kind of perturbation, eps 4 and 8 levels, levels from loose to strict: the matched
    /// image is on the grid, each value between the clean and the attacked one (so L-inf never
    /// grows past the attack's, nor past eps), its SSIM (recomputed) is the reported one and lies
    /// in [tau, tau + 0.01]; an attack already above tau comes back unchanged with c = 1.
    func testMatchedImagesStayInTheBallOnTheGridAndInTheWindow() {
        let x = clean()
        var scaled = 0, above = 0
        for m in [4, 8] {
            let eps = Float(m) / 255
            for (kind, adv) in perturbations(x, eps: m) {
                let full = ssim(x, adv)
                for tau in [0.5, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99] {
                    var (r, out, matcher) = match(x, adv, eps: eps, tau: tau)
                    let what = "\(kind), eps \(m), tau \(tau)"
                    XCTAssertTrue(r.c >= 0 && r.c <= 1, what)
                    for i in 0..<x.count {
                        let lv = out[i] * 255
                        XCTAssertEqual(lv, lv.rounded(), accuracy: 1e-3, "\(what): off the grid at \(i)")
                        XCTAssertTrue(out[i] >= min(x[i], adv[i]) && out[i] <= max(x[i], adv[i]), "\(what): value \(i) not between clean and attacked")
                        XCTAssertLessThanOrEqual(abs(out[i] - x[i]), eps + 1e-6, "\(what): outside the eps ball")
                    }
                    XCTAssertEqual(ssim(x, out), r.ssim, accuracy: 1e-12, what)
                    if full >= tau {
                        XCTAssertEqual(r.status, .above, what)
                        XCTAssertEqual(r.c, 1, what)
                        XCTAssertEqual(out, adv, what)
                        above += 1
                    } else {
                        XCTAssertEqual(r.status, .scaled, what)
                        XCTAssertTrue(r.ssim >= tau && r.ssim <= tau + SSIMMatcher.window, "\(what): SSIM \(r.ssim)")
                        XCTAssertLessThan(r.c, 1, what)
                        // Nearly the largest such c: no larger scale tried keeps SSIM within the tolerance
                        // above tau or higher than the match.
                        for larger in stride(from: r.c + 0.03, through: 1, by: 0.03) {
                            let s = matcher.ssim(c: larger)
                            XCTAssertTrue(s < tau + SSIMMatcher.tolerance && s <= r.ssim, "\(what): c \(larger) has SSIM \(s)")
                        }
                        scaled += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(scaled, 10, "the cases must exercise the bisection")
        XCTAssertGreaterThan(above, 3, "and the already-above path")
    }

    /// Pixels with the same level difference step at different scales (the dither): with +-eps
    /// signs everywhere, a small change of c changes few values, so SSIM moves in small steps.
    func testTheDitherSpreadsTheGridSteps() {
        let x = clean()
        let (_, adv) = perturbations(x, eps: 8)[0]
        var m = x.withUnsafeBufferPointer { c in adv.withUnsafeBufferPointer { a in SSIMMatcher(clean: c, attacked: a, height: h, width: w, eps: 8.0 / 255) } }
        var a = [Float](repeating: 0, count: x.count), b = a
        a.withUnsafeMutableBufferPointer { m.render(c: 0.5, into: $0) }
        b.withUnsafeMutableBufferPointer { m.render(c: 0.5 + 1.0 / 64, into: $0) }
        let changed = zip(a, b).filter { $0 != $1 }.count
        XCTAssertGreaterThan(changed, 0)
        XCTAssertLessThan(changed, x.count / 4, "without the dither every value would step together")
        var last = 1.0, biggest = 0.0
        for k in 0...200 {
            let s = m.ssim(c: Double(k) / 200)
            biggest = max(biggest, abs(s - last)); last = s
        }
        XCTAssertLessThan(biggest, SSIMMatcher.window, "SSIM moves by less than the window between neighbouring scales")
        XCTAssertEqual(m.ssim(c: 0), 1, accuracy: 1e-12)
        XCTAssertEqual(m.ssim(c: 1), ssim(x, adv), accuracy: 1e-12)
    }

    /// The same inputs give the same bytes; the result depends on nothing else.
    func testDeterministic() {
        let x = clean()
        let (_, adv) = perturbations(x, eps: 8)[1]
        let (r1, o1, _) = match(x, adv, eps: 8.0 / 255, tau: 0.9)
        let (r2, o2, _) = match(x, adv, eps: 8.0 / 255, tau: 0.9)
        XCTAssertEqual(r1, r2)
        XCTAssertEqual(o1.map(\.bitPattern), o2.map(\.bitPattern))
    }

    /// An attacked image outside the ball (not one an attack writes) is clamped back into it.
    func testALargerPerturbationIsClampedIntoTheBall() {
        let x = clean()
        let (_, adv) = perturbations(x, eps: 16)[0]
        let (r, out, _) = match(x, adv, eps: 4.0 / 255, tau: 0.3)
        XCTAssertEqual(r.status, .above)
        for i in 0..<x.count { XCTAssertLessThanOrEqual(abs(out[i] - x[i]), 4.0 / 255 + 1e-6) }
    }

    /// SSIM needs 11x11: smaller images cannot be matched, and the record says so.
    func testTooSmallForSSIMIsUnreachable() {
        let x = [Float](repeating: 128.0 / 255, count: 3 * 10 * 10)
        let adv = x.map { $0 + 4.0 / 255 }
        var m = x.withUnsafeBufferPointer { c in adv.withUnsafeBufferPointer { a in SSIMMatcher(clean: c, attacked: a, height: 10, width: 10, eps: 4.0 / 255) } }
        var out = [Float](repeating: 0, count: x.count)
        let r = out.withUnsafeMutableBufferPointer { m.match(tau: 0.9, into: $0) }
        XCTAssertEqual(r.status, .unreachable)
        XCTAssertEqual(r.c, 0)
        XCTAssertTrue(r.ssim.isNaN)
        XCTAssertEqual(out, x)
    }

    /// Levels outside (0, 1), NaN, infinities and repeats are refused with a message; the rest
    /// come back sorted.
    func testLevelsAreValidated() throws {
        XCTAssertEqual(try SSIMMatcher.validate([0.95, 0.85, 0.9]), [0.85, 0.9, 0.95])
        XCTAssertEqual(try SSIMMatcher.validate([]), [])
        for bad in [0, 1, -0.1, 1.5, .nan, .infinity, -.infinity] {
            XCTAssertThrowsError(try SSIMMatcher.validate([0.9, bad])) { e in
                XCTAssertTrue("\(e)".contains("SSIM level must be in (0, 1), got"), "\(e)")
            }
        }
        XCTAssertThrowsError(try SSIMMatcher.validate([0.9, 0.85, 0.9])) { e in
            XCTAssertEqual("\(e)", "SSIM level 0.9 is given twice")
        }
    }
}
