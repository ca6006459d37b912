// MARK: - 2-D convolution (NCHW): general grouped path, 1x1 fast path, depthwise path, Winograd path

/// y = conv(x, weight) + bias, with PyTorch's cross-correlation semantics.
///
/// Inputs: x [N, Cin, H, W], weight [Cout, Cin/groups, kh, kw], optional bias [Cout].
/// Three execution paths are chosen at bind time:
/// - depthwise (groups == Cin == Cout): direct `sega_dwconv_*` kernels, no im2col;
/// - pointwise (1x1 kernel, stride 1, no padding): the input plane stack *is* the im2col
///   matrix, so each group is a single SGEMM straight from x;
/// - winograd (dense 3x3, stride 1, dilation 1, padding 1 on every side, when `winogradPays`):
///   `sega_wino_conv`, F(4x4, 3x3) on maps from 12x12 up with at most 256x256 channels, else
///   F(2x2, 3x3) (`sega_wino_tile`). Its weights are transformed and packed once at bind, into
///   the plan's prepared memory (weights that are plan inputs rather than constants: by each
///   forward, and backward reuses them); the input gradient is the same kind of convolution of
///   dy with the kernels rotated (its own packed set). The weight gradient, when asked for,
///   takes the general path's im2col bands.
/// - general: per image and group, im2col into the workspace, then SGEMM. The column matrix is
///   built for a band of output rows at a time (`im2colCapBytes`), so the workspace stays a few
///   MB instead of K x OH*OW floats; splitting the GEMM over N leaves every output's K-sum as it
///   was, so results do not depend on the band size.
/// Backward to the input mirrors these (W^T * dy, then col2im accumulates into dx). The bands are
/// walked bottom-up there: an input pixel's contributions then arrive in the same (ki, kj) order
/// as with one whole-image col2im, so dx is bit-identical whatever the band size too.
/// Weight and bias gradients are computed too when asked for (W grad = dy * col^T; with several
/// bands the sum over pixels is split by band, so dW may differ from the one-band result in the
/// last bits).
///
/// Fused activation (`activation` relu / relu6): y = act(conv(x) + b), with exactly the bytes of
/// a separate relu op after the conv. The GEMM paths apply it tile by tile in the SGEMM epilogue
/// (bias too: each tile starts from it), the depthwise path to each plane right after computing
/// it (one dispatch over the batch's planes); the derivative
/// mask is saved (1 byte per output), and the backward applies it while packing dy for the
/// SGEMMs (B of the input gradient, A of the weight gradient), in the bias gradient's sums, and,
/// on the depthwise path, as each plane of dy is read (the input gradient is one dispatch over
/// the batch's planes too; the weight gradient masks into the workspace image by image); dy
/// itself is never changed. The
/// pointwise path runs all images of a batch as one SGEMM (column blocks).
public final class Conv2d: Op {
    /// An activation applied to the convolution's output inside the op.
    public enum Activation: Equatable, Sendable {
        case none, relu, relu6
        var code: Int32 {
            switch self {
            case .none: return Int32(SEGA_ACT_NONE.rawValue)
            case .relu: return Int32(SEGA_ACT_RELU.rawValue)
            case .relu6: return Int32(SEGA_ACT_RELU6.rawValue)
            }
        }
    }
    /// How the input is padded.
    public enum Padding: Equatable, Sendable {
        /// PyTorch's `padding=(ph, pw)`: the same amount on both sides.
        case symmetric(Int, Int)
        /// Explicit zero padding on each side (e.g. an ONNX `pads` attribute).
        case explicit(top: Int, left: Int, bottom: Int, right: Int)
        /// TensorFlow's SAME: output = ceil(in / stride); the odd extra pixel goes bottom/right.
        case same
    }

    public let stride: (h: Int, w: Int)
    public let padding: Padding
    public let dilation: (h: Int, w: Int)
    public let groups: Int
    public let activation: Activation
    public var name: String { activation == .none ? "conv2d" : "conv2d+\(activation == .relu ? "relu" : "relu6")" }

