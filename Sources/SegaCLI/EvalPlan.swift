import SegaAttack
import SegaIO
import SegaRuntime

// MARK: - What an eval run has to do

/// Everything `sega eval` checks before its first attack (settings, SSIM levels, images,
/// models, output directories, memory) and the work left: per image of this shard, the methods
/// without a complete record, each with what its record needs (an attack, or a re-score and
/// re-match of the kept image). With --report-only nothing is left to do: the plan counts the
/// records the report lacks instead, and refuses unless told to report what is there.
struct EvalPlan {
    struct Job {
        let item: ImageItem
        let methods: [(AttackMethod, RecordState)]
    }

    /// The options, SSIM levels validated and sorted.
    let options: EvalCommand.Options
    /// Every listed image, and this shard's.
    let all: [ImageItem], mine: [ImageItem]
    let sources: [NamedModel], targets: [NamedModel]
    let store: RecordStore
    let targetKey: TargetKey
    let todo: [Job]
    /// Images run in parallel, each with its own session.
    let workers: Int
    /// Report-only: image x method records the report lacks (missing, or made with other
    /// settings, sources, targets or SSIM levels).
    let missing: Int

    /// Attacks and re-scores to run.
    var jobCount: Int { todo.reduce(0) { $0 + $1.methods.count } }

    init(_ options: EvalCommand.Options) throws {
        var o = options
        guard !o.methods.isEmpty else { throw SegaError(.invalidArgument, "give at least one method") }
        guard o.shard.count >= 1, o.shard.index >= 0, o.shard.index < o.shard.count else {
            throw SegaError(.invalidArgument, "--shard must be k/N with 0 <= k < N, got \(o.shard.index)/\(o.shard.count)")
        }
        try o.config.validate()
        do { o.matchSSIM = try SSIMMatcher.validate(o.matchSSIM) } catch { throw SegaError(.invalidArgument, "--match-ssim: \(SegaError(error).message)") }
        self.options = o
        all = try ImageList.load(o.images, split: o.split, stride: o.stride, limit: o.limit)
        (sources, targets) = try EvalPlan.models(o)
        try EvalPlan.checkInputs(all, o)
        store = RecordStore(dir: o.outDir, images: try EvalPlan.fingerprints(all))
        targetKey = TargetKey(targets)
        mine = all.enumerated().filter { $0.offset % o.shard.count == o.shard.index }.map(\.element)
        if o.reportOnly {
            todo = []
            workers = 1
            missing = EvalPlan.todo(all, o, store: store, sources: sources, targets: targetKey).reduce(0) { $0 + $1.methods.count }
            try EvalPlan.checkReportOnly(missing: missing, of: all.count * o.methods.count, o)
            try OutputFiles.prepareDirectory(o.outDir)
            return
        }
        let probe = try AttackSession(sources: sources, targets: targets, config: o.config, threads: 1,
                                      memoryLimit: o.memoryLimit, limitName: EvalPlan.limitName)
        try OutputFiles.prepareDirectory(o.outDir)
        for m in o.methods { try OutputFiles.prepareDirectory("\(o.outDir)/records/\(m.rawValue)") }
        if o.sheets > 0 && o.methods.contains(.sega) { try OutputFiles.prepareDirectory("\(o.outDir)/sheets") }
        todo = EvalPlan.todo(mine, o, store: store, sources: sources, targets: targetKey)
        workers = try EvalPlan.workers(todo, o, probe)
        missing = 0
    }

    /// Report-only refuses when records are missing, unless --allow-missing.
    static func checkReportOnly(missing: Int, of total: Int, _ o: EvalCommand.Options) throws {
        guard missing > 0, !o.allowMissing else { return }
        throw SegaError(.notFound, "--report-only: \(missing) of \(total) records (image x method) are missing from '\(o.outDir)' "
            + "or were made with other settings, sources, targets or --match-ssim levels; run sega eval without --report-only "
            + "to make them, or pass --allow-missing to report the records that are there")
    }

