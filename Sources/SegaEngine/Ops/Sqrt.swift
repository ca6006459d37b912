#if canImport(Glibc)
import Glibc
#endif

// MARK: - Square roots: sqrt, reciprocal sqrt and signed sqrt

/// Elementwise square roots.
/// - `.sqrt`: y = sqrt(x) with PyTorch semantics: no epsilon guard, NaN for x < 0, and
///   dx += dy / (2 y), which is inf (or NaN when dy = 0) at x = 0. Feed it values bounded away
///   from 0, or use `.signed` with an eps.
/// - `.rsqrt`: y = 1 / sqrt(x) (torch.rsqrt), dx += -dy y^3 / 2; inf at x = 0, NaN for x < 0, so
///   add a positive constant first (local contrast normalisation divides by sqrt(var + c)).
/// - `.signed(eps)`: y = sign(x) * sqrt(|x| + eps) (DBCNN's bilinear-pool normalisation), written as
///   PyTorch autograd differentiates it: dx += dy / (2 sqrt(|x| + eps)) for x != 0, and 0 at x = 0
///   (sign(0) = 0 and torch's d|x|/dx at 0 is 0).
public final class Sqrt: Op {
    public enum Kind: Equatable { case sqrt, rsqrt, signed(eps: Float) }
    public let kind: Kind
    public var name: String {
        switch kind { case .sqrt: "sqrt"; case .rsqrt: "rsqrt"; case .signed: "signed_sqrt" }
    }
    private var x: UnsafeMutablePointer<Float>!, y: UnsafeMutablePointer<Float>!
    private var dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?
    private var n = 0

    public init(_ kind: Kind) { self.kind = kind }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try require(inputs.count == 1, "\(name) takes 1 input, got \(inputs.count)")
        return inputs[0]
    }

    public func bind(_ b: OpBinding) throws {
        if case .signed(let eps) = kind, !(eps >= 0) {
            throw EngineError(.invalidArgument, "signed_sqrt: eps must be >= 0, got \(eps)")
        }
        x = b.inputs[0]; y = b.output; dx = b.inputGrads[0]; dy = b.outputGrad
        n = product(b.outputShape)
    }

    // MARK: forward
    public func forward() {
        switch kind {
        case .sqrt:
            for i in 0..<n { y[i] = x[i].squareRoot() }
        case .rsqrt:
            for i in 0..<n { y[i] = 1 / x[i].squareRoot() }
        case .signed(let eps):
            for i in 0..<n {
                let v = x[i]
                let r = (abs(v) + eps).squareRoot()
                y[i] = v > 0 ? r : (v < 0 ? -r : 0)
            }
        }
    }

    // MARK: memory planning
    /// sqrt and rsqrt read y; signed sqrt reads x.
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        guard gradsNeeded[0] else { return readsNothing(inputs) }
        if case .signed = kind { return ([true], false) }
        return ([false], true)
    }

    // MARK: backward
    public func backward() {
        guard let dx, let dy else { return }
        switch kind {
        case .sqrt:
            for i in 0..<n { dx[i] += dy[i] / (2 * y[i]) }
        case .rsqrt:
            for i in 0..<n { let v = y[i]; dx[i] += -0.5 * dy[i] * (v * v * v) }
        case .signed(let eps):
            for i in 0..<n {
                let v = x[i]
                if v != 0 { dx[i] += dy[i] / (2 * (abs(v) + eps).squareRoot()) }
            }
        }
    }
}

extension Graph {
    /// sqrt(x), PyTorch semantics (gradient inf at 0).
    public func sqrt(_ x: Tensor) throws -> Tensor { try apply(Sqrt(.sqrt), [x]) }
    /// 1 / sqrt(x), torch.rsqrt semantics (inf at 0).
    public func rsqrt(_ x: Tensor) throws -> Tensor { try apply(Sqrt(.rsqrt), [x]) }
    /// sign(x) * sqrt(|x| + eps).
    public func signedSqrt(_ x: Tensor, eps: Float) throws -> Tensor { try apply(Sqrt(.signed(eps: eps)), [x]) }
}
