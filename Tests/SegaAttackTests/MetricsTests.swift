import Foundation
import XCTest
import MallocCounter
import SegaModels
@testable import SegaAttack

// MARK: - Fixture (weights/fixtures/metrics.py)

/// Tests/Fixtures/metrics/metrics.json, found by walking up from this file to the directory holding Package.swift.
func metricsFixture(file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
    var dir = "\(#filePath)"
    repeat {
        dir = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
    } while !dir.isEmpty && !FileManager.default.fileExists(atPath: dir + "/Package.swift")
    let path = dir + "/Tests/Fixtures/metrics/metrics.json"
    let text = try XCTUnwrap(try? String(contentsOfFile: path, encoding: .utf8), "cannot read \(path)", file: file, line: line)
    return try JSONParser.parse(text)
}

/// The numbers of a JSON array (empty if it is not one).
func fixtureNumbers(_ v: JSONValue?) -> [Double] {
    guard case .array(let items)? = v else { return [] }
    return items.compactMap { if case .number(let d) = $0 { return d } else { return nil } }
}

func fixtureNumber(_ v: JSONValue?) -> Double {
    if case .number(let d)? = v { return d }
    return .nan
}

func fixtureArray(_ v: JSONValue?) -> [JSONValue] {
    if case .array(let items)? = v { return items }
    return []
}

/// Fixture image i as CHW Float: code k becomes Float(k) / 255, as the generator does in float32.
func fixtureImage(_ fx: JSONValue, _ i: Int) -> [Float] {
    fixtureNumbers(fixtureArray(fx["images"])[i]).map { Float($0) / 255 }
}

// MARK: - Correlations

final class MetricsTests: XCTestCase {
    func testCorrelationsMatchScipy() throws {
        let pairs = fixtureArray(try metricsFixture()["correlations"])
        XCTAssertEqual(pairs.count, 4)
        for p in pairs {
            let a = fixtureNumbers(p["a"]), b = fixtureNumbers(p["b"])
            let name = "\(String(describing: p["name"]))"
            XCTAssertEqual(a.count, b.count)
            XCTAssertGreaterThanOrEqual(a.count, 7)
            XCTAssertEqual(Metrics.srocc(a, b), fixtureNumber(p["srocc"]), accuracy: 1e-12, name)
            XCTAssertEqual(Metrics.plcc(a, b), fixtureNumber(p["plcc"]), accuracy: 1e-12, name)
            XCTAssertEqual(Metrics.krocc(a, b), fixtureNumber(p["krocc"]), accuracy: 1e-12, name)
        }
    }

    func testMonotoneAndReversed() {
        let a: [Double] = [0.1, 0.5, 2, 3, 10, 11]
        let up = a.map { $0 * $0 * $0 }, down = a.map { -exp($0) }
        XCTAssertEqual(Metrics.srocc(a, up), 1, accuracy: 1e-15)
        XCTAssertEqual(Metrics.krocc(a, up), 1, accuracy: 1e-15)
        XCTAssertEqual(Metrics.srocc(a, down), -1, accuracy: 1e-15)
        XCTAssertEqual(Metrics.krocc(a, down), -1, accuracy: 1e-15)
        XCTAssertEqual(Metrics.plcc(a, a.map { 3 * $0 - 2 }), 1, accuracy: 1e-15)
        XCTAssertLessThan(Metrics.plcc(a, up), 1 - 1e-3, "a cubic is not linear")
    }

