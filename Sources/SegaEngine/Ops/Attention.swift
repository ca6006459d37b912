// MARK: - Multi-head self-attention (composite builder: linear, attention core, linear)

extension Graph {
    /// torch.nn.MultiheadAttention(D, heads, batch_first=True)(x, x, x)[0]:
    ///   qkv = x W_qkv^T + b_qkv                      [N, L, 3D]   (in_proj_weight / in_proj_bias)
    ///   q, k, v = split(qkv) per head                [N, H, L, D/H] each
    ///   a = softmax(q k^T / sqrt(D/H))               [N, H, L, L]
    ///   out = concat_heads(a v) W_o^T + b_o          [N, L, D]    (out_proj.weight / .bias)
    /// Shapes: x [N, L, D], wqkv [3D, D], bqkv [3D], wo [D, D], bo [D]; heads must divide D.
    /// No masks and no dropout (eval mode). The projections use `linear` (one GEMM over all N*L
    /// tokens, bias fused); the heads are one `attention` op reading q, k, v inside qkv in place.
    public func multiHeadSelfAttention(_ x: Tensor, heads: Int, wqkv: Tensor, bqkv: Tensor,
                                       wo: Tensor, bo: Tensor) throws -> Tensor {
        try require(x.rank == 3, "multiHeadSelfAttention: x must be [N, L, D], got \(x.shape)")
        let d = x.shape[2]
        try require(heads >= 1 && d % heads == 0, "multiHeadSelfAttention: \(heads) heads do not divide D = \(d) (x \(x.shape))")
        try require(wqkv.shape == [3 * d, d], "multiHeadSelfAttention: wqkv must be [\(3 * d), \(d)], got \(wqkv.shape)")
        try require(bqkv.shape == [3 * d], "multiHeadSelfAttention: bqkv must be [\(3 * d)], got \(bqkv.shape)")
        try require(wo.shape == [d, d], "multiHeadSelfAttention: wo must be [\(d), \(d)], got \(wo.shape)")
        try require(bo.shape == [d], "multiHeadSelfAttention: bo must be [\(d)], got \(bo.shape)")
        let qkv = try linear(x, weight: wqkv, bias: bqkv)      // [N, L, 3D]
        let merged = try attention(qkv, heads: heads)            // [N, L, D]
        return try linear(merged, weight: wo, bias: bo)
    }
}
