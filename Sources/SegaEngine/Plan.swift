#if canImport(Glibc)
import Glibc
#endif

// MARK: - Plan

/// Options for `Graph.plan`.
public struct PlanOptions {
    /// Refuse to plan (before allocating anything) if the arena would exceed this many bytes.
    public var memoryLimit: Int? = nil
    /// Put canaries after every arena block; `Plan.checkCanaries()` verifies them. Implies
    /// `keepIntermediates` (every tensor gets its own block, so a canary sits after each one).
    public var debugCanaries: Bool = false
    /// Give every tensor (and every gradient) its own buffer for the plan's whole life instead of
    /// reusing memory by liveness, so `buffer(_:)` / `gradient(_:)` of intermediate tensors stay
    /// readable after `forward()` / `backward()`. Costs memory; for debugging and tests.
    public var keepIntermediates: Bool = false
    public init(memoryLimit: Int? = nil, debugCanaries: Bool = false, keepIntermediates: Bool = false) {
        self.memoryLimit = memoryLimit
        self.debugCanaries = debugCanaries
        self.keepIntermediates = keepIntermediates
    }
}

/// Where a plan's buffers live in its arena and when each is in use. Steps form one timeline per
/// forward+backward pass: forward ops are steps 0..<F, step F seeds the output gradients, and
/// backward op k (in execution order) is step F + 1 + k.
struct PlanLayout {
    enum Purpose: String { case value, gradient, saved, workspace, seed }
    struct Block {
        let purpose: Purpose
        /// Graph node the block belongs to (-1: the shared workspace / empty block).
        let node: Int
        /// Size, rounded up to 64 bytes.
        let bytes: Int
        /// Steps at which the contents must be intact (closed, disjoint, ascending ranges).
        var live: [ClosedRange<Int>]
        /// Byte offset from the pool start (canary mode: from the first block, canaries included).
        var offset = 0
    }
    var blocks: [Block]
    let steps: Int
    /// Bytes spanned by the packed blocks.
    var poolBytes = 0

    /// Whether two blocks are live at a common step.
    static func overlapInTime(_ a: Block, _ b: Block) -> Bool {
        for r in a.live { for q in b.live where r.lowerBound <= q.upperBound && q.lowerBound <= r.upperBound { return true } }
        return false
    }

    /// Sum of the sizes of the blocks live at the busiest step: no placement can use less.
    var peakLiveBytes: Int {
        var d = [Int](repeating: 0, count: steps + 1)
        for b in blocks { for r in b.live { d[r.lowerBound] += b.bytes; d[r.upperBound + 1] -= b.bytes } }
        var cur = 0, best = 0
        for k in 0..<steps { cur += d[k]; best = max(best, cur) }
        return best
    }

    /// Greedy interval packing: blocks by size (largest first; ties by first live step, then
    /// index), each at the lowest 64-aligned offset that does not collide with an already placed
    /// block live at a common step. Deterministic. (Ordering by live bytes x steps or by first
    /// step was tried on the model zoo: never smaller, and slower.)
    mutating func pack() {
        func first(_ b: Block) -> Int { b.live.first?.lowerBound ?? 0 }
        let bySize = blocks.indices.sorted { i, j in
            let a = blocks[i], b = blocks[j]
            if a.bytes != b.bytes { return a.bytes > b.bytes }
            return first(a) != first(b) ? first(a) < first(b) : i < j
        }
        let (offsets, top) = place(bySize)
        for k in blocks.indices { blocks[k].offset = offsets[k] }
        poolBytes = top
    }

    /// Offsets for placing the blocks one by one in `order`, and the bytes spanned.
    private func place(_ order: [Int]) -> ([Int], Int) {
        var offset = [Int](repeating: 0, count: blocks.count)
        var placed: [Int] = []
        var busy: [(Int, Int)] = []
        var top = 0
        for i in order {
            busy.removeAll(keepingCapacity: true)
            for j in placed where PlanLayout.overlapInTime(blocks[i], blocks[j]) {
                busy.append((offset[j], offset[j] + blocks[j].bytes))
            }
            busy.sort { $0.0 < $1.0 }
            var off = 0
            for (s, e) in busy {
                if s - off >= blocks[i].bytes { break }
                off = max(off, e)
            }
            offset[i] = off
            top = max(top, off + blocks[i].bytes)
            placed.append(i)
        }
        return (offset, top)
    }
}

