// MARK: - Adaptive average pooling (NCHW)

/// PyTorch's `adaptive_avg_pool2d` to a fixed (oh, ow): output cell (i, j) averages rows
/// [floor(i*H/oh), ceil((i+1)*H/oh)) and columns [floor(j*W/ow), ceil((j+1)*W/ow)), so bins may
/// overlap when the sizes do not divide. Cheap enough to run in Swift over the N*C planes (bin
/// bounds are recomputed with integer arithmetic; nothing is allocated).
/// Backward: dx[bin] += dy / |bin|.
public final class AdaptiveAvgPool2d: Op {
    public let outSize: (h: Int, w: Int)
    public var name: String { "adaptive_avg_pool2d" }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var planes = 0, h = 0, w = 0, oh = 0, ow = 0

    public init(_ outSize: (Int, Int)) { self.outSize = (outSize.0, outSize.1) }

    // MARK: shapes

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try spatialOutputShape(inputs, size: outSize, op: name)
    }

    // MARK: bind

    public func bind(_ b: OpBinding) throws {
        let xs = b.inputShapes[0]
        planes = xs[0] * xs[1]; h = xs[2]; w = xs[3]; oh = outSize.h; ow = outSize.w
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
    }

    /// Bin [start, end) of output index i along an axis of length `len` pooled to `out`.
    @inline(__always)
    private static func bin(_ i: Int, _ len: Int, _ out: Int) -> (Int, Int) {
        ((i * len) / out, ((i + 1) * len + out - 1) / out)
    }

    /// body(input offset of the plane, output index, bin rows, bin columns) for every output cell
    /// of every plane, in order.
    @inline(__always)
    private func forEachBin(_ body: (Int, Int, Range<Int>, Range<Int>) -> Void) {
        for p in 0..<planes {
            for i in 0..<oh {
                let (r0, r1) = Self.bin(i, h, oh)
                for j in 0..<ow {
                    let (c0, c1) = Self.bin(j, w, ow)
                    body(p * h * w, p * oh * ow + i * ow + j, r0..<r1, c0..<c1)
                }
            }
        }
    }

    // MARK: forward

    public func forward() {
        forEachBin { base, o, rows, cols in
            var s: Float = 0
            for r in rows { for c in cols { s += x[base + r * w + c] } }
            y[o] = s / Float(rows.count * cols.count)
        }
    }

    // MARK: memory planning
    /// Backward spreads dy only.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        readsNothing(inputs)
    }

    // MARK: backward

    public func backward() {
        guard let dx, let dy else { return }
        forEachBin { base, o, rows, cols in
            let v = dy[o] / Float(rows.count * cols.count)
            for r in rows { for c in cols { dx[base + r * w + c] += v } }
        }
    }
}

extension Graph {
    /// PyTorch's adaptive_avg_pool2d to (oh, ow).
    public func adaptiveAvgPool2d(_ x: Tensor, _ size: (Int, Int)) throws -> Tensor {
        try apply(AdaptiveAvgPool2d(size), [x])
    }
}
