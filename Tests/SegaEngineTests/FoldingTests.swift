import XCTest
@testable import SegaEngine

/// conv2dBatchNorm folds into the weight storage in place, once: building a second graph from
/// the same weights must reuse the folded values (not fold twice), and match conv + bn.
final class FoldingTests: XCTestCase {
    func testInPlaceFoldIsCachedAcrossGraphs() throws {
        var r = TestRNG(11)
        let w = ConstantData(r.array(6 * 3 * 9)), gm = ConstantData(r.array(6, 0.5, 1.5)), bt = ConstantData(r.array(6))
        let mn = ConstantData(r.array(6)), vr = ConstantData(r.array(6, 0.5, 2))
        let original = w.array
        let input = r.array(3 * 7 * 8)
        func run(fold: Bool, weight: ConstantData) throws -> [Float] {
            let g = Graph()
            let x = try g.input([1, 3, 7, 8])
            let wt = try g.constant(weight, [6, 3, 3, 3])
            let (a, b, c, d) = (try g.constant(gm, [6]), try g.constant(bt, [6]), try g.constant(mn, [6]), try g.constant(vr, [6]))
            let y = fold
                ? try g.conv2dBatchNorm(x, weight: wt, gamma: a, beta: b, mean: c, variance: d, padding: .symmetric(1, 1))
                : try g.batchNorm2d(try g.conv2d(x, weight: wt, padding: (1, 1)), gamma: a, beta: b, mean: c, variance: d)
            let plan = try g.plan(try Context(), outputs: [y])
            try plan.setInput(x, input)
            plan.forward()
            return Array(plan.buffer(y))
        }
        let reference = try run(fold: false, weight: ConstantData(original))
        let first = try run(fold: true, weight: w)
        XCTAssertNotEqual(w.array, original, "the weight storage holds the folded values")
        XCTAssertNotNil(w.foldKey)
        let second = try run(fold: true, weight: w)
        XCTAssertEqual(first, second, "a second graph reuses the fold instead of folding again")
        for (a, b) in zip(first, reference) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
        // Folding the same storage with different parameters is refused, not silently wrong.
        let g = Graph()
        let x = try g.input([1, 3, 7, 8])
        let other = try g.constant(r.array(6, 0.5, 1.5), [6])
        XCTAssertThrowsError(try g.conv2dBatchNorm(x, weight: try g.constant(w, [6, 3, 3, 3]), gamma: other,
                                                   beta: try g.constant(bt, [6]), mean: try g.constant(mn, [6]),
                                                   variance: try g.constant(vr, [6]))) {
            XCTAssertEqual(($0 as! EngineError).kind, .invalidArgument)
        }
    }
}
