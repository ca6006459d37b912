import XCTest
import CSupport
import MallocCounter

#if canImport(Glibc)
import Glibc
#endif

/// Kernel-level regression tests of the packed SGEMM (sega_sgemm) against the naive reference
/// (sega_sgemm_ref), on every ISA this CPU supports, plus the thread pool under it.
///
/// Tolerance. The reference accumulates in double; ours accumulates in fp32 over K blocks
/// (FMA on the SIMD paths, separate multiply and add on the portable one) and then applies
/// alpha and beta. The standard error bound of a length-k fp32 dot product is
/// gamma_k * sum_p |a_ip||b_pj| with gamma_k = k*u/(1 - k*u) and u = 2^-24; the alpha/beta
/// update adds a few more roundings. So for every element we allow
///     |ours - ref| <= 2 * (k + 4) * u * S,   S = |alpha| * sum_p |a_ip||b_pj| + |beta| * |c0_ij|
/// (S is computed by the reference itself on |A|, |B|, |C0|). The factor 2 only covers the
/// rounding of S and of the reference's final cast to float; a wrong index, a missing or
/// doubled term, or a stale edge tile is off by O(|a||b|), many orders of magnitude above it.
final class GemmKernelTests: XCTestCase {
    static let sizes = [1, 5, 6, 7, 15, 16, 17, 33, 170, 257]
    static let ks = [1, 3, 255, 256, 257]

    var supportedISAs: [sega_isa] {
        [SEGA_ISA_PORTABLE, SEGA_ISA_AVX2, SEGA_ISA_AVX512].filter { sega_cpu_supports($0) != 0 }
    }

    func makeEngine(_ threads: Int, _ isa: sega_isa) -> OpaquePointer {
        var e: OpaquePointer? = nil
        let st = sega_engine_create(Int32(threads), isa, &e)
        XCTAssertEqual(st, SEGA_OK)
        return e!
    }

    /// Deterministic pseudo-random values in [-1, 1].
    struct RNG {
        var s: UInt64
        init(_ seed: UInt64) { s = seed &* 0x9E3779B97F4A7C15 | 1 }
        mutating func next() -> Float {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return Float(Int64(s >> 40) - (1 << 23)) / Float(1 << 23)
        }
    }

    struct Case {
        var ta = 0, tb = 0, m = 0, n = 0, k = 0
        var padA = 0, padB = 0, padC = 0
        var alpha: Float = 1, beta: Float = 0
    }

    static let sentinel: Float = -12345.5

