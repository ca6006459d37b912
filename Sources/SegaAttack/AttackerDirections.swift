import SegaEngine

// MARK: - Ascent directions

extension Attacker {
    /// Fill `g` with this iteration's ascent direction of the source scores (the step takes
    /// d sign(g)); `d` is the direction's sign (+1 up, -1 down), which the methods with inner
    /// steps (SVRE, CWA) need. Returns the number of gradient calls.
    func direction(iteration t: Int, key: UInt64, sign d: Float) -> Int {
        let c = config
        switch c.method {
        case .sega:
            let kind: NoiseKind = c.segaDI > 0 ? .gaussianDiverse(c.sigma, c.segaDI, AttackConfig.segaDIResize) : .gaussian(c.sigma)
            let n = ensembleGradient(into: g, samples: c.samples, noise: kind, antithetic: c.antithetic,
                                     iteration: t, key: key)
            if c.segaMomentum > 0 { accumulateMomentum(g, decay: c.segaMomentum) }
            return n
        case .ifgsm:
            let (_, gr) = sources[0].scoreAndGradientOfInput(at: x)
            g.baseAddress!.update(from: gr.baseAddress!, count: count)
            return 1
        case .ensIfgsm:
            return ensembleGradient(into: g, samples: 1, noise: .none, iteration: t, key: key)
        case .mifgsm:
            let n = ensembleGradient(into: g, samples: 1, noise: .none, iteration: t, key: key)
            accumulateMomentum(g, decay: c.momentum)
            return n
        case .vt:
            return varianceTuned(iteration: t, key: key)
        case .random:
            return 0
        case .svre:
            return svre(iteration: t, key: key, sign: d)
        case .cwa:
            return cwa(iteration: t, key: key, sign: d)
        case .diMifgsm:
            let n = ensembleGradient(into: g, samples: c.diSamples, noise: .diverse(c.diProbability, c.diResize),
                                     iteration: t, key: key)
            accumulateMomentum(g, decay: c.momentum)
            return n
        }
    }

    /// VT: g = ensemble gradient at x; momentum over (g + v) / |g + v|_1; then the new variance
    /// v = mean_n grad(x + r_n) - g, r_n ~ U[-beta eps, beta eps].
    func varianceTuned(iteration t: Int, key: UInt64) -> Int {
        let c = config
        var n = ensembleGradient(into: g, samples: 1, noise: .none, iteration: t, key: key)
        var i = 0
        while i < count { scratch[i] = g[i] + vtv[i]; i += 1 }
        accumulateMomentum(scratch, decay: c.momentum)
        n += ensembleGradient(into: vtv, samples: c.vtSamples, noise: .uniform(c.vtBeta * c.eps), iteration: t, key: key)
        i = 0
        while i < count { vtv[i] -= g[i]; i += 1 }
        return n
    }

    enum NoiseKind {
        /// Whether a sample's input is DI-transformed (its gradient then maps back by the adjoint).
        var transforms: Bool {
            switch self {
            case .diverse, .gaussianDiverse: return true
            default: return false
            }
        }

        case none, gaussian(Float), uniform(Float)
        /// DI: probability and resize rate.
        case diverse(Float, Float)
        /// SEGA with DI: Gaussian noise of sigma, then DI's transform (probability, resize rate).
        case gaussianDiverse(Float, Float, Float)
    }

    /// out = (1/K) sum_k w_k * (1/N) sum_n grad f_k(x + noise_n), w_k = 1 / mean|g_k| when
    /// normalising (g_k the sum over the samples). The same noise samples serve every source:
    /// sample n is drawn once (counter-based, on the engine's threads) and fed to each source in
    /// turn; each source sums its gradients in sample order into sourceGrads[k], then the
    /// weighting and the sum into `out` run in source order, so the result is the one of drawing
    /// the noise again per source. g_k and w_k stay in sourceGrads / sourceWeights (SVRE reads
    /// them). `pos` / `neg` receive how many sources have g_k > 0 / < 0 per component (M^F's
    /// agreement rule). Antithetic: sample n uses stream n / 2, negated when n is odd. DI: sample
    /// n's input is T_n x and its gradient T_n^T grad f_k(T_n x).
    func ensembleGradient(into out: UnsafeMutableBufferPointer<Float>, samples: Int, noise kind: NoiseKind,
                          antithetic: Bool = false, iteration t: Int, key: UInt64) -> Int {
        var si = 0
        while si < sources.count { sourceGrads[si].update(repeating: 0); si += 1 }
        var calls = 0
        var n = 0
        while n < samples {
            let stream = NoiseStream(seed: config.seed, key, UInt64(t), UInt64(antithetic ? n / 2 : n))
            drawSample(kind, stream: stream)
            let negate = antithetic && n % 2 == 1
            si = 0
            while si < sources.count {  // index loop: the iterator form allocates in debug builds
                let s = sources[si], gks = sourceGrads[si]
                writeInput(s.inputBuffer, noise: kind, negate: negate)
                let (_, gr) = s.scoreAndGradientOfInput()
                if kind.transforms {
                    diverse.addAdjoint(gr.baseAddress!, into: gks.baseAddress!)
                } else {
                    var i = 0
                    while i < count { gks[i] += gr[i]; i += 1 }
                }
                calls += 1
                si += 1
            }
            n += 1
        }
        combineSources(into: out, samples: samples)
        return calls
    }

