#if canImport(Glibc)
import Glibc
#endif

// MARK: - File-system facts

/// The file-system questions sega asks (no Foundation); errors are SegaErrors.
public enum FileSystem {
    public static func isDirectory(_ p: String) -> Bool {
        var st = stat()
        return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether anything (a file, directory, link, ...) exists at `p` (links not followed).
    public static func exists(_ p: String) -> Bool {
        var st = stat()
        return lstat(p, &st) == 0
    }

    public static func isRegularFile(_ p: String) -> Bool {
        var st = stat()
        return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// The canonical path (symbolic links resolved), or nil.
    public static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    /// The directory part of a path ("/" for a top-level entry, "" without a slash).
    public static func parent(_ p: String) -> String {
        guard let slash = p.lastIndex(of: "/") else { return "" }
        let d = String(p[..<slash])
        return d.isEmpty ? "/" : d
    }

    /// A file name without directory and extension ("a/b.png" -> "b"; ".x" stays ".x").
    public static func stem(_ path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        if let dot = base.lastIndex(of: "."), dot != base.startIndex { return String(base[..<dot]) }
        return base
    }

    /// The names in a directory other than hidden ones, unsorted; nil if it cannot be opened.
    public static func entries(in dir: String) -> [String]? {
        guard let d = opendir(dir) else { return nil }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names
    }

    /// A text file's contents (UTF-8, invalid bytes replaced; a leading byte-order mark
    /// dropped); `what` names it in errors ("image list"), which refuse files above `limit`
    /// bytes and anything but a regular file (checked before opening: a FIFO would block).
    public static func readText(_ path: String, what: String, limit: Int = 256 << 20) throws -> String {
        let fd = try openRegular(path, what: what)
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let r = read(fd, &buf, buf.count)
            if r < 0 && errno == EINTR { continue }
            if r < 0 { throw SegaError(.io, "\(path): read error in \(what): \(String(cString: strerror(errno)))") }
            if r == 0 { break }
            bytes.append(contentsOf: buf[0..<r])
            if bytes.count > limit { throw SegaError(.format, "\(path): \(what) above \(limit >> 20) MB") }
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A read-only descriptor of a regular file: its type checked with stat before a
    /// non-blocking open, and again on the descriptor (a FIFO swapped in between does not hang).
    public static func openRegular(_ path: String, what: String) throws -> Int32 {
        func fail(_ e: Int32) -> SegaError {
            SegaError(e == ENOENT ? .notFound : .io, "\(path): cannot open \(what): \(String(cString: strerror(e)))")
        }
        func check(_ st: stat) throws {
            if (st.st_mode & S_IFMT) == S_IFDIR { throw SegaError(.io, "\(path): is a directory, not a \(what)") }
            guard (st.st_mode & S_IFMT) == S_IFREG else { throw SegaError(.io, "\(path): not a regular file") }
        }
        var st = stat()
        guard stat(path, &st) == 0 else { throw fail(errno) }
        try check(st)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw fail(errno) }
        guard fstat(fd, &st) == 0 else { let e = errno; close(fd); throw fail(e) }
        do { try check(st) } catch { close(fd); throw error }
        return fd
    }
}
