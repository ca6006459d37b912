import XCTest
@testable import SegaModels
import SegaEngine

final class HyperIQALite0Tests: XCTestCase {
    func testParity() throws { try checkParity("hyperiqa_lite0") }

    func testMetadataAndInferredWidths() throws {
        let m = try XCTUnwrap(try ModelZoo.load(path: fixturePath("hyperiqa_lite0.safetensors")) as? HyperIQALite0)
        XCTAssertEqual(m.cropSize, 64); XCTAssertEqual(m.numCrop, 4)
        XCTAssertEqual(m.lda.map(\.grid), [8, 4, 2, 1]); XCTAssertEqual(m.targetIn, 20)
        XCTAssertEqual(m.fcChannels, [8, 4, 4, 2, 1])
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 100)
    }

    /// Target weights generated from a 2x2 hyper map cannot serve a crop whose map is 3x3.
    func testRejectsCropSizeThatDoesNotFitTheWeights() throws {
        let edited = try loadWritten(rewrittenFixture("hyperiqa_lite0"), metadata: "\"crop_size\":\"96\",\"num_crop\":\"1\"",
                                     source: "edited-hyperiqa_lite0")
        let m = try ModelZoo.load(edited, arch: "hyperiqa_lite0")
        let g = Graph()
        XCTAssertThrowsError(try m.build(g, image: g.input([1, 3, 100, 100])))
    }
}

final class LinearityIQALite0Tests: XCTestCase {
    func testParity() throws { try checkParity("linearityiqa_lite0") }

    func testScoreRange() throws {
        let m = try XCTUnwrap(try ModelZoo.load(path: fixturePath("linearityiqa_lite0.safetensors")) as? LinearityIQALite0)
        XCTAssertEqual(m.k, 2.5); XCTAssertEqual(m.b, -0.75)
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 100)
    }
}

final class DBCNNLite0Tests: XCTestCase {
    func testParity() throws { try checkParity("dbcnn_lite0") }
}
