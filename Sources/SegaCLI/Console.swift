#if canImport(Glibc)
import Glibc
#endif

// MARK: - Console

/// The command line's output: lines on stdout (flushed one at a time, also into a pipe) and
/// messages on stderr. Only the CLI layer writes to either.
enum Console {
    static func out(_ line: String) {
        print(line)
        fflush(nil)
    }

    static func error(_ s: String) {
        write(s + "\n")
    }

    /// Raw text on stderr (a progress line redrawn in place).
    static func write(_ s: String) {
        var text = s
        text.withUTF8 { b in _ = Glibc.write(2, b.baseAddress, b.count) }
    }

    static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }
}
