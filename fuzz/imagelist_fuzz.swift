// imagelist_fuzz.swift - libFuzzer harness for the image-list / CSV parser of `--images`
// (ImageList.parse in Sources/SegaCLI/ImageList.swift, compiled with the three runtime files it
// uses; built by fuzz/run_swift.sh). The input bytes are the list file, decoded as readText does.
// Invariants: parse either returns or throws SegaError; it is deterministic; every item has a
// non-empty path and name, and the name is FileSystem.stem of the path; with --split only the
// rows whose split field equals it are returned (recomputed here from the CSV fields), in
// order, and they are a subsequence of the unsplit result when that one succeeds.
// SEGA_FUZZ_STRICT_LINES=1 also requires that no path contains a line break.
//
// fuzz-sources: Sources/SegaCLI/ImageList.swift Sources/SegaCLI/ImageItem.swift Sources/SegaRuntime/SegaError.swift
// fuzz-sources: Sources/SegaRuntime/Files.swift Sources/SegaRuntime/Text.swift
#if canImport(Glibc)
import Glibc
#endif

private let strictLines = getenv("SEGA_FUZZ_STRICT_LINES").map { String(cString: $0) == "1" } ?? false

private func parse(_ text: String, _ base: String, _ split: String?) -> [ImageItem]? {
    do {
        return try ImageList.parse(text, baseDirectory: base, split: split, source: "fuzz.csv")
    } catch let e as SegaError {
        precondition(!e.message.isEmpty, "empty error message")
        return nil
    } catch {
        preconditionFailure("unexpected error type \(error)")
    }
}

/// The lines of a list as the parser's documented rules define them: a leading byte-order mark
/// is dropped; "\n", "\r\n" (one Character in Swift) and a lone "\r" each end a line.
private func listLines(_ text: String) -> [String] {
    let text = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
    return text.split(omittingEmptySubsequences: false,
                      whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).map(String.init)
}

/// The paths (as written, trimmed) of the data rows whose split field is `split`, or nil when
/// the text is not a CSV with `path` and `split` columns. Same line rules as the parser.
private func expectedSplitPaths(_ text: String, _ split: String) -> [String]? {
    var lines: [String] = []
    for l in listLines(text) {
        let t = l.trimmingSpaces
        if !t.isEmpty && !t.hasPrefix("#") { lines.append(l) }
    }
    guard let first = lines.first,
          let header = try? ImageList.fields(first, line: 1, source: "").map({ $0.trimmingSpaces.lowercased() }),
          let pi = header.firstIndex(of: "path"), let si = header.firstIndex(of: "split") else { return nil }
    var out: [String] = []
    for l in lines.dropFirst() {
        guard let f = try? ImageList.fields(l, line: 0, source: ""), f.count >= header.count else { return nil }
        if f[si] == split { out.append(f[pi].trimmingSpaces) }
    }
    return out
}

private func checkItems(_ items: [ImageItem], _ base: String) {
    for it in items {
        precondition(!it.path.isEmpty && !it.name.isEmpty, "empty path or name: \(it)")
        // The name is the stem of the path as written (before base/ is prepended; compared by
        // scalars, since "/" followed by a combining mark is one Character).
        var written = it.path
        if base != "." && !it.path.hasPrefix("/") {
            let prefix = Array((base + "/").unicodeScalars), scalars = Array(it.path.unicodeScalars)
            precondition(scalars.starts(with: prefix), "unresolved relative path: \(it)")
            var u = String.UnicodeScalarView(); u.append(contentsOf: scalars[prefix.count...])
            written = String(u)
        }
        precondition(it.name == FileSystem.stem(written), "name is not the stem of the path: \(it)")
        if let m = it.mos { precondition(m.isFinite, "non-finite mos") }
        if strictLines {
            precondition(!it.path.contains(where: { $0.isNewline }), "path with a line break: \(it.path.debugDescription)")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImageList(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let base = size % 2 == 0 ? "." : "lists/dir"
    let all = parse(text, base, nil)
    if let all {
        checkItems(all, base)
        precondition(parse(text, base, nil) == all, "parse is not deterministic")
    }
    // Split values: fixed ones and the split field of the first data row (so that rows match).
    var splits = ["train", "test", ""]
    if let v = firstSplitValue(text) { splits.append(v) }
    for s in splits {
        let got = parse(text, base, s)
        guard let got else { continue }
        checkItems(got, base)
        if let want = expectedSplitPaths(text, s) {
            let resolved = want.map { $0.hasPrefix("/") || base == "." ? $0 : "\(base)/\($0)" }
            precondition(got.map(\.path) == resolved,
                         "split '\(s)': rows \(got.map(\.path)) != expected \(want)")
        } else {  // only an empty list (nothing but blank/comment lines) may pass without them
            precondition(got.isEmpty, "split '\(s)' accepted a list without path/split columns")
        }
        if let all {  // a subsequence of the unsplit result
            var i = all.startIndex
            for g in got {
                while i < all.endIndex && all[i] != g { i += 1 }
                precondition(i < all.endIndex, "split result is not a subsequence of the full list")
                i += 1
            }
        }
    }
    return 0
}

private func firstSplitValue(_ text: String) -> String? {
    let lines = listLines(text)
        .filter { let t = $0.trimmingSpaces; return !t.isEmpty && !t.hasPrefix("#") }
    guard lines.count >= 2,
          let h = try? ImageList.fields(lines[0], line: 1, source: ""),
          let si = h.firstIndex(where: { $0.trimmingSpaces.lowercased() == "split" }),
          var f = try? ImageList.fields(lines[1], line: 2, source: ""), si < f.count else { return nil }
    if f[si].hasSuffix("\r") { f[si].removeLast() }
    return f[si]
}
