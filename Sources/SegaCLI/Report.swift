import SegaAttack
import SegaIO
import SegaModels

// MARK: - Evaluation report

/// Aggregation and rendering of `sega eval` results (Markdown, CSV, JSON, SVG bar chart, PNG sheets).
public enum Report {
    /// One image attacked by one method.
    public struct Record: Sendable {
        /// The image's name (pairs records of two methods in a paired comparison).
        public var image: String = ""
        public var clean: [Double], attacked: [Double]
        public var ssim: Double, psnr: Double, seconds: Double, gradientCalls: Double
    }

    /// Per-target figures of one method.
    public struct TargetFigures: Sendable {
        public var srocc = Double.nan, plcc = Double.nan, krocc = Double.nan, r = Double.nan, meanAbsDelta = Double.nan
        /// 95% percentile-bootstrap interval of srocc over the images (Metrics.bootstrapInterval).
        public var sroccLo = Double.nan, sroccHi = Double.nan
    }

    /// One method's row.
    public struct Row: Sendable {
        public var method: String
        public var images: Int
        public var perTarget: [TargetFigures]
        public var meanSSIM: Double, meanPSNR: Double, secondsPerImage: Double, gradientCalls: Double
        /// Per target: SROCC(this) - SROCC(reference) on the images both have, with its paired
        /// 95% bootstrap interval (images resampled jointly); nil for the reference row itself.
        public var versus: [(delta: Double, lo: Double, hi: Double)]? = nil
    }

    /// Fill each row's `versus` against `rows[0]` (the report's first method), pairing records by image.
    public static func pair(_ rows: inout [Row], records: [[Record]]) {
        guard rows.count >= 2, records.count == rows.count else { return }
        let ref = Dictionary(records[0].map { ($0.image, $0) }, uniquingKeysWith: { a, _ in a })
        for m in 1..<rows.count {
            let both = records[m].compactMap { r in ref[r.image].map { (r, $0) } }
            var v: [(delta: Double, lo: Double, hi: Double)] = []
            for t in rows[m].perTarget.indices {
                func srocc(_ idx: [Int]) -> Double {
                    let x = idx.map { both[$0] }
                    return Metrics.srocc(x.map { $0.0.clean[t] }, x.map { $0.0.attacked[t] })
                        - Metrics.srocc(x.map { $0.1.clean[t] }, x.map { $0.1.attacked[t] })
                }
                let ci = Metrics.bootstrapInterval(count: both.count, statistic: srocc)
                v.append((both.count >= 2 ? srocc(Array(both.indices)) : .nan, ci.lo, ci.hi))
            }
            rows[m].versus = v
        }
    }

    public struct Header {
        public var sources: [String], targets: [String]
        public var config: AttackConfig
        public var images: Int, complete: Int
    }

    public static func aggregate(method: String, records: [Record], targets: [(String, (lo: Double, hi: Double))]) -> Row {
        var per: [TargetFigures] = []
        for (t, range) in targets.enumerated().map({ ($0.offset, $0.element.1) }) {
            let c = records.map { $0.clean[t] }, a = records.map { $0.attacked[t] }
            var f = TargetFigures()
            if records.count >= 2 {
                f.srocc = Metrics.srocc(c, a); f.plcc = Metrics.plcc(c, a); f.krocc = Metrics.krocc(c, a)
                (f.sroccLo, f.sroccHi) = Metrics.bootstrapInterval(c, a)
            }
            if !records.isEmpty {
                f.r = Metrics.robustness(clean: c, attacked: a, lo: range.lo, hi: range.hi)
                f.meanAbsDelta = Metrics.meanAbsDelta(clean: c, attacked: a)
            }
            per.append(f)
        }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
        return Row(method: method, images: records.count, perTarget: per,
                   meanSSIM: mean(records.map(\.ssim)), meanPSNR: mean(records.map { min($0.psnr, 99) }),
                   secondsPerImage: mean(records.map(\.seconds)), gradientCalls: mean(records.map(\.gradientCalls)))
    }

