import XCTest
import MallocCounter
import SegaModels
@testable import SegaAttack

// MARK: - Helpers

/// JND map of a CHW image through a fresh JNDMap.
func jndOf(_ image: [Float], height h: Int, width w: Int) -> [Float] {
    var map = JNDMap(height: h, width: w)
    var out = [Float](repeating: -1, count: h * w)
    image.withUnsafeBufferPointer { img in
        out.withUnsafeMutableBufferPointer { map.compute(img, into: $0) }
    }
    return out
}

/// A flat gray image at 8-bit level `level` (R = G = B, so luma = level).
func flatImage(_ level: Int, height h: Int, width w: Int) -> [Float] {
    [Float](repeating: Float(level) / 255, count: 3 * h * w)
}

// MARK: - Tests

final class JNDTests: XCTestCase {
    /// The independent numpy model (weights/fixtures/metrics.py) on a scene with a flat block,
    /// texture and a bright rectangle (edges).
    func testMatchesNumpyReference() throws {
        let fx = try metricsFixture()
        let j = try XCTUnwrap(fx["jnd"])
        let h = Int(fixtureNumber(fx["height"])), w = Int(fixtureNumber(fx["width"]))
        let expected = fixtureNumbers(j["map"]).map { Float($0) }
        XCTAssertEqual(expected.count, h * w)
        XCTAssertGreaterThan(fixtureNumber(j["edgeFraction"]), 0.05, "the fixture must exercise the edge weight")
        XCTAssertEqual(Float(fixtureNumber(j["sobelThreshold"])), JNDMap.edgeThreshold)
        let got = jndOf(fixtureImage(fx, Int(fixtureNumber(j["image"]))), height: h, width: w)
        var worst: Float = 0
        for i in 0..<(h * w) { worst = max(worst, abs(got[i] - expected[i])) }
        XCTAssertLessThanOrEqual(worst, 1e-3, "max |JND - numpy JND|")
        XCTAssertGreaterThan(expected.max()! - expected.min()!, 2, "a fixture map worth comparing")
    }

    /// Flat image: texture term 0, so JND = T_l(bg): 20 at 0, 3 at 127, 3 + 3 * 128 / 128 = 6 at 255.
    func testLuminanceAdaptationOnFlatImages() {
        for (level, expected) in [(0, Float(20)), (127, 3), (255, 6), (64, 17 * (1 - (Float(64) / 127).squareRoot()) + 3)] {
            let j = jndOf(flatImage(level, height: 9, width: 13), height: 9, width: 13)
            XCTAssertEqual(j.min()!, expected, accuracy: 1e-3, "level \(level)")
            XCTAssertEqual(j.max()!, expected, accuracy: 1e-3, "level \(level)")
        }
    }

    /// A noisy patch (mean unchanged) raises the JND over the flat value through texture masking.
    func testTextureRaisesJND() {
        let h = 32, w = 32
        var img = flatImage(100, height: h, width: w)
        var state: UInt64 = 12345
        for y in 8..<24 {
            for x in 8..<24 {
                state = state &* 6364136223846793005 &+ 1442695040888963407      // LCG: steps -16...16
                let step = Float(Int((state >> 33) % 33) - 16)
                for c in 0..<3 { img[(c * h + y) * w + x] = (100 + step) / 255 }  // same offset in R, G, B
            }
        }
        let flat = jndOf(flatImage(100, height: h, width: w), height: h, width: w)
        let textured = jndOf(img, height: h, width: w)
        var inside: Float = 0
        for y in 12..<20 { for x in 12..<20 { inside += textured[y * w + x] } }
        inside /= 64
        XCTAssertGreaterThan(inside, flat[16 * w + 16] + 0.4)
        XCTAssertEqual(textured[0], flat[0], accuracy: 1e-5, "far from the patch nothing changes")
    }

