import XCTest
import MallocCounter
import SegaEngine
import SegaModels
@testable import SegaAttack

/// SVRE, CWA, DI-MI-FGSM and the perceptual budget (issue 24) on small fixture models: exact
/// gradient-call counts, the budget (L-infinity and per pixel), the 8-bit grid, no allocation per
/// iteration, the same bytes at 1 and 2 threads, refused options, and what each method claims.
final class MethodTests: XCTestCase {
    let h = 24, w = 32
    static let newMethods: [AttackMethod] = [.svre, .cwa, .diMifgsm]

    func sources(threads: Int = 1, names: [String] = ["cnniqa", "lite0"]) throws -> [PlannedModel] {
        try fixtureSources(height: h, width: w, threads: threads, names: names)
    }

    func run(_ a: Attacker, _ x: [Float], key: UInt64 = 42) throws -> ([Float], AttackResult) { try runAttack(a, x, key: key) }

    func attack(_ c: AttackConfig, threads: Int = 1, names: [String] = ["cnniqa", "lite0"], image: [Float]? = nil) throws -> ([Float], AttackResult) {
        try run(try Attacker(sources: try sources(threads: threads, names: names), config: c),
                image ?? testImage(height: h, width: w, seed: 1))
    }

    /// Small settings that exercise every knob of the new methods.
    func small(_ m: AttackMethod) -> AttackConfig {
        var c = AttackConfig()
        c.method = m; c.iterations = 2; c.svreInner = 2; c.cwaSweeps = 2; c.diSamples = 3; c.diProbability = 0.7
        c.targetSSIM = 0  // the budget as the iterations leave it (SpendTests checks the spend)
        c.chroma = 0  // every channel within eps_i (ChromaTests checks the chroma budget)
        return c
    }

    // MARK: gradient calls

    /// The reported calls are the passes the plans ran, and the documented count per iteration:
    /// svre K + M (M = svreInner K), cwa K (1 + sweeps), di-mifgsm K * DI samples.
    func testGradientCallsPerIterationAreExact() throws {
        let expected: [AttackMethod: Int] = [.svre: 2 + 2 * 2, .cwa: 2 * (1 + 2), .diMifgsm: 2 * 3]
        for m in Self.newMethods {
            let srcs = try sources()
            let c = small(m)
            let (_, r) = try run(try Attacker(sources: srcs, config: c), testImage(height: h, width: w, seed: 1))
            let passes = srcs.map(\.gradientPasses).reduce(0, +)
            XCTAssertEqual(r.gradientCalls, passes, "\(m): reported calls are not the passes the plans ran")
            XCTAssertEqual(r.gradientCalls, c.iterations * expected[m]!, "\(m)")
            XCTAssertEqual(m.gradientCalls(sources: 2, config: c), expected[m]!, "\(m)")
        }
        // The published defaults: SVRE M = 4K, CWA one sweep, DI one copy.
        XCTAssertEqual(AttackMethod.svre.gradientCalls(sources: 3, config: AttackConfig()), 3 + 12)
        XCTAssertEqual(AttackMethod.cwa.gradientCalls(sources: 3, config: AttackConfig()), 6)
        XCTAssertEqual(AttackMethod.diMifgsm.gradientCalls(sources: 3, config: AttackConfig()), 3)
    }

    // MARK: budget, grid

