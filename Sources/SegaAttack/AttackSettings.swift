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
    public static let defaultTargets = ["dbcnn_lite0", "cnniqa", "lite2iqa", "vitiqa_patch"]

    /// eps is at least one 8-bit step: the attacked image is an 8-bit PNG, and a smaller budget
    /// cannot change any pixel. The bound is 1/255 as a Float, so `1.0f / 255` from C passes.
    static let epsRange: ValueRange = {
        var r = ValueRange.interval(Double(Float(1) / 255), 1)
        r.label = "in [1/255, 1]"
        return r
    }()

    static let smoothing: Set<AttackMethod> = [.sega]
    static let stepping: Set<AttackMethod> = [.sega, .ifgsm, .ensIfgsm, .mifgsm, .vt, .svre, .cwa, .diMifgsm]
    static let ensembling: Set<AttackMethod> = [.sega, .ensIfgsm, .mifgsm, .vt, .svre, .cwa, .diMifgsm]
    static let withMomentum: Set<AttackMethod> = [.mifgsm, .vt, .svre, .cwa, .diMifgsm]

    public static let all: [AttackSetting] = [
        choice(.method, "method", flag: "method", help: "sega, ifgsm (first source only), ens-ifgsm, mifgsm, vt, random, svre, cwa or di-mifgsm (docs/methods.md).",
               choices: AttackMethod.allCases.map(\.rawValue), resume: "method", c: "method", example: "mifgsm",
               get: { $0.method.rawValue }, set: { c, v in AttackMethod(rawValue: v).map { c.method = $0 } != nil }),
        float(.eps, "eps", flag: "eps", help: "L-infinity budget: a number or a fraction such as 8/255.", shown: "8/255",
              range: epsRange, resume: "eps",
              report: ReportPart(0, "eps", .fixed(2, scale: 255), unit: "/255"), c: "eps", example: 4.0 / 255,
              get: { $0.eps }, set: { $0.eps = $1 }),
        setting(.seed, "seed", flag: "seed", help: "Random seed (noise of SEGA, VT, random; SVRE's source draws; DI's transforms).",
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
              report: ReportPart(7, "M^F quantile", .fixed(2)), c: "mask_quantile", example: 0.5,
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
        float(.momentum, "momentum", flag: "momentum", help: "Momentum decay of MI-FGSM, VT, DI-MI-FGSM, and of SVRE's and CWA's outer and inner loops.",
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
    ] + budgetSettings + methodSettings + spendingSettings

    /// The perceptual budget and the JND model (every method).
    static let budgetSettings: [AttackSetting] = [
        // The value read is the budget in effect (auto resolved by method), so a key or a
        // settings line says what ran: SEGA at auto and at jnd are one attack, a baseline at auto
        // and at uniform another.
        choice(.budget, "budget", flag: "budget",
               help: "Per-pixel L-infinity budget: uniform (eps everywhere), jnd (eps_i = min(eps, lambda JND_i / 255), also scaling each step) or auto (jnd for sega, uniform for the baselines).",
               shown: "auto", choices: BudgetShape.allCases.map(\.rawValue), resume: "budget", omitAtDefault: true,
               report: ReportPart(15, "budget", omitAtDefault: true), c: "budget", example: "uniform",
               get: { $0.effectiveBudget.rawValue }, set: { c, v in BudgetShape(rawValue: v).map { c.budget = $0 } != nil }),
        float(.budgetLambda, "budget lambda", flag: "budget-lambda",
              help: "JND budget: eps_i = min(eps, lambda JND_i / 255), lambda in just-noticeable differences.",
              range: .above(0), resume: "budgetlambda", omitAtDefault: true,
              report: ReportPart(16, "lambda", .fixed(2), omitAtDefault: true), c: "budget_lambda", example: 0.5,
              get: { $0.budgetLambda }, set: { $0.budgetLambda = $1 }),
        choice(.jndModel, "JND model", flag: "jnd-model",
               help: "JND model of M^JND and the JND budget: yang (Yang et al. 2005) or liu (Liu et al. 2010).", shown: "liu",
               choices: JNDModel.allCases.map(\.rawValue), resume: "jndmodel", omitAtDefault: true,
               report: ReportPart(17, "JND model", omitAtDefault: true), c: "jnd_model", example: "yang",
               // The model in effect: a run that reads no JND map reads as the first default, so
               // the model it does not use never splits its records.
               get: { $0.usesJND ? $0.jndModel.rawValue : firstJNDModel.rawValue },
               set: { c, v in JNDModel(rawValue: v).map { c.jndModel = $0 } != nil }),
        float(.jndLuminanceCap, "JND luminance cap", flag: "jnd-la-cap",
              help: "JND map: luminance adaptation counted up to this many luma levels (0: no cap, the published models; they allow up to 20 on flat black, 6 on flat white, 3 on mid-grey, where pixel noise shows).",
              range: .interval(0, 255), resume: "jndlacap", omitAtDefault: true,
              report: ReportPart(25, "LA cap", .fixed(1), omitAtDefault: true), c: "jnd_la_cap", example: 3,
              // The cap in effect: a run that reads no JND map reads as no cap.
              get: { $0.usesJND ? $0.jndLuminanceCap : 0 }, set: { $0.jndLuminanceCap = $1 }),
    ]

    /// SVRE, CWA and DI-MI-FGSM.
    static let methodSettings: [AttackSetting] = [
        int(.svreInner, "SVRE inner steps", flag: "svre-inner",
            help: "SVRE: inner steps per source and iteration (M = this x K; K + M gradient calls per iteration).",
            range: .integers(1, 10_000), resume: "svreinner", methods: [.svre], omitAtDefault: true,
            report: ReportPart(18, "SVRE inner", unit: " K", omitAtDefault: true), c: "svre_inner", example: 2,
            get: { $0.svreInner }, set: { $0.svreInner = $1 }),
        float(.cwaRadius, "CWA radius", flag: "cwa-radius",
              help: "CWA: sharpness-aware reverse step, a multiple of eps: a number or a fraction.", shown: "1/15",
              range: .interval(0, 1), resume: "cwaradius", methods: [.cwa], omitAtDefault: true,
              report: ReportPart(19, "CWA radius", .fixed(3), unit: " eps", omitAtDefault: true), c: "cwa_radius",
              example: 0.25, get: { $0.cwaRadius }, set: { $0.cwaRadius = $1 }),
        float(.cwaInnerStep, "CWA inner step", flag: "cwa-inner-step",
              help: "CWA: inner step on the L2-normalised momentum, its RMS per component in units of eps.",
              range: .above(0), resume: "cwastep", methods: [.cwa], omitAtDefault: true,
              report: ReportPart(20, "CWA inner step", .fixed(2), unit: " eps", omitAtDefault: true), c: "cwa_inner_step",
              example: 1, get: { $0.cwaInnerStep }, set: { $0.cwaInnerStep = $1 }),
        int(.cwaSweeps, "CWA sweeps", flag: "cwa-sweeps",
            help: "CWA: passes over the K sources per iteration (K (1 + this) gradient calls per iteration).",
            range: .integers(1, 10_000), resume: "cwasweeps", methods: [.cwa], omitAtDefault: true,
            report: ReportPart(21, "CWA sweeps", omitAtDefault: true), c: "cwa_sweeps", example: 3,
            get: { $0.cwaSweeps }, set: { $0.cwaSweeps = $1 }),
        float(.diProbability, "DI probability", flag: "di-prob",
              help: "DI: probability that an input copy is resized and padded (else used as is).",
              range: .interval(0, 1), resume: "diprob", methods: [.diMifgsm], omitAtDefault: true,
              report: ReportPart(22, "DI p", .fixed(2), omitAtDefault: true), c: "di_probability", example: 1,
              get: { $0.diProbability }, set: { $0.diProbability = $1 }),
        float(.diResize, "DI resize rate", flag: "di-resize",
              help: "DI: the content is shrunk to between 1/this and 1 of the image and zero-padded back to its size.",
              range: .interval(1, 2), resume: "diresize", methods: [.diMifgsm], omitAtDefault: true,
              report: ReportPart(23, "DI resize", .fixed(2), omitAtDefault: true), c: "di_resize", example: 1.25,
              get: { $0.diResize }, set: { $0.diResize = $1 }),
        int(.diSamples, "DI samples", flag: "di-samples",
            help: "DI: transformed copies per iteration, each through every source (K x this gradient calls per iteration).",
            range: .integers(1, 10_000), resume: "disamples", methods: [.diMifgsm], omitAtDefault: true,
            report: ReportPart(24, "DI samples", omitAtDefault: true), c: "di_samples", example: 4,
            get: { $0.diSamples }, set: { $0.diSamples = $1 }),
    ]

    /// How an attack spends its budget: up to a similarity (every method), and what the
    /// components SEGA's M^F drops do.
    static let spendingSettings: [AttackSetting] = [
        float(.targetSSIM, "target SSIM", flag: "target-ssim",
              help: "Spend the budget up to this SSIM: the final perturbation scaled up by the largest c <= 8 that keeps SSIM >= this, each pixel's radius c eps_i up to eps (0: off; an attack already below it is kept). Default 0.9 for sega, 0 for the baselines.",
              shown: "auto", range: .interval(0, 1, hiOpen: true), resume: "tssim", omitAtDefault: true,
              report: ReportPart(26, "target SSIM", .fixed(3), omitAtDefault: true), c: "target_ssim", example: 0.8,
              // The target in effect (auto resolved by method), as the budget's entry reads.
              get: { $0.effectiveTargetSSIM }, set: { $0.targetSSIM = $1 }),
        float(.maskFill, "M^F fill", flag: "mask-fill",
              help: "SEGA: components M^F drops step along a fixed random sign pattern (one per image) at this fraction of the step (0: they stay).",
              range: .interval(0, 1), resume: "maskfill", methods: smoothing, omitAtDefault: true,
              report: ReportPart(27, "M^F fill", .fixed(2), omitAtDefault: true), c: "mask_fill", example: 0.5,
              get: { $0.maskFill }, set: { $0.maskFill = $1 }),
        float(.chroma, "chroma budget", flag: "chroma",
              help: "SEGA, JND budget: each pixel's isoluminant change (its change minus the grey shift of the same luma) may reach this fraction of eps in every channel, beside the luma budget eps_i (0: off).",
              range: .interval(0, 1), resume: "chroma", methods: smoothing, omitAtDefault: true,
              report: ReportPart(28, "chroma", .fixed(2), omitAtDefault: true), c: "chroma", example: 0.5,
              get: { $0.usesChroma ? $0.chroma : 0 }, set: { $0.chroma = $1 }),
        choice(.budgetGrowth, "budget growth", flag: "budget-growth",
               help: "SEGA, JND budget: what the chroma budget and --target-ssim's spend grow: all (chroma*eps at every pixel; the spend scales eps_i), masking (only the part of each pixel's JND that texture and edges add to luminance adaptation: flat regions keep their luma JND and take no colour) or texture (that part scaled by the pixel-scale contrast h, from 0 at 3 levels to 1 at 9: smooth shaded surfaces do not grow either).",
               shown: "all", choices: BudgetGrowth.allCases.map(\.rawValue), resume: "growth", omitAtDefault: true,
               report: ReportPart(29, "growth", omitAtDefault: true), c: "budget_growth", example: "masking",
               // In effect only for SEGA with the JND budget; elsewhere it reads as the default.
               get: { $0.usesMaskingGrowth ? $0.budgetGrowth.rawValue : BudgetGrowth.all.rawValue },
               set: { c, v in BudgetGrowth(rawValue: v).map { c.budgetGrowth = $0 } != nil }),
        float(.segaDI, "SEGA DI", flag: "sega-di",
              help: "SEGA with input diversity (not in the published algorithm; 0: off): each noisy sample is, with this probability, shrunk by up to DI's 1.1 and zero-padded back, its gradient mapped back.",
              range: .interval(0, 1), resume: "segadi", methods: smoothing, omitAtDefault: true,
              report: ReportPart(30, "SEGA DI p", .fixed(2), omitAtDefault: true), c: "sega_di", example: 0.5,
              get: { $0.segaDI }, set: { $0.segaDI = $1 }),
    ]

    /// Settings whose default changed after they were added, with the default they had then:
    /// the value their resume-key part and settings-line part are still left out at.
    public static let firstDefaults: [AttackSettingID: SettingValue] = [
        .budget: .choice(BudgetShape.uniform.rawValue),
        .jndModel: .choice(firstJNDModel.rawValue),
        .targetSSIM: .float(0),
        .jndLuminanceCap: .float(0),
        .chroma: .float(0),
    ]
    /// The JND model's first default (Yang's), also what a run that reads no JND map reports.
    static let firstJNDModel = JNDModel.yang

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
            if r.omitAtDefault && v == s.omittedValue { return nil }
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
                    invalid: String? = nil, resume: String?, methods: Set<AttackMethod>? = nil, omitAtDefault: Bool = false,
                    report: ReportPart?, c: String?, example: Int, get: @escaping @Sendable (AttackConfig) -> Int,
                    set: @escaping @Sendable (inout AttackConfig, Int) -> Void) -> AttackSetting {
        setting(id, title, flag: flag, help: help, range: range, invalid: invalid, resume: resume, methods: methods,
                omitAtDefault: omitAtDefault, report: report, c: c, example: .int(example),
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

    static func choice(_ id: AttackSettingID, _ title: String, flag: String?, help: String, shown: String? = nil, choices: [String],
                       resume: String?, omitAtDefault: Bool = false, report: ReportPart? = nil, c: String?, example: String,
                       get: @escaping @Sendable (AttackConfig) -> String,
                       set: @escaping @Sendable (inout AttackConfig, String) -> Bool) -> AttackSetting {
        setting(id, title, flag: flag, help: help, shown: shown, choices: choices, resume: resume, omitAtDefault: omitAtDefault,
                report: report, c: c, example: .choice(example),
                get: { .choice(get($0)) }, set: { c, v in guard case .choice(let s) = v else { return false }; return set(&c, s) })
    }
}
