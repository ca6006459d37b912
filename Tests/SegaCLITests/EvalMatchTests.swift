import XCTest
import Foundation
import SegaIO
import SegaAttack

/// `sega eval --match-ssim` and `--report-only` as a user runs them: levels refused before any
/// work, matched records inside the ball, on the grid and in the SSIM window, the same bytes at
/// any thread count, levels added from the kept attacked images, and a report rebuilt from the
/// records alone that is byte for byte the full run's.
final class EvalMatchTests: XCTestCase {
    let fixtures = repoRoot + "/Tests/Fixtures"
    var tmp = ""
    let names = ["a", "b", "c"]

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "sega-match-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp + "/in", withIntermediateDirectories: true)
        for (i, name) in names.enumerated() { try writeImage("\(tmp)/in/\(name).png", seed: i) }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    /// A smooth 48x40 image with a little texture (so that +-eps noise lowers SSIM noticeably).
    func writeImage(_ path: String, seed: Int) throws {
        let width = 48, height = 40
        var im = RGBImage(width: width, height: height)
        for c in 0..<3 {
            for y in 0..<height {
                for x in 0..<width {
                    im.pixels[(c * height + y) * width + x] = Float(40 + 2 * y + x + 15 * c + 7 * seed + (x * 7 + y * 13 + seed) % 5 * 3) / 255
                }
            }
        }
        try ImageFile.writePNG(im, to: path)
    }

    var sources: String { "\(fixtures)/cnniqa.safetensors,\(fixtures)/lite0.safetensors" }
    var targets: String { "\(fixtures)/dbcnn_lite0.safetensors,\(fixtures)/linearityiqa_lite0.safetensors" }

    func eval(_ out: String, methods: String = "ifgsm,random", _ extra: [String] = []) -> [String] {
        ["eval", "--sources", sources, "--targets", targets, "--images", "\(tmp)/in", "--methods", methods,
         "--iters", "2", "--samples", "1", "--threads", "1", "-o", out] + extra
    }

