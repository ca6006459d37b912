import SegaIO

// MARK: - Charts as shapes: one description, SVG and PNG

/// A chart as a list of shapes in drawing order, rendered as SVG text or, by ReportRaster, as
/// an RGB image for a PNG: the two files show the same drawing.
struct ReportScene {
    enum Anchor: String { case start, middle, end }

    enum Shape {
        /// Filled (fill nil: hollow) and/or outlined; `title` becomes SVG hover text.
        case rect(x: Double, y: Double, w: Double, h: Double, fill: String?, stroke: String? = nil, title: String? = nil)
        case line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1, dashed: Bool = false)
        case polyline([(Double, Double)], stroke: String, width: Double)
        /// A disc (fill) or a ring (stroke only, 1.5 units wide).
        case circle(cx: Double, cy: Double, r: Double, fill: String?, stroke: String? = nil, title: String? = nil)
        case text(x: Double, y: Double, String, size: Double = 11, fill: String = "#000000", anchor: Anchor = .start)
    }

    var width: Double, height: Double
    var shapes: [Shape] = []

    init(width: Double, height: Double) { self.width = width; self.height = height }

    mutating func add(_ s: Shape) { shapes.append(s) }

    /// Coordinates in SVG: two decimals at most, always with a decimal point ("140.0").
    static func n(_ v: Double) -> String { "\((v * 100).rounded() / 100)" }

    static func escape(_ s: String) -> String {
        s.replacingAll("&", with: "&amp;").replacingAll("<", with: "&lt;").replacingAll(">", with: "&gt;").replacingAll("\"", with: "&quot;")
    }

    func svg() -> String {
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width.rounded(.up)))\" height=\"\(Int(height.rounded(.up)))\" "
        s += "viewBox=\"0 0 \(Int(width.rounded(.up))) \(Int(height.rounded(.up)))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
        for shape in shapes { s += ReportScene.svg(shape) + "\n" }
        return s + "</svg>\n"
    }

    static func svg(_ shape: Shape) -> String {
        func title(_ t: String?) -> String { t.map { "<title>\(escape($0))</title>" } ?? "" }
        func paint(_ fill: String?, _ stroke: String?, _ w: Double) -> String {
            "fill=\"\(fill ?? "none")\"" + (stroke.map { " stroke=\"\($0)\" stroke-width=\"\(n(w))\"" } ?? "")
        }
        switch shape {
        case let .rect(x, y, w, h, fill, stroke, t):
            let attrs = "x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(w))\" height=\"\(n(h))\" " + paint(fill, stroke, 1.5)
            return t == nil ? "<rect \(attrs)/>" : "<rect \(attrs)>\(title(t))</rect>"
        case let .line(x1, y1, x2, y2, stroke, w, dashed):
            return "<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(n(w))\""
                + (dashed ? " stroke-dasharray=\"4 3\"" : "") + "/>"
        case let .polyline(points, stroke, w):
            let pts = points.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ")
            return "<polyline points=\"\(pts)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(n(w))\" stroke-linejoin=\"round\"/>"
        case let .circle(cx, cy, r, fill, stroke, t):
            let attrs = "cx=\"\(n(cx))\" cy=\"\(n(cy))\" r=\"\(n(r))\" " + paint(fill, stroke, 1.5)
            return t == nil ? "<circle \(attrs)/>" : "<circle \(attrs)>\(title(t))</circle>"
        case let .text(x, y, s, size, fill, anchor):
            return "<text x=\"\(n(x))\" y=\"\(n(y))\"" + (size == 11 ? "" : " font-size=\"\(n(size))\"")
                + (fill == "#000000" ? "" : " fill=\"\(fill)\"") + (anchor == .start ? "" : " text-anchor=\"\(anchor.rawValue)\"")
                + ">\(escape(s))</text>"
        }
    }

    /// The drawing at `scale` device pixels per unit, on white.
    func raster(scale: Double) -> RGBImage {
        var r = ReportRaster(width: width, height: height, scale: scale)
        for shape in shapes { ReportScene.draw(shape, on: &r) }
        return r.image
    }

    static func draw(_ shape: Shape, on r: inout ReportRaster) {
        switch shape {
        case let .rect(x, y, w, h, fill, stroke, _):
            if let fill { r.fill(x: x, y: y, w: w, h: h, color: ReportColor(hex: fill)) }
            if let stroke {
                let c = ReportColor(hex: stroke)
                for (a, b) in [((x, y), (x + w, y)), ((x + w, y), (x + w, y + h)), ((x + w, y + h), (x, y + h)), ((x, y + h), (x, y))] {
                    r.line(a.0, a.1, b.0, b.1, width: 1.5, color: c)
                }
            }
        case let .line(x1, y1, x2, y2, stroke, w, dashed):
            r.line(x1, y1, x2, y2, width: w, color: ReportColor(hex: stroke), dashed: dashed)
        case let .polyline(points, stroke, w):
            for (a, b) in zip(points, points.dropFirst()) { r.line(a.0, a.1, b.0, b.1, width: w, color: ReportColor(hex: stroke)) }
        case let .circle(cx, cy, radius, fill, stroke, _):
            if let fill { r.circle(cx: cx, cy: cy, r: radius, color: ReportColor(hex: fill)) }
            if let stroke { r.circle(cx: cx, cy: cy, r: radius, color: ReportColor(hex: stroke), stroke: 1.5) }
        case let .text(x, y, s, size, fill, anchor):
            r.text(s, x: x, y: y, size: size, color: ReportColor(hex: fill), anchor: anchor)
        }
    }
}
