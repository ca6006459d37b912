// MARK: - Attention core: softmax(Q K^T / sqrt(hd)) V per head, on the packed in-projection

/// The middle of multi-head self-attention, on the in-projection's output qkv [N, L, 3D]
/// (columns Q | K | V, head h at h * hd inside each, hd = D / heads). Per image and head:
///   P = softmax(alpha Q_h K_h^T)  [L, L],  y[:, h hd ..< (h + 1) hd] = P V_h,  alpha = 1 / sqrt(hd).
/// Q, K and V are read in place through the GEMM's leading dimension (3D) and each head's result
/// is written into its columns of y [N, L, D] (leading dimension D): no split, permute or merge
/// copies, and the same arithmetic as the primitive ops (matmul, softmax, matmul) on copies.
/// P is kept (saved memory) for the backward, which writes qkv's gradient (every element, when the
/// plan lets this op be its first writer) or accumulates onto it:
///   dV_h = P^T dy_h,  dP = dy_h V_h^T,  dS = P * (dP - rowsum(dP * P)),
///   dQ_h = alpha dS K_h,  dK_h = alpha dS^T Q_h.
public final class AttentionCore: Op {
    public let heads: Int
    public var name: String { "attention" }
    private var engine: OpaquePointer!
    private var qkv: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dqkv: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var probs: UnsafeMutablePointer<Float>!, dp: UnsafeMutablePointer<Float>!
    private var n = 0, l = 0, d = 0, hd = 0, alpha: Float = 1, overwrite = false

    public init(heads: Int) { self.heads = heads }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "attention takes 1 input (qkv), got \(inputs.count)")
        let s = inputs[0]
        try require(s.count == 3 && s[2] % 3 == 0, "attention: qkv must be [N, L, 3D], got \(s)")
        try require(heads >= 1 && (s[2] / 3) % heads == 0 && s[2] > 0,
                    "attention: \(heads) heads do not divide D = \(s[2] / 3) (qkv \(s))")
        // Every GEMM size and leading dimension below fits Int32 (opSgemm cannot fail).
        guard s[1] <= Int(Int32.max), s[2] <= Int(Int32.max), s[1] * s[1] <= Int(Int32.max) else {
            throw EngineError(.overflow, "attention: qkv \(s) is too large for 32-bit GEMM sizes")
        }
        return [s[0], s[1], s[2] / 3]
    }

    /// Backward's dP (one head at a time).
    public func workspaceBytes(_ inputs: [[Int]], output: [Int]) -> Int {
        inputs[0][1] * inputs[0][1] * MemoryLayout<Float>.size
    }

    /// The probabilities of every image and head, from forward to backward.
    public func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int {
        inputs[0][0] * heads * inputs[0][1] * inputs[0][1] * MemoryLayout<Float>.size
    }
    public var savedFilledAtBind: Bool { false }

    public func bind(_ b: OpBinding) throws {
        engine = b.engine
        qkv = b.inputs[0]; y = b.output; dqkv = b.inputGrads[0]; dy = b.outputGrad
        probs = b.saved.assumingMemoryBound(to: Float.self)
        dp = b.workspace.assumingMemoryBound(to: Float.self)
        let s = b.inputShapes[0]
        (n, l, d) = (s[0], s[1], s[2] / 3)
        hd = d / heads
        alpha = 1 / Float(hd).squareRoot()
        overwrite = b.inputGradOverwrite[0]
    }

    // MARK: forward
    /// One call: each engine thread takes a range of query rows of every head (sega_attention_fwd),
    /// with the bytes of the products and softmax above computed head by head.
    public func forward() {
        let st = sega_attention_fwd(engine, Int32(n), Int32(l), Int32(d), Int32(heads), alpha, qkv, probs, y)
        precondition(st == SEGA_OK, "sega_attention_fwd from an op: \(String(cString: sega_status_message(st)))")
    }

    // MARK: memory planning
    /// Backward reads qkv (and its own saved probabilities), not y.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        ([gradsNeeded[0]], false)
    }

    /// Every element of qkv's gradient is written by one GEMM (its Q, K or V columns of a head),
    /// with beta 0 from +0 accumulators: the bits of an accumulation into zeros.
    public func overwritesInputGradient(_ k: Int, inputs: [[Int]], output: [Int]) -> Bool { k == 0 }

    // MARK: backward
    /// Per image and head, query rows then key rows split over the engine's threads
    /// (sega_attention_bwd); the bytes of the four products and the softmax backward above.
    public func backward() {
        guard let dy, let dqkv else { return }
        let st = sega_attention_bwd(engine, Int32(n), Int32(l), Int32(d), Int32(heads), alpha, qkv, probs, dy, dp,
                                    overwrite ? 0 : 1, dqkv)
        precondition(st == SEGA_OK, "sega_attention_bwd from an op: \(String(cString: sega_status_message(st)))")
    }
}

extension Graph {
    /// softmax(Q K^T / sqrt(D / heads)) V per head on qkv [N, L, 3D] (Q | K | V), heads side by
    /// side in the result [N, L, D] (see `AttentionCore`).
    public func attention(_ qkv: Tensor, heads: Int) throws -> Tensor { try apply(AttentionCore(heads: heads), [qkv]) }
}
