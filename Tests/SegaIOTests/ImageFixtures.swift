import XCTest
@testable import SegaIO
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Fixture paths

/// Repository root, from this file's path (Tests/SegaIOTests/ImageFixtures.swift).
let repoRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

/// Tests/Fixtures/images/<name> (written by Tests/Fixtures/images/make_images.py).
func imagePath(_ name: String) -> String { "\(repoRoot)/Tests/Fixtures/images/\(name)" }

// MARK: - Pixel formulas (mirror make_images.py)

let fixtureWidth = 13, fixtureHeight = 7

func v8(_ c: Int, _ y: Int, _ x: Int) -> Int { (x * 37 + y * 91 + c * 53 + 11) % 256 }
func v16(_ c: Int, _ y: Int, _ x: Int) -> Int { (x * 9973 + y * 7919 + c * 4001 + 123) % 65536 }
func grayLevel(_ y: Int, _ x: Int, _ depth: Int) -> Int { (x * 5 + y * 3 + 1) % (1 << depth) }
let palette: [(Int, Int, Int)] = (0..<16).map { i in ((i * 29 + 7) % 256, (i * 71 + 3) % 256, (i * 113 + 5) % 256) }
func paletteIndex(_ y: Int, _ x: Int) -> Int { (x * 5 + y * 3) % 16 }

// MARK: - Scratch directory

/// A fresh directory under /tmp, removed by the caller's `defer`.
func makeTempDir(_ tag: String) -> String {
    var t = Array("/tmp/sega-io-\(tag)-XXXXXX".utf8CString)
    let p = t.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(p != nil, "mkdtemp failed")
    return t.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

func removeTree(_ dir: String) {
    if let d = opendir(dir) {
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { unlink("\(dir)/\(name)") }
        }
        closedir(d)
    }
    rmdir(dir)
}

func writeBytes(_ bytes: [UInt8], to path: String) {
    let f = fopen(path, "wb")!
    if !bytes.isEmpty { _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) } }
    fclose(f)
}

func listDir(_ dir: String) -> [String] {
    var out: [String] = []
    if let d = opendir(dir) {
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { out.append(name) }
        }
        closedir(d)
    }
    return out.sorted()
}

/// Assert that `body` throws an ImageError of `kind` whose message contains every fragment.
func assertImageError(_ kind: ImageError.Kind, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                      _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
    } catch let e as ImageError {
        XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
        for f in fragments {
            XCTAssertTrue(e.description.contains(f), "'\(e.description)' does not mention '\(f)'", file: file, line: line)
        }
    } catch {
        XCTFail("unexpected error type: \(error)", file: file, line: line)
    }
}