/// Everything a plan decides before allocating: which nodes run, the timeline, every buffer's
/// size and live steps, and their placement.
struct PlanSchedule {
    let nodes: [Graph.Node]
    let needed: [Bool], hasGrad: [Bool], isOutput: [Bool], isSource: [Bool]
    let fwdNodes: [Int], bwdNodes: [Int]
    let firstWrite: [Int]
    let seedStep: Int
    let valueBlock: [Int], gradBlock: [Int], savedBlock: [Int], wsBlock: [Int], seedBlock: [Int]
    let emptyBlock: Int, sharedWs: Int
    let layout: PlanLayout
    let reuse: Bool
    /// Arena bytes (with canaries if on), and the no-reuse arena bytes.
    let total: Int, naive: Int
    let constB: Int, actB: Int, gradB: Int, savedB: Int, ws: Int

    init(graph: Graph, outputs: [Tensor], gradientsFor: [Tensor], options: PlanOptions) throws {
        let nodes = graph.nodes
        let n = nodes.count
        guard !outputs.isEmpty else { throw EngineError(.invalidArgument, "plan: no outputs given") }
        for t in outputs + gradientsFor {
            guard t.id >= 0, t.id < n, nodes[t.id].shape == t.shape else {
                throw EngineError(.invalidArgument, "plan: tensor \(t.id) does not belong to this graph")
            }
        }
        for t in gradientsFor {
            if case .op = nodes[t.id].kind {
                throw EngineError(.invalidArgument, "plan: gradients can be asked for inputs and constants only ('\(nodes[t.id].name)' is an op)")
            }
        }
        func inputsOf(_ i: Int) -> [Int] {
            if case .op(_, let ins) = nodes[i].kind { return ins }
            return []
        }
        // Nodes the outputs depend on.
        var needed = [Bool](repeating: false, count: n)
        for t in outputs { needed[t.id] = true }
        for i in stride(from: n - 1, through: 0, by: -1) where needed[i] {
            for j in inputsOf(i) { needed[j] = true }
        }
        // Nodes on a gradient path: depend on a gradient source and feed an output.
        var hasGrad = [Bool](repeating: false, count: n)
        for t in gradientsFor { hasGrad[t.id] = true }
        for i in 0..<n where needed[i] {
            if inputsOf(i).contains(where: { hasGrad[$0] }) { hasGrad[i] = true }
        }
        for i in 0..<n where !needed[i] { hasGrad[i] = false }
        var isOutput = [Bool](repeating: false, count: n), isSource = [Bool](repeating: false, count: n)
        for t in outputs { isOutput[t.id] = true }
        for t in gradientsFor where hasGrad[t.id] { isSource[t.id] = true }
        func isConstant(_ i: Int) -> Bool { if case .constant = nodes[i].kind { return true } else { return false } }

        // Timeline: forward steps, the seed step, backward steps.
        var fstep = [Int](repeating: -1, count: n), bstep = [Int](repeating: -1, count: n)
        var fwdNodes: [Int] = []
        for i in 0..<n where needed[i] { if case .op = nodes[i].kind { fstep[i] = fwdNodes.count; fwdNodes.append(i) } }
        let F = fwdNodes.count
        let bwdNodes = Array(fwdNodes.filter { hasGrad[$0] }.reversed())
        for (k, i) in bwdNodes.enumerated() { bstep[i] = F + 1 + k }
        let steps = F + 1 + bwdNodes.count, last = steps - 1
        let seedStep = F

        // Sizes, and what each op's backward reads.
        let align = 64
        func rounded(_ bytes: Int) -> Int { (bytes + align - 1) / align * align }
        var wsOf = [Int](repeating: 0, count: n), savedOf = [Int](repeating: 0, count: n)
        var readsIn = [[Bool]](repeating: [], count: n), readsOut = [Bool](repeating: false, count: n)
        var constB = 0, actB = 0, gradB = 0, savedB = 0, ws = 0
        for i in 0..<n where needed[i] {
            let bytes = product(nodes[i].shape) * 4
            if isConstant(i) { constB += bytes } else { actB += rounded(bytes) }
            if hasGrad[i] { gradB += rounded(bytes) }
            if case .op(let op, let ins) = nodes[i].kind {
                let inShapes = ins.map { nodes[$0].shape }
                wsOf[i] = op.workspaceBytes(inShapes, output: nodes[i].shape)
                savedOf[i] = op.savedBytes(inShapes, output: nodes[i].shape)
                ws = max(ws, wsOf[i])
                savedB += rounded(savedOf[i])
                if hasGrad[i] {
                    let r = op.backwardReads(inShapes, output: nodes[i].shape, gradsNeeded: ins.map { hasGrad[$0] })
                    precondition(r.inputs.count == ins.count, "\(op.name).backwardReads: \(r.inputs.count) flags for \(ins.count) inputs")
                    readsIn[i] = r.inputs; readsOut[i] = r.output
                }
            }
        }

        // Blocks and their live steps.
        let reuse = !(options.keepIntermediates || options.debugCanaries)
        var blocks: [PlanLayout.Block] = []
        var valueBlock = [Int](repeating: -1, count: n), gradBlock = [Int](repeating: -1, count: n)
        var savedBlock = [Int](repeating: -1, count: n), wsBlock = [Int](repeating: -1, count: n)
        var seedBlock = [Int](repeating: -1, count: n)
        func add(_ p: PlanLayout.Purpose, _ node: Int, _ bytes: Int, _ live: [ClosedRange<Int>]) -> Int {
            blocks.append(PlanLayout.Block(purpose: p, node: node, bytes: rounded(bytes), live: reuse ? live : [0...last]))
            return blocks.count - 1
        }
        // Last step reading each value, first step writing each gradient.
        var lastUse = [Int](repeating: -1, count: n), firstWrite = [Int](repeating: Int.max, count: n)
        for i in fwdNodes {
            let ins = inputsOf(i)
            for (k, j) in ins.enumerated() {
                lastUse[j] = max(lastUse[j], fstep[i])
                if hasGrad[i] {
                    if readsIn[i][k] { lastUse[j] = max(lastUse[j], bstep[i]) }
                    if hasGrad[j] { firstWrite[j] = min(firstWrite[j], bstep[i]) }
                }
            }
            if hasGrad[i] && readsOut[i] { lastUse[i] = max(lastUse[i], bstep[i]) }
        }
        let emptyBlock = add(.workspace, -1, 64, [0...last])   // pointer for zero-byte needs
        let sharedWs = reuse ? -1 : add(.workspace, -1, max(ws, 64), [0...last])
        for i in 0..<n where needed[i] && !isConstant(i) {
            let bytes = product(nodes[i].shape) * 4
            if case .input = nodes[i].kind {
                valueBlock[i] = add(.value, i, bytes, [0...last])
            } else {
                valueBlock[i] = add(.value, i, bytes, [fstep[i]...(isOutput[i] ? last : max(lastUse[i], fstep[i]))])
            }
        }
        for i in 0..<n where hasGrad[i] {
            let bytes = product(nodes[i].shape) * 4
            let startStep = isSource[i] ? 0 : (isOutput[i] || firstWrite[i] == Int.max ? seedStep : firstWrite[i])
            let endStep = (isSource[i] || isOutput[i] || bstep[i] < 0) ? last : bstep[i]
            gradBlock[i] = add(.gradient, i, bytes, [startStep...max(endStep, startStep)])
        }
        for i in fwdNodes {
            guard case .op(let op, _) = nodes[i].kind else { continue }
            if savedOf[i] > 0 {
                let endStep = hasGrad[i] ? bstep[i] : fstep[i]
                savedBlock[i] = add(.saved, i, savedOf[i], op.savedFilledAtBind ? [0...last] : [fstep[i]...endStep])
            }
            if reuse && wsOf[i] > 0 {
                wsBlock[i] = add(.workspace, i, wsOf[i], hasGrad[i] ? [fstep[i]...fstep[i], bstep[i]...bstep[i]] : [fstep[i]...fstep[i]])
            }
        }
        for t in outputs where hasGrad[t.id] && seedBlock[t.id] < 0 {
            seedBlock[t.id] = add(.seed, t.id, t.count * 4, [0...last])
        }
        var layout = PlanLayout(blocks: blocks, steps: steps)
        // Without reuse: every non-workspace block side by side, plus one shared workspace.
        let naive = blocks.filter { $0.purpose != .workspace }.reduce(0) { $0 + $1.bytes } + 64 + rounded(max(ws, 64))
        let canary = options.debugCanaries ? rounded(Int(SEGA_ARENA_CANARY_BYTES)) : 0
        let total: Int
        if options.debugCanaries {
            total = blocks.reduce(0) { $0 + $1.bytes + canary }
        } else if reuse {
            layout.pack()
            total = layout.poolBytes
        } else {   // everything is live all the time: side by side, in block order
            var off = 0
            for k in blocks.indices { layout.blocks[k].offset = off; off += blocks[k].bytes }
            layout.poolBytes = off
            total = off
        }
        self.nodes = nodes
        self.needed = needed; self.hasGrad = hasGrad; self.isOutput = isOutput; self.isSource = isSource
        self.fwdNodes = fwdNodes; self.bwdNodes = bwdNodes
        self.firstWrite = firstWrite; self.seedStep = seedStep
        self.valueBlock = valueBlock; self.gradBlock = gradBlock; self.savedBlock = savedBlock
        self.wsBlock = wsBlock; self.seedBlock = seedBlock
        self.emptyBlock = emptyBlock; self.sharedWs = sharedWs
        self.layout = layout; self.reuse = reuse
        self.total = total; self.naive = naive
        self.constB = constB; self.actB = actB; self.gradB = gradB; self.savedB = savedB; self.ws = ws
    }
}