    private enum Path { case general, pointwise, depthwise, winograd }
    private var path = Path.general
    private var geom = sega_conv_geom()
    private var engine: OpaquePointer!
    private var x: UnsafeMutablePointer<Float>!, w: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var bias: UnsafeMutablePointer<Float>?
    private var dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?
    private var dy: UnsafeMutablePointer<Float>?
    /// dx is not zeroed before backward (this op is its first writer): overwrite it.
    private var dxOverwrite = false
    private var ws: UnsafeMutablePointer<Float>!
    /// Fused activation: its derivative mask (saved; nil when the op has no backward).
    private var mask: UnsafeMutablePointer<UInt8>?
    // Sizes, all precomputed at bind.
    private var n = 0, cout = 0, cinG = 0, coutG = 0, kdim = 0, hw = 0, ohw = 0
    private var inImage = 0, outImage = 0
    /// General path: output rows per im2col band, and the input width.
    private var bandRows = 0, inW = 0
    /// Winograd path: the packed weights (forward, input gradient; nil: not planned), whether
    /// forward must pack them (the weight is not a constant), and the workspace's thread slots.
    private var winoFwd: UnsafeMutablePointer<Float>?, winoBwd: UnsafeMutablePointer<Float>?
    private var winoRepack = false, winoSlots = 1, winoTile: Int32 = 2
    /// GEMM paths with few columns per call (`packColumns`): each group's W_g (forward) and W_g^T
    /// (input gradient; nil: not planned) packed once as the SGEMM's A operand
    /// (`sega_gemm_pack_a`, group g at `g * packStride`), or by each forward when the weight is
    /// not a constant; nil: packed by every SGEMM call as before.
    private var packFwd: UnsafeMutablePointer<Float>?, packBwd: UnsafeMutablePointer<Float>?
    private var packFwdStride = 0, packBwdStride = 0, packRepack = false
    /// The forward calls' column count the packing's micro-kernel is chosen for (`gemmColumns`).
    private var packColumnsHint = 0

    /// Columns per SGEMM call up to which the GEMM paths pack their weights once: on small maps
    /// each weight is used by few columns, so packing it on every call costs a larger share.
    /// Tests set it (0: never; the results are the same bytes either way).
    nonisolated(unsafe) public static var packColumns = 4096

    /// Which eligible convolutions (dense 3x3, stride 1, padding 1) take the Winograd path:
    /// `.auto` those `winogradPays` accepts, `.always` all, `.never` none. Tests set it.
    public enum WinogradPolicy: Sendable { case auto, always, never }
    nonisolated(unsafe) public static var winogradPolicy = WinogradPolicy.auto

    /// Whether a cin -> cout convolution on h x w maps takes the Winograd path. Measured (1
    /// thread, AVX-512 Zen 4, docs/benchmarks.md) it took 0.27-0.68x the time of im2col + SGEMM
    /// on every shape tried with 64-512 channels, 7x7 to 192x256 maps. Maps below 14x14 with
    /// fewer than 128 channels still stay on im2col (64 -> 128 on 7x7 took 0.48-0.58x, but little
    /// time goes there, and this keeps the shipped sources' one such layer, hyperiqa_lite0's 7x7
    /// hypernetwork convolutions, and so the attack's bytes, exactly as they were).
    public static func winogradPays(cin: Int, cout: Int, h: Int, w: Int) -> Bool {
        let c = min(cin, cout)
        return c >= 128 || (c >= 64 && h * w >= 14 * 14)
    }

    /// Target size of the general path's im2col workspace (one band of output rows); a band is
    /// at least one output row, so the workspace is max(cap, K * OW * 4) bytes rounded down to
    /// whole rows. Tests shrink it to force many bands.
    nonisolated(unsafe) static var im2colCapBytes = 8 << 20

    /// Output rows per im2col band for a K x OW-per-row column matrix with `oh` rows.
    static func bandRows(kdim: Int, ow: Int, oh: Int) -> Int {
        let rowBytes = kdim * ow * 4
        return min(oh, max(1, im2colCapBytes / max(rowBytes, 1)))
    }

    public init(stride: (Int, Int) = (1, 1), padding: Padding = .symmetric(0, 0),
                dilation: (Int, Int) = (1, 1), groups: Int = 1, activation: Activation = .none) {
        self.stride = (stride.0, stride.1)
        self.padding = padding
        self.dilation = (dilation.0, dilation.1)
        self.groups = groups
        self.activation = activation
    }

    /// The fused activation's mask: one byte per output, written by forward.
    public func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int { activation == .none ? 0 : product(output) }
    public var savedFilledAtBind: Bool { false }

    // MARK: shapes

