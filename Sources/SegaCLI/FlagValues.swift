import SegaAttack
import SegaRuntime

// MARK: - Flag values

/// The command line's value syntax beyond ArgumentParser's types.
enum FlagValues {
    /// "8/255", "0.03" or "3e-2".
    static func amount(_ s: String, flag: String) throws -> Float { Float(try number(s, flag: flag)) }

    /// The value of "8/255", "0.03" or "3e-2", in double precision.
    static func number(_ s: String, flag: String) throws -> Double {
        let t = s.trimmingSpaces
        if let slash = t.firstIndex(of: "/") {
            guard let a = Double(t[..<slash]), let b = Double(t[t.index(after: slash)...]), b != 0 else {
                throw SegaError(.invalidArgument, "\(flag) '\(s)' is not a number or a fraction like 8/255")
            }
            return a / b
        }
        guard let v = Double(t) else { throw SegaError(.invalidArgument, "\(flag) '\(s)' is not a number or a fraction like 8/255") }
        return v
    }

    /// "auto" (nil: the setting's default in effect) or a number.
    static func auto(_ s: String, flag: String) throws -> Float? {
        let t = s.trimmingSpaces
        if t == "auto" { return nil }
        guard let v = Float(t) else { throw SegaError(.invalidArgument, "\(flag) '\(s)' is neither a number nor auto") }
        return v
    }

    /// --eps: in (0, 1] and at least one 8-bit step (1/255), since the attacked image is an
    /// 8-bit PNG and a smaller budget cannot change a pixel. Messages show the value as given.
    static func eps(_ s: String) throws -> Float {
        let v = try number(s, flag: "--eps")
        guard v > 0, v <= 1 else { throw SegaError(.invalidArgument, "eps must be in (0, 1], got \(s)") }
        guard v >= 1.0 / 255 else {
            throw SegaError(.invalidArgument, "--eps \(s) is below one 8-bit step (1/255): the attack could not change any pixel")
        }
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

    /// A memory limit in MB as bytes (nil stays nil); at most Int.max >> 20 MB, so the bytes fit.
    static func megabytes(_ n: Int?, flag: String) throws -> Int? {
        guard let n else { return nil }
        let most = Int.max >> 20
        guard n >= 1, n <= most else { throw SegaError(.invalidArgument, "\(flag) must be in 1...\(most), got \(n)") }
        return n << 20
    }

    /// Comma-separated names with none given twice (`what` names the flag in the message).
    static func distinct(_ names: [String], flag: String) throws -> [String] {
        var seen = Set<String>()
        for n in names where !seen.insert(n).inserted { throw SegaError(.invalidArgument, "\(flag) lists '\(n)' twice") }
        return names
    }
}
