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

    @Argument(help: "PNG or JPEG images.")
    var images: [String] = []

    public init() {}

    public func run() throws {
        try CommandFailure.run("attack") {
            let cfg = try flags.config(method: try FlagValues.method(method))
            let limit = try flags.memoryLimit()
            let bar = try progress.reporter("attack", unit: "images")
            try AttackCommand.run(sources: flags.sourceList, config: cfg, images: images, outDir: out,
                                  threads: flags.threadCount, memoryLimit: limit, maxPixels: flags.maxPixels,
                                  emit: Console.out, progress: bar.update)
        }
    }

    public static func run(sources: [String], config: AttackConfig, images: [String], outDir: String,
                           threads: Int, memoryLimit: Int?, maxPixels: Int,
                           emit: (String) -> Void, progress: ((Int, Int, String) -> Void)? = nil) throws {
        let items = try ImageList.items(paths: images)
        try config.validate()
        let src = try NamedModel.load(sources, role: "source")
        let session = try AttackSession(sources: src, targets: [], config: config, threads: threads,
                                        memoryLimit: memoryLimit, limitName: "--memory-limit-mb")
        try OutputFiles.prepareDirectory(outDir)
        let loaded = try items.map { try EightBitGrid.round(try ImageFile.read($0.path, maxPixels: maxPixels)) }
        for im in loaded { try session.checkBudget(height: im.height, width: im.width) }
        for (i, it) in items.enumerated() {
            progress?(i, items.count, it.name)
            let t0 = MonotonicClock.now()
            let (adv, r) = try session.attack(loaded[i], key: it.name)
            let secs = MonotonicClock.now() - t0
            let out = "\(outDir)/\(it.name).png"
            try OutputFiles.writePNG(adv, to: out, protecting: images)
            var j = JSONWriter()
            j.add("image", it.path)
            j.add("output", out)
            j.add("method", config.method.rawValue)
            j.addAttack(sources: src.map(\.name), r, Similarity(loaded[i], adv), seconds: secs)
            try OutputFiles.writeText(j.text + "\n", to: "\(outDir)/\(it.name).json")
            emit(j.text)
        }
        progress?(items.count, items.count, "")
    }
}
