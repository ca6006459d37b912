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
