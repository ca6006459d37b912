// MARK: - Errors

/// Every failure the engine reports: a kind a caller can switch on, and a message for people.
public struct EngineError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case invalidArgument, shapeMismatch, arenaExhausted, outOfMemory, corruption, overflow, threads
    }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Map a C status to an error (nil for SEGA_OK).
    @inlinable
    public static func check(_ status: sega_status, _ what: @autoclosure () -> String) throws {
        if status == SEGA_OK { return }
        let kind: Kind
        switch status {
        case SEGA_ERR_INVALID_ARG: kind = .invalidArgument
        case SEGA_ERR_ARENA_FULL: kind = .arenaExhausted
        case SEGA_ERR_NOMEM: kind = .outOfMemory
        case SEGA_ERR_CORRUPT: kind = .corruption
        case SEGA_ERR_OVERFLOW: kind = .overflow
        default: kind = .threads
        }
        throw EngineError(kind, "\(what()): \(String(cString: sega_status_message(status)))")
    }
}

@_exported import CSupport
