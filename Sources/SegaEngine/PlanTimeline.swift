// MARK: - Planning step 1: the timeline

/// Which nodes a plan runs, and when.
///
/// One forward+backward pass is a timeline of steps: forward op k (in node order) is step k,
/// step `seedStep` seeds the output gradients, and backward op k (reverse node order) is step
/// `seedStep + 1 + k`. Liveness (`PlanLiveness`) is expressed in these steps.
struct PlanTimeline {
    let nodes: [Graph.Node]
    /// The tensors the plan computes, as asked (duplicates allowed).
    let outputs: [Tensor]
    /// Per node: an output depends on it.
    let needed: [Bool]
    /// Per node: on a gradient path (depends on a `gradientsFor` tensor and feeds an output).
    let hasGrad: [Bool]
    /// Per node: an output; a `gradientsFor` tensor that gets a gradient.
    let isOutput: [Bool], isSource: [Bool]
    /// Op nodes in forward order, and those with a backward call in backward order.
    let forwardNodes: [Int], backwardNodes: [Int]
    /// The step of each node's forward / backward call (-1: none).
    let forwardStep: [Int], backwardStep: [Int]
    /// Views sharing their input's buffer (`PlanAliases`).
    let aliases: PlanAliases

    var seedStep: Int { forwardNodes.count }
    var lastStep: Int { seedStep + backwardNodes.count }
    var stepCount: Int { lastStep + 1 }

    init(graph: Graph, outputs: [Tensor], gradientsFor: [Tensor], aliasViews: Bool = true) throws {
        let nodes = graph.nodes
        try Self.validate(nodes, outputs: outputs, gradientsFor: gradientsFor)
        self.nodes = nodes
        self.outputs = outputs
        let needed = Self.dependencies(nodes, of: outputs)
        let hasGrad = Self.gradientPath(nodes, needed: needed, sources: gradientsFor)
        self.needed = needed
        self.hasGrad = hasGrad
        var isOutput = [Bool](repeating: false, count: nodes.count), isSource = isOutput
        for t in outputs { isOutput[t.id] = true }
        for t in gradientsFor where hasGrad[t.id] { isSource[t.id] = true }
        self.isOutput = isOutput
        self.isSource = isSource
        var fstep = [Int](repeating: -1, count: nodes.count), bstep = fstep
        var fwd: [Int] = []
        for i in nodes.indices where needed[i] && nodes[i].kind.isOp { fstep[i] = fwd.count; fwd.append(i) }
        let bwd = Array(fwd.filter { hasGrad[$0] }.reversed())
        for (k, i) in bwd.enumerated() { bstep[i] = fwd.count + 1 + k }
        forwardNodes = fwd; backwardNodes = bwd
        forwardStep = fstep; backwardStep = bstep
        aliases = PlanAliases(nodes: nodes, needed: needed, hasGrad: hasGrad, isOutput: isOutput, enabled: aliasViews)
    }

    /// The input nodes of node i (none unless it is an op).
    func inputs(of i: Int) -> [Int] { Self.inputs(nodes, i) }

    /// Bytes of node i's value (and of its gradient), unrounded.
    func bytes(of i: Int) -> Int { product(nodes[i].shape) * 4 }

    // MARK: analysis

    private static func inputs(_ nodes: [Graph.Node], _ i: Int) -> [Int] {
        if case .op(_, let ins) = nodes[i].kind { return ins }
        return []
    }

    /// Every tensor belongs to the graph; gradients are asked for inputs and constants only.
    private static func validate(_ nodes: [Graph.Node], outputs: [Tensor], gradientsFor: [Tensor]) throws {
        guard !outputs.isEmpty else { throw EngineError(.invalidArgument, "plan: no outputs given") }
        for t in outputs + gradientsFor {
            guard t.id >= 0, t.id < nodes.count, nodes[t.id].shape == t.shape else {
                throw EngineError(.invalidArgument, "plan: tensor \(t.id) does not belong to this graph")
            }
        }
        for t in gradientsFor where nodes[t.id].kind.isOp {
            throw EngineError(.invalidArgument, "plan: gradients can be asked for inputs and constants only ('\(nodes[t.id].name)' is an op)")
        }
    }

    /// Nodes the outputs depend on.
    private static func dependencies(_ nodes: [Graph.Node], of outputs: [Tensor]) -> [Bool] {
        var needed = [Bool](repeating: false, count: nodes.count)
        for t in outputs { needed[t.id] = true }
        for i in stride(from: nodes.count - 1, through: 0, by: -1) where needed[i] {
            for j in inputs(nodes, i) { needed[j] = true }
        }
        return needed
    }

    /// Needed nodes that depend on a gradient source (the sources themselves included).
    private static func gradientPath(_ nodes: [Graph.Node], needed: [Bool], sources: [Tensor]) -> [Bool] {
        var hasGrad = [Bool](repeating: false, count: nodes.count)
        for t in sources { hasGrad[t.id] = true }
        for i in nodes.indices where needed[i] {
            if inputs(nodes, i).contains(where: { hasGrad[$0] }) { hasGrad[i] = true }
        }
        for i in nodes.indices where !needed[i] { hasGrad[i] = false }
        return hasGrad
    }
}

extension Graph.Kind {
    var isOp: Bool { if case .op = self { return true } else { return false } }
    var isConstant: Bool { if case .constant = self { return true } else { return false } }
}
