// MARK: - Planning step 4: placement

/// Where a plan's blocks sit in its arena. Steps are those of `PlanTimeline`; live ranges come
/// from `PlanLiveness`.
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
        /// Byte offset from the arena start (canaries included in canary mode).
        var offset = 0
    }

    /// How blocks are placed.
    enum Placement {
        /// Greedy interval packing: blocks live at no common step may share bytes.
        case packed
        /// Side by side in block order (everything is live all the time).
        case sideBySide
        /// Side by side, each followed by an arena canary (one arena allocation per block).
        case canaries
    }

    private(set) var blocks: [Block]
    let steps: Int
    let placement: Placement
    /// Bytes of arena the placement needs.
    private(set) var arenaBytes = 0

    init(blocks: [Block], steps: Int, placement: Placement) {
        self.blocks = blocks
        self.steps = steps
        self.placement = placement
        switch placement {
        case .packed: pack()
        case .sideBySide: placeInOrder(gap: 0)
        case .canaries: placeInOrder(gap: PlanSizes.rounded(Int(SEGA_ARENA_CANARY_BYTES)))
        }
    }

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

    /// One after another, `gap` bytes apart; this is also where a debug arena's bump allocator
    /// puts them (every size is a multiple of 64, and so is the canary).
    private mutating func placeInOrder(gap: Int) {
        var off = 0
        for k in blocks.indices { blocks[k].offset = off; off += blocks[k].bytes + gap }
        arenaBytes = off
    }

    /// Greedy interval packing: blocks by size (largest first; ties by first live step, then
    /// index), each at the lowest 64-aligned offset that does not collide with an already placed
    /// block live at a common step. Deterministic. (Ordering by live bytes x steps or by first
    /// step was tried on the model zoo: never smaller, and slower.)
    private mutating func pack() {
        func first(_ b: Block) -> Int { b.live.first?.lowerBound ?? 0 }
        let bySize = blocks.indices.sorted { i, j in
            let a = blocks[i], b = blocks[j]
            if a.bytes != b.bytes { return a.bytes > b.bytes }
            return first(a) != first(b) ? first(a) < first(b) : i < j
        }
        let (offsets, top) = place(bySize)
        for k in blocks.indices { blocks[k].offset = offsets[k] }
        arenaBytes = top
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
