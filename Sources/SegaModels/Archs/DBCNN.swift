import SegaEngine

// MARK: - DBCNN

/// DBCNN (Zhang et al. 2018, deep bilinear CNN) as pyiqa implements it (`pyiqa/archs/dbcnn_arch.py`):
///
///     x = (image - ImageNet mean) / ImageNet std
///     X1 = features1(x)   VGG16 conv layers up to the last conv's ReLU (the last max pool dropped)
///     X2 = features2(x)   SCNN's feature stack: 9 x (3x3 conv, BatchNorm, ReLU), strides 1,2,1,2,1,2,1,1,2
///     X2 = bilinear resize of X2 to X1's size (align_corners = true), only when the sizes differ
///     B  = X1 X2^T / (H W)  over positions (bilinear pooling), flattened to C1*C2
///     score = fc(normalize(sqrt(B + 1e-8)))
///
/// pyiqa's "signed sqrt" is a plain `torch.sqrt(X + 1e-8)` (B >= 0 since both maps are post-ReLU),
/// so this does the same: shift by 1e-8, then sqrt, with PyTorch's gradient 1 / (2 sqrt(B + 1e-8))
/// everywhere, including B = 0. The whole image goes in (no resize, no crop). BatchNorm is folded
/// into the SCNN convolutions when the weights are read. Channel widths come from the weights (the real
/// network has C1 = 512, C2 = 128).
public final class DBCNN: IQAArchitecture {
    public static let name = "dbcnn"
    /// pyiqa's `score_range` for dbcnn is '~0, ~1' (KonIQ-10k MOS scaled to [0, 1]).
    public var scoreRange: (lo: Double, hi: Double) { (0, 1) }

    /// torchvision VGG16 `features` minus its last max pool.
    static let vgg16Pattern = "CCMCCMCCCMCCCMCCC"
    /// SCNN conv strides; every conv is 3x3 with padding 1.
    static let scnnStrides = [1, 2, 1, 2, 1, 2, 1, 1, 2]

    let features1: VGGStack
    /// SCNN convs with their BatchNorm folded in at load.
    let features2: [FoldedConvBN]
    let fcW: Param, fcB: Param

    // MARK: loading

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        features1 = try VGGStack(r, prefix: "features1", pattern: Self.vgg16Pattern)
        var blocks: [FoldedConvBN] = []
        var c = 3
        for (b, stride) in Self.scnnStrides.enumerated() {
            let conv = "features2.\(3 * b)", bn = "features2.\(3 * b + 1)"
            let s = try r.shape("\(conv).weight")
            guard s.count == 4, s[1] == c, s[2] == 3, s[3] == 3, s[0] >= 1 else {
                throw WeightsError("\(weights.source): tensor '\(conv).weight' has shape \(s), the architecture expects [out, \(c), 3, 3]")
            }
            blocks.append(try FoldedConvBN(r, weight: "\(conv).weight", bias: "\(conv).bias", bn: bn, shape: s, eps: 1e-5,
                                           stride: stride, padding: .symmetric(1, 1)))
            c = s[0]
        }
        features2 = blocks
        fcW = try Param(r, "fc.weight", [1, features1.outChannels * c])
        fcB = try Param(r, "fc.bias", [1])
        try r.finish()
    }

    // MARK: graph

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name, minSide: 16, reason: "VGG16's four pools")
        let x = try ImageInput.imageNetNormalize(g, image, reciprocal: .float)

        // Two feature branches.
        let x1 = try features1.build(g, x)
        var x2 = x
        for blk in features2 { x2 = try blk.build(g, x2, activation: .relu) }
        let (c1, h, w) = (x1.shape[1], x1.shape[2], x1.shape[3])
        if x2.shape[2] != h || x2.shape[3] != w {
            x2 = try g.resizeBilinear(x2, size: (h, w), alignCorners: true)
        }
        let c2 = x2.shape[1]

        // Bilinear pooling: [C1, HW] x [C2, HW]^T / HW.
        let a = try g.reshape(x1, [1, c1, h * w])
        let b = try g.reshape(x2, [1, c2, h * w])
        var z = try g.matmul(a, b, transposeB: true, alpha: 1 / Float(h * w))
        z = try g.reshape(z, [1, c1 * c2])
        z = try g.sqrt(g.affine(z, scale: 1, shift: 1e-8))
        z = try g.l2Normalize(z, axis: 1, eps: 1e-12)
        let q = try g.linear(z, weight: fcW.const(g, "fc.weight"), bias: fcB.const(g, "fc.bias"))
        return try g.reshape(q, [1])
    }
}
