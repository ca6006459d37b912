import SegaModels
import SegaRuntime

// MARK: - One scored image

/// One line of `sega score`.
public struct ScoreLine: Equatable, Sendable {
    public let image: String
    public let model: String
    public let arch: String
    public let score: Float

    /// `<path>\t<score>` (the score's shortest Float text); tabs, newlines and backslashes in
    /// the path escaped (TSV.field), so every image is one line of two fields.
    public var tsv: String { "\(TSV.field(image))\t\(score)" }

    /// {"image":..,"model":..,"arch":..,"score":..} (non-finite scores as null).
    public var json: String {
        var j = JSONWriter()
        j.add("image", image)
        j.add("model", model)
        j.add("arch", arch)
        j.add("score", score)
        return j.text
    }
}
