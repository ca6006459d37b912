import Foundation
import XCTest
import SegaAttack
import SegaIO
@testable import SegaCLI

/// The report at matched SSIM levels, the robustness reading, and every output format on
/// hand-made records with known answers.
final class ReportOutputTests: XCTestCase {
    let targets: [(String, (lo: Double, hi: Double))] = [("a", (0, 100)), ("b", (0, 100))]

    /// n images; target a's attacked scores from `a`, b's from `b` (clean: 0..<n for both);
    /// at each level in `matched` the same scores, SSIM `level + 0.005`, status `above` for the
    /// first `above` images.
    func records(_ n: Int, a: (Double) -> Double, b: (Double) -> Double, matched: [Double] = [], above: Int = 0) -> [Report.Record] {
        (0..<n).map { i in
            let x = Double(i)
            let ms = matched.map { tau in
                Report.Matched(tau: tau, c: i < above ? 1 : 0.5, ssim: tau + 0.005, psnr: 40, linf: 4.0 / 255, attacked: [a(x), b(x)],
                               status: i < above ? "above" : "scaled")
            }
            return Report.Record(image: "im\(i)", clean: [x, x], attacked: [a(x), b(x)], ssim: 0.8, psnr: 30, seconds: 1,
                                 gradientCalls: 10, matched: ms)
        }
    }

    /// Documents already computed, by levels (the bootstrap takes a while in a debug build).
    nonisolated(unsafe) static var cache: [[Double]: Report.Document] = [:]

    /// sega inverts target a's ranking (and keeps b's); random keeps both (with a small wobble,
    /// so that its SROCC is defined and below 1 on a).
    func document(taus: [Double] = [0.9]) -> Report.Document {
        if let d = ReportOutputTests.cache[taus] { return d }
        let d = makeDocument(taus: taus)
        ReportOutputTests.cache[taus] = d
        return d
    }

    func makeDocument(taus: [Double]) -> Report.Document {
        let n = 16
        let sega = records(n, a: { 100 - $0 }, b: { $0 + 1 }, matched: taus, above: 3)
        let random = records(n, a: { $0 + ($0.truncatingRemainder(dividingBy: 3) == 0 ? 1.5 : 0) }, b: { $0 }, matched: taus)
        let methods = ["sega", "random"]
        let pts = Report.points(methods: methods, records: [sega, random], targets: targets, taus: taus)
        var c = AttackConfig()
        c.maskQuantile = 0  // both masks off: the page must not list their panels
        let h = Report.Header(sources: ["s1", "s2"], targets: ["a", "b"], config: c, images: n, complete: n, taus: taus)
        return Report.Document(header: h, points: pts, records: [sega, random], sheets: ["im0"], imageNames: (0..<n).map { "im\($0)" })
    }

    /// One point per level after the equal-eps one; a matched point reads the matched scores and
    /// SSIM, and counts the images already above the level per method.
    func testMatchedPointsCountImagesAlreadyAbove() {
        let d = document(taus: [0.85, 0.9])
        XCTAssertEqual(d.points.map(\.tau), [nil, 0.85, 0.9])
        let raw = d.points[0].rows[0], at90 = d.points[2].rows[0]
        XCTAssertEqual(raw.meanSSIM, 0.8, accuracy: 1e-12)
        XCTAssertEqual(at90.meanSSIM, 0.905, accuracy: 1e-12)
        XCTAssertEqual(at90.alreadyAbove, 3)
        XCTAssertEqual(d.points[2].rows[1].alreadyAbove, 0)
        XCTAssertEqual(at90.unreachable, 0)
        XCTAssertEqual(at90.meanC, (3 * 1 + 13 * 0.5) / 16, accuracy: 1e-12)
        XCTAssertEqual(at90.perTarget[0].srocc, -1, accuracy: 1e-12)
        XCTAssertTrue(raw.meanC.isNaN, "equal eps has no scale")
        // Every metric has an interval that brackets its value.
        for m in Report.Metric.allCases {
            let e = d.points[2].rows[1].perTarget[0][m]
            XCTAssertTrue(e.lo <= e.value + 1e-12 && e.value <= e.hi + 1e-12, "\(m): \(e)")
        }
        // A record without a level is left out of that point (not counted as unmoved).
        var recs = d.records
        recs[0][0].matched = []
        let pts = Report.points(methods: ["sega", "random"], records: recs, targets: targets, taus: [0.85, 0.9])
        XCTAssertEqual(pts[1].rows[0].images, 15)
        XCTAssertEqual(pts[0].rows[0].images, 16)
    }

