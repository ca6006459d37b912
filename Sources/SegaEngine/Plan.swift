#if canImport(Glibc)
import Glibc
#endif

// MARK: - Plan

/// Options for `Graph.plan`.
public struct PlanOptions {
    /// Refuse to plan (before allocating anything) if the arena would exceed this many bytes.
    public var memoryLimit: Int? = nil
    /// Put canaries after every arena block; `Plan.checkCanaries()` verifies them.
    public var debugCanaries: Bool = false
    public init(memoryLimit: Int? = nil, debugCanaries: Bool = false) {
        self.memoryLimit = memoryLimit
        self.debugCanaries = debugCanaries
    }
}

/// A network with every buffer placed in one arena. `forward()` and `backward()` touch only
/// that memory and allocate nothing.
public final class Plan {
    public let context: Context
    public let arena: Arena
    /// Weights, read in place (kept alive by the plan).
    private let constants: [ConstantData]
    public let outputs: [Tensor]
    /// Op nodes in execution order, and the subset that needs a backward call (reversed).
    @usableFromInline let forwardOps: ContiguousArray<Op>
    @usableFromInline let backwardOps: ContiguousArray<Op>
    @usableFromInline let gradBase: UnsafeMutableRawPointer?
    @usableFromInline let gradBytes: Int
    @usableFromInline let seeds: ContiguousArray<(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int)>
    private let values: [UnsafeMutablePointer<Float>?]
    private let grads: [UnsafeMutablePointer<Float>?]
    private let shapes: [[Int]]
    private let seedOf: [Int: UnsafeMutablePointer<Float>]
    /// Bytes by purpose, for reports (constants live outside the arena).
    public let constantBytes: Int, activationBytes: Int, gradientBytes: Int, workspaceBytes: Int, savedBytes: Int

    init(graph: Graph, context: Context, outputs: [Tensor], gradientsFor: [Tensor], options: PlanOptions) throws {
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

        // Sizes.
        let align = 64
        let canary = options.debugCanaries ? Int(SEGA_ARENA_CANARY_BYTES) : 0
        func blockCost(_ bytes: Int) -> Int { (bytes + align - 1) / align * align + (canary > 0 ? (canary + align - 1) / align * align : 0) }
        var constB = 0, actB = 0, gradB = 0, savedB = 0, ws = 0, blocks = 0
        for i in 0..<n where needed[i] {
            let bytes = product(nodes[i].shape) * 4
            switch nodes[i].kind {
            case .constant: constB += bytes   // read in place, outside the arena
            case .input, .op: actB += blockCost(bytes); blocks += 1
            }
            if hasGrad[i] { gradB += (bytes + align - 1) / align * align }
            if case .op(let op, let ins) = nodes[i].kind {
                let inShapes = ins.map { nodes[$0].shape }
                ws = max(ws, op.workspaceBytes(inShapes, output: nodes[i].shape))
                savedB += blockCost(op.savedBytes(inShapes, output: nodes[i].shape))
                blocks += 1
            }
        }
        var seedB = 0
        for t in outputs where hasGrad[t.id] { seedB += blockCost(product(t.shape) * 4); blocks += 1 }
        let total = actB + blockCost(gradB) + blockCost(ws) + savedB + seedB + align
        if let limit = options.memoryLimit, total + constB > limit {
            throw EngineError(.arenaExhausted, "memory budget too small: the plan needs \(total + constB) bytes (\(constB) weights, \(actB) activations, \(gradB) gradients, \(ws) workspace), the limit is \(limit)")
        }
        if options.debugCanaries && blocks + 8 > Int(SEGA_ARENA_MAX_BLOCKS) {
            throw EngineError(.invalidArgument, "plan: \(blocks) arena blocks exceed the canary table (\(SEGA_ARENA_MAX_BLOCKS)); plan without debug canaries")
        }
        let arena = try Arena(capacity: total, debug: options.debugCanaries)

        // Placement.
        var values = [UnsafeMutablePointer<Float>?](repeating: nil, count: n)
        var grads = [UnsafeMutablePointer<Float>?](repeating: nil, count: n)
        var constants: [ConstantData] = []
        for i in 0..<n where needed[i] {
            if case .constant(let d) = nodes[i].kind {
                constants.append(d)
                values[i] = d.pointer
                continue
            }
            let cnt = product(nodes[i].shape)
            let p = try arena.allocateFloats(cnt, what: "'\(nodes[i].name)' (node \(i))")
            p.initialize(repeating: 0, count: cnt)
            values[i] = p
        }
        let gbase = gradB > 0 ? try arena.allocate(bytes: gradB, what: "gradients") : nil
        if let gbase {
            var off = 0
            for i in 0..<n where hasGrad[i] {
                grads[i] = (gbase + off).bindMemory(to: Float.self, capacity: product(nodes[i].shape))
                off += (product(nodes[i].shape) * 4 + align - 1) / align * align
            }
            memset(gbase, 0, gradB)
        }
        let wsp = try arena.allocate(bytes: max(ws, 64), what: "workspace")
        var seeds = ContiguousArray<(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int)>()
        var seedOf = [Int: UnsafeMutablePointer<Float>]()
        for t in outputs where hasGrad[t.id] && seedOf[t.id] == nil {
            let s = try arena.allocateFloats(t.count, what: "output seed")
            s.initialize(repeating: 1, count: t.count)
            seeds.append((s, grads[t.id]!, t.count))
            seedOf[t.id] = s
        }

        // Binding.
        var fwd = ContiguousArray<Op>(), bwd = ContiguousArray<Op>()
        for i in 0..<n where needed[i] {
            guard case .op(let op, let ins) = nodes[i].kind else { continue }
            let inShapes = ins.map { nodes[$0].shape }
            let sb = op.savedBytes(inShapes, output: nodes[i].shape)
            let saved = try arena.allocate(bytes: sb, what: "saved state of \(op.name)")
            let isConst = ins.map { j -> Bool in if case .constant = nodes[j].kind { return true } else { return false } }
            try op.bind(OpBinding(engine: context.raw, threads: context.threads,
                                  inputs: ins.map { values[$0]! }, inputShapes: inShapes,
                                  output: values[i]!, outputShape: nodes[i].shape,
                                  inputGrads: ins.map { grads[$0] }, outputGrad: grads[i],
                                  workspace: wsp, saved: saved, inputIsConstant: isConst))
            fwd.append(op)
            if hasGrad[i] { bwd.append(op) }
        }
        bwd.reverse()

        self.context = context
        self.constants = constants
        self.arena = arena
        self.outputs = outputs
        self.forwardOps = fwd
        self.backwardOps = bwd
        self.gradBase = gbase
        self.gradBytes = gradB
        self.seeds = seeds
        self.values = values
        self.grads = grads
        self.shapes = nodes.map(\.shape)
        self.seedOf = seedOf
        constantBytes = constB; activationBytes = actB; gradientBytes = gradB; workspaceBytes = ws; savedBytes = savedB
    }

