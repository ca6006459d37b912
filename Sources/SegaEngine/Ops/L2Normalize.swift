// MARK: - L2 normalisation along an axis

/// y = x / max(||x||_2, eps) along `axis` (PyTorch F.normalize(p=2)). The clamped norms are saved.
/// Backward, per vector with r = ||x||: if r > eps, dx += (dy - y * <dy, y>) / r; otherwise the
/// denominator is the constant eps and dx += dy / eps.
public final class L2Normalize: Op {
    public let axis: Int, eps: Float
    public var name: String { "l2_normalize" }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var norm: UnsafeMutablePointer<Float>!
    private var outer = 0, len = 0, inner = 0

    public init(axis: Int = 1, eps: Float = 1e-12) { self.axis = axis; self.eps = eps }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "l2_normalize takes 1 input, got \(inputs.count)")
        _ = try normalizedAxis(axis, rank: inputs[0].count, op: "l2_normalize of \(inputs[0])")
        return inputs[0]
    }

    public func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int {
        guard let a = try? normalizedAxis(axis, rank: output.count, op: name) else { return 0 }
        return 4 * product(output) / output[a]
    }

    public func bind(_ b: OpBinding) throws {
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        let a = try normalizedAxis(axis, rank: b.outputShape.count, op: name)
        (outer, len, inner) = splitAround(b.outputShape, axis: a)
        norm = b.saved.bindMemory(to: Float.self, capacity: outer * inner)
    }

    // MARK: forward
    public func forward() {
        for o in 0..<outer {
            for j in 0..<inner {
                let base = o * len * inner + j
                var s: Double = 0
                for i in 0..<len { let v = Double(x[base + i * inner]); s += v * v }
                let r = max(Float(s.squareRoot()), eps)
                norm[o * inner + j] = r
                let inv = 1 / r
                for i in 0..<len { y[base + i * inner] = x[base + i * inner] * inv }
            }
        }
    }

    // MARK: memory planning
    /// Backward reads y and the saved norms, not x.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        ([false], gradsNeeded[0])
    }
    /// The norms are written by forward().
    public var savedFilledAtBind: Bool { false }

    // MARK: backward
    public func backward() {
        guard let dx, let dy else { return }
        for o in 0..<outer {
            for j in 0..<inner {
                let base = o * len * inner + j
                let r = norm[o * inner + j], inv = 1 / r
                if r > eps {
                    var s: Float = 0
                    for i in 0..<len { s += dy[base + i * inner] * y[base + i * inner] }
                    for i in 0..<len { let k = base + i * inner; dx[k] += (dy[k] - y[k] * s) * inv }
                } else {
                    for i in 0..<len { let k = base + i * inner; dx[k] += dy[k] * inv }
                }
            }
        }
    }
}

extension Graph {
    /// x / max(||x||, eps) along `axis` (default 1, as F.normalize).
    public func l2Normalize(_ x: Tensor, axis: Int = 1, eps: Float = 1e-12) throws -> Tensor {
        try apply(L2Normalize(axis: axis, eps: eps), [x])
    }
}
