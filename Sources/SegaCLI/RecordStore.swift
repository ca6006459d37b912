import SegaAttack
import SegaModels
import SegaRuntime

// MARK: - Eval records on disk

/// An eval report directory: REPORT/records/METHOD/NAME.json, REPORT/attacked/METHOD/NAME.png,
/// REPORT/sheets/NAME.png.
struct RecordStore {
    let dir: String

    func recordPath(_ m: AttackMethod, _ name: String) -> String { "\(dir)/records/\(m.rawValue)/\(name).json" }
    func attackedPath(_ m: AttackMethod, _ name: String) -> String { "\(dir)/attacked/\(m.rawValue)/\(name).png" }
    func sheetPath(_ name: String) -> String { "\(dir)/sheets/\(name).png" }

    func state(_ m: AttackMethod, _ name: String, key: RecordKey, targets: TargetKey) -> RecordState {
        guard let text = try? FileSystem.readText(recordPath(m, name), what: "record"),
              let v = try? JSONParser.parse(text), v["settings"] == .string(key.text) else { return .missing }
        if v["target_weights"] == .string(targets.weights), let r = RecordStore.record(v) { return .complete(r) }
        let png = attackedPath(m, name)
        guard RecordStore.record(v) != nil, case .string(let fp)? = v["attacked_png"],
              (try? NamedModel.fingerprint(png)) == fp else { return .missing }
        return .rescore(v, png)
    }

    /// The record `v` with its target fields replaced (every other field, order included, kept),
    /// as text: byte for byte the record a fresh run on those targets writes.
    static func rewriteTargets(_ v: JSONValue, _ t: TargetKey, clean: [Double], attacked: [Double]) -> String {
        guard case .object(let kv) = v else { return "" }
        let fresh: [(String, JSONValue)] = [("targets", .string(t.names)), ("target_weights", .string(t.weights)),
                                            ("target_clean", .array(clean.map { .number($0) })),
                                            ("target_attacked", .array(attacked.map { .number($0) }))]
        var out: [(String, JSONValue)] = []
        for (k, x) in kv {
            if let f = fresh.first(where: { $0.0 == k }) { out.append(f) } else { out.append((k, x)) }
        }
        for f in fresh where !out.contains(where: { $0.0 == f.0 }) { out.append(f) }
        return JSONWriter.text(.object(out))
    }

    /// The report's view of a parsed record, or nil if a field is missing or malformed.
    static func record(_ v: JSONValue) -> Report.Record? {
        func nums(_ k: String) -> [Double]? {
            guard case .array(let a)? = v[k] else { return nil }
            var o: [Double] = []
            for e in a { guard case .number(let d) = e else { return nil }; o.append(d) }
            return o
        }
        func num(_ k: String) -> Double? { if case .number(let d)? = v[k] { return d }; return nil }
        guard let c = nums("target_clean"), let a = nums("target_attacked"), c.count == a.count,
              let ssim = num("ssim"), let psnr = num("psnr"), let secs = num("seconds"),
              let calls = num("gradient_calls") else { return nil }
        return Report.Record(clean: c, attacked: a, ssim: ssim, psnr: psnr, seconds: secs, gradientCalls: calls)
    }
}