    /// Every method under the JND budget (both JND models): each value within eps_i of the clean
    /// image (in whole 8-bit steps) and within eps, on the 8-bit grid, in [0, 1]; eps_i is
    /// min(eps, lambda JND_i / 255) of the clean image's map (with the default luminance cap).
    func testEveryMethodStaysInThePerPixelBudget() throws {
        let x = testImage(height: h, width: w, seed: 1)
        let a = try Attacker(sources: try sources(), config: AttackConfig())
        for model in JNDModel.allCases {
            var map = JNDMap(height: h, width: w)
            var jnd = [Float](repeating: 0, count: h * w)
            let cap = AttackConfig().jndLuminanceCap
            x.withUnsafeBufferPointer { xp in jnd.withUnsafeMutableBufferPointer { map.compute(xp, model: model, luminanceCap: cap, into: $0) } }
            for m in AttackMethod.allCases {
                var c = small(m)
                c.samples = 2; c.vtSamples = 1; c.budget = .jnd; c.jndModel = model; c.budgetLambda = 0.8
                a.config = c
                let (out, _) = try run(a, x)
                var moved = 0
                for p in 0..<(h * w) {
                    let e = min(c.eps, c.budgetLambda * jnd[p] / 255)
                    XCTAssertEqual(a.lastBudget[p], e, "\(m) \(model): eps_i at \(p)")
                    let allowed = Int((e * 255).nextUp.rounded(.down))
                    for ch in 0..<3 {
                        let i = ch * h * w + p
                        XCTAssertTrue(out[i] >= 0 && out[i] <= 1)
                        XCTAssertEqual((out[i] * 255).rounded(), out[i] * 255, accuracy: 1e-3, "\(m): off the 8-bit grid")
                        let steps = abs(Int((out[i] * 255).rounded()) - Int((x[i] * 255).rounded()))
                        XCTAssertLessThanOrEqual(steps, allowed, "\(m) \(model): pixel \(p) moved beyond eps_i")
                        XCTAssertLessThanOrEqual(abs(out[i] - x[i]), c.eps + 1e-7)
                        if steps > 0 { moved += 1 }
                    }
                }
                XCTAssertGreaterThan(moved, x.count / 10, "\(m) \(model): the attack barely moved the image")
            }
        }
    }

    /// The uniform budget is eps everywhere and the step scale exactly 1 (so the methods that
    /// existed before the budget give the same bytes as before).
    func testUniformBudgetIsEpsEverywhere() throws {
        let a = try Attacker(sources: try sources(names: ["cnniqa"]), config: small(.cwa))
        _ = try run(a, testImage(height: h, width: w, seed: 2))
        XCTAssertTrue(a.lastBudget.allSatisfy { $0 == a.config.eps })
        XCTAssertTrue(a.scale.allSatisfy { $0 == 1 })
    }

    /// The default budget, auto, is the JND budget for SEGA and the uniform one for every
    /// baseline: the same bytes as naming them, and SEGA at auto differs from SEGA at uniform.
    func testAutoBudgetIsJNDForSEGAAndUniformForTheBaselines() throws {
        XCTAssertEqual(AttackConfig().budget, .auto)
        for m in AttackMethod.allCases {
            var c = small(m)
            c.samples = 2; c.vtSamples = 1
            let want: BudgetShape = m == .sega ? .jnd : .uniform
            XCTAssertEqual(c.effectiveBudget, want, "\(m)")
            let (auto, _) = try attack(c, names: ["cnniqa"])
            c.budget = want
            let (named, _) = try attack(c, names: ["cnniqa"])
            XCTAssertEqual(auto, named, "\(m): auto is not \(want)")
            if m == .sega {
                c.budget = .uniform
                let (uniform, _) = try attack(c, names: ["cnniqa"])
                XCTAssertNotEqual(auto, uniform, "sega: auto should not be the uniform budget")
            }
        }
    }

