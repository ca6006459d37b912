import SegaEngine

// MARK: - Architecture protocol

/// An NR-IQA network defined over the engine's ops. An instance holds the weights it read
/// from a safetensors file (names are the PyTorch state-dict names, after `weights/convert.py`)
/// and adds itself to a graph for a given image size. RGB in [0, 1] goes in, shape [1, 3, H, W];
/// the model normalises, resizes and crops itself exactly as pyiqa does; out comes the score [1].
public protocol IQAArchitecture: AnyObject {
    /// Registry name, e.g. "cnniqa" (also written as `arch` in the weights' metadata).
    static var name: String { get }
    /// Read and validate every tensor: missing, left-over, mis-shaped or non-finite tensors throw
    /// a `WeightsError` naming the tensor. Widths are inferred from the tensor shapes, so reduced
    /// test variants load through the same code.
    init(weights: SafeTensors) throws
    /// Add the network for an image of `image.shape` = [1, 3, H, W]; return the score tensor [1].
    func build(_ g: Graph, image: Tensor) throws -> Tensor
    /// Nominal score range (lo, hi): the attack pushes scores away from the midpoint and the R
    /// robustness metric uses it.
    var scoreRange: (lo: Double, hi: Double) { get }
    /// How the network takes the image (`sega models` shows it); the whole image unless overridden.
    var inputProtocol: InputProtocol { get }
}

extension IQAArchitecture {
    public var inputProtocol: InputProtocol { .wholeImage }
}

/// What an architecture does to an image before its layers (besides its own normalisation).
public enum InputProtocol: Equatable, Sendable {
    /// The whole image at its own size.
    case wholeImage
    /// Resized (bilinear) to height x width.
    case resized(height: Int, width: Int)
    /// `count` size x size crops on a grid (the image upscaled first when a side is <= size),
    /// scores averaged (pyiqa's uniform_crop).
    case crops(count: Int, size: Int)
    /// Non-overlapping size x size patches, scores averaged with learned weights.
    case patches(size: Int)

    /// "whole", "resize", "crops" or "patches".
    public var kind: String {
        switch self {
        case .wholeImage: return "whole"
        case .resized: return "resize"
        case .crops: return "crops"
        case .patches: return "patches"
        }
    }

    /// One line for people, e.g. "4 crops of 224x224, scores averaged".
    public var text: String {
        switch self {
        case .wholeImage: return "the whole image at its own size"
        case .resized(let h, let w): return "resized (bilinear) to \(h)x\(w)"
        case .crops(let n, let s): return "\(n) crop\(n == 1 ? "" : "s") of \(s)x\(s) on a grid (upscaled first when a side is <= \(s)), scores averaged"
        case .patches(let s): return "non-overlapping \(s)x\(s) patches, scores averaged with learned weights"
        }
    }
}

// MARK: - Registry

public enum ModelZoo {
    /// Every architecture sega can build, by registry name. Add one line per architecture.
    public static let architectures: [String: any IQAArchitecture.Type] = {
        var d: [String: any IQAArchitecture.Type] = [:]
        for t in registered { d[t.name] = t }
        return d
    }()

    // REGISTRY: one entry per architecture (keep one per line).
    static let registered: [any IQAArchitecture.Type] = [
        CNNIQA.self,
        DBCNN.self,
        WaDIQaM.self,
        HyperIQA.self,
        LinearityIQA.self,
        Lite0.self,
        HyperIQALite0.self,
        LinearityIQALite0.self,
        DBCNNLite0.self,
        ViTIQA.self,
        Lite2IQA.self,
        ViTPatchIQA.self,
    ]

    /// Load a weights file and build its architecture (from `arch` metadata unless given).
    public static func load(path: String, arch: String? = nil) throws -> any IQAArchitecture {
        let st = try SafeTensors(path: path)
        return try load(st, arch: arch)
    }

