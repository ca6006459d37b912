import CSegaAPI
import SegaRuntime

// MARK: - Errors as return codes

/// The return code (sega.h's SEGA_RC_*) of an error, by its kind and subject: every problem
/// with a model (unknown, unreadable, foreign, corrupt) is SEGA_RC_MODEL; a missing or
/// unreadable file otherwise SEGA_RC_IO; data that is not an image SEGA_RC_FORMAT.
func returnCode(_ e: SegaError) -> Int32 {
    switch (e.kind, e.subject) {
    case (.invalidArgument, _): return Int32(SEGA_RC_INVALID_ARGUMENT)
    case (.memory, _): return Int32(SEGA_RC_MEMORY)
    case (.internal, _): return Int32(SEGA_RC_INTERNAL)
    case (.notFound, .model), (.format, .model), (.io, .model): return Int32(SEGA_RC_MODEL)
    case (.notFound, _), (.io, _): return Int32(SEGA_RC_IO)
    case (.format, _): return Int32(SEGA_RC_FORMAT)
    }
}

/// Run `body`, turning every error into a code and a message on the context.
func guarded(_ c: CAPIContext, _ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return c.ok()
    } catch {
        let e = SegaError(error)
        return c.fail(returnCode(e), e.message)
    }
}

/// A refused argument.
func invalid(_ message: String) -> SegaError { SegaError(.invalidArgument, message) }
