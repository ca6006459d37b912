// The runtime's errors, file-system facts and trimming are all it uses: fuzz/imagelist_fuzz.swift
// compiles this file with ImageItem.swift and those three runtime files (SegaError, Files, Text).
#if canImport(SegaRuntime)
import SegaRuntime
#endif

// MARK: - Image lists

/// The images of `--images`: a directory (its .png/.jpg/.jpeg files, sorted by name), a CSV with
/// a header naming a `path` column (e.g. the dataset manifest; optional `split` and `mos`
/// columns), or a plain list with one path per line (`#` starts a comment). Relative paths are
/// relative to the list file's directory. Two images with the same output name, a missing file and
/// an empty result are errors, reported before any work starts.
public enum ImageList {
    public static func load(_ spec: String, split: String? = nil, stride: Int = 1, limit: Int? = nil) throws -> [ImageItem] {
        var items: [ImageItem]
        if FileSystem.isDirectory(spec) {
            items = try listDirectory(spec)
        } else {
            let text = try FileSystem.readText(spec, what: "image list")
            let dir = spec.contains("/") ? String(spec[..<spec.lastIndex(of: "/")!]) : "."
            items = try parse(text, baseDirectory: dir, split: split, source: spec)
        }
        if stride > 1 { items = items.enumerated().filter { $0.offset % stride == 0 }.map(\.element) }
        if let limit { items = Array(items.prefix(limit)) }
        guard !items.isEmpty else {
            throw SegaError(.invalidArgument, "\(spec): no images\(split.map { " in split '\($0)'" } ?? "") (empty list)")
        }
        try checkUniqueNames(items)
        let missing = items.filter { !FileSystem.isRegularFile($0.path) }
        if !missing.isEmpty {
            let shown = missing.prefix(3).map(\.path).joined(separator: ", ")
            throw SegaError(.notFound, "\(spec): \(missing.count) listed image(s) missing or not regular files: \(shown)\(missing.count > 3 ? ", ..." : "")")
        }
        return items
    }

    /// Items for paths given on the command line (a directory gives its images, sorted).
    public static func items(paths: [String], recursive: Bool = false) throws -> [ImageItem] {
        guard !paths.isEmpty else { throw SegaError(.invalidArgument, "no input images given") }
        let items = try expand(paths, recursive: recursive).map { ImageItem(path: $0, name: FileSystem.stem($0), mos: nil) }
        try checkUniqueNames(items)
        return items
    }

