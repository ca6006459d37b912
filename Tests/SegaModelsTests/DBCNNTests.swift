import XCTest
@testable import SegaModels
import SegaEngine

final class DBCNNTests: XCTestCase {
    func testParity() throws { try checkParity("dbcnn") }

    func testWidthsInferredAndScoreRange() throws {
        let m = try XCTUnwrap(try ModelZoo.load(path: fixturePath("dbcnn.safetensors")) as? DBCNN)
        XCTAssertEqual(m.features1.outChannels, 64)        // 512 / 8 in the reduced fixture
        XCTAssertEqual(m.fcW.shape, [1, 64 * 16])          // C1 * C2
        XCTAssertEqual(m.scoreRange.lo, 0); XCTAssertEqual(m.scoreRange.hi, 1)
    }
}
