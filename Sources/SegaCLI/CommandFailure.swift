import ArgumentParser
import SegaRuntime

// MARK: - Failed commands: message and exit status

/// How a failed command ends: "sega COMMAND: message" on stderr and an exit status chosen by
/// the error's kind (`SegaError(error)`; never by its text).
enum CommandFailure {
    /// The exit status of `command` failing with `kind`. Today every kind of a command exits
    /// alike: `sega score` 1 (it scores what it can and reports the rest), the other commands 2
    /// (they refuse to start or stop). A scheme with one status per kind changes only this.
    static func status(_ kind: ErrorKind, command: String) -> Int32 {
        switch kind {
        case .notFound, .format, .io, .memory, .invalidArgument, .internal:
            return command == "score" ? 1 : 2
        }
    }

    /// Report `error` and exit; ArgumentParser's own exits (ExitCode, usage errors) pass through.
    static func exit(_ command: String, _ error: any Error) throws -> Never {
        if error is ExitCode || error is ValidationError || error is CleanExit { throw error }
        let e = SegaError(error)
        Console.error("sega \(command): \(e.message)")
        throw ExitCode(status(e.kind, command: command))
    }

    /// Run a command's body, turning any error into its report and exit status.
    static func run(_ command: String, _ body: () throws -> Void) throws {
        do { try body() } catch { try exit(command, error) }
    }
}
