import SegaEngine

// MARK: - vitiqa_patch: a plain ViT on pixels

/// `vitiqa_patch`: a vision transformer with a linear patch embedding from pixels (no
/// convolutional stem, no pretrained weights); PyTorch definition: `ViTPatchIQA` in
/// `weights/iqa_models.py`. A target that shares no weights with the Lite0-based models:
///
///     image -> bilinear resize (align_corners=False) to (p gh) x (p gw) (skipped when already so)
///     -> ImageNet normalisation -> patch_embed: conv p x p, stride p, to D   [1, D, gh, gw]
///     -> gh*gw tokens + pos_embed [1, gh, gw, D]; prepend cls_token (no position embedding)
///     -> depth x pre-LN block: x + MHSA(norm1(x)); x + fc2(GELU(fc1(norm2(x))))
///     -> norm (LayerNorm, eps 1e-5) on the CLS token -> head Linear(D, 1) -> score
///
/// The blocks have `vitiqa`'s tensor layout (torch.nn.MultiheadAttention: `attn.in_proj_weight`
/// [3D, D], ...). The patch size p follows from `patch_embed.weight` [D, 3, p, p], the grid
/// (gh, gw) from `pos_embed`'s shape, the depth from the `blocks.N.` tensors present, the head
/// count from the metadata `num_heads` (default D / 64).
public final class ViTPatchIQA: IQAArchitecture {
    public static let name = "vitiqa_patch"
    /// Our own trained models predict MOS on a 0-100 scale.
    public var scoreRange: (lo: Double, hi: Double) { (0, 100) }
    public var inputProtocol: InputProtocol { .resized(height: inputSize.0, width: inputSize.1) }

    let patchW: Param, patchB: Param
    let cls: Param, pos: Param
    let blocks: [ViTIQA.Block]
    let norm: (Param, Param)
    let head: Lite0Linear
    public let dim: Int, patch: Int, gridH: Int, gridW: Int, heads: Int

    // MARK: loading

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        let src = weights.source
        let ws = try r.shape("patch_embed.weight")
        guard ws.count == 4, ws[1] == 3, ws[2] == ws[3], ws[2] >= 1 else {
            throw WeightsError("\(src): tensor 'patch_embed.weight' has shape \(ws), expected [D, 3, p, p]")
        }
        let d = ws[0]
        (dim, patch) = (d, ws[2])
        patchW = try Param(r, "patch_embed.weight", ws)
        patchB = try Param(r, "patch_embed.bias", [d])
        cls = try Param(r, "cls_token", [1, 1, d])
        let ps = try r.shape("pos_embed")
        guard ps.count == 4, ps[0] == 1, ps[1] >= 1, ps[2] >= 1, ps[3] == d else {
            throw WeightsError("\(src): tensor 'pos_embed' has shape \(ps), expected [1, gh, gw, \(d)]")
        }
        (gridH, gridW) = (ps[1], ps[2])
        let p4 = try Param(r, "pos_embed", ps)
        pos = Param(p4.data, [1, ps[1] * ps[2], d])
        heads = try Lite0Support.metadataInt(weights, "num_heads", default: max(1, d / 64))
        guard d % heads == 0 else {
            throw WeightsError("\(src): metadata num_heads = \(heads) does not divide the width \(d)")
        }
        blocks = try Self.readBlocks(r, weights, dim: d)
        norm = (try Param(r, "norm.weight", [d]), try Param(r, "norm.bias", [d]))
        head = try Lite0Linear(r, "head", in: d, out: 1)
        try r.finish()
    }

    /// blocks.0 ... blocks.(depth - 1), depth one past the largest N among tensors named
    /// blocks.N.* (so a missing tensor of any block is reported as missing, not as a shorter model).
    static func readBlocks(_ r: WeightReader, _ weights: SafeTensors, dim d: Int) throws -> [ViTIQA.Block] {
        var depth = 0
        for n in weights.names where n.hasPrefix("blocks.") {
            if let i = Int(n.dropFirst("blocks.".count).prefix(while: { $0 != "." })) { depth = max(depth, i + 1) }
        }
        func ln(_ p: String) throws -> (Param, Param) { (try Param(r, "\(p).weight", [d]), try Param(r, "\(p).bias", [d])) }
        return try (0..<depth).map { i in
            let p = "blocks.\(i)."
            let hidden = try r.shape("\(p)mlp.fc1.weight").first ?? 0
            return ViTIQA.Block(norm1: try ln("\(p)norm1"), norm2: try ln("\(p)norm2"),
                                wqkv: try Param(r, "\(p)attn.in_proj_weight", [3 * d, d]),
                                bqkv: try Param(r, "\(p)attn.in_proj_bias", [3 * d]),
                                wo: try Param(r, "\(p)attn.out_proj.weight", [d, d]),
                                bo: try Param(r, "\(p)attn.out_proj.bias", [d]),
                                fc1: try Lite0Linear(r, "\(p)mlp.fc1", in: d, out: hidden),
                                fc2: try Lite0Linear(r, "\(p)mlp.fc2", in: hidden, out: d))
        }
    }

    /// The (height, width) of the image the network sees.
    public var inputSize: (Int, Int) { (patch * gridH, patch * gridW) }

    // MARK: graph

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name)
        let (sh, sw) = inputSize
        var x = image
        if x.shape[2] != sh || x.shape[3] != sw { x = try g.resizeBilinear(x, size: (sh, sw), alignCorners: false) }
        let e = try g.conv2d(Lite0Support.normalize(g, x), weight: patchW.const(g, "patch_embed.weight"),
                             bias: patchB.const(g, "patch_embed.bias"), stride: (patch, patch))   // [1, D, gh, gw]
        let n = gridH * gridW
        let tokens = try g.add(g.permute(g.reshape(e, [1, dim, n]), [0, 2, 1]), pos.const(g, "pos_embed"))
        var t = try g.concat([cls.const(g, "cls_token"), tokens], axis: 1)                     // [1, 1 + n, D]
        for (i, b) in blocks.enumerated() { t = try Self.block(g, t, b, heads: heads, index: i) }
        // LayerNorm is per token: normalising the CLS token alone is exact.
        let c = try g.slice(t, axis: 1, start: 0, end: 1)
        let cn = try g.layerNorm(c, gamma: norm.0.const(g), beta: norm.1.const(g), eps: ViTIQA.lnEps)
        return try g.reshape(head.build(g, g.reshape(cn, [1, dim])), [1])
    }

    /// One pre-LN transformer block: x + MHSA(norm1(x)), then x + fc2(GELU(fc1(norm2(x)))).
    static func block(_ g: Graph, _ t: Tensor, _ b: ViTIQA.Block, heads: Int, index i: Int) throws -> Tensor {
        let h = try g.layerNorm(t, gamma: b.norm1.0.const(g), beta: b.norm1.1.const(g), eps: ViTIQA.lnEps)
        let a = try g.multiHeadSelfAttention(h, heads: heads, wqkv: b.wqkv.const(g, "blocks.\(i).attn.in_proj_weight"),
                                             bqkv: b.bqkv.const(g), wo: b.wo.const(g), bo: b.bo.const(g))
        let t1 = try g.add(t, a)
        let h2 = try g.layerNorm(t1, gamma: b.norm2.0.const(g), beta: b.norm2.1.const(g), eps: ViTIQA.lnEps)
        return try g.add(t1, b.fc2.build(g, g.gelu(b.fc1.build(g, h2))))
    }
}
