import SegaEngine

// MARK: - HyperIQA

/// HyperIQA (Su et al., CVPR 2020) as pyiqa implements it (`pyiqa/archs/hypernet_arch.py`,
/// class `HyperNet`), at test time:
///
///     image [1,3,H,W] in [0,1]
///     -> uniform_crop: if min(H,W) <= 224, bilinear upscale by 225/min(H,W); then num_crop
///        224x224 crops on a sqrt(num_crop) x sqrt(num_crop) grid          [n,3,224,224]
///     -> ImageNet normalisation
///     -> timm ResNet-50 (features_only): stage outputs f1..f4 (56, 28, 14, 7 px)
///     -> LDA heads: f1..f3: 1x1 conv (no bias) -> avgpool 7/7 -> flatten -> fc;
///                   f4: avgpool 7/7 -> flatten -> fc;  concatenated: the target input [n, 224]
///     -> hyper network on f4: conv1 (three 1x1 convs + relu) -> h [n, 112, 7, 7];
///        target weights W_i = conv3x3_i(h) reshaped [n, c_i, c_{i-1}] (i = 0..3),
///        W_4 = fc(avgpool(h)) [n, 1, c_3]; biases b_i = fc(avgpool(h)) [n, c_i]
///     -> target network (per crop): x <- sigmoid(x W_i^T + b_i) for i = 0..3, then x W_4^T + b_4
///     -> mean over the crops                                                  score [1]
///
/// pyiqa's `preprocess` bicubic resize never runs at test time (crops are always 224x224), so it
/// is not needed. The upscale reproduces `F.interpolate(scale_factor=s, mode='bilinear')` exactly,
/// including PyTorch's use of 1/s (not in/out) as the sampling ratio and its truncated output
/// size, as two constant interpolation matrices applied with `g.matmul` (separable, so exact).
/// Widths (backbone, LDA, hyper and target channels) are read from the weights; the test-time
/// crop count comes from the metadata `num_crop` (pyiqa's default 25 when absent).
public final class HyperIQA: IQAArchitecture {
    public static let name = "hyperiqa"
    /// pyiqa's `score_range` for hyperiqa is '~0, ~1' (trained on KonIQ-10k MOS scaled to [0, 1]).
    public var scoreRange: (lo: Double, hi: Double) { (0, 1) }
    public var inputProtocol: InputProtocol { .crops(count: numCrop, size: Self.cropSize) }

    /// Side of every crop; the network is designed for it (the last stage must be 7x7).
    static let cropSize = 224
    /// Number of test-time crops (pyiqa `num_crop`).
    public var numCrop: Int

    let trunk: ResNetTrunk
    /// LDA heads of stages 1..3: 1x1 conv weight, fc weight and bias.
    let ldaConv: [Param]
    let ldaFC: [(w: Param, b: Param)]     // four: stages 1..4
    let hyperConv: [(w: Param, b: Param)] // conv1.0, conv1.2, conv1.4
    let fcWConv: [(w: Param, b: Param)]   // fc_w_modules.0..3 (3x3 convs)
    let fcWLast: (w: Param, b: Param)     // fc_w_modules.4.2
    let fcB: [(w: Param, b: Param)]       // fc_b_modules.0..4
    /// Target network widths c_0..c_4 (pyiqa: 112, 56, 28, 14, 1) and its input width (224).
    let targetChannels: [Int]
    let targetIn: Int

    // MARK: loading

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        trunk = try ResNetTrunk(r, stemConv: "base_model.conv1.weight", stemBN: "base_model.bn1",
                                stages: (1...4).map { "base_model.layer\($0)" })
        let ch = trunk.stageChannels
        let lda = try Self.readLDA(r, stageChannels: ch)
        ldaConv = lda.conv; ldaFC = lda.fc
        targetIn = lda.fc.reduce(0) { $0 + $1.w.shape[0] }