    // MARK: Execute

    /// Run every op forward.
    @inlinable
    public func forward() {
        // index loops: the iterator form allocates in unoptimised builds
        var i = 0
        while i < forwardOps.count { forwardOps[i].forward(); i += 1 }
    }

    /// Zero the gradients, seed the outputs' gradients from `seed(for:)` (1 by default), and run
    /// the ops on a gradient path in reverse. Call after `forward()`.
    @inlinable
    public func backward() {
        if let gradBase { memset(gradBase, 0, gradBytes) }
        var i = 0
        while i < seeds.count { seeds[i].1.update(from: seeds[i].0, count: seeds[i].2); i += 1 }
        i = 0
        while i < backwardOps.count { backwardOps[i].backward(); i += 1 }
    }

    // MARK: Buffers

    /// The buffer holding a tensor's value (inputs are written here before `forward()`).
    public func buffer(_ t: Tensor) -> UnsafeMutableBufferPointer<Float> {
        guard let p = values[t.id] else { preconditionFailure("tensor \(t.id) is not part of this plan") }
        return UnsafeMutableBufferPointer(start: p, count: product(shapes[t.id]))
    }

    /// The gradient of the outputs (weighted by their seeds) with respect to `t`.
    public func gradient(_ t: Tensor) -> UnsafeMutableBufferPointer<Float>? {
        guard let p = grads[t.id] else { return nil }
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

extension Graph {
    /// Size and place every buffer, copy constants in, bind every op. Throws before allocating
    /// if `options.memoryLimit` is too small.
    public func plan(_ context: Context, outputs: [Tensor], gradientsFor: [Tensor] = [],
                     options: PlanOptions = PlanOptions()) throws -> Plan {
        try Plan(graph: self, context: context, outputs: outputs, gradientsFor: gradientsFor, options: options)
    }
}
