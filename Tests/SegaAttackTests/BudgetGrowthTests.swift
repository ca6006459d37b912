import XCTest
import MallocCounter
import SegaEngine
import SegaModels
@testable import SegaAttack

/// --budget-growth masking (issue 24, the clean photo): the chroma budget and --target-ssim's
/// spend grow only the masking part of each pixel's JND (JND_i - LA_i), so flat regions keep their
/// luma JND and take no colour. Bounds after the 8-bit grid beside the same attack with growth
/// `all` (which breaks them on the flat half), the JND map's adaptation term against the formula,
/// off values changing nothing, 1 and 2 threads, allocation, refused values.
final class BudgetGrowthTests: XCTestCase {
    let h = 24, w = 32

    func sources(threads: Int = 1) throws -> [PlannedModel] { try fixtureSources(height: h, width: w, threads: threads) }

    /// SEGA at its defaults (JND budget, LA cap 4, chroma 1) with few iterations, spending down to
    /// SSIM 0.5 (so the spend reaches its largest scale on this small image).
    func config(_ growth: BudgetGrowth) -> AttackConfig {
        var c = AttackConfig()
        c.iterations = 4; c.samples = 2; c.targetSSIM = 0.5; c.budgetGrowth = growth
        return c
    }

    /// Left half flat light grey (a white cup's inside), right half a noisy texture.
    func halfFlatImage() -> [Float] {
        let n = h * w, tex = testImage(height: h, width: w, seed: 21)
        var x = [Float](repeating: 0, count: 3 * n)
        for p in 0..<n {
            for ch in 0..<3 { x[ch * n + p] = p % w < w / 2 ? Float(228 + 3 * ch) / 255 : tex[ch * n + p] }
        }
        return x
    }

    func split(_ out: [Float], _ x: [Float], _ p: Int) -> (y: Float, rest: Float) { lumaAndRest(out, x, p, pixels: h * w) }

    /// Pixels whose JND is (nearly) its adaptation term alone, masking under 0.05 levels: the flat
    /// half away from the border (Liu's TV decomposition leaves a trace of the edge across it).
    func flatPixels(_ a: Attacker) -> [Int] {
        (0..<(h * w)).filter { p in p % w < w / 2 - 3 && a.lastJND[p] - a.adaptation[p] < 0.05 }
    }

    /// With masking growth every pixel's luma stays within min(eps, floor_i + c growth_i) and its
    /// rest within rho_i = chroma min(eps, growth_i) (plus the grid's rounding); on the flat half
    /// the luma stays within the adaptation's radius and the rest is 0, while the textured half
    /// still carries colour. The same attack with growth `all` breaks the flat half's bounds (so
    /// the checks can fail).
    func testFlatRegionsKeepTheirLumaJNDAndTakeNoColour() throws {
        let x = halfFlatImage(), n = h * w
        let a = try Attacker(sources: try sources(), config: config(.masking))
        let (out, r) = try runAttack(a, x)
        XCTAssertGreaterThan(r.spent, 1, "the spend did not grow the budget")
        let c = a.config, flat = flatPixels(a)
        XCTAssertGreaterThan(flat.count, n / 16, "the flat half is not flat to the JND model")
        var coloured = 0
        for p in 0..<n {
            let floor = min(c.eps, a.adaptation[p] / 255), grow = max(0, a.lastJND[p] - a.adaptation[p]) / 255
            XCTAssertEqual(a.lumaFloor[p], floor, "floor at \(p)")
            XCTAssertEqual(a.lumaGrowth[p], grow, "growth at \(p)")
            XCTAssertEqual(a.chromaRadius[p], c.chroma * min(c.eps, grow), "rho at \(p)")
            let l = min(c.eps, floor + Float(r.spent) * grow)
            XCTAssertEqual(a.lumaRadius[p], l, "spent luma radius at \(p)")
            let (y, rest) = split(out, x, p)
            XCTAssertLessThanOrEqual(abs(y), l * 255 + 0.5 + 1e-3, "luma beyond its radius at \(p)")
            XCTAssertLessThanOrEqual(rest, a.chromaRadius[p] * 255 + 1 + 1e-3, "rest beyond rho_i at \(p)")
            if p % w >= w / 2 && rest > 1.5 { coloured += 1 }
            for ch in 0..<3 {
                let i = ch * n + p
                XCTAssertEqual((out[i] * 255).rounded(), out[i] * 255, accuracy: 1e-3, "off the 8-bit grid")
                XCTAssertLessThanOrEqual(abs(out[i] - x[i]), c.eps + 1e-7)
            }
        }
        // A flat pixel's luma radius grew by at most 8 x 0.05 levels; its rest (at most 0.05 levels
        // before the grid) is at most the grid's rounding apart of the channels.
        for p in flat {
            let (y, rest) = split(out, x, p)
            XCTAssertLessThanOrEqual(abs(y), a.lumaFloor[p] * 255 + 0.4 + 0.5 + 1e-3, "flat pixel \(p): luma grew")
            XCTAssertLessThanOrEqual(rest, 1 + 1e-3, "flat pixel \(p): colour")
        }
        XCTAssertGreaterThan(coloured, n / 20, "the textured half took no colour")

        a.config = config(.all)
        let (all, ra) = try runAttack(a, x)
        XCTAssertGreaterThan(ra.spent, 1)
        let grown = flat.filter { abs(split(all, x, $0).y) > a.adaptation[$0] + 0.9 + 1e-3 }.count
        let tinted = flat.filter { split(all, x, $0).rest > 1 + 1e-3 }.count
        XCTAssertGreaterThan(grown, flat.count / 4, "growth all did not grow the flat luma: the check above is empty")
        XCTAssertGreaterThan(tinted, flat.count / 4, "growth all put no colour on the flat half: the check above is empty")
    }

