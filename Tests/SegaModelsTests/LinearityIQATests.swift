import XCTest
@testable import SegaModels
import SegaEngine

final class LinearityIQATests: XCTestCase {
    func testParity() throws {
        let r = try checkParity("linearityiqa")
        print("linearityiqa parity: score \(r.score) vs \(r.expected), grad cosine \(r.cosine), max rel err \(r.maxRelError)")
    }

    func testScoreRangeAndRegistry() throws {
        let m = try ModelZoo.load(path: fixturePath("linearityiqa.safetensors"))
        XCTAssertTrue(m is LinearityIQA)
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 100)
    }

    func testRejectsMissingTensor() throws {
        try assertRejects("linearityiqa", arch: "linearityiqa", drop: "k", naming: "k")
        try assertRejects("linearityiqa", arch: "linearityiqa", drop: "dr7.3.running_var", naming: "dr7.3.running_var")
        try assertRejects("linearityiqa", arch: "linearityiqa", drop: "features.6.22.bn2.weight",
                          naming: "features.6.22.bn2.weight")
    }

    func testRejectsLeftoverTensor() throws {
        try assertRejects("linearityiqa", arch: "linearityiqa", add: "regression.1.running_mean",
                          naming: "regression.1.running_mean")
    }

    func testRejectsWrongShape() throws {
        try assertRejects("linearityiqa", arch: "linearityiqa", reshape: ("regression.weight", [1, 20]),
                          naming: "regression.weight")
        try assertRejects("linearityiqa", arch: "linearityiqa", reshape: ("dr6.0.weight", [64, 128]),
                          naming: "dr6.0.weight")
        try assertRejects("linearityiqa", arch: "linearityiqa", reshape: ("features.5.0.conv2.weight", [64, 3, 3, 3]),
                          naming: "features.5.0.conv2.weight")
    }

    func testRejectsTooSmallImage() throws {
        let m = try ModelZoo.load(path: fixturePath("linearityiqa.safetensors"))
        let g = Graph()
        XCTAssertThrowsError(try m.build(g, image: g.input([1, 3, 16, 40])))
    }
}
