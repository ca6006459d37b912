import XCTest
@testable import SegaModels
import SegaEngine

/// One change applied to a fixture's weights before re-loading them.
fileprivate enum Lite0Edit { case drop(String), add(String), reshape(String, [Int]) }

/// The fixture's weights re-written as F32 with `edit` applied, loaded as `arch`; asserts the
/// loader throws a WeightsError whose message names `tensor`.
func assertLite0FamilyRejects(_ fixture: String, drop: String? = nil, add: String? = nil,
                              reshape: (String, [Int])? = nil, naming tensor: String,
                              file: StaticString = #filePath, line: UInt = #line) throws {
    let st = try SafeTensors(path: fixturePath("\(fixture).safetensors"))
    var w = STWriter()
    for name in st.names {
        var shape = st.record(name)!.shape
        var v = try st.floats(name)
        if name == drop { continue }
        if let (n, s) = reshape, n == name { shape = s; v = [Float](repeating: 0.01, count: s.reduce(1, *)) }
        w.f32(name, shape, v)
    }
    if let add { w.f32(add, [2], [1, 2]) }
    let edited = try SafeTensors(bytes: w.build(), source: "edited-\(fixture)")
    XCTAssertThrowsError(try ModelZoo.load(edited, arch: fixture), file: file, line: line) { e in
        guard let m = (e as? WeightsError)?.message else { return XCTFail("not a WeightsError: \(e)", file: file, line: line) }
        XCTAssertTrue(m.contains("'\(tensor)'"), "message '\(m)' does not name '\(tensor)'", file: file, line: line)
    }
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
