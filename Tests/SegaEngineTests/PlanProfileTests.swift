import XCTest
@testable import SegaEngine

/// The profiling tools behind `sega-modelbench --profile-plan`: in-situ op timing that runs the
/// same computation as forward()/backward(), and the pool's busy-time accounting.
final class PlanProfileTests: XCTestCase {
    /// conv -> relu -> depthwise conv -> add (skip) -> mean: a few op kinds on the gradient path.
    private func smallPlan(_ ctx: Context) throws -> (Plan, Tensor) {
        var rng = TestRNG(81)
        let g = Graph()
        let x = try g.input([1, 4, 10, 12], name: "x")
        let w1 = try g.constant(rng.array(8 * 4), [8, 4, 1, 1]), w2 = try g.constant(rng.array(8 * 9), [8, 1, 3, 3])
        let h = try g.relu(g.conv2d(x, weight: w1))
        let d = try g.conv2d(h, weight: w2, padding: (1, 1), groups: 8)
        let s = try g.mean(g.add(d, h), axes: [0, 1, 2, 3])
        let p = try g.plan(ctx, outputs: [s], gradientsFor: [x])
        try p.setInput(x, rng.array(4 * 10 * 12))
        return (p, x)
    }

    func testProfileRunsTheSameComputationAsForwardBackward() throws {
        for threads in [1, 2] {
            let ctx = try Context(threads: threads)
            let (p, x) = try smallPlan(ctx)
            p.forward(); p.backward()
            let want = Array(p.gradient(x)!)
            let score = p.buffer(p.outputs[0])[0]
            p.gradient(x)!.update(repeating: .nan)
            let (ops, over) = p.profileOps(reps: 3)
            XCTAssertEqual(ops.map(\.op.name), ["conv2d", "relu", "conv2d", "add", "mean"])
            XCTAssertTrue(bitEqual(Array(p.gradient(x)!), want), "threads \(threads): profiled gradient differs")
            XCTAssertEqual(p.buffer(p.outputs[0])[0].bitPattern, score.bitPattern)
            for r in ops {
                XCTAssertGreaterThan(r.forward, 0); XCTAssertGreaterThan(r.backward, 0)
                XCTAssertGreaterThan(r.forwardCPU, 0); XCTAssertGreaterThan(r.backwardCPU, 0)
            }
            XCTAssertGreaterThan(over.zeroedBytes, 0)
        }
    }

    static let spinTask: sega_task_fn = { _, _, _ in
        let t0 = MonotonicClock.now()
        while MonotonicClock.now() - t0 < 0.002 {}
    }

    func testPoolCountsWorkerBusyTimeOnlyWhenProfiling() throws {
        var pool: OpaquePointer? = nil
        XCTAssertEqual(sega_pool_create(2, &pool), SEGA_OK)
        defer { sega_pool_destroy(pool) }
        var busy: UInt64 = 0, wait: UInt64 = 0
        sega_pool_run(pool, PlanProfileTests.spinTask, nil, 2)
        sega_pool_profile(pool, &busy, &wait)
        XCTAssertEqual(busy, 0, "not profiling: nothing is counted")
        sega_pool_set_profiling(pool, 1)
        sega_pool_run(pool, PlanProfileTests.spinTask, nil, 2)   // index 1 runs on the worker for >= 2 ms
        sega_pool_profile(pool, &busy, &wait)
        XCTAssertGreaterThanOrEqual(busy, 2_000_000)
        sega_pool_set_profiling(pool, 0)
        sega_pool_profile(pool, &busy, &wait)
        XCTAssertEqual(busy, 0, "turning profiling off resets the sums")
        XCTAssertEqual(wait, 0)
    }
}
