import XCTest
import SegaEngine
import SegaModels
@testable import SegaAttack

/// --budget-growth texture (issue 24 item 4): the masking part of each pixel's JND grows only
/// where the clean luma has pixel-scale contrast, so a smooth shaded surface (which Liu's
/// total-variation texture gives a masking term) keeps its luminance-adaptation radius. The
/// contrast map against a naive Double reference, its zeros on ramps, the gate's values, bounds
/// after the grid beside growth `masking` (which grows the shaded half: the checks can fail),
/// the setting (BudgetGrowthTests checks threads, seed, allocation and that it changes nothing
/// off the JND budget).
final class TextureGrowthTests: XCTestCase {
    let h = 24, w = 32

    func config(_ growth: BudgetGrowth) -> AttackConfig {
        var c = AttackConfig()
        c.iterations = 4; c.samples = 2; c.targetSSIM = 0.5; c.budgetGrowth = growth
        return c
    }

    /// Left half a bright shaded surface (luma ramp of 4 levels a pixel, the same in every
    /// channel, with +-1 level of grain on the 8-bit grid); right half a noisy texture.
    func shadedAndTexturedImage() -> [Float] {
        let n = h * w, tex = testImage(height: h, width: w, seed: 31), s = NoiseStream(seed: 32)
        var x = [Float](repeating: 0, count: 3 * n)
        for p in 0..<n {
            let col = p % w
            for ch in 0..<3 {
                if col < w / 2 {
                    let grain = (s.uniform(UInt64(p)) * 3).rounded(.down) - 1
                    x[ch * n + p] = Float(170 + 4 * col + Int(grain) + 2 * ch) / 255
                } else {
                    x[ch * n + p] = tex[ch * n + p]
                }
            }
        }
        return x
    }

    /// The contrast map by the definition, in Double: luma (BT.601), the 7-tap Gaussian of sigma
    /// 0.8 (normalised) along rows then columns, the squared residual, its 5x5 mean, the root;
    /// borders replicate.
    func referenceContrast(_ x: [Float]) -> [Double] {
        let n = h * w
        let y = (0..<n).map { 255 * (0.299 * Double(x[$0]) + 0.587 * Double(x[n + $0]) + 0.114 * Double(x[2 * n + $0])) }
        var g = (0..<7).map { exp(-Double(($0 - 3) * ($0 - 3)) / (2 * 0.64)) }
        let sum = g.reduce(0, +)
        g = g.map { $0 / sum }
        func at(_ a: [Double], _ r: Int, _ c: Int) -> Double { a[min(max(r, 0), h - 1) * w + min(max(c, 0), w - 1)] }
        var rows = [Double](repeating: 0, count: n), blur = rows, sq = rows, box = rows
        for r in 0..<h { for c in 0..<w { rows[r * w + c] = (0..<7).reduce(0) { $0 + g[$1] * at(y, r, c + $1 - 3) } } }
        for r in 0..<h { for c in 0..<w { blur[r * w + c] = (0..<7).reduce(0) { $0 + g[$1] * at(rows, r + $1 - 3, c) } } }
        for i in 0..<n { sq[i] = (y[i] - blur[i]) * (y[i] - blur[i]) }
        for r in 0..<h {
            for c in 0..<w {
                var s = 0.0
                for dr in -2...2 { for dc in -2...2 { s += at(sq, r + dr, c + dc) } }
                box[r * w + c] = (s / 25).squareRoot()
            }
        }
        return box
    }

