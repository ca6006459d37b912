import XCTest
import SegaCLI
import SegaIO
import SegaModels
import SegaRuntime

/// Repository root, from this file's path (Tests/SegaCLITests/PyiqaEndToEndTests.swift).
let repoRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

let e2eDir = "\(repoRoot)/Tests/Fixtures/e2e"

/// One row of Tests/Fixtures/e2e/scores.csv (written by weights/fixtures/pyiqa_e2e.py).
struct PyiqaScore {
    let arch: String, weights: String, image: String
    let score: Double
}

func loadPyiqaScores() throws -> [PyiqaScore] {
    let bytes = try ImageFile.readFileBytesForTest("\(e2eDir)/scores.csv")
    let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
    guard lines.first == "arch,weights,image,pyiqa_score" else { throw SegaError(.format, "scores.csv: unexpected header") }
    return try lines.dropFirst().map { line in
        let f = line.split(separator: ",").map(String.init)
        guard f.count == 4, let s = Double(f[3]) else { throw SegaError(.format, "scores.csv: bad line '\(line)'") }
        return PyiqaScore(arch: f[0], weights: f[1], image: f[2], score: s)
    }
}

extension ImageFile {
    /// Small text files for tests (readFile refuses nothing but empty files and directories).
    static func readFileBytesForTest(_ path: String) throws -> [UInt8] { try readFile(path) }
}

/// pyiqa scored committed PNG/JPEG files with full-size random-weight models through its own
/// checkpoint loader and image reader; sega reads the same files through SegaIO and scores them
/// with `sega score`'s code path (ScoreCommand/Scorer). Requirement: relative error <= 1e-4.
final class PyiqaEndToEndTests: XCTestCase {
    func testScoresMatchPyiqa() throws {
        let rows = try loadPyiqaScores()
        XCTAssertFalse(rows.isEmpty)
        XCTAssertTrue(rows.contains { $0.arch == "cnniqa" })
        for r in rows {
            XCTAssertNotNil(ModelZoo.architectures[r.arch], "\(r.arch) is not registered in ModelZoo")
            let scorer = try Scorer(weightsPath: "\(e2eDir)/\(r.weights)", threads: 1)
            XCTAssertEqual(type(of: scorer.model).name, r.arch)
            let img = try ImageFile.read("\(e2eDir)/\(r.image)")
            let got = Double(try scorer.score(img))
            let rel = abs(got - r.score) / max(abs(r.score), 1e-6)
            XCTAssertLessThanOrEqual(rel, 1e-4, "\(r.arch) \(r.image): sega \(got) vs pyiqa \(r.score)")
        }
    }

    /// The same through ScoreCommand.run, the function behind `sega score`, in one call.
    func testScoreCommandMatchesPyiqa() throws {
        for (weights, group) in Dictionary(grouping: try loadPyiqaScores(), by: \.weights) {
            var lines: [ScoreLine] = []
            var errors: [String] = []
            let failed = try ScoreCommand.run(model: "\(e2eDir)/\(weights)", arch: nil, threads: 2,
                                              images: group.map { "\(e2eDir)/\($0.image)" },
                                              emit: { lines.append($0) }, fail: { errors.append($0) })
            XCTAssertEqual(failed, 0, "\(errors)")
            XCTAssertEqual(lines.count, group.count)
            for (line, r) in zip(lines, group) {
                XCTAssertEqual(line.image, "\(e2eDir)/\(r.image)")
                XCTAssertEqual(line.arch, r.arch)
                XCTAssertLessThanOrEqual(abs(Double(line.score) - r.score) / max(abs(r.score), 1e-6), 1e-4)
            }
        }
    }
}
