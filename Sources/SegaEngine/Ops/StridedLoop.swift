// MARK: - Strided loop nest (shared by the shape ops; not an op itself)

/// A loop nest over an index space that up to three operands walk with their own strides
/// (stride 0 = broadcast, or a reduction target). Built at bind time: size-1 dimensions are
/// dropped and adjacent dimensions that are contiguous for every operand are merged, so a
/// plain elementwise op becomes a single row. At run time the op loops over `rows` rows of
/// `inner` elements, reading the operands' row offsets and calling `advance` between rows;
/// nothing is allocated.
final class StridedLoop {
    /// Elements per row and the operands' strides along the row.
    let inner: Int
    let s0: Int, s1: Int, s2: Int
    /// Number of rows (product of the outer dimensions).
    let rows: Int
    /// Outer dimensions (innermost last) and their strides, operand-major: strides[k * outer + d].
    private let outer: Int
    private let dims: UnsafeMutablePointer<Int>
    private let strides: UnsafeMutablePointer<Int>
    private let counter: UnsafeMutablePointer<Int>

    /// - Parameters:
    ///   - shape: the index space.
    ///   - operandStrides: 1 to 3 stride lists, each of `shape.count` entries.
    init(shape: [Int], strides operandStrides: [[Int]]) {
        let k = operandStrides.count
        precondition(k >= 1 && k <= 3 && operandStrides.allSatisfy { $0.count == shape.count })
        // Drop size-1 dimensions, then merge neighbours contiguous for all operands.
        var ds: [Int] = []
        var ss: [[Int]] = Array(repeating: [], count: k)
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = ds.last,
               (0..<k).allSatisfy({ ss[$0].last! == operandStrides[$0][d] * shape[d] }) {
                ds[ds.count - 1] = last * shape[d]
                for j in 0..<k { ss[j][ss[j].count - 1] = operandStrides[j][d] }
            } else {
                ds.append(shape[d])
                for j in 0..<k { ss[j].append(operandStrides[j][d]) }
            }
        }
        if ds.isEmpty {
            ds = [1]
            for j in 0..<k { ss[j] = [0] }
        }
        while ss.count < 3 { ss.append([Int](repeating: 0, count: ds.count)) }
        inner = ds.last!
        s0 = ss[0].last!; s1 = ss[1].last!; s2 = ss[2].last!
        outer = ds.count - 1
        rows = ds.dropLast().reduce(1, *)
        dims = .allocate(capacity: max(outer, 1))
        strides = .allocate(capacity: max(3 * outer, 1))
        counter = .allocate(capacity: max(outer, 1))
        for d in 0..<outer {
            dims[d] = ds[d]
            counter[d] = 0
            for j in 0..<3 { strides[j * outer + d] = ss[j][d] }
        }
    }

    deinit {
        dims.deallocate()
        strides.deallocate()
        counter.deallocate()
    }

    /// Start a walk: all offsets are 0 (callers add their base offsets themselves).
    @inline(__always)
    func reset() {
        for d in 0..<outer { counter[d] = 0 }
    }

    /// body(o, i) for every row, with the row offsets of operands 0 and 1.
    @inline(__always)
    func forEachRow(_ body: (Int, Int) -> Void) {
        var o = 0, i = 0, unused = 0
        reset()
        for _ in 0..<rows {
            body(o, i)
            advance(&o, &i, &unused)
        }
    }

    /// dst[o] = src[i] over the nest, o walking operand 0's strides and i operand 1's (a gather
    /// when operand 0 is the contiguous output).
    @inline(__always)
    func copy(into dst: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>) {
        let n = inner, so = s0, si = s1
        forEachRow { o, i in
            if si == 1 && so == 1 { (dst + o).update(from: src + i, count: n) }
            else { for k in 0..<n { dst[o + k * so] = src[i + k * si] } }
        }
    }

    /// dst[i] += src[o] over the nest (the adjoint of `copy`: a scatter-add of the gradient).
    @inline(__always)
    func accumulate(into dst: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>) {
        let n = inner, so = s0, si = s1
        forEachRow { o, i in for k in 0..<n { dst[i + k * si] += src[o + k * so] } }
    }

    /// Move to the next row, updating the three row offsets.
    @inline(__always)
    func advance(_ o0: inout Int, _ o1: inout Int, _ o2: inout Int) {
        var d = outer - 1
        while d >= 0 {
            counter[d] += 1
            o0 += strides[d]; o1 += strides[outer + d]; o2 += strides[2 * outer + d]
            if counter[d] < dims[d] { return }
            let n = dims[d]
            counter[d] = 0
            o0 -= n * strides[d]; o1 -= n * strides[outer + d]; o2 -= n * strides[2 * outer + d]
            d -= 1
        }
    }
}

// MARK: - Shape helpers

/// Normalise a possibly negative axis for a tensor of `rank`; throws `.shapeMismatch` if out of range.
func normalizedAxis(_ axis: Int, rank: Int, op: String) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    try require(a >= 0 && a < rank, "\(op): axis \(axis) is out of range for rank \(rank)")
    return a
}

/// NumPy/PyTorch broadcast of two shapes (aligned on the right).
func broadcastShapes(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        try require(da == db || da == 1 || db == 1, "\(op): shapes \(a) and \(b) cannot be broadcast together")
        out[i] = max(da, db)
    }
    return out
}

/// Strides for reading a contiguous tensor of `shape` broadcast to `target` (0 on broadcast dims).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = TensorView.contiguousStrides(shape)
    let pad = target.count - shape.count
    return (0..<target.count).map { i in
        i < pad ? 0 : (shape[i - pad] == 1 && target[i] != 1 ? 0 : own[i - pad])
    }
}

/// Output shape of an op mapping x [N, C, H, W] to [N, C, size.h, size.w] (adaptive pooling,
/// resize), after checking its one input and the size.
func spatialOutputShape(_ inputs: [[Int]], size: (h: Int, w: Int), op name: String) throws -> [Int] {
    try require(inputs.count == 1, "\(name) takes 1 input, got \(inputs.count)")
    let xs = inputs[0]
    try require(xs.count == 4, "\(name): x must be [N, C, H, W], got \(xs)")
    guard size.h >= 1, size.w >= 1 else {
        throw EngineError(.invalidArgument, "\(name): output size \(size) must be >= 1")
    }
    return [xs[0], xs[1], size.h, size.w]
}

/// Split a shape around an axis: (elements before, axis length, elements after).
func splitAround(_ shape: [Int], axis: Int) -> (outer: Int, len: Int, inner: Int) {
    (product(Array(shape[..<axis])), shape[axis], product(Array(shape[(axis + 1)...])))
}
