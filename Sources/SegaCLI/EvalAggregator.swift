import SegaAttack
import SegaRuntime

// MARK: - The eval report

/// Aggregates every record present (this shard's and others') into report.md, report.csv,
/// report.json and srocc.svg.
enum EvalAggregator {
    /// Writes the report; returns the number of images with every method's record.
    static func write(_ plan: EvalPlan) throws -> Int {
        let o = plan.options
        var rows: [Report.Row] = []
        var byMethod: [[Report.Record]] = []
        var complete = Set(plan.all.map(\.name))
        for m in o.methods {
            var recs: [Report.Record] = []
            for it in plan.all {
                if case .complete(var r) = plan.store.state(m, it.name, key: plan.key(m), targets: plan.targetKey) {
                    r.image = it.name
                    recs.append(r)
                } else { complete.remove(it.name) }
            }
            rows.append(Report.aggregate(method: m.rawValue, records: recs, targets: plan.targets.map { ($0.name, $0.model.scoreRange) }))
            byMethod.append(recs)
        }
        Report.pair(&rows, records: byMethod)
        let header = Report.Header(sources: plan.sources.map(\.name), targets: plan.targets.map(\.name), config: o.config,
                                   images: plan.all.count, complete: complete.count)
        try OutputFiles.writeText(Report.markdown(header, rows), to: "\(o.outDir)/report.md")
        try OutputFiles.writeText(Report.csv(header, rows), to: "\(o.outDir)/report.csv")
        try OutputFiles.writeText(Report.json(header, rows), to: "\(o.outDir)/report.json")
        try OutputFiles.writeText(Report.svg(header, rows), to: "\(o.outDir)/srocc.svg")
        return complete.count
    }
}