        // Hyper network.
        var hc: [(w: Param, b: Param)] = []
        var cin = ch[3]
        for j in [0, 2, 4] {
            let c = try r.conv("conv1.\(j)", in: cin, kernel: 1)
            hc.append(c); cin = c.w.shape[0]
        }
        hyperConv = hc
        let hyperIn = cin
        let fb = try (0..<5).map { try r.linear("fc_b_modules.\($0).2", in: hyperIn) }
        fcB = fb
        targetChannels = fb.map { $0.w.shape[0] }
        guard targetChannels[4] == 1 else {
            throw WeightsError("\(weights.source): tensor 'fc_b_modules.4.2.weight' has shape \(fb[4].w.shape), expected [1, \(hyperIn)] (one score)")
        }
        fcWConv = try Self.readTargetWeightConvs(r, hyperIn: hyperIn, widths: [targetIn] + targetChannels)
        fcWLast = try r.linear("fc_w_modules.4.2", in: hyperIn)
        guard fcWLast.w.shape[0] == targetChannels[3] else {
            throw WeightsError("\(weights.source): tensor 'fc_w_modules.4.2.weight' has shape \(fcWLast.w.shape), expected [\(targetChannels[3]), \(hyperIn)]")
        }
        try r.finish()

        if let v = weights.metadata.first(where: { $0.0 == "num_crop" })?.1 {
            guard let n = Int(v), n >= 1 else { throw WeightsError("\(weights.source): metadata num_crop '\(v)' is not a positive integer") }
            numCrop = n
        } else {
            numCrop = 25
        }
    }

    /// Local distortion aware heads: a 1x1 conv (no bias) on stages 1..3 and an fc on every
    /// stage, reading the 7/7 average pool of a 224 crop's stage (8, 4, 2, 1 px; 56, 28, 14, 7 before).
    private static func readLDA(_ r: WeightReader, stageChannels ch: [Int]) throws -> (conv: [Param], fc: [(w: Param, b: Param)]) {
        let pooled = [8, 4, 2, 1]
        var lc: [Param] = [], lf: [(w: Param, b: Param)] = []
        for i in 0..<3 {
            let s = try r.shape("lda_modules.\(i).0.weight")
            guard s.count == 4, s[0] >= 1, s[1] == ch[i], s[2] == 1, s[3] == 1 else {
                throw WeightsError("\(r.file.source): tensor 'lda_modules.\(i).0.weight' has shape \(s), expected [C, \(ch[i]), 1, 1]")
            }
            lc.append(try Param(r, "lda_modules.\(i).0.weight", s))
            lf.append(try r.linear("lda_modules.\(i).3", in: s[0] * pooled[i] * pooled[i]))
        }
        lf.append(try r.linear("lda_modules.3.2", in: ch[3]))
        return (lc, lf)
    }

    /// The 3x3 convs generating target weights 0..3: conv i's 7x7 output holds the
    /// c_i x c_{i-1} weight, c_i * c_{i-1} / 49 channels (`widths` = [c_in, c_0, ..., c_4]).
    private static func readTargetWeightConvs(_ r: WeightReader, hyperIn: Int, widths: [Int]) throws -> [(w: Param, b: Param)] {
        let fs = 7 * 7
        return try (0..<4).map { i in
            let (prev, c) = (widths[i], widths[i + 1])
            guard (c * prev) % fs == 0 else {
                throw WeightsError("\(r.file.source): tensor 'fc_b_modules.\(i).2.weight' gives target width \(c), but \(c) x \(prev) is not a multiple of 7 x 7")
            }
            return try r.conv("fc_w_modules.\(i)", in: hyperIn, kernel: 3, out: c * prev / fs)
        }
    }

    // MARK: test-time cropping (pyiqa arch_util.uniform_crop)

    /// Interpolation matrix [out, in] of PyTorch's bilinear (align_corners=False) resampling of one
    /// axis with the ratio 1/scale (what `F.interpolate(scale_factor=scale)` uses), in float.
    static func bilinearMatrix(in n: Int, out m: Int, scale: Double) -> [Float] {
        let ratio = Float(1.0 / scale)
        var a = [Float](repeating: 0, count: m * n)
        for o in 0..<m {
            var src = ratio * (Float(o) + 0.5) - 0.5
            if src < 0 { src = 0 }
            let i0 = min(Int(src), n - 1)
            let l1 = min(max(src - Float(i0), 0), 1)
            let i1 = i0 + (i0 < n - 1 ? 1 : 0)
            a[o * n + i0] += 1 - l1
            a[o * n + i1] += l1
        }
        return a
    }

    /// uniform_crop(x, crop, numCrop): upscale when min(H, W) <= crop, then the grid crops
    /// stacked on the batch axis [numCrop, C, crop, crop].
    static func uniformCrop(_ g: Graph, _ x: Tensor, crop: Int, numCrop: Int) throws -> Tensor {
        var x = x
        var h = x.shape[2], w = x.shape[3]
        if min(h, w) <= crop {
            let scale = Double(crop + 1) / Double(min(h, w))
            let oh = Int(Double(h) * scale), ow = Int(Double(w) * scale)
            let aw = try g.constant(bilinearMatrix(in: w, out: ow, scale: scale), [ow, w], name: "uniform_crop.resize_w")
            let ah = try g.constant(bilinearMatrix(in: h, out: oh, scale: scale), [oh, h], name: "uniform_crop.resize_h")
            x = try g.matmul(x, aw, transposeB: true)       // [N, C, H, ow]
            x = try g.matmul(ah, x)                          // [N, C, oh, ow]
            h = oh; w = ow
        }
        guard h >= crop, w >= crop else {
            throw EngineError(.shapeMismatch, "uniform_crop: image \(w)x\(h) is smaller than the \(crop)x\(crop) crop")
        }
        let side = Int(Double(numCrop).squareRoot())          // int(np.sqrt(n))
        var grid = side; while grid * grid < numCrop { grid += 1 }  // ceil(np.sqrt(n))
        let stepH = (h - crop) / side, stepW = (w - crop) / side
        var crops: [Tensor] = []
        outer: for i in 0..<grid {
            for j in 0..<grid {
                if crops.count == numCrop { break outer }
                let sh = i * stepH, sw = j * stepW
                crops.append(try g.slice(x, starts: [0, 0, sh, sw], ends: [x.shape[0], x.shape[1], sh + crop, sw + crop]))
            }
        }
        return crops.count == 1 ? crops[0] : try g.concat(crops, axis: 0)
    }

    // MARK: graph

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name)
        guard numCrop >= 1 else { throw EngineError(.invalidArgument, "hyperiqa: num_crop must be >= 1, got \(numCrop)") }
        // Normalising before cropping equals pyiqa's per-crop normalisation (elementwise).
        let crops = try Self.uniformCrop(g, image, crop: Self.cropSize, numCrop: numCrop)
        let x = try ResNetTrunk.normalize(g, crops)
        let n = x.shape[0]
        let feats = try trunk.build(g, x)

        // Local distortion aware features -> target network input [n, targetIn].
        var lda: [Tensor] = []
        for i in 0..<4 {
            var f = feats[i]
            if i < 3 { f = try g.conv2d(f, weight: ldaConv[i].const(g, "lda_modules.\(i).0.weight")) }
            f = try g.avgPool2d(f, kernel: (7, 7), stride: (7, 7))
            f = try g.reshape(f, [n, f.shape[1] * f.shape[2] * f.shape[3]])
            lda.append(try g.linear(f, weight: ldaFC[i].w.const(g), bias: ldaFC[i].b.const(g)))
        }
        var t = try g.reshape(g.concat(lda, axis: 1), [n, 1, targetIn])

        // Hyper network: target weights and biases per crop.
        var h = feats[3]
        for c in hyperConv { h = try g.conv2d(h, weight: c.w.const(g), bias: c.b.const(g), activation: .relu) }
        let hp = try g.reshape(g.globalAvgPool(h), [n, h.shape[1]])
        var ws: [Tensor] = []
        for i in 0..<4 {
            let w = try g.conv2d(h, weight: fcWConv[i].w.const(g), bias: fcWConv[i].b.const(g), padding: (1, 1))
            ws.append(try g.reshape(w, [n, targetChannels[i], w.count / (n * targetChannels[i])]))
        }
        ws.append(try g.reshape(g.linear(hp, weight: fcWLast.w.const(g), bias: fcWLast.b.const(g)), [n, 1, targetChannels[3]]))

        // Target network.
        for i in 0..<5 {
            let b = try g.reshape(g.linear(hp, weight: fcB[i].w.const(g), bias: fcB[i].b.const(g)), [n, 1, targetChannels[i]])
            t = try g.add(g.matmul(t, ws[i], transposeB: true), b)
            if i < 4 { t = try g.sigmoid(t) }
        }
        return try g.reshape(g.mean(t), [1])
    }
}
