import Foundation
import XCTest
import SegaAttack
@testable import SegaCLI

/// AttackSettings (Sources/SegaAttack/AttackSettings.swift) against every place derived from it
/// on the command-line side: the table itself, validation, the flags of `sega attack` and
/// `sega eval` (parsed in-process, and as the built binary's --experimental-dump-help lists
/// them), the eval resume key and the report's settings line (byte for byte as before the
/// table), and docs/settings.md. The C side is in Tests/SegaCAPITests/CSettingsTests.swift.
final class SettingsTableTests: XCTestCase {
    let table = AttackSettings.all

    // MARK: the table

    func testEverySettingIsDeclaredOnceWithDistinctNames() {
        XCTAssertEqual(table.map(\.id), AttackSettingID.allCases, "one entry per AttackSettingID, in its order")
        func unique(_ xs: [String], _ what: String) { XCTAssertEqual(Set(xs).count, xs.count, "duplicate \(what): \(xs)") }
        unique(table.compactMap(\.flag?.name), "flags")
        unique(table.compactMap(\.resume?.key), "resume keys")
        unique(table.compactMap(\.cField), "C fields")
        unique(table.map(\.title), "titles")
        let ranks = table.compactMap(\.report?.rank)
        XCTAssertEqual(ranks.sorted(), Array(0..<ranks.count), "report ranks must be 0..<n without gaps or repeats")
        // RecordKey writes the sources after the first part: the method's, in every key.
        XCTAssertEqual(table.first?.id, .method)
        XCTAssertNil(table.first?.resume?.methods)
        XCTAssertEqual(table.first?.resume?.omitAtDefault, false)
    }

    /// Each example is valid and not the default, and `set` reaches exactly its own setting.
    func testExamplesAreValidNonDefaultValues() throws {
        for s in table {
            XCTAssertNotEqual(s.example, s.defaultValue, "\(s.id): the example must differ from the default")
            var c = AttackConfig()
            try s.set(&c, s.example)
            XCTAssertEqual(s.value(c), s.example, "\(s.id): set/value do not round-trip")
            XCTAssertNoThrow(try c.validate(), "\(s.id): example \(s.example) is refused")
            // eps sets the default alpha (eps / 4); the method resolves the auto budget.
            // Whether a JND map is read (method, budget) decides the JND model and luminance cap
            // in effect, and whether the chroma budget is.
            let jndUse: Set<AttackSettingID> = [.jndModel, .jndLuminanceCap, .chroma, .budgetGrowth]
            let resolves: [AttackSettingID: Set<AttackSettingID>] = [.eps: [.alpha], .method: jndUse.union([.budget, .targetSSIM]), .budget: jndUse]
            for other in table where other.id != s.id && !(resolves[s.id]?.contains(other.id) ?? false) {
                XCTAssertEqual(other.value(c), other.defaultValue, "setting \(s.id) changed \(other.id)")
            }
        }
    }

    /// AttackConfig.validate refuses every ranged setting just outside its range, with the
    /// setting's message, and a NaN for every Float setting.
    func testValidationComesFromTheRanges() throws {
        for s in table {
            switch s.defaultValue {
            case .int, .float: XCTAssertNotNil(s.range, "\(s.id): a number setting needs a range (validate() checks it)")
            default: break
            }
        }
        var ranged = 0
        for s in table {
            guard let r = s.range else { continue }
            ranged += 1
            var outside: [SettingValue] = []
            switch s.defaultValue {
            case .int: outside = [.int(Int(r.lo) - 1)] + (r.hi.map { [.int(Int($0) + 1)] } ?? [])
            case .float: outside = [.float(Float(r.lo) - 0.5), .float(.nan), .float(.infinity)] + (r.hi.map { [.float(Float($0) + 0.5)] } ?? [])
            default: XCTFail("\(s.id): a range on a \(s.defaultValue)")
            }
            if r.loOpen, case .float = s.defaultValue { outside.append(.float(Float(r.lo))) }
            if r.hiOpen, let hi = r.hi, case .float = s.defaultValue { outside.append(.float(Float(hi))) }
            for v in outside {
                var c = AttackConfig()
                if s.id == .alpha, case .float(let a) = v { c.alpha = a } else { try s.set(&c, v) }
                XCTAssertThrowsError(try c.validate(), "\(s.id) = \(v) accepted") { e in
                    let msg = (e as? AttackError)?.message ?? ""
                    let expected = s.invalidMessage ?? "\(s.title) must be \(r.text), got \(s.value(c))"
                    XCTAssertEqual(msg, expected)
                }
            }
        }
        XCTAssertGreaterThanOrEqual(ranged, 11)
        XCTAssertNoThrow(try AttackConfig().validate())
    }

