import XCTest
import SegaCLI
import SegaIO
import SegaModels
import SegaRuntime

/// The models shipped in weights/ score the sample test-split images (weights/samples/) exactly as PyTorch does
/// (Tests/Fixtures/trained/expect.tsv, written by weights/evaluate.py --fixtures from the same
/// fp16 files): relative difference <= 1e-4 for every model and image.
final class TrainedModelTests: XCTestCase {
    struct Expectation { let model: String; let image: String; let score: Double }

    func expectations() throws -> [Expectation] {
        let text = try String(contentsOfFile: "\(repoRoot)/Tests/Fixtures/trained/expect.tsv", encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let f = line.split(separator: "\t").map(String.init)
            return Expectation(model: f[0], image: f[1], score: Double(f[2]) ?? .nan)
        }
    }

    func testShippedModelsMatchPyTorch() throws {
        let exp = try expectations()
        let models = Set(exp.map(\.model))
        XCTAssertGreaterThanOrEqual(models.count, 5, "expected at least 5 shipped models, got \(models.sorted())")
        for name in models.sorted() {
            let scorer = try Scorer(weightsPath: "\(repoRoot)/weights/\(name).safetensors", threads: 2)
            let r = scorer.model.scoreRange
            XCTAssertEqual(r.lo, 0, name); XCTAssertEqual(r.hi, 100, name)
            for e in exp where e.model == name {
                let s = Double(try scorer.score(try ImageFile.read("\(repoRoot)/weights/samples/\(e.image)")))
                let rel = abs(s - e.score) / max(abs(e.score), 1)
                XCTAssertLessThanOrEqual(rel, 1e-4, "\(name) on \(e.image): sega \(s), PyTorch \(e.score)")
            }
        }
    }

    /// `sega models` lists every shipped model with its card's first line.
    func testModelsCommandListsShippedModelsWithCards() throws {
        let r = try runSega(["models"], env: ["SEGA_WEIGHTS": "\(repoRoot)/weights"])
        XCTAssertEqual(r.status, 0, r.err)
        for name in Set(try expectations().map(\.model)) {
            XCTAssertTrue(r.out.contains(name), "\(name) missing from `sega models`:\n\(r.out)")
        }
        XCTAssertTrue(r.out.contains("SROCC"), "cards' test-split figures not shown:\n\(r.out)")
    }
}
