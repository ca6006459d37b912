import SegaAttack
import SegaIO

// MARK: - Sheets: one image's attack, panel by panel

extension Report {
    /// The panels of one sheet, in order.
    public enum Panel: Equatable {
        case clean, attacked, perturbation, maskF, maskJND

        var label: String {
            switch self {
            case .clean: return "clean"
            case .attacked: return "attacked"
            case .perturbation: return "perturbation, ±eps"
            case .maskF: return "M^F (kept gradient, channel mean)"
            case .maskJND: return "M^JND (white: perturbed)"
            }
        }
    }

    /// The panels a sheet shows for these settings: a mask that is off (M^F without a quantile or
    /// agreement rule, M^JND without a threshold) would be a plain white panel, so it is left out.
    public static func panels(_ c: AttackConfig) -> [Panel] {
        var p: [Panel] = [.clean, .attacked, .perturbation]
        if c.maskQuantile > 0 || c.maskAgreement > 0 { p.append(.maskF) }
        if c.jndThreshold > 0 { p.append(.maskJND) }
        return p
    }

    /// Panels side by side under a strip with their labels: clean, attacked, perturbation
    /// (0.5 + delta * 0.5 / eps), and the masks that are on: M^F (mean over channels), M^JND
    /// (white = perturbed).
    public static func sheet(clean: RGBImage, attacked: RGBImage, eps: Float, panels: [Panel], maskF: [Float], maskJND: [Float]) -> RGBImage {
        let w = clean.width, h = clean.height, plane = w * h, gap = 4
        let fp = w >= 160 ? 2 : 1, strip = (ReportFont.rows + 4) * fp
        let W = panels.count * w + (panels.count - 1) * gap, H = strip + h
        var out = RGBImage(width: W, height: H, fill: 1)
        for (k, panel) in panels.enumerated() {
            let x0 = k * (w + gap)
            for y in 0..<h {
                for x in 0..<w {
                    let p = y * w + x
                    for c in 0..<3 {
                        out.pixels[c * W * H + (strip + y) * W + x0 + x] = min(max(value(panel, c, p, plane, clean, attacked, eps, maskF, maskJND), 0), 1)
                    }
                }
            }
        }
        var r = ReportRaster(drawingOn: out)
        let size = Double(fp) * Double(ReportFont.ascent) / 0.75
        for (k, panel) in panels.enumerated() {
            let label = panel == .attacked ? "attacked, eps \(f(Double(eps) * 255, 0))/255" : panel.label
            r.text(label, x: Double(k * (w + gap) + fp), y: Double(2 * fp + ReportFont.ascent * fp), size: size,
                   color: .black, maxWidth: Double(w - 2 * fp))
        }
        return r.image
    }

    /// One value of a panel (channel c, pixel p).
    static func value(_ panel: Panel, _ c: Int, _ p: Int, _ plane: Int, _ clean: RGBImage, _ attacked: RGBImage, _ eps: Float,
                      _ maskF: [Float], _ maskJND: [Float]) -> Float {
        let a = clean.pixels[c * plane + p], b = attacked.pixels[c * plane + p]
        switch panel {
        case .clean: return a
        case .attacked: return b
        case .perturbation: return 0.5 + (b - a) * 0.5 / eps
        case .maskF:
            guard maskF.count == 3 * plane else { return 0 }
            return (maskF[p] + maskF[plane + p] + maskF[2 * plane + p]) / 3
        case .maskJND: return maskJND.count == plane ? maskJND[p] : 0
        }
    }
}
