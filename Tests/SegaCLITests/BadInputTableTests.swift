import XCTest
import Foundation
import SegaIO

/// Runs every row of the bad-input table in docs/bad-inputs.md (between `<!-- bad-inputs:begin -->` and
/// `<!-- bad-inputs:end -->`): the command must exit with the listed code, print the listed
/// message on stderr, leave every file under `$T` as it was and create none (inputs untouched,
/// nothing written). `$F` is Tests/Fixtures, `$T` a scratch directory holding the prepared bad
/// files; leading `VAR=value` words set the environment. The documented table cannot drift from the code.
final class BadInputTableTests: XCTestCase {
    struct Row { let name: String; let env: [String: String]; let command: [String]; let exit: Int32; let message: String }

    func rows() throws -> [Row] {
        let readme = try String(contentsOfFile: "\(repoRoot)/docs/bad-inputs.md", encoding: .utf8)
        guard let a = readme.range(of: "<!-- bad-inputs:begin -->"), let b = readme.range(of: "<!-- bad-inputs:end -->") else {
            XCTFail("docs/bad-inputs.md has no bad-input table markers"); return []
        }
        var out: [Row] = []
        for line in readme[a.upperBound..<b.lowerBound].split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 6, let code = Int32(cells[4]) else { continue }  // header / separator rows
            func unquote(_ s: String) -> String { s.hasPrefix("`") && s.hasSuffix("`") ? String(s.dropFirst().dropLast()) : s }
            var cmd = unquote(cells[3]).split(separator: " ").map(String.init)
            var env: [String: String] = [:]
            while let first = cmd.first, first != "sega", let eq = first.firstIndex(of: "=") {
                env[String(first[..<eq])] = String(first[first.index(after: eq)...])
                cmd.removeFirst()
            }
            out.append(Row(name: cells[2], env: env, command: Array(cmd.dropFirst()), exit: code, message: unquote(cells[5])))
        }
        return out
    }

    /// The files the table's rows refer to, under `t`.
    func prepare(_ t: String, fixtures f: String) throws {
        let fm = FileManager.default
        for d in ["a", "b/sub", "d", "same", "R/attacked/ifgsm", "tiny"] { try fm.createDirectory(atPath: "\(t)/\(d)", withIntermediateDirectories: true) }
        func put(_ d: Data, _ p: String) throws { try d.write(to: URL(fileURLWithPath: "\(t)/\(p)")) }
        let png = try Data(contentsOf: URL(fileURLWithPath: "\(f)/e2e/cnniqa.png"))
        try put(png.prefix(300), "truncated.png")
        try put(Data(), "empty.png")
        for p in ["notweights.safetensors", "x.png", "a/x.png", "b/x.png", "d/photo.json", "same/a.png", "same/c.png", "R/attacked/ifgsm/x.png"] {
            try put(png, p)
        }
        try fm.copyItem(atPath: "\(f)/e2e/cnniqa.jpg", toPath: "\(t)/same/c.jpg")
        try put(Data("path\nx.png\nmissing.png\n".utf8), "missing.csv")
        try put(Data("path,split\n".utf8), "empty.csv")
        try put(Data("path\r\nx.png\r\nmissing.png\r\n".utf8), "crlf.csv")
        try put(Data("\u{FEFF}path\nmissing.png\n".utf8), "bom.csv")
        XCTAssertEqual(mkfifo("\(t)/fifo.png", 0o644), 0)
        XCTAssertEqual(mkfifo("\(t)/fifo.csv", 0o644), 0)
        try ImageFile.writePNG(RGBImage(width: 13, height: 7, fill: 0.5), to: "\(t)/tiny/t.png")
        try ImageFile.writePNG(RGBImage(width: 6, height: 5, fill: 0.5), to: "\(t)/narrow.png")
        // Three stray bytes before the start-of-scan marker: libjpeg decodes around them with a warning.
        var jpg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(f)/e2e/cnniqa.jpg")))
        let sos = try XCTUnwrap((0..<jpg.count - 1).first { jpg[$0] == 0xFF && jpg[$0 + 1] == 0xDA })
        jpg.insert(contentsOf: [0x12, 0x34, 0x56], at: sos)
        try put(Data(jpg), "junk.jpg")
        // Scan data broken halfway (a restart marker out of sequence): libjpeg resynchronises with warnings.
        var scan = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(f)/e2e/cnniqa.jpg")))
        let mid = (sos + scan.count) / 2
        scan[mid] = 0xFF; scan[mid + 1] = 0xD3
        try put(Data(scan), "scan.jpg")
    }

    /// Every regular file under `dir` (hidden ones too) with its bytes; FIFOs by name only.
    func snapshot(_ dir: String) -> [String: Data] {
        var out: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: dir)
        while let rel = e?.nextObject() as? String {
            let p = "\(dir)/\(rel)"
            let type = (try? FileManager.default.attributesOfItem(atPath: p)[.type]) as? FileAttributeType
            if type == .typeRegular { out[rel] = (try? Data(contentsOf: URL(fileURLWithPath: p))) ?? Data() }
            if type == .typeUnknown || type == nil { out[rel] = Data("<special>".utf8) }
        }
        return out
    }

    func testEveryBadInputInTheREADMEFailsAsDocumented() throws {
        let t = NSTemporaryDirectory() + "sega-bad-\(UUID().uuidString)"
        let f = "\(repoRoot)/Tests/Fixtures"
        defer { try? FileManager.default.removeItem(atPath: t) }
        try prepare(t, fixtures: f)
        let table = try rows()
        XCTAssertGreaterThanOrEqual(table.count, 35, "the bad-input table (docs/bad-inputs.md) needs at least 35 rows")
        func expand(_ s: String) -> String { s.replacingOccurrences(of: "$F", with: f).replacingOccurrences(of: "$T", with: t) }
        for row in table {
            let before = snapshot(t)
            let r = try runSega(row.command.map(expand), env: row.env.mapValues(expand), timeout: 120)
            XCTAssertEqual(r.status, row.exit, "\(row.name): exit status; stderr: \(r.err)")
            XCTAssertTrue(r.err.contains(expand(row.message)), "\(row.name): stderr lacks `\(expand(row.message))`:\n\(r.err)")
            let after = snapshot(t)
            XCTAssertEqual(Set(after.keys).subtracting(before.keys).sorted(), [], "\(row.name): files created")
            for (k, v) in before where after[k] != v { XCTFail("\(row.name): \(k) changed or removed") }
        }
    }
}