    // MARK: flags

    /// The value's text on the command line (`--flag TEXT`, or just `--flag` for a switch).
    func arguments(_ s: AttackSetting, _ v: SettingValue) -> [String] {
        guard let f = s.flag else { return [] }
        switch f.form {
        case .option: return [f.spelled, v.description]
        case .setsTrue: return v == .bool(true) ? [f.spelled] : []
        case .setsFalse: return v == .bool(false) ? [f.spelled] : []
        }
    }

    /// No flags: AttackConfig's defaults. Each flag with the example: exactly that setting changed.
    func testEveryFlagSetsExactlyItsSetting() throws {
        let flagged = table.filter { $0.flag != nil }
        XCTAssertEqual(flagged.count, table.count, "every setting has a command-line flag")
        func attackConfig(_ args: [String]) throws -> AttackConfig {
            let cmd = try AttackCommand.parse(args + ["-o", "/tmp/x"])
            return try cmd.flags.config(method: FlagValues.method(cmd.method))
        }
        func evalConfig(_ args: [String]) throws -> AttackConfig {
            try EvalCommand.parse(args + ["--images", "/tmp/x", "-o", "/tmp/y"]).options().config
        }
        XCTAssertEqual(try attackConfig([]), AttackConfig())
        XCTAssertEqual(try evalConfig([]), AttackConfig())
        for s in flagged {
            var expected = AttackConfig()
            try s.set(&expected, s.example)
            let args = arguments(s, s.example)
            XCTAssertFalse(args.isEmpty, "\(s.id): the example cannot be given as a flag")
            XCTAssertEqual(try attackConfig(args), expected, "sega attack \(args.joined(separator: " "))")
            if s.id != .method {  // eval takes methods as a list
                XCTAssertEqual(try evalConfig(args), expected, "sega eval \(args.joined(separator: " "))")
            }
        }
    }

    /// The built binary's flags (--experimental-dump-help): each setting's flag with the
    /// table's help and default, and no flag that is neither a setting nor a known resource.
    func testHelpListsEveryFlagWithTheTablesHelpAndDefault() throws {
        // --progress/--progress-interval (ProgressFlags) and --version (the root command's) are not
        // settings, nor --strict (attack, eval), --overwrite and --recursive (attack).
        let common = ["sources", "threads", "memory-limit-mb", "max-pixels", "strict", "out", "help", "version", "progress", "progress-interval"]
        let others = ["attack": common + ["overwrite", "recursive"],
                      "eval": common + ["targets", "images", "split", "stride", "limit", "methods", "shard", "sheets", "workers",
                                        "match-ssim", "report-only", "allow-missing"]]
        for (command, known) in others {
            let r = try runSega([command, "--experimental-dump-help"])
            XCTAssertEqual(r.status, 0, r.err)
            let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
            let args = try XCTUnwrap((root["command"] as? [String: Any])?["arguments"] as? [[String: Any]])
            var byName: [String: [String: Any]] = [:]
            for a in args {
                for n in (a["names"] as? [[String: String]]) ?? [] where n["kind"] == "long" { byName[n["name"]!] = a }
            }
            for s in table where !(command == "eval" && s.id == .method) {
                let f = try XCTUnwrap(s.flag)
                guard let a = byName[f.name] else { XCTFail("sega \(command) has no \(f.spelled) (\(s.id))"); continue }
                XCTAssertEqual(a["abstract"] as? String, s.help, "\(command) \(f.spelled): help")
                XCTAssertEqual(a["kind"] as? String, f.form == .option ? "option" : "flag", "\(command) \(f.spelled)")
                if f.form == .option && s.defaultText != "eps/4" {
                    XCTAssertEqual(a["defaultValue"] as? String, s.defaultShown, "\(command) \(f.spelled): default")
                }
            }
            let settingFlags = Set(table.compactMap(\.flag?.name))
            for name in byName.keys where !settingFlags.contains(name) {
                XCTAssertTrue(known.contains(name), "sega \(command) --\(name) is neither in AttackSettings nor a known flag")
            }
        }
    }

