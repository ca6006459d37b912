import SegaAttack
import SegaEngine
import SegaIO
import SegaModels

// MARK: - Attack session

/// Sources (planned with gradients), targets (forward only) and an attacker, planned for one
/// image size at a time and re-planned when the size changes. The memory budget covers all of
/// them together and is checked before anything is allocated.
public final class AttackSession {
    public let sources: [NamedModel]
    public let targets: [NamedModel]
    public let context: Context
    public let memoryLimit: Int?
    /// How errors name the memory limit (the caller's word for it, e.g. its flag).
    public let limitName: String
    public var config: AttackConfig

    public private(set) var height = 0, width = 0
    var planned: [PlannedModel] = []
    var plannedTargets: [PlannedModel] = []
    var attacker: Attacker?

    public init(sources: [NamedModel], targets: [NamedModel], config: AttackConfig, threads: Int, memoryLimit: Int?,
                limitName: String = "the memory limit") throws {
        try config.validate()
        self.sources = sources
        self.targets = targets
        self.config = config
        self.memoryLimit = memoryLimit
        self.limitName = limitName
        context = try Context(threads: threads)
    }

    /// Bytes the session needs for images of h x w: every plan (arena + weights) and the
    /// attacker's state (Attacker.stateBytes).
    public func requiredBytes(height h: Int, width w: Int) throws -> Int {
        var total = Attacker.stateBytes(height: h, width: w, sources: sources.count)
        for s in sources { total += try PlannedModel.memory(s.model, height: h, width: w, withGradient: true, threads: context.threads).totalBytes }
        for t in targets { total += try PlannedModel.memory(t.model, height: h, width: w, withGradient: false, threads: context.threads).totalBytes }
        return total
    }

    /// Refuse (before any work) when the budget is too small for images of this size; returns
    /// the bytes one session needs for them (0 when there is no budget to check against).
    @discardableResult
    public func checkBudget(height h: Int, width w: Int) throws -> Int {
        guard let limit = memoryLimit else { return 0 }
        let need = try requiredBytes(height: h, width: w)
        if need > limit {
            throw SegaError(.memory, "memory budget too small: \(mb(need)) MB needed for \(sources.count) source(s) and \(targets.count) target(s) at \(w)x\(h), \(limitName) allows \(mb(limit)) MB")
        }
        return need
    }

    /// Plan every model for h x w (nothing to do when planned for that size already).
    public func prepare(height h: Int, width w: Int) throws {
        if h == height && w == width && attacker != nil { return }
        try checkBudget(height: h, width: w)
        attacker = nil; planned = []; plannedTargets = []
        planned = try sources.map { try PlannedModel($0.model, name: $0.name, context: context, height: h, width: w, withGradient: true) }
        plannedTargets = try targets.map { try PlannedModel($0.model, name: $0.name, context: context, height: h, width: w, withGradient: false) }
        attacker = try Attacker(sources: planned, config: config)
        height = h; width = w
    }

    /// Attack one image with the session's config (method included); `key` names the image in
    /// the noise stream, so its result does not depend on which other images run.
    public func attack(_ image: RGBImage, key: String) throws -> (RGBImage, AttackResult) {
        try prepare(height: image.height, width: image.width)
        let a = attacker!
        a.config = config
        var out = RGBImage(width: image.width, height: image.height)
        let r = try image.pixels.withUnsafeBufferPointer { src in
            try out.pixels.withUnsafeMutableBufferPointer { dst in
                try a.run(image: src, key: NoiseStream.key(for: key), into: dst)
            }
        }
        return (out, r)
    }

    /// Each target's score of an image.
    public func targetScores(_ image: RGBImage) throws -> [Float] {
        try prepare(height: image.height, width: image.width)
        return image.pixels.withUnsafeBufferPointer { p in plannedTargets.map { $0.score(p) } }
    }

    /// The attacker's last masks (for report sheets).
    public var lastMasks: (maskF: [Float], maskJND: [Float])? {
        guard let a = attacker else { return nil }
        return (Array(a.lastMaskF), Array(a.lastMaskJND))
    }

    func mb(_ b: Int) -> String { "\((Double(b) / 1048576 * 10).rounded() / 10)" }
}
