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
    public static func searchDirectories(environment: [String: String] = Machine.environment(),
                                         cwd: String? = Machine.currentDirectory(),
                                         executable: String? = Machine.executablePath()) -> [String] {
        var dirs: [String] = []
        if let env = environment["SEGA_WEIGHTS"], !env.isEmpty { dirs.append(env) }
        if let cwd { dirs.append(cwd + "/weights") }
        if let exe = executable {
            var dir = FileSystem.parent(exe)
            while !dir.isEmpty {
                let cand = (dir == "/" ? "" : dir) + "/weights"
                if FileSystem.isDirectory(cand) { dirs.append(cand); break }
                if dir == "/" { break }
                dir = FileSystem.parent(dir)
            }
        }
        var seen = Set<String>()
        var out: [String] = []
        for d in dirs where FileSystem.isDirectory(d) {
            let key = FileSystem.realPath(d) ?? d
            if seen.insert(key).inserted { out.append(d) }
        }
        return out
    }

    /// The weights file for a model name or path; `role` ("source") names it in the error
    /// for an unknown name, which lists the names that can be found.
    public static func resolve(_ model: String, role: String? = nil, directories: [String]? = nil) throws -> String {
        if isFilePath(model) {
            guard FileSystem.isRegularFile(model) else {
                throw SegaError(.notFound, "model file '\(model)' does not exist or is not a file", about: .model)
            }
            return model
        }
        guard !model.isEmpty else { throw SegaError(.invalidArgument, "empty model name", about: .model) }
        if directories == nil { try checkEnvironment() }
        let dirs = directories ?? searchDirectories()
        for d in dirs {
            let p = "\(d)/\(model).safetensors"
            if FileSystem.isRegularFile(p) { return p }
        }
        let known = dirs.flatMap { weightNames(in: $0) }
        let where_ = dirs.isEmpty ? "no weights directory found (set SEGA_WEIGHTS or run from the repository)"
                                  : "searched \(dirs.joined(separator: ", "))"
        let avail = known.isEmpty ? "" : "; available: \(Array(Set(known)).sorted().joined(separator: ", "))"
        let what = role.map { "\($0) model" } ?? "model"
        throw SegaError(.notFound, "unknown \(what) '\(model)': no \(model).safetensors (\(where_))\(avail)", about: .model)
    }

    /// $SEGA_WEIGHTS, when set, must be a directory: a missing one or a file is an error, not
    /// silently skipped (names would then resolve somewhere the user did not ask for).
    public static func checkEnvironment(_ environment: [String: String] = Machine.environment()) throws {
        guard let env = environment["SEGA_WEIGHTS"], !env.isEmpty, !FileSystem.isDirectory(env) else { return }
        let what = FileSystem.exists(env) ? "it is a file" : "it does not exist"
        throw SegaError(.notFound, "SEGA_WEIGHTS='\(env)' is not a directory (\(what)); point it at the directory of NAME.safetensors files or unset it", about: .model)
    }

    /// Names (file names without `.safetensors`) in a directory, sorted.
    public static func weightNames(in dir: String) -> [String] {
        (FileSystem.entries(in: dir) ?? [])
            .filter { $0.hasSuffix(".safetensors") && FileSystem.isRegularFile("\(dir)/\($0)") }
            .map { String($0.dropLast(".safetensors".count)) }
            .sorted()
    }
}
