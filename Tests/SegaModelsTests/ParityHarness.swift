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
/// build the architecture, run forward + backward, compare (SegaModels.Parity) and print the
/// figures.
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
    print("\(path.split(separator: "/").last ?? "") parity: score \(r.score) vs \(r.expected), grad cosine \(r.cosine), max rel err \(r.maxRelError)")
    return r
}

// MARK: - Loader rejection

/// One change applied to a fixture's weights before re-loading them.
enum WeightsEdit { case drop(String), add(String), reshape(String, [Int]) }

/// The fixture's tensors re-written as F32, each passed through `edit` (nil drops it).
func rewrittenFixture(_ fixture: String,
                      _ edit: (String, [Int], [Float]) -> ([Int], [Float])? = { _, s, v in (s, v) }) throws -> STWriter {
    let st = try SafeTensors(path: fixturePath("\(fixture).safetensors"))
    var w = STWriter()
    for name in st.names {
        if let (shape, v) = edit(name, st.record(name)!.shape, try st.floats(name)) { w.f32(name, shape, v) }
    }
    return w
}

/// `w` as a loaded file, with `metadata` (JSON object members, e.g. `"arch":"cnniqa"`) in its header.
func loadWritten(_ w: STWriter, metadata: String? = nil, source: String) throws -> SafeTensors {
    try SafeTensors(bytes: w.build(extraHeader: metadata.map { "\"__metadata__\":{\($0)}," } ?? ""), source: source)
}

/// The fixture's weights re-written as F32 with `edit` applied, loaded as `arch`; asserts the
/// loader throws a WeightsError whose message names `tensor`.
func assertRejects(_ fixture: String, arch: String, _ edit: WeightsEdit, naming tensor: String,
                   file: StaticString = #filePath, line: UInt = #line) throws {
    var w = try rewrittenFixture(fixture) { name, shape, v in
        switch edit {
        case .drop(let n) where n == name: return nil
        case .reshape(let n, let s) where n == name: return (s, [Float](repeating: 0.01, count: s.reduce(1, *)))
        default: return (shape, v)
        }
    }
    if case .add(let n) = edit { w.f32(n, [2], [1, 2]) }
    let edited = try loadWritten(w, source: "edited-\(fixture)")
    XCTAssertThrowsError(try ModelZoo.load(edited, arch: arch), "\(fixture): \(edit) was accepted", file: file, line: line) { e in
        guard let m = (e as? WeightsError)?.message else { return XCTFail("not a WeightsError: \(e)", file: file, line: line) }
        XCTAssertTrue(m.contains("'\(tensor)'"), "\(fixture): message '\(m)' does not name '\(tensor)'", file: file, line: line)
    }
}
