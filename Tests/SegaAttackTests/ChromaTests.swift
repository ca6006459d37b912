import XCTest
import MallocCounter
import SegaEngine
import SegaModels
@testable import SegaAttack

/// The chroma budget (--chroma, issue 24): each pixel's change is its luma, within the JND budget
/// eps_i, plus an isoluminant rest within rho = chroma * eps, all within eps; --target-ssim then
/// scales only the luma. Bounds after the 8-bit grid, off values changing nothing, the spend,
/// 1 and 2 threads, allocation, refused values.
final class ChromaTests: XCTestCase {
    let h = 24, w = 32

    func sources(threads: Int = 1) throws -> [PlannedModel] { try fixtureSources(height: h, width: w, threads: threads) }

    func run(_ a: Attacker, _ x: [Float], key: UInt64 = 42) throws -> ([Float], AttackResult) { try runAttack(a, x, key: key) }

    /// SEGA, JND budget, steps of one 8-bit level, no spend.
    func config(chroma: Float) -> AttackConfig {
        var c = AttackConfig()
        c.iterations = 5; c.samples = 2; c.targetSSIM = 0; c.alpha = 1.0 / 255; c.chroma = chroma
        return c
    }

    /// Luma and isoluminant rest of out - x at pixel p, in 8-bit levels.
    func split(_ out: [Float], _ x: [Float], _ p: Int) -> (y: Float, rest: Float) {
        let n = h * w
        let d = (0..<3).map { (out[$0 * n + p] - x[$0 * n + p]) * 255 }
        let y = 0.299 * d[0] + 0.587 * d[1] + 0.114 * d[2]
        return (y, d.map { abs($0 - y) }.max()!)
    }

    /// A smooth colour ramp on the 8-bit grid: flat to the JND models (luma budget a few levels).
    func smoothImage() -> [Float] {
        let n = h * w
        var x = [Float](repeating: 0, count: 3 * n)
        for p in 0..<n {
            let (r, col) = (p / w, p % w)
            for ch in 0..<3 { x[ch * n + p] = Float(90 + 20 * ch + col + r / 2) / 255 }
        }
        return x
    }

    /// Every pixel: luma within eps_i (plus the grid's half level), the rest within rho (plus the
    /// grid's rounding of three channels), every channel within eps in whole 8-bit steps, for a
    /// noisy and a flat image; and on the flat one the rest is used: many pixels' rest is larger
    /// than their whole luma budget.
    func testLumaStaysInTheJNDBudgetAndTheRestInRho() throws {
        _ = try checkBounds(testImage(height: h, width: w, seed: 11), chroma: 0.5)
        // Near white: a channel clipped at 255 would turn the rest into a luma change.
        let n = h * w
        // With the luminance cap at 1 level the luma budget is small, so such a change shows.
        _ = try checkBounds((0..<(3 * n)).map { Float(min(255, 247 + ($0 % w) % 9 + $0 / n)) / 255 }, chroma: 1, cap: 1)
        let on = try checkBounds(smoothImage(), chroma: 1), off = try checkBounds(smoothImage(), chroma: 0)
        XCTAssertGreaterThan(on, h * w / 10, "the chroma budget was not used")
        XCTAssertLessThan(off, on / 10, "without the chroma budget as many pixels exceed their luma budget")
    }

    /// Checks the bounds; returns how many pixels' isoluminant rest exceeds their luma budget + 1 level.
    func checkBounds(_ x: [Float], chroma: Float, cap: Float = 0) throws -> Int {
        var c = config(chroma: chroma)
        c.jndLuminanceCap = cap
        let a = try Attacker(sources: try sources(), config: c)
        let (out, _) = try run(a, x)
        let rho = c.chroma * c.eps * 255
        var beyond = 0
        for p in 0..<(h * w) {
            let epsI = a.lumaRadius[p] * 255
            XCTAssertEqual(a.lastBudget[p], chroma > 0 ? min(c.eps, a.lumaRadius[p] + c.chroma * c.eps) : a.lumaRadius[p], "radius at \(p)")
            let (y, rest) = split(out, x, p)
            XCTAssertLessThanOrEqual(abs(y), epsI + 0.5 + 1e-3, "luma beyond eps_i at \(p)")
            if chroma > 0 { XCTAssertLessThanOrEqual(rest, rho + 1.0 + 1e-3, "rest beyond rho at \(p)") }
            if rest > epsI + 1 { beyond += 1 }
            for ch in 0..<3 {
                let i = ch * h * w + p
                XCTAssertEqual((out[i] * 255).rounded(), out[i] * 255, accuracy: 1e-3, "off the 8-bit grid")
                XCTAssertLessThanOrEqual(abs(out[i] - x[i]), c.eps + 1e-7)
            }
        }
        return beyond
    }

