// MARK: - The settings table

/// Every attack setting, declared once. The defaults are AttackConfig's (`AttackConfig()`).
///
/// Derived from this table: AttackConfig.validate(), the eval resume key (parts in table
/// order, the sources right after the method), the report's settings line (by `report.rank`),
/// docs/settings.md (`sega settings --markdown`). Checked against it by tests: the command
/// line's flags, help texts and defaults; the fields of `sega_attack_options` in sega.h and
/// their mapping in the C API; `SEGA_METHOD_*` / `SEGA_DIRECTION_*` against `choices`.
///
/// To add a setting: a stored property in AttackConfig, a case in AttackSettingID, an entry at
/// the end of `all` (its resume part with `omitAtDefault: true`, so older records stay valid;
/// its report rank after the last), a flag in the CLI's AttackFlags and a field appended to
/// `sega_attack_options` with its binding in Sources/SegaCAPI/CAPIOptions.swift. The tests
/// name whatever is missing.
public enum AttackSettings {
    /// Sources of `sega attack` and `sega eval`, and targets of `sega eval`, when none are given:
    /// the shipped models, disjoint in weights and in architecture family.
    public static let defaultSources = ["linearityiqa_lite0", "hyperiqa_lite0", "vitiqa"]
    public static let defaultTargets = ["dbcnn_lite0", "cnniqa"]

    static let smoothing: Set<AttackMethod> = [.sega]
    static let stepping: Set<AttackMethod> = [.sega, .ifgsm, .ensIfgsm, .mifgsm, .vt]
    static let ensembling: Set<AttackMethod> = [.sega, .ensIfgsm, .mifgsm, .vt]
    static let withMomentum: Set<AttackMethod> = [.mifgsm, .vt]