    /// The sources and targets, loaded: none given twice, none both (the same weights under
    /// another name, path spelling or link count as the same model).
    static func models(_ o: EvalCommand.Options) throws -> ([NamedModel], [NamedModel]) {
        let sources = try NamedModel.load(o.sources, role: "source")
        let targets = try NamedModel.load(o.targets, role: "target")
        try NamedModel.requireDistinct(sources, what: "--sources")
        try NamedModel.requireDistinct(targets, what: "--targets")
        do { try NamedModel.requireDistinct(sources + targets, what: "--sources and --targets") } catch {
            let both = targets.filter { t in sources.contains { $0.fingerprint == t.fingerprint || FileSystem.realPath($0.path) == FileSystem.realPath(t.path) } }
            throw SegaError(.invalidArgument, "a model is both a source and a target: \(both.map(\.path).joined(separator: ", "))", about: .model)
        }
        return (sources, targets)
    }

    /// Each image's content fingerprint (FNV-1a 64 of its file), by name: a record is reused
    /// only for the picture it was made from, not for another image under the same name.
    static func fingerprints(_ all: [ImageItem]) throws -> [String: String] {
        var out: [String: String] = [:]
        for it in all { out[it.name] = try NamedModel.fingerprint(it.path, what: "image", about: .image) }
        return out
    }

    /// No output of this report (records, kept attacked images, sheets, report files) may be
    /// one of the inputs (the images or the list), under any spelling or link.
    static func checkInputs(_ all: [ImageItem], _ o: EvalCommand.Options) throws {
        let listed = all.map(\.path) + (FileSystem.isRegularFile(o.images) ? [o.images] : [])
        let root = (FileSystem.realPath(o.outDir) ?? o.outDir) + "/"
        guard listed.contains(where: { (FileSystem.realPath($0) ?? $0).hasPrefix(root) }) else { return }
        let inputs = InputFiles(listed)
        let store = RecordStore(dir: o.outDir, images: [:])
        var outputs = EvalAggregator.reportFiles.map { "\(o.outDir)/\($0)" }
        for it in all {
            outputs.append(store.sheetPath(it.name))
            for m in o.methods { outputs += [store.recordPath(m, it.name), store.attackedPath(m, it.name)] }
        }
        for out in outputs {
            if let input = inputs.input(at: out) {
                throw SegaError(.invalidArgument, "'\(input)' would be overwritten by this report's output '\(out)'; give another report directory (-o)")
            }
        }
    }

    /// Per image, the methods without a complete record.
    static func todo(_ mine: [ImageItem], _ o: EvalCommand.Options, store: RecordStore, sources: [NamedModel],
                     targets: TargetKey) -> [Job] {
        let keys = o.methods.map { RecordKey(o.config, method: $0, sources: sources) }
        return mine.compactMap { it in
            let ms = zip(o.methods, keys).map { ($0, store.state($0, it.name, key: $1, targets: targets, taus: o.matchSSIM)) }
                .filter { !$0.1.isComplete }
            return ms.isEmpty ? nil : Job(item: it, methods: ms)
        }
    }

    static let limitName = "--memory-limit-mb"

    /// Images in parallel, one session (plans, arenas, engine threads) per worker: a worker per
    /// thread while there are images enough and the memory budget holds them all. Each image's
    /// outputs depend on nothing but the image, so the bytes are the same whatever the split.
    /// Reads every image left to do first, so that a bad one stops the run before any work.
    static func workers(_ todo: [Job], _ o: EvalCommand.Options, _ probe: AttackSession) throws -> Int {
        var sizes = Set<[Int]>()
        for job in todo {
            let im = try InputImage.read(job.item.path, maxPixels: o.maxPixels, strict: o.strict, warn: o.warn)
            sizes.insert([im.height, im.width])
        }
        var need = 0
        for s in sizes { need = max(need, try probe.checkBudget(height: s[0], width: s[1])) }
        var workers = max(1, min(o.workers ?? o.threads, todo.count))
        if let limit = o.memoryLimit, need > 0 { workers = max(1, min(workers, limit / need)) }
        return workers
    }

    /// The key of `m`'s records.
    func key(_ m: AttackMethod) -> RecordKey { RecordKey(options.config, method: m, sources: sources) }

    /// Whether `m` on this image draws a sheet (SEGA, among the first `sheets` listed images).
    func wantsSheet(_ m: AttackMethod, _ item: ImageItem) -> Bool {
        guard m == .sega, let idx = all.firstIndex(where: { $0.name == item.name }) else { return false }
        return idx < options.sheets
    }

    /// REPORT/attacked/METHOD/, once the workers' sessions exist.
    func prepareAttackedDirectories() throws {
        for m in options.methods { try OutputFiles.prepareDirectory("\(options.outDir)/attacked/\(m.rawValue)") }
    }
}
