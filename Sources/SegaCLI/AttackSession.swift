#if canImport(Glibc)
import Glibc
#endif
import SegaAttack
import SegaEngine
import SegaIO
import SegaModels

// MARK: - Models by name

/// A model loaded by name (or path) for an attack: sources and targets.
public final class NamedModel {
    public let name: String
    public let path: String
    public let model: any IQAArchitecture
    /// FNV-1a 64 of the weight file's bytes (hex): eval records carry it, so a retrained model
    /// under the same name invalidates them instead of being mixed with older results.
    public let fingerprint: String
    public var arch: String { type(of: model).name }

    init(name: String, path: String, model: any IQAArchitecture) throws {
        self.name = name; self.path = path; self.model = model
        fingerprint = try NamedModel.fingerprint(path)
    }

    /// FNV-1a 64 over a file's bytes, as 16 hex digits.
    static func fingerprint(_ path: String) throws -> String {
        guard let f = fopen(path, "rb") else { throw CLIError("\(path): cannot open weights: \(String(cString: strerror(errno)))") }
        defer { fclose(f) }
        var h = NoiseStream.fnv1a([UInt8]())
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n == 0 { break }
            h = NoiseStream.fnv1a(buf[0..<n], continuing: h)
        }
        if ferror(f) != 0 { throw CLIError("\(path): read error while fingerprinting the weights") }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Resolve and load each name; an unknown name lists the models that can be found.
    public static func load(_ names: [String], role: String) throws -> [NamedModel] {
        guard !names.isEmpty else { throw CLIError("give at least one \(role) model") }
        var out: [NamedModel] = []
        for n in names {
            let path: String
            do { path = try WeightsLocator.resolve(n) } catch let e as CLIError {
                throw CLIError(e.message.replacingFirst("unknown model", with: "unknown \(role) model"))
            }
            do {
                out.append(try NamedModel(name: WeightsLocator.isFilePath(n) ? ImageList.stem(n) : n, path: path,
                                          model: try ModelZoo.load(path: path)))
            } catch let e as CLIError { throw e } catch {
                throw CLIError("\(role) model '\(n)': \(error)")
            }
        }
        return out
    }
}

// MARK: - Session

/// Sources (planned with gradients), targets (forward only) and an attacker, planned for one
/// image size at a time and re-planned when the size changes. The memory budget covers all of
/// them together and is checked before anything is allocated.
public final class AttackSession {
    public let sources: [NamedModel]
    public let targets: [NamedModel]
    public let context: Context
    public let memoryLimit: Int?
    public var config: AttackConfig

    public private(set) var height = 0, width = 0
    var planned: [PlannedModel] = []
    var plannedTargets: [PlannedModel] = []
    var attacker: Attacker?

    public init(sources: [NamedModel], targets: [NamedModel], config: AttackConfig, threads: Int, memoryLimit: Int?) throws {
        try config.validate()
        self.sources = sources
        self.targets = targets
        self.config = config
        self.memoryLimit = memoryLimit
        context = try Context(threads: threads)
    }

    /// Bytes the session needs for images of h x w: every plan (arena + weights) and the
    /// attacker's 10 image-sized buffers.
    public func requiredBytes(height h: Int, width w: Int) throws -> Int {
        var total = Attacker.stateBytes(height: h, width: w)
        for s in sources { total += try PlannedModel.memory(s.model, height: h, width: w, withGradient: true).totalBytes }
        for t in targets { total += try PlannedModel.memory(t.model, height: h, width: w, withGradient: false).totalBytes }
        return total
    }

    /// Refuse (before any work) when the budget is too small for images of this size; returns
    /// the bytes one session needs for them (0 when there is no budget to check against).
    @discardableResult
    public func checkBudget(height h: Int, width w: Int) throws -> Int {
        guard let limit = memoryLimit else { return 0 }
        let need = try requiredBytes(height: h, width: w)
        if need > limit {
            throw CLIError("memory budget too small: \(mb(need)) MB needed for \(sources.count) source(s) and \(targets.count) target(s) at \(w)x\(h), --memory-limit-mb allows \(mb(limit)) MB")
        }
        return need
    }

    func prepare(height h: Int, width w: Int) throws {
        if h == height && w == width && attacker != nil { return }
        try checkBudget(height: h, width: w)
        attacker = nil; planned = []; plannedTargets = []
        planned = try sources.map { try PlannedModel($0.model, name: $0.name, context: context, height: h, width: w, withGradient: true) }
        plannedTargets = try targets.map { try PlannedModel($0.model, name: $0.name, context: context, height: h, width: w, withGradient: false) }
        attacker = try Attacker(sources: planned, config: config)
        height = h; width = w
    }

