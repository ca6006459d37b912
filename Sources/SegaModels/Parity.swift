import SegaEngine

// MARK: - Parity against a PyTorch expectation file

/// How sega's score and input gradient compare with a PyTorch reference.
public struct ParityReport: Sendable {
    public var score: Float, expected: Float
    /// |score - expected| / max(|expected|, 1e-6)
    public var scoreRelError: Double
    /// Cosine between the two input gradients.
    public var cosine: Double
    /// max |g - g_ref| / max |g_ref|
    public var maxRelError: Double
    /// max |g_ref| (0 means a useless reference).
    public var referenceMax: Double

    /// The issue-#3 criteria: score rel. error <= 1e-4, cosine >= 0.9999, max rel. error <= maxRel.
    public func passes(maxRel: Double = 1e-3) -> Bool {
        scoreRelError <= 1e-4 && cosine >= 0.9999 && maxRelError <= maxRel && referenceMax > 0
    }

    public var summary: String {
        "score \(score) vs PyTorch \(expected) (rel \(scoreRelError)), grad cosine \(cosine), grad max rel \(maxRelError)"
    }
}

public enum Parity {
    /// Run `model` on the `input` of an expectation file (tensors input [1,3,H,W], score [1],
    /// grad [1,3,H,W], as weights/fixtures/common.py writes them) and compare.
    public static func check(_ model: any IQAArchitecture, expect: SafeTensors, threads: Int = 1) throws -> ParityReport {
        guard let rec = expect.record("input") else { throw WeightsError("\(expect.source): missing tensor 'input'") }
        let input = try expect.floats("input")
        let want = try expect.floats("score", shape: [1])[0]
        let ref = try expect.floats("grad", shape: rec.shape)
        let g = Graph()
        let x = try g.input(rec.shape, name: "image")
        let s = try model.build(g, image: x)
        guard s.count == 1 else { throw WeightsError("\(type(of: model).name): the score has shape \(s.shape), not [1]") }
        let plan = try g.plan(try Context(threads: threads), outputs: [s], gradientsFor: [x])
        try plan.setInput(x, input)
        plan.forward()
        plan.backward()
        let got = plan.buffer(s)[0]
        let gx = plan.gradient(x)!
        var dot = 0.0, na = 0.0, nb = 0.0, maxDiff = 0.0, maxRef = 0.0
        for i in 0..<ref.count {
            let a = Double(gx[i]), b = Double(ref[i])
            dot += a * b; na += a * a; nb += b * b
            maxDiff = max(maxDiff, abs(a - b)); maxRef = max(maxRef, abs(b))
        }
        return ParityReport(score: got, expected: want,
                            scoreRelError: Double(abs(got - want)) / max(Double(abs(want)), 1e-6),
                            cosine: dot / max((na * nb).squareRoot(), 1e-300),
                            maxRelError: maxDiff / max(maxRef, 1e-30), referenceMax: maxRef)
    }
}
