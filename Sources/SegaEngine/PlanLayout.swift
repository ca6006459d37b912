// MARK: - Planning step 4: placement

/// Where each of `PlanLiveness`'s blocks sits in the arena, and the arena's size.
struct PlanLayout {
    /// How blocks are placed.
    enum Placement {
        /// Greedy interval packing: blocks live at no common step may share bytes.
        case packed
        /// Side by side in block order (everything is live all the time).
        case sideBySide
        /// Side by side, each followed by an arena canary (one arena allocation per block).
        case canaries
    }

    let placement: Placement
    /// Byte offset of each block from the arena start (canaries included in canary mode).
    private(set) var offsets: [Int]
    /// Bytes of arena the placement needs.
    private(set) var arenaBytes = 0

    init(_ blocks: [PlanLiveness.Block], placement: Placement) {
        self.placement = placement
        offsets = [Int](repeating: 0, count: blocks.count)
        switch placement {
        case .packed: pack(blocks)
        case .sideBySide: placeInOrder(blocks, gap: 0)
        case .canaries: placeInOrder(blocks, gap: PlanSizes.rounded(Int(SEGA_ARENA_CANARY_BYTES)))
        }
    }

    /// One after another, `gap` bytes apart; this is also where a debug arena's bump allocator
    /// puts them (every size is a multiple of 64, and so is the canary).
    private mutating func placeInOrder(_ blocks: [PlanLiveness.Block], gap: Int) {
        var off = 0
        for k in blocks.indices { offsets[k] = off; off += blocks[k].bytes + gap }
        arenaBytes = off
    }

    /// Greedy interval packing: blocks by size (largest first; ties by first live step, then
    /// index), each at the lowest 64-aligned offset that does not collide with an already placed
    /// block live at a common step. Deterministic. (Ordering by live bytes x steps or by first
    /// step was tried on the model zoo: never smaller, and slower.)
    private mutating func pack(_ blocks: [PlanLiveness.Block]) {
        func first(_ b: PlanLiveness.Block) -> Int { b.live.first?.lowerBound ?? 0 }
        let bySize = blocks.indices.sorted { i, j in
            let a = blocks[i], b = blocks[j]
            if a.bytes != b.bytes { return a.bytes > b.bytes }
            return first(a) != first(b) ? first(a) < first(b) : i < j
        }
        var placed: [Int] = []
        var busy: [(Int, Int)] = []
        for i in bySize {
            busy.removeAll(keepingCapacity: true)
            for j in placed where blocks[i].overlapsInTime(blocks[j]) {
                busy.append((offsets[j], offsets[j] + blocks[j].bytes))
            }
            busy.sort { $0.0 < $1.0 }
            var off = 0
            for (s, e) in busy {
                if s - off >= blocks[i].bytes { break }
                off = max(off, e)
            }
            offsets[i] = off
            arenaBytes = max(arenaBytes, off + blocks[i].bytes)
            placed.append(i)
        }
    }
}
