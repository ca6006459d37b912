// MARK: - Planning step 3: liveness

/// The arena buffers (blocks) a plan needs and the steps at which each must hold its contents.
///
/// An activation lives from the step that produces it to the last step that reads it (forward,
/// or backward per `Op.backwardReads`); a gradient from its first writer (zeroed right before)
/// to its node's backward; a workspace only during its op's steps; inputs, outputs, gradient
/// sources, seeds, saved memory filled at bind and prepared memory for the whole pass. Without reuse every block
/// lives for the whole pass.
struct PlanLiveness {
    enum Purpose: String { case value, gradient, saved, prepared, workspace, seed }
    /// One arena buffer.
    struct Block {
        let purpose: Purpose
        /// Graph node the block belongs to (-1: the shared workspace / empty block).
        let node: Int
        /// Size, rounded up to 64 bytes.
        let bytes: Int
        /// Steps at which the contents must be intact (closed, disjoint, ascending ranges).
        let live: [ClosedRange<Int>]

        /// Whether two blocks are live at a common step (then they must not share bytes).
        func overlapsInTime(_ other: Block) -> Bool {
            for r in live { for q in other.live where r.lowerBound <= q.upperBound && q.lowerBound <= r.upperBound { return true } }
            return false
        }
    }

    /// The blocks in creation order (placement breaks ties by it).
    private(set) var blocks: [Block] = []
    /// Block of each node's value, gradient, saved memory, workspace and output seed (-1: none;
    /// an alias has its root's value / gradient block).
    private(set) var valueBlock: [Int], gradBlock: [Int], savedBlock: [Int], preparedBlock: [Int], workspaceBlock: [Int], seedBlock: [Int]
    /// A 64-byte block standing in for zero-byte needs.
    private(set) var emptyBlock = -1
    /// Without reuse, the one workspace every op shares (-1 with reuse: per-op workspaces).
    private(set) var sharedWorkspace = -1
    /// First backward step that writes each gradient buffer, by gradient root (Int.max: none).
    let firstWrite: [Int]
    /// Last step that reads each value buffer, by value root (-1: none).
    private let lastRead: [Int]
    private let reuse: Bool, lastStep: Int
    let stepCount: Int

    init(_ t: PlanTimeline, _ s: PlanSizes, reuse: Bool) {
        let none = [Int](repeating: -1, count: t.nodes.count)
        valueBlock = none; gradBlock = none; savedBlock = none; preparedBlock = none; workspaceBlock = none; seedBlock = none
        self.reuse = reuse
        lastStep = t.lastStep
        stepCount = t.stepCount
        let access = Self.accesses(t)
        lastRead = access.lastRead; firstWrite = access.firstWrite
        emptyBlock = add(.workspace, -1, PlanSizes.alignment, [0...lastStep])
        if !reuse { sharedWorkspace = add(.workspace, -1, max(s.largestWorkspace, PlanSizes.alignment), [0...lastStep]) }
        addValueBlocks(t)
        addGradientBlocks(t)
        addOpBlocks(t, s)
        for o in t.outputs where t.hasGrad[o.id] && seedBlock[o.id] < 0 {
            seedBlock[o.id] = add(.seed, o.id, o.count * 4, [0...lastStep])
        }
    }

    /// The last step reading each value and the first step writing each gradient, by storage:
    /// an alias's reads and writes count for its root (`PlanAliases`), and a view whose gradient
    /// is an alias writes nothing.
    private static func accesses(_ t: PlanTimeline) -> (lastRead: [Int], firstWrite: [Int]) {
        let a = t.aliases
        var lastRead = [Int](repeating: -1, count: t.nodes.count)
        var firstWrite = [Int](repeating: Int.max, count: t.nodes.count)
        for i in t.forwardNodes {
            guard case .op(let op, let ins) = t.nodes[i].kind else { continue }
            let fstep = t.forwardStep[i], bstep = t.backwardStep[i]
            var readsIn = [Bool](repeating: false, count: ins.count), readsOut = false
            if t.hasGrad[i] {
                let r = op.backwardReads(ins.map { t.nodes[$0].shape }, output: t.nodes[i].shape, gradsNeeded: ins.map { t.hasGrad[$0] })
                precondition(r.inputs.count == ins.count, "\(op.name).backwardReads: \(r.inputs.count) flags for \(ins.count) inputs")
                readsIn = r.inputs; readsOut = r.output
            }
            for (k, j) in ins.enumerated() {
                let v = a.valueRoot[j], g = a.gradRoot[j]
                lastRead[v] = max(lastRead[v], fstep)
                if t.hasGrad[i] {
                    if readsIn[k] { lastRead[v] = max(lastRead[v], bstep) }
                    if t.hasGrad[j] && a.gradRoot[i] != g { firstWrite[g] = min(firstWrite[g], bstep) }
                }
            }
            if t.hasGrad[i] && readsOut { lastRead[a.valueRoot[i]] = max(lastRead[a.valueRoot[i]], bstep) }
        }
        return (lastRead, firstWrite)
    }

