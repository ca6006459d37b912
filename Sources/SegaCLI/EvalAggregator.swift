import SegaAttack
import SegaRuntime

// MARK: - The eval report

/// Aggregates every complete record present (this shard's and others') into the report:
/// report.md, report.csv, report.json, srocc.svg, transfer.svg, transfer.png and index.html.
/// The report depends on the records, the options and the sheets present alone, so a full run
/// and --report-only over the same folder write the same bytes.
enum EvalAggregator {
    /// PNG pixels per SVG unit of transfer.png.
    static let pngScale = 2.0

    /// Writes the report; returns the number of images with every method's record.
    /// The files `write` makes in the report directory.
    static let reportFiles = ["report.md", "report.csv", "report.json", "srocc.svg", "transfer.svg", "transfer.png", "index.html"]

    static func write(_ plan: EvalPlan) throws -> Int {
        let doc = document(plan)
        let dir = plan.options.outDir
        try OutputFiles.writeText(Report.markdown(doc), to: "\(dir)/report.md")
        try OutputFiles.writeText(Report.csv(doc), to: "\(dir)/report.csv")
        try OutputFiles.writeText(Report.json(doc), to: "\(dir)/report.json")
        try OutputFiles.writeText(Report.barChart(doc.header, doc.points[0].rows).svg(), to: "\(dir)/srocc.svg")
        let transfer = Report.transferChart(doc)
        try OutputFiles.writeText(transfer.svg(), to: "\(dir)/transfer.svg")
        try OutputFiles.writePNG(transfer.raster(scale: pngScale), to: "\(dir)/transfer.png")
        try OutputFiles.writeText(Report.html(doc), to: "\(dir)/index.html")
        return doc.header.complete
    }

    /// The figures of every complete record, per operating point.
    static func document(_ plan: EvalPlan) -> Report.Document {
        let o = plan.options
        var byMethod: [[Report.Record]] = []
        var complete = Set(plan.all.map(\.name))
        for m in o.methods {
            var recs: [Report.Record] = []
            for it in plan.all {
                if case .complete(var r) = plan.store.state(m, it.name, key: plan.key(m), targets: plan.targetKey, taus: o.matchSSIM) {
                    r.image = it.name
                    recs.append(r)
                } else { complete.remove(it.name) }
            }
            byMethod.append(recs)
        }
        let targets = plan.targets.map { ($0.name, $0.model.scoreRange) }
        let points = Report.points(methods: o.methods.map(\.rawValue), records: byMethod, targets: targets, taus: o.matchSSIM)
        let header = Report.Header(sources: plan.sources.map(\.name), targets: plan.targets.map(\.name), config: o.config,
                                   images: plan.all.count, complete: complete.count, taus: o.matchSSIM)
        // A sheet is drawn when SEGA attacks the image: shown with a complete SEGA record only.
        let segaDone = Set(o.methods.firstIndex(of: .sega).map { byMethod[$0].map(\.image) } ?? [])
        let sheets = plan.all.filter { plan.wantsSheet(.sega, $0) && segaDone.contains($0.name)
            && FileSystem.isRegularFile(plan.store.sheetPath($0.name)) }.map(\.name)
        return Report.Document(header: header, points: points, records: byMethod, sheets: sheets, imageNames: plan.all.map(\.name))
    }
}
