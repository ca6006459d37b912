import SegaEngine

// MARK: - LinearityIQA on EfficientNet-Lite0

/// `linearityiqa_lite0`: LinearityIQA (Li et al. 2020, "Norm-in-Norm Loss with Faster
/// Convergence and Better Performance for Image Quality Assessment") restated on
/// EfficientNet-Lite0; PyTorch definition: `LinearityIQALite0` in `weights/models_lite0.py`.
///
///     image (own resolution) -> ImageNet normalisation -> Lite0
///     block 10 (stride 16) features -> [avg, std] pool -> dr6: Linear -> BN1d -> Linear -> BN1d -> ReLU
///     head (stride 32) features     -> [avg, std] pool -> dr7: (same)
///     regression Linear on [dr6, dr7] -> s;  score = k * s + b
///
/// As in the original, two feature levels are pooled globally by mean and standard deviation
/// (here std = sqrt(unbiased variance + 1e-6), the eps keeping the gradient finite on constant
/// channels) and the raw output is mapped linearly to the MOS scale by the fitted k and b
/// (tensors `k`, `b`, shape [1]). BatchNorm1d (eps 1e-5) is folded into the Linear before it.
public final class LinearityIQALite0: IQAArchitecture {
    public static let name = "linearityiqa_lite0"
    /// Our own trained models predict MOS on a 0-100 scale (after k, b).
    public var scoreRange: (lo: Double, hi: Double) { (0, 100) }

    static let tap = Lite0Backbone.stageEnd[4]
    static let stdEps: Float = 1e-6

    let backbone: Lite0Backbone
    let dr6: [Lite0Linear], dr7: [Lite0Linear]     // two folded Linear+BN layers each
    let regression: Lite0Linear
    let k: Float, b: Float

    // MARK: loading

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        backbone = try Lite0Backbone(r, prefix: "backbone.")
        func dr(_ p: String, _ c: Int) throws -> [Lite0Linear] {
            let a = try r.foldedLinearBN("\(p).0", bn: "\(p).1", in: 2 * c)
            let hidden = a.w.shape[0]
            let z = try r.foldedLinearBN("\(p).2", bn: "\(p).3", in: hidden)
            return [Lite0Linear(name: "\(p).0", weight: a.w, bias: a.b), Lite0Linear(name: "\(p).2", weight: z.w, bias: z.b)]
        }
        dr6 = try dr("dr6", backbone.channels(Self.tap))
        dr7 = try dr("dr7", backbone.headChannels)
        regression = try Lite0Linear(r, "regression", in: dr6[1].outFeatures + dr7[1].outFeatures, out: 1)
        k = try r.floats("k", [1])[0]
        b = try r.floats("b", [1])[0]
        try r.finish()
    }

    // MARK: graph

    /// [1, C, H, W] -> [1, 2C]: channel means, then channel standard deviations.
    static func avgStdPool(_ g: Graph, _ x: Tensor) throws -> Tensor {
        let c = x.shape[1], n = x.shape[2] * x.shape[3]
        let m = try g.mean(x, axes: [2, 3], keepDims: true)
        let d = try g.sub(x, m)
        let v = try g.sum(g.mul(d, d), axes: [2, 3])                                   // [1, C]
        let sd = try g.sqrt(g.affine(v, scale: 1 / Float(max(n - 1, 1)), shift: stdEps))
        return try g.concat([g.reshape(m, [1, c]), sd], axis: 1)
    }

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name)
        let (feat, taps) = try backbone.build(g, Lite0Support.normalize(g, image), taps: [Self.tap])
        func reduce(_ x: Tensor, _ layers: [Lite0Linear]) throws -> Tensor {
            try g.relu(layers[1].build(g, layers[0].build(g, Self.avgStdPool(g, x))))
        }
        let f = try g.concat([reduce(taps[Self.tap]!, dr6), reduce(feat, dr7)], axis: 1)
        let s = try g.reshape(regression.build(g, f), [1])
        return try g.affine(s, scale: k, shift: b)
    }
}
