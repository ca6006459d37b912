import XCTest
@testable import SegaModels
import SegaEngine

/// The targets that share no weights with the Lite0-based sources (issue 23): their reduced-width
/// parity fixtures (weights/fixtures/lite2iqa.py, vitiqa_patch.py) and their loaders.
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

    func testRejectsMissingTensor() throws {
        try assertLite0FamilyRejects("lite2iqa", drop: "weight.bias", naming: "weight.bias")
        try assertLite0FamilyRejects("lite2iqa", drop: "backbone._blocks.20._bn2.running_var", naming: "backbone._blocks.20._bn2.running_var")
    }

    func testRejectsLeftoverTensor() throws {
        // 21 blocks: a 22nd is not part of Lite2.
        try assertLite0FamilyRejects("lite2iqa", add: "backbone._blocks.21._bn0.weight", naming: "backbone._blocks.21._bn0.weight")
    }

    func testRejectsWrongShape() throws {
        try assertLite0FamilyRejects("lite2iqa", reshape: ("quality.weight", [2, 16, 1, 1]), naming: "quality.weight")
        try assertLite0FamilyRejects("lite2iqa", reshape: ("local.weight", [16, 12, 1, 1]), naming: "local.weight")
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

    func testRejectsMissingTensor() throws {
        try assertLite0FamilyRejects("vitiqa_patch", drop: "blocks.1.mlp.fc2.bias", naming: "blocks.1.mlp.fc2.bias")
        try assertLite0FamilyRejects("vitiqa_patch", drop: "patch_embed.bias", naming: "patch_embed.bias")
        try assertLite0FamilyRejects("vitiqa_patch", drop: "cls_token", naming: "cls_token")
    }

    func testRejectsLeftoverTensor() throws {
        try assertLite0FamilyRejects("vitiqa_patch", add: "proj.weight", naming: "proj.weight")
    }

    func testRejectsWrongShape() throws {
        try assertLite0FamilyRejects("vitiqa_patch", reshape: ("patch_embed.weight", [32, 3, 8, 6]), naming: "patch_embed.weight")
        try assertLite0FamilyRejects("vitiqa_patch", reshape: ("pos_embed", [1, 12, 32]), naming: "pos_embed")
        try assertLite0FamilyRejects("vitiqa_patch", reshape: ("blocks.0.attn.in_proj_weight", [96, 30]), naming: "blocks.0.attn.in_proj_weight")
    }

    /// Not a ViTIQA: the Lite0-stem transformer refuses these weights by name.
    func testOtherTransformerRefusesTheseWeights() throws {
        let st = try SafeTensors(path: fixturePath("vitiqa_patch.safetensors"))
        XCTAssertThrowsError(try ModelZoo.load(st, arch: "vitiqa"))
    }
}
