import SegaEngine
import SegaIO
import SegaModels

// MARK: - Scorer

/// Scores images with one model: `sega score`'s code path, also used by the end-to-end tests.
/// A graph and plan (forward only, no gradients) is built per image size and reused while
/// consecutive images share that size (`maxCachedPlans` sizes are kept). Each plan must fit in
/// `memoryLimit` bytes (default: 3/4 of physical memory), or scoring that image fails with the
/// engine's "memory budget too small" error instead of the process being killed.
public final class Scorer {
    public let model: any IQAArchitecture
    public let context: Context
    /// Plans kept at once (each holds its own activations).
    public let maxCachedPlans: Int
    /// Arena limit per plan, in bytes.
    public let memoryLimit: Int?

    private struct Entry {
        let height: Int, width: Int
        let input: Tensor, output: Tensor
        let plan: Plan
    }
    private var cache: [Entry] = []  // most recently used last

    public init(model: any IQAArchitecture, threads: Int = 1, maxCachedPlans: Int = 1,
                memoryLimit: Int? = Scorer.defaultMemoryLimit) throws {
        self.model = model
        self.context = try Context(threads: threads)
        self.maxCachedPlans = max(1, maxCachedPlans)
        self.memoryLimit = memoryLimit
    }

    /// 3/4 of physical memory (nil if unknown).
    public static var defaultMemoryLimit: Int? { Machine.defaultMemoryLimit() }

    /// Load a weights file (architecture from its metadata unless `arch` is given).
    public convenience init(weightsPath: String, arch: String? = nil, threads: Int = 1) throws {
        try self.init(model: try ModelZoo.load(path: weightsPath, arch: arch), threads: threads)
    }

    /// The model's score for an RGB image in [0, 1].
    public func score(_ image: RGBImage) throws -> Float {
        let e = try entry(height: image.height, width: image.width)
        try e.plan.setInput(e.input, image.pixels)
        e.plan.forward()
        return e.plan.buffer(e.output)[0]
    }

    private func entry(height: Int, width: Int) throws -> Entry {
        if let i = cache.firstIndex(where: { $0.height == height && $0.width == width }) {
            let e = cache.remove(at: i)
            cache.append(e)
            return e
        }
        let g = Graph()
        let x = try g.input([1, 3, height, width], name: "image")
        let s = try model.build(g, image: x)
        guard s.shape.reduce(1, *) == 1 else {
            throw SegaError(.format, "\(type(of: model).name): the model's output has shape \(s.shape), not a single score", about: .model)
        }
        // Drop old plans first, so that at most maxCachedPlans arenas exist at once.
        while cache.count >= maxCachedPlans { cache.removeFirst() }
        let e = Entry(height: height, width: width, input: x, output: s,
                      plan: try g.plan(context, outputs: [s], gradientsFor: [],
                                       options: PlanOptions(memoryLimit: memoryLimit)))
        cache.append(e)
        return e
    }
}
