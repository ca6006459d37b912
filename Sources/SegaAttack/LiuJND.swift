// MARK: - Liu et al. 2010

/// The JND model of Liu, Lin, Paul, Deng & Zhang, "Just noticeable difference for images with
/// decomposition model for separating edge and textured regions", IEEE TCSVT 20(11), 2010, on
/// luma Y in 0..255:
///
///   Y = u + t   total-variation decomposition into a structural image u (piecewise smooth, sharp
///               edges) and a textural image t: u minimises TV(u) + |u - Y|^2 / (2 tvWeight)
///               (Rudin-Osher-Fatemi), by Chambolle's 2004 projection algorithm, `tvIterations`
///               steps of tau = 1/4 from p = 0
///   LA          luminance adaptation of the 5x5 background bg (Chou & Li), as in Yang's model
///   C_s(v)      maximal weighted average gradient max_k |G_k * v| / 16 (Chou & Li's operators)
///   EM = beta C_s(u) W_e,  TM = beta C_s(t) W_t   beta 0.117, W_e = 1, W_t = 3
///   JND = LA + CM - 0.3 min(LA, CM),  CM = EM + TM
///
/// Edges live in u and mask as Yang's edges do (weight 1); texture lives in t and masks three
/// times as much (entropy masking), which is the model's point. Choices the letter leaves open:
/// tvWeight 25.5 (scikit-image's default ROF weight 0.1 on [0, 1] images) and 100 iterations;
/// borders replicate (masks) or are Neumann (TV), as Chambolle's discretisation.
extension JNDMap {
    /// ROF weight (lambda) in luma 0..255 units, and Chambolle iterations.
    public static let tvWeight: Float = 25.5
    public static let tvIterations = 100
    /// W_e and W_t.
    public static let edgeMaskingWeight: Float = 1
    public static let textureMaskingWeight: Float = 3

    /// Liu et al.'s JND of a planar CHW RGB image in [0, 1] into `out` (H*W, luma 0..255). No allocation.
    mutating func computeLiu(_ image: UnsafeBufferPointer<Float>, luminanceCap: Float = .infinity,
                             into out: UnsafeMutableBufferPointer<Float>, adaptation la: UnsafeMutablePointer<Float>? = nil) {
        let h = height, w = width, plane = h * w
        checkSizes(image: image.count, output: out.count)
        withWorkspace { ri, ci, kern, y in
            let u = y + plane, t = u + plane, px = t + plane, py = px + plane
            Self.luma(image, into: y, plane: plane)
            Self.rof(y, into: u, px: px, py: py, h, w, weight: Self.tvWeight, iterations: Self.tvIterations)
            for i in 0..<plane { t[i] = y[i] - u[i] }
            Self.liuCombine(y, structure: u, texture: t, kern, h, w, ri, ci, luminanceCap: luminanceCap, into: out.baseAddress!,
                            adaptation: la)
        }
    }

    /// u = argmin TV(u) + |u - f|^2 / (2 weight) by Chambolle's projection algorithm on the scaled
    /// dual P = weight p: P <- (P - tau grad u) / (1 + (tau / weight) |grad u|), u = f - div P,
    /// with forward differences (zero across the last row and column) and div = -grad^T.
    static func rof(_ f: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>, px: UnsafeMutablePointer<Float>,
                    py: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int, weight: Float, iterations: Int) {
        let plane = h * w, tau: Float = 0.25, k = tau / weight
        for i in 0..<plane { u[i] = f[i]; px[i] = 0; py[i] = 0 }
        for _ in 0..<iterations {
            for r in 0..<h {
                for c in 0..<w {
                    let i = r * w + c
                    let gx = c < w - 1 ? u[i + 1] - u[i] : 0
                    let gy = r < h - 1 ? u[i + w] - u[i] : 0
                    let n = 1 + k * (gx * gx + gy * gy).squareRoot()
                    px[i] = (px[i] - tau * gx) / n
                    py[i] = (py[i] - tau * gy) / n
                }
            }
            for r in 0..<h {
                for c in 0..<w {
                    let i = r * w + c
                    let dx = (c < w - 1 ? px[i] : 0) - (c > 0 ? px[i - 1] : 0)
                    let dy = (r < h - 1 ? py[i] : 0) - (r > 0 ? py[i - w] : 0)
                    u[i] = f[i] - (dx + dy)
                }
            }
        }
    }

    /// LA from the background of y, edge masking on the structure, texture masking on the texture.
    static func liuCombine(_ y: UnsafePointer<Float>, structure u: UnsafePointer<Float>, texture t: UnsafePointer<Float>,
                           _ kern: UnsafePointer<Float>, _ h: Int, _ w: Int, _ ri: UnsafePointer<Int>,
                           _ ci: UnsafePointer<Int>, luminanceCap: Float = .infinity, into out: UnsafeMutablePointer<Float>,
                           adaptation laOut: UnsafeMutablePointer<Float>? = nil) {
        for r in 0..<h {
            for c in 0..<w {
                var bg: Float = 0
                for dr in 0..<5 {
                    let row = ri[r + dr - 2] * w
                    for dc in 0..<5 { bg += kern[dr * 5 + dc] * y[row + ci[c + dc - 2]] }
                }
                bg /= 32
                let la = min(luminanceAdaptation(bg), luminanceCap)
                let em = textureBeta * edgeMaskingWeight * maxGradient(u, r, c, kern, w, ri, ci)
                let tm = textureBeta * textureMaskingWeight * maxGradient(t, r, c, kern, w, ri, ci)
                let cm = em + tm
                out[r * w + c] = la + cm - overlapC * min(la, cm)
                laOut?[r * w + c] = la
            }
        }
    }

    /// max_k |G_k * v| / 16 at (r, c): Chou & Li's maximal weighted average gradient.
    @inline(__always)
    static func maxGradient(_ v: UnsafePointer<Float>, _ r: Int, _ c: Int, _ kern: UnsafePointer<Float>, _ w: Int,
                            _ ri: UnsafePointer<Int>, _ ci: UnsafePointer<Int>) -> Float {
        var g1: Float = 0, g2: Float = 0, g3: Float = 0, g4: Float = 0
        for dr in 0..<5 {
            let row = ri[r + dr - 2] * w
            for dc in 0..<5 {
                let x = v[row + ci[c + dc - 2]], t = dr * 5 + dc
                g1 += kern[25 + t] * x; g2 += kern[50 + t] * x
                g3 += kern[75 + t] * x; g4 += kern[100 + t] * x
            }
        }
        return max(max(abs(g1), abs(g2)), max(abs(g3), abs(g4))) / 16
    }
}
