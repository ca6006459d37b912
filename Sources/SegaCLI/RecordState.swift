import SegaModels

// MARK: - What a rerun finds

/// What a rerun finds for one image and method.
enum RecordState {
    /// A record with these settings, these targets' weights and these SSIM levels.
    case complete(Report.Record)
    /// A record with these settings but other targets or other SSIM levels (--match-ssim), and
    /// its attacked image, unchanged since (its fingerprint matches): re-score and re-match the
    /// kept image, keep the rest of the record.
    case refresh(JSONValue, String)
    /// Nothing usable: attack.
    case missing

    var isComplete: Bool { if case .complete = self { return true }; return false }
}
