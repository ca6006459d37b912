// MARK: - Batch normalization, eval mode

/// y = (x - mean) / sqrt(var + eps) * gamma + beta per channel, with the running statistics
/// (inference mode: the attacked models are frozen). Inputs: x [N, C, ...] (channel axis 1,
/// any trailing spatial dims), gamma, beta, running_mean, running_var, each [C].
/// The op is a per-channel affine map y = x * scale + shift; scale/shift live in the op's saved
/// memory and are computed once at bind when the parameters are constants (otherwise at every
/// forward, still without allocating). Backward: dx += dy * scale; parameter gradients are
/// computed when asked for.
public final class BatchNorm2d: Op {
    public let eps: Float
    public var name: String { "batchnorm2d" }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var gamma: UnsafeMutablePointer<Float>!, beta: UnsafeMutablePointer<Float>!
    private var mean: UnsafeMutablePointer<Float>!, variance: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var dgamma: UnsafeMutablePointer<Float>?, dbeta: UnsafeMutablePointer<Float>?
    private var dmean: UnsafeMutablePointer<Float>?, dvar: UnsafeMutablePointer<Float>?
    /// scale[C], shift[C], invstd[C] in the op's saved memory.
    private var scale: UnsafeMutablePointer<Float>!, shift: UnsafeMutablePointer<Float>!, invstd: UnsafeMutablePointer<Float>!
    private var constantParams = false
    private var n = 0, c = 0, plane = 0

    public init(eps: Float = 1e-5) { self.eps = eps }

    // MARK: shapes

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 5, "batchnorm2d takes x, gamma, beta, running_mean, running_var, got \(inputs.count) inputs")
        let xs = inputs[0]
        try require(xs.count >= 2, "batchnorm2d: x must be [N, C, ...], got \(xs)")
        for (i, what) in ["gamma", "beta", "running_mean", "running_var"].enumerated() {
            try require(inputs[i + 1] == [xs[1]], "batchnorm2d: \(what) must be [\(xs[1])] for x \(xs), got \(inputs[i + 1])")
        }
        guard eps >= 0, eps.isFinite else { throw EngineError(.invalidArgument, "batchnorm2d: eps must be finite and >= 0, got \(eps)") }
        return xs
    }

    public func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int { 3 * inputs[0][1] * 4 }

    // MARK: bind

    public func bind(_ b: OpBinding) throws {
        let xs = b.inputShapes[0]
        n = xs[0]; c = xs[1]; plane = product(Array(xs.dropFirst(2)))
        x = b.inputs[0]; gamma = b.inputs[1]; beta = b.inputs[2]; mean = b.inputs[3]; variance = b.inputs[4]
        y = b.output; dy = b.outputGrad
        dx = b.inputGrads[0]; dgamma = b.inputGrads[1]; dbeta = b.inputGrads[2]; dmean = b.inputGrads[3]; dvar = b.inputGrads[4]
        let s = b.saved.bindMemory(to: Float.self, capacity: 3 * c)
        scale = s; shift = s + c; invstd = s + 2 * c
        constantParams = b.inputIsConstant[1...].allSatisfy { $0 }
        if constantParams { updateAffine() }
    }

    /// scale = gamma / sqrt(var + eps), shift = beta - mean * scale.
    private func updateAffine() {
        for k in 0..<c {
            let r = 1 / (Double(variance[k]) + Double(eps)).squareRoot()
            invstd[k] = Float(r)
            scale[k] = Float(Double(gamma[k]) * r)
            shift[k] = Float(Double(beta[k]) - Double(mean[k]) * Double(gamma[k]) * r)
        }
    }

    // MARK: forward

    public func forward() {
        if !constantParams { updateAffine() }
        let img = c * plane
        for i in 0..<n { sega_channel_affine_fwd(c, plane, x + i * img, scale, shift, y + i * img) }
    }

    // MARK: memory planning
    /// dx needs only the saved scale; parameter gradients read x, gamma and running_mean
    /// (running_var enters through the saved invstd).
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        let params = gradsNeeded[1...].contains(true)
        return ([params, params, false, params, false], false)
    }

    // MARK: backward

    public func backward() {
        guard let dy else { return }
        let img = c * plane
        if let dx {
            for i in 0..<n { sega_channel_affine_bwd(c, plane, scale, dy + i * img, dx + i * img) }
        }
        guard dgamma != nil || dbeta != nil || dmean != nil || dvar != nil else { return }
        for k in 0..<c {
            // S1 = sum dy, S2 = sum dy * (x - mean) over images and pixels of channel k.
            var s1: Double = 0, s2: Double = 0
            let mk = Double(mean[k])
            for i in 0..<n {
                let o = i * img + k * plane
                for p in 0..<plane {
                    let d = Double(dy[o + p])
                    s1 += d; s2 += d * (Double(x[o + p]) - mk)
                }
            }
            let r = Double(invstd[k]), gk = Double(gamma[k])
            dgamma?[k] += Float(s2 * r)
            dbeta?[k] += Float(s1)
            dmean?[k] += Float(-s1 * gk * r)
            dvar?[k] += Float(-0.5 * s2 * gk * r * r * r)
        }
    }
}

