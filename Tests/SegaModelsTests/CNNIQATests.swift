import XCTest
@testable import SegaModels
import SegaEngine

final class CNNIQATests: XCTestCase {
    func testParity() throws { try checkParity("cnniqa") }

    // MARK: - LCN variant (metadata lcn_c, a fourth input channel)

    func testLCNParity() throws {
        let m = try ModelZoo.load(path: fixturePath("cnniqa_lcn.safetensors"))
        XCTAssertEqual((m as? CNNIQA)?.lcnC, 1e-3)
        try checkParity("cnniqa_lcn")
    }

    /// The LCN fixture with `metadata` (JSON members) as its header's metadata; with dropChannel,
    /// conv1.weight [K, 4, k, k] keeps input channels 0..<3.
    private func lcnFixture(metadata: String, dropChannel: Bool = false) throws -> SafeTensors {
        let w = try rewrittenFixture("cnniqa_lcn") { name, shape, v in
            guard dropChannel && name == "conv1.weight" else { return (shape, v) }
            let k2 = shape[2] * shape[3]
            return ([shape[0], 3, shape[2], shape[3]], (0..<shape[0]).flatMap { o in v[(o * 4 * k2)..<(o * 4 * k2 + 3 * k2)] })
        }
        return try loadWritten(w, metadata: metadata, source: "edited-cnniqa_lcn")
    }

    func testLCNRejectsBadConstantAndChannelMismatch() throws {
        for bad in ["abc", "-1", "0", "1e-9", "nan", "inf"] {
            XCTAssertThrowsError(try ModelZoo.load(lcnFixture(metadata: "\"arch\":\"cnniqa\",\"lcn_c\":\"\(bad)\""))) { e in
                XCTAssertTrue((e as? WeightsError)?.message.contains("lcn_c") ?? false, "\(bad): \(e)")
            }
        }
        // 4-channel weights without lcn_c, and lcn_c with 3-channel weights: both name conv1.weight.
        XCTAssertThrowsError(try ModelZoo.load(lcnFixture(metadata: "\"arch\":\"cnniqa\""))) { e in
            XCTAssertTrue((e as? WeightsError)?.message.contains("'conv1.weight'") ?? false, "\(e)")
        }
        XCTAssertThrowsError(try ModelZoo.load(lcnFixture(metadata: "\"arch\":\"cnniqa\",\"lcn_c\":\"0.001\"", dropChannel: true))) { e in
            XCTAssertTrue((e as? WeightsError)?.message.contains("lcn_c adds a fourth") ?? false, "\(e)")
        }
        // The 3-channel weights load as plain CNNIQA.
        let plain = try ModelZoo.load(lcnFixture(metadata: "\"arch\":\"cnniqa\"", dropChannel: true))
        XCTAssertNil((plain as? CNNIQA)?.lcnC)
    }

    func testLCNNeedsTheWindowAndTheKernel() throws {
        let m = try ModelZoo.load(path: fixturePath("cnniqa_lcn.safetensors"))
        let g = Graph()
        XCTAssertThrowsError(try m.build(g, image: g.input([1, 3, 12, 40])))   // 12 < 7 + 7 - 1
        let ok = Graph()
        let out = try m.build(ok, image: ok.input([1, 3, 13, 13]))
        XCTAssertEqual(out.shape, [1])
    }
}
