#if canImport(Glibc)
import Glibc
#endif

// MARK: - Comparing attacks at matched imperceptibility

/// One attacked image scaled down to an SSIM level τ.
public struct SSIMMatch: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// c < 1 found with SSIM in [τ, τ + SSIMMatcher.window].
        case scaled
        /// The unscaled attack already has SSIM >= τ: c = 1, the attacked image as it is.
        case above
        /// The 8-bit grid has no scaled image with SSIM in the window (one grid step moves SSIM
        /// by more than the window), or SSIM is undefined (image smaller than 11x11): the largest
        /// c found with SSIM >= τ is given.
        case unreachable
    }
    public let tau: Double
    /// The scale of the perturbation, in [0, 1].
    public let c: Double
    /// SSIM(clean, matched image).
    public let ssim: Double
    public let status: Status
    /// SSIM evaluations spent by the bisection.
    public let steps: Int
}

/// Scales an attack's final perturbation δ = x_adv − x by c ∈ [0, 1] and finds, by bisection
/// (no gradient calls), the largest c whose 8-bit image keeps SSIM(x, ·) >= τ, so that methods
/// can be compared at the same SSIM instead of the same ε.
///
/// The scaled image works in whole 8-bit levels: with q the clean level and d the attack's
/// level difference (clamped to the whole steps inside ε), pixel i of the image at c is
/// q_i + r_i, r_i = round(c·d_i + u_i) clamped to [min(0, d_i), max(0, d_i)], where u_i is a
/// fixed offset in (−0.5, 0.5) from a counter-based stream over the pixel index (a dither).
/// So each value lies between the clean and the attacked one: L∞ never grows, values stay on
/// the 8-bit grid in [0, 1] and within ε, c = 0 gives the clean image and c = 1 the attack.
/// The dither matters: without it every pixel with the same |d| steps at the same c (after
/// I-FGSM nearly every pixel has |d| = ε), so SSIM(c) takes about ε·255 values and the
/// window [τ, τ + 0.01] is often between two of them; with it the steps are spread over c and
/// one step changes one value by one level.
///
/// Deterministic: the result depends only on the two images, ε and τ.
public struct SSIMMatcher {
    /// Every matched image's SSIM lies in [τ, τ + window] unless the status says otherwise.
    public static let window = 0.01
    /// The bisection stops once SSIM is within this of τ (well inside the window).
    public static let tolerance = 0.001
    /// And after this many SSIM evaluations at most (c resolved to 2^-40).
    public static let maxSteps = 40

    public let height: Int, width: Int
    /// Clean levels q, level differences d, dither offsets u, the clean image q/255 (planar CHW).
    private let levels: [Float], delta: [Float], dither: [Double], cleanImage: [Float]
    private var workspace: SSIMWorkspace
    private var scratch: [Float]

    /// `clean` and `attacked`: planar CHW RGB on the 8-bit grid (values k/255).
    public init(clean: UnsafeBufferPointer<Float>, attacked: UnsafeBufferPointer<Float>, height: Int, width: Int, eps: Float) {
        precondition(clean.count == 3 * height * width && attacked.count == clean.count, "SSIMMatcher: image sizes differ")
        self.height = height
        self.width = width
        let m = Float(Int((eps * 255).nextUp.rounded(.down)))  // whole 8-bit steps inside eps, as the attack uses
        var q = [Float](repeating: 0, count: clean.count), d = q, u = [Double](repeating: 0, count: clean.count)
        let stream = NoiseStream(seed: 0x5353_494D, 0x4D41_5443_48)  // "SSIM", "MATCH"
        for i in 0..<clean.count {
            let k0 = SSIMMatcher.level(clean[i]), k1 = SSIMMatcher.level(attacked[i])
            q[i] = k0
            d[i] = min(max(k1 - k0, -m), m)
            u[i] = 0.98 * (stream.uniform(UInt64(i)) - 0.5)
        }
        levels = q
        cleanImage = q.map { $0 / 255 }
        delta = d
        dither = u
        workspace = SSIMWorkspace(height: height, width: width)
        scratch = [Float](repeating: 0, count: clean.count)
    }

    static func level(_ v: Float) -> Float { (min(max(v, 0), 1) * 255).rounded() }

    /// The image at scale c (planar CHW, values k/255).
    public func render(c: Double, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(out.count == levels.count, "SSIMMatcher.render: wrong output size")
        SSIMMatcher.render(levels, delta, dither, c: c, into: out)
    }

    private static func render(_ q: [Float], _ delta: [Float], _ dither: [Double], c: Double, into out: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<q.count {
            let d = Double(delta[i])
            let r = min(max((c * d + dither[i]).rounded(), min(0, d)), max(0, d))
            out[i] = (q[i] + Float(r)) / 255
        }
    }

    /// SSIM(clean, image at c).
    public mutating func ssim(c: Double) -> Double {
        let (q, d, u, x) = (levels, delta, dither, cleanImage)
        return scratch.withUnsafeMutableBufferPointer { b in
            SSIMMatcher.render(q, d, u, c: c, into: b)
            return x.withUnsafeBufferPointer { a in workspace.ssim(a, UnsafeBufferPointer(b)) }
        }
    }

    /// The largest c (by bisection) whose image keeps SSIM >= τ, written to `out`. τ must be in
    /// (0, 1) (`validate`).
    public mutating func match(tau: Double, into out: UnsafeMutableBufferPointer<Float>) -> SSIMMatch {
        let full = ssim(c: 1)
        if full >= tau {
            render(c: 1, into: out)
            return SSIMMatch(tau: tau, c: 1, ssim: full, status: .above, steps: 1)
        }
        var lo = 0.0, hi = 1.0, sLo = ssim(c: 0), steps = 2
        guard !sLo.isNaN else {
            render(c: 0, into: out)
            return SSIMMatch(tau: tau, c: 0, ssim: .nan, status: .unreachable, steps: steps)
        }
        while sLo > tau + SSIMMatcher.tolerance && steps < SSIMMatcher.maxSteps {
            let mid = (lo + hi) / 2, s = ssim(c: mid)
            steps += 1
            if s >= tau { lo = mid; sLo = s } else { hi = mid }
        }
        render(c: lo, into: out)
        return SSIMMatch(tau: tau, c: lo, ssim: sLo, status: sLo <= tau + SSIMMatcher.window ? .scaled : .unreachable, steps: steps)
    }

    /// Refuses SSIM levels outside (0, 1), NaN and infinities, and a level given twice; returns
    /// them sorted.
    public static func validate(_ taus: [Double]) throws -> [Double] {
        for t in taus where !(t > 0 && t < 1) {
            throw AttackError("SSIM level must be in (0, 1), got \(t)")
        }
        let sorted = taus.sorted()
        for i in sorted.indices.dropFirst() where sorted[i] == sorted[i - 1] {
            throw AttackError("SSIM level \(sorted[i]) is given twice")
        }
        return sorted
    }
}
