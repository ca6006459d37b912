// MARK: - srocc.svg and transfer.svg/png

extension Report {
    /// Colours of targets (bar chart) and methods (curves).
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f", "#ff9da7", "#5f6b6d", "#8cd17d", "#d4a6c8"]

    /// Grouped bar chart at equal eps: SROCC(clean, attacked) per method (groups) and target
    /// (bars), each bar with its 95% interval.
    public static func svg(_ h: Header, _ rows: [Row]) -> String { barChart(h, rows).svg() }

    static func barChart(_ h: Header, _ rows: [Row]) -> ReportScene {
        let bw = 22.0, gap = 18.0, left = 50.0, top = 30.0, ph = 220.0
        let groupW = Double(max(h.targets.count, 1)) * bw + gap
        let legend = h.targets.map { 22 + 6.2 * Double($0.count) }.reduce(0, +)
        let title = "SROCC(clean, attacked) at equal eps, with 95% intervals (lower = stronger attack)"
        let width = max(left + Double(rows.count) * groupW + 20, left + legend + 20, left + 7.5 * Double(title.count)), height = top + ph + 70
        var s = ReportScene(width: width, height: height)
        s.add(.text(x: left, y: 18, title, size: 13))
        // Axis -1..1 (an attack that inverts the ranking gives a negative SROCC), zero line darker.
        func yOf(_ v: Double) -> Double { top + ph * (1 - v) / 2 }
        for k in -5...5 {
            let v = Double(k) / 5, y = yOf(v)
            s.add(.line(x1: left, y1: y, x2: width - 10, y2: y, stroke: k == 0 ? "#888888" : "#dddddd"))
            s.add(.text(x: left - 34, y: y + 4, f(v, 1)))
        }
        for (i, r) in rows.enumerated() {
            let gx = left + Double(i) * groupW + gap / 2
            for (t, fig) in r.perTarget.enumerated() {
                let v = fig.srocc.isNaN ? 0 : min(max(fig.srocc, -1), 1), x = gx + Double(t) * bw
                s.add(.rect(x: x, y: min(yOf(v), yOf(0)), w: bw - 2, h: abs(yOf(v) - yOf(0)), fill: palette[t % palette.count],
                            title: "\(r.method) / \(h.targets[t]): \(withInterval(fig[.srocc]))"))
                errorBar(&s, x: x + (bw - 2) / 2, lo: fig.sroccLo, hi: fig.sroccHi, y: yOf)
            }
            s.add(.text(x: gx, y: top + ph + 16, r.method))
        }
        var x = left
        for (t, name) in h.targets.enumerated() {
            s.add(.rect(x: x, y: top + ph + 34, w: 12, h: 12, fill: palette[t % palette.count]))
            s.add(.text(x: x + 16, y: top + ph + 44, name))
            x += 22 + 6.2 * Double(name.count)
        }
        s.add(.text(x: left, y: top + ph + 62, "bars: SROCC; lines: 95% percentile-bootstrap interval over the images", size: 10, fill: "#555555"))
        return s
    }

    /// A vertical interval with caps (nothing when it is not finite).
    static func errorBar(_ s: inout ReportScene, x: Double, lo: Double, hi: Double, y: (Double) -> Double, color: String = "#333333") {
        guard lo.isFinite, hi.isFinite else { return }
        let a = y(max(min(lo, 1), -1)), b = y(max(min(hi, 1), -1))
        s.add(.line(x1: x, y1: a, x2: x, y2: b, stroke: color, width: 1.2))
        s.add(.line(x1: x - 3, y1: a, x2: x + 3, y2: a, stroke: color, width: 1.2))
        s.add(.line(x1: x - 3, y1: b, x2: x + 3, y2: b, stroke: color, width: 1.2))
    }

    // MARK: The transfer curves

    static let panelW = 430.0, panelH = 330.0

    /// Per target, SROCC (y) against mean SSIM (x): each method a line through its operating
    /// points (open square: equal eps; dots: matched SSIM levels) with 95% intervals.
    static func transferChart(_ d: Document) -> ReportScene {
        let n = d.header.targets.count, cols = n >= 2 ? 2 : 1, rows = (max(n, 1) + cols - 1) / cols
        let methods = d.points.first?.rows.map(\.method) ?? []
        let legendRows = (methods.count + 4) / 5
        var s = ReportScene(width: Double(cols) * panelW + 20, height: 34 + Double(rows) * panelH + 40 + Double(legendRows) * 18)
        s.add(.text(x: 12, y: 20, "SROCC(clean, attacked) against mean SSIM, per target (lower = ranking moved more)", size: 13))
        for t in 0..<n {
            transferPanel(&s, d, target: t, x: 10 + Double(t % cols) * panelW, y: 34 + Double(t / cols) * panelH)
        }
        var y = 34 + Double(rows) * panelH + 12
        for (i, m) in methods.enumerated() {
            if i % 5 == 0 && i > 0 { y += 18 }
            let x = 20 + Double(i % 5) * 150, c = palette[i % palette.count]
            s.add(.line(x1: x, y1: y - 4, x2: x + 22, y2: y - 4, stroke: c, width: 2))
            s.add(.circle(cx: x + 11, cy: y - 4, r: 3.5, fill: c))
            s.add(.text(x: x + 28, y: y, m))
        }
        s.add(.text(x: 20, y: y + 22, "open square: equal eps (the attack as it is); dots: each image scaled to SSIM tau (--match-ssim); lines: 95% intervals",
                    size: 10, fill: "#555555"))
        return s
    }

