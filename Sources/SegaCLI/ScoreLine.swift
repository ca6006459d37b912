import SegaModels

// MARK: - One scored image

/// One line of `sega score`.
public struct ScoreLine: Equatable, Sendable {
    public let image: String
    public let model: String
    public let arch: String
    public let score: Float

    /// `<path>\t<score>` (the score's shortest Float text).
    public var tsv: String { "\(image)\t\(score)" }

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
