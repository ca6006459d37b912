import XCTest
@testable import SegaModels
import SegaEngine

/// Repository root, found from this file's path (Tests/SegaModelsTests/ParityHarness.swift).
let repoRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

func fixturePath(_ name: String) -> String { "\(repoRoot)/Tests/Fixtures/\(name)" }

typealias ParityResult = ParityReport

/// Load `<name>.safetensors` (weights) and `<name>.expect.safetensors` (input, score, grad),
/// build the architecture, run forward + backward, and compare (SegaModels.Parity).
/// Criteria (issue #3): score relative error <= 1e-4; input gradient cosine >= 0.9999 and
/// max relative error <= 1e-3, where max relative error = max|g - g_ref| / max|g_ref|.
@discardableResult
func checkParity(_ name: String, threads: Int = 1, file: StaticString = #filePath, line: UInt = #line) throws -> ParityReport {
    let model = try ModelZoo.load(path: fixturePath("\(name).safetensors"))
    return try checkParityOfModel(model, expect: fixturePath("\(name).expect.safetensors"), threads: threads, file: file, line: line)
}

/// Like checkParity, for a model already loaded (e.g. with modified metadata).
@discardableResult
func checkParityOfModel(_ model: any IQAArchitecture, expect path: String, threads: Int = 1, maxRel: Double = 1e-3,
                        file: StaticString = #filePath, line: UInt = #line) throws -> ParityReport {
    let r = try Parity.check(model, expect: try SafeTensors(path: path), threads: threads)
    XCTAssertLessThanOrEqual(r.scoreRelError, 1e-4, "\(path): score \(r.score) vs PyTorch \(r.expected)", file: file, line: line)
    XCTAssertGreaterThanOrEqual(r.cosine, 0.9999, "\(path): gradient cosine", file: file, line: line)
    XCTAssertLessThanOrEqual(r.maxRelError, maxRel, "\(path): gradient max relative error", file: file, line: line)
    XCTAssertGreaterThan(r.referenceMax, 0, "\(path): reference gradient is all zero (a useless fixture)", file: file, line: line)
    return r
}
