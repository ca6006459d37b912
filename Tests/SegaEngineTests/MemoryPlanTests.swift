import XCTest
import MallocCounter
@testable import SegaEngine

/// Liveness-based memory reuse in `Plan`: same bits as one buffer per tensor, no overlapping live
/// buffers, smaller arenas, stable across repeated passes.
final class MemoryPlanTests: XCTestCase {

    // MARK: helpers

    /// Constant nodes of a graph as tensors (to ask for weight gradients).
    func constants(_ g: Graph) -> [Tensor] {
        g.nodes.indices.compactMap { i in
            if case .constant = g.nodes[i].kind { return Tensor(id: i, shape: g.nodes[i].shape) }
            return nil
        }
    }

    /// Plan, then `reps` times: fill inputs and seeds, forward, backward (if any gradient);
    /// returns per pass the bit patterns of every output then every gradient.
    func run(_ g: Graph, inputs: [Tensor], outputs: [Tensor], grads: [Tensor], options: PlanOptions,
             reps: Int = 3, file: StaticString = #filePath, line: UInt = #line) throws -> (Plan, [[UInt32]]) {
        let plan = try g.plan(try Context(threads: 1), outputs: outputs, gradientsFor: grads, options: options)
        checkLayout(plan, file: file, line: line)
        var passes: [[UInt32]] = []
        for _ in 0..<reps {
            var r = TestRNG(11)
            for t in inputs { try plan.setInput(t, r.array(t.count, -1, 1)) }
            for t in outputs { if let s = plan.seed(for: t) { _ = s.update(from: r.array(t.count, 0.5, 1.5)) } }
            plan.forward()
            if !grads.isEmpty { plan.backward() }
            var bits: [UInt32] = []
            for t in outputs { bits += plan.buffer(t).map(\.bitPattern) }
            for t in grads { bits += (plan.gradient(t).map { Array($0) } ?? []).map(\.bitPattern) }
            passes.append(bits)
        }
        return (plan, passes)
    }

    /// No two buffers live at a common step share a byte; every buffer lies inside the arena;
    /// the arena is between the live peak and the no-reuse size.
    func checkLayout(_ plan: Plan, file: StaticString = #filePath, line: UInt = #line) {
        if plan.reusesMemory {
            XCTAssertLessThanOrEqual(plan.arenaBytes, plan.naiveBytes, "reuse never costs more", file: file, line: line)
            XCTAssertGreaterThanOrEqual(plan.arenaBytes, plan.peakLiveBytes, file: file, line: line)
        }
        let b = plan.schedule.liveness.blocks, off = plan.schedule.layout.offsets
        XCTAssertEqual(b.count, off.count, file: file, line: line)
        var bad = 0
        for i in b.indices {
            if off[i] < 0 || !off[i].isMultiple(of: 64) || off[i] + b[i].bytes > plan.arena.capacity {
                bad += 1
                XCTFail("block \(b[i]) at \(off[i]) lies outside the arena (\(plan.arena.capacity) bytes)", file: file, line: line)
            }
            for j in (i + 1)..<b.count where b[i].overlapsInTime(b[j]) {
                if off[i] < off[j] + b[j].bytes && off[j] < off[i] + b[i].bytes {
                    bad += 1
                    if bad < 5 { XCTFail("blocks \(b[i]) at \(off[i]) and \(b[j]) at \(off[j]) are live together and overlap", file: file, line: line) }
                }
            }
        }
        XCTAssertEqual(bad, 0, "overlapping or out-of-arena blocks", file: file, line: line)
    }