    /// [1,2,3,4] vs [1,3,2,4]: 5 concordant, 1 discordant pair of 6 -> 4/6. With ties,
    /// [1,2,2,3] vs [1,2,3,3]: 4 concordant, 0 discordant, one tie in each -> 4 / sqrt(5 * 5) = 0.8.
    /// The bootstrap interval: exact on degenerate cases, the known percentiles of a two-point
    /// mean, deterministic per seed, bracketing the point estimate, shrinking as 1/sqrt(n), and of
    /// the width Fisher's z approximation predicts for Spearman (Bonett & Wright: SE 1.06/sqrt(n-3)).
    func testBootstrapInterval() {
        let up = (0..<30).map(Double.init)
        let (lo1, hi1) = Metrics.bootstrapInterval(up, up.map { 2 * $0 + 1 })
        XCTAssertEqual(lo1, 1, accuracy: 1e-12); XCTAssertEqual(hi1, 1, accuracy: 1e-12)
        // Mean of a resample of {0, 1}: 0, 1/2, 1 with probability 1/4, 1/2, 1/4.
        let mean: ([Double], [Double]) -> Double = { a, _ in a.reduce(0, +) / Double(a.count) }
        let (l, h) = Metrics.bootstrapInterval([0, 1], [0, 0], statistic: mean)
        XCTAssertEqual(l, 0); XCTAssertEqual(h, 1)
        let (l40, h40) = Metrics.bootstrapInterval([0, 1], [0, 0], level: 0.4, statistic: mean)
        XCTAssertEqual(l40, 0.5); XCTAssertEqual(h40, 0.5)
        // Noisy monotone data: y = x + hashed noise.
        func data(_ n: Int) -> ([Double], [Double]) {
            let s = NoiseStream(seed: 7)
            let x = (0..<n).map { Double($0) / Double(n) }
            return (x, x.enumerated().map { $0.element + 0.6 * (s.uniform(UInt64($0.offset)) - 0.5) })
        }
        let (x, y) = data(40)
        let rho = Metrics.srocc(x, y)
        let (lo, hi) = Metrics.bootstrapInterval(x, y)
        XCTAssertTrue(lo < rho && rho < hi, "\(lo) \(rho) \(hi)")
        let again = Metrics.bootstrapInterval(x, y)
        XCTAssertEqual(again.lo, lo); XCTAssertEqual(again.hi, hi)
        let other = Metrics.bootstrapInterval(x, y, seed: 1)
        XCTAssertNotEqual(other.lo, lo)
        let z = atanh(rho), se = 1.06 / Double(40 - 3).squareRoot()
        let fisher = tanh(z + 1.96 * se) - tanh(z - 1.96 * se)
        XCTAssertGreaterThan(hi - lo, fisher / 2, "bootstrap width \(hi - lo) vs Fisher \(fisher)")
        XCTAssertLessThan(hi - lo, fisher * 2, "bootstrap width \(hi - lo) vs Fisher \(fisher)")
        let (x4, y4) = data(160)
        let (lo4, hi4) = Metrics.bootstrapInterval(x4, y4)
        XCTAssertLessThan(hi4 - lo4, 0.75 * (hi - lo), "four times the images should about halve the width")
        XCTAssertTrue(Metrics.bootstrapInterval([1], [2]).lo.isNaN)
        XCTAssertTrue(Metrics.bootstrapInterval([1, 1, 1], [1, 2, 3]).lo.isNaN, "constant scores: every resample is NaN")
    }

    func testKendallByHand() {
        XCTAssertEqual(Metrics.krocc([1, 2, 3, 4], [1, 3, 2, 4]), 2.0 / 3.0, accuracy: 1e-15)
        XCTAssertEqual(Metrics.krocc([1, 2, 2, 3], [1, 2, 3, 3]), 0.8, accuracy: 1e-15)
    }

    func testAverageRanks() {
        XCTAssertEqual(Metrics.averageRanks([10, 20, 20, 5, 20]), [2, 4, 4, 1, 4])
    }

    func testDegenerateInputsAreNaN() {
        XCTAssertTrue(Metrics.srocc([1], [2]).isNaN)
        XCTAssertTrue(Metrics.plcc([1, 1, 1], [1, 2, 3]).isNaN)
        XCTAssertTrue(Metrics.krocc([1, 2, 3], [4, 4, 4]).isNaN)
        XCTAssertTrue(Metrics.srocc([1, 2, 3], [1, 2]).isNaN)
        XCTAssertTrue(Metrics.srocc([2, 2], [1, 3]).isNaN)
    }

    // MARK: - Score displacement

    /// clean 20 -> 22: room max(20, 80) = 80, moved 2 -> log10 40; clean 90 unmoved: moved is
    /// floored at 1e-6 * 100 -> log10(90 / 1e-4).
    func testRobustnessByHand() {
        let r = Metrics.robustness(clean: [20, 90], attacked: [22, 90], lo: 0, hi: 100)
        XCTAssertEqual(r, (log10(40.0) + log10(9e5)) / 2, accuracy: 1e-12)
        XCTAssertEqual(Metrics.robustness(clean: [50], attacked: [40], lo: 0, hi: 100), log10(5.0), accuracy: 1e-15)
        XCTAssertEqual(Metrics.meanAbsDelta(clean: [20, 90, 1], attacked: [22, 90, 0]), 1, accuracy: 1e-15)
    }

    func testRobustnessMatchesNumpy() throws {
        let rb = try XCTUnwrap(try metricsFixture()["robustness"])
        let clean = fixtureNumbers(rb["clean"]), attacked = fixtureNumbers(rb["attacked"])
        XCTAssertEqual(clean.count, 20)
        let r = Metrics.robustness(clean: clean, attacked: attacked, lo: fixtureNumber(rb["lo"]), hi: fixtureNumber(rb["hi"]))
        XCTAssertEqual(r, fixtureNumber(rb["r"]), accuracy: 1e-12)
        XCTAssertEqual(Metrics.meanAbsDelta(clean: clean, attacked: attacked), fixtureNumber(rb["meanAbsDelta"]), accuracy: 1e-12)
    }

