// MARK: - SVRE and CWA

extension Attacker {
    /// SVRE (Xiong et al., "Stochastic variance reduced ensemble adversarial attack for boosting
    /// the adversarial transferability", CVPR 2022), one outer iteration on the score loss d f:
    ///
    ///   g_ens = sum_k w_k grad f_k(x)                     (K calls; each w_k grad f_k(x) kept)
    ///   x~ = x, G~ = 0; M = svreInner K times:
    ///     k ~ U{1..K} (counter-based draw)
    ///     g_m = w_k grad f_k(x~) + (g_ens - w_k grad f_k(x))          (1 call)
    ///     G~ = mu G~ + g_m / mean|g_m|;  x~ = clip(Proj(x~ + beta d sign(G~)))   (beta = alpha)
    ///   G = mu G + G~ / mean|G~|, and the shared step x = clip(Proj(x + alpha d sign(G))).
    ///
    /// The bracket is the variance-reduction term; with one source it is exactly 0 (both parts
    /// are the same products), and SVRE is MI-FGSM inner steps feeding an outer momentum.
    func svre(iteration t: Int, key: UInt64, sign d: Float) -> Int {
        let c = config, k = sources.count
        var calls = ensembleGradient(into: g, samples: 1, noise: .none, iteration: t, key: key)
        xin.baseAddress!.update(from: x.baseAddress!, count: count)
        innerMom.update(repeating: 0)
        let inner = c.svreInner * k
        var m = 0
        while m < inner {
            let j = svreDraw(iteration: t, key: key, step: m)
            let (_, gr) = sources[j].scoreAndGradientOfInput(at: xin)
            let w = sourceWeights[j], gx = sourceGrads[j]
            var i = 0
            while i < count { scratch[i] = w * gr[i] + (g[i] - w * gx[i]); i += 1 }
            accumulate(scratch, into: innerMom, decay: c.momentum)
            budgetStep(xin, along: innerMom, size: c.stepSize * d, signed: true)
            calls += 1
            m += 1
        }
        accumulateMomentum(innerMom, decay: c.momentum)
        return calls
    }

    /// The inner draws of SVRE at iteration t: which source each of the M inner steps uses.
    func svreDraw(iteration t: Int, key: UInt64, step m: Int) -> Int {
        Int(NoiseStream(seed: config.seed, key, UInt64(t), 0x5F5E).bits(UInt64(m)) % UInt64(sources.count))
    }

    /// CWA (Chen et al., "Rethinking model ensemble in transfer-based adversarial attacks",
    /// ICLR 2024: the common weakness attack, MI-CWA), one outer iteration on the loss d f:
    ///
    ///   g = sum_k w_k grad f_k(x)                                   (K calls)
    ///   x~ = clip(Proj(x - r d sign(g)))           sharpness-aware reverse step (r = cwaRadius eps)
    ///   for each sweep, for k = 1..K in order:                      (K calls per sweep)
    ///     m = mu m + grad f_k(x~) / |grad f_k(x~)|_2               (m persists across iterations)
    ///     x~ = clip(Proj(x~ + beta d m))          beta = cwaInnerStep eps sqrt(3 H W)
    ///   G = mu G + d (x~ - x) / mean|x~ - x|, and the shared step x = clip(Proj(x + alpha d sign(G))).
    ///
    /// The sequential per-model steps from the reverse point are what moves x toward flat optima
    /// common to all models (the paper's cosine-similarity encourager); the outer momentum over
    /// x~ - x is its "fake gradient". beta's RMS per component is cwaInnerStep eps.
    func cwa(iteration t: Int, key: UInt64, sign d: Float) -> Int {
        let c = config, k = sources.count
        var calls = ensembleGradient(into: g, samples: 1, noise: .none, iteration: t, key: key)
        xin.baseAddress!.update(from: x.baseAddress!, count: count)
        budgetStep(xin, along: g, size: -c.cwaRadius * c.eps * d, signed: true)
        let beta = c.cwaInnerStep * c.eps * Float(Double(count).squareRoot())
        var sweep = 0
        while sweep < c.cwaSweeps {
            var j = 0
            while j < k {
                let (_, gr) = sources[j].scoreAndGradientOfInput(at: xin)
                var l2 = 0.0
                var i = 0
                while i < count { l2 += Double(gr[i]) * Double(gr[i]); i += 1 }
                let inv = l2 > 0 ? Float(1 / l2.squareRoot()) : 0
                i = 0
                while i < count { innerMom[i] = c.momentum * innerMom[i] + gr[i] * inv; i += 1 }
                budgetStep(xin, along: innerMom, size: beta * d, signed: false)
                calls += 1
                j += 1
            }
            sweep += 1
        }
        var i = 0
        while i < count { scratch[i] = d * (xin[i] - x[i]); i += 1 }
        accumulateMomentum(scratch, decay: c.momentum)
        return calls
    }
}
