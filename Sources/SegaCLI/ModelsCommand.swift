#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SegaModels
import SegaRuntime

// MARK: - sega models

/// `sega models`: the architectures sega can build, and the weights it can find.
public struct ModelsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the architectures sega knows and the weights it can find.",
        discussion: "Weights are looked up in $SEGA_WEIGHTS, ./weights and the repository's weights/."
    )

    public init() {}

    public func run() throws {
        // A SEGA_WEIGHTS that is not a directory fails every lookup by name; the listing says so.
        do { try WeightsLocator.checkEnvironment() } catch { Console.error("sega models: warning: \(SegaError(error).message)") }
        for line in ModelsCommand.render() { Console.out(line) }
    }

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
        }
        if let c = w.card { s += "\t\(c)" }
        return s
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