    public static func load(_ st: SafeTensors, arch: String? = nil) throws -> any IQAArchitecture {
        let meta = st.metadata.first(where: { $0.0 == "arch" })?.1
        guard let name = arch ?? meta else {
            throw WeightsError(.noArchitecture, "\(st.source): the weights carry no 'arch' metadata; give the architecture explicitly (one of \(architectures.keys.sorted().joined(separator: ", ")))")
        }
        guard let t = architectures[name] else {
            throw WeightsError(.unknownArchitecture, "unknown architecture '\(name)' (known: \(architectures.keys.sorted().joined(separator: ", ")))")
        }
        if let meta, meta != name {
            throw WeightsError("\(st.source): weights are for architecture '\(meta)', not '\(name)'")
        }
        return try t.init(weights: st)
    }
}

// MARK: - Metadata

extension SafeTensors {
    /// The score range a weights file declares in its metadata (`score_lo`, `score_hi`: set by
    /// weights/train.py for sega's own models), or `fallback` when it declares none.
    public func declaredScoreRange(default fallback: (lo: Double, hi: Double)) throws -> (lo: Double, hi: Double) {
        let lo = metadata.first(where: { $0.0 == "score_lo" })?.1
        let hi = metadata.first(where: { $0.0 == "score_hi" })?.1
        if lo == nil && hi == nil { return fallback }
        guard let ls = lo, let hs = hi, let l = Double(ls), let h = Double(hs), l.isFinite, h.isFinite, l < h else {
            throw WeightsError("\(source): metadata score_lo/score_hi = '\(lo ?? "")'/'\(hi ?? "")' is not a finite range lo < hi")
        }
        return (l, h)
    }
}

// MARK: - Weight reading helper

/// Reads tensors by name, records which were used, and checks at the end that none is left over.
public final class WeightReader {
    public let file: SafeTensors
    public let architecture: String
    public private(set) var used: [String] = []

    public init(_ file: SafeTensors, architecture: String) {
        self.file = file
        self.architecture = architecture
    }

    /// The tensor's values; its shape must match `shape` when given.
    public func floats(_ name: String, _ shape: [Int]? = nil) throws -> [Float] {
        try constant(name, shape).array
    }

    /// The tensor in engine constant storage (no further copy when added to a graph).
    public func constant(_ name: String, _ shape: [Int]? = nil) throws -> ConstantData {
        used.append(name)
        guard file.record(name) != nil else {
            throw WeightsError("\(file.source): missing tensor '\(name)' required by \(architecture) (are these weights for another architecture?)")
        }
        return try file.constant(name, shape: shape)
    }

    /// Shape of a tensor that must exist (used to infer widths).
    public func shape(_ name: String) throws -> [Int] {
        guard let r = file.record(name) else {
            throw WeightsError("\(file.source): missing tensor '\(name)' required by \(architecture) (are these weights for another architecture?)")
        }
        return r.shape
    }

    public func has(_ name: String) -> Bool { file.record(name) != nil }

    /// Throw if the file holds tensors this architecture did not read.
    public func finish() throws {
        let u = Set(used)
        if let extra = file.names.first(where: { !u.contains($0) }) {
            throw WeightsError("\(file.source): unexpected tensor '\(extra)', not used by \(architecture) (are these weights for another architecture?)")
        }
    }
}

/// A weight tensor held by an architecture; graphs read its storage in place.
public struct Param {
    public let data: ConstantData
    public let shape: [Int]
    public init(_ data: ConstantData, _ shape: [Int]) { self.data = data; self.shape = shape }
    public init(_ values: [Float], _ shape: [Int]) { self.init(ConstantData(values), shape) }
    /// Read `name`; its shape must be `shape` when given, else it is taken from the file.
    public init(_ r: WeightReader, _ name: String, _ shape: [Int]? = nil) throws {
        let s = try shape ?? r.shape(name)
        self.shape = s
        self.data = try r.constant(name, s)
    }
    public var values: [Float] { data.array }
    /// Add as a graph constant.
    public func const(_ g: Graph, _ name: String = "w") throws -> Tensor { try g.constant(data, shape, name: name) }
}
