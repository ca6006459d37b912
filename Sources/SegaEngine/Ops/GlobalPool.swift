// MARK: - Global pooling over H, W (NCHW)

/// Mean, max or min of every channel plane: x [N, C, H, W] -> y [N, C, 1, 1]. The output keeps
/// the two unit spatial dims, like PyTorch's `adaptive_*_pool2d(x, 1)`, so it composes with
/// conv/batchnorm; flatten with a reshape before a linear layer.
/// max/min save the flat index of the first extremum of each plane (Int32) and route the whole
/// gradient there, as PyTorch does; avg spreads dy / (H*W) over the plane.
public final class GlobalPool: Op {
    public enum Kind: String, Sendable { case avg = "global_avg_pool", max = "global_max_pool", min = "global_min_pool" }
    public let kind: Kind
    public var name: String { kind.rawValue }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var arg: UnsafeMutablePointer<Int32>!
    private var planes = 0, hw = 0

    public init(_ kind: Kind) { self.kind = kind }

    // MARK: shapes

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "\(name) takes 1 input, got \(inputs.count)")
        let xs = inputs[0]
        try require(xs.count == 4, "\(name): x must be [N, C, H, W], got \(xs)")
        guard xs[2] * xs[3] <= Int(Int32.max) else {
            throw EngineError(.overflow, "\(name): plane \(xs[2])x\(xs[3]) too large for Int32 indices")
        }
        return [xs[0], xs[1], 1, 1]
    }

    public func savedBytes(_ inputs: [[Int]], output: [Int]) -> Int { kind == .avg ? 0 : output[0] * output[1] * 4 }

    // MARK: bind

    public func bind(_ b: OpBinding) throws {
        let xs = b.inputShapes[0]
        planes = xs[0] * xs[1]; hw = xs[2] * xs[3]
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        arg = kind == .avg ? nil : b.saved.bindMemory(to: Int32.self, capacity: planes)
    }

    // MARK: forward

    public func forward() {
        for p in 0..<planes {
            let s = x + p * hw
            switch kind {
            case .avg:
                var acc: Double = 0
                for k in 0..<hw { acc += Double(s[k]) }
                y[p] = Float(acc / Double(hw))
            case .max, .min:
                var best = s[0], bi = 0
                if kind == .max { for k in 1..<hw where s[k] > best { best = s[k]; bi = k } }
                else { for k in 1..<hw where s[k] < best { best = s[k]; bi = k } }
                y[p] = best; arg[p] = Int32(bi)
            }
        }
    }

    // MARK: memory planning
    /// avg spreads dy; max/min route dy through the saved argmax.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        readsNothing(inputs)
    }
    /// The argmax is written by forward().
    public var savedFilledAtBind: Bool { false }

    // MARK: backward

    public func backward() {
        guard let dx, let dy else { return }
        switch kind {
        case .avg:
            let inv = 1 / Float(hw)
            for p in 0..<planes {
                let v = dy[p] * inv, t = dx + p * hw
                for k in 0..<hw { t[k] += v }
            }
        case .max, .min:
            for p in 0..<planes { dx[p * hw + Int(arg[p])] += dy[p] }
        }
    }
}

extension Graph {
    /// Mean over H, W: [N, C, H, W] -> [N, C, 1, 1].
    public func globalAvgPool(_ x: Tensor) throws -> Tensor { try apply(GlobalPool(.avg), [x]) }
    /// Max over H, W: [N, C, H, W] -> [N, C, 1, 1].
    public func globalMaxPool(_ x: Tensor) throws -> Tensor { try apply(GlobalPool(.max), [x]) }
    /// Min over H, W: [N, C, H, W] -> [N, C, 1, 1].
    public func globalMinPool(_ x: Tensor) throws -> Tensor { try apply(GlobalPool(.min), [x]) }
}
