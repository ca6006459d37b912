#if canImport(Glibc)
import Glibc
#endif

// MARK: - Softmax over one axis

/// y = exp(x - max) / sum(exp(x - max)) along `axis` (default: the last). The last axis uses the
/// C row kernel; another axis is walked with a stride in Swift. Backward reads y:
/// dx += y * (dy - sum(dy * y)).
public final class Softmax: Op {
    public let axis: Int
    public var name: String { "softmax" }
    private var engine: OpaquePointer!
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var outer = 0, len = 0, inner = 0

    public init(axis: Int = -1) { self.axis = axis }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "softmax takes 1 input, got \(inputs.count)")
        _ = try normalizedAxis(axis, rank: inputs[0].count, op: "softmax of \(inputs[0])")
        return inputs[0]
    }

    public func bind(_ b: OpBinding) throws {
        engine = b.engine
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        let a = try normalizedAxis(axis, rank: b.outputShape.count, op: "softmax")
        (outer, len, inner) = splitAround(b.outputShape, axis: a)
    }

    // MARK: forward
    public func forward() {
        if inner == 1 { sega_softmax_fwd_mt(engine, outer, len, x, y); return }
        for o in 0..<outer {
            for j in 0..<inner {
                let xs = x + o * len * inner + j, ys = y + o * len * inner + j
                var m = -Float.infinity
                for i in 0..<len { m = max(m, xs[i * inner]) }
                var s: Float = 0
                for i in 0..<len { let e = expf(xs[i * inner] - m); ys[i * inner] = e; s += e }
                let r = 1 / s
                for i in 0..<len { ys[i * inner] *= r }
            }
        }
    }

    // MARK: memory planning
    /// Backward reads y, not x.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        ([false], gradsNeeded[0])
    }

    // MARK: backward
    public func backward() {
        guard let dx, let dy else { return }
        if inner == 1 { sega_softmax_bwd(outer, len, y, dy, dx); return }
        for o in 0..<outer {
            for j in 0..<inner {
                let base = o * len * inner + j
                var s: Float = 0
                for i in 0..<len { s += dy[base + i * inner] * y[base + i * inner] }
                for i in 0..<len {
                    let k = base + i * inner
                    dx[k] += y[k] * (dy[k] - s)
                }
            }
        }
    }
}

extension Graph {
    /// Softmax along `axis` (negative counts from the end).
    public func softmax(_ x: Tensor, axis: Int = -1) throws -> Tensor { try apply(Softmax(axis: axis), [x]) }
}
