import SegaAttack
import SegaEngine
import SegaIO
import SegaModels
import SegaRuntime

// MARK: - One worker of sega eval

/// Runs images' jobs on its own session (plans, arenas, engine threads): attacks each method
/// left to do and writes its record, attacked image and sheet; or re-scores and re-matches a
/// kept attacked image for changed targets or SSIM levels. With SSIM levels (--match-ssim) each
/// attacked image is also matched to every level (SSIMMatcher: no gradient calls) and the
/// matched images scored by the targets (forward passes only).
final class EvalWorker {
    /// What the workers share: the lock (planning builds graphs from the shared models, one
    /// worker at a time) and the progress count.
    final class Shared {
        let lock = Lock()
        let jobs: Int
        var done = 0
        let progress: ((Int, Int, String) -> Void)?
        init(jobs: Int, progress: ((Int, Int, String) -> Void)?) { self.jobs = jobs; self.progress = progress }
    }

    let plan: EvalPlan
    let shared: Shared
    let session: AttackSession

    init(_ plan: EvalPlan, shared: Shared) throws {
        let o = plan.options
        self.plan = plan
        self.shared = shared
        session = try AttackSession(sources: plan.sources, targets: plan.targets, config: o.config,
                                    threads: max(1, o.threads / plan.workers), memoryLimit: o.memoryLimit,
                                    limitName: EvalPlan.limitName)
    }

    /// One image's jobs; returns (attacks run, records re-scored).
    func process(_ job: EvalPlan.Job) throws -> (Int, Int) {
        var computed = 0, rescored = 0
        let it = job.item
        let clean = try EightBitGrid.round(try ImageFile.read(it.path, maxPixels: plan.options.maxPixels))
        try prepare(clean)
        let cleanScores = try session.targetScores(clean).map(Double.init)
        for (m, state) in job.methods {
            shared.lock.sync { shared.progress?(shared.done, shared.jobs, "\(m.rawValue) \(it.name)") }
            defer { shared.lock.sync { shared.done += 1 } }
            if case .refresh(let old, let advPath) = state {
                try refresh(m, it, clean, old: old, attacked: advPath, cleanScores: cleanScores)
                rescored += 1
            } else {
                try attack(m, it, clean, cleanScores: cleanScores)
                computed += 1
            }
        }
        return (computed, rescored)
    }

    private func prepare(_ im: RGBImage) throws {
        try shared.lock.sync { try session.prepare(height: im.height, width: im.width) }
    }

    /// The kept image was checked against its recorded fingerprint; only the target fields and
    /// the matched results of the record change.
    private func refresh(_ m: AttackMethod, _ it: ImageItem, _ clean: RGBImage, old: JSONValue, attacked: String,
                         cleanScores: [Double]) throws {
        let adv = try ImageFile.read(attacked, maxPixels: plan.options.maxPixels)
        try prepare(adv)
        let advScores = try session.targetScores(adv).map(Double.init)
        let matched = try match(clean, adv, eps: plan.key(m).config.eps, attackedScores: advScores)
        let text = RecordStore.rewrite(old, plan.targetKey, clean: cleanScores, attacked: advScores, matched: matched)
        try OutputFiles.writeText(text + "\n", to: plan.store.recordPath(m, it.name))
    }

    /// Per SSIM level, the attacked image scaled to it and the targets' scores of the result
    /// (the attacked image's own scores when it is already above the level); nil without levels.
    func match(_ clean: RGBImage, _ adv: RGBImage, eps: Float, attackedScores: [Double]) throws -> JSONValue? {
        let taus = plan.options.matchSSIM
        guard !taus.isEmpty else { return nil }
        var matcher = clean.pixels.withUnsafeBufferPointer { c in
            adv.pixels.withUnsafeBufferPointer { a in SSIMMatcher(clean: c, attacked: a, height: clean.height, width: clean.width, eps: eps) }
        }
        var img = RGBImage(width: clean.width, height: clean.height)
        var out: [JSONValue] = []
        for tau in taus {
            let r = img.pixels.withUnsafeMutableBufferPointer { matcher.match(tau: tau, into: $0) }
            let scores = r.status == .above ? attackedScores : try session.targetScores(img).map(Double.init)
            let (psnr, linf) = clean.pixels.withUnsafeBufferPointer { c in
                img.pixels.withUnsafeBufferPointer { x in (Metrics.psnr(c, x), Metrics.linf(c, x)) }
            }
            out.append(.object([("tau", .number(tau)), ("c", .number(r.c)), ("status", .string(r.status.rawValue)),
                                ("ssim", .number(r.ssim)), ("psnr", .number(psnr)), ("linf", .number(linf)),
                                ("target_attacked", .array(scores.map { .number($0) }))]))
        }
        return .array(out)
    }

    private func attack(_ m: AttackMethod, _ it: ImageItem, _ clean: RGBImage, cleanScores: [Double]) throws {
        let key = plan.key(m)
        session.config = key.config
        let t0 = MonotonicClock.now()
        let (adv, r) = try session.attack(clean, key: it.name)
        let secs = MonotonicClock.now() - t0
        let advScores = try session.targetScores(adv)
        let advPath = plan.store.attackedPath(m, it.name)
        try OutputFiles.writePNG(adv, to: advPath)
        var j = JSONWriter()
        j.add("image", it.path)
        j.add("image_fingerprint", plan.store.fingerprint(of: it.name))
        j.add("method", m.rawValue)
        j.add("targets", plan.targetKey.names)
        j.add("target_weights", plan.targetKey.weights)
        j.add("settings", key.text)
        j.add("target_clean", cleanScores)
        j.add("target_attacked", advScores.map(Double.init))
        j.add("attacked_png", try NamedModel.fingerprint(advPath))
        j.addAttack(sources: plan.sources.map(\.name), r, Similarity(clean, adv), seconds: secs)
        let advDoubles = advScores.map(Double.init)
        if let matched = try match(clean, adv, eps: key.config.eps, attackedScores: advDoubles) { j.add("matched", matched) }
        if plan.wantsSheet(m, it), let masks = session.lastMasks {
            let sheet = Report.sheet(clean: clean, attacked: adv, eps: key.config.eps, panels: Report.panels(key.config),
                                     maskF: masks.maskF, maskJND: masks.maskJND)
            try OutputFiles.writePNG(sheet, to: plan.store.sheetPath(it.name))
        }
        try OutputFiles.writeText(j.text + "\n", to: plan.store.recordPath(m, it.name))
    }
}
