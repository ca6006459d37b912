// MARK: - Scalar affine

/// y = scale * x + shift with scalar scale and shift (input normalisation, attention scaling).
public final class ScalarAffine: Op {
    public let scale: Float, shift: Float
    public var name: String { "affine" }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var n = 0

    public init(scale: Float, shift: Float) { self.scale = scale; self.shift = shift }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "affine takes 1 input, got \(inputs.count)")
        return inputs[0]
    }

    public func bind(_ b: OpBinding) throws {
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        n = product(b.outputShape)
    }

    // MARK: forward
    public func forward() {
        let a = scale, c = shift
        for i in 0..<n { y[i] = a * x[i] + c }
    }

    // MARK: memory planning
    /// Backward scales dy only.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        readsNothing(inputs)
    }

    // MARK: backward
    public func backward() {
        guard let dx, let dy else { return }
        sega_axpy(n, scale, dy, dx)
    }
}

extension Graph {
    /// y = scale * x + shift (scalars).
    public func affine(_ x: Tensor, scale: Float, shift: Float = 0) throws -> Tensor {
        try apply(ScalarAffine(scale: scale, shift: shift), [x])
    }
}
