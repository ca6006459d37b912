// MARK: - DI: diverse inputs

/// The input transformation of DI (Xie et al., "Improving transferability of adversarial examples
/// with input diversity", CVPR 2019) for plans of a fixed size H x W: with probability p, shrink
/// the image to hc x wc (hc uniform in ceil(H / rate)...H, wc = round(W hc / H), bilinear with
/// half-pixel centres as torch's interpolate(align_corners=False) without antialiasing), place it
/// at a uniform offset and pad with zeros back to H x W; otherwise leave it unchanged. DI's own
/// version enlarges 299 to rnd in [299, 330) and pads to 330; resizing that back to the plan's
/// size (as TransferAttack does) is this shrink by rnd / 330, in [1/1.1, 1).
///
/// T is linear in x, so the gradient of f(T x) is T^T grad f(T x): `addAdjoint` applies the exact
/// transpose (the same bilinear weights, scattered). Draws come from a counter-based stream, so
/// they are reproducible; the tables are allocated once and nothing allocates per draw.
final class DiverseInput {
    let height: Int, width: Int
    /// Whether the last draw transforms, its content size and offset.
    private(set) var applied = false
    private(set) var contentHeight = 0, contentWidth = 0, top = 0, left = 0
    /// Per content row (column): the source row (column) above and the weight of the one after.
    let rowIndex: UnsafeMutableBufferPointer<Int>, rowFrac: UnsafeMutableBufferPointer<Float>
    let colIndex: UnsafeMutableBufferPointer<Int>, colFrac: UnsafeMutableBufferPointer<Float>

    init(height: Int, width: Int) {
        self.height = height
        self.width = width
        rowIndex = .allocate(capacity: height); rowIndex.initialize(repeating: 0)
        colIndex = .allocate(capacity: width); colIndex.initialize(repeating: 0)
        rowFrac = .allocate(capacity: height); rowFrac.initialize(repeating: 0)
        colFrac = .allocate(capacity: width); colFrac.initialize(repeating: 0)
    }

    deinit {
        rowIndex.deallocate(); colIndex.deallocate(); rowFrac.deallocate(); colFrac.deallocate()
    }

    /// Bytes held for images of h x w.
    static func bytes(height h: Int, width w: Int) -> Int {
        (h + w) * (MemoryLayout<Int>.size + MemoryLayout<Float>.size)
    }

    /// Draw the next transform from counters 0...3 of `s`.
    func draw(_ s: NoiseStream, probability p: Float, resize rate: Float) {
        guard s.uniform(0) < Double(p) else { applied = false; return }
        let minH = min(height, Int((Double(height) / Double(rate)).rounded(.up)))
        let hc = minH + Int(s.bits(1) % UInt64(height - minH + 1))
        let wc = max(1, min(width, Int((Double(width) * Double(hc) / Double(height)).rounded())))
        set(contentHeight: hc, contentWidth: wc, top: Int(s.bits(2) % UInt64(height - hc + 1)),
            left: Int(s.bits(3) % UInt64(width - wc + 1)))
    }

    /// Transform with content hc x wc at (top, left).
    func set(contentHeight hc: Int, contentWidth wc: Int, top t: Int, left l: Int) {
        precondition(hc >= 1 && hc <= height && wc >= 1 && wc <= width && t >= 0 && t + hc <= height && l >= 0 && l + wc <= width,
                     "DiverseInput: content \(hc)x\(wc) at (\(t), \(l)) does not fit \(height)x\(width)")
        applied = true
        contentHeight = hc; contentWidth = wc; top = t; left = l
        Self.table(out: hc, in: height, index: rowIndex, frac: rowFrac)
        Self.table(out: wc, in: width, index: colIndex, frac: colFrac)
    }

    /// Bilinear source positions for `out` samples of `n` (half-pixel centres, clamped at 0).
    static func table(out: Int, in n: Int, index: UnsafeMutableBufferPointer<Int>, frac: UnsafeMutableBufferPointer<Float>) {
        let scale = Double(n) / Double(out)
        for o in 0..<out {
            let src = max((Double(o) + 0.5) * scale - 0.5, 0)
            let i0 = min(Int(src), n - 1)
            index[o] = i0
            frac[o] = i0 < n - 1 ? Float(src - Double(i0)) : 0
        }
    }

    /// y = T x for planar 3 x H x W images.
    func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let plane = height * width
        guard applied else { y.update(from: x, count: 3 * plane); return }
        y.update(repeating: 0, count: 3 * plane)
        forEachSample { o, s, w in
            y[o] = w.0 * x[s.0] + w.1 * x[s.1] + w.2 * x[s.2] + w.3 * x[s.3]
        }
    }

    /// gx += T^T gy: the weights of `apply`, scattered back (the same `forEachSample`, so the two
    /// are transposes by construction).
    func addAdjoint(_ gy: UnsafePointer<Float>, into gx: UnsafeMutablePointer<Float>) {
        guard applied else {
            for i in 0..<(3 * height * width) { gx[i] += gy[i] }
            return
        }
        forEachSample { o, s, w in
            let v = gy[o]
            gx[s.0] += w.0 * v; gx[s.1] += w.1 * v
            gx[s.2] += w.2 * v; gx[s.3] += w.3 * v
        }
    }

    /// body(output index, its four bilinear source indices, their weights) for every value of
    /// the content block, channel by channel, in order.
    @inline(__always)
    func forEachSample(_ body: (Int, (Int, Int, Int, Int), (Float, Float, Float, Float)) -> Void) {
        let plane = height * width
        for ch in 0..<3 {
            let base = ch * plane
            for r in 0..<contentHeight {
                let fr = rowFrac[r], a = base + rowIndex[r] * width, b = base + min(rowIndex[r] + 1, height - 1) * width
                for q in 0..<contentWidth {
                    let fc = colFrac[q], j0 = colIndex[q], j1 = min(j0 + 1, width - 1)
                    body(base + (top + r) * width + left + q, (a + j0, a + j1, b + j0, b + j1),
                         ((1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc))
                }
            }
        }
    }
}
