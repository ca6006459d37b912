import XCTest
import MallocCounter
@testable import SegaEngine

/// Reshape as a view (`Op.outputAliasesInput`, `PlanAliases`): its output shares its input's
/// buffer, and its gradient the input's gradient buffer when the reshape is the input's only
/// consumer. Results must be the bytes of the copy-and-add plan (`aliasViews: false`) at 1, 2
/// and 3 threads, with and without reuse and canaries; gradients must match finite differences;
/// the arena must shrink; a pass must not allocate.
final class ReshapeAliasTests: XCTestCase {
    struct Net { let g: Graph; let inputs: [Tensor]; let outputs: [Tensor]; let grads: [Tensor]; let views: [Tensor] }

    private func w(_ g: Graph, _ r: inout TestRNG, _ s: [Int]) throws -> Tensor {
        try g.constant(r.array(s.reduce(1, *), -0.5, 0.5), s)
    }

    /// A chain of reshapes between two linears, ending in a reshape that is a graph output.
    func makeChain() throws -> Net {
        var r = TestRNG(1)
        let g = Graph()
        let x = try g.input([2, 6, 8], name: "x")
        let h = try g.gelu(g.linear(x, weight: w(g, &r, [8, 8]), bias: w(g, &r, [8])))
        let a = try g.reshape(h, [12, 8]), b = try g.reshape(a, [96]), c = try g.reshape(b, [2, 48])
        let d = try g.gelu(g.affine(c, scale: 1.5, shift: 0.25))
        let e = try g.reshape(d, [2, 6, 8])
        let out = try g.reshape(g.linear(e, weight: w(g, &r, [4, 8])), [48])
        return Net(g: g, inputs: [x], outputs: [out], grads: [x] + weights(g), views: [a, b, c, e, out])
    }

    /// A reshape feeding two consumers; a tensor feeding a reshape and another op (its gradient
    /// then stays separate and the reshape adds); a reshape of a graph input; a reshape of a
    /// constant; a reshape output that is also an output beside its input.
    func makeBranches() throws -> Net {
        var r = TestRNG(2)
        let g = Graph()
        let x = try g.input([3, 4, 5], name: "x"), q = try g.input([4, 5], name: "q")
        let xr = try g.reshape(x, [12, 5])                         // view of a gradient source
        let h = try g.linear(xr, weight: w(g, &r, [5, 5]))
        let hv = try g.reshape(h, [3, 20])                         // two consumers
        let s1 = try g.mul(hv, g.gelu(hv))
        let k = try g.reshape(w(g, &r, [20, 3]), [3, 20])          // view of a constant
        let s2 = try g.add(s1, k)
        let m = try g.softmax(s2)
        let mv = try g.reshape(m, [60])                            // m also feeds another op
        let n = try g.sum(g.mul(m, m), axes: [1])
        let qv = try g.reshape(q, [1, 20])                         // view of an input with no other consumer
        let t = try g.matmul(qv, g.reshape(s2, [20, 3]))
        // s1 feeds a view y and, between y's two consumers, another op: sharing the gradient
        // would add in another order (different bits), so y's gradient stays separate.
        let y = try g.reshape(s1, [60])
        let yb = try g.gelu(y), d = try g.affine(s1, scale: 0.7, shift: 0.1), yc = try g.mul(y, y)
        let extra = try g.add(g.add(g.reshape(yb, [3, 20]), d), g.reshape(yc, [3, 20]))
        return Net(g: g, inputs: [x, q], outputs: [mv, n, t, m, extra], grads: [x, q] + weights(g), views: [xr, hv, k, mv, qv, y])
    }

    /// Reshapes next to ops that overwrite their input gradient (a same-shape add and a pointwise
    /// convolution are the first writers of a gradient shared by a chain of views).
    func makeOverwriting() throws -> Net {
        var r = TestRNG(3)
        let g = Graph()
        let x = try g.input([2, 4, 5, 6], name: "x")
        let e = try g.conv2d(x, weight: w(g, &r, [6, 4, 1, 1]))
        let ev = try g.reshape(g.reshape(e, [2, 6, 30]), [2, 6, 5, 6])
        let p = try g.conv2d(ev, weight: w(g, &r, [4, 6, 1, 1]))   // overwrites the gradient of ev (= e's)
        let pv = try g.reshape(p, [2, 120])
        let s = try g.add(pv, w(g, &r, [2, 120]))                  // overwrites the gradient of pv (= p's)
        let z = try g.add(g.reshape(s, [2, 4, 5, 6]), x)
        let out = try g.sum(g.mul(z, w(g, &r, [2, 4, 5, 6])), axes: [0, 1, 2, 3])
        return Net(g: g, inputs: [x], outputs: [out], grads: [x] + weights(g), views: [ev, pv])
    }

