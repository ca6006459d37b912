#if canImport(Glibc)
import Glibc
#endif
import SegaAttack
import SegaIO
import SegaModels

// MARK: - Image quality of an attacked image

/// SSIM, PSNR, L-infinity and L2 between a clean and an attacked image.
public struct Similarity: Sendable {
    public let ssim: Double, psnr: Double, linf: Double, l2: Double

    public init(_ a: RGBImage, _ b: RGBImage) {
        (ssim, psnr, linf, l2) = a.pixels.withUnsafeBufferPointer { pa in
            b.pixels.withUnsafeBufferPointer { pb in
                (SSIM.ssim(pa, pb, height: a.height, width: a.width), Metrics.psnr(pa, pb), Metrics.linf(pa, pb), Metrics.l2(pa, pb))
            }
        }
    }
}

extension JSONObject {
    /// The fields every attack record has: sources and their scores before/after, direction,
    /// image similarity, gradient calls, mask coverage, seconds (the one field that varies run to run).
    mutating func addAttack(sources: [String], _ r: AttackResult, _ sim: Similarity, seconds: Double) {
        add("sources", sources.joined(separator: ","))
        add("scores_before", r.scoresBefore.map(Double.init))
        add("scores_after", r.scoresAfter.map(Double.init))
        add("direction", r.direction)
        add("ssim", sim.ssim)
        add("psnr", sim.psnr)
        add("linf", sim.linf)
        add("l2", sim.l2)
        add("gradient_calls", r.gradientCalls)
        add("mask_f_kept", r.maskFKept)
        add("mask_jnd_kept", r.maskJNDKept)
        add("seconds", (seconds * 1000).rounded() / 1000)
    }
}

// MARK: - sega attack

/// `sega attack`: attack each image with the sources and write OUTDIR/NAME.png and
/// OUTDIR/NAME.json (one JSON object per image, also emitted as a line). Every check that can
/// fail on bad input (names, settings, output directory, images, memory) runs before the first
/// output is written.
public enum AttackCommand {
    public static func run(sources: [String], config: AttackConfig, images: [String], outDir: String,
                           threads: Int, memoryLimit: Int?, maxPixels: Int,
                           emit: (String) -> Void, progress: ((Int, Int, String) -> Void)? = nil) throws {
        let items = try ImageList.items(paths: images)
        try config.validate()
        let src = try NamedModel.load(sources, role: "source")
        let session = try AttackSession(sources: src, targets: [], config: config, threads: threads, memoryLimit: memoryLimit)
        try AttackCLI.prepareOutputDirectory(outDir)
        var loaded: [RGBImage] = []
        for it in items {
            do { loaded.append(AttackCLI.to8bit(try ImageFile.read(it.path, maxPixels: maxPixels))) } catch {
                throw CLIError("\(error)")
            }
        }
        for im in loaded { try session.checkBudget(height: im.height, width: im.width) }
        for (i, it) in items.enumerated() {
            progress?(i, items.count, it.name)
            let t0 = AttackCLI.now()
            let (adv, r) = try session.attack(loaded[i], key: it.name)
            let secs = AttackCLI.now() - t0
            let out = "\(outDir)/\(it.name).png"
            do { try ImageFile.writePNG(adv, to: out, protecting: images) } catch { throw CLIError("\(error)") }
            let sim = Similarity(loaded[i], adv)
            var j = JSONObject()
            j.add("image", it.path)
            j.add("output", out)
            j.add("method", config.method.rawValue)
            j.addAttack(sources: src.map(\.name), r, sim, seconds: secs)
            try AttackCLI.writeText(j.text + "\n", to: "\(outDir)/\(it.name).json")
            emit(j.text)
        }
        progress?(items.count, items.count, "")
    }
}
