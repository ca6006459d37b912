// `sega`: the command-line tool. Argument parsing only; what each command does is in SegaCLI.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SegaAttack
import SegaCLI

// MARK: - Root

struct Sega: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sega",
        abstract: "Transferable black-box attacks (SEGA) on no-reference image-quality (NR-IQA) models, on the CPU.",
        subcommands: [Score.self, Attack.self, Eval.self, Models.self, ParityCheck.self]
    )
}

// MARK: - score

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one quality score per image.",
        discussion: """
        Prints '<image>\\t<score>' per image (JSON lines with --json). MODEL is a name, resolved to \
        NAME.safetensors in $SEGA_WEIGHTS, ./weights or the repository's weights/ (see `sega models`), \
        or a path to a .safetensors file. Images are PNG or JPEG, read as RGB in [0, 1]. An image \
        that cannot be read is reported on stderr, the others are still scored, and the exit status is 1.
        """
    )

    @Option(name: .long, help: "Model name or path to a .safetensors file.")
    var model: String

    @Option(name: .long, help: "Architecture (default: the 'arch' stored in the weights).")
    var arch: String?

    @Option(name: .long, help: "Threads (default: the number of online CPUs).")
    var threads: Int?

    @Flag(name: .long, help: "Print JSON lines {\"image\",\"model\",\"arch\",\"score\"}.")
    var json = false

    @Option(name: .long, help: "Refuse images with more pixels than this (width*height).")
    var maxPixels: Int = 8192 * 8192

    @Option(name: .long, help: "Memory limit in MB for one image's plan (default: 3/4 of physical memory).")
    var memoryLimitMb: Int?

    @Argument(help: "PNG or JPEG images.")
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
        if let t = threads, !(1...256).contains(t) { throw ValidationError("--threads must be in 1...256") }
        if maxPixels < 1 { throw ValidationError("--max-pixels must be positive") }
        if let m = memoryLimitMb, m < 1 { throw ValidationError("--memory-limit-mb must be positive") }
    }

    func run() throws {
        let n = threads ?? max(1, min(256, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        let failures = try ScoreCommand.run(
            model: model, arch: arch, threads: n, images: images, maxPixels: maxPixels,
            memoryLimit: memoryLimitMb.map { $0 << 20 } ?? Scorer.defaultMemoryLimit,
            emit: { line in
                print(json ? line.json : line.tsv)
                fflush(nil)  // one line at a time, also into a pipe
            },
            fail: { msg in printError("sega: \(msg)") })
        if failures > 0 {
            printError("sega: \(failures) of \(images.count) image(s) could not be scored")
            throw ExitCode(1)
        }
    }
}

// MARK: - attack settings shared by attack and eval

struct AttackFlags: ParsableArguments {
    @Option(name: .long, help: "Comma-separated source models (names or .safetensors paths).")
    var sources: String

    @Option(name: .long, help: "L-infinity budget: a number or a fraction such as 8/255.")
    var eps: String = "8/255"

    @Option(name: .long, help: "Step size: a number or a fraction (default eps/4).")
    var alpha: String?

    @Option(name: .long, help: "Iterations T.")
    var iters: Int = AttackConfig().iterations

    @Option(name: .long, help: "SEGA Monte Carlo samples N per source and iteration.")
    var samples: Int = AttackConfig().samples

    @Option(name: .long, help: "SEGA smoothing sigma, in [0, 1] pixel units.")
    var sigma: Float = AttackConfig().sigma

    @Flag(name: .long, help: "SEGA: draw the N noise samples in antithetic pairs (u, -u) (default: independent).")
    var antithetic = false

    @Option(name: .long, help: "SEGA with momentum mu over the smoothed gradients (not in the published algorithm; 0: off).")
    var segaMomentum: Float = AttackConfig().segaMomentum

    @Option(name: .long, help: "Random seed (noise of SEGA, VT, random).")
    var seed: UInt64 = AttackConfig().seed

    @Option(name: .long, help: "up, down or auto (auto: down when the sources score above their range midpoint).")
    var direction: String = "auto"

    @Option(name: .long, help: "SEGA M^F: keep gradient components with |g| at or above this quantile (0 keeps all).")
    var maskQuantile: Float = AttackConfig().maskQuantile

    @Option(name: .long, help: "SEGA M^F: keep components where at least this fraction of the sources has the ensemble gradient's sign (0 keeps all).")
    var maskAgreement: Float = AttackConfig().maskAgreement

    @Option(name: .long, help: "SEGA M^JND: keep pixels whose JND (Yang 2005, luma 0..255) is at least this (0 keeps all).")
    var jndThreshold: Float = AttackConfig().jndThreshold

    @Flag(name: .long, help: "Average raw source gradients (default: each divided by its mean |g|).")
    var noNormalize = false

    @Option(name: .long, help: "MI-FGSM / VT momentum decay.")
    var momentum: Float = AttackConfig().momentum

    @Option(name: .long, help: "VT: uniform neighbours per source and step for the variance term (K (1 + this) gradient calls per step).")
    var vtSamples: Int = AttackConfig().vtSamples

    @Option(name: .long, help: "VT: neighbourhood radius, a multiple of eps.")
    var vtBeta: Float = AttackConfig().vtBeta

    @Option(name: .long, help: "Threads (default: the number of online CPUs).")
    var threads: Int?

    @Option(name: .long, help: "Memory limit in MB for all plans together; refuse before any work if they do not fit.")
    var memoryLimitMb: Int?

    @Option(name: .long, help: "Refuse images with more pixels than this (width*height).")
    var maxPixels: Int = 8192 * 8192

    func config(method: AttackMethod) throws -> AttackConfig {
        var c = AttackConfig()
        c.method = method
        c.eps = try AttackCLI.parseAmount(eps, what: "--eps")
        if let a = alpha { c.alpha = try AttackCLI.parseAmount(a, what: "--alpha") }
        c.iterations = iters
        c.samples = samples
        c.sigma = sigma
        c.antithetic = antithetic
        c.segaMomentum = segaMomentum
        c.seed = seed
        guard let d = AttackDirection(rawValue: direction) else { throw CLIError("--direction must be up, down or auto, got '\(direction)'") }
        c.direction = d
        c.maskQuantile = maskQuantile
        c.maskAgreement = maskAgreement
        c.jndThreshold = jndThreshold
        c.normalizeSources = !noNormalize
        c.momentum = momentum
        c.vtSamples = vtSamples
        c.vtBeta = vtBeta
        try c.validate()
        return c
    }

    var threadCount: Int { threads ?? max(1, min(256, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) }
    var sourceList: [String] { sources.split(separator: ",").map { String($0).trimmingCharacters() } }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

func parseMethod(_ s: String) throws -> AttackMethod {
    guard let m = AttackMethod(rawValue: s) else {
        throw CLIError("unknown method '\(s)' (one of \(AttackMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    return m
}

/// A one-line progress bar with ETA on stderr when stderr is a terminal; nothing otherwise.
final class ProgressBar {
    let enabled = AttackCLI.isTerminal(2)
    let start = AttackCLI.now()
    let label: String
    init(_ label: String) { self.label = label }
    func update(_ done: Int, _ total: Int, _ what: String) {
        guard enabled, total > 0 else { return }
        let frac = Double(done) / Double(total)
        let width = 24, filled = Int(frac * Double(width))
        let elapsed = AttackCLI.now() - start
        let eta = done > 0 ? Int(elapsed / Double(done) * Double(total - done)) : -1
        let etaText = eta < 0 ? "--" : "\(eta / 60)m\(String(format2: eta % 60))s"
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        var line = "\r\(label) [\(bar)] \(done)/\(total) ETA \(etaText) \(what)"
        line = String(line.prefix(120)) + "\u{1B}[K"
        if done == total { line += "\n" }
        line.withUTF8 { b in _ = write(2, b.baseAddress, b.count) }
    }
}

extension String {
    init(format2 v: Int) { self = v < 10 ? "0\(v)" : "\(v)" }
}

// MARK: - attack

struct Attack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attack images with source models; write the adversarial PNGs and a JSON line per image.",
        discussion: """
        Writes OUTDIR/NAME.png (lossless 8-bit, within eps of the input in L-infinity) and OUTDIR/NAME.json, \
        and prints the JSON line: scores before and after per source, SSIM, PSNR, L-inf, L2, gradient calls, \
        time. Every input is checked (models, settings, output directory, images, memory) before the first \
        output is written; inputs are never overwritten.
        """
    )

    @OptionGroup var flags: AttackFlags

    @Option(name: .long, help: "sega, ifgsm (first source only), ens-ifgsm, mifgsm, vt or random.")
    var method: String = "sega"

    @Option(name: [.short, .customLong("out")], help: "Output directory (created if missing).")
    var out: String

    @Argument(help: "PNG or JPEG images.")
    var images: [String] = []

    func run() throws {
        do {
            let cfg = try flags.config(method: try parseMethod(method))
            if let t = flags.threads, !(1...256).contains(t) { throw CLIError("--threads must be in 1...256") }
            if let m = flags.memoryLimitMb, m < 1 { throw CLIError("--memory-limit-mb must be positive") }
            let bar = ProgressBar("sega attack")
            try AttackCommand.run(sources: flags.sourceList, config: cfg, images: images, outDir: out,
                                  threads: flags.threadCount, memoryLimit: flags.memoryLimitMb.map { $0 << 20 },
                                  maxPixels: flags.maxPixels,
                                  emit: { print($0); fflush(nil) }, progress: bar.update)
        } catch {
            try failCommand("attack", error)
        }
    }
}

// MARK: - eval

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
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

    @Option(name: .long, help: "Comma-separated target models (disjoint from the sources).")
    var targets: String

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

    func run() throws {
        do {
            var o = EvalCommand.Options()
            o.sources = flags.sourceList
            o.targets = targets.split(separator: ",").map { String($0).trimmingCharacters() }
            o.images = images
            o.split = split
            guard stride >= 1 else { throw CLIError("--stride must be >= 1") }
            o.stride = stride
            if let l = limit, l < 1 { throw CLIError("--limit must be >= 1") }
            o.limit = limit
            o.methods = try methods.split(separator: ",").map { try parseMethod(String($0).trimmingCharacters()) }
            o.outDir = out
            o.config = try flags.config(method: .sega)
            if let t = flags.threads, !(1...256).contains(t) { throw CLIError("--threads must be in 1...256") }
            o.threads = flags.threadCount
            if let m = flags.memoryLimitMb, m < 1 { throw CLIError("--memory-limit-mb must be positive") }
            o.memoryLimit = flags.memoryLimitMb.map { $0 << 20 }
            o.maxPixels = flags.maxPixels
            let parts = shard.split(separator: "/")
            guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else { throw CLIError("--shard must look like k/N, got '\(shard)'") }
            o.shard = (k, n)
            o.sheets = sheets
            if let w = workers, !(1...256).contains(w) { throw CLIError("--workers must be in 1...256") }
            o.workers = workers
            let bar = ProgressBar("sega eval")
            let s = try EvalCommand.run(o, progress: bar.update)
            printError("sega eval: \(s.computed) attack(s) run, \(s.skipped) already done, \(s.rescored) re-scored on new targets; \(s.complete) of \(s.total) image(s) complete (\(s.workers) worker(s)); report in \(out)/report.md")
        } catch {
            try failCommand("eval", error)
        }
    }
}

// MARK: - models

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the architectures sega knows and the weights it can find.",
        discussion: "Weights are looked up in $SEGA_WEIGHTS, ./weights and the repository's weights/."
    )

    func run() throws {
        for line in ModelsCommand.render() { print(line) }
    }
}