    /// out = sum_k w_k g_k over sourceGrads in source order (w_k into sourceWeights), and the
    /// sign counts `pos` / `neg`.
    func combineSources(into out: UnsafeMutableBufferPointer<Float>, samples: Int) {
        out.update(repeating: 0)
        pos.update(repeating: 0)
        neg.update(repeating: 0)
        var si = 0
        while si < sources.count {
            let gks = sourceGrads[si], wf = sourceWeight(gks, samples: samples)
            sourceWeights[si] = wf
            var i = 0
            while i < count {
                out[i] += wf * gks[i]
                if gks[i] > 0 { pos[i] += 1 } else if gks[i] < 0 { neg[i] += 1 }
                i += 1
            }
            si += 1
        }
    }

    /// Draw one sample's randomness: the noise into `noise` (Gaussian of unit variance, or uniform
    /// in [-a, a]) on the engine's threads, byte-identical to NoiseStream's sequential fill; DI's
    /// transform; nothing for .none.
    func drawSample(_ kind: NoiseKind, stream: NoiseStream) {
        let ctx = sources[0].plan.context
        switch kind {
        case .none: break
        case .gaussian: ParallelNoise.fill(stream, noise, kind: .gaussian, context: ctx)
        case .uniform(let a): ParallelNoise.fill(stream, noise, kind: .uniform, amplitude: a, context: ctx)
        case .diverse(let p, let rate): diverse.draw(stream, probability: p, resize: rate)
        case .gaussianDiverse(_, let p, let rate):
            // The transform from the sample's stream, as DI draws it; the noise from a stream of its own.
            diverse.draw(stream, probability: p, resize: rate)
            ParallelNoise.fill(NoiseStream(seed: stream.key, 1), noise, kind: .gaussian, context: ctx)
        }
    }

    /// One sample's input from the drawn sample: x plus its noise (sigma, negated for an odd
    /// antithetic sample), DI's transform of x, or (SEGA with DI) the transform of x plus its noise.
    func writeInput(_ inp: UnsafeMutableBufferPointer<Float>, noise kind: NoiseKind, negate: Bool) {
        var i = 0
        switch kind {
        case .none:
            inp.baseAddress!.update(from: x.baseAddress!, count: count)
        case .gaussian(let sigma):
            let sg = negate ? -sigma : sigma
            while i < count { inp[i] = x[i] + sg * noise[i]; i += 1 }
        case .uniform:
            while i < count { inp[i] = x[i] + noise[i]; i += 1 }
        case .diverse:
            diverse.apply(x.baseAddress!, into: inp.baseAddress!)
        case .gaussianDiverse(let sigma, _, _):
            let sg = negate ? -sigma : sigma
            while i < count { xin[i] = x[i] + sg * noise[i]; i += 1 }
            diverse.apply(xin.baseAddress!, into: inp.baseAddress!)
        }
    }

    /// w_k for the gradient sum `gks` over `samples` samples: 1 / (N K), divided by mean|g_k| / N
    /// when normalising (0 for a zero gradient).
    func sourceWeight(_ gks: UnsafeMutableBufferPointer<Float>, samples: Int) -> Float {
        var w = 1.0 / Double(samples * sources.count)
        if config.normalizeSources {
            var m = 0.0
            var i = 0
            while i < count { m += Double(abs(gks[i])); i += 1 }
            m /= Double(count) * Double(samples)
            w = m > 0 ? w / m : 0
        }
        return Float(w)
    }

    /// mom = mu * mom + v / |v|_1 (MI-FGSM), and g = mom (the step takes sign(g)).
    func accumulateMomentum(_ v: UnsafeMutableBufferPointer<Float>, decay: Float) {
        accumulate(v, into: mom, decay: decay)
        g.baseAddress!.update(from: mom.baseAddress!, count: count)
    }

    /// m = mu * m + v / (|v|_1 / count) (the mean |v| keeps values O(1); a zero v adds nothing).
    func accumulate(_ v: UnsafeMutableBufferPointer<Float>, into m: UnsafeMutableBufferPointer<Float>, decay: Float) {
        var l1 = 0.0
        var i = 0
        while i < count { l1 += Double(abs(v[i])); i += 1 }
        let inv = l1 > 0 ? Float(Double(count) / l1) : 0
        i = 0
        while i < count { m[i] = decay * m[i] + v[i] * inv; i += 1 }
    }
}
