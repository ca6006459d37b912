import CSegaAPI
import SegaAttack
import SegaRuntime

// MARK: - sega_attack_options <-> AttackConfig

/// One field of `sega_attack_options`: how it reads into an AttackConfig and how a config's
/// value is written to it. Every AttackSettings entry with a `cField` needs one here
/// (SettingsTableTests checks them against sega.h, field by field).
struct CField: Sendable {
    let name: String
    let read: @Sendable (sega_attack_options, inout AttackConfig) throws -> Void
    let write: @Sendable (inout sega_attack_options, AttackConfig) -> Void
}

enum CAPIOptions {
    static let fields: [CField] = [
        CField(name: "method", read: { o, c in
            guard o.method >= 0, Int(o.method) < AttackMethod.allCases.count else { throw invalid("unknown method \(o.method)") }
            c.method = AttackMethod.allCases[Int(o.method)]
        }, write: { o, c in o.method = Int32(AttackMethod.allCases.firstIndex(of: c.method)!) }),
        CField(name: "eps", read: { o, c in c.eps = o.eps }, write: { o, c in o.eps = c.eps }),
        CField(name: "alpha", read: { o, c in
            guard !o.alpha.isNaN else { throw invalid("alpha is NaN (<= 0 means eps / 4)") }
            c.alpha = o.alpha > 0 ? o.alpha : nil
        }, write: { o, c in o.alpha = c.alpha ?? 0 }),
        CField(name: "iterations", read: { o, c in c.iterations = Int(o.iterations) }, write: { o, c in o.iterations = Int32(c.iterations) }),
        CField(name: "samples", read: { o, c in c.samples = Int(o.samples) }, write: { o, c in o.samples = Int32(c.samples) }),
        CField(name: "sigma", read: { o, c in c.sigma = o.sigma }, write: { o, c in o.sigma = c.sigma }),
        CField(name: "seed", read: { o, c in c.seed = o.seed }, write: { o, c in o.seed = c.seed }),
        CField(name: "direction", read: { o, c in
            let all = AttackDirection.allCases
            guard o.direction >= 0, Int(o.direction) < all.count else {
                throw invalid("unknown direction \(o.direction) (SEGA_DIRECTION_AUTO, _UP or _DOWN: 0...\(all.count - 1))")
            }
            c.direction = all[Int(o.direction)]
        }, write: { o, c in o.direction = Int32(AttackDirection.allCases.firstIndex(of: c.direction)!) }),
        CField(name: "mask_quantile", read: { o, c in c.maskQuantile = o.mask_quantile }, write: { o, c in o.mask_quantile = c.maskQuantile }),
        CField(name: "jnd_threshold", read: { o, c in c.jndThreshold = o.jnd_threshold }, write: { o, c in o.jnd_threshold = c.jndThreshold }),
        CField(name: "normalize_sources", read: { o, c in c.normalizeSources = o.normalize_sources != 0 },
               write: { o, c in o.normalize_sources = c.normalizeSources ? 1 : 0 }),
        CField(name: "mask_agreement", read: { o, c in c.maskAgreement = o.mask_agreement }, write: { o, c in o.mask_agreement = c.maskAgreement }),
        CField(name: "antithetic", read: { o, c in c.antithetic = o.antithetic != 0 }, write: { o, c in o.antithetic = c.antithetic ? 1 : 0 }),
        CField(name: "sega_momentum", read: { o, c in c.segaMomentum = o.sega_momentum }, write: { o, c in o.sega_momentum = c.segaMomentum }),
        CField(name: "momentum", read: { o, c in c.momentum = o.momentum }, write: { o, c in o.momentum = c.momentum }),
        CField(name: "vt_samples", read: { o, c in c.vtSamples = Int(o.vt_samples) }, write: { o, c in o.vt_samples = Int32(c.vtSamples) }),
        CField(name: "vt_beta", read: { o, c in c.vtBeta = o.vt_beta }, write: { o, c in o.vt_beta = c.vtBeta }),
        CField(name: "budget", read: { o, c in c.budget = try choice(o.budget, "budget") },
               write: { o, c in o.budget = number(c.budget) }),
        CField(name: "budget_lambda", read: { o, c in c.budgetLambda = o.budget_lambda }, write: { o, c in o.budget_lambda = c.budgetLambda }),
        CField(name: "jnd_model", read: { o, c in c.jndModel = try choice(o.jnd_model, "JND model") },
               write: { o, c in o.jnd_model = number(c.jndModel) }),
        CField(name: "svre_inner", read: { o, c in c.svreInner = Int(o.svre_inner) }, write: { o, c in o.svre_inner = Int32(c.svreInner) }),
        CField(name: "cwa_radius", read: { o, c in c.cwaRadius = o.cwa_radius }, write: { o, c in o.cwa_radius = c.cwaRadius }),
        CField(name: "cwa_inner_step", read: { o, c in c.cwaInnerStep = o.cwa_inner_step },
               write: { o, c in o.cwa_inner_step = c.cwaInnerStep }),
        CField(name: "cwa_sweeps", read: { o, c in c.cwaSweeps = Int(o.cwa_sweeps) }, write: { o, c in o.cwa_sweeps = Int32(c.cwaSweeps) }),
        CField(name: "di_probability", read: { o, c in c.diProbability = o.di_probability },
               write: { o, c in o.di_probability = c.diProbability }),
        CField(name: "di_resize", read: { o, c in c.diResize = o.di_resize }, write: { o, c in o.di_resize = c.diResize }),
        CField(name: "di_samples", read: { o, c in c.diSamples = Int(o.di_samples) }, write: { o, c in o.di_samples = Int32(c.diSamples) }),
        CField(name: "jnd_la_cap", read: { o, c in c.jndLuminanceCap = o.jnd_la_cap }, write: { o, c in o.jnd_la_cap = c.jndLuminanceCap }),
        CField(name: "target_ssim", read: { o, c in
            guard !o.target_ssim.isNaN else { throw invalid("target SSIM is NaN (< 0 means auto)") }
            c.targetSSIM = o.target_ssim < 0 ? nil : o.target_ssim
        }, write: { o, c in o.target_ssim = c.targetSSIM ?? -1 }),
        CField(name: "mask_fill", read: { o, c in c.maskFill = o.mask_fill }, write: { o, c in o.mask_fill = c.maskFill }),
        CField(name: "chroma", read: { o, c in c.chroma = o.chroma }, write: { o, c in o.chroma = c.chroma }),
        CField(name: "budget_growth", read: { o, c in c.budgetGrowth = try choice(o.budget_growth, "budget growth") },
               write: { o, c in o.budget_growth = number(c.budgetGrowth) }),
        CField(name: "sega_di", read: { o, c in c.segaDI = o.sega_di }, write: { o, c in o.sega_di = c.segaDI }),
    ]