    public static let all: [AttackSetting] = [
        choice(.method, "method", flag: "method", help: "sega, ifgsm (first source only), ens-ifgsm, mifgsm, vt or random.",
               choices: AttackMethod.allCases.map(\.rawValue), resume: "method", c: "method", example: "mifgsm",
               get: { $0.method.rawValue }, set: { c, v in AttackMethod(rawValue: v).map { c.method = $0 } != nil }),
        float(.eps, "eps", flag: "eps", help: "L-infinity budget: a number or a fraction such as 8/255.", shown: "8/255",
              range: .interval(0, 1, loOpen: true), resume: "eps",
              report: ReportPart(0, "eps", .fixed(2, scale: 255), unit: "/255"), c: "eps", example: 4.0 / 255,
              get: { $0.eps }, set: { $0.eps = $1 }),
        setting(.seed, "seed", flag: "seed", help: "Random seed (noise of SEGA, VT, random).",
                resume: "seed", report: ReportPart(14, "seed"), c: "seed", example: .uint(7),
                get: { .uint($0.seed) }, set: { c, v in guard case .uint(let s) = v else { return false }; c.seed = s; return true }),
        choice(.direction, "direction", flag: "direction",
               help: "up, down or auto (auto: down when the sources score above their range midpoint).",
               choices: AttackDirection.allCases.map(\.rawValue), resume: "direction", c: "direction", example: "up",
               get: { $0.direction.rawValue }, set: { c, v in AttackDirection(rawValue: v).map { c.direction = $0 } != nil }),
        float(.alpha, "alpha", flag: "alpha", help: "Step size: a number or a fraction (default eps/4).", shown: "eps/4",
              range: .interval(0, 1, loOpen: true), resume: "alpha", methods: stepping,
              report: ReportPart(1, "alpha", .fixed(2, scale: 255), unit: "/255"), c: "alpha", example: 1.0 / 255,
              get: { $0.stepSize }, set: { $0.alpha = $1 }),
        int(.iterations, "iterations", flag: "iters", help: "Iterations T.", range: .integers(1, 100_000),
            resume: "iters", methods: stepping, report: ReportPart(2, "T"), c: "iterations", example: 3,
            get: { $0.iterations }, set: { $0.iterations = $1 }),
        int(.samples, "samples", flag: "samples", help: "SEGA Monte Carlo samples N per source and iteration.",
            range: .integers(1, 10_000), resume: "samples", methods: smoothing, report: ReportPart(3, "N"), c: "samples",
            example: 4, get: { $0.samples }, set: { $0.samples = $1 }),
        float(.sigma, "sigma", flag: "sigma", help: "SEGA smoothing sigma, in [0, 1] pixel units.",
              range: .interval(0, 1), resume: "sigma", methods: smoothing, report: ReportPart(4, "sigma", .fixed(3)),
              c: "sigma", example: 0.05, get: { $0.sigma }, set: { $0.sigma = $1 }),
        bool(.normalizeSources, "source normalisation", flag: SettingFlag(name: "no-normalize", form: .setsFalse),
             help: "Average raw source gradients (default: each divided by its mean |g|).",
             resume: "normalize", methods: ensembling, report: ReportPart(10, "normalise"), c: "normalize_sources",
             get: { $0.normalizeSources }, set: { $0.normalizeSources = $1 }),
        float(.maskQuantile, "mask quantile", flag: "mask-quantile",
              help: "SEGA M^F: keep gradient components with |g| at or above this quantile (0 keeps all).",
              range: .interval(0, 1, hiOpen: true), resume: "maskq", methods: smoothing,
              report: ReportPart(7, "M^F quantile", .fixed(2)), c: "mask_quantile", example: 0.3,
              get: { $0.maskQuantile }, set: { $0.maskQuantile = $1 }),
        float(.maskAgreement, "mask agreement", flag: "mask-agreement",
              help: "SEGA M^F: keep components where at least this fraction of the sources has the ensemble gradient's sign (0 keeps all).",
              range: .interval(0, 1), resume: "maska", methods: smoothing,
              report: ReportPart(8, "M^F agreement", .fixed(2)), c: "mask_agreement", example: 0.67,
              get: { $0.maskAgreement }, set: { $0.maskAgreement = $1 }),
        float(.jndThreshold, "JND threshold", flag: "jnd-threshold",
              help: "SEGA M^JND: keep pixels whose JND (Yang 2005, luma 0..255) is at least this (0 keeps all).",
              range: .atLeast(0), resume: "jnd", methods: smoothing, report: ReportPart(9, "JND threshold", .fixed(1)),
              c: "jnd_threshold", example: 3, get: { $0.jndThreshold }, set: { $0.jndThreshold = $1 }),
        bool(.antithetic, "antithetic", flag: SettingFlag(name: "antithetic", form: .setsTrue),
             help: "SEGA: draw the N noise samples in antithetic pairs (u, -u) (default: independent).",
             resume: "antithetic", methods: smoothing, omitAtDefault: true,
             report: ReportPart(5, "(antithetic)", .marker, joiner: " ", omitAtDefault: true), c: "antithetic",
             get: { $0.antithetic }, set: { $0.antithetic = $1 }),
        float(.segaMomentum, "SEGA momentum", flag: "sega-momentum",
              help: "SEGA with momentum mu over the smoothed gradients (not in the published algorithm; 0: off).",
              range: .atLeast(0), resume: "segamomentum", methods: smoothing, omitAtDefault: true,
              report: ReportPart(6, "SEGA momentum", .fixed(2), omitAtDefault: true), c: "sega_momentum", example: 1,
              get: { $0.segaMomentum }, set: { $0.segaMomentum = $1 }),
        float(.momentum, "momentum", flag: "momentum", help: "MI-FGSM / VT momentum decay.",
              range: .atLeast(0), resume: "momentum", methods: withMomentum,
              report: ReportPart(11, "momentum (MI-FGSM, VT)", .fixed(2)), c: "momentum", example: 0.5,
              get: { $0.momentum }, set: { $0.momentum = $1 }),
        float(.vtBeta, "VT beta", flag: "vt-beta", help: "VT: neighbourhood radius, a multiple of eps.",
              range: .atLeast(0), invalid: "VT beta must be >= 0 and samples in 1...10000", resume: "vtbeta", methods: [.vt],
              report: ReportPart(13, "radius", .fixed(2), unit: " eps", joiner: " "), c: "vt_beta", example: 0.5,
              get: { $0.vtBeta }, set: { $0.vtBeta = $1 }),
        int(.vtSamples, "VT samples", flag: "vt-samples",
            help: "VT: uniform neighbours per source and step for the variance term (K (1 + this) gradient calls per step).",
            range: .integers(1, 10_000), invalid: "VT beta must be >= 0 and samples in 1...10000", resume: "vtsamples",
            methods: [.vt], report: ReportPart(12, "VT samples"), c: "vt_samples", example: 2,
            get: { $0.vtSamples }, set: { $0.vtSamples = $1 }),
    ]

    /// The entry for `id`.
    public static subscript(_ id: AttackSettingID) -> AttackSetting {
        guard let s = all.first(where: { $0.id == id }) else { preconditionFailure("no setting \(id) in AttackSettings.all") }
        return s
    }

