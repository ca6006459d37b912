import SegaRuntime

// MARK: - report.md, and the tables report.md and index.html share

extension Report {
    /// A table as text cells; rendered as Markdown or HTML.
    struct Table {
        var head: [String]
        var rows: [[String]] = []

        var markdown: String {
            func line(_ cells: [String]) -> String { "| " + cells.map { $0.replacingAll("|", with: "\\|") }.joined(separator: " | ") + " |\n" }
            return line(head) + "|" + String(repeating: "---|", count: head.count) + "\n" + rows.map(line).joined()
        }

        var html: String {
            func cells(_ tag: String, _ c: [String]) -> String { "<tr>" + c.map { "<\(tag)>\(html($0))</\(tag)>" }.joined() + "</tr>\n" }
            return "<table>\n" + cells("th", head) + rows.map { cells("td", $0) }.joined() + "</table>\n"
        }

        func html(_ s: String) -> String { Report.escapeHTML(s) }
    }

    static func escapeHTML(_ s: String) -> String {
        s.replacingAll("&", with: "&amp;").replacingAll("<", with: "&lt;").replacingAll(">", with: "&gt;").replacingAll("\"", with: "&quot;")
    }

    /// report.md: what was run and how to read it, the robustness reading, then per operating
    /// point the per-method figures, the SROCC per target (the ranking at a glance), every
    /// metric per target and the paired differences. Tables stay narrow (one value with its
    /// interval per cell; targets as rows where there would be many columns).
    public static func markdown(_ d: Document) -> String {
        var s = "# sega eval\n\n" + intro(d).map { $0 + "\n\n" }.joined()
        s += "## Robustness reading\n\n" + robustnessText(d) + "\n\n"
        if let t = robustnessTable(d) { s += t.markdown + "\n" }
        for p in d.points {
            s += "## \(pointName(p.tau))\n\n" + pointText(p) + "\n\n" + methodTable(p).markdown
            s += "\nSROCC per target (\(pointName(p.tau))):\n\n" + sroccTable(d.header, p).markdown
            s += "\nEvery metric (\(pointName(p.tau))):\n\n" + metricsTable(d.header, p).markdown
            if let t = pairedTable(d.header, p) { s += "\nPaired SROCC differences on the same images (\(pointName(p.tau))):\n\n" + t.markdown }
            s += "\n"
        }
        return s
    }

    /// The paragraphs before the tables.
    static func intro(_ d: Document) -> [String] {
        let h = d.header
        var out = ["Written by \(h.version). Sources: \(h.sources.joined(separator: ", ")). Targets: \(h.targets.joined(separator: ", ")). "
            + "Images: \(h.complete) of \(h.images) complete. Settings: \(settings(h.config))."]
        if !h.taus.isEmpty {
            out.append("Operating points: equal eps (the attacks as they are) and SSIM \(h.taus.map(tauText).joined(separator: ", ")) "
                + "(per image and method, the perturbation scaled by the largest c in [0, 1] whose 8-bit image keeps SSIM >= the level; "
                + "images whose attack is already above it keep c = 1 and are counted).")
        }
        out.append("SROCC/PLCC/KROCC: between each target's clean and attacked predictions (lower = the attack moved the ranking more). "
            + "R: robustness, mean log10(max(s - lo, hi - s) / |s' - s|) (lower = less robust). "
            + "[lo, hi]: 95% percentile bootstrap over the images (2000 resamples); "
            + "methods whose intervals overlap widely are not separated by this many images. "
            + "Paired: SROCC(method) - SROCC(ref) on the same images, with a 95% bootstrap interval (images resampled jointly); "
            + "an interval that excludes 0 separates the two methods, negative means the method moved the ranking more.")
        return out
    }

    static func robustnessText(_ d: Document) -> String {
        guard d.points.contains(where: { $0.movedBeyondRandom != nil }) else {
            return "Not available: add `random` to --methods (the reading compares every method with random +-eps noise)."
        }
        return "A method moves a target beyond random +-eps noise when its paired interval SROCC(method) - SROCC(random) lies below 0. "
            + "A target no method moves beyond random noise is robust to these attacks at that operating point "
            + "(at each SSIM level random noise is matched to the same SSIM as the others)."
    }