    /// Runs one case on engine `e` and compares with the reference. Returns a failure message
    /// or nil. Padding of A and B holds NaN (reading it would poison the result); padding of C
    /// holds a sentinel that must survive; with beta == 0 the valid part of C starts as NaN.
    func runCase(_ e: OpaquePointer, _ c: Case, seed: UInt64) -> String? {
        let (m, n, k) = (c.m, c.n, c.k)
        let aRows = c.ta != 0 ? k : m, aCols = c.ta != 0 ? m : k
        let bRows = c.tb != 0 ? n : k, bCols = c.tb != 0 ? k : n
        let lda = aCols + c.padA, ldb = bCols + c.padB, ldc = n + c.padC
        var rng = RNG(seed)
        var a = [Float](repeating: .nan, count: max(1, aRows * lda))
        var b = [Float](repeating: .nan, count: max(1, bRows * ldb))
        var c0 = [Float](repeating: GemmKernelTests.sentinel, count: max(1, m * ldc))
        for i in 0..<aRows { for j in 0..<aCols { a[i * lda + j] = rng.next() } }
        for i in 0..<bRows { for j in 0..<bCols { b[i * ldb + j] = rng.next() } }
        for i in 0..<m { for j in 0..<n { c0[i * ldc + j] = c.beta == 0 ? .nan : rng.next() } }

        var ours = c0
        var ref = c0
        let st = sega_sgemm(e, Int32(c.ta), Int32(c.tb), Int32(m), Int32(n), Int32(k), c.alpha,
                            a, Int32(lda), b, Int32(ldb), c.beta, &ours, Int32(ldc))
        if st != SEGA_OK { return "status \(st)" }
        XCTAssertEqual(sega_sgemm_ref(Int32(c.ta), Int32(c.tb), Int32(m), Int32(n), Int32(k), c.alpha,
                                      a, Int32(lda), b, Int32(ldb), c.beta, &ref, Int32(ldc)), SEGA_OK)
        // Error scale S = |alpha| |A||B| + |beta| |C0| (NaN padding mapped to 0, never read anyway).
        let absA = a.map { $0.isNaN ? 0 : abs($0) }, absB = b.map { $0.isNaN ? 0 : abs($0) }
        var scale = c0.map { $0.isNaN ? 0 : abs($0) }
        XCTAssertEqual(sega_sgemm_ref(Int32(c.ta), Int32(c.tb), Int32(m), Int32(n), Int32(k), abs(c.alpha),
                                      absA, Int32(lda), absB, Int32(ldb), abs(c.beta), &scale, Int32(ldc)), SEGA_OK)
        let u = Float(1.0 / 16777216.0)
        let factor = 2 * Float(k + 4) * u
        for i in 0..<m {
            for j in 0..<ldc {
                let idx = i * ldc + j
                if j >= n {
                    if ours[idx].bitPattern != GemmKernelTests.sentinel.bitPattern {
                        return "padding of C overwritten at (\(i), \(j))"
                    }
                    continue
                }
                let diff = abs(ours[idx] - ref[idx])
                let tol = factor * scale[idx] + Float.leastNormalMagnitude
                if !(diff <= tol) {
                    return "C(\(i), \(j)) = \(ours[idx]), reference \(ref[idx]), |diff| \(diff) > tol \(tol)"
                }
            }
        }
        return nil
    }

    static let alphaBeta: [(Float, Float)] = [(1, 0), (1, 1), (-0.75, 0.5), (2, 0), (0.5, -1.25)]

    func check(_ e: OpaquePointer, _ isa: sega_isa, _ c: Case, seed: UInt64, threads: Int,
               file: StaticString = #filePath, line: UInt = #line) {
        if let msg = runCase(e, c, seed: seed) {
            XCTFail("\(String(cString: sega_isa_name(isa))) threads=\(threads) trans=(\(c.ta),\(c.tb)) " +
                    "m=\(c.m) n=\(c.n) k=\(c.k) pads=(\(c.padA),\(c.padB),\(c.padC)) " +
                    "alpha=\(c.alpha) beta=\(c.beta): \(msg)", file: file, line: line)
        }
    }

    /// Full m x n grid for k = 1 and k = 257 (one K block edge and the KC-straddling case
    /// on the 256-deep paths), transposes, paddings, alpha/beta and thread counts cycling.
    func testEdgeShapesFullGrid() {
        for isa in supportedISAs {
            let engines = [makeEngine(1, isa), makeEngine(2, isa)]
            defer { engines.forEach { sega_engine_destroy($0) } }
            var idx = 0
            for k in [1, 257] {
                for m in Self.sizes {
                    for n in Self.sizes {
                        let (al, be) = Self.alphaBeta[idx % Self.alphaBeta.count]
                        let c = Case(ta: idx % 2, tb: (idx / 2) % 2, m: m, n: n, k: k,
                                     padA: [0, 3, 17][idx % 3], padB: [0, 1, 16][(idx / 3) % 3],
                                     padC: [0, 5, 32][(idx / 2) % 3], alpha: al, beta: be)
                        check(engines[idx % 2], isa, c, seed: UInt64(idx + 1), threads: idx % 2 + 1)
                        idx += 1
                    }
                }
            }
        }
    }

