// MARK: - What one attack setting is

/// The settings of an attack, one case each; `AttackSettings.all` declares them (in this order).
public enum AttackSettingID: String, CaseIterable, Sendable {
    case method, eps, seed, direction, alpha, iterations, samples, sigma, normalizeSources
    case maskQuantile, maskAgreement, jndThreshold, antithetic, segaMomentum, momentum, vtBeta, vtSamples
    case budget, budgetLambda, jndModel, jndLuminanceCap, svreInner, cwaRadius, cwaInnerStep, cwaSweeps, diProbability, diResize, diSamples
    case targetSSIM, maskFill, chroma, budgetGrowth, segaDI
}

/// A setting's value, typed as AttackConfig stores it (choices by their names).
public enum SettingValue: Equatable, Sendable, CustomStringConvertible {
    case bool(Bool), int(Int), uint(UInt64), float(Float), choice(String)

    /// Swift's own text of the value ("0.03137255", "10", "true", "sega"): the resume key's text.
    public var description: String {
        switch self {
        case .bool(let v): return "\(v)"
        case .int(let v): return "\(v)"
        case .uint(let v): return "\(v)"
        case .float(let v): return "\(v)"
        case .choice(let v): return v
        }
    }

    /// The value as a number (bools 0/1; nil for a choice).
    public var number: Double? {
        switch self {
        case .bool(let v): return v ? 1 : 0
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .float(let v): return v.isFinite ? Double(v) : nil
        case .choice: return nil
        }
    }
}

/// The values a numeric setting accepts: lo (open or closed) up to hi (open or closed, or none).
public struct ValueRange: Sendable {
    public let lo: Double, loOpen: Bool
    public let hi: Double?, hiOpen: Bool
    /// Whole numbers only (written lo...hi).
    public let integer: Bool
    /// How the range is written when its bound has a better name than its digits ("in [1/255, 1]").
    public var label: String? = nil

    public static func interval(_ lo: Double, _ hi: Double, loOpen: Bool = false, hiOpen: Bool = false) -> ValueRange {
        ValueRange(lo: lo, loOpen: loOpen, hi: hi, hiOpen: hiOpen, integer: false)
    }
    public static func atLeast(_ lo: Double) -> ValueRange { ValueRange(lo: lo, loOpen: false, hi: nil, hiOpen: false, integer: false) }
    public static func above(_ lo: Double) -> ValueRange { ValueRange(lo: lo, loOpen: true, hi: nil, hiOpen: false, integer: false) }
    public static func integers(_ lo: Int, _ hi: Int) -> ValueRange {
        ValueRange(lo: Double(lo), loOpen: false, hi: Double(hi), hiOpen: false, integer: true)
    }

    public func contains(_ v: SettingValue) -> Bool {
        guard let x = v.number else { return false }  // NaN and infinities are outside every range
        if loOpen ? !(x > lo) : !(x >= lo) { return false }
        if let hi, hiOpen ? !(x < hi) : !(x <= hi) { return false }
        return true
    }

    /// "in (0, 1]", "in 1...100000", ">= 0" (or the label).
    public var text: String {
        if let label { return label }
        func n(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)" }
        guard let hi else { return (loOpen ? "> " : ">= ") + n(lo) }
        if integer { return "in \(n(lo))...\(n(hi))" }
        return "in \(loOpen ? "(" : "[")\(n(lo)), \(n(hi))\(hiOpen ? ")" : "]")"
    }
}

/// How the command line sets a setting.
public struct SettingFlag: Sendable {
    public enum Form: Sendable {
        /// `--name VALUE`.
        case option
        /// `--name` sets the setting to true.
        case setsTrue
        /// `--name` sets the setting to false.
        case setsFalse
    }
    /// The long name without dashes, e.g. "mask-quantile".
    public let name: String
    public let form: Form
    /// "--mask-quantile".
    public var spelled: String { "--" + name }
}

