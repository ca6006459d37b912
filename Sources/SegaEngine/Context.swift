// MARK: - Engine context

/// Owns the C engine: ISA choice, the worker pool (created once) and the GEMM workspace.
public final class Context: @unchecked Sendable {
    public let raw: OpaquePointer
    public let threads: Int
    public let isa: sega_isa

    /// - Parameters:
    ///   - threads: total threads (>= 1), the caller included.
    ///   - isa: SEGA_ISA_AUTO, or a specific ISA (tests force the portable path this way).
    public init(threads: Int = 1, isa: sega_isa = SEGA_ISA_AUTO) throws {
        guard threads >= 1, threads <= 256 else {
            throw EngineError(.invalidArgument, "thread count must be in 1...256, got \(threads)")
        }
        if isa != SEGA_ISA_AUTO && sega_cpu_supports(isa) == 0 {
            throw EngineError(.invalidArgument, "this CPU does not support the \(String(cString: sega_isa_name(isa))) kernels")
        }
        var e: OpaquePointer? = nil
        try EngineError.check(sega_engine_create(Int32(threads), isa, &e), "creating the engine context")
        guard let e else { throw EngineError(.outOfMemory, "creating the engine context") }
        raw = e
        self.threads = threads
        self.isa = sega_engine_isa(e)
    }

    deinit { sega_engine_destroy(raw) }

    public var isaName: String { String(cString: sega_isa_name(isa)) }
}
