#if canImport(Glibc)
import Glibc
#endif

// MARK: - Planning step 5: binding

/// The arena and the pointers into it: every block's offset (from `PlanLayout`) becomes a
/// pointer, and every node gets its value and gradient pointer. Constants are read in place.
struct PlanBinding {
    let arena: Arena
    /// Value and gradient pointer of each node (nil: none in this plan).
    let values: [UnsafeMutablePointer<Float>?], grads: [UnsafeMutablePointer<Float>?]
    /// Seed of each output that gets a gradient (filled with 1 here).
    let seedOf: [Int: UnsafeMutablePointer<Float>]
    /// Weights read in place (kept alive by the plan).
    let constants: [ConstantData]
    /// The pointer of every block.
    private let blockPointers: [UnsafeMutableRawPointer]

    /// Check the budget, then allocate (nothing is allocated when a check fails).
    init(_ sc: PlanSchedule, _ memory: PlanMemory) throws {
        try Self.checkBudget(sc, memory)
        arena = try Arena(capacity: sc.layout.arenaBytes, debug: sc.layout.placement == .canaries)
        blockPointers = try Self.allocateBlocks(sc.liveness.blocks, sc.layout, in: arena)
        let t = sc.timeline
        var values = [UnsafeMutablePointer<Float>?](repeating: nil, count: t.nodes.count), grads = values
        var constants: [ConstantData] = []
        let a = t.aliases
        for i in t.nodes.indices where t.needed[i] {
            if case .constant(let d) = t.nodes[i].kind {
                constants.append(d)
                values[i] = d.pointer
            } else if a.isValueAlias(i) {
                values[i] = values[a.valueRoot[i]]   // roots come first (topological order)
            } else {
                values[i] = Self.floats(blockPointers[sc.liveness.valueBlock[i]], product(t.nodes[i].shape))
            }
            guard t.hasGrad[i] else { continue }
            grads[i] = a.isGradientAlias(i) ? grads[a.gradRoot[i]]
                : Self.floats(blockPointers[sc.liveness.gradBlock[i]], product(t.nodes[i].shape))
        }
        var seedOf = [Int: UnsafeMutablePointer<Float>]()
        for o in t.outputs where t.hasGrad[o.id] && seedOf[o.id] == nil {
            let s = Self.floats(blockPointers[sc.liveness.seedBlock[o.id]], o.count)
            s.initialize(repeating: 1, count: o.count)
            seedOf[o.id] = s
        }
        self.values = values; self.grads = grads; self.constants = constants; self.seedOf = seedOf
    }

    /// The pointer of block k.
    func pointer(_ k: Int) -> UnsafeMutableRawPointer { blockPointers[k] }

    private static func floats(_ p: UnsafeMutableRawPointer, _ count: Int) -> UnsafeMutablePointer<Float> {
        p.bindMemory(to: Float.self, capacity: count)
    }

    private static func checkBudget(_ sc: PlanSchedule, _ m: PlanMemory) throws {
        let blocks = sc.liveness.blocks.count
        if let limit = sc.options.memoryLimit, m.totalBytes > limit {
            throw EngineError(.arenaExhausted, "memory budget too small: the plan needs \(m.totalBytes) bytes (\(m.constantBytes) weights, \(m.arenaBytes) arena; without reuse: \(m.activationBytes) activations, \(m.gradientBytes) gradients, \(m.workspaceBytes) workspace), the limit is \(limit)")
        }
        if sc.layout.placement == .canaries && blocks + 8 > Int(SEGA_ARENA_MAX_BLOCKS) {
            throw EngineError(.invalidArgument, "plan: \(blocks) arena blocks exceed the canary table (\(SEGA_ARENA_MAX_BLOCKS)); plan without debug canaries")
        }
    }

