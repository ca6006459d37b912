import CSegaAPI
import Foundation
import SegaAttack
@testable import SegaCAPI
import XCTest

/// `sega_attack_options` as Sources/CSegaAPI/include/sega.h declares it, against AttackSettings:
/// the header's fields are exactly the table's C fields, each written (as a C program would, at
/// its offset in the header's layout) changes exactly its setting in the mapped AttackConfig,
/// and SEGA_METHOD_* / SEGA_DIRECTION_* number the table's choices in order.
final class CSettingsTests: XCTestCase {
    struct Field { let type: String, name: String, offset: Int }

    var header: String { get throws { try String(contentsOfFile: "\(repoRoot)/Sources/CSegaAPI/include/sega.h", encoding: .utf8) } }

    /// The struct's fields with their C layout (natural alignment), and the struct's size.
    func fields() throws -> (fields: [Field], size: Int) {
        let h = try header
        let open = try XCTUnwrap(h.range(of: "typedef struct sega_attack_options {"), "sega.h: no sega_attack_options")
        let close = try XCTUnwrap(h.range(of: "} sega_attack_options;", range: open.upperBound..<h.endIndex))
        let sizes = ["int": 4, "float": 4, "uint64_t": 8]
        var out: [Field] = []
        var offset = 0, align = 1
        for line in h[open.upperBound..<close.lowerBound].split(separator: "\n") {
            let code = line.components(separatedBy: "/*")[0].trimmingCharacters(in: .whitespaces)
            if code.isEmpty { continue }
            let parts = code.dropLast(code.hasSuffix(";") ? 1 : 0).split(separator: " ").map(String.init)
            guard code.hasSuffix(";"), parts.count == 2, let size = sizes[parts[0]] else {
                XCTFail("sega.h: cannot read the field line '\(code)' (int, float or uint64_t NAME;)")
                continue
            }
            offset = (offset + size - 1) / size * size
            out.append(Field(type: parts[0], name: parts[1], offset: offset))
            offset += size
            align = max(align, size)
        }
        return (out, (offset + align - 1) / align * align)
    }

    func testHeaderFieldsAreTheTablesCFields() throws {
        let (fs, size) = try fields()
        XCTAssertEqual(size, MemoryLayout<sega_attack_options>.size, "the layout read from sega.h is not the compiled one")
        let header = fs.map(\.name), table = AttackSettings.all.compactMap(\.cField)
        for name in table where !header.contains(name) { XCTFail("sega.h's sega_attack_options has no field '\(name)'") }
        for name in header where !table.contains(name) { XCTFail("sega.h field '\(name)' is no AttackSettings entry's cField") }
        for name in header where !CAPIOptions.fields.contains(where: { $0.name == name }) {
            XCTFail("CAPIOptions has no binding for '\(name)'")
        }
        XCTAssertEqual(CAPIOptions.fields.count, header.count)
        // Methods are only appended too: the first six keep their numbers.
        XCTAssertEqual(Array(AttackMethod.allCases.prefix(6)), [.sega, .ifgsm, .ensIfgsm, .mifgsm, .vt, .random])
        // Fields are only appended: the first 14 keep their place (programs built before stay valid).
        XCTAssertEqual(Array(header.prefix(14)), ["method", "eps", "alpha", "iterations", "samples", "sigma", "seed", "direction",
                                                  "mask_quantile", "jnd_threshold", "normalize_sources", "mask_agreement",
                                                  "antithetic", "sega_momentum"])
    }

    /// The C encoding of a setting's value for a field of `type`.
    func store(_ v: SettingValue, of s: AttackSetting, as f: Field, into o: inout sega_attack_options) {
        withUnsafeMutableBytes(of: &o) { p in
            switch (f.type, v) {
            case ("float", .float(let x)): p.storeBytes(of: x, toByteOffset: f.offset, as: Float.self)
            case ("int", .int(let i)): p.storeBytes(of: Int32(i), toByteOffset: f.offset, as: Int32.self)
            case ("int", .bool(let b)): p.storeBytes(of: Int32(b ? 1 : 0), toByteOffset: f.offset, as: Int32.self)
            case ("int", .choice(let c)):
                p.storeBytes(of: Int32(s.choices!.firstIndex(of: c)!), toByteOffset: f.offset, as: Int32.self)
            case ("uint64_t", .uint(let u)): p.storeBytes(of: u, toByteOffset: f.offset, as: UInt64.self)
            default: XCTFail("\(s.id): a \(v) in a C \(f.type)")
            }
        }
    }

    /// A number outside SEGA_METHOD_*, SEGA_BUDGET_* or SEGA_JND_* is refused with the setting's name.
    func testUnknownChoiceNumbersAreRefused() throws {
        var o = sega_attack_options()
        SegaCAPI.sega_attack_options_init(&o)
        for (set, name) in [({ (o: inout sega_attack_options) in o.method = 9 }, "unknown method 9"),
                            ({ (o: inout sega_attack_options) in o.budget = 3 }, "unknown budget 3"),
                            ({ (o: inout sega_attack_options) in o.jnd_model = -1 }, "unknown JND model -1"),
                            ({ (o: inout sega_attack_options) in o.budget_growth = 3 }, "unknown budget growth 3")] {
            var bad = o
            set(&bad)
            XCTAssertThrowsError(try CAPIOptions.config(bad)) { XCTAssertTrue("\($0)".contains(name), "\($0)") }
        }
    }

    func testEveryCFieldSetsExactlyItsSetting() throws {
        var defaults = sega_attack_options()
        SegaCAPI.sega_attack_options_init(&defaults)
        XCTAssertEqual(try CAPIOptions.config(defaults), AttackConfig(), "sega_attack_options_init is not AttackConfig()")
        for f in try fields().fields {
            let s = try XCTUnwrap(AttackSettings.all.first { $0.cField == f.name }, "no setting for C field \(f.name)")
            var o = defaults
            store(s.example, of: s, as: f, into: &o)
            var expected = AttackConfig()
            try s.set(&expected, s.example)
            XCTAssertEqual(try CAPIOptions.config(o), expected, "C field \(f.name) = \(s.example)")
        }
    }

    /// SEGA_METHOD_*, SEGA_DIRECTION_*, SEGA_BUDGET_* and SEGA_JND_* number the choices of their settings.
    func testMethodAndDirectionNumbersFollowTheTable() throws {
        let h = try header
        func constants(_ prefix: String) -> [String: Int] {
            var out: [String: Int] = [:]
            let re = try! NSRegularExpression(pattern: "\(prefix)([A-Z_]+)\\s*=\\s*([0-9]+)")
            for m in re.matches(in: h, range: NSRange(h.startIndex..., in: h)) {
                out[String(h[Range(m.range(at: 1), in: h)!])] = Int(h[Range(m.range(at: 2), in: h)!])
            }
            return out
        }
        for (prefix, id) in [("SEGA_METHOD_", AttackSettingID.method), ("SEGA_DIRECTION_", .direction),
                             ("SEGA_BUDGET_", .budget), ("SEGA_JND_", .jndModel), ("SEGA_GROWTH_", .budgetGrowth)] {
            let choices = try XCTUnwrap(AttackSettings[id].choices)
            let c = constants(prefix)
            XCTAssertEqual(c.count, choices.count, "\(prefix)*: \(c) vs \(choices)")
            for (i, name) in choices.enumerated() {
                let cName = name.uppercased().replacingOccurrences(of: "-", with: "_")
                XCTAssertEqual(c[cName], i, "\(prefix)\(cName) must be \(i)")
            }
        }
    }
}