    /// The robustness reading names the target no method moves beyond random noise (b), and the
    /// method that moves the other one (sega moves a), at every point; without random it says
    /// the reading is not available.
    func testRobustnessReadingNamesTheTargetsNoMethodMovesBeyondRandom() throws {
        let d = document()
        for p in d.points {
            XCTAssertEqual(p.movedBeyondRandom!, [["sega"], []], "\(Report.pointName(p.tau))")
            XCTAssertEqual(p.decided, [true, true])
        }
        let v = d.points[0].rows[0].versusRandom!
        XCTAssertLessThan(v[0].hi, 0)
        XCTAssertTrue(v[1].lo <= 0 && v[1].hi >= 0, "\(v[1])")
        let md = Report.markdown(d)
        XCTAssertTrue(md.contains("| equal eps | a (sega) | b |"), md)
        XCTAssertTrue(md.contains("| SSIM 0.90 | a (sega) | b |"), md)
        XCTAssertTrue(md.contains("(moved beyond random)"), md)
        let json = try JSONSerialization.jsonObject(with: Data(Report.json(d).utf8)) as! [String: Any]
        let rob = json["robustness"] as! [[String: Any]]
        XCTAssertEqual(rob.count, 2)
        XCTAssertTrue(rob[0]["tau"] is NSNull)
        XCTAssertEqual(rob[1]["tau"] as? Double, 0.9)
        let ts = rob[1]["targets"] as! [[String: Any]]
        XCTAssertEqual(ts[0]["moved_beyond_random_by"] as? [String], ["sega"])
        XCTAssertEqual(ts[1]["moved_beyond_random_by"] as? [String], [])
        // Without random.
        let noRandom = Report.points(methods: ["sega"], records: [d.records[0]], targets: targets, taus: [0.9])
        XCTAssertNil(noRandom[0].movedBeyondRandom)
        let md2 = Report.markdown(Report.Document(header: d.header, points: noRandom, records: [d.records[0]]))
        XCTAssertTrue(md2.contains("Not available: add `random` to --methods"), md2)
    }

    /// report.csv: one row per point x method x target x metric plus each method's own figures,
    /// a header of seven columns, empty cells (never "null" or "nan") for missing values.
    func testCSVIsLongFormatWithEmptyCellsForMissingValues() {
        var d = document()
        let lines = Report.csv(d).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        XCTAssertEqual(lines[0], "tau,method,target,metric,value,ci95_lo,ci95_hi")
        let rows = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertTrue(rows.allSatisfy { $0.count == 7 })
        XCTAssertFalse(lines.contains { $0.contains("null") || $0.contains("nan") })
        // Per point and method: 2 targets x (5 metrics + the paired difference to the other method)
        // and its own figures (6 at equal eps, 7 at a level).
        XCTAssertEqual(rows.filter { $0[0] == "" }.count, 2 * (2 * 6 + 6))
        XCTAssertEqual(rows.filter { $0[0] == "0.9" }.count, 2 * (2 * 6 + 7))
        let srocc = rows.first { $0[0] == "0.9" && $0[1] == "sega" && $0[2] == "a" && $0[3] == "srocc" }!
        XCTAssertEqual(Double(srocc[4])!, -1, accuracy: 1e-12)
        XCTAssertNotNil(rows.first { $0[1] == "random" && $0[2] == "a" && $0[3] == "srocc_minus_sega" })
        XCTAssertEqual(rows.first { $0[0] == "0.9" && $0[1] == "sega" && $0[3] == "already_above" }?[4], "3")
        // A row of one image: no correlation, so empty cells.
        d.points = Report.points(methods: ["sega"], records: [Array(d.records[0].prefix(1))], targets: targets, taus: [])
        let one = Report.csv(d).split(separator: "\n").map(String.init)
        XCTAssertTrue(one.contains(",sega,a,srocc,,,"), one.joined(separator: "\n"))
        XCTAssertTrue(one.contains { $0.hasPrefix(",sega,a,mean_abs_delta,") })
    }

