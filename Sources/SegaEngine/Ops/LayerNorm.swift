// MARK: - Layer normalisation over the last dimension

/// y = (x - mean) / sqrt(var + eps) * gamma + beta over the last dimension (PyTorch
/// nn.LayerNorm(D)); gamma and beta ([D]) are optional. The row means and reciprocal standard
/// deviations are kept for the backward. Gradients for gamma/beta are computed when asked for.
/// Forward and backward are split over the engine's threads (rows; gamma/beta's sums by column).
public final class LayerNorm: Op {
    public let eps: Float
    public let hasGamma: Bool, hasBeta: Bool
    public var name: String { "layernorm" }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var gamma: UnsafeMutablePointer<Float>?, beta: UnsafeMutablePointer<Float>?
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var dgamma: UnsafeMutablePointer<Float>?, dbeta: UnsafeMutablePointer<Float>?
    private var mean: UnsafeMutablePointer<Float>!, rstd: UnsafeMutablePointer<Float>!
    private var rows = 0, len = 0
    private var engine: OpaquePointer!

    /// Inputs are x, then gamma if `hasGamma`, then beta if `hasBeta`.
    public init(eps: Float = 1e-5, hasGamma: Bool, hasBeta: Bool) {
        self.eps = eps; self.hasGamma = hasGamma; self.hasBeta = hasBeta
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let want = 1 + (hasGamma ? 1 : 0) + (hasBeta ? 1 : 0)
        try require(inputs.count == want, "layernorm takes \(want) inputs, got \(inputs.count)")
        try require(!inputs[0].isEmpty, "layernorm needs a rank >= 1 input, got \(inputs[0])")
        let d = inputs[0].last!
        for p in inputs.dropFirst() {
            try require(p == [d], "layernorm: gamma/beta must have shape [\(d)] for input \(inputs[0]), got \(p)")
        }
        return inputs[0]
    }

    public func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int { 2 * 4 * product(output) / output.last! }

    public func bind(_ b: OpBinding) throws {
        engine = b.engine
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        var i = 1
        gamma = nil; beta = nil; dgamma = nil; dbeta = nil
        if hasGamma { gamma = b.inputs[i]; dgamma = b.inputGrads[i]; i += 1 }
        if hasBeta { beta = b.inputs[i]; dbeta = b.inputGrads[i] }
        len = b.outputShape.last!
        rows = product(b.outputShape) / len
        mean = b.saved.bindMemory(to: Float.self, capacity: 2 * rows)
        rstd = mean + rows
    }

    // MARK: forward
    public func forward() {
        sega_layernorm_fwd_mt(engine, rows, len, eps, x, gamma, beta, y, mean, rstd)
    }

    // MARK: memory planning
    /// dx reads x and gamma (and the saved mean/rstd); dgamma reads x; dbeta reads dy only.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        var r = [Bool](repeating: false, count: inputs.count)
        let wantDx = gradsNeeded[0], wantDg = hasGamma && gradsNeeded[1]
        r[0] = wantDx || wantDg
        if hasGamma { r[1] = wantDx }
        return (r, false)
    }
    /// mean/rstd are written by forward().
    public var savedFilledAtBind: Bool { false }

    // MARK: backward
    public func backward() {
        guard let dy else { return }
        // dx by rows; dgamma = sum_rows dy * xhat, dbeta = sum_rows dy by columns (rows in order).
        sega_layernorm_bwd_mt(engine, rows, len, x, gamma, mean, rstd, dy, dx, dgamma, dbeta)
    }
}

extension Graph {
    /// LayerNorm over the last dimension; gamma/beta (shape [D]) are optional.
    public func layerNorm(_ x: Tensor, gamma: Tensor? = nil, beta: Tensor? = nil, eps: Float = 1e-5) throws -> Tensor {
        var ins = [x]
        if let gamma { ins.append(gamma) }
        if let beta { ins.append(beta) }
        return try apply(LayerNorm(eps: eps, hasGamma: gamma != nil, hasBeta: beta != nil), ins)
    }
}
