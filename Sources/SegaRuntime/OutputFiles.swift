#if canImport(Glibc)
import Glibc
#endif
import SegaIO

// MARK: - Writing outputs

/// Output directories and text files: checked before any work, written atomically.
public enum OutputFiles {
    /// Create `dir` (and parents) if needed and prove it writable, before any work starts; the
    /// temporary files a killed run left there (sega's own names, locked by no live writer) are
    /// removed.
    public static func prepareDirectory(_ dir: String) throws {
        guard !dir.isEmpty else { throw SegaError(.invalidArgument, "output directory is empty") }
        var prefix = dir.hasPrefix("/") ? "/" : ""
        for comp in dir.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + comp
            var st = stat()
            if stat(prefix, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    throw SegaError(.io, "output directory '\(dir)': '\(prefix)' exists and is not a directory")
                }
            } else if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw SegaError(.io, "output directory '\(dir)' cannot be created: \(String(cString: strerror(errno)))")
            }
        }
        ImageFile.removeStaleTemporaries(in: dir)
        do {
            let (fd, probe) = try ImageFile.createLockedTemporary(directory: dir, prefix: ".sega-write-test-", for: dir)
            unlink(probe)
            close(fd)
        } catch let e as ImageError {
            throw SegaError(.io, "output directory '\(dir)' is not writable: \(e.reason)")
        }
    }

    /// Write text atomically (temporary file + rename).
    public static func writeText(_ s: String, to path: String) throws {
        do { try ImageFile.writeAtomically(Array(s.utf8), to: path) } catch { throw SegaError(error) }
    }

    /// Write a PNG atomically, refusing to replace any of `protecting` (the inputs).
    public static func writePNG(_ image: RGBImage, to path: String, protecting: [String] = []) throws {
        do { try ImageFile.writePNG(image, to: path, protecting: protecting) } catch { throw SegaError(error) }
    }
}

// MARK: - Inputs an output would replace

/// The files a command reads, by identity (device and inode), so that an output path naming
/// one of them, under any spelling or through a link, is found before anything is written.
public struct InputFiles {
    private var ids: [String: String] = [:]

    /// `paths` that exist; the others cannot be replaced by an output.
    public init(_ paths: [String]) {
        for p in paths { if let id = InputFiles.identity(p), ids[id] == nil { ids[id] = p } }
    }

    /// The input (as given) that writing `output` would replace, if any.
    public func input(at output: String) -> String? {
        guard !ids.isEmpty, let id = InputFiles.identity(output) else { return nil }
        return ids[id]
    }

    static func identity(_ p: String) -> String? {
        var st = stat()
        guard stat(p, &st) == 0 else { return nil }
        return "\(st.st_dev):\(st.st_ino)"
    }
}