    /// report.json: lists are arrays, the settings an object with every setting of the table but
    /// the method, keyed by its C field, typed; the matched points under "matched".
    func testJSONHasArraysAndTheSettingsAsAnObject() throws {
        var d = document()
        var c = AttackConfig()
        c.iterations = 3
        d.header.config = c
        let j = try JSONSerialization.jsonObject(with: Data(Report.json(d).utf8)) as! [String: Any]
        XCTAssertEqual(j["sources"] as? [String], ["s1", "s2"])
        XCTAssertEqual(j["targets"] as? [String], ["a", "b"])
        XCTAssertEqual(j["methods"] as? [String], ["sega", "random"])
        XCTAssertEqual(j["match_ssim"] as? [Double], [0.9])
        let settings = j["settings"] as! [String: Any]
        let expected = Set(AttackSettings.all.filter { $0.id != .method }.map { $0.cField! })
        XCTAssertEqual(Set(settings.keys), expected)
        XCTAssertEqual(settings["iterations"] as? Int, 3)
        XCTAssertEqual(try XCTUnwrap(settings["eps"] as? Double), Double("\(Float(8.0 / 255))")!, accuracy: 0)
        XCTAssertEqual(settings["normalize_sources"] as? Bool, true)
        XCTAssertEqual(settings["direction"] as? String, "auto")
        XCTAssertTrue((j["settings_text"] as! String).contains("T 3"))
        let matched = j["matched"] as! [[String: Any]]
        XCTAssertEqual(matched.count, 1)
        let row = (matched[0]["rows"] as! [[String: Any]])[0]
        XCTAssertEqual(row["already_above"] as? Int, 3)
        let t = (row["targets"] as! [[String: Any]])[0]
        for k in ["srocc", "plcc", "krocc", "r", "mean_abs_delta"] {
            XCTAssertEqual((t["\(k)_ci95"] as? [Double])?.count, 2, k)
        }
        XCTAssertEqual((t["srocc_minus_random_ci95"] as? [Double])?.count, 2)
    }

    /// The bar chart draws each bar's interval: a vertical line from lo to hi at the bar's centre.
    func testBarChartDrawsTheIntervals() {
        let d = document()
        let svg = Report.svg(d.header, d.points[0].rows)
        let f = d.points[0].rows[1].perTarget[0]  // random on a: an interval of some width
        XCTAssertLessThan(f.sroccLo, f.sroccHi)
        func y(_ v: Double) -> String { ReportScene.n(30 + 220 * (1 - v) / 2) }
        // Group 1 (random), bar 0: x = 50 + 62 + 9 = 121, centre 121 + 10.
        XCTAssertTrue(svg.contains("<line x1=\"131.0\" y1=\"\(y(f.sroccLo))\" x2=\"131.0\" y2=\"\(y(f.sroccHi))\""), svg)
        XCTAssertTrue(svg.contains("<title>random / a: "), svg)
    }