    /// The settings whose part enters the resume key of method `m`, in key order, with their
    /// values in `c` (the caller writes the sources after the first, the method).
    public static func resumeParts(_ c: AttackConfig) -> [(key: String, value: String)] {
        all.compactMap { s in
            guard let r = s.resume, r.applies(to: c.method) else { return nil }
            let v = s.value(c)
            if r.omitAtDefault && v == s.defaultValue { return nil }
            return (r.key, v.description)
        }
    }
}

// MARK: - Entry builders

extension AttackSettings {
    private static func flagged(_ name: String?) -> SettingFlag? { name.map { SettingFlag(name: $0, form: .option) } }

    private static func resumed(_ key: String?, _ methods: Set<AttackMethod>?, _ omit: Bool) -> ResumeKeyPart? {
        key.map { ResumeKeyPart(key: $0, methods: methods, omitAtDefault: omit) }
    }

    static func setting(_ id: AttackSettingID, _ title: String, flag: String?, help: String, shown: String? = nil,
                        range: ValueRange? = nil, choices: [String]? = nil, invalid: String? = nil,
                        resume: String?, methods: Set<AttackMethod>? = nil, omitAtDefault: Bool = false,
                        report: ReportPart? = nil, c: String?, example: SettingValue,
                        get: @escaping @Sendable (AttackConfig) -> SettingValue,
                        set: @escaping @Sendable (inout AttackConfig, SettingValue) -> Bool) -> AttackSetting {
        AttackSetting(id: id, title: title, flag: flagged(flag), help: help, defaultText: shown, range: range,
                      choices: choices, invalidMessage: invalid, resume: resumed(resume, methods, omitAtDefault),
                      report: report, cField: c, example: example, read: get, write: set)
    }

    static func float(_ id: AttackSettingID, _ title: String, flag: String?, help: String, shown: String? = nil,
                      range: ValueRange, invalid: String? = nil, resume: String?, methods: Set<AttackMethod>? = nil,
                      omitAtDefault: Bool = false, report: ReportPart?, c: String?, example: Float,
                      get: @escaping @Sendable (AttackConfig) -> Float,
                      set: @escaping @Sendable (inout AttackConfig, Float) -> Void) -> AttackSetting {
        setting(id, title, flag: flag, help: help, shown: shown, range: range, invalid: invalid, resume: resume,
                methods: methods, omitAtDefault: omitAtDefault, report: report, c: c, example: .float(example),
                get: { .float(get($0)) }, set: { c, v in guard case .float(let f) = v else { return false }; set(&c, f); return true })
    }

    static func int(_ id: AttackSettingID, _ title: String, flag: String?, help: String, range: ValueRange,
                    invalid: String? = nil, resume: String?, methods: Set<AttackMethod>? = nil, report: ReportPart?,
                    c: String?, example: Int, get: @escaping @Sendable (AttackConfig) -> Int,
                    set: @escaping @Sendable (inout AttackConfig, Int) -> Void) -> AttackSetting {
        setting(id, title, flag: flag, help: help, range: range, invalid: invalid, resume: resume, methods: methods,
                report: report, c: c, example: .int(example),
                get: { .int(get($0)) }, set: { c, v in guard case .int(let i) = v else { return false }; set(&c, i); return true })
    }

    static func bool(_ id: AttackSettingID, _ title: String, flag: SettingFlag, help: String, resume: String?,
                     methods: Set<AttackMethod>? = nil, omitAtDefault: Bool = false, report: ReportPart?, c: String?,
                     get: @escaping @Sendable (AttackConfig) -> Bool,
                     set: @escaping @Sendable (inout AttackConfig, Bool) -> Void) -> AttackSetting {
        AttackSetting(id: id, title: title, flag: flag, help: help, defaultText: nil, range: nil, choices: nil,
                      invalidMessage: nil, resume: resumed(resume, methods, omitAtDefault), report: report, cField: c,
                      example: .bool(!get(AttackConfig())), read: { .bool(get($0)) },
                      write: { c, v in guard case .bool(let b) = v else { return false }; set(&c, b); return true })
    }

    static func choice(_ id: AttackSettingID, _ title: String, flag: String?, help: String, choices: [String],
                       resume: String?, c: String?, example: String, get: @escaping @Sendable (AttackConfig) -> String,
                       set: @escaping @Sendable (inout AttackConfig, String) -> Bool) -> AttackSetting {
        setting(id, title, flag: flag, help: help, choices: choices, resume: resume, c: c, example: .choice(example),
                get: { .choice(get($0)) }, set: { c, v in guard case .choice(let s) = v else { return false }; return set(&c, s) })
    }
}
