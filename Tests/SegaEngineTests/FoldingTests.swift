import XCTest
@testable import SegaEngine

/// Batchnorm folding never changes storage that someone else references: the storage-level fold
/// (what models do once at load) writes into the weight only when the caller holds the only
/// reference, and otherwise (as `conv2dBatchNorm` always does) into new storage; all agree bit
/// for bit with the array fold, and match conv + bn.
final class FoldingTests: XCTestCase {
    func testFoldLeavesSharedWeightsAloneAndFoldsAFreshOneInPlace() throws {
        var r = TestRNG(11)
        let w = ConstantData(r.array(6 * 3 * 9)), gm = ConstantData(r.array(6, 0.5, 1.5)), bt = ConstantData(r.array(6))
        let mn = ConstantData(r.array(6)), vr = ConstantData(r.array(6, 0.5, 2)), bias = ConstantData(r.array(6))
        let original = w.array
        let bn = BatchNormParameters(gamma: gm, beta: bt, mean: mn, variance: vr, eps: 1e-3)
        for b in [nil, bias] {
            let ref = try foldBatchNorm(weight: original, bias: b?.array, outChannels: 6, gamma: gm.array, beta: bt.array,
                                        mean: mn.array, variance: vr.array, eps: 1e-3)
            XCTAssertNotEqual(ref.weight, original)
            // Shared (this test holds `w` too): new storage, `w` untouched.
            var shared = w
            let f = try foldBatchNorm(weight: &shared, bias: b, outChannels: 6, bn)
            XCTAssertFalse(f.weight === w, "a shared weight is folded into new storage")
            XCTAssertEqual(w.array, original, "the shared weight is not modified")
            XCTAssertEqual(f.weight.array.map(\.bitPattern), ref.weight.map(\.bitPattern), "same arithmetic as the array fold")
            XCTAssertEqual(f.bias.array.map(\.bitPattern), ref.bias.map(\.bitPattern))
            // Only reference (freshly loaded storage): folded in place, same bits.
            var fresh = ConstantData(original)
            let pointer = fresh.pointer
            let g = try foldBatchNorm(weight: &fresh, bias: b, outChannels: 6, bn)
            XCTAssertTrue(g.weight === fresh && g.weight.pointer == pointer, "a weight nobody else holds is folded in place")
            XCTAssertEqual(g.weight.array.map(\.bitPattern), ref.weight.map(\.bitPattern))
            XCTAssertEqual(g.bias.array.map(\.bitPattern), ref.bias.map(\.bitPattern))
        }
        var bad = w
        XCTAssertThrowsError(try foldBatchNorm(weight: &bad, bias: nil, outChannels: 5, bn)) {
            XCTAssertEqual(($0 as! EngineError).kind, .shapeMismatch)
        }
    }

    func testConv2dBatchNormFoldsIntoTheGraphNotTheWeights() throws {
        var r = TestRNG(11)
        let w = ConstantData(r.array(6 * 3 * 9)), gm = ConstantData(r.array(6, 0.5, 1.5)), bt = ConstantData(r.array(6))
        let mn = ConstantData(r.array(6)), vr = ConstantData(r.array(6, 0.5, 2))
        let original = w.array
        let input = r.array(3 * 7 * 8)
        func run(fold: Bool) throws -> ([Float], Graph) {
            let g = Graph()
            let x = try g.input([1, 3, 7, 8])
            let wt = try g.constant(w, [6, 3, 3, 3])
            let (a, b, c, d) = (try g.constant(gm, [6]), try g.constant(bt, [6]), try g.constant(mn, [6]), try g.constant(vr, [6]))
            let y = fold
                ? try g.conv2dBatchNorm(x, weight: wt, gamma: a, beta: b, mean: c, variance: d, padding: .symmetric(1, 1))
                : try g.batchNorm2d(try g.conv2d(x, weight: wt, padding: (1, 1)), gamma: a, beta: b, mean: c, variance: d)
            let plan = try g.plan(try Context(), outputs: [y])
            try plan.setInput(x, input)
            plan.forward()
            return (Array(plan.buffer(y)), g)
        }
        let (reference, _) = try run(fold: false)
        let (first, g1) = try run(fold: true)
        XCTAssertEqual(w.array, original, "the weight storage is not modified")
        let (second, _) = try run(fold: true)
        XCTAssertEqual(first, second, "folding again gives the same values")
        for (a, b) in zip(first, reference) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
        // The conv reads folded constants owned by the graph, not the given weight.
        let folded = g1.nodes.filter { $0.name.hasSuffix(".bnfolded") }
        XCTAssertEqual(folded.count, 1)
        if case .constant(let d) = folded[0].kind { XCTAssertFalse(d === w) } else { XCTFail("folded weight is not a constant") }
    }
}
