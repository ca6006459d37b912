// MARK: - Strided slice

/// y = x[start_0:end_0:step_0, ..., start_r:end_r:step_r] with step >= 1 (Python semantics for
/// negative start/end, which count from the end; no clamping: a range outside the dimension is
/// a shape error). Forward gathers through a strided loop; backward scatters-adds dy back.
public final class Slice: Op {
    public let starts: [Int], ends: [Int], steps: [Int]
    public var name: String { "slice" }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var base = 0
    private var loop: StridedLoop!

    /// One start/end/step per axis of the input.
    public init(starts: [Int], ends: [Int], steps: [Int]) {
        self.starts = starts; self.ends = ends; self.steps = steps
    }

    /// Normalised (start, output length) per axis.
    private func ranges(_ s: [Int]) throws -> [(Int, Int)] {
        try require(starts.count == s.count && ends.count == s.count && steps.count == s.count,
                    "slice of \(s): needs one start/end/step per axis, got \(starts.count)/\(ends.count)/\(steps.count)")
        var r: [(Int, Int)] = []
        for d in 0..<s.count {
            let st = starts[d] < 0 ? starts[d] + s[d] : starts[d]
            let en = ends[d] < 0 ? ends[d] + s[d] : ends[d]
            try require(steps[d] >= 1, "slice of \(s): step \(steps[d]) on axis \(d) must be >= 1")
            try require(st >= 0 && st < en && en <= s[d],
                        "slice of \(s): range \(starts[d])..<\(ends[d]) on axis \(d) is out of range or empty")
            r.append((st, (en - st + steps[d] - 1) / steps[d]))
        }
        return r
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "slice takes 1 input, got \(inputs.count)")
        return try ranges(inputs[0]).map(\.1)
    }

    public func bind(_ b: OpBinding) throws {
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        let s = b.inputShapes[0], r = try ranges(s)
        let xs = TensorView.contiguousStrides(s)
        base = 0
        for d in 0..<s.count { base += r[d].0 * xs[d] }
        let inStrides = (0..<s.count).map { xs[$0] * steps[$0] }
        loop = StridedLoop(shape: b.outputShape, strides: [TensorView.contiguousStrides(b.outputShape), inStrides])
    }

    // MARK: forward
    public func forward() { loop.copy(into: y, from: x + base) }

    // MARK: memory planning
    /// Backward scatters dy only.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        readsNothing(inputs)
    }

    // MARK: backward
    public func backward() {
        guard let dx, let dy else { return }
        loop.accumulate(into: dx + base, from: dy)
    }
}

extension Graph {
    /// Slice every axis: `starts`, `ends` (exclusive) and optional `steps` (default 1), one per axis.
    public func slice(_ x: Tensor, starts: [Int], ends: [Int], steps: [Int]? = nil) throws -> Tensor {
        try apply(Slice(starts: starts, ends: ends, steps: steps ?? [Int](repeating: 1, count: starts.count)), [x])
    }

    /// Slice one axis, keeping the others whole.
    public func slice(_ x: Tensor, axis: Int, start: Int, end: Int, step: Int = 1) throws -> Tensor {
        let a = try normalizedAxis(axis, rank: x.rank, op: "slice of \(x.shape)")
        var st = [Int](repeating: 0, count: x.rank), en = x.shape, sp = [Int](repeating: 1, count: x.rank)
        st[a] = start; en[a] = end; sp[a] = step
        return try slice(x, starts: st, ends: en, steps: sp)
    }
}
