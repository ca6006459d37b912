import XCTest
import Foundation
@testable import SegaCLI
import SegaIO
import SegaModels
import SegaRuntime

/// The reliability issue's bugs and weak spots, each as a user meets them (the built `sega`
/// run as a subprocess, with a timeout where the bug was a hang): inputs that are not regular
/// files, inputs an output would replace, tiny images, Windows lists, stale resume records,
/// leftover temporary files, and the exit statuses of docs/bad-inputs.md's scheme
/// (0 ok, 1 failed during work, 2 refused before work, 64 usage).
final class ReliabilityTests: XCTestCase {
    let fixtures = repoRoot + "/Tests/Fixtures"
    var cnn: String { "\(fixtures)/cnniqa.safetensors" }
    var lite: String { "\(fixtures)/lite0.safetensors" }
    var tmp = ""
    let fm = FileManager.default

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "sega-rel-\(UUID().uuidString)"
        try fm.createDirectory(atPath: tmp + "/in", withIntermediateDirectories: true)
        for (i, n) in ["a", "b", "c"].enumerated() { try writeImage("\(tmp)/in/\(n).png", seed: i) }
    }

    override func tearDownWithError() throws { try? fm.removeItem(atPath: tmp) }

    func writeImage(_ path: String, seed: Int, width: Int = 24, height: Int = 20) throws {
        var im = RGBImage(width: width, height: height)
        for i in 0..<im.pixels.count { im.pixels[i] = Float((i * 7919 + seed * 104729) % 251) / 255 }
        try ImageFile.writePNG(im, to: path)
    }

    func data(_ p: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: p)) }
    func run(_ args: [String], env: [String: String] = [:]) throws -> SegaRun { try runSega(args, env: env, timeout: 120) }
    func eval(_ images: String, _ out: String, methods: String = "ifgsm") -> [String] {
        ["eval", "--sources", cnn, "--targets", lite, "--images", images, "--methods", methods, "--iters", "1",
         "--samples", "1", "--threads", "1", "-o", out]
    }
    func attack(_ extra: [String]) -> [String] { ["attack", "--sources", cnn, "--iters", "1", "--threads", "1"] + extra }

    func expect(_ r: SegaRun, _ status: Int32, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, "exit status; stderr: \(r.err)", file: file, line: line)
        XCTAssertTrue(r.err.contains(message), "stderr lacks `\(message)`: \(r.err)", file: file, line: line)
    }

    // MARK: - Bug 1: a FIFO hung every command

    func testFIFOsAreRefusedAtOnce() throws {
        XCTAssertEqual(mkfifo("\(tmp)/f.png", 0o644), 0)
        XCTAssertEqual(mkfifo("\(tmp)/list.csv", 0o644), 0)
        let t0 = Date()
        expect(try runSega(["score", "--model", cnn, "\(tmp)/f.png"], timeout: 20), 1, "\(tmp)/f.png: not a regular file")
        expect(try runSega(attack(["\(tmp)/f.png", "-o", "\(tmp)/o1"]), timeout: 20), 2, "\(tmp)/f.png: not a regular file")
        expect(try runSega(eval("\(tmp)/list.csv", "\(tmp)/o2"), timeout: 20), 2, "\(tmp)/list.csv: not a regular file")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 60)
    }

    // MARK: - Bug 2 and the late collision check: attack replaced inputs

    func testAttackNeverOverwritesAnInput() throws {
        try fm.createDirectory(atPath: "\(tmp)/d", withIntermediateDirectories: true)
        try fm.copyItem(atPath: "\(tmp)/in/a.png", toPath: "\(tmp)/d/photo.json")
        let before = try data("\(tmp)/d/photo.json")
        expect(try run(attack(["\(tmp)/d/photo.json", "-o", "\(tmp)/d"])), 2,
               "output '\(tmp)/d/photo.json' would overwrite the input '\(tmp)/d/photo.json'")
        XCTAssertEqual(try data("\(tmp)/d/photo.json"), before, "the input was replaced")
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: "\(tmp)/d"), ["photo.json"])
        // Outputs of the first image would be written before the second's collides with an input.
        try fm.createDirectory(atPath: "\(tmp)/same", withIntermediateDirectories: true)
        try fm.copyItem(atPath: "\(tmp)/in/c.png", toPath: "\(tmp)/same/a.png")
        expect(try run(attack(["\(tmp)/in/b.png", "\(tmp)/same/a.png", "-o", "\(tmp)/same"])), 2, "would overwrite the input")
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: "\(tmp)/same"), ["a.png"], "an output was written before the refusal")
    }

    /// An existing file that is not an input is replaced only with --overwrite.
    func testAttackRefusesToReplaceAnExistingFileWithoutOverwrite() throws {
        try fm.createDirectory(atPath: "\(tmp)/same", withIntermediateDirectories: true)
        try fm.copyItem(atPath: "\(fixtures)/e2e/cnniqa.jpg", toPath: "\(tmp)/same/c.jpg")
        try fm.copyItem(atPath: "\(tmp)/in/b.png", toPath: "\(tmp)/same/c.png")
        let before = try data("\(tmp)/same/c.png")
        expect(try run(attack(["\(tmp)/same/c.jpg", "-o", "\(tmp)/same"])), 2, "'\(tmp)/same/c.png' exists; pass --overwrite to replace it")
        XCTAssertEqual(try data("\(tmp)/same/c.png"), before)
        let r = try run(attack(["--overwrite", "\(tmp)/same/c.jpg", "-o", "\(tmp)/same"]))
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertNotEqual(try data("\(tmp)/same/c.png"), before)
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: "\(tmp)/same").sorted(), ["c.jpg", "c.json", "c.png"])
    }

    // MARK: - Bug 3: eval replaced inputs inside its report

    func testEvalNeverOverwritesInputsInsideItsReport() throws {
        let first = try run(eval("\(tmp)/in", "\(tmp)/R"))
        XCTAssertEqual(first.status, 0, first.err)
        let kept = try fm.contentsOfDirectory(atPath: "\(tmp)/R/attacked/ifgsm").sorted()
        XCTAssertEqual(kept, ["a.png", "b.png", "c.png"])
        let before = try kept.map { try data("\(tmp)/R/attacked/ifgsm/\($0)") }
        expect(try run(eval("\(tmp)/R/attacked/ifgsm", "\(tmp)/R")), 2,
               "'\(tmp)/R/attacked/ifgsm/a.png' would be overwritten by this report's output")
        XCTAssertEqual(try kept.map { try data("\(tmp)/R/attacked/ifgsm/\($0)") }, before, "an input was replaced")
        try fm.createDirectory(atPath: "\(tmp)/R/sheets", withIntermediateDirectories: true)
        try fm.copyItem(atPath: "\(tmp)/in/a.png", toPath: "\(tmp)/R/sheets/a.png")
        let sheet = try data("\(tmp)/R/sheets/a.png")
        expect(try run(eval("\(tmp)/R/sheets", "\(tmp)/R", methods: "sega")), 2, "would be overwritten by this report's output")
        XCTAssertEqual(try data("\(tmp)/R/sheets/a.png"), sheet)
    }

    // MARK: - Bug 4: images below SSIM's window never completed

    func testImagesBelowTheSSIMWindowAreRefusedUpFront() throws {
        try fm.createDirectory(atPath: "\(tmp)/tiny", withIntermediateDirectories: true)
        for (i, n) in ["a", "b", "c"].enumerated() { try writeImage("\(tmp)/tiny/\(n).png", seed: i, width: 13, height: 7) }
        expect(try run(eval("\(tmp)/tiny", "\(tmp)/R")), 2, "\(tmp)/tiny/a.png: image 13x7 is smaller than 11x11 (the SSIM window)")
        expect(try run(attack(["\(tmp)/tiny/a.png", "-o", "\(tmp)/o"])), 2, "image 13x7 is smaller than 11x11")
        XCTAssertFalse(fm.fileExists(atPath: "\(tmp)/o/a.png"))
    }

    /// A record whose SSIM or PSNR is not finite (written as null) reads back as such, so it
    /// counts as done instead of being attacked again on every run.
    func testRecordsWithNonFiniteMetricsRoundTrip() throws {
        let text = #"{"target_clean":[1.5],"target_attacked":[1.25],"ssim":null,"psnr":null,"seconds":0.1,"gradient_calls":2}"#
        let r = try XCTUnwrap(RecordStore.record(try JSONParser.parse(text)), "a record with null metrics is refused")
        XCTAssertTrue(r.ssim.isNaN)
        XCTAssertEqual(r.psnr, .infinity)
    }

    // MARK: - Bug 5 and the list weak spots: CRLF, BOM

    func testWindowsListsAreSplitAndTheBOMIsDropped() throws {
        let csv = try ImageList.parse("\u{FEFF}path,mos\r\na.png,1\r\nb.png,2\r\n", baseDirectory: "/d")
        XCTAssertEqual(csv.map(\.path), ["/d/a.png", "/d/b.png"])
        XCTAssertEqual(csv.map(\.mos), [1, 2])
        let plain = try ImageList.parse("\u{FEFF}a.png\r\n# note\r\nb.png\r\n", baseDirectory: "/d")
        XCTAssertEqual(plain.map(\.path), ["/d/a.png", "/d/b.png"])
        try Data("path\r\nin/a.png\r\nin/b.png\r\n".utf8).write(to: URL(fileURLWithPath: "\(tmp)/list.csv"))
        let r = try run(eval("\(tmp)/list.csv", "\(tmp)/R"))
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("2 of 2 image(s) complete"), r.err)
    }

    // MARK: - Bug 6: resume reused records of other images with the same names

    func testResumeDoesNotReuseRecordsOfOtherPicturesWithTheSameNames() throws {
        try fm.createDirectory(atPath: "\(tmp)/B", withIntermediateDirectories: true)
        for (i, n) in ["a", "b", "c"].enumerated() { try writeImage("\(tmp)/B/\(n).png", seed: 10 + i) }
        let a = try run(eval("\(tmp)/in", "\(tmp)/R"))
        XCTAssertTrue(a.err.contains("3 attack(s) run, 0 already done"), a.err)
        let b = try run(eval("\(tmp)/B", "\(tmp)/R"))
        XCTAssertEqual(b.status, 0, b.err)
        XCTAssertTrue(b.err.contains("3 attack(s) run, 0 already done"), b.err)
        let again = try run(eval("\(tmp)/B", "\(tmp)/R"))
        XCTAssertTrue(again.err.contains("0 attack(s) run, 3 already done"), again.err)
    }

    // MARK: - Leftover temporary files

    /// A temporary file left by a killed run (sega's pattern, not locked by a live writer) is
    /// removed by the next run; one a live writer holds, and files of other patterns, are not.
    func testStaleTemporaryFilesAreRemovedByTheNextRun() throws {
        let first = try run(eval("\(tmp)/in", "\(tmp)/R"))
        XCTAssertEqual(first.status, 0, first.err)
        let dir = "\(tmp)/R/records/ifgsm"
        for n in [".a.json.tmp-Ab12Cd", ".report.md.tmp-zzzzzz"] { try Data("x".utf8).write(to: URL(fileURLWithPath: "\(dir)/\(n)")) }
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(tmp)/R/.sega-write-test-q1w2e3"))
        try Data("keep".utf8).write(to: URL(fileURLWithPath: "\(dir)/.notes.tmp-1"))
        let live = "\(dir)/.b.json.tmp-LIVE01"
        try Data("y".utf8).write(to: URL(fileURLWithPath: live))
        let fd = open(live, O_RDWR)
        defer { close(fd) }
        var lk = Glibc.flock()
        lk.l_type = Int16(F_WRLCK); lk.l_whence = Int16(SEEK_SET)
        XCTAssertEqual(fcntl(fd, 37 /* F_OFD_SETLK */, &lk), 0, "cannot lock: \(errno)")
        let r = try run(eval("\(tmp)/in", "\(tmp)/R"))
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }.sorted(), [".b.json.tmp-LIVE01", ".notes.tmp-1"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: "\(tmp)/R").filter { $0.hasPrefix(".") }, [])
    }

    // MARK: - Command lines

    func testFileNamesThatLookLikeOptions() throws {
        try fm.copyItem(atPath: "\(tmp)/in/a.png", toPath: "\(tmp)/-dash.png")
        for name in ["-dash.png", "-xyz.png"] {
            let r = try runSega(["score", "--model", cnn, name], env: [:], timeout: 60)
            expect(r, 64, "use -- before file names")
            XCTAssertEqual(r.out, "", "printed help or scores")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try segaBinary())
        p.arguments = ["score", "--model", cnn, "--", "-dash.png"]
        p.currentDirectoryURL = URL(fileURLWithPath: tmp)
        let out = Pipe(); p.standardOutput = out; p.standardError = Pipe()
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertTrue(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).hasPrefix("-dash.png\t"))
    }

    func testMemoryLimitThatOverflowsIsRefused() throws {
        for v in ["8796093022208", "17592186044416"] {
            expect(try run(attack(["--memory-limit-mb", v, "\(tmp)/in/a.png", "-o", "\(tmp)/o"])), 64,
                   "--memory-limit-mb must be in 1...8796093022207, got \(v)")
            expect(try run(["score", "--model", cnn, "--memory-limit-mb", v, "\(tmp)/in/a.png"]), 64,
                   "--memory-limit-mb must be in 1...8796093022207, got \(v)")
        }
    }

    func testDuplicateMethodsAndModelsUnderOtherSpellingsAreRefused() throws {
        expect(try run(eval("\(tmp)/in", "\(tmp)/R", methods: "ifgsm,random,ifgsm")), 64, "--methods lists 'ifgsm' twice")
        let other = "\(repoRoot)/Tests/../Tests/Fixtures/cnniqa.safetensors"
        let r = try run(["eval", "--sources", cnn, "--targets", other, "--images", "\(tmp)/in", "-o", "\(tmp)/R2"])
        expect(r, 2, "a model is both a source and a target")
        expect(try run(attack(["--sources", "\(cnn),\(other)", "\(tmp)/in/a.png", "-o", "\(tmp)/o"])), 2, "is given twice")
    }

    func testSEGAWeightsThatIsNotADirectoryIsAnError() throws {
        expect(try run(["score", "--model", "cnniqa", "\(tmp)/in/a.png"], env: ["SEGA_WEIGHTS": "\(tmp)/nowhere"]), 2,
               "SEGA_WEIGHTS='\(tmp)/nowhere' is not a directory")
        expect(try run(["score", "--model", "cnniqa", "\(tmp)/in/a.png"], env: ["SEGA_WEIGHTS": cnn]), 2,
               "SEGA_WEIGHTS='\(cnn)' is not a directory")
        // The listing still lists what it finds, and says why names will not resolve.
        expect(try run(["models"], env: ["SEGA_WEIGHTS": "\(tmp)/nowhere"]), 0,
               "sega models: warning: SEGA_WEIGHTS='\(tmp)/nowhere' is not a directory (it does not exist)")
    }

    /// libjpeg's warnings (corrupt data it decoded around) are reported; --strict refuses.
    func testCorruptJPEGDataIsReported() throws {
        var bytes = [UInt8](try data("\(fixtures)/e2e/cnniqa.jpg"))
        // Three stray bytes before the start-of-scan marker: libjpeg skips them with a warning.
        let sos = try XCTUnwrap((0..<bytes.count - 1).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xDA })
        bytes.insert(contentsOf: [0x12, 0x34, 0x56], at: sos)
        try Data(bytes).write(to: URL(fileURLWithPath: "\(tmp)/junk.jpg"))
        let r = try run(["score", "--model", cnn, "\(tmp)/junk.jpg"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("warning: \(tmp)/junk.jpg: corrupt JPEG data: 3 extraneous bytes before marker 0xda"), r.err)
        expect(try run(["score", "--strict", "--model", cnn, "\(tmp)/junk.jpg"]), 1, "corrupt JPEG data: 3 extraneous bytes")
        expect(try run(attack(["--strict", "\(tmp)/junk.jpg", "-o", "\(tmp)/o"])), 2, "corrupt JPEG data")
    }

    func testTabsAndNewlinesInFileNamesAreEscaped() {
        XCTAssertEqual(ScoreLine(image: "a\tb\nc\\d\re.png", model: "m", arch: "a", score: 0.5).tsv, "a\\tb\\nc\\\\d\\re.png\t0.5")
        XCTAssertEqual(CSV.field("plain"), "plain")
        XCTAssertEqual(CSV.field("a,b"), "\"a,b\"")
        XCTAssertEqual(CSV.field("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(CSV.field("two\nlines"), "\"two\nlines\"")
        XCTAssertEqual(CSV.field(" padded"), "\" padded\"")
        XCTAssertEqual(CSV.row(["a", "b,c"]), "a,\"b,c\"")
    }

    /// Sizes are width x height in every message.
    func testSizesAreWidthByHeight() throws {
        try writeImage("\(tmp)/narrow.png", seed: 1, width: 6, height: 5)
        let r = try run(["score", "--model", cnn, "\(tmp)/narrow.png"])
        expect(r, 1, "image 6x5 is smaller than the 7x7 kernel")
    }

    func testEpsBelowOneStepIsRefusedAndShownAsGiven() throws {
        expect(try run(attack(["--eps", "1e-30", "\(tmp)/in/a.png", "-o", "\(tmp)/o"])), 64,
               "--eps 1e-30 is below one 8-bit step (1/255)")
        expect(try run(attack(["--eps", "1e-50", "\(tmp)/in/a.png", "-o", "\(tmp)/o"])), 64, "--eps 1e-50 is below one 8-bit step")
        expect(try run(attack(["--eps", "300/255", "\(tmp)/in/a.png", "-o", "\(tmp)/o"])), 64, "eps must be in (0, 1], got 300/255")
    }

    func testOneExitStatusSchemeForEveryCommand() throws {
        expect(try run(["score", "--model", cnn, "--threads", "0", "\(tmp)/in/a.png"]), 64, "--threads must be in 1...256")
        expect(try run(attack(["--threads", "0", "\(tmp)/in/a.png", "-o", "\(tmp)/o"])), 64, "--threads must be in 1...256")
        expect(try run(["score", "--model", "nosuch", "\(tmp)/in/a.png"]), 2, "unknown model 'nosuch'")
        expect(try run(["attack", "--sources", "nosuch", "\(tmp)/in/a.png", "-o", "\(tmp)/o"]), 2, "unknown source model 'nosuch'")
        expect(try run(["score", "--model", cnn, "\(tmp)/in/a.png", "\(tmp)/none.png"]), 1, "1 of 2 image(s) could not be scored")
        expect(try run(["eval", "--sources", cnn, "--images", "\(tmp)/in", "--stride", "0", "-o", "\(tmp)/R"]), 64, "--stride must be >= 1")
        expect(try run(["frobnicate"]), 64, "Unexpected argument")
    }

    func testParityStatuses() throws {
        let base = ["parity", "--model", cnn, "--expect", "\(fixtures)/cnniqa.expect.safetensors"]
        XCTAssertEqual(try run(base).status, 0)
        expect(try run(base + ["--max-rel", "0"]), 1, "FAIL")
        expect(try run(["parity", "--model", cnn, "--expect", "\(tmp)/in/a.png"]), 2, "sega parity:")
        expect(try run(base + ["--max-rel", "nan"]), 64, "--max-rel must be a number >= 0")
    }

    /// score and attack take directories (issue 27): their images sorted by name, subdirectories
    /// with --recursive.
    func testDirectoriesAsInputs() throws {
        try fm.createDirectory(atPath: "\(tmp)/in/sub", withIntermediateDirectories: true)
        try writeImage("\(tmp)/in/sub/d.png", seed: 7)
        let flat = try run(["score", "--model", cnn, "\(tmp)/in"])
        XCTAssertEqual(flat.status, 0, flat.err)
        XCTAssertEqual(flat.out.split(separator: "\n").map { String($0.split(separator: "\t")[0]) },
                       ["a", "b", "c"].map { "\(tmp)/in/\($0).png" })
        let deep = try run(["score", "--recursive", "--model", cnn, "\(tmp)/in"])
        XCTAssertEqual(deep.out.split(separator: "\n").count, 4, deep.out)
        let r = try run(attack(["--recursive", "\(tmp)/in", "-o", "\(tmp)/o"]))
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: "\(tmp)/o").sorted(),
                       ["a.json", "a.png", "b.json", "b.png", "c.json", "c.png", "d.json", "d.png"])
    }
}
