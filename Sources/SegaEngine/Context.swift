// MARK: - Engine context

/// Owns the C engine: ISA choice, the worker pool (created once) and the GEMM workspace.
public final class Context: @unchecked Sendable {
    public let raw: OpaquePointer
    public let threads: Int
    public let isa: sega_isa
    /// Whether plans made with this context let a gradient's first writer overwrite it instead
    /// of zeroing it first (`Op.overwritesInputGradient`); the bytes are the same either way.
    public let overwritesGradients: Bool

    /// - Parameters:
    ///   - threads: total threads (>= 1), the caller included.
    ///   - isa: SEGA_ISA_AUTO, or a specific ISA (tests force the portable path this way).
    ///   - overwritesGradients: false keeps the zero-then-accumulate path (tests compare the two).
    public init(threads: Int = 1, isa: sega_isa = SEGA_ISA_AUTO, overwritesGradients: Bool = true) throws {
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
        self.overwritesGradients = overwritesGradients
    }

    deinit { sega_engine_destroy(raw) }

    public var isaName: String { String(cString: sega_isa_name(isa)) }
}

// MARK: - Kernel calls from the ops

/// `sega_sgemm` from an op's `forward()` / `backward()`, which cannot throw (a plan runs with no
/// error path and no allocation). SGEMM fails only on invalid arguments: a NULL engine, a
/// negative size, a leading dimension shorter than the row it must hold, or a NULL matrix of
/// nonzero size. None can happen by construction: the engine is the plan's context, every
/// buffer is a plan buffer, and each op checks at plan time (`outputShape` / `bind`) that its
/// sizes fit Int32 and derives the leading dimensions from the same shapes. So a failure is a bug
/// in the op, and it stops the process with the status instead of leaving the output unwritten.
@inline(__always)
func opSgemm(_ e: OpaquePointer, _ transA: Int32, _ transB: Int32, _ m: Int32, _ n: Int32, _ k: Int32,
             _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int32, _ b: UnsafePointer<Float>, _ ldb: Int32,
             _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int32) {
    let st = sega_sgemm(e, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    precondition(st == SEGA_OK, "sega_sgemm(m \(m), n \(n), k \(k)) from an op: \(String(cString: sega_status_message(st)))")
}

/// `sega_sgemm_ex` from an op (see `opSgemm`: the same reasons make a failure a bug in the op).
@inline(__always)
func opSgemmEx(_ e: OpaquePointer, _ transA: Int32, _ transB: Int32, _ m: Int32, _ n: Int32, _ k: Int32,
               _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int32, _ b: UnsafePointer<Float>, _ ldb: Int32,
               _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int32, _ ext: UnsafePointer<sega_gemm_ext>) {
    let st = sega_sgemm_ex(e, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ext)
    precondition(st == SEGA_OK, "sega_sgemm_ex(m \(m), n \(n), k \(k)) from an op: \(String(cString: sega_status_message(st)))")
}
