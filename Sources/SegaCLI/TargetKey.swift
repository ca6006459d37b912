import SegaRuntime

// MARK: - What an eval record's target scores are for

/// The targets a record's scores are for: their names and their weights.
struct TargetKey: Equatable {
    let names: String
    let weights: String

    init(_ targets: [NamedModel]) {
        names = targets.map(\.name).joined(separator: ",")
        weights = RecordKey.weights(targets)
    }
}