    static func robustnessTable(_ d: Document) -> Table? {
        var t = Table(head: ["operating point", "moved beyond random noise (by)", "moved by no method beyond random noise"])
        for p in d.points {
            guard let moved = p.movedBeyondRandom else { continue }
            var yes: [String] = [], no: [String] = []
            for (i, name) in d.header.targets.enumerated() {
                if !moved[i].isEmpty { yes.append("\(name) (\(moved[i].joined(separator: ", ")))") }
                else { no.append(p.decided[i] ? name : "\(name) (too few images to tell)") }
            }
            t.rows.append([pointName(p.tau), yes.isEmpty ? "none" : yes.joined(separator: "; "), no.isEmpty ? "none" : no.joined(separator: ", ")])
        }
        return t.rows.isEmpty ? nil : t
    }

    static func pointText(_ p: Point) -> String {
        guard let tau = p.tau else { return "The attacks as they are, every method within the same L-infinity budget." }
        return "Every attacked image scaled to SSIM \(tauText(tau)) (c: the scale of its perturbation; already above: the attack "
            + "as it is had SSIM >= \(tauText(tau)), c = 1; unreachable: no 8-bit image with SSIM in [\(tauText(tau)), \(tauText(tau + 0.01))])."
    }

    static func methodTable(_ p: Point) -> Table {
        if p.tau != nil {
            var t = Table(head: ["method", "mean SSIM", "mean c", "already above", "unreachable", "mean PSNR", "images"])
            t.rows = p.rows.map { r in [r.method, f(r.meanSSIM), f(r.meanC, 3), "\(r.alreadyAbove)", "\(r.unreachable)", f(r.meanPSNR, 2), "\(r.images)"] }
            return t
        }
        var t = Table(head: ["method", "mean SSIM", "mean PSNR", "grad calls", "s/image", "images"])
        t.rows = p.rows.map { r in [r.method, f(r.meanSSIM), f(r.meanPSNR, 2), f(r.gradientCalls, 0), f(r.secondsPerImage, 2), "\(r.images)"] }
        return t
    }

    static func sroccTable(_ h: Header, _ p: Point) -> Table {
        var t = Table(head: ["method"] + h.targets.map { "\($0) SROCC [95% CI]" } + ["mean over targets [95% CI]"])
        t.rows = p.rows.map { r in [r.method] + r.perTarget.map { withInterval($0[.srocc]) } + [withInterval(r.meanTargetSROCC)] }
        return t
    }

    static func metricsTable(_ h: Header, _ p: Point) -> Table {
        var t = Table(head: ["target", "method"] + Metric.allCases.map { "\($0.title) [95% CI]" })
        for (i, name) in h.targets.enumerated() {
            for r in p.rows { t.rows.append([name, r.method] + Metric.allCases.map { withInterval(r.perTarget[i][$0]) }) }
        }
        return t
    }

    static func pairedTable(_ h: Header, _ p: Point) -> Table? {
        guard p.rows.count >= 2 else { return nil }
        let random = p.rows.contains { $0.versusRandom != nil }
        var t = Table(head: ["target", "method", "SROCC(method) - SROCC(\(p.rows[0].method)) [95% CI]"]
            + (random ? ["SROCC(method) - SROCC(random) [95% CI]"] : []))
        for (i, name) in h.targets.enumerated() {
            for r in p.rows {
                var row = [name, r.method, r.versus.map { paired($0[i]) } ?? "-"]
                if random { row.append(r.versusRandom.map { paired($0[i]) + ($0[i].below ? " (moved beyond random)" : "") } ?? "-") }
                t.rows.append(row)
            }
        }
        return t
    }

    static func paired(_ v: Paired) -> String { withInterval(Estimate(value: v.delta, lo: v.lo, hi: v.hi), signed: true) }
}
