import ArgumentParser
import SegaAttack
import SegaEngine
import SegaIO
import SegaModels
import SegaRuntime

// MARK: - sega attack

/// `sega attack`: attack each image with the sources and write OUTDIR/NAME.png and
/// OUTDIR/NAME.json (one JSON object per image, also emitted as a line). Every check that can
/// fail on bad input (names, settings, output directory, images, memory) runs before the first
/// output is written.
public struct AttackCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "attack",
        abstract: "Attack images with source models; write the adversarial PNGs and a JSON line per image.",
        discussion: """
        Writes OUTDIR/NAME.png (lossless 8-bit, within eps of the input in L-infinity) and OUTDIR/NAME.json, \
        and prints the JSON line: scores before and after per source, SSIM, PSNR, L-inf, L2, gradient calls, \
        time. Every input is checked (models, settings, output directory, images, memory) before the first \
        output is written; inputs are never overwritten.
        """
    )

    @OptionGroup var flags: AttackFlags

    @OptionGroup var progress: ProgressFlags

    @Option(name: .long, help: ArgumentHelp(AttackSettings[.method].help))
    var method: String = AttackSettings[.method].defaultShown

    @Option(name: [.short, .customLong("out")], help: "Output directory (created if missing).")
    var out: String

    @Flag(name: .long, help: "Replace output files that exist already (an input is never replaced).")
    var overwrite = false

    @Flag(name: .long, help: "Take the images in the subdirectories of a directory given too.")
    var recursive = false

    @Argument(help: "PNG or JPEG images, or directories of them.")
    var images: [String] = []

    public init() {}

    public func run() throws {
        let (cfg, limit, bar) = try CommandFailure.flags("attack") {
            (try flags.config(method: try FlagValues.method(method)), try flags.memoryLimit(), try progress.reporter("attack", unit: "images"))
        }
        try CommandFailure.run("attack") {
            try AttackCommand.run(sources: flags.sourceList, config: cfg, images: images, outDir: out,
                                  threads: flags.threadCount, memoryLimit: limit, maxPixels: flags.maxPixels,
                                  strict: flags.strict, overwrite: overwrite, recursive: recursive, emit: Console.out,
                                  warn: { Console.error("sega attack: warning: \($0)") }, progress: bar.update)
        }
    }

    /// Check everything (images, models, settings, output directory, outputs, memory), then
    /// attack each image; an error after the first write is a failure during the work.
    public static func run(sources: [String], config: AttackConfig, images: [String], outDir: String,
                           threads: Int, memoryLimit: Int?, maxPixels: Int, strict: Bool = false, overwrite: Bool = false,
                           recursive: Bool = false, emit: (String) -> Void, warn: (String) -> Void = { _ in },
                           progress: ((Int, Int, String) -> Void)? = nil) throws {
        let items = try ImageList.items(paths: images, recursive: recursive)
        try config.validate()
        let src = try NamedModel.load(sources, role: "source")
        try NamedModel.requireDistinct(src, what: "--sources")
        let session = try AttackSession(sources: src, targets: [], config: config, threads: threads,
                                        memoryLimit: memoryLimit, limitName: "--memory-limit-mb")
        try OutputFiles.prepareDirectory(outDir)
        try checkOutputs(items, outDir: outDir, overwrite: overwrite)
        let loaded = try items.map { try EightBitGrid.round(try InputImage.read($0.path, maxPixels: maxPixels, strict: strict, warn: warn)) }
        for im in loaded { try session.checkBudget(height: im.height, width: im.width) }
        try CommandFailure.working {
            for (i, it) in items.enumerated() {
                progress?(i, items.count, it.name)
                try attackOne(it, loaded[i], session: session, sources: src.map(\.name), outDir: outDir, emit: emit)
            }
        }
        progress?(items.count, items.count, "")
    }

    /// Every output (NAME.png, NAME.json) checked before the first is written: none may be an
    /// input (under any spelling or link), and none may exist unless `overwrite`.
    static func checkOutputs(_ items: [ImageItem], outDir: String, overwrite: Bool) throws {
        let inputs = InputFiles(items.map(\.path))
        for it in items {
            for out in ["\(outDir)/\(it.name).png", "\(outDir)/\(it.name).json"] {
                if let input = inputs.input(at: out) {
                    throw SegaError(.invalidArgument, "output '\(out)' would overwrite the input '\(input)'; choose another output directory (-o)")
                }
                if !overwrite && FileSystem.exists(out) {
                    throw SegaError(.invalidArgument, "'\(out)' exists; pass --overwrite to replace it")
                }
            }
        }
    }

    static func attackOne(_ it: ImageItem, _ image: RGBImage, session: AttackSession, sources: [String], outDir: String,
                          emit: (String) -> Void) throws {
        let t0 = MonotonicClock.now()
        let (adv, r) = try session.attack(image, key: it.name)
        let secs = MonotonicClock.now() - t0
        let out = "\(outDir)/\(it.name).png"
        try OutputFiles.writePNG(adv, to: out, protecting: [it.path])
        var j = JSONWriter()
        j.add("image", it.path)
        j.add("output", out)
        j.add("method", session.config.method.rawValue)
        j.addAttack(sources: sources, r, Similarity(image, adv), seconds: secs)
        try OutputFiles.writeText(j.text + "\n", to: "\(outDir)/\(it.name).json")
        emit(j.text)
    }
}
