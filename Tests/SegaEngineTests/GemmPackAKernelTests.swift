import XCTest
import CSupport

/// The SIMD A packers of the x86 micro-kernels (gemm_pack_a_x86.c) write the bytes of the scalar
/// packers they replace: per kernel on many shapes (sega_gemm_pack_a_kernel), and through whole
/// products (sega_sgemm, sega_gemm_pack_a) against the same calls with the scalar packers
/// (sega_gemm_set_pack_a_scalar), at 1, 2 and 3 threads and every kernel policy.
final class GemmPackAKernelTests: XCTestCase {
    /// Kernels of sega_gemm_pack_a_kernel: 0 portable, 1 AVX2 6 x 16, 2 AVX-512 8 x 48, 3 12 x 32.
    static let kernels: [Int32] = [0, 1, 2, 3]
    static let ms = Array(1...40) + [433]
    static let ks = [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 23, 24, 31, 32, 33, 40, 433]

    /// Random bit patterns (NaNs with payloads, signalling NaNs, denormals, -0 among them): a
    /// packer that computed instead of moving would change some of them.
    static func bits(_ count: Int, seed: UInt64) -> [Float] {
        var s = seed &* 0x9E3779B97F4A7C15 | 1
        return (0..<count).map { _ in
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return Float(bitPattern: UInt32(truncatingIfNeeded: s >> 17))
        }
    }

    static func sameBytes(_ x: [Float], _ y: [Float]) -> Bool {
        x.count == y.count && x.withUnsafeBytes { p in y.withUnsafeBytes { memcmp(p.baseAddress!, $0.baseAddress!, p.count) == 0 } }
    }

    /// Each kernel's packer == its scalar packer == the layout (ap[s*MR*kc + p*MR + i] =
    /// op(A)(i0 + s*MR + i, p0 + p), 0 past mc) byte for byte, nothing written past the slivers;
    /// both transposes, sub-matrices at offsets (i0, p0) with odd lda, m and k from 1 to 40 and 433.
    func testSimdPackersWriteTheScalarBytes() {
        var checked = 0
        for kernel in Self.kernels {
            var probe = [Float](repeating: 0, count: 16)
            let one: [Float] = [1]
            let mr = Int(sega_gemm_pack_a_kernel(kernel, 0, 0, one, 1, 0, 1, 0, 1, &probe))
            if mr == 0 { continue }   // this CPU cannot run it
            for ta in 0..<2 { for (mi, mc) in Self.ms.enumerated() { for (ki, kc) in Self.ks.enumerated() {
                if (mc == 433) != (kc == 433) && (mc + kc) % 3 != 0 { continue }   // a third of the 433 rows/cols
                let (i0, p0) = (mi + ki) % 2 == 0 ? (0, 0) : (3, 5)
                let rows = ta != 0 ? p0 + kc : i0 + mc, cols = ta != 0 ? i0 + mc : p0 + kc
                let lda = (cols | 1) + ((mi + ki) % 3) * 2   // odd, with 0..4 floats past the row
                let a = Self.bits(rows * lda, seed: UInt64(1 + 1000 * mi + ki))
                let slivers = (mc + mr - 1) / mr, n = slivers * mr * kc
                let sentinel = Float(bitPattern: 0x7fa5_a5a5)
                var simd = [Float](repeating: sentinel, count: n + 32), scalar = simd
                XCTAssertEqual(sega_gemm_pack_a_kernel(kernel, 0, Int32(ta), a, lda, Int32(i0), Int32(mc), Int32(p0), Int32(kc), &simd), Int32(mr))
                XCTAssertEqual(sega_gemm_pack_a_kernel(kernel, 1, Int32(ta), a, lda, Int32(i0), Int32(mc), Int32(p0), Int32(kc), &scalar), Int32(mr))
                var want = [Float](repeating: sentinel, count: n + 32)
                for s in 0..<slivers { for p in 0..<kc { for i in 0..<mr {
                    let r = s * mr + i
                    want[s * mr * kc + p * mr + i] = r >= mc ? 0 : a[ta != 0 ? (p0 + p) * lda + i0 + r : (i0 + r) * lda + p0 + p]
                } } }
                let tag = "kernel \(kernel) MR \(mr) trans \(ta) mc \(mc) kc \(kc) i0 \(i0) p0 \(p0) lda \(lda)"
                XCTAssertTrue(Self.sameBytes(scalar, want), "scalar packer off the layout: \(tag)")
                XCTAssertTrue(Self.sameBytes(simd, want), "SIMD packer differs: \(tag)")
                checked += 1
            } } }
        }
        XCTAssertGreaterThan(checked, 3000)
    }

