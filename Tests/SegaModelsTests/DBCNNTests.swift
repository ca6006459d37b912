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

final class DBCNNTests: XCTestCase {
    func testParity() throws {
        let r = try checkParity("dbcnn")
        print("dbcnn parity: score \(r.score) vs \(r.expected), grad cosine \(r.cosine), max rel err \(r.maxRelError)")
    }

    func testWidthsInferredAndScoreRange() throws {
        let m = try XCTUnwrap(try ModelZoo.load(path: fixturePath("dbcnn.safetensors")) as? DBCNN)
        XCTAssertEqual(m.features1.outChannels, 64)        // 512 / 8 in the reduced fixture
        XCTAssertEqual(m.fcW.shape, [1, 64 * 16])          // C1 * C2
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 1)
    }

    func testRejectsMissingTensor() throws {
        try assertRejects("dbcnn", arch: "dbcnn", .drop("features2.7.running_var"), naming: "features2.7.running_var")
        try assertRejects("dbcnn", arch: "dbcnn", .drop("features1.28.weight"), naming: "features1.28.weight")
    }

    func testRejectsLeftoverTensor() throws {
        try assertRejects("dbcnn", arch: "dbcnn", .add("features1.30.weight"), naming: "features1.30.weight")
    }

    func testRejectsWrongShape() throws {
        try assertRejects("dbcnn", arch: "dbcnn", .reshape("fc.weight", [1, 512 * 128]), naming: "fc.weight")
        try assertRejects("dbcnn", arch: "dbcnn", .reshape("features1.2.weight", [8, 7, 3, 3]), naming: "features1.2.weight")
        try assertRejects("dbcnn", arch: "dbcnn", .reshape("features2.4.bias", [5]), naming: "features2.4.bias")
    }

    func testRejectsTooSmallImage() throws {
        let m = try ModelZoo.load(path: fixturePath("dbcnn.safetensors"))
        let g = Graph()
        XCTAssertThrowsError(try m.build(g, image: g.input([1, 3, 15, 40])))
    }
}
