import XCTest
import MallocCounter
import SegaEngine
import SegaModels
@testable import SegaAttack

/// SEGA with input diversity (--sega-di p, issue 24): each noisy sample x + sigma u is, with
/// probability p, DI-transformed, and its gradient mapped back by the transpose. Checked against
/// DI-MI-FGSM (one sample, no noise: the same transform and step), the estimate by hand, call
/// counts, the budget and grid, 1 and 2 threads, allocation, refused values.
final class SegaDITests: XCTestCase {
    let h = 24, w = 32

    func sources(threads: Int = 1) throws -> [PlannedModel] { try fixtureSources(height: h, width: w, threads: threads) }

    /// SEGA with the uniform budget, no M^F, no spend: one step is alpha d sign(g) exactly as
    /// DI-MI-FGSM's first step (its momentum starts at g / |g|_1, the same signs).
    func plain(_ p: Float) -> AttackConfig {
        var c = AttackConfig()
        c.iterations = 1; c.samples = 1; c.sigma = 0; c.segaDI = p
        c.maskQuantile = 0; c.budget = .uniform; c.targetSSIM = 0; c.chroma = 0
        return c
    }

    /// With sigma 0 and one sample, SEGA-DI's step is DI-MI-FGSM's (the transform drawn from the
    /// same stream), byte for byte, at p 1 and p 0.5; at p 1 it differs from SEGA without DI.
    func testOneNoiselessSampleIsDIMIFGSMsFirstStep() throws {
        let x = testImage(height: h, width: w, seed: 31)
        let a = try Attacker(sources: try sources(), config: plain(1))
        for p: Float in [1, 0.5] {
            a.config = plain(p)
            let (sega, _) = try runAttack(a, x)
            var d = plain(0)
            d.method = .diMifgsm; d.diProbability = p; d.diSamples = 1; d.diResize = AttackConfig.segaDIResize
            a.config = d
            let (di, _) = try runAttack(a, x)
            XCTAssertEqual(sega, di, "p \(p)")
        }
        a.config = plain(0)
        let (none, _) = try runAttack(a, x)
        a.config = plain(1)
        XCTAssertNotEqual(try runAttack(a, x).0, none, "DI at p 1 changed nothing")
    }

    /// The estimate itself, sigma > 0 and two samples: g = sum_k w_k sum_n T_n^T grad f_k(T_n(x + sigma u_n))
    /// rebuilt by hand from the same draws (the transform from the sample's stream, the noise from
    /// its own), against the attacker's ensemble gradient.
    func testEstimateIsTheTransposedGradientOfTheTransformedNoisySample() throws {
        var c = plain(1)
        c.sigma = 0.05; c.samples = 2
        let srcs = try sources()
        let a = try Attacker(sources: srcs, config: c)
        let x = testImage(height: h, width: w, seed: 32), n = x.count
        for i in 0..<n { a.x[i] = x[i] }
        _ = a.ensembleGradient(into: a.g, samples: 2, noise: .gaussianDiverse(c.sigma, 1, AttackConfig.segaDIResize),
                               iteration: 0, key: 7)
        let got = Array(a.g)
        var sums = [[Float]](repeating: [Float](repeating: 0, count: n), count: srcs.count)
        let t = DiverseInput(height: h, width: w)
        for s in 0..<2 {
            let stream = NoiseStream(seed: c.seed, 7, 0, UInt64(s))
            t.draw(stream, probability: 1, resize: AttackConfig.segaDIResize)
            var u = [Float](repeating: 0, count: n)
            u.withUnsafeMutableBufferPointer { NoiseStream(seed: stream.key, 1).fillGaussian($0) }
            let noisy = (0..<n).map { x[$0] + c.sigma * u[$0] }
            var tx = [Float](repeating: 0, count: n)
            noisy.withUnsafeBufferPointer { np in tx.withUnsafeMutableBufferPointer { t.apply(np.baseAddress!, into: $0.baseAddress!) } }
            for (k, src) in srcs.enumerated() {
                let gy = tx.withUnsafeMutableBufferPointer { Array(src.scoreAndGradientOfInput(at: $0).1) }
                gy.withUnsafeBufferPointer { gp in sums[k].withUnsafeMutableBufferPointer { t.addAdjoint(gp.baseAddress!, into: $0.baseAddress!) } }
            }
        }
        var want = [Float](repeating: 0, count: n)
        for k in 0..<srcs.count {
            let m = sums[k].reduce(0.0) { $0 + Double(abs($1)) } / Double(n) / 2
            let wk = Float(1.0 / Double(2 * srcs.count) / m)
            for i in 0..<n { want[i] += wk * sums[k][i] }
        }
        let scale = want.map { abs($0) }.max()!
        for i in 0..<n { XCTAssertEqual(got[i], want[i], accuracy: 1e-5 * scale, "component \(i)") }
    }