    /// Every k on a "diagonal" of (m, n) pairs, all four transpose combinations.
    func testEdgeShapesAllK() {
        let pairs = zip(Self.sizes, Self.sizes.reversed()).map { ($0, $1) } +
            [(6, 16), (7, 17), (12, 32), (13, 33), (33, 33)]
        for isa in supportedISAs {
            let engines = [makeEngine(1, isa), makeEngine(2, isa)]
            defer { engines.forEach { sega_engine_destroy($0) } }
            var idx = 0
            for (m, n) in pairs {
                for k in Self.ks {
                    for t in 0..<4 {
                        let (al, be) = Self.alphaBeta[(idx + t) % Self.alphaBeta.count]
                        let c = Case(ta: t & 1, tb: t >> 1, m: m, n: n, k: k,
                                     padA: idx % 2 == 0 ? 0 : 9, padB: idx % 3 == 0 ? 0 : 4,
                                     padC: idx % 2 == 0 ? 3 : 0, alpha: al, beta: be)
                        check(engines[idx % 2], isa, c, seed: UInt64(1000 + idx), threads: idx % 2 + 1)
                        idx += 1
                    }
                }
            }
        }
    }

    /// Shapes larger than the cache blocks in every direction (several M, N and K blocks).
    func testMultiBlockShapes() {
        let shapes: [(Int, Int, Int)] = [(300, 700, 520), (97, 4200, 40), (1030, 50, 300)]
        for isa in supportedISAs {
            let e = makeEngine(2, isa)
            defer { sega_engine_destroy(e) }
            for (i, s) in shapes.enumerated() {
                let c = Case(ta: i % 2, tb: (i / 2) % 2, m: s.0, n: s.1, k: s.2, padA: 1, padB: 2, padC: 3,
                             alpha: 1, beta: i == 1 ? 0 : 0.5)
                check(e, isa, c, seed: UInt64(77 + i), threads: 2)
            }
        }
    }

    /// k == 0 and alpha == 0 only scale C by beta (beta == 0 writes zeros without reading NaN);
    /// m == 0 or n == 0 is a no-op.
    func testDegenerateSizes() {
        for isa in supportedISAs {
            let e = makeEngine(2, isa)
            defer { sega_engine_destroy(e) }
            var c: [Float] = [1, 2, .nan, 4, 5, 6]
            XCTAssertEqual(sega_sgemm(e, 0, 0, 2, 2, 0, 1, nil, 0, nil, 2, 0, &c, 3), SEGA_OK)
            XCTAssertEqual(c[0], 0); XCTAssertEqual(c[1], 0); XCTAssertEqual(c[3], 0); XCTAssertEqual(c[4], 0)
            XCTAssertTrue(c[2].isNaN, "padding untouched")
            c = [1, 2, 3, 4]
            let a: [Float] = [.nan, 1], b: [Float] = [1, .infinity]
            XCTAssertEqual(sega_sgemm(e, 0, 0, 2, 2, 0, 1, a, 1, b, 2, 2, &c, 2), SEGA_OK)
            XCTAssertEqual(c, [2, 4, 6, 8], "k == 0: C = beta * C")
            XCTAssertEqual(sega_sgemm(e, 0, 0, 2, 2, 1, 0, a, 1, b, 2, 0.5, &c, 2), SEGA_OK)
            XCTAssertEqual(c, [1, 2, 3, 4], "alpha == 0 scales by beta without touching A, B")
            // Empty operands may be NULL (A is 0 x 3, C is 0 x 5; then B is 3 x 0, C is 5 x 0).
            let bb = [Float](repeating: .nan, count: 15)
            XCTAssertEqual(sega_sgemm(e, 0, 0, 0, 5, 3, 1, nil, 3, bb, 5, 0, nil, 5), SEGA_OK)
            XCTAssertEqual(sega_sgemm(e, 0, 0, 5, 0, 3, 1, bb, 3, nil, 0, 0, nil, 0), SEGA_OK)
        }
    }

