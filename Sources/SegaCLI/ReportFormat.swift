import SegaAttack
import SegaModels

// MARK: - Numbers and settings as the report writes them

extension Report {
    /// `v` with `digits` decimals ("n/a" for NaN).
    static func f(_ v: Double, _ digits: Int = 4) -> String {
        if v.isNaN { return "n/a" }
        if digits == 0 { return abs(v) < 1e15 ? "\(Int64(v.rounded()))" : "\(v.rounded())" }
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let r = (v * p).rounded() / p
        var s = "\(r)"
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        } else if !s.contains("e") { s += "." + String(repeating: "0", count: digits) }
        return s
    }

    /// `v` with a sign ("+0.0431", "-0.2000").
    static func signed(_ v: Double, _ digits: Int = 4) -> String { v.isNaN || v < 0 ? f(v, digits) : "+" + f(v, digits) }

    /// "-0.6569 [-0.74, -0.52]": a value and its interval.
    static func withInterval(_ e: Estimate, signed sign: Bool = false) -> String {
        "\(sign ? signed(e.value) : f(e.value)) [\(f(e.lo, 2)), \(f(e.hi, 2))]"
    }

    /// An SSIM level as given, with at least two decimals ("0.90", "0.925").
    static func tauText(_ t: Double) -> String {
        let s = "\(t)"
        guard let dot = s.firstIndex(of: ".") else { return s }
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        return decimals < 2 ? s + String(repeating: "0", count: 2 - decimals) : s
    }

    /// "equal eps" or "SSIM 0.90": an operating point's name.
    static func pointName(_ tau: Double?) -> String { tau.map { "SSIM \(tauText($0))" } ?? "equal eps" }

    /// The settings line ("eps 8.00/255, alpha 2.00/255, T 10, ..."): each setting's report part
    /// (AttackSettings), in rank order.
    static func settings(_ c: AttackConfig) -> String {
        var s = ""
        for setting in AttackSettings.all.filter({ $0.report != nil }).sorted(by: { $0.report!.rank < $1.report!.rank }) {
            let part = setting.report!, v = setting.value(c)
            if part.omitAtDefault && v == setting.defaultValue { continue }
            s += (s.isEmpty ? "" : part.joiner) + text(part, v)
        }
        return s
    }

    /// One part of the settings line.
    static func text(_ part: ReportPart, _ v: SettingValue) -> String {
        switch part.style {
        case .plain: return "\(part.label) \(v)\(part.unit)"
        case .fixed(let digits, let scale): return "\(part.label) \(f((v.number ?? .nan) * scale, digits))\(part.unit)"
        case .marker: return v == .bool(true) ? part.label : ""
        }
    }

    /// The settings as (key, value) pairs from the settings table, every setting but the method
    /// (an eval runs several): the key is the setting's C field (`sega_attack_options`, as
    /// docs/settings.md lists them), the value typed (numbers, booleans, choice names).
    static func settingsObject(_ c: AttackConfig) -> [(String, JSONValue)] {
        AttackSettings.all.filter { $0.id != .method }.map { s in
            let key = s.cField ?? s.id.rawValue
            switch s.value(c) {
            case .bool(let b): return (key, .bool(b))
            case .int(let i): return (key, .number(Double(i)))
            case .uint(let u): return (key, u <= 1 << 53 ? .number(Double(u)) : .string("\(u)"))  // exact in JSON
            case .float(let x): return (key, .number(Double("\(x)") ?? Double(x)))
            case .choice(let n): return (key, .string(n))
            }
        }
    }

    /// The setting's title for each key of `settingsObject`.
    static func settingTitles() -> [String: String] {
        Dictionary(AttackSettings.all.map { ($0.cField ?? $0.id.rawValue, $0.title) }, uniquingKeysWith: { a, _ in a })
    }
}
