import ArgumentParser
import SegaAttack
import SegaRuntime

// MARK: - Attack settings shared by attack and eval

private typealias S = AttackSettings

/// The flags of every AttackSettings entry (but the method, which `attack` takes as --method
/// and `eval` as --methods), with their help and defaults from the table; the sources; and
/// the resources an attack may use. SettingsTableTests checks these flags against the table.
struct AttackFlags: ParsableArguments {
    @Option(name: .long, help: "Comma-separated source models (names or .safetensors paths).")
    var sources: String = S.defaultSources.joined(separator: ",")

    @Option(name: .long, help: ArgumentHelp(S[.eps].help))
    var eps: String = S[.eps].defaultShown

    @Option(name: .long, help: ArgumentHelp(S[.alpha].help))
    var alpha: String?

    @Option(name: .long, help: ArgumentHelp(S[.iterations].help))
    var iters: Int = AttackConfig().iterations

    @Option(name: .long, help: ArgumentHelp(S[.samples].help))
    var samples: Int = AttackConfig().samples

    @Option(name: .long, help: ArgumentHelp(S[.sigma].help))
    var sigma: Float = AttackConfig().sigma

    @Flag(name: .long, help: ArgumentHelp(S[.antithetic].help))
    var antithetic = AttackConfig().antithetic

    @Option(name: .long, help: ArgumentHelp(S[.segaMomentum].help))
    var segaMomentum: Float = AttackConfig().segaMomentum

    @Option(name: .long, help: ArgumentHelp(S[.seed].help))
    var seed: UInt64 = AttackConfig().seed

    @Option(name: .long, help: ArgumentHelp(S[.direction].help))
    var direction: String = S[.direction].defaultShown

    @Option(name: .long, help: ArgumentHelp(S[.maskQuantile].help))
    var maskQuantile: Float = AttackConfig().maskQuantile

    @Option(name: .long, help: ArgumentHelp(S[.maskAgreement].help))
    var maskAgreement: Float = AttackConfig().maskAgreement

    @Option(name: .long, help: ArgumentHelp(S[.jndThreshold].help))
    var jndThreshold: Float = AttackConfig().jndThreshold

    @Flag(name: .long, help: ArgumentHelp(S[.normalizeSources].help))
    var noNormalize = !AttackConfig().normalizeSources

    @Option(name: .long, help: ArgumentHelp(S[.momentum].help))
    var momentum: Float = AttackConfig().momentum

    @Option(name: .long, help: ArgumentHelp(S[.vtSamples].help))
    var vtSamples: Int = AttackConfig().vtSamples

    @Option(name: .long, help: ArgumentHelp(S[.vtBeta].help))
    var vtBeta: Float = AttackConfig().vtBeta

    @Option(name: .long, help: ArgumentHelp(S[.budget].help))
    var budget: String = S[.budget].defaultShown

    @Option(name: .long, help: ArgumentHelp(S[.budgetLambda].help))
    var budgetLambda: Float = AttackConfig().budgetLambda

    @Option(name: .long, help: ArgumentHelp(S[.jndModel].help))
    var jndModel: String = S[.jndModel].defaultShown

    @Option(name: .customLong("jnd-la-cap"), help: ArgumentHelp(S[.jndLuminanceCap].help))
    var jndLuminanceCap: Float = AttackConfig().jndLuminanceCap

    @Option(name: .long, help: ArgumentHelp(S[.svreInner].help))
    var svreInner: Int = AttackConfig().svreInner

    @Option(name: .long, help: ArgumentHelp(S[.cwaRadius].help))
    var cwaRadius: String = S[.cwaRadius].defaultShown

    @Option(name: .long, help: ArgumentHelp(S[.cwaInnerStep].help))
    var cwaInnerStep: Float = AttackConfig().cwaInnerStep

    @Option(name: .long, help: ArgumentHelp(S[.cwaSweeps].help))
    var cwaSweeps: Int = AttackConfig().cwaSweeps

    @Option(name: .customLong("di-prob"), help: ArgumentHelp(S[.diProbability].help))
    var diProbability: Float = AttackConfig().diProbability

