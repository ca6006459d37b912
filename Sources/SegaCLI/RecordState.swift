import SegaModels

// MARK: - What a rerun finds

/// What a rerun finds for one image and method.
enum RecordState {
    /// A record with these settings and these targets' weights.
    case complete(Report.Record)
    /// A record with these settings for other targets, and its attacked image, unchanged
    /// since (its fingerprint matches): re-score it, keep the rest of the record.
    case rescore(JSONValue, String)
    /// Nothing usable: attack.
    case missing

    var isComplete: Bool { if case .complete = self { return true }; return false }
}