    /// Sum of the sizes of the blocks live at the busiest step: no placement can use less.
    var peakLiveBytes: Int {
        var d = [Int](repeating: 0, count: stepCount + 1)
        for b in blocks { for r in b.live { d[r.lowerBound] += b.bytes; d[r.upperBound + 1] -= b.bytes } }
        var cur = 0, best = 0
        for k in 0..<stepCount { cur += d[k]; best = max(best, cur) }
        return best
    }

    private mutating func add(_ p: Purpose, _ node: Int, _ bytes: Int, _ live: [ClosedRange<Int>]) -> Int {
        blocks.append(Block(purpose: p, node: node, bytes: PlanSizes.rounded(bytes), live: reuse ? live : [0...lastStep]))
        return blocks.count - 1
    }

    /// Inputs live all pass; op values from their step to the last reader of any alias (to the
    /// end if one is an output). Aliases take their root's block.
    private mutating func addValueBlocks(_ t: PlanTimeline) {
        let a = t.aliases
        var isOutput = t.isOutput
        for i in t.nodes.indices where t.needed[i] && t.isOutput[i] { isOutput[a.valueRoot[i]] = true }
        for i in t.nodes.indices where t.needed[i] && !t.nodes[i].kind.isConstant {
            guard !a.isValueAlias(i) else { valueBlock[i] = valueBlock[a.valueRoot[i]]; continue }
            let fstep = t.forwardStep[i]
            let live = t.nodes[i].kind.isOp ? fstep...(isOutput[i] ? lastStep : max(lastRead[i], fstep)) : 0...lastStep
            valueBlock[i] = add(.value, i, t.bytes(of: i), [live])
        }
    }

    /// Sources' and outputs' gradients live to the end; others from their first writer (or the
    /// seed step) to their node's backward. A gradient shared by aliases lives over the union of
    /// what each of them needs; aliases take their root's block.
    private mutating func addGradientBlocks(_ t: PlanTimeline) {
        let a = t.aliases
        var start = [Int](repeating: Int.max, count: t.nodes.count), end = [Int](repeating: -1, count: t.nodes.count)
        for i in t.nodes.indices where t.hasGrad[i] {
            let r = a.gradRoot[i]
            let s = t.isSource[i] ? 0 : (t.isOutput[i] || firstWrite[r] == Int.max ? t.seedStep : firstWrite[r])
            let e = (t.isSource[i] || t.isOutput[i] || t.backwardStep[i] < 0) ? lastStep : t.backwardStep[i]
            start[r] = min(start[r], s); end[r] = max(end[r], e)
        }
        for i in t.nodes.indices where t.hasGrad[i] {
            guard !a.isGradientAlias(i) else { gradBlock[i] = gradBlock[a.gradRoot[i]]; continue }
            gradBlock[i] = add(.gradient, i, t.bytes(of: i), [start[i]...max(end[i], start[i])])
        }
    }

    /// Saved memory from forward to backward (all pass if bind fills it), prepared memory all
    /// pass; per-op workspaces
    /// during the op's own steps.
    private mutating func addOpBlocks(_ t: PlanTimeline, _ s: PlanSizes) {
        for i in t.forwardNodes {
            guard case .op(let op, _) = t.nodes[i].kind else { continue }
            let fstep = t.forwardStep[i], bstep = t.backwardStep[i]
            if s.saved[i] > 0 {
                let end = t.hasGrad[i] ? bstep : fstep
                savedBlock[i] = add(.saved, i, s.saved[i], op.savedFilledAtBind ? [0...lastStep] : [fstep...end])
            }
            if s.prepared[i] > 0 { preparedBlock[i] = add(.prepared, i, s.prepared[i], [0...lastStep]) }
            if reuse && s.workspace[i] > 0 {
                workspaceBlock[i] = add(.workspace, i, s.workspace[i], t.hasGrad[i] ? [fstep...fstep, bstep...bstep] : [fstep...fstep])
            }
        }
    }

    /// The block op node i's workspace pointer comes from.
    func workspace(of i: Int) -> Int {
        reuse ? (workspaceBlock[i] >= 0 ? workspaceBlock[i] : emptyBlock) : sharedWorkspace
    }

    /// The block op node i's saved pointer comes from.
    func saved(of i: Int) -> Int { savedBlock[i] >= 0 ? savedBlock[i] : emptyBlock }

    /// The block op node i's prepared pointer comes from.
    func prepared(of i: Int) -> Int { preparedBlock[i] >= 0 ? preparedBlock[i] : emptyBlock }
}
