import XCTest
@testable import SegaCLI
import SegaIO
import SegaModels
import SegaRuntime
#if canImport(Glibc)
import Glibc
#endif

/// `sega score` and `sega models` behaviour through SegaCLI (no subprocess).
final class ScoreCommandTests: XCTestCase {
    let weights = "\(e2eDir)/cnniqa.safetensors"
    let png = "\(e2eDir)/cnniqa.png"
    let jpg = "\(e2eDir)/cnniqa.jpg"

    // MARK: - Scoring

    func testBadImageIsReportedAndOthersAreScored() throws {
        var lines: [ScoreLine] = []
        var errors: [String] = []
        let failed = try ScoreCommand.run(model: weights, arch: nil, threads: 1,
                                          images: [png, "/nonexistent/x.png", "\(repoRoot)/Tests/Fixtures/images/bomb_50000x50000.png", jpg],
                                          emit: { lines.append($0) }, fail: { errors.append($0) })
        XCTAssertEqual(failed, 2)
        XCTAssertEqual(lines.map(\.image), [png, jpg])
        XCTAssertEqual(errors.count, 2)
        XCTAssertTrue(errors[0].hasPrefix("/nonexistent/x.png: cannot open"), errors[0])
        XCTAssertTrue(errors[1].contains("bomb_50000x50000.png: image is 50000 x 50000"), errors[1])
    }

    func testScorerReusesPlansAcrossSizes() throws {
        let scorer = try Scorer(weightsPath: weights, threads: 1)
        let a = try ImageFile.read(png)
        let b = try ImageFile.read("\(repoRoot)/Tests/Fixtures/images/rgb420.jpg")
        let sa = try scorer.score(a), sb = try scorer.score(b)
        XCTAssertEqual(try scorer.score(a), sa)
        XCTAssertEqual(try scorer.score(b), sb)
        XCTAssertNotEqual(sa, sb)
        // Thread count does not change the result (deterministic kernels).
        XCTAssertEqual(try Scorer(weightsPath: weights, threads: 2).score(a), sa)
    }

    /// An image whose plan would not fit the memory limit fails with the engine's message; the
    /// process is not killed and the other images are scored.
    func testMemoryLimit() throws {
        var errors: [String] = []
        let failed = try ScoreCommand.run(model: weights, arch: nil, threads: 1, images: [png], memoryLimit: 100_000,
                                          emit: { _ in XCTFail("scored under a 100 kB limit") }, fail: { errors.append($0) })
        XCTAssertEqual(failed, 1)
        XCTAssertTrue(errors.first?.contains("\(png): cannot score with cnniqa: memory budget too small") ?? false, "\(errors)")
        XCTAssertNotNil(Scorer.defaultMemoryLimit)
    }

    func testOutputFormats() {
        let l = ScoreLine(image: "dir/a \"b\".png", model: "cnniqa", arch: "cnniqa", score: 0.25)
        XCTAssertEqual(l.tsv, "dir/a \"b\".png\t0.25")
        XCTAssertEqual(l.json, #"{"image":"dir/a \"b\".png","model":"cnniqa","arch":"cnniqa","score":0.25}"#)
        XCTAssertEqual(ScoreLine(image: "t\tab\u{1}", model: "m", arch: "a", score: .nan).json,
                       #"{"image":"t\tab\u0001","model":"m","arch":"a","score":null}"#)
    }

    func testModelErrors() {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        let none = message { try ScoreCommand.run(model: "no_such_model", arch: nil, threads: 1, images: [self.png], emit: { _ in }, fail: { _ in }) }
        XCTAssertTrue(none.contains("unknown model 'no_such_model'"), none)
        let missing = message { try ScoreCommand.run(model: "/tmp/none.safetensors", arch: nil, threads: 1, images: [self.png], emit: { _ in }, fail: { _ in }) }
        XCTAssertTrue(missing.contains("'/tmp/none.safetensors' does not exist"), missing)
        let notWeights = message { try ScoreCommand.run(model: self.png, arch: nil, threads: 1, images: [self.png], emit: { _ in }, fail: { _ in }) }
        XCTAssertTrue(notWeights.contains("cannot load model"), notWeights)
        let badArch = message { try ScoreCommand.run(model: self.weights, arch: "nope", threads: 1, images: [self.png], emit: { _ in }, fail: { _ in }) }
        XCTAssertTrue(badArch.contains("unknown architecture 'nope'"), badArch)
        let threads = message { try ScoreCommand.run(model: self.weights, arch: nil, threads: 0, images: [self.png], emit: { _ in }, fail: { _ in }) }
        XCTAssertTrue(threads.contains("--threads"), threads)
    }

    // MARK: - Weights lookup

    func testNameResolution() throws {
        XCTAssertEqual(try WeightsLocator.resolve("cnniqa", directories: ["/nonexistent", e2eDir]), "\(e2eDir)/cnniqa.safetensors")
        XCTAssertEqual(try WeightsLocator.resolve(weights), weights)
        XCTAssertTrue(WeightsLocator.isFilePath("a.safetensors"))
        XCTAssertTrue(WeightsLocator.isFilePath("./x"))
        XCTAssertFalse(WeightsLocator.isFilePath("cnniqa"))
        do {
            _ = try WeightsLocator.resolve("dbcnn_koniq", directories: [e2eDir])
            XCTFail("resolved a missing name")
        } catch {
            XCTAssertTrue("\(error)".contains("available: cnniqa"), "\(error)")
        }
        let dirs = WeightsLocator.searchDirectories(environment: ["SEGA_WEIGHTS": e2eDir], cwd: "/nonexistent", executable: nil)
        XCTAssertEqual(dirs, [e2eDir])
        // From an executable inside the repository, the repository's weights/ is found.
        let fromExe = WeightsLocator.searchDirectories(environment: [:], cwd: nil, executable: "\(repoRoot)/.build/debug/sega")
        XCTAssertEqual(fromExe, ["\(repoRoot)/weights"])
    }

    func testModelsListing() throws {
        var t = Array("/tmp/sega-models-XXXXXX".utf8CString)
        XCTAssertNotNil(t.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) })
        let dir = t.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer {
            for f in ["koniq_cnn.safetensors", "koniq_cnn.md", "broken.safetensors"] { unlink("\(dir)/\(f)") }
            rmdir(dir)
        }
        XCTAssertEqual(symlink(weights, "\(dir)/koniq_cnn.safetensors"), 0)
        let card = "\n# CNNIQA, random weights for tests\nmore text\n"
        XCTAssertEqual(card.withCString { s in
            let f = fopen("\(dir)/koniq_cnn.md", "w"); defer { fclose(f) }
            return fputs(s, f)
        } >= 0, true)
        let f = fopen("\(dir)/broken.safetensors", "w")!
        fputs("junk", f)
        fclose(f)
        let lines = ModelsCommand.render(directories: [dir])
        XCTAssertTrue(lines[0].hasPrefix("architectures: ") && lines[0].contains("cnniqa"), lines[0])
        XCTAssertEqual(lines[1], "weights in \(dir):")
        XCTAssertTrue(lines[2].hasPrefix("  broken\tunreadable: "), lines[2])
        XCTAssertEqual(lines[3], "  koniq_cnn\tarch=cnniqa\ttensors=8\tparams=729801\trange=0..1\tinput=whole\tCNNIQA, random weights for tests")
    }
}