    static func f(_ v: Double, _ digits: Int = 4) -> String {
        if v.isNaN { return "n/a" }
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let r = (v * p).rounded() / p
        var s = "\(r)"
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        } else if !s.contains("e") { s += "." + String(repeating: "0", count: digits) }
        return s
    }

    /// The settings line ("eps 8.00/255, alpha 2.00/255, T 10, ..."): each setting's report part
    /// (AttackSettings), in rank order.
    static func settings(_ c: AttackConfig) -> String {
        var s = ""
        for setting in AttackSettings.all.filter({ $0.report != nil }).sorted(by: { $0.report!.rank < $1.report!.rank }) {
            let part = setting.report!, v = setting.value(c)
            if part.omitAtDefault && v == setting.defaultValue { continue }
            s += (s.isEmpty ? "" : part.joiner) + text(part, v)
        }
        return s
    }

    /// One part of the settings line.
    static func text(_ part: ReportPart, _ v: SettingValue) -> String {
        switch part.style {
        case .plain: return "\(part.label) \(v)\(part.unit)"
        case .fixed(let digits, let scale): return "\(part.label) \(f((v.number ?? .nan) * scale, digits))\(part.unit)"
        case .marker: return v == .bool(true) ? part.label : ""
        }
    }

    public static func markdown(_ h: Header, _ rows: [Row]) -> String {
        var s = "# sega eval\n\n"
        s += "Sources: \(h.sources.joined(separator: ", ")). Targets: \(h.targets.joined(separator: ", ")). "
        s += "Images: \(h.complete) of \(h.images) complete. Settings: \(settings(h.config)).\n\n"
        s += "SROCC/PLCC/KROCC: between each target's clean and attacked predictions (lower = the attack moved the ranking more). "
        s += "R: robustness, mean log10(max(s - lo, hi - s) / |s' - s|) (lower = less robust). "
        s += "95% CI: percentile bootstrap of the SROCC over the images (2000 resamples); "
        s += "methods whose intervals overlap widely are not separated by this many images.\n\n"
        var head = "| method |", sep = "|---|"
        for t in h.targets {
            head += " \(t) SROCC | \(t) SROCC 95% CI | \(t) PLCC | \(t) KROCC | \(t) R | \(t) mean abs delta |"
            sep += "---|---|---|---|---|---|"
        }
        head += " mean SSIM | mean PSNR | grad calls | s/image | images |"
        sep += "---|---|---|---|---|"
        s += head + "\n" + sep + "\n"
        for r in rows {
            var line = "| \(r.method) |"
            for t in r.perTarget { line += " \(f(t.srocc)) | [\(f(t.sroccLo, 2)), \(f(t.sroccHi, 2))] | \(f(t.plcc)) | \(f(t.krocc)) | \(f(t.r, 3)) | \(f(t.meanAbsDelta, 2)) |" }
            line += " \(f(r.meanSSIM)) | \(f(r.meanPSNR, 2)) | \(f(r.gradientCalls, 0)) | \(f(r.secondsPerImage, 2)) | \(r.images) |"
            s += line + "\n"
        }
        if rows.count >= 2, rows.dropFirst().contains(where: { $0.versus != nil }) {
            s += "\nPaired: SROCC(method) - SROCC(\(rows[0].method)) per target on the same images, with a 95% bootstrap "
            s += "interval (images resampled jointly). An interval that excludes 0 separates the two methods; "
            s += "negative means the method moved the ranking more than \(rows[0].method).\n\n"
            s += "| method |" + h.targets.map { " \($0) delta SROCC | 95% CI |" }.joined() + "\n"
            s += "|---|" + String(repeating: "---|---|", count: h.targets.count) + "\n"
            for r in rows.dropFirst() {
                guard let v = r.versus else { continue }
                s += "| \(r.method) |" + v.map { " \(f($0.delta)) | [\(f($0.lo, 2)), \(f($0.hi, 2))] |" }.joined() + "\n"
            }
        }
        return s
    }

    public static func csv(_ h: Header, _ rows: [Row]) -> String {
        var head = ["method"]
        for t in h.targets {
            head += ["\(t)_srocc", "\(t)_plcc", "\(t)_krocc", "\(t)_r", "\(t)_mean_abs_delta", "\(t)_srocc_ci_lo", "\(t)_srocc_ci_hi"]
        }
        head += ["mean_ssim", "mean_psnr", "gradient_calls", "seconds_per_image", "images"]
        var s = head.joined(separator: ",") + "\n"
        for r in rows {
            var v = [r.method]
            for t in r.perTarget {
                v += [t.srocc, t.plcc, t.krocc, t.r, t.meanAbsDelta, t.sroccLo, t.sroccHi].map { JSONWriter.number($0) }
            }
            v += [r.meanSSIM, r.meanPSNR, r.gradientCalls, r.secondsPerImage].map { JSONWriter.number($0) } + ["\(r.images)"]
            s += v.joined(separator: ",") + "\n"
        }
        return s
    }

    public static func json(_ h: Header, _ rows: [Row]) -> String {
        var o = JSONWriter()
        o.add("sources", raw: "[" + h.sources.map(JSONWriter.quote).joined(separator: ",") + "]")
        o.add("targets", raw: "[" + h.targets.map(JSONWriter.quote).joined(separator: ",") + "]")
        o.add("settings", settings(h.config))
        o.add("images", h.images)
        o.add("complete", h.complete)
        var rs: [String] = []
        for r in rows {
            var j = JSONWriter()
            j.add("method", r.method)
            var ts: [String] = []
            for (i, t) in r.perTarget.enumerated() {
                var k = JSONWriter()
                k.add("target", h.targets[i])
                k.add("srocc", t.srocc); k.add("plcc", t.plcc); k.add("krocc", t.krocc); k.add("r", t.r)
                k.add("mean_abs_delta", t.meanAbsDelta)
                k.add("srocc_ci95", raw: "[\(JSONWriter.number(t.sroccLo)),\(JSONWriter.number(t.sroccHi))]")
                if let v = r.versus?[i] {
                    k.add("srocc_minus_\(rows[0].method)", v.delta)
                    k.add("srocc_minus_\(rows[0].method)_ci95", raw: "[\(JSONWriter.number(v.lo)),\(JSONWriter.number(v.hi))]")
                }
                ts.append(k.text)
            }
            j.add("targets", raw: "[" + ts.joined(separator: ",") + "]")
            j.add("mean_ssim", r.meanSSIM); j.add("mean_psnr", r.meanPSNR)
            j.add("gradient_calls", r.gradientCalls); j.add("seconds_per_image", r.secondsPerImage); j.add("images", r.images)
            rs.append(j.text)
        }
        o.add("rows", raw: "[" + rs.joined(separator: ",") + "]")
        return o.text + "\n"
    }

    /// Grouped bar chart: SROCC(clean, attacked) per method (groups) and target (bars).
    public static func svg(_ h: Header, _ rows: [Row]) -> String {
        let colors = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1"]
        let bw = 22.0, gap = 18.0, left = 50.0, top = 30.0, ph = 220.0
        let groupW = Double(max(h.targets.count, 1)) * bw + gap
        let width = left + Double(rows.count) * groupW + 20, height = top + ph + 70
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<text x=\"\(left)\" y=\"18\" font-size=\"13\">SROCC(clean, attacked) per method and target (lower = stronger attack)</text>\n"
        // Axis -1..1 (an attack that inverts the ranking gives a negative SROCC), zero line darker.
        func yOf(_ v: Double) -> Double { top + ph * (1 - v) / 2 }
        for k in -5...5 {
            let v = Double(k) / 5, y = yOf(v)
            s += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(width - 10)\" y2=\"\(y)\" stroke=\"\(k == 0 ? "#888" : "#ddd")\"/><text x=\"\(left - 34)\" y=\"\(y + 4)\">\(f(v, 1))</text>\n"
        }
        for (i, r) in rows.enumerated() {
            let gx = left + Double(i) * groupW + gap / 2
            for (t, fig) in r.perTarget.enumerated() {
                let v = fig.srocc.isNaN ? 0 : min(max(fig.srocc, -1), 1)
                s += "<rect x=\"\(gx + Double(t) * bw)\" y=\"\(min(yOf(v), yOf(0)))\" width=\"\(bw - 2)\" height=\"\(abs(yOf(v) - yOf(0)))\" fill=\"\(colors[t % colors.count])\"><title>\(r.method) / \(h.targets[t]): \(f(fig.srocc))</title></rect>\n"
            }
            s += "<text x=\"\(gx)\" y=\"\(top + ph + 16)\">\(r.method)</text>\n"
        }
        for (t, name) in h.targets.enumerated() {
            let x = left + Double(t) * 140
            s += "<rect x=\"\(x)\" y=\"\(top + ph + 34)\" width=\"12\" height=\"12\" fill=\"\(colors[t % colors.count])\"/><text x=\"\(x + 16)\" y=\"\(top + ph + 44)\">\(name)</text>\n"
        }
        return s + "</svg>\n"
    }

    /// Five panels side by side: clean, attacked, perturbation (0.5 + delta * 0.5 / eps), M^F
    /// (mean over channels), M^JND (white = perturbed).
    public static func sheet(clean: RGBImage, attacked: RGBImage, eps: Float, maskF: [Float], maskJND: [Float]) -> RGBImage {
        let w = clean.width, h = clean.height, plane = w * h, gapPx = 4
        let W = 5 * w + 4 * gapPx
        var out = RGBImage(width: W, height: h, fill: 1)
        func put(_ panel: Int, _ c: Int, _ y: Int, _ x: Int, _ v: Float) {
            out.pixels[c * W * h + y * W + panel * (w + gapPx) + x] = min(max(v, 0), 1)
        }
        for y in 0..<h {
            for x in 0..<w {
                let p = y * w + x
                var mf: Float = 0
                for c in 0..<3 {
                    let a = clean.pixels[c * plane + p], b = attacked.pixels[c * plane + p]
                    put(0, c, y, x, a)
                    put(1, c, y, x, b)
                    put(2, c, y, x, 0.5 + (b - a) * 0.5 / eps)
                    if maskF.count == 3 * plane { mf += maskF[c * plane + p] / 3 }
                }
                let mj = maskJND.count == plane ? maskJND[p] : 0
                for c in 0..<3 { put(3, c, y, x, mf); put(4, c, y, x, mj) }
            }
        }
        return out
    }
}