    /// Threads split M or N, never K: 1 and 2 threads must give byte-identical C.
    func testThreadCountDeterminism() {
        let shapes: [(Int, Int, Int, Int, Int)] = [(256, 2000, 700, 0, 0), (640, 90, 500, 1, 1), (200, 800, 300, 1, 0)]
        for isa in supportedISAs {
            let e1 = makeEngine(1, isa), e2 = makeEngine(2, isa)
            defer { sega_engine_destroy(e1); sega_engine_destroy(e2) }
            for (si, s) in shapes.enumerated() {
                let (m, n, k, ta, tb) = s
                var rng = RNG(UInt64(si + 5))
                let a = (0..<(m * k)).map { _ in rng.next() }
                let b = (0..<(k * n)).map { _ in rng.next() }
                let c0 = (0..<(m * n)).map { _ in rng.next() }
                var c1 = c0, c2 = c0
                let lda = ta != 0 ? m : k, ldb = tb != 0 ? k : n
                XCTAssertEqual(sega_sgemm(e1, Int32(ta), Int32(tb), Int32(m), Int32(n), Int32(k), 0.75, a, Int32(lda), b, Int32(ldb), 0.5, &c1, Int32(n)), SEGA_OK)
                XCTAssertEqual(sega_sgemm(e2, Int32(ta), Int32(tb), Int32(m), Int32(n), Int32(k), 0.75, a, Int32(lda), b, Int32(ldb), 0.5, &c2, Int32(n)), SEGA_OK)
                let same = c1.withUnsafeBytes { p1 in c2.withUnsafeBytes { p2 in memcmp(p1.baseAddress!, p2.baseAddress!, p1.count) == 0 } }
                XCTAssertTrue(same, "\(String(cString: sega_isa_name(isa))) \(m)x\(n)x\(k): 1 vs 2 threads differ")
            }
        }
    }

    /// The AVX-512 12 x 32 tile (policy 2: chosen wherever it pads clearly less than 8 x 48, i.e.
    /// 32- and 64-column products such as attention heads) gives the bytes of the engine's own
    /// kernel (policy 0) and of the default choice, on whole and edge tiles, one and several K
    /// blocks, both transposes, beta 0 and not, at 1, 2 and 3 threads; and meets the reference's
    /// bound. (A wrong row or column index in the tile fails every comparison.)
    func testNarrowTileGivesTheOwnKernelsBytes() {
        guard sega_cpu_supports(SEGA_ISA_AVX512) != 0 else { return }
        let shapes: [(Int, Int, Int)] = [(433, 64, 433), (433, 64, 64), (12, 32, 1), (13, 33, 7), (25, 64, 300),
                                         (37, 63, 257), (11, 96, 5), (24, 16, 9), (36, 128, 40), (100, 31, 3)]
        for threads in [1, 2, 3] {
            let e = makeEngine(threads, SEGA_ISA_AVX512)
            defer { sega_engine_destroy(e); sega_gemm_set_kernel_policy(-1) }
            for (si, sh) in shapes.enumerated() { for t in 0..<4 {
                let (m, n, k) = sh, ta = t & 1, tb = t >> 1
                var rng = RNG(UInt64(31 * si + t + 1))
                let a = (0..<(m * k)).map { _ in rng.next() }, b = (0..<(k * n)).map { _ in rng.next() }
                let c0 = (0..<(m * n)).map { _ in rng.next() }
                let (alpha, beta): (Float, Float) = t == 1 ? (0.75, 0.5) : (1, t == 3 ? 1 : 0)
                var out: [[Float]] = []
                for policy: Int32 in [0, 2, -1] {
                    sega_gemm_set_kernel_policy(policy)
                    var c = c0
                    XCTAssertEqual(sega_sgemm(e, Int32(ta), Int32(tb), Int32(m), Int32(n), Int32(k), alpha, a,
                                              Int32(ta != 0 ? m : k), b, Int32(tb != 0 ? k : n), beta, &c, Int32(n)), SEGA_OK)
                    out.append(c)
                }
                let tag = "\(threads)t \(m)x\(n)x\(k) ta \(ta) tb \(tb)"
                XCTAssertTrue(out[1].withUnsafeBytes { p in out[0].withUnsafeBytes { memcmp(p.baseAddress!, $0.baseAddress!, p.count) == 0 } },
                              "12 x 32 tile differs from 8 x 48: \(tag)")
                XCTAssertTrue(out[2].withUnsafeBytes { p in out[0].withUnsafeBytes { memcmp(p.baseAddress!, $0.baseAddress!, p.count) == 0 } },
                              "default choice differs from 8 x 48: \(tag)")
                sega_gemm_set_kernel_policy(2)
                let c = Case(ta: ta, tb: tb, m: m, n: n, k: k, alpha: alpha, beta: beta)
                if let msg = runCase(e, c, seed: UInt64(si * 4 + t + 100)) { XCTFail("policy 2 \(tag): \(msg)") }
            } }
        }
    }

