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
            let n = ensembleGradient(into: g, samples: c.samples, noise: .gaussian(c.sigma), antithetic: c.antithetic,
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
        case none, gaussian(Float), uniform(Float)
        /// DI: probability and resize rate.
        case diverse(Float, Float)
    }

    /// out = (1/K) sum_k w_k * (1/N) sum_n grad f_k(x + noise_n), w_k = 1 / mean|g_k| when
    /// normalising (g_k the sum over the samples). The same noise samples serve every source
    /// (counter-based: regenerated). `pos` / `neg` receive how many sources have g_k > 0 / < 0
    /// per component (M^F's agreement rule). Antithetic: sample n uses stream n / 2, negated when
    /// n is odd. DI: sample n's input is T_n x and its gradient T_n^T grad f_k(T_n x). `keep`
    /// stores each g_k in sourceGrads[k] and its weight w_k in sourceWeights[k] (SVRE).
    func ensembleGradient(into out: UnsafeMutableBufferPointer<Float>, samples: Int, noise: NoiseKind,
                          antithetic: Bool = false, iteration t: Int, key: UInt64, keep: Bool = false) -> Int {
        out.update(repeating: 0)
        pos.update(repeating: 0)
        neg.update(repeating: 0)
        var calls = 0
        var si = 0
        while si < sources.count {  // index loop: the iterator form allocates in debug builds
            let s = sources[si]
            gk.update(repeating: 0)
            var n = 0
            while n < samples {
                let stream = NoiseStream(seed: config.seed, key, UInt64(t), UInt64(antithetic ? n / 2 : n))
                writeInput(s.inputBuffer, noise: noise, stream: stream, negate: antithetic && n % 2 == 1)
                let (_, gr) = s.scoreAndGradientOfInput()
                if case .diverse = noise {
                    diverse.addAdjoint(gr.baseAddress!, into: gk.baseAddress!)
                } else {
                    var i = 0
                    while i < count { gk[i] += gr[i]; i += 1 }
                }
                calls += 1
                n += 1
            }
            let wf = sourceWeight(samples: samples)
            if keep {
                sourceGrads[si].baseAddress!.update(from: gk.baseAddress!, count: count)
                sourceWeights[si] = wf
            }
            var i = 0
            while i < count {
                out[i] += wf * gk[i]
                if gk[i] > 0 { pos[i] += 1 } else if gk[i] < 0 { neg[i] += 1 }
                i += 1
            }
            si += 1
        }
        return calls
    }

    /// One sample's input: x plus its noise, or DI's transform of x.
    func writeInput(_ inp: UnsafeMutableBufferPointer<Float>, noise: NoiseKind, stream: NoiseStream, negate: Bool) {
        switch noise {
        case .none:
            inp.baseAddress!.update(from: x.baseAddress!, count: count)
        case .gaussian(let sigma):
            stream.fillGaussian(inp)
            let sg = negate ? -sigma : sigma
            var i = 0
            while i < count { inp[i] = x[i] + sg * inp[i]; i += 1 }
        case .uniform(let a):
            stream.fillUniform(inp, amplitude: a)
            var i = 0
            while i < count { inp[i] = x[i] + inp[i]; i += 1 }
        case .diverse(let p, let rate):
            diverse.draw(stream, probability: p, resize: rate)
            diverse.apply(x.baseAddress!, into: inp.baseAddress!)
        }
    }

    /// w_k for the gradient sum in `gk` over `samples` samples: 1 / (N K), divided by mean|g_k| / N
    /// when normalising (0 for a zero gradient).
    func sourceWeight(samples: Int) -> Float {
        var w = 1.0 / Double(samples * sources.count)
        if config.normalizeSources {
            var m = 0.0
            var i = 0
            while i < count { m += Double(abs(gk[i])); i += 1 }
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
