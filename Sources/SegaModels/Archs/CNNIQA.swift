import SegaEngine

// MARK: - CNNIQA

/// CNNIQA (Kang et al. 2014) as pyiqa re-implements it (`pyiqa/archs/cnniqa_arch.py`):
///
///     conv1 (3 -> K, k x k, no padding)
///     -> [global max pool, global min pool] concatenated over channels   (2K features)
///     -> fc1 -> relu -> dropout (identity at test time) -> fc2 -> relu -> fc3 -> score
///
/// pyiqa feeds the whole RGB image in [0, 1] straight into `conv1` (no normalisation, no
/// resizing and no patch cropping at test time), so `build` does the same. The min pool is
/// PyTorch's `-max_pool2d(-h)`; both extrema route their gradient to the first extremal position,
/// as PyTorch's max pooling does. Kernel size, kernel count and fc widths come from the weights.
///
/// Variant (sega's own, metadata `lcn_c`): Kang et al.'s local contrast normalisation as a fourth
/// input channel. l = luma (0.299, 0.587, 0.114); over 7x7 windows without padding,
/// n = (l - mean) / sqrt(var + lcn_c), var = mean(l^2) - mean^2; conv1 then reads
/// [R, G, B, n] cropped to the valid 3-pixel-inset window (`weights/train.py`'s `lcn_input`).
public final class CNNIQA: IQAArchitecture {
    public static let name = "cnniqa"
    /// pyiqa's `score_range` for cnniqa is '~0, ~1' (KonIQ-10k MOS scaled to [0, 1]); sega's own
    /// trained CNNIQA declares 0..100 in its metadata.
    public let scoreRange: (lo: Double, hi: Double)

    /// The LCN constant c, or nil for pyiqa's plain RGB input.
    public let lcnC: Float?
    static let lcnWindow = 7
    static let lcnMinC: Float = 1e-6
    static let luma: [Float] = [0.299, 0.587, 0.114]

    let conv1W: Param, conv1B: Param
    let fc1W: Param, fc1B: Param
    let fc2W: Param, fc2B: Param
    let fc3W: Param, fc3B: Param

    // MARK: loading

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        scoreRange = try weights.declaredScoreRange(default: (0, 1))
        if let v = weights.metadata.first(where: { $0.0 == "lcn_c" })?.1 {
            // var = mean(l^2) - mean^2 cancels to within ~1e-7 of its value in fp32 for l in [0, 1],
            // so a smaller c could make var + c negative (NaN) on a flat patch.
            guard let c = Float(v), c.isFinite, c >= Self.lcnMinC else {
                throw WeightsError("\(weights.source): metadata 'lcn_c' = '\(v)' is not a number >= \(Self.lcnMinC)")
            }
            lcnC = c
        } else {
            lcnC = nil
        }
        let inC = lcnC == nil ? 3 : 4
        let cs = try r.shape("conv1.weight")
        guard cs.count == 4, cs[1] == inC, cs[2] == cs[3], cs[0] >= 1 else {
            throw WeightsError("\(weights.source): tensor 'conv1.weight' has shape \(cs), expected [K, \(inC), k, k]"
                               + (lcnC == nil ? "" : " (metadata lcn_c adds a fourth, normalised channel)"))
        }
        let k = cs[0]
        conv1W = try Param(r, "conv1.weight", cs)
        conv1B = try Param(r, "conv1.bias", [k])
        let n1 = try r.shape("fc1.weight").first ?? 0
        fc1W = try Param(r, "fc1.weight", [n1, 2 * k])
        fc1B = try Param(r, "fc1.bias", [n1])
        let n2 = try r.shape("fc2.weight").first ?? 0
        fc2W = try Param(r, "fc2.weight", [n2, n1])
        fc2B = try Param(r, "fc2.bias", [n2])
        fc3W = try Param(r, "fc3.weight", [1, n2])
        fc3B = try Param(r, "fc3.bias", [1])
        try r.finish()
    }

    // MARK: graph

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name)
        let s = image.shape
        let ks = conv1W.shape[2]
        let need = ks + (lcnC == nil ? 0 : Self.lcnWindow - 1)
        guard s[2] >= need, s[3] >= need else {
            throw EngineError(.shapeMismatch, "cnniqa: image \(s[3])x\(s[2]) is smaller than the \(ks)x\(ks) kernel"
                              + (lcnC == nil ? "" : " after the \(Self.lcnWindow)x\(Self.lcnWindow) LCN window (\(need)x\(need) at least)"))
        }
        let input = try lcnC.map { try lcnInput(g, image, c: $0) } ?? image
        let h = try g.conv2d(input, weight: conv1W.const(g, "conv1.weight"), bias: conv1B.const(g, "conv1.bias"))
        let pooled = try g.concat([g.globalMaxPool(h), g.globalMinPool(h)], axis: 1)   // [1, 2K, 1, 1]
        var x = try g.reshape(pooled, [1, pooled.shape[1]])
        x = try g.relu(g.linear(x, weight: fc1W.const(g, "fc1.weight"), bias: fc1B.const(g, "fc1.bias")))
        x = try g.relu(g.linear(x, weight: fc2W.const(g, "fc2.weight"), bias: fc2B.const(g, "fc2.bias")))
        let q = try g.linear(x, weight: fc3W.const(g, "fc3.weight"), bias: fc3B.const(g, "fc3.bias"))
        return try g.reshape(q, [1])
    }

    /// [R, G, B, (l - mean) / sqrt(var + c)] on the window-inset crop, as `lcn_input` in train.py.
    func lcnInput(_ g: Graph, _ image: Tensor, c: Float) throws -> Tensor {
        let w = Self.lcnWindow, r = w / 2, h = image.shape[2], wd = image.shape[3]
        let l = try g.conv2d(image, weight: g.constant(Self.luma, [1, 3, 1, 1], name: "luma"))
        let mu = try g.avgPool2d(l, kernel: (w, w), stride: (1, 1))
        let m2 = try g.avgPool2d(g.mul(l, l), kernel: (w, w), stride: (1, 1))
        let inv = try g.rsqrt(g.affine(g.sub(m2, g.mul(mu, mu)), scale: 1, shift: c))
        let centre = try g.slice(l, starts: [0, 0, r, r], ends: [1, 1, h - r, wd - r])
        let n = try g.mul(g.sub(centre, mu), inv)
        let rgb = try g.slice(image, starts: [0, 0, r, r], ends: [1, 3, h - r, wd - r])
        return try g.concat([rgb, n], axis: 1)
    }
}
