import XCTest
import SegaAttack
@testable import SegaCLI

/// The report's resample statistics (from draw counts) against Metrics on the resampled arrays.
final class ReportResampleTests: XCTestCase {
    /// Scores with ties (rounded) and resamples with repeated images: every metric agrees with
    /// Metrics on the copied resample to 1e-12, and the intervals match a bootstrap of Metrics.
    func testCountStatisticsEqualMetricsOnTheResampledArrays() {
        let n = 23
        let c = (0..<n).map { Double(($0 * 37) % 11) }                       // ties in the clean scores
        var a: [Double] = []                                                  // and in the attacked
        for i in 0..<n { a.append((Double((i * 53) % 17) * 0.7 + Double(i) * 0.1).rounded()) }
        let s = Report.ResampleStats(clean: c, attacked: a, range: (lo: -5, hi: 20))
        for r in 0..<200 {
            let stream = NoiseStream(seed: 3, UInt64(r))
            let m = r % 3 == 0 ? 2 + r % 5 : n                                // some tiny resamples
            let idx = (0..<m).map { Int(stream.bits(UInt64($0)) % UInt64(n)) }
            let k = Report.counts(idx, n)
            let rc = idx.map { c[$0] }, ra = idx.map { a[$0] }
            func same(_ x: Double, _ y: Double, _ what: String) {
                if x.isNaN || y.isNaN { XCTAssertTrue(x.isNaN && y.isNaN, "\(what) resample \(r): \(x) vs \(y)") }
                else { XCTAssertEqual(x, y, accuracy: 1e-12, "\(what) resample \(r)") }
            }
            same(s.srocc(k), Metrics.srocc(rc, ra), "srocc")
            same(s.plcc(k), Metrics.plcc(rc, ra), "plcc")
            same(s.krocc(k), Metrics.krocc(rc, ra), "krocc")
            same(s.robustness(k), Metrics.robustness(clean: rc, attacked: ra, lo: -5, hi: 20), "R")
            same(s.meanAbsDelta(k), Metrics.meanAbsDelta(clean: rc, attacked: ra), "mean abs delta")
        }
        let fast = Report.interval(n, s.statistic(Report.Metric.krocc)), slow = Metrics.bootstrapInterval(c, a, statistic: { Metrics.krocc($0, $1) })
        XCTAssertEqual(fast.lo, slow.lo, accuracy: 1e-12)
        XCTAssertEqual(fast.hi, slow.hi, accuracy: 1e-12)
    }
}