// MARK: - parity

struct ParityCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parity",
        abstract: "Compare sega's score and input gradient with a PyTorch expectation file.",
        discussion: """
        EXPECT holds 'input' [1,3,H,W], 'score' [1] and 'grad' [1,3,H,W] (weights/fixtures/*.py write \
        them). Passes when the score's relative error is <= 1e-4, the gradients' cosine >= 0.9999 \
        and max|g - g_ref| / max|g_ref| <= --max-rel; exits 1 otherwise.
        """
    )

    @Option(name: .long, help: "Model name or path to a .safetensors file.")
    var model: String

    @Option(name: .long, help: "Architecture (default: the 'arch' stored in the weights).")
    var arch: String?

    @Option(name: .long, help: "Expectation file (.expect.safetensors).")
    var expect: String

    @Option(name: .long, help: "Threads.")
    var threads: Int = 1

    @Option(name: .long, help: "Largest allowed max relative gradient error.")
    var maxRel: Double = 1e-3

    func run() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
        do {
            let (r, ok) = try ParityCommand.run(model: model, arch: arch, expect: expect, threads: threads, maxRel: maxRel)
            print("\(ok ? "PASS" : "FAIL") \(expect): \(r.summary)")
            if !ok { throw ExitCode(1) }
        } catch let e as CLIError {
            printError("sega: \(e.message)")
            throw ExitCode(2)
        }
    }
}

/// Report a command's failure on stderr ("sega CMD: message") and exit 2; ExitCode passes through.
func failCommand(_ cmd: String, _ error: Error) throws -> Never {
    if let e = error as? ExitCode { throw e }
    let msg = (error as? CLIError)?.message ?? (error as? AttackError)?.message ?? "\(error)"
    printError("sega \(cmd): \(msg)")
    throw ExitCode(2)
}

func printError(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { b in _ = write(2, b.baseAddress, b.count) }
}

Sega.main()