    /// Same bits with reuse, with one buffer per tensor, and with canaries; same bits on every pass.
    func assertReuseIsExact(_ g: Graph, inputs: [Tensor], outputs: [Tensor], grads: [Tensor], canaries: Bool = true,
                            _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (reused, a) = try run(g, inputs: inputs, outputs: outputs, grads: grads, options: PlanOptions(), file: file, line: line)
        let (kept, b) = try run(g, inputs: inputs, outputs: outputs, grads: grads, options: PlanOptions(keepIntermediates: true), file: file, line: line)
        XCTAssertTrue(reused.reusesMemory, file: file, line: line)
        XCTAssertFalse(kept.reusesMemory, file: file, line: line)
        XCTAssertEqual(kept.arenaBytes, kept.naiveBytes, "keepIntermediates is the no-reuse layout", file: file, line: line)
        XCTAssertEqual(reused.naiveBytes, kept.naiveBytes, file: file, line: line)
        XCTAssertLessThanOrEqual(reused.arenaBytes, reused.naiveBytes, file: file, line: line)
        XCTAssertFalse(a[0].isEmpty, file: file, line: line)
        for p in 1..<a.count { XCTAssertEqual(a[p], a[0], "\(what): pass \(p) differs from pass 0 (reuse)", file: file, line: line) }
        for p in 1..<b.count { XCTAssertEqual(b[p], b[0], "\(what): pass \(p) differs from pass 0 (no reuse)", file: file, line: line) }
        XCTAssertEqual(a[0], b[0], "\(what): reuse changes results", file: file, line: line)
        if canaries {
            let (c, d) = try run(g, inputs: inputs, outputs: outputs, grads: grads, options: PlanOptions(debugCanaries: true), file: file, line: line)
            XCTAssertNoThrow(try c.checkCanaries(), file: file, line: line)
            XCTAssertEqual(d[0], a[0], "\(what): canary plan differs", file: file, line: line)
        }
        if !grads.isEmpty {   // the gradients must be non-trivial for the comparison to mean much
            let (_, fo) = try run(g, inputs: inputs, outputs: outputs, grads: [], options: PlanOptions(), reps: 2, file: file, line: line)
            XCTAssertEqual(fo[1], fo[0], file: file, line: line)
            XCTAssertEqual(Array(fo[0]), Array(a[0].prefix(fo[0].count)), "\(what): forward-only outputs differ", file: file, line: line)
            XCTAssertTrue(a[0].dropFirst(fo[0].count).contains { $0 != 0 }, "\(what): all gradients zero", file: file, line: line)
        }
    }

    // MARK: networks

    /// Residual CNN: skip connections, one tensor with several consumers, two outputs, two
    /// inputs, batchnorm with input (non-constant) parameters.
    func makeResidual() throws -> (Graph, [Tensor], [Tensor], [Tensor]) {
        var r = TestRNG(3)
        let g = Graph()
        let x = try g.input([2, 3, 12, 10], name: "image")
        let gamma = try g.input([8], name: "gamma")
        func w(_ s: [Int], _ k: Float = 0.3) throws -> Tensor { try g.constant(r.array(s.reduce(1, *), -k, k), s) }
        var h = try g.relu(try g.conv2d(x, weight: try w([8, 3, 3, 3]), bias: try w([8]), padding: (1, 1)))
        let stem = h
        for _ in 0..<3 {
            var t = try g.conv2d(h, weight: try w([8, 8, 3, 3]), padding: (1, 1))
            t = try g.batchNorm2d(t, gamma: gamma, beta: try w([8]), mean: try w([8]),
                                  variance: try g.constant(r.array(8, 0.5, 1.5), [8]))
            t = try g.relu(t)
            t = try g.conv2d(t, weight: try w([8, 8, 1, 1]))
            h = try g.relu(try g.add(t, h))
        }
        // stem feeds the first block, a mul, a concat and a sub: several consumers, long-lived
        let gate = try g.sigmoid(try g.conv2d(h, weight: try w([8, 8, 1, 1]), bias: try w([8])))
        let mixed = try g.concat([try g.mul(gate, stem), try g.sub(h, stem), stem], axis: 1)
        let down = try g.maxPool2d(try g.conv2d(mixed, weight: try w([8, 24, 3, 3]), stride: (2, 2), padding: (1, 1)), kernel: (2, 2))
        let o1 = try g.mean(try g.gelu(down), axes: [1, 2, 3])
        let o2 = try g.linear(try g.reshape(try g.globalAvgPool(h), [2, 8]), weight: try w([3, 8]), bias: try w([3]))
        return (g, [x, gamma], [o1, o2], [x, gamma])
    }

