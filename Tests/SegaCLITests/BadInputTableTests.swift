import XCTest
import Foundation

/// Runs every row of the bad-input table in docs/bad-inputs.md (between `<!-- bad-inputs:begin -->` and
/// `<!-- bad-inputs:end -->`): the command must exit with the listed code, print the listed
/// message on stderr, and leave no file in its output directory. `$F` is Tests/Fixtures, `$T` a
/// scratch directory holding the prepared bad files. The documented table cannot drift from the code.
final class BadInputTableTests: XCTestCase {
    struct Row { let name: String; let command: [String]; let exit: Int32; let message: String }

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
            let cmd = unquote(cells[3]).split(separator: " ").map(String.init)
            out.append(Row(name: cells[2], command: Array(cmd.dropFirst()), exit: code, message: unquote(cells[5])))
        }
        return out
    }

    func testEveryBadInputInTheREADMEFailsAsDocumented() throws {
        let t = NSTemporaryDirectory() + "sega-bad-\(UUID().uuidString)"
        let f = "\(repoRoot)/Tests/Fixtures"
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(t)/a", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(t)/b", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: t) }
        let png = try Data(contentsOf: URL(fileURLWithPath: "\(f)/e2e/cnniqa.png"))
        try png.prefix(300).write(to: URL(fileURLWithPath: "\(t)/truncated.png"))
        try Data().write(to: URL(fileURLWithPath: "\(t)/empty.png"))
        try png.write(to: URL(fileURLWithPath: "\(t)/notweights.safetensors"))
        try png.write(to: URL(fileURLWithPath: "\(t)/x.png"))
        try png.write(to: URL(fileURLWithPath: "\(t)/a/x.png"))
        try png.write(to: URL(fileURLWithPath: "\(t)/b/x.png"))
        try Data("path\nx.png\nmissing.png\n".utf8).write(to: URL(fileURLWithPath: "\(t)/missing.csv"))
        try Data("path,split\n".utf8).write(to: URL(fileURLWithPath: "\(t)/empty.csv"))

        let table = try rows()
        XCTAssertGreaterThanOrEqual(table.count, 12, "the bad-input table (docs/bad-inputs.md) needs at least 12 rows")
        for row in table {
            let args = row.command.map { $0.replacingOccurrences(of: "$F", with: f).replacingOccurrences(of: "$T", with: t) }
            let r = try runSega(args)
            XCTAssertEqual(r.status, row.exit, "\(row.name): exit status; stderr: \(r.err)")
            let msg = row.message.replacingOccurrences(of: "$F", with: f).replacingOccurrences(of: "$T", with: t)
            XCTAssertTrue(r.err.contains(msg), "\(row.name): stderr lacks `\(msg)`:\n\(r.err)")
            if let o = args.firstIndex(of: "-o"), o + 1 < args.count {
                let files = (try? fm.contentsOfDirectory(atPath: args[o + 1])) ?? []
                XCTAssertEqual(files, [], "\(row.name): output left in \(args[o + 1])")
            }
        }
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: "\(t)/a"), ["x.png"], "an input was touched")
    }
}
