import XCTest
@testable import SegaModels
import SegaEngine

/// The targets that share no weights with the Lite0-based sources (issue 23): their reduced-width
/// parity fixtures (weights/fixtures/lite2iqa.py, vitiqa_patch.py); their loader checks are rows of
/// FixtureLoadingTests.
final class Lite2IQATests: XCTestCase {
    func testParity() throws {
        let r = try checkParity("lite2iqa")
        print("lite2iqa parity: score \(r.score) vs \(r.expected), grad cosine \(r.cosine), max rel err \(r.maxRelError)")
    }

    func testParityAtTwoThreads() throws {
        try checkParity("lite2iqa", threads: 2)
    }

    func testLite2ScheduleAndInferredWidths() throws {
        let m = try XCTUnwrap(try ModelZoo.load(path: fixturePath("lite2iqa.safetensors")) as? Lite2IQA)
        XCTAssertEqual(m.backbone.blocks.count, 21)
        XCTAssertEqual(m.backbone.blocks.map(\.depthwise.stride), Lite2Backbone.strides)
        XCTAssertEqual(m.backbone.blocks.map { $0.depthwise.weight.shape[2] },
                       [3, 3, 3, 3, 5, 5, 5, 3, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 3])   // Lite2's kernels, from the weights
        XCTAssertEqual(m.backbone.headChannels, 160); XCTAssertEqual(m.hidden, 16)
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 100)
    }



}

final class ViTPatchIQATests: XCTestCase {
    func testParity() throws {
        let r = try checkParity("vitiqa_patch")
        print("vitiqa_patch parity: score \(r.score) vs \(r.expected), grad cosine \(r.cosine), max rel err \(r.maxRelError)")
    }

    func testParityAtTwoThreads() throws {
        try checkParity("vitiqa_patch", threads: 2)
    }

    func testShapeInferenceAndScoreRange() throws {
        let m = try XCTUnwrap(try ModelZoo.load(path: fixturePath("vitiqa_patch.safetensors")) as? ViTPatchIQA)
        XCTAssertEqual(m.dim, 32); XCTAssertEqual(m.patch, 8)
        XCTAssertEqual(m.gridH, 3); XCTAssertEqual(m.gridW, 4)
        XCTAssertEqual(m.inputSize.0, 24); XCTAssertEqual(m.inputSize.1, 32)
        XCTAssertEqual(m.blocks.count, 2); XCTAssertEqual(m.heads, 2)   // heads from the metadata
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 100)
    }




    /// Not a ViTIQA: the Lite0-stem transformer refuses these weights by name.
    func testOtherTransformerRefusesTheseWeights() throws {
        let st = try SafeTensors(path: fixturePath("vitiqa_patch.safetensors"))
        XCTAssertThrowsError(try ModelZoo.load(st, arch: "vitiqa"))
    }
}
