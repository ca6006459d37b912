import SegaAttack
import SegaModels
import SegaRuntime

// MARK: - Eval records on disk

/// An eval report directory: REPORT/records/METHOD/NAME.json, REPORT/attacked/METHOD/NAME.png,
/// REPORT/sheets/NAME.png.
struct RecordStore {
    let dir: String
    /// The listed images' content fingerprints by name ("image_fingerprint" in their records).
    let images: [String: String]

    /// The fingerprint a record of image `name` must carry ("" if unknown: no record matches).
    func fingerprint(of name: String) -> String { images[name] ?? "" }

    func recordPath(_ m: AttackMethod, _ name: String) -> String { "\(dir)/records/\(m.rawValue)/\(name).json" }
    func attackedPath(_ m: AttackMethod, _ name: String) -> String { "\(dir)/attacked/\(m.rawValue)/\(name).png" }
    func sheetPath(_ name: String) -> String { "\(dir)/sheets/\(name).png" }

    /// What a rerun finds for `m` on image `name` with these keys and SSIM levels (ascending).
    func state(_ m: AttackMethod, _ name: String, key: RecordKey, targets: TargetKey, taus: [Double]) -> RecordState {
        guard let text = try? FileSystem.readText(recordPath(m, name), what: "record"),
              let v = try? JSONParser.parse(text), v["settings"] == .string(key.text),
              v["image_fingerprint"] == .string(fingerprint(of: name)),
              let r = RecordStore.record(v) else { return .missing }
        if v["target_weights"] == .string(targets.weights), let ms = RecordStore.matched(v, targets: r.clean.count),
           ms.map(\.tau) == taus {
            return .complete(r)
        }
        let png = attackedPath(m, name)
        guard case .string(let fp)? = v["attacked_png"], (try? NamedModel.fingerprint(png)) == fp else { return .missing }
        return .refresh(v, png)
    }

    /// The record `v` with its target fields and its SSIM-matched results replaced (every other
    /// field, order included, kept; `matched` last when new, dropped when nil), as text: byte for
    /// byte the record a fresh run on those targets and levels writes.
    static func rewrite(_ v: JSONValue, _ t: TargetKey, clean: [Double], attacked: [Double], matched: JSONValue?) -> String {
        guard case .object(let kv) = v else { return "" }
        var fresh: [(String, JSONValue)] = [("targets", .string(t.names)), ("target_weights", .string(t.weights)),
                                            ("target_clean", .array(clean.map { .number($0) })),
                                            ("target_attacked", .array(attacked.map { .number($0) }))]
        if let matched { fresh.append(("matched", matched)) }
        var out: [(String, JSONValue)] = []
        for (k, x) in kv where k != "matched" || matched != nil {
            if let f = fresh.first(where: { $0.0 == k }) { out.append(f) } else { out.append((k, x)) }
        }
        for f in fresh where !out.contains(where: { $0.0 == f.0 }) { out.append(f) }
        return JSONWriter.text(.object(out))
    }

    /// The report's view of a parsed record, or nil if a field is missing or malformed (SSIM-matched
    /// results that are malformed are left out: the record is then re-matched).
    static func record(_ v: JSONValue) -> Report.Record? {
        func num(_ k: String) -> Double? { if case .number(let d)? = v[k] { return d }; return nil }
        // JSON has no NaN or infinity: the writer stores them as null. SSIM is NaN where it is
        // undefined; PSNR is +infinity for an unchanged image.
        func metric(_ k: String, null: Double) -> Double? { v[k] == .null ? null : num(k) }
        guard let c = numbers(v["target_clean"]), let a = numbers(v["target_attacked"]), c.count == a.count,
              let ssim = metric("ssim", null: .nan), let psnr = metric("psnr", null: .infinity), let secs = num("seconds"),
              let calls = num("gradient_calls") else { return nil }
        return Report.Record(clean: c, attacked: a, ssim: ssim, psnr: psnr, seconds: secs, gradientCalls: calls,
                             matched: matched(v, targets: c.count) ?? [])
    }

    /// A record's SSIM-matched results ([] when it has none), or nil when malformed.
    static func matched(_ v: JSONValue, targets: Int) -> [Report.Matched]? {
        guard let field = v["matched"] else { return [] }
        guard case .array(let items) = field else { return nil }
        var out: [Report.Matched] = []
        for e in items {
            func num(_ k: String) -> Double? { if case .number(let d)? = e[k] { return d }; return nil }
            // null: SSIM undefined (image under 11x11), PSNR infinite (the clean image kept).
            func metric(_ k: String, null: Double) -> Double? { e[k] == .null ? null : num(k) }
            guard let tau = num("tau"), let c = num("c"), let ssim = metric("ssim", null: .nan),
                  let psnr = metric("psnr", null: .infinity), let linf = num("linf"),
                  case .string(let status)? = e["status"], let scores = numbers(e["target_attacked"]), scores.count == targets
            else { return nil }
            out.append(Report.Matched(tau: tau, c: c, ssim: ssim, psnr: psnr, linf: linf, attacked: scores, status: status))
        }
        return out
    }

    static func numbers(_ v: JSONValue?) -> [Double]? {
        guard case .array(let a)? = v else { return nil }
        var o: [Double] = []
        for e in a { guard case .number(let d) = e else { return nil }; o.append(d) }
        return o
    }
}
