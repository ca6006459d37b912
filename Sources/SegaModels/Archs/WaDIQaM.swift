import SegaEngine

// MARK: - WaDIQaM-NR

/// WaDIQaM-NR (Bosse et al. 2018, weighted-average deep IQA) as pyiqa implements it
/// (`pyiqa/archs/wadiqam_arch.py`, metric_type 'NR', weighted_average true):
///
///     patches: non-overlapping 32x32 crops of the RGB [0, 1] image (no normalisation)
///     f = features(patch)            10 x (3x3 conv + ReLU), 2x2 max pool after every second
///                                    conv -> [C, 1, 1] per patch (C = 512 in the real network)
///     q = fc_q(f)                    Linear, ReLU, Dropout (identity at test), Linear -> 1
///     w = fc_w(f) + 1e-8             Linear, ReLU, Dropout, Linear, ReLU -> 1
///     score = sum(q w) / sum(w)      over the patches
///
/// Patch layout (pyiqa's eval path `_get_nonoverlap_patches`; the random crops are training
/// only): top-left corners i in range(0, H - 32, 32), j in range(0, W - 32, 32), row-major. The
/// bound is exclusive, so there are (H - 1) / 32 rows and (W - 1) / 32 columns: a side that is
/// an exact multiple of 32 loses its last patch, and pixels beyond the grid are unused (their
/// gradient is 0). Images of 32 pixels or fewer on a side give no patch; pyiqa fails on them
/// and so does `build`. The grid is cut out with one slice, reshape and permute, so every patch
/// runs through the feature net as one batch.
///
/// The engine has no division, so sum(q w) / sum(w) is computed as sum(q n^2) with
/// n = l2normalize(sqrt(w)): n_i^2 = w_i / sum(w) exactly in real arithmetic (w >= 1e-8 > 0, so
/// the sqrt and its gradient are finite), and the gradient is the same function's.
public final class WaDIQaM: IQAArchitecture {
    public static let name = "wadiqam"
    /// pyiqa's `score_range` for wadiqam_nr is '~-1, ~0.1'.
    public var scoreRange: (lo: Double, hi: Double) { (-1, 0.1) }
    public var inputProtocol: InputProtocol { .patches(size: Self.patch) }

    /// pyiqa's `make_layers` config [32, 32, M, 64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M].
    static let pattern = "CCMCCMCCMCCMCCM"
    static let patch = 32
    static let eps: Float = 1e-8

    let features: VGGStack
    let fcQ0W: Param, fcQ0B: Param, fcQ3W: Param, fcQ3B: Param
    let fcW0W: Param, fcW0B: Param, fcW3W: Param, fcW3B: Param

    // MARK: loading

    public init(weights: SafeTensors) throws {
        let r = WeightReader(weights, architecture: Self.name)
        features = try VGGStack(r, prefix: "features", pattern: Self.pattern)
        let c = features.outChannels
        // NR only: the FR variant's heads take 3C features and are rejected here by shape.
        let hq = try r.shape("fc_q.0.weight").first ?? 0
        fcQ0W = try Param(r, "fc_q.0.weight", [hq, c]); fcQ0B = try Param(r, "fc_q.0.bias", [hq])
        fcQ3W = try Param(r, "fc_q.3.weight", [1, hq]); fcQ3B = try Param(r, "fc_q.3.bias", [1])
        let hw = try r.shape("fc_w.0.weight").first ?? 0
        fcW0W = try Param(r, "fc_w.0.weight", [hw, c]); fcW0B = try Param(r, "fc_w.0.bias", [hw])
        fcW3W = try Param(r, "fc_w.3.weight", [1, hw]); fcW3B = try Param(r, "fc_w.3.bias", [1])
        try r.finish()
    }

    // MARK: graph

    public func build(_ g: Graph, image: Tensor) throws -> Tensor {
        try ImageInput.requireRGB(image, Self.name)
        let s = image.shape
        let p = Self.patch
        let rows = (s[2] - 1) / p, cols = (s[3] - 1) / p      // = len(range(0, side - 32, 32))
        guard rows >= 1, cols >= 1 else {
            throw EngineError(.shapeMismatch, "wadiqam: image \(s[3])x\(s[2]) has no 32x32 patch (pyiqa needs both sides > 32)")
        }
        let n = rows * cols

        // Patch grid -> batch [n, 3, 32, 32], row-major like pyiqa's loops.
        var x = image
        if rows * p != s[2] || cols * p != s[3] {
            x = try g.slice(x, starts: [0, 0, 0, 0], ends: [1, 3, rows * p, cols * p])
        }
        x = try g.reshape(x, [3, rows, p, cols, p])
        x = try g.permute(x, [1, 3, 0, 2, 4])                  // [rows, cols, 3, 32, 32]
        x = try g.reshape(x, [n, 3, p, p])

        // Per-patch features and the two heads.
        let f = try features.build(g, x)
        guard f.shape[2] == 1, f.shape[3] == 1 else {
            throw EngineError(.shapeMismatch, "wadiqam: features of a 32x32 patch are \(f.shape), expected [n, C, 1, 1]")
        }
        let feat = try g.reshape(f, [n, features.outChannels])
        var q = try g.relu(g.linear(feat, weight: fcQ0W.const(g, "fc_q.0.weight"), bias: fcQ0B.const(g, "fc_q.0.bias")))
        q = try g.linear(q, weight: fcQ3W.const(g, "fc_q.3.weight"), bias: fcQ3B.const(g, "fc_q.3.bias"))
        var w = try g.relu(g.linear(feat, weight: fcW0W.const(g, "fc_w.0.weight"), bias: fcW0B.const(g, "fc_w.0.bias")))
        w = try g.relu(g.linear(w, weight: fcW3W.const(g, "fc_w.3.weight"), bias: fcW3B.const(g, "fc_w.3.bias")))
        w = try g.affine(w, scale: 1, shift: Self.eps)

        // Weighted average: sum(q w) / sum(w) = sum(q n^2), n = sqrt(w) / ||sqrt(w)||.
        let nw = try g.l2Normalize(g.sqrt(g.reshape(w, [1, n])), axis: 1)
        let share = try g.mul(nw, nw)
        return try g.sum(g.mul(g.reshape(q, [1, n]), share), axes: [1])
    }
}
