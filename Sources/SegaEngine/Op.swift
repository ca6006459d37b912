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
    /// Scratch shared by all ops (valid only during one forward/backward call).
    public let workspace: UnsafeMutableRawPointer
    /// Per-op memory kept from forward to backward (`savedBytes` of them).
    public let saved: UnsafeMutableRawPointer
    /// Whether input i is a constant (weights): its data is fixed after planning.
    public let inputIsConstant: [Bool]
}

/// A node's computation: shape inference, memory needs, forward, and backward-to-input.
/// One op per file, forward and backward side by side.
public protocol Op: AnyObject {
    var name: String { get }
    /// Output shape from the input shapes; throws `.shapeMismatch` with a message naming the op.
    func outputShape(_ inputs: [[Int]]) throws -> [Int]
    /// Scratch bytes the op needs during forward or backward.
    func workspaceBytes(_ inputs: [[Int]], output: [Int]) -> Int
    /// Bytes the op keeps between forward and backward (e.g. argmax indices).
    func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int
    /// Capture the pointers; may precompute (pack weights) from constant inputs.
    func bind(_ b: OpBinding) throws
    func forward()
    /// Accumulate input gradients from the output gradient.
    func backward()
}

extension Op {
    public func workspaceBytes(_ inputs: [[Int]], output: [Int]) -> Int { 0 }
    public func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int { 0 }
}

/// Shape-check helper: throw `.shapeMismatch` unless `cond` holds.
@inlinable
public func require(_ cond: Bool, _ message: @autoclosure () -> String) throws {
    if !cond { throw EngineError(.shapeMismatch, message()) }
}

/// Product of a shape (after validation, so no checks).
@inlinable @inline(__always)
public func product(_ s: [Int]) -> Int { s.reduce(1, *) }
