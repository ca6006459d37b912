import Foundation
import SegaCAPI
import SegaRuntime
import XCTest

/// sega_version() is SegaRuntime's one version constant, and scripts/install.sh can read it.
final class CAPIVersionTests: XCTestCase {
    func testVersionIsTheOneConstant() throws {
        let p = SegaCAPI.sega_version()
        XCTAssertEqual(String(cString: p), "sega " + SegaVersion.number)
        XCTAssertEqual(String(cString: p), SegaVersion.string)
        XCTAssertEqual(p, SegaCAPI.sega_version(), "the string must be static, the same pointer every call")
        let parts = SegaVersion.number.split(separator: ".", omittingEmptySubsequences: false)
        XCTAssertEqual(parts.count, 3, "MAJOR.MINOR.PATCH: \(SegaVersion.number)")
        XCTAssertTrue(parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }, SegaVersion.number)
    }

    /// install.sh writes the version into sega.pc from the line `public static let number = "X.Y.Z"`.
    func testInstallScriptFindsTheConstant() throws {
        let source = try String(contentsOfFile: "\(repoRoot)/Sources/SegaRuntime/Version.swift", encoding: .utf8)
        let lines = source.split(separator: "\n").filter { $0.contains("public static let number = \"") }
        XCTAssertEqual(lines.map { $0.trimmingCharacters(in: .whitespaces) },
                       ["public static let number = \"\(SegaVersion.number)\""])
        let script = try String(contentsOfFile: "\(repoRoot)/scripts/install.sh", encoding: .utf8)
        XCTAssertTrue(script.contains("public static let number = \"([0-9]+\\.[0-9]+\\.[0-9]+)\""), "install.sh's pattern changed")
    }
}
