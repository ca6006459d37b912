import XCTest
@testable import SegaModels
import SegaEngine

final class LinearityIQATests: XCTestCase {
    func testParity() throws { try checkParity("linearityiqa") }
}
