import XCTest
import Foundation
import SegaIO
import SegaAttack

/// `sega attack` and `sega eval` as a user runs them: outputs, determinism across seeds and
/// thread counts, resume and shards, and every bad input refused with a message, a non-zero exit
/// and no output file.
final class AttackCLITests: XCTestCase {
    let fixtures = repoRoot + "/Tests/Fixtures"
    var tmp = ""

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "sega-attack-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp + "/in", withIntermediateDirectories: true)
        for (i, name) in ["a", "b", "c"].enumerated() { try writeImage("\(tmp)/in/\(name).png", seed: i) }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    func writeImage(_ path: String, seed: Int, width: Int = 48, height: Int = 40) throws {
        var im = RGBImage(width: width, height: height)
        for i in 0..<im.pixels.count {
            let v = (i * 7919 + seed * 104729) % 251
            im.pixels[i] = Float(60 + v / 2 + (i % width)) / 255
        }
        try ImageFile.writePNG(im, to: path)
    }

    func run(_ args: [String]) throws -> SegaRun { try runSega(args) }
    var sources: String { "\(fixtures)/cnniqa.safetensors,\(fixtures)/lite0.safetensors" }
    var targets: String { "\(fixtures)/dbcnn_lite0.safetensors,\(fixtures)/linearityiqa_lite0.safetensors" }

