import XCTest
import MallocCounter
@testable import SegaEngine

final class TmpConvAllocProbe: XCTestCase {
    func testProbe() throws {
        var rng = TestRNG(65)
        func probe(_ name: String, _ f: (Graph, Tensor) throws -> Tensor) throws {
            let g = Graph()
            let x = try g.input([2, 8, 12, 12])
            let y = try f(g, x)
            let plan = try g.plan(try Context(threads: 1), outputs: [y], gradientsFor: [x])
            try plan.setInput(x, rng.array(x.count))
            plan.forward(); plan.backward()
            sega_malloc_counter_start(); plan.forward(); let a = sega_malloc_counter_stop()
            sega_malloc_counter_start(); plan.backward(); let b = sega_malloc_counter_stop()
            sega_malloc_counter_start(); let e = sega_malloc_counter_stop()
            let ops = Array(plan.forwardOps)
            sega_malloc_counter_start(); for op in ops { op.forward() }; let c = sega_malloc_counter_stop()
            sega_malloc_counter_start(); ops[0].forward(); let d = sega_malloc_counter_stop()
            print("PROBE \(name): fwd \(a) bwd \(b) empty \(e) direct \(c) single \(d)")
        }
        try probe("identity-relu") { g, x in try g.relu(x) }
        try probe("conv") { g, x in try g.conv2d(x, weight: try g.constant(rng.array(8*8*9), [8, 8, 3, 3]), bias: try g.constant(rng.array(8), [8]), padding: (1, 1)) }
        try probe("dw") { g, x in try g.conv2d(x, weight: try g.constant(rng.array(8*9), [8, 1, 3, 3]), padding: (1, 1), groups: 8) }
        try probe("pw") { g, x in try g.conv2d(x, weight: try g.constant(rng.array(8*8), [8, 8, 1, 1])) }
        try probe("bn") { g, x in try g.batchNorm2d(x, gamma: try g.constant(rng.array(8), [8]), beta: try g.constant(rng.array(8), [8]), mean: try g.constant(rng.array(8), [8]), variance: try g.constant(rng.array(8, 0.5, 1), [8])) }
        try probe("max") { g, x in try g.maxPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true) }
        try probe("avg") { g, x in try g.avgPool2d(x, kernel: (2, 2), countIncludePad: false) }
        try probe("adapt") { g, x in try g.adaptiveAvgPool2d(x, (2, 2)) }
        try probe("gmax") { g, x in try g.globalMaxPool(x) }
        try probe("gavg") { g, x in try g.globalAvgPool(x) }
        try probe("resize") { g, x in try g.resizeBilinear(x, size: (10, 10)) }
        try probe("linear") { g, x in try g.linear(x, weight: try g.constant(rng.array(4*12), [4, 12])) }
        try probe("reshape") { g, x in try g.reshape(x, [2, 8*144]) }
    }
}
