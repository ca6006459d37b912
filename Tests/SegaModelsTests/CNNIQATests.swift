import XCTest
@testable import SegaModels
import SegaEngine

/// One change applied to a fixture's weights before re-loading them.
fileprivate enum Edit { case drop(String), add(String), reshape(String, [Int]) }

/// The fixture's weights re-written as F32 with `edit` applied, loaded as `arch`; asserts the
/// loader throws a WeightsError whose message names `tensor`.
fileprivate func assertRejects(_ fixture: String, arch: String, _ edit: Edit, naming tensor: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
    let st = try SafeTensors(path: fixturePath("\(fixture).safetensors"))
    var w = STWriter()
    for name in st.names {
        var shape = st.record(name)!.shape
        var v = try st.floats(name)
        switch edit {
        case .drop(let n) where n == name: continue
        case .reshape(let n, let s) where n == name: shape = s; v = [Float](repeating: 0.01, count: s.reduce(1, *))
        default: break
        }
        w.f32(name, shape, v)
    }
    if case .add(let n) = edit { w.f32(n, [2], [1, 2]) }
    let edited = try SafeTensors(bytes: w.build(), source: "edited-\(fixture)")
    XCTAssertThrowsError(try ModelZoo.load(edited, arch: arch), file: file, line: line) { e in
        guard let m = (e as? WeightsError)?.message else { return XCTFail("not a WeightsError: \(e)", file: file, line: line) }
        XCTAssertTrue(m.contains("'\(tensor)'"), "message '\(m)' does not name '\(tensor)'", file: file, line: line)
    }
}

final class CNNIQATests: XCTestCase {
    func testParity() throws {
        let r = try checkParity("cnniqa")
        print("cnniqa parity: score \(r.score) vs \(r.expected), grad cosine \(r.cosine), max rel err \(r.maxRelError)")
    }

    func testScoreRangeAndRegistry() throws {
        let m = try ModelZoo.load(path: fixturePath("cnniqa.safetensors"))
        XCTAssertTrue(m is CNNIQA)
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 1)
    }

    func testRejectsMissingTensor() throws {
        try assertRejects("cnniqa", arch: "cnniqa", .drop("fc2.bias"), naming: "fc2.bias")
    }

    func testRejectsLeftoverTensor() throws {
        try assertRejects("cnniqa", arch: "cnniqa", .add("fc4.weight"), naming: "fc4.weight")
    }

    func testRejectsWrongShape() throws {
        try assertRejects("cnniqa", arch: "cnniqa", .reshape("fc3.weight", [2, 800]), naming: "fc3.weight")
        try assertRejects("cnniqa", arch: "cnniqa", .reshape("fc1.weight", [800, 99]), naming: "fc1.weight")
    }

    func testRejectsTooSmallImage() throws {
        let m = try ModelZoo.load(path: fixturePath("cnniqa.safetensors"))
        let g = Graph()
        XCTAssertThrowsError(try m.build(g, image: g.input([1, 3, 6, 40])))
    }
}
