// MARK: - Constant storage

/// Weights owned outside the arena: filled once at load (e.g. converted straight from a mapped
/// file) and read in place by every plan built from the graph, so weights are copied at most once.
public final class ConstantData: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// Uninitialised storage for `count` floats (64-byte aligned), to be filled by the caller.
    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public var array: [Float] { Array(buffer) }
}

// MARK: - Graph builder

/// A symbolic tensor: a node of a graph and its shape.
public struct Tensor: Hashable, Sendable {
    public let id: Int
    public let shape: [Int]
    public var rank: Int { shape.count }
    public var count: Int { product(shape) }
}

/// Builds a network as a list of nodes in topological order (each node only reads earlier ones).
/// Shapes are checked as nodes are added; `plan` then sizes every buffer once.
public final class Graph {
    public enum Kind {
        case input
        case constant(ConstantData)
        case op(Op, [Int])
    }

    public struct Node {
        public let kind: Kind
        public let shape: [Int]
        public let name: String
    }

    public private(set) var nodes: [Node] = []

    public init() {}

    /// A value supplied at run time (an image, a noise sample).
    @discardableResult
    public func input(_ shape: [Int], name: String = "input") throws -> Tensor {
        _ = try elementCount(shape, what: "input '\(name)'")
        return push(Node(kind: .input, shape: shape, name: name))
    }

    /// Fixed data (weights), copied once into storage the graph's plans read in place.
    public func constant(_ data: [Float], _ shape: [Int], name: String = "const") throws -> Tensor {
        let n = try elementCount(shape, what: "constant '\(name)'")
        guard data.count == n else {
            throw EngineError(.shapeMismatch, "constant '\(name)': shape \(shape) needs \(n) values, got \(data.count)")
        }
        return push(Node(kind: .constant(ConstantData(data)), shape: shape, name: name))
    }

    /// Fixed data already in its final storage (no copy).
    public func constant(_ data: ConstantData, _ shape: [Int], name: String = "const") throws -> Tensor {
        let n = try elementCount(shape, what: "constant '\(name)'")
        guard data.count == n else {
            throw EngineError(.shapeMismatch, "constant '\(name)': shape \(shape) needs \(n) values, got \(data.count)")
        }
        return push(Node(kind: .constant(data), shape: shape, name: name))
    }

    /// Add a node computing `op` over `inputs`; checks the shapes now.
    public func apply(_ op: Op, _ inputs: [Tensor]) throws -> Tensor {
        for t in inputs {
            guard t.id >= 0, t.id < nodes.count, nodes[t.id].shape == t.shape else {
                throw EngineError(.invalidArgument, "\(op.name): input tensor \(t.id) does not belong to this graph")
            }
        }
        let shape = try op.outputShape(inputs.map(\.shape))
        _ = try elementCount(shape, what: "output of \(op.name)")
        return push(Node(kind: .op(op, inputs.map(\.id)), shape: shape, name: op.name))
    }

    /// The storage of a constant node (nil for inputs and ops).
    public func constantStorage(_ t: Tensor) -> ConstantData? {
        if case .constant(let d) = nodes[t.id].kind { return d }
        return nil
    }

    private func push(_ n: Node) -> Tensor {
        nodes.append(n)
        return Tensor(id: nodes.count - 1, shape: n.shape)
    }
}
