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
        try require(inputs.count == 1, "\(name) takes 1 input, got \(inputs.count)")
        let xs = inputs[0]
        try require(xs.count == 4, "\(name): x must be [N, C, H, W], got \(xs)")
        guard outSize.h >= 1, outSize.w >= 1 else {
            throw EngineError(.invalidArgument, "\(name): output size \(outSize) must be >= 1")
        }
        return [xs[0], xs[1], outSize.h, outSize.w]
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

    // MARK: forward

    public func forward() {
        for p in 0..<planes {
            let src = x + p * h * w, dst = y + p * oh * ow
            for i in 0..<oh {
                let (r0, r1) = Self.bin(i, h, oh)
                for j in 0..<ow {
                    let (c0, c1) = Self.bin(j, w, ow)
                    var s: Float = 0
                    for r in r0..<r1 { for c in c0..<c1 { s += src[r * w + c] } }
                    dst[i * ow + j] = s / Float((r1 - r0) * (c1 - c0))
                }
            }
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
        for p in 0..<planes {
            let g = dx + p * h * w, d = dy + p * oh * ow
            for i in 0..<oh {
                let (r0, r1) = Self.bin(i, h, oh)
                for j in 0..<ow {
                    let (c0, c1) = Self.bin(j, w, ow)
                    let v = d[i * ow + j] / Float((r1 - r0) * (c1 - c0))
                    for r in r0..<r1 { for c in c0..<c1 { g[r * w + c] += v } }
                }
            }
        }
    }
}

extension Graph {
    /// PyTorch's adaptive_avg_pool2d to (oh, ow).
    public func adaptiveAvgPool2d(_ x: Tensor, _ size: (Int, Int)) throws -> Tensor {
        try apply(AdaptiveAvgPool2d(size), [x])
    }
}