    /// One method's operating points on one target: (mean SSIM, SROCC estimate, equal eps?).
    static func curve(_ d: Document, method m: Int, target t: Int) -> [(x: Double, e: Estimate, raw: Bool)] {
        d.points.compactMap { p in
            guard m < p.rows.count else { return nil }
            let r = p.rows[m], e = r.perTarget[t][.srocc]
            return r.meanSSIM.isFinite && e.value.isFinite ? (r.meanSSIM, e, p.tau == nil) : nil
        }.sorted { $0.x < $1.x }
    }

    /// Axis range and tick step covering `values` (and `base`), rounded to ticks.
    static func axis(_ values: [Double], step: Double, lo: Double, hi: Double) -> (lo: Double, hi: Double, step: Double) {
        let v = values.filter(\.isFinite)
        guard let mn = v.min(), let mx = v.max() else { return (lo, hi, step) }
        var a = max(lo, ((mn - step / 4) / step).rounded(.down) * step), b = min(hi, ((mx + step / 4) / step).rounded(.up) * step)
        if b - a < step { a = max(lo, a - step); b = min(hi, b + step) }
        return (a, b, (b - a) / step > 8 ? step * 2 : step)
    }

    static func transferPanel(_ s: inout ReportScene, _ d: Document, target t: Int, x ox: Double, y oy: Double) {
        let methods = d.points.first?.rows.count ?? 0
        let curves = (0..<methods).map { curve(d, method: $0, target: t) }
        let all = curves.flatMap { $0 }
        let xa = axis(all.map(\.x) + d.header.taus, step: 0.05, lo: 0, hi: 1)
        let ya = axis(all.flatMap { [$0.e.value, $0.e.lo, $0.e.hi] }, step: 0.1, lo: -1, hi: 1)
        let x0 = ox + 50, x1 = ox + panelW - 20, y0 = oy + 30, y1 = oy + panelH - 50
        func px(_ v: Double) -> Double { x0 + (v - xa.lo) / (xa.hi - xa.lo) * (x1 - x0) }
        func py(_ v: Double) -> Double { y1 - (v - ya.lo) / (ya.hi - ya.lo) * (y1 - y0) }
        s.add(.text(x: x0, y: oy + 14, d.header.targets[t], size: 13))
        s.add(.text(x: x0 - 44, y: y0 - 8, "SROCC", size: 10, fill: "#555555"))
        gridAndTicks(&s, xa: xa, ya: ya, px: px, py: py, box: (x0, y0, x1, y1))
        for tau in d.header.taus where tau >= xa.lo && tau <= xa.hi {
            s.add(.line(x1: px(tau), y1: y0, x2: px(tau), y2: y1, stroke: "#aaaaaa", dashed: true))
            s.add(.text(x: px(tau), y: y0 - 3, "τ \(tauText(tau))", size: 9, fill: "#777777", anchor: .middle))
        }
        for (m, c) in curves.enumerated() {
            let color = palette[m % palette.count], name = d.points[0].rows[m].method
            if c.count >= 2 { s.add(.polyline(c.map { (px($0.x), py($0.e.value)) }, stroke: color, width: 1.8)) }
            for p in c {
                errorBar(&s, x: px(p.x), lo: p.e.lo, hi: p.e.hi, y: py, color: color)
                let tip = "\(name), \(p.raw ? "equal eps" : "matched"): SROCC \(withInterval(p.e)), mean SSIM \(f(p.x))"
                if p.raw {
                    s.add(.rect(x: px(p.x) - 4, y: py(p.e.value) - 4, w: 8, h: 8, fill: "#ffffff", stroke: color, title: tip))
                } else {
                    s.add(.circle(cx: px(p.x), cy: py(p.e.value), r: 3.5, fill: color, title: tip))
                }
            }
        }
        s.add(.text(x: (x0 + x1) / 2, y: y1 + 34, "mean SSIM (clean, attacked)", size: 10, fill: "#555555", anchor: .middle))
    }

    /// Tick values lo, lo + step, ... up to hi (whole multiples of the step, so 0 is exactly 0).
    static func ticks(_ a: (lo: Double, hi: Double, step: Double)) -> [Double] {
        let k0 = Int((a.lo / a.step - 1e-9).rounded(.up)), k1 = Int((a.hi / a.step + 1e-9).rounded(.down))
        return k0 <= k1 ? (k0...k1).map { Double($0) * a.step } : []
    }

    static func gridAndTicks(_ s: inout ReportScene, xa: (lo: Double, hi: Double, step: Double), ya: (lo: Double, hi: Double, step: Double),
                             px: (Double) -> Double, py: (Double) -> Double, box: (Double, Double, Double, Double)) {
        let (x0, y0, x1, y1) = box
        for v in ticks(xa) {
            s.add(.line(x1: px(v), y1: y0, x2: px(v), y2: y1, stroke: "#eeeeee"))
            s.add(.text(x: px(v), y: y1 + 16, f(v, 2), size: 10, anchor: .middle))
        }
        for v in ticks(ya) {
            s.add(.line(x1: x0, y1: py(v), x2: x1, y2: py(v), stroke: v == 0 ? "#999999" : "#eeeeee"))
            s.add(.text(x: x0 - 6, y: py(v) + 4, f(v, 1), size: 10, anchor: .end))
        }
        s.add(.rect(x: x0, y: y0, w: x1 - x0, h: y1 - y0, fill: nil, stroke: "#888888"))
    }
}
