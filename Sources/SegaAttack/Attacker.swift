import SegaEngine

// MARK: - Result

/// What one attack did to one image.
public struct AttackResult: Sendable {
    /// Each source's score on the clean image and on the attacked (8-bit) image.
    public var scoresBefore: [Float]
    public var scoresAfter: [Float]
    /// +1 pushed scores up, -1 down.
    public var direction: Int
    public var gradientCalls: Int
    /// Fraction of components M^F kept at the last iteration, and of pixels M^JND kept.
    public var maskFKept: Double
    public var maskJNDKept: Double
}

// MARK: - Attacker

/// Runs one attack method over K planned source models for images of one size.
///
/// All state (clean and current image, ensemble and per-source gradients, momentum, variance,
/// masks, JND scratch, quantile scratch) is allocated once here; `run` then loops over
/// iterations without allocating: noise is written straight into each source's plan input,
/// gradients are read from its arena. Every loop here is sequential and the noise counter-based,
/// so outputs are byte-identical for any engine thread count.
public final class Attacker {
    public let sources: [PlannedModel]
    /// Settings of the next `run` (validated there); change freely between runs.
    public var config: AttackConfig
    public let height: Int, width: Int
    /// Values per image (3 * H * W) and pixels (H * W).
    public let count: Int, pixels: Int

    let x0, x, g, gk, mom, vtv, maskF, scratch, pos, neg: UnsafeMutableBufferPointer<Float>
    let jnd, maskJ: UnsafeMutableBufferPointer<Float>
    /// ensembleGradient's per-source sums (`gk` is source 0's; these hold sources 1..<K) and the
    /// noise of one sample, drawn once and shared by every source.
    let gkMore: [UnsafeMutableBufferPointer<Float>]
    let noise: UnsafeMutableBufferPointer<Float>
    var jndMap: JNDMap

    public init(sources: [PlannedModel], config: AttackConfig) throws {
        try config.validate()
        guard let first = sources.first else { throw AttackError("an attack needs at least one source model") }
        for s in sources where s.height != first.height || s.width != first.width || !s.withGradient {
            throw AttackError("source \(s.name) is planned for \(s.height)x\(s.width)\(s.withGradient ? "" : " without gradients"), expected \(first.height)x\(first.width) with gradients")
        }
        self.sources = sources
        self.config = config
        height = first.height
        width = first.width
        pixels = height * width
        count = 3 * pixels
        func buf(_ n: Int) -> UnsafeMutableBufferPointer<Float> {
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
            b.initialize(repeating: 0)
            return b
        }
        x0 = buf(count); x = buf(count); g = buf(count); gk = buf(count)
        mom = buf(count); vtv = buf(count); maskF = buf(count); scratch = buf(count)
        pos = buf(count); neg = buf(count)
        jnd = buf(pixels); maskJ = buf(pixels)
        var more: [UnsafeMutableBufferPointer<Float>] = []
        for _ in 1..<sources.count { more.append(buf(3 * pixels)) }
        gkMore = more
        noise = buf(count)
        jndMap = JNDMap(height: height, width: width)
    }

    /// Bytes an attacker over `k` sources holds for images of h x w: ten 3HW buffers, one more
    /// per source after the first and one for the shared noise, two HW masks and the JND scratch
    /// (three HW planes, replicate-index tables). Callers add it to the plans' memory.
    public static func stateBytes(height h: Int, width w: Int, sources k: Int) -> Int {
        let f = MemoryLayout<Float>.size
        return ((10 + max(k, 1)) * 3 * h * w + 2 * h * w + 3 * h * w + 5 * 25 + 7) * f + (h + w + 12) * MemoryLayout<Int>.size
    }

    deinit {
        for b in [x0, x, g, gk, mom, vtv, maskF, scratch, pos, neg, jnd, maskJ, noise] + gkMore { b.deallocate() }
    }

    /// M^F of the last iteration (per component, 0 or 1) and M^JND (per pixel), for reports.
    public var lastMaskF: UnsafeBufferPointer<Float> { UnsafeBufferPointer(maskF) }
    public var lastMaskJND: UnsafeBufferPointer<Float> { UnsafeBufferPointer(maskJ) }
    /// The JND map of the last clean image (luma 0..255 units; SEGA with a JND threshold only).
    public var lastJND: UnsafeBufferPointer<Float> { UnsafeBufferPointer(jnd) }