    private func weights(_ g: Graph) -> [Tensor] {
        g.nodes.indices.compactMap { i in
            if case .constant = g.nodes[i].kind { return Tensor(id: i, shape: g.nodes[i].shape) }
            return nil
        }
    }

    /// Bits of every output then every gradient after `reps` passes (each pass checked equal),
    /// with the plan.
    func run(_ n: Net, _ options: PlanOptions, threads: Int = 1, reps: Int = 2,
             file: StaticString = #filePath, line: UInt = #line) throws -> (Plan, [UInt32]) {
        let plan = try n.g.plan(try Context(threads: threads), outputs: n.outputs, gradientsFor: n.grads, options: options)
        var first: [UInt32]? = nil
        for _ in 0..<reps {
            var r = TestRNG(11)
            for t in n.inputs { try plan.setInput(t, r.array(t.count, -1, 1)) }
            for t in n.outputs { if let s = plan.seed(for: t) { _ = s.update(from: r.array(t.count, 0.5, 1.5)) } }
            for t in n.grads { plan.gradient(t)?.update(repeating: .nan) }   // zeroed or overwritten: never read
            plan.forward(); plan.backward()
            var bits: [UInt32] = []
            for t in n.outputs { bits += plan.buffer(t).map(\.bitPattern) }
            for t in n.outputs + n.grads { bits += (plan.gradient(t).map { Array($0) } ?? []).map(\.bitPattern) }
            if let f = first { XCTAssertEqual(bits, f, "a second pass differs", file: file, line: line) } else { first = bits }
        }
        return (plan, first!)
    }

    func assertSameAsCopies(_ make: () throws -> Net, _ what: String, shrinks: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        let n = try make()
        let (copies, want) = try run(n, PlanOptions(aliasViews: false), file: file, line: line)
        XCTAssertTrue(want.contains { Float(bitPattern: $0) != 0 }, file: file, line: line)
        XCTAssertFalse(want.contains { Float(bitPattern: $0).isNaN }, "\(what): a NaN-filled gradient was read", file: file, line: line)
        for threads in [1, 2, 3] {
            for options in [PlanOptions(), PlanOptions(keepIntermediates: true), PlanOptions(debugCanaries: true)] {
                let (plan, got) = try run(n, options, threads: threads, file: file, line: line)
                XCTAssertEqual(got, want, "\(what), \(threads) threads, reuse \(options.reusesMemory): views change results", file: file, line: line)
                if options.debugCanaries { XCTAssertNoThrow(try plan.checkCanaries(), file: file, line: line) }
                for v in n.views {   // every view shares its input's bytes
                    guard case .op(_, let ins) = n.g.nodes[v.id].kind else { continue }
                    XCTAssertEqual(plan.binding.values[v.id], plan.binding.values[ins[0]], "\(what): view \(v.id) has its own buffer", file: file, line: line)
                }
                if options.reusesMemory {
                    XCTAssertLessThanOrEqual(plan.arenaBytes, copies.arenaBytes, "\(what): the arena grows", file: file, line: line)
                    if shrinks { XCTAssertLessThan(plan.arenaBytes, copies.arenaBytes, "\(what): the arena does not shrink", file: file, line: line) }
                    XCTAssertLessThanOrEqual(plan.program.zeroList.reduce(0) { $0 + $1.1 }, copies.program.zeroList.reduce(0) { $0 + $1.1 },
                                             "\(what): more bytes zeroed", file: file, line: line)
                }
            }
        }
    }

    func testChainOfReshapesMatchesCopies() throws { try assertSameAsCopies(makeChain, "chain") }
    func testBranchingReshapesMatchCopies() throws { try assertSameAsCopies(makeBranches, "branches") }
    func testReshapesBesideOverwritingOpsMatchCopies() throws { try assertSameAsCopies(makeOverwriting, "overwriting", shrinks: false) }

