import XCTest
@testable import SegaModels
import SegaEngine

final class HyperIQALite0Tests: XCTestCase {
    func testParity() throws {
        let r = try checkParity("hyperiqa_lite0")
        print("hyperiqa_lite0 parity: score \(r.score) vs \(r.expected), grad cosine \(r.cosine), max rel err \(r.maxRelError)")
    }

    func testMetadataAndInferredWidths() throws {
        let m = try XCTUnwrap(try ModelZoo.load(path: fixturePath("hyperiqa_lite0.safetensors")) as? HyperIQALite0)
        XCTAssertEqual(m.cropSize, 64); XCTAssertEqual(m.numCrop, 4)
        XCTAssertEqual(m.lda.map(\.grid), [8, 4, 2, 1]); XCTAssertEqual(m.targetIn, 20)
        XCTAssertEqual(m.fcChannels, [8, 4, 4, 2, 1])
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 100)
    }

    func testRejectsMissingTensor() throws {
        try assertLite0FamilyRejects("hyperiqa_lite0", drop: "fc_w.2.bias", naming: "fc_w.2.bias")
        try assertLite0FamilyRejects("hyperiqa_lite0", drop: "backbone._conv_head.weight", naming: "backbone._conv_head.weight")
    }

    func testRejectsLeftoverTensor() throws {
        try assertLite0FamilyRejects("hyperiqa_lite0", add: "lda.4.fc.weight", naming: "lda.4.fc.weight")
    }

    func testRejectsWrongShape() throws {
        try assertLite0FamilyRejects("hyperiqa_lite0", reshape: ("lda.1.conv.weight", [4, 7, 1, 1]), naming: "lda.1.conv.weight")
        try assertLite0FamilyRejects("hyperiqa_lite0", reshape: ("fc_b.4.weight", [2, 16]), naming: "fc_b.4.weight")
        try assertLite0FamilyRejects("hyperiqa_lite0", reshape: ("fc_w.1.weight", [8, 15, 3, 3]), naming: "fc_w.1.weight")
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
    func testParity() throws {
        let r = try checkParity("linearityiqa_lite0")
        print("linearityiqa_lite0 parity: score \(r.score) vs \(r.expected), grad cosine \(r.cosine), max rel err \(r.maxRelError)")
    }

    func testScoreRange() throws {
        let m = try XCTUnwrap(try ModelZoo.load(path: fixturePath("linearityiqa_lite0.safetensors")) as? LinearityIQALite0)
        XCTAssertEqual(m.k, 2.5); XCTAssertEqual(m.b, -0.75)
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 100)
    }

    func testRejectsMissingTensor() throws {
        try assertLite0FamilyRejects("linearityiqa_lite0", drop: "k", naming: "k")
        try assertLite0FamilyRejects("linearityiqa_lite0", drop: "dr7.3.running_var", naming: "dr7.3.running_var")
    }

    func testRejectsLeftoverTensor() throws {
        try assertLite0FamilyRejects("linearityiqa_lite0", add: "regr6.weight", naming: "regr6.weight")
    }

    func testRejectsWrongShape() throws {
        try assertLite0FamilyRejects("linearityiqa_lite0", reshape: ("dr6.0.weight", [32, 50]), naming: "dr6.0.weight")
        try assertLite0FamilyRejects("linearityiqa_lite0", reshape: ("regression.weight", [1, 30]), naming: "regression.weight")
    }
}

final class DBCNNLite0Tests: XCTestCase {
    func testParity() throws {
        let r = try checkParity("dbcnn_lite0")
        print("dbcnn_lite0 parity: score \(r.score) vs \(r.expected), grad cosine \(r.cosine), max rel err \(r.maxRelError)")
    }

    func testScoreRange() throws {
        let m = try ModelZoo.load(path: fixturePath("dbcnn_lite0.safetensors"))
        XCTAssertTrue(m is DBCNNLite0)
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 100)
    }

    func testRejectsMissingTensor() throws {
        try assertLite0FamilyRejects("dbcnn_lite0", drop: "proj2.bias", naming: "proj2.bias")
    }

    func testRejectsLeftoverTensor() throws {
        try assertLite0FamilyRejects("dbcnn_lite0", add: "fc2.weight", naming: "fc2.weight")
    }

    func testRejectsWrongShape() throws {
        try assertLite0FamilyRejects("dbcnn_lite0", reshape: ("fc.weight", [1, 100]), naming: "fc.weight")
        try assertLite0FamilyRejects("dbcnn_lite0", reshape: ("proj2.weight", [8, 27, 1, 1]), naming: "proj2.weight")
    }
}
