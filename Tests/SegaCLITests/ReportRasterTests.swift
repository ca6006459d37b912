import XCTest
import SegaIO
@testable import SegaCLI

/// The report's rasteriser and bitmap font: exact fills, anti-aliased edges, every glyph
/// present and distinct, text placed where its metrics say.
final class ReportRasterTests: XCTestCase {
    func pixel(_ im: RGBImage, _ x: Int, _ y: Int) -> [Float] {
        let plane = im.width * im.height
        return (0..<3).map { im.pixels[$0 * plane + y * im.width + x] }
    }

    /// Every printable ASCII character and the report's symbols have a glyph of 9 rows of 5
    /// columns; only the space is blank, and no two glyphs are the same bitmap.
    func testEveryGlyphIsPresentAndDistinct() {
        var chars = (32...126).map { Character(Unicode.Scalar($0)) }
        chars += ["ε", "τ", "±", "Δ", "≥", "×", "·"]
        var seen: [[UInt8]: Character] = [:]
        for ch in chars {
            let g = ReportFont.glyphs[ch]
            XCTAssertNotNil(g, "no glyph for '\(ch)'")
            guard let g else { continue }
            XCTAssertEqual(g.count, ReportFont.rows)
            XCTAssertTrue(g.allSatisfy { $0 < 32 })
            XCTAssertEqual(g.allSatisfy { $0 == 0 }, ch == " ", "'\(ch)' blank or not")
            if let other = seen[g] { XCTFail("'\(ch)' and '\(other)' share a bitmap") }
            seen[g] = ch
        }
        XCTAssertEqual(ReportFont.glyphs.count, chars.count)
        // Descenders only where letters have them.
        for ch in "gjpqy,_" { XCTAssertTrue(ReportFont.glyph(ch)[7...].contains { $0 != 0 }, "'\(ch)'") }
        for ch in "ABCacemnox0189" { XCTAssertFalse(ReportFont.glyph(ch)[7...].contains { $0 != 0 }, "'\(ch)'") }
        XCTAssertEqual(ReportFont.glyph("\u{2212}"), ReportFont.glyph("-"))
    }

    /// A rectangle on whole device pixels is exact; half a pixel covers half; a line's pixels on
    /// its axis are fully covered and those beyond its width untouched.
    func testFillsAndEdges() {
        var r = ReportRaster(width: 20, height: 10, scale: 2)
        XCTAssertEqual(r.image.width, 40)
        XCTAssertEqual(r.image.height, 20)
        r.fill(x: 1, y: 1, w: 3.25, h: 2, color: ReportColor(hex: "#ff0000"))
        XCTAssertEqual(pixel(r.image, 2, 2), [1, 0, 0])
        XCTAssertEqual(pixel(r.image, 7, 5), [1, 0, 0])
        XCTAssertEqual(pixel(r.image, 8, 2)[1], 0.5, accuracy: 1e-6, "half-covered pixel blends halfway")
        XCTAssertEqual(pixel(r.image, 9, 2), [1, 1, 1])
        XCTAssertEqual(pixel(r.image, 2, 6), [1, 1, 1])
        r.line(10, 5, 19, 5, width: 1, color: .black)
        XCTAssertEqual(pixel(r.image, 30, 9), [0, 0, 0])
        XCTAssertEqual(pixel(r.image, 30, 10), [0, 0, 0])
        XCTAssertEqual(pixel(r.image, 30, 12), [1, 1, 1])
        r.circle(cx: 5, cy: 7.5, r: 1, color: ReportColor(hex: "#0000ff"))
        XCTAssertEqual(pixel(r.image, 10, 15), [0, 0, 1])
        XCTAssertEqual(pixel(r.image, 13, 15), [1, 1, 1])
    }

    /// Text: glyph pixels at the font's positions (baseline at y, 6 columns per character), its
    /// width as ReportFont.width says, anchors shifting it, clipping at maxWidth.
    func testTextFollowsTheFontMetrics() {
        var r = ReportRaster(width: 60, height: 20, scale: 1)
        r.text("T1", x: 2, y: 12, size: 9.34, color: .black)  // 1 device pixel per font pixel
        // 'T' row 0 is ##### at x 2..6, y 12 - 7 = 5; '1' column 2 rows 0..6 at x 8 + 2.
        for x in 2...6 { XCTAssertEqual(pixel(r.image, x, 5), [0, 0, 0], "x \(x)") }
        XCTAssertEqual(pixel(r.image, 7, 5), [1, 1, 1])
        for y in 5...11 { XCTAssertEqual(pixel(r.image, 10, y), [0, 0, 0], "y \(y)") }
        XCTAssertEqual(pixel(r.image, 10, 12), [1, 1, 1], "nothing below the baseline for '1'")
        XCTAssertEqual(ReportFont.width("T1"), 11)
        XCTAssertEqual(ReportRaster.textWidth("T1", size: 11, scale: 2), 11)
        var e = ReportRaster(width: 60, height: 20, scale: 1)
        e.text("T", x: 30, y: 12, size: 9.34, color: .black, anchor: .end)
        XCTAssertEqual(pixel(e.image, 25, 5), [0, 0, 0])
        XCTAssertEqual(pixel(e.image, 29, 5), [0, 0, 0])
        XCTAssertEqual(pixel(e.image, 30, 5), [1, 1, 1])
        var c = ReportRaster(width: 60, height: 20, scale: 1)
        c.text("TTTT", x: 0, y: 12, size: 9.34, color: .black, maxWidth: 11)
        XCTAssertEqual(pixel(c.image, 10, 5), [0, 0, 0])
        XCTAssertEqual(pixel(c.image, 12, 5), [1, 1, 1], "clipped after two glyphs")
    }

    /// The scene's PNG and SVG come from one list of shapes: a drawn rectangle shows in both.
    func testSceneRendersToSVGAndPixels() {
        var s = ReportScene(width: 30, height: 20)
        s.add(.rect(x: 5, y: 5, w: 10, h: 5, fill: "#00ff00", title: "a <b>"))
        s.add(.text(x: 1, y: 18, "x & y"))
        let svg = s.svg()
        XCTAssertTrue(svg.contains("<rect x=\"5.0\" y=\"5.0\" width=\"10.0\" height=\"5.0\" fill=\"#00ff00\"><title>a &lt;b&gt;</title></rect>"), svg)
        XCTAssertTrue(svg.contains(">x &amp; y</text>"), svg)
        let im = s.raster(scale: 2)
        XCTAssertEqual(pixel(im, 12, 12), [0, 1, 0])
        XCTAssertEqual(pixel(im, 8, 8), [1, 1, 1])
    }
}
