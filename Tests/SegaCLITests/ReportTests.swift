import Foundation
import XCTest
import SegaAttack
@testable import SegaCLI

/// The eval report's aggregation and rendering on hand-made records.
final class ReportTests: XCTestCase {
    func records(_ clean: [Double], _ attacked: [Double]) -> [Report.Record] {
        zip(clean, attacked).enumerated().map {
            Report.Record(image: "im\($0.offset)", clean: [$0.element.0], attacked: [$0.element.1], ssim: 0.9, psnr: 30, seconds: 1, gradientCalls: 10)
        }
    }

    /// Paired differences against the first row: pairs by image name (order and missing images do
    /// not matter), exact on cases with a known answer, and rendered as a second table.
    func testPairedDifferenceAgainstTheFirstMethod() {
        let clean = (0..<10).map(Double.init)
        let kept = records(clean, clean.map { $0 + 1 })            // SROCC +1
        let inverted = records(clean, clean.map { -$0 })           // SROCC -1
        var shuffledPartial = Array(inverted.reversed().dropFirst(2))  // other order, 8 images
        shuffledPartial.swapAt(0, 3)
        let t = [("t", (lo: 0.0, hi: 100.0))]
        var rows = [Report.aggregate(method: "ref", records: kept, targets: t),
                    Report.aggregate(method: "same", records: kept, targets: t),
                    Report.aggregate(method: "inv", records: shuffledPartial, targets: t)]
        Report.pair(&rows, records: [kept, kept, shuffledPartial])
        XCTAssertNil(rows[0].versus)
        let same = rows[1].versus![0], inv = rows[2].versus![0]
        XCTAssertEqual(same.delta, 0); XCTAssertEqual(same.lo, 0); XCTAssertEqual(same.hi, 0)
        XCTAssertEqual(inv.delta, -2, accuracy: 1e-12)
        XCTAssertEqual(inv.lo, -2, accuracy: 1e-12); XCTAssertEqual(inv.hi, -2, accuracy: 1e-12)
        // Noisy case: the paired interval brackets the point difference.
        let noisyA = records(clean, clean.map { $0 + Double(($0 * 7).truncatingRemainder(dividingBy: 5)) })
        let noisyB = records(clean, clean.map { -$0 + Double(($0 * 3).truncatingRemainder(dividingBy: 4)) * 3 })
        var r2 = [Report.aggregate(method: "a", records: noisyA, targets: t), Report.aggregate(method: "b", records: noisyB, targets: t)]
        Report.pair(&r2, records: [noisyA, noisyB])
        let d = r2[1].versus![0]
        XCTAssertEqual(d.delta, r2[1].perTarget[0].srocc - r2[0].perTarget[0].srocc, accuracy: 1e-12)
        XCTAssertTrue(d.lo <= d.delta && d.delta <= d.hi && d.lo < d.hi, "\(d)")
        let h = Report.Header(sources: ["s"], targets: ["t"], config: AttackConfig(), images: 10, complete: 8)
        let md = Report.markdown(Report.Document(header: h, points: [Report.Point(tau: nil, rows: rows)], records: [kept, kept, shuffledPartial]))
        XCTAssertTrue(md.contains("SROCC(method) - SROCC(ref)"), md)
        XCTAssertTrue(md.contains("| t | inv | -2.0000 [-2.00, -2.00] |"), md)
    }

    /// A reversed ranking gives SROCC -1 with the interval [-1, -1]; the interval lands in every format.
    func testAggregateCarriesTheBootstrapInterval() {
        let clean = (0..<12).map(Double.init)
        let row = Report.aggregate(method: "m", records: records(clean, clean.map { 50 - $0 }), targets: [("t", (0, 100))])
        XCTAssertEqual(row.perTarget[0].srocc, -1, accuracy: 1e-12)
        XCTAssertEqual(row.perTarget[0].sroccLo, -1, accuracy: 1e-12)
        XCTAssertEqual(row.perTarget[0].sroccHi, -1, accuracy: 1e-12)
        let h = Report.Header(sources: ["s"], targets: ["t"], config: AttackConfig(), images: 12, complete: 12)
        let doc = Report.Document(header: h, points: [Report.Point(tau: nil, rows: [row])], records: [])
        XCTAssertTrue(Report.markdown(doc).contains("| m | -1.0000 [-1.00, -1.00] |"), Report.markdown(doc))
        XCTAssertTrue(Report.csv(doc).hasPrefix("tau,method,target,metric,value,ci95_lo,ci95_hi\n,m,t,srocc,-1,-1,"), Report.csv(doc))
        let json = try! JSONSerialization.jsonObject(with: Data(Report.json(doc).utf8)) as! [String: Any]
        let t = ((json["rows"] as! [[String: Any]])[0]["targets"] as! [[String: Any]])[0]
        let ci = t["srocc_ci95"] as! [Double]
        XCTAssertEqual(ci.count, 2)
        for v in ci { XCTAssertEqual(v, -1, accuracy: 1e-12) }
    }

    /// Negative SROCCs draw bars below the zero line (they were clipped to nothing before).
    func testChartDrawsNegativeBarsBelowZero() {
        let clean = (0..<8).map(Double.init)
        let down = Report.aggregate(method: "inverted", records: records(clean, clean.map { -$0 }), targets: [("t", (0, 100))])
        let same = Report.aggregate(method: "kept", records: records(clean, clean), targets: [("t", (0, 100))])
        let h = Report.Header(sources: ["s"], targets: ["t"], config: AttackConfig(), images: 8, complete: 8)
        let svg = Report.svg(h, [down, same])
        // Plot height 220 over [-1, 1]: zero at y = 30 + 110; SROCC -1 spans 140..250, +1 spans 30..140.
        XCTAssertTrue(svg.contains("y=\"140.0\" width=\"20.0\" height=\"110.0\""), svg)
        XCTAssertTrue(svg.contains("y=\"30.0\" width=\"20.0\" height=\"110.0\""), svg)
    }
}
