import SegaEngine

// MARK: - DBCNN on EfficientNet-Lite0

/// `dbcnn_lite0`: DBCNN (Zhang et al. 2018, deep bilinear CNN) restated on EfficientNet-Lite0;
/// PyTorch definition: `DBCNNLite0` in `weights/models_lite0.py`. DBCNN pools two streams
/// bilinearly, one tuned to authentic and one to synthetic distortions; here both come from
/// one Lite0 (no second network):
///
///     image (own resolution) -> ImageNet normalisation -> Lite0
///     x1 = ReLU(proj1 1x1 conv (head features, stride 32))         [c1, H, W]
///     x2 = ReLU(proj2 1x1 conv (block 10 features, stride 16))      [c2, H2, W2]
///          resized to H x W (bilinear, align_corners=True, as pyiqa's DBCNN) when they differ
///     z  = x1 x2^T / (H W)  -> sign(z) sqrt(|z| + 1e-8) -> L2 normalise -> fc -> score
public final class DBCNNLite0: IQAArchitecture {
    public static let name = "dbcnn_lite0"
    /// Our own trained models predict MOS on a 0-100 scale.
    public var scoreRange: (lo: Double, hi: Double) { (0, 100) }

    static let tap = Lite0Backbone.stageEnd[4]

    let backbone: Lite0Backbone
    let proj1W: Param, proj1B: Param, proj2W: Param, proj2B: Param
    let fc: Lite0Linear

    // MARK: loading

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        backbone = try Lite0Backbone(r, prefix: "backbone.")
        let c1 = try r.shape("proj1.weight").first ?? 0, c2 = try r.shape("proj2.weight").first ?? 0
        proj1W = try Param(r, "proj1.weight", [c1, backbone.headChannels, 1, 1])
        proj1B = try Param(r, "proj1.bias", [c1])
        proj2W = try Param(r, "proj2.weight", [c2, backbone.channels(Self.tap), 1, 1])
        proj2B = try Param(r, "proj2.bias", [c2])
        fc = try Lite0Linear(r, "fc", in: c1 * c2, out: 1)
        try r.finish()
    }

    // MARK: graph

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name)
        let (feat, taps) = try backbone.build(g, Lite0Support.normalize(g, image), taps: [Self.tap])
        let x1 = try g.conv2d(feat, weight: proj1W.const(g, "proj1.weight"), bias: proj1B.const(g), activation: .relu)
        var x2 = try g.conv2d(taps[Self.tap]!, weight: proj2W.const(g, "proj2.weight"), bias: proj2B.const(g), activation: .relu)
        let (c1, h, w) = (x1.shape[1], x1.shape[2], x1.shape[3]), c2 = x2.shape[1]
        if x2.shape[2] != h || x2.shape[3] != w {
            x2 = try g.resizeBilinear(x2, size: (h, w), alignCorners: true)
        }
        let hw = h * w
        var z = try g.matmul(g.reshape(x1, [1, c1, hw]), g.reshape(x2, [1, c2, hw]), transposeB: true,
                             alpha: 1 / Float(hw))                                     // [1, c1, c2]
        z = try g.signedSqrt(g.reshape(z, [1, c1 * c2]), eps: 1e-8)
        z = try g.l2Normalize(z, axis: 1)
        return try g.reshape(fc.build(g, z), [1])
    }
}
