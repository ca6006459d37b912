// MARK: - Planning step 1b: views

/// Which nodes share storage with another: the output of a view op (`Op.outputAliasesInput`)
/// is input 0's bytes, so it gets input 0's buffer. Its gradient gets input 0's gradient buffer
/// when the view is input 0's only consumer and input 0 is not an output: then input 0's
/// gradient is exactly the view's (the view's backward would add it to a zeroed buffer), so
/// sharing gives the same bytes. Otherwise the gradients stay separate and the view adds.
/// Roots are resolved through chains: a view of a view shares the first one's storage.
struct PlanAliases {
    /// The node whose buffer holds each node's value / gradient (the node itself unless it is
    /// an alias). Defined for needed nodes (and gradients on the gradient path).
    let valueRoot: [Int], gradRoot: [Int]

    init(nodes: [Graph.Node], needed: [Bool], hasGrad: [Bool], isOutput: [Bool], enabled: Bool) {
        var valueRoot = Array(nodes.indices), gradRoot = valueRoot
        guard enabled else { self.valueRoot = valueRoot; self.gradRoot = gradRoot; return }
        var uses = [Int](repeating: 0, count: nodes.count)
        for i in nodes.indices where needed[i] {
            if case .op(_, let ins) = nodes[i].kind { for j in ins { uses[j] += 1 } }
        }
        for i in nodes.indices where needed[i] {
            guard case .op(let op, let ins) = nodes[i].kind, op.outputAliasesInput, let x = ins.first else { continue }
            valueRoot[i] = valueRoot[x]
            if hasGrad[i] && hasGrad[x] && uses[x] == 1 && !isOutput[x] { gradRoot[i] = gradRoot[x] }
        }
        self.valueRoot = valueRoot; self.gradRoot = gradRoot
    }

    func isValueAlias(_ i: Int) -> Bool { valueRoot[i] != i }
    func isGradientAlias(_ i: Int) -> Bool { gradRoot[i] != i }
}
