import ArgumentParser

// MARK: - sega settings (hidden)

/// `sega settings --markdown` writes docs/settings.md; `--json` gives scripts the default
/// sources and targets and every setting (scripts/ablation.py reads it).
struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Print the attack settings table (Markdown for docs/settings.md, or JSON).",
        shouldDisplay: false
    )

    @Flag(name: .long, help: "Markdown (docs/settings.md).")
    var markdown = false

    @Flag(name: .long, help: "JSON.")
    var json = false

    func validate() throws {
        if markdown == json { throw ValidationError("give one of --markdown and --json") }
    }

    func run() throws {
        if markdown {
            print(SettingsDocument.markdown(), terminator: "")
        } else {
            Console.out(SettingsDocument.json())
        }
    }
}