    /// One zeroed pool cut at the layout's offsets, or (canaries) one zeroed arena block per
    /// layout block, which the bump allocator puts exactly at the layout's offsets.
    private static func allocateBlocks(_ blocks: [PlanLiveness.Block], _ layout: PlanLayout,
                                       in arena: Arena) throws -> [UnsafeMutableRawPointer] {
        guard layout.placement == .canaries else {
            let pool = try arena.allocate(bytes: layout.arenaBytes, what: "plan buffers")
            memset(pool, 0, layout.arenaBytes)
            return layout.offsets.map { pool + $0 }
        }
        var ptr: [UnsafeMutableRawPointer] = []
        for (b, offset) in zip(blocks, layout.offsets) {
            let p = try arena.allocate(bytes: b.bytes, what: "\(b.purpose.rawValue) of node \(b.node)")
            memset(p, 0, b.bytes)
            precondition(p - (ptr.first ?? p) == offset, "canary arena block of node \(b.node) is not at its planned offset")
            ptr.append(p)
        }
        return ptr
    }
}

// MARK: - The bound program

/// What `forward()` and `backward()` run: the ops bound to their pointers, the gradients to zero
/// before each backward op and the seeds to copy. Built once; running it allocates nothing.
@usableFromInline
struct PlanProgram {
    /// Op nodes in execution order, and the subset that needs a backward call (reversed).
    @usableFromInline let forwardOps: ContiguousArray<Op>
    @usableFromInline let backwardOps: ContiguousArray<Op>
    /// Gradient buffers to zero in backward: `zeroList[zeroSlot[s]..<zeroSlot[s + 1]]` before
    /// slot s, where slot 0 is before seeding and slot k + 1 is before backward op k.
    @usableFromInline let zeroList: ContiguousArray<(UnsafeMutableRawPointer, Int)>
    @usableFromInline let zeroSlot: ContiguousArray<Int>
    /// The engine the ops were bound to (zeroing is split over its threads: sega_zero_mt).
    @usableFromInline let engine: OpaquePointer
    /// (seed, gradient, count) of every seeded output.
    @usableFromInline let seeds: ContiguousArray<(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int)>

    /// Bind every op of the forward timeline (in order) to its pointers.
    init(_ sc: PlanSchedule, _ b: PlanBinding, _ context: Context) throws {
        let t = sc.timeline
        engine = context.raw
        var fwd = ContiguousArray<Op>(), bwd = ContiguousArray<Op>()
        let overwritten = context.overwritesGradients ? Self.overwrittenGradients(sc) : [:]
        for i in t.forwardNodes {
            guard case .op(let op, let ins) = t.nodes[i].kind else { continue }
            try op.bind(OpBinding(engine: context.raw, threads: context.threads,
                                  inputs: ins.map { b.values[$0]! }, inputShapes: ins.map { t.nodes[$0].shape },
                                  output: b.values[i]!, outputShape: t.nodes[i].shape,
                                  inputGrads: ins.map { b.grads[$0] }, outputGrad: b.grads[i],
                                  workspace: b.pointer(sc.liveness.workspace(of: i)), saved: b.pointer(sc.liveness.saved(of: i)),
                                  prepared: b.pointer(sc.liveness.prepared(of: i)),
                                  inputIsConstant: ins.map { t.nodes[$0].kind.isConstant },
                                  inputGradOverwrite: ins.indices.map { k in overwritten[t.aliases.gradRoot[ins[k]]].map { $0.writer == i && $0.input == k } ?? false }))
            fwd.append(op)
        }
        for i in t.backwardNodes { if case .op(let op, _) = t.nodes[i].kind { bwd.append(op) } }
        forwardOps = fwd
        backwardOps = bwd
        (zeroList, zeroSlot) = Self.zeroing(sc, b, skip: overwritten)
        var seeds = ContiguousArray<(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int)>()
        var seeded = Set<Int>()
        for o in t.outputs where t.hasGrad[o.id] && seeded.insert(o.id).inserted {
            seeds.append((b.seedOf[o.id]!, b.grads[o.id]!, o.count))
        }
        self.seeds = seeds
    }

