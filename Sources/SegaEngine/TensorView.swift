// MARK: - Tensor views

/// A strided view over float memory that someone else owns (usually a plan's arena).
/// Shapes and strides are plain arrays; build views at plan time, not in a hot loop.
public struct TensorView {
    public let base: UnsafeMutablePointer<Float>
    public let shape: [Int]
    public let strides: [Int]

    /// Contiguous row-major view.
    public init(_ base: UnsafeMutablePointer<Float>, shape: [Int]) {
        self.base = base
        self.shape = shape
        self.strides = TensorView.contiguousStrides(shape)
    }

    public init(_ base: UnsafeMutablePointer<Float>, shape: [Int], strides: [Int]) {
        precondition(shape.count == strides.count, "shape and strides differ in rank")
        self.base = base
        self.shape = shape
        self.strides = strides
    }

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }
    public var isContiguous: Bool { strides == TensorView.contiguousStrides(shape) }

    @inlinable @inline(__always)
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// Element at a multi-index (bounds-checked; for tests and tools, not kernels).
    public subscript(_ index: [Int]) -> Float {
        get { base[offset(index)] }
        nonmutating set { base[offset(index)] = newValue }
    }

    public func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank \(index.count) != tensor rank \(shape.count)")
        var o = 0
        for d in 0..<index.count {
            precondition(index[d] >= 0 && index[d] < shape[d], "index \(index) out of bounds \(shape)")
            o += index[d] * strides[d]
        }
        return o
    }

    /// View with the last dimensions permuted (no copy).
    public func permuted(_ perm: [Int]) -> TensorView {
        precondition(perm.sorted() == Array(0..<rank), "invalid permutation \(perm)")
        return TensorView(base, shape: perm.map { shape[$0] }, strides: perm.map { strides[$0] })
    }

    /// Copy out into a new array in row-major order of this view's shape.
    public func toArray() -> [Float] {
        var out = [Float]()
        out.reserveCapacity(count)
        var idx = [Int](repeating: 0, count: rank)
        let n = count
        for _ in 0..<n {
            var o = 0
            for d in 0..<rank { o += idx[d] * strides[d] }
            out.append(base[o])
            var d = rank - 1
            while d >= 0 {
                idx[d] += 1
                if idx[d] < shape[d] { break }
                idx[d] = 0
                d -= 1
            }
        }
        return out
    }
}

/// Number of elements of a shape, with overflow and sign checks.
public func elementCount(_ shape: [Int], what: @autoclosure () -> String = "tensor") throws -> Int {
    var n = 1
    for d in shape {
        guard d > 0 else { throw EngineError(.invalidArgument, "\(what()) has a non-positive dimension in shape \(shape)") }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        guard !o, p <= Int(Int32.max) * 64 else { throw EngineError(.overflow, "\(what()) shape \(shape) is too large") }
        n = p
    }
    return n
}