/// A network with every buffer placed in one arena. `forward()` and `backward()` touch only
/// that memory and allocate nothing.
///
/// Memory is reused by liveness: an activation's buffer holds it only from the forward step that
/// produces it to the last step (forward, or backward per `Op.backwardReads`) that reads it; a
/// gradient's from the first backward op that accumulates into it (it is zeroed right before) to
/// the backward of its node; per-op workspaces only during that op's steps. Buffers that stay
/// valid between calls: plan inputs, constants and outputs (`buffer(_:)`), the gradients of
/// `gradientsFor` tensors and of outputs (`gradient(_:)`), and output seeds. Everything else is
/// only readable with `PlanOptions.keepIntermediates` (or `debugCanaries`), which plans one
/// buffer per tensor as before.
public final class Plan {
    public let context: Context
    public let arena: Arena
    /// Weights, read in place (kept alive by the plan).
    private let constants: [ConstantData]
    public let outputs: [Tensor]
    /// Op nodes in execution order, and the subset that needs a backward call (reversed).
    @usableFromInline let forwardOps: ContiguousArray<Op>
    @usableFromInline let backwardOps: ContiguousArray<Op>
    /// Gradient buffers to zero in backward: `zeroList[zeroSlot[s]..<zeroSlot[s + 1]]` before
    /// slot s, where slot 0 is before seeding and slot k + 1 is before backward op k.
    @usableFromInline let zeroList: ContiguousArray<(UnsafeMutableRawPointer, Int)>
    @usableFromInline let zeroSlot: ContiguousArray<Int>
    @usableFromInline let seeds: ContiguousArray<(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int)>
    private let values: [UnsafeMutablePointer<Float>?]
    private let grads: [UnsafeMutablePointer<Float>?]
    /// Nodes whose value / gradient buffer stays valid between calls (see the class comment).
    private let keptValue: [Bool], keptGrad: [Bool]
    private let shapes: [[Int]]
    private let seedOf: [Int: UnsafeMutablePointer<Float>]
    /// Bytes by purpose, each a plain sum over its buffers (no reuse), for reports. Constants
    /// live outside the arena; `workspaceBytes` is the largest single op's need.
    public let constantBytes: Int, activationBytes: Int, gradientBytes: Int, workspaceBytes: Int, savedBytes: Int
    /// Arena bytes of this plan (what `memoryLimit` is checked against, with `constantBytes`).
    public let arenaBytes: Int
    /// Arena bytes a plan with one buffer per tensor (no reuse, no canaries) would need.
    public let naiveBytes: Int
    /// Lower bound for any placement: bytes of the buffers live at the busiest step.
    public let peakLiveBytes: Int
    /// Whether buffers are shared by liveness (false with `keepIntermediates` / `debugCanaries`).
    public let reusesMemory: Bool
    /// Placement of every buffer (tests check it for overlaps).
    let layout: PlanLayout
    /// All of the above sizes in one value.
    public let memory: PlanMemory

