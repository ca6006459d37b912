import XCTest
import Foundation

/// The built `sega` executable, run as a subprocess. It must sit next to the test bundle:
/// build with `swift build --build-tests` (scripts/test.sh does), which builds every product.
final class CLIProcessTests: XCTestCase {
    typealias Run = SegaRun
    func run(_ args: [String], env: [String: String] = [:]) throws -> Run { try runSega(args, env: env) }

    func testScoreByNameWithJSON() throws {
        let rows = try loadPyiqaScores().filter { $0.arch == "cnniqa" }
        let r = try run(["score", "--model", "cnniqa", "--json", "--threads", "1"] + rows.map { "\(e2eDir)/\($0.image)" },
                        env: ["SEGA_WEIGHTS": e2eDir])
        XCTAssertEqual(r.status, 0, r.err)
        let lines = r.out.split(separator: "\n")
        XCTAssertEqual(lines.count, rows.count)
        for (line, row) in zip(lines, rows) {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertEqual(obj["image"] as? String, "\(e2eDir)/\(row.image)")
            XCTAssertEqual(obj["model"] as? String, "cnniqa")
            XCTAssertEqual(obj["arch"] as? String, "cnniqa")
            let s = try XCTUnwrap(obj["score"] as? Double)
            XCTAssertLessThanOrEqual(abs(s - row.score) / abs(row.score), 1e-4)
        }
    }

    func testTabSeparatedOutputAndFailureExitCode() throws {
        let png = "\(e2eDir)/cnniqa.png"
        let r = try run(["score", "--model", "\(e2eDir)/cnniqa.safetensors", png, "/nonexistent.png"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.out.hasPrefix(png + "\t"), r.out)
        XCTAssertTrue(r.err.contains("sega: /nonexistent.png: cannot open"), r.err)
        XCTAssertTrue(r.err.contains("1 of 2 image(s) could not be scored"), r.err)
    }

    func testUnknownModelFails() throws {
        let r = try run(["score", "--model", "no_such_model", "\(e2eDir)/cnniqa.png"], env: ["SEGA_WEIGHTS": e2eDir])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("unknown model 'no_such_model'"), r.err)
        XCTAssertEqual(r.out, "")
    }

    func testUsageErrors() throws {
        let r = try run(["score", "--model", "cnniqa"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("image"), r.err)
        XCTAssertNotEqual(try run(["frobnicate"]).status, 0)
    }

    func testModelsCommand() throws {
        let r = try run(["models"], env: ["SEGA_WEIGHTS": e2eDir])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("architectures: "), r.out)
        XCTAssertTrue(r.out.contains("weights in \(e2eDir):"), r.out)
        XCTAssertTrue(r.out.contains("  cnniqa\tarch=cnniqa"), r.out)
    }
}
