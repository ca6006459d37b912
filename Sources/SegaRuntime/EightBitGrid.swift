import SegaIO

// MARK: - The 8-bit grid

/// The attack works on what an 8-bit PNG can hold: inputs are rounded to multiples of 1/255.
public enum EightBitGrid {
    /// Each value rounded to the nearest multiple of 1/255 in [0, 1]; a NaN is refused.
    public static func round(_ x: UnsafeBufferPointer<Float>) throws -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count {
            guard let q = ImageFile.quantize(x[i]) else {
                throw SegaError(.invalidArgument, "image value at index \(i) is NaN", about: .image)
            }
            out[i] = Float(q) / 255
        }
        return out
    }

    /// An image rounded to the grid.
    public static func round(_ im: RGBImage) throws -> RGBImage {
        var o = im
        o.pixels = try im.pixels.withUnsafeBufferPointer { try round($0) }
        return o
    }
}
