import XCTest
@testable import SegaModels
import SegaEngine

final class ModelZooTests: XCTestCase {
    /// Weights without `arch` metadata: the error says so in model terms (no CLI flag) and lists
    /// the architectures; naming the architecture explicitly loads them.
    func testMissingArchMetadataIsReportedInModelTerms() throws {
        let bare = try loadWritten(rewrittenFixture("cnniqa"), source: "bare-cnniqa")
        XCTAssertThrowsError(try ModelZoo.load(bare)) { e in
            guard let m = (e as? WeightsError)?.message else { return XCTFail("not a WeightsError: \(e)") }
            XCTAssertTrue(m.contains("bare-cnniqa: the weights carry no 'arch' metadata; give the architecture explicitly"), m)
            XCTAssertTrue(m.contains("cnniqa, dbcnn, dbcnn_lite0"), m)
            XCTAssertFalse(m.contains("--"), "the model layer names no CLI flag: \(m)")
        }
        XCTAssertTrue(try ModelZoo.load(bare, arch: "cnniqa") is CNNIQA)
    }

    /// The constant storage every conv of `model` reads in a graph for an image of `side` pixels.
    private func foldedStorage(_ model: any IQAArchitecture, side: Int) throws -> (Graph, Tensor, Tensor, [ObjectIdentifier]) {
        let g = Graph()
        let x = try g.input([1, 3, side, side])
        let s = try model.build(g, image: x)
        let ids = g.nodes.compactMap { n -> ObjectIdentifier? in
            guard n.name.contains(".bnfolded"), case .constant(let d) = n.kind else { return nil }
            return ObjectIdentifier(d)
        }
        return (g, x, s, ids)
    }

    /// BatchNorm is folded once at load into storage the model owns: graphs and plans built for
    /// other image sizes read the same folded weights (no copy per plan), and a second load folds
    /// into new storage of its own with the same bits.
    func testFoldedWeightsAreSharedByEveryPlan() throws {
        for name in ["lite0", "dbcnn", "linearityiqa"] {
            let model = try ModelZoo.load(path: fixturePath("\(name).safetensors"))
            let (g1, x1, s1, a) = try foldedStorage(model, side: 64)
            let (g2, x2, s2, b) = try foldedStorage(model, side: 96)
            XCTAssertGreaterThan(a.count, 2, "\(name): folded convs")
            XCTAssertEqual(a, b, "\(name): both graphs read the same folded storage")
            let p1 = try g1.plan(try Context(threads: 1), outputs: [s1], gradientsFor: [x1])
            let p2 = try g2.plan(try Context(threads: 1), outputs: [s2], gradientsFor: [x2])
            XCTAssertEqual(p1.constantBytes, p2.constantBytes, "\(name): the same weights, read in place")
            let again = try foldedStorage(try ModelZoo.load(path: fixturePath("\(name).safetensors")), side: 64)
            XCTAssertTrue(Set(again.3).isDisjoint(with: a), "\(name): another load owns its own fold")
            for (n1, n2) in zip(g1.nodes, again.0.nodes) where n1.name.contains(".bnfolded") {
                guard case .constant(let d1) = n1.kind, case .constant(let d2) = n2.kind else { return XCTFail("\(n1.name)") }
                XCTAssertEqual(d1.array.map(\.bitPattern), d2.array.map(\.bitPattern), "\(name): \(n1.name) folds the same")
            }
        }
    }
}
