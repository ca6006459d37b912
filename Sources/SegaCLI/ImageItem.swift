// MARK: - One image of a list

/// One image to process: its path and the name its outputs get (file name without extension).
public struct ImageItem: Equatable, Sendable {
    public let path: String
    public let name: String
    /// The list's `mos` column, if it has one (for reference in reports).
    public let mos: Double?
}
