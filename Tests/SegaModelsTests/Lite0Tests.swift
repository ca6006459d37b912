import XCTest
@testable import SegaModels
import SegaEngine

/// The shared loader-rejection check with the fixture's name as its architecture.
func assertLite0FamilyRejects(_ fixture: String, drop: String? = nil, add: String? = nil,
                              reshape: (String, [Int])? = nil, naming tensor: String,
                              file: StaticString = #filePath, line: UInt = #line) throws {
    try assertRejects(fixture, arch: fixture, drop: drop, add: add, reshape: reshape, naming: tensor, file: file, line: line)
}

final class Lite0Tests: XCTestCase {
    func testParity() throws {
        let r = try checkParity("lite0")
        print("lite0 parity: score \(r.score) vs \(r.expected), grad cosine \(r.cosine), max rel err \(r.maxRelError)")
    }

    func testRegistryAndScoreRange() throws {
        let m = try ModelZoo.load(path: fixturePath("lite0.safetensors"))
        XCTAssertTrue(m is Lite0)
        XCTAssertEqual(m.scoreRange.lo, -10); XCTAssertEqual(m.scoreRange.hi, 10)
    }

    func testRejectsMissingTensor() throws {
        try assertLite0FamilyRejects("lite0", drop: "_blocks.7._expand_conv.weight", naming: "_blocks.7._expand_conv.weight")
        try assertLite0FamilyRejects("lite0", drop: "_bn1.running_var", naming: "_bn1.running_var")
        try assertLite0FamilyRejects("lite0", drop: "_fc.bias", naming: "_fc.bias")
    }

    func testRejectsLeftoverTensor() throws {
        try assertLite0FamilyRejects("lite0", add: "_blocks.16._bn0.weight", naming: "_blocks.16._bn0.weight")
    }

    func testRejectsWrongShape() throws {
        // Block 3's projection must read block 3's expanded width (6 x 12 = 72 at width 0.5).
        try assertLite0FamilyRejects("lite0", reshape: ("_blocks.3._project_conv.weight", [20, 70, 1, 1]),
                                     naming: "_blocks.3._project_conv.weight")
        try assertLite0FamilyRejects("lite0", reshape: ("_blocks.5._depthwise_conv.weight", [120, 2, 3, 3]),
                                     naming: "_blocks.5._depthwise_conv.weight")
        try assertLite0FamilyRejects("lite0", reshape: ("_fc.weight", [10, 600]), naming: "_fc.weight")
    }
}