    @Option(name: .long, help: ArgumentHelp(S[.diResize].help))
    var diResize: Float = AttackConfig().diResize

    @Option(name: .long, help: ArgumentHelp(S[.diSamples].help))
    var diSamples: Int = AttackConfig().diSamples

    @Option(name: .customLong("target-ssim"), help: ArgumentHelp(S[.targetSSIM].help))
    var targetSSIM: String = S[.targetSSIM].defaultShown

    @Option(name: .long, help: ArgumentHelp(S[.maskFill].help))
    var maskFill: Float = AttackConfig().maskFill

    @Option(name: .long, help: ArgumentHelp(S[.chroma].help))
    var chroma: Float = AttackConfig().chroma

    @Option(name: .long, help: ArgumentHelp(S[.segaDI].help))
    var segaDi: Float = AttackConfig().segaDI

    @Option(name: .long, help: ArgumentHelp(S[.budgetGrowth].help))
    var budgetGrowth: String = S[.budgetGrowth].defaultShown

    @Option(name: .long, help: "Threads (default: the number of online CPUs).")
    var threads: Int?

    @Option(name: .long, help: "Memory limit in MB for all plans together; refuse before any work if they do not fit.")
    var memoryLimitMb: Int?

    @Option(name: .long, help: "Refuse images with more pixels than this (width*height).")
    var maxPixels: Int = 8192 * 8192

    @Flag(name: .long, help: "Refuse images the decoder had to repair (corrupt JPEG data); without it they are reported as warnings.")
    var strict = false

    /// The settings these flags give, with `method`; validated.
    func config(method: AttackMethod) throws -> AttackConfig {
        let given: [(AttackSettingID, SettingValue)] = [
            (.method, .choice(method.rawValue)), (.eps, .float(try FlagValues.eps(eps))),
            (.seed, .uint(seed)), (.direction, .choice(direction)), (.iterations, .int(iters)), (.samples, .int(samples)),
            (.sigma, .float(sigma)), (.normalizeSources, .bool(!noNormalize)), (.maskQuantile, .float(maskQuantile)),
            (.maskAgreement, .float(maskAgreement)), (.jndThreshold, .float(jndThreshold)), (.antithetic, .bool(antithetic)),
            (.segaMomentum, .float(segaMomentum)), (.momentum, .float(momentum)), (.vtBeta, .float(vtBeta)),
            (.vtSamples, .int(vtSamples)), (.budget, .choice(budget)), (.budgetLambda, .float(budgetLambda)),
            (.jndModel, .choice(jndModel)), (.jndLuminanceCap, .float(jndLuminanceCap)), (.svreInner, .int(svreInner)),
            (.cwaRadius, .float(try FlagValues.amount(cwaRadius, flag: "--cwa-radius"))), (.cwaInnerStep, .float(cwaInnerStep)),
            (.cwaSweeps, .int(cwaSweeps)), (.diProbability, .float(diProbability)), (.diResize, .float(diResize)),
            (.diSamples, .int(diSamples)), (.maskFill, .float(maskFill)), (.chroma, .float(chroma)),
            (.budgetGrowth, .choice(budgetGrowth)), (.segaDI, .float(segaDi)),
        ] + (try alpha.map { [(.alpha, .float(try FlagValues.amount($0, flag: "--alpha")))] } ?? [])
            + (try FlagValues.auto(targetSSIM, flag: "--target-ssim").map { [(.targetSSIM, .float($0))] } ?? [])
        var c = AttackConfig()
        for (id, v) in given { try S[id].set(&c, v) }
        try c.validate()
        return c
    }

    var threadCount: Int { threads ?? Machine.onlineCPUs() }
    var sourceList: [String] { sources.commaSeparated }

    /// --threads and --memory-limit-mb checked; the limit in bytes.
    func memoryLimit() throws -> Int? {
        _ = try FlagValues.count(threads, flag: "--threads")
        return try FlagValues.megabytes(memoryLimitMb, flag: "--memory-limit-mb")
    }
}
