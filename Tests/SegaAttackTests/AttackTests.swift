import XCTest
import MallocCounter
import SegaEngine
import SegaModels
@testable import SegaAttack

// MARK: - Helpers

/// The repository root, found from this file's path.
let repoRoot: String = {
    var p = #filePath
    for _ in 0..<3 { p = String(p[..<p.lastIndex(of: "/")!]) }
    return p
}()

func loadFixture(_ name: String) throws -> any IQAArchitecture {
    try ModelZoo.load(path: "\(repoRoot)/Tests/Fixtures/\(name).safetensors")
}

/// The fixture sources (cnniqa and lite0 unless named) planned with gradients for h x w.
func fixtureSources(height h: Int, width w: Int, threads: Int = 1, names: [String] = ["cnniqa", "lite0"]) throws -> [PlannedModel] {
    let ctx = try Context(threads: threads)
    return try names.map { try PlannedModel(loadFixture($0), name: $0, context: ctx, height: h, width: w, withGradient: true) }
}

/// One run of `a` on `x`: the attacked image and the result.
func runAttack(_ a: Attacker, _ x: [Float], key: UInt64 = 42) throws -> ([Float], AttackResult) {
    var out = [Float](repeating: 0, count: x.count)
    let r = try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try a.run(image: xp, key: key, into: $0) } }
    return (out, r)
}

/// Heap allocations of one run of `a` on `x` with `config(iterations)`, after a warm-up run, for
/// each iteration count: equal counts mean nothing is allocated per iteration.
func allocationsPerRun(_ a: Attacker, _ x: [Float], iterations: [Int] = [1, 3],
                       config: (Int) -> AttackConfig) throws -> [UInt64] {
    var counts: [UInt64] = []
    for iters in iterations {
        a.config = config(iters)
        _ = try runAttack(a, x)
        sega_malloc_counter_start()
        _ = try runAttack(a, x)
        counts.append(sega_malloc_counter_stop())
    }
    return counts
}

/// The attack of `c` on `x` with the fixture sources at 1 and at 2 engine threads, and at 1
/// thread with seed `otherSeed`.
func outputsAtOneAndTwoThreads(_ c: AttackConfig, _ x: [Float], height h: Int, width w: Int,
                               otherSeed: UInt64) throws -> (one: [Float], two: [Float], reseeded: [Float]) {
    let one = try runAttack(try Attacker(sources: try fixtureSources(height: h, width: w, threads: 1), config: c), x).0
    let two = try runAttack(try Attacker(sources: try fixtureSources(height: h, width: w, threads: 2), config: c), x).0
    var d = c
    d.seed = otherSeed
    let re = try runAttack(try Attacker(sources: try fixtureSources(height: h, width: w, threads: 1), config: d), x).0
    return (one, two, re)
}

/// Luma and the largest channel of the isoluminant rest of out - x at pixel p of a planar image
/// of n pixels, in 8-bit levels (Rec. 601 luma, as the chroma budget splits a change).
func lumaAndRest(_ out: [Float], _ x: [Float], _ p: Int, pixels n: Int) -> (y: Float, rest: Float) {
    let d = (0..<3).map { (out[$0 * n + p] - x[$0 * n + p]) * 255 }
    let y = 0.299 * d[0] + 0.587 * d[1] + 0.114 * d[2]
    return (y, d.map { abs($0 - y) }.max()!)
}

/// A deterministic image on the 8-bit grid: smooth gradients plus hashed texture.
func testImage(height h: Int, width w: Int, seed: UInt64) -> [Float] {
    var out = [Float](repeating: 0, count: 3 * h * w)
    let s = NoiseStream(seed: seed)
    for c in 0..<3 {
        for y in 0..<h {
            for x in 0..<w {
                let i = (c * h + y) * w + x
                let base = 0.25 + 0.5 * Double(x + 2 * y + 7 * c) / Double(w + 2 * h + 14)
                let v = base + 0.2 * (s.uniform(UInt64(i)) - 0.5)
                out[i] = Float((min(max(v, 0), 1) * 255).rounded()) / 255
            }
        }
    }
    return out
}

final class AttackTests: XCTestCase {
    let h = 24, w = 32

    func sources(threads: Int = 1, names: [String] = ["cnniqa", "lite0"]) throws -> [PlannedModel] {
        let ctx = try Context(threads: threads)
        return try names.map { try PlannedModel(loadFixture($0), name: $0, context: ctx, height: h, width: w, withGradient: true) }
    }

