import SegaRuntime
import XCTest

/// `sega --version` prints the one version constant (the C API's sega_version() returns the same).
final class CLIVersionTests: XCTestCase {
    func testVersionFlag() throws {
        let r = try runSega(["--version"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, SegaVersion.string + "\n")
        XCTAssertTrue(SegaVersion.string.hasPrefix("sega "), SegaVersion.string)
    }
}
