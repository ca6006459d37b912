import XCTest
@testable import SegaIO

/// JPEG decoding against PIL: make_images.py stored PIL's decode of each JPEG as a lossless PNG.
/// Both use libjpeg-turbo with the default islow IDCT and fancy upsampling, so the decodes
/// should agree exactly; the requirement is within 1/255.
final class JPEGReadTests: XCTestCase {
    func compareWithPIL(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ours = try ImageFile.read(imagePath("\(name).jpg"))
        let pil = try ImageFile.read(imagePath("\(name).pil.png"))
        XCTAssertEqual(ours.width, 37, file: file, line: line)
        XCTAssertEqual(ours.height, 23, file: file, line: line)
        XCTAssertEqual(ours.width, pil.width, file: file, line: line)
        XCTAssertEqual(ours.height, pil.height, file: file, line: line)
        var maxDiff: Float = 0
        var differing = 0
        for i in 0..<ours.pixels.count {
            let d = abs(ours.pixels[i] - pil.pixels[i])
            maxDiff = max(maxDiff, d)
            if d > 0 { differing += 1 }
        }
        XCTAssertLessThanOrEqual(maxDiff, 1.0 / 255 + 1e-6, "\(name): max difference \(maxDiff * 255)/255 vs PIL", file: file, line: line)
        if differing > 0 { print("\(name): \(differing) samples differ from PIL by <= 1/255") }
    }

    func testBaseline420MatchesPIL() throws { try compareWithPIL("rgb420") }
    func testProgressive444MatchesPIL() throws { try compareWithPIL("rgb444_progressive") }

    func testGrayscaleBecomesRGB() throws {
        try compareWithPIL("gray")
        let img = try ImageFile.read(imagePath("gray.jpg"))
        let plane = img.width * img.height
        for i in 0..<plane {
            XCTAssertEqual(img.pixels[i], img.pixels[plane + i])
            XCTAssertEqual(img.pixels[i], img.pixels[2 * plane + i])
        }
    }

    func testCMYKIsRefused() {
        assertImageError(.format, ["cmyk.jpg", "CMYK"]) { _ = try ImageFile.read(imagePath("cmyk.jpg")) }
    }
}
