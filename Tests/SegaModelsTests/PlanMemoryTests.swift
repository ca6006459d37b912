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

    /// Reshapes as views (`PlanOptions.aliasViews`) on the shipped vitiqa_patch at the attack's
    /// 288x384: no more arena, fewer bytes without reuse (33 reshape buffers and gradients gone).
    func testViewsShrinkTheViTPatchPlan() throws {
        func mb(_ b: Int) -> String { String(format: "%.2f", Double(b) / 1048576) }
        let model = try ModelZoo.load(path: "\(repoRoot)/weights/vitiqa_patch.safetensors")
        let g = Graph()
        let x = try g.input([1, 3, 288, 384], name: "image")
        let s = try model.build(g, image: x)
        for grad in [false, true] {
            let copies = try g.planMemory(outputs: [s], gradientsFor: grad ? [x] : [], options: PlanOptions(aliasViews: false))
            let views = try g.planMemory(outputs: [s], gradientsFor: grad ? [x] : [])
            print("plan-memory vitiqa_patch 288x384 \(grad ? "fwd+bwd" : "fwd"): arena \(mb(copies.arenaBytes)) -> \(mb(views.arenaBytes)) MB, "
                  + "no reuse \(mb(copies.naiveBytes)) -> \(mb(views.naiveBytes)) MB, peak live \(mb(copies.peakLiveBytes)) -> \(mb(views.peakLiveBytes)) MB")
            XCTAssertLessThanOrEqual(views.arenaBytes, copies.arenaBytes, "grad \(grad)")
            XCTAssertLessThanOrEqual(views.peakLiveBytes, copies.peakLiveBytes, "grad \(grad)")
            XCTAssertLessThan(views.naiveBytes, copies.naiveBytes, "grad \(grad)")
        }
    }
}
