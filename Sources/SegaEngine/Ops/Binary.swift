// MARK: - Broadcasting add / sub / mul

/// y = a + b, a - b or a * b with NumPy/PyTorch broadcasting (shapes aligned on the right, size-1
/// or missing dimensions stretched). One strided loop over y carries a's and b's offsets
/// (stride 0 on broadcast dims); the backward walks the same loop, so adding into a broadcast
/// operand's gradient at stride 0 is exactly the reduction over its broadcast dims. Same-shape
/// operands (one contiguous row) go to one C call split over the engine's threads instead, with
/// the same per-element arithmetic.
/// Fused activation (`activation` relu / relu6, e.g. a residual add and the relu after it):
/// y = act(a op b), with the bytes of the op followed by `Activation` (its mask saved, 1 byte per
/// output); the backward masks dy as relu's backward into a zeroed buffer would
/// (`mask ? dy + 0 : +0`) before the op's own gradients.
public final class Binary: Op {
    public enum Kind: String { case add, sub, mul }
    public let kind: Kind
    /// An activation applied to the output inside the op.
    public let activation: Conv2d.Activation
    public var name: String {
        switch activation {
        case .none: kind.rawValue
        case .relu: kind.rawValue + "+relu"
        case .relu6: kind.rawValue + "+relu6"
        }
    }
    private var a: UnsafeMutablePointer<Float>!, b: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var da: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var loop: StridedLoop!
    private var engine: OpaquePointer!
    /// a, b and y have the same shape (the loop is one contiguous row): sega_binary_mt.
    private var flat = false
    /// The operands' gradients are not zeroed before backward (this op is their first writer).
    private var overwrite = (a: false, b: false)
    /// The fused activation's mask (nil without activation or backward); without `flat`, the
    /// masked dy goes to the workspace before the strided loop.
    private var mask: UnsafeMutablePointer<UInt8>?
    private var ws: UnsafeMutablePointer<Float>!

