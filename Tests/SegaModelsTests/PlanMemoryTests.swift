import XCTest
@testable import SegaModels
import SegaEngine

/// Arena sizes of the fixture models with liveness reuse vs one buffer per tensor (computed with
/// `Graph.planMemory`, nothing allocated). Printed for reports; the checks are only sanity bounds
/// (the parity tests run the same plans for real).
final class PlanMemoryTests: XCTestCase {
    func testFixtureModelArenas() throws {
        func mb(_ b: Int) -> String { String(format: "%7.2f", Double(b) / 1048576) }
        for name in ["hyperiqa", "linearityiqa", "dbcnn"] {
            let model = try ModelZoo.load(path: fixturePath("\(name).safetensors"))
            for side in [224, 384, 512] {
                let g = Graph()
                let x = try g.input([1, 3, side, side], name: "image")
                let s = try model.build(g, image: x)
                for grad in [false, true] {
                    let m = try g.planMemory(outputs: [s], gradientsFor: grad ? [x] : [])
                    print("plan-memory \(name) \(side)px \(grad ? "fwd+bwd" : "fwd    "): arena \(mb(m.arenaBytes)) MB, "
                          + "no reuse \(mb(m.naiveBytes)) MB, peak live \(mb(m.peakLiveBytes)) MB, "
                          + "largest workspace \(mb(m.workspaceBytes)) MB, saving \(String(format: "%.1f", Double(m.naiveBytes) / Double(m.arenaBytes)))x")
                    XCTAssertLessThan(m.arenaBytes, m.naiveBytes, "\(name) \(side) grad \(grad)")
                    XCTAssertGreaterThanOrEqual(m.arenaBytes, m.peakLiveBytes)
                }
            }
        }
    }
}