    /// --sources and --targets default to the table's lists (and the help shows them).
    func testDefaultSourcesAndTargets() throws {
        let eval = try EvalCommand.parse(["--images", "/tmp/x", "-o", "/tmp/y"]).options()
        XCTAssertEqual(eval.sources, ["linearityiqa_lite0", "hyperiqa_lite0", "vitiqa"])
        XCTAssertEqual(eval.targets, ["dbcnn_lite0", "cnniqa", "lite2iqa", "vitiqa_patch"])
        XCTAssertEqual(try AttackCommand.parse(["-o", "/tmp/x"]).flags.sourceList, AttackSettings.defaultSources)
        XCTAssertTrue(EvalCommand.helpMessage().contains("linearityiqa_lite0,hyperiqa_lite0,vitiqa"))
        XCTAssertTrue(EvalCommand.helpMessage().contains("dbcnn_lite0,cnniqa,lite2iqa,vitiqa_patch"))
    }

    // MARK: the resume key and the report line, as before the table

    /// The settings key of a record before the table existed (EvalCommand.settingsKey at
    /// b066c83), kept here as the reference the derived key must match byte for byte; extended
    /// (issue 24) by the budget parts, which every method's key holds while they differ from
    /// their defaults, and by the keys of svre, cwa and di-mifgsm (whose own parts, too, are
    /// written only when not at their defaults).
    func legacyKey(sources: [String], _ c: AttackConfig) -> String {
        var f = ["method=\(c.method.rawValue)", "sources=\(sources.joined(separator: ","))",
                 "eps=\(c.eps)", "seed=\(c.seed)", "direction=\(c.direction.rawValue)"]
        let momentumBaseline = ["alpha=\(c.stepSize)", "iters=\(c.iterations)", "normalize=\(c.normalizeSources)",
                                "momentum=\(c.momentum)"]
        let d = AttackConfig()
        switch c.method {
        case .random: break
        case .sega:
            f += ["alpha=\(c.stepSize)", "iters=\(c.iterations)", "samples=\(c.samples)", "sigma=\(c.sigma)",
                  "normalize=\(c.normalizeSources)", "maskq=\(c.maskQuantile)", "maska=\(c.maskAgreement)", "jnd=\(c.jndThreshold)"]
            if c.antithetic { f.append("antithetic=true") }
            if c.segaMomentum > 0 { f.append("segamomentum=\(c.segaMomentum)") }
        case .ifgsm: f += ["alpha=\(c.stepSize)", "iters=\(c.iterations)"]
        case .ensIfgsm: f += ["alpha=\(c.stepSize)", "iters=\(c.iterations)", "normalize=\(c.normalizeSources)"]
        case .mifgsm, .svre, .cwa, .diMifgsm: f += momentumBaseline
        case .vt: f += momentumBaseline + ["vtbeta=\(c.vtBeta)", "vtsamples=\(c.vtSamples)"]
        }
        // The budget in effect, shown when it is not uniform (the default before auto): a
        // baseline at auto keeps its old key, SEGA at auto has the key of SEGA at jnd.
        if c.effectiveBudget != .uniform { f.append("budget=\(c.effectiveBudget.rawValue)") }
        if c.budgetLambda != d.budgetLambda { f.append("budgetlambda=\(c.budgetLambda)") }
        if c.usesJND && c.jndModel != .yang { f.append("jndmodel=\(c.jndModel.rawValue)") }
        if c.usesJND && c.jndLuminanceCap != 0 { f.append("jndlacap=\(c.jndLuminanceCap)") }
        switch c.method {
        case .svre where c.svreInner != d.svreInner: f.append("svreinner=\(c.svreInner)")
        case .cwa:
            if c.cwaRadius != d.cwaRadius { f.append("cwaradius=\(c.cwaRadius)") }
            if c.cwaInnerStep != d.cwaInnerStep { f.append("cwastep=\(c.cwaInnerStep)") }
            if c.cwaSweeps != d.cwaSweeps { f.append("cwasweeps=\(c.cwaSweeps)") }
        case .diMifgsm:
            if c.diProbability != d.diProbability { f.append("diprob=\(c.diProbability)") }
            if c.diResize != d.diResize { f.append("diresize=\(c.diResize)") }
            if c.diSamples != d.diSamples { f.append("disamples=\(c.diSamples)") }
        default: break
        }
        if c.effectiveTargetSSIM != 0 { f.append("tssim=\(c.effectiveTargetSSIM)") }
        if c.method == .sega && c.maskFill != 0 { f.append("maskfill=\(c.maskFill)") }
        if c.usesChroma { f.append("chroma=\(c.chroma)") }
        if c.usesMaskingGrowth { f.append("growth=\(c.budgetGrowth.rawValue)") }
        if c.method == .sega && c.segaDI > 0 { f.append("segadi=\(c.segaDI)") }
        return f.joined(separator: ";")
    }