    /// sega_sgemm allocates nothing (the workspace comes from the engine).
    func testSgemmDoesNotAllocate() throws {
        XCTAssertEqual(sega_malloc_counter_active(), 1, "allocation counter not linked")
        let (m, n, k) = (150, 600, 300)
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        for isa in supportedISAs {
            for t in [1, 2] {
                let e = makeEngine(t, isa)
                defer { sega_engine_destroy(e) }
                XCTAssertEqual(sega_sgemm(e, 0, 0, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, &c, Int32(n)),
                               SEGA_OK) // warm-up
                var failed = 0
                let allocs: UInt64 = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                    sega_malloc_counter_start()
                    for tr in 0..<4 {   // no transpose: 150 x 600 x 150; the others 150 x 150 x 150
                        let nn = Int32(tr == 0 ? n : 150)
                        let st = sega_sgemm(e, Int32(tr & 1), Int32(tr >> 1), Int32(m), nn, Int32(150), 1,
                                            ap.baseAddress, 150, bp.baseAddress, tr >> 1 == 0 ? nn : 150, 1, cp.baseAddress, Int32(n))
                        if st != SEGA_OK { failed += 1 }
                    }
                    return sega_malloc_counter_stop()
                } } }
                XCTAssertEqual(allocs, 0, "\(String(cString: sega_isa_name(isa))) threads=\(t)")
                XCTAssertEqual(failed, 0, "\(String(cString: sega_isa_name(isa))) threads=\(t): sega_sgemm failed")
            }
        }
    }

    func testBadArguments() {
        let e = makeEngine(1, SEGA_ISA_AUTO)
        defer { sega_engine_destroy(e) }
        let a = [Float](repeating: 1, count: 64), b = [Float](repeating: 1, count: 64)
        var c = [Float](repeating: 7, count: 64)
        let bad = SEGA_ERR_INVALID_ARG
        // Negative sizes.
        XCTAssertEqual(sega_sgemm(e, 0, 0, -1, 4, 4, 1, a, 4, b, 4, 0, &c, 4), bad)
        XCTAssertEqual(sega_sgemm(e, 0, 0, 4, -1, 4, 1, a, 4, b, 4, 0, &c, 4), bad)
        XCTAssertEqual(sega_sgemm(e, 0, 0, 4, 4, -1, 1, a, 4, b, 4, 0, &c, 4), bad)
        // Leading dimensions too small: lda >= (ta ? m : k), ldb >= (tb ? k : n), ldc >= n.
        XCTAssertEqual(sega_sgemm(e, 0, 0, 4, 4, 5, 1, a, 4, b, 4, 0, &c, 4), bad)
        XCTAssertEqual(sega_sgemm(e, 1, 0, 5, 4, 4, 1, a, 4, b, 4, 0, &c, 4), bad)
        XCTAssertEqual(sega_sgemm(e, 0, 0, 4, 5, 4, 1, a, 4, b, 4, 0, &c, 5), bad)
        XCTAssertEqual(sega_sgemm(e, 0, 1, 4, 4, 5, 1, a, 5, b, 4, 0, &c, 4), bad)
        XCTAssertEqual(sega_sgemm(e, 0, 0, 4, 4, 4, 1, a, 4, b, 4, 0, &c, 3), bad)
        // Null pointers with nonzero sizes, null engine.
        XCTAssertEqual(sega_sgemm(e, 0, 0, 4, 4, 4, 1, nil, 4, b, 4, 0, &c, 4), bad)
        XCTAssertEqual(sega_sgemm(e, 0, 0, 4, 4, 4, 1, a, 4, nil, 4, 0, &c, 4), bad)
        XCTAssertEqual(sega_sgemm(e, 0, 0, 4, 4, 4, 1, a, 4, b, 4, 0, nil, 4), bad)
        XCTAssertEqual(sega_sgemm(nil, 0, 0, 4, 4, 4, 1, a, 4, b, 4, 0, &c, 4), bad)
        XCTAssertTrue(c.allSatisfy { $0 == 7 }, "a rejected call must not touch C")
        // The reference has the same contract.
        XCTAssertEqual(sega_sgemm_ref(0, 0, -1, 4, 4, 1, a, 4, b, 4, 0, &c, 4), bad)
        XCTAssertEqual(sega_sgemm_ref(0, 0, 4, 4, 4, 1, a, 3, b, 4, 0, &c, 4), bad)
        XCTAssertEqual(sega_sgemm_ref(0, 0, 4, 4, 4, 1, a, 4, b, 4, 0, nil, 4), bad)
        // Engine creation.
        var out: OpaquePointer? = nil
        XCTAssertEqual(sega_engine_create(0, SEGA_ISA_AUTO, &out), bad)
        XCTAssertNil(out)
        XCTAssertEqual(sega_engine_create(1, sega_isa(rawValue: 7), &out), bad)
        XCTAssertEqual(sega_engine_create(1, SEGA_ISA_AUTO, nil), bad)
    }

    func testCpuAndNames() {
        XCTAssertEqual(sega_cpu_supports(SEGA_ISA_PORTABLE), 1)
        let best = sega_cpu_best_isa()
        XCTAssertEqual(sega_cpu_supports(best), 1)
        XCTAssertEqual(String(cString: sega_isa_name(SEGA_ISA_PORTABLE)), "portable")
        XCTAssertEqual(String(cString: sega_isa_name(SEGA_ISA_AVX2)), "avx2")
        XCTAssertEqual(String(cString: sega_isa_name(SEGA_ISA_AVX512)), "avx512")
        XCTAssertEqual(String(cString: sega_status_message(SEGA_OK)), "ok")
        XCTAssertFalse(String(cString: sega_status_message(SEGA_ERR_INVALID_ARG)).isEmpty)
        for isa in supportedISAs {
            let e = makeEngine(1, isa)
            XCTAssertEqual(sega_engine_isa(e), isa)
            XCTAssertEqual(sega_engine_threads(e), 1)
            XCTAssertTrue(String(cString: sega_gemm_kernel_name(e)).contains(String(cString: sega_isa_name(isa))))
            sega_engine_destroy(e)
        }
    }

    // MARK: - Thread pool

    final class PoolProbe {
        var hits: UnsafeMutablePointer<Int32>
        var owner: UnsafeMutablePointer<pthread_t>
        let capacity: Int
        init(_ capacity: Int) {
            self.capacity = capacity
            hits = .allocate(capacity: capacity); hits.initialize(repeating: 0, count: capacity)
            owner = .allocate(capacity: capacity); owner.initialize(repeating: 0, count: capacity)
        }
        deinit { hits.deallocate(); owner.deallocate() }
        func reset() {
            hits.update(repeating: 0, count: capacity)
            owner.update(repeating: 0, count: capacity)
        }
    }

    static let probeTask: sega_task_fn = { ctx, index, count in
        let p = Unmanaged<PoolProbe>.fromOpaque(ctx!).takeUnretainedValue()
        // Each index is handed to exactly one thread, so these writes do not race.
        p.hits[Int(index)] += 1
        p.owner[Int(index)] = pthread_self()
    }

    func testPoolRunsEveryIndexExactlyOnceStatically() {
        let counts = [0, 1, 2, 3, 5, 8, 64, 1000]
        for threads in [1, 2, 3, 4] {
            var pool: OpaquePointer? = nil
            XCTAssertEqual(sega_pool_create(Int32(threads), &pool), SEGA_OK)
            XCTAssertEqual(sega_pool_threads(pool), Int32(threads))
            let probe = PoolProbe(1000)
            let ctx = Unmanaged.passUnretained(probe).toOpaque()
            for count in counts {
                probe.reset()
                sega_pool_run(pool, GemmKernelTests.probeTask, ctx, Int32(count))
                for i in 0..<count {
                    XCTAssertEqual(probe.hits[i], 1, "threads=\(threads) count=\(count) index \(i)")
                    // Static assignment: index i runs on thread i % T; thread 0 is the caller.
                    if i >= threads {
                        XCTAssertEqual(probe.owner[i], probe.owner[i % threads], "index \(i) moved threads")
                    }
                }
                if count > 1 { XCTAssertEqual(probe.owner[0], pthread_self(), "the caller runs index 0") }
                if count > 1 && threads > 1 {
                    XCTAssertNotEqual(probe.owner[0], probe.owner[1], "index 1 belongs to a worker")
                }
                for i in count..<1000 { XCTAssertEqual(probe.hits[i], 0) }
            }
            sega_pool_destroy(pool)
        }
        // p == NULL runs inline on the caller.
        let probe = PoolProbe(10)
        sega_pool_run(nil, GemmKernelTests.probeTask, Unmanaged.passUnretained(probe).toOpaque(), 10)
        for i in 0..<10 {
            XCTAssertEqual(probe.hits[i], 1)
            XCTAssertEqual(probe.owner[i], pthread_self())
        }
        XCTAssertEqual(sega_pool_create(0, nil), SEGA_ERR_INVALID_ARG)
    }

    static let sumTask: sega_task_fn = { ctx, index, count in
        let p = ctx!.assumingMemoryBound(to: Int64.self)
        p[Int(index)] += Int64(index) + 1
    }

    func testPoolManyRepeatedRuns() {
        var pool: OpaquePointer? = nil
        XCTAssertEqual(sega_pool_create(2, &pool), SEGA_OK)
        defer { sega_pool_destroy(pool) }
        let n = 7
        let acc = UnsafeMutablePointer<Int64>.allocate(capacity: n)
        acc.initialize(repeating: 0, count: n)
        defer { acc.deallocate() }
        let runs = 20000
        for r in 0..<runs {
            sega_pool_run(pool, GemmKernelTests.sumTask, acc, Int32(r % 3 == 0 ? 2 : n))
        }
        let twos = (runs + 2) / 3
        for i in 0..<n {
            let times = i < 2 ? runs : runs - twos
            XCTAssertEqual(acc[i], Int64(times) * Int64(i + 1), "index \(i)")
        }
        // Creating and destroying pools repeatedly (workers join cleanly).
        for t in 1...4 {
            var p: OpaquePointer? = nil
            XCTAssertEqual(sega_pool_create(Int32(t), &p), SEGA_OK)
            sega_pool_run(p, GemmKernelTests.sumTask, acc, 1)
            sega_pool_destroy(p)
        }
    }
}
