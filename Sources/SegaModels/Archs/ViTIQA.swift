import SegaEngine

// MARK: - ViTIQA: a small vision transformer on a pretrained convolutional stem

/// `vitiqa`: a ViT-style NR-IQA regressor whose patch embedding is EfficientNet-Lite0's stem and
/// first 8 blocks (a "convolutional stem": stride 16, pretrained on ImageNet) instead of a
/// 16x16 linear patchify; PyTorch definition: `ViTIQA` in `weights/models_lite0.py`.
///
///     image -> bilinear resize (align_corners=False) to 16 g x 16 g (skipped when already so)
///     -> ImageNet normalisation -> Lite0 stem + blocks 0..7 -> proj 1x1 conv to D
///     -> g*g tokens; prepend cls_token; + pos_embed [1, 1 + g*g, D]
///     -> depth x pre-LN block: x + MHSA(norm1(x)); x + fc2(GELU(fc1(norm2(x))))
///     -> norm (LayerNorm, eps 1e-5) on the CLS token -> head Linear(D, 1) -> score
///
/// Attention weights use torch.nn.MultiheadAttention's layout (`attn.in_proj_weight` [3D, D],
/// `attn.in_proj_bias`, `attn.out_proj.*`). The token grid g follows from `pos_embed`'s shape,
/// the depth from the `blocks.N.` tensors present, the head count from the metadata
/// `num_heads` (default D / 64, ViT's head width; it is not visible in the weights).
public final class ViTIQA: IQAArchitecture {
    public static let name = "vitiqa"
    /// Our own trained models predict MOS on a 0-100 scale.
    public var scoreRange: (lo: Double, hi: Double) { (0, 100) }
    /// The image is resized to the token grid times the stem's stride 16.
    public var inputProtocol: InputProtocol { .resized(height: inputSize, width: inputSize) }

    static let stemBlocks = Lite0Backbone.stageEnd[3] + 1
    static let lnEps: Float = 1e-5

    struct Block {
        let norm1: (Param, Param), norm2: (Param, Param)
        let wqkv: Param, bqkv: Param, wo: Param, bo: Param
        let fc1: Lite0Linear, fc2: Lite0Linear
    }

    let backbone: Lite0Backbone
    let projW: Param, projB: Param
    let cls: Param, pos: Param
    let blocks: [Block]
    let norm: (Param, Param)
    let head: Lite0Linear
    let dim: Int, grid: Int, heads: Int

    // MARK: loading

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        let src = weights.source
        backbone = try Lite0Backbone(r, prefix: "backbone.", blocks: Self.stemBlocks, head: false)
        let d = try r.shape("proj.weight").first ?? 0
        dim = d
        projW = try Param(r, "proj.weight", [d, backbone.headChannels, 1, 1])
        projB = try Param(r, "proj.bias", [d])
        cls = try Param(r, "cls_token", [1, 1, d])
        let ps = try r.shape("pos_embed")
        let tokens = ps.count == 3 ? ps[1] - 1 : 0
        let gr = Int(Double(max(tokens, 0)).squareRoot().rounded())
        guard gr >= 1, gr * gr == tokens else {
            throw WeightsError("\(src): tensor 'pos_embed' has shape \(ps), expected [1, 1 + g*g, \(d)]")
        }
        grid = gr
        pos = try Param(r, "pos_embed", [1, 1 + gr * gr, d])
        heads = try Lite0Support.metadataInt(weights, "num_heads", default: max(1, d / 64))
        guard d % heads == 0 else {
            throw WeightsError("\(src): metadata num_heads = \(heads) does not divide the width \(d)")
        }
        func ln(_ p: String) throws -> (Param, Param) { (try Param(r, "\(p).weight", [d]), try Param(r, "\(p).bias", [d])) }

        // Depth: one past the largest N among tensors named blocks.N.* (so a missing tensor of
        // any block is reported as missing, not as a shorter model).
        var depth = 0
        for n in weights.names where n.hasPrefix("blocks.") {
            let rest = n.dropFirst("blocks.".count)
            if let i = Int(rest.prefix(while: { $0 != "." })) { depth = max(depth, i + 1) }
        }
        var bs: [Block] = []
        for i in 0..<depth {
            let p = "blocks.\(i)."
            let hidden = try r.shape("\(p)mlp.fc1.weight").first ?? 0
            bs.append(Block(norm1: try ln("\(p)norm1"), norm2: try ln("\(p)norm2"),
                            wqkv: try Param(r, "\(p)attn.in_proj_weight", [3 * d, d]),
                            bqkv: try Param(r, "\(p)attn.in_proj_bias", [3 * d]),
                            wo: try Param(r, "\(p)attn.out_proj.weight", [d, d]),
                            bo: try Param(r, "\(p)attn.out_proj.bias", [d]),
                            fc1: try Lite0Linear(r, "\(p)mlp.fc1", in: d, out: hidden),
                            fc2: try Lite0Linear(r, "\(p)mlp.fc2", in: hidden, out: d)))
        }
        blocks = bs
        norm = try ln("norm")
        head = try Lite0Linear(r, "head", in: d, out: 1)
        try r.finish()
    }

    /// The side of the square image the network sees.
    public var inputSize: Int { 16 * grid }

    // MARK: graph

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name)
        let s = inputSize
        var x = image
        if x.shape[2] != s || x.shape[3] != s { x = try g.resizeBilinear(x, size: (s, s), alignCorners: false) }
        let f = try backbone.build(g, Lite0Support.normalize(g, x)).out
        let p = try g.conv2d(f, weight: projW.const(g, "proj.weight"), bias: projB.const(g, "proj.bias"))
        let n = grid * grid
        guard p.shape[2] * p.shape[3] == n else {
            throw EngineError(.shapeMismatch, "\(Self.name): stem gives \(p.shape[3])x\(p.shape[2]) tokens, pos_embed expects \(grid)x\(grid)")
        }

        // MARK: tokens
        let tokens = try g.permute(g.reshape(p, [1, dim, n]), [0, 2, 1])              // [1, n, D]
        var t = try g.add(g.concat([cls.const(g, "cls_token"), tokens], axis: 1), pos.const(g, "pos_embed"))

        // MARK: transformer blocks
        for (i, b) in blocks.enumerated() {
            let h = try g.layerNorm(t, gamma: b.norm1.0.const(g), beta: b.norm1.1.const(g), eps: Self.lnEps)
            let a = try g.multiHeadSelfAttention(h, heads: heads, wqkv: b.wqkv.const(g, "blocks.\(i).attn.in_proj_weight"),
                                                 bqkv: b.bqkv.const(g), wo: b.wo.const(g), bo: b.bo.const(g))
            t = try g.add(t, a)
            let h2 = try g.layerNorm(t, gamma: b.norm2.0.const(g), beta: b.norm2.1.const(g), eps: Self.lnEps)
            t = try g.add(t, b.fc2.build(g, g.gelu(b.fc1.build(g, h2))))
        }

        // MARK: CLS -> score (LayerNorm is per token: normalising the CLS token alone is exact)
        let c = try g.slice(t, axis: 1, start: 0, end: 1)
        let cn = try g.layerNorm(c, gamma: norm.0.const(g), beta: norm.1.const(g), eps: Self.lnEps)
        return try g.reshape(head.build(g, g.reshape(cn, [1, dim])), [1])
    }
}
