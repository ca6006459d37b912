// MARK: - Pointwise activations: relu, relu6, sigmoid, gelu (erf form)

/// y = f(x) elementwise; the backward reads x (or y for sigmoid) and accumulates dy * f'(x).
public final class Activation: Op {
    public enum Kind: String { case relu, relu6, sigmoid, gelu }
    public let kind: Kind
    public var name: String { kind.rawValue }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var n = 0

    public init(_ kind: Kind) { self.kind = kind }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "\(name) takes 1 input, got \(inputs.count)")
        return inputs[0]
    }

    public func bind(_ b: OpBinding) throws {
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        n = product(b.outputShape)
    }

    // MARK: forward
    public func forward() {
        switch kind {
        case .relu: sega_relu_fwd(n, x, y)
        case .relu6: sega_relu6_fwd(n, x, y)
        case .sigmoid: sega_sigmoid_fwd(n, x, y)
        case .gelu: sega_gelu_fwd(n, x, y)
        }
    }

    // MARK: memory planning
    /// relu/relu6/gelu read x, sigmoid reads y (only when dx is wanted).
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        guard gradsNeeded[0] else { return readsNothing(inputs) }
        return kind == .sigmoid ? ([false], true) : ([true], false)
    }

    // MARK: backward
    public func backward() {
        guard let dx, let dy else { return }
        switch kind {
        case .relu: sega_relu_bwd(n, x, dy, dx)
        case .relu6: sega_relu6_bwd(n, x, dy, dx)
        case .sigmoid: sega_sigmoid_bwd(n, y, dy, dx)
        case .gelu: sega_gelu_bwd(n, x, dy, dx)
        }
    }
}

extension Graph {
    public func relu(_ x: Tensor) throws -> Tensor { try apply(Activation(.relu), [x]) }
    public func relu6(_ x: Tensor) throws -> Tensor { try apply(Activation(.relu6), [x]) }
    public func sigmoid(_ x: Tensor) throws -> Tensor { try apply(Activation(.sigmoid), [x]) }
    public func gelu(_ x: Tensor) throws -> Tensor { try apply(Activation(.gelu), [x]) }
}
