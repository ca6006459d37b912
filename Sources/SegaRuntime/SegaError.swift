// MARK: - Errors with kinds

/// What went wrong, as callers act on it: the C API maps kinds to its return codes, the
/// command line to exit statuses. Nothing decides on an error's message text.
public enum ErrorKind: String, CaseIterable, Sendable {
    /// A named model, architecture or file that does not exist.
    case notFound
    /// Data that cannot be used: not an image or weights file, corrupt, truncated, too large.
    case format
    /// A file that cannot be opened, read, written or created.
    case io
    /// The memory budget (or the machine) cannot hold what was asked for.
    case memory
    /// Settings, sizes or arguments out of range; usage the callee refuses.
    case invalidArgument
    /// A broken invariant inside sega.
    case `internal`
}

/// What an error is about, where that changes how it is reported (the C API has a code for
/// every problem with a model: SEGA_RC_MODEL).
public enum ErrorSubject: String, Sendable {
    case model, image, other
}

/// An error of the runtime and of every layer above it; `SegaError(error)` (ErrorMapping.swift)
/// gives any layer's error its kind. The message is what a user sees.
public struct SegaError: Error, CustomStringConvertible, Equatable, Sendable {
    public let kind: ErrorKind
    public let subject: ErrorSubject
    public let message: String

    public init(_ kind: ErrorKind, _ message: String, about subject: ErrorSubject = .other) {
        self.kind = kind
        self.subject = subject
        self.message = message
    }

    public var description: String { message }
}
