#if canImport(Glibc)
import Glibc
#endif

// MARK: - Concatenation along an axis

/// Joins any number of inputs along `axis`; all other dimensions must agree. Each input is a
/// block of `len_i * inner` floats in every one of the `outer` slabs, so forward is block
/// copies and backward adds the matching block of dy into each input's gradient.
public final class Concat: Op {
    public let axis: Int
    public var name: String { "concat" }
    private var xs: [UnsafeMutablePointer<Float>] = [], dxs: [UnsafeMutablePointer<Float>?] = []
    /// Per input: floats per slab; and their running offset inside an output slab.
    private var block: [Int] = [], start: [Int] = []
    private var y: UnsafeMutablePointer<Float>!, dy: UnsafeMutablePointer<Float>?
    private var outer = 0, slab = 0

    public init(axis: Int) { self.axis = axis }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(!inputs.isEmpty, "concat needs at least 1 input")
        let a = try normalizedAxis(axis, rank: inputs[0].count, op: "concat of \(inputs[0])")
        var out = inputs[0]
        for s in inputs.dropFirst() {
            var ok = s.count == out.count
            if ok { for d in 0..<s.count where d != a && s[d] != out[d] { ok = false } }
            try require(ok, "concat along axis \(axis): shapes \(inputs) differ off the axis")
            out[a] += s[a]
        }
        return out
    }

    public func bind(_ b: OpBinding) throws {
        let a = try normalizedAxis(axis, rank: b.outputShape.count, op: "concat")
        xs = b.inputs; dxs = b.inputGrads; y = b.output; dy = b.outputGrad
        let (o, l, inner) = splitAround(b.outputShape, axis: a)
        outer = o; slab = l * inner
        block = b.inputShapes.map { $0[a] * inner }
        start = []
        var acc = 0
        for n in block { start.append(acc); acc += n }
    }

    // MARK: forward
    public func forward() {
        for i in 0..<xs.count {
            let n = block[i], src = xs[i], dst = y + start[i]
            for o in 0..<outer { (dst + o * slab).update(from: src + o * n, count: n) }
        }
    }

    // MARK: memory planning
    /// Backward copies blocks of dy only.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        readsNothing(inputs)
    }

    // MARK: backward
    public func backward() {
        guard let dy else { return }
        for i in 0..<xs.count {
            guard let dx = dxs[i] else { continue }
            let n = block[i], src = dy + start[i]
            for o in 0..<outer { sega_add_inplace(n, src + o * slab, dx + o * n) }
        }
    }
}

extension Graph {
    /// Concatenate along `axis` (negative counts from the end).
    public func concat(_ xs: [Tensor], axis: Int) throws -> Tensor { try apply(Concat(axis: axis), xs) }
}