    func files(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// A JSON line without its timing field (the only field that may differ between runs).
    func stripSeconds(_ s: String) -> String {
        s.replacingOccurrences(of: #","seconds":[0-9.e+-]+"#, with: "", options: .regularExpression)
    }

    // MARK: attack

    func testAttackWritesPNGsAndJSONWithinBudgetAndKeepsInputs() throws {
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(tmp)/in/a.png"))
        let r = try run(["attack", "--sources", sources, "--iters", "3", "--samples", "2", "--eps", "4/255",
                         "--threads", "1", "\(tmp)/in/a.png", "\(tmp)/in/b.png", "-o", "\(tmp)/out"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(files("\(tmp)/out"), ["a.json", "a.png", "b.json", "b.png"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(tmp)/in/a.png")), before, "input modified")
        let lines = r.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let j = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(j["method"] as? String, "sega")
        XCTAssertEqual((j["scores_before"] as? [Double])?.count, 2)
        XCTAssertEqual(j["gradient_calls"] as? Int, 3 * 2 * 2)
        let linf = try XCTUnwrap(j["linf"] as? Double)
        XCTAssertLessThanOrEqual(linf, 4.0 / 255 + 1e-6)
        XCTAssertGreaterThan(linf, 0)
        XCTAssertGreaterThan(try XCTUnwrap(j["ssim"] as? Double), 0.5)
        let clean = try ImageFile.read("\(tmp)/in/a.png"), adv = try ImageFile.read("\(tmp)/out/a.png")
        var steps = 0
        for i in 0..<clean.pixels.count { steps = max(steps, Int(abs((adv.pixels[i] - clean.pixels[i]) * 255).rounded())) }
        XCTAssertLessThanOrEqual(steps, 4, "the written PNG leaves the eps ball")
    }

    /// --vt-samples reaches VT: K (1 + n) gradient calls per step, and a VT image that differs
    /// from the default's (the variance term averages other neighbours).
    func testVTSamplesFlagSetsTheBudget() throws {
        let base = ["attack", "--sources", sources, "--method", "vt", "--iters", "2", "--threads", "1", "\(tmp)/in/a.png"]
        let r = try run(base + ["--vt-samples", "3", "-o", "\(tmp)/vt3"])
        XCTAssertEqual(r.status, 0, r.err)
        let j = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        XCTAssertEqual(j["gradient_calls"] as? Int, 2 * (1 + 3) * 2)
        let d = try run(base + ["-o", "\(tmp)/vtd"])
        let jd = try JSONSerialization.jsonObject(with: Data(d.out.utf8)) as! [String: Any]
        XCTAssertEqual(jd["gradient_calls"] as? Int, 2 * (1 + AttackConfig().vtSamples) * 2)
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: "\(tmp)/vt3/a.png")),
                          try Data(contentsOf: URL(fileURLWithPath: "\(tmp)/vtd/a.png")))
    }

    func testSameSeedByteIdenticalAcrossThreadCounts() throws {
        var outs: [(Data, String)] = []
        for (i, threads) in ["1", "2", "1"].enumerated() {
            let seed = i == 2 ? "7" : "0"
            let r = try run(["attack", "--sources", sources, "--method", "sega", "--iters", "2", "--samples", "2",
                             "--mask-quantile", "0.3", "--jnd-threshold", "3", "--seed", seed, "--threads", threads,
                             "\(tmp)/in/a.png", "-o", "\(tmp)/out\(i)"])
            XCTAssertEqual(r.status, 0, r.err)
            outs.append((try Data(contentsOf: URL(fileURLWithPath: "\(tmp)/out\(i)/a.png")), stripSeconds(r.out)))
        }
        XCTAssertEqual(outs[0].0, outs[1].0, "1 and 2 threads wrote different PNGs")
        XCTAssertEqual(outs[0].1.replacingOccurrences(of: "out0", with: "X"), outs[1].1.replacingOccurrences(of: "out1", with: "X"))
        XCTAssertNotEqual(outs[0].0, outs[2].0, "another seed wrote the same PNG")
    }

    // MARK: eval

    func testEvalShardsResumeAndReport() throws {
        let common = ["eval", "--sources", sources, "--targets", targets, "--images", "\(tmp)/in",
                      "--methods", "sega,ifgsm,random", "--iters", "2", "--samples", "1", "--threads", "1", "-o", "\(tmp)/rep"]
        let s0 = try run(common + ["--shard", "0/2"])
        XCTAssertEqual(s0.status, 0, s0.err)
        XCTAssertTrue(s0.err.contains("2 of 3 image(s) complete") || s0.err.contains("0 of 3"), s0.err)
        XCTAssertTrue(s0.err.contains("6 attack(s) run"), s0.err)
        let s1 = try run(common + ["--shard", "1/2"])
        XCTAssertEqual(s1.status, 0, s1.err)
        XCTAssertTrue(s1.err.contains("3 attack(s) run") && s1.err.contains("3 of 3 image(s) complete"), s1.err)
        let report = try String(contentsOfFile: "\(tmp)/rep/report.md", encoding: .utf8)
        let again = try run(common)
        XCTAssertTrue(again.err.contains("0 attack(s) run, 9 already done"), again.err)
        XCTAssertEqual(try String(contentsOfFile: "\(tmp)/rep/report.md", encoding: .utf8), report, "resume changed the report")
        for m in ["sega", "ifgsm", "random"] { XCTAssertTrue(report.contains("| \(m) |"), report) }
        XCTAssertTrue(report.contains("dbcnn_lite0 SROCC"), report)
        // Long format: per method 2 targets x 5 metrics and 6 figures of its own; per method but sega
        // and per target the paired difference to sega, per method but random the one to random.
        let csv = try String(contentsOfFile: "\(tmp)/rep/report.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv[0], "tau,method,target,metric,value,ci95_lo,ci95_hi")
        XCTAssertEqual(csv.count, 1 + 3 * (2 * 5 + 6) + 2 * 2 + 2 * 2)
        XCTAssertTrue(csv.contains { $0.hasPrefix(",sega,dbcnn_lite0,srocc,") }, csv.joined(separator: "\n"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(tmp)/rep/report.json"))) as! [String: Any]
        XCTAssertEqual(json["complete"] as? Int, 3)
        XCTAssertTrue(try String(contentsOfFile: "\(tmp)/rep/srocc.svg", encoding: .utf8).hasPrefix("<svg"))
        // The default M^F (quantile 0.3) on, M^JND off: clean, attacked, perturbation, M^F under a label strip.
        let sheet = try ImageFile.read("\(tmp)/rep/sheets/a.png")
        XCTAssertEqual(sheet.width, 4 * 48 + 12)
        XCTAssertEqual(sheet.height, 40 + 13)
        XCTAssertEqual(files("\(tmp)/rep/records/sega"), ["a.json", "b.json", "c.json"])
        // Other settings are not resumed from these records: --sigma changes SEGA only (3 images
        // recomputed), --eps every method (9); the report then reflects the new settings.
        let sigma = try run(common + ["--sigma", "0.03"])
        XCTAssertEqual(sigma.status, 0, sigma.err)
        XCTAssertTrue(sigma.err.contains("3 attack(s) run, 6 already done"), sigma.err)
        let eps = try run(common + ["--sigma", "0.03", "--eps", "4/255"])
        XCTAssertTrue(eps.err.contains("9 attack(s) run, 0 already done"), eps.err)
        let rec = try String(contentsOfFile: "\(tmp)/rep/records/ifgsm/a.json", encoding: .utf8)
        XCTAssertTrue(rec.contains("eps=\(Float(4) / 255)"), rec)
    }

    /// A source retrained under the same name (same path, other bytes) invalidates the records
    /// made with the old weights: they are recomputed, not mixed into the report. A retrained
    /// target only re-scores the kept attacked images.
    func testEvalRecomputesWhenAModelsWeightsChange() throws {
        let source = "\(tmp)/source.safetensors", target = "\(tmp)/target.safetensors"
        try FileManager.default.copyItem(atPath: "\(fixtures)/lite0.safetensors", toPath: source)
        try FileManager.default.copyItem(atPath: "\(fixtures)/dbcnn_lite0.safetensors", toPath: target)
        let common = ["eval", "--sources", source, "--targets", target, "--images", "\(tmp)/in",
                      "--methods", "ifgsm,random", "--iters", "1", "--threads", "1", "-o", "\(tmp)/rep"]
        let first = try run(common)
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertTrue(first.err.contains("6 attack(s) run"), first.err)
        let rec = try String(contentsOfFile: "\(tmp)/rep/records/ifgsm/a.json", encoding: .utf8)
        XCTAssertNotNil(rec.range(of: #"weights=source:[0-9a-f]{16}""#, options: .regularExpression), rec)
        XCTAssertNotNil(rec.range(of: #""target_weights":"target:[0-9a-f]{16}""#, options: .regularExpression), rec)
        XCTAssertTrue(try run(common).err.contains("0 attack(s) run, 6 already done, 0 re-scored"))
        // "Retrain" the target: the same file name now holds other weights.
        try FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: "\(fixtures)/linearityiqa_lite0.safetensors", toPath: target)
        let rescored = try run(common)
        XCTAssertEqual(rescored.status, 0, rescored.err)
        XCTAssertTrue(rescored.err.contains("0 attack(s) run, 0 already done, 6 re-scored"), rescored.err)
        let rec2 = try String(contentsOfFile: "\(tmp)/rep/records/ifgsm/a.json", encoding: .utf8)
        XCTAssertNotEqual(rec2, rec)
        XCTAssertEqual(field(rec2, "scores_after"), field(rec, "scores_after"), "re-scoring changed the attack")
        XCTAssertNotEqual(field(rec2, "target_attacked"), field(rec, "target_attacked"))
        // "Retrain" the source: every record is recomputed.
        try FileManager.default.removeItem(atPath: source)
        try FileManager.default.copyItem(atPath: "\(fixtures)/cnniqa.safetensors", toPath: source)
        let again = try run(common)
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertTrue(again.err.contains("6 attack(s) run, 0 already done, 0 re-scored"), again.err)
        XCTAssertNotEqual(field(try String(contentsOfFile: "\(tmp)/rep/records/ifgsm/a.json", encoding: .utf8), "scores_after"),
                          field(rec, "scores_after"))
    }

    /// One field of a JSON record line, as parsed by Foundation (nil if absent).
    func field(_ line: String, _ key: String) -> NSObject? {
        ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?[key] as? NSObject
    }

    /// Adding a target to a finished eval re-scores the kept attacked images: the records are
    /// byte for byte those of a fresh run on both targets (timing aside), and a kept image that
    /// was damaged since is attacked again rather than trusted.
    func testEvalRescoresKeptImagesForNewTargets() throws {
        func common(_ targets: String, _ out: String) -> [String] {
            ["eval", "--sources", sources, "--targets", targets, "--images", "\(tmp)/in",
             "--methods", "sega,ifgsm", "--iters", "2", "--samples", "1", "--threads", "1", "-o", out]
        }
        let one = "\(fixtures)/dbcnn_lite0.safetensors"
        let r1 = try run(common(one, "\(tmp)/a"))
        XCTAssertEqual(r1.status, 0, r1.err)
        let onlyOne = try String(contentsOfFile: "\(tmp)/a/report.md", encoding: .utf8)
        let r2 = try run(common(targets, "\(tmp)/a"))
        XCTAssertEqual(r2.status, 0, r2.err)
        XCTAssertTrue(r2.err.contains("0 attack(s) run, 0 already done, 6 re-scored"), r2.err)
        let fresh = try run(common(targets, "\(tmp)/b"))
        XCTAssertTrue(fresh.err.contains("6 attack(s) run, 0 already done, 0 re-scored"), fresh.err)
        for m in ["sega", "ifgsm"] {
            XCTAssertEqual(files("\(tmp)/a/attacked/\(m)"), ["a.png", "b.png", "c.png"])
            for n in ["a", "b", "c"] {
                let ra = try String(contentsOfFile: "\(tmp)/a/records/\(m)/\(n).json", encoding: .utf8)
                let rb = try String(contentsOfFile: "\(tmp)/b/records/\(m)/\(n).json", encoding: .utf8)
                XCTAssertEqual(stripSeconds(ra).replacingOccurrences(of: "/a/", with: "/X/"),
                               stripSeconds(rb).replacingOccurrences(of: "/b/", with: "/X/"), "\(m) \(n)")
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(tmp)/a/attacked/\(m)/\(n).png")),
                               try Data(contentsOf: URL(fileURLWithPath: "\(tmp)/b/attacked/\(m)/\(n).png")))
            }
        }
        // Back to one target, with one kept image truncated: it is attacked again, the rest re-scored,
        // and the report is the first run's (timing column aside).
        let png = "\(tmp)/a/attacked/ifgsm/b.png"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: png))
        let r3 = try run(common(one, "\(tmp)/a"))
        XCTAssertEqual(r3.status, 0, r3.err)
        XCTAssertTrue(r3.err.contains("1 attack(s) run, 0 already done, 5 re-scored"), r3.err)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: png)), bytes, "the re-attack wrote another image")
        XCTAssertEqual(noTime(try String(contentsOfFile: "\(tmp)/a/report.md", encoding: .utf8)), noTime(onlyOne))
        XCTAssertTrue(try run(common(one, "\(tmp)/a")).err.contains("0 attack(s) run, 6 already done, 0 re-scored"))
    }

    /// A report.md without its s/image column.
    func noTime(_ s: String) -> String {
        s.split(separator: "\n").map { line -> String in
            var c = line.split(separator: "|", omittingEmptySubsequences: false)
            if c.count >= 4 { c.remove(at: c.count - 3) }
            return c.joined(separator: "|")
        }.joined(separator: "\n")
    }

    /// eval runs images in parallel when given threads (one worker per thread here: 3 images,
    /// 3 threads): every record, kept image, sheet and the report are the bytes one thread
    /// writes (timings aside).
    func testEvalWorkersWriteTheSameBytesAsOneThread() throws {
        for threads in ["1", "3"] {
            let r = try run(["eval", "--sources", sources, "--targets", targets, "--images", "\(tmp)/in",
                             "--methods", "sega,vt,random", "--iters", "2", "--samples", "2", "--vt-samples", "1",
                             "--threads", threads, "-o", "\(tmp)/t\(threads)"])
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertTrue(r.err.contains("9 attack(s) run, 0 already done"), r.err)
            XCTAssertTrue(r.err.contains("complete (\(threads) worker(s))"), r.err)
        }
        func text(_ p: String) throws -> String { try String(contentsOfFile: p, encoding: .utf8) }
        func data(_ p: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: p)) }
        for m in ["sega", "vt", "random"] {
            for n in ["a", "b", "c"] {
                XCTAssertEqual(stripSeconds(try text("\(tmp)/t1/records/\(m)/\(n).json")),
                               stripSeconds(try text("\(tmp)/t3/records/\(m)/\(n).json")), "\(m) \(n)")
                XCTAssertEqual(try data("\(tmp)/t1/attacked/\(m)/\(n).png"), try data("\(tmp)/t3/attacked/\(m)/\(n).png"), "\(m) \(n)")
            }
        }
        for n in ["a", "b", "c"] { XCTAssertEqual(try data("\(tmp)/t1/sheets/\(n).png"), try data("\(tmp)/t3/sheets/\(n).png")) }
        XCTAssertEqual(noTime(try text("\(tmp)/t1/report.md")), noTime(try text("\(tmp)/t3/report.md")))
        XCTAssertTrue(try text("\(tmp)/t1/report.md").contains("N 2, sigma"), "the report names SEGA's N")
        XCTAssertTrue(try text("\(tmp)/t1/report.md").contains("VT samples 1 radius 1.50 eps"), "the report names VT's settings")
    }

    /// Workers share --memory-limit-mb: a budget that holds one session but not two runs the
    /// images on one worker instead of refusing or overrunning it.
    func testEvalWorkersFitTheMemoryBudget() throws {
        let common = ["eval", "--sources", sources, "--targets", targets, "--images", "\(tmp)/in",
                      "--methods", "random", "--threads", "3"]
        let refused = try run(common + ["--memory-limit-mb", "1", "-o", "\(tmp)/m0"])
        XCTAssertNotEqual(refused.status, 0)
        let m = try XCTUnwrap(refused.err.range(of: #"[0-9.]+(?= MB needed)"#, options: .regularExpression), refused.err)
        let need = try XCTUnwrap(Double(refused.err[m]))
        let limit = Int((need + 0.1).rounded(.up))  // the message rounds to 0.1 MB
        XCTAssertLessThan(Double(limit), 2 * need, "the test needs a budget below two sessions")
        let one = try run(common + ["--memory-limit-mb", "\(limit)", "-o", "\(tmp)/m1"])
        XCTAssertEqual(one.status, 0, one.err)
        XCTAssertTrue(one.err.contains("3 of 3 image(s) complete (1 worker(s))"), one.err)
        let two = try run(common + ["--memory-limit-mb", "\(Int((2 * need).rounded(.up)))", "-o", "\(tmp)/m2"])
        XCTAssertTrue(two.err.contains("(2 worker(s))"), two.err)
        let pinned = try run(common + ["--workers", "1", "-o", "\(tmp)/m3"])
        XCTAssertTrue(pinned.err.contains("3 of 3 image(s) complete (1 worker(s))"), pinned.err)
        try expectRefused(common + ["--workers", "0", "-o", "\(tmp)/m4"], "--workers must be in 1...256", outDir: "\(tmp)/m4")
    }

    // MARK: bad input

    func expectRefused(_ args: [String], _ message: String, outDir: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(args)
        XCTAssertNotEqual(r.status, 0, "exit status", file: file, line: line)
        XCTAssertTrue(r.err.contains(message), "stderr: \(r.err)", file: file, line: line)
        XCTAssertEqual(files(outDir).filter { $0 != "records" && $0 != "sheets" }, [], "partial output left", file: file, line: line)
        for sub in ["records/sega", "sheets"] { XCTAssertEqual(files("\(outDir)/\(sub)"), [], file: file, line: line) }
    }

    func testBadInputsAreRefusedWithoutOutput() throws {
        let out = "\(tmp)/bad"
        let attack = ["attack", "--sources", sources, "--iters", "1", "--samples", "1"]
        // corrupt image (after a good one: nothing may be written for the good one either)
        try Data("not a png at all".utf8).write(to: URL(fileURLWithPath: "\(tmp)/in/corrupt.png"))
        try expectRefused(attack + ["\(tmp)/in/a.png", "\(tmp)/in/corrupt.png", "-o", out], "not a PNG or JPEG image", outDir: out)
        // truncated PNG
        let full = try Data(contentsOf: URL(fileURLWithPath: "\(tmp)/in/b.png"))
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: "\(tmp)/in/trunc.png"))
        try expectRefused(attack + ["\(tmp)/in/trunc.png", "-o", out], "trunc.png", outDir: out)
        // unknown model
        try expectRefused(["attack", "--sources", "no_such_model", "\(tmp)/in/a.png", "-o", out], "unknown source model 'no_such_model'", outDir: out)
        // eps out of range
        try expectRefused(attack + ["--eps=-1", "\(tmp)/in/a.png", "-o", out], "eps must be in (0, 1]", outDir: out)
        try expectRefused(attack + ["--eps", "2", "\(tmp)/in/a.png", "-o", out], "eps must be in (0, 1]", outDir: out)
        try expectRefused(attack + ["--eps", "x/255", "\(tmp)/in/a.png", "-o", out], "not a number or a fraction", outDir: out)
        // no images / empty list
        try expectRefused(attack + ["-o", out], "no input images", outDir: out)
        try Data("path,split\n".utf8).write(to: URL(fileURLWithPath: "\(tmp)/empty.csv"))
        try expectRefused(["eval", "--sources", sources, "--targets", targets, "--images", "\(tmp)/empty.csv", "-o", out],
                          "no images", outDir: out)
        // a list naming missing files
        try Data("path\nin/a.png\nin/missing.png\n".utf8).write(to: URL(fileURLWithPath: "\(tmp)/missing.csv"))
        try expectRefused(["eval", "--sources", sources, "--targets", targets, "--images", "\(tmp)/missing.csv", "-o", out],
                          "1 listed image(s) missing", outDir: out)
        // output directory that cannot be written (a path below a regular file)
        try expectRefused(attack + ["\(tmp)/in/a.png", "-o", "\(tmp)/in/a.png/sub"], "output directory", outDir: "\(tmp)/in/a.png/sub")
        // two inputs mapping to the same output name
        try FileManager.default.createDirectory(atPath: "\(tmp)/in2", withIntermediateDirectories: true)
        try writeImage("\(tmp)/in2/a.png", seed: 9)
        try expectRefused(attack + ["\(tmp)/in/a.png", "\(tmp)/in2/a.png", "-o", out], "would both write outputs named 'a'", outDir: out)
        // memory budget too small
        try expectRefused(attack + ["--memory-limit-mb", "1", "\(tmp)/in/a.png", "-o", out], "memory budget too small", outDir: out)
        // a model that is both source and target
        try expectRefused(["eval", "--sources", sources, "--targets", "\(fixtures)/cnniqa.safetensors", "--images", "\(tmp)/in", "-o", out],
                          "both a source and a target", outDir: out)
        // VT settings out of range
        try expectRefused(attack + ["--method", "vt", "--vt-samples", "0", "\(tmp)/in/a.png", "-o", out], "VT beta must be >= 0 and samples in 1...10000", outDir: out)
        try expectRefused(attack + ["--method", "vt", "--vt-beta=-1", "\(tmp)/in/a.png", "-o", out], "VT beta must be >= 0", outDir: out)
        // unknown method
        try expectRefused(attack + ["--method", "fgsm2", "\(tmp)/in/a.png", "-o", out], "unknown method 'fgsm2'", outDir: out)
    }
}
