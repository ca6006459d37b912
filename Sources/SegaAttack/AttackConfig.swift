// MARK: - Attack settings

/// The attack methods sega runs in one harness.
public enum AttackMethod: String, CaseIterable, Sendable {
    /// SEGA: Gaussian-smoothed ensemble gradient, M^F and M^JND masks, signed step.
    case sega
    /// I-FGSM / PGD on the first source only (single-source transfer).
    case ifgsm
    /// I-FGSM on the ensemble's averaged gradient, without smoothing or masks.
    case ensIfgsm = "ens-ifgsm"
    /// MI-FGSM (Dong et al. 2018) on the ensemble: momentum over L1-normalised gradients.
    case mifgsm
    /// VMI-FGSM (Wang & He 2021): MI-FGSM with variance tuning from uniform neighbours.
    case vt
    /// Uniform random +-eps signs: the noise floor any attack must beat.
    case random
    /// SVRE (Xiong et al. 2022): stochastic variance-reduced ensemble, MI-FGSM outer and inner loops.
    case svre
    /// CWA (Chen et al. 2024): sharpness-aware reverse step, then per-source inner steps (common weakness).
    case cwa
    /// MI-DI-FGSM (Xie et al. 2019 input diversity on Dong et al. 2018): MI-FGSM on the ensemble
    /// gradient at randomly resized-and-padded copies of x, mapped back by the transform's adjoint.
    case diMifgsm = "di-mifgsm"

    /// Gradient calls per iteration for K sources under `c` (sega: K N; vt: K (1 + vt samples);
    /// svre: K + M with M = svreInner K; cwa: K + sweeps K; di-mifgsm: K * DI samples).
    public func gradientCalls(sources k: Int, config c: AttackConfig) -> Int {
        switch self {
        case .sega: return k * c.samples
        case .ifgsm: return 1
        case .ensIfgsm, .mifgsm: return k
        case .vt: return k * (1 + c.vtSamples)
        case .random: return 0
        case .svre: return k + c.svreInner * k
        case .cwa: return k + c.cwaSweeps * k
        case .diMifgsm: return k * c.diSamples
        }
    }
}

/// How the L-infinity budget is spread over the pixels (in the order the C API numbers them, SEGA_BUDGET_*).
public enum BudgetShape: String, CaseIterable, Sendable {
    /// eps at every pixel.
    case uniform
    /// eps_i = min(eps, lambda * JND_i / 255): lambda just-noticeable differences, capped at eps.
    case jnd
    /// Each method's own: jnd for SEGA (its M^JND as a budget), uniform for the baselines (as
    /// published). The default.
    case auto
}

/// What grows beyond a pixel's JND budget: the chroma budget and --target-ssim's spend (in the
/// order the C API numbers them, SEGA_GROWTH_*).
public enum BudgetGrowth: String, CaseIterable, Sendable {
    /// The whole budget: the chroma budget is chroma * eps at every pixel, the spend scales eps_i.
    case all
    /// Only the masking part of the JND (texture and edges, what luminance adaptation does not
    /// explain): flat regions keep their luma JND and take no colour.
    case masking
    /// The masking part, scaled by a smoothstep of each pixel's pixel-scale contrast h_i
    /// (JNDMap.pixelContrast) from 0 at 3 levels to 1 at 9. A smooth surface whose gentle
    /// shading or noise gives it a masking term (the total-variation texture of Liu's model
    /// holds both) does not grow; fine texture grows as with `masking`.
    case texture
}

/// Which way scores are pushed (in the order the C API numbers them, SEGA_DIRECTION_*).
public enum AttackDirection: String, CaseIterable, Sendable {
    /// Down when the sources' mean normalised score is above their range midpoint, else up.
    case auto
    case up, down
}

