import SegaAttack
import SegaModels
import SegaRuntime

// MARK: - The settings table as documents

/// docs/settings.md and `sega settings --json`, rendered from AttackSettings.
public enum SettingsDocument {
    /// The command that writes docs/settings.md.
    public static let regenerate = "swift build && .build/debug/sega settings --markdown > docs/settings.md"

    /// The Markdown page (docs/settings.md).
    public static func markdown() -> String {
        var s = "# Attack settings\n\n"
        s += "Generated from `Sources/SegaAttack/AttackSettings.swift` by `\(regenerate)`; "
        s += "`SettingsTableTests` fails when this file differs from what the table generates.\n\n"
        s += "Flags of `sega attack` and `sega eval` (`sega attack` takes the method as `--method`, `sega eval` "
        s += "a list as `--methods`). Default sources (both commands): `\(AttackSettings.defaultSources.joined(separator: ","))`; "
        s += "default targets (`sega eval`): `\(AttackSettings.defaultTargets.joined(separator: ","))`.\n\n"
        s += "*Resume key*: the part an eval record's `settings` holds (and for which methods); a record "
        s += "whose key differs is recomputed. *Report*: the label in the report's settings line. "
        s += "*C field*: the field of `sega_attack_options` in `Sources/CSegaAPI/include/sega.h`.\n\n"
        s += "| setting | flag | default | valid | resume key | report | C field | meaning |\n"
        s += "|---|---|---|---|---|---|---|---|\n"
        for x in AttackSettings.all { s += row(x) + "\n" }
        return s
    }

    static func row(_ x: AttackSetting) -> String {
        let flag = x.flag.map { "`\($0.spelled)`" } ?? ""
        let valid = x.range.map { $0.text } ?? x.choices.map { $0.joined(separator: ", ") } ?? anyValue(x.defaultValue)
        var key = ""
        if let r = x.resume {
            key = "`\(r.key)`"
            if let ms = r.methods { key += " (" + AttackMethod.allCases.filter(ms.contains).map(\.rawValue).joined(separator: ", ") + ")" }
            if r.omitAtDefault {
                key += x.omittedValue == x.defaultValue ? ", only when not default" : ", only when not \(x.omittedValue) (the default before)"
            }
        }
        let report = x.report.map { "`\($0.label)`" } ?? ""
        let c = x.cField.map { "`\($0)`" } ?? ""
        let cells = [x.title, flag, "`\(x.defaultShown)`", valid, key, report, c, x.help]
        return "| " + cells.map { $0.replacingAll("|", with: "\\|") }.joined(separator: " | ") + " |"
    }

    static func anyValue(_ v: SettingValue) -> String {
        switch v {
        case .bool: return "true, false"
        case .uint: return "0...\(UInt64.max)"
        case .int: return "any integer"
        case .float, .choice: return "any"
        }
    }

    /// The table as JSON (`sega settings --json`): default sources and targets, and per
    /// setting its id, flag, default, valid values, resume key, report label and C field.
    public static func json() -> String {
        var o = JSONWriter()
        o.add("default_sources", AttackSettings.defaultSources)
        o.add("default_targets", AttackSettings.defaultTargets)
        o.add("settings", raw: JSONWriter.array(AttackSettings.all.map { x in
            var j = JSONWriter()
            j.add("id", x.id.rawValue)
            j.add("title", x.title)
            j.add("flag", x.flag.map { .string($0.spelled) } ?? JSONValue.null)
            j.add("default", x.defaultShown)
            j.add("valid", x.range.map { .string($0.text) } ?? x.choices.map { .array($0.map { .string($0) }) } ?? .string(anyValue(x.defaultValue)))
            j.add("resume_key", x.resume.map { .string($0.key) } ?? JSONValue.null)
            j.add("report_label", x.report.map { .string($0.label) } ?? JSONValue.null)
            j.add("c_field", x.cField.map { .string($0) } ?? JSONValue.null)
            j.add("help", x.help)
            return j.text
        }))
        return o.text
    }
}
