// MARK: - Global pooling over H, W (NCHW)

/// Mean, max or min of every channel plane: x [N, C, H, W] -> y [N, C, 1, 1]. The output keeps
/// the two unit spatial dims, like PyTorch's `adaptive_*_pool2d(x, 1)`, so it composes with
/// conv/batchnorm; flatten with a reshape before a linear layer.
/// max/min save the flat index of the first extremum of each plane (Int32) and route the whole
/// gradient there, as PyTorch does; avg spreads dy / (H*W) over the plane.
/// The reductions run 8 lanes wide (avg: eight Double partial sums, so the mean can differ from
/// a sequential Double sum in the last bit of the Float result in rare cases; max/min: per-lane
/// extremum and first index, combined so ties still go to the first index). Large inputs are
/// split over the engine's threads by whole planes, so results never depend on the thread count.
public final class GlobalPool: BackwardFromSavedState {
    public enum Kind: String, Sendable { case avg = "global_avg_pool", max = "global_max_pool", min = "global_min_pool" }
    public let kind: Kind
    public var name: String { kind.rawValue }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var arg: UnsafeMutablePointer<Int32>!
    private var planes = 0, hw = 0
    private var pool: OpaquePointer?, threads = 1

    public init(_ kind: Kind) { self.kind = kind }

    // MARK: shapes

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "\(name) takes 1 input, got \(inputs.count)")
        let xs = inputs[0]
        try require(xs.count == 4, "\(name): x must be [N, C, H, W], got \(xs)")
        guard xs[2] * xs[3] <= Int(Int32.max) else {
            throw EngineError(.overflow, "\(name): plane \(xs[3])x\(xs[2]) (width x height) too large for Int32 indices")
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
        pool = sega_engine_pool(b.engine)
        threads = b.threads
    }

    // MARK: forward

    /// Below this many elements the whole op runs on the calling thread.
    static let parallelMinElements = 1 << 18

    public func forward() {
        let parts = min(threads, planes)
        if parts > 1 && planes * hw >= GlobalPool.parallelMinElements, let pool {
            // Part t reduces planes [t*planes/parts, (t+1)*planes/parts).
            sega_pool_run(pool, { ctx, index, count in
                let op = Unmanaged<GlobalPool>.fromOpaque(ctx!).takeUnretainedValue()
                op.forwardPlanes(op.planes * Int(index) / Int(count), op.planes * Int(index + 1) / Int(count))
            }, Unmanaged.passUnretained(self).toOpaque(), Int32(parts))
        } else {
            forwardPlanes(0, planes)
        }
    }

    private func forwardPlanes(_ p0: Int, _ p1: Int) {
        for p in p0..<p1 {
            let s = UnsafePointer(x + p * hw)
            switch kind {
            case .avg:
                y[p] = Float(GlobalPool.sum(s, hw) / Double(hw))
            case .max:
                let bi = GlobalPool.firstExtremum(s, hw, max: true)
                y[p] = s[bi]; arg[p] = Int32(bi)
            case .min:
                let bi = GlobalPool.firstExtremum(s, hw, max: false)
                y[p] = s[bi]; arg[p] = Int32(bi)
            }
        }
    }

    /// Sum of s[0..<n] in Double, eight partial sums.
    @inline(__always)
    static func sum(_ s: UnsafePointer<Float>, _ n: Int) -> Double {
        var acc = SIMD8<Double>(repeating: 0)
        var k = 0
        while k + 8 <= n {
            let v = UnsafeRawPointer(s + k).loadUnaligned(as: SIMD8<Float>.self)
            acc += SIMD8<Double>(v)
            k += 8
        }
        var tail: Double = 0
        while k < n { tail += Double(s[k]); k += 1 }
        return acc.sum() + tail
    }

    /// Index of the first maximum (`max`) or minimum of s[0..<n] (n >= 1), with the scalar loop's
    /// semantics: an element replaces the best only if strictly greater (smaller), so NaNs after
    /// the first element are skipped and ties go to the first index.
    @inline(__always)
    static func firstExtremum(_ s: UnsafePointer<Float>, _ n: Int, max: Bool) -> Int {
        var best = s[0], bi = 0
        var k = 1
        if n >= 17 && !best.isNaN {
            // Lane j tracks elements 8i + j + 1; its best key and the first index of it. The key
            // is the value (max) or its negation (min: v < b <=> -v > -b, NaNs never win either
            // way), so both kinds run the same greater-than loop.
            let sign: Float = max ? 1 : -1
            var bv = SIMD8<Float>(repeating: sign * best), bx = SIMD8<Int32>(repeating: 0)
            var idx = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &+ 1
            let step = SIMD8<Int32>(repeating: 8), signs = SIMD8<Float>(repeating: sign)
            while k + 8 <= n {
                let v = UnsafeRawPointer(s + k).loadUnaligned(as: SIMD8<Float>.self) * signs
                let better = v .> bv
                bv.replace(with: v, where: better)
                bx.replace(with: idx, where: better)
                idx &+= step
                k += 8
            }
            var key = sign * best
            for j in 0..<8 {
                let v = bv[j], i = Int(bx[j])
                if v > key || (v == key && i < bi) { key = v; bi = i }
            }
            best = s[bi]
        }
        while k < n {
            if max ? s[k] > best : s[k] < best { best = s[k]; bi = k }
            k += 1
        }
        return bi
    }

    // MARK: memory planning
    // BackwardFromSavedState: avg spreads dy; max/min route dy through the argmax forward saved.

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