    /// One step on set buffers, away from every bound: each pixel moves by alpha (eps_i / eps) y_s
    /// in luma and alpha (max(eps_i, rho) / eps) (s - y_s) in its rest, s = d sign(g) where M^F
    /// keeps a component and 0 where it drops it (checked in Double against the formula).
    func testStepSplitsLumaAndRest() throws {
        var c = config(chroma: 0.5)
        c.alpha = nil  // eps / 4
        let a = try Attacker(sources: try sources(), config: c)
        let n = h * w
        var rng = SystemRandomNumberGenerator()
        for i in 0..<(3 * n) {
            a.x0[i] = Float(100 + i % 50) / 255; a.x[i] = a.x0[i]
            a.g[i] = Float.random(in: -1...1, using: &rng)
            a.maskF[i] = i % 7 == 0 ? 0 : 1
        }
        for p in 0..<n {
            a.maskJ[p] = 1; a.lumaRadius[p] = Float(1 + p % 8) / 255; a.chromaRadius[p] = c.chroma * c.eps
            a.radius[p] = min(c.eps, a.lumaRadius[p] + c.chroma * c.eps)
        }
        a.chromaStep(-1)
        let wts = [0.299, 0.587, 0.114], eps = Double(c.eps), rho = Double(c.chroma * c.eps), alpha = eps / 4
        for p in 0..<n {
            let s = (0..<3).map { ch -> Double in
                let i = ch * n + p
                return a.maskF[i] == 0 ? 0 : (a.g[i] > 0 ? -1 : (a.g[i] < 0 ? 1 : 0))
            }
            let ys = zip(wts, s).map { $0 * $1 }.reduce(0, +)
            let e = Double(a.lumaRadius[p])
            for ch in 0..<3 {
                let i = ch * n + p
                let want = Double(a.x0[i]) + alpha * e / eps * ys + alpha * max(e, rho) / eps * (s[ch] - ys)
                XCTAssertEqual(Double(a.x[i]), want, accuracy: 1e-6, "pixel \(p) channel \(ch)")
            }
        }
    }

    /// Chroma 0, and chroma with the uniform budget or for a baseline (which have no luma
    /// budget to split from), are the attack without it, byte for byte.
    func testChromaOffOrWithoutTheJNDBudgetChangesNothing() throws {
        let x = testImage(height: h, width: w, seed: 12)
        let a = try Attacker(sources: try sources(), config: config(chroma: 0))
        let (plain, _) = try run(a, x)
        a.config = config(chroma: 0.5)
        XCTAssertNotEqual(try run(a, x).0, plain)
        for change in [{ (c: inout AttackConfig) in c.budget = .uniform }, { $0.method = .mifgsm }] {
            var off = config(chroma: 0), on = config(chroma: 1)
            change(&off); change(&on)
            XCTAssertFalse(on.usesChroma)
            a.config = off
            let (o, _) = try run(a, x)
            a.config = on
            XCTAssertEqual(try run(a, x).0, o)
        }
    }

    /// --target-ssim with the chroma budget: SSIM reached from above within 0.01; the luma radius
    /// becomes min(eps, c eps_i) and the luma stays within it; every channel within eps.
    func testSpendScalesTheLumaUpToTheSimilarity() throws {
        let x = testImage(height: h, width: w, seed: 13)
        var c = config(chroma: 0.5)
        let a = try Attacker(sources: try sources(), config: c)
        let (plain, _) = try run(a, x)
        let base = Array(UnsafeBufferPointer(a.lumaRadius))
        let s0 = x.withUnsafeBufferPointer { xp in plain.withUnsafeBufferPointer { SSIM.ssim(xp, $0, height: h, width: w) } }
        c.targetSSIM = Float(s0 - 0.01)
        a.config = c
        let (out, r) = try run(a, x)
        XCTAssertGreaterThan(r.spent, 1)
        let s = x.withUnsafeBufferPointer { xp in out.withUnsafeBufferPointer { SSIM.ssim(xp, $0, height: h, width: w) } }
        XCTAssertGreaterThanOrEqual(s, Double(c.targetSSIM!) - 1e-9)
        XCTAssertLessThan(s, s0)
        for p in 0..<(h * w) {
            let l = min(c.eps, Float(r.spent) * base[p])
            XCTAssertEqual(a.lumaRadius[p], l, "luma radius at \(p)")
            XCTAssertLessThanOrEqual(abs(split(out, x, p).y), l * 255 + 0.5 + 1e-3, "luma at \(p)")
            for ch in 0..<3 { XCTAssertLessThanOrEqual(abs(out[ch * h * w + p] - x[ch * h * w + p]), c.eps + 1e-7) }
        }
    }

    func testChromaIsByteIdenticalAtOneAndTwoThreadsAndFollowsTheSeed() throws {
        var c = config(chroma: 1)
        c.targetSSIM = 0.8
        let r = try outputsAtOneAndTwoThreads(c, testImage(height: h, width: w, seed: 14), height: h, width: w, otherSeed: 5)
        XCTAssertEqual(r.one, r.two)
        XCTAssertNotEqual(r.reseeded, r.one)
    }

    func testNoHeapAllocationPerIterationWithChroma() throws {
        XCTAssertEqual(sega_malloc_counter_active(), 1)
        let a = try Attacker(sources: try sources(threads: 2), config: AttackConfig())
        let counts = try allocationsPerRun(a, testImage(height: h, width: w, seed: 3)) { iters in
            var c = self.config(chroma: 0.5)
            c.iterations = iters; c.targetSSIM = 0.7
            return c
        }
        XCTAssertEqual(counts[0], counts[1], "heap allocations grow with the iteration count \(counts)")
    }

    func testChromaOutOfRangeIsRefusedWithItsName() throws {
        for (v, message) in [(Float(1.5), "chroma budget must be in [0, 1], got 1.5"), (-0.25, "chroma budget must be in [0, 1], got -0.25"),
                             (.nan, "chroma budget must be in [0, 1], got nan")] {
            var c = AttackConfig()
            c.chroma = v
            XCTAssertThrowsError(try c.validate(), message) { XCTAssertEqual("\($0)", message) }
            XCTAssertThrowsError(try Attacker(sources: try sources(), config: c))
        }
    }
}
