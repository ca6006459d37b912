import SegaEngine

// MARK: - HyperIQA on EfficientNet-Lite0

/// `hyperiqa_lite0`: HyperIQA (Su et al. 2020) restated on EfficientNet-Lite0, structured as
/// pyiqa's `HyperNet` (`pyiqa/archs/hypernet_arch.py`); PyTorch definition: `HyperIQALite0` in
/// `weights/models_lite0.py`.
///
/// * Test-time protocol (pyiqa's `uniform_crop`): when min(H, W) <= crop the image is upscaled
///   bilinearly (align_corners=False) to floor(side * (crop + 1) / min(H, W)); then `num_crop`
///   crops of crop x crop on a ceil(sqrt(n))^2 grid with step (side - crop) / floor(sqrt(n)),
///   the first n in row-major order; the crops run as one batch and their scores are averaged.
///   crop_size and num_crop come from the metadata (default 224 and 25, as pyiqa).
/// * Local distortion aware vectors (`lda.0..2`) from blocks 2, 4, 10 (stride 4, 8, 16):
///   1x1 conv (no bias) -> adaptive average pool to g x g -> flatten -> fc; `lda.3`: the head
///   features averaged -> fc. Their concatenation is the target network's input.
/// * Hyper network: head features -> `hyper.0` 1x1 conv -> ReLU -> `hyper.2` 1x1 conv -> ReLU;
///   target weights i = 0..3 by a 3x3 conv (`fc_w.i`, padding 1) reshaped to [out_i, in_i]
///   (so out_ch * f * f must equal out_i * in_i: f = 7 at 224), the last weight (`fc_w.4`) and
///   all biases (`fc_b.i`) by Linear layers on the spatially averaged hyper features.
/// * Target network: 4 x (x W_i^T + b_i -> sigmoid), then x W_4^T + b_4 = the crop's score.
///
/// Every width (LDA channels and grids, hyper widths, target fc widths) is read from the shapes.
public final class HyperIQALite0: IQAArchitecture {
    public static let name = "hyperiqa_lite0"
    /// Our own trained models predict MOS on a 0-100 scale.
    public var scoreRange: (lo: Double, hi: Double) { (0, 100) }
    public var inputProtocol: InputProtocol { .crops(count: numCrop, size: cropSize) }

    static let taps = [Lite0Backbone.stageEnd[1], Lite0Backbone.stageEnd[2], Lite0Backbone.stageEnd[4]]

    struct LDA { let conv: Param?; let grid: Int; let fc: Lite0Linear }

    let backbone: Lite0Backbone
    let lda: [LDA]
    let hyper0W: Param, hyper0B: Param, hyper2W: Param, hyper2B: Param
    let fcW: [(w: Param, b: Param)]      // 3x3 convs generating target weights 0..3
    let fcW4: Lite0Linear
    let fcB: [Lite0Linear]
    let fcChannels: [Int]                // out_i of target layers 0..4 (the last is 1)
    let targetIn: Int
    let cropSize: Int, numCrop: Int

    // MARK: loading

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        let src = weights.source
        backbone = try Lite0Backbone(r, prefix: "backbone.")
        cropSize = try Lite0Support.metadataInt(weights, "crop_size", default: 224)
        numCrop = try Lite0Support.metadataInt(weights, "num_crop", default: 25)

        var l: [LDA] = []
        for (i, t) in Self.taps.enumerated() {
            let cs = try r.shape("lda.\(i).conv.weight")
            guard cs.count == 4, cs[0] >= 1 else {
                throw WeightsError("\(src): tensor 'lda.\(i).conv.weight' has shape \(cs), expected [C, \(backbone.channels(t)), 1, 1]")
            }
            let conv = try Param(r, "lda.\(i).conv.weight", [cs[0], backbone.channels(t), 1, 1])
            let fin = try r.shape("lda.\(i).fc.weight").last ?? 0
            let grid = Int(Double(fin / cs[0]).squareRoot().rounded())
            guard grid >= 1, grid * grid * cs[0] == fin else {
                throw WeightsError("\(src): tensor 'lda.\(i).fc.weight' has \(fin) inputs, not \(cs[0]) channels x a square grid")
            }
            l.append(LDA(conv: conv, grid: grid, fc: try Lite0Linear(r, "lda.\(i).fc", in: fin)))
        }
        l.append(LDA(conv: nil, grid: 1, fc: try Lite0Linear(r, "lda.3.fc", in: backbone.headChannels)))
        lda = l
        targetIn = l.reduce(0) { $0 + $1.fc.outFeatures }

