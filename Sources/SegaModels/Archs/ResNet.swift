import SegaEngine

// MARK: - Shared ResNet / ResNeXt trunk

extension FoldedConvBN {
    /// A ResNet layer: a bias-free conv `conv` ([out, in/groups, k, k], a square kernel; `shape`
    /// checked when given) and the batchnorm `bn` (eps 1e-5), folded at load.
    static func resnet(_ r: WeightReader, conv: String, bn: String, shape: [Int]? = nil, stride: Int = 1,
                       padding: Int = 0, groups: Int = 1) throws -> FoldedConvBN {
        let s = try shape ?? r.shape(conv)
        guard s.count == 4, s[0] >= 1, s[2] == s[3] else {
            throw WeightsError("\(r.file.source): tensor '\(conv)' has shape \(s), expected a square conv kernel [out, in, k, k]")
        }
        return try FoldedConvBN(r, weight: conv, bn: bn, shape: s, eps: 1e-5, stride: stride,
                                padding: .symmetric(padding, padding), groups: groups)
    }
}

/// torchvision's / timm's `Bottleneck`: 1x1 (in -> width), 3x3 grouped (width -> width, carries the
/// stride), 1x1 (width -> out), each with BN; relu after the first two and after the residual sum.
/// The shortcut is a strided 1x1 conv + BN (`downsample.0/1`) when present, else the identity.
/// ResNet-50 has groups = 1; ResNeXt-101 32x8d has groups = 32 (inferred from the 3x3 kernel's
/// input depth: groups = width / weight.shape[1]).
struct ResNetBottleneck {
    let c1: FoldedConvBN, c2: FoldedConvBN, c3: FoldedConvBN
    let down: FoldedConvBN?

    init(_ r: WeightReader, prefix p: String, inChannels: Int, stride: Int) throws {
        let s1 = try r.shape("\(p).conv1.weight")
        guard s1.count == 4, s1[1] == inChannels, s1[2] == 1, s1[3] == 1 else {
            throw WeightsError("\(r.file.source): tensor '\(p).conv1.weight' has shape \(s1), expected [width, \(inChannels), 1, 1]")
        }
        let width = s1[0]
        c1 = try FoldedConvBN.resnet(r, conv: "\(p).conv1.weight", bn: "\(p).bn1", shape: s1)
        let s2 = try r.shape("\(p).conv2.weight")
        guard s2.count == 4, s2[0] == width, s2[1] >= 1, width % s2[1] == 0, s2[2] == 3, s2[3] == 3 else {
            throw WeightsError("\(r.file.source): tensor '\(p).conv2.weight' has shape \(s2), expected [\(width), \(width)/groups, 3, 3]")
        }
        c2 = try FoldedConvBN.resnet(r, conv: "\(p).conv2.weight", bn: "\(p).bn2", shape: s2, stride: stride, padding: 1,
                        groups: width / s2[1])
        let s3 = try r.shape("\(p).conv3.weight")
        guard s3.count == 4, s3[1] == width, s3[2] == 1, s3[3] == 1 else {
            throw WeightsError("\(r.file.source): tensor '\(p).conv3.weight' has shape \(s3), expected [out, \(width), 1, 1]")
        }
        c3 = try FoldedConvBN.resnet(r, conv: "\(p).conv3.weight", bn: "\(p).bn3", shape: s3)
        if r.has("\(p).downsample.0.weight") {
            down = try FoldedConvBN.resnet(r, conv: "\(p).downsample.0.weight", bn: "\(p).downsample.1",
                              shape: [s3[0], inChannels, 1, 1], stride: stride)
        } else {
            guard stride == 1, s3[0] == inChannels else {
                throw WeightsError("\(r.file.source): missing tensor '\(p).downsample.0.weight' (block changes stride or width \(inChannels) -> \(s3[0]))")
            }
            down = nil
        }
    }

    var outChannels: Int { c3.outChannels }

    func build(_ g: Graph, _ x: Tensor) throws -> Tensor {
        var y = try c1.build(g, x, activation: .relu)
        y = try c2.build(g, y, activation: .relu)
        y = try c3.build(g, y)
        let shortcut = try down.map { try $0.build(g, x) } ?? x
        return try g.add(y, shortcut, activation: .relu)   // relu(y + shortcut), one pass
    }
}

/// The convolutional part of a ResNet / ResNeXt (torchvision `resnet*`/`resnext*`, timm `resnet50`):
/// stem conv 7x7/2 + BN + relu + maxpool 3x3/2 (pad 1), then stages of bottlenecks whose first
/// block has stride 1 (stage 1) or 2 (later stages). Block counts ([3,4,6,3] for ResNet-50,
/// [3,4,23,3] for ResNeXt-101) and every width are read from the weights, so reduced test
/// variants load through the same code. `build` returns the output of every stage.
struct ResNetTrunk {
    let stem: FoldedConvBN
    let stages: [[ResNetBottleneck]]

    /// - Parameters:
    ///   - stemConv: name of the 7x7 stem weight (e.g. "base_model.conv1.weight", "features.0.weight");
    ///   - stemBN: prefix of its batchnorm ("base_model.bn1", "features.1");
    ///   - stages: prefixes of the stages ("base_model.layer1", ... or "features.4", ...).
    init(_ r: WeightReader, stemConv: String, stemBN: String, stages names: [String]) throws {
        let ss = try r.shape(stemConv)
        guard ss.count == 4, ss[1] == 3, ss[2] == 7, ss[3] == 7 else {
            throw WeightsError("\(r.file.source): tensor '\(stemConv)' has shape \(ss), expected [C, 3, 7, 7]")
        }
        stem = try FoldedConvBN.resnet(r, conv: stemConv, bn: stemBN, shape: ss, stride: 2, padding: 3)
        var c = ss[0]
        var st: [[ResNetBottleneck]] = []
        for (i, name) in names.enumerated() {
            var blocks: [ResNetBottleneck] = []
            var j = 0
            while r.has("\(name).\(j).conv1.weight") {
                let b = try ResNetBottleneck(r, prefix: "\(name).\(j)", inChannels: c, stride: j == 0 && i > 0 ? 2 : 1)
                c = b.outChannels
                blocks.append(b)
                j += 1
            }
            guard !blocks.isEmpty else {
                throw WeightsError("\(r.file.source): missing tensor '\(name).0.conv1.weight' required by \(r.architecture) (are these weights for another architecture?)")
            }
            st.append(blocks)
        }
        stages = st
    }

    /// Output channels of every stage.
    var stageChannels: [Int] { stages.map { $0.last!.outChannels } }

    /// The stage outputs for x [N, 3, H, W] (already normalised).
    func build(_ g: Graph, _ x: Tensor) throws -> [Tensor] {
        var h = try stem.build(g, x, activation: .relu)
        h = try g.maxPool2d(h, kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        var outs: [Tensor] = []
        for blocks in stages {
            for b in blocks { h = try b.build(g, h) }
            outs.append(h)
        }
        return outs
    }
}

// MARK: - ImageNet normalisation

extension ResNetTrunk {
    /// Per-channel (x - mean) / std over axis 1 of an [N, 3, H, W] image, 1/std rounded in
    /// Float (see `ImageInput.imageNetNormalize`).
    static func normalize(_ g: Graph, _ x: Tensor) throws -> Tensor {
        try ImageInput.imageNetNormalize(g, x, reciprocal: .float)
    }
}