    func attack(_ cfg: AttackConfig, threads: Int = 1, image seed: UInt64 = 1) throws -> ([Float], AttackResult) {
        let a = try Attacker(sources: try sources(threads: threads), config: cfg)
        let x = testImage(height: h, width: w, seed: seed)
        var out = [Float](repeating: 0, count: x.count)
        let r = try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try a.run(image: xp, key: 42, into: $0) } }
        return (out, r)
    }

    // MARK: budget

    /// ||x_adv - x||_inf <= eps for every method, over budgets that are and are not whole
    /// 8-bit steps; outputs stay on the 8-bit grid and in [0, 1].
    func testEveryMethodStaysInTheBallAndOnTheGrid() throws {
        let x = testImage(height: h, width: w, seed: 1)
        for m in AttackMethod.allCases {
            for eps: Float in [1.0 / 255, 2.5 / 255, 8.0 / 255, 0.1] {
                var c = AttackConfig()
                c.method = m; c.eps = eps; c.iterations = 3; c.samples = 2; c.vtSamples = 2
                c.maskQuantile = m == .sega ? 0.3 : 0; c.jndThreshold = m == .sega ? 4 : 0
                let (out, r) = try attack(c)
                var linf: Float = 0, steps = 0
                let allowed = Int((eps * 255).nextUp.rounded(.down))
                for i in 0..<x.count {
                    linf = max(linf, abs(out[i] - x[i]))
                    steps = max(steps, abs(Int((out[i] * 255).rounded()) - Int((x[i] * 255).rounded())))
                    XCTAssertTrue(out[i] >= 0 && out[i] <= 1)
                    XCTAssertEqual((out[i] * 255).rounded(), out[i] * 255, accuracy: 1e-3, "\(m): off the 8-bit grid")
                }
                // In the 8-bit values the PNG stores the bound is exact; as floats k/255 carries
                // one rounding of its own (|k/255 - k0/255| may exceed Float(8/255) by an ulp).
                XCTAssertLessThanOrEqual(steps, allowed, "\(m) eps \(eps * 255)/255 in 8-bit steps")
                XCTAssertLessThanOrEqual(linf, eps + 1e-7, "\(m) eps \(eps * 255)/255")
                if eps >= 1.0 / 255 && m != .sega { XCTAssertGreaterThan(linf, 0, "\(m) did not move the image") }
                XCTAssertEqual(r.gradientCalls, c.iterations * m.gradientCalls(sources: 2, config: c), "\(m)")
            }
        }
    }

    // MARK: determinism

    func testSameSeedSameBytesAndThreadCountDoesNotMatter() throws {
        var c = AttackConfig()
        c.iterations = 3; c.samples = 2; c.maskQuantile = 0.2; c.jndThreshold = 3
        for m in [AttackMethod.sega, .vt, .random] {
            c.method = m
            let (a, ra) = try attack(c, threads: 1)
            let (b, rb) = try attack(c, threads: 1)
            let (t2, r2) = try attack(c, threads: 2)
            XCTAssertEqual(a, b, "\(m): same seed, different output")
            XCTAssertEqual(a, t2, "\(m): 1 and 2 threads differ")
            XCTAssertEqual(ra.scoresAfter, rb.scoresAfter)
            XCTAssertEqual(ra.scoresAfter, r2.scoresAfter)
            var c2 = c
            c2.seed = 99
            let (d, _) = try attack(c2)
            if m != .vt { XCTAssertNotEqual(a, d, "\(m): another seed gave the same output") }
        }
    }

    // MARK: direction

    /// White-box sanity: I-FGSM on the source itself moves its score the chosen way.
    func testDirectionMovesTheSourceScore() throws {
        for d in [AttackDirection.up, .down] {
            var c = AttackConfig()
            c.method = .ifgsm; c.direction = d; c.iterations = 5; c.eps = 8.0 / 255
            let (_, r) = try attack(c)
            XCTAssertEqual(r.direction, d == .up ? 1 : -1)
            if d == .up { XCTAssertGreaterThan(r.scoresAfter[0], r.scoresBefore[0]) } else { XCTAssertLessThan(r.scoresAfter[0], r.scoresBefore[0]) }
        }
    }

    // MARK: masks

    func testMaskQuantileKeepsTheTopComponents() throws {
        var c = AttackConfig()
        c.iterations = 1; c.samples = 1; c.maskQuantile = 0.75
        let (_, r) = try attack(c)
        XCTAssertEqual(r.maskFKept, 0.25, accuracy: 0.02)
        XCTAssertEqual(r.maskJNDKept, 1)
        c.jndThreshold = 1e6
        let (out, r2) = try attack(c)
        XCTAssertEqual(r2.maskJNDKept, 0)
        XCTAssertEqual(out, testImage(height: h, width: w, seed: 1), "an all-zero JND mask must leave the image unchanged")
    }

    /// M^F's agreement rule against the sources' own gradients: with sigma 0 and N 1 the smoothed
    /// gradient is the plain gradient at x, so with two sources "all agree" keeps exactly the
    /// components where g_1 g_2 > 0, and "half agree" every component where g is not zero.
    func testMaskAgreementKeepsComponentsWhereTheSourcesAgree() throws {
        let srcs = try sources()
        let x = testImage(height: h, width: w, seed: 1)
        var grads: [[Float]] = []
        for s in srcs {
            var xb = x
            let g = xb.withUnsafeMutableBufferPointer { s.scoreAndGradientOfInput(at: $0).1 }
            grads.append(Array(g))
        }
        var c = AttackConfig()
        c.iterations = 1; c.samples = 1; c.sigma = 0; c.maskAgreement = 1; c.maskQuantile = 0  // the agreement rule alone
        let a = try Attacker(sources: srcs, config: c)
        var out = [Float](repeating: 0, count: x.count)
        _ = try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try a.run(image: xp, key: 42, into: $0) } }
        let expectAll = (0..<x.count).map { grads[0][$0] * grads[1][$0] > 0 ? Float(1) : 0 }
        XCTAssertEqual(Array(a.lastMaskF), expectAll)
        let kept = expectAll.reduce(0, +) / Float(x.count)
        XCTAssertGreaterThan(kept, 0.05, "the sources never agree: the test image is degenerate")
        XCTAssertLessThan(kept, 0.95, "the sources always agree: the rule is not exercised")
        a.config.maskAgreement = 0.5
        _ = try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try a.run(image: xp, key: 42, into: $0) } }
        let nonzero = (0..<x.count).map { grads[0][$0] != 0 || grads[1][$0] != 0 ? Float(1) : 0 }
        XCTAssertEqual(Array(a.lastMaskF), nonzero)
        a.config.maskAgreement = 1.5
        XCTAssertThrowsError(try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try a.run(image: xp, key: 42, into: $0) } })
    }

    /// Antithetic SEGA with N 2 on one source: the estimate is (grad f(x + sigma u) + grad f(x - sigma u))
    /// with u the first sample's stream, divided by its mean |.| (normalisation); independent
    /// sampling differs (the second sample has its own stream).
    func testAntitheticPairsUseTheNegatedNoise() throws {
        let srcs = try sources(names: ["lite0"])
        let s = srcs[0]
        let x = testImage(height: h, width: w, seed: 3)
        let sigma: Float = 0.05
        var u = [Float](repeating: 0, count: x.count)
        u.withUnsafeMutableBufferPointer { NoiseStream(seed: 0, 42, 0, 0).fillGaussian($0) }
        var sum = [Float](repeating: 0, count: x.count)
        for sg in [sigma, -sigma] {
            var xb = (0..<x.count).map { x[$0] + sg * u[$0] }
            let g = xb.withUnsafeMutableBufferPointer { s.scoreAndGradientOfInput(at: $0).1 }
            for i in 0..<x.count { sum[i] += g[i] }
        }
        let m = sum.reduce(0) { $0 + Double(abs($1)) } / Double(x.count)
        XCTAssertGreaterThan(m, 0)
        var c = AttackConfig()
        c.iterations = 1; c.samples = 2; c.sigma = sigma; c.antithetic = true
        let a = try Attacker(sources: srcs, config: c)
        var out = [Float](repeating: 0, count: x.count)
        _ = try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try a.run(image: xp, key: 42, into: $0) } }
        var worst: Float = 0
        for i in 0..<x.count { worst = max(worst, abs(a.g[i] - Float(Double(sum[i]) / m))) }
        XCTAssertLessThan(worst, 1e-4, "antithetic estimate differs from the pair computed by hand")
        a.config.antithetic = false
        _ = try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try a.run(image: xp, key: 42, into: $0) } }
        worst = 0
        for i in 0..<x.count { worst = max(worst, abs(a.g[i] - Float(Double(sum[i]) / m))) }
        XCTAssertGreaterThan(worst, 1e-2, "independent sampling should not reproduce the antithetic pair")
    }

    func testQuickselectMatchesSorting() {
        var rng = NoiseStream(seed: 5)
        for n in [1, 2, 3, 10, 101, 1000] {
            var v = (0..<n).map { Float(rng.bits(UInt64($0)) % 17) }  // many ties
            let sorted = v.sorted()
            for k in Set([0, n / 3, n / 2, n - 1]) {
                var c = v
                let got = c.withUnsafeMutableBufferPointer { Attacker.select($0, k) }
                XCTAssertEqual(got, sorted[k], "n \(n) k \(k)")
            }
            v.removeAll()
            rng = NoiseStream(seed: UInt64(n))
        }
    }

    // MARK: allocation

    /// All allocation happens once per run (result arrays), none per iteration: a run of 1 and a
    /// run of 4 iterations allocate the same number of times.
    func testNoHeapAllocationPerIteration() throws {
        XCTAssertEqual(sega_malloc_counter_active(), 1)
        let a = try Attacker(sources: try sources(threads: 2), config: AttackConfig())
        let x = testImage(height: h, width: w, seed: 3)
        var out = [Float](repeating: 0, count: x.count)
        for m in AttackMethod.allCases {
            var counts: [UInt64] = []
            for iters in [1, 4] {
                var c = AttackConfig()
                c.method = m; c.iterations = iters; c.samples = 2; c.vtSamples = 2; c.maskQuantile = 0.5; c.jndThreshold = 3
                a.config = c
                try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { _ = try a.run(image: xp, key: 1, into: $0) } }
                sega_malloc_counter_start()
                try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { _ = try a.run(image: xp, key: 1, into: $0) } }
                counts.append(sega_malloc_counter_stop())
            }
            XCTAssertEqual(counts[0], counts[1], "\(m): heap allocations grow with the iteration count \(counts)")
        }
    }

    // MARK: bad input

    func testBadSettingsAndImagesAreRefused() throws {
        var c = AttackConfig()
        c.eps = -1
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("eps must be in [1/255, 1]"), "\($0)") }
        c.eps = 0.9 / 255  // below one 8-bit step: no pixel could change
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("eps must be in [1/255, 1], got"), "\($0)") }
        c.eps = 1.0 / 255
        XCTAssertNoThrow(try c.validate())
        c.eps = 2
        XCTAssertThrowsError(try c.validate())
        c = AttackConfig(); c.eps = .nan
        XCTAssertThrowsError(try c.validate())
        c = AttackConfig(); c.segaMomentum = -1
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("SEGA momentum must be >= 0"), "\($0)") }
        let a = try Attacker(sources: try sources(), config: AttackConfig())
        var x = testImage(height: h, width: w, seed: 1)
        x[5] = .nan
        var out = [Float](repeating: 0, count: x.count)
        XCTAssertThrowsError(try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try a.run(image: xp, key: 0, into: $0) } }) {
            XCTAssertTrue("\($0)".contains("not a finite value"), "\($0)")
        }
        let small = [Float](repeating: 0.5, count: 3 * 4 * 4)
        XCTAssertThrowsError(try small.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try a.run(image: xp, key: 0, into: $0) } })
        XCTAssertThrowsError(try Attacker(sources: [], config: AttackConfig()))
    }

    // MARK: noise

    /// FNV-1a 64 against the published test vectors; chunked input gives the same hash.
    func testFNV1aVectors() {
        XCTAssertEqual(NoiseStream.key(for: ""), 0xCBF2_9CE4_8422_2325)
        XCTAssertEqual(NoiseStream.key(for: "a"), 0xAF63_DC4C_8601_EC8C)
        XCTAssertEqual(NoiseStream.key(for: "foobar"), 0x8594_4171_F739_67E8)
        let bytes = Array("foobar".utf8)
        XCTAssertEqual(NoiseStream.fnv1a(bytes[3...], continuing: NoiseStream.fnv1a(bytes[..<3])), 0x8594_4171_F739_67E8)
    }

    func testGaussianNoiseMoments() {
        var buf = [Float](repeating: 0, count: 100_001)
        buf.withUnsafeMutableBufferPointer { NoiseStream(seed: 3, 1, 2).fillGaussian($0) }
        let mean = buf.reduce(0.0) { $0 + Double($1) } / Double(buf.count)
        let variance = buf.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(buf.count)
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance, 1, accuracy: 0.02)
        var other = buf
        other.withUnsafeMutableBufferPointer { NoiseStream(seed: 3, 1, 3).fillGaussian($0) }
        XCTAssertNotEqual(buf, other)
    }
}
