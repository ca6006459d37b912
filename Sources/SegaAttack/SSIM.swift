#if canImport(Glibc)
import Glibc
#endif

/// SSIM of Wang et al. 2004 on luma, matching skimage.metrics.structural_similarity(y1, y2,
/// data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False): 11x11 Gaussian
/// window (sigma 1.5), K1 = 0.01, K2 = 0.03, population covariance, mean over the map cropped by
/// 5 pixels per side. That crop leaves exactly the "valid" windows, so no padding is needed.
public enum SSIM {
    /// SSIM of two planar CHW RGB images in [0,1]; .nan if smaller than 11x11. Allocates a
    /// workspace per call: use SSIMWorkspace in loops.
    public static func ssim(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, height: Int, width: Int) -> Double {
        var ws = SSIMWorkspace(height: height, width: width)
        return ws.ssim(a, b)
    }

    // MARK: - Constants

    static let radius = 5
    static let taps = 2 * radius + 1
    static let sigma = 1.5
    static let c1 = 0.01 * 0.01       // (K1 * data range)^2
    static let c2 = 0.03 * 0.03       // (K2 * data range)^2
}

/// Scratch for SSIM at one image size, allocated once so that `ssim` does not allocate.
public struct SSIMWorkspace {
    public let height: Int
    public let width: Int
    /// weights (11) | luma a (H*W) | luma b (H*W) | 5 row-filtered planes (H * (W-10) each).
    private var storage: [Double]

    public init(height: Int, width: Int) {
        precondition(height > 0 && width > 0, "SSIMWorkspace: empty image")
        self.height = height
        self.width = width
        let t = SSIM.taps
        guard height >= t, width >= t else { storage = []; return }
        storage = [Double](repeating: 0, count: t + 2 * height * width + 5 * height * (width - t + 1))
        var sum = 0.0
        for k in 0..<t {
            let x = Double(k - SSIM.radius)
            storage[k] = exp(-0.5 * x * x / (SSIM.sigma * SSIM.sigma))
            sum += storage[k]
        }
        for k in 0..<t { storage[k] /= sum }
    }

    /// Bytes a workspace for h x w holds.
    public static func bytes(height h: Int, width w: Int) -> Int {
        let t = SSIM.taps
        guard h >= t, w >= t else { return 0 }
        return (t + 2 * h * w + 5 * h * (w - t + 1)) * MemoryLayout<Double>.size
    }

    // MARK: - SSIM

    /// SSIM of two planar CHW RGB images in [0,1] of this workspace's size; .nan if smaller than 11x11.
    public mutating func ssim(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Double {
        let h = height, w = width, plane = h * w
        precondition(a.count == 3 * plane && b.count == 3 * plane, "SSIM: images must be 3 x \(h) x \(w)")
        guard !storage.isEmpty else { return .nan }
        return storage.withUnsafeMutableBufferPointer { s in
            let base = s.baseAddress!
            let g = UnsafePointer(base)
            let ya = base + SSIM.taps, yb = ya + plane
            Self.luma(a, into: ya, plane: plane)
            Self.luma(b, into: yb, plane: plane)
            let ow = w - SSIM.taps + 1, oh = h - SSIM.taps + 1, band = h * ow
            let hx = yb + plane, hy = hx + band, hxx = hy + band, hyy = hxx + band, hxy = hyy + band
            // Rows: filter x, y, x^2, y^2, xy along the width (valid columns only).
            for r in 0..<h {
                for c in 0..<ow {
                    var sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0
                    let p = r * w + c
                    for k in 0..<SSIM.taps {
                        let u = ya[p + k], v = yb[p + k], wk = g[k]
                        sx += wk * u; sy += wk * v
                        sxx += wk * u * u; syy += wk * v * v; sxy += wk * u * v
                    }
                    let o = r * ow + c
                    hx[o] = sx; hy[o] = sy; hxx[o] = sxx; hyy[o] = syy; hxy[o] = sxy
                }
            }
            // Columns: finish the window, evaluate the SSIM map and average it.
            var total = 0.0
            for r in 0..<oh {
                for c in 0..<ow {
                    var ux = 0.0, uy = 0.0, uxx = 0.0, uyy = 0.0, uxy = 0.0
                    for k in 0..<SSIM.taps {
                        let o = (r + k) * ow + c, wk = g[k]
                        ux += wk * hx[o]; uy += wk * hy[o]
                        uxx += wk * hxx[o]; uyy += wk * hyy[o]; uxy += wk * hxy[o]
                    }
                    let vx = uxx - ux * ux, vy = uyy - uy * uy, vxy = uxy - ux * uy
                    let num = (2 * ux * uy + SSIM.c1) * (2 * vxy + SSIM.c2)
                    let den = (ux * ux + uy * uy + SSIM.c1) * (vx + vy + SSIM.c2)
                    total += num / den
                }
            }
            return total / Double(oh * ow)
        }
    }

    // MARK: - Luma

    /// Y = 0.299 R + 0.587 G + 0.114 B, in [0,1].
    private static func luma(_ img: UnsafeBufferPointer<Float>, into y: UnsafeMutablePointer<Double>, plane: Int) {
        for i in 0..<plane {
            y[i] = 0.299 * Double(img[i]) + 0.587 * Double(img[plane + i]) + 0.114 * Double(img[2 * plane + i])
        }
    }
}