    func contrast(_ x: [Float]) -> [Float] {
        var map = JNDMap(height: h, width: w)
        var out = [Float](repeating: -1, count: h * w)
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { map.pixelContrast(xp, into: $0) } }
        return out
    }

    func testPixelContrastMatchesTheReference() {
        for x in [testImage(height: h, width: w, seed: 33), shadedAndTexturedImage()] {
            let got = contrast(x), want = referenceContrast(x)
            for p in 0..<(h * w) { XCTAssertEqual(Double(got[p]), want[p], accuracy: 1e-3 + 1e-4 * want[p], "at \(p)") }
            XCTAssertGreaterThan(want.max()!, 5, "the image has no texture: the comparison is weak")
        }
    }

    /// A flat image and a linear ramp (away from the replicated borders) have no pixel-scale
    /// contrast; the textured half has plenty.
    func testSmoothImagesHaveNoPixelContrast() {
        let n = h * w
        let flat = [Float](repeating: 200 / 255, count: 3 * n)
        XCTAssertEqual(contrast(flat).max()!, 0, accuracy: 1e-4)
        var ramp = [Float](repeating: 0, count: 3 * n)
        for p in 0..<n { for ch in 0..<3 { ramp[ch * n + p] = Float(40 + 5 * (p % w) + 3 * (p / w)) / 255 } }
        let r = contrast(ramp)
        for row in 6..<(h - 6) { for col in 6..<(w - 6) { XCTAssertEqual(r[row * w + col], 0, accuracy: 1e-3, "ramp at \(row),\(col)") } }
        let mixed = contrast(shadedAndTexturedImage())
        XCTAssertGreaterThan((0..<n).filter { $0 % w >= w / 2 + 5 && mixed[$0] > JNDMap.textureGrowthLow + 2 }.count, n / 8)
    }

    func testGrowthScaleIsASmoothstepFromThreeToNineLevels() {
        XCTAssertEqual(JNDMap.textureGrowthScale(0), 0)
        XCTAssertEqual(JNDMap.textureGrowthScale(3), 0)
        XCTAssertEqual(JNDMap.textureGrowthScale(6), 0.5, accuracy: 1e-6)
        XCTAssertEqual(JNDMap.textureGrowthScale(4.5), 0.15625, accuracy: 1e-6)
        XCTAssertEqual(JNDMap.textureGrowthScale(9), 1)
        XCTAssertEqual(JNDMap.textureGrowthScale(40), 1)
    }

    /// Every pixel's planes follow the definition; after the grid each pixel's luma stays within
    /// min(eps, floor + c growth) and its rest within rho_i; on the shaded half, where the contrast
    /// is under 3 levels, nothing grows: the luma stays within the adaptation radius and takes no
    /// colour. The same attack with growth `masking` grows that half (Liu's texture term is not 0
    /// there), so the checks can fail; the textured half still grows and takes colour.
    func testShadedSurfacesKeepTheirAdaptationRadius() throws {
        let x = shadedAndTexturedImage(), n = h * w
        let a = try Attacker(sources: try fixtureSources(height: h, width: w), config: config(.texture))
        let (out, r) = try runAttack(a, x)
        XCTAssertGreaterThan(r.spent, 1, "the spend did not grow the budget")
        let c = a.config, ref = referenceContrast(x)
        let shaded = (0..<n).filter { $0 % w < w / 2 - 5 && ref[$0] < Double(JNDMap.textureGrowthLow) - 0.01 }
        XCTAssertGreaterThan(shaded.count, n / 8, "the shaded half is not smooth to the contrast map")
        var grownTexture = 0, coloured = 0
        for p in 0..<n {
            let floor = min(c.eps, a.adaptation[p] / 255)
            // The gate from the Double reference contrast (the map's own plane is scratch by now).
            let grow = max(0, a.lastJND[p] - a.adaptation[p]) / 255 * JNDMap.textureGrowthScale(Float(ref[p]))
            XCTAssertEqual(a.lumaFloor[p], floor, "floor at \(p)")
            XCTAssertEqual(a.lumaGrowth[p], grow, accuracy: 1e-7, "growth at \(p)")
            XCTAssertEqual(a.chromaRadius[p], c.chroma * min(c.eps, grow), accuracy: 1e-7, "rho at \(p)")
            let l = min(c.eps, floor + Float(r.spent) * grow)
            XCTAssertEqual(a.lumaRadius[p], l, accuracy: 1e-6, "spent luma radius at \(p)")
            let (y, rest) = split(out, x, p)
            XCTAssertLessThanOrEqual(abs(y), l * 255 + 0.5 + 1e-3, "luma beyond its radius at \(p)")
            XCTAssertLessThanOrEqual(rest, a.chromaRadius[p] * 255 + 1 + 1e-3, "rest beyond rho_i at \(p)")
            if p % w >= w / 2 && grow > 1 / 255 { grownTexture += 1 }
            if p % w >= w / 2 && rest > 1.5 { coloured += 1 }
            for ch in 0..<3 {
                let i = ch * n + p
                XCTAssertEqual((out[i] * 255).rounded(), out[i] * 255, accuracy: 1e-3, "off the 8-bit grid")
                XCTAssertLessThanOrEqual(abs(out[i] - x[i]), c.eps + 1e-7)
            }
        }
        for p in shaded {
            XCTAssertEqual(a.lumaGrowth[p], 0, "shaded pixel \(p) grows")
            let (y, rest) = split(out, x, p)
            XCTAssertLessThanOrEqual(abs(y), a.lumaFloor[p] * 255 + 0.5 + 1e-3, "shaded pixel \(p): luma grew")
            XCTAssertLessThanOrEqual(rest, 1 + 1e-3, "shaded pixel \(p): colour")
        }
        XCTAssertGreaterThan(grownTexture, n / 8, "the textured half did not grow")
        XCTAssertGreaterThan(coloured, n / 20, "the textured half took no colour")

        a.config = config(.masking)
        let (masked, rm) = try runAttack(a, x)
        XCTAssertGreaterThan(rm.spent, 1)
        let grown = shaded.filter { abs(split(masked, x, $0).y) > a.lumaFloor[$0] * 255 + 0.5 + 1e-3 }.count
        XCTAssertGreaterThan(grown, shaded.count / 4, "growth masking did not grow the shaded half: the check above is empty")
    }

    func split(_ out: [Float], _ x: [Float], _ p: Int) -> (y: Float, rest: Float) { lumaAndRest(out, x, p, pixels: h * w) }

    /// The setting takes `texture` by name and reports it only where it is in effect.
    func testTheSettingReadsAndReportsTexture() throws {
        var c = AttackConfig()
        try AttackSettings[.budgetGrowth].set(&c, .choice("texture"))
        XCTAssertEqual(c.budgetGrowth, .texture)
        XCTAssertTrue(c.usesTextureGrowth)
        c.method = .vt
        XCTAssertFalse(c.usesTextureGrowth)
        XCTAssertFalse(c.usesMaskingGrowth)
    }
}
