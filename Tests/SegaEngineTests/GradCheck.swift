import XCTest
@testable import SegaEngine

// MARK: - Deterministic random numbers for tests

/// SplitMix64: small, seedable, identical on every platform.
struct TestRNG {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    mutating func array(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
        (0..<n).map { _ in uniform(lo, hi) }
    }
    /// Values whose pairwise gaps and distance from 0 exceed `gap` (keeps finite differences off
    /// the kinks of relu / max / abs): a shuffled grid k*step, k != 0, plus small jitter.
    mutating func spread(_ n: Int, scale: Float = 1) -> [Float] {
        var v = (0..<n).map { i -> Float in Float(i - n / 2) + (i >= n / 2 ? 1 : 0) }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            v.swapAt(i, j)
        }
        return v.map { ($0 + uniform(-0.2, 0.2)) * scale / Float(max(1, n / 2)) }
    }
}

// MARK: - Draws used by the kernel tests

extension TestRNG {
    /// Uniform in [-1, 1) from 53 random bits.
    mutating func unitSigned() -> Float { Float(Double(next() >> 11) / Double(1 << 53)) * 2 - 1 }
    mutating func unitSigneds(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in unitSigned() * scale } }
    /// Small integers in [-8, 8]: every sum of a few of them is exact in fp32.
    mutating func smallInt() -> Float { Float(Int(next() % 17) - 8) }
    mutating func smallInts(_ n: Int) -> [Float] { (0..<n).map { _ in smallInt() } }
    /// Values from a small set so pooling windows often hold ties.
    mutating func tiesProne() -> Float { Float(Int(next() % 5) - 2) }
}

// MARK: - Finite-difference gradient check

/// Checks an op's backward against central differences of L = sum_j s_j y_j with random seeds s.
///
/// Tolerance: the engine is fp32. Each evaluation of L (accumulated in double from fp32 outputs)
/// carries a rounding error of about u * S, S = sum |s_j y_j|, u = 2^-24 per op on the path (we
/// allow `depth` ops); the central difference divides two such errors by 2h, giving
/// atol = 4 * depth * u * S / h. Truncation error is O(h^2 f''') which the relative term rtol
/// covers for smooth ops at h = 1e-2 (our inputs are O(1)).
func checkGradients(
    _ shapes: [[Int]], seed: UInt64 = 1, h: Float = 1e-2, rtol: Double = 2e-2, depth: Double = 8,
    maxCoords: Int = 160, threads: Int = 1, isa: sega_isa = SEGA_ISA_AUTO,
    values: ((Int, inout TestRNG) -> [Float])? = nil,
    file: StaticString = #filePath, line: UInt = #line,
    _ build: (Graph, [Tensor]) throws -> Tensor
) throws {
    var rng = TestRNG(seed)
    let g = Graph()
    var ins: [Tensor] = []
    for (i, s) in shapes.enumerated() { ins.append(try g.input(s, name: "x\(i)")) }
    let out = try build(g, ins)
    let ctx = try Context(threads: threads, isa: isa)
    let plan = try g.plan(ctx, outputs: [out], gradientsFor: ins)
    for (i, t) in ins.enumerated() {
        let v = values?(i, &rng) ?? rng.array(t.count)
        try plan.setInput(t, v)
    }
    let seedVals = rng.array(out.count)
    _ = plan.seed(for: out)!.update(from: seedVals)

    func loss() -> (Double, Double) {
        plan.forward()
        let y = plan.buffer(out)
        var l = 0.0, s = 0.0
        for j in 0..<y.count {
            l += Double(seedVals[j]) * Double(y[j])
            s += abs(Double(seedVals[j]) * Double(y[j]))
        }
        return (l, s)
    }
    let (_, scale) = loss()
    plan.backward()
    let u = 1.0 / Double(1 << 24)
    let atol = 4 * depth * u * max(scale, 1) / Double(h) + 1e-6
    for (i, t) in ins.enumerated() {
        guard let gb = plan.gradient(t) else { XCTFail("no gradient for input \(i)", file: file, line: line); continue }
        let analytic = Array(gb)
        let xb = plan.buffer(t)
        var coords = Array(0..<t.count)
        if coords.count > maxCoords {
            for k in 0..<maxCoords { coords.swapAt(k, k + Int(rng.next() % UInt64(coords.count - k))) }
            coords = Array(coords.prefix(maxCoords))
        }
        var worst = 0.0, num2 = 0.0, diff2 = 0.0
        for c in coords {
            let x0 = xb[c]
            xb[c] = x0 + h; let lp = loss().0
            xb[c] = x0 - h; let lm = loss().0
            xb[c] = x0
            // the actual step in fp32 may differ from h
            let step = Double(x0 + h) - Double(x0 - h)
            let numeric = (lp - lm) / step
            let a = Double(analytic[c])
            let err = abs(numeric - a) - atol
            num2 += numeric * numeric; diff2 += (numeric - a) * (numeric - a)
            if err > rtol * max(abs(numeric), abs(a)) {
                worst = max(worst, err)
                XCTFail("input \(i) coord \(c): analytic \(a) vs numeric \(numeric) (atol \(atol))", file: file, line: line)
                break
            }
        }
        if num2 > 0 {
            XCTAssertLessThanOrEqual((diff2 / num2).squareRoot(), rtol, "input \(i): relative L2 error of the gradient", file: file, line: line)
        }
        _ = worst
    }
    plan.forward()
}