    /// The gradient buffers (by gradient root) whose first writer overwrites them
    /// (`Op.overwritesInputGradient`), each with that writer (op node) and the input index it
    /// has there: these are not zeroed. A buffer the writer receives through two of its inputs
    /// (directly or through aliases) is left out (it accumulates twice).
    private static func overwrittenGradients(_ sc: PlanSchedule) -> [Int: (writer: Int, input: Int)] {
        let t = sc.timeline, a = t.aliases
        var writerAt = [Int: Int]()   // backward step -> op node
        for i in t.forwardNodes where t.backwardStep[i] >= 0 { writerAt[t.backwardStep[i]] = i }
        let seeded = Self.seededRoots(t)
        var out = [Int: (writer: Int, input: Int)]()
        for j in t.nodes.indices where t.hasGrad[j] && !a.isGradientAlias(j) && !seeded.contains(j) {
            let w = sc.liveness.firstWrite[j]
            guard w != Int.max, let i = writerAt[w], case .op(let op, let ins) = t.nodes[i].kind else { continue }
            let ks = ins.indices.filter { a.gradRoot[ins[$0]] == j && t.hasGrad[ins[$0]] }
            guard ks.count == 1,
                  op.overwritesInputGradient(ks[0], inputs: ins.map { t.nodes[$0].shape }, output: t.nodes[i].shape)
            else { continue }
            out[j] = (i, ks[0])
        }
        return out
    }

    /// Gradient roots whose buffer holds an output's gradient (seeded, never zeroed).
    private static func seededRoots(_ t: PlanTimeline) -> Set<Int> {
        Set(t.outputs.filter { t.hasGrad[$0.id] }.map { t.aliases.gradRoot[$0.id] })
    }

    /// Gradient buffers are zeroed right before their first writer (outputs' are seeded
    /// instead), except those the first writer overwrites (`skip`). Aliases share their root's.
    private static func zeroing(_ sc: PlanSchedule, _ b: PlanBinding, skip: [Int: (writer: Int, input: Int)])
        -> (ContiguousArray<(UnsafeMutableRawPointer, Int)>, ContiguousArray<Int>) {
        let t = sc.timeline
        let seeded = Self.seededRoots(t)
        var zeroAt = [[Int]](repeating: [], count: t.backwardNodes.count + 1)
        for i in t.nodes.indices where t.hasGrad[i] && !t.aliases.isGradientAlias(i) && !seeded.contains(i) && skip[i] == nil {
            let w = sc.liveness.firstWrite[i]
            zeroAt[w == Int.max ? 0 : w - t.seedStep].append(i)
        }
        var list = ContiguousArray<(UnsafeMutableRawPointer, Int)>(), slot = ContiguousArray<Int>([0])
        for at in zeroAt {
            for i in at { list.append((UnsafeMutableRawPointer(b.grads[i]!), product(t.nodes[i].shape) * 4)) }
            slot.append(list.count)
        }
        return (list, slot)
    }

    @inlinable
    func forward() {
        // index loops: the iterator form allocates in unoptimised builds
        var i = 0
        while i < forwardOps.count { forwardOps[i].forward(); i += 1 }
    }

    @inlinable
    func backward() {
        var z = 0, zEnd = zeroSlot[1]
        while z < zEnd { zero(z); z += 1 }
        var i = 0
        while i < seeds.count { seeds[i].1.update(from: seeds[i].0, count: seeds[i].2); i += 1 }
        i = 0
        while i < backwardOps.count {
            zEnd = zeroSlot[i + 2]
            while z < zEnd { zero(z); z += 1 }
            backwardOps[i].backward(); i += 1
        }
    }

    /// Zero gradient buffer z of zeroList (its byte count is a whole number of floats).
    @inlinable
    func zero(_ z: Int) {
        sega_zero_mt(engine, zeroList[z].1 / 4, zeroList[z].0.assumingMemoryBound(to: Float.self))
    }
}
