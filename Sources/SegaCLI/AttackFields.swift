import SegaAttack
import SegaModels

// MARK: - The fields of an attack record

extension JSONWriter {
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
        if r.spent != 1 { add("spent", r.spent) }
        add("seconds", (seconds * 1000).rounded() / 1000)
    }
}