    /// K N gradient calls per iteration, as SEGA; every value within eps_i (JND budget, chroma
    /// off) and eps, on the 8-bit grid.
    func testCallsBudgetAndGrid() throws {
        var c = AttackConfig()
        c.iterations = 2; c.samples = 3; c.segaDI = 0.7; c.chroma = 0; c.targetSSIM = 0
        let srcs = try sources()
        let a = try Attacker(sources: srcs, config: c)
        let x = testImage(height: h, width: w, seed: 33)
        let (out, r) = try runAttack(a, x)
        XCTAssertEqual(r.gradientCalls, 2 * 3 * srcs.count)
        XCTAssertEqual(r.gradientCalls, srcs.map(\.gradientPasses).reduce(0, +))
        XCTAssertEqual(AttackMethod.sega.gradientCalls(sources: srcs.count, config: c), 3 * srcs.count)
        for p in 0..<(h * w) {
            for ch in 0..<3 {
                let i = ch * h * w + p
                XCTAssertEqual((out[i] * 255).rounded(), out[i] * 255, accuracy: 1e-3, "off the 8-bit grid")
                XCTAssertLessThanOrEqual(abs(out[i] - x[i]), a.lastBudget[p] + 1e-7, "beyond eps_i at \(p)")
                XCTAssertLessThanOrEqual(abs(out[i] - x[i]), c.eps + 1e-7)
            }
        }
    }

    func testSegaDIIsByteIdenticalAtOneAndTwoThreadsAndFollowsTheSeed() throws {
        var c = AttackConfig()
        c.iterations = 2; c.samples = 2; c.segaDI = 0.5
        let r = try outputsAtOneAndTwoThreads(c, testImage(height: h, width: w, seed: 34), height: h, width: w, otherSeed: 9)
        XCTAssertEqual(r.one, r.two)
        XCTAssertNotEqual(r.reseeded, r.one)
    }

    func testNoHeapAllocationPerIterationWithSegaDI() throws {
        XCTAssertEqual(sega_malloc_counter_active(), 1)
        let a = try Attacker(sources: try sources(threads: 2), config: AttackConfig())
        let counts = try allocationsPerRun(a, testImage(height: h, width: w, seed: 35)) { iters in
            var c = AttackConfig()
            c.iterations = iters; c.samples = 2; c.segaDI = 1
            return c
        }
        XCTAssertEqual(counts[0], counts[1], "heap allocations grow with the iteration count \(counts)")
    }

    func testSegaDIOutOfRangeIsRefusedWithItsName() throws {
        for (v, message) in [(Float(1.5), "SEGA DI must be in [0, 1], got 1.5"), (-0.25, "SEGA DI must be in [0, 1], got -0.25"),
                             (.nan, "SEGA DI must be in [0, 1], got nan")] {
            var c = AttackConfig()
            c.segaDI = v
            XCTAssertThrowsError(try c.validate(), message) { XCTAssertEqual("\($0)", message) }
            XCTAssertThrowsError(try Attacker(sources: try sources(), config: c))
        }
    }
}