    /// The budget does what it is for: on an image whose left half is a fine +-40 texture and
    /// right half flat mid-grey, both JND budgets spend far less on the flat half than the
    /// uniform budget, and Liu's model (texture masking 3x on the textural layer) keeps the
    /// textured half near eps, at least 1.5x the flat half. Yang's model (Sobel edge protection,
    /// which marks such fine texture as edges) gives the textured half no more than the flat one.
    func testJNDBudgetSpendsThePerturbationWhereTheEyeDoesNotSeeIt() throws {
        var x = [Float](repeating: 128.0 / 255, count: 3 * h * w)
        let s = NoiseStream(seed: 11)
        for y in 0..<h {
            for c in 0..<(w / 2) {
                let v = Float(128 + Int(s.bits(UInt64(y * w + c)) % 81) - 40) / 255
                for ch in 0..<3 { x[(ch * h + y) * w + c] = v }
            }
        }
        func halves(_ out: [Float]) -> (left: Double, right: Double) {
            var l = 0.0, r = 0.0
            for ch in 0..<3 { for y in 0..<h { for c in 0..<w {
                let i = (ch * h + y) * w + c, d = Double(abs(out[i] - x[i]))
                if c < w / 2 { l += d } else { r += d }
            } } }
            return (l, r)
        }
        var c = AttackConfig()
        c.method = .mifgsm; c.iterations = 4
        let u = halves(try attack(c, names: ["lite0"], image: x).0)
        XCTAssertGreaterThan(u.right, 0.5 * u.left, "the uniform attack should move the flat half too")
        c.budget = .jnd
        c.jndModel = .liu
        let liu = halves(try attack(c, names: ["lite0"], image: x).0)
        c.jndModel = .yang
        let yang = halves(try attack(c, names: ["lite0"], image: x).0)
        XCTAssertLessThan(liu.right, 0.6 * u.right, "liu: the flat half should take much less than under the uniform budget")
        XCTAssertLessThan(yang.right, 0.6 * u.right, "yang: the flat half should take much less than under the uniform budget")
        XCTAssertGreaterThan(liu.left, 1.5 * liu.right, "liu: the textured half should take more than the flat half")
        XCTAssertGreaterThan(liu.left, 0.8 * u.left, "liu: the textured half should keep most of its perturbation")
        XCTAssertGreaterThan(liu.left, 1.5 * yang.left, "liu's texture masking should exceed yang's on fine texture")
    }

    // MARK: determinism, allocation

    func testNewMethodsAreByteIdenticalAtOneAndTwoThreads() throws {
        for m in Self.newMethods + [.sega] {
            var c = small(m)
            c.samples = 2
            if m == .sega { c.budget = .jnd; c.jndModel = .liu; c.jndThreshold = 4 }
            let (a, ra) = try attack(c, threads: 1)
            let (b, rb) = try attack(c, threads: 2)
            XCTAssertEqual(a, b, "\(m): 1 and 2 threads differ")
            XCTAssertEqual(ra.scoresAfter, rb.scoresAfter, "\(m)")
            if m != .cwa {  // CWA draws nothing: the seed cannot matter
                c.seed = 99
                let (d, _) = try attack(c)
                XCTAssertNotEqual(a, d, "\(m): another seed gave the same output")
            }
        }
    }

