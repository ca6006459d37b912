import ArgumentParser
import SegaIO
import SegaModels
import SegaRuntime

// MARK: - sega score

/// `sega score`: one quality score per image.
public struct ScoreCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "score",
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

    @Flag(name: .long, help: "Refuse images the decoder had to repair (corrupt JPEG data); without it they are reported as warnings.")
    var strict = false

    @Flag(name: .long, help: "Take the images in the subdirectories of a directory given too.")
    var recursive = false

    @Argument(help: "PNG or JPEG images, or directories of them (a name starting with '-' goes after --).")
    var images: [String]

    public init() {}

    public func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
        if let t = threads, !(1...256).contains(t) { throw ValidationError("--threads must be in 1...256") }
        if maxPixels < 1 { throw ValidationError("--max-pixels must be positive") }
        do { _ = try FlagValues.megabytes(memoryLimitMb, flag: "--memory-limit-mb") } catch { throw ValidationError(SegaError(error).message) }
    }

    public func run() throws {
        var failures = 0, count = images.count
        try CommandFailure.run("score") {
            let paths = try ImageList.expand(images, recursive: recursive)
            count = paths.count
            failures = try ScoreCommand.run(
                model: model, arch: arch, threads: threads ?? Machine.onlineCPUs(), images: paths, maxPixels: maxPixels,
                memoryLimit: try FlagValues.megabytes(memoryLimitMb, flag: "--memory-limit-mb") ?? Scorer.defaultMemoryLimit,
                strict: strict, emit: { line in Console.out(json ? line.json : line.tsv) },
                fail: { msg in Console.error("sega: \(msg)") }, warn: { msg in Console.error("sega score: warning: \(msg)") })
        }
        if failures > 0 {
            Console.error("sega: \(failures) of \(count) image(s) could not be scored")
            throw ExitCode(ExitStatus.failed)
        }
    }

    /// Score every image with the model `model` (a name or a .safetensors path). Each result is
    /// passed to `emit` as soon as it is known; an image that cannot be read or scored goes to
    /// `fail` (with a message naming it) and the others are still scored; decoder warnings go
    /// to `warn` (with `strict`, such an image fails instead). Returns the number of failed
    /// images. Model-level problems (unknown model, bad weights) throw.
    @discardableResult
    public static func run(model: String, arch: String?, threads: Int, images: [String],
                           maxPixels: Int = ImageFile.defaultMaxPixels,
                           memoryLimit: Int? = Scorer.defaultMemoryLimit, strict: Bool = false,
                           emit: (ScoreLine) -> Void, fail: (String) -> Void, warn: (String) -> Void = { _ in }) throws -> Int {
        guard threads >= 1, threads <= 256 else { throw SegaError(.invalidArgument, "--threads must be in 1...256, got \(threads)") }
        guard !images.isEmpty else { throw SegaError(.invalidArgument, "no images given") }
        let net = try load(model, arch: arch)
        let archName = type(of: net).name
        let scorer = try Scorer(model: net, threads: threads, memoryLimit: memoryLimit)
        var failures = 0
        for img in images {
            do {
                let d = try ImageFile.load(img, maxPixels: maxPixels)
                if strict && !d.warnings.isEmpty {
                    let why = d.warnings.map { $0.hasPrefix(img + ": ") ? String($0.dropFirst(img.count + 2)) : $0 }
                    throw ImageError(.format, img, "\(why.joined(separator: "; ")) (refused with --strict)")
                }
                d.warnings.forEach(warn)
                let s = try scorer.score(d.image)
                emit(ScoreLine(image: img, model: model, arch: archName, score: s))
            } catch let e as ImageError {
                failures += 1
                fail(e.description)
            } catch {
                failures += 1
                fail("\(img): cannot score with \(archName): \(SegaError(error).message)")
            }
        }
        return failures
    }

    /// The model behind a name or path; weights without an architecture ask for --arch.
    static func load(_ model: String, arch: String?) throws -> any IQAArchitecture {
        let path = try WeightsLocator.resolve(model)
        do { return try ModelZoo.load(path: path, arch: arch) } catch let e as WeightsError {
            let hint = e.kind == .noArchitecture ? "; pass --arch" : ""
            throw SegaError(e).with(message: "cannot load model '\(model)': \(e.message)\(hint)")
        }
    }
}
