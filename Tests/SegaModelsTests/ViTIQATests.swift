import XCTest
@testable import SegaModels
import SegaEngine

final class ViTIQATests: XCTestCase {
    func testParity() throws {
        let r = try checkParity("vitiqa")
        print("vitiqa parity: score \(r.score) vs \(r.expected), grad cosine \(r.cosine), max rel err \(r.maxRelError)")
    }

    func testShapeInferenceAndScoreRange() throws {
        let m = try XCTUnwrap(try ModelZoo.load(path: fixturePath("vitiqa.safetensors")) as? ViTIQA)
        XCTAssertEqual(m.dim, 32); XCTAssertEqual(m.grid, 4); XCTAssertEqual(m.inputSize, 64)
        XCTAssertEqual(m.blocks.count, 2); XCTAssertEqual(m.heads, 2)   // heads from the metadata
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 100)
    }

    func testRejectsMissingTensor() throws {
        try assertLite0FamilyRejects("vitiqa", drop: "blocks.1.attn.out_proj.bias", naming: "blocks.1.attn.out_proj.bias")
        try assertLite0FamilyRejects("vitiqa", drop: "backbone._blocks.7._bn2.running_mean", naming: "backbone._blocks.7._bn2.running_mean")
        try assertLite0FamilyRejects("vitiqa", drop: "cls_token", naming: "cls_token")
    }

    func testRejectsLeftoverTensor() throws {
        // Only the stem and blocks 0..7 of Lite0 are used: a ninth block is left over.
        try assertLite0FamilyRejects("vitiqa", add: "backbone._blocks.8._bn0.weight", naming: "backbone._blocks.8._bn0.weight")
    }

    func testRejectsWrongShape() throws {
        try assertLite0FamilyRejects("vitiqa", reshape: ("blocks.0.attn.in_proj_weight", [96, 30]), naming: "blocks.0.attn.in_proj_weight")
        try assertLite0FamilyRejects("vitiqa", reshape: ("pos_embed", [1, 18, 32]), naming: "pos_embed")
        try assertLite0FamilyRejects("vitiqa", reshape: ("proj.weight", [32, 24, 1, 1]), naming: "proj.weight")
    }
}
