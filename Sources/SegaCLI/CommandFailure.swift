import ArgumentParser
import SegaRuntime
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Exit statuses

/// One scheme for every command (docs/bad-inputs.md, `sega --help`):
///   0   done;
///   1   failed during the work: `score` could not score some images, `attack`/`eval` stopped
///       after writing began (a full disk, say; what was written is complete), `parity` FAIL;
///   2   refused before any work: an input file, image, list, model, output directory or memory
///       budget that cannot be used; nothing was written;
///   64  usage: an unknown option, a missing argument, a flag value out of its range;
///   70  an internal error (a bug in sega).
public enum ExitStatus {
    public static let ok: Int32 = 0, failed: Int32 = 1, refused: Int32 = 2, usage: Int32 = 64, `internal`: Int32 = 70

    /// The text `sega --help` shows.
    public static let help = """
        Exit status: 0 done; 1 failed during the work (score: some images not scored; attack/eval: \
        stopped after writing began, what was written is complete; parity: FAIL); 2 refused before any \
        work (an input, model, output directory or memory budget that cannot be used; nothing written); \
        64 usage (unknown option, missing argument, a flag value out of range); 70 internal error.
        """
}

/// An error after a command's work began (status 1, not 2): `CommandFailure.working` wraps them.
struct DuringWork: Error, CustomStringConvertible {
    let error: any Error
    var description: String { SegaError(error).message }
}

/// A flag value the command refuses (status 64).
struct UsageError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

// MARK: - Failed commands: message and exit status

/// How a failed command ends: "sega COMMAND: message" on stderr and the status of its phase
/// (flags: 64; before the work: 2; during it: 1) or, for an internal error, 70. Chosen by phase
/// and the error's kind, never by its text.
enum CommandFailure {
    static func status(_ error: any Error) -> Int32 {
        switch error {
        case is UsageError: return ExitStatus.usage
        case let w as DuringWork: return SegaError(w.error).kind == .internal ? ExitStatus.internal : ExitStatus.failed
        default: return SegaError(error).kind == .internal ? ExitStatus.internal : ExitStatus.refused
        }
    }

    /// Report `error` and exit; ArgumentParser's own exits (ExitCode, usage errors) pass through.
    static func exit(_ command: String, _ error: any Error) throws -> Never {
        if error is ExitCode || error is ValidationError || error is CleanExit { throw error }
        let message = (error as? UsageError)?.message ?? (error as? DuringWork)?.description ?? SegaError(error).message
        Console.error("sega \(command): \(message)")
        throw ExitCode(status(error))
    }

    /// Run a command's body, turning any error into its report and exit status.
    static func run(_ command: String, _ body: () throws -> Void) throws {
        do { try body() } catch { try exit(command, error) }
    }

    /// The flags turned into settings: any error is a usage error (64).
    static func flags<T>(_ command: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as UsageError { try exit(command, e) } catch {
            if error is ExitCode || error is ValidationError || error is CleanExit { throw error }
            try exit(command, UsageError(SegaError(error).message))
        }
    }

    /// The work itself (after every check passed): an error here is a failure during the work (1).
    static func working<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as DuringWork { throw e } catch { throw DuringWork(error: error) }
    }
}

// MARK: - File names that look like options

/// ArgumentParser reads `-dash.png` as the short flags -d -a -s -h (help, exit 0) and `-xyz.png`
/// as an unknown option: a file name starting with '-' has to come after `--`.
public enum CommandLineCheck {
    /// The first argument before `--` that starts with a single '-', is longer than a short
    /// flag and is not a number (a value such as -1e-3), or nil.
    public static func optionLikeArgument(_ args: [String]) -> String? {
        for a in args {
            if a == "--" { return nil }
            guard a.hasPrefix("-"), !a.hasPrefix("--"), a.count > 2 else { continue }
            let body = a.split(separator: "/", maxSplits: 1).map(String.init)
            if body.allSatisfy({ Double($0) != nil }) { continue }
            return a
        }
        return nil
    }

    /// Exit 64 with a message if the command line has such an argument.
    public static func refuseOptionLikeFileNames(_ args: [String] = Array(CommandLine.arguments.dropFirst())) {
        guard let a = optionLikeArgument(args) else { return }
        Console.error("sega: unknown option '\(a)'; if it is a file name, use -- before file names (sega ... -- \(a))")
        Glibc.exit(ExitStatus.usage)
    }
}