    init(graph: Graph, context: Context, outputs: [Tensor], gradientsFor: [Tensor], options: PlanOptions) throws {
        let sc = try PlanSchedule(graph: graph, outputs: outputs, gradientsFor: gradientsFor, options: options)
        let nodes = sc.nodes, n = nodes.count
        let needed = sc.needed, hasGrad = sc.hasGrad, isOutput = sc.isOutput, isSource = sc.isSource
        let fwdNodes = sc.fwdNodes, bwdNodes = sc.bwdNodes, firstWrite = sc.firstWrite, seedStep = sc.seedStep
        let valueBlock = sc.valueBlock, gradBlock = sc.gradBlock, savedBlock = sc.savedBlock
        let wsBlock = sc.wsBlock, seedBlock = sc.seedBlock, emptyBlock = sc.emptyBlock, sharedWs = sc.sharedWs
        var layout = sc.layout
        let reuse = sc.reuse, total = sc.total, naive = sc.naive
        let constB = sc.constB, actB = sc.actB, gradB = sc.gradB, savedB = sc.savedB, ws = sc.ws
        let blocks = layout.blocks, align = 64
        func isConstant(_ i: Int) -> Bool { if case .constant = nodes[i].kind { return true } else { return false } }
        if let limit = options.memoryLimit, total + constB > limit {
            throw EngineError(.arenaExhausted, "memory budget too small: the plan needs \(total + constB) bytes (\(constB) weights, \(total) arena; without reuse: \(actB) activations, \(gradB) gradients, \(ws) workspace), the limit is \(limit)")
        }
        if options.debugCanaries && blocks.count + 8 > Int(SEGA_ARENA_MAX_BLOCKS) {
            throw EngineError(.invalidArgument, "plan: \(blocks.count) arena blocks exceed the canary table (\(SEGA_ARENA_MAX_BLOCKS)); plan without debug canaries")
        }
        let arena = try Arena(capacity: total, debug: options.debugCanaries)

        // Placement: one pool, or (canaries) one arena block per buffer.
        var ptr = [UnsafeMutableRawPointer](repeating: UnsafeMutableRawPointer(bitPattern: align)!, count: blocks.count)
        if options.debugCanaries {
            for (k, b) in blocks.enumerated() {
                ptr[k] = try arena.allocate(bytes: b.bytes, what: "\(b.purpose.rawValue) of node \(b.node)")
                memset(ptr[k], 0, b.bytes)
            }
            // record the real byte offsets (canaries in between), for layout checks
            for k in blocks.indices { layout.blocks[k].offset = ptr[k] - ptr[0] }
        } else {
            let pool = try arena.allocate(bytes: total, what: "plan buffers")
            memset(pool, 0, total)
            for k in blocks.indices { ptr[k] = pool + layout.blocks[k].offset }
        }
        func floats(_ k: Int, _ count: Int) -> UnsafeMutablePointer<Float> { ptr[k].bindMemory(to: Float.self, capacity: count) }
        var values = [UnsafeMutablePointer<Float>?](repeating: nil, count: n)
        var grads = [UnsafeMutablePointer<Float>?](repeating: nil, count: n)
        var constants: [ConstantData] = []
        for i in 0..<n where needed[i] {
            if case .constant(let d) = nodes[i].kind {
                constants.append(d)
                values[i] = d.pointer
            } else {
                values[i] = floats(valueBlock[i], product(nodes[i].shape))
            }
            if hasGrad[i] { grads[i] = floats(gradBlock[i], product(nodes[i].shape)) }
        }
        var seeds = ContiguousArray<(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int)>()
        var seedOf = [Int: UnsafeMutablePointer<Float>]()
        for t in outputs where hasGrad[t.id] && seedOf[t.id] == nil {
            let s = floats(seedBlock[t.id], t.count)
            s.initialize(repeating: 1, count: t.count)
            seeds.append((s, grads[t.id]!, t.count))
            seedOf[t.id] = s
        }
        // Gradients are zeroed right before their first writer (outputs' are seeded instead).
        var zeroAt = [[Int]](repeating: [], count: bwdNodes.count + 1)
        for i in 0..<n where hasGrad[i] && !isOutput[i] {
            let w = firstWrite[i]
            zeroAt[w == Int.max ? 0 : w - seedStep].append(i)
        }
        var zeroList = ContiguousArray<(UnsafeMutableRawPointer, Int)>(), zeroSlot = ContiguousArray<Int>([0])
        for slot in zeroAt {
            for i in slot { zeroList.append((UnsafeMutableRawPointer(grads[i]!), product(nodes[i].shape) * 4)) }
            zeroSlot.append(zeroList.count)
        }

        // Binding.
        var fwd = ContiguousArray<Op>(), bwd = ContiguousArray<Op>()
        for i in fwdNodes {
            guard case .op(let op, let ins) = nodes[i].kind else { continue }
            let inShapes = ins.map { nodes[$0].shape }
            let saved = ptr[savedBlock[i] >= 0 ? savedBlock[i] : emptyBlock]
            let wsp = ptr[reuse ? (wsBlock[i] >= 0 ? wsBlock[i] : emptyBlock) : sharedWs]
            try op.bind(OpBinding(engine: context.raw, threads: context.threads,
                                  inputs: ins.map { values[$0]! }, inputShapes: inShapes,
                                  output: values[i]!, outputShape: nodes[i].shape,
                                  inputGrads: ins.map { grads[$0] }, outputGrad: grads[i],
                                  workspace: wsp, saved: saved, inputIsConstant: ins.map(isConstant)))
            fwd.append(op)
        }
        for i in bwdNodes { if case .op(let op, _) = nodes[i].kind { bwd.append(op) } }

        self.context = context
        self.constants = constants
        self.arena = arena
        self.outputs = outputs
        self.forwardOps = fwd
        self.backwardOps = bwd
        self.zeroList = zeroList
        self.zeroSlot = zeroSlot
        self.seeds = seeds
        self.values = values
        self.grads = grads
        self.keptValue = (0..<n).map { !reuse || !(nodes[$0].kind.isOp) || isOutput[$0] }
        self.keptGrad = (0..<n).map { !reuse || isSource[$0] || isOutput[$0] }
        self.shapes = nodes.map(\.shape)
        self.seedOf = seedOf
        self.layout = layout
        constantBytes = constB; activationBytes = actB; gradientBytes = gradB; workspaceBytes = ws; savedBytes = savedB
        arenaBytes = total
        naiveBytes = naive
        peakLiveBytes = layout.peakLiveBytes
        reusesMemory = reuse
        memory = PlanMemory(sc)
    }

