import ArgumentParser
import SegaRuntime

// MARK: - sega

/// `sega`: the command-line tool. Each command is one type in its own file; what runs below
/// the commands (weights lookup, sessions, errors) is SegaRuntime.
public struct SegaCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sega",
        abstract: "Transferable black-box attacks (SEGA) on no-reference image-quality (NR-IQA) models, on the CPU.",
        discussion: ExitStatus.help,
        version: SegaVersion.string,
        subcommands: [ScoreCommand.self, AttackCommand.self, EvalCommand.self, ModelsCommand.self, ParityCommand.self,
                      SettingsCommand.self]
    )

    public init() {}
}