/// A setting's part of the eval resume key (`key=value`, parts joined by ";").
public struct ResumeKeyPart: Sendable {
    public let key: String
    /// The methods whose key holds this part (nil: every method).
    public let methods: Set<AttackMethod>?
    /// Left out while the setting has its default, so that records made before the setting
    /// existed stay valid. Every setting added from now on should set this.
    public let omitAtDefault: Bool

    public func applies(to m: AttackMethod) -> Bool { methods?.contains(m) ?? true }
}

/// A setting's part of the report's settings line ("eps 8.00/255, alpha 2.00/255, T 10, ...").
public struct ReportPart: Sendable {
    public enum Style: Sendable {
        /// The value's own text ("10", "true").
        case plain
        /// value * scale with this many decimals.
        case fixed(Int, scale: Double = 1)
        /// The label alone, shown only while the setting is on.
        case marker
    }
    /// Position in the line (the line's order differs from the table's).
    public let rank: Int
    public let label: String
    public let style: Style
    /// Written after the value ("/255", " eps").
    public let unit: String
    /// Written before the part: ", " (or " " to attach it to the one before).
    public let joiner: String
    /// Left out while the setting has its default.
    public let omitAtDefault: Bool

    public init(_ rank: Int, _ label: String, _ style: Style = .plain, unit: String = "", joiner: String = ", ",
                omitAtDefault: Bool = false) {
        self.rank = rank; self.label = label; self.style = style; self.unit = unit
        self.joiner = joiner; self.omitAtDefault = omitAtDefault
    }
}

/// One attack setting, declared once in `AttackSettings.all`: what the flags, validation, the
/// eval resume key, the report's settings line, docs/settings.md and the C struct
/// `sega_attack_options` are derived from or checked against.
public struct AttackSetting: Sendable {
    public let id: AttackSettingID
    /// In messages and docs ("mask quantile").
    public let title: String
    public let flag: SettingFlag?
    public let help: String
    /// How help and docs write the default, where that is not the value's text ("8/255", "eps/4").
    public let defaultText: String?
    /// Valid values (numbers); nil: every value of the type (or one of `choices`).
    public let range: ValueRange?
    /// The names a choice setting accepts, in the order the C API numbers them.
    public let choices: [String]?
    /// Replaces "<title> must be <range>, got <value>" when set.
    public let invalidMessage: String?
    public let resume: ResumeKeyPart?
    public let report: ReportPart?
    /// Its field in `sega_attack_options` (Sources/CSegaAPI/include/sega.h).
    public let cField: String?
    /// A valid value other than the default (tests set it through every derived place).
    public let example: SettingValue
    let read: @Sendable (AttackConfig) -> SettingValue
    let write: @Sendable (inout AttackConfig, SettingValue) -> Bool

    /// The setting's value in `c` (alpha: the step size in effect).
    public func value(_ c: AttackConfig) -> SettingValue { read(c) }

    /// The default, from `AttackConfig()`.
    public var defaultValue: SettingValue { read(AttackConfig()) }

    /// The value a resume key or settings line leaves out when the setting omits itself at its
    /// default: the default the setting had when it was added (`AttackSettings.firstDefaults`
    /// when the default has changed since), so records made under the old default never pass
    /// for records of the new one.
    public var omittedValue: SettingValue { AttackSettings.firstDefaults[id] ?? defaultValue }

    /// The default as help and docs show it.
    public var defaultShown: String { defaultText ?? defaultValue.description }

    /// Set the setting in `c`; a value of the wrong type is refused.
    public func set(_ c: inout AttackConfig, _ v: SettingValue) throws {
        if let choices, case .choice(let name) = v, !choices.contains(name) {
            throw AttackError("unknown \(title) '\(name)' (one of \(choices.joined(separator: ", ")))")
        }
        guard write(&c, v) else { throw AttackError(.internal, "\(title): a \(v) is not a value of this setting") }
    }

    /// Why `c`'s value is not acceptable, or nil when it is.
    public func problem(_ c: AttackConfig) -> String? {
        guard let range else { return nil }
        let v = read(c)
        if range.contains(v) { return nil }
        return invalidMessage ?? "\(title) must be \(range.text), got \(v)"
    }
}