    /// Top/left padding and output size along one axis.
    private func axis(_ inSize: Int, k: Int, s: Int, d: Int, axisIndex: Int) throws -> (pad: Int, out: Int) {
        let span = d * (k - 1) + 1
        var before = 0, after = 0
        switch padding {
        case .symmetric(let ph, let pw): before = axisIndex == 0 ? ph : pw; after = before
        case .explicit(let t, let l, let b, let r): before = axisIndex == 0 ? t : l; after = axisIndex == 0 ? b : r
        case .same:
            let out = (inSize + s - 1) / s
            let total = max((out - 1) * s + span - inSize, 0)
            return (total / 2, out)
        }
        guard before >= 0, after >= 0 else {
            throw EngineError(.invalidArgument, "conv2d: padding must be >= 0, got \(padding)")
        }
        let room = inSize + before + after - span
        try require(room >= 0, "conv2d: kernel extent \(span) (k=\(k), dilation=\(d)) is larger than the padded input \(inSize + before + after) along \(axisIndex == 0 ? "H" : "W")")
        return (before, room / s + 1)
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        guard stride.h >= 1, stride.w >= 1, dilation.h >= 1, dilation.w >= 1, groups >= 1 else {
            throw EngineError(.invalidArgument, "conv2d: stride \(stride), dilation \(dilation) and groups \(groups) must be >= 1")
        }
        try require(inputs.count == 2 || inputs.count == 3, "conv2d takes x, weight and an optional bias, got \(inputs.count) inputs")
        let xs = inputs[0], wsh = inputs[1]
        try require(xs.count == 4, "conv2d: x must be [N, Cin, H, W], got \(xs)")
        try require(wsh.count == 4, "conv2d: weight must be [Cout, Cin/groups, kh, kw], got \(wsh)")
        let cin = xs[1], co = wsh[0]
        try require(cin % groups == 0 && co % groups == 0,
                     "conv2d: groups \(groups) must divide input channels \(cin) and output channels \(co) (x \(xs), weight \(wsh))")
        try require(wsh[1] == cin / groups,
                     "conv2d: weight \(wsh) expects \(wsh[1] * groups) input channels (groups \(groups)), x \(xs) has \(cin)")
        if inputs.count == 3 {
            try require(inputs[2] == [co], "conv2d: bias must be [\(co)], got \(inputs[2]) (weight \(wsh))")
        }
        let (_, oh) = try axis(xs[2], k: wsh[2], s: stride.h, d: dilation.h, axisIndex: 0)
        let (_, ow) = try axis(xs[3], k: wsh[3], s: stride.w, d: dilation.w, axisIndex: 1)
        // The C kernels index with int: the im2col matrix of one group must fit (this bounds
        // every GEMM size too, so opSgemm cannot fail: see Context.swift).
        let colCount = (cin / groups) * wsh[2] * wsh[3] * oh * ow
        // The pointwise path's one SGEMM over the batch has n * oh * ow columns.
        guard colCount <= Int(Int32.max), xs[1] * xs[2] * xs[3] <= Int(Int32.max), co * oh * ow <= Int(Int32.max),
              xs[0] * oh * ow <= Int(Int32.max) else {
            throw EngineError(.overflow, "conv2d: x \(xs) with weight \(wsh) is too large for 32-bit kernel indexing")
        }
        return [xs[0], co, oh, ow]
    }

    /// The path `bind` takes for these shapes.
    private func pathFor(_ inputs: [[Int]], output: [Int]) -> Path {
        let xs = inputs[0], wsh = inputs[1]
        if groups == xs[1] && wsh[0] == xs[1] { return .depthwise }
        if winogradEligible(xs, wsh, output: output) { return .winograd }
        if wsh[2] == 1, wsh[3] == 1, stride == (1, 1), output[2] == xs[2], output[3] == xs[3],
           let ph = try? axis(xs[2], k: 1, s: 1, d: 1, axisIndex: 0), ph.pad == 0,
           let pw = try? axis(xs[3], k: 1, s: 1, d: 1, axisIndex: 1), pw.pad == 0 {
            return .pointwise
        }
        return .general
    }

    /// Dense 3x3, stride 1, dilation 1, one pixel of padding on every side (the output is the
    /// input's size), and the policy (`winogradPays` for `.auto`) says yes.
    private func winogradEligible(_ xs: [Int], _ wsh: [Int], output: [Int]) -> Bool {
        guard groups == 1, wsh[2] == 3, wsh[3] == 3, stride == (1, 1), dilation == (1, 1),
              output[2] == xs[2], output[3] == xs[3],
              let ph = try? axis(xs[2], k: 3, s: 1, d: 1, axisIndex: 0), ph.pad == 1,
              let pw = try? axis(xs[3], k: 3, s: 1, d: 1, axisIndex: 1), pw.pad == 1 else { return false }
        switch Conv2d.winogradPolicy {
        case .never: return false
        case .always: return true
        case .auto: return Conv2d.winogradPays(cin: xs[1], cout: wsh[0], h: xs[2], w: xs[3])
        }
    }

    /// The pointwise path's dx is one SGEMM that can start from beta 0, the depthwise path's
    /// kernel and the Winograd path's output transform write every element of dx: all can
    /// overwrite x's gradient. (Their sums start from
    /// +0 and add products, so no element is -0: the bits of an accumulation into zeros.) The
    /// general path's col2im accumulates.
    public func overwritesInputGradient(_ k: Int, inputs: [[Int]], output: [Int]) -> Bool {
        k == 0 && pathFor(inputs, output: output) != .general
    }