    /// The report's settings line before the table (Report.settings at b066c83), extended
    /// (issue 24) by the parts of the settings added since, each shown only when not at its default.
    func legacyLine(_ c: AttackConfig) -> String {
        let f = Report.f
        let d = AttackConfig()
        var added = ""
        if c.effectiveBudget != .uniform { added += ", budget \(c.effectiveBudget.rawValue)" }
        if c.budgetLambda != d.budgetLambda { added += ", lambda \(f(Double(c.budgetLambda), 2))" }
        if c.usesJND && c.jndModel != .yang { added += ", JND model \(c.jndModel.rawValue)" }
        if c.svreInner != d.svreInner { added += ", SVRE inner \(c.svreInner) K" }
        if c.cwaRadius != d.cwaRadius { added += ", CWA radius \(f(Double(c.cwaRadius), 3)) eps" }
        if c.cwaInnerStep != d.cwaInnerStep { added += ", CWA inner step \(f(Double(c.cwaInnerStep), 2)) eps" }
        if c.cwaSweeps != d.cwaSweeps { added += ", CWA sweeps \(c.cwaSweeps)" }
        if c.diProbability != d.diProbability { added += ", DI p \(f(Double(c.diProbability), 2))" }
        if c.diResize != d.diResize { added += ", DI resize \(f(Double(c.diResize), 2))" }
        if c.diSamples != d.diSamples { added += ", DI samples \(c.diSamples)" }
        if c.usesJND && c.jndLuminanceCap != 0 { added += ", LA cap \(f(Double(c.jndLuminanceCap), 1))" }
        if c.effectiveTargetSSIM != 0 { added += ", target SSIM \(f(Double(c.effectiveTargetSSIM), 3))" }
        if c.maskFill != 0 { added += ", M^F fill \(f(Double(c.maskFill), 2))" }
        if c.usesChroma { added += ", chroma \(f(Double(c.chroma), 2))" }
        if c.usesMaskingGrowth { added += ", growth \(c.budgetGrowth.rawValue)" }
        if c.method == .sega && c.segaDI > 0 { added += ", SEGA DI p \(f(Double(c.segaDI), 2))" }
        return "eps \(f(Double(c.eps) * 255, 2))/255, alpha \(f(Double(c.stepSize) * 255, 2))/255, T \(c.iterations), N \(c.samples), sigma \(f(Double(c.sigma), 3))\(c.antithetic ? " (antithetic)" : "")\(c.segaMomentum > 0 ? ", SEGA momentum \(f(Double(c.segaMomentum), 2))" : ""), M^F quantile \(f(Double(c.maskQuantile), 2)), M^F agreement \(f(Double(c.maskAgreement), 2)), JND threshold \(f(Double(c.jndThreshold), 1)), normalise \(c.normalizeSources), momentum (MI-FGSM, VT) \(f(Double(c.momentum), 2)), VT samples \(c.vtSamples) radius \(f(Double(c.vtBeta), 2)) eps, seed \(c.seed)" + added
    }

    /// Configs to compare on: the defaults, each example alone, and all examples together.
    func configs() throws -> [AttackConfig] {
        var out = [AttackConfig()]
        var all = AttackConfig()
        for s in table {
            var c = AttackConfig()
            try s.set(&c, s.example)
            out.append(c)
            if s.id != .method { try s.set(&all, s.example) }
        }
        out.append(all)
        return out
    }

    func testResumeKeyIsByteIdenticalToThePreTableKey() throws {
        let sources = ["linearityiqa_lite0", "hyperiqa_lite0", "vitiqa"]
        for base in try configs() {
            for m in AttackMethod.allCases {
                var c = base
                c.method = m
                let key = RecordKey(config: c, sourceNames: sources, sourceWeights: "w")
                XCTAssertEqual(key.text, legacyKey(sources: sources, c) + ";weights=w")
            }
        }
        // A record of the reference run (scripts/run.sh before the table).
        var vt = AttackConfig()
        vt.method = .vt
        XCTAssertEqual(RecordKey(config: vt, sourceNames: sources, sourceWeights: "x").text,
                       "method=vt;sources=linearityiqa_lite0,hyperiqa_lite0,vitiqa;eps=0.03137255;seed=0;direction=auto;alpha=0.007843138;iters=10;normalize=true;momentum=1.0;vtbeta=1.5;vtsamples=4;weights=x")
    }

