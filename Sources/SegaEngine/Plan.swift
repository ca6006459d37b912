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
    /// Give the output of a view op (`Op.outputAliasesInput`, e.g. reshape) its input's buffer
    /// (see `PlanAliases`). False plans views as copies (tests compare the two; same bytes).
    public var aliasViews: Bool = true
    public init(memoryLimit: Int? = nil, debugCanaries: Bool = false, keepIntermediates: Bool = false,
                aliasViews: Bool = true) {
        self.memoryLimit = memoryLimit
        self.debugCanaries = debugCanaries
        self.keepIntermediates = keepIntermediates
        self.aliasViews = aliasViews
    }
    /// Whether buffers are shared by liveness (neither option asks for one buffer per tensor).
    var reusesMemory: Bool { !(keepIntermediates || debugCanaries) }
}

/// Everything a plan decides before allocating, step by step: the timeline (which nodes run
/// and when), sizes, liveness (every buffer's live steps) and placement. `Graph.planMemory` stops
/// here; `Plan` goes on to bind (`PlanBinding`, `PlanProgram`).
struct PlanSchedule {
    let options: PlanOptions
    let timeline: PlanTimeline
    let sizes: PlanSizes
    let liveness: PlanLiveness
    let layout: PlanLayout

    init(graph: Graph, outputs: [Tensor], gradientsFor: [Tensor], options: PlanOptions, threads: Int) throws {
        self.options = options
        timeline = try PlanTimeline(graph: graph, outputs: outputs, gradientsFor: gradientsFor, aliasViews: options.aliasViews)
        sizes = PlanSizes(timeline, threads: threads)
        liveness = PlanLiveness(timeline, sizes, reuse: options.reusesMemory)
        let placement: PlanLayout.Placement = options.debugCanaries ? .canaries : options.reusesMemory ? .packed : .sideBySide
        layout = PlanLayout(liveness.blocks, placement: placement)
    }

    var memory: PlanMemory { PlanMemory(sizes: sizes, liveness: liveness, layout: layout) }

    /// Whether node i's value / gradient buffer stays valid between calls (see `Plan`).
    func keepsValue(_ i: Int) -> Bool {
        !options.reusesMemory || !timeline.nodes[i].kind.isOp || timeline.isOutput[i]
    }
    func keepsGradient(_ i: Int) -> Bool {
        !options.reusesMemory || timeline.isSource[i] || timeline.isOutput[i]
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
    /// What was decided before allocating (timeline, sizes, liveness, placement).
    let schedule: PlanSchedule
    /// The arena and every pointer into it.
    let binding: PlanBinding
    /// The bound ops, run by `forward()` / `backward()`.
    @usableFromInline let program: PlanProgram
    /// All sizes in one value.
    public let memory: PlanMemory

    init(graph: Graph, context: Context, outputs: [Tensor], gradientsFor: [Tensor], options: PlanOptions) throws {
        self.context = context
        schedule = try PlanSchedule(graph: graph, outputs: outputs, gradientsFor: gradientsFor, options: options,
                                    threads: context.threads)
        memory = schedule.memory
        binding = try PlanBinding(schedule, memory)
        program = try PlanProgram(schedule, binding, context)
    }

    public var arena: Arena { binding.arena }
    public var outputs: [Tensor] { schedule.timeline.outputs }
    /// Bytes by purpose, each a plain sum over its buffers (no reuse), for reports. Constants
    /// live outside the arena; `workspaceBytes` is the largest single op's need.
    public var constantBytes: Int { memory.constantBytes }
    public var activationBytes: Int { memory.activationBytes }
    public var gradientBytes: Int { memory.gradientBytes }
    public var workspaceBytes: Int { memory.workspaceBytes }
    public var savedBytes: Int { memory.savedBytes }
    public var preparedBytes: Int { memory.preparedBytes }
    /// Arena bytes of this plan (what `memoryLimit` is checked against, with `constantBytes`).
    public var arenaBytes: Int { memory.arenaBytes }
    /// Arena bytes a plan with one buffer per tensor (no reuse, no canaries) would need.
    public var naiveBytes: Int { memory.naiveBytes }
    /// Lower bound for any placement: bytes of the buffers live at the busiest step.
    public var peakLiveBytes: Int { memory.peakLiveBytes }
    /// Whether buffers are shared by liveness (false with `keepIntermediates` / `debugCanaries`).
    public var reusesMemory: Bool { schedule.options.reusesMemory }

    // MARK: Execute

    /// Run every op forward.
    @inlinable
    public func forward() { program.forward() }

    /// Seed the outputs' gradients from `seed(for:)` (1 by default) and run the ops on a gradient
    /// path in reverse; every other gradient buffer is zeroed right before its first writer (its
    /// memory may have held something else until then). Call after `forward()`.
    @inlinable
    public func backward() { program.backward() }

    // MARK: Buffers

    /// The buffer holding a tensor's value (inputs are written here before `forward()`). Valid for
    /// the plan's inputs, constants and outputs; other tensors' buffers are reused by liveness,
    /// so asking for one is a precondition failure unless the plan keeps intermediates
    /// (`PlanOptions.keepIntermediates`).
    public func buffer(_ t: Tensor) -> UnsafeMutableBufferPointer<Float> {
        guard t.id >= 0, t.id < binding.values.count, let p = binding.values[t.id] else { preconditionFailure("tensor \(t.id) is not part of this plan") }
        precondition(schedule.keepsValue(t.id), "tensor \(t.id) is an intermediate whose buffer is reused; plan with PlanOptions(keepIntermediates: true) to read it")
        return UnsafeMutableBufferPointer(start: p, count: count(t.id))
    }

    /// The gradient of the outputs (weighted by their seeds) with respect to `t`: nil if `t` gets
    /// none. Valid after `backward()` for `gradientsFor` tensors and outputs; other gradients are
    /// reused by liveness (a precondition failure unless the plan keeps intermediates).
    public func gradient(_ t: Tensor) -> UnsafeMutableBufferPointer<Float>? {
        guard t.id >= 0, t.id < binding.grads.count, let p = binding.grads[t.id] else { return nil }
        precondition(schedule.keepsGradient(t.id), "the gradient of tensor \(t.id) is an intermediate whose buffer is reused; plan with PlanOptions(keepIntermediates: true) to read it")
        return UnsafeMutableBufferPointer(start: p, count: count(t.id))
    }

    /// The seed of an output's gradient (filled with 1 at plan time).
    public func seed(for t: Tensor) -> UnsafeMutableBufferPointer<Float>? {
        guard let p = binding.seedOf[t.id] else { return nil }
        return UnsafeMutableBufferPointer(start: p, count: count(t.id))
    }

    private func count(_ id: Int) -> Int { product(schedule.timeline.nodes[id].shape) }

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
    /// The memory `plan(...)` with the same arguments and a context of `threads` threads would
    /// use, without allocating anything.
    public func planMemory(outputs: [Tensor], gradientsFor: [Tensor] = [],
                           options: PlanOptions = PlanOptions(), threads: Int = 1) throws -> PlanMemory {
        try PlanSchedule(graph: self, outputs: outputs, gradientsFor: gradientsFor, options: options, threads: threads).memory
    }

    /// Size and place every buffer, copy constants in, bind every op. Throws before allocating
    /// if `options.memoryLimit` is too small.
    public func plan(_ context: Context, outputs: [Tensor], gradientsFor: [Tensor] = [],
                     options: PlanOptions = PlanOptions()) throws -> Plan {
        try Plan(graph: self, context: context, outputs: outputs, gradientsFor: gradientsFor, options: options)
    }
}
