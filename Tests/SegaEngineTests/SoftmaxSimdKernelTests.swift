// SoftmaxSimdKernelTests.swift - the softmax forward's explicit AVX2 and AVX-512 rows (eltwise.c:
// softmax_row_avx2 / softmax_row_avx512, masked row ends) against the scalar reference: every
// length 1...40 and 433, 1000, at odd element offsets (unaligned pointers) with guards on both
// sides; special values; in place against out of place; the threaded kernel against the
// single-thread one. The portable rows are EltwiseKernelTests' business.
import XCTest
import CSupport

final class SoftmaxSimdKernelTests: XCTestCase {
    private let lengths = Array(1...40) + [433, 1000]
    /// (x offset, y offset) in elements: aligned, then odd offsets for both pointers.
    private let offsets = [(0, 0), (1, 3), (3, 1), (5, 5)]


    /// y against sega_softmax_fwd_ref: NaN where the reference is NaN (only there), +0 exactly for
    /// a -inf input in a row that is not NaN, else within 4e-6 relative (the float x - max costs up to
    /// ulp(|x - max|) in the exponent) plus 2 denormal steps.
    private func assertMatchesReference(_ y: [Float], _ x: [Float], rows: Int, len: Int, _ msg: String,
                                        file: StaticString = #filePath, line: UInt = #line) {
        var yr = [Float](repeating: 0, count: rows * len)
        sega_softmax_fwd_ref(rows, len, x, &yr)
        for i in 0..<y.count {
            let ok: Bool
            if yr[i].isNaN || y[i].isNaN {
                ok = yr[i].isNaN && y[i].isNaN
            } else if x[i] == -.infinity {
                ok = y[i].bitPattern == 0
            } else {
                ok = Swift.abs(Double(y[i]) - Double(yr[i])) <= 4e-6 * Swift.abs(Double(yr[i])) + 3e-45
            }
            if !ok {
                XCTFail("\(msg) row \(i / len) [\(i % len)]: x \(x[i]) -> \(y[i]), reference \(yr[i])", file: file, line: line)
                return
            }
        }
    }

    func testRowsMatchTheReferenceAtEveryLengthAndOffset() {
        let keep = KernelEngines.simd(), list = keep.list
        defer { withExtendedLifetime(keep) {} }
        XCTAssertFalse(list.isEmpty && sega_cpu_supports(SEGA_ISA_AVX2) != 0)
        var rng = TestRNG(1201)
        for len in lengths {
            let rows = 3
            let x = rng.unitSigneds(rows * len, scale: 10)
            for (name, e) in list {
                var first: [Float]? = nil
                for (xo, yo) in offsets {
                    let msg = "\(name) len \(len) offsets \(xo),\(yo)"
                    let y = placed(x, xOff: xo, yOff: yo, msg) { sega_softmax_fwd(e, rows, len, $0, $1) }
                    assertMatchesReference(y, x, rows: rows, len: len, msg)
                    for r in 0..<rows {
                        let s = y[r * len..<(r + 1) * len].reduce(0.0) { $0 + Double($1) }
                        XCTAssertEqual(s, 1, accuracy: 1e-5, msg)
                    }
                    // A row's bits do not depend on where it lies in memory.
                    if let f = first { XCTAssertTrue(bitEqual(y, f), "bits depend on the offsets: \(msg)") } else { first = y }
                }
            }
        }
    }

    /// Rows of special values, one per row (so a NaN row must not spill into its neighbours).
    private static func specialRows(_ len: Int, _ rng: inout TestRNG) -> [Float] {
        var rows: [[Float]] = []
        // -inf entries (every third) among ordinary logits: exactly 0 there.
        rows.append((0..<len).map { i in i % 3 == 1 ? -.infinity : rng.unitSigned() * 10 })
        rows.append([Float](repeating: -.infinity, count: len))   // all -inf: NaN, like PyTorch
        var nanRow = rng.unitSigneds(len, scale: 10)
        nanRow[len / 2] = .nan                                    // NaN entry: NaN row
        rows.append(nanRow)
        var infRow = rng.unitSigneds(len, scale: 10)
        infRow[len - 1] = .infinity                               // +inf entry: inf - inf, NaN row
        rows.append(infRow)
        // Large positive and negative logits (x - max exact): no overflow, no lost row.
        rows.append((0..<len).map { _ in 10_000 + Float(Int(rng.next() % 400)) * 0.25 })
        rows.append((0..<len).map { _ in -30_000 - Float(Int(rng.next() % 400)) * 0.25 })
        // A deep tail: x - max from 0 down to about -140 in exact quarter steps, so some outputs are
        // denormal (kept) and those at or below -104 are exactly 0; the max at a varying place.
        var deep = (0..<len).map { i in -Float(i % 560) * 0.25 }
        deep.swapAt(0, len / 3)
        rows.append(deep)
        rows.append((0..<len).map { _ in Float(Int(rng.next() % 3) - 1) * 3e38 })   // x - max down to -6e38: -inf in float
        return rows.flatMap { $0 }
    }