    /// Which gradients are shared: a chain's, a two-consumer view's, a source's; not that of a
    /// tensor with another consumer, nor that of an output.
    func testGradientsSharedOnlyWithTheOnlyConsumer() throws {
        let n = try makeBranches()
        let (plan, _) = try run(n, PlanOptions(), reps: 1)
        let b = plan.binding
        func input(_ v: Tensor) -> Int { if case .op(_, let ins) = n.g.nodes[v.id].kind { return ins[0] }; return -1 }
        let (xr, hv, _, mv, _) = (n.views[0], n.views[1], n.views[2], n.views[3], n.views[4])
        XCTAssertEqual(b.grads[xr.id], b.grads[input(xr)], "view of a source")
        XCTAssertEqual(b.grads[hv.id], b.grads[input(hv)], "two-consumer view")
        XCTAssertNotEqual(b.grads[mv.id], b.grads[input(mv)], "m has another consumer and is an output")
        XCTAssertNotEqual(b.grads[n.views[5].id], b.grads[input(n.views[5])], "s1 has other consumers")
        let c = try makeChain()
        let (cp, _) = try run(c, PlanOptions(), reps: 1)
        let root = cp.binding.grads[input(c.views[0])]
        for v in c.views.prefix(3) { XCTAssertEqual(cp.binding.grads[v.id], root, "chain view \(v.id)") }
        XCTAssertEqual(cp.schedule.timeline.aliases.valueRoot[c.views[2].id], input(c.views[0]), "chains resolve to the first input")
    }

    /// Finite differences through reshapes (chains, two consumers, a view of the input, a view
    /// as the output, a view of a tensor with another consumer).
    func testReshapeGradientsMatchFiniteDifferences() throws {
        try checkGradients([[2, 3, 4], [4, 6]], seed: 31) { g, t in
            let a = try g.reshape(g.reshape(t[0], [6, 4]), [24])
            let b = try g.mul(a, g.gelu(a))
            let m = try g.matmul(g.reshape(b, [4, 6]), g.reshape(t[1], [6, 4]))
            let s = try g.add(g.reshape(m, [16]), g.reshape(g.softmax(m), [16]))
            return try g.reshape(g.add(s, g.reshape(g.gelu(m), [16])), [2, 8])
        }
    }

    func testAliasedPlanAllocatesNothing() throws {
        let n = try makeBranches()
        let plan = try n.g.plan(try Context(threads: 2), outputs: n.outputs, gradientsFor: n.grads)
        var r = TestRNG(1)
        for t in n.inputs { try plan.setInput(t, r.array(t.count)) }
        plan.forward(); plan.backward()
        sega_malloc_counter_start()
        for _ in 0..<3 { plan.forward(); plan.backward() }
        XCTAssertEqual(sega_malloc_counter_stop(), 0)
    }

    /// An output that is a view keeps its value and gradient readable after the pass, even when
    /// its input's buffers would otherwise be reused: a view of a tensor with another consumer,
    /// and a view sharing its input's gradient that feeds a chain (its seed lands in the shared
    /// gradient before the chain's backward runs).
    func testViewOutputStaysReadable() throws {
        let g = Graph()
        let x = try g.input([4, 6])
        let h = try g.gelu(x)
        let v = try g.reshape(h, [24])                  // h has another consumer
        let h2 = try g.gelu(g.affine(x, scale: 0.5))
        let v2 = try g.reshape(h2, [24])                // h2's only consumer: shares its gradient
        var c = v2
        for _ in 0..<6 { c = try g.gelu(g.affine(c, scale: 0.9, shift: 0.1)) }
        let later = try g.add(g.sum(g.gelu(g.gelu(h)), axes: [0, 1]), g.sum(c, axes: [0]))
        let outs = [v, v2, later]
        var r = TestRNG(5)
        let xs = r.array(24, -2, 2)
        // (a graph's ops are bound to its latest plan: run one plan before making the next)
        func pass(_ options: PlanOptions) throws -> (Plan, [[UInt32]]) {
            let p = try g.plan(try Context(), outputs: outs, gradientsFor: [x], options: options)
            try p.setInput(x, xs)
            var s = TestRNG(6)
            for o in outs { _ = p.seed(for: o)!.update(from: s.array(o.count, 0.5, 1.5)) }
            p.forward(); p.backward()
            return (p, [v, v2].flatMap { [p.buffer($0).map(\.bitPattern), p.gradient($0)!.map(\.bitPattern)] } + [p.gradient(x)!.map(\.bitPattern)])
        }
        let (plan, got) = try pass(PlanOptions())
        XCTAssertEqual(plan.binding.grads[v2.id], plan.binding.grads[h2.id])
        let (_, want) = try pass(PlanOptions(keepIntermediates: true, aliasViews: false))
        XCTAssertEqual(got, want)
    }
}