    /// A strong step edge masks less than its gradient alone would suggest: W ~ 0.1 there.
    func testEdgeWeightLowersMasking() {
        let h = 16, w = 16
        var img = flatImage(60, height: h, width: w)
        for c in 0..<3 { for y in 0..<h { for x in 8..<w { img[(c * h + y) * w + x] = 160.0 / 255 } } }
        let j = jndOf(img, height: h, width: w)
        // At the edge column: G4 gives |(1+3+8+3+1) * -100| / 16 = 100, so unweighted T_t = 11.7.
        let bg: Float = (60 * 13 + 160 * 19) / 32        // B's column sums are 5, 8, 6, 8, 5
        let tl: Float = bg <= 127 ? 17 * (1 - (bg / 127).squareRoot()) + 3 : 3 / 128 * (bg - 127) + 3
        let unweighted = tl + 11.7 - 0.3 * min(tl, 11.7)
        XCTAssertLessThan(j[8 * w + 8], unweighted - 5, "edge protection must reduce masking on the edge")
        XCTAssertGreaterThan(j[8 * w + 8], tl, "but texture still adds something")
    }

    func testMaskThreshold() {
        let jnd: [Float] = [1, 2.5, 3, 0, 7]
        var out = [Float](repeating: -1, count: 5)
        jnd.withUnsafeBufferPointer { j in out.withUnsafeMutableBufferPointer { JNDMap.mask(jnd: j, threshold: 2.5, into: $0) } }
        XCTAssertEqual(out, [0, 1, 1, 0, 1])
    }

    func testComputeAllocatesNothing() throws {
        let fx = try metricsFixture()
        let img = fixtureImage(fx, 2)
        var map = JNDMap(height: 24, width: 32)
        var out = [Float](repeating: 0, count: 24 * 32)
        img.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                map.compute(p, into: o)                     // warm-up
                sega_malloc_counter_start()
                for _ in 0..<3 { map.compute(p, into: o) }
                let n = sega_malloc_counter_stop()
                XCTAssertEqual(n, 0, "heap allocations in JNDMap.compute")
            }
        }
        XCTAssertGreaterThan(out.max()!, 3)
    }
}

// MARK: - Liu et al. 2010

/// Liu's JND of a CHW image through a fresh JNDMap.
func liuOf(_ image: [Float], height h: Int, width w: Int) -> [Float] {
    var map = JNDMap(height: h, width: w)
    var out = [Float](repeating: -1, count: h * w)
    image.withUnsafeBufferPointer { img in out.withUnsafeMutableBufferPointer { map.compute(img, model: .liu, into: $0) } }
    return out
}

/// Luma 0..255 of a CHW image (JNDMap's).
func lumaOf(_ image: [Float], _ plane: Int) -> [Float] {
    var y = [Float](repeating: 0, count: plane)
    image.withUnsafeBufferPointer { img in y.withUnsafeMutableBufferPointer { JNDMap.luma(img, into: $0.baseAddress!, plane: plane) } }
    return y
}

/// The ROF structure of f (JNDMap's solver at the model's weight).
func rofOf(_ f: [Float], _ h: Int, _ w: Int, iterations: Int = JNDMap.tvIterations) -> [Float] {
    var u = f, px = f, py = f
    f.withUnsafeBufferPointer { fp in u.withUnsafeMutableBufferPointer { up in px.withUnsafeMutableBufferPointer { pxp in
        py.withUnsafeMutableBufferPointer { pyp in
            JNDMap.rof(fp.baseAddress!, into: up.baseAddress!, px: pxp.baseAddress!, py: pyp.baseAddress!, h, w,
                       weight: JNDMap.tvWeight, iterations: iterations)
        }
    } } }
    return u
}

/// Chou & Li's luminance adaptation of a background level.
func luminanceAdaptation(_ bg: Float) -> Float { bg <= 127 ? 17 * (1 - (bg / 127).squareRoot()) + 3 : 3 / 128 * (bg - 127) + 3 }

final class LiuJNDTests: XCTestCase {
    func liuFixture() throws -> JSONValue {
        let path = "\(repoRoot)/Tests/Fixtures/metrics/liu_jnd.json"
        let text = try XCTUnwrap(try? String(contentsOfFile: path, encoding: .utf8), "cannot read \(path)")
        return try JSONParser.parse(text)
    }

