#if canImport(Glibc)
import Glibc
#endif

// MARK: - The machine and the process

/// Facts about the machine and the running process.
public enum Machine {
    /// Online CPUs, clamped to 1...256 (the engine's thread range).
    public static func onlineCPUs() -> Int { max(1, min(256, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) }

    /// 3/4 of physical memory (nil if unknown): the default memory limit of a plan.
    public static func defaultMemoryLimit() -> Int? {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return nil }
        return pages / 4 * 3 * size
    }

    public static func environment() -> [String: String] {
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
}
