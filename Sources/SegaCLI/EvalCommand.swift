import ArgumentParser
import SegaAttack
import SegaIO
import SegaRuntime

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
/// share, a run aggregates every record present into report.md, report.csv, report.json,
/// srocc.svg, transfer.svg/png and index.html (per operating point and method, per target:
/// SROCC, PLCC, KROCC between clean and attacked predictions, R, mean |delta| with intervals;
/// mean SSIM, time), and the SEGA sheets of its images. `--match-ssim` adds operating points:
/// every attacked image scaled to each SSIM level (SSIMMatcher) and re-scored, matching from the
/// kept attacked images (a rerun that adds a level attacks nothing). `--report-only` builds the
/// report from the records there and runs nothing (the last step of a Slurm array).
///
/// The steps: EvalPlan (check everything, find what is left to do), EvalWorker (one image's
/// attacks, matches and re-scores, on one worker's session), EvalAggregator (the report).
public struct EvalCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Run every method against every target over an image set; write a report.",
        discussion: """
        REPORT/index.html (the report as one page), report.md, report.csv (long format), report.json, \
        srocc.svg and transfer.svg/.png: per method and target SROCC, PLCC, KROCC between clean and \
        attacked predictions, R, mean |delta| with 95% bootstrap intervals, paired differences, the \
        targets no method moves beyond random noise; mean SSIM, PSNR and time. With --match-ssim the \
        same figures at each SSIM level, every attacked image scaled to it (by bisection on its \
        perturbation, no gradient calls). REPORT/sheets/NAME.png: clean, attacked, perturbation \
        (amplified) and the masks that are on, for SEGA. Per-image records in REPORT/records/ make \
        runs resumable; --shard k/N splits the images (k from 0); --report-only builds the report \
        from the records alone. The attacked images are kept in REPORT/attacked/METHOD/; a rerun with \
        other (or retrained) targets or other SSIM levels and the same sources and settings re-scores \
        and re-matches them instead of attacking again.
        """
    )

    @OptionGroup var flags: AttackFlags

    @OptionGroup var progress: ProgressFlags

    @Option(name: .long, help: "Comma-separated target models (disjoint from the sources).")
    var targets: String = AttackSettings.defaultTargets.joined(separator: ",")

    @Option(name: .long, help: "A directory of PNG/JPEG images, or a list (CSV with a 'path' column, or one path per line).")
    var images: String

    @Option(name: .long, help: "Only rows of a CSV list whose 'split' column equals this (e.g. test).")
    var split: String?

    @Option(name: .long, help: "Take every k-th image of the list.")
    var stride: Int = 1

    @Option(name: .long, help: "Take at most this many images (after --split and --stride).")
    var limit: Int?

    @Option(name: .long, help: "Comma-separated methods.")
    var methods: String = AttackMethod.allCases.map(\.rawValue).joined(separator: ",")

    @Option(name: .long, help: "k/N: process the images whose index % N == k (k from 0).")
    var shard: String = "0/1"

    @Option(name: .long, help: "SEGA sheets for the first this many images.")
    var sheets: Int = 8

    @Option(name: .long, help: "Images attacked in parallel, each with its own plans (default: one per thread, within --memory-limit-mb); the threads are shared out among them.")
    var workers: Int?

    @Option(name: .customLong("match-ssim"), help: "Comma-separated SSIM levels in (0, 1), e.g. 0.85,0.90,0.95: also compare the methods with every attacked image scaled to each level.")
    var matchSSIM: String?

    @Flag(name: .customLong("report-only"), help: "Build the report from the records in the report directory; attack and score nothing (refuses when records are missing).")
    var reportOnly = false

    @Flag(name: .customLong("allow-missing"), help: "With --report-only: report the records that are there when some are missing.")
    var allowMissing = false

    @Option(name: [.short, .customLong("out")], help: "Report directory (created if missing).")
    var out: String

    public init() {}

    public func run() throws {
        let (checked, bar) = try CommandFailure.flags("eval") { (try options(), try progress.reporter("eval", unit: "attacks")) }
        var o = checked
        o.warn = { Console.error("sega eval: warning: \($0)") }
        try CommandFailure.run("eval") {
            let s = try EvalCommand.run(o, progress: o.reportOnly ? nil : bar.update)
            if o.reportOnly {
                Console.error("sega eval: report only, nothing run; \(s.complete) of \(s.total) image(s) complete, \(s.missing) record(s) missing; report in \(out)/report.md")
                return
            }
            Console.error("sega eval: \(s.computed) attack(s) run, \(s.skipped) already done, \(s.rescored) re-scored from kept images (new targets or SSIM levels); \(s.complete) of \(s.total) image(s) complete (\(s.workers) worker(s)); report in \(out)/report.md")
        }
    }

    /// The flags as Options, each checked.
    func options() throws -> Options {
        var o = Options()
        o.sources = flags.sourceList
        o.targets = targets.commaSeparated
        o.images = images
        o.split = split
        guard stride >= 1 else { throw SegaError(.invalidArgument, "--stride must be >= 1") }
        o.stride = stride
        if let l = limit, l < 1 { throw SegaError(.invalidArgument, "--limit must be >= 1") }
        o.limit = limit
        o.methods = try FlagValues.distinct(methods.commaSeparated, flag: "--methods").map(FlagValues.method)
        o.outDir = out
        o.config = try flags.config(method: .sega)
        o.memoryLimit = try flags.memoryLimit()
        o.threads = flags.threadCount
        o.maxPixels = flags.maxPixels
        o.strict = flags.strict
        let parts = shard.split(separator: "/")
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw SegaError(.invalidArgument, "--shard must look like k/N, got '\(shard)'")
        }
        o.shard = (k, n)
        o.sheets = sheets
        o.workers = try FlagValues.count(workers, flag: "--workers")
        o.matchSSIM = try EvalCommand.levels(matchSSIM)
        o.reportOnly = reportOnly
        guard !allowMissing || reportOnly else { throw SegaError(.invalidArgument, "--allow-missing needs --report-only") }
        o.allowMissing = allowMissing
        return o
    }

    /// The SSIM levels of --match-ssim: numbers in (0, 1), none twice; sorted.
    static func levels(_ text: String?) throws -> [Double] {
        guard let text else { return [] }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        var out: [Double] = []
        for p in parts {
            guard let v = Double(p) else { throw SegaError(.invalidArgument, "--match-ssim: '\(p)' is not a number (give levels in (0, 1) such as 0.85,0.90,0.95)") }
            out.append(v)
        }
        do { return try SSIMMatcher.validate(out) } catch { throw SegaError(.invalidArgument, "--match-ssim: \(SegaError(error).message)") }
    }

    public struct Options {
        public var sources: [String] = AttackSettings.defaultSources
        public var targets: [String] = AttackSettings.defaultTargets
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
        /// Refuse images with decoder warnings (corrupt JPEG data) instead of passing them to `warn`.
        public var strict = false
        public var warn: (String) -> Void = { _ in }
        /// SSIM levels to match every attacked image to (ascending; empty: equal eps only).
        public var matchSSIM: [Double] = []
        /// Build the report from the records there; run nothing.
        public var reportOnly = false
        /// Report-only: report what is there when records are missing.
        public var allowMissing = false
        public init() {}
    }

    public struct Summary: Sendable {
        /// Attacks run; records reused as they were; records whose kept attacked image was
        /// re-scored on changed targets; images with every method's record; images listed.
        public var computed = 0, skipped = 0, rescored = 0, complete = 0, total = 0
        /// Report-only: image x method records the report lacks.
        public var missing = 0
        /// Images run in parallel, each with its own session.
        public var workers = 1
    }

    /// Plan, run the work left on the workers, write the report.
    public static func run(_ o: Options, progress: ((Int, Int, String) -> Void)? = nil) throws -> Summary {
        let plan = try EvalPlan(o)
        var summary = Summary()
        summary.total = plan.all.count
        summary.skipped = plan.mine.count * o.methods.count - plan.jobCount
        summary.workers = plan.workers
        summary.missing = plan.missing
        if o.reportOnly {
            summary.skipped = 0
            summary.complete = try EvalAggregator.write(plan)
            return summary
        }
        let shared = EvalWorker.Shared(jobs: plan.jobCount, progress: progress)
        let workers = try (0..<plan.workers).map { _ in try EvalWorker(plan, shared: shared) }
        try plan.prepareAttackedDirectories()
        return try CommandFailure.working {
            try Workers.drain(plan.todo.count, on: workers.count) { i, w in
                let (c, r) = try workers[w].process(plan.todo[i])
                shared.lock.sync { summary.computed += c; summary.rescored += r }
            }
            progress?(plan.jobCount, plan.jobCount, "")
            summary.complete = try EvalAggregator.write(plan)
            return summary
        }
    }
}