    // MARK: Execute

    /// Run every op forward.
    @inlinable
    public func forward() {
        // index loops: the iterator form allocates in unoptimised builds
        var i = 0
        while i < forwardOps.count { forwardOps[i].forward(); i += 1 }
    }

    /// Seed the outputs' gradients from `seed(for:)` (1 by default) and run the ops on a gradient
    /// path in reverse; every other gradient buffer is zeroed right before its first writer (its
    /// memory may have held something else until then). Call after `forward()`.
    @inlinable
    public func backward() {
        var z = 0, zEnd = zeroSlot[1]
        while z < zEnd { memset(zeroList[z].0, 0, zeroList[z].1); z += 1 }
        var i = 0
        while i < seeds.count { seeds[i].1.update(from: seeds[i].0, count: seeds[i].2); i += 1 }
        i = 0
        while i < backwardOps.count {
            zEnd = zeroSlot[i + 2]
            while z < zEnd { memset(zeroList[z].0, 0, zeroList[z].1); z += 1 }
            backwardOps[i].backward(); i += 1
        }
    }

    // MARK: Buffers

    /// The buffer holding a tensor's value (inputs are written here before `forward()`). Valid for
    /// the plan's inputs, constants and outputs; other tensors' buffers are reused by liveness,
    /// so asking for one is a precondition failure unless the plan keeps intermediates
    /// (`PlanOptions.keepIntermediates`).
    public func buffer(_ t: Tensor) -> UnsafeMutableBufferPointer<Float> {
        guard t.id >= 0, t.id < values.count, let p = values[t.id] else { preconditionFailure("tensor \(t.id) is not part of this plan") }
        precondition(keptValue[t.id], "tensor \(t.id) is an intermediate whose buffer is reused; plan with PlanOptions(keepIntermediates: true) to read it")
        return UnsafeMutableBufferPointer(start: p, count: product(shapes[t.id]))
    }