// MARK: - Folding into a preceding convolution or linear layer

/// An eval-mode batchnorm's parameters (each [C]) and its eps.
public struct BatchNormParameters {
    public let gamma: ConstantData, beta: ConstantData, mean: ConstantData, variance: ConstantData
    public let eps: Float
    public init(gamma: ConstantData, beta: ConstantData, mean: ConstantData, variance: ConstantData, eps: Float = 1e-5) {
        self.gamma = gamma; self.beta = beta; self.mean = mean; self.variance = variance; self.eps = eps
    }
}

/// A weight and bias with an eval-mode batchnorm folded in, owned by whoever holds this value.
/// Graphs read it in place, so every graph and plan built from one `FoldedWeights` shares the
/// same copy.
public struct FoldedWeights {
    public let weight: ConstantData
    public let bias: ConstantData
}

/// Folds an eval-mode batchnorm into the convolution (or linear layer) before it:
/// W'[o, ...] = W[o, ...] * s[o], b'[o] = (b[o] - mean[o]) * s[o] + beta[o], s = gamma / sqrt(var + eps).
/// `weight` holds `outChannels` equal rows (PyTorch layout, output channel first); a missing
/// bias counts as 0. Computed in double and rounded once.
///
/// Storage that someone else also references is never changed: the fold goes to new storage.
/// When the caller holds the only reference to `weight` (storage just read from a file), the
/// fold is written into it instead, so loading needs no second copy; `weight` then holds the
/// folded values and is the returned weight.
public func foldBatchNorm(weight: inout ConstantData, bias: ConstantData?, outChannels: Int,
                          _ bn: BatchNormParameters) throws -> FoldedWeights {
    try checkFoldSizes(weight: weight.count, bias: bias?.count, outChannels: outChannels, gamma: bn.gamma.count,
                       beta: bn.beta.count, mean: bn.mean.count, variance: bn.variance.count)
    let w = isKnownUniquelyReferenced(&weight) ? weight : ConstantData(count: weight.count)
    let b = ConstantData(count: outChannels)
    foldBatchNorm(weight: UnsafeBufferPointer(weight.buffer), bias: bias.map { UnsafeBufferPointer($0.buffer) },
                  gamma: bn.gamma.pointer, beta: bn.beta.pointer, mean: bn.mean.pointer, variance: bn.variance.pointer,
                  eps: bn.eps, into: w.buffer, b.buffer)
    return FoldedWeights(weight: w, bias: b)
}

/// `foldBatchNorm` over arrays (same arithmetic).
public func foldBatchNorm(weight: [Float], bias: [Float]?, outChannels: Int, gamma: [Float], beta: [Float],
                          mean: [Float], variance: [Float], eps: Float) throws -> (weight: [Float], bias: [Float]) {
    try checkFoldSizes(weight: weight.count, bias: bias?.count, outChannels: outChannels, gamma: gamma.count,
                       beta: beta.count, mean: mean.count, variance: variance.count)
    var w = weight
    var b = [Float](repeating: 0, count: outChannels)
    func fold(_ bp: UnsafeBufferPointer<Float>?) {
        weight.withUnsafeBufferPointer { wp in
            w.withUnsafeMutableBufferPointer { wo in
                b.withUnsafeMutableBufferPointer { bo in
                    foldBatchNorm(weight: wp, bias: bp, gamma: gamma, beta: beta, mean: mean, variance: variance,
                                  eps: eps, into: wo, bo)
                }
            }
        }
    }
    if let bias { bias.withUnsafeBufferPointer { fold($0) } } else { fold(nil) }
    return (w, b)
}

