import SegaEngine

// MARK: - LinearityIQA

/// LinearityIQA (Li, Jiang & Jiang, "Norm-in-Norm Loss with Faster Convergence and Better
/// Performance for Image Quality Assessment", ACM MM 2020; github.com/lidq92/LinearityIQA,
/// `IQAmodel.py` + `test_demo.py`), with the settings of the released KonIQ-10k checkpoints
/// (arch resnext101_32x8d, pool 'avg', P6 = P7 = 1, use_bn_end False):
///
///     image [1,3,H,W] in [0,1] -> ImageNet normalisation
///     -> torchvision ResNeXt-101 32x8d trunk ('features.0..7': conv1, bn1, relu, maxpool,
///        layer1..layer4; grouped 3x3 convs, groups 32)
///     -> x6 = global average of layer3 [1, 1024], x7 = global average of layer4 [1, 2048]
///     -> dr6 / dr7: Linear, BN1d, Linear, BN1d, Linear, BN1d, ReLU (1024 -> 256 -> 64; no
///        activation between the linear layers, as published); every BN1d is folded into the
///        linear layer before it when the weights are read
///     -> regression: Linear(128, 1) on cat(dr6(x6), dr7(x7))
///     -> score = k[0] * s + b[0] with k, b from the checkpoint (the linear mapping to the
///        MOS scale fitted on the training set; test_demo.py uses index 0)
///
/// `regr6` / `regr7` (the auxiliary per-stage outputs used only in training) are read and checked
/// but not part of the score. The repo's optional test-time PIL resize to 498x664 (`--resize`,
/// applied to the 8-bit image before `to_tensor`) is not part of the graph: the image is scored at
/// the size it is given (bring KonIQ images to 664x498 beforehand to match the released setting).
/// Other pool methods, P6/P7 > 1 and use_bn_end are not supported (their weights are rejected:
/// the first linear's input width or the regression names do not match).
public final class LinearityIQA: IQAArchitecture {
    public static let name = "linearityiqa"
    /// The released checkpoints map to KonIQ-10k's MOS scale (k, b fitted to MOS in [0, 100]),
    /// so the nominal range is 0...100 (a few points outside it are possible).
    public var scoreRange: (lo: Double, hi: Double) { (0, 100) }

    let trunk: ResNetTrunk
    /// dr6 and dr7: three (weight, bias) with the BN1d after each already folded in.
    let dr: [[(w: Param, b: Param)]]
    let regression: (w: Param, b: Param)
    let k: Float, b: Float

    // MARK: loading

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        trunk = try ResNetTrunk(r, stemConv: "features.0.weight", stemBN: "features.1",
                                stages: (4...7).map { "features.\($0)" })
        let ch = trunk.stageChannels

        var heads: [[(w: Param, b: Param)]] = []
        var widths: [Int] = []
        for (p, c) in [("dr6", ch[2]), ("dr7", ch[3])] {
            var layers: [(w: Param, b: Param)] = []
            var n = c
            for j in [0, 2, 4] {
                let l = try r.foldedLinearBN("\(p).\(j)", bn: "\(p).\(j + 1)", in: n)
                layers.append(l)
                n = l.w.shape[0]
            }
            heads.append(layers)
            widths.append(n)
        }
        dr = heads
        _ = try r.linear("regr6", in: widths[0], out: 1)
        _ = try r.linear("regr7", in: widths[1], out: 1)
        regression = try r.linear("regression", in: widths[0] + widths[1], out: 1)
        let ks = try r.shape("k"), bs = try r.shape("b")
        guard ks.count == 1, ks[0] >= 1 else { throw WeightsError("\(weights.source): tensor 'k' has shape \(ks), expected [n >= 1]") }
        guard bs == ks else { throw WeightsError("\(weights.source): tensor 'b' has shape \(bs), expected \(ks) like 'k'") }
        k = try r.floats("k", ks)[0]
        b = try r.floats("b", bs)[0]
        try r.finish()
    }

    // MARK: graph

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name, minSide: 32, reason: "the trunk's stride")
        let feats = try trunk.build(g, ResNetTrunk.normalize(g, image))
        var f: [Tensor] = []
        for (i, stage) in [2, 3].enumerated() {
            var x = try g.reshape(g.globalAvgPool(feats[stage]), [1, feats[stage].shape[1]])
            for (j, l) in dr[i].enumerated() {
                let name = "\(i == 0 ? "dr6" : "dr7").\(2 * j)"
                x = try g.linear(x, weight: l.w.const(g, "\(name).bnfolded"), bias: l.b.const(g, "\(name).bnfolded_bias"))
            }
            f.append(try g.relu(x))
        }
        let q = try g.linear(g.concat(f, axis: 1), weight: regression.w.const(g, "regression.weight"),
                             bias: regression.b.const(g, "regression.bias"))
        return try g.reshape(g.affine(q, scale: k, shift: b), [1])
    }
}
