#if canImport(Glibc)
import Glibc
#endif

/// The JND model behind M^JND and the JND budget (in the order the C API numbers them, SEGA_JND_*).
public enum JNDModel: String, CaseIterable, Sendable {
    /// Yang et al. 2005 (NAMM with edge-protected texture masking): JNDMap.
    case yang
    /// Liu et al. 2010 (total-variation decomposition; edge masking on the structure, texture masking on the rest).
    case liu
}

/// Pixel-domain just-noticeable difference on luma in 0..255: where the attack may change pixels
/// without the change being visible. Two models: Yang et al. 2005 (below) and Liu et al. 2010
/// (LiuJND.swift), computed once per image into the map's own planes.
///
/// Yang et al. 2005 (NAMM):
///
///   bg   5x5 weighted background luminance (Chou & Li's matrix B / 32)
///   T_l  luminance adaptation: 17 (1 - sqrt(bg / 127)) + 3 if bg <= 127, else 3/128 (bg - 127) + 3
///   T_t  texture masking: 0.117 * mg * W, mg = max_k |G_k * Y| / 16 over Chou & Li's four
///        directional 5x5 high-pass operators, W an edge-protection weight (edges mask less)
///   JND  = T_l + T_t - 0.3 min(T_l, T_t)
///
/// Simplification: Yang takes edges from Canny; here an edge is a Sobel gradient magnitude
/// (unnormalised 3x3 Sobel on 0..255 luma) above `edgeThreshold` = 100, which marks about 10-16%
/// of the pixels of a typical 384x288 photo. The edge map is dilated with a 3x3 square, smoothed
/// with a 7x7 Gaussian (sigma 0.8) and W = 1 - 0.9 * smoothed. All borders replicate.
public struct JNDMap {
    public let height: Int
    public let width: Int

    /// Sobel magnitude above which a pixel counts as an edge (luma 0..255 units).
    public static let edgeThreshold: Float = 100
    public static let textureBeta: Float = 0.117
    public static let overlapC: Float = 0.3

    /// kernels (B, G1..G4: 5 x 25) | gaussian (7) | luma | planes a, b, c, d (H*W each; Yang
    /// uses a and b, Liu all four).
    var storage: [Float]
    /// Replicate-padded index tables: rows[r + 3] = clamp(r), cols[c + 3] = clamp(c), for r in -3...H+2
    /// (the widest reach is the 7x7 Gaussian).
    var rows: [Int]
    var cols: [Int]

    static let kernelFloats = 5 * 25
    static let gaussianTaps = 7
    static let pad = 3
    /// Image-sized planes after the luma.
    static let planes = 4

    /// Bytes a map holds for images of h x w (storage and index tables).
    public static func bytes(height h: Int, width w: Int) -> Int {
        (kernelFloats + gaussianTaps + (1 + planes) * h * w) * MemoryLayout<Float>.size
            + (h + w + 4 * pad) * MemoryLayout<Int>.size
    }

    public init(height: Int, width: Int) {
        precondition(height > 0 && width > 0, "JNDMap: empty image")
        self.height = height
        self.width = width
        let plane = height * width
        storage = [Float](repeating: 0, count: Self.kernelFloats + Self.gaussianTaps + (1 + Self.planes) * plane)
        rows = (-Self.pad..<(height + Self.pad)).map { min(max($0, 0), height - 1) }
        cols = (-Self.pad..<(width + Self.pad)).map { min(max($0, 0), width - 1) }
        for (k, kernel) in Self.kernels.enumerated() {
            for t in 0..<25 { storage[k * 25 + t] = kernel[t] }
        }
        var sum: Float = 0
        for t in 0..<Self.gaussianTaps {
            let x = Float(t - 3)
            storage[Self.kernelFloats + t] = exp(-x * x / (2 * 0.8 * 0.8))
            sum += storage[Self.kernelFloats + t]
        }
        for t in 0..<Self.gaussianTaps { storage[Self.kernelFloats + t] /= sum }
    }

    // MARK: - Compute

