// MARK: - Reshape

/// Same elements, new shape (row-major order kept); one dimension may be -1 and is inferred.
/// A view (`outputAliasesInput`): the plan gives the output the input's buffer, so forward
/// copies nothing, and usually the output gradient the input's, so backward adds nothing. Where
/// the plan gives them separate buffers (the input's gradient has other writers), forward
/// copies and backward adds.
public final class Reshape: Op {
    public let shape: [Int]
    public var name: String { "reshape" }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var n = 0

    public init(_ shape: [Int]) { self.shape = shape }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "reshape takes 1 input, got \(inputs.count)")
        let count = product(inputs[0])
        let holes = shape.filter { $0 == -1 }.count
        try require(holes <= 1 && shape.allSatisfy { $0 > 0 || $0 == -1 },
                    "reshape \(inputs[0]) to \(shape): dimensions must be positive, with at most one -1")
        if holes == 0 {
            try require(product(shape) == count, "reshape \(inputs[0]) to \(shape): element counts differ (\(count) vs \(product(shape)))")
            return shape
        }
        let known = shape.filter { $0 != -1 }.reduce(1, *)
        try require(count % known == 0, "reshape \(inputs[0]) to \(shape): \(count) elements do not divide by \(known)")
        return shape.map { $0 == -1 ? count / known : $0 }
    }

    public func bind(_ b: OpBinding) throws {
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        n = product(b.outputShape)
    }

    // MARK: forward
    public func forward() { if y != x { y.update(from: x, count: n) } }

    // MARK: memory planning
    public var outputAliasesInput: Bool { true }

    /// Backward adds dy only.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        readsNothing(inputs)
    }

    // MARK: backward
    public func backward() {
        guard let dx, let dy, dx != dy else { return }
        sega_add_inplace(n, dy, dx)
    }
}

extension Graph {
    /// Reshape to `shape` (one entry may be -1).
    public func reshape(_ x: Tensor, _ shape: [Int]) throws -> Tensor { try apply(Reshape(shape), [x]) }
}