    /// Transformer block: layernorm, attention, residuals, MLP.
    func makeAttention() throws -> (Graph, [Tensor], [Tensor], [Tensor]) {
        var r = TestRNG(4)
        let g = Graph()
        let x = try g.input([2, 7, 12], name: "tokens")
        func w(_ s: [Int], _ k: Float = 0.3) throws -> Tensor { try g.constant(r.array(s.reduce(1, *), -k, k), s) }
        var h = x
        for _ in 0..<2 {
            let a = try g.multiHeadSelfAttention(try g.layerNorm(h, gamma: try w([12]), beta: try w([12])), heads: 3,
                                                 wqkv: try w([36, 12]), bqkv: try w([36]), wo: try w([12, 12]), bo: try w([12]))
            h = try g.add(h, a)
            let m = try g.linear(try g.gelu(try g.linear(try g.layerNorm(h, gamma: try w([12])), weight: try w([24, 12]), bias: try w([24]))),
                                 weight: try w([12, 24]))
            h = try g.add(h, m)
        }
        let out = try g.sum(try g.sqrt(try g.affine(try g.softmax(h, axis: 1), scale: 1, shift: 0.5)), axes: [1])
        return (g, [x], [out], [x])
    }

    /// conv + relu chain: each activation dies one step after it is made.
    func makeChain(depth: Int) throws -> (Graph, Tensor, Tensor) {
        var r = TestRNG(5)
        let g = Graph()
        let x = try g.input([1, 8, 32, 32])
        var h = x
        for _ in 0..<depth {
            h = try g.relu(try g.conv2d(h, weight: try g.constant(r.array(8 * 8 * 9, -0.2, 0.2), [8, 8, 3, 3]), padding: (1, 1)))
        }
        return (g, x, try g.mean(h))
    }

    // MARK: tests

    func testMixedNetworkIsBitIdenticalWithReuse() throws {
        let (g, x, out) = try makeMixedNetwork()
        try assertReuseIsExact(g, inputs: [x], outputs: [out], grads: [x], "mixed, dx")
        try assertReuseIsExact(g, inputs: [x], outputs: [out], grads: [x] + constants(g), "mixed, dx and weight grads")
        try assertReuseIsExact(g, inputs: [x], outputs: [out], grads: [], "mixed, forward only")
    }

    func testResidualNetworkIsBitIdenticalWithReuse() throws {
        let (g, ins, outs, grads) = try makeResidual()
        try assertReuseIsExact(g, inputs: ins, outputs: outs, grads: grads, "residual")
        try assertReuseIsExact(g, inputs: ins, outputs: outs, grads: grads + constants(g), "residual, weight grads")
        try assertReuseIsExact(g, inputs: ins, outputs: outs, grads: [ins[0]], "residual, dx only")
        try assertReuseIsExact(g, inputs: ins, outputs: [outs[1]], grads: grads, "residual, one output")
    }

    func testAttentionNetworkIsBitIdenticalWithReuse() throws {
        let (g, ins, outs, grads) = try makeAttention()
        try assertReuseIsExact(g, inputs: ins, outputs: outs, grads: grads, "attention")
        try assertReuseIsExact(g, inputs: ins, outputs: outs, grads: grads + constants(g), "attention, weight grads")
        try assertReuseIsExact(g, inputs: ins, outputs: outs, grads: [], "attention, forward only")
    }