/// Every setting of an attack, with the documented defaults (chosen by scripts/ablation.py).
/// AttackSettings.all describes each (flag, range, help, resume key, report label, C field).
public struct AttackConfig: Sendable, Equatable {
    public var method: AttackMethod = .sega
    /// L-infinity budget (in [0, 1] pixel units).
    public var eps: Float = 8.0 / 255.0
    /// Step size; nil means eps / 4 (the budget is reachable in a few steps, later steps refine).
    public var alpha: Float? = nil
    public var iterations: Int = 10
    /// Monte Carlo samples N of x + sigma u per source and iteration (SEGA). The test-split table
    /// (docs/results.md, history) measured transfer rising with N (4, 5, 8, 12) at the same SSIM; N 12 costs 12 K gradient calls per step.
    public var samples: Int = 12
    /// Gaussian smoothing sigma (SEGA), in [0, 1] pixel units. The ablation (docs/ablation.md) found
    /// 0.01-0.02 best at eps 8/255; 0.05 and 0.1 smooth away what transfers.
    public var sigma: Float = 0.02
    /// SEGA: draw the noise in antithetic pairs (u, -u). Still an unbiased estimate of the
    /// smoothed gradient; the pair cancels the first-order noise term (exact for a quadratic f).
    public var antithetic: Bool = false
    /// SEGA with momentum (not in the published algorithm; 0 = off, the default): the step takes
    /// the sign of mom = mu * mom + g / mean|g|, accumulating smoothed gradients over iterations
    /// as MI-FGSM does plain ones. A flag to measure whether smoothing adds to momentum.
    public var segaMomentum: Float = 0
    /// SEGA with input diversity (not in the published algorithm; 0: off): each Monte Carlo
    /// sample's noisy input x + sigma u is, with this probability, DI-transformed (shrunk by up to
    /// `segaDIResize` and zero-padded back, DiverseInput) and its gradient mapped back by the
    /// transform's transpose, so the estimate smooths f over the transforms as well as the noise.
    public var segaDI: Float = 0
    /// SEGA's DI resize rate: DI's published 1.1 (fixed, so `--di-resize` stays DI-MI-FGSM's).
    public static let segaDIResize: Float = 1.1
    public var seed: UInt64 = 0
    public var direction: AttackDirection = .auto
    /// Divide each source's gradient by its mean |g| before averaging (equal say per source).
    public var normalizeSources: Bool = true
    /// M^F, magnitude rule: keep the components whose |g| is at or above this quantile of |g|
    /// (0 keeps all). 0.3 since 2026-12-06: the best SEGA row at matched SSIM 0.90 over the
    /// three-target panel on the validation split (docs/tuning.md); it was 0 before.
    public var maskQuantile: Float = 0.3
    /// M^F, agreement rule: keep the components where at least this fraction of the sources'
    /// smoothed gradients has the sign of the ensemble gradient (0 keeps all; 1: all agree).
    /// Where sources disagree the direction is model-specific and transfers worse.
    public var maskAgreement: Float = 0.0
    /// M^JND: keep the pixels whose JND (Yang et al. 2005, luma 0..255) is at or above this (0 keeps all).
    public var jndThreshold: Float = 0.0
    /// MI-FGSM / VT momentum decay.
    public var momentum: Float = 1.0
    /// VT: neighbourhood radius beta * eps and its sample count.
    public var vtBeta: Float = 1.5
    public var vtSamples: Int = 4
    /// Per-pixel budget (any method): uniform eps, or eps_i = min(eps, budgetLambda * JND_i / 255)
    /// used as both the projection radius and the step scale (alpha eps_i / eps); auto (the
    /// default) is jnd for SEGA and uniform for the baselines (`effectiveBudget`).
    public var budget: BudgetShape = .auto
    public var budgetLambda: Float = 1

    /// Whether the run reads a JND map: SEGA's M^JND (threshold > 0) or the JND budget in effect.
    public var usesJND: Bool { (method == .sega && jndThreshold > 0) || effectiveBudget == .jnd }

