// MARK: - Bilinear resize (NCHW)

/// PyTorch's `F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=...)` without
/// antialiasing: x [N, C, H, W] -> [N, C, oh, ow]. Every plane is independent, so the batch goes
/// to `sega_bilinear_fwd` as one stack of N*C planes; the backward kernel accumulates into dx.
/// Used to bring an image to a model's input size inside the differentiable graph.
public final class ResizeBilinear: Op {
    public let size: (h: Int, w: Int)
    public let alignCorners: Bool
    public var name: String { "resize_bilinear" }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var planes = 0
    private var h: Int32 = 0, w: Int32 = 0, oh: Int32 = 0, ow: Int32 = 0

    public init(size: (Int, Int), alignCorners: Bool) {
        self.size = (size.0, size.1)
        self.alignCorners = alignCorners
    }

    // MARK: shapes

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let out = try spatialOutputShape(inputs, size: size, op: name)
        let xs = inputs[0]
        guard xs[2] <= Int(Int32.max), xs[3] <= Int(Int32.max), size.h <= Int(Int32.max), size.w <= Int(Int32.max) else {
            throw EngineError(.overflow, "\(name): sizes \(xs) -> \(size) too large for the kernel")
        }
        return out
    }

    // MARK: bind

    public func bind(_ b: OpBinding) throws {
        let xs = b.inputShapes[0]
        planes = xs[0] * xs[1]
        h = Int32(xs[2]); w = Int32(xs[3]); oh = Int32(size.h); ow = Int32(size.w)
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
    }

    // MARK: forward

    public func forward() {
        sega_bilinear_fwd(planes, h, w, oh, ow, alignCorners ? 1 : 0, x, y)
    }

    // MARK: memory planning
    /// Backward scatters dy only.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        readsNothing(inputs)
    }

    // MARK: backward

    public func backward() {
        guard let dx, let dy else { return }
        sega_bilinear_bwd(planes, h, w, oh, ow, alignCorners ? 1 : 0, dy, dx)
    }
}

extension Graph {
    /// Bilinear resize to (oh, ow), PyTorch's F.interpolate(mode="bilinear").
    public func resizeBilinear(_ x: Tensor, size: (Int, Int), alignCorners: Bool = false) throws -> Tensor {
        try apply(ResizeBilinear(size: size, alignCorners: alignCorners), [x])
    }
}