    /// JND of a planar CHW RGB image in [0,1] under `model` into `out` (H*W, luma 0..255 units). No allocation.
    /// `luminanceCap` > 0 counts luminance adaptation up to that many levels (the published models:
    /// no cap, 0): LA reaches 20 levels on a flat black background and 6 on a flat white one (3 at mid-grey),
    /// where pixel noise of that size shows although a uniform shift would not.
    /// `adaptation`, when given (H*W), receives each pixel's luminance-adaptation term (capped
    /// as in the map): the part of its JND that masking does not explain.
    public mutating func compute(_ image: UnsafeBufferPointer<Float>, model: JNDModel, luminanceCap: Float = 0,
                                 into out: UnsafeMutableBufferPointer<Float>,
                                 adaptation: UnsafeMutableBufferPointer<Float>? = nil) {
        let cap = luminanceCap > 0 ? luminanceCap : .infinity
        precondition(adaptation.map { $0.count == out.count } ?? true, "JNDMap: adaptation must be \(height) x \(width)")
        let la = adaptation?.baseAddress
        switch model {
        case .yang: compute(image, luminanceCap: cap, into: out, adaptation: la)
        case .liu: computeLiu(image, luminanceCap: cap, into: out, adaptation: la)
        }
    }

    /// Yang et al. 2005's JND of a planar CHW RGB image in [0,1] into `out` (H*W, luma 0..255 units). No allocation.
    public mutating func compute(_ image: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>) {
        compute(image, luminanceCap: .infinity, into: out)
    }

    private mutating func compute(_ image: UnsafeBufferPointer<Float>, luminanceCap: Float, into out: UnsafeMutableBufferPointer<Float>,
                                  adaptation la: UnsafeMutablePointer<Float>? = nil) {
        let h = height, w = width, plane = h * w
        checkSizes(image: image.count, output: out.count)
        withWorkspace { ri, ci, kern, y in
            let gauss = kern + Self.kernelFloats
            let a = y + plane, b = a + plane
            Self.luma(image, into: y, plane: plane)
            Self.sobelEdges(y, into: a, h, w, ri, ci)
            Self.dilate3x3(a, into: b, h, w, ri, ci)
            Self.gaussian7(b, scratch: a, gauss, h, w, ri, ci)
            Self.combine(y, smoothedEdges: b, kern, h, w, ri, ci, luminanceCap: luminanceCap, into: out.baseAddress!,
                         adaptation: la)
        }
    }

    /// Every per-image computation reads a planar 3 x H x W image and writes one H x W plane.
    func checkSizes(image: Int, output: Int) {
        precondition(image == 3 * height * width, "JNDMap: image must be 3 x \(height) x \(width)")
        precondition(output == height * width, "JNDMap: output must be \(height) x \(width)")
    }