    /// Attack one image with the session's config (method included).
    public func attack(_ image: RGBImage, key: String) throws -> (RGBImage, AttackResult) {
        try prepare(height: image.height, width: image.width)
        let a = attacker!
        a.config = config
        var out = RGBImage(width: image.width, height: image.height)
        let r = try image.pixels.withUnsafeBufferPointer { src in
            try out.pixels.withUnsafeMutableBufferPointer { dst in
                try a.run(image: src, key: NoiseStream.key(for: key), into: dst)
            }
        }
        return (out, r)
    }

    /// Each target's score of an image.
    public func targetScores(_ image: RGBImage) throws -> [Float] {
        try prepare(height: image.height, width: image.width)
        return image.pixels.withUnsafeBufferPointer { p in plannedTargets.map { $0.score(p) } }
    }

    /// The attacker's last masks (for report sheets).
    public var lastMasks: (maskF: [Float], maskJND: [Float])? {
        guard let a = attacker else { return nil }
        return (Array(a.lastMaskF), Array(a.lastMaskJND))
    }

    func mb(_ b: Int) -> String { "\((Double(b) / 1048576 * 10).rounded() / 10)" }
}

extension String {
    /// self with the first occurrence of `a` replaced by `b` (no Foundation).
    func replacingFirst(_ a: String, with b: String) -> String {
        let s = Array(self), p = Array(a)
        guard !p.isEmpty, s.count >= p.count else { return self }
        for i in 0...(s.count - p.count) where Array(s[i..<i + p.count]) == p {
            return String(s[..<i]) + b + String(s[(i + p.count)...])
        }
        return self
    }
}

// MARK: - Helpers shared by attack and eval

public enum AttackCLI {
    /// "8/255", "0.03" or "3e-2".
    public static func parseAmount(_ s: String, what: String) throws -> Float {
        let t = s.trimmingSpaces
        if let slash = t.firstIndex(of: "/") {
            guard let a = Double(t[..<slash]), let b = Double(t[t.index(after: slash)...]), b != 0 else {
                throw CLIError("\(what) '\(s)' is not a number or a fraction like 8/255")
            }
            return Float(a / b)
        }
        guard let v = Double(t) else { throw CLIError("\(what) '\(s)' is not a number or a fraction like 8/255") }
        return Float(v)
    }

    /// Round to the 8-bit grid: the attack works on what an 8-bit PNG can hold.
    public static func to8bit(_ im: RGBImage) -> RGBImage {
        var o = im
        for i in 0..<o.pixels.count { o.pixels[i] = Float(ImageFile.quantize(o.pixels[i]) ?? 0) / 255 }
        return o
    }

    /// Create `dir` (and parents) if needed and prove it writable, before any work starts.
    public static func prepareOutputDirectory(_ dir: String) throws {
        guard !dir.isEmpty else { throw CLIError("output directory is empty") }
        var prefix = dir.hasPrefix("/") ? "/" : ""
        for comp in dir.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + comp
            var st = stat()
            if stat(prefix, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else { throw CLIError("output directory '\(dir)': '\(prefix)' exists and is not a directory") }
            } else if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw CLIError("output directory '\(dir)' cannot be created: \(String(cString: strerror(errno)))")
            }
        }
        var template = Array("\(dir)/.sega-write-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw CLIError("output directory '\(dir)' is not writable: \(String(cString: strerror(errno)))") }
        close(fd)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    }

    /// Write text atomically (temporary file + rename).
    public static func writeText(_ s: String, to path: String) throws {
        do { try ImageFile.writeAtomically(Array(s.utf8), to: path) } catch { throw CLIError("\(error)") }
    }

    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}

// MARK: - JSON writing

/// A tiny JSON object writer (keys in insertion order, so outputs are byte-stable).
public struct JSONObject {
    var parts: [String] = []
    public init() {}
    public mutating func add(_ k: String, _ v: String) { parts.append("\(JSONObject.quote(k)):\(JSONObject.quote(v))") }
    public mutating func add(_ k: String, _ v: Int) { parts.append("\(JSONObject.quote(k)):\(v)") }
    public mutating func add(_ k: String, _ v: Double) { parts.append("\(JSONObject.quote(k)):\(JSONObject.number(v))") }
    public mutating func add(_ k: String, _ v: [Double]) {
        parts.append("\(JSONObject.quote(k)):[\(v.map(JSONObject.number).joined(separator: ","))]")
    }
    public mutating func add(_ k: String, raw: String) { parts.append("\(JSONObject.quote(k)):\(raw)") }
    public var text: String { "{" + parts.joined(separator: ",") + "}" }

    /// Shortest text that reads back as `v`; integral values without ".0", so that a number
    /// parsed and written again (a re-scored eval record) keeps its text.
    public static func number(_ v: Double) -> String {
        if v.isNaN { return "null" }
        if v.isInfinite { return v > 0 ? "1e308" : "-1e308" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    public static func quote(_ s: String) -> String { JSONText.string(s) }
}
