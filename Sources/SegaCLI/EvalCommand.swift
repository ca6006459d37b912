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
/// targets' scores before and after, SSIM, PSNR, L-inf, L2, gradient calls and seconds, and the
/// attacked image is kept as REPORT/attacked/METHOD/NAME.png. A record made with these sources
/// and settings is not recomputed (resume); if only the targets changed (another target, or a
/// retrained one), the kept image is re-scored instead of attacked again, since an attack never
/// sees its targets. `--shard k/N` processes the images with
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
        /// Images run in parallel (nil: one per thread, as many as the images and the memory
        /// budget allow); the threads are shared out among them.
        public var workers: Int? = nil
        public var memoryLimit: Int? = nil
        public var maxPixels = ImageFile.defaultMaxPixels
        public var shard = (index: 0, count: 1)
        public var sheets = 8
        public init() {}
    }

    public struct Summary: Sendable {
        /// Attacks run; records reused as they were; records whose kept attacked image was
        /// re-scored on changed targets; images with every method's record; images listed.
        public var computed = 0, skipped = 0, rescored = 0, complete = 0, total = 0
        /// Images run in parallel, each with its own session.
        public var workers = 1
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
        let probe = try AttackSession(sources: src, targets: tgt, config: o.config, threads: 1, memoryLimit: o.memoryLimit)
        try AttackCLI.prepareOutputDirectory(o.outDir)
        for m in o.methods { try AttackCLI.prepareOutputDirectory("\(o.outDir)/records/\(m.rawValue)") }
        if o.sheets > 0 && o.methods.contains(.sega) { try AttackCLI.prepareOutputDirectory("\(o.outDir)/sheets") }

        let mine = all.enumerated().filter { $0.offset % o.shard.count == o.shard.index }.map(\.element)
        let targetNames = tgt.map(\.name).joined(separator: ",")
        let targetWeights = tgt.map { "\($0.name):\($0.fingerprint)" }.joined(separator: ",")
        let sourceWeights = src.map { "\($0.name):\($0.fingerprint)" }.joined(separator: ",")
        // What decides an attacked image: the sources (and their weights) and the method's
        // settings. The targets only score it, so they are keyed apart.
        func settings(_ m: AttackMethod) -> String {
            var c = o.config
            c.method = m
            return settingsKey(sources: src.map(\.name), c) + ";weights=" + sourceWeights
        }
        // Work still to do, and a check of every image it needs before starting.
        var todo: [(ImageItem, [(AttackMethod, RecordState)])] = []
        for it in mine {
            let ms = o.methods.map { ($0, recordState(o.outDir, $0, it.name, settings: settings($0), targetWeights: targetWeights)) }
                .filter { if case .complete = $0.1 { return false }; return true }
            if !ms.isEmpty { todo.append((it, ms)) }
        }
        var sizes = Set<[Int]>()
        for (it, _) in todo {
            do {
                let im = try ImageFile.read(it.path, maxPixels: o.maxPixels)
                sizes.insert([im.height, im.width])
            } catch { throw CLIError("\(error)") }
        }
        var need = 0
        for s in sizes { need = max(need, try probe.checkBudget(height: s[0], width: s[1])) }
        // Images in parallel, one session (plans, arenas, engine threads) per worker: a worker
        // per thread while there are images enough and the memory budget holds them all; the
        // engine threads left over go to the workers. Each image's outputs depend on nothing
        // but the image, so the bytes are the same whatever the split.
        var workers = max(1, min(o.workers ?? o.threads, todo.count))
        if let limit = o.memoryLimit, need > 0 { workers = max(1, min(workers, limit / need)) }
        let sessions = try (0..<workers).map { _ in
            try AttackSession(sources: src, targets: tgt, config: o.config, threads: max(1, o.threads / workers), memoryLimit: o.memoryLimit)
        }
        for m in o.methods { try AttackCLI.prepareOutputDirectory("\(o.outDir)/attacked/\(m.rawValue)") }

        var summary = Summary()
        summary.total = all.count
        summary.skipped = mine.count * o.methods.count - todo.reduce(0) { $0 + $1.1.count }
        let jobs = todo.reduce(0) { $0 + $1.1.count }
        var done = 0
        let lock = Lock()
        // One image's jobs on one worker's session; returns (attacks run, records re-scored).
        func process(_ it: ImageItem, _ methods: [(AttackMethod, RecordState)], _ session: AttackSession) throws -> (Int, Int) {
            var computed = 0, rescored = 0
            let clean = AttackCLI.to8bit(try ImageFile.read(it.path, maxPixels: o.maxPixels))
            // Planning builds graphs from the shared models: one worker at a time.
            try lock.sync { try session.prepare(height: clean.height, width: clean.width) }
            let cleanScores = try session.targetScores(clean).map(Double.init)
            for (m, state) in methods {
                lock.sync { progress?(done, jobs, "\(m.rawValue) \(it.name)") }
                defer { lock.sync { done += 1 } }
                if case .rescore(let old, let advPath) = state {
                    // The kept image was checked against its recorded fingerprint; only the
                    // target fields of the record change.
                    let adv = try ImageFile.read(advPath, maxPixels: o.maxPixels)
                    try lock.sync { try session.prepare(height: adv.height, width: adv.width) }
                    let advScores = try session.targetScores(adv).map(Double.init)
                    let text = rewriteTargets(old, names: targetNames, weights: targetWeights, clean: cleanScores, attacked: advScores)
                    try AttackCLI.writeText(text + "\n", to: recordPath(o.outDir, m, it.name))
                    rescored += 1
                    continue
                }
                var c = o.config
                c.method = m
                session.config = c
                let t0 = AttackCLI.now()
                let (adv, r) = try session.attack(clean, key: it.name)
                let secs = AttackCLI.now() - t0
                let advScores = try session.targetScores(adv)
                let sim = Similarity(clean, adv)
                let advPath = attackedPath(o.outDir, m, it.name)
                do { try ImageFile.writePNG(adv, to: advPath) } catch { throw CLIError("\(error)") }
                var j = JSONObject()
                j.add("image", it.path)
                j.add("method", m.rawValue)
                j.add("targets", targetNames)
                j.add("target_weights", targetWeights)
                j.add("settings", settings(m))
                j.add("target_clean", cleanScores)
                j.add("target_attacked", advScores.map(Double.init))
                j.add("attacked_png", try NamedModel.fingerprint(advPath))
                j.addAttack(sources: src.map(\.name), r, sim, seconds: secs)
                if m == .sega, let idx = all.firstIndex(where: { $0.name == it.name }), idx < o.sheets, let masks = session.lastMasks {
                    let sheet = Report.sheet(clean: clean, attacked: adv, eps: c.eps, maskF: masks.maskF, maskJND: masks.maskJND)
                    do { try ImageFile.writePNG(sheet, to: "\(o.outDir)/sheets/\(it.name).png") } catch { throw CLIError("\(error)") }
                }
                try AttackCLI.writeText(j.text + "\n", to: recordPath(o.outDir, m, it.name))
                computed += 1
            }
            return (computed, rescored)
        }
        // Workers take images from one queue in list order; after a failure none starts another
        // image, and the error of the earliest failed image is the one reported.
        var next = 0
        var failure: (index: Int, error: any Error)? = nil
        Workers.run(workers) { w in
            while true {
                let i: Int? = lock.sync {
                    guard failure == nil, next < todo.count else { return nil }
                    next += 1
                    return next - 1
                }
                guard let i else { return }
                do {
                    let (c, r) = try process(todo[i].0, todo[i].1, sessions[w])
                    lock.sync { summary.computed += c; summary.rescored += r }
                } catch {
                    lock.sync { if failure == nil || i < failure!.index { failure = (i, error) } }
                }
            }
        }
        if let f = failure { throw f.error }
        summary.workers = workers
        progress?(jobs, jobs, "")

        // Aggregate everything present (this shard's and others').
        var rows: [Report.Row] = []
        var byMethod: [[Report.Record]] = []
        var complete = Set(all.map(\.name))
        for m in o.methods {
            var recs: [Report.Record] = []
            for it in all {
                if case .complete(var r) = recordState(o.outDir, m, it.name, settings: settings(m), targetWeights: targetWeights) {
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

    static func attackedPath(_ dir: String, _ m: AttackMethod, _ name: String) -> String {
        "\(dir)/attacked/\(m.rawValue)/\(name).png"
    }

    /// The sources and every setting that changes a method's output, as one string (the caller
    /// appends the source weight files' fingerprints); records carry it so that a rerun with other
    /// settings recomputes instead of mixing results. Targets are not in it: they never change
    /// the attacked image.
    static func settingsKey(sources: [String], _ c: AttackConfig) -> String {
        var f = ["method=\(c.method.rawValue)", "sources=\(sources.joined(separator: ","))",
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

    /// What a rerun finds for one image and method.
    enum RecordState {
        /// A record with these settings and these targets' weights.
        case complete(Report.Record)
        /// A record with these settings for other targets, and its attacked image, unchanged
        /// since (its fingerprint matches): re-score it, keep the rest of the record.
        case rescore(JSONValue, String)
        /// Nothing usable: attack.
        case missing
    }

    static func recordState(_ dir: String, _ m: AttackMethod, _ name: String, settings: String, targetWeights: String) -> RecordState {
        guard let text = try? ImageList.readText(recordPath(dir, m, name)),
              let v = try? JSONParser.parse(text), v["settings"] == .string(settings) else { return .missing }
        if v["target_weights"] == .string(targetWeights), let r = record(v) { return .complete(r) }
        let png = attackedPath(dir, m, name)
        guard record(v) != nil, case .string(let fp)? = v["attacked_png"],
              (try? NamedModel.fingerprint(png)) == fp else { return .missing }
        return .rescore(v, png)
    }

    /// The record `v` with its target fields replaced (every other field, order included, kept).
    static func rewriteTargets(_ v: JSONValue, names: String, weights: String, clean: [Double], attacked: [Double]) -> String {
        guard case .object(let kv) = v else { return "" }
        let fresh: [(String, JSONValue)] = [("targets", .string(names)), ("target_weights", .string(weights)),
                                            ("target_clean", .array(clean.map { .number($0) })),
                                            ("target_attacked", .array(attacked.map { .number($0) }))]
        var out: [(String, JSONValue)] = []
        for (k, x) in kv {
            if let f = fresh.first(where: { $0.0 == k }) { out.append(f) } else { out.append((k, x)) }
        }
        for f in fresh where !out.contains(where: { $0.0 == f.0 }) { out.append(f) }
        return serialize(.object(out))
    }

    /// JSON text of a value, numbers written as `JSONObject` writes them, so a re-scored record
    /// is byte for byte the record a fresh run on those targets writes.
    static func serialize(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return JSONObject.number(d)
        case .string(let t): return JSONObject.quote(t)
        case .array(let a): return "[" + a.map(serialize).joined(separator: ",") + "]"
        case .object(let kv): return "{" + kv.map { JSONObject.quote($0.0) + ":" + serialize($0.1) }.joined(separator: ",") + "}"
        }
    }

    /// The report's view of a parsed record, or nil if a field is missing or malformed.
    static func record(_ v: JSONValue) -> Report.Record? {
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
