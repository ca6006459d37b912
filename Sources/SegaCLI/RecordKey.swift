import SegaAttack
import SegaRuntime

// MARK: - What an eval record was made with

/// What decides an attacked image: the method, its settings, the sources and their weights.
/// Records carry it as "settings", so a rerun with other settings or retrained sources
/// recomputes instead of mixing results. The targets only score the image (`TargetKey`).
struct RecordKey: Equatable {
    /// The settings, with `method` set to the record's method.
    let config: AttackConfig
    let sourceNames: [String]
    /// "name:fingerprint,..." of the sources' weight files.
    let sourceWeights: String

    init(config: AttackConfig, sourceNames: [String], sourceWeights: String) {
        self.config = config
        self.sourceNames = sourceNames
        self.sourceWeights = sourceWeights
    }

    init(_ config: AttackConfig, method: AttackMethod, sources: [NamedModel]) {
        var c = config
        c.method = method
        self.init(config: c, sourceNames: sources.map(\.name), sourceWeights: RecordKey.weights(sources))
    }

    /// "method=..;sources=a,b;eps=..;...;weights=a:FINGERPRINT,b:...": the settings that enter
    /// this method's key (AttackSettings, in table order; the method's part first, then the
    /// sources), then the sources' weights.
    var text: String {
        var f: [String] = []
        for (i, p) in AttackSettings.resumeParts(config).enumerated() {
            f.append("\(p.key)=\(p.value)")
            if i == 0 { f.append("sources=\(sourceNames.joined(separator: ","))") }
        }
        return f.joined(separator: ";") + ";weights=" + sourceWeights
    }

    static func == (a: RecordKey, b: RecordKey) -> Bool { a.text == b.text }

    /// "name:fingerprint,..." of some models.
    static func weights(_ models: [NamedModel]) -> String {
        models.map { "\($0.name):\($0.fingerprint)" }.joined(separator: ",")
    }
}
