#if canImport(Glibc)
import Glibc
#endif
import SegaEngine
import SegaIO
import SegaModels

// MARK: - Errors

/// A command-level failure (unknown model, bad option); the message is what the user sees.
public struct CLIError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - Scorer

/// Scores images with one model: `sega score`'s code path, also used by the end-to-end tests.
/// A graph and plan (forward only, no gradients) is built per image size and reused while
/// consecutive images share that size (`maxCachedPlans` sizes are kept). Each plan must fit in
/// `memoryLimit` bytes (default: 3/4 of physical memory), or scoring that image fails with the
/// engine's "memory budget too small" error instead of the process being killed.
public final class Scorer {
    public let model: any IQAArchitecture
    public let context: Context
    /// Plans kept at once (each holds its own activations).
    public let maxCachedPlans: Int
    /// Arena limit per plan, in bytes.
    public let memoryLimit: Int?

    private struct Entry {
        let height: Int, width: Int
        let input: Tensor, output: Tensor
        let plan: Plan
    }
    private var cache: [Entry] = []  // most recently used last

    public init(model: any IQAArchitecture, threads: Int = 1, maxCachedPlans: Int = 1,
                memoryLimit: Int? = Scorer.defaultMemoryLimit) throws {
        self.model = model
        self.context = try Context(threads: threads)
        self.maxCachedPlans = max(1, maxCachedPlans)
        self.memoryLimit = memoryLimit
    }

    /// 3/4 of physical memory (nil if unknown).
    public static var defaultMemoryLimit: Int? {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return nil }
        return pages / 4 * 3 * size
    }

    /// Load a weights file (architecture from its metadata unless `arch` is given).
    public convenience init(weightsPath: String, arch: String? = nil, threads: Int = 1) throws {
        try self.init(model: try ModelZoo.load(path: weightsPath, arch: arch), threads: threads)
    }

    /// The model's score for an RGB image in [0, 1].
    public func score(_ image: RGBImage) throws -> Float {
        let e = try entry(height: image.height, width: image.width)
        try e.plan.setInput(e.input, image.pixels)
        e.plan.forward()
        return e.plan.buffer(e.output)[0]
    }

    private func entry(height: Int, width: Int) throws -> Entry {
        if let i = cache.firstIndex(where: { $0.height == height && $0.width == width }) {
            let e = cache.remove(at: i)
            cache.append(e)
            return e
        }
        let g = Graph()
        let x = try g.input([1, 3, height, width], name: "image")
        let s = try model.build(g, image: x)
        guard s.shape.reduce(1, *) == 1 else {
            throw CLIError("\(type(of: model).name): the model's output has shape \(s.shape), not a single score")
        }
        // Drop old plans first, so that at most maxCachedPlans arenas exist at once.
        while cache.count >= maxCachedPlans { cache.removeFirst() }
        let e = Entry(height: height, width: width, input: x, output: s,
                      plan: try g.plan(context, outputs: [s], gradientsFor: [],
                                       options: PlanOptions(memoryLimit: memoryLimit)))
        cache.append(e)
        return e
    }
}

// MARK: - Weights lookup

/// Where model names resolve: `NAME` means `NAME.safetensors` in the first weights directory
/// that has it, searched in this order:
///   1. `$SEGA_WEIGHTS` (a directory), if set;
///   2. `./weights` under the current working directory;
///   3. a `weights/` directory in the nearest ancestor of the running executable
///      (so `.build/debug/sega` finds the repository's `weights/`).
/// Anything containing a `/` or ending in `.safetensors` is a file path instead.
public enum WeightsLocator {
    public static func isFilePath(_ s: String) -> Bool {
        s.contains("/") || s.hasSuffix(".safetensors")
    }

