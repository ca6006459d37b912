import XCTest
@testable import SegaModels
import SegaEngine

final class WaDIQaMTests: XCTestCase {
    func testParity() throws { try checkParity("wadiqam") }

    /// pyiqa's grid is range(0, side - 32, 32): the 96x112 fixture uses rows 0..<64 and columns
    /// 0..<96 only, so the reference gradient is zero outside them (a check the fixture is the
    /// layout we think it is).
    func testFixtureExercisesDroppedPatchRow() throws {
        let e = try SafeTensors(path: fixturePath("wadiqam.expect.safetensors"))
        XCTAssertEqual(e.record("input")!.shape, [1, 3, 96, 112])
        let g = try e.floats("grad")
        var outside: Float = 0, inside: Float = 0
        for c in 0..<3 { for y in 0..<96 { for x in 0..<112 {
            let v = abs(g[(c * 96 + y) * 112 + x])
            if y >= 64 || x >= 96 { outside = max(outside, v) } else { inside = max(inside, v) }
        } } }
        XCTAssertEqual(outside, 0)
        XCTAssertGreaterThan(inside, 0)
    }

    func testRejectsImageWithoutPatches() throws {
        let m = try ModelZoo.load(path: fixturePath("wadiqam.safetensors"))
        let g = Graph()
        XCTAssertThrowsError(try m.build(g, image: g.input([1, 3, 32, 100])))
        XCTAssertNoThrow(try m.build(g, image: g.input([1, 3, 33, 33])))
    }
}
