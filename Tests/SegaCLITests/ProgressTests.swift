import Foundation
import SegaIO
@testable import SegaCLI
import XCTest

/// --progress: lines for logs when stderr is not a terminal, at most one per interval, always the
/// last; the bar and nothing on request; bad values refused.
final class ProgressTests: XCTestCase {
    var tmp = ""
    let fixtures = repoRoot + "/Tests/Fixtures"

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "sega-progress-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp + "/in", withIntermediateDirectories: true)
        for (i, name) in ["a", "b"].enumerated() {
            var im = RGBImage(width: 40, height: 36)
            for p in 0..<im.pixels.count { im.pixels[p] = Float((p * 31 + i * 97) % 256) / 255 }
            try ImageFile.writePNG(im, to: "\(tmp)/in/\(name).png")
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    /// The progress lines of a run's stderr, parsed: (done, total, ETA text); fails on a malformed one.
    func progressLines(_ err: String, label: String, unit: String) -> [(Int, Int, String)] {
        let re = try! NSRegularExpression(pattern: #"^\[\#(label)\] (\d+)/(\d+) \#(unit), \d+:\d\d elapsed, ETA (--|\d+:\d\d)$"#)
        return err.split(separator: "\n").map(String.init).filter { $0.hasPrefix("[\(label)]") }.compactMap { line in
            let r = NSRange(line.startIndex..., in: line)
            guard let m = re.firstMatch(in: line, range: r) else { XCTFail("malformed progress line '\(line)'"); return nil }
            let g = { (i: Int) in String(line[Range(m.range(at: i), in: line)!]) }
            return (Int(g(1))!, Int(g(2))!, g(3))
        }
    }

    func attack(_ extra: [String]) throws -> SegaRun {
        try runSega(["attack", "--sources", "\(fixtures)/cnniqa.safetensors", "--method", "random", "--iters", "1",
                     "--threads", "1", "\(tmp)/in/a.png", "\(tmp)/in/b.png", "-o", "\(tmp)/out"] + extra)
    }

    func testAttackWritesProgressLinesWhenStderrIsNotATerminal() throws {
        let r = try attack(["--progress", "lines", "--progress-interval", "0"])
        XCTAssertEqual(r.status, 0, r.err)
        let lines = progressLines(r.err, label: "attack", unit: "images")
        XCTAssertEqual(lines.map { "\($0.0)/\($0.1)" }, ["0/2", "1/2", "2/2"], r.err)
        XCTAssertEqual(lines.first?.2, "--")
        XCTAssertEqual(lines.last?.2, "0:00")
        XCTAssertFalse(r.err.contains("\r"), "a bar was drawn into a pipe")
        XCTAssertEqual(r.out.split(separator: "\n").count, 2, "stdout keeps only the JSON lines")
    }

    func testAutoIsLinesInAPipeAndNoneIsSilent() throws {
        // auto on a pipe: lines; the default interval (30 s) leaves the first and the last.
        let auto = try attack([])
        XCTAssertEqual(auto.status, 0, auto.err)
        XCTAssertEqual(progressLines(auto.err, label: "attack", unit: "images").map { "\($0.0)/\($0.1)" }, ["0/2", "2/2"], auto.err)
        // The same outputs again: replacing them takes --overwrite (an existing file is never replaced silently).
        let none = try attack(["--progress", "none", "--overwrite"])
        XCTAssertEqual(none.status, 0, none.err)
        XCTAssertFalse(none.err.contains("[attack]") || none.err.contains("\r"), none.err)
        let bar = try attack(["--progress", "bar", "--overwrite"])
        XCTAssertTrue(bar.err.contains("\rsega attack [") && bar.err.contains("2/2 ETA 0m00s"), bar.err)
    }

    func testEvalWritesProgressLines() throws {
        let r = try runSega(["eval", "--sources", "\(fixtures)/cnniqa.safetensors", "--targets", "\(fixtures)/lite0.safetensors",
                             "--images", "\(tmp)/in", "--methods", "random", "--iters", "1", "--threads", "1", "--sheets", "0",
                             "--progress", "lines", "--progress-interval", "0", "-o", "\(tmp)/rep"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(progressLines(r.err, label: "eval", unit: "attacks").map { "\($0.0)/\($0.1)" }, ["0/2", "1/2", "2/2"], r.err)
    }

    func testBadProgressValuesAreRefused() throws {
        let mode = try attack(["--progress", "sometimes"])
        XCTAssertNotEqual(mode.status, 0)
        XCTAssertTrue(mode.err.contains("--progress 'sometimes' is not one of auto, bar, lines, none"), mode.err)
        let interval = try attack(["--progress-interval=-1"])
        XCTAssertNotEqual(interval.status, 0)
        XCTAssertTrue(interval.err.contains("--progress-interval must be"), interval.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(tmp)/out/a.png"), "wrote output after a bad flag")
    }

    /// Lines at most every interval on a given clock: the first step, then >= 30 s apart, and the end.
    func testLinesAreThrottledAndTheLastIsAlwaysWritten() {
        var now = 100.0, out: [String] = []
        let p = Progress(.lines, label: "eval", unit: "attacks", interval: 30, clock: { now }, write: { out.append($0) })
        for (t, done) in [(100.0, 0), (110, 1), (131, 2), (160, 3), (161, 4)] { now = t; p.update(done, 5, "x") }
        now = 165; p.update(5, 5, "")
        now = 170; p.update(5, 5, "")   // a second end call writes nothing
        XCTAssertEqual(out, ["[eval] 0/5 attacks, 0:00 elapsed, ETA --\n",
                             "[eval] 2/5 attacks, 0:31 elapsed, ETA 0:46\n",
                             "[eval] 4/5 attacks, 1:01 elapsed, ETA 0:15\n",
                             "[eval] 5/5 attacks, 1:05 elapsed, ETA 0:00\n"])
    }

    func testClockText() {
        XCTAssertEqual([0, 59.9, 724, 3599, 3600, 3725, 36000].map(Progress.clockText),
                       ["0:00", "0:59", "12:04", "59:59", "1:00:00", "1:02:05", "10:00:00"])
    }
}
