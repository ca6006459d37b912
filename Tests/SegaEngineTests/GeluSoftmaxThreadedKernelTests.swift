// GeluSoftmaxThreadedKernelTests.swift - GELU and softmax split over the engine's threads
// (sega_gelu_{fwd,bwd}_mt, sega_softmax_fwd_mt) give the single-thread kernels' bytes.
import XCTest
import CSupport

final class GeluSoftmaxThreadedKernelTests: XCTestCase {
    /// NaN, ±inf, -0 and a denormal in the first elements (when there are more than 10).
    private static func withSpecials(_ v: [Float]) -> [Float] {
        var x = v
        if x.count > 10 { x[1] = .nan; x[2] = .infinity; x[3] = -.infinity; x[4] = -0.0; x[5] = 1e-40 }
        return x
    }

    /// Sizes below, at and above the split threshold (16384 elements per thread), odd and not multiples of 64 or of 3.
    private let sizes = [0, 1, 63, 64, 65, 4097, 32_767, 32_768, 32_833, 49_153, 100_003]

    func testGeluForwardThreadedIsTheSingleThreadKernel() {
        let keep = KernelEngines(threads: [1, 2, 3]), list = keep.list   // (3 threads: ranges that do not split evenly)
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(91)
        for n in sizes {
            let x = Self.withSpecials(rng.unitSigneds(n, scale: 6))
            for (name, e) in list {
                var want = [Float](repeating: .nan, count: n)
                sega_gelu_fwd(e, n, x, &want)   // the single-thread kernel at e's ISA
                var y = [Float](repeating: 7, count: n)
                sega_gelu_fwd_mt(e, n, x, &y)
                XCTAssertTrue(bitEqual(y, want), "gelu fwd \(name) n\(n)")
                var inPlace = x
                inPlace.withUnsafeMutableBufferPointer { p in sega_gelu_fwd_mt(e, n, p.baseAddress, p.baseAddress) }
                XCTAssertTrue(bitEqual(inPlace, want), "gelu fwd in place \(name) n\(n)")
            }
        }
    }

    func testGeluBackwardThreadedIsTheSingleThreadKernel() {
        let keep = KernelEngines(threads: [1, 2, 3]), list = keep.list   // (3 threads: ranges that do not split evenly)
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(92)
        for n in sizes {
            let x = Self.withSpecials(rng.unitSigneds(n, scale: 6))
            let dy = rng.unitSigneds(n), dx0 = rng.unitSigneds(n)   // accumulates into dx0
            for (name, e) in list {
                var want = dx0
                sega_gelu_bwd(e, n, x, dy, &want)
                var dx = dx0
                sega_gelu_bwd_mt(e, n, x, dy, &dx)
                XCTAssertTrue(bitEqual(dx, want), "gelu bwd \(name) n\(n)")
            }
        }
    }

    /// (rows, len): one row, few long rows, many short rows, the attention's 433.
    private let shapes = [(0, 5), (1, 1), (1, 5000), (3, 700), (5, 1), (7, 433), (33_000, 1), (5001, 7), (101, 397), (1, 40_000), (433, 433)]

    func testSoftmaxForwardThreadedIsTheSingleThreadKernel() {
        let keep = KernelEngines(threads: [1, 2, 3]), list = keep.list   // (3 threads: ranges that do not split evenly)
        defer { withExtendedLifetime(keep) {} }
        var rng = TestRNG(93)
        for (rows, len) in shapes {
            var x = rng.unitSigneds(rows * len, scale: 10)
            if rows * len > 10 { x[1] = -.infinity }
            for (name, e) in list {
                var want = [Float](repeating: .nan, count: rows * len)
                sega_softmax_fwd(e, rows, len, x, &want)   // the same ISA, one thread
                var y = [Float](repeating: 7, count: rows * len)
                sega_softmax_fwd_mt(e, rows, len, x, &y)
                XCTAssertTrue(bitEqual(y, want), "softmax fwd \(name) \(rows)x\(len)")
                var inPlace = x
                inPlace.withUnsafeMutableBufferPointer { p in sega_softmax_fwd_mt(e, rows, len, p.baseAddress, p.baseAddress) }
                XCTAssertTrue(bitEqual(inPlace, want), "softmax fwd in place \(name) \(rows)x\(len)")
            }
        }
    }
}