    /// The search directories that exist, in order, without duplicates.
    public static func searchDirectories(environment: [String: String] = currentEnvironment(),
                                         cwd: String? = currentDirectory(),
                                         executable: String? = executablePath()) -> [String] {
        var dirs: [String] = []
        if let env = environment["SEGA_WEIGHTS"], !env.isEmpty { dirs.append(env) }
        if let cwd { dirs.append(cwd + "/weights") }
        if let exe = executable {
            var dir = parent(exe)
            while !dir.isEmpty {
                let cand = (dir == "/" ? "" : dir) + "/weights"
                if isDirectory(cand) { dirs.append(cand); break }
                if dir == "/" { break }
                dir = parent(dir)
            }
        }
        var seen = Set<String>()
        var out: [String] = []
        for d in dirs where isDirectory(d) {
            let key = realPath(d) ?? d
            if seen.insert(key).inserted { out.append(d) }
        }
        return out
    }

    /// The weights file for `--model`.
    public static func resolve(_ model: String, directories: [String]? = nil) throws -> String {
        if isFilePath(model) {
            guard isRegularFile(model) else { throw CLIError("model file '\(model)' does not exist or is not a file") }
            return model
        }
        guard !model.isEmpty else { throw CLIError("empty model name") }
        let dirs = directories ?? searchDirectories()
        for d in dirs {
            let p = "\(d)/\(model).safetensors"
            if isRegularFile(p) { return p }
        }
        let known = dirs.flatMap { weightNames(in: $0) }
        let where_ = dirs.isEmpty ? "no weights directory found (set SEGA_WEIGHTS or run from the repository)"
                                  : "searched \(dirs.joined(separator: ", "))"
        let avail = known.isEmpty ? "" : "; available: \(Array(Set(known)).sorted().joined(separator: ", "))"
        throw CLIError("unknown model '\(model)': no \(model).safetensors (\(where_))\(avail)")
    }

    /// Names (file names without `.safetensors`) in a directory, sorted.
    public static func weightNames(in dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let ent = readdir(d) {
            let name = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name.hasSuffix(".safetensors"), !name.hasPrefix("."), isRegularFile("\(dir)/\(name)") {
                names.append(String(name.dropLast(".safetensors".count)))
            }
        }
        return names.sorted()
    }

    // MARK: Process facts

    public static func currentEnvironment() -> [String: String] {
        var env: [String: String] = [:]
        var p = environ
        while let s = p.pointee {
            let kv = String(cString: s)
            if let eq = kv.firstIndex(of: "=") { env[String(kv[..<eq])] = String(kv[kv.index(after: eq)...]) }
            p += 1
        }
        return env
    }

