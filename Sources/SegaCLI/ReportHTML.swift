import SegaModels
import SegaRuntime

// MARK: - index.html

extension Report {
    /// index.html: one self-contained page (no scripts, nothing from the network; the charts and
    /// sheets referenced relatively inside the report folder): what was run, the settings, the
    /// robustness reading, the charts, every table of report.md, and per image with a sheet its
    /// labelled panels and each target's score before and after every method.
    public static func html(_ d: Document) -> String {
        var s = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        s += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>sega eval report</title>\n"
        s += "<style>\n\(css)</style>\n</head>\n<body>\n<h1>sega eval</h1>\n"
        s += intro(d).map { "<p>\(escapeHTML($0))</p>\n" }.joined()
        s += "<h2 id=\"settings\">Settings</h2>\n" + settingsTable(d.header).html
        s += "<h2 id=\"robustness\">Robustness reading</h2>\n<p>\(escapeHTML(robustnessText(d)))</p>\n" + (robustnessTable(d)?.html ?? "")
        s += "<h2 id=\"charts\">Charts</h2>\n" + figure("srocc.svg", alt: "bar chart of SROCC per method and target with 95% intervals",
                                                        caption: "SROCC(clean, attacked) per method and target at equal eps; lines: 95% intervals.")
        s += figure("transfer.svg", alt: "SROCC against mean SSIM per target, one line per method",
                    caption: "Per target, SROCC against mean SSIM: each method's operating points (open square: equal eps; dots: matched SSIM levels), with 95% intervals. Lower and further right is a better attack.")
        for p in d.points {
            s += "<h2>\(escapeHTML(pointName(p.tau)))</h2>\n<p>\(escapeHTML(pointText(p)))</p>\n" + untimed(methodTable(p)).html
            s += "<h3>SROCC per target</h3>\n" + sroccTable(d.header, p).html
            s += "<h3>Every metric</h3>\n" + metricsTable(d.header, p).html
            if let t = pairedTable(d.header, p) { s += "<h3>Paired SROCC differences on the same images</h3>\n" + t.html }
        }
        s += imagesSection(d)
        return s + "</body>\n</html>\n"
    }

    /// The table without its timing column (seconds per image, in report.md and report.csv): the
    /// page is then the same bytes for the same records whatever machine measured them.
    static func untimed(_ t: Table) -> Table {
        guard let k = t.head.firstIndex(of: "s/image") else { return t }
        var out = t
        out.head.remove(at: k)
        out.rows = t.rows.map { r in var r = r; r.remove(at: k); return r }
        return out
    }

    static let css = """
    body { font-family: sans-serif; max-width: 1180px; margin: 1.5em auto; padding: 0 1em; color: #222; line-height: 1.4; }
    h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
    table { border-collapse: collapse; margin: 0.4em 0 1em; font-size: 90%; }
    th, td { border: 1px solid #ccc; padding: 2px 7px; text-align: right; white-space: nowrap; }
    th { background: #f3f3f3; }
    td:first-child, th:first-child { text-align: left; }
    figure { margin: 1em 0; }
    figure img { max-width: 100%; border: 1px solid #eee; }
    figcaption { color: #555; font-size: 90%; }

    """

    static func figure(_ src: String, alt: String, caption: String) -> String {
        "<figure><img src=\"\(urlPath(src))\" alt=\"\(escapeHTML(alt))\"><figcaption>\(escapeHTML(caption))</figcaption></figure>\n"
    }

    /// A relative path with each segment percent-encoded where a URL needs it.
    static func urlPath(_ p: String) -> String {
        var out = ""
        for b in p.utf8 {
            let c = Character(Unicode.Scalar(b))
            if c.isASCII && (c.isLetter || c.isNumber || "-._~/".contains(c)) { out.append(c) }
            else { out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true) }
        }
        return out
    }

    /// The settings from the settings table (its titles), with the sources and targets.
    static func settingsTable(_ h: Header) -> Table {
        let titles = settingTitles()
        var t = Table(head: ["setting", "value"])
        t.rows = [["sources", h.sources.joined(separator: ", ")], ["targets", h.targets.joined(separator: ", ")]]
        if !h.taus.isEmpty { t.rows.append(["SSIM levels (--match-ssim)", h.taus.map(tauText).joined(separator: ", ")]) }
        for (key, v) in settingsObject(h.config) { t.rows.append([titles[key] ?? key, JSONWriter.text(v).trimming("\"")]) }
        return t
    }

    /// Per image with a sheet: the sheet, and per target the clean score and each method's
    /// attacked score (equal eps) with its change.
    static func imagesSection(_ d: Document) -> String {
        var s = "<h2 id=\"images\">Images</h2>\n"
        guard !d.sheets.isEmpty else {
            return s + "<p>No sheets: they are drawn for SEGA on the first --sheets images.</p>\n"
        }
        let methods = d.points.first?.rows.map(\.method) ?? []
        let panels = Report.panels(d.header.config)
        let caption = "Panels: " + panels.map(\.label).joined(separator: "; ")
            + ". The perturbation panel is amplified: mid-grey is no change, black and white are -eps and +eps."
        for name in d.sheets {
            s += "<h3>\(escapeHTML(name))</h3>\n" + figure("sheets/\(name).png", alt: "sheet of \(name)", caption: caption)
            let recs = d.records.map { rs in rs.first { $0.image == name } }
            guard let clean = recs.compactMap({ $0?.clean }).first else { continue }
            var t = Table(head: ["target", "clean"] + methods)
            for (i, target) in d.header.targets.enumerated() {
                t.rows.append([target, f(clean[i], 2)] + recs.map { r in r.map { "\(f($0.attacked[i], 2)) (\(signed($0.attacked[i] - clean[i], 2)))" } ?? "-" })
            }
            t.rows.append(["SSIM", "1"] + recs.map { r in r.map { f($0.ssim) } ?? "-" })
            s += t.html
        }
        return s
    }
}
