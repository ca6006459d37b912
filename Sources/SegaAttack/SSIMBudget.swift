// MARK: - Spending the budget up to a similarity (--target-ssim)

extension Attacker {
    /// --target-ssim tau, after the last iteration: scale the perturbation up by the largest
    /// c in [1, cMax] (bisection, to cMax / 2^16) whose 8-bit image keeps SSIM >= tau to the
    /// clean one, each pixel's radius growing with it up to eps (min(eps, c eps_i)); then x and
    /// the radius hold the scaled attack, which `quantize` writes. An attack already below tau
    /// is left as it is (c = 1). Returns c. Runs once per image, in buffers allocated at init.
    func spendToSSIM() -> Float {
        let tau = Double(config.effectiveTargetSSIM)
        guard scaledSSIM(Attacker.spendMax) < tau else { return applySpend(Attacker.spendMax) }
        guard scaledSSIM(1) >= tau else { return 1 }
        var lo: Float = 1, hi = Attacker.spendMax
        var k = 0
        while k < 16 {
            let mid = (lo + hi) / 2
            if scaledSSIM(mid) >= tau { lo = mid } else { hi = mid }
            k += 1
        }
        return applySpend(lo)
    }

    /// The largest scale --target-ssim tries: with it any component one 8-bit step from x0
    /// reaches 8 steps, eps 8/255.
    static let spendMax: Float = 8

    /// Pixel p's luma radius at spend c: min(eps, floor_i + c growth_i), which is min(eps, c eps_i)
    /// unless --budget-growth is masking (then only the masking part of the JND grows).
    @inline(__always)
    func spentLuma(_ p: Int, _ c: Float) -> Float { min(config.eps, lumaFloor[p] + c * lumaGrowth[p]) }

    /// SSIM of x0 and the 8-bit image of x0 + c (x - x0) within spentLuma(c) (in `scratch`).
    func scaledSSIM(_ c: Float) -> Double {
        if config.usesChroma {
            chromaScaled(c, into: scratch, quantized: true)
            return ssimWork.ssim(UnsafeBufferPointer(x0), UnsafeBufferPointer(scratch))
        }
        forEachValue { i, p in
            let r = spentLuma(p, c)
            let v = min(max(x0[i] + c * (x[i] - x0[i]), x0[i] - r, 0), min(x0[i] + r, 1))
            scratch[i] = Attacker.onGrid(v, clean: x0[i], radius: r)
        }
        return ssimWork.ssim(UnsafeBufferPointer(x0), UnsafeBufferPointer(scratch))
    }

    /// x <- x0 + c (x - x0) within the radius spentLuma(c), which becomes the radius.
    func applySpend(_ c: Float) -> Float {
        if config.usesChroma { return applyChromaSpend(c) }
        var p = 0
        while p < pixels { radius[p] = spentLuma(p, c); p += 1 }
        forEachValue { i, p in
            let r = radius[p]
            x[i] = min(max(x0[i] + c * (x[i] - x0[i]), x0[i] - r, 0), min(x0[i] + r, 1))
        }
        return c
    }
}