    public static func currentDirectory() -> String? {
        guard let p = getcwd(nil, 0) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    public static func executablePath() -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func parent(_ p: String) -> String {
        guard let slash = p.lastIndex(of: "/") else { return "" }
        let d = String(p[..<slash])
        return d.isEmpty ? "/" : d
    }

    static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    static func isDirectory(_ p: String) -> Bool {
        var st = stat()
        return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func isRegularFile(_ p: String) -> Bool {
        var st = stat()
        return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }
}

// MARK: - `sega score`

/// One scored image.
public struct ScoreLine: Equatable, Sendable {
    public let image: String
    public let model: String
    public let arch: String
    public let score: Float

    /// `<path>\t<score>`.
    public var tsv: String { "\(image)\t\(ScoreLine.number(score))" }

    /// {"image":..,"model":..,"arch":..,"score":..} (non-finite scores as null).
    public var json: String {
        "{\"image\":\(JSONText.string(image)),\"model\":\(JSONText.string(model)),\"arch\":\(JSONText.string(arch)),\"score\":\(score.isFinite ? ScoreLine.number(score) : "null")}"
    }

    /// Shortest text that reads back as the same Float.
    static func number(_ v: Float) -> String { "\(v)" }
}

public enum ScoreCommand {
    /// Score every image with the model `model` (a name or a .safetensors path). Each result is
    /// passed to `emit` as soon as it is known; an image that cannot be read or scored goes to
    /// `fail` (with a message naming it) and the others are still scored. Returns the number of
    /// failed images. Model-level problems (unknown model, bad weights) throw.
    @discardableResult
    public static func run(model: String, arch: String?, threads: Int, images: [String],
                           maxPixels: Int = ImageFile.defaultMaxPixels,
                           memoryLimit: Int? = Scorer.defaultMemoryLimit,
                           emit: (ScoreLine) -> Void, fail: (String) -> Void) throws -> Int {
        guard threads >= 1, threads <= 256 else { throw CLIError("--threads must be in 1...256, got \(threads)") }
        guard !images.isEmpty else { throw CLIError("no images given") }
        let path = try WeightsLocator.resolve(model)
        let net: any IQAArchitecture
        do { net = try ModelZoo.load(path: path, arch: arch) } catch let e as WeightsError {
            throw CLIError("cannot load model '\(model)': \(e.message)")
        }
        let archName = type(of: net).name
        let scorer = try Scorer(model: net, threads: threads, memoryLimit: memoryLimit)
        var failures = 0
        for img in images {
            do {
                let image = try ImageFile.read(img, maxPixels: maxPixels)
                let s = try scorer.score(image)
                emit(ScoreLine(image: img, model: model, arch: archName, score: s))
            } catch let e as ImageError {
                failures += 1
                fail(e.description)
            } catch {
                failures += 1
                fail("\(img): cannot score with \(archName): \(error)")
            }
        }
        return failures
    }
}

// MARK: - `sega models`

/// What `sega models` prints: the architectures sega can build, and the weights it can find.
public enum ModelsCommand {
    public struct WeightsEntry: Equatable, Sendable {
        public let name: String
        public let path: String
        /// `arch` from the metadata, or nil.
        public let arch: String?
        public let tensors: Int
        public let parameters: Int
        /// First non-empty line of NAME.md next to the weights, if there is one.
        public let card: String?
        /// Why the file could not be read, if it could not.
        public let problem: String?
    }

    public static func entries(directories: [String]? = nil) -> [(directory: String, weights: [WeightsEntry])] {
        (directories ?? WeightsLocator.searchDirectories()).map { dir in
            (dir, WeightsLocator.weightNames(in: dir).map { entry(name: $0, directory: dir) })
        }
    }

    static func entry(name: String, directory: String) -> WeightsEntry {
        let path = "\(directory)/\(name).safetensors"
        let card = firstLine(of: "\(directory)/\(name).md")
        do {
            let st = try SafeTensors(path: path)
            let arch = st.metadata.first(where: { $0.0 == "arch" })?.1
            let params = st.records.reduce(0) { $0 + $1.count }
            return WeightsEntry(name: name, path: path, arch: arch, tensors: st.records.count,
                                parameters: params, card: card, problem: nil)
        } catch {
            return WeightsEntry(name: name, path: path, arch: nil, tensors: 0, parameters: 0, card: card,
                                problem: "\(error)")
        }
    }

    /// The listing as text lines.
    public static func render(directories: [String]? = nil) -> [String] {
        var lines: [String] = []
        let archs = ModelZoo.architectures.keys.sorted()
        lines.append("architectures: " + (archs.isEmpty ? "(none registered)" : archs.joined(separator: ", ")))
        let dirs = entries(directories: directories)
        if dirs.isEmpty {
            lines.append("weights: no weights directory found (set SEGA_WEIGHTS or run from the repository)")
        }
        for (dir, ws) in dirs {
            lines.append("weights in \(dir):" + (ws.isEmpty ? " (none)" : ""))
            for w in ws {
                var s = "  \(w.name)"
                if let p = w.problem {
                    s += "\tunreadable: \(p)"
                } else {
                    let arch = w.arch ?? "?"
                    let known = w.arch.map { ModelZoo.architectures[$0] != nil } ?? false
                    s += "\tarch=\(arch)\(known ? "" : " (not built into this sega)")\ttensors=\(w.tensors)\tparams=\(w.parameters)"
                }
                if let c = w.card { s += "\t\(c)" }
                lines.append(s)
            }
        }
        return lines
    }

    static func firstLine(of path: String) -> String? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var buf = [UInt8](repeating: 0, count: 4096)  // the first line is all we need
        let n = fread(&buf, 1, buf.count, f)
        let text = String(decoding: buf[0..<n], as: UTF8.self)
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var t = line.trimmingCharacters(in: " \t\r")
            while t.hasPrefix("#") { t.removeFirst() }
            t = t.trimmingCharacters(in: " \t")
            if !t.isEmpty { return t }
        }
        return nil
    }
}

// MARK: - Small text helpers

enum JSONText {
    static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String { self[...].trimmingCharacters(in: set) }
}
