// MARK: - Op protocol

/// What an op gets at plan time: every pointer it will ever touch. `forward()` and
/// `backward()` then run with no arguments and must not allocate.
public struct OpBinding {
    public let engine: OpaquePointer
    public let threads: Int
    public let inputs: [UnsafeMutablePointer<Float>]
    public let inputShapes: [[Int]]
    public let output: UnsafeMutablePointer<Float>
    public let outputShape: [Int]
    /// Gradient buffers of the inputs; nil where no gradient is needed. Backward ACCUMULATES.
    public let inputGrads: [UnsafeMutablePointer<Float>?]
    /// Gradient of the output (nil if the op is not on a gradient path).
    public let outputGrad: UnsafeMutablePointer<Float>?
    /// Scratch of `workspaceBytes` bytes, valid only during one forward() or backward() call of
    /// this op (the plan may reuse it for other tensors in between, or share it between ops).
    public let workspace: UnsafeMutableRawPointer
    /// Per-op memory kept from forward to backward (`savedBytes` of them).
    public let saved: UnsafeMutableRawPointer
    /// Per-op memory kept for the plan's whole life (`preparedBytes` of them), e.g. weights
    /// transformed once by `bind()`.
    public let prepared: UnsafeMutableRawPointer
    /// Whether input i is a constant (weights): its data is fixed after planning.
    public let inputIsConstant: [Bool]
    /// Input i's gradient buffer is not zeroed before this op's backward (the op is its first
    /// writer and said it can overwrite it, `overwritesInputGradient`): backward must then
    /// write every element of `inputGrads[i]` instead of accumulating. False for every input
    /// of an op that did not say so.
    public let inputGradOverwrite: [Bool]
}

/// A node's computation: shape inference, memory needs, forward, and backward-to-input.
/// One op per file, forward and backward side by side.
public protocol Op: AnyObject {
    var name: String { get }
    /// Output shape from the input shapes; throws `.shapeMismatch` with a message naming the op.
    func outputShape(_ inputs: [[Int]]) throws -> [Int]
    /// Scratch bytes the op needs during forward or backward.
    func workspaceBytes(_ inputs: [[Int]], output: [Int]) -> Int
    /// The same for a plan whose engine runs `threads` threads (ops with per-thread scratch).
    /// Default: `workspaceBytes(inputs, output:)`.
    func workspaceBytes(_ inputs: [[Int]], output: [Int], threads: Int) -> Int
    /// Bytes the op keeps for the plan's whole life (`OpBinding.prepared`), given whether the
    /// plan runs its backward (`withGradient`). Default: 0.
    func preparedBytes(_ inputs: [[Int]], output: [Int], withGradient: Bool) -> Int
    /// Bytes the op keeps between forward and backward (e.g. argmax indices).
    func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int
    /// Capture the pointers; may precompute (pack weights) from constant inputs.
    func bind(_ b: OpBinding) throws
    func forward()
    /// Accumulate input gradients from the output gradient.
    func backward()
    /// Which of its inputs, and whether its output, `backward()` dereferences, given which inputs
    /// get a gradient (`gradsNeeded[i]`: `inputGrads[i]` is non-nil). The output gradient, the
    /// input gradients, the saved memory and the workspace are always available and are not
    /// part of the answer. The plan frees (reuses) an activation once no later step reads it,
    /// so answering `false` for a buffer that backward does read corrupts gradients.
    /// Default: every input and the output (always safe).
    func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool)
    /// Whether `bind()` writes the saved memory (e.g. constants precomputed once), so it must keep
    /// its contents for the plan's whole life. If false, forward() fills it and only the op's
    /// backward() reads it afterwards. Default: true (always safe).
    var savedFilledAtBind: Bool { get }
    /// Whether backward() can overwrite input k's gradient instead of accumulating into it, for
    /// these shapes: it then writes every element, with the bits an accumulation into a zeroed
    /// buffer would leave (`+0`, never `-0`, where the contribution is zero). When this op is
    /// the first writer of that gradient, the plan skips zeroing it and sets
    /// `OpBinding.inputGradOverwrite[k]`. Default: false (always safe).
    func overwritesInputGradient(_ k: Int, inputs: [[Int]], output: [Int]) -> Bool
    /// Whether the output is input 0's elements in the same row-major order (a view, e.g.
    /// reshape). The plan then gives the output input 0's buffer (`OpBinding.output ==
    /// inputs[0]`: forward must not copy), and, when this op is the only consumer of input 0 on
    /// a gradient path and input 0 is not an output, the output gradient input 0's gradient
    /// buffer (`outputGrad == inputGrads[0]`: backward must not add). Default: false.
    var outputAliasesInput: Bool { get }
}

extension Op {
    public func workspaceBytes(_ inputs: [[Int]], output: [Int]) -> Int { 0 }
    public func workspaceBytes(_ inputs: [[Int]], output: [Int], threads: Int) -> Int { workspaceBytes(inputs, output: output) }
    public func preparedBytes(_ inputs: [[Int]], output: [Int], withGradient: Bool) -> Int { 0 }
    public func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int { 0 }
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        ([Bool](repeating: true, count: inputs.count), true)
    }
    public var savedFilledAtBind: Bool { true }
    public func overwritesInputGradient(_ k: Int, inputs: [[Int]], output: [Int]) -> Bool { false }
    public var outputAliasesInput: Bool { false }
}

/// `backwardReads` answer: nothing but the gradients (and saved state/workspace).
@inlinable
public func readsNothing(_ inputs: [[Int]]) -> (inputs: [Bool], output: Bool) {
    ([Bool](repeating: false, count: inputs.count), false)
}

/// Shape-check helper: throw `.shapeMismatch` unless `cond` holds.
@inlinable
public func require(_ cond: Bool, _ message: @autoclosure () -> String) throws {
    if !cond { throw EngineError(.shapeMismatch, message()) }
}

/// Product of a shape (after validation, so no checks).
@inlinable @inline(__always)
public func product(_ s: [Int]) -> Int { s.reduce(1, *) }
