import XCTest
@testable import SegaModels
import SegaEngine

/// The checks every architecture's fixture gets, one table row per architecture: it loads
/// through the registry as its class with its score range; the loader refuses a missing, a
/// left-over and a mis-shaped tensor with a message naming that tensor; and `build` refuses an
/// image too small for the network. Parity and architecture-specific checks live in the
/// per-architecture test files.
final class FixtureLoadingTests: XCTestCase {
    struct Fixture {
        /// Fixture file `Tests/Fixtures/<name>.safetensors`, loaded as architecture `name`.
        let name: String
        let type: any IQAArchitecture.Type
        let scoreRange: (lo: Double, hi: Double)
        /// Tensors whose removal must be refused.
        let missing: [String]
        /// Tensors whose addition (shape [2]) must be refused.
        let leftover: [String]
        /// Tensors whose replacement by the given shape must be refused.
        let misshaped: [(String, [Int])]
        /// An image shape `build` must refuse (nil: no such check for this architecture).
        let tooSmall: [Int]?
    }

    static let fixtures: [Fixture] = [
        Fixture(name: "cnniqa", type: CNNIQA.self, scoreRange: (0, 1),
                missing: ["fc2.bias"], leftover: ["fc4.weight"],
                misshaped: [("fc3.weight", [2, 800]), ("fc1.weight", [800, 99])],
                tooSmall: [1, 3, 6, 40]),
        Fixture(name: "dbcnn", type: DBCNN.self, scoreRange: (0, 1),
                missing: ["features2.7.running_var", "features1.28.weight"], leftover: ["features1.30.weight"],
                misshaped: [("fc.weight", [1, 512 * 128]), ("features1.2.weight", [8, 7, 3, 3]), ("features2.4.bias", [5])],
                tooSmall: [1, 3, 15, 40]),
        Fixture(name: "hyperiqa", type: HyperIQA.self, scoreRange: (0, 1),
                missing: ["fc_b_modules.2.2.bias", "base_model.layer3.1.bn2.running_var"],
                // A seventh block in stage 3 is read (block counts come from the weights) but is incomplete.
                leftover: ["fc_w_modules.5.weight", "base_model.layer3.6.conv1.weight"],
                misshaped: [("fc_w_modules.1.weight", [9, 28, 3, 3]), ("lda_modules.0.3.weight", [4, 100]),
                            ("base_model.layer2.0.conv2.weight", [16, 16, 5, 5])],
                tooSmall: nil),
        Fixture(name: "linearityiqa", type: LinearityIQA.self, scoreRange: (0, 100),
                missing: ["k", "dr7.3.running_var", "features.6.22.bn2.weight"], leftover: ["regression.1.running_mean"],
                misshaped: [("regression.weight", [1, 20]), ("dr6.0.weight", [64, 128]), ("features.5.0.conv2.weight", [64, 3, 3, 3])],
                tooSmall: [1, 3, 16, 40]),
        Fixture(name: "wadiqam", type: WaDIQaM.self, scoreRange: (-1, 0.1),
                missing: ["fc_w.3.bias", "features.22.weight"], leftover: ["fc_w.5.weight"],
                // An FR-style head (3C inputs) is refused.
                misshaped: [("fc_q.0.weight", [128, 3 * 128]), ("features.5.weight", [16, 9, 3, 3])],
                tooSmall: nil),   // WaDIQaMTests.testRejectsImageWithoutPatches
        Fixture(name: "lite0", type: Lite0.self, scoreRange: (-10, 10),
                missing: ["_blocks.7._expand_conv.weight", "_bn1.running_var", "_fc.bias"], leftover: ["_blocks.16._bn0.weight"],
                // Block 3's projection must read block 3's expanded width (6 x 12 = 72 at width 0.5).
                misshaped: [("_blocks.3._project_conv.weight", [20, 70, 1, 1]), ("_blocks.5._depthwise_conv.weight", [120, 2, 3, 3]),
                            ("_fc.weight", [10, 600])],
                tooSmall: nil),
        Fixture(name: "hyperiqa_lite0", type: HyperIQALite0.self, scoreRange: (0, 100),
                missing: ["fc_w.2.bias", "backbone._conv_head.weight"], leftover: ["lda.4.fc.weight"],
                misshaped: [("lda.1.conv.weight", [4, 7, 1, 1]), ("fc_b.4.weight", [2, 16]), ("fc_w.1.weight", [8, 15, 3, 3])],
                tooSmall: nil),
        Fixture(name: "linearityiqa_lite0", type: LinearityIQALite0.self, scoreRange: (0, 100),
                missing: ["k", "dr7.3.running_var"], leftover: ["regr6.weight"],
                misshaped: [("dr6.0.weight", [32, 50]), ("regression.weight", [1, 30])],
                tooSmall: nil),
        Fixture(name: "dbcnn_lite0", type: DBCNNLite0.self, scoreRange: (0, 100),
                missing: ["proj2.bias"], leftover: ["fc2.weight"],
                misshaped: [("fc.weight", [1, 100]), ("proj2.weight", [8, 27, 1, 1])],
                tooSmall: nil),
        Fixture(name: "vitiqa", type: ViTIQA.self, scoreRange: (0, 100),
                missing: ["blocks.1.attn.out_proj.bias", "backbone._blocks.7._bn2.running_mean", "cls_token"],
                // Only the stem and blocks 0..7 of Lite0 are used: a ninth block is left over.
                leftover: ["backbone._blocks.8._bn0.weight"],
                misshaped: [("blocks.0.attn.in_proj_weight", [96, 30]), ("pos_embed", [1, 18, 32]), ("proj.weight", [32, 24, 1, 1])],
                tooSmall: nil),
        // The targets that share no weights with the Lite0 sources (issue 23).
        Fixture(name: "lite2iqa", type: Lite2IQA.self, scoreRange: (0, 100),
                missing: ["weight.bias", "backbone._blocks.20._bn2.running_var"],
                // 21 blocks: a 22nd is not part of Lite2.
                leftover: ["backbone._blocks.21._bn0.weight"],
                misshaped: [("quality.weight", [2, 16, 1, 1]), ("local.weight", [16, 12, 1, 1])],
                tooSmall: nil),
        Fixture(name: "vitiqa_patch", type: ViTPatchIQA.self, scoreRange: (0, 100),
                missing: ["blocks.1.mlp.fc2.bias", "patch_embed.bias", "cls_token"], leftover: ["proj.weight"],
                misshaped: [("patch_embed.weight", [32, 3, 8, 6]), ("pos_embed", [1, 12, 32]),
                            ("blocks.0.attn.in_proj_weight", [96, 30])],
                tooSmall: nil),
    ]