    public func workspaceBytes(_ inputs: [[Int]], output: [Int]) -> Int {
        workspaceBytes(inputs, output: output, threads: 1)
    }

    /// Winograd: a block of tiles per thread, or the general path's band when the weight
    /// gradient is asked for (whichever is larger).
    public func workspaceBytes(_ inputs: [[Int]], output: [Int], threads: Int) -> Int {
        let xs = inputs[0], wsh = inputs[1]
        let cin = xs[1]
        switch pathFor(inputs, output: output) {
        case .winograd:
            let k = cin * 9, tile = Conv2d.winogradTile(xs, wsh)
            let band = k * Conv2d.bandRows(kdim: k, ow: output[3], oh: output[2]) * output[3] * 4
            return max(band, Int(sega_wino_ws_floats(tile, Int32(cin), Int32(wsh[0]), Int32(xs[3]), Int32(threads))) * 4)
        case .depthwise:   // a plane per thread block for the backward: c input planes (accumulating dx), + c
            // output planes with a fused activation (dy masked plane by plane; dW's image by image)
            return (cin * xs[2] * xs[3] + (activation == .none ? 0 : wsh[0] * output[2] * output[3])) * 4
        case .pointwise:   // x is the im2col matrix already, nothing to stage
            return 0
        case .general: break
        }
        // General: one band of the im2col matrix of one group (K x rows*OW).
        let k = (cin / groups) * wsh[2] * wsh[3]
        return k * Conv2d.bandRows(kdim: k, ow: output[3], oh: output[2]) * output[3] * 4
    }

    /// Winograd: the packed weights of the forward, and of the input gradient when there is a
    /// backward.
    public func preparedBytes(_ inputs: [[Int]], output: [Int], withGradient: Bool) -> Int {
        guard pathFor(inputs, output: output) == .winograd else {
            let f = packFloats(inputs, output: output)
            return groups * (f.fwd + (withGradient ? f.bwd : 0)) * 4
        }
        let cin = Int32(inputs[0][1]), cout = Int32(inputs[1][0]), tile = Conv2d.winogradTile(inputs[0], inputs[1])
        return (Int(sega_wino_weight_floats(tile, cout, cin)) + (withGradient ? Int(sega_wino_weight_floats(tile, cin, cout)) : 0)) * 4
    }

    /// Columns of the forward SGEMM calls on the GEMM paths (pointwise: a whole image's plane;
    /// general: one im2col band), nil on the other paths.
    private func gemmColumns(_ inputs: [[Int]], output: [Int]) -> Int? {
        switch pathFor(inputs, output: output) {
        case .pointwise: return output[2] * output[3]
        case .general:
            let k = (inputs[0][1] / groups) * inputs[1][2] * inputs[1][3]
            return min(Conv2d.bandRows(kdim: k, ow: output[3], oh: output[2]), output[2]) * output[3]
        case .depthwise, .winograd: return nil
        }
    }

    /// Floats of one group's packed W_g (forward) and W_g^T (input gradient), 0 when not packed.
    private func packFloats(_ inputs: [[Int]], output: [Int]) -> (fwd: Int, bwd: Int) {
        guard let cols = gemmColumns(inputs, output: output), cols <= Conv2d.packColumns else { return (0, 0) }
        let wsh = inputs[1], coutG = wsh[0] / groups, k = wsh[1] * wsh[2] * wsh[3]
        return (Int(sega_gemm_packed_a_floats_max(Int32(coutG), Int32(k))), Int(sega_gemm_packed_a_floats_max(Int32(k), Int32(coutG))))
    }

    /// The Winograd tile side for x and weight shapes (`sega_wino_tile`).
    static func winogradTile(_ xs: [Int], _ wsh: [Int]) -> Int32 {
        sega_wino_tile(Int32(xs[1]), Int32(wsh[0]), Int32(xs[2]), Int32(xs[3]))
    }

    // MARK: bind

