// MARK: - Pixel-scale contrast (what masks a pixel-scale pattern)

extension JNDMap {
    /// The pixel-scale contrast (luma levels) below which --budget-growth texture grows nothing,
    /// and from which it grows a pixel's masking part in full; between them a smoothstep. A
    /// smooth or shaded surface has h of 0.5-3 (its sensor noise: the cup on `coffee`), fine
    /// texture (wood grain, foliage, fabric) 8-25, so the gate separates what the total-variation
    /// texture of Liu's model does not (it puts shading and noise in the texture part).
    public static let textureGrowthLow: Float = 3
    public static let textureGrowthHigh: Float = 9

    /// h_i: the root mean square, over the 5x5 window around each pixel, of the clean luma minus
    /// its 7-tap Gaussian blur (sigma 0.8, the map's edge smoother), in luma 0..255 levels, into
    /// `out` (H*W). The residual is what a pattern one or two pixels wide competes with: a smooth
    /// ramp or shading leaves almost none (the blur of a linear ramp is the ramp), texture and
    /// noise leave their amplitude. Borders replicate. No allocation; uses the map's planes.
    public mutating func pixelContrast(_ image: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>) {
        let h = height, w = width, plane = h * w
        checkSizes(image: image.count, output: out.count)
        withWorkspace { ri, ci, kern, y in
            let gauss = kern + Self.kernelFloats
            let blur = y + plane, scratch = blur + plane
            Self.luma(image, into: y, plane: plane)
            blur.update(from: y, count: plane)
            Self.gaussian7(blur, scratch: scratch, gauss, h, w, ri, ci)
            for i in 0..<plane { let d = y[i] - blur[i]; blur[i] = d * d }
            // 5x5 box mean: rows into scratch, columns into out.
            for r in 0..<h {
                for c in 0..<w {
                    var s: Float = 0
                    for k in -2...2 { s += blur[r * w + ci[c + k]] }
                    scratch[r * w + c] = s
                }
            }
            for r in 0..<h {
                for c in 0..<w {
                    var s: Float = 0
                    for k in -2...2 { s += scratch[ri[r + k] * w + c] }
                    out[r * w + c] = (s / 25).squareRoot()
                }
            }
        }
    }

    /// The growth scale of --budget-growth texture at contrast h: smoothstep from
    /// textureGrowthLow (0) to textureGrowthHigh (1), t^2 (3 - 2t).
    @inline(__always)
    static func textureGrowthScale(_ h: Float) -> Float {
        let t = min(max((h - textureGrowthLow) / (textureGrowthHigh - textureGrowthLow), 0), 1)
        return t * t * (3 - 2 * t)
    }
}