    // MARK: - Pixel distances

    /// Every value moved up by one 8-bit step: PSNR = 20 log10(255) (Float rounding of k/255 aside).
    func testPSNRUniformShift() {
        let a = (0..<3000).map { Float($0 % 250) / 255 }, b = (0..<3000).map { Float($0 % 250 + 1) / 255 }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                XCTAssertEqual(Metrics.psnr(pa, pb), 20 * log10(255.0), accuracy: 1e-3)
                XCTAssertEqual(Metrics.linf(pa, pb), 1.0 / 255, accuracy: 1e-7)
                XCTAssertEqual(Metrics.l2(pa, pb), 3000.0.squareRoot() / 255, accuracy: 1e-5)
                XCTAssertEqual(Metrics.psnr(pa, pa), .infinity)
                XCTAssertEqual(Metrics.l2(pa, pa), 0)
            }
        }
    }

    func testDistancesMatchFixture() throws {
        let fx = try metricsFixture()
        let cases = fixtureArray(fx["distances"])
        XCTAssertEqual(cases.count, 2)
        for c in cases {
            let a = fixtureImage(fx, Int(fixtureNumber(c["a"]))), b = fixtureImage(fx, Int(fixtureNumber(c["b"])))
            XCTAssertEqual(a.count, 3 * 24 * 32)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    XCTAssertEqual(Metrics.psnr(pa, pb), fixtureNumber(c["psnr"]), accuracy: 1e-9)
                    XCTAssertEqual(Metrics.linf(pa, pb), fixtureNumber(c["linf"]), accuracy: 1e-12)
                    XCTAssertEqual(Metrics.l2(pa, pb), fixtureNumber(c["l2"]), accuracy: 1e-12)
                }
            }
        }
    }

    // MARK: - SSIM

    func testSSIMMatchesSkimage() throws {
        let fx = try metricsFixture()
        let h = Int(fixtureNumber(fx["height"])), w = Int(fixtureNumber(fx["width"]))
        let cases = fixtureArray(fx["ssim"])
        XCTAssertEqual(cases.count, 3)
        var ws = SSIMWorkspace(height: h, width: w)
        for c in cases {
            let a = fixtureImage(fx, Int(fixtureNumber(c["a"]))), b = fixtureImage(fx, Int(fixtureNumber(c["b"])))
            let expected = fixtureNumber(c["ssim"])
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    XCTAssertEqual(SSIM.ssim(pa, pb, height: h, width: w), expected, accuracy: 1e-6)
                    XCTAssertEqual(ws.ssim(pa, pb), expected, accuracy: 1e-6)
                }
            }
        }
    }

    func testSSIMIdenticalAndShifted() throws {
        let fx = try metricsFixture()
        let a = fixtureImage(fx, 0)
        let b = a.map { min($0 + 0.1, 1) }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                XCTAssertEqual(SSIM.ssim(pa, pa, height: 24, width: 32), 1, accuracy: 1e-12)
                let s = SSIM.ssim(pa, pb, height: 24, width: 32)
                XCTAssertLessThan(s, 0.999)
                XCTAssertGreaterThan(s, 0.5, "a brightness shift keeps the structure")
            }
        }
    }

    func testSSIMTooSmallIsNaN() {
        let a = [Float](repeating: 0.5, count: 3 * 10 * 20)
        a.withUnsafeBufferPointer { pa in
            XCTAssertTrue(SSIM.ssim(pa, pa, height: 10, width: 20).isNaN)
            XCTAssertTrue(SSIM.ssim(pa, pa, height: 20, width: 10).isNaN)
        }
        let c = (0..<(3 * 11 * 11)).map { Float($0 % 7) / 7 }
        c.withUnsafeBufferPointer { pc in
            XCTAssertEqual(SSIM.ssim(pc, pc, height: 11, width: 11), 1, accuracy: 1e-12, "11x11 is the smallest valid size")
        }
    }

    func testSSIMWorkspaceAllocatesNothing() throws {
        let fx = try metricsFixture()
        let a = fixtureImage(fx, 0), b = fixtureImage(fx, 1)
        var ws = SSIMWorkspace(height: 24, width: 32)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                let first = ws.ssim(pa, pb)
                sega_malloc_counter_start()
                var s = 0.0
                for _ in 0..<3 { s += ws.ssim(pa, pb) }
                let n = sega_malloc_counter_stop()
                XCTAssertEqual(n, 0, "heap allocations in SSIMWorkspace.ssim")
                XCTAssertEqual(s, 3 * first, accuracy: 1e-12)
            }
        }
    }
}