    func testEveryRegisteredArchitectureHasAFixture() {
        XCTAssertEqual(Set(Self.fixtures.map(\.name)), Set(ModelZoo.architectures.keys))
    }

    func testRegistryAndScoreRange() throws {
        for f in Self.fixtures {
            let m = try ModelZoo.load(path: fixturePath("\(f.name).safetensors"))
            XCTAssertTrue(type(of: m) == f.type, "\(f.name) loads as \(type(of: m))")
            XCTAssertEqual(m.scoreRange.lo, f.scoreRange.lo, f.name); XCTAssertEqual(m.scoreRange.hi, f.scoreRange.hi, f.name)
        }
    }

    func testRejectsMissingTensor() throws {
        for f in Self.fixtures { for t in f.missing { try assertRejects(f.name, arch: f.name, .drop(t), naming: t) } }
    }

    func testRejectsLeftoverTensor() throws {
        for f in Self.fixtures { for t in f.leftover { try assertRejects(f.name, arch: f.name, .add(t), naming: t) } }
    }

    func testRejectsWrongShape() throws {
        for f in Self.fixtures { for (t, s) in f.misshaped { try assertRejects(f.name, arch: f.name, .reshape(t, s), naming: t) } }
    }

    func testRejectsTooSmallImage() throws {
        for f in Self.fixtures {
            guard let shape = f.tooSmall else { continue }
            let m = try ModelZoo.load(path: fixturePath("\(f.name).safetensors"))
            let g = Graph()
            XCTAssertThrowsError(try m.build(g, image: g.input(shape)), "\(f.name) builds for \(shape)")
        }
    }
}