        let mid = try r.shape("hyper.0.weight").first ?? 0
        hyper0W = try Param(r, "hyper.0.weight", [mid, backbone.headChannels, 1, 1])
        hyper0B = try Param(r, "hyper.0.bias", [mid])
        let hin = try r.shape("hyper.2.weight").first ?? 0
        hyper2W = try Param(r, "hyper.2.weight", [hin, mid, 1, 1])
        hyper2B = try Param(r, "hyper.2.bias", [hin])

        fcB = try (0..<5).map { try Lite0Linear(r, "fc_b.\($0)", in: hin, out: $0 == 4 ? 1 : nil) }  // last: one score
        fcChannels = fcB.map(\.outFeatures)
        fcW = try (0..<4).map { i in
            let s = try r.shape("fc_w.\(i).weight")
            let o = s.first ?? 0
            return (try Param(r, "fc_w.\(i).weight", [o, hin, 3, 3]), try Param(r, "fc_w.\(i).bias", [o]))
        }
        fcW4 = try Lite0Linear(r, "fc_w.4", in: hin, out: fcChannels[3])
        try r.finish()
    }

    // MARK: graph

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name)
        let crops = try Self.uniformCrops(g, image, crop: cropSize, count: numCrop)
        let b = numCrop
        let (feat, taps) = try backbone.build(g, Lite0Support.normalize(g, crops), taps: Set(Self.taps))

        // MARK: LDA vectors -> target input [B, 1, targetIn]
        var vecs: [Tensor] = []
        for (i, m) in lda.enumerated() {
            var v: Tensor
            if let conv = m.conv {
                let h = try g.conv2d(taps[Self.taps[i]]!, weight: conv.const(g, "lda.\(i).conv.weight"))
                v = try g.adaptiveAvgPool2d(h, (m.grid, m.grid))
            } else {
                v = try g.globalAvgPool(feat)
            }
            v = try g.reshape(v, [b, v.count / b])
            vecs.append(try m.fc.build(g, v))
        }
        var x = try g.reshape(g.concat(vecs, axis: 1), [b, 1, targetIn])

        // MARK: hyper network
        var hyp = try g.conv2d(feat, weight: hyper0W.const(g), bias: hyper0B.const(g), activation: .relu)
        hyp = try g.conv2d(hyp, weight: hyper2W.const(g), bias: hyper2B.const(g), activation: .relu)
        let f2 = hyp.shape[2] * hyp.shape[3]
        let pooled = try g.reshape(g.globalAvgPool(hyp), [b, hyp.shape[1]])

        // MARK: target network
        var inF = targetIn
        for i in 0..<5 {
            let out = fcChannels[i]
            var w: Tensor
            if i < 4 {
                let oc = fcW[i].w.shape[0]
                guard oc * f2 == out * inF else {
                    throw EngineError(.shapeMismatch, "\(Self.name): 'fc_w.\(i)' makes \(oc) x \(hyp.shape[2]) x \(hyp.shape[3]) values for a \(out) x \(inF) target weight (crop size \(cropSize) does not fit these weights)")
                }
                w = try g.conv2d(hyp, weight: fcW[i].w.const(g, "fc_w.\(i).weight"), bias: fcW[i].b.const(g),
                                 padding: (1, 1))
                w = try g.reshape(w, [b, out, inF])
            } else {
                w = try g.reshape(fcW4.build(g, pooled), [b, 1, inF])
            }
            let bias = try g.reshape(fcB[i].build(g, pooled), [b, 1, out])
            x = try g.add(g.matmul(x, w, transposeB: true), bias)
            if i < 4 { x = try g.sigmoid(x) }
            inF = out
        }
        return try g.mean(g.reshape(x, [1, b]), axes: [1])
    }

    // MARK: crops

    /// pyiqa's `uniform_crop` for one image, as a [count, 3, crop, crop] batch.
    static func uniformCrops(_ g: Graph, _ image: Tensor, crop: Int, count: Int) throws -> Tensor {
        var x = image
        var h = image.shape[2], w = image.shape[3]
        if min(h, w) <= crop {
            let sf = Double(crop + 1) / Double(min(h, w))
            h = Int((Double(h) * sf).rounded(.down)); w = Int((Double(w) * sf).rounded(.down))
            x = try g.resizeBilinear(x, size: (h, w), alignCorners: false)
        }
        let root = Int(Double(count).squareRoot().rounded(.down))
        let grid = Int(Double(count).squareRoot().rounded(.up))
        let sh = (h - crop) / root, sw = (w - crop) / root
        var crops: [Tensor] = []
        outer: for i in 0..<grid {
            for j in 0..<grid {
                if crops.count == count { break outer }
                crops.append(try g.slice(x, starts: [0, 0, i * sh, j * sw], ends: [1, 3, i * sh + crop, j * sw + crop]))
            }
        }
        return crops.count == 1 ? crops[0] : try g.concat(crops, axis: 0)
    }
}