    /// The case numbered `n` (its place in allCases, as sega.h numbers it), or an invalid-argument error.
    static func choice<T: CaseIterable>(_ n: Int32, _ title: String) throws -> T where T.AllCases == [T] {
        guard n >= 0, Int(n) < T.allCases.count else { throw invalid("unknown \(title) \(n)") }
        return T.allCases[Int(n)]
    }

    /// The number sega.h gives `v`.
    static func number<T: CaseIterable & Equatable>(_ v: T) -> Int32 where T.AllCases == [T] {
        Int32(T.allCases.firstIndex(of: v)!)
    }

    /// The field named `name`.
    static func field(_ name: String) throws -> CField {
        guard let f = fields.first(where: { $0.name == name }) else { throw SegaError(.internal, "no C binding for '\(name)'") }
        return f
    }

    /// The settings the options give (every setting with a C field, in table order), validated.
    static func config(_ o: sega_attack_options) throws -> AttackConfig {
        var c = AttackConfig()
        for s in AttackSettings.all {
            guard let name = s.cField else { continue }
            try field(name).read(o, &c)
        }
        try c.validate()
        return c
    }

    /// The defaults (`AttackConfig()`) in every field.
    static func defaults() -> sega_attack_options {
        var o = sega_attack_options()
        let d = AttackConfig()
        for f in fields { f.write(&o, d) }
        return o
    }
}
