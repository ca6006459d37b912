import XCTest
@testable import SegaEngine

final class ArenaTests: XCTestCase {
    func testAlignmentHighWaterAndReset() throws {
        let a = try Arena(capacity: 1024)
        XCTAssertEqual(a.capacity, 1024)
        let p1 = try a.allocate(bytes: 10)
        XCTAssertEqual(Int(bitPattern: p1) % 64, 0)
        let m = a.mark
        let p2 = try a.allocate(bytes: 100, alignment: 256)
        XCTAssertEqual(Int(bitPattern: p2) % 256, 0)
        let hw = a.highWater
        XCTAssertGreaterThanOrEqual(hw, 110)
        try a.reset(to: m)
        XCTAssertEqual(a.used, m)
        XCTAssertEqual(a.highWater, hw, "high-water mark survives a reset")
        let p3 = try a.allocate(bytes: 100, alignment: 256)
        XCTAssertEqual(p3, p2, "reset memory is reused")
    }

    func testExhaustionIsAnErrorAndLeavesArenaUnchanged() throws {
        let a = try Arena(capacity: 256)
        _ = try a.allocate(bytes: 128)
        let used = a.used
        XCTAssertThrowsError(try a.allocate(bytes: 200, what: "big")) { e in
            let err = e as! EngineError
            XCTAssertEqual(err.kind, .arenaExhausted)
            XCTAssertTrue(err.message.contains("big needs 200 bytes"), err.message)
        }
        XCTAssertEqual(a.used, used)
        XCTAssertNoThrow(try a.allocate(bytes: 128))
    }

    func testBadSizesAreRejected() throws {
        XCTAssertThrowsError(try Arena(capacity: -1)) { XCTAssertEqual(($0 as! EngineError).kind, .invalidArgument) }
        let a = try Arena(capacity: 64)
        XCTAssertThrowsError(try a.allocate(bytes: -5)) { XCTAssertEqual(($0 as! EngineError).kind, .invalidArgument) }
        XCTAssertThrowsError(try a.allocateFloats(-1)) { XCTAssertEqual(($0 as! EngineError).kind, .invalidArgument) }
        XCTAssertThrowsError(try a.allocate(bytes: Int.max)) { e in
            let k = (e as! EngineError).kind
            XCTAssertTrue(k == .overflow || k == .arenaExhausted, "\(k)")
        }
        XCTAssertThrowsError(try a.allocate(bytes: 8, alignment: 3)) { XCTAssertEqual(($0 as! EngineError).kind, .invalidArgument) }
        XCTAssertThrowsError(try a.reset(to: 1 << 20)) { XCTAssertEqual(($0 as! EngineError).kind, .invalidArgument) }
    }

    func testCanariesCatchAnOverrun() throws {
        let a = try Arena(capacity: 4096, debug: true)
        let p = try a.allocateFloats(10)
        let q = try a.allocateFloats(10)
        p.initialize(repeating: 1, count: 10)
        q.initialize(repeating: 2, count: 10)
        XCTAssertNoThrow(try a.check())
        // one float past the end of p lands in its canary
        (UnsafeMutableRawPointer(p) + 40).storeBytes(of: 0, as: UInt32.self)
        XCTAssertThrowsError(try a.check()) { XCTAssertEqual(($0 as! EngineError).kind, .corruption) }
    }

    func testCostPredictsConsumption() throws {
        let a = try Arena(capacity: 4096, debug: true)
        _ = try a.allocate(bytes: 3)
        let before = a.used
        let c = a.cost(bytes: 77, alignment: 128)
        _ = try a.allocate(bytes: 77, alignment: 128)
        XCTAssertEqual(a.used - before, c)
    }
}

final class ContextAndPlanErrorTests: XCTestCase {
    func testContextRejectsBadThreadCounts() {
        for t in [0, -3, 100_000] {
            XCTAssertThrowsError(try Context(threads: t)) { e in
                XCTAssertEqual((e as! EngineError).kind, .invalidArgument)
                XCTAssertTrue((e as! EngineError).message.contains("thread count"))
            }
        }
    }

    func testGraphRejectsBadShapes() throws {
        let g = Graph()
        XCTAssertThrowsError(try g.input([1, 0, 4])) { XCTAssertEqual(($0 as! EngineError).kind, .invalidArgument) }
        XCTAssertThrowsError(try g.input([2, -1])) { XCTAssertEqual(($0 as! EngineError).kind, .invalidArgument) }
        XCTAssertThrowsError(try g.input([1 << 20, 1 << 20, 1 << 20])) { XCTAssertEqual(($0 as! EngineError).kind, .overflow) }
        XCTAssertThrowsError(try g.constant([1, 2, 3], [2, 2])) { e in
            XCTAssertEqual((e as! EngineError).kind, .shapeMismatch)
            XCTAssertTrue((e as! EngineError).message.contains("needs 4 values, got 3"))
        }
        let other = Graph()
        let foreign = try other.input([3, 3])
        _ = try other.input([3, 3])
        XCTAssertThrowsError(try g.relu(foreign)) { XCTAssertEqual(($0 as! EngineError).kind, .invalidArgument) }
    }

    func testMemoryBudgetTooSmallIsRefusedBeforeWork() throws {
        let g = Graph()
        let x = try g.input([1, 4, 64, 64])
        let y = try g.relu(x)
        let ctx = try Context()
        XCTAssertThrowsError(try g.plan(ctx, outputs: [y], gradientsFor: [x], options: PlanOptions(memoryLimit: 10_000))) { e in
            let err = e as! EngineError
            XCTAssertEqual(err.kind, .arenaExhausted)
            XCTAssertTrue(err.message.hasPrefix("memory budget too small"), err.message)
        }
        let plan = try g.plan(ctx, outputs: [y], gradientsFor: [x], options: PlanOptions(memoryLimit: 1 << 20))
        XCTAssertLessThanOrEqual(plan.arena.capacity, 1 << 20)
        XCTAssertLessThanOrEqual(plan.arena.highWater, plan.arena.capacity)
    }

    func testPlanArgumentErrors() throws {
        let g = Graph()
        let x = try g.input([4])
        let y = try g.relu(x)
        let ctx = try Context()
        XCTAssertThrowsError(try g.plan(ctx, outputs: [])) { XCTAssertEqual(($0 as! EngineError).kind, .invalidArgument) }
        XCTAssertThrowsError(try g.plan(ctx, outputs: [y], gradientsFor: [y])) { XCTAssertEqual(($0 as! EngineError).kind, .invalidArgument) }
        let plan = try g.plan(ctx, outputs: [y], gradientsFor: [x])
        XCTAssertThrowsError(try plan.setInput(x, [1, 2])) { XCTAssertEqual(($0 as! EngineError).kind, .shapeMismatch) }
    }

    func testPlanWithCanariesStaysIntactThroughForwardBackward() throws {
        let g = Graph()
        let x = try g.input([3, 17])
        let y = try g.gelu(try g.relu(x))
        let plan = try g.plan(try Context(), outputs: [y], gradientsFor: [x], options: PlanOptions(debugCanaries: true))
        var r = TestRNG(3)
        try plan.setInput(x, r.array(51))
        plan.forward(); plan.backward()
        XCTAssertNoThrow(try plan.checkCanaries())
        let gx = plan.gradient(x)!
        let xs = plan.buffer(x)
        for i in 0..<51 where xs[i] < 0 { XCTAssertEqual(gx[i], 0) }
    }
}
