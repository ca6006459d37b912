import XCTest
@testable import SegaIO

/// Every PNG color type and bit depth decodes to the formula values of make_images.py:
/// 8-bit / 255, 16-bit / 65535, low-depth gray scaled to 8 bits, palette looked up, alpha dropped.
final class PNGReadTests: XCTestCase {
    // MARK: - Helpers

    /// Compare every pixel of `name` with expected 0...scale integers.
    func check(_ name: String, scale: Int, file: StaticString = #filePath, line: UInt = #line,
               _ expect: (_ c: Int, _ y: Int, _ x: Int) -> Int) throws {
        let img = try ImageFile.read(imagePath(name))
        XCTAssertEqual(img.width, fixtureWidth, file: file, line: line)
        XCTAssertEqual(img.height, fixtureHeight, file: file, line: line)
        XCTAssertEqual(img.pixels.count, 3 * fixtureWidth * fixtureHeight, file: file, line: line)
        var bad = 0
        for c in 0..<3 {
            for y in 0..<img.height {
                for x in 0..<img.width {
                    let want = Float(expect(c, y, x)) / Float(scale)
                    if img[c, y, x] != want {
                        if bad < 5 { XCTFail("\(name) [\(c),\(y),\(x)] = \(img[c, y, x]), want \(want)", file: file, line: line) }
                        bad += 1
                    }
                }
            }
        }
        XCTAssertEqual(bad, 0, "\(name): \(bad) pixels differ", file: file, line: line)
    }

    // MARK: - Color types

    func testRGB8() throws { try check("rgb8.png", scale: 255) { v8($0, $1, $2) } }
    func testRGB8Interlaced() throws { try check("rgb8_interlaced.png", scale: 255) { v8($0, $1, $2) } }
    func testRGBA8DropsAlpha() throws { try check("rgba8.png", scale: 255) { v8($0, $1, $2) } }
    func testRGB16FullPrecision() throws { try check("rgb16.png", scale: 65535) { v16($0, $1, $2) } }
    func testRGBA16InterlacedDropsAlpha() throws { try check("rgba16_interlaced.png", scale: 65535) { v16($0, $1, $2) } }
    func testGray8() throws { try check("gray8.png", scale: 255) { _, y, x in v8(0, y, x) } }
    func testGray16() throws { try check("gray16.png", scale: 65535) { _, y, x in v16(0, y, x) } }
    func testGrayAlpha8() throws { try check("graya8.png", scale: 255) { _, y, x in v8(0, y, x) } }
    func testGrayAlpha16() throws { try check("graya16.png", scale: 65535) { _, y, x in v16(0, y, x) } }

    func testLowDepthGrayScalesTo8Bit() throws {
        for d in [1, 2, 4] {
            try check("gray\(d).png", scale: 255) { _, y, x in grayLevel(y, x, d) * 255 / ((1 << d) - 1) }
        }
    }

    func testPalette8() throws {
        try check("palette8.png", scale: 255) { c, y, x in
            let p = palette[paletteIndex(y, x)]
            return [p.0, p.1, p.2][c]
        }
    }

    func testPalette4WithTransparencyDropsAlpha() throws {
        try check("palette4_trns.png", scale: 255) { c, y, x in
            let p = palette[paletteIndex(y, x)]
            return [p.0, p.1, p.2][c]
        }
    }

    func testOnePixel() throws {
        let img = try ImageFile.read(imagePath("one_pixel.png"))
        XCTAssertEqual(img.width, 1)
        XCTAssertEqual(img.height, 1)
        XCTAssertEqual(img.pixels, [Float(10) / 255, Float(20) / 255, Float(30) / 255])
        XCTAssertEqual(img.shape, [1, 3, 1, 1])
    }

    /// 8-bit samples are v / 255 exactly as torchvision's to_tensor computes them (float32 division).
    func testEightBitScalingMatchesToTensor() throws {
        let img = try ImageFile.read(imagePath("rgb8.png"))
        XCTAssertEqual(img[0, 0, 0], Float(v8(0, 0, 0)) / 255)
        XCTAssertEqual(img[2, 6, 12], Float(v8(2, 6, 12)) / 255)
    }

    /// The format comes from the magic bytes, not from the name.
    func testFormatFromContentNotExtension() throws {
        let dir = makeTempDir("ext")
        defer { removeTree(dir) }
        let bytes = try ImageFile.readFile(imagePath("rgb8.png"))
        writeBytes(bytes, to: "\(dir)/actually_png.jpg")
        let img = try ImageFile.read("\(dir)/actually_png.jpg")
        XCTAssertEqual(img, try ImageFile.read(imagePath("rgb8.png")))
    }
}
