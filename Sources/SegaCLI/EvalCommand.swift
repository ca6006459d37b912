#if canImport(Glibc)
import Glibc
#endif
import SegaAttack
import SegaIO
import SegaModels

// MARK: - sega eval

/// `sega eval`: every method against every target over an image set.
///
/// Per image and method, a record REPORT/records/METHOD/NAME.json holds the sources' and the
/// targets' scores before and after, SSIM, PSNR, L-inf, L2, gradient calls and seconds. A record
/// that exists and parses is not recomputed (resume); `--shard k/N` processes the images with
/// index % N == k (0-based, as a Slurm array or Kubernetes indexed Job numbers them). After its
/// share, a run aggregates every record present into report.md, report.csv, report.json and
/// srocc.svg (rows: methods; per target: SROCC, PLCC, KROCC between clean and attacked
/// predictions, R, mean |delta|, mean SSIM, time), and the SEGA sheets of its images.
public enum EvalCommand {
    public struct Options {
        public var sources: [String] = []
        public var targets: [String] = []
        public var images = ""
        public var split: String? = nil
        public var stride = 1
        public var limit: Int? = nil
        public var methods: [AttackMethod] = AttackMethod.allCases
        public var outDir = ""
        public var config = AttackConfig()
        public var threads = 1
        public var memoryLimit: Int? = nil
        public var maxPixels = ImageFile.defaultMaxPixels
        public var shard = (index: 0, count: 1)
        public var sheets = 8
        public init() {}
    }

    public struct Summary: Sendable {
        public var computed = 0, skipped = 0, complete = 0, total = 0
    }

    public static func run(_ o: Options, progress: ((Int, Int, String) -> Void)? = nil) throws -> Summary {
        guard !o.methods.isEmpty else { throw CLIError("give at least one method") }
        guard o.shard.count >= 1, o.shard.index >= 0, o.shard.index < o.shard.count else {
            throw CLIError("--shard must be k/N with 0 <= k < N, got \(o.shard.index)/\(o.shard.count)")
        }
        try o.config.validate()
        let all = try ImageList.load(o.images, split: o.split, stride: o.stride, limit: o.limit)
        let src = try NamedModel.load(o.sources, role: "source")
        let tgt = try NamedModel.load(o.targets, role: "target")
        let overlap = Set(src.map(\.path)).intersection(tgt.map(\.path))
        if !overlap.isEmpty { throw CLIError("a model is both a source and a target: \(overlap.sorted().joined(separator: ", "))") }
        let session = try AttackSession(sources: src, targets: tgt, config: o.config, threads: o.threads, memoryLimit: o.memoryLimit)
        try AttackCLI.prepareOutputDirectory(o.outDir)
        for m in o.methods { try AttackCLI.prepareOutputDirectory("\(o.outDir)/records/\(m.rawValue)") }
        if o.sheets > 0 && o.methods.contains(.sega) { try AttackCLI.prepareOutputDirectory("\(o.outDir)/sheets") }

        let mine = all.enumerated().filter { $0.offset % o.shard.count == o.shard.index }.map(\.element)
        let targetKey = tgt.map(\.name).joined(separator: ",")
        let weightsKey = (src + tgt).map { "\($0.name):\($0.fingerprint)" }.joined(separator: ",")
        // A record is reused only if it was made with these sources, targets and settings.
        func settings(_ m: AttackMethod) -> String {
            var c = o.config
            c.method = m
            return settingsKey(sources: src.map(\.name), targets: targetKey, c) + ";weights=" + weightsKey
        }
        // Work still to do, and a check of every image it needs before starting.
        var todo: [(ImageItem, [AttackMethod])] = []
        for it in mine {
            let ms = o.methods.filter { readRecord(o.outDir, $0, it.name, settings: settings($0)) == nil }
            if !ms.isEmpty { todo.append((it, ms)) }
        }
        var sizes = Set<[Int]>()
        for (it, _) in todo {
            do {
                let im = try ImageFile.read(it.path, maxPixels: o.maxPixels)
                sizes.insert([im.height, im.width])
            } catch { throw CLIError("\(error)") }
        }
        for s in sizes { try session.checkBudget(height: s[0], width: s[1]) }

        var summary = Summary()
        summary.total = all.count
        summary.skipped = mine.count * o.methods.count - todo.reduce(0) { $0 + $1.1.count }
        let jobs = todo.reduce(0) { $0 + $1.1.count }
        var done = 0
        for (it, methods) in todo {
            let clean = AttackCLI.to8bit(try ImageFile.read(it.path, maxPixels: o.maxPixels))
            let cleanScores = try session.targetScores(clean)
            for m in methods {
                progress?(done, jobs, "\(m.rawValue) \(it.name)")
                var c = o.config
                c.method = m
                session.config = c
                let t0 = AttackCLI.now()
                let (adv, r) = try session.attack(clean, key: it.name)
                let secs = AttackCLI.now() - t0
                let advScores = try session.targetScores(adv)
                let sim = Similarity(clean, adv)
                var j = JSONObject()
                j.add("image", it.path)
                j.add("method", m.rawValue)
                j.add("targets", targetKey)
                j.add("settings", settings(m))
                j.add("target_clean", cleanScores.map(Double.init))
                j.add("target_attacked", advScores.map(Double.init))
                j.addAttack(sources: src.map(\.name), r, sim, seconds: secs)
                if m == .sega, let idx = all.firstIndex(where: { $0.name == it.name }), idx < o.sheets, let masks = session.lastMasks {
                    let sheet = Report.sheet(clean: clean, attacked: adv, eps: c.eps, maskF: masks.maskF, maskJND: masks.maskJND)
                    do { try ImageFile.writePNG(sheet, to: "\(o.outDir)/sheets/\(it.name).png") } catch { throw CLIError("\(error)") }
                }
                try AttackCLI.writeText(j.text + "\n", to: recordPath(o.outDir, m, it.name))
                done += 1
                summary.computed += 1
            }
        }
        progress?(jobs, jobs, "")

        // Aggregate everything present (this shard's and others').
        var rows: [Report.Row] = []
        var byMethod: [[Report.Record]] = []
        var complete = Set(all.map(\.name))
        for m in o.methods {
            var recs: [Report.Record] = []
            for it in all {
                if var r = readRecord(o.outDir, m, it.name, settings: settings(m)) {
                    r.image = it.name
                    recs.append(r)
                } else { complete.remove(it.name) }
            }
            rows.append(Report.aggregate(method: m.rawValue, records: recs, targets: tgt.map { ($0.name, $0.model.scoreRange) }))
            byMethod.append(recs)
        }
        Report.pair(&rows, records: byMethod)
        summary.complete = complete.count
        let header = Report.Header(sources: src.map(\.name), targets: tgt.map(\.name), config: o.config,
                                   images: all.count, complete: complete.count)
        try AttackCLI.writeText(Report.markdown(header, rows), to: "\(o.outDir)/report.md")
        try AttackCLI.writeText(Report.csv(header, rows), to: "\(o.outDir)/report.csv")
        try AttackCLI.writeText(Report.json(header, rows), to: "\(o.outDir)/report.json")
        try AttackCLI.writeText(Report.svg(header, rows), to: "\(o.outDir)/srocc.svg")
        return summary
    }