    /// The gradient of the outputs (weighted by their seeds) with respect to `t`: nil if `t` gets
    /// none. Valid after `backward()` for `gradientsFor` tensors and outputs; other gradients are
    /// reused by liveness (a precondition failure unless the plan keeps intermediates).
    public func gradient(_ t: Tensor) -> UnsafeMutableBufferPointer<Float>? {
        guard t.id >= 0, t.id < grads.count, let p = grads[t.id] else { return nil }
        precondition(keptGrad[t.id], "the gradient of tensor \(t.id) is an intermediate whose buffer is reused; plan with PlanOptions(keepIntermediates: true) to read it")
        return UnsafeMutableBufferPointer(start: p, count: product(shapes[t.id]))
    }

    /// The seed of an output's gradient (filled with 1 at plan time).
    public func seed(for t: Tensor) -> UnsafeMutableBufferPointer<Float>? {
        guard let p = seedOf[t.id] else { return nil }
        return UnsafeMutableBufferPointer(start: p, count: product(shapes[t.id]))
    }

    /// Copy values into an input's buffer, checking the count.
    public func setInput(_ t: Tensor, _ data: [Float]) throws {
        let b = buffer(t)
        guard data.count == b.count else {
            throw EngineError(.shapeMismatch, "input \(t.shape) needs \(b.count) values, got \(data.count)")
        }
        _ = b.update(from: data)
    }

