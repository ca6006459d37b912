import XCTest
import MallocCounter
@testable import SegaEngine

/// Steady-state forward + backward of a planned network must not touch the heap.
/// MallocCounter interposes malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign
/// and valloc in this test binary; the first tests prove that it sees allocations at all.
final class AllocationTests: XCTestCase {
    func testCounterIsLiveAndCounts() {
        XCTAssertEqual(sega_malloc_counter_active(), 1, "the allocator interposer is not linked in")
        sega_malloc_counter_start()
        // Each pointer goes through an opaque C call: the release build otherwise deletes
        // malloc/free pairs whose memory is never used, and the counter saw 1 of 4.
        let p = malloc(64); sega_malloc_counter_keep(p); free(p)
        var q: UnsafeMutableRawPointer? = nil
        _ = posix_memalign(&q, 64, 128); sega_malloc_counter_keep(q); free(q)
        let r = realloc(nil, 32); sega_malloc_counter_keep(r); free(r)
        let c = calloc(4, 4); sega_malloc_counter_keep(c); free(c)
        let n = sega_malloc_counter_stop()
        XCTAssertEqual(n, 4, "each of malloc, posix_memalign, realloc, calloc is counted once")
        // A Swift array is a heap allocation too: the negative control the real test relies on.
        sega_malloc_counter_start()
        let a = [Float](repeating: 1, count: Int.random(in: 100...200))
        let m = sega_malloc_counter_stop()
        XCTAssertGreaterThanOrEqual(m, 1)
        XCTAssertGreaterThan(a.count, 0)
    }

    func makeNetwork() throws -> (Graph, Tensor, Tensor) { try makeMixedNetwork() }

    func testSteadyStateForwardBackwardAllocatesNothing() throws {
        let (g, x, out) = try makeNetwork()
        for threads in [1, 2] {
            let plan = try g.plan(try Context(threads: threads), outputs: [out], gradientsFor: [x])
            var r = TestRNG(7)
            try plan.setInput(x, r.array(x.count, 0, 1))
            plan.forward(); plan.backward()            // warm-up (lazy runtime metadata)
            sega_malloc_counter_start()
            for _ in 0..<3 { plan.forward(); plan.backward() }
            let n = sega_malloc_counter_stop()
            XCTAssertEqual(n, 0, "heap allocations during steady-state forward+backward (\(threads) threads)")
            XCTAssertTrue(plan.buffer(out)[0].isFinite)
            XCTAssertTrue(plan.gradient(x)!.contains { $0 != 0 })
        }
    }

    /// Same network, 1 vs 2 threads: outputs and input gradients byte-identical.
    func testThreadCountDoesNotChangeResults() throws {
        let (g, x, out) = try makeNetwork()
        var results: [[UInt32]] = []
        for threads in [1, 2] {
            let plan = try g.plan(try Context(threads: threads), outputs: [out], gradientsFor: [x])
            var r = TestRNG(9)
            try plan.setInput(x, r.array(x.count, 0, 1))
            plan.forward(); plan.backward()
            results.append(plan.buffer(out).map(\.bitPattern) + plan.gradient(x)!.map(\.bitPattern))
        }
        XCTAssertEqual(results[0], results[1])
    }
}

/// A network touching every op family: conv (general, depthwise, grouped, 1x1), batchnorm,
/// activations, both pools, global/adaptive pools, resize, concat, slice, reshape, permute,
/// broadcasting binaries, layernorm, attention, softmax, matmul, sqrt, l2-normalise, linear.
func makeMixedNetwork() throws -> (Graph, Tensor, Tensor) {
    var r = TestRNG(42)
    let g = Graph()
    let x = try g.input([1, 3, 24, 20], name: "image")
    func w(_ s: [Int], _ k: Float = 0.3) throws -> Tensor { try g.constant(r.array(s.reduce(1, *), -k, k), s) }
    var h = try g.conv2d(x, weight: try w([8, 3, 3, 3]), bias: try w([8]), stride: (2, 2), padding: (1, 1))
    h = try g.batchNorm2d(h, gamma: try w([8]), beta: try w([8]), mean: try w([8]),
                          variance: try g.constant(r.array(8, 0.5, 1.5), [8]), eps: 1e-5)
    h = try g.relu6(h)
    h = try g.conv2d(h, weight: try w([8, 1, 3, 3]), padding: (1, 1), groups: 8)        // depthwise
    h = try g.conv2d(h, weight: try w([8, 4, 3, 3]), padding: (2, 2), dilation: (2, 2), groups: 2)
    h = try g.gelu(h)
    let a = try g.maxPool2d(h, kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true)
    let b = try g.avgPool2d(h, kernel: (2, 2))
    let bUp = try g.resizeBilinear(b, size: (a.shape[2], a.shape[3]), alignCorners: true)
    var c = try g.concat([a, bUp], axis: 1)                                            // [1,16,6,5]
    c = try g.conv2d(c, weight: try w([12, 16, 1, 1]))
    c = try g.sigmoid(c)
    let gap = try g.globalAvgPool(c)
    c = try g.mul(c, gap)                                                              // SE-style
    let gmax = try g.globalMaxPool(c)
    let gmin = try g.globalMinPool(c)
    let ad = try g.adaptiveAvgPool2d(c, (2, 2))
    // tokens for attention: [1, L, D]
    let tokens = try g.permute(try g.reshape(c, [1, 12, c.shape[2] * c.shape[3]]), [0, 2, 1])
    var t = try g.layerNorm(tokens, gamma: try w([12]), beta: try w([12]))
    t = try g.multiHeadSelfAttention(t, heads: 3, wqkv: try w([36, 12]), bqkv: try w([36]), wo: try w([12, 12]), bo: try w([12]))
    t = try g.add(t, tokens)
    let pooled = try g.mean(t, axes: [1])                                              // [1,12]
    let att = try g.softmax(try g.matmul(t, t, transposeB: true))
    let attSum = try g.reshape(try g.sum(att, axes: [2]), [1, -1])
    let sq = try g.sqrt(try g.affine(try g.reshape(ad, [1, 48]), scale: 1, shift: 1))
    let feats = try g.concat([pooled, try g.reshape(gmax, [1, 12]), try g.reshape(gmin, [1, 12]),
                              try g.l2Normalize(sq, axis: 1), try g.slice(attSum, axis: 1, start: 0, end: 4)], axis: 1)
    let out = try g.linear(try g.relu(try g.linear(feats, weight: try w([16, feats.shape[1]]), bias: try w([16]))),
                           weight: try w([1, 16]), bias: try w([1]))
    return (g, x, out)
}
