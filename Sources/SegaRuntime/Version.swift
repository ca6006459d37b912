// MARK: - Version

/// The version of sega, in one place: `sega --version` prints `SegaVersion.string`, the C API's
/// `sega_version()` returns it, the eval reports record it, and `scripts/install.sh` writes
/// `number` into `sega.pc` (it reads this file). Semantic versioning: MAJOR.MINOR.PATCH.
public enum SegaVersion {
    public static let number = "0.4.0"
    /// "sega 0.4.0".
    public static var string: String { "sega \(number)" }
}
