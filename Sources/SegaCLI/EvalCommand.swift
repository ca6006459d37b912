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
/// share, a run aggregates every record present into report.md, report.csv, report.json and
/// srocc.svg (rows: methods; per target: SROCC, PLCC, KROCC between clean and attacked
/// predictions, R, mean |delta|, mean SSIM, time), and the SEGA sheets of its images.
///
/// The steps: EvalPlan (check everything, find what is left to do), EvalWorker (one image's
/// attacks and re-scores, on one worker's session), EvalAggregator (the report).
public struct EvalCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Run every method against every target over an image set; write a report.",
        discussion: """
        REPORT/report.md, report.csv, report.json and srocc.svg: rows are methods; per target SROCC, PLCC, \
        KROCC between clean and attacked predictions, R, mean |delta|; mean SSIM, PSNR and time. \
        REPORT/sheets/NAME.png: clean, attacked, perturbation (amplified), M^F, M^JND for SEGA. Per-image \
        records in REPORT/records/ make runs resumable; --shard k/N splits the images (k from 0). \
        The attacked images are kept in REPORT/attacked/METHOD/; a rerun with other (or retrained) \
        targets and the same sources and settings re-scores them instead of attacking again.
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

    @Option(name: [.short, .customLong("out")], help: "Report directory (created if missing).")
    var out: String

    public init() {}

    public func run() throws {
        try CommandFailure.run("eval") {
            let o = try options()
            let bar = try progress.reporter("eval", unit: "attacks")
            let s = try EvalCommand.run(o, progress: bar.update)
            Console.error("sega eval: \(s.computed) attack(s) run, \(s.skipped) already done, \(s.rescored) re-scored on new targets; \(s.complete) of \(s.total) image(s) complete (\(s.workers) worker(s)); report in \(out)/report.md")
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
        o.methods = try methods.commaSeparated.map(FlagValues.method)
        o.outDir = out
        o.config = try flags.config(method: .sega)
        o.memoryLimit = try flags.memoryLimit()
        o.threads = flags.threadCount
        o.maxPixels = flags.maxPixels
        let parts = shard.split(separator: "/")
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw SegaError(.invalidArgument, "--shard must look like k/N, got '\(shard)'")
        }
        o.shard = (k, n)
        o.sheets = sheets
        o.workers = try FlagValues.count(workers, flag: "--workers")
        return o
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
        public init() {}
    }

    public struct Summary: Sendable {
        /// Attacks run; records reused as they were; records whose kept attacked image was
        /// re-scored on changed targets; images with every method's record; images listed.
        public var computed = 0, skipped = 0, rescored = 0, complete = 0, total = 0
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
        let shared = EvalWorker.Shared(jobs: plan.jobCount, progress: progress)
        let workers = try (0..<plan.workers).map { _ in try EvalWorker(plan, shared: shared) }
        try plan.prepareAttackedDirectories()
        try Workers.drain(plan.todo.count, on: workers.count) { i, w in
            let (c, r) = try workers[w].process(plan.todo[i])
            shared.lock.sync { summary.computed += c; summary.rescored += r }
        }
        progress?(plan.jobCount, plan.jobCount, "")
        summary.complete = try EvalAggregator.write(plan)
        return summary
    }
}
