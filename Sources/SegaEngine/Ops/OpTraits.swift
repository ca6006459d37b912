// MARK: - Shared answers to the Op protocol's memory-planning questions

/// An op whose backward reads only the output gradient and state its forward saved (pooling
/// winners): neither its inputs nor its output, and the saved memory is written by forward(),
/// not at bind. Conforming supplies `backwardReads` and `savedFilledAtBind`.
public protocol BackwardFromSavedState: Op {}

extension BackwardFromSavedState {
    public func backwardReads(_ inputs: [[Int]], output: [Int], gradsNeeded: [Bool]) -> (inputs: [Bool], output: Bool) {
        readsNothing(inputs)
    }
    public var savedFilledAtBind: Bool { false }
}
