import XCTest
@testable import SegaModels
import SegaEngine

final class ViTIQATests: XCTestCase {
    func testParity() throws { try checkParity("vitiqa") }

    func testShapeInferenceAndScoreRange() throws {
        let m = try XCTUnwrap(try ModelZoo.load(path: fixturePath("vitiqa.safetensors")) as? ViTIQA)
        XCTAssertEqual(m.dim, 32); XCTAssertEqual(m.grid, 4); XCTAssertEqual(m.inputSize, 64)
        XCTAssertEqual(m.blocks.count, 2); XCTAssertEqual(m.heads, 2)   // heads from the metadata
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 100)
    }
}