    /// A run of 1 and of 3 iterations allocate the same number of times, for the new methods and
    /// for the JND budget under both models (the map is computed once per run into the map's planes).
    func testNoHeapAllocationPerIterationForNewMethodsAndBudget() throws {
        XCTAssertEqual(sega_malloc_counter_active(), 1)
        let a = try Attacker(sources: try sources(threads: 2), config: AttackConfig())
        let x = testImage(height: h, width: w, seed: 3)
        var out = [Float](repeating: 0, count: x.count)
        var cases: [(AttackMethod, JNDModel, BudgetShape)] = Self.newMethods.map { ($0, .yang, .uniform) }
        cases += [(.sega, .liu, .jnd), (.cwa, .yang, .jnd), (.diMifgsm, .liu, .jnd), (.random, .liu, .jnd)]
        for (m, model, budget) in cases {
            var counts: [UInt64] = []
            for iters in [1, 3] {
                var c = small(m)
                c.iterations = iters; c.samples = 1; c.jndModel = model; c.budget = budget; c.jndThreshold = 3
                a.config = c
                try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { _ = try a.run(image: xp, key: 1, into: $0) } }
                sega_malloc_counter_start()
                try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { _ = try a.run(image: xp, key: 1, into: $0) } }
                counts.append(sega_malloc_counter_stop())
            }
            XCTAssertEqual(counts[0], counts[1], "\(m) \(model) \(budget): heap allocations grow with the iteration count \(counts)")
        }
    }

    // MARK: options

    func testNewOptionsOutOfRangeAreRefusedWithTheirNames() throws {
        let cases: [(String, (inout AttackConfig) -> Void)] = [
            ("SVRE inner steps must be in 1...10000, got 0", { $0.svreInner = 0 }),
            ("SVRE inner steps must be in 1...10000, got 10001", { $0.svreInner = 10_001 }),
            ("CWA radius must be in [0, 1], got 1.5", { $0.cwaRadius = 1.5 }),
            ("CWA radius must be in [0, 1], got -0.1", { $0.cwaRadius = -0.1 }),
            ("CWA inner step must be > 0, got 0.0", { $0.cwaInnerStep = 0 }),
            ("CWA inner step must be > 0, got nan", { $0.cwaInnerStep = .nan }),
            ("CWA sweeps must be in 1...10000, got 0", { $0.cwaSweeps = 0 }),
            ("DI probability must be in [0, 1], got 1.5", { $0.diProbability = 1.5 }),
            ("DI resize rate must be in [1, 2], got 0.9", { $0.diResize = 0.9 }),
            ("DI resize rate must be in [1, 2], got inf", { $0.diResize = .infinity }),
            ("DI samples must be in 1...10000, got 0", { $0.diSamples = 0 }),
            ("budget lambda must be > 0, got 0.0", { $0.budgetLambda = 0 }),
            ("budget lambda must be > 0, got -1.0", { $0.budgetLambda = -1 }),
        ]
        for (message, set) in cases {
            var c = AttackConfig()
            set(&c)
            XCTAssertThrowsError(try c.validate(), message) { XCTAssertEqual("\($0)", message) }
            // And the attacker refuses it before any work.
            XCTAssertThrowsError(try Attacker(sources: try sources(names: ["cnniqa"]), config: c))
        }
        var c = AttackConfig()
        XCTAssertThrowsError(try AttackSettings[.budget].set(&c, .choice("gaussian"))) {
            XCTAssertEqual("\($0)", "unknown budget 'gaussian' (one of uniform, jnd, auto)")
        }
        XCTAssertThrowsError(try AttackSettings[.jndModel].set(&c, .choice("wu"))) {
            XCTAssertEqual("\($0)", "unknown JND model 'wu' (one of yang, liu)")
        }
        XCTAssertThrowsError(try AttackSettings[.method].set(&c, .choice("svre2"))) { XCTAssertTrue("\($0)".contains("di-mifgsm")) }
    }

    // MARK: SVRE

    /// With one source the variance-reduction term g_ens - w grad f(x) is exactly zero, so SVRE is
    /// MI-FGSM inner steps (step alpha, from x, momentum reset each outer iteration) feeding an
    /// outer momentum over the last inner momentum: computed here from the model's gradients.
    func testSVREWithOneSourceIsInnerMIFGSMFeedingAnOuterMomentum() throws {
        let srcs = try sources(names: ["cnniqa"])
        let s = srcs[0], x0 = testImage(height: h, width: w, seed: 5), n = x0.count
        var c = AttackConfig()
        c.method = .svre; c.iterations = 3; c.svreInner = 3; c.direction = .down
        let (out, r) = try run(try Attacker(sources: srcs, config: c), x0)
        let a = c.stepSize * -1, e = c.eps, mu = c.momentum
        func grad(_ v: [Float]) -> [Float] { var b = v; return b.withUnsafeMutableBufferPointer { Array(s.scoreAndGradientOfInput(at: $0).1) } }
        func momentum(_ m: inout [Float], _ v: [Float]) {
            let l1 = v.reduce(0.0) { $0 + Double(abs($1)) }
            let inv = l1 > 0 ? Float(Double(n) / l1) : 0
            for i in 0..<n { m[i] = mu * m[i] + v[i] * inv }
        }
        func signStep(_ v: inout [Float], _ dir: [Float]) {
            for i in 0..<n {
                v[i] += a * (dir[i] > 0 ? 1 : (dir[i] < 0 ? -1 : 0))
                v[i] = min(max(min(max(v[i], x0[i] - e), x0[i] + e), 0), 1)
            }
        }
        var x = x0, outer = [Float](repeating: 0, count: n)
        for _ in 0..<c.iterations {
            let g = grad(x)
            let wk = Float(1.0 / (g.reduce(0.0) { $0 + Double(abs($1)) } / Double(n)))
            var xi = x, inner = [Float](repeating: 0, count: n)
            for _ in 0..<(c.svreInner * 1) {
                let gi = grad(xi)
                momentum(&inner, gi.map { wk * $0 })
                signStep(&xi, inner)
            }
            momentum(&outer, inner)
            signStep(&x, outer)
        }
        let expected = x.map { ($0 * 255).rounded() / 255 }
        XCTAssertEqual(r.gradientCalls, c.iterations * (1 + 3))
        XCTAssertEqual(out, expected, "SVRE with one source is not inner MI-FGSM feeding an outer momentum")
        XCTAssertNotEqual(out, x0)
    }

    /// The inner steps draw their source uniformly (counter-based): over many steps every source
    /// is drawn about equally often, and the draws depend on the seed, key and iteration.
    func testSVREDrawsItsSourcesUniformly() throws {
        let a = try Attacker(sources: try sources(names: ["cnniqa", "cnniqa", "cnniqa"]), config: AttackConfig())
        var hist = [0, 0, 0]
        for m in 0..<3000 { hist[a.svreDraw(iteration: 2, key: 7, step: m)] += 1 }
        for c in hist { XCTAssertEqual(Double(c), 1000, accuracy: 90, "\(hist)") }
        let draws = (0..<32).map { a.svreDraw(iteration: 0, key: 7, step: $0) }
        XCTAssertNotEqual(draws, (0..<32).map { a.svreDraw(iteration: 1, key: 7, step: $0) })
        XCTAssertNotEqual(draws, (0..<32).map { a.svreDraw(iteration: 0, key: 8, step: $0) })
    }

    // MARK: CWA

    /// With one source, no reverse step and one iteration, CWA's outer step takes the sign of
    /// x~ - x = beta d grad f / |grad f|_2 (clipped): the sign of the gradient, as I-FGSM's step.
    /// A reverse step (r > 0) moves the inner start and so the result.
    func testCWAWithOneSourceAndNoReverseStepIsOneIFGSMStep() throws {
        var c = AttackConfig()
        c.method = .cwa; c.iterations = 1; c.cwaRadius = 0
        let (cwa, r) = try attack(c, names: ["cnniqa"])
        XCTAssertEqual(r.gradientCalls, 2)
        c.method = .ifgsm
        let (ifgsm, _) = try attack(c, names: ["cnniqa"])
        let same = zip(cwa, ifgsm).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(Double(same), 0.999 * Double(cwa.count), "CWA (K 1, r 0, T 1) should be one I-FGSM step")
        c.method = .cwa; c.cwaRadius = 1; c.iterations = 2
        let (far, _) = try attack(c, names: ["cnniqa"])
        c.cwaRadius = 0
        let (near, _) = try attack(c, names: ["cnniqa"])
        XCTAssertNotEqual(far, near, "the reverse step changed nothing")
    }

    // MARK: DI

    /// <T x, y> = <x, T^T y> for random x, y over many draws (identity draws included).
    func testDITransformAndAdjointAreTransposes() {
        let t = DiverseInput(height: 13, width: 17)
        let n = 3 * 13 * 17
        var applied = 0
        for draw in 0..<40 {
            t.draw(NoiseStream(seed: 3, UInt64(draw)), probability: 0.8, resize: 1.5)
            if t.applied { applied += 1 }
            var xv = [Float](repeating: 0, count: n), yv = [Float](repeating: 0, count: n)
            xv.withUnsafeMutableBufferPointer { NoiseStream(seed: 4, UInt64(draw)).fillGaussian($0) }
            yv.withUnsafeMutableBufferPointer { NoiseStream(seed: 5, UInt64(draw)).fillGaussian($0) }
            var tx = [Float](repeating: 0, count: n), ty = [Float](repeating: 0, count: n)
            xv.withUnsafeBufferPointer { xp in tx.withUnsafeMutableBufferPointer { t.apply(xp.baseAddress!, into: $0.baseAddress!) } }
            yv.withUnsafeBufferPointer { yp in ty.withUnsafeMutableBufferPointer { t.addAdjoint(yp.baseAddress!, into: $0.baseAddress!) } }
            let lhs = zip(tx, yv).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(xv, ty).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-5 * max(1, abs(lhs)), "draw \(draw): <Tx, y> != <x, T^T y>")
            if t.applied {
                XCTAssertTrue(t.contentHeight >= 9 && t.contentHeight <= 13, "content height \(t.contentHeight) outside ceil(13/1.5)...13")
                XCTAssertTrue(t.top + t.contentHeight <= 13 && t.left + t.contentWidth <= 17)
            }
        }
        XCTAssertTrue(applied > 20 && applied < 40, "p 0.8 applied \(applied) of 40")
    }

    /// By hand on a 4x4 image: content 2x2 at (1, 1) is the 2x2 block means (bilinear at half
    /// scale samples between pixels), zeros around it; full-size content is the identity; p 0 never transforms.
    func testDITransformByHand() {
        let t = DiverseInput(height: 4, width: 4)
        var x = [Float](repeating: 0, count: 48)
        for i in 0..<48 { x[i] = Float(i) }
        var y = [Float](repeating: -1, count: 48)
        t.set(contentHeight: 2, contentWidth: 2, top: 1, left: 1)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { t.apply(xp.baseAddress!, into: $0.baseAddress!) } }
        for ch in 0..<3 {
            let b = Float(16 * ch)
            let plane = Array(y[(16 * ch)..<(16 * ch + 16)])
            let mean: (Int, Int) -> Float = { r, c in b + (Float(4 * r + c) + Float(4 * r + c + 1) + Float(4 * r + c + 4) + Float(4 * r + c + 5)) / 4 }
            XCTAssertEqual(plane, [0, 0, 0, 0,
                                   0, mean(0, 0), mean(0, 2), 0,
                                   0, mean(2, 0), mean(2, 2), 0,
                                   0, 0, 0, 0], "channel \(ch)")
        }
        t.set(contentHeight: 4, contentWidth: 4, top: 0, left: 0)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { t.apply(xp.baseAddress!, into: $0.baseAddress!) } }
        XCTAssertEqual(y, x)
        for k in 0..<20 {
            t.draw(NoiseStream(seed: UInt64(k)), probability: 0, resize: 1.1)
            XCTAssertFalse(t.applied)
            t.draw(NoiseStream(seed: UInt64(k)), probability: 1, resize: 1.1)
            XCTAssertTrue(t.applied)
        }
    }

    /// DI-MI-FGSM with p 0 is MI-FGSM (no transform is ever drawn), byte for byte.
    func testDIWithProbabilityZeroIsMIFGSM() throws {
        var c = AttackConfig()
        c.method = .diMifgsm; c.iterations = 2; c.diProbability = 0
        let (di, _) = try attack(c)
        c.method = .mifgsm
        let (mi, _) = try attack(c)
        XCTAssertEqual(di, mi)
        c.method = .diMifgsm; c.diProbability = 1
        let (di1, _) = try attack(c)
        XCTAssertNotEqual(di1, mi)
    }
}
