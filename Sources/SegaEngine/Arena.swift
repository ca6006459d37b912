// MARK: - Arena

/// One aligned block owned by a plan: bump allocation, high-water mark, optional canaries.
public final class Arena {
    @usableFromInline var a: UnsafeMutablePointer<sega_arena>

    /// Allocates the block once. `debug` places canaries after every block (see `check()`).
    public init(capacity: Int, debug: Bool = false) throws {
        guard capacity >= 0 else { throw EngineError(.invalidArgument, "arena capacity must be >= 0, got \(capacity)") }
        a = .allocate(capacity: 1)
        let st = sega_arena_init(a, capacity, debug ? 1 : 0)
        if st != SEGA_OK {
            a.deallocate()
            try EngineError.check(st, "allocating a \(capacity)-byte arena")
        }
    }

    deinit {
        sega_arena_destroy(a)
        a.deallocate()
    }

    public var capacity: Int { a.pointee.capacity }
    public var used: Int { a.pointee.used }
    public var highWater: Int { a.pointee.high_water }
    public var mark: Int { sega_arena_mark(a) }

    /// Bytes a request of `bytes` would consume now (alignment and canary included).
    public func cost(bytes: Int, alignment: Int = 64) -> Int { Int(bitPattern: UInt(sega_arena_cost(a, bytes, alignment))) }

    /// Bump-allocate raw bytes; throws `.arenaExhausted` when the request does not fit.
    public func allocate(bytes: Int, alignment: Int = 64, what: @autoclosure () -> String = "buffer") throws -> UnsafeMutableRawPointer {
        guard bytes >= 0 else { throw EngineError(.invalidArgument, "negative allocation size \(bytes) for \(what())") }
        var p: UnsafeMutableRawPointer? = nil
        let st = sega_arena_alloc(a, bytes, alignment, &p)
        if st == SEGA_ERR_ARENA_FULL {
            throw EngineError(.arenaExhausted, "arena exhausted: \(what()) needs \(bytes) bytes, \(capacity - used) of \(capacity) left")
        }
        try EngineError.check(st, "allocating \(bytes) bytes for \(what())")
        return p!
    }

    public func allocateFloats(_ count: Int, what: @autoclosure () -> String = "buffer") throws -> UnsafeMutablePointer<Float> {
        guard count >= 0, count <= Int.max / 4 else { throw EngineError(.invalidArgument, "bad element count \(count) for \(what())") }
        return try allocate(bytes: count * 4, what: what()).bindMemory(to: Float.self, capacity: count)
    }

    public func reset(to mark: Int) throws { try EngineError.check(sega_arena_reset(a, mark), "resetting the arena") }

    /// Verify every canary (debug arenas only); throws `.corruption` if one was overwritten.
    public func check() throws { try EngineError.check(sega_arena_check(a), "arena canary check") }
}