    public func bind(_ b: OpBinding) throws {
        let xs = b.inputShapes[0], wsh = b.inputShapes[1]
        let (pt, oh) = try axis(xs[2], k: wsh[2], s: stride.h, d: dilation.h, axisIndex: 0)
        let (pl, ow) = try axis(xs[3], k: wsh[3], s: stride.w, d: dilation.w, axisIndex: 1)
        let cin = xs[1]
        n = xs[0]; cout = wsh[0]; cinG = cin / groups; coutG = cout / groups
        kdim = cinG * wsh[2] * wsh[3]
        hw = xs[2] * xs[3]; ohw = oh * ow
        inImage = cin * hw; outImage = cout * ohw
        geom = sega_conv_geom(c: Int32(groups == cin && cout == cin ? cin : cinG),
                              h: Int32(xs[2]), w: Int32(xs[3]), kh: Int32(wsh[2]), kw: Int32(wsh[3]),
                              sh: Int32(stride.h), sw: Int32(stride.w), pad_t: Int32(pt), pad_l: Int32(pl),
                              dh: Int32(dilation.h), dw: Int32(dilation.w), oh: Int32(oh), ow: Int32(ow))
        try EngineError.check(sega_conv_geom_check(&geom), "conv2d: x \(xs), weight \(wsh)")
        path = pathFor(b.inputShapes, output: b.outputShape)
        dxOverwrite = b.inputGradOverwrite[0]
        bandRows = Conv2d.bandRows(kdim: kdim, ow: ow, oh: oh)
        inW = xs[3]
        engine = b.engine
        (x, w, bias, y, dx, dw, db, dy) = xWeightBuffers(b)
        ws = b.workspace.assumingMemoryBound(to: Float.self)
        mask = activation != .none && dy != nil ? b.saved.bindMemory(to: UInt8.self, capacity: n * outImage) : nil
        if path == .winograd { bindWinograd(b) }
        let f = packFloats(b.inputShapes, output: b.outputShape)
        packFwd = nil; packBwd = nil
        if f.fwd > 0 {
            let withBwd = dy != nil && dx != nil   // then the plan has a backward: both sets are there
            let p = b.prepared.bindMemory(to: Float.self, capacity: groups * (f.fwd + (withBwd ? f.bwd : 0)))
            packFwd = p
            packBwd = withBwd ? p + groups * f.fwd : nil
            (packFwdStride, packBwdStride) = f
            packColumnsHint = gemmColumns(b.inputShapes, output: b.outputShape) ?? 0
            packRepack = !b.inputIsConstant[1]
            if !packRepack { packWeights() }
        }
    }

    /// Packs each group's W_g and, when the input gradient is planned, W_g^T (sega_gemm_pack_a),
    /// for the micro-kernel the engine picks for the first band's width (any other band runs the
    /// same one: the same bytes).
    private func packWeights() {
        let cols = packColumnsHint
        for gi in 0..<groups {
            let wg = w + gi * coutG * kdim
            if let p = packedW(gi) {
                let st = sega_gemm_pack_a(engine, 0, Int32(coutG), Int32(cols), Int32(kdim), wg, Int32(kdim), p)
                precondition(st == SEGA_OK, "sega_gemm_pack_a from conv2d: \(String(cString: sega_status_message(st)))")
            }
            if let p = packedWT(gi) {
                let st = sega_gemm_pack_a(engine, 1, Int32(kdim), Int32(cols), Int32(coutG), wg, Int32(kdim), p)
                precondition(st == SEGA_OK, "sega_gemm_pack_a from conv2d: \(String(cString: sega_status_message(st)))")
            }
        }
    }

    /// Group gi's packed W_g (forward) and W_g^T (input gradient), nil when not packed.
    @inline(__always) private func packedW(_ gi: Int) -> UnsafeMutablePointer<Float>? { packFwd.map { $0 + gi * packFwdStride } }
    @inline(__always) private func packedWT(_ gi: Int) -> UnsafeMutablePointer<Float>? { packBwd.map { $0 + gi * packBwdStride } }

    /// Points the packed weight sets into the prepared memory and packs them now if the weight
    /// is a constant (else forward packs them on every call).
    private func bindWinograd(_ b: OpBinding) {
        winoTile = Conv2d.winogradTile(b.inputShapes[0], b.inputShapes[1])
        let fwdFloats = Int(sega_wino_weight_floats(winoTile, Int32(cout), Int32(cinG)))
        let prepared = b.prepared.bindMemory(to: Float.self, capacity: fwdFloats)
        winoFwd = prepared
        winoBwd = dy != nil && dx != nil ? prepared + fwdFloats : nil
        winoSlots = b.threads
        winoRepack = !b.inputIsConstant[1]
        if !winoRepack { packWinograd() }
    }

    /// Transforms and packs the weights (both sets when the input gradient is planned).
    private func packWinograd() {
        let (ih, iw) = (Int32(geom.h), Int32(geom.w))
        if let f = winoFwd { sega_wino_pack_weights(engine, winoTile, Int32(n), ih, iw, Int32(cinG), Int32(cout), w, 0, f) }
        if let bw = winoBwd { sega_wino_pack_weights(engine, winoTile, Int32(n), ih, iw, Int32(cinG), Int32(cout), w, 1, bw) }
    }