private func checkFoldSizes(weight: Int, bias: Int?, outChannels: Int, gamma: Int, beta: Int, mean: Int, variance: Int) throws {
    guard outChannels >= 1, weight % outChannels == 0, gamma == outChannels, beta == outChannels, mean == outChannels,
          variance == outChannels, bias == nil || bias! == outChannels else {
        throw EngineError(.shapeMismatch, "foldBatchNorm: weight (\(weight) values), bias (\(bias ?? 0)), gamma/beta/mean/var (\(gamma)/\(beta)/\(mean)/\(variance)) do not fit \(outChannels) output channels")
    }
}

/// The fold itself, sizes already checked: w and b get the folded weight and bias (w may be
/// `weight` itself: each element is read before it is written).
private func foldBatchNorm(weight: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
                           gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                           variance: UnsafePointer<Float>, eps: Float,
                           into w: UnsafeMutableBufferPointer<Float>, _ b: UnsafeMutableBufferPointer<Float>) {
    let outChannels = b.count, per = weight.count / outChannels
    for o in 0..<outChannels {
        let s = Double(gamma[o]) / (Double(variance[o]) + Double(eps)).squareRoot()
        for j in 0..<per { w[o * per + j] = Float(Double(weight[o * per + j]) * s) }
        b[o] = Float((Double(bias?[o] ?? 0) - Double(mean[o])) * s + Double(beta[o]))
    }
}

extension Graph {
    /// Eval-mode batchnorm over channel axis 1.
    public func batchNorm2d(_ x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
                            eps: Float = 1e-5) throws -> Tensor {
        try apply(BatchNorm2d(eps: eps), [x, gamma, beta, mean, variance])
    }

    /// conv2d followed by eval-mode batchnorm. When the conv weight (and bias, if any) and all four
    /// batchnorm parameters are graph constants, the batchnorm is folded into a new weight and
    /// bias owned by this graph's nodes (one op, no extra pass; the given constants are not
    /// touched). Otherwise conv2d + batchNorm2d are emitted. A model that builds many graphs from
    /// the same weights folds once instead (`foldBatchNorm(weight:bias:outChannels:_:)`) and adds
    /// the `FoldedWeights` to each graph with `conv2d`, so its plans share one folded copy.
    public func conv2dBatchNorm(_ x: Tensor, weight: Tensor, bias: Tensor? = nil,
                                gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor, eps: Float = 1e-5,
                                stride: (Int, Int) = (1, 1), padding: Conv2d.Padding = .symmetric(0, 0),
                                dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> Tensor {
        if let ws = constantStorage(weight), let gs = constantStorage(gamma), let bs = constantStorage(beta),
           let ms = constantStorage(mean), let vs = constantStorage(variance), weight.rank == 4,
           bias == nil || constantStorage(bias!) != nil {
            // Validate against the unfolded conv first so errors name the real shapes.
            let op = Conv2d(stride: stride, padding: padding, dilation: dilation, groups: groups)
            let convShape = try op.outputShape(bias.map { [x.shape, weight.shape, $0.shape] } ?? [x.shape, weight.shape])
            _ = try BatchNorm2d(eps: eps).outputShape([convShape, gamma.shape, beta.shape, mean.shape, variance.shape])
            var shared = ws   // also referenced by the graph node: folded into new storage
            let f = try foldBatchNorm(weight: &shared, bias: bias.flatMap { constantStorage($0) }, outChannels: weight.shape[0],
                                      BatchNormParameters(gamma: gs, beta: bs, mean: ms, variance: vs, eps: eps))
            let fw = try constant(f.weight, weight.shape, name: "\(nodes[weight.id].name).bnfolded")
            let fb = try constant(f.bias, [weight.shape[0]], name: "\(nodes[weight.id].name).bnfolded_bias")
            return try apply(op, [x, fw, fb])
        }
        let y = try conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
        return try batchNorm2d(y, gamma: gamma, beta: beta, mean: mean, variance: variance, eps: eps)
    }
}
