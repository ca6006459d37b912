import SegaAttack
import SegaRuntime

// MARK: - The eval report's figures

/// Aggregation and rendering of `sega eval` results. This file: the figures (per operating
/// point, method and target, with bootstrap intervals, paired differences and the robustness
/// reading). ReportMarkdown, ReportData (CSV, JSON), ReportCharts (SVG/PNG), ReportHTML and
/// ReportSheet render them.
public enum Report {
    /// One attacked image scaled to SSIM τ (SSIMMatcher), scored by the targets.
    public struct Matched: Sendable {
        public var tau: Double, c: Double, ssim: Double, psnr: Double, linf: Double
        /// The targets' scores of the matched image.
        public var attacked: [Double]
        /// SSIMMatch.Status's raw value: "scaled", "above" or "unreachable".
        public var status: String
    }

    /// One image attacked by one method.
    public struct Record: Sendable {
        /// The image's name (pairs records of two methods in a paired comparison).
        public var image: String = ""
        public var clean: [Double], attacked: [Double]
        public var ssim: Double, psnr: Double, seconds: Double, gradientCalls: Double
        /// Per SSIM level asked for (ascending).
        public var matched: [Matched] = []

        /// The record at an operating point: as attacked (tau nil), or its image matched to
        /// SSIM tau (scores, SSIM, PSNR of the matched image); nil when it has no such level.
        public func at(_ tau: Double?) -> Record? {
            guard let tau else { return self }
            guard let m = matched.first(where: { $0.tau == tau }) else { return nil }
            var r = self
            r.attacked = m.attacked; r.ssim = m.ssim; r.psnr = m.psnr
            return r
        }
    }

    /// The per-target metrics, in report order.
    public enum Metric: String, CaseIterable, Sendable {
        case srocc, plcc, krocc, r, meanAbsDelta = "mean_abs_delta"

        /// Column title.
        var title: String {
            switch self {
            case .srocc: return "SROCC"
            case .plcc: return "PLCC"
            case .krocc: return "KROCC"
            case .r: return "R"
            case .meanAbsDelta: return "mean abs delta"
            }
        }
    }

    /// A value with its 95% percentile-bootstrap interval over the images.
    public struct Estimate: Sendable {
        public var value = Double.nan, lo = Double.nan, hi = Double.nan
        public init(value: Double = .nan, lo: Double = .nan, hi: Double = .nan) { self.value = value; self.lo = lo; self.hi = hi }
    }

    /// Per-target figures of one method: every Metric with its interval.
    public struct TargetFigures: Sendable {
        public var metrics = [Estimate](repeating: Estimate(), count: Metric.allCases.count)
        public subscript(_ m: Metric) -> Estimate {
            get { metrics[Metric.allCases.firstIndex(of: m)!] }
            set { metrics[Metric.allCases.firstIndex(of: m)!] = newValue }
        }
        public var srocc: Double { self[.srocc].value }
        public var plcc: Double { self[.plcc].value }
        public var krocc: Double { self[.krocc].value }
        public var r: Double { self[.r].value }
        public var meanAbsDelta: Double { self[.meanAbsDelta].value }
        /// 95% percentile-bootstrap interval of srocc over the images (Metrics.bootstrapInterval).
        public var sroccLo: Double { self[.srocc].lo }
        public var sroccHi: Double { self[.srocc].hi }
    }

    /// SROCC(this method) - SROCC(reference) on the images both have, with its paired 95%
    /// bootstrap interval (images resampled jointly).
    public struct Paired: Sendable {
        public var delta: Double, lo: Double, hi: Double
        /// The interval lies below 0: this method moved the ranking more than the reference.
        public var below: Bool { hi < 0 }
    }

    /// One method's row at one operating point.
    public struct Row: Sendable {
        public var method: String
        public var images: Int
        public var perTarget: [TargetFigures]
        public var meanSSIM: Double, meanPSNR: Double, secondsPerImage: Double, gradientCalls: Double
        /// The mean over targets of the SROCC, its interval from resampling images jointly.
        public var meanTargetSROCC = Estimate()
        /// Per target, against the report's first method (nil for that row itself).
        public var versus: [Paired]? = nil
        /// Per target, against `random` (nil for the random row, or without random).
        public var versusRandom: [Paired]? = nil
        /// Matched points only: the mean scale c, images whose attack was already above τ
        /// (c = 1), images whose window was unreachable on the 8-bit grid.
        public var meanC = Double.nan, alreadyAbove = 0, unreachable = 0
    }

    /// The report at one operating point: the attacks as they are (tau nil, equal eps) or
    /// every attacked image matched to SSIM tau.
    public struct Point: Sendable {
        public var tau: Double?
        public var rows: [Row]
        /// Per target, the methods whose paired SROCC interval against random lies below 0;
        /// nil when random is not among the methods.
        public var movedBeyondRandom: [[String]]?
        /// Per target, whether every method's interval against random could be computed.
        public var decided: [Bool] = []
    }

    public struct Header {
        public var sources: [String], targets: [String]
        public var config: AttackConfig
        public var images: Int, complete: Int
        /// The SSIM levels asked for (ascending).
        public var taus: [Double] = []
        /// The sega that wrote the report ("sega 0.4.0").
        public var version = SegaVersion.string
        public init(sources: [String], targets: [String], config: AttackConfig, images: Int, complete: Int, taus: [Double] = []) {
            self.sources = sources; self.targets = targets; self.config = config
            self.images = images; self.complete = complete; self.taus = taus
        }
    }