    /// The structure/texture split against scikit-image's denoise_tv_chambolle (same weight and
    /// iterations), and the whole map against an independent numpy version of the model
    /// (weights/fixtures/liu_jnd.py) on a scene with a flat block, texture and edges.
    func testMatchesScikitImageTVAndNumpyModel() throws {
        let fx = try liuFixture()
        let h = Int(fixtureNumber(fx["height"])), w = Int(fixtureNumber(fx["width"]))
        let image = fixtureNumbers(fx["image"]).map { Float($0) / 255 }
        XCTAssertEqual(image.count, 3 * h * w)
        XCTAssertEqual(Float(fixtureNumber(fx["tv"]?["weight"])), JNDMap.tvWeight)
        XCTAssertEqual(Int(fixtureNumber(fx["tv"]?["iterations"])), JNDMap.tvIterations)
        let y = lumaOf(image, h * w), u = rofOf(y, h, w)
        let skimage = fixtureNumbers(fx["tv"]?["u"]).map { Float($0) }
        XCTAssertEqual(skimage.count, h * w)
        let uWorst = zip(u, skimage).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(uWorst, 2e-3, "max |u - scikit-image's u| (luma units)")
        let texture = zip(y, u).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(texture, 10, "the fixture's texture must reach the textural layer")
        let expected = fixtureNumbers(fx["jnd"]).map { Float($0) }
        let got = liuOf(image, height: h, width: w)
        let worst = zip(got, expected).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 2e-3, "max |JND - numpy JND|")
        XCTAssertGreaterThan(expected.max()! - expected.min()!, 5, "a fixture map worth comparing")
    }

    /// A flat image has no structure gradient and no texture (TV leaves it exactly as it is),
    /// so JND = LA(level): the same values as Yang's model.
    func testFlatImagesAreLuminanceAdaptationOnly() {
        for level in [0, 64, 127, 200, 255] {
            let j = liuOf(flatImage(level, height: 9, width: 13), height: 9, width: 13)
            let expected = luminanceAdaptation(Float(level))
            XCTAssertEqual(j.min()!, expected, accuracy: 1e-4, "level \(level)")
            XCTAssertEqual(j.max()!, expected, accuracy: 1e-4, "level \(level)")
        }
    }

    /// The masking terms by hand on a given split: a 60|160 step edge at column 8 gives Chou &
    /// Li's maximal gradient |16 * -100| / 16 = 100 at columns 7 and 8; in the structure it masks
    /// 0.117 * 100 * 1 = 11.7, in the texture 0.117 * 100 * 3 = 35.1; LA comes from the luma.
    func testMaskingTermsByHand() {
        let h = 16, w = 16, plane = h * w
        let y = [Float](repeating: 60, count: plane)
        var step = [Float](repeating: 60, count: plane), flat = [Float](repeating: 0, count: plane)
        for r in 0..<h { for c in 8..<w { step[r * w + c] = 160 } }
        for i in 0..<plane { flat[i] = 0 }
        let stepTexture = step.map { $0 - 60 }   // 0 | 100: the same edge as a texture layer
        let la = luminanceAdaptation(60)
        for (u, t, cm) in [(step, flat, Float(11.7)), (flat, stepTexture, Float(35.1)), (step, stepTexture, Float(46.8))] {
            let j = combine(y, u, t, h, w)
            for r in [0, 8, 15] {
                for c in [7, 8] {
                    XCTAssertEqual(j[r * w + c], la + cm - 0.3 * min(la, cm), accuracy: 1e-3, "(\(r), \(c)) CM \(cm)")
                }
                XCTAssertEqual(j[r * w + 2], la, accuracy: 1e-5, "far from the edge only LA is left")
            }
        }
    }

    func combine(_ y: [Float], _ u: [Float], _ t: [Float], _ h: Int, _ w: Int) -> [Float] {
        let rows = (-3..<(h + 3)).map { min(max($0, 0), h - 1) }, cols = (-3..<(w + 3)).map { min(max($0, 0), w - 1) }
        let kern = JNDMap.kernels.flatMap { $0 }
        var out = [Float](repeating: 0, count: h * w)
        y.withUnsafeBufferPointer { yp in u.withUnsafeBufferPointer { up in t.withUnsafeBufferPointer { tp in
            kern.withUnsafeBufferPointer { kp in rows.withUnsafeBufferPointer { rp in cols.withUnsafeBufferPointer { cp in
                out.withUnsafeMutableBufferPointer { op in
                    JNDMap.liuCombine(yp.baseAddress!, structure: up.baseAddress!, texture: tp.baseAddress!, kp.baseAddress!,
                                      h, w, rp.baseAddress! + 3, cp.baseAddress! + 3, into: op.baseAddress!)
                }
            } } }
        } } }
        return out
    }

    /// What the model is for: fine texture goes to the textural layer and masks three times as
    /// much as Yang's model lets it (whose Sobel edge protection takes it for edges), while a
    /// strong step edge stays in the structure (edge masking, weight 1).
    func testTextureMasksMoreThanEdges() {
        let h = 32, w = 32
        var texture = flatImage(100, height: h, width: w), edge = flatImage(100, height: h, width: w)
        let s = NoiseStream(seed: 9)
        for y in 8..<24 {
            for x in 8..<24 {
                let v = Float(100 + Int(s.bits(UInt64(y * w + x)) % 33) - 16) / 255
                for c in 0..<3 { texture[(c * h + y) * w + x] = v }
            }
        }
        for c in 0..<3 { for y in 0..<h { for x in 16..<w { edge[(c * h + y) * w + x] = 200.0 / 255 } } }
        let liuT = liuOf(texture, height: h, width: w), yangT = jndOf(texture, height: h, width: w)
        var inLiu: Float = 0, inYang: Float = 0
        for y in 12..<20 { for x in 12..<20 { inLiu += liuT[y * w + x]; inYang += yangT[y * w + x] } }
        inLiu /= 64; inYang /= 64
        let la = luminanceAdaptation(100)
        XCTAssertGreaterThan(inLiu - la, 3 * (inYang - la), "texture masking: liu \(inLiu), yang \(inYang), LA \(la)")
        XCTAssertGreaterThan(inLiu, la + 2, "texture must raise the JND well above LA")
        // The step edge stays in the structure: the texture layer holds little of its 100 levels.
        let u = rofOf(lumaOf(edge, h * w), h, w)
        let stepInU = u[16 * w + 16] - u[16 * w + 15]
        XCTAssertGreaterThan(stepInU, 85, "the edge must stay in the structural layer (step \(stepInU) of 100)")
        let liuE = liuOf(edge, height: h, width: w)
        let bg = (100 * 13 + 200 * 19) / 32 as Float   // B's column sums 5, 8 | 6, 8, 5 around column 16
        XCTAssertLessThan(liuE[16 * w + 16], luminanceAdaptation(bg) + 0.117 * 100 * 1.2, "an edge masks as an edge, not as texture")
    }

    /// u minimises TV(u) + |u - f|^2 / (2 weight): lower than f's objective and than that of
    /// small random perturbations of u, on a random image.
    func testROFSolutionMinimisesItsObjective() {
        let h = 12, w = 15, n = h * w, lambda = JNDMap.tvWeight
        var f = [Float](repeating: 0, count: n)
        f.withUnsafeMutableBufferPointer { NoiseStream(seed: 21).fillUniform($0, amplitude: 60) }
        f = f.map { $0 + 120 }
        let u = rofOf(f, h, w, iterations: 400)
        func objective(_ v: [Float]) -> Double {
            var e = 0.0
            for r in 0..<h {
                for c in 0..<w {
                    let i = r * w + c
                    let gx = c < w - 1 ? Double(v[i + 1] - v[i]) : 0, gy = r < h - 1 ? Double(v[i + w] - v[i]) : 0
                    e += (gx * gx + gy * gy).squareRoot() + Double(v[i] - f[i]) * Double(v[i] - f[i]) / (2 * Double(lambda))
                }
            }
            return e
        }
        let eu = objective(u)
        XCTAssertLessThan(eu, 0.5 * objective(f))
        for k in 0..<8 {
            var d = [Float](repeating: 0, count: n)
            d.withUnsafeMutableBufferPointer { NoiseStream(seed: 22, UInt64(k)).fillUniform($0, amplitude: 0.5) }
            XCTAssertLessThan(eu, objective(zip(u, d).map { $0 + $1 }), "perturbation \(k) lowered the objective")
        }
    }

    func testComputeAllocatesNothing() throws {
        let img = testImage(height: 24, width: 32, seed: 4)
        var map = JNDMap(height: 24, width: 32)
        var out = [Float](repeating: 0, count: 24 * 32)
        img.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                map.compute(p, model: .liu, into: o)
                sega_malloc_counter_start()
                for _ in 0..<2 { map.compute(p, model: .liu, into: o) }
                XCTAssertEqual(sega_malloc_counter_stop(), 0, "heap allocations in the Liu JND")
            }
        }
        XCTAssertGreaterThan(out.max()!, out.min()!)
    }
}

