// BenchSupport - what sega-bench and sega-modelbench share: argument parsing, the monotonic
// clock, number formatting, fixed-precision numbers for the main package's JSONWriter, and the
// process's peak RSS.
@_exported import SegaModels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Arguments

/// The command line of one benchmark tool: flags are walked in order with `next()`, their
/// values read with `value` / `int`; a bad one ends the process with a message on stderr.
public struct Arguments {
    public let tool: String
    public let usage: String
    private var rest: IndexingIterator<ArraySlice<String>>

    public init(tool: String, usage: String, arguments: [String] = CommandLine.arguments) {
        self.tool = tool
        self.usage = usage
        rest = arguments.dropFirst().makeIterator()
    }

    /// The next flag, or nil at the end. Answers -h / --help itself (usage on stdout, exit 0).
    public mutating func next() -> String? {
        guard let a = rest.next() else { return nil }
        if a == "-h" || a == "--help" {
            print(usage)
            exit(0)
        }
        return a
    }

    /// The value after `flag`.
    public mutating func value(_ flag: String) -> String {
        guard let v = rest.next() else { fail("\(flag) needs a value\n\(usage)") }
        return v
    }

    /// The integer value after `flag`, at least `lo`.
    public mutating func int(_ flag: String, min lo: Int) -> Int {
        let v = value(flag)
        guard let i = Int(v), i >= lo else { fail("\(flag) must be an integer >= \(lo), got '\(v)'") }
        return i
    }

    /// The value after `flag`, one of `choices`.
    public mutating func choice(_ flag: String, _ choices: [String]) -> String {
        let v = value(flag)
        guard choices.contains(v) else { fail("\(flag) must be one of \(choices.joined(separator: ", ")), got '\(v)'") }
        return v
    }

    public func unknown(_ flag: String) -> Never { fail("unknown argument '\(flag)'\n\(usage)") }

    /// "<tool>: message" on stderr, then exit with `code`.
    public func fail(_ message: String, code: Int32 = 2) -> Never { benchFail(tool, message, code: code) }
}

/// "<tool>: message" on stderr, then exit with `code`.
public func benchFail(_ tool: String, _ message: String, code: Int32 = 1) -> Never {
    let line = Array("\(tool): \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

// MARK: - Clock and numbers

/// Monotonic clock in seconds.
public func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + 1e-9 * Double(ts.tv_nsec)
}

/// Seconds of CPU time the whole process has used (every thread; CLOCK_PROCESS_CPUTIME_ID). With
/// one engine thread this is the work of a call, unlike wall time, which grows with the load.
public func processCPU() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + 1e-9 * Double(ts.tv_nsec)
}

/// printf-style "%.<digits>f" (or "%.<digits>e" with `exponent`).
public func fmt(_ x: Double, _ digits: Int = 1, exponent: Bool = false) -> String {
    var buf = [CChar](repeating: 0, count: 64)
    _ = withVaList([x]) { vsnprintf(&buf, buf.count, "%.\(digits)\(exponent ? "e" : "f")", $0) }
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `s` right-aligned in `width` columns (left-aligned with `left`).
public func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
    if s.count >= width { return s }
    let fill = String(repeating: " ", count: width - s.count)
    return left ? s + fill : fill + s
}

// MARK: - JSON

/// Fixed-precision numbers for the benchmarks' JSON lines (written by the main package's
/// JSONWriter, which otherwise writes the shortest text of a number).
extension JSONWriter {
    /// `v` with `digits` decimals (`exponent`: scientific notation), null when not finite.
    public mutating func add(_ key: String, _ v: Double, digits: Int, exponent: Bool = false) {
        add(key, raw: v.isFinite ? fmt(v, digits, exponent: exponent) : "null")
    }

    /// Each of `v` with `digits` decimals, null where not finite.
    public mutating func add(_ key: String, _ v: [Double], digits: Int) {
        add(key, raw: JSONWriter.array(v.map { $0.isFinite ? fmt($0, digits) : "null" }))
    }
}

// MARK: - Memory

/// A "Vm...:  N kB" field of /proc/self/status in bytes, or nil.
public func procStatus(_ key: String) -> Int? {
    guard let f = fopen("/proc/self/status", "r") else { return nil }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, Int32(line.count), f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix(key + ":") {
            let digits = s.dropFirst(key.count + 1).filter { $0.isNumber }
            if let kb = Int(String(digits)) { return kb * 1024 }
        }
    }
    return nil
}

/// Peak resident set size in bytes: VmHWM from /proc/self/status, else ru_maxrss (KiB on Linux).
public func peakRSSBytes() -> Int {
    if let b = procStatus("VmHWM") { return b }
    var ru = rusage()
    getrusage(RUSAGE_SELF.rawValue, &ru)
    return Int(ru.ru_maxrss) * 1024
}
