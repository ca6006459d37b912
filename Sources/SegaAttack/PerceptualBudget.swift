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
    /// The per-pixel planes the budget fills (each H*W).
    struct Planes {
        /// Each channel's radius, the step scale eps_i / eps and the luma radius eps_i.
        let radius, scale, luma: UnsafeMutableBufferPointer<Float>
        /// The luma radius at spend c is min(eps, lumaFloor + c lumaGrowth); chroma the isoluminant
        /// rest's radius rho_i (0 without the chroma budget).
        let lumaFloor, lumaGrowth, chroma: UnsafeMutableBufferPointer<Float>
    }

    /// radius[p] = eps_i and scale[p] = eps_i / eps (eps and 1 everywhere for the uniform budget;
    /// `jnd` and `adaptation`, its luminance-adaptation term, are read only for the JND budget).
    /// With the chroma budget (ChromaBudget.swift), luma[p] = eps_i and each channel's radius
    /// grows to min(eps, eps_i + rho_i); without it luma = radius. Growth `all`: rho_i = chroma eps,
    /// floor 0 and growth eps_i. Growth `masking`: with LA_i the adaptation and M_i = JND_i - LA_i,
    /// floor min(eps, lambda LA_i / 255), growth lambda M_i / 255, eps_i = min(eps, floor + growth)
    /// and rho_i = chroma min(eps, growth). Growth `texture`: the same with growth scaled by a
    /// smoothstep of h_i = `contrast` (JNDMap.textureGrowthScale; read only then).
    static func fill(_ o: Planes, jnd: UnsafeBufferPointer<Float>, adaptation: UnsafeBufferPointer<Float>,
                     contrast: UnsafeBufferPointer<Float>, config c: AttackConfig) {
        switch c.effectiveBudget {
        case .uniform, .auto:
            o.radius.update(repeating: c.eps)
            o.scale.update(repeating: 1)
            o.luma.update(repeating: c.eps)
            o.lumaFloor.update(repeating: 0)
            o.lumaGrowth.update(repeating: c.eps)
            o.chroma.update(repeating: 0)
        case .jnd:
            let chroma = c.usesChroma ? c.chroma : 0, masking = c.usesMaskingGrowth, gated = c.usesTextureGrowth
            var p = 0
            while p < o.radius.count {
                let e: Float, rho: Float
                if masking {
                    let floor = min(c.eps, c.budgetLambda * adaptation[p] / 255)
                    var grow = c.budgetLambda * max(0, jnd[p] - adaptation[p]) / 255
                    if gated { grow *= JNDMap.textureGrowthScale(contrast[p]) }
                    e = min(c.eps, floor + grow)
                    rho = chroma * min(c.eps, grow)
                    o.lumaFloor[p] = floor
                    o.lumaGrowth[p] = grow
                } else {
                    e = min(c.eps, c.budgetLambda * jnd[p] / 255)
                    rho = chroma * c.eps
                    o.lumaFloor[p] = 0
                    o.lumaGrowth[p] = e
                }
                o.luma[p] = e
                o.chroma[p] = rho
                o.radius[p] = chroma > 0 ? min(c.eps, e + rho) : e
                o.scale[p] = e / c.eps
                p += 1
            }
        }
    }
}
