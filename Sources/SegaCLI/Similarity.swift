import SegaAttack
import SegaIO

// MARK: - Image quality of an attacked image

/// SSIM, PSNR, L-infinity and L2 between a clean and an attacked image.
public struct Similarity: Sendable {
    public let ssim: Double, psnr: Double, linf: Double, l2: Double

    public init(_ a: RGBImage, _ b: RGBImage) {
        (ssim, psnr, linf, l2) = a.pixels.withUnsafeBufferPointer { pa in
            b.pixels.withUnsafeBufferPointer { pb in
                (SSIM.ssim(pa, pb, height: a.height, width: a.width), Metrics.psnr(pa, pb), Metrics.linf(pa, pb), Metrics.l2(pa, pb))
            }
        }
    }
}