    /// Verify arena canaries (plans built with `debugCanaries`).
    public func checkCanaries() throws { try arena.check() }
}

/// A plan's memory, computed without allocating (`Graph.planMemory`) or read from a plan.
public struct PlanMemory: Sendable, CustomStringConvertible {
    /// Arena bytes the plan allocates (buffers shared by liveness unless keepIntermediates/canaries).
    public let arenaBytes: Int
    /// Arena bytes with one buffer per tensor (no reuse, no canaries): the pre-liveness layout.
    public let naiveBytes: Int
    /// Bytes live at the busiest step: a lower bound for any placement.
    public let peakLiveBytes: Int
    /// Weights, read in place outside the arena (also counted by `memoryLimit`).
    public let constantBytes: Int
    /// Plain sums without reuse, by purpose (`workspaceBytes`: the largest single op's need).
    public let activationBytes: Int, gradientBytes: Int, workspaceBytes: Int, savedBytes: Int
    /// What `memoryLimit` is checked against.
    public var totalBytes: Int { arenaBytes + constantBytes }

    init(_ s: PlanSchedule) {
        arenaBytes = s.total; naiveBytes = s.naive; peakLiveBytes = s.layout.peakLiveBytes
        constantBytes = s.constB; activationBytes = s.actB; gradientBytes = s.gradB
        workspaceBytes = s.ws; savedBytes = s.savedB
    }

    public var description: String {
        func mb(_ b: Int) -> String { "\((Double(b) / 1048576 * 100).rounded() / 100) MB" }
        return "arena \(mb(arenaBytes)) (no reuse \(mb(naiveBytes)), peak live \(mb(peakLiveBytes))), weights \(mb(constantBytes))"
    }
}

extension Graph.Kind {
    var isOp: Bool { if case .op = self { return true } else { return false } }
}

extension Graph {
    /// The memory `plan(...)` with the same arguments would use, without allocating anything.
    public func planMemory(outputs: [Tensor], gradientsFor: [Tensor] = [],
                           options: PlanOptions = PlanOptions()) throws -> PlanMemory {
        PlanMemory(try PlanSchedule(graph: self, outputs: outputs, gradientsFor: gradientsFor, options: options))
    }

    /// Size and place every buffer, copy constants in, bind every op. Throws before allocating
    /// if `options.memoryLimit` is too small.
    public func plan(_ context: Context, outputs: [Tensor], gradientsFor: [Tensor] = [],
                     options: PlanOptions = PlanOptions()) throws -> Plan {
        try Plan(graph: self, context: context, outputs: outputs, gradientsFor: gradientsFor, options: options)
    }
}
