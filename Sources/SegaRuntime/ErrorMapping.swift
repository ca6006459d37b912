import SegaAttack
import SegaEngine
import SegaIO
import SegaModels

// MARK: - Every layer's error, with its kind

extension SegaError {
    /// The kind, subject and message of any error sega's layers throw, from their own typed
    /// kinds (never from the message text). An unknown error type is internal.
    public init(_ error: any Error) {
        switch error {
        case let e as SegaError: self = e
        case let e as EngineError: self.init(SegaError.kind(of: e.kind), e.message)
        case let e as WeightsError: self.init(SegaError.kind(of: e.kind), e.message, about: .model)
        case let e as ImageError: self.init(SegaError.kind(of: e.kind), e.description, about: .image)
        case let e as AttackError: self.init(e.kind == .invalidArgument ? .invalidArgument : .internal, e.message)
        case let e as JSONError: self.init(.format, e.description)
        default: self.init(.internal, "\(error)")
        }
    }

    static func kind(of k: EngineError.Kind) -> ErrorKind {
        switch k {
        case .invalidArgument, .shapeMismatch, .overflow: return .invalidArgument
        case .arenaExhausted, .outOfMemory: return .memory
        case .corruption, .threads: return .internal
        }
    }

    static func kind(of k: WeightsError.Kind) -> ErrorKind {
        switch k {
        case .io: return .io
        case .format, .noArchitecture: return .format
        case .unknownArchitecture: return .notFound
        }
    }

    static func kind(of k: ImageError.Kind) -> ErrorKind {
        switch k {
        case .io: return .io
        case .format, .tooLarge: return .format
        case .noMemory: return .memory
        case .refused: return .invalidArgument
        }
    }

    /// The same kind and subject with another message (context added by a caller).
    public func with(message: String) -> SegaError { SegaError(kind, message, about: subject) }
}
