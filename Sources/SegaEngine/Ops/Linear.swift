// MARK: - Linear (fully connected) layer

/// y = x W^T + b over the last dimension, PyTorch layout: x [..., in], weight [out, in],
/// optional bias [out], y [..., out]. All leading dimensions are flattened into the GEMM's M, so
/// a whole batch (or a token sequence) is one `sega_sgemm` call with trans_b.
/// Backward: dx += dy W (or dx = dy W where the plan lets it overwrite); when asked for,
/// dW += dy^T x and db += column sums of dy. The weight is both products' B operand: for up to
/// `packRows` rows forward's W^T is packed once at bind instead of by every call (dx's W is not:
/// measured, it saved about 3% of the backward for twice the prepared memory).
public final class Linear: Op {
    public var name: String { "linear" }
    private var engine: OpaquePointer!
    private var x: UnsafeMutablePointer<Float>!, w: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var bias: UnsafeMutablePointer<Float>?
    private var dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?
    private var dy: UnsafeMutablePointer<Float>?
    private var m: Int32 = 0, inF: Int32 = 0, outF: Int32 = 0
    /// dx is not zeroed before backward (this op is its first writer): overwrite it.
    private var dxOverwrite = false
    /// W^T packed as forward's SGEMM B operand (`sega_gemm_pack_b`) in the prepared memory, nil
    /// where not packed (forward packs it on every call), and whether forward repacks it (the
    /// weight is not a constant).
    private var packFwd: UnsafeMutablePointer<Float>?
    private var packRepack = false

    /// Rows (x's leading dimensions flattened) up to which the weight is packed once: with few
    /// rows each weight element meets few multiply-adds, so packing it on every call costs a
    /// larger share. Tests set it (0: never; the results are the same bytes either way).
    nonisolated(unsafe) public static var packRows = 4096

    public init() {}

