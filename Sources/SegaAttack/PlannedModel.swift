import SegaEngine
import SegaModels

// MARK: - A model planned for one image size

/// One NR-IQA model planned once for images of one size: its score and, when planned with
/// gradients, the score's gradient with respect to the image. Everything it touches per call is
/// inside the plan's arena, so calls do not allocate.
public final class PlannedModel {
    public let model: any IQAArchitecture
    public let name: String
    public let height: Int, width: Int
    public let withGradient: Bool
    public let plan: Plan
    let input: Tensor, output: Tensor
    /// The plan's input buffer (3*H*W, planar RGB in [0, 1]).
    public let inputBuffer: UnsafeMutableBufferPointer<Float>
    let gradBuffer: UnsafeMutableBufferPointer<Float>?
    /// The score's buffer, looked up once (the lookup's checks build messages that allocate).
    let scoreBuffer: UnsafeMutableBufferPointer<Float>
    /// Forward + backward passes run so far (what an attack's gradient-call count must equal).
    public private(set) var gradientPasses = 0

    public var scoreRange: (lo: Double, hi: Double) { model.scoreRange }

    /// Build the graph and plan (throws the engine's "memory budget too small" error before
    /// allocating if the plan would exceed `memoryLimit` bytes).
    public init(_ model: any IQAArchitecture, name: String, context: Context, height: Int, width: Int,
                withGradient: Bool, memoryLimit: Int? = nil) throws {
        self.model = model
        self.name = name
        self.height = height
        self.width = width
        self.withGradient = withGradient
        let (g, x, s) = try PlannedModel.graph(model, height: height, width: width)
        plan = try g.plan(context, outputs: [s], gradientsFor: withGradient ? [x] : [],
                          options: PlanOptions(memoryLimit: memoryLimit))
        input = x
        output = s
        inputBuffer = plan.buffer(x)
        scoreBuffer = plan.buffer(s)
        gradBuffer = withGradient ? plan.gradient(x) : nil
    }

    /// The memory such a plan needs on a context of `threads` threads, computed without allocating it.
    public static func memory(_ model: any IQAArchitecture, height: Int, width: Int, withGradient: Bool,
                              threads: Int = 1) throws -> PlanMemory {
        let (g, x, s) = try graph(model, height: height, width: width)
        return try g.planMemory(outputs: [s], gradientsFor: withGradient ? [x] : [], threads: threads)
    }

    static func graph(_ model: any IQAArchitecture, height: Int, width: Int) throws -> (Graph, Tensor, Tensor) {
        let g = Graph()
        let x = try g.input([1, 3, height, width], name: "image")
        let s = try model.build(g, image: x)
        guard s.shape.reduce(1, *) == 1 else {
            throw EngineError(.shapeMismatch, "\(type(of: model).name): output has shape \(s.shape), not a single score")
        }
        return (g, x, s)
    }

    /// Score of the image already written into `inputBuffer`.
    @inline(__always)
    public func scoreInput() -> Float {
        plan.forward()
        return scoreBuffer[0]
    }

    /// Score of `image` (3*H*W values).
    public func score(_ image: UnsafeBufferPointer<Float>) -> Float {
        precondition(image.count == inputBuffer.count, "image size does not match the plan")
        inputBuffer.baseAddress!.update(from: image.baseAddress!, count: image.count)
        return scoreInput()
    }

    /// Forward and backward on the image already in `inputBuffer`; returns the score and the
    /// gradient buffer (valid until the next call).
    @inline(__always)
    public func scoreAndGradientOfInput() -> (Float, UnsafeMutableBufferPointer<Float>) {
        precondition(withGradient, "planned without gradients")
        plan.forward()
        let s = scoreBuffer[0]
        plan.backward()
        gradientPasses += 1
        return (s, gradBuffer!)
    }
}