    /// The map's adaptation term: Chou & Li's LA of the 5x5 background, capped, for both models
    /// (a flat image against the formula in Double); the map itself is the same with or without it,
    /// and JND_i >= LA_i on a noisy image.
    func testAdaptationIsTheCappedLuminanceTerm() throws {
        let n = h * w
        var map = JNDMap(height: h, width: w)
        for model in JNDModel.allCases {
            for (level, cap) in [(Float(40), Float(0)), (40, 4), (128, 0), (250, 4), (250, 0)] {
                let x = [Float](repeating: level / 255, count: 3 * n)
                var jnd = [Float](repeating: 0, count: n), la = jnd
                x.withUnsafeBufferPointer { xp in
                    jnd.withUnsafeMutableBufferPointer { j in la.withUnsafeMutableBufferPointer { map.compute(xp, model: model, luminanceCap: cap, into: j, adaptation: $0) } }
                }
                let bg = Double(level)
                var want = bg <= 127 ? 17 * (1 - (bg / 127).squareRoot()) + 3 : 3.0 / 128 * (bg - 127) + 3
                if cap > 0 { want = min(want, Double(cap)) }
                for p in 0..<n {
                    XCTAssertEqual(Double(la[p]), want, accuracy: 1e-3, "\(model) level \(level) cap \(cap) at \(p)")
                    XCTAssertEqual(jnd[p], la[p], accuracy: 1e-4, "\(model): a flat image's JND is its adaptation")
                }
            }
            let x = testImage(height: h, width: w, seed: 22)
            var plain = [Float](repeating: 0, count: n), jnd = plain, la = plain
            x.withUnsafeBufferPointer { xp in
                plain.withUnsafeMutableBufferPointer { map.compute(xp, model: model, luminanceCap: 4, into: $0) }
                jnd.withUnsafeMutableBufferPointer { j in la.withUnsafeMutableBufferPointer { map.compute(xp, model: model, luminanceCap: 4, into: j, adaptation: $0) } }
            }
            XCTAssertEqual(jnd, plain, "\(model): asking for the adaptation changed the map")
            for p in 0..<n { XCTAssertGreaterThanOrEqual(jnd[p], la[p], "\(model) at \(p)") }
            XCTAssertGreaterThan((0..<n).filter { jnd[$0] > la[$0] + 1 }.count, n / 4, "\(model): no masking on a noisy image")
        }
    }

    /// Growth `all` is the attack as before; `masking` and `texture` with the uniform budget or for
    /// a baseline (no JND budget to grow) are the same attack byte for byte; each changes it itself.
    func testAllOrWithoutTheJNDBudgetChangesNothing() throws {
        let x = halfFlatImage()
        let a = try Attacker(sources: try sources(), config: config(.all))
        let (plain, _) = try runAttack(a, x)
        for growth in [BudgetGrowth.masking, .texture] {
            a.config = config(growth)
            XCTAssertNotEqual(try runAttack(a, x).0, plain, "\(growth) changed nothing")
            for change in [{ (c: inout AttackConfig) in c.budget = .uniform }, { $0.method = .mifgsm }] {
                var off = config(.all), on = config(growth)
                change(&off); change(&on)
                XCTAssertFalse(on.usesMaskingGrowth)
                XCTAssertFalse(on.usesTextureGrowth)
                a.config = off
                let (o, _) = try runAttack(a, x)
                a.config = on
                XCTAssertEqual(try runAttack(a, x).0, o, "\(growth)")
            }
        }
    }

    /// `masking` and `texture` (TextureGrowthTests): the same bytes at 1 and 2 threads, another seed another attack.
    func testGrowthIsByteIdenticalAtOneAndTwoThreadsAndFollowsTheSeed() throws {
        for growth in [BudgetGrowth.masking, .texture] {
            let r = try outputsAtOneAndTwoThreads(config(growth), halfFlatImage(), height: h, width: w, otherSeed: 5)
            XCTAssertEqual(r.one, r.two, "\(growth)")
            XCTAssertNotEqual(r.reseeded, r.one, "\(growth)")
        }
    }

    func testNoHeapAllocationPerIterationWithGrowth() throws {
        XCTAssertEqual(sega_malloc_counter_active(), 1)
        let a = try Attacker(sources: try sources(threads: 2), config: AttackConfig())
        for growth in [BudgetGrowth.masking, .texture] {
            let counts = try allocationsPerRun(a, halfFlatImage()) { iters in
                var c = self.config(growth)
                c.iterations = iters
                return c
            }
            XCTAssertEqual(counts[0], counts[1], "\(growth): heap allocations grow with the iteration count \(counts)")
        }
    }

    /// An unknown value is refused with the setting's name and its choices.
    func testUnknownGrowthIsRefusedWithItsName() throws {
        var c = AttackConfig()
        XCTAssertThrowsError(try AttackSettings[.budgetGrowth].set(&c, .choice("flat"))) {
            XCTAssertTrue("\($0)".contains("budget growth"), "\($0)")
            XCTAssertTrue("\($0)".contains("masking"), "\($0)")
        }
        XCTAssertEqual(c.budgetGrowth, .all)
    }
}
