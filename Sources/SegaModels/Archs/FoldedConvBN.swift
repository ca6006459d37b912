import SegaEngine

// MARK: - Convolution + eval-mode BatchNorm, folded at load

/// A convolution followed by an eval-mode BatchNorm2d, folded once when the weights are read
/// (`foldBatchNorm`, into the storage the weight was just read into: no second copy) into a
/// weight and bias that this value owns; the batchnorm tensors are not kept. Every graph built
/// from the model reads the same folded storage in place, so planning the model again (another
/// image size, another session) adds no weight memory.
struct FoldedConvBN {
    /// Name of the conv weight tensor (the graph constants are named after it).
    let name: String
    let weight: Param, bias: Param
    let stride: Int, padding: Conv2d.Padding, groups: Int

    var outChannels: Int { weight.shape[0] }
    var inChannels: Int { weight.shape[1] * groups }

    /// Read the conv weight `weight` of shape `shape` ([out, in / groups, k, k]), its bias
    /// `bias` if it has one, and the batchnorm `<bn>.weight/bias/running_mean/running_var`, in
    /// that order (the first missing or mis-shaped tensor is the one an error names).
    init(_ r: WeightReader, weight: String, bias: String? = nil, bn: String, shape s: [Int], eps: Float,
         stride: Int = 1, padding: Conv2d.Padding = .symmetric(0, 0), groups: Int = 1) throws {
        let o = s[0]
        var w = try r.constant(weight, s)
        let b = try bias.map { try r.constant($0, [o]) }
        let f = try foldBatchNorm(weight: &w, bias: b, outChannels: o, r.batchNorm(bn, channels: o, eps: eps))
        name = weight
        self.weight = Param(f.weight, s)
        self.bias = Param(f.bias, [o])
        self.stride = stride; self.padding = padding; self.groups = groups
    }

    /// The folded convolution on x, with an optional fused activation (`relu6(build(g, x))`'s
    /// values in one op).
    func build(_ g: Graph, _ x: Tensor, activation: Conv2d.Activation = .none) throws -> Tensor {
        try g.conv2d(x, weight: weight.const(g, "\(name).bnfolded"), bias: bias.const(g, "\(name).bnfolded_bias"),
                     stride: (stride, stride), padding: padding, groups: groups, activation: activation)
    }
}