    // MARK: shapes

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 2 || inputs.count == 3, "linear takes x, weight and an optional bias, got \(inputs.count) inputs")
        let xs = inputs[0], wsh = inputs[1]
        try require(xs.count >= 1, "linear: x must have at least one dimension, got \(xs)")
        try require(wsh.count == 2, "linear: weight must be [out, in], got \(wsh)")
        try require(xs.last! == wsh[1], "linear: x \(xs) has \(xs.last!) features, weight \(wsh) expects \(wsh[1])")
        if inputs.count == 3 {
            try require(inputs[2] == [wsh[0]], "linear: bias must be [\(wsh[0])], got \(inputs[2]) (weight \(wsh))")
        }
        let rows = product(Array(xs.dropLast()))
        // Every GEMM size below fits Int32 (so opSgemm cannot fail: see Context.swift).
        guard rows <= Int(Int32.max), wsh[0] <= Int(Int32.max), wsh[1] <= Int(Int32.max) else {
            throw EngineError(.overflow, "linear: x \(xs) with weight \(wsh) is too large for 32-bit GEMM sizes")
        }
        return Array(xs.dropLast()) + [wsh[0]]
    }

    // MARK: prepared memory

    /// The packed W^T for forward.
    public func preparedBytes(_ inputs: [[Int]], output: [Int], withGradient: Bool) -> Int {
        Linear.packFloats(inputs) * 4
    }

    /// Floats of the packed W^T (forward: k = in, n = out), 0 where not packed: more than
    /// `packRows` rows, or a product so narrow that padding its columns to a micro-kernel's width
    /// could more than double the weight (e.g. a one-output head).
    static func packFloats(_ inputs: [[Int]]) -> Int {
        let rows = product(Array(inputs[0].dropLast())), outF = inputs[1][0], inF = inputs[1][1]
        guard rows >= 1, rows <= packRows, outF >= 1, inF >= 1 else { return 0 }
        let f = Int(sega_gemm_packed_b_floats_max(Int32(outF), Int32(inF)))
        return f <= 2 * outF * inF ? f : 0
    }

    // MARK: bind

    public func bind(_ b: OpBinding) throws {
        let xs = b.inputShapes[0], wsh = b.inputShapes[1]
        m = Int32(product(Array(xs.dropLast()))); inF = Int32(wsh[1]); outF = Int32(wsh[0])
        engine = b.engine
        (x, w, bias, y, dx, dw, db, dy) = xWeightBuffers(b)
        dxOverwrite = b.inputGradOverwrite[0]
        let f = Linear.packFloats(b.inputShapes)
        packFwd = f > 0 ? b.prepared.bindMemory(to: Float.self, capacity: f) : nil
        packRepack = !b.inputIsConstant[1]
        if !packRepack { packWeights() }
    }

    /// Packs W^T (where planned) for the micro-kernel the engine picks for m-row products.
    private func packWeights() {
        guard let p = packFwd else { return }
        let st = sega_gemm_pack_b(engine, 1, m, outF, inF, w, inF, p)
        precondition(st == SEGA_OK, "sega_gemm_pack_b from linear: \(String(cString: sega_status_message(st)))")
    }

    // MARK: forward

    public func forward() {
        if packRepack { packWeights() }
        // Rows start as the bias if any (each GEMM thread fills its own part) and the product is
        // accumulated onto them.
        var ext = sega_gemm_ext(batch: 1, b_stride: 0, c_stride: 0, row_bias: nil, act: 0, mask: nil,
                                b_mask: nil, a_mask: nil, col_bias: bias, a_packed: nil, b_packed: packFwd)
        opSgemmEx(engine, 0, 1, m, outF, inF, 1, x, inF, w, inF, 0, y, outF, &ext)
    }

    // MARK: memory planning
    /// dx reads the weight, dW reads x; the bias and y are never read.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        xWeightBackwardReads(inputs, gradsNeeded: gradsNeeded)
    }

    /// dx is one SGEMM (alpha 1) over all of x's rows, so it can start from beta 0: its sums
    /// start from +0 and add products, never -0, the bits of an accumulation into zeros.
    public func overwritesInputGradient(_ k: Int, inputs: [[Int]], output: [Int]) -> Bool { k == 0 }

    // MARK: backward

    public func backward() {
        guard let dy else { return }
        if let dx {   // dx [m x in] += dy [m x out] * W [out x in]
            opSgemm(engine, 0, 0, m, inF, outF, 1, dy, outF, w, inF, dxOverwrite ? 0 : 1, dx, inF)
        }
        if let dw {   // dW [out x in] += dy^T [out x m] * x [m x in]
            opSgemm(engine, 1, 0, outF, inF, m, 1, dy, outF, x, inF, 1, dw, inF)
        }
        if let db {
            let o = Int(outF)
            for j in 0..<o {
                var s: Double = 0
                for r in 0..<Int(m) { s += Double(dy[r * o + j]) }
                db[j] += Float(s)
            }
        }
    }
}

/// The buffers of an op over (x, weight[, bias]) -> y (Linear, Conv2d): values, then gradients.
func xWeightBuffers(_ b: OpBinding) -> (x: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
                                        bias: UnsafeMutablePointer<Float>?, y: UnsafeMutablePointer<Float>,
                                        dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?,
                                        db: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?) {
    (b.inputs[0], b.inputs[1], b.inputs.count == 3 ? b.inputs[2] : nil, b.output,
     b.inputGrads[0], b.inputGrads[1], b.inputGrads.count == 3 ? b.inputGrads[2] : nil, b.outputGrad)
}

/// `backwardReads` of an op over (x, weight[, bias]) whose input gradient reads the weight and
/// whose weight gradient reads x (Linear, Conv2d): the bias and the output are never read.
func xWeightBackwardReads(_ inputs: [[Int]], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
    var r = [Bool](repeating: false, count: inputs.count)
    r[0] = gradsNeeded[1]
    r[1] = gradsNeeded[0]
    return (r, false)
}

extension Graph {
    /// y = x weight^T + bias, weight [out, in] (PyTorch's nn.Linear layout).
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        try apply(Linear(), bias.map { [x, weight, $0] } ?? [x, weight])
    }
}
