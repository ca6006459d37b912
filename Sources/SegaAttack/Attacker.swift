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
    /// The JND budget's lambda; nil for the uniform budget.
    public var budgetLambda: Double? = nil
    /// --target-ssim's scale c of the final perturbation (1 when off or already below the target).
    public var spent: Double = 1
}

// MARK: - Attacker

/// Runs one attack method over K planned source models for images of one size.
///
/// All state (clean and current image, ensemble and per-source gradients, momentum, variance,
/// inner iterate, masks, budget, JND scratch, DI tables, quantile scratch) is allocated once
/// here; `run` then loops over iterations without allocating: a sample's noise is drawn once
/// and added to x straight into each source's plan input, gradients are read from its arena.
/// The noise is counter-based and drawn on the engine's threads with the sequential fill's
/// arithmetic (ParallelNoise); every other loop here is sequential, so outputs are
/// byte-identical for any engine thread count.
public final class Attacker {
    public let sources: [PlannedModel]
    /// Settings of the next `run` (validated there); change freely between runs.
    public var config: AttackConfig
    public let height: Int, width: Int
    /// Values per image (3 * H * W) and pixels (H * W).
    public let count: Int, pixels: Int

    /// `noise` holds one Monte Carlo sample's noise, drawn once and fed to every source.
    let x0, x, g, noise, mom, vtv, maskF, scratch, pos, neg, xin, innerMom: UnsafeMutableBufferPointer<Float>
    /// --mask-fill's sign pattern, drawn once per image.
    let fill: UnsafeMutableBufferPointer<Float>
    /// Per pixel: the JND map, M^JND, each channel's radius (eps_i; min(eps, eps_i + rho) with
    /// the chroma budget), the step scale eps_i / eps and the luma radius eps_i.
    let jnd, maskJ, radius, scale, lumaRadius: UnsafeMutableBufferPointer<Float>
    /// Per pixel: the JND map's luminance-adaptation term, and how the budget grows
    /// (PerceptualBudget.fill): the luma radius at spend c is min(eps, lumaFloor + c lumaGrowth),
    /// the chroma radius chromaRadius.
    let adaptation, lumaFloor, lumaGrowth, chromaRadius: UnsafeMutableBufferPointer<Float>
    /// Each source's gradient sum g_k of the last ensembleGradient (over its samples) and its
    /// ensemble weight w_k (SVRE reads both).
    let sourceGrads: [UnsafeMutableBufferPointer<Float>]
    let sourceWeights: UnsafeMutableBufferPointer<Float>
    var jndMap: JNDMap
    let diverse: DiverseInput
    /// --target-ssim's SSIM scratch.
    var ssimWork: SSIMWorkspace

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
        x0 = buf(count); x = buf(count); g = buf(count); noise = buf(count)
        mom = buf(count); vtv = buf(count); maskF = buf(count); scratch = buf(count)
        pos = buf(count); neg = buf(count); xin = buf(count); innerMom = buf(count); fill = buf(count)
        jnd = buf(pixels); maskJ = buf(pixels); radius = buf(pixels); scale = buf(pixels); lumaRadius = buf(pixels)
        adaptation = buf(pixels); lumaFloor = buf(pixels); lumaGrowth = buf(pixels); chromaRadius = buf(pixels)
        sourceGrads = sources.map { _ in buf(3 * first.height * first.width) }
        sourceWeights = buf(sources.count)
        jndMap = JNDMap(height: height, width: width)
        diverse = DiverseInput(height: height, width: width)
        ssimWork = SSIMWorkspace(height: height, width: width)
    }

    /// Bytes an attacker with `k` sources holds for images of h x w: thirteen 3HW buffers, k more
    /// (each source's gradient sum), nine HW planes, the JND map, the DI tables and the SSIM
    /// workspace. Callers add it to the plans' memory.
    public static func stateBytes(height h: Int, width w: Int, sources k: Int) -> Int {
        let f = MemoryLayout<Float>.size
        return ((13 + k) * 3 * h * w + 9 * h * w + k) * f + JNDMap.bytes(height: h, width: w)
            + DiverseInput.bytes(height: h, width: w) + SSIMWorkspace.bytes(height: h, width: w)
    }

    deinit {
        for b in [x0, x, g, noise, mom, vtv, maskF, scratch, pos, neg, xin, innerMom, fill, jnd, maskJ, radius, scale, lumaRadius,
                  adaptation, lumaFloor, lumaGrowth, chromaRadius, sourceWeights] {
            b.deallocate()
        }
        for b in sourceGrads { b.deallocate() }
    }

    /// M^F of the last iteration (per component, 0 or 1) and M^JND (per pixel), for reports.
    public var lastMaskF: UnsafeBufferPointer<Float> { UnsafeBufferPointer(maskF) }
    public var lastMaskJND: UnsafeBufferPointer<Float> { UnsafeBufferPointer(maskJ) }
    /// The JND map of the last clean image (luma 0..255 units; computed when M^JND or the JND budget needs it).
    public var lastJND: UnsafeBufferPointer<Float> { UnsafeBufferPointer(jnd) }
    /// The last run's per-pixel budget eps_i (eps everywhere for the uniform budget).
    public var lastBudget: UnsafeBufferPointer<Float> { UnsafeBufferPointer(radius) }

    // MARK: run

    /// Attack `image` (planar RGB in [0, 1], on the 8-bit grid k/255) and write the adversarial
    /// image to `out`, also on the 8-bit grid and within eps_i (eps for the uniform budget) of
    /// `image` in L-infinity. `key` makes the noise of each image distinct (e.g.
    /// `NoiseStream.key(for: fileName)`).
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
        prepareMasksAndBudget()
        if c.method == .sega && c.maskFill > 0 { NoiseStream(seed: c.seed, key, 0xF1).fillSigns(fill, amplitude: 1) }
        mom.update(repeating: 0)
        vtv.update(repeating: 0)
        innerMom.update(repeating: 0)
        var calls = 0

        if c.method == .random {
            NoiseStream(seed: c.seed, key, 0xD0).fillSigns(g, amplitude: c.eps)
            i = 0
            while i < count { x[i] = x0[i] + g[i] * scale[i % pixels]; i += 1 }
            project(x)
        } else {
            var t = 0
            while t < c.iterations {
                calls += direction(iteration: t, key: key, sign: d)
                if c.method == .sega && (c.maskQuantile > 0 || c.maskAgreement > 0) { updateMaskF() }
                step(d)
                t += 1
            }
        }
        let spent = c.effectiveTargetSSIM > 0 ? spendToSSIM() : 1
        quantize(into: out)
        var after = [Float](repeating: 0, count: sources.count)
        for (k, s) in sources.enumerated() { after[k] = s.score(UnsafeBufferPointer(out)) }
        return AttackResult(scoresBefore: before, scoresAfter: after, direction: Int(d), gradientCalls: calls,
                            maskFKept: fraction(maskF), maskJNDKept: fraction(maskJ),
                            budgetLambda: c.effectiveBudget == .jnd ? Double(c.budgetLambda) : nil, spent: Double(spent))
    }

    /// The clean image's pixel-scale contrast for --budget-growth texture: the first H*W of
    /// `scratch`, written and read (by PerceptualBudget.fill) before the iterations use scratch,
    /// so the option costs no memory of its own.
    var contrast: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(rebasing: scratch[0..<pixels]) }

    /// M^F starts as all-ones; M^JND (SEGA) and the budget from the clean image's JND map,
    /// computed once when either needs it.
    func prepareMasksAndBudget() {
        let c = config
        maskF.update(repeating: 1)
        maskJ.update(repeating: 1)
        let jndMask = c.method == .sega && c.jndThreshold > 0
        if c.usesJND {
            jndMap.compute(UnsafeBufferPointer(x0), model: c.jndModel, luminanceCap: c.jndLuminanceCap, into: jnd,
                           adaptation: adaptation)
        }
        if c.usesTextureGrowth { jndMap.pixelContrast(UnsafeBufferPointer(x0), into: contrast) }
        if jndMask { JNDMap.mask(jnd: UnsafeBufferPointer(jnd), threshold: c.jndThreshold, into: maskJ) }
        PerceptualBudget.fill(PerceptualBudget.Planes(radius: radius, scale: scale, luma: lumaRadius, lumaFloor: lumaFloor,
                                                      lumaGrowth: lumaGrowth, chroma: chromaRadius),
                              jnd: UnsafeBufferPointer(jnd), adaptation: UnsafeBufferPointer(adaptation),
                              contrast: UnsafeBufferPointer(contrast), config: c)
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

    /// x <- clip01(Proj_eps_i(x + alpha d M^F M^JND (eps_i / eps) sign(g))); with --mask-fill f,
    /// the components M^F drops take alpha f M^JND (eps_i / eps) r, r the image's sign pattern.
    func step(_ d: Float) {
        let c = config
        if c.usesChroma { return chromaStep(d) }
        guard c.method == .sega && c.maskFill > 0 else { return budgetStep(x, along: g, size: c.stepSize * d, signed: true) }
        let a = c.stepSize, f = c.maskFill
        forEachValue { i, p in
            let gi = g[i]
            let s: Float = maskF[i] != 0 ? (gi > 0 ? d : (gi < 0 ? -d : 0)) : f * fill[i]
            x[i] += a * maskJ[p] * scale[p] * s
        }
        project(x)
    }

    /// v <- clip01(Proj_eps_i(v + size M^F M^JND (eps_i / eps) s(dir))), s = sign when `signed`,
    /// else the identity: every step of every method is scaled by the budget the same way.
    func budgetStep(_ v: UnsafeMutableBufferPointer<Float>, along dir: UnsafeMutableBufferPointer<Float>, size a: Float,
                    signed: Bool) {
        forEachValue { i, p in
            let gi = dir[i]
            let sg: Float = signed ? (gi > 0 ? 1 : (gi < 0 ? -1 : 0)) : gi
            v[i] += a * maskF[i] * maskJ[p] * scale[p] * sg
        }
        project(v)
    }

    /// v <- clip01(Proj_{|v - x0| <= eps_i}(v)) (the luma and chroma split with the chroma budget).
    func project(_ v: UnsafeMutableBufferPointer<Float>) {
        if config.usesChroma { return projectChroma(v) }
        forEachValue { i, p in
            let e = radius[p]
            let u = min(max(v[i], x0[i] - e), x0[i] + e)
            v[i] = min(max(u, 0), 1)
        }
    }

    /// Round to the 8-bit grid, clamped to the grid points within eps_i of x0 (x0 is on the
    /// grid), so the written PNG is exactly the attacked image and stays in the budget.
    func quantize(into out: UnsafeMutableBufferPointer<Float>) {
        forEachValue { i, p in out[i] = Attacker.onGrid(x[i], clean: x0[i], radius: radius[p]) }
    }

    /// v rounded to the 8-bit grid and clamped to the grid points within r of `clean` (on the
    /// grid) and to [0, 1]: whole 8-bit steps inside r.
    @inline(__always)
    static func onGrid(_ v: Float, clean: Float, radius r: Float) -> Float {
        let m = Float(Int((r * 255).nextUp.rounded(.down)))
        let k0 = (clean * 255).rounded()
        return min(max((v * 255).rounded(), k0 - m, 0), min(k0 + m, 255)) / 255
    }

    /// body(i, p) for every value i of the planar image, p its pixel (i = channel * H W + p), in order.
    @inline(__always)
    func forEachValue(_ body: (Int, Int) -> Void) {
        var ch = 0
        while ch < 3 {
            var p = 0
            let base = ch * pixels
            while p < pixels { body(base + p, p); p += 1 }
            ch += 1
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
