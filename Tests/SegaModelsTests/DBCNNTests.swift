import XCTest
@testable import SegaModels
import SegaEngine

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
