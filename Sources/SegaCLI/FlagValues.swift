import SegaAttack
import SegaRuntime

// MARK: - Flag values

/// The command line's value syntax beyond ArgumentParser's types.
enum FlagValues {
    /// "8/255", "0.03" or "3e-2".
    static func amount(_ s: String, flag: String) throws -> Float {
        let t = s.trimmingSpaces
        if let slash = t.firstIndex(of: "/") {
            guard let a = Double(t[..<slash]), let b = Double(t[t.index(after: slash)...]), b != 0 else {
                throw SegaError(.invalidArgument, "\(flag) '\(s)' is not a number or a fraction like 8/255")
            }
            return Float(a / b)
        }
        guard let v = Double(t) else { throw SegaError(.invalidArgument, "\(flag) '\(s)' is not a number or a fraction like 8/255") }
        return Float(v)
    }

    /// A method by name ("unknown method 'x' (one of ...)" otherwise).
    static func method(_ s: String) throws -> AttackMethod {
        var c = AttackConfig()
        try AttackSettings[.method].set(&c, .choice(s.trimmingSpaces))
        return c.method
    }

    /// A thread or worker count in 1...256 (nil stays nil).
    static func count(_ n: Int?, flag: String) throws -> Int? {
        if let n, !(1...256).contains(n) { throw SegaError(.invalidArgument, "\(flag) must be in 1...256") }
        return n
    }

    /// A memory limit in MB as bytes (nil stays nil).
    static func megabytes(_ n: Int?, flag: String) throws -> Int? {
        if let n, n < 1 { throw SegaError(.invalidArgument, "\(flag) must be positive") }
        return n.map { $0 << 20 }
    }
}
