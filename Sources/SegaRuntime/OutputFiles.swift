#if canImport(Glibc)
import Glibc
#endif
import SegaIO

// MARK: - Writing outputs

/// Output directories and text files: checked before any work, written atomically.
public enum OutputFiles {
    /// Create `dir` (and parents) if needed and prove it writable, before any work starts.
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
        var template = Array("\(dir)/.sega-write-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SegaError(.io, "output directory '\(dir)' is not writable: \(String(cString: strerror(errno)))") }
        close(fd)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
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
