import XCTest
@testable import SegaIO
#if canImport(Glibc)
import Glibc
#endif

/// Writing: lossless 8-bit RGB PNG, clamped, rounded half to even, atomic, never over an input.
final class PNGWriteTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTempDir("write") }
    override func tearDown() { removeTree(dir) }

    func testRoundTripIsLossless() throws {
        let src = try ImageFile.read(imagePath("rgb8.png"))
        let out = "\(dir)/copy.png"
        try ImageFile.writePNG(src, to: out)
        XCTAssertEqual(try ImageFile.read(out), src)
        // And once more through the writer: a fixed point.
        try ImageFile.writePNG(try ImageFile.read(out), to: out)
        XCTAssertEqual(try ImageFile.read(out), src)
    }

    func testArbitraryImageRoundTripsWithinHalfAStep() throws {
        var img = RGBImage(width: 31, height: 17)
        var s: UInt32 = 12345
        for i in 0..<img.pixels.count {
            s = s &* 1664525 &+ 1013904223
            img.pixels[i] = Float(s >> 8) / Float(1 << 24)
        }
        let out = "\(dir)/noise.png"
        try ImageFile.writePNG(img, to: out)
        let back = try ImageFile.read(out)
        XCTAssertEqual(back.width, 31)
        XCTAssertEqual(back.height, 17)
        for i in 0..<img.pixels.count {
            XCTAssertLessThanOrEqual(abs(back.pixels[i] - img.pixels[i]), 0.5 / 255 + 1e-6)
            XCTAssertEqual(back.pixels[i], Float(ImageFile.quantize(img.pixels[i])!) / 255)
        }
    }

    func testQuantizeClampsAndRoundsHalfToEven() {
        XCTAssertEqual(ImageFile.quantize(-0.5), 0)
        XCTAssertEqual(ImageFile.quantize(1.5), 255)
        XCTAssertEqual(ImageFile.quantize(.infinity), 255)
        XCTAssertEqual(ImageFile.quantize(-.infinity), 0)
        XCTAssertNil(ImageFile.quantize(.nan))
        XCTAssertEqual(ImageFile.quantize(0.5 / 255), 0)   // 0.5 -> 0 (even)
        XCTAssertEqual(ImageFile.quantize(1.5 / 255), 2)   // 1.5 -> 2
        XCTAssertEqual(ImageFile.quantize(2.5 / 255), 2)   // 2.5 -> 2 (even)
        XCTAssertEqual(ImageFile.quantize(0.6 / 255), 1)
        for v in 0...255 { XCTAssertEqual(ImageFile.quantize(Float(v) / 255), UInt8(v)) }
    }

    func testNaNIsRefused() throws {
        var img = RGBImage(width: 2, height: 2, fill: 0.5)
        img[1, 1, 0] = .nan
        let out = "\(dir)/nan.png"
        assertImageError(.refused, [out, "NaN", "channel 1, row 1, column 0"]) { try ImageFile.writePNG(img, to: out) }
        XCTAssertEqual(listDir(dir), [], "nothing may be left behind")
    }

    func testRefusesToOverwriteAnInput() throws {
        let input = "\(dir)/in.png"
        try ImageFile.writePNG(RGBImage(width: 3, height: 2, fill: 0.25), to: input)
        let before = try ImageFile.readFile(input)
        let img = RGBImage(width: 3, height: 2, fill: 0.75)
        assertImageError(.refused, ["refusing to overwrite the input image"]) {
            try ImageFile.writePNG(img, to: input, protecting: [input])
        }
        // Another spelling of the same path, and a symlink to it.
        assertImageError(.refused, ["refusing"]) {
            try ImageFile.writePNG(img, to: "\(dir)/./in.png", protecting: [input])
        }
        XCTAssertEqual(symlink(input, "\(dir)/link.png"), 0)
        assertImageError(.refused, ["refusing"]) {
            try ImageFile.writePNG(img, to: "\(dir)/link.png", protecting: [input])
        }
        assertImageError(.refused, ["refusing"]) {
            try ImageFile.writePNG(img, to: input, protecting: ["\(dir)/link.png"])
        }
        XCTAssertEqual(try ImageFile.readFile(input), before, "the input is untouched")
        // A different output is fine.
        try ImageFile.writePNG(img, to: "\(dir)/out.png", protecting: [input])
        XCTAssertEqual(try ImageFile.read("\(dir)/out.png").pixels[0], Float(191) / 255)
    }

    func testAtomicReplaceLeavesNoTemporaryFiles() throws {
        let out = "\(dir)/out.png"
        try ImageFile.writePNG(RGBImage(width: 4, height: 4, fill: 0.1), to: out)
        try ImageFile.writePNG(RGBImage(width: 5, height: 3, fill: 0.9), to: out)
        XCTAssertEqual(listDir(dir), ["out.png"])
        let back = try ImageFile.read(out)
        XCTAssertEqual(back.width, 5)
        var st = stat()
        XCTAssertEqual(stat(out, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o644)
    }

    func testUnwritableDirectoryAndDirectoryTarget() {
        assertImageError(.io, ["/nonexistent-dir-sega/x.png", "temporary file"]) {
            try ImageFile.writePNG(RGBImage(width: 1, height: 1), to: "/nonexistent-dir-sega/x.png")
        }
        assertImageError(.io, [dir, "directory"]) { try ImageFile.writePNG(RGBImage(width: 1, height: 1), to: dir) }
    }

    func testOnePixelRoundTrip() throws {
        let out = "\(dir)/one.png"
        var img = RGBImage(width: 1, height: 1)
        img.pixels = [0, 0.5, 1]
        try ImageFile.writePNG(img, to: out)
        XCTAssertEqual(try ImageFile.read(out).pixels, [0, Float(128) / 255, 1])
    }

    func testRGBImageValidatesCount() {
        XCTAssertThrowsError(try RGBImage(width: 2, height: 2, pixels: [0, 1]))
        XCTAssertThrowsError(try RGBImage(width: 0, height: 2, pixels: []))
    }
}