    // MARK: run

    /// Attack `image` (planar RGB in [0, 1], on the 8-bit grid k/255) and write the adversarial
    /// image to `out`, also on the 8-bit grid and within eps of `image` in L-infinity. `key` makes
    /// the noise of each image distinct (e.g. `NoiseStream.key(for: fileName)`).
    public func run(image: UnsafeBufferPointer<Float>, key: UInt64, into out: UnsafeMutableBufferPointer<Float>) throws -> AttackResult {
        guard image.count == count, out.count == count else {
            throw AttackError("image has \(image.count) values, the attack is planned for 3x\(height)x\(width) = \(count)")
        }
        try config.validate()
        var i = 0
        while i < count {
            let v = image[i]
            guard v.isFinite, v >= 0, v <= 1 else { throw AttackError("image value \(v) at index \(i) is not a finite value in [0, 1]") }
            i += 1
        }
        x0.baseAddress!.update(from: image.baseAddress!, count: count)
        x.baseAddress!.update(from: image.baseAddress!, count: count)
        let c = config
        var before = [Float](repeating: 0, count: sources.count)
        var centred = 0.0
        for (k, s) in sources.enumerated() {
            before[k] = s.score(UnsafeBufferPointer(x0))
            let r = s.scoreRange
            centred += (Double(before[k]) - (r.lo + r.hi) / 2) / (r.hi - r.lo)
        }
        let d: Float
        switch c.direction {
        case .up: d = 1
        case .down: d = -1
        case .auto: d = centred > 0 ? -1 : 1
        }

        // Masks: M^JND from the clean image (SEGA only), M^F starts as all-ones.
        maskF.update(repeating: 1)
        maskJ.update(repeating: 1)
        if c.method == .sega && c.jndThreshold > 0 {
            jndMap.compute(UnsafeBufferPointer(x0), into: jnd)
            JNDMap.mask(jnd: UnsafeBufferPointer(jnd), threshold: c.jndThreshold, into: maskJ)
        }
        mom.update(repeating: 0)
        vtv.update(repeating: 0)
        var calls = 0

        if c.method == .random {
            NoiseStream(seed: c.seed, key, 0xD0).fillSigns(g, amplitude: c.eps)
            i = 0
            while i < count { x[i] = x0[i] + g[i]; i += 1 }
            project()
        } else {
            var t = 0
            while t < c.iterations {
                calls += direction(iteration: t, key: key)
                if c.method == .sega && (c.maskQuantile > 0 || c.maskAgreement > 0) { updateMaskF() }
                step(d)
                t += 1
            }
        }
        quantize(into: out)
        var after = [Float](repeating: 0, count: sources.count)
        for (k, s) in sources.enumerated() { after[k] = s.score(UnsafeBufferPointer(out)) }
        return AttackResult(scoresBefore: before, scoresAfter: after, direction: Int(d), gradientCalls: calls,
                            maskFKept: fraction(maskF), maskJNDKept: fraction(maskJ))
    }

    // MARK: gradient directions

