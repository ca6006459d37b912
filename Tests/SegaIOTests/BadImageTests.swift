import XCTest
@testable import SegaIO

/// Bad input never crashes or aborts: each case is an ImageError naming the file and the reason.
final class BadImageTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTempDir("bad") }
    override func tearDown() { removeTree(dir) }

    // MARK: - Files that are not images

    func testZeroSizeFile() {
        let p = "\(dir)/empty.png"
        writeBytes([], to: p)
        assertImageError(.format, [p, "empty file"]) { _ = try ImageFile.read(p) }
        assertImageError(.format, ["empty file"]) { _ = try ImageFile.decode([]) }
    }

    func testNotAnImage() {
        let p = "\(dir)/notes.png"
        writeBytes(Array("hello, this is text\n".utf8), to: p)
        assertImageError(.format, [p, "not a PNG or JPEG", "0x68 0x65 0x6c 0x6c"]) { _ = try ImageFile.read(p) }
    }

    func testMissingFileAndDirectory() {
        assertImageError(.io, ["\(dir)/nope.png", "cannot open"]) { _ = try ImageFile.read("\(dir)/nope.png") }
        assertImageError(.io, [dir, "directory"]) { _ = try ImageFile.read(dir) }
    }

    // MARK: - Damaged PNGs

    func testTruncatedPNGAtEveryLength() throws {
        let good = try ImageFile.readFile(imagePath("rgb8.png"))
        let p = "\(dir)/cut.png"
        // Every prefix: inside the signature, the IHDR, the IDAT, before IEND.
        for n in 1..<good.count {
            writeBytes(Array(good[0..<n]), to: p)
            do {
                _ = try ImageFile.read(p)
                XCTFail("a \(n)-byte prefix of a \(good.count)-byte PNG decoded")
            } catch let e as ImageError {
                XCTAssertEqual(e.kind, .format)
                XCTAssertTrue(e.description.hasPrefix(p + ": "), e.description)
                if n >= 8 {
                    XCTAssertTrue(e.reason.contains("truncated") || e.reason.contains("invalid PNG"), "\(n): \(e)")
                }
            }
        }
        writeBytes(Array(good[0..<(good.count / 2)]), to: p)
        assertImageError(.format, [p, "truncated PNG"]) { _ = try ImageFile.read(p) }
    }

    func testTruncatedInterlaced16Bit() throws {
        let good = try ImageFile.readFile(imagePath("rgba16_interlaced.png"))
        assertImageError(.format, ["truncated PNG"]) { _ = try ImageFile.decode(Array(good.dropLast(40)), source: "x.png") }
    }

    func testCorruptCRC() {
        assertImageError(.format, ["bad_crc.png", "invalid PNG", "CRC"]) { _ = try ImageFile.read(imagePath("bad_crc.png")) }
    }

    func testCorruptCompressedData() {
        assertImageError(.format, ["bad_zlib.png", "invalid PNG"]) { _ = try ImageFile.read(imagePath("bad_zlib.png")) }
    }

    // MARK: - Dimension bombs

    /// A 69-byte file declaring 50000 x 50000 RGB: refused from the header, before any pixel
    /// memory (30 GB of floats) is allocated.
    func testDimensionBombRefused() {
        assertImageError(.tooLarge, ["bomb_50000x50000.png", "50000 x 50000", "2500000000 pixels", "limit of 67108864"]) {
            _ = try ImageFile.read(imagePath("bomb_50000x50000.png"))
        }
    }

    func testConfigurablePixelLimit() throws {
        assertImageError(.tooLarge, ["13 x 7 = 91 pixels", "limit of 90"]) {
            _ = try ImageFile.read(imagePath("rgb8.png"), maxPixels: 90)
        }
        XCTAssertEqual(try ImageFile.read(imagePath("rgb8.png"), maxPixels: 91).width, 13)
        assertImageError(.tooLarge, ["37 x 23", "limit of 100"]) {
            _ = try ImageFile.read(imagePath("rgb420.jpg"), maxPixels: 100)
        }
        XCTAssertEqual(try ImageFile.read(imagePath("one_pixel.png"), maxPixels: 1).width, 1)
    }

    /// A JPEG whose SOF declares 65000 x 65000 is refused after the header is parsed.
    func testJPEGDimensionBombRefused() throws {
        var bytes = try ImageFile.readFile(imagePath("rgb420.jpg"))
        // Find the SOF0 marker (FF C0): length(2) precision(1) height(2) width(2).
        var k = 2
        var patched = false
        while k + 9 < bytes.count {
            if bytes[k] == 0xFF, bytes[k + 1] == 0xC0 {
                bytes[k + 5] = 0xFD; bytes[k + 6] = 0xE8  // height 65000
                bytes[k + 7] = 0xFD; bytes[k + 8] = 0xE8  // width 65000
                patched = true
                break
            }
            k += 1
        }
        XCTAssertTrue(patched)
        assertImageError(.tooLarge, ["big.jpg", "65000 x 65000"]) { _ = try ImageFile.decode(bytes, source: "big.jpg") }
    }

    // MARK: - Damaged JPEGs

    func testTruncatedJPEG() throws {
        let good = try ImageFile.readFile(imagePath("rgb420.jpg"))
        let p = "\(dir)/cut.jpg"
        for n in [2, 3, 20, 200, good.count / 2, good.count - 2] {
            writeBytes(Array(good[0..<n]), to: p)
            do {
                _ = try ImageFile.read(p)
                XCTFail("a \(n)-byte prefix of a JPEG decoded")
            } catch let e as ImageError {
                XCTAssertEqual(e.kind, .format, "\(e)")
                XCTAssertTrue(e.description.hasPrefix(p + ": "), e.description)
            }
        }
        writeBytes(Array(good[0..<(good.count / 2)]), to: p)
        assertImageError(.format, [p, "truncated JPEG"]) { _ = try ImageFile.read(p) }
    }

    func testGarbageAfterJPEGMagic() {
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF] + (0..<100).map { UInt8(($0 * 37) & 0xFF) }
        assertImageError(.format, ["junk.jpg", "JPEG"]) { _ = try ImageFile.decode(bytes, source: "junk.jpg") }
    }

    /// Random byte flips in valid files: any outcome but a crash (an image or an ImageError).
    func testRandomCorruptionNeverCrashes() throws {
        var rng: UInt64 = 0x9E3779B97F4A7C15
        func next() -> Int { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return Int(rng >> 1) }
        for name in ["rgb8.png", "palette4_trns.png", "rgba16_interlaced.png", "rgb420.jpg", "rgb444_progressive.jpg"] {
            let good = try ImageFile.readFile(imagePath(name))
            for _ in 0..<150 {
                var b = good
                for _ in 0..<(1 + next() % 4) { b[8 + next() % (b.count - 8)] ^= UInt8(1 + next() % 255) }
                do {
                    let img = try ImageFile.decode(b, source: name, maxPixels: 1 << 20)
                    XCTAssertEqual(img.pixels.count, 3 * img.width * img.height)
                } catch let e as ImageError {
                    XCTAssertTrue(e.description.hasPrefix(name + ": "))
                }
            }
        }
    }

    /// Corrupt compressed data behind valid CRCs (so libpng gets past the CRC check into zlib
    /// and the row filters): flips inside each file's IDAT payload, with the CRC recomputed.
    func testCorruptIDATWithValidCRCNeverCrashes() throws {
        var rng: UInt64 = 0x2545F4914F6CDD1D
        func next() -> Int { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return Int(rng >> 1) }
        var decoded = 0, refused = 0
        for name in ["rgb8.png", "rgb8_interlaced.png", "palette4_trns.png", "rgba16_interlaced.png", "gray2.png"] {
            let good = try ImageFile.readFile(imagePath(name))
            // Locate the IDAT chunk: length(4) type(4) data crc(4), after the 8-byte signature.
            var pos = 8
            var idat: (start: Int, length: Int)? = nil
            while pos + 12 <= good.count {
                let len = good[pos..<(pos + 4)].reduce(0) { $0 << 8 | Int($1) }
                if Array(good[(pos + 4)..<(pos + 8)]) == Array("IDAT".utf8) { idat = (pos, len); break }
                pos += 12 + len
            }
            let (start, length) = try XCTUnwrap(idat, name)
            for _ in 0..<200 {
                var b = good
                for _ in 0..<(1 + next() % 3) { b[start + 8 + next() % length] ^= UInt8(1 + next() % 255) }
                let crc = crc32(b[(start + 4)..<(start + 8 + length)])
                for k in 0..<4 { b[start + 8 + length + k] = UInt8((crc >> (24 - 8 * UInt32(k))) & 0xFF) }
                do {
                    let img = try ImageFile.decode(b, source: name)
                    XCTAssertEqual(img.pixels.count, 3 * 13 * 7)
                    decoded += 1
                } catch let e as ImageError {
                    XCTAssertEqual(e.kind, .format)
                    XCTAssertTrue(e.description.hasPrefix(name + ": invalid PNG"), e.description)
                    refused += 1
                }
            }
        }
        XCTAssertGreaterThan(refused, 0)
    }

    func crc32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
}