    /// transfer.svg has a panel per target with each method's points (an open square at equal
    /// eps, a dot per level) joined by a line, a dashed guide per level; the PNG is the same
    /// drawing, with the method's colour where its dot is.
    func testTransferChartShowsEveryMethodAtEveryPoint() {
        let d = document(taus: [0.85, 0.9])
        let scene = Report.transferChart(d)
        let svg = scene.svg()
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 2 * 2, "a line per method and target")
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 2 * 2 * 2 + 2, "a dot per method, target and level (+ legend)")
        XCTAssertEqual(svg.components(separatedBy: "fill=\"#ffffff\" stroke=").count - 1, 2 * 2, "an open square per method and target")
        XCTAssertEqual(svg.components(separatedBy: "stroke-dasharray").count - 1, 2 * 2, "a guide per level and target")
        XCTAssertTrue(svg.contains(">a</text>") && svg.contains(">b</text>"))
        let png = scene.raster(scale: 2)
        XCTAssertEqual(png.width, Int((scene.width * 2).rounded(.up)))
        guard case let .circle(cx, cy, _, fill?, _, _)? = scene.shapes.first(where: { if case .circle = $0 { return true }; return false }) else {
            return XCTFail("no dot")
        }
        let c = ReportColor(hex: fill), x = Int(cx * 2), y = Int(cy * 2), plane = png.width * png.height
        let p = [png.pixels[y * png.width + x], png.pixels[plane + y * png.width + x], png.pixels[2 * plane + y * png.width + x]]
        XCTAssertEqual(p[0], c.r, accuracy: 0.02); XCTAssertEqual(p[1], c.g, accuracy: 0.02); XCTAssertEqual(p[2], c.b, accuracy: 0.02)
    }

    /// index.html: no script, nothing from the network, every image relative and inside the
    /// report folder; the settings, every point's tables, the charts and the sheets present.
    func testHTMLIsSelfContained() {
        let d = document()
        let html = Report.html(d)
        XCTAssertFalse(html.lowercased().contains("<script"))
        XCTAssertFalse(html.contains("http://") || html.contains("https://") || html.contains("//"), "no network reference")
        let srcs = html.components(separatedBy: "src=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        XCTAssertEqual(srcs, ["srocc.svg", "transfer.svg", "sheets/im0.png"])
        XCTAssertTrue(html.contains("<h2>equal eps</h2>") && html.contains("<h2>SSIM 0.90</h2>"))
        XCTAssertTrue(html.contains("<td>iterations</td><td>10</td>"), "settings table")
        XCTAssertFalse(html.contains("s/image"), "no timing column: the same records give the same page")
        XCTAssertTrue(html.contains("<td>a</td><td>0.00</td><td>100.00 (+100.00)</td><td>1.50 (+1.50)</td>"), "scores before and after")
        XCTAssertTrue(html.contains("Panels: clean; attacked; perturbation, ±eps."), "masks that are off are not listed")
        XCTAssertEqual(Report.urlPath("sheets/a b#1.png"), "sheets/a%20b%231.png")
    }

    /// Sheets leave out the masks that are off and label every panel.
    func testSheetPanelsFollowTheMasksAndAreLabelled() {
        var c = AttackConfig()
        XCTAssertEqual(Report.panels(c), [.clean, .attacked, .perturbation, .maskF], "M^F's quantile rule is on by default")
        c.maskQuantile = 0
        XCTAssertEqual(Report.panels(c), [.clean, .attacked, .perturbation])
        c.maskQuantile = 0.3
        XCTAssertEqual(Report.panels(c), [.clean, .attacked, .perturbation, .maskF])
        c.maskQuantile = 0; c.maskAgreement = 0.5; c.jndThreshold = 3
        XCTAssertEqual(Report.panels(c), [.clean, .attacked, .perturbation, .maskF, .maskJND])
        let w = 48, h = 40
        let clean = RGBImage(width: w, height: h, fill: 0.5)
        var adv = clean
        for i in 0..<adv.pixels.count { adv.pixels[i] += (i % 2 == 0 ? 1 : -1) * 4 / 255 }
        let sheet = Report.sheet(clean: clean, attacked: adv, eps: 4.0 / 255, panels: [.clean, .attacked, .perturbation],
                                 maskF: [], maskJND: [])
        XCTAssertEqual(sheet.width, 3 * w + 2 * 4)
        XCTAssertEqual(sheet.height, h + 13)
        // The label strip holds dark text pixels over each panel; the panels are below it.
        for k in 0..<3 {
            var dark = 0
            for y in 0..<13 {
                for x in 0..<w where sheet.pixels[y * sheet.width + k * (w + 4) + x] < 0.5 { dark += 1 }
            }
            XCTAssertGreaterThan(dark, 10, "panel \(k) label")
        }
        XCTAssertEqual(sheet.pixels[(13 + 5) * sheet.width + 5], 0.5, accuracy: 1e-6)
        XCTAssertEqual(sheet.pixels[(13 + 0) * sheet.width + 2 * (w + 4) + 0], 1, accuracy: 1e-6, "+eps is white")
        XCTAssertEqual(sheet.pixels[(13 + 0) * sheet.width + 2 * (w + 4) + 1], 0, accuracy: 1e-6, "-eps is black")
    }
}
