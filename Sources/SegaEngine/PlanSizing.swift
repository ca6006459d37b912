// MARK: - Planning step 2: sizes

/// Bytes: each op's scratch and saved memory, and plain sums by purpose (no reuse) for the
/// memory report.
struct PlanSizes {
    /// Arena buffers start at multiples of this, and their sizes are rounded up to it.
    static let alignment = 64
    static func rounded(_ bytes: Int) -> Int { (bytes + alignment - 1) / alignment * alignment }

    /// Per node: scratch bytes its op needs during one forward() or backward() call.
    let workspace: [Int]
    /// Per node: bytes its op keeps between forward and backward.
    let saved: [Int]
    /// Per node: bytes its op keeps for the plan's life (`Op.preparedBytes`).
    let prepared: [Int]
    /// Weights (outside the arena, unrounded); activations, gradients, saved and prepared memory
    /// (rounded).
    let constantBytes: Int, activationBytes: Int, gradientBytes: Int, savedBytes: Int, preparedBytes: Int
    /// The largest single op's workspace.
    let largestWorkspace: Int

    init(_ t: PlanTimeline, threads: Int) {
        var workspace = [Int](repeating: 0, count: t.nodes.count), saved = workspace, prepared = workspace
        var constB = 0, actB = 0, gradB = 0, savedB = 0, prepB = 0, ws = 0
        for i in t.nodes.indices where t.needed[i] {
            let bytes = t.bytes(of: i)
            if t.nodes[i].kind.isConstant { constB += bytes } else { actB += Self.rounded(bytes) }
            if t.hasGrad[i] { gradB += Self.rounded(bytes) }
            if case .op(let op, let ins) = t.nodes[i].kind {
                let inShapes = ins.map { t.nodes[$0].shape }
                workspace[i] = op.workspaceBytes(inShapes, output: t.nodes[i].shape, threads: threads)
                saved[i] = op.savedBytes(inShapes, output: t.nodes[i].shape)
                prepared[i] = op.preparedBytes(inShapes, output: t.nodes[i].shape, withGradient: t.hasGrad[i])
                ws = max(ws, workspace[i])
                savedB += Self.rounded(saved[i])
                prepB += Self.rounded(prepared[i])
            }
        }
        self.workspace = workspace
        self.saved = saved
        self.prepared = prepared
        constantBytes = constB; activationBytes = actB; gradientBytes = gradB; savedBytes = savedB; preparedBytes = prepB
        largestWorkspace = ws
    }
}

// MARK: - The memory report

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
    /// Plain sums without reuse, by purpose (`workspaceBytes`: the largest single op's need;
    /// `preparedBytes`: what ops keep for the plan's life, e.g. transformed weights).
    public let activationBytes: Int, gradientBytes: Int, workspaceBytes: Int, savedBytes: Int, preparedBytes: Int
    /// What `memoryLimit` is checked against.
    public var totalBytes: Int { arenaBytes + constantBytes }

    init(sizes s: PlanSizes, liveness: PlanLiveness, layout: PlanLayout) {
        arenaBytes = layout.arenaBytes
        peakLiveBytes = liveness.peakLiveBytes
        // Without reuse: every non-workspace block side by side, the empty block, one shared workspace.
        let buffers = liveness.blocks.filter { $0.purpose != .workspace }.reduce(0) { $0 + $1.bytes }
        naiveBytes = buffers + PlanSizes.alignment + PlanSizes.rounded(max(s.largestWorkspace, PlanSizes.alignment))
        constantBytes = s.constantBytes; activationBytes = s.activationBytes; gradientBytes = s.gradientBytes
        workspaceBytes = s.largestWorkspace; savedBytes = s.savedBytes; preparedBytes = s.preparedBytes
    }

    public var description: String {
        func mb(_ b: Int) -> String { "\((Double(b) / 1048576 * 100).rounded() / 100) MB" }
        return "arena \(mb(arenaBytes)) (no reuse \(mb(naiveBytes)), peak live \(mb(peakLiveBytes))), weights \(mb(constantBytes))"
    }
}