    public init(_ kind: Kind, activation: Conv2d.Activation = .none) { self.kind = kind; self.activation = activation }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 2, "\(name) takes 2 inputs, got \(inputs.count)")
        return try broadcastShapes(inputs[0], inputs[1], op: name)
    }

    public func bind(_ bd: OpBinding) throws {
        a = bd.inputs[0]; b = bd.inputs[1]; y = bd.output
        da = bd.inputGrads[0]; db = bd.inputGrads[1]; dy = bd.outputGrad
        overwrite = (bd.inputGradOverwrite[0], bd.inputGradOverwrite[1])
        let s = bd.outputShape
        loop = StridedLoop(shape: s, strides: [TensorView.contiguousStrides(s),
                                               broadcastStrides(bd.inputShapes[0], to: s),
                                               broadcastStrides(bd.inputShapes[1], to: s)])
        engine = bd.engine
        flat = loop.rows == 1 && loop.s0 == 1 && loop.s1 == 1 && loop.s2 == 1
        mask = activation != .none && (da != nil || db != nil) ? bd.saved.bindMemory(to: UInt8.self, capacity: product(s)) : nil
        ws = bd.workspace.assumingMemoryBound(to: Float.self)
    }

    /// The fused activation's mask: one byte per output, written by forward.
    public func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int { activation == .none ? 0 : product(output) }
    public var savedFilledAtBind: Bool { false }

    /// With an activation and a broadcast operand: dy masked, one float per output.
    public func workspaceBytes(_ inputs: [[Int]], output: [Int]) -> Int {
        let n = product(output)
        return activation == .none || inputs.allSatisfy({ product($0) == n }) ? 0 : 4 * n
    }

    private var cOp: Int32 {
        switch kind {
        case .add: Int32(SEGA_BIN_ADD)
        case .sub: Int32(SEGA_BIN_SUB)
        case .mul: Int32(SEGA_BIN_MUL)
        }
    }

    // MARK: forward
    public func forward() {
        if flat { sega_binary_act_mt(engine, loop.inner, cOp, a, b, y, activation.code, mask); return }
        defer { if activation != .none { sega_act_fwd_inplace(engine, loop.inner * loop.rows, activation.code, y, mask) } }
        let L = loop!, n = L.inner, sy = L.s0, sa = L.s1, sb = L.s2
        var oy = 0, oa = 0, ob = 0
        L.reset()
        for _ in 0..<L.rows {
            let yr = y + oy, ar = a + oa, br = b + ob
            if sy == 1 && sa == 1 && sb == 0 { rowWithScalar(n, yr, ar, br[0]) }   // b broadcast along the row
            else { switch kind {
            case .add:
                if sy == 1 && sa == 1 && sb == 1 { for k in 0..<n { yr[k] = ar[k] + br[k] } }
                else { for k in 0..<n { yr[k * sy] = ar[k * sa] + br[k * sb] } }
            case .sub:
                if sy == 1 && sa == 1 && sb == 1 { for k in 0..<n { yr[k] = ar[k] - br[k] } }
                else { for k in 0..<n { yr[k * sy] = ar[k * sa] - br[k * sb] } }
            case .mul:
                if sy == 1 && sa == 1 && sb == 1 { for k in 0..<n { yr[k] = ar[k] * br[k] } }
                else { for k in 0..<n { yr[k * sy] = ar[k * sa] * br[k * sb] } }
            } }
            L.advance(&oy, &oa, &ob)
        }
    }

    /// y[k] = a[k] op s: one row with b broadcast along it (a per-channel constant), the strided
    /// loop's operation per element, in a loop the compiler vectorises.
    @inline(__always)
    private func rowWithScalar(_ n: Int, _ yr: UnsafeMutablePointer<Float>, _ ar: UnsafeMutablePointer<Float>, _ s: Float) {
        switch kind {
        case .add: for k in 0..<n { yr[k] = ar[k] + s }
        case .sub: for k in 0..<n { yr[k] = ar[k] - s }
        case .mul: for k in 0..<n { yr[k] = ar[k] * s }
        }
    }

    // MARK: memory planning
    /// add/sub: dy only; mul: each operand's gradient reads the other operand.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        guard kind == .mul else { return readsNothing(inputs) }
        return ([gradsNeeded[1], gradsNeeded[0]], false)
    }

    /// An operand of the output's shape gets one value per element of y (no sum over broadcast
    /// dims), so its gradient can be written instead of accumulated.
    public func overwritesInputGradient(_ k: Int, inputs: [[Int]], output: [Int]) -> Bool { inputs[k] == output }

    // MARK: backward
    public func backward() {
        guard var dy else { return }
        if flat { flatBackward(dy); return }
        if let mask {   // the gradient at the activation's input
            sega_mask_copy(engine, loop.inner * loop.rows, mask, dy, ws)
            dy = ws
        }
        let L = loop!, n = L.inner, sy = L.s0, sa = L.s1, sb = L.s2
        var oy = 0, oa = 0, ob = 0
        L.reset()
        for _ in 0..<L.rows {
            let g = dy + oy
            // d(a): dy (add, sub) or dy * b (mul); d(b): dy, -dy, or dy * a.
            if let da {
                let dr = da + oa
                switch kind {
                case .add, .sub: Binary.accumulate(n, g, sy, nil, 0, 1, dr, sa, overwrite.a)
                case .mul: Binary.accumulate(n, g, sy, b + ob, sb, 1, dr, sa, overwrite.a)
                }
            }
            if let db {
                let dr = db + ob
                switch kind {
                case .add: Binary.accumulate(n, g, sy, nil, 0, 1, dr, sb, overwrite.b)
                case .sub: Binary.accumulate(n, g, sy, nil, 0, -1, dr, sb, overwrite.b)
                case .mul: Binary.accumulate(n, g, sy, a + oa, sa, 1, dr, sb, overwrite.b)
                }
            }
            L.advance(&oy, &oa, &ob)
        }
    }

    /// The backward of same-shape operands: d = 0 + sign * dy (* other) when overwriting, else
    /// d += the same (accumulate's contiguous branches, per element), split over the threads.
    private func flatBackward(_ g: UnsafeMutablePointer<Float>) {
        let n = loop.inner, set = Int32(SEGA_BIN_SET), acc = Int32(SEGA_BIN_ACC)
        if let da {
            sega_binary_grad_masked_mt(engine, n, overwrite.a ? set : acc, 1, mask, g, kind == .mul ? b : nil, da)
        }
        if let db {
            sega_binary_grad_masked_mt(engine, n, overwrite.b ? set : acc, kind == .sub ? -1 : 1, mask, g, kind == .mul ? a : nil, db)
        }
    }

    /// d[k * sd] += sign * g[k * sg] * (w?[k * sw] ?? 1); with sd == 0 the row sums into one element.
    /// `set` (d not zeroed, sd != 0): d[k * sd] = 0 + the same term, the bits the accumulation
    /// into a zeroed d leaves.
    @inline(__always)
    private static func accumulate(_ n: Int, _ g: UnsafeMutablePointer<Float>, _ sg: Int,
                                   _ w: UnsafeMutablePointer<Float>?, _ sw: Int, _ sign: Float,
                                   _ d: UnsafeMutablePointer<Float>, _ sd: Int, _ set: Bool) {
        if sd == 1 && sg == 1, let w, sw == 0 {   // w broadcast along the row (d(a) of a * per-channel b)
            let wv = w[0]
            if set { for k in 0..<n { d[k] = 0 + sign * g[k] * wv } }
            else { for k in 0..<n { d[k] += sign * g[k] * wv } }
        } else if set {
            if sd == 1 && sg == 1 && (w == nil || sw == 1) { setContiguous(n, g, w, sign, d) }
            else if let w { for k in 0..<n { d[k * sd] = 0 + sign * g[k * sg] * w[k * sw] } }
            else { for k in 0..<n { d[k * sd] = 0 + sign * g[k * sg] } }
        } else if sd == 0 {
            var s: Float = 0
            if let w { for k in 0..<n { s += g[k * sg] * w[k * sw] } } else { for k in 0..<n { s += g[k * sg] } }
            d[0] += sign * s
        } else if sd == 1 && sg == 1 && (w == nil || sw == 1) {
            // Contiguous row (every same-shape operand, and inner rows of many broadcasts): the
            // same per-element arithmetic as below (sign * g is exact for sign = +-1), vectorised.
            if let w { mulAccumulate(n, g, w, d) }
            else if sign == 1 { sega_add_inplace(n, g, d) }
            else { sega_axpy(n, sign, g, d) }
        } else if let w {
            for k in 0..<n { d[k * sd] += sign * g[k * sg] * w[k * sw] }
        } else {
            for k in 0..<n { d[k * sd] += sign * g[k * sg] }
        }
    }

    /// d[k] = 0 + sign * g[k] * (w?[k] ?? 1) (the scalar loop's operations), 8 lanes wide.
    @inline(__always)
    private static func setContiguous(_ n: Int, _ g: UnsafeMutablePointer<Float>, _ w: UnsafeMutablePointer<Float>?,
                                      _ sign: Float, _ d: UnsafeMutablePointer<Float>) {
        let zero = SIMD8<Float>(repeating: 0), sv = SIMD8<Float>(repeating: sign)
        var k = 0
        while k + 8 <= n {
            var v = sv * UnsafeRawPointer(g + k).loadUnaligned(as: SIMD8<Float>.self)
            if let w { v = v * UnsafeRawPointer(w + k).loadUnaligned(as: SIMD8<Float>.self) }
            UnsafeMutableRawPointer(d + k).storeBytes(of: zero + v, as: SIMD8<Float>.self)
            k += 8
        }
        if let w { while k < n { d[k] = 0 + sign * g[k] * w[k]; k += 1 } }
        else { while k < n { d[k] = 0 + sign * g[k]; k += 1 } }
    }

    /// d[k] += g[k] * w[k] (rounded product, then rounded sum, as the scalar loop), 8 lanes wide.
    @inline(__always)
    private static func mulAccumulate(_ n: Int, _ g: UnsafeMutablePointer<Float>, _ w: UnsafeMutablePointer<Float>,
                                      _ d: UnsafeMutablePointer<Float>) {
        var k = 0
        while k + 8 <= n {
            let gv = UnsafeRawPointer(g + k).loadUnaligned(as: SIMD8<Float>.self)
            let wv = UnsafeRawPointer(w + k).loadUnaligned(as: SIMD8<Float>.self)
            let dv = UnsafeRawPointer(d + k).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(d + k).storeBytes(of: dv + gv * wv, as: SIMD8<Float>.self)
            k += 8
        }
        while k < n { d[k] += g[k] * w[k]; k += 1 }
    }
}

extension Graph {
    /// a + b with broadcasting; `activation` relu/relu6 fused (a residual add and its relu).
    public func add(_ a: Tensor, _ b: Tensor, activation: Conv2d.Activation = .none) throws -> Tensor {
        try apply(Binary(.add, activation: activation), [a, b])
    }
    /// a - b with broadcasting.
    public func sub(_ a: Tensor, _ b: Tensor) throws -> Tensor { try apply(Binary(.sub), [a, b]) }
    /// a * b (elementwise) with broadcasting.
    public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor { try apply(Binary(.mul), [a, b]) }
}
