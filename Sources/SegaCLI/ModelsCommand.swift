#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SegaModels
import SegaRuntime

// MARK: - sega models

/// `sega models`: the architectures sega can build, and the weights it can find, with each
/// model's score range, input protocol, parameter count and test figures.
public struct ModelsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the architectures sega knows and the weights it can find.",
        discussion: """
        Weights are looked up in $SEGA_WEIGHTS, ./weights and the repository's weights/. Per model: the \
        architecture, the score range sega uses (and the one the file's metadata declares), the input \
        protocol, the parameter count, the test figures of NAME.eval.json next to the weights and the \
        first line of the card NAME.md. --json writes one JSON object for scripts.
        """
    )

    @Flag(name: .long, help: "One JSON object: architectures, search directories, and the weights with every field.")
    var json = false

    public init() {}

    public func run() throws {
        // A SEGA_WEIGHTS that is not a directory fails every lookup by name; the listing says so.
        do { try WeightsLocator.checkEnvironment() } catch { Console.error("sega models: warning: \(SegaError(error).message)") }
        if json {
            Console.out(ModelsCommand.json())
        } else {
            for line in ModelsCommand.render() { Console.out(line) }
        }
    }

    /// A model's test-split figures, from NAME.eval.json (weights/evaluate.py).
    public struct TestFigures: Equatable, Sendable {
        public let srocc: Double, plcc: Double
        public let images: Int?
    }

    public struct WeightsEntry: Equatable, Sendable {
        public let name: String
        public let path: String
        /// `arch` from the metadata, or nil.
        public let arch: String?
        public let tensors: Int
        public let parameters: Int
        /// The score range sega uses for this model (the architecture's, or the metadata's where
        /// the architecture reads it), when the model loads.
        public let scoreRange: [Double]?
        /// `score_lo`, `score_hi` as the file's metadata declares them, if it does.
        public let declaredRange: [Double]?
        /// How the model takes an image, when it loads.
        public let input: InputProtocol?
        public let test: TestFigures?
        /// First non-empty line of NAME.md next to the weights, if there is one.
        public let card: String?
        /// Why the file could not be read, if it could not.
        public let problem: String?
        /// Why a readable file of a built-in architecture did not give a model, if it did not.
        public var loadProblem: String? = nil
    }

    public static func entries(directories: [String]? = nil) -> [(directory: String, weights: [WeightsEntry])] {
        (directories ?? WeightsLocator.searchDirectories()).map { dir in
            (dir, WeightsLocator.weightNames(in: dir).map { entry(name: $0, directory: dir) })
        }
    }

    static func entry(name: String, directory: String) -> WeightsEntry {
        let path = "\(directory)/\(name).safetensors"
        let card = firstLine(of: "\(directory)/\(name).md")
        let test = testFigures("\(directory)/\(name).eval.json")
        let st: SafeTensors
        do { st = try SafeTensors(path: path) } catch {
            return WeightsEntry(name: name, path: path, arch: nil, tensors: 0, parameters: 0, scoreRange: nil,
                                declaredRange: nil, input: nil, test: test, card: card, problem: "\(error)")
        }
        let arch = st.metadata.first(where: { $0.0 == "arch" })?.1
        let params = st.records.reduce(0) { $0 + $1.count }
        let declares = st.metadata.contains { $0.0 == "score_lo" || $0.0 == "score_hi" }
        let declared = declares ? (try? st.declaredScoreRange(default: (0, 0))).map { [$0.lo, $0.hi] } : nil
        var range: [Double]? = nil, input: InputProtocol? = nil, loadProblem: String? = nil
        if let arch, ModelZoo.architectures[arch] != nil {
            do {
                let model = try ModelZoo.load(st)
                range = [model.scoreRange.lo, model.scoreRange.hi]
                input = model.inputProtocol
            } catch { loadProblem = "\(error)" }
        }
        return WeightsEntry(name: name, path: path, arch: arch, tensors: st.records.count, parameters: params,
                            scoreRange: range, declaredRange: declared, input: input, test: test, card: card,
                            problem: nil, loadProblem: loadProblem)
    }

    /// srocc, plcc and images of an evaluation file; nil when there is none or it lacks them.
    static func testFigures(_ path: String) -> TestFigures? {
        guard FileSystem.isRegularFile(path),
              let text = try? FileSystem.readText(path, what: "evaluation", limit: 1 << 20),
              let v = try? JSONParser.parse(text),
              case .number(let s)? = v["srocc"], case .number(let p)? = v["plcc"] else { return nil }
        var images: Int? = nil
        if case .number(let n)? = v["images"] { images = Int(n) }
        return TestFigures(srocc: s, plcc: p, images: images)
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
            for w in ws { lines.append(line(w)) }
        }
        return lines
    }

    static func line(_ w: WeightsEntry) -> String {
        var s = "  \(w.name)"
        if let p = w.problem {
            s += "\tunreadable: \(p)"
        } else {
            let arch = w.arch ?? "?"
            let known = w.arch.map { ModelZoo.architectures[$0] != nil } ?? false
            s += "\tarch=\(arch)\(known ? "" : " (not built into this sega)")\ttensors=\(w.tensors)\tparams=\(w.parameters)"
            if let r = w.scoreRange { s += "\trange=\(JSONWriter.number(r[0]))..\(JSONWriter.number(r[1]))" }
            if let i = w.input { s += "\tinput=\(i.kind)" }
            if let p = w.loadProblem { s += "\tdoes not load: \(p)" }
        }
        if let c = w.card { s += "\t\(c)" }
        return s
    }

    /// The listing as one JSON object.
    public static func json(directories: [String]? = nil) -> String {
        let dirs = entries(directories: directories)
        var j = JSONWriter()
        j.add("version", SegaVersion.string)
        j.add("architectures", ModelZoo.architectures.keys.sorted())
        j.add("directories", dirs.map(\.directory))
        j.add("weights", raw: JSONWriter.array(dirs.flatMap { d in d.weights.map { json($0, directory: d.directory) } }))
        return j.text
    }

    static func json(_ w: WeightsEntry, directory: String) -> String {
        var j = JSONWriter()
        j.add("name", w.name)
        j.add("path", w.path)
        j.add("directory", directory)
        j.add("architecture", raw: w.arch.map(JSONWriter.quote) ?? "null")
        j.add("built_in", raw: (w.arch.map { ModelZoo.architectures[$0] != nil } ?? false) ? "true" : "false")
        j.add("parameters", w.parameters)
        j.add("tensors", w.tensors)
        j.add("score_range", raw: w.scoreRange.map { JSONWriter.array($0.map(JSONWriter.number)) } ?? "null")
        j.add("metadata_score_range", raw: w.declaredRange.map { JSONWriter.array($0.map(JSONWriter.number)) } ?? "null")
        j.add("input", raw: w.input.map(json) ?? "null")
        j.add("test", raw: w.test.map { t in
            var o = JSONWriter()
            o.add("srocc", t.srocc)
            o.add("plcc", t.plcc)
            o.add("images", raw: t.images.map { "\($0)" } ?? "null")
            return o.text
        } ?? "null")
        j.add("card", raw: w.card.map(JSONWriter.quote) ?? "null")
        j.add("problem", raw: (w.problem ?? w.loadProblem).map(JSONWriter.quote) ?? "null")
        return j.text
    }

    static func json(_ i: InputProtocol) -> String {
        var j = JSONWriter()
        j.add("kind", i.kind)
        switch i {
        case .wholeImage: break
        case .resized(let h, let w): j.add("height", h); j.add("width", w)
        case .crops(let n, let s): j.add("count", n); j.add("size", s)
        case .patches(let s): j.add("size", s)
        }
        j.add("text", i.text)
        return j.text
    }

    /// The first non-empty line of a text file, without leading '#'s and surrounding blanks.
    static func firstLine(of path: String) -> String? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var buf = [UInt8](repeating: 0, count: 4096)  // the first line is all we need
        let n = fread(&buf, 1, buf.count, f)
        let text = String(decoding: buf[0..<n], as: UTF8.self)
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var t = line.trimming(" \t\r")
            while t.hasPrefix("#") { t.removeFirst() }
            t = t.trimmingSpaces
            if !t.isEmpty { return t }
        }
        return nil
    }
}