    func text(_ p: String) throws -> String { try String(contentsOfFile: p, encoding: .utf8) }
    func data(_ p: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: p)) }
    func json(_ p: String) throws -> [String: Any] { try JSONSerialization.jsonObject(with: data(p)) as! [String: Any] }
    func exists(_ p: String) -> Bool { FileManager.default.fileExists(atPath: p) }

    /// A record's text without its timing field.
    func stripSeconds(_ s: String) -> String {
        s.replacingOccurrences(of: #","seconds":[0-9.e+-]+"#, with: "", options: .regularExpression)
    }

    /// report.md without the s/image column (found by its header in each table).
    func noTime(_ s: String) -> String {
        var drop: Int? = nil
        return s.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("|") else { drop = nil; return String(line) }
            var c = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            if drop == nil { drop = c.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "s/image" } ?? -1 }
            if let d = drop, d >= 0, d < c.count { c.remove(at: d) }
            return c.joined(separator: "|")
        }.joined(separator: "\n")
    }

    static let reportFiles = ["report.md", "report.csv", "report.json", "srocc.svg", "transfer.svg", "transfer.png", "index.html"]

    // MARK: bad levels

    func testBadLevelsAreRefusedBeforeAnyWork() throws {
        let cases = [("0", "SSIM level must be in (0, 1), got 0.0"), ("1", "got 1.0"), ("1.5", "got 1.5"), ("-0.1", "got -0.1"),
                     ("nan", "got nan"), ("inf", "got inf"), ("abc", "'abc' is not a number"), ("0.9,", "'' is not a number"),
                     ("0.9,0.85,0.9", "SSIM level 0.9 is given twice")]
        for (i, (value, message)) in cases.enumerated() {
            let out = "\(tmp)/bad\(i)"
            let r = try runSega(eval(out, ["--match-ssim=\(value)"]))
            XCTAssertNotEqual(r.status, 0, value)
            XCTAssertTrue(r.err.contains("--match-ssim: ") && r.err.contains(message), "\(value): \(r.err)")
            XCTAssertFalse(exists(out), "\(value): output written")
        }
        let r = try runSega(eval("\(tmp)/bad", ["--allow-missing"]))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("--allow-missing needs --report-only"), r.err)
        XCTAssertFalse(exists("\(tmp)/bad"))
    }

    // MARK: matched records

    /// Every record carries each level; each matched image, rebuilt from the kept attacked image
    /// and the recorded c, has the recorded SSIM and PSNR, lies within eps of the clean image and
    /// inside the attack's own L-inf, and its SSIM is in [tau, tau + 0.01] unless the attack was
    /// already above tau (then c = 1 and the attack's own figures).
    func testMatchedRecordsStayInTheBallAndInTheWindow() throws {
        let out = "\(tmp)/m"
        let r = try runSega(eval(out, ["--match-ssim", "0.99,0.9"]))
        XCTAssertEqual(r.status, 0, r.err)
        var statuses: [String: Int] = [:], aboveAt: [Double: Int] = [:]
        for m in ["ifgsm", "random"] {
            for n in names {
                let rec = try json("\(out)/records/\(m)/\(n).json")
                let matched = try XCTUnwrap(rec["matched"] as? [[String: Any]])
                XCTAssertEqual(matched.map { $0["tau"] as! Double }, [0.9, 0.99], "levels sorted")
                let clean = try ImageFile.read("\(tmp)/in/\(n).png"), adv = try ImageFile.read("\(out)/attacked/\(m)/\(n).png")
                var matcher = clean.pixels.withUnsafeBufferPointer { c in
                    adv.pixels.withUnsafeBufferPointer { a in SSIMMatcher(clean: c, attacked: a, height: 40, width: 48, eps: 8.0 / 255) }
                }
                for e in matched {
                    let tau = e["tau"] as! Double, c = e["c"] as! Double, ssim = e["ssim"] as! Double, status = e["status"] as! String
                    let what = "\(m) \(n) tau \(tau)"
                    statuses[status, default: 0] += 1
                    if status == "above" { aboveAt[tau, default: 0] += 1 }
                    var img = [Float](repeating: 0, count: clean.pixels.count)
                    img.withUnsafeMutableBufferPointer { matcher.render(c: c, into: $0) }
                    let (s, psnr, linf) = clean.pixels.withUnsafeBufferPointer { a in
                        img.withUnsafeBufferPointer { b in (SSIM.ssim(a, b, height: 40, width: 48), Metrics.psnr(a, b), Metrics.linf(a, b)) }
                    }
                    XCTAssertEqual(s, ssim, accuracy: 1e-12, what)
                    XCTAssertEqual(psnr, e["psnr"] as! Double, accuracy: 1e-9, what)
                    XCTAssertEqual(linf, e["linf"] as! Double, accuracy: 1e-9, what)
                    XCTAssertLessThanOrEqual(linf, 8.0 / 255 + 1e-6, what)
                    XCTAssertLessThanOrEqual(linf, rec["linf"] as! Double + 1e-9, what)
                    XCTAssertEqual((e["target_attacked"] as! [Double]).count, 2, what)
                    if status == "above" {
                        XCTAssertEqual(c, 1, what)
                        XCTAssertEqual(ssim, rec["ssim"] as! Double, what)
                        XCTAssertEqual(e["target_attacked"] as! [Double], rec["target_attacked"] as! [Double], what)
                    } else {
                        XCTAssertEqual(status, "scaled", what)
                        XCTAssertTrue(ssim >= tau && ssim <= tau + 0.01, "\(what): SSIM \(ssim)")
                        XCTAssertLessThan(rec["ssim"] as! Double, tau, "\(what): scaled although the attack was above")
                    }
                }
            }
        }
        XCTAssertGreaterThan(statuses["scaled", default: 0], 0, "the images must exercise the scaling: \(statuses)")
        let md = try text("\(out)/report.md")
        for heading in ["## equal eps", "## SSIM 0.90", "## SSIM 0.99", "## Robustness reading"] { XCTAssertTrue(md.contains(heading), heading) }
        let report = try json("\(out)/report.json")
        XCTAssertEqual(report["match_ssim"] as? [Double], [0.9, 0.99])
        for (k, tau) in [0.9, 0.99].enumerated() {
            let rows = (report["matched"] as! [[String: Any]])[k]["rows"] as! [[String: Any]]
            XCTAssertEqual(rows.map { $0["already_above"] as! Int }.reduce(0, +), aboveAt[tau, default: 0], "already above at \(tau)")
        }
        for f in EvalMatchTests.reportFiles { XCTAssertTrue(exists("\(out)/\(f)"), f) }
        let png = try ImageFile.read("\(out)/transfer.png")
        XCTAssertGreaterThan(png.width, 800)
    }

    /// One thread and two workers write the same records, kept images and report (timing aside;
    /// the charts and the page byte for byte).
    func testMatchingIsByteIdenticalAcrossThreadsAndWorkers() throws {
        for threads in ["1", "2"] {
            var args = eval("\(tmp)/t\(threads)", methods: "sega,random", ["--match-ssim", "0.95,0.99"])
            args[args.firstIndex(of: "--threads")! + 1] = threads
            let r = try runSega(args)
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertTrue(r.err.contains("complete (\(threads) worker(s))"), r.err)
        }
        for m in ["sega", "random"] {
            for n in names {
                XCTAssertEqual(stripSeconds(try text("\(tmp)/t1/records/\(m)/\(n).json")),
                               stripSeconds(try text("\(tmp)/t2/records/\(m)/\(n).json")), "\(m) \(n)")
                XCTAssertEqual(try data("\(tmp)/t1/attacked/\(m)/\(n).png"), try data("\(tmp)/t2/attacked/\(m)/\(n).png"))
            }
        }
        XCTAssertEqual(noTime(try text("\(tmp)/t1/report.md")), noTime(try text("\(tmp)/t2/report.md")))
        for f in ["srocc.svg", "transfer.svg", "transfer.png", "index.html"] {
            XCTAssertEqual(try data("\(tmp)/t1/\(f)"), try data("\(tmp)/t2/\(f)"), f)
        }
    }

    /// Adding levels to a finished eval attacks nothing: the kept images are matched and the
    /// records are byte for byte those of a fresh run with the levels; dropping the levels again
    /// gives back the first records.
    func testLevelsAreAddedFromTheKeptImages() throws {
        let a = "\(tmp)/a", b = "\(tmp)/b"
        XCTAssertEqual(try runSega(eval(a)).status, 0)
        let first = try names.map { try text("\(a)/records/ifgsm/\($0).json") }
        let kept = try data("\(a)/attacked/ifgsm/a.png")
        let added = try runSega(eval(a, ["--match-ssim", "0.95"]))
        XCTAssertTrue(added.err.contains("0 attack(s) run, 0 already done, 6 re-scored from kept images"), added.err)
        XCTAssertEqual(try data("\(a)/attacked/ifgsm/a.png"), kept)
        let fresh = try runSega(eval(b, ["--match-ssim", "0.95"]))
        XCTAssertTrue(fresh.err.contains("6 attack(s) run"), fresh.err)
        for m in ["ifgsm", "random"] {
            for n in names {
                XCTAssertEqual(stripSeconds(try text("\(a)/records/\(m)/\(n).json")).replacingOccurrences(of: "/a/", with: "/X/"),
                               stripSeconds(try text("\(b)/records/\(m)/\(n).json")).replacingOccurrences(of: "/b/", with: "/X/"), "\(m) \(n)")
            }
        }
        XCTAssertEqual(noTime(try text("\(a)/report.md")), noTime(try text("\(b)/report.md")))
        XCTAssertTrue(try runSega(eval(a, ["--match-ssim", "0.95"])).err.contains("0 attack(s) run, 6 already done, 0 re-scored"))
        let dropped = try runSega(eval(a))
        XCTAssertTrue(dropped.err.contains("0 attack(s) run, 0 already done, 6 re-scored"), dropped.err)
        XCTAssertEqual(try names.map { stripSeconds(try text("\(a)/records/ifgsm/\($0).json")) }, first.map(stripSeconds))
    }

    // MARK: report only

    /// --report-only over a copy of a finished run's records, kept images and sheets writes every
    /// report file byte for byte as the run did, and runs nothing; with a record missing it
    /// refuses (naming how many) and writes nothing, unless --allow-missing.
    func testReportOnlyRebuildsTheSameReport() throws {
        let full = "\(tmp)/full", copy = "\(tmp)/copy"
        let extra = ["--match-ssim", "0.95", "--sheets", "2"]
        XCTAssertEqual(try runSega(eval(full, methods: "sega,random", extra)).status, 0)
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        for d in ["records", "attacked", "sheets"] { try FileManager.default.copyItem(atPath: "\(full)/\(d)", toPath: "\(copy)/\(d)") }
        let r = try runSega(eval(copy, methods: "sega,random", extra + ["--report-only"]))
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("report only, nothing run; 3 of 3 image(s) complete, 0 record(s) missing"), r.err)
        for f in EvalMatchTests.reportFiles { XCTAssertEqual(try data("\(copy)/\(f)"), try data("\(full)/\(f)"), f) }
        XCTAssertTrue(try text("\(copy)/index.html").contains("src=\"sheets/a.png\""))
        // Missing records: refused before writing anything.
        let part = "\(tmp)/part"
        try FileManager.default.createDirectory(atPath: part, withIntermediateDirectories: true)
        for d in ["records", "attacked"] { try FileManager.default.copyItem(atPath: "\(full)/\(d)", toPath: "\(part)/\(d)") }
        try FileManager.default.removeItem(atPath: "\(part)/records/random/b.json")
        let refused = try runSega(eval(part, methods: "sega,random", extra + ["--report-only"]))
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("--report-only: 1 of 6 records (image x method) are missing"), refused.err)
        XCTAssertFalse(exists("\(part)/report.md"))
        let other = try runSega(eval(part, methods: "sega,random", ["--match-ssim", "0.9", "--report-only"]))
        XCTAssertTrue(other.err.contains("6 of 6 records"), "other levels: \(other.err)")
        let allowed = try runSega(eval(part, methods: "sega,random", extra + ["--report-only", "--allow-missing"]))
        XCTAssertEqual(allowed.status, 0, allowed.err)
        XCTAssertTrue(allowed.err.contains("2 of 3 image(s) complete, 1 record(s) missing"), allowed.err)
        XCTAssertEqual(try json("\(part)/report.json")["complete"] as? Int, 2)
        XCTAssertFalse(exists("\(part)/records/random/b.json"), "report-only wrote a record")
    }
}