    func testSpecialValues() {
        let keep = KernelEngines.simd(), list = keep.list
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(1202)
        for len in [1, 2, 5, 15, 16, 17, 33, 433, 1000] {
            let x = Self.specialRows(len, &rng)
            let rows = x.count / len
            for (name, e) in list {
                for (xo, yo) in offsets.prefix(2) {
                    let msg = "\(name) len \(len) offsets \(xo),\(yo)"
                    let y = placed(x, xOff: xo, yOff: yo, msg) { sega_softmax_fwd(e, rows, len, $0, $1) }
                    assertMatchesReference(y, x, rows: rows, len: len, msg)
                    XCTAssertTrue(y[len..<2 * len].allSatisfy { $0.isNaN }, "all -inf row \(msg)")
                    XCTAssertTrue(y[2 * len..<3 * len].allSatisfy { $0.isNaN }, "NaN row \(msg)")
                    XCTAssertFalse(y[0..<len].contains { $0.isNaN }, "-inf entries \(msg)")
                    if len >= 433 {
                        let deep = y[6 * len..<7 * len]
                        XCTAssertTrue(deep.contains { $0 != 0 && !$0.isNormal }, "denormal outputs kept \(msg)")
                        XCTAssertTrue(deep.contains { $0 == 0 }, "exact zeros \(msg)")
                    }
                }
            }
        }
    }

    func testInPlaceIsOutOfPlace() {
        let keep = KernelEngines.simd(), list = keep.list
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(1203)
        for len in lengths {
            var x = rng.unitSigneds(4 * len, scale: 10)
            x[0] = -.infinity
            x[3 * len] = .nan   // the last row NaN
            for (name, e) in list {
                for (xo, yo) in offsets {
                    let msg = "\(name) len \(len) offsets \(xo),\(yo)"
                    let out = placed(x, xOff: xo, yOff: yo, msg) { sega_softmax_fwd(e, 4, len, $0, $1) }
                    let inp = placed(x, xOff: yo, yOff: yo, inPlace: true, msg) { sega_softmax_fwd(e, 4, len, $0, $1) }
                    XCTAssertTrue(bitEqual(inp, out), "in place \(msg)")
                }
            }
        }
    }

    /// sega_softmax_fwd_mt on 1, 2 and 3 threads (at an odd offset, and in place) gives the
    /// single-thread kernel's bytes at the same ISA.
    func testThreadedIsTheSingleThreadKernel() {
        var rng = TestRNG(1204)
        let keep = [1, 2, 3].map { KernelEngines.simd(threads: $0) }, single = KernelEngines.simd()
        let byThreads = keep.map(\.list)
        defer { withExtendedLifetime((keep, single)) {} }
        for (rows, len) in [(433, 433), (97, 1000), (1001, 17), (64, 433)] {
            var x = rng.unitSigneds(rows * len, scale: 10)
            for i in stride(from: 5, to: x.count, by: 37) { x[i] = -.infinity }
            x[len * (rows / 2) + 1] = .nan                                        // a NaN row
            for i in len * (rows - 2)..<len * (rows - 1) { x[i] = -.infinity }    // an all -inf row
            for (k, (name, e1)) in single.list.enumerated() {
                var want = [Float](repeating: 7, count: rows * len)
                sega_softmax_fwd(e1, rows, len, x, &want)
                for list in byThreads {
                    let (tname, et) = list[k]
                    let msg = "\(name) vs \(tname) \(rows)x\(len)"
                    let y = placed(x, xOff: 1, yOff: 3, msg) { sega_softmax_fwd_mt(et, rows, len, $0, $1) }
                    XCTAssertTrue(bitEqual(y, want), "threaded \(msg)")
                    let inp = placed(x, xOff: 5, yOff: 5, inPlace: true, msg) { sega_softmax_fwd_mt(et, rows, len, $0, $1) }
                    XCTAssertTrue(bitEqual(inp, want), "threaded in place \(msg)")
                }
            }
        }
    }
}