    /// Fill `g` (or `mom`, for momentum methods) with this iteration's ascent direction of the
    /// source scores; returns the number of gradient calls.
    func direction(iteration t: Int, key: UInt64) -> Int {
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
            // g = ensemble gradient at x; momentum over (g + v) / |g + v|_1; then the new
            // variance v = mean_n grad(x + r_n) - g, r_n ~ U[-beta eps, beta eps].
            var n = ensembleGradient(into: g, samples: 1, noise: .none, iteration: t, key: key)
            var i = 0
            while i < count { scratch[i] = g[i] + vtv[i]; i += 1 }
            accumulateMomentum(scratch, decay: c.momentum)
            n += ensembleGradient(into: vtv, samples: c.vtSamples, noise: .uniform(c.vtBeta * c.eps), iteration: t, key: key)
            i = 0
            while i < count { vtv[i] -= g[i]; i += 1 }
            return n
        case .random:
            return 0
        }
    }

    enum NoiseKind { case none, gaussian(Float), uniform(Float) }

    /// out = (1/K) sum_k w_k * (1/N) sum_n grad f_k(x + noise_n), w_k = 1 / mean|g_k| when
    /// normalising. The same noise samples serve every source: sample n is drawn once (on the
    /// engine's threads) and fed to each source in turn; each source sums its N gradients in
    /// sample order into its own buffer, so the result is the same as drawing the noise again
    /// per source. `pos` / `neg` receive how many sources have g_k > 0 / < 0 per component (M^F's
    /// agreement rule). Antithetic: sample n uses stream n / 2, negated when n is odd.
    func ensembleGradient(into out: UnsafeMutableBufferPointer<Float>, samples: Int, noise kind: NoiseKind,
                          antithetic: Bool = false, iteration t: Int, key: UInt64) -> Int {
        out.update(repeating: 0)
        pos.update(repeating: 0)
        neg.update(repeating: 0)
        var calls = 0
        var si = 0
        while si < sources.count { accumulator(si).update(repeating: 0); si += 1 }
        var n = 0
        while n < samples {
            let sg = drawNoise(kind, sample: n, antithetic: antithetic, iteration: t, key: key)
            si = 0
            while si < sources.count {  // index loop: the iterator form allocates in debug builds
                let s = sources[si], inp = s.inputBuffer, gks = accumulator(si)
                var i = 0
                switch kind {
                case .none: inp.baseAddress!.update(from: x.baseAddress!, count: count)
                case .gaussian: while i < count { inp[i] = x[i] + sg * noise[i]; i += 1 }
                case .uniform: while i < count { inp[i] = x[i] + noise[i]; i += 1 }
                }
                let (_, gr) = s.scoreAndGradientOfInput()
                i = 0
                while i < count { gks[i] += gr[i]; i += 1 }
                calls += 1
                si += 1
            }
            n += 1
        }
        si = 0
        while si < sources.count { addSource(accumulator(si), samples: samples, into: out); si += 1 }
        return calls
    }

    /// Source k's gradient sum of ensembleGradient.
    @inline(__always)
    func accumulator(_ k: Int) -> UnsafeMutableBufferPointer<Float> { k == 0 ? gk : gkMore[k - 1] }

    /// Draw sample n's noise into `noise` (nothing for .none); returns the Gaussian's signed sigma.
    func drawNoise(_ kind: NoiseKind, sample n: Int, antithetic: Bool, iteration t: Int, key: UInt64) -> Float {
        let stream = NoiseStream(seed: config.seed, key, UInt64(t), UInt64(antithetic ? n / 2 : n))
        let ctx = sources[0].plan.context
        switch kind {
        case .none: return 0
        case .gaussian(let sigma):
            ParallelNoise.fill(stream, noise, kind: .gaussian, context: ctx)
            return antithetic && n % 2 == 1 ? -sigma : sigma
        case .uniform(let a):
            ParallelNoise.fill(stream, noise, kind: .uniform, amplitude: a, context: ctx)
            return 0
        }
    }

    /// out += w_k gk (w_k as in ensembleGradient) and the sign counts of one source's sum.
    func addSource(_ gks: UnsafeMutableBufferPointer<Float>, samples: Int, into out: UnsafeMutableBufferPointer<Float>) {
        var w = 1.0 / Double(samples * sources.count)
        if config.normalizeSources {
            var m = 0.0
            var i = 0
            while i < count { m += Double(abs(gks[i])); i += 1 }
            m /= Double(count) * Double(samples)
            w = m > 0 ? w / m : 0
        }
        let wf = Float(w)
        var i = 0
        while i < count {
            out[i] += wf * gks[i]
            if gks[i] > 0 { pos[i] += 1 } else if gks[i] < 0 { neg[i] += 1 }
            i += 1
        }
    }

    /// mom = mu * mom + v / |v|_1 (MI-FGSM), and g = mom (the step takes sign(g)).
    func accumulateMomentum(_ v: UnsafeMutableBufferPointer<Float>, decay: Float) {
        var l1 = 0.0
        var i = 0
        while i < count { l1 += Double(abs(v[i])); i += 1 }
        let inv = l1 > 0 ? Float(Double(count) / l1) : 0  // |v|_1 / count: keeps values O(1)
        i = 0
        while i < count { mom[i] = decay * mom[i] + v[i] * inv; g[i] = mom[i]; i += 1 }
    }

    // MARK: masks, step, projection

    /// M^F: 1 where |g| is at or above the maskQuantile quantile of |g| over the image, and at
    /// least maskAgreement * K sources have the sign of g (a source with g_k = 0 does not agree).
    func updateMaskF() {
        var thr: Float = 0
        var i = 0
        if config.maskQuantile > 0 {
            while i < count { scratch[i] = abs(g[i]); i += 1 }
            let kth = min(count - 1, Int(Double(config.maskQuantile) * Double(count)))
            thr = Attacker.select(scratch, kth)
        }
        // Counts are small integers, exact in Float; the slack only absorbs a * K's rounding.
        let need = config.maskAgreement * Float(sources.count) - 1e-3
        i = 0
        while i < count {
            let gi = g[i]
            let agree: Float = gi > 0 ? pos[i] : (gi < 0 ? neg[i] : 0)
            maskF[i] = abs(gi) >= thr && (config.maskAgreement == 0 || agree >= need) ? 1 : 0
            i += 1
        }
    }

    /// x <- clip01(Proj_eps(x + alpha d M^F M^JND sign(g))).
    func step(_ d: Float) {
        let a = config.stepSize * d
        var ch = 0
        while ch < 3 {
            var p = 0
            let base = ch * pixels
            while p < pixels {
                let i = base + p
                let gi = g[i]
                let sg: Float = gi > 0 ? 1 : (gi < 0 ? -1 : 0)
                x[i] += a * maskF[i] * maskJ[p] * sg
                p += 1
            }
            ch += 1
        }
        project()
    }

    func project() {
        let e = config.eps
        var i = 0
        while i < count {
            let v = min(max(x[i], x0[i] - e), x0[i] + e)
            x[i] = min(max(v, 0), 1)
            i += 1
        }
    }

    /// Round to the 8-bit grid, clamped to the grid points within eps of x0 (x0 is on the grid),
    /// so the written PNG is exactly the attacked image and stays in the L-infinity ball.
    func quantize(into out: UnsafeMutableBufferPointer<Float>) {
        let m = Float(Int((config.eps * 255).nextUp.rounded(.down)))  // whole 8-bit steps inside eps
        var i = 0
        while i < count {
            let k0 = (x0[i] * 255).rounded()
            var k = (x[i] * 255).rounded()
            k = min(max(k, k0 - m, 0), min(k0 + m, 255))
            out[i] = k / 255
            i += 1
        }
    }

    func fraction(_ b: UnsafeMutableBufferPointer<Float>) -> Double {
        var s = 0.0
        for v in b { s += Double(v) }
        return s / Double(max(b.count, 1))
    }

    /// The k-th smallest value (0-based) of b, reordering b (Hoare quickselect, median-of-three pivot).
    static func select(_ b: UnsafeMutableBufferPointer<Float>, _ k: Int) -> Float {
        var lo = 0, hi = b.count - 1
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if b[mid] < b[lo] { b.swapAt(mid, lo) }
            if b[hi] < b[lo] { b.swapAt(hi, lo) }
            if b[hi] < b[mid] { b.swapAt(hi, mid) }
            let pivot = b[mid]
            var i = lo, j = hi
            while i <= j {
                while b[i] < pivot { i += 1 }
                while b[j] > pivot { j -= 1 }
                if i <= j { b.swapAt(i, j); i += 1; j -= 1 }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return b[k] }
        }
        return b[k]
    }
}

extension PlannedModel {
    /// Score and gradient at `x` (copied into the plan's input).
    @inline(__always)
    func scoreAndGradientOfInput(at x: UnsafeMutableBufferPointer<Float>) -> (Float, UnsafeMutableBufferPointer<Float>) {
        inputBuffer.baseAddress!.update(from: x.baseAddress!, count: x.count)
        return scoreAndGradientOfInput()
    }
}
