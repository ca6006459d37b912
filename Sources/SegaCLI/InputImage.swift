import SegaIO
import SegaRuntime

// MARK: - Reading the images a command attacks

/// How attack and eval read their images: decoder warnings reported (or, with --strict,
/// refused), and images below SSIM's window refused up front. SSIM (Wang et al. 2004, an 11x11
/// Gaussian window) is undefined on a smaller image; scoring such images is `sega score`'s.
enum InputImage {
    /// SSIM's window side: attack and eval need images at least this wide and high.
    static let minimumSide = 11

    /// The image at `path`; `warn` gets each decoder warning unless `strict` refuses them.
    static func read(_ path: String, maxPixels: Int, strict: Bool, warn: (String) -> Void) throws -> RGBImage {
        let d = try ImageFile.load(path, maxPixels: maxPixels)
        if !d.warnings.isEmpty {
            if strict { throw SegaError(.format, d.warnings.joined(separator: "; ") + " (refused with --strict)", about: .image) }
            d.warnings.forEach(warn)
        }
        let im = d.image
        guard im.width >= minimumSide, im.height >= minimumSide else {
            throw SegaError(.invalidArgument, "\(path): image \(im.width)x\(im.height) is smaller than \(minimumSide)x\(minimumSide) (the SSIM window); attack and eval need images of at least \(minimumSide)x\(minimumSide)", about: .image)
        }
        return im
    }
}
