import SegaModels
import SegaRuntime

// MARK: - report.csv and report.json

extension Report {
    /// report.csv in long format: one row per operating point x method x target x metric
    /// (`tau` empty at equal eps; `target` empty for a method's own figures), columns
    /// tau,method,target,metric,value,ci95_lo,ci95_hi; a missing value is an empty cell.
    public static func csv(_ d: Document) -> String {
        var s = "tau,method,target,metric,value,ci95_lo,ci95_hi\n"
        func cell(_ v: Double) -> String { v.isNaN ? "" : JSONWriter.number(v) }
        for p in d.points {
            let tau = p.tau.map(JSONWriter.number) ?? ""
            func line(_ method: String, _ target: String, _ metric: String, _ e: Estimate) {
                s += CSV.row([tau, method, target, metric, cell(e.value), cell(e.lo), cell(e.hi)]) + "\n"
            }
            for r in p.rows {
                for (t, name) in d.header.targets.enumerated() {
                    for m in Metric.allCases { line(r.method, name, m.rawValue, r.perTarget[t][m]) }
                    if let v = r.versus?[t] { line(r.method, name, "srocc_minus_\(p.rows[0].method)", Estimate(value: v.delta, lo: v.lo, hi: v.hi)) }
                    if let v = r.versusRandom?[t] { line(r.method, name, "srocc_minus_random", Estimate(value: v.delta, lo: v.lo, hi: v.hi)) }
                }
                for (metric, v) in methodFigures(r, matched: p.tau != nil) { line(r.method, "", metric, v) }
            }
        }
        return s
    }

    /// A method's own figures at a point (the mean target SROCC with its interval, the rest plain).
    static func methodFigures(_ r: Row, matched: Bool) -> [(String, Estimate)] {
        var out: [(String, Estimate)] = [("mean_target_srocc", r.meanTargetSROCC), ("mean_ssim", Estimate(value: r.meanSSIM)),
                                         ("mean_psnr", Estimate(value: r.meanPSNR))]
        if matched {
            out += [("mean_c", Estimate(value: r.meanC)), ("already_above", Estimate(value: Double(r.alreadyAbove))),
                    ("unreachable", Estimate(value: Double(r.unreachable)))]
        } else {
            out += [("gradient_calls", Estimate(value: r.gradientCalls)), ("seconds_per_image", Estimate(value: r.secondsPerImage))]
        }
        return out + [("images", Estimate(value: Double(r.images)))]
    }

    /// report.json: sources, targets and methods as arrays; the settings as an object (from the
    /// settings table) and as the report's line; `rows` at equal eps, `matched` per SSIM level;
    /// `robustness` per operating point when random is among the methods.
    public static func json(_ d: Document) -> String {
        let h = d.header
        var o = JSONWriter()
        o.add("version", h.version)
        o.add("sources", h.sources)
        o.add("targets", h.targets)
        o.add("methods", d.points.first?.rows.map(\.method) ?? [])
        o.add("settings", .object(settingsObject(h.config)))
        o.add("settings_text", settings(h.config))
        o.add("images", h.images)
        o.add("complete", h.complete)
        o.add("match_ssim", h.taus)
        o.add("rows", raw: JSONWriter.array(d.points.first.map { p in p.rows.map { jsonRow($0, p, h) } } ?? []))
        o.add("matched", raw: JSONWriter.array(d.points.dropFirst().map { p in
            "{\"tau\":\(JSONWriter.number(p.tau ?? .nan)),\"rows\":" + JSONWriter.array(p.rows.map { jsonRow($0, p, h) }) + "}"
        }))
        if d.points.contains(where: { $0.movedBeyondRandom != nil }) {
            o.add("robustness", raw: JSONWriter.array(d.points.compactMap { p in
                p.movedBeyondRandom.map { moved in
                    let ts = h.targets.enumerated().map { t, name in
                        JSONWriter.text(.object([("target", .string(name)), ("moved_beyond_random_by", .array(moved[t].map { .string($0) })),
                                                 ("decided", .bool(p.decided[t]))]))
                    }
                    return "{\"tau\":\(p.tau.map(JSONWriter.number) ?? "null"),\"targets\":" + JSONWriter.array(ts) + "}"
                }
            }))
        }
        return o.text + "\n"
    }

    static func ci(_ lo: Double, _ hi: Double) -> String { "[\(JSONWriter.number(lo)),\(JSONWriter.number(hi))]" }

    static func jsonRow(_ r: Row, _ p: Point, _ h: Header) -> String {
        var j = JSONWriter()
        j.add("method", r.method)
        var ts: [String] = []
        for (i, t) in r.perTarget.enumerated() {
            var k = JSONWriter()
            k.add("target", h.targets[i])
            for m in Metric.allCases {
                k.add(m.rawValue, t[m].value)
                k.add("\(m.rawValue)_ci95", raw: ci(t[m].lo, t[m].hi))
            }
            if let v = r.versus?[i] {
                k.add("srocc_minus_\(p.rows[0].method)", v.delta)
                k.add("srocc_minus_\(p.rows[0].method)_ci95", raw: ci(v.lo, v.hi))
            }
            if let v = r.versusRandom?[i] {
                k.add("srocc_minus_random", v.delta)
                k.add("srocc_minus_random_ci95", raw: ci(v.lo, v.hi))
            }
            ts.append(k.text)
        }
        j.add("targets", raw: JSONWriter.array(ts))
        j.add("mean_target_srocc", r.meanTargetSROCC.value)
        j.add("mean_target_srocc_ci95", raw: ci(r.meanTargetSROCC.lo, r.meanTargetSROCC.hi))
        j.add("mean_ssim", r.meanSSIM); j.add("mean_psnr", r.meanPSNR)
        if p.tau != nil {
            j.add("mean_c", r.meanC); j.add("already_above", r.alreadyAbove); j.add("unreachable", r.unreachable)
        } else {
            j.add("gradient_calls", r.gradientCalls); j.add("seconds_per_image", r.secondsPerImage)
        }
        j.add("images", r.images)
        return j.text
    }
}