// MARK: - Luminance cap

final class JNDLuminanceCapTests: XCTestCase {
    private func map(_ image: [Float], _ model: JNDModel, cap: Float, _ h: Int, _ w: Int) -> [Float] {
        var m = JNDMap(height: h, width: w)
        var out = [Float](repeating: -1, count: h * w)
        image.withUnsafeBufferPointer { img in out.withUnsafeMutableBufferPointer { m.compute(img, model: model, luminanceCap: cap, into: $0) } }
        return out
    }

    /// On a flat image the JND is luminance adaptation alone (no masking): Chou & Li's 20 levels
    /// on black, 3 on mid-grey (127), 3 + 3/128 * 128 = 6 on white; the cap clips it there and
    /// nowhere else.
    func testCapClipsLuminanceAdaptationOnFlatImages() {
        let h = 9, w = 11
        for model in JNDModel.allCases {
            for (level, la) in [(0, Float(20)), (127, 3), (255, 6)] {
                let img = flatImage(level, height: h, width: w)
                let free = map(img, model, cap: 0, h, w)
                XCTAssertEqual(free[h / 2 * w + w / 2], la, accuracy: 1e-4, "\(model) level \(level)")
                for cap: Float in [2, 4, 30] {
                    let capped = map(img, model, cap: cap, h, w)
                    XCTAssertTrue(capped.allSatisfy { abs($0 - min(la, cap)) < 1e-4 }, "\(model) level \(level) cap \(cap)")
                }
            }
        }
    }

    /// No cap (0) is the published model bit for bit; a cap never raises the map, and a cap above
    /// the largest LA (20) changes nothing.
    func testNoCapIsThePublishedMapAndACapOnlyLowersIt() {
        let h = 23, w = 31
        var img = [Float](repeating: 0, count: 3 * h * w)
        img.withUnsafeMutableBufferPointer { NoiseStream(seed: 91).fillUniform($0, amplitude: 0.5) }
        img = img.map { $0 + 0.5 }
        for model in JNDModel.allCases {
            let published = model == .yang ? jndOf(img, height: h, width: w) : liuOf(img, height: h, width: w)
            XCTAssertEqual(map(img, model, cap: 0, h, w).map(\.bitPattern), published.map(\.bitPattern), "\(model)")
            XCTAssertEqual(map(img, model, cap: 21, h, w).map(\.bitPattern), published.map(\.bitPattern), "\(model)")
            let capped = map(img, model, cap: 3, h, w)
            XCTAssertTrue(zip(capped, published).allSatisfy { $0 <= $1 }, "\(model)")
            XCTAssertTrue(zip(capped, published).contains { $0 < $1 }, "\(model): the cap changed nothing on noise")
        }
    }
}