    func testReportSettingsLineIsByteIdenticalToThePreTableLine() throws {
        for c in try configs() { XCTAssertEqual(Report.settings(c), legacyLine(c)) }
        // SEGA's default budget became the JND budget (auto) with Liu's model after the table, and its
        // default M^F quantile 0.3, its target SSIM 0.9, the luminance cap 4 and the chroma budget 1:
        // the line says so.
        XCTAssertEqual(Report.settings(AttackConfig()),
                       "eps 8.00/255, alpha 2.00/255, T 10, N 12, sigma 0.020, M^F quantile 0.30, M^F agreement 0.00, JND threshold 0.0, normalise true, momentum (MI-FGSM, VT) 1.00, VT samples 4 radius 1.50 eps, seed 0, budget jnd, JND model liu, LA cap 4.0, target SSIM 0.900, chroma 1.00")
    }

    /// Every setting with a report part shows up in the line when set to its example.
    func testEveryReportedSettingAppearsInTheLine() throws {
        for s in table {
            guard let part = s.report else { continue }
            var c = AttackConfig()
            try s.set(&c, s.example)
            // An example equal to the value the line leaves out (the budget's uniform, the
            // default before auto) is shown by its absence, as in every earlier report.
            if s.value(c) != s.omittedValue {
                XCTAssertTrue(Report.settings(c).contains(part.label), "\(s.id): '\(part.label)' missing from \(Report.settings(c))")
            }
            XCTAssertNotEqual(Report.settings(c), Report.settings(AttackConfig()), "\(s.id) does not change the line")
        }
    }

    /// Every setting with a resume part changes the key of the methods it names (and of no other).
    func testEveryResumedSettingChangesItsMethodsKeys() throws {
        for s in table where s.id != .method {
            guard let part = s.resume else { continue }
            for m in AttackMethod.allCases {
                var a = AttackConfig(), b = AttackConfig()
                a.method = m; b.method = m
                try s.set(&b, s.example)
                // A choice whose example is this method's default in effect (the budget: uniform
                // for a baseline) is set to another of its choices instead.
                if s.value(b) == s.value(a), let other = s.choices?.first(where: { s.value(a) != .choice($0) }) {
                    try s.set(&b, .choice(other))
                }
                let ka = RecordKey(config: a, sourceNames: ["s"], sourceWeights: "w").text
                let kb = RecordKey(config: b, sourceNames: ["s"], sourceWeights: "w").text
                // A setting the method does not use in this configuration (the JND model of a run
                // that reads no JND map) has the same value in effect and leaves the key alone.
                XCTAssertEqual(ka != kb, part.applies(to: m) && s.value(b) != s.value(a), "\(s.id) and the key of \(m)")
            }
        }
    }

    // MARK: docs/settings.md

    func testDocsSettingsPageIsGeneratedFromTheTable() throws {
        let path = "\(repoRoot)/docs/settings.md"
        let page = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(missing)"
        let generated = SettingsDocument.markdown()
        if page != generated {
            let a = page.split(separator: "\n", omittingEmptySubsequences: false)
            let b = generated.split(separator: "\n", omittingEmptySubsequences: false)
            let n = Array(zip(a, b)).firstIndex { $0 != $1 } ?? min(a.count, b.count)
            XCTFail("""
                docs/settings.md is not what AttackSettings generates (first difference at line \(n + 1)):
                  file:      \(n < a.count ? String(a[n]) : "(end)")
                  generated: \(n < b.count ? String(b[n]) : "(end)")
                regenerate it: \(SettingsDocument.regenerate)
                """)
        }
        for s in table {
            XCTAssertTrue(page.contains("`\(s.flag!.spelled)`"), "docs/settings.md lacks \(s.flag!.spelled)")
        }
    }

    /// `sega settings --json` (what scripts read the default sources and targets from).
    func testSettingsJSON() throws {
        let r = try runSega(["settings", "--json"])
        XCTAssertEqual(r.status, 0, r.err)
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        XCTAssertEqual(root["default_sources"] as? [String], AttackSettings.defaultSources)
        XCTAssertEqual(root["default_targets"] as? [String], AttackSettings.defaultTargets)
        let ids = (root["settings"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, AttackSettingID.allCases.map(\.rawValue))
    }
}