    /// One Winograd convolution: k -> m channels from src (masked by srcMask) into dst.
    private func winograd(k: Int, m: Int, src: UnsafePointer<Float>, srcMask: UnsafePointer<UInt8>?,
                          packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?, act: Int32,
                          mask: UnsafeMutablePointer<UInt8>?, dst: UnsafeMutablePointer<Float>, accumulate: Bool) {
        var a = sega_wino_args(tile: winoTile, n: Int32(n), k: Int32(k), m: Int32(m), h: geom.h, w: geom.w, src: src, src_mask: srcMask,
                               packed: packed, bias: bias, act: act, mask: mask, dst: dst,
                               accumulate: accumulate ? 1 : 0, ws: ws, slots: Int32(winoSlots))
        let st = sega_wino_conv(engine, &a)
        precondition(st == SEGA_OK, "sega_wino_conv from conv2d: \(String(cString: sega_status_message(st)))")
    }

    // MARK: forward

    public func forward() {
        var g = geom
        switch path {
        case .depthwise:
            sega_dwconv_fwd_batch(engine, &g, Int32(n), x, w, bias, y, activation.code, mask)
        case .pointwise:
            if packRepack { packWeights() }
            pointwiseForward()
        case .general:
            if packRepack { packWeights() }
            for i in 0..<n { for gi in 0..<groups { generalForward(image: i, group: gi) } }
        case .winograd:
            if winoRepack { packWinograd() }
            winograd(k: cinG, m: cout, src: x, srcMask: nil, packed: winoFwd!, bias: bias, act: activation.code,
                     mask: mask, dst: y, accumulate: false)
        }
    }

    /// The SGEMM extension of one call: the bias a tile starts from, the fused activation and
    /// its mask (offsets `at` into y's layout), column blocks of `batch` images.
    @inline(__always)
    private func epilogue(bias b: UnsafePointer<Float>?, maskAt at: Int, batch: Int = 1) -> sega_gemm_ext {
        sega_gemm_ext(batch: Int32(batch), b_stride: inImage, c_stride: outImage, row_bias: b,
                      act: activation.code, mask: mask.map { $0 + at }, b_mask: nil, a_mask: nil, col_bias: nil, a_packed: nil, b_packed: nil)
    }

    /// y = W x (+ b, act) for 1x1 stride-1 unpadded convolutions: x is the im2col matrix already.
    /// One group: one SGEMM over every image (column blocks); else one per image and group.
    private func pointwiseForward() {
        if groups == 1 {
            var ext = epilogue(bias: bias, maskAt: 0, batch: n)
            ext.a_packed = UnsafePointer(packedW(0))
            opSgemmEx(engine, 0, 0, Int32(cout), Int32(n * ohw), Int32(kdim), 1, w, Int32(kdim), x, Int32(ohw),
                      0, y, Int32(ohw), &ext)
            return
        }
        for i in 0..<n {
            for gi in 0..<groups {
                let o = i * outImage + gi * coutG * ohw
                var ext = epilogue(bias: bias.map { $0 + gi * coutG }, maskAt: o)
                ext.a_packed = UnsafePointer(packedW(gi))
                opSgemmEx(engine, 0, 0, Int32(coutG), Int32(ohw), Int32(kdim), 1, w + gi * coutG * kdim, Int32(kdim),
                          x + i * inImage + gi * cinG * hw, Int32(ohw), 0, y + o, Int32(ohw), &ext)
            }
        }
    }

    /// y_g[:, band] = W_g [coutG x K] * col_band [K x rows*OW] (+ b, act), band by band.
    private func generalForward(image i: Int, group gi: Int) {
        let xg = x + i * inImage + gi * cinG * hw
        let wg = w + gi * coutG * kdim, o = i * outImage + gi * coutG * ohw
        var r0 = 0
        while r0 < Int(geom.oh) {
            let r1 = min(r0 + bandRows, Int(geom.oh)), cols = (r1 - r0) * Int(geom.ow)
            im2colBand(xg, r0, r1)
            var ext = epilogue(bias: bias.map { $0 + gi * coutG }, maskAt: o + r0 * Int(geom.ow))
            ext.a_packed = UnsafePointer(packedW(gi))
            opSgemmEx(engine, 0, 0, Int32(coutG), Int32(cols), Int32(kdim), 1,
                      wg, Int32(kdim), ws, Int32(cols), 0, y + o + r0 * Int(geom.ow), Int32(ohw), &ext)
            r0 = r1
        }
    }

