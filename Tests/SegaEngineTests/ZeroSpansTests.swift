import XCTest
import MallocCounter
@testable import SegaEngine

/// `sega_zero_spans` (the plan's gradient zeroing, split over the engine's threads): exactly the
/// listed bytes become 0 whatever the thread count and the cut; a plan whose zeroing is large
/// enough to use the pool gives the same bytes at 1, 2 and 3 threads and allocates nothing.
final class ZeroSpansTests: XCTestCase {
    /// Spans of awkward sizes (not multiples of 64, one empty) inside a 0xAB-filled buffer, with
    /// gaps between them that must stay untouched.
    func testZeroesExactlyTheSpans() throws {
        let sizes = [3, 0, 700_001, 64, 1_300_123, 17, 262_144, 5]
        var offsets: [Int] = [], off = 8
        for s in sizes { offsets.append(off); off += s + 37 }
        let total = off + 8
        let buf = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 64)
        defer { buf.deallocate() }
        for threads in [1, 2, 3] {
            let ctx = try Context(threads: threads)
            for (lo, hi) in [(0, sizes.count), (2, 3), (3, 8), (0, 2)] {   // whole list, one big span, tails
                memset(buf, 0xAB, total)
                let ptrs = ContiguousArray<UnsafeMutableRawPointer?>(offsets[lo..<hi].map { buf + $0 })
                let bytes = ContiguousArray(sizes[lo..<hi])
                ptrs.withUnsafeBufferPointer { p in bytes.withUnsafeBufferPointer { b in
                    sega_zero_spans(ctx.raw, p.baseAddress!, b.baseAddress!, Int32(hi - lo))
                } }
                var inSpan = [Bool](repeating: false, count: total)
                for k in lo..<hi { for i in offsets[k]..<(offsets[k] + sizes[k]) { inSpan[i] = true } }
                let bytesOut = buf.assumingMemoryBound(to: UInt8.self)
                var wrong = 0
                for i in 0..<total where bytesOut[i] != (inSpan[i] ? 0 : 0xAB) { wrong += 1 }
                XCTAssertEqual(wrong, 0, "\(threads) threads, spans \(lo)..<\(hi)")
            }
        }
    }

    /// A graph with megabyte gradients (pooled zeroing): same bits at 1, 2, 3 threads and with
    /// the zeroing done by one thread (engine-less), no allocation per pass.
    func testLargeZeroingIsThreadCountIndependent() throws {
        func run(_ threads: Int, checkAllocations: Bool = false) throws -> [UInt32] {
            var r = TestRNG(9)
            let g = Graph()
            let x = try g.input([512, 256])
            let w = try g.constant(r.array(256 * 256, -0.1, 0.1), [256, 256])
            let h = try g.gelu(g.linear(x, weight: w))
            let s = try g.softmax(g.add(h, g.gelu(h)))
            let out = try g.sum(g.mul(s, g.constant(r.array(512 * 256, -1, 1), [512, 256])), axes: [0, 1])
            let plan = try g.plan(try Context(threads: threads), outputs: [out], gradientsFor: [x, w])
            XCTAssertGreaterThan(plan.program.zeroList.reduce(0) { $0 + $1.1 }, 1 << 20)
            try plan.setInput(x, r.array(x.count, -2, 2))
            plan.forward(); plan.backward()
            if checkAllocations {
                sega_malloc_counter_start()
                for _ in 0..<2 { plan.forward(); plan.backward() }
                XCTAssertEqual(sega_malloc_counter_stop(), 0)
            }
            return (Array(plan.gradient(x)!) + Array(plan.gradient(w)!)).map(\.bitPattern)
        }
        let want = try run(1)
        XCTAssertTrue(want.contains { $0 != 0 })
        XCTAssertEqual(try run(2, checkAllocations: true), want)
        XCTAssertEqual(try run(3), want)
    }
}
