import XCTest
@testable import SegaModels

/// Writes safetensors images byte by byte, so each malformed case is built on purpose.
struct STWriter {
    var entries: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])] = []

    mutating func f32(_ name: String, _ shape: [Int], _ v: [Float]) {
        var b: [UInt8] = []
        for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { b.append(contentsOf: $0) } }
        entries.append((name, "F32", shape, b))
    }

    /// Header JSON and data; `offsets` overrides the computed data_offsets per tensor.
    func build(offsets: [String: (Int, Int)] = [:], headerLength: UInt64? = nil, extraHeader: String = "",
               dtypeOverride: [String: String] = [:], truncateBy: Int = 0) -> [UInt8] {
        var parts: [String] = []
        var pos = 0
        var data: [UInt8] = []
        for e in entries {
            let (b, en) = offsets[e.name] ?? (pos, pos + e.bytes.count)
            let dt = dtypeOverride[e.name] ?? e.dtype
            parts.append("\"\(e.name)\":{\"dtype\":\"\(dt)\",\"shape\":[\(e.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(b),\(en)]}")
            pos += e.bytes.count
            data += e.bytes
        }
        var header = Array(("{" + extraHeader + parts.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out: [UInt8] = []
        withUnsafeBytes(of: (headerLength ?? UInt64(header.count)).littleEndian) { out.append(contentsOf: $0) }
        out += header + data
        return Array(out.dropLast(truncateBy))
    }
}

final class SafeTensorsTests: XCTestCase {
    func sample() -> STWriter {
        var w = STWriter()
        w.f32("conv.weight", [2, 1, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8])
        w.f32("conv.bias", [2], [0.5, -0.5])
        return w
    }

    func expectError(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors(bytes: bytes), file: file, line: line) { e in
            let m = (e as! WeightsError).message
            XCTAssertTrue(m.contains(fragment), "message '\(m)' lacks '\(fragment)'", file: file, line: line)
        }
    }

    func testReadsF32F16BF16() throws {
        var w = sample()
        // F16: 1.0 = 0x3C00, -2.0 = 0xC000, smallest subnormal 0x0001 = 2^-24; BF16 1.5 = 0x3FC0
        w.entries.append(("h", "F16", [3], [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00]))
        w.entries.append(("bf", "BF16", [1], [0xC0, 0x3F]))
        let st = try SafeTensors(bytes: w.build(extraHeader: "\"__metadata__\":{\"format\":\"pt\"},"))
        XCTAssertEqual(st.names, ["conv.weight", "conv.bias", "h", "bf"])
        XCTAssertEqual(try st.floats("conv.weight", shape: [2, 1, 2, 2]), [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertEqual(try st.floats("h"), [1, -2, Float(sign: .plus, exponent: -24, significand: 1)])
        XCTAssertEqual(try st.floats("bf"), [1.5])
        XCTAssertEqual(st.metadata.first?.0, "format")
    }

    func testHalfConversionIsExactForAllFiniteValues() {
        for bits in UInt16(0)...UInt16.max {
            let f = halfToFloat(bits)
            let ref = Float(Float16(bitPattern: bits))
            if ref.isNaN { XCTAssertTrue(f.isNaN); continue }
            if f.bitPattern != ref.bitPattern { XCTFail("half \(bits): \(f) vs \(ref)"); return }
        }
    }

    func testMalformedFilesAreRejectedWithNamedErrors() {
        let good = sample()
        expectError([], "too short")
        expectError([1, 2, 3], "too short")
        expectError(good.build(headerLength: 1 << 40), "runs past the end")
        expectError(good.build(truncateBy: 4), "out of range")
        expectError(good.build(offsets: ["conv.bias": (0, 8)]), "overlap")
        expectError(good.build(offsets: ["conv.bias": (32, 48)]), "out of range")
        expectError(good.build(dtypeOverride: ["conv.bias": "Q7"]), "tensor 'conv.bias': unknown dtype 'Q7'")
        expectError(good.build(dtypeOverride: ["conv.bias": "I64"]), "dtype I64 is not supported")
        var badShape = sample()
        badShape.entries[1].shape = [3]
        expectError(badShape.build(), "tensor 'conv.bias': shape [3] of F32 needs 12 bytes but data_offsets give 8")
        var notJSON = good.build()
        notJSON[8] = UInt8(ascii: "x")
        expectError(notJSON, "header is not JSON")
        expectError(good.build(extraHeader: "\"conv.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,40]},"), "appears twice")
    }

    func testNaNAndInfAreRejectedByName() throws {
        var w = STWriter()
        w.f32("ok", [2], [1, 2])
        w.f32("bad", [3], [1, .nan, 2])
        w.f32("inf", [1], [-.infinity])
        let st = try SafeTensors(bytes: w.build())
        XCTAssertEqual(try st.floats("ok"), [1, 2])
        XCTAssertThrowsError(try st.floats("bad")) { XCTAssertTrue(($0 as! WeightsError).message.contains("tensor 'bad' contains NaN at element 1")) }
        XCTAssertThrowsError(try st.floats("inf")) { XCTAssertTrue(($0 as! WeightsError).message.contains("tensor 'inf' contains Inf")) }
    }

    func testMissingAndLeftoverTensors() throws {
        let st = try SafeTensors(bytes: sample().build())
        XCTAssertThrowsError(try st.expectExactly(["conv.weight", "conv.bias", "fc.weight"], architecture: "cnniqa")) {
            XCTAssertTrue(($0 as! WeightsError).message.contains("missing tensor 'fc.weight' required by cnniqa"))
        }
        XCTAssertThrowsError(try st.expectExactly(["conv.weight"], architecture: "cnniqa")) {
            XCTAssertTrue(($0 as! WeightsError).message.contains("unexpected tensor 'conv.bias'"))
        }
        XCTAssertNoThrow(try st.expectExactly(["conv.bias", "conv.weight"], architecture: "cnniqa"))
        XCTAssertThrowsError(try st.floats("nope")) { XCTAssertTrue(($0 as! WeightsError).message.contains("missing tensor 'nope'")) }
        XCTAssertThrowsError(try st.floats("conv.bias", shape: [1, 2])) {
            XCTAssertTrue(($0 as! WeightsError).message.contains("has shape [2], the architecture expects [1, 2]"))
        }
    }

    func testFileMappingAndMissingFile() throws {
        let path = "/tmp/sega-st-\(getpid()).safetensors"
        let bytes = sample().build()
        let f = fopen(path, "wb")!
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, f) }
        fclose(f)
        defer { unlink(path) }
        let st = try SafeTensors(path: path)
        XCTAssertEqual(try st.floats("conv.bias"), [0.5, -0.5])
        XCTAssertThrowsError(try SafeTensors(path: path + ".missing")) { XCTAssertTrue(($0 as! WeightsError).message.contains("cannot open")) }
        let empty = path + ".empty"
        fclose(fopen(empty, "wb")!)
        defer { unlink(empty) }
        XCTAssertThrowsError(try SafeTensors(path: empty)) { XCTAssertTrue(($0 as! WeightsError).message.contains("too short")) }
    }
}
