import XCTest
@testable import SegaModels
import SegaEngine

/// Repository root, found from this file's path (Tests/SegaModelsTests/ParityHarness.swift).
let repoRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

func fixturePath(_ name: String) -> String { "\(repoRoot)/Tests/Fixtures/\(name)" }

/// Result of running one fixture through sega.
struct ParityResult {
    var score: Float, expected: Float
    var cosine: Double, maxRelError: Double
}

/// Load `<name>.safetensors` (weights) and `<name>.expect.safetensors` (input, score, grad),
/// build the architecture, run forward + backward, and compare.
/// Criteria (issue #3): score relative error <= 1e-4; input gradient cosine >= 0.9999 and
/// max relative error <= 1e-3, where max relative error = max|g - g_ref| / max|g_ref|.
@discardableResult
func checkParity(_ name: String, threads: Int = 1, file: StaticString = #filePath, line: UInt = #line) throws -> ParityResult {
    let model = try ModelZoo.load(path: fixturePath("\(name).safetensors"))
    let expect = try SafeTensors(path: fixturePath("\(name).expect.safetensors"))
    let input = try expect.floats("input")
    let shape = expect.record("input")!.shape
    let score = try expect.floats("score")[0]
    let grad = try expect.floats("grad")

    let g = Graph()
    let x = try g.input(shape, name: "image")
    let s = try model.build(g, image: x)
    XCTAssertEqual(s.count, 1, "score must be a scalar", file: file, line: line)
    let plan = try g.plan(try Context(threads: threads), outputs: [s], gradientsFor: [x])
    try plan.setInput(x, input)
    plan.forward()
    plan.backward()
    let got = plan.buffer(s)[0]
    let gx = Array(plan.gradient(x)!)

    var dot = 0.0, na = 0.0, nb = 0.0, maxDiff = 0.0, maxRef = 0.0
    for i in 0..<grad.count {
        let a = Double(gx[i]), b = Double(grad[i])
        dot += a * b; na += a * a; nb += b * b
        maxDiff = max(maxDiff, abs(a - b)); maxRef = max(maxRef, abs(b))
    }
    let cos = dot / max((na * nb).squareRoot(), 1e-300)
    let rel = maxDiff / max(maxRef, 1e-30)
    let scoreRel = Double(abs(got - score)) / max(Double(abs(score)), 1e-6)
    XCTAssertLessThanOrEqual(scoreRel, 1e-4, "\(name): score \(got) vs PyTorch \(score)", file: file, line: line)
    XCTAssertGreaterThanOrEqual(cos, 0.9999, "\(name): gradient cosine", file: file, line: line)
    XCTAssertLessThanOrEqual(rel, 1e-3, "\(name): gradient max relative error", file: file, line: line)
    XCTAssertGreaterThan(maxRef, 0, "\(name): reference gradient is all zero (a useless fixture)", file: file, line: line)
    return ParityResult(score: got, expected: score, cosine: cos, maxRelError: rel)
}