    static func recordPath(_ dir: String, _ m: AttackMethod, _ name: String) -> String {
        "\(dir)/records/\(m.rawValue)/\(name).json"
    }

    /// The sources, targets and every setting that changes a method's output, as one string (the
    /// caller appends the weight files' fingerprints);
    /// records carry it so that a rerun with other settings recomputes instead of mixing results.
    static func settingsKey(sources: [String], targets: String, _ c: AttackConfig) -> String {
        var f = ["method=\(c.method.rawValue)", "sources=\(sources.joined(separator: ","))", "targets=\(targets)",
                 "eps=\(c.eps)", "seed=\(c.seed)", "direction=\(c.direction.rawValue)"]
        switch c.method {
        case .random: break
        case .sega:
            f += ["alpha=\(c.stepSize)", "iters=\(c.iterations)", "samples=\(c.samples)", "sigma=\(c.sigma)",
                  "normalize=\(c.normalizeSources)", "maskq=\(c.maskQuantile)", "maska=\(c.maskAgreement)", "jnd=\(c.jndThreshold)"]
            if c.antithetic { f.append("antithetic=true") }  // absent when off: older records stay valid
            if c.segaMomentum > 0 { f.append("segamomentum=\(c.segaMomentum)") }
        case .ifgsm:
            f += ["alpha=\(c.stepSize)", "iters=\(c.iterations)"]
        case .ensIfgsm:
            f += ["alpha=\(c.stepSize)", "iters=\(c.iterations)", "normalize=\(c.normalizeSources)"]
        case .mifgsm:
            f += ["alpha=\(c.stepSize)", "iters=\(c.iterations)", "normalize=\(c.normalizeSources)", "momentum=\(c.momentum)"]
        case .vt:
            f += ["alpha=\(c.stepSize)", "iters=\(c.iterations)", "normalize=\(c.normalizeSources)", "momentum=\(c.momentum)",
                  "vtbeta=\(c.vtBeta)", "vtsamples=\(c.vtSamples)"]
        }
        return f.joined(separator: ";")
    }

    /// A complete record made with these settings, or nil (missing, unreadable, other settings).
    static func readRecord(_ dir: String, _ m: AttackMethod, _ name: String, settings: String) -> Report.Record? {
        guard let text = try? ImageList.readText(recordPath(dir, m, name)),
              let v = try? JSONParser.parse(text), v["settings"] == .string(settings) else { return nil }
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
