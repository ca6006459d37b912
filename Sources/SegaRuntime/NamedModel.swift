#if canImport(Glibc)
import Glibc
#endif
import SegaAttack
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

    /// FNV-1a 64 over a file's bytes, as 16 hex digits (`what` and `subject` name the file in
    /// errors: weights by default). Only a regular file is opened.
    public static func fingerprint(_ path: String, what: String = "weights", about subject: ErrorSubject = .model) throws -> String {
        let fd: Int32
        do { fd = try FileSystem.openRegular(path, what: what) } catch let e as SegaError { throw SegaError(e.kind, e.message, about: subject) }
        defer { close(fd) }
        var h = NoiseStream.fnv1a([UInt8]())
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw SegaError(.io, "\(path): read error while fingerprinting the \(what)", about: subject) }
            if n == 0 { break }
            h = NoiseStream.fnv1a(buf[0..<n], continuing: h)
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Refuse a model given twice in one list (the same weights under two names or spellings:
    /// same file or same bytes).
    public static func requireDistinct(_ models: [NamedModel], what: String) throws {
        for (i, m) in models.enumerated() {
            if let o = models[..<i].first(where: { $0.fingerprint == m.fingerprint || FileSystem.realPath($0.path) == FileSystem.realPath(m.path) }) {
                throw SegaError(.invalidArgument, "\(what): model '\(m.path)' is given twice (same weights as '\(o.path)')", about: .model)
            }
        }
    }

    /// Resolve and load each name (`role`, "source" or "target", names them in errors); an
    /// unknown name lists the models that can be found. A path's model is named by its stem.
    public static func load(_ names: [String], role: String) throws -> [NamedModel] {
        guard !names.isEmpty else { throw SegaError(.invalidArgument, "give at least one \(role) model") }
        var out: [NamedModel] = []
        for n in names {
            let path = try WeightsLocator.resolve(n, role: role)
            do {
                out.append(try NamedModel(name: WeightsLocator.isFilePath(n) ? FileSystem.stem(n) : n, path: path,
                                          model: try ModelZoo.load(path: path)))
            } catch let e as SegaError {
                throw e
            } catch {
                let e = SegaError(error)
                throw SegaError(e.kind, "\(role) model '\(n)': \(e.message)", about: .model)
            }
        }
        return out
    }
}
