#if canImport(Glibc)
import Glibc
#endif

// MARK: - In-situ op timing (for profiling tools)

/// One op of a plan, timed where it runs (same buffers, caches warm from the ops before it), for
/// profiling tools such as `sega-modelbench --profile-plan`. Times are those of the repetition
/// with the lowest wall time; `*CPU` is the busy time of every thread during that same
/// repetition (the calling thread's wall time minus its waits for the pool's workers, plus the
/// workers' time in tasks), so CPU / wall is how many cores the op kept busy.
public struct OpTiming {
    public let op: any Op
    public let inputShapes: [[Int]]
    public let outputShape: [Int]
    /// Seconds (wall and process CPU) of the op's forward, and of its backward (0 if none).
    public internal(set) var forward = 0.0, forwardCPU = 0.0
    public internal(set) var backward = 0.0, backwardCPU = 0.0
}

/// The plan-level work outside the ops: zeroing gradient buffers and copying seeds in backward.
public struct PlanOverheadTiming {
    public internal(set) var zeroing = 0.0, zeroingCPU = 0.0
    /// Bytes zeroed per backward.
    public internal(set) var zeroedBytes = 0
}

/// Busy-time accounting of the engine's pool: (wall, busy) of a stretch of work.
struct BusyClock {
    let pool: OpaquePointer?
    private func sums() -> (Double, Double) {
        var busy: UInt64 = 0, wait: UInt64 = 0
        sega_pool_profile(pool, &busy, &wait)
        return (Double(busy) * 1e-9, Double(wait) * 1e-9)
    }
    /// Time `body`: wall seconds, and the seconds all threads were busy.
    func measure(_ body: () -> Void) -> (wall: Double, busy: Double) {
        let (b0, w0) = sums(), t0 = MonotonicClock.now()
        body()
        let wall = MonotonicClock.now() - t0, (b1, w1) = sums()
        return (wall, wall - (w1 - w0) + (b1 - b0))
    }
}

extension Plan {
    /// Run forward + backward `reps` times (backward only if the plan has gradients), timing each
    /// op and the gradient zeroing; returns every forward op in order with its best repetition.
    /// Allocates (it is a profiling tool): not for the attack's loop.
    public func profileOps(reps: Int) -> (ops: [OpTiming], overhead: PlanOverheadTiming) {
        let t = schedule.timeline
        var rows: [OpTiming] = []
        var row = [Int: Int]()
        for i in t.forwardNodes {
            guard case .op(let op, let ins) = t.nodes[i].kind else { continue }
            row[i] = rows.count
            rows.append(OpTiming(op: op, inputShapes: ins.map { t.nodes[$0].shape }, outputShape: t.nodes[i].shape))
        }
        let backwardRows = t.backwardNodes.map { row[$0]! }
        var best = (fwd: [Double](repeating: .infinity, count: rows.count), bwd: [Double](repeating: .infinity, count: rows.count))
        var overhead = PlanOverheadTiming()
        var bestZero = Double.infinity
        let pool = sega_engine_pool(context.raw)
        sega_pool_set_profiling(pool, 1)
        defer { sega_pool_set_profiling(pool, 0) }
        let clock = BusyClock(pool: pool)
        for _ in 0..<max(1, reps) {
            program.timedForward(clock) { k, wall, cpu in
                if wall < best.fwd[k] { best.fwd[k] = wall; rows[k].forward = wall; rows[k].forwardCPU = cpu }
            }
            guard !backwardRows.isEmpty else { continue }
            let z = program.timedBackward(clock) { k, wall, cpu in
                let r = backwardRows[k]
                if wall < best.bwd[r] { best.bwd[r] = wall; rows[r].backward = wall; rows[r].backwardCPU = cpu }
            }
            if z.wall < bestZero { bestZero = z.wall; overhead.zeroing = z.wall; overhead.zeroingCPU = z.cpu }
        }
        overhead.zeroedBytes = program.zeroList.reduce(0) { $0 + $1.1 }
        return (rows, overhead)
    }
}

extension PlanProgram {
    /// forward(), reporting (op index, wall seconds, busy seconds) per op.
    func timedForward(_ clock: BusyClock, _ report: (Int, Double, Double) -> Void) {
        for (k, op) in forwardOps.enumerated() {
            let m = clock.measure { op.forward() }
            report(k, m.wall, m.busy)
        }
    }

    /// backward(), reporting (backward op index, wall, busy) per op; returns the zeroing's total.
    func timedBackward(_ clock: BusyClock, _ report: (Int, Double, Double) -> Void) -> (wall: Double, cpu: Double) {
        var zw = 0.0, zc = 0.0
        func zero(_ slot: Int) {
            let m = clock.measure {
                for z in zeroSlot[slot]..<zeroSlot[slot + 1] { self.zero(z) }
            }
            zw += m.wall; zc += m.busy
        }
        zero(0)
        for s in seeds { s.1.update(from: s.0, count: s.2) }
        for (k, op) in backwardOps.enumerated() {
            zero(k + 1)
            let m = clock.measure { op.backward() }
            report(k, m.wall, m.busy)
        }
        return (zw, zc)
    }
}
