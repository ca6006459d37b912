// MARK: - 2-D max and average pooling (NCHW)

/// PyTorch's `max_pool2d` / `avg_pool2d`. Pooling is per plane, so the whole batch is handed to
/// the C kernels as one stack of N*C planes, split by planes over the engine's threads.
/// - max: kernel, stride, padding (counts as -inf), dilation, ceil_mode. The forward saves the
///   winner of every window (Int32 flat index in its plane; first in scan order on ties) and the
///   backward scatter-adds dy through it.
/// - avg: kernel, stride, padding, ceil_mode, count_include_pad. The backward kernel overwrites,
///   so it writes into the workspace and the result is accumulated into dx.
public final class Pool2d: BackwardFromSavedState {
    public enum Kind: String, Sendable { case max = "maxpool2d", avg = "avgpool2d" }
    public let kind: Kind
    public let kernel: (h: Int, w: Int), stride: (h: Int, w: Int), padding: (h: Int, w: Int), dilation: (h: Int, w: Int)
    public let ceilMode: Bool
    public let countIncludePad: Bool
    public var name: String { kind.rawValue }

    private var geom = sega_conv_geom()
    private var engine: OpaquePointer!
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var argmax: UnsafeMutablePointer<Int32>!
    private var ws: UnsafeMutablePointer<Float>!

    /// Max pooling; `stride` nil means stride = kernel (PyTorch's default).
    public init(max kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) {
        kind = .max
        self.kernel = (kernel.0, kernel.1); self.stride = stride.map { ($0.0, $0.1) } ?? (kernel.0, kernel.1)
        self.padding = (padding.0, padding.1); self.dilation = (dilation.0, dilation.1)
        self.ceilMode = ceilMode; countIncludePad = false
    }

    /// Average pooling; `stride` nil means stride = kernel.
    public init(avg kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                ceilMode: Bool = false, countIncludePad: Bool = true) {
        kind = .avg
        self.kernel = (kernel.0, kernel.1); self.stride = stride.map { ($0.0, $0.1) } ?? (kernel.0, kernel.1)
        self.padding = (padding.0, padding.1); dilation = (1, 1)
        self.ceilMode = ceilMode; self.countIncludePad = countIncludePad
    }

    // MARK: shapes

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "\(name) takes 1 input, got \(inputs.count)")
        let xs = inputs[0]
        try require(xs.count == 4, "\(name): x must be [N, C, H, W], got \(xs)")
        guard kernel.h >= 1, kernel.w >= 1, stride.h >= 1, stride.w >= 1, dilation.h >= 1, dilation.w >= 1,
              padding.h >= 0, padding.w >= 0 else {
            throw EngineError(.invalidArgument, "\(name): kernel \(kernel), stride \(stride), dilation \(dilation) must be >= 1 and padding \(padding) >= 0")
        }
        // PyTorch's rule: padding at most half the (effective) kernel, so no window is all padding.
        let effH = dilation.h * (kernel.h - 1) + 1, effW = dilation.w * (kernel.w - 1) + 1
        let limH = kind == .max ? effH / 2 : kernel.h / 2, limW = kind == .max ? effW / 2 : kernel.w / 2
        guard padding.h <= limH, padding.w <= limW else {
            throw EngineError(.invalidArgument, "\(name): padding \(padding) must be at most half the kernel \(kernel)")
        }
        try require(xs[2] + 2 * padding.h >= effH && xs[3] + 2 * padding.w >= effW,
                    "\(name): kernel \(kernel) (dilation \(dilation)) is larger than the padded input \(xs) with padding \(padding)")
        guard product(xs) <= Int(Int32.max) else {   // the batch is one plane stack for the kernels
            throw EngineError(.overflow, "\(name): x \(xs) is too large for 32-bit kernel indexing")
        }
        let oh = Int(sega_pool_out_size(Int32(xs[2]), Int32(kernel.h), Int32(stride.h), Int32(padding.h), Int32(dilation.h), ceilMode ? 1 : 0))
        let ow = Int(sega_pool_out_size(Int32(xs[3]), Int32(kernel.w), Int32(stride.w), Int32(padding.w), Int32(dilation.w), ceilMode ? 1 : 0))
        try require(oh >= 1 && ow >= 1, "\(name): empty output for x \(xs), kernel \(kernel), stride \(stride), padding \(padding)")
        return [xs[0], xs[1], oh, ow]
    }

    public func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int { kind == .max ? product(output) * 4 : 0 }

    public func workspaceBytes(_ inputs: [[Int]], output: [Int]) -> Int { kind == .avg ? product(inputs[0]) * 4 : 0 }

    // MARK: bind

    public func bind(_ b: OpBinding) throws {
        let xs = b.inputShapes[0], os = b.outputShape
        geom = sega_conv_geom(c: Int32(xs[0] * xs[1]), h: Int32(xs[2]), w: Int32(xs[3]), kh: Int32(kernel.h), kw: Int32(kernel.w),
                              sh: Int32(stride.h), sw: Int32(stride.w), pad_t: Int32(padding.h), pad_l: Int32(padding.w),
                              dh: Int32(dilation.h), dw: Int32(dilation.w), oh: Int32(os[2]), ow: Int32(os[3]))
        try EngineError.check(sega_conv_geom_check(&geom), "\(name): x \(xs)")
        engine = b.engine
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        argmax = kind == .max ? b.saved.bindMemory(to: Int32.self, capacity: product(os)) : nil
        ws = b.workspace.assumingMemoryBound(to: Float.self)
    }

    // MARK: forward

    public func forward() {
        var g = geom
        switch kind {
        case .max: sega_maxpool_fwd(engine, &g, x, y, argmax)
        case .avg: sega_avgpool_fwd(engine, &g, Int32(padding.h), Int32(padding.w), countIncludePad ? 1 : 0, x, y)
        }
    }

    // MARK: memory planning
    // BackwardFromSavedState: max scatters dy through the argmax forward saved; avg spreads dy.

    // MARK: backward

    public func backward() {
        guard let dx, let dy else { return }
        var g = geom
        switch kind {
        case .max:   // scatter-add through the saved winners (accumulates, unlike sega_maxpool_bwd)
            sega_maxpool_bwd_acc(engine, &g, dy, argmax, dx)
        case .avg:
            sega_avgpool_bwd_acc(engine, &g, Int32(padding.h), Int32(padding.w), countIncludePad ? 1 : 0, dy, ws, dx)
        }
    }
}

extension Graph {
    /// PyTorch's max_pool2d; `stride` defaults to the kernel.
    public func maxPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                          dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) throws -> Tensor {
        try apply(Pool2d(max: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode), [x])
    }

    /// PyTorch's avg_pool2d; `stride` defaults to the kernel.
    public func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                          ceilMode: Bool = false, countIncludePad: Bool = true) throws -> Tensor {
        try apply(Pool2d(avg: kernel, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad), [x])
    }
}
