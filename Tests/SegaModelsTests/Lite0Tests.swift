import XCTest
@testable import SegaModels
import SegaEngine

final class Lite0Tests: XCTestCase {
    func testParity() throws { try checkParity("lite0") }
}