    func testDeepChainArenaShrinks() throws {
        let (g, x, out) = try makeChain(depth: 24)
        try assertReuseIsExact(g, inputs: [x], outputs: [out], grads: [x], canaries: false, "chain")
        let fwd = try g.plan(try Context(), outputs: [out])
        let bwd = try g.plan(try Context(), outputs: [out], gradientsFor: [x])
        for p in [fwd, bwd] {
            XCTAssertLessThan(p.arenaBytes, p.naiveBytes)
            XCTAssertEqual(p.arena.capacity, p.arenaBytes)
        }
        let act = 8 * 32 * 32 * 4
        // Forward only: input, a couple of live activations, one im2col workspace, the output,
        // and the weights packed once (prepared memory, live for the plan's life).
        XCTAssertLessThanOrEqual(fwd.arenaBytes, 3 * act + fwd.workspaceBytes + fwd.preparedBytes + 4096, fwd.memory.description)
        XCTAssertLessThan(fwd.arenaBytes * 4, fwd.naiveBytes, fwd.memory.description)
        XCTAssertEqual(fwd.arenaBytes, fwd.peakLiveBytes, "a chain packs perfectly")
        // With gradients the relu outputs (read by relu backward) stay, the conv outputs do not.
        XCTAssertLessThan(bwd.arenaBytes * 3, bwd.naiveBytes * 2, bwd.memory.description)
        // planMemory agrees with the plan and allocates nothing.
        let m = try g.planMemory(outputs: [out], gradientsFor: [x])
        XCTAssertEqual(m.arenaBytes, bwd.arenaBytes)
        XCTAssertEqual(m.naiveBytes, bwd.naiveBytes)
        XCTAssertEqual(m.peakLiveBytes, bwd.peakLiveBytes)
        XCTAssertEqual(m.totalBytes, bwd.arenaBytes + bwd.constantBytes)
    }

    func testMemoryLimitUsesTheReusedSize() throws {
        let (g, x, out) = try makeChain(depth: 12)
        let m = try g.planMemory(outputs: [out], gradientsFor: [x])
        XCTAssertLessThan(m.arenaBytes, m.naiveBytes)
        let plan = try g.plan(try Context(), outputs: [out], gradientsFor: [x], options: PlanOptions(memoryLimit: m.totalBytes))
        XCTAssertLessThanOrEqual(plan.arena.capacity + plan.constantBytes, m.totalBytes)
        XCTAssertThrowsError(try g.plan(try Context(), outputs: [out], gradientsFor: [x],
                                        options: PlanOptions(memoryLimit: m.totalBytes - 1))) { e in
            XCTAssertEqual((e as! EngineError).kind, .arenaExhausted)
        }
        // keepIntermediates needs (and is checked against) the no-reuse size
        XCTAssertThrowsError(try g.plan(try Context(), outputs: [out], gradientsFor: [x],
                                        options: PlanOptions(memoryLimit: m.totalBytes, keepIntermediates: true)))
    }

    func testKeepIntermediatesKeepsEveryValue() throws {
        let g = Graph()
        let x = try g.input([64])
        let a = try g.relu(x), b = try g.affine(a, scale: 2), c = try g.sigmoid(b), y = try g.sum(c)
        var r = TestRNG(8)
        let xs = r.array(64)
        let plan = try g.plan(try Context(), outputs: [y], gradientsFor: [x], options: PlanOptions(keepIntermediates: true))
        try plan.setInput(x, xs)
        plan.forward(); plan.backward()
        XCTAssertEqual(Array(plan.buffer(a)), xs.map { max($0, 0) })
        XCTAssertEqual(Array(plan.buffer(b)), xs.map { max($0, 0) * 2 })
        XCTAssertNotNil(plan.gradient(b))
        // With reuse, the chain's intermediates share memory.
        let reused = try g.plan(try Context(), outputs: [y], gradientsFor: [x])
        XCTAssertLessThan(reused.arenaBytes, plan.arenaBytes)
    }

    func testReusedPlanAllocatesNothing() throws {
        let (g, ins, outs, grads) = try makeResidual()
        let plan = try g.plan(try Context(threads: 2), outputs: outs, gradientsFor: grads)
        var r = TestRNG(1)
        for t in ins { try plan.setInput(t, r.array(t.count)) }
        plan.forward(); plan.backward()
        sega_malloc_counter_start()
        for _ in 0..<3 { plan.forward(); plan.backward() }
        XCTAssertEqual(sega_malloc_counter_stop(), 0)
    }
}
