// MARK: - Batched matrix multiply

/// C[..., m, n] = alpha * op(A)[..., m, k] x op(B)[..., k, n], op = optional transpose of the
/// last two axes (read in place by sega_sgemm). Batch dimensions broadcast like NumPy (a rank-2
/// operand is shared by every batch). When B is shared and A is not transposed, the batch is
/// folded into M and one GEMM does the work (x [N, L, D] x W^T). Backward (beta = 1, so
/// broadcast operands sum over their batches; beta = 0 where the plan lets it overwrite):
///   dop(A) = alpha dC op(B)^T,  dop(B) = alpha op(A)^T dC.
public final class MatMul: Op {
    public let transA: Bool, transB: Bool, alpha: Float
    public var name: String { "matmul" }
    private var engine: OpaquePointer!
    private var a: UnsafeMutablePointer<Float>!, b: UnsafeMutablePointer<Float>!, c: UnsafeMutablePointer<Float>!
    private var da: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?, dc: UnsafeMutablePointer<Float>?
    private var m = 0, n = 0, k = 0, lda = 0, ldb = 0
    /// Per output batch: offsets (in floats) of its A and B matrices.
    private var aOff: [Int] = [], bOff: [Int] = []
    /// beta of the dA / dB GEMMs: 0 where the plan lets backward overwrite that gradient.
    private var betaA: Float = 1, betaB: Float = 1

    public init(transA: Bool = false, transB: Bool = false, alpha: Float = 1) {
        self.transA = transA; self.transB = transB; self.alpha = alpha
    }

    /// (batch shape, m, n, k) for the given operand shapes.
    private func dims(_ s: [[Int]]) throws -> ([Int], Int, Int, Int) {
        try require(s.count == 2, "matmul takes 2 inputs, got \(s.count)")
        let sa = s[0], sb = s[1]
        try require(sa.count >= 2 && sb.count >= 2, "matmul needs rank >= 2 operands, got \(sa) and \(sb)")
        let m = transA ? sa[sa.count - 1] : sa[sa.count - 2], ka = transA ? sa[sa.count - 2] : sa[sa.count - 1]
        let kb = transB ? sb[sb.count - 1] : sb[sb.count - 2], n = transB ? sb[sb.count - 2] : sb[sb.count - 1]
        try require(ka == kb, "matmul \(sa)\(transA ? "^T" : "") x \(sb)\(transB ? "^T" : ""): inner dimensions differ (\(ka) vs \(kb))")
        let batch = try broadcastShapes(Array(sa.dropLast(2)), Array(sb.dropLast(2)), op: "matmul batch dims of \(sa) and \(sb)")
        return (batch, m, n, ka)
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let (batch, m, n, _) = try dims(inputs)
        return batch + [m, n]
    }

    public func bind(_ bd: OpBinding) throws {
        engine = bd.engine
        a = bd.inputs[0]; b = bd.inputs[1]; c = bd.output
        da = bd.inputGrads[0]; db = bd.inputGrads[1]; dc = bd.outputGrad
        betaA = bd.inputGradOverwrite[0] ? 0 : 1; betaB = bd.inputGradOverwrite[1] ? 0 : 1
        let (batch, m, n, k) = try dims(bd.inputShapes)
        // Every GEMM size below fits Int32 (so opSgemm cannot fail: see Context.swift).
        guard m < Int(Int32.max), n < Int(Int32.max), k < Int(Int32.max) else {
            throw EngineError(.overflow, "matmul: matrix dimensions \(m)x\(n)x\(k) exceed the GEMM's int range")
        }
        self.m = m; self.n = n; self.k = k
        lda = transA ? m : k; ldb = transB ? k : n
        let sa = Array(bd.inputShapes[0].dropLast(2)), sb = Array(bd.inputShapes[1].dropLast(2))
        let stA = broadcastStrides(sa, to: batch), stB = broadcastStrides(sb, to: batch)
        let count = product(batch)
        aOff = []; bOff = []
        var idx = [Int](repeating: 0, count: batch.count)
        for _ in 0..<count {
            var oa = 0, ob = 0
            for d in 0..<batch.count { oa += idx[d] * stA[d]; ob += idx[d] * stB[d] }
            aOff.append(oa * m * k); bOff.append(ob * k * n)
            var d = batch.count - 1
            while d >= 0 { idx[d] += 1; if idx[d] < batch[d] { break }; idx[d] = 0; d -= 1 }
        }
        // Fold the batch into M when B is shared and A is a plain stack of [m, k] matrices.
        if count > 1 && !transA && product(sb) == 1 && product(sa) == count && count * m < Int(Int32.max) {
            self.m = count * m
            aOff = [0]; bOff = [0]
        }
    }

    // MARK: forward
    public func forward() {
        let mi = Int32(m), ni = Int32(n), ki = Int32(k), tA: Int32 = transA ? 1 : 0, tB: Int32 = transB ? 1 : 0
        for i in 0..<aOff.count {
            opSgemm(engine, tA, tB, mi, ni, ki, alpha, a + aOff[i], Int32(lda), b + bOff[i], Int32(ldb),
                    0, c + i * m * n, ni)
        }
    }

    // MARK: memory planning
    /// dA reads B, dB reads A; C is never read.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        ([gradsNeeded[1], gradsNeeded[0]], false)
    }

    /// An operand that is not broadcast gets each of its matrices from exactly one GEMM; with
    /// alpha 1 that GEMM's sums start from +0 and add products (never -0), so it can overwrite
    /// with the bits of an accumulation into zeros. (alpha != 1 could round a tiny negative sum
    /// to -0; broadcast operands sum over batches.)
    public func overwritesInputGradient(_ k: Int, inputs: [[Int]], output: [Int]) -> Bool {
        alpha == 1 && product(inputs[k].dropLast(2)) == product(output.dropLast(2))
    }

    // MARK: backward
    public func backward() {
        guard let dc else { return }
        let mi = Int32(m), ni = Int32(n), ki = Int32(k), tA: Int32 = transA ? 1 : 0, tB: Int32 = transB ? 1 : 0
        for i in 0..<aOff.count {
            let g = dc + i * m * n, ai = a + aOff[i], bi = b + bOff[i]
            if let da {
                if !transA {  // dA[m, k] += dC op(B)^T
                    opSgemm(engine, 0, 1 - tB, mi, ki, ni, alpha, g, ni, bi, Int32(ldb), betaA, da + aOff[i], ki)
                } else {      // dA[k, m] += op(B) dC^T
                    opSgemm(engine, tB, 1, ki, mi, ni, alpha, bi, Int32(ldb), g, ni, betaA, da + aOff[i], mi)
                }
            }
            if let db {
                if !transB {  // dB[k, n] += op(A)^T dC
                    opSgemm(engine, 1 - tA, 0, ki, ni, mi, alpha, ai, Int32(lda), g, ni, betaB, db + bOff[i], ni)
                } else {      // dB[n, k] += dC^T op(A)
                    opSgemm(engine, 1, tA, ni, ki, mi, alpha, g, ni, ai, Int32(lda), betaB, db + bOff[i], ki)
                }
            }
        }
    }
}

extension Graph {
    /// Batched alpha * op(a) x op(b) over the last two axes, batch dims broadcast.
    public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                       alpha: Float = 1) throws -> Tensor {
        try apply(MatMul(transA: transposeA, transB: transposeB, alpha: alpha), [a, b])
    }
}