    /// Everything the renderers need.
    public struct Document {
        public var header: Header
        /// The equal-eps point first, then one per SSIM level.
        public var points: [Point]
        /// Per method (in row order), its complete records.
        public var records: [[Record]]
        /// Images (in list order) with a sheet in REPORT/sheets/.
        public var sheets: [String] = []
        /// Every listed image's name, in list order.
        public var imageNames: [String] = []
    }

    /// The figures at every operating point.
    public static func points(methods: [String], records: [[Record]], targets: [(String, (lo: Double, hi: Double))],
                              taus: [Double]) -> [Point] {
        ([nil] + taus.map { Optional($0) }).map { tau in
            let recs = records.map { $0.compactMap { $0.at(tau) } }
            var rows = zip(methods, recs).map { aggregate(method: $0, records: $1, targets: targets) }
            if let tau {
                for (i, r) in records.enumerated() { matchFigures(&rows[i], r.compactMap { $0.matched.first { $0.tau == tau } }) }
            }
            pair(&rows, records: recs)
            guard let k = methods.firstIndex(of: AttackMethod.random.rawValue) else { return Point(tau: tau, rows: rows) }
            pair(&rows, records: recs, against: k, into: \.versusRandom)
            return Point(tau: tau, rows: rows,
                         movedBeyondRandom: targets.indices.map { t in rows.compactMap { $0.versusRandom?[t].below == true ? $0.method : nil } },
                         decided: targets.indices.map { t in rows.allSatisfy { r in r.versusRandom.map { !$0[t].hi.isNaN } ?? true } })
        }
    }

    static func matchFigures(_ row: inout Row, _ ms: [Matched]) {
        row.meanC = mean(ms.map(\.c))
        row.alreadyAbove = ms.filter { $0.status == SSIMMatch.Status.above.rawValue }.count
        row.unreachable = ms.filter { $0.status == SSIMMatch.Status.unreachable.rawValue }.count
    }

    /// Fill each row's `versus` against `rows[0]` (the report's first method), pairing records by image.
    public static func pair(_ rows: inout [Row], records: [[Record]]) {
        pair(&rows, records: records, against: 0, into: \.versus)
    }

    /// Fill each row's paired differences against row `ref` (pairing records by image name).
    static func pair(_ rows: inout [Row], records: [[Record]], against ref: Int, into field: WritableKeyPath<Row, [Paired]?>) {
        guard rows.count >= 2, records.count == rows.count else { return }
        let refs = Dictionary(records[ref].map { ($0.image, $0) }, uniquingKeysWith: { a, _ in a })
        for m in rows.indices where m != ref {
            let both = records[m].compactMap { r in refs[r.image].map { (r, $0) } }
            var v: [Paired] = []
            for t in rows[m].perTarget.indices {
                let mine = ResampleStats(clean: both.map { $0.0.clean[t] }, attacked: both.map { $0.0.attacked[t] }, range: (0, 1))
                let theirs = ResampleStats(clean: both.map { $0.1.clean[t] }, attacked: both.map { $0.1.attacked[t] }, range: (0, 1))
                let ci = interval(both.count) { k in mine.srocc(k) - theirs.srocc(k) }
                let delta = both.count >= 2 ? Metrics.srocc(mine.clean, mine.attacked) - Metrics.srocc(theirs.clean, theirs.attacked) : .nan
                v.append(Paired(delta: delta, lo: ci.lo, hi: ci.hi))
            }
            rows[m][keyPath: field] = v
        }
    }

    /// One method's row from its records (at one operating point).
    public static func aggregate(method: String, records: [Record], targets: [(String, (lo: Double, hi: Double))]) -> Row {
        let stats = targets.enumerated().map { t, target in
            ResampleStats(clean: records.map { $0.clean[t] }, attacked: records.map { $0.attacked[t] }, range: target.1)
        }
        var row = Row(method: method, images: records.count, perTarget: stats.map(figures),
                      meanSSIM: mean(records.map(\.ssim)), meanPSNR: mean(records.map { min($0.psnr, 99) }),
                      secondsPerImage: mean(records.map(\.seconds)), gradientCalls: mean(records.map(\.gradientCalls)))
        if records.count >= 2 && !targets.isEmpty {
            let ci = interval(records.count) { k in mean(stats.map { $0.srocc(k) }) }
            row.meanTargetSROCC = Estimate(value: mean(stats.map { Metrics.srocc($0.clean, $0.attacked) }), lo: ci.lo, hi: ci.hi)
        }
        return row
    }

    /// Every metric of one target: the value from Metrics, the interval from 2000 resamples of
    /// the images (Metrics.bootstrapInterval's draws).
    static func figures(_ s: ResampleStats) -> TargetFigures {
        var f = TargetFigures()
        let c = s.clean, a = s.attacked
        guard !c.isEmpty else { return f }
        let values: [Metric: Double] = [
            .srocc: Metrics.srocc(c, a), .plcc: Metrics.plcc(c, a), .krocc: Metrics.krocc(c, a),
            .r: Metrics.robustness(clean: c, attacked: a, lo: s.range.lo, hi: s.range.hi), .meanAbsDelta: Metrics.meanAbsDelta(clean: c, attacked: a),
        ]
        for m in Metric.allCases {
            let ci = c.count >= 2 ? interval(c.count, s.statistic(m)) : (lo: Double.nan, hi: Double.nan)
            f[m] = Estimate(value: values[m]!, lo: ci.lo, hi: ci.hi)
        }
        return f
    }

    static func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
}
