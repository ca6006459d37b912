import XCTest
@testable import SegaModels
import SegaEngine

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
