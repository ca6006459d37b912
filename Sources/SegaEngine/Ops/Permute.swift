// MARK: - Permute (transpose of any axes)

/// y has dimensions x.shape[perm[i]]: y[i_0, ..., i_r] = x[j] with j[perm[d]] = i_d (torch
/// permute), rank <= 6. Forward walks y contiguously, reading x with permuted strides;
/// backward walks the same nest and adds dy into dx (the inverse permutation).
public final class Permute: Op {
    public let perm: [Int]
    public var name: String { "permute" }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var loop: StridedLoop!

    public init(_ perm: [Int]) { self.perm = perm }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "permute takes 1 input, got \(inputs.count)")
        let s = inputs[0]
        try require(s.count <= 6, "permute supports rank <= 6, got \(s)")
        try require(perm.sorted() == Array(0..<s.count), "permute of \(s): \(perm) is not a permutation of 0..<\(s.count)")
        return perm.map { s[$0] }
    }

    public func bind(_ b: OpBinding) throws {
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        let xs = TensorView.contiguousStrides(b.inputShapes[0])
        loop = StridedLoop(shape: b.outputShape, strides: [TensorView.contiguousStrides(b.outputShape), perm.map { xs[$0] }])
    }

    // MARK: forward
    public func forward() { loop.copy(into: y, from: x) }

    // MARK: memory planning
    /// Backward scatters dy only.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        readsNothing(inputs)
    }

    // MARK: backward
    public func backward() {
        guard let dx, let dy else { return }
        loop.accumulate(into: dx, from: dy)
    }
}

extension Graph {
    /// Reorder axes: output axis i is input axis perm[i].
    public func permute(_ x: Tensor, _ perm: [Int]) throws -> Tensor { try apply(Permute(perm), [x]) }
}