    /// body(ri, ci, kernels, luma plane): the replicate index tables (ri[r] = clamp(r) for r in
    /// -3...H+2), the kernels (B, G1..G4, then the 7 Gaussian taps) and the luma plane, followed
    /// by the map's other planes.
    mutating func withWorkspace(_ body: (UnsafePointer<Int>, UnsafePointer<Int>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        rows.withUnsafeBufferPointer { rowsBuf in
            cols.withUnsafeBufferPointer { colsBuf in
                storage.withUnsafeMutableBufferPointer { s in
                    body(rowsBuf.baseAddress! + Self.pad, colsBuf.baseAddress! + Self.pad, UnsafePointer(s.baseAddress!),
                         s.baseAddress! + Self.kernelFloats + Self.gaussianTaps)
                }
            }
        }
    }

    /// Luma 0..255 of a planar RGB image in [0, 1] (BT.601 weights, in Double).
    static func luma(_ image: UnsafeBufferPointer<Float>, into y: UnsafeMutablePointer<Float>, plane: Int) {
        for i in 0..<plane {
            let v = 0.299 * Double(image[i]) + 0.587 * Double(image[plane + i]) + 0.114 * Double(image[2 * plane + i])
            y[i] = Float(255 * v)
        }
    }

    /// 1 where jnd >= threshold, else 0 (the pixels the attack may touch).
    public static func mask(jnd: UnsafeBufferPointer<Float>, threshold: Float, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(jnd.count == out.count, "JNDMap.mask: sizes differ")
        for i in 0..<jnd.count { out[i] = jnd[i] >= threshold ? 1 : 0 }
    }

    // MARK: - Edge weight

    /// 1 where the 3x3 Sobel magnitude exceeds edgeThreshold, else 0.
    private static func sobelEdges(_ y: UnsafePointer<Float>, into e: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int,
                                   _ ri: UnsafePointer<Int>, _ ci: UnsafePointer<Int>) {
        let t2 = edgeThreshold * edgeThreshold
        for r in 0..<h {
            let up = ri[r - 1] * w, mid = r * w, dn = ri[r + 1] * w
            for c in 0..<w {
                let l = ci[c - 1], rt = ci[c + 1]
                let gx = (y[up + rt] + 2 * y[mid + rt] + y[dn + rt]) - (y[up + l] + 2 * y[mid + l] + y[dn + l])
                let gy = (y[dn + l] + 2 * y[dn + c] + y[dn + rt]) - (y[up + l] + 2 * y[up + c] + y[up + rt])
                e[mid + c] = gx * gx + gy * gy > t2 ? 1 : 0
            }
        }
    }

    /// Max over the 3x3 neighbourhood.
    private static func dilate3x3(_ e: UnsafePointer<Float>, into d: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int,
                                  _ ri: UnsafePointer<Int>, _ ci: UnsafePointer<Int>) {
        for r in 0..<h {
            for c in 0..<w {
                var m: Float = 0
                for dr in -1...1 {
                    let row = ri[r + dr] * w
                    for dc in -1...1 { m = max(m, e[row + ci[c + dc]]) }
                }
                d[r * w + c] = m
            }
        }
    }

    /// Separable 7x7 Gaussian of `plane`, in place: rows into `scratch`, then columns back into `plane`.
    static func gaussian7(_ plane: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                  _ g: UnsafePointer<Float>, _ h: Int, _ w: Int,
                                  _ ri: UnsafePointer<Int>, _ ci: UnsafePointer<Int>) {
        for r in 0..<h {
            let row = r * w
            for c in 0..<w {
                var s: Float = 0
                for k in 0..<7 { s += g[k] * plane[row + ci[c + k - 3]] }
                scratch[row + c] = s
            }
        }
        for r in 0..<h {
            for c in 0..<w {
                var s: Float = 0
                for k in 0..<7 { s += g[k] * scratch[ri[r + k - 3] * w + c] }
                plane[r * w + c] = s
            }
        }
    }

    // MARK: - NAMM

    /// Background luminance, directional gradients, T_l, T_t and their nonlinear sum, per pixel.
    private static func combine(_ y: UnsafePointer<Float>, smoothedEdges se: UnsafePointer<Float>, _ kern: UnsafePointer<Float>,
                                _ h: Int, _ w: Int, _ ri: UnsafePointer<Int>, _ ci: UnsafePointer<Int>,
                                luminanceCap: Float, into out: UnsafeMutablePointer<Float>,
                                adaptation la: UnsafeMutablePointer<Float>?) {
        for r in 0..<h {
            for c in 0..<w {
                var bg: Float = 0, g1: Float = 0, g2: Float = 0, g3: Float = 0, g4: Float = 0
                for dr in 0..<5 {
                    let row = ri[r + dr - 2] * w
                    for dc in 0..<5 {
                        let v = y[row + ci[c + dc - 2]], t = dr * 5 + dc
                        bg += kern[t] * v
                        g1 += kern[25 + t] * v; g2 += kern[50 + t] * v
                        g3 += kern[75 + t] * v; g4 += kern[100 + t] * v
                    }
                }
                bg /= 32
                let mg = max(max(abs(g1), abs(g2)), max(abs(g3), abs(g4))) / 16
                let tl = min(luminanceAdaptation(bg), luminanceCap)
                let tt = textureBeta * mg * (1 - 0.9 * se[r * w + c])
                out[r * w + c] = tl + tt - overlapC * min(tl, tt)
                la?[r * w + c] = tl
            }
        }
    }

    /// Chou & Li's luminance adaptation threshold of background luminance bg (0..255): 17
    /// (1 - sqrt(bg / 127)) + 3 up to 127, then 3/128 (bg - 127) + 3 (both models share it).
    @inline(__always)
    static func luminanceAdaptation(_ bg: Float) -> Float {
        bg <= 127 ? 17 * (1 - (bg / 127).squareRoot()) + 3 : 3 / 128 * (bg - 127) + 3
    }

    // MARK: - Kernels

    /// Chou & Li's background weights B (sum 32) and directional high-pass operators G1..G4, row-major.
    static let kernels: [[Float]] = [
        [1, 1, 1, 1, 1,  1, 2, 2, 2, 1,  1, 2, 0, 2, 1,  1, 2, 2, 2, 1,  1, 1, 1, 1, 1],
        [0, 0, 0, 0, 0,  1, 3, 8, 3, 1,  0, 0, 0, 0, 0,  -1, -3, -8, -3, -1,  0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0,  0, 8, 3, 0, 0,  1, 3, 0, -3, -1,  0, 0, -3, -8, 0,  0, 0, -1, 0, 0],
        [0, 0, 1, 0, 0,  0, 0, 3, 8, 0,  -1, -3, 0, 3, 1,  0, -8, -3, 0, 0,  0, 0, -1, 0, 0],
        [0, 1, 0, -1, 0,  0, 3, 0, -3, 0,  0, 8, 0, -8, 0,  0, 3, 0, -3, 0,  0, 1, 0, -1, 0],
    ]
}
