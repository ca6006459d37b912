// MARK: - The chroma budget (--chroma)

/// Each pixel's change d = (dR, dG, dB) splits into its luma y = 0.299 dR + 0.587 dG + 0.114 dB,
/// carried as the grey shift (y, y, y), and the isoluminant rest r = d - (y, y, y) (its luma is
/// 0 because the weights sum to 1). The JND budget bounds |y| by eps_i (the eye's luma
/// threshold); the rest, which the eye resolves far less finely at the pixel scale, may take up
/// to rho_i in every channel (chroma * eps, or with --budget-growth masking chroma times the
/// masking part of the pixel's JND, PerceptualBudget), and |y| + max|r_c| stays within eps, so the whole
/// change is within eps in L-infinity; the rest also shrinks so that no channel leaves [0, 1]. SSIM (on luma) sees only y.
extension Attacker {
    /// Luma weights (Rec. 601, as SSIM and the JND maps read luma).
    static let lumaWeights: (Float, Float, Float) = (0.299, 0.587, 0.114)

    /// SEGA's step with the chroma budget: each pixel's signed step s (per channel d sign(g) where
    /// M^F keeps it, else --mask-fill's f r) splits into its luma y_s and rest s - y_s; the luma
    /// moves by alpha M^JND (eps_i / eps) y_s, as without the chroma budget, the rest by
    /// alpha M^JND (max(eps_i, rho_i) / eps) (s - y_s); then the projection.
    func chromaStep(_ d: Float) {
        let c = config, a = c.stepSize, f = c.maskFill
        let (wr, wg, wb) = Attacker.lumaWeights
        @inline(__always) func sgn(_ i: Int) -> Float {
            let gi = g[i]
            return maskF[i] != 0 ? (gi > 0 ? d : (gi < 0 ? -d : 0)) : f * fill[i]
        }
        var p = 0
        while p < pixels {
            let i0 = p, i1 = p + pixels, i2 = p + 2 * pixels
            let s0 = sgn(i0), s1 = sgn(i1), s2 = sgn(i2)
            let y = wr * s0 + wg * s1 + wb * s2
            let kl = a * maskJ[p] * lumaRadius[p] / c.eps, kc = a * maskJ[p] * max(lumaRadius[p], chromaRadius[p]) / c.eps
            x[i0] += kl * y + kc * (s0 - y)
            x[i1] += kl * y + kc * (s1 - y)
            x[i2] += kl * y + kc * (s2 - y)
            p += 1
        }
        projectChroma(x)
    }

    /// v <- clip01(x0 + clamp(y, eps_i) + r'), r' the rest scaled (as a whole, so it stays
    /// isoluminant) into min(rho_i, eps - |y|).
    func projectChroma(_ v: UnsafeMutableBufferPointer<Float>) {
        var p = 0
        while p < pixels {
            composeChroma(p, from: v, scale: 1, lumaLimit: lumaRadius[p], into: v)
            p += 1
        }
    }

    /// dst's pixel p <- clip01(x0 + clamp(s y, limit) + r'), y and r from src - x0 (r' as in
    /// projectChroma). src and dst may be the same buffer.
    @inline(__always)
    func composeChroma(_ p: Int, from src: UnsafeMutableBufferPointer<Float>, scale s: Float, lumaLimit l: Float,
                       into dst: UnsafeMutableBufferPointer<Float>) {
        let (wr, wg, wb) = Attacker.lumaWeights
        let i0 = p, i1 = p + pixels, i2 = p + 2 * pixels
        let d0 = src[i0] - x0[i0], d1 = src[i1] - x0[i1], d2 = src[i2] - x0[i2]
        let y = wr * d0 + wg * d1 + wb * d2
        let ys = min(max(s * y, -l), l)
        var r0 = d0 - y, r1 = d1 - y, r2 = d2 - y
        let m = max(abs(r0), abs(r1), abs(r2))
        let lim = max(0, min(chromaRadius[p], config.eps - abs(ys)))
        // The rest shrinks as a whole, so it stays isoluminant: into lim, and so that no channel
        // leaves [0, 1] (a clipped channel would turn colour into a luma change, e.g. on white).
        var k: Float = m > lim ? lim / m : 1
        k = min(k, min(Attacker.boxScale(x0[i0] + ys, r0), Attacker.boxScale(x0[i1] + ys, r1)))  // pairwise: a variadic
        k = min(k, Attacker.boxScale(x0[i2] + ys, r2))  // min allocates its array in unoptimised builds
        r0 *= k; r1 *= k; r2 *= k
        dst[i0] = min(max(x0[i0] + ys + r0, 0), 1)
        dst[i1] = min(max(x0[i1] + ys + r1, 0), 1)
        dst[i2] = min(max(x0[i2] + ys + r2, 0), 1)
    }

    /// The largest k in [0, 1] with base + k r in [0, 1] (1 when r is 0; 0 when base is outside).
    @inline(__always)
    static func boxScale(_ base: Float, _ r: Float) -> Float {
        if r > 0 { return min(1, max(0, (1 - base) / r)) }
        if r < 0 { return min(1, max(0, base / -r)) }
        return 1
    }

    /// --target-ssim with the chroma budget: only the luma scales, y <- c y within
    /// min(eps, floor_i + c growth_i) (min(eps, c eps_i) unless growth is `masking`; SSIM reads
    /// luma); the rest stays. Into `dst`, on the 8-bit grid within each channel's radius
    /// min(eps, that luma limit + rho_i) when `quantized`.
    func chromaScaled(_ c: Float, into dst: UnsafeMutableBufferPointer<Float>, quantized: Bool) {
        let eps = config.eps
        var p = 0
        while p < pixels {
            let l = spentLuma(p, c)
            composeChroma(p, from: x, scale: c, lumaLimit: l, into: dst)
            if quantized {
                let r = min(eps, l + chromaRadius[p])
                var ch = 0
                while ch < 3 {
                    let i = p + ch * pixels
                    dst[i] = Attacker.onGrid(dst[i], clean: x0[i], radius: r)
                    ch += 1
                }
            }
            p += 1
        }
    }

    /// x <- the chroma-budget spend at c; the luma radius becomes spentLuma(c) and each
    /// channel's radius min(eps, that + rho_i).
    func applyChromaSpend(_ c: Float) -> Float {
        chromaScaled(c, into: x, quantized: false)
        let eps = config.eps
        var p = 0
        while p < pixels {
            lumaRadius[p] = spentLuma(p, c)
            radius[p] = min(eps, lumaRadius[p] + chromaRadius[p])
            p += 1
        }
        return c
    }
}