    /// Geometry of output rows [r0, r1) and the input row its (shifted) input pointer starts
    /// at; nil if every tap of the band falls in the bottom padding (the band's columns are 0).
    /// With shift > 0 the geometry's h is the rows left below the shift, so its implied plane
    /// stride (h*w) is not the tensor's: callers then run the kernels one plane (c = 1) at a time.
    @inline(__always)
    private func band(_ r0: Int, _ r1: Int) -> (geom: sega_conv_geom, shift: Int)? {
        var g = geom
        let start = r0 * Int(geom.sh) - Int(geom.pad_t)   // input row of output row r0, tap 0
        if start >= Int(geom.h) { return nil }
        let shift = max(0, start)
        g.pad_t = Int32(shift - start)
        g.h = geom.h - Int32(shift)
        g.oh = Int32(r1 - r0)
        return (g, shift)
    }

    /// The im2col matrix of output rows [r0, r1) of one group's input planes, into the workspace.
    @inline(__always)
    private func im2colBand(_ xg: UnsafePointer<Float>, _ r0: Int, _ r1: Int) {
        if let bd = band(r0, r1) {
            // (A band starting below the top reads shifted planes, still hw floats apart.)
            var g = bd.geom
            sega_im2col_mt(engine, &g, xg + bd.shift * inW, hw, ws)
        } else {
            ws.update(repeating: 0, count: kdim * (r1 - r0) * Int(geom.ow))
        }
    }

