import SegaIO

// MARK: - A small rasteriser for the report's PNGs

/// Draws rectangles, lines (solid or dashed), discs, rings and text (ReportFont) into an RGB
/// image with anti-aliased edges: each primitive covers a device pixel by the fraction of a
/// 4x4 grid of sample points inside it, and is blended over what is there in drawing order.
/// Coordinates are in the caller's units, `scale` device pixels per unit.
struct ReportRaster {
    private(set) var image: RGBImage
    let scale: Double
    static let samples = 4

    init(width: Double, height: Double, scale: Double, background: ReportColor = .white) {
        self.scale = scale
        var im = RGBImage(width: max(1, Int((width * scale).rounded(.up))), height: max(1, Int((height * scale).rounded(.up))))
        let plane = im.width * im.height
        for (c, v) in [background.r, background.g, background.b].enumerated() {
            for i in 0..<plane { im.pixels[c * plane + i] = v }
        }
        image = im
    }

    /// An existing image to draw on, at one device pixel per unit.
    init(drawingOn image: RGBImage) {
        self.image = image
        scale = 1
    }

    /// Blend `color` into every device pixel the shape touches; `inside(x, y)` tests a sample
    /// point in device coordinates; the box bounds the shape (device pixels).
    private mutating func cover(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ color: ReportColor,
                                _ inside: (Double, Double) -> Bool) {
        let w = image.width, h = image.height, plane = w * h, n = ReportRaster.samples
        let px0 = max(0, Int(x0.rounded(.down))), px1 = min(w - 1, Int(x1.rounded(.up)))
        let py0 = max(0, Int(y0.rounded(.down))), py1 = min(h - 1, Int(y1.rounded(.up)))
        guard px0 <= px1, py0 <= py1 else { return }
        let rgb = [color.r, color.g, color.b]
        for py in py0...py1 {
            for px in px0...px1 {
                var hits = 0
                for sy in 0..<n {
                    for sx in 0..<n where inside(Double(px) + (Double(sx) + 0.5) / Double(n), Double(py) + (Double(sy) + 0.5) / Double(n)) {
                        hits += 1
                    }
                }
                guard hits > 0 else { continue }
                let a = Float(hits) / Float(n * n) * color.a
                for c in 0..<3 {
                    let i = c * plane + py * w + px
                    image.pixels[i] = image.pixels[i] * (1 - a) + rgb[c] * a
                }
            }
        }
    }

    mutating func fill(x: Double, y: Double, w: Double, h: Double, color: ReportColor) {
        let s = scale, x0 = x * s, y0 = y * s, x1 = (x + w) * s, y1 = (y + h) * s
        cover(x0, y0, x1, y1, color) { px, py in px >= x0 && px < x1 && py >= y0 && py < y1 }
    }

    /// A segment `width` units wide with round ends; dashed: 4 units on, 3 off.
    mutating func line(_ xa: Double, _ ya: Double, _ xb: Double, _ yb: Double, width: Double, color: ReportColor, dashed: Bool = false) {
        let s = scale, ax = xa * s, ay = ya * s, bx = xb * s, by = yb * s, r = max(width * s, 1) / 2
        let dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy, len = len2.squareRoot()
        cover(min(ax, bx) - r, min(ay, by) - r, max(ax, bx) + r, max(ay, by) + r, color) { px, py in
            let t = len2 > 0 ? min(max(((px - ax) * dx + (py - ay) * dy) / len2, 0), 1) : 0
            let qx = ax + t * dx - px, qy = ay + t * dy - py
            guard qx * qx + qy * qy <= r * r else { return false }
            return !dashed || (t * len / s).truncatingRemainder(dividingBy: 7) < 4
        }
    }

    /// A filled disc, or a ring of `stroke` units when stroke > 0.
    mutating func circle(cx: Double, cy: Double, r: Double, color: ReportColor, stroke: Double = 0) {
        let s = scale, x = cx * s, y = cy * s, rr = r * s, half = stroke * s / 2
        cover(x - rr - half, y - rr - half, x + rr + half, y + rr + half, color) { px, py in
            let d = ((px - x) * (px - x) + (py - y) * (py - y)).squareRoot()
            return half > 0 ? abs(d - rr) <= half : d <= rr
        }
    }

    /// Text with its baseline at y; `size` is the em size in units (the font's 7-row capitals
    /// are 3/4 of it, in whole device pixels per font pixel); anchored at its start, middle or
    /// end; clipped to `maxWidth` units when given.
    mutating func text(_ s: String, x: Double, y: Double, size: Double, color: ReportColor,
                       anchor: ReportScene.Anchor = .start, maxWidth: Double? = nil) {
        let p = ReportRaster.fontPixel(size: size, scale: scale)
        let w = Double(ReportFont.width(s)) * p
        var x0 = x * scale
        if anchor == .middle { x0 -= w / 2 } else if anchor == .end { x0 -= w }
        let top = y * scale - Double(ReportFont.ascent) * p, limit = maxWidth.map { x0 + $0 * scale } ?? .infinity
        for (k, ch) in s.enumerated() {
            let gx = x0 + Double(k * ReportFont.advance) * p
            for (row, bits) in ReportFont.glyph(ch).enumerated() where bits != 0 {
                for col in 0..<ReportFont.columns where bits & (1 << (ReportFont.columns - 1 - col)) != 0 {
                    let px = gx + Double(col) * p, py = top + Double(row) * p
                    guard px + p <= limit + 0.001 else { continue }
                    cover(px, py, px + p, py + p, color) { qx, qy in qx >= px && qx < px + p && qy >= py && qy < py + p }
                }
            }
        }
    }

    /// Device pixels per font pixel at an em size.
    static func fontPixel(size: Double, scale: Double) -> Double { max(1, (size * scale * 0.75 / Double(ReportFont.ascent)).rounded()) }

    /// Text width in units.
    static func textWidth(_ s: String, size: Double, scale: Double) -> Double {
        Double(ReportFont.width(s)) * fontPixel(size: size, scale: scale) / scale
    }
}

/// An sRGB colour with opacity, from "#rrggbb".
struct ReportColor: Equatable {
    var r: Float, g: Float, b: Float, a: Float = 1

    static let white = ReportColor(r: 1, g: 1, b: 1)
    static let black = ReportColor(r: 0, g: 0, b: 0)

    /// "#rrggbb" (anything else is black).
    init(hex: String) {
        let digits = Array(hex.utf8.dropFirst())
        func byte(_ i: Int) -> Float {
            guard digits.count == 6 else { return 0 }
            let s = String(decoding: digits[(2 * i)..<(2 * i + 2)], as: UTF8.self)
            return Float(UInt8(s, radix: 16) ?? 0) / 255
        }
        r = byte(0); g = byte(1); b = byte(2)
    }

    init(r: Float, g: Float, b: Float, a: Float = 1) { self.r = r; self.g = g; self.b = b; self.a = a }
}