    /// Parse list text (no file-system access). Throws on malformed CSV (unterminated quote,
    /// header without a `path` column, a row with too few fields, a bad `mos`).
    public static func parse(_ text: String, baseDirectory: String, split: String? = nil, source: String = "<list>") throws -> [ImageItem] {
        var lines: [(Int, String)] = []
        var n = 0
        // "\r\n" is one Character in Swift: a Windows line end must be matched as such.
        let text = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            n += 1
            let l = String(raw)
            let t = l.trimmingSpaces
            if t.isEmpty || t.hasPrefix("#") { continue }
            lines.append((n, l))
        }
        guard let (_, first) = lines.first else { return [] }
        let header = try fields(first, line: 1, source: source).map { $0.trimmingSpaces.lowercased() }
        func resolve(_ p: String) -> String { p.hasPrefix("/") || baseDirectory == "." ? p : "\(baseDirectory)/\(p)" }
        if header.contains("path") {  // a header row (a single "path" column counts)
            let pi = header.firstIndex(of: "path")!
            let si = header.firstIndex(of: "split"), mi = header.firstIndex(of: "mos")
            if split != nil && si == nil { throw SegaError(.invalidArgument, "\(source): --split given but the list has no 'split' column") }
            var out: [ImageItem] = []
            for (ln, l) in lines.dropFirst() {
                let f = try fields(l, line: ln, source: source)
                guard f.count >= header.count else {
                    throw SegaError(.format, "\(source):\(ln): \(f.count) field(s), the header has \(header.count)")
                }
                if let split, let si, f[si] != split { continue }
                let p = f[pi].trimmingSpaces
                guard !p.isEmpty else { throw SegaError(.format, "\(source):\(ln): empty path") }
                var mos: Double? = nil
                if let mi {
                    guard let m = Double(f[mi].trimmingSpaces), m.isFinite else {
                        throw SegaError(.format, "\(source):\(ln): mos '\(f[mi])' is not a finite number")
                    }
                    mos = m
                }
                out.append(ImageItem(path: resolve(p), name: FileSystem.stem(p), mos: mos))
            }
            return out
        }
        if split != nil { throw SegaError(.invalidArgument, "\(source): --split needs a CSV list with a 'split' column") }
        return lines.map { (_, l) in
            let p = l.trimmingSpaces
            return ImageItem(path: resolve(p), name: FileSystem.stem(p), mos: nil)
        }
    }

    /// Split one CSV line into fields (RFC 4180 quoting; no newlines inside quotes).
    static func fields(_ line: String, line ln: Int, source: String) throws -> [String] {
        var out: [String] = []
        var cur = ""
        var quoted = false, wasQuoted = false
        var it = Array(line)
        var i = 0
        while i < it.count {
            let ch = it[i]
            if quoted {
                if ch == "\"" {
                    if i + 1 < it.count && it[i + 1] == "\"" { cur.append("\""); i += 1 } else { quoted = false }
                } else { cur.append(ch) }
            } else if ch == "\"" && cur.isEmpty && !wasQuoted {
                quoted = true; wasQuoted = true
            } else if ch == "," {
                out.append(cur); cur = ""; wasQuoted = false
            } else {
                cur.append(ch)
            }
            i += 1
        }
        guard !quoted else { throw SegaError(.format, "\(source):\(ln): unterminated quoted field") }
        out.append(cur)
        it.removeAll()
        return out
    }

    /// Paths given on the command line with each directory replaced by its .png/.jpg/.jpeg
    /// files, sorted by name (with `recursive`, its subdirectories' too, depth first in name
    /// order; hidden entries skipped); a directory without any is an error.
    public static func expand(_ paths: [String], recursive: Bool = false) throws -> [String] {
        try paths.flatMap { p -> [String] in
            guard FileSystem.isDirectory(p) else { return [p] }
            let inside = try images(in: p, recursive: recursive)
            guard !inside.isEmpty else { throw SegaError(.invalidArgument, "\(p): a directory without PNG or JPEG images") }
            return inside
        }
    }

    static func images(in dir: String, recursive: Bool) throws -> [String] {
        var out = try listDirectory(dir).map(\.path)
        guard recursive else { return out }
        let base = dir.count > 1 && dir.hasSuffix("/") ? String(dir.dropLast()) : dir
        for sub in (FileSystem.entries(in: dir) ?? []).sorted() where FileSystem.isDirectory("\(base)/\(sub)") {
            out += try images(in: "\(base)/\(sub)", recursive: true)
        }
        return out
    }

    static func listDirectory(_ dir: String) throws -> [ImageItem] {
        guard let names = FileSystem.entries(in: dir) else { throw SegaError(.io, "\(dir): cannot open directory") }
        let base = dir.count > 1 && dir.hasSuffix("/") ? String(dir.dropLast()) : dir
        return names.filter { n in [".png", ".jpg", ".jpeg"].contains { n.lowercased().hasSuffix($0) } }
            .sorted().map { ImageItem(path: "\(base)/\($0)", name: FileSystem.stem($0), mos: nil) }
    }

    static func checkUniqueNames(_ items: [ImageItem]) throws {
        var seen: [String: String] = [:]
        for it in items {
            if let other = seen[it.name] {
                throw SegaError(.invalidArgument, "'\(other)' and '\(it.path)' would both write outputs named '\(it.name)'; rename one")
            }
            seen[it.name] = it.path
        }
    }
}
