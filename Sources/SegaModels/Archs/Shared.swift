import SegaEngine

// MARK: - Input image

/// What every architecture does to its input first.
enum ImageInput {
    /// Throw unless `image` is [1, 3, H, W]; the message names `arch`.
    static func requireRGB(_ image: Tensor, _ arch: String) throws {
        let s = image.shape
        guard s.count == 4, s[0] == 1, s[1] == 3 else {
            throw EngineError(.shapeMismatch, "\(arch): image must be [1, 3, H, W], got \(s)")
        }
    }

    /// Same, and both sides at least `minSide` (`reason` says why, in the message).
    static func requireRGB(_ image: Tensor, _ arch: String, minSide n: Int, reason: String) throws {
        try requireRGB(image, arch)
        let s = image.shape
        guard s[2] >= n, s[3] >= n else {
            throw EngineError(.shapeMismatch, "\(arch): image \(s[3])x\(s[2]) is smaller than \(n)x\(n) (\(reason))")
        }
    }

    /// How 1/std is rounded to Float. They differ by an ulp for 0.224; each architecture keeps
    /// the one its parity fixtures were checked with.
    enum Reciprocal {
        /// 1 / Float(std): the ports of pyiqa's models.
        case float
        /// Float(1 / Double(std)): the Lite0 family.
        case double
    }

    /// (x - mean) / std per RGB channel (axis 1) with ImageNet statistics, as graph ops; the
    /// division is a multiplication by 1/std (at most an ulp from PyTorch's division).
    static func imageNetNormalize(_ g: Graph, _ x: Tensor, reciprocal: Reciprocal) throws -> Tensor {
        let mean: [Float] = [0.485, 0.456, 0.406], std: [Double] = [0.229, 0.224, 0.225]
        let inv = std.map { reciprocal == .float ? 1 / Float($0) : Float(1 / $0) }
        let m = try g.constant(mean, [1, 3, 1, 1], name: "imagenet_mean")
        let s = try g.constant(inv, [1, 3, 1, 1], name: "imagenet_inv_std")
        return try g.mul(g.sub(x, m), s)
    }
}

// MARK: - Layer readers

extension WeightReader {
    /// A linear layer: `<name>.weight` [out, in] and `<name>.bias` [out], with `in` and `out`
    /// checked when given.
    func linear(_ name: String, in n: Int?, out: Int? = nil) throws -> (w: Param, b: Param) {
        let s = try linearShape(name, in: n, out: out)
        return (try Param(self, "\(name).weight", s), try Param(self, "\(name).bias", [s[0]]))
    }

    /// The shape of `<name>.weight`, checked to be [out, in].
    private func linearShape(_ name: String, in n: Int?, out: Int?) throws -> [Int] {
        let s = try shape("\(name).weight")
        guard s.count == 2, s[0] >= 1, n == nil || s[1] == n!, out == nil || s[0] == out! else {
            throw WeightsError("\(file.source): tensor '\(name).weight' has shape \(s), expected [\(out.map(String.init) ?? "out"), \(n.map(String.init) ?? "in")]")
        }
        return s
    }

    /// A convolution with bias: `<name>.weight` [out, in, k, k] and `<name>.bias` [out], `out`
    /// checked when given.
    func conv(_ name: String, in n: Int, kernel k: Int, out: Int? = nil) throws -> (w: Param, b: Param) {
        let s = try shape("\(name).weight")
        guard s.count == 4, s[0] >= 1, s[1] == n, s[2] == k, s[3] == k, out == nil || s[0] == out! else {
            throw WeightsError("\(file.source): tensor '\(name).weight' has shape \(s), expected [\(out.map(String.init) ?? "out"), \(n), \(k), \(k)]")
        }
        return (try Param(self, "\(name).weight", s), try Param(self, "\(name).bias", [s[0]]))
    }

    /// A linear layer followed by an eval-mode BatchNorm1d `bn` (read after it), folded into one
    /// linear layer at load (`foldBatchNorm`, into the storage the weight was just read into).
    func foldedLinearBN(_ name: String, bn: String, in n: Int, eps: Float = 1e-5) throws -> (w: Param, b: Param) {
        let s = try linearShape(name, in: n, out: nil)
        var w = try constant("\(name).weight", s)
        let b = try constant("\(name).bias", [s[0]])
        let f = try foldBatchNorm(weight: &w, bias: b, outChannels: s[0], batchNorm(bn, channels: s[0], eps: eps))
        return (Param(f.weight, s), Param(f.bias, [s[0]]))
    }

    /// An eval-mode batchnorm's `<bn>.weight`, `.bias`, `.running_mean`, `.running_var` (read in
    /// that order), each [channels].
    func batchNorm(_ bn: String, channels o: Int, eps: Float) throws -> BatchNormParameters {
        BatchNormParameters(gamma: try constant("\(bn).weight", [o]), beta: try constant("\(bn).bias", [o]),
                            mean: try constant("\(bn).running_mean", [o]), variance: try constant("\(bn).running_var", [o]),
                            eps: eps)
    }
}
