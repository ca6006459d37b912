// MARK: - The perceptual budget

/// SEGA's M^JND as a budget rather than a 0/1 mask: each pixel may move by
///
///   eps_i = min(eps, lambda * JND_i / 255)
///
/// (JND_i in luma 0..255 units, so lambda counts just-noticeable differences: lambda 1 allows one
/// JND, the model's visibility threshold, capped by the L-infinity budget eps). eps_i is the
/// projection radius and scales every step (alpha eps_i / eps), so a pixel in a textured or very
/// dark region, where the eye hides more, takes up to eps, and one in a flat mid-grey region takes
/// about 3 lambda / 255 (the models' floor). The same eps_i holds for the three channels of a pixel.
enum PerceptualBudget {
    /// radius[p] = eps_i and scale[p] = eps_i / eps (eps and 1 everywhere for the uniform budget;
    /// `jnd` is read only for the JND budget).
    /// With the chroma budget rho = chroma * eps (ChromaBudget.swift), luma[p] = eps_i and each
    /// channel's radius grows to min(eps, eps_i + rho); without it luma = radius.
    static func fill(radius: UnsafeMutableBufferPointer<Float>, scale: UnsafeMutableBufferPointer<Float>,
                     luma: UnsafeMutableBufferPointer<Float>, jnd: UnsafeBufferPointer<Float>, config c: AttackConfig) {
        switch c.effectiveBudget {
        case .uniform, .auto:
            radius.update(repeating: c.eps)
            scale.update(repeating: 1)
            luma.update(repeating: c.eps)
        case .jnd:
            let rho = c.usesChroma ? c.chroma * c.eps : 0
            var p = 0
            while p < radius.count {
                let e = min(c.eps, c.budgetLambda * jnd[p] / 255)
                luma[p] = e
                radius[p] = rho > 0 ? min(c.eps, e + rho) : e
                scale[p] = e / c.eps
                p += 1
            }
        }
    }
}