    /// The budget in effect for `method` (`auto` resolved).
    public var effectiveBudget: BudgetShape {
        budget != .auto ? budget : (method == .sega ? .jnd : .uniform)
    }
    /// The JND model of M^JND and of the JND budget.
    public var jndModel: JNDModel = .liu
    /// JND map: luminance adaptation counted up to this many luma levels (0: no cap, the
    /// published models), so flat dark or bright regions take no more than flat mid-grey ones.
    /// 4 since 2026-12-07 (with `chroma` 1: the one validation row lower than every baseline on
    /// each of the three dissimilar targets, docs/tuning.md); it was 0 before.
    public var jndLuminanceCap: Float = 4
    /// SVRE: inner steps per source and outer iteration (M = svreInner * K; the paper's M = 4K).
    public var svreInner: Int = 4
    /// CWA: the sharpness-aware reverse step r, a multiple of eps (the paper's 16/255/15 at eps 16/255).
    public var cwaRadius: Float = 1.0 / 15
    /// CWA: the inner step on L2-normalised momentum, as its root-mean-square per component in
    /// units of eps (the paper's 250 on 3x224x224 at eps 16/255: 250 / sqrt(150528) / (16/255)).
    public var cwaInnerStep: Float = 10.27
    /// CWA: passes over the K sources per outer iteration (the paper's 1).
    public var cwaSweeps: Int = 1
    /// DI: probability of transforming an input, the resize rate (content shrunk to between
    /// 1/rate and 1 of the image, then zero-padded back) and transformed copies per iteration.
    public var diProbability: Float = 0.5
    public var diResize: Float = 1.1
    public var diSamples: Int = 1
    /// Spend the budget up to this SSIM (0: off; any method): after the last iteration the
    /// perturbation is scaled up by the largest c in [1, 8] whose 8-bit image keeps SSIM >= this
    /// to the clean image, each pixel's radius growing to min(eps, c eps_i). An attack already
    /// below it is kept as it is. Still within eps in L-infinity. nil (the default) is auto:
    /// 0.90 for SEGA since 2026-12-07 (the best row on the validation split, docs/tuning.md),
    /// off for the baselines (their published form); `effectiveTargetSSIM`.
    public var targetSSIM: Float? = nil
    /// The target in effect for `method` (auto resolved).
    public var effectiveTargetSSIM: Float { targetSSIM ?? (method == .sega ? 0.9 : 0) }
    /// SEGA: the components M^F drops step along a fixed random sign pattern (drawn once per
    /// image from the seed) at this fraction of the step, instead of staying (0, the default).
    public var maskFill: Float = 0
    /// SEGA, the JND budget: a chroma budget rho = chroma * eps beside the luma one. Each pixel's
    /// change splits into its luma (the grey shift y = 0.299 dR + 0.587 dG + 0.114 dB, kept
    /// within eps_i) and the isoluminant rest (each channel within rho, and |y| + rest within
    /// eps). 0: off, every channel within eps_i. 1 since 2026-12-07 (with the luminance cap 4;
    /// docs/tuning.md).
    public var chroma: Float = 1
    /// Whether the chroma budget is in effect (SEGA with the JND budget).
    public var usesChroma: Bool { chroma != 0 && method == .sega && effectiveBudget == .jnd }
    /// SEGA, the JND budget: what the chroma budget and the spend grow. `all`: each pixel's
    /// chroma radius is rho = chroma * eps and the spend's luma radius min(eps, c eps_i).
    /// `masking`: with JND_i = LA_i + M_i (LA_i the luminance adaptation, M_i what masking adds),
    /// rho_i = chroma * min(eps, lambda M_i / 255) and the spend's luma radius
    /// min(eps, lambda (LA_i + c M_i) / 255), so a flat region (M_i near 0) keeps its luma JND
    /// and takes no colour. `texture`: M_i scaled by a smoothstep of h_i, the pixel-scale
    /// contrast of the clean luma (JNDMap.pixelContrast), from 0 at 3 levels to 1 at 9.
    public var budgetGrowth: BudgetGrowth = .all
    /// Whether growth is limited to the masking part (SEGA with the JND budget; `masking` or `texture`).
    public var usesMaskingGrowth: Bool { budgetGrowth != .all && method == .sega && effectiveBudget == .jnd }
    /// Whether the masking part is also scaled by the pixel-scale contrast (growth `texture`).
    public var usesTextureGrowth: Bool { budgetGrowth == .texture && usesMaskingGrowth }

    public init() {}

    public var stepSize: Float { alpha ?? eps / 4 }

    /// Reject settings that cannot be run, with a message naming the setting (the first of
    /// AttackSettings.all, in its order, whose value is out of its range).
    public func validate() throws {
        for s in AttackSettings.all {
            if let problem = s.problem(self) { throw AttackError(problem) }
        }
    }
}

/// An attack-level failure (bad settings, mismatched sizes); the message is what the user sees.
public struct AttackError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// Settings, sources or an image the attack cannot run with.
        case invalidArgument
        /// A broken invariant inside sega.
        case `internal`
    }
    public let kind: Kind
    public let message: String
    public init(_ message: String) { self.init(.invalidArgument, message) }
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { message }
}
