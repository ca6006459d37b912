// MARK: - Pointwise activations: relu, relu6, sigmoid, gelu (erf form)

/// y = f(x) elementwise; the backward accumulates dy * f'(x). relu and relu6 keep f'(x) as a
/// byte mask (saved state, 1/4 of x) when a gradient is wanted; sigmoid reads y, gelu reads x.
/// relu/relu6 (both ways) and gelu are split over the engine's threads (same bytes).
public final class Activation: Op {
    public enum Kind: String { case relu, relu6, sigmoid, gelu }
    public let kind: Kind
    public var name: String { kind.rawValue }
    private var engine: OpaquePointer!
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var n = 0
    private var mask: UnsafeMutablePointer<UInt8>?

    public init(_ kind: Kind) { self.kind = kind }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "\(name) takes 1 input, got \(inputs.count)")
        return inputs[0]
    }

    public func bind(_ b: OpBinding) throws {
        engine = b.engine
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        n = product(b.outputShape)
        mask = (kind == .relu || kind == .relu6) && dx != nil ? b.saved.bindMemory(to: UInt8.self, capacity: n) : nil
    }

    public func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int {
        kind == .relu || kind == .relu6 ? product(output) : 0
    }

    /// The mask is written by forward, not at bind.
    public var savedFilledAtBind: Bool { false }

    // MARK: forward
    public func forward() {
        switch kind {
        case .relu: sega_act_fwd_mt(engine, n, Int32(SEGA_ACT_RELU.rawValue), x, y, mask)
        case .relu6: sega_act_fwd_mt(engine, n, Int32(SEGA_ACT_RELU6.rawValue), x, y, mask)
        case .sigmoid: sega_sigmoid_fwd(engine, n, x, y)
        case .gelu: sega_gelu_fwd_mt(engine, n, x, y)
        }
    }

    // MARK: memory planning
    /// relu/relu6 read only their mask, gelu reads x, sigmoid reads y (only when dx is wanted).
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        guard gradsNeeded[0] else { return readsNothing(inputs) }
        switch kind {
        case .relu, .relu6: return readsNothing(inputs)
        case .sigmoid: return ([false], true)
        case .gelu: return ([true], false)
        }
    }

    // MARK: backward
    public func backward() {
        guard let dx, let dy else { return }
        switch kind {
        case .relu, .relu6: sega_mask_bwd_mt(engine, n, mask, dy, dx)
        case .sigmoid: sega_sigmoid_bwd(n, y, dy, dx)
        case .gelu: sega_gelu_bwd_mt(engine, n, x, dy, dx)
        }
    }
}

extension Graph {
    public func relu(_ x: Tensor) throws -> Tensor { try apply(Activation(.relu), [x]) }
    public func relu6(_ x: Tensor) throws -> Tensor { try apply(Activation(.relu6), [x]) }
    public func sigmoid(_ x: Tensor) throws -> Tensor { try apply(Activation(.sigmoid), [x]) }
    public func gelu(_ x: Tensor) throws -> Tensor { try apply(Activation(.gelu), [x]) }
}