    /// sega_sgemm (and sega_gemm_pack_a's prepacked A) with the SIMD packers gives the bytes of
    /// the same calls with the scalar ones, A read in place as a sub-matrix (offset, odd lda), at 1,
    /// 2 and 3 threads (which give the same bytes too) and every kernel policy.
    func testGemmBytesEqualWithScalarPacking() {
        let isas = [SEGA_ISA_AVX2, SEGA_ISA_AVX512].filter { sega_cpu_supports($0) != 0 }
        let shapes: [(Int, Int, Int)] = [(433, 64, 433), (433, 96, 192), (40, 64, 40), (37, 17, 9), (13, 33, 7),
                                         (25, 64, 300), (6, 16, 4), (5, 48, 3), (1, 32, 433), (433, 1, 5)]
        defer { sega_gemm_set_pack_a_scalar(0); sega_gemm_set_kernel_policy(-1) }
        var compared = 0
        for isa in isas {
            var engines: [OpaquePointer] = []
            for t in 1...3 {
                var e: OpaquePointer? = nil
                XCTAssertEqual(sega_engine_create(Int32(t), isa, &e), SEGA_OK)
                engines.append(e!)
            }
            defer { engines.forEach { sega_engine_destroy($0) } }
            for policy: Int32 in isa == SEGA_ISA_AVX512 ? [0, 1, 2] : [-1] {
                sega_gemm_set_kernel_policy(policy)
                for (si, sh) in shapes.enumerated() { for ta in 0..<2 {
                    let (m, n, k) = sh
                    let rows = ta != 0 ? k : m, cols = ta != 0 ? m : k
                    let lda = (cols + 2) | 1, off = 2 * lda + 1   // A at an offset inside a larger matrix
                    var rng = GemmKernelTests.RNG(UInt64(17 * si + ta + 3))
                    let big = (0..<(off + rows * lda)).map { _ in rng.next() }
                    let b = (0..<(k * n)).map { _ in rng.next() }
                    let tag = "\(String(cString: sega_isa_name(isa))) policy \(policy) \(m)x\(n)x\(k) ta \(ta)"
                    var results: [[Float]] = []
                    for scalar: Int32 in [1, 0] {
                        sega_gemm_set_pack_a_scalar(scalar)
                        for e in engines {
                            var c = [Float](repeating: .nan, count: m * n)
                            let st = big.withUnsafeBufferPointer { p in
                                sega_sgemm(e, Int32(ta), 0, Int32(m), Int32(n), Int32(k), 1, p.baseAddress! + off, Int32(lda),
                                           b, Int32(n), 0, &c, Int32(n))
                            }
                            XCTAssertEqual(st, SEGA_OK, tag)
                            results.append(c)
                        }
                        // The whole operand packed once: header and slivers.
                        let floats = sega_gemm_packed_a_floats(engines[0], Int32(m), Int32(n), Int32(k))
                        var packed = [Float](repeating: 0, count: floats)
                        let st = big.withUnsafeBufferPointer { p in
                            sega_gemm_pack_a(engines[0], Int32(ta), Int32(m), Int32(n), Int32(k), p.baseAddress! + off, Int32(lda), &packed)
                        }
                        XCTAssertEqual(st, SEGA_OK, tag)
                        results.append(packed)
                    }
                    // results: scalar packing (C at 1, 2, 3 threads, packed A), then SIMD packing (the same).
                    for t in 0..<3 {
                        XCTAssertTrue(Self.sameBytes(results[t], results[4 + t]), "\(tag): C at \(t + 1) thread(s) differs from the scalar packing's")
                    }
                    XCTAssertTrue(Self.sameBytes(results[0], results[1]) && Self.sameBytes(results[0], results[2]),
                                  "\(tag): 1, 2, 3 threads differ (scalar packing)")
                    XCTAssertTrue(Self.sameBytes(results[4], results[5]) && Self.sameBytes(results[4], results[6]),
                                  "\(tag): 1, 2, 3 threads differ (SIMD packing)")
                    XCTAssertTrue(Self.sameBytes(results[3], results[7]), "\(tag): sega_gemm_pack_a differs from the scalar packing's")
                    compared += 1
                }
            } }
        }
        if !isas.isEmpty { XCTAssertGreaterThan(compared, 0) }
    }
}
