// MARK: - Sum / mean over axes

/// Sum or mean of x over `axes` (keepdim keeps them as size 1). Forward walks x in order and adds
/// into a double accumulator per output element (workspace), so large spatial means stay
/// accurate; backward broadcasts dy (times 1/count for the mean) back over the reduced axes.
/// Reducing every axis without keepDims gives shape [1] (PyTorch gives a rank-0 tensor).
public final class Reduce: Op {
    public enum Kind: String { case sum, mean }
    public let kind: Kind, axes: [Int], keepDims: Bool
    public var name: String { kind.rawValue }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var acc: UnsafeMutablePointer<Double>!
    private var loop: StridedLoop!
    private var outCount = 0, scale: Float = 1

    /// `axes` may be negative; an empty list reduces every axis.
    public init(_ kind: Kind, axes: [Int], keepDims: Bool) {
        self.kind = kind; self.axes = axes; self.keepDims = keepDims
    }

    private func reduced(_ s: [Int]) throws -> [Bool] {
        var r = [Bool](repeating: axes.isEmpty, count: s.count)
        for a in axes {
            let n = try normalizedAxis(a, rank: s.count, op: "\(name) of \(s)")
            try require(!r[n] || axes.isEmpty, "\(name) of \(s): axis \(a) listed twice in \(axes)")
            r[n] = true
        }
        return r
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "\(name) takes 1 input, got \(inputs.count)")
        let s = inputs[0], r = try reduced(s)
        var out: [Int] = []
        for d in 0..<s.count {
            if !r[d] { out.append(s[d]) } else if keepDims { out.append(1) }
        }
        return out.isEmpty ? [1] : out
    }

    public func workspaceBytes(_ inputs: [[Int]], output: [Int]) -> Int { 8 * product(output) }

    public func bind(_ b: OpBinding) throws {
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        let s = b.inputShapes[0], r = try reduced(s)
        let kept = (0..<s.count).map { r[$0] ? 1 : s[$0] }
        let ys = TensorView.contiguousStrides(kept).enumerated().map { r[$0.offset] ? 0 : $0.element }
        loop = StridedLoop(shape: s, strides: [TensorView.contiguousStrides(s), ys])
        outCount = product(b.outputShape)
        scale = kind == .mean ? Float(Double(outCount) / Double(product(s))) : 1
        acc = b.workspace.bindMemory(to: Double.self, capacity: outCount)
    }

    // MARK: forward
    public func forward() {
        let L = loop!, n = L.inner, sx = L.s0, sy = L.s1
        for i in 0..<outCount { acc[i] = 0 }
        var ox = 0, oy = 0, unused = 0
        L.reset()
        for _ in 0..<L.rows {
            if sy == 0 {
                var s: Double = 0
                for k in 0..<n { s += Double(x[ox + k * sx]) }
                acc[oy] += s
            } else {
                for k in 0..<n { acc[oy + k * sy] += Double(x[ox + k * sx]) }
            }
            L.advance(&ox, &oy, &unused)
        }
        let c = Double(scale)
        for i in 0..<outCount { y[i] = Float(acc[i] * c) }
    }

    // MARK: memory planning
    /// Backward broadcasts dy only.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        readsNothing(inputs)
    }

    // MARK: backward
    public func backward() {
        guard let dx, let dy else { return }
        let L = loop!, n = L.inner, sx = L.s0, sy = L.s1, c = scale
        var ox = 0, oy = 0, unused = 0
        L.reset()
        for _ in 0..<L.rows {
            for k in 0..<n { dx[ox + k * sx] += c * dy[oy + k * sy] }
            L.advance(&ox, &oy, &unused)
        }
    }
}

extension Graph {
    /// Sum over `axes` (empty = all).
    public func sum(_ x: Tensor, axes: [Int] = [], keepDims: Bool = false) throws -> Tensor {
        try apply(Reduce(.sum, axes: axes, keepDims: keepDims), [x])
    }
    /// Mean over `axes` (empty = all).
    public func mean(_ x: Tensor, axes: [Int] = [], keepDims: Bool = false) throws -> Tensor {
        try apply(Reduce(.mean, axes: axes, keepDims: keepDims), [x])
    }
}