    // MARK: memory planning
    /// dx reads the weight, dW reads x; the bias and y are never read.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        xWeightBackwardReads(inputs, gradsNeeded: gradsNeeded)
    }

    // MARK: backward

    public func backward() {
        guard let dy else { return }
        if let db { addPlaneSums(dy, into: db) }
        switch path {
        case .depthwise:
            var g = geom
            if let dw {   // image by image into dW (the images' order is the sum's)
                for i in 0..<n {
                    var dyi = dy + i * outImage
                    if let mask {   // the gradient at the pre-activation, into the workspace
                        sega_mask_copy(engine, outImage, mask + i * outImage, dyi, ws + inImage)
                        dyi = ws + inImage
                    }
                    sega_dwconv_bwd_weight(engine, &g, x + i * inImage, dyi, dw)
                }
            }
            if let dx {   // one dispatch over the batch's planes, masked as read; the kernel
                // overwrites dx, or accumulates through the workspace
                sega_dwconv_bwd_input_batch(engine, &g, Int32(n), dy, mask, w, dx, dxOverwrite ? 0 : 1, ws)
            }
        case .pointwise:
            pointwiseBackward(dy)
        case .general:
            for i in 0..<n { for gi in 0..<groups { generalBackward(dy, image: i, group: gi) } }
        case .winograd:
            if dw != nil { for i in 0..<n { generalWeightGrad(dy, image: i, group: 0) } }
            if let dx, let winoBwd {
                winograd(k: cout, m: cinG, src: dy, srcMask: mask.map { UnsafePointer($0) }, packed: winoBwd, bias: nil,
                         act: Conv2d.Activation.none.code, mask: nil, dst: dx, accumulate: !dxOverwrite)
            }
        }
    }

    /// A GEMM extension that masks A (`a`) or B (`b`) with the fused activation's mask at offset `at`.
    @inline(__always)
    private func masked(a at: Int? = nil, b bt: Int? = nil, batch: Int = 1) -> sega_gemm_ext {
        sega_gemm_ext(batch: Int32(batch), b_stride: outImage, c_stride: inImage, row_bias: nil, act: 0, mask: nil,
                      b_mask: bt.flatMap { o in mask.map { UnsafePointer($0 + o) } },
                      a_mask: at.flatMap { o in mask.map { UnsafePointer($0 + o) } }, col_bias: nil, a_packed: nil, b_packed: nil)
    }

    /// 1x1: dW_g += dy_g x_g^T per image; dx += W^T dy (one SGEMM over every image for one group).
    private func pointwiseBackward(_ dy: UnsafeMutablePointer<Float>) {
        if let dw {   // dW_g += dy_g [coutG x ohw] * x_g^T [ohw x K]
            for i in 0..<n {
                for gi in 0..<groups {
                    let o = i * outImage + gi * coutG * ohw
                    var ext = masked(a: o)
                    opSgemmEx(engine, 0, 1, Int32(coutG), Int32(kdim), Int32(ohw), 1, dy + o, Int32(ohw),
                              x + i * inImage + gi * cinG * hw, Int32(ohw), 1, dw + gi * coutG * kdim, Int32(kdim), &ext)
                }
            }
        }
        guard let dx else { return }
        let beta: Float = dxOverwrite ? 0 : 1   // overwrite: every element of dx is in one of the products
        if groups == 1 {   // dx [K x n*ohw] += W^T [K x cout] * dy [cout x n*ohw], images as column blocks
            var ext = masked(b: 0, batch: n)
            ext.a_packed = UnsafePointer(packedWT(0))
            opSgemmEx(engine, 1, 0, Int32(kdim), Int32(n * ohw), Int32(cout), 1, w, Int32(kdim), dy, Int32(ohw),
                      beta, dx, Int32(ohw), &ext)
            return
        }
        for i in 0..<n {
            for gi in 0..<groups {   // dx_g += W_g^T [K x coutG] * dy_g [coutG x ohw]
                let o = i * outImage + gi * coutG * ohw
                var ext = masked(b: o)
                ext.a_packed = UnsafePointer(packedWT(gi))
                opSgemmEx(engine, 1, 0, Int32(kdim), Int32(ohw), Int32(coutG), 1, w + gi * coutG * kdim, Int32(kdim),
                          dy + o, Int32(ohw), beta, dx + i * inImage + gi * cinG * hw, Int32(ohw), &ext)
            }
        }
    }

    /// im2col path of one image and group: dW by bands; dx by bands, bottom band first (see the
    /// type's comment: bit-identical dx for any band size), each dcol = W_g^T dy_band into the
    /// workspace, then col2im into dx.
    private func generalBackward(_ dy: UnsafeMutablePointer<Float>, image i: Int, group gi: Int) {
        let o = i * outImage + gi * coutG * ohw, dyg = dy + o
        let wg = w + gi * coutG * kdim, off = i * inImage + gi * cinG * hw
        let oh = Int(geom.oh), ow = Int(geom.ow)
        if dw != nil { generalWeightGrad(dy, image: i, group: gi) }
        guard let dx else { return }
        var r1 = oh
        while r1 > 0 {
            let r0 = (r1 - 1) / bandRows * bandRows, cols = (r1 - r0) * ow
            if let bd = band(r0, r1) {
                var bg = bd.geom
                var ext = masked(b: o + r0 * ow)
                ext.a_packed = UnsafePointer(packedWT(gi))
                opSgemmEx(engine, 1, 0, Int32(kdim), Int32(cols), Int32(coutG), 1,
                          wg, Int32(kdim), dyg + r0 * ow, Int32(ohw), 0, ws, Int32(cols), &ext)
                sega_col2im_mt(engine, &bg, ws, dx + off + bd.shift * inW, hw)
            }
            r1 = r0
        }
    }

    /// dW_g += dy_g[:, band] [coutG x rows*OW] * col_band^T of one image and group, band by band.
    private func generalWeightGrad(_ dy: UnsafeMutablePointer<Float>, image i: Int, group gi: Int) {
        guard let dw else { return }
        let o = i * outImage + gi * coutG * ohw, off = i * inImage + gi * cinG * hw
        let oh = Int(geom.oh), ow = Int(geom.ow)
        var r0 = 0
        while r0 < oh {
            let r1 = min(r0 + bandRows, oh), cols = (r1 - r0) * ow
            im2colBand(x + off, r0, r1)
            var ext = masked(a: o + r0 * ow)
            opSgemmEx(engine, 0, 1, Int32(coutG), Int32(kdim), Int32(cols), 1,
                      dy + o + r0 * ow, Int32(ohw), ws, Int32(cols), 1, dw + gi * coutG * kdim, Int32(kdim), &ext)
            r0 = r1
        }
    }

    /// db[c] += sum over images and pixels of dy[n, c, :, :] (masked by the fused activation: the
    /// values its separate backward would pass on, +0 elsewhere).
    private func addPlaneSums(_ dy: UnsafeMutablePointer<Float>, into db: UnsafeMutablePointer<Float>) {
        for c in 0..<cout {
            var s: Double = 0
            for i in 0..<n {
                let o = i * outImage + c * ohw, p = dy + o
                if let m = mask.map({ $0 + o }) {
                    for k in 0..<ohw { s += m[k] != 0 ? Double(p[k] + 0) : 0 }
                } else {
                    for k in 0..<ohw { s += Double(p[k]) }
                }
            }
            db[c] += Float(s)
        }
    }
}

extension Graph {
    /// PyTorch-style `conv2d` with symmetric padding.
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                       padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1,
                       activation: Conv2d.Activation = .none) throws -> Tensor {
        try conv2d(x, weight: weight, bias: bias, stride: stride, padding: .symmetric(padding.0, padding.1),
                   dilation: dilation, groups: groups, activation: activation)
    }

    /// `conv2d` with any padding scheme (explicit per side, or TensorFlow SAME), optionally with
    /// a fused relu / relu6 (the same values as `relu6(conv2d(...))`, one op and buffer fewer).
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                       padding: Conv2d.Padding, dilation: (Int, Int) = (1, 1), groups: Int = 1,
                       activation: Conv2d.Activation = .none) throws -> Tensor {
        let op = Conv2d(stride: stride, padding: padding, dilation: dilation, groups: groups, activation: activation)
        return try apply(op, bias.map { [x, weight, $0] } ?? [x, weight])
    }
}
