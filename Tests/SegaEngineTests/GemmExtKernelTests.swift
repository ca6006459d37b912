import XCTest
import CSupport

/// sega_sgemm_ex (column blocks, bias / relu / relu6 epilogues, masked B) on every ISA, thread
/// count and micro-kernel policy: within the fp32 error bound of the naive reference
/// (sega_sgemm_ex_ref), and byte-identical to the unfused passes it replaces (fill C with the
/// bias, multiply with beta = 1 block by block, mask B by hand, sega_relu{,6}_fwd_mask) and to
/// itself at every thread count and kernel policy.
final class GemmExtKernelTests: XCTestCase {
    struct Case {
        var m = 1, per = 1, batch = 1, k = 1
        var ta = 0
        var bias = false, act = 0, mask = false, bmask = false, amask = false
        var beta: Float = 0
        var n: Int { per * batch }
    }

    struct Data {
        var a: [Float], b: [Float], c0: [Float], bias: [Float], bm: [UInt8], am: [UInt8]
        let lda: Int, ldb: Int, ldc: Int, bst: Int, cst: Int
    }

    /// Operands with padding between the column blocks of B and C (NaN in B's padding: reading it
    /// would show; a sentinel in C's, which must survive).
    func data(_ c: Case, seed: UInt64) -> Data {
        var rng = GemmKernelTests.RNG(seed)
        let lda = c.ta != 0 ? c.m + 1 : c.k + 2, ldb = c.per + 3, ldc = c.per + 1
        let bst = c.k * ldb + 5, cst = c.m * ldc + 7
        var a = [Float](repeating: .nan, count: (c.ta != 0 ? c.k : c.m) * lda)
        for i in 0..<(c.ta != 0 ? c.k : c.m) { for j in 0..<(c.ta != 0 ? c.m : c.k) { a[i * lda + j] = rng.next() } }
        var b = [Float](repeating: .nan, count: c.batch * bst), bm = [UInt8](repeating: 7, count: c.batch * bst)
        var c0 = [Float](repeating: GemmKernelTests.sentinel, count: c.batch * cst)
        for q in 0..<c.batch {
            for p in 0..<c.k { for j in 0..<c.per {
                b[q * bst + p * ldb + j] = rng.next() * 4
                bm[q * bst + p * ldb + j] = rng.next() > 0 ? 1 : 0
            } }
            for i in 0..<c.m { for j in 0..<c.per { c0[q * cst + i * ldc + j] = c.beta == 0 ? .nan : rng.next() } }
        }
        let bias = (0..<c.m).map { _ in rng.next() * 3 }
        let am = a.map { _ in UInt8(rng.next() > -0.3 ? 1 : 0) }
        return Data(a: a, b: b, c0: c0, bias: bias, bm: bm, am: am, lda: lda, ldb: ldb, ldc: ldc, bst: bst, cst: cst)
    }

    /// sega_sgemm_ex on engine e: (C, mask).
    func fused(_ e: OpaquePointer?, _ c: Case, _ d: Data) -> ([Float], [UInt8]) {
        var out = d.c0, mask = [UInt8](repeating: 9, count: d.c0.count)
        let st = d.bias.withUnsafeBufferPointer { bias in
            d.bm.withUnsafeBufferPointer { bm in d.am.withUnsafeBufferPointer { am in
                mask.withUnsafeMutableBufferPointer { mk in
                    var x = sega_gemm_ext(batch: Int32(c.batch), b_stride: d.bst, c_stride: d.cst,
                                          row_bias: c.bias ? bias.baseAddress : nil, act: Int32(c.act),
                                          mask: c.mask ? mk.baseAddress : nil, b_mask: c.bmask ? bm.baseAddress : nil,
                                          a_mask: c.amask ? am.baseAddress : nil, col_bias: nil, a_packed: nil, b_packed: nil)
                    return sega_sgemm_ex(e, Int32(c.ta), 0, Int32(c.m), Int32(c.n), Int32(c.k), 1, d.a, Int32(d.lda),
                                         d.b, Int32(d.ldb), c.beta, &out, Int32(d.ldc), &x)
                }
            } }
        }
        XCTAssertEqual(st, SEGA_OK)
        return (out, mask)
    }

    /// The passes sega_sgemm_ex replaces: per block, B masked by hand, C filled with the bias and
    /// multiplied with beta = 1, then the activation with its mask.
    func unfused(_ e: OpaquePointer?, _ c: Case, _ d: Data) -> ([Float], [UInt8]) {
        var out = d.c0, mask = [UInt8](repeating: 9, count: d.c0.count)
        let a = c.amask ? zip(d.a, d.am).map { $1 == 0 ? 0 : $0 } : d.a
        for q in 0..<c.batch {
            var bq = [Float](repeating: 0, count: c.k * c.per)
            for p in 0..<c.k { for j in 0..<c.per {
                let o = q * d.bst + p * d.ldb + j
                bq[p * c.per + j] = c.bmask && d.bm[o] == 0 ? 0 : d.b[o]
            } }
            var cq = [Float](repeating: 0, count: c.m * c.per)
            for i in 0..<c.m { for j in 0..<c.per { cq[i * c.per + j] = c.bias ? d.bias[i] : d.c0[q * d.cst + i * d.ldc + j] } }
            XCTAssertEqual(sega_sgemm(e, Int32(c.ta), 0, Int32(c.m), Int32(c.per), Int32(c.k), 1, a, Int32(d.lda), bq,
                                      Int32(c.per), c.bias ? 1 : c.beta, &cq, Int32(c.per)), SEGA_OK)
            var mq = [UInt8](repeating: 0, count: cq.count), yq = cq
            if c.act == Int(SEGA_ACT_RELU.rawValue) { sega_relu_fwd_mask(cq.count, cq, &yq, &mq) }
            if c.act == Int(SEGA_ACT_RELU6.rawValue) { sega_relu6_fwd_mask(cq.count, cq, &yq, &mq) }
            for i in 0..<c.m { for j in 0..<c.per {
                out[q * d.cst + i * d.ldc + j] = yq[i * c.per + j]
                if c.mask { mask[q * d.cst + i * d.ldc + j] = mq[i * c.per + j] }
            } }
        }
        return (out, mask)
    }

    static let cases: [Case] = {
        var list: [Case] = []
        var r = GemmKernelTests.RNG(99)
        for (m, per, batch, k) in [(1, 1, 1, 1), (7, 5, 3, 3), (8, 49, 4, 17), (13, 64, 2, 300), (50, 100, 1, 64),
                                   (24, 16, 5, 9), (6, 47, 2, 257), (3, 200, 1, 2), (37, 64, 1, 70), (25, 32, 2, 300)] {
            for variant in 0..<4 {
                var c = Case(m: m, per: per, batch: batch, k: k)
                c.ta = variant & 1
                c.bias = variant >= 2
                c.act = (variant + m) % 3
                c.mask = c.act != 0 && r.next() > -0.5
                c.bmask = variant == 1 || variant == 3
                c.amask = c.ta == 0 && (variant + per) % 2 == 0
                c.beta = c.bias ? 0 : (variant == 1 ? 1 : 0)
                list.append(c)
            }
        }
        return list
    }()

    func testMatchesReferenceAndUnfusedPassesOnEveryPath() throws {
        for isa in KernelEngines.supportedISAs {
            for threads in [1, 2, 3] {
                var e: OpaquePointer? = nil
                XCTAssertEqual(sega_engine_create(Int32(threads), isa, &e), SEGA_OK)
                defer { sega_engine_destroy(e) }
                for (ci, c) in Self.cases.enumerated() {
                    let d = data(c, seed: UInt64(ci + 1))
                    let want = unfused(e, c, d)
                    for policy: Int32 in [0, 1, 2] {
                        sega_gemm_set_kernel_policy(policy)
                        let got = fused(e, c, d)
                        let tag = "\(String(cString: sega_isa_name(isa)))/\(threads)t policy \(policy) case \(ci) \(c)"
                        XCTAssertTrue(bitEqual(got.0, want.0), "C differs from the unfused passes: \(tag)")
                        XCTAssertEqual(got.1, want.1, "mask differs: \(tag)")
                    }
                    sega_gemm_set_kernel_policy(-1)
                    checkReference(c, d, fused(e, c, d), tag: "\(String(cString: sega_isa_name(isa)))/\(threads)t case \(ci)")
                }
            }
        }
    }

    /// Within 2 (k + 4) u S of the double-accumulating reference (see GemmKernelTests), S from
    /// |A||B| + |bias| (or |beta C0|); the activation moves no value further from it, and the mask
    /// may differ from the reference's only where the value is within that bound of a kink.
    func checkReference(_ c: Case, _ d: Data, _ got: ([Float], [UInt8]), tag: String) {
        var ref = d.c0, refMask = [UInt8](repeating: 9, count: d.c0.count)
        var scale = d.c0.map { $0.isNaN || $0 == GemmKernelTests.sentinel ? 0 : abs($0) }
        d.bias.withUnsafeBufferPointer { bias in
            d.bm.withUnsafeBufferPointer { bm in d.am.withUnsafeBufferPointer { am in
                refMask.withUnsafeMutableBufferPointer { mk in
                    var x = sega_gemm_ext(batch: Int32(c.batch), b_stride: d.bst, c_stride: d.cst,
                                          row_bias: c.bias ? bias.baseAddress : nil, act: Int32(c.act),
                                          mask: c.mask ? mk.baseAddress : nil, b_mask: c.bmask ? bm.baseAddress : nil,
                                          a_mask: c.amask ? am.baseAddress : nil, col_bias: nil, a_packed: nil, b_packed: nil)
                    XCTAssertEqual(sega_sgemm_ex_ref(Int32(c.ta), 0, Int32(c.m), Int32(c.n), Int32(c.k), 1, d.a, Int32(d.lda),
                                                     d.b, Int32(d.ldb), c.beta, &ref, Int32(d.ldc), &x), SEGA_OK)
                    let absBias = bias.map { abs($0) }
                    var xs = sega_gemm_ext(batch: Int32(c.batch), b_stride: d.bst, c_stride: d.cst,
                                           row_bias: nil, act: 0, mask: nil, b_mask: c.bmask ? bm.baseAddress : nil,
                                           a_mask: c.amask ? am.baseAddress : nil, col_bias: nil, a_packed: nil, b_packed: nil)
                    let absA = d.a.map { $0.isNaN ? 0 : abs($0) }, absB = d.b.map { $0.isNaN ? 0 : abs($0) }
                    XCTAssertEqual(sega_sgemm_ex_ref(Int32(c.ta), 0, Int32(c.m), Int32(c.n), Int32(c.k), 1, absA, Int32(d.lda),
                                                     absB, Int32(d.ldb), c.bias ? 0 : abs(c.beta), &scale, Int32(d.ldc), &xs), SEGA_OK)
                    if c.bias { for q in 0..<c.batch { for i in 0..<c.m { for j in 0..<c.per { scale[q * d.cst + i * d.ldc + j] += absBias[i] } } } }
                }
            } }
        }
        let u: Float = 1.0 / Float(1 << 24)
        for q in 0..<c.batch { for i in 0..<c.m { for j in 0..<c.per {
            let o = q * d.cst + i * d.ldc + j
            let tol = 2 * Float(c.k + 4) * u * scale[o]
            if !(abs(got.0[o] - ref[o]) <= tol) { XCTFail("\(tag): C[\(q)][\(i)][\(j)] \(got.0[o]) vs ref \(ref[o]) (tol \(tol))"); return }
            if c.mask && got.1[o] != refMask[o] && abs(ref[o]) > tol && abs(ref[o] - 6) > tol {
                XCTFail("\(tag): mask at [\(q)][\(i)][\(j)]"); return
            }
        } } }
        // Padding between the blocks of C is never written.
        for q in 0..<c.batch { for o in (q * d.cst + c.m * d.ldc)..<min((q + 1) * d.cst, got.0.count) where o < got.0.count {
            XCTAssertEqual(got.0[o], GemmKernelTests.sentinel, "\(tag): padding of C written at \(o)")
        } }
    }

    func testRejectsInconsistentExtensions() {
        var e: OpaquePointer? = nil
        XCTAssertEqual(sega_engine_create(1, SEGA_ISA_AUTO, &e), SEGA_OK)
        defer { sega_engine_destroy(e) }
        let a = [Float](repeating: 1, count: 64), b = [Float](repeating: 1, count: 64)
        var c = [Float](repeating: 0, count: 64), mk = [UInt8](repeating: 0, count: 64)
        func run(_ tb: Int32, n: Int32, beta: Float, _ x: sega_gemm_ext) -> sega_status {
            var x = x
            return sega_sgemm_ex(e, 0, tb, 2, n, 2, 1, a, 2, b, 8, beta, &c, 8, &x)
        }
        let none = sega_gemm_ext()
        XCTAssertEqual(run(0, n: 4, beta: 0, none), SEGA_OK)
        var x = none; x.batch = 2
        XCTAssertEqual(run(1, n: 4, beta: 0, x), SEGA_ERR_INVALID_ARG, "column blocks need a plain B")
        XCTAssertEqual(run(0, n: 5, beta: 0, x), SEGA_ERR_INVALID_ARG, "n must split into the blocks")
        x = none
        a.withUnsafeBufferPointer { ap in
            x.row_bias = ap.baseAddress
            XCTAssertEqual(run(0, n: 4, beta: 1, x), SEGA_ERR_INVALID_ARG, "a bias needs beta 0")
        }
        mk.withUnsafeMutableBufferPointer { mp in
            x = none; x.mask = mp.baseAddress
            XCTAssertEqual(run(0, n: 4, beta: 0, x), SEGA_ERR_INVALID_ARG, "a mask needs an activation")
            x = none; x.b_mask = UnsafePointer(mp.baseAddress)
            XCTAssertEqual(run(1, n: 4, beta: 0, x), SEGA_ERR_INVALID_ARG, "a B mask needs a plain B")
            x = none; x.a_mask = UnsafePointer(mp.baseAddress)
            var y = x
            XCTAssertEqual(sega_sgemm_ex(e, 1, 0, 2, 4, 2, 1, a, 2, b, 8, 0, &c, 8, &y), SEGA_ERR_INVALID_ARG, "an A mask needs a plain A")
        }
        x = none; x.act = 3
        XCTAssertEqual(run(0, n: 4, beta: 0, x), SEGA_ERR_INVALID_ARG, "unknown activation")
        a.withUnsafeBufferPointer { ap in
            x = none; x.col_bias = ap.baseAddress
            XCTAssertEqual(run(0, n: 4, beta: 0, x), SEGA_OK)
            XCTAssertEqual(run(0, n: 4, beta: 1, x), SEGA_ERR_INVALID_ARG, "a column bias needs beta 0")
            x.row_bias = ap.baseAddress
            XCTAssertEqual(run(0, n: 4, beta: 0, x), SEGA_ERR_INVALID_ARG, "one bias at a time")
            x.row_bias = nil; x.batch = 2
            XCTAssertEqual(run(0, n: 4, beta: 0, x), SEGA_ERR_INVALID_ARG, "a column bias needs one column block")
        }
    }

    /// op(A) packed once (sega_gemm_pack_a) gives the bytes of packing it on every call: every
    /// case of the table above without an A mask (bias, activation and mask, column blocks,
    /// beta), both transposes, every ISA, 1-3 threads, every kernel policy (the buffer names the
    /// micro-kernel it was packed for, whatever the policy at the call), n_hint other than n;
    /// a and lda are not read (NULL passed).
    func testPackedAIsTheUnpackedProduct() throws {
        for isa in KernelEngines.supportedISAs { for threads in [1, 2, 3] {
            var e: OpaquePointer? = nil
            XCTAssertEqual(sega_engine_create(Int32(threads), isa, &e), SEGA_OK)
            defer { sega_engine_destroy(e); sega_gemm_set_kernel_policy(-1) }
            for (ci, c) in Self.cases.enumerated() where !c.amask {
                let d = data(c, seed: UInt64(ci + 1))
                for packPolicy: Int32 in [-1, 2] { for hint in [c.per, 64] {
                    sega_gemm_set_kernel_policy(packPolicy)
                    var packed = [Float](repeating: .nan, count: sega_gemm_packed_a_floats(e, Int32(c.m), Int32(hint), Int32(c.k)))
                    XCTAssertEqual(sega_gemm_pack_a(e, Int32(c.ta), Int32(c.m), Int32(hint), Int32(c.k), d.a, Int32(d.lda), &packed), SEGA_OK)
                    for policy: Int32 in [0, 1, 2] {
                        sega_gemm_set_kernel_policy(policy)
                        let want = fused(e, c, d)
                        var out = d.c0, mask = [UInt8](repeating: 9, count: d.c0.count)
                        let st = d.bias.withUnsafeBufferPointer { bias in d.bm.withUnsafeBufferPointer { bm in
                            mask.withUnsafeMutableBufferPointer { mk in packed.withUnsafeBufferPointer { pk in
                                var x = sega_gemm_ext(batch: Int32(c.batch), b_stride: d.bst, c_stride: d.cst,
                                                      row_bias: c.bias ? bias.baseAddress : nil, act: Int32(c.act),
                                                      mask: c.mask ? mk.baseAddress : nil, b_mask: c.bmask ? bm.baseAddress : nil,
                                                      a_mask: nil, col_bias: nil, a_packed: pk.baseAddress, b_packed: nil)
                                return sega_sgemm_ex(e, Int32(c.ta), 0, Int32(c.m), Int32(c.n), Int32(c.k), 1, nil, 0, d.b,
                                                     Int32(d.ldb), c.beta, &out, Int32(d.ldc), &x)
                            } } } }
                        let tag = "\(String(cString: sega_isa_name(isa)))/\(threads)t case \(ci) \(c) packed at policy \(packPolicy) hint \(hint), called at \(policy)"
                        XCTAssertEqual(st, SEGA_OK, tag)
                        XCTAssertTrue(bitEqual(out, want.0), "C differs from the unpacked call: \(tag)")
                        if c.mask { XCTAssertEqual(mask, want.1, "mask differs: \(tag)") }
                    }
                } }
            }
        } }
    }

    /// A packed A is refused for another m or k, with an A mask, and on an engine of another ISA
    /// (its slivers have another height); its size and packing refuse bad arguments.
    func testPackedARefusals() {
        let isas = KernelEngines.supportedISAs
        var e1: OpaquePointer? = nil, e2: OpaquePointer? = nil
        XCTAssertEqual(sega_engine_create(1, isas.last!, &e1), SEGA_OK)
        XCTAssertEqual(sega_engine_create(1, isas.first!, &e2), SEGA_OK)
        defer { sega_engine_destroy(e1); sega_engine_destroy(e2) }
        let a = [Float](repeating: 0.5, count: 64), b = [Float](repeating: 1, count: 64)
        var c = [Float](repeating: 0, count: 64), am = [UInt8](repeating: 1, count: 64)
        var pk = [Float](repeating: 0, count: sega_gemm_packed_a_floats(e1, 4, 8, 4))
        XCTAssertGreaterThan(pk.count, 16)
        XCTAssertEqual(sega_gemm_pack_a(e1, 0, 4, 8, 4, a, 4, &pk), SEGA_OK)
        func run(_ e: OpaquePointer?, m: Int32, k: Int32, amask: Bool = false) -> sega_status {
            pk.withUnsafeBufferPointer { p in am.withUnsafeBufferPointer { mp in
                var x = sega_gemm_ext()
                x.a_packed = p.baseAddress
                if amask { x.a_mask = mp.baseAddress }
                return sega_sgemm_ex(e, 0, 0, m, 8, k, 1, nil, 0, b, 8, 0, &c, 8, &x)
            } }
        }
        XCTAssertEqual(run(e1, m: 4, k: 4), SEGA_OK)
        XCTAssertEqual(c[0], 2, "0.5 * 1 summed over k = 4")
        XCTAssertEqual(run(e1, m: 3, k: 4), SEGA_ERR_INVALID_ARG, "another m")
        XCTAssertEqual(run(e1, m: 4, k: 5), SEGA_ERR_INVALID_ARG, "another k")
        XCTAssertEqual(run(e1, m: 4, k: 4, amask: true), SEGA_ERR_INVALID_ARG, "with an A mask")
        if isas.count > 1 { XCTAssertEqual(run(e2, m: 4, k: 4), SEGA_ERR_INVALID_ARG, "packed on another ISA's engine") }
        XCTAssertEqual(sega_gemm_packed_a_floats(nil, 4, 8, 4), 0)
        XCTAssertEqual(sega_gemm_packed_a_floats(e1, -1, 8, 4), 0)
        XCTAssertEqual(sega_gemm_pack_a(e1, 0, 4, 8, 4, a, 3, &pk), SEGA_ERR_INVALID_ARG, "lda below k")
        XCTAssertEqual(sega_gemm_pack_a(e1, 0, 4, 8, 4, nil, 4, &pk), SEGA_ERR_INVALID_ARG, "no A")
        XCTAssertEqual(sega_gemm_pack_a(nil, 0, 4, 8, 4, a, 4, &pk), SEGA_ERR_INVALID_ARG, "no engine")
    }

    /// op(B) packed once (sega_gemm_pack_b) gives the bytes of packing it on every call: both
    /// transposes, plain / beta 1 / column bias / row bias with relu6 and its mask, alpha other
    /// than 1, one and several K blocks, the small-M and general paths (m above every MC), every
    /// ISA, 1-3 threads, the kernel policies at packing and at the call, m_hint other than m,
    /// together with a packed A; b and ldb are not read (NULL, 0). Within the reference's bound.
    func testPackedBIsTheUnpackedProduct() throws {
        defer { sega_gemm_set_kernel_policy(-1) }
        // (The last five are above the 96^3 multiply-adds from which the products are threaded.)
        let shapes = [(1, 1, 1), (7, 5, 3), (13, 64, 17), (37, 200, 130), (50, 100, 300), (72, 49, 257), (600, 50, 30), (433, 96, 24)]
        for isa in KernelEngines.supportedISAs { for threads in [1, 2, 3] {
            var e: OpaquePointer? = nil
            XCTAssertEqual(sega_engine_create(Int32(threads), isa, &e), SEGA_OK)
            defer { sega_engine_destroy(e) }
            for (si, (m, n, k)) in shapes.enumerated() { for t in 0..<8 {
                let tb = Int32(t & 1), variant = t >> 1   // 0 plain, 1 beta 1, 2 column bias, 3 row bias + relu6 + mask
                var rng = GemmKernelTests.RNG(UInt64(si * 16 + t + 1))
                let ldb = (tb != 0 ? k : n) + 2
                var b = [Float](repeating: .nan, count: (tb != 0 ? n : k) * ldb)
                for r in 0..<(tb != 0 ? n : k) { for c in 0..<(tb != 0 ? k : n) { b[r * ldb + c] = rng.next() * 2 } }
                let a = (0..<(m * k)).map { _ in rng.next() }
                let c0 = (0..<(m * n)).map { _ in variant == 1 ? rng.next() : Float.nan }
                let colBias = (0..<n).map { _ in rng.next() }, rowBias = (0..<m).map { _ in rng.next() * 4 }
                let alpha: Float = variant == 1 ? -0.75 : 1, beta: Float = variant == 1 ? 1 : 0
                func call(_ bp: UnsafePointer<Float>?, _ ap: UnsafePointer<Float>?) -> ([Float], [UInt8]) {
                    var out = c0, mask = [UInt8](repeating: 9, count: m * n)
                    let st = colBias.withUnsafeBufferPointer { cb in rowBias.withUnsafeBufferPointer { rb in
                        mask.withUnsafeMutableBufferPointer { mk in
                            var x = sega_gemm_ext()
                            if variant == 2 { x.col_bias = cb.baseAddress }
                            if variant == 3 { x.row_bias = rb.baseAddress; x.act = Int32(SEGA_ACT_RELU6.rawValue); x.mask = mk.baseAddress }
                            x.b_packed = bp; x.a_packed = ap
                            return sega_sgemm_ex(e, 0, tb, Int32(m), Int32(n), Int32(k), alpha, ap == nil ? a : nil, Int32(ap == nil ? k : 0),
                                                 bp == nil ? b : nil, Int32(bp == nil ? ldb : 0), beta, &out, Int32(n), &x)
                        } } }
                    XCTAssertEqual(st, SEGA_OK)
                    return (out, mask)
                }
                // Within 2 (k + 4) u S of the double-accumulating reference, S = |alpha| sum |a||b|
                // + |bias| + |beta C0| (relu6 moves no value further from it).
                func checkAgainstReference(_ got: [Float], _ tag: String) {
                    var ref = c0, mask = [UInt8](repeating: 0, count: m * n)
                    let st = colBias.withUnsafeBufferPointer { cb in rowBias.withUnsafeBufferPointer { rb in
                        mask.withUnsafeMutableBufferPointer { mk in
                            var x = sega_gemm_ext()
                            if variant == 2 { x.col_bias = cb.baseAddress }
                            if variant == 3 { x.row_bias = rb.baseAddress; x.act = Int32(SEGA_ACT_RELU6.rawValue); x.mask = mk.baseAddress }
                            return sega_sgemm_ex_ref(0, tb, Int32(m), Int32(n), Int32(k), alpha, a, Int32(k), b, Int32(ldb), beta, &ref, Int32(n), &x)
                        } } }
                    XCTAssertEqual(st, SEGA_OK)
                    for i in 0..<m { for j in 0..<n {
                        var sc = variant == 2 ? abs(Double(colBias[j])) : (variant == 3 ? abs(Double(rowBias[i])) : (beta == 0 ? 0 : abs(Double(beta) * Double(c0[i * n + j]))))
                        for p in 0..<k { sc += abs(Double(alpha) * Double(a[i * k + p]) * Double(tb != 0 ? b[j * ldb + p] : b[p * ldb + j])) }
                        if !(abs(Double(got[i * n + j]) - Double(ref[i * n + j])) <= 2 * Double(k + 4) * 0x1p-24 * sc) {
                            return XCTFail("packed B vs reference \(tag) [\(i), \(j)]: \(got[i * n + j]) vs \(ref[i * n + j])")
                        }
                    } }
                }
                var want: [([Float], [UInt8])] = []
                for policy: Int32 in [0, 1, 2] { sega_gemm_set_kernel_policy(policy); want.append(call(nil, nil)) }
                // With a packed A too (for the micro-kernel the call picks: policy -1, hint m).
                sega_gemm_set_kernel_policy(-1)
                var packedA = [Float](repeating: .nan, count: sega_gemm_packed_a_floats(e, Int32(m), Int32(n), Int32(k)))
                XCTAssertEqual(sega_gemm_pack_a(e, 0, Int32(m), Int32(n), Int32(k), a, Int32(k), &packedA), SEGA_OK)
                for packPolicy: Int32 in [-1, 1] { for hint in [m, 8] {
                    sega_gemm_set_kernel_policy(packPolicy)
                    let packed = Self.AlignedFloats(sega_gemm_packed_b_floats(e, Int32(hint), Int32(n), Int32(k)))
                    XCTAssertLessThanOrEqual(packed.count, sega_gemm_packed_b_floats_max(Int32(n), Int32(k)))
                    XCTAssertEqual(packed.count % 16, 0)
                    XCTAssertEqual(sega_gemm_pack_b(e, tb, Int32(hint), Int32(n), Int32(k), b, Int32(ldb), packed.p), SEGA_OK)
                    for policy: Int32 in [0, 1, 2] {
                        sega_gemm_set_kernel_policy(policy)
                        let got = call(packed.p, nil), w = want[Int(policy)]
                        let tag = "\(String(cString: sega_isa_name(isa)))/\(threads)t \(m)x\(n)x\(k) tb \(tb) variant \(variant) packed at policy \(packPolicy) hint \(hint), called at \(policy)"
                        XCTAssertTrue(bitEqual(got.0, w.0), "C differs from the unpacked call: \(tag)")
                        if variant == 3 { XCTAssertEqual(got.1, w.1, "mask differs: \(tag)") }
                        if hint == m && packPolicy == -1 && policy == 0 {
                            let both = packedA.withUnsafeBufferPointer { call(packed.p, $0.baseAddress) }
                            XCTAssertTrue(bitEqual(both.0, w.0), "C differs with A packed too: \(tag)")
                            if threads == 1 { checkAgainstReference(got.0, tag) }
                        }
                    }
                } }
            } }
        } }
    }

    /// Floats at a 64-byte aligned address (a packed B's slivers are read with aligned loads),
    /// NaN until written.
    final class AlignedFloats {
        let p: UnsafeMutablePointer<Float>, count: Int
        init(_ count: Int) {
            self.count = count
            p = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4 + 64, alignment: 64).bindMemory(to: Float.self, capacity: count + 16)
            p.initialize(repeating: .nan, count: count + 16)
        }
        deinit { p.deallocate() }
    }

    /// A packed B is refused for another n or k, with a B mask, with column blocks, on an engine
    /// of another ISA, beside a packed A made for another micro-kernel, and off a 64-byte boundary;
    /// its size and packing refuse bad arguments.
    func testPackedBRefusals() {
        let isas = KernelEngines.supportedISAs
        var e1: OpaquePointer? = nil, e2: OpaquePointer? = nil
        XCTAssertEqual(sega_engine_create(1, isas.last!, &e1), SEGA_OK)
        XCTAssertEqual(sega_engine_create(1, isas.first!, &e2), SEGA_OK)
        defer { sega_engine_destroy(e1); sega_engine_destroy(e2); sega_gemm_set_kernel_policy(-1) }
        let a = [Float](repeating: 0.5, count: 64), b = [Float](repeating: 1, count: 64)
        var c = [Float](repeating: 0, count: 64), bm = [UInt8](repeating: 1, count: 64)
        let pk = Self.AlignedFloats(sega_gemm_packed_b_floats(e1, 4, 8, 4))
        XCTAssertGreaterThan(pk.count, 16)
        XCTAssertEqual(sega_gemm_pack_b(e1, 0, 4, 8, 4, b, 8, pk.p), SEGA_OK)
        func run(_ e: OpaquePointer?, n: Int32, k: Int32, bmask: Bool = false, batch: Int32 = 1, apacked: [Float]? = nil,
                 at: UnsafePointer<Float>? = nil) -> sega_status {
            bm.withUnsafeBufferPointer { mp in
                var x = sega_gemm_ext()
                x.b_packed = at ?? UnsafePointer(pk.p)
                x.batch = batch
                if bmask { x.b_mask = mp.baseAddress }
                guard let apacked else { return sega_sgemm_ex(e, 0, 0, 4, n, k, 1, a, k, nil, 0, 0, &c, 8, &x) }
                return apacked.withUnsafeBufferPointer { ap in
                    x.a_packed = ap.baseAddress
                    return sega_sgemm_ex(e, 0, 0, 4, n, k, 1, nil, 0, nil, 0, 0, &c, 8, &x)
                }
            }
        }
        XCTAssertEqual(run(e1, n: 8, k: 4), SEGA_OK)
        XCTAssertEqual(c[0], 2, "0.5 * 1 summed over k = 4")
        XCTAssertEqual(run(e1, n: 7, k: 4), SEGA_ERR_INVALID_ARG, "another n")
        XCTAssertEqual(run(e1, n: 8, k: 3), SEGA_ERR_INVALID_ARG, "another k")
        XCTAssertEqual(run(e1, n: 8, k: 4, bmask: true), SEGA_ERR_INVALID_ARG, "with a B mask")
        XCTAssertEqual(run(e1, n: 8, k: 4, batch: 2), SEGA_ERR_INVALID_ARG, "with column blocks")
        if isas.count > 1 { XCTAssertEqual(run(e2, n: 8, k: 4), SEGA_ERR_INVALID_ARG, "packed on another ISA's engine") }
        let moved = Self.AlignedFloats(pk.count + 4)   // the same floats 16 bytes further on
        (moved.p + 4).update(from: pk.p, count: pk.count)
        XCTAssertEqual(run(e1, n: 8, k: 4, at: moved.p + 4), SEGA_ERR_INVALID_ARG, "not 64-byte aligned")
        XCTAssertEqual(sega_gemm_pack_b(e1, 0, 4, 8, 4, b, 8, moved.p + 4), SEGA_ERR_INVALID_ARG, "out not 64-byte aligned")
        XCTAssertEqual(sega_gemm_pack_b(e1, 0, 4, 8, 4, b, 8, moved.p), SEGA_OK)
        XCTAssertEqual(run(e1, n: 8, k: 4, at: moved.p), SEGA_OK)
        // Beside a packed A: made for the same micro-kernel (policy 0: the engine's own), or for
        // another (policy 1 picks the AVX2 6 x 16 tile for this narrow product on AVX-512).
        if isas.last! == SEGA_ISA_AVX512 {
            sega_gemm_set_kernel_policy(0)
            XCTAssertEqual(sega_gemm_pack_b(e1, 0, 4, 8, 4, b, 8, pk.p), SEGA_OK)
            var same = [Float](repeating: 0, count: sega_gemm_packed_a_floats(e1, 4, 8, 4))
            XCTAssertEqual(sega_gemm_pack_a(e1, 0, 4, 8, 4, a, 4, &same), SEGA_OK)
            sega_gemm_set_kernel_policy(1)
            var other = [Float](repeating: 0, count: sega_gemm_packed_a_floats(e1, 4, 8, 4))
            XCTAssertEqual(sega_gemm_pack_a(e1, 0, 4, 8, 4, a, 4, &other), SEGA_OK)
            sega_gemm_set_kernel_policy(-1)
            XCTAssertEqual(run(e1, n: 8, k: 4, apacked: same), SEGA_OK)
            XCTAssertEqual(c[0], 2)
            XCTAssertEqual(run(e1, n: 8, k: 4, apacked: other), SEGA_ERR_INVALID_ARG, "A packed for another micro-kernel")
        }
        XCTAssertEqual(sega_gemm_packed_b_floats(nil, 4, 8, 4), 0)
        XCTAssertEqual(sega_gemm_packed_b_floats(e1, 4, -1, 4), 0)
        XCTAssertEqual(sega_gemm_packed_b_floats_max(8, -1), 0)
        // The bound pads n to the widest tile multiple (NR 48 at most), header and whole lines included.
        XCTAssertEqual(sega_gemm_packed_b_floats_max(192, 8), 16 + 192 * 8)
        XCTAssertEqual(sega_gemm_packed_b_floats_max(1, 7), 16 + 48 * 7)
        XCTAssertEqual(sega_gemm_pack_b(e1, 0, 4, 8, 4, b, 7, pk.p), SEGA_ERR_INVALID_ARG, "ldb below n")
        XCTAssertEqual(sega_gemm_pack_b(e1, 1, 4, 8, 4, b, 3, pk.p), SEGA_ERR_INVALID_ARG, "ldb below k (transposed)")
        XCTAssertEqual(sega_gemm_pack_b(e1, 0, 4, 8, 4, nil, 8, pk.p), SEGA_ERR_INVALID_ARG, "no B")
        XCTAssertEqual(sega_gemm_pack_b(nil, 0, 4, 8, 4, b, 8, pk.p), SEGA_ERR_INVALID_ARG, "no engine")
    }

    /// The column bias (a linear layer's: C starts as bias[j]) gives the bytes of filling C with
    /// the bias and multiplying with beta 1, on whole and edge tiles, one and two K blocks, both
    /// transposes, every ISA, 1, 2 and 3 threads (each thread fills its own part: rows or columns)
    /// and kernel policy; within the reference's bound; k = 0 and alpha = 0 leave the bias.
    func testColumnBiasIsTheFillThenBetaOne() {
        for isa in KernelEngines.supportedISAs { for threads in [1, 2, 3] {
            var e: OpaquePointer? = nil
            XCTAssertEqual(sega_engine_create(Int32(threads), isa, &e), SEGA_OK)
            defer { sega_engine_destroy(e); sega_gemm_set_kernel_policy(-1) }
            for (si, (m, n, k)) in [(433, 64, 192), (100, 576, 40), (7, 5, 3), (50, 100, 300), (1, 1, 1), (200, 33, 0)].enumerated() {
                for t in 0..<4 { for policy: Int32 in [0, 1, 2] {
                    sega_gemm_set_kernel_policy(policy)
                    let ta = Int32(t & 1), tb = Int32(t >> 1), alpha: Float = t == 3 ? 0 : (t == 1 ? -0.5 : 1)
                    var rng = GemmKernelTests.RNG(UInt64(si * 10 + t + 1))
                    let a = (0..<max(1, m * k)).map { _ in rng.next() }, b = (0..<max(1, k * n)).map { _ in rng.next() }
                    let bias = (0..<n).map { _ in rng.next() * 3 }
                    let lda = Int32(max(1, ta != 0 ? m : k)), ldb = Int32(max(1, tb != 0 ? k : n))
                    var want = (0..<(m * n)).map { bias[$0 % n] }
                    XCTAssertEqual(sega_sgemm(e, ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, lda, b, ldb, 1, &want, Int32(n)), SEGA_OK)
                    var got = [Float](repeating: .nan, count: m * n), ref = got
                    var x = sega_gemm_ext()
                    bias.withUnsafeBufferPointer { bp in
                        x.col_bias = bp.baseAddress
                        XCTAssertEqual(sega_sgemm_ex(e, ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, lda, b, ldb, 0, &got, Int32(n), &x), SEGA_OK)
                        XCTAssertEqual(sega_sgemm_ex_ref(ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, lda, b, ldb, 0, &ref, Int32(n), &x), SEGA_OK)
                    }
                    let tag = "\(String(cString: sega_isa_name(isa)))/\(threads)t \(m)x\(n)x\(k) t\(t) policy \(policy)"
                    XCTAssertTrue(bitEqual(got, want), "column bias differs from fill + beta 1: \(tag)")
                    // (The fill + beta 1 result is the same bytes everywhere: one reference check.)
                    for i in 0..<(m * n) where isa == KernelEngines.supportedISAs[0] && threads == 1 && policy == 0 {
                        // |ours - ref| <= 2 (k + 4) u S with S = |alpha| sum |a||b| + |bias| (bounded loosely by k + 3).
                        if !(abs(Double(got[i]) - Double(ref[i])) <= 2 * Double(k + 4) * 0x1p-24 * (Double(k) + 3)) {
                            XCTFail("column bias vs reference \(tag) [\(i)]: \(got[i]) vs \(ref[i])"); break
                        }
                    }
                } }
            }
        } }
    }

    /// The epilogue's vector path (whole groups of 16 columns) and its scalar tail on the values
    /// where relu / relu6 and their masks are decided: NaN, +-0, 6 and its neighbours, +-inf,
    /// denormals. C = alpha * (1 * b) with k = 1 is b exactly (alpha -1 on -b gives -0 from +-0),
    /// then the epilogue must leave the bytes of sega_relu{,6}_fwd_mask on that C.
    func testEpilogueOnSpecialValuesMatchesTheElementwiseKernels() {
        let specials: [Float] = [.nan, 0, -0.0, 6, -6, 5.9999995, 6.0000005, .infinity, -.infinity, 1e-40, -1e-40,
                                 -.nan, 1, -1, 3.5, 1e30]
        for isa in KernelEngines.supportedISAs {
            var e: OpaquePointer? = nil
            XCTAssertEqual(sega_engine_create(1, isa, &e), SEGA_OK)
            defer { sega_engine_destroy(e) }
            for n in [16, 37, 45, 48, 93, 96] {   // whole tiles, 16-column groups, scalar tails
                let v = (0..<n).map { specials[($0 * 7) % specials.count] }
                for alpha: Float in [1, -1] {
                    let b = alpha == 1 ? v : v.map { -$0 }
                    var plain = [Float](repeating: .nan, count: n)
                    XCTAssertEqual(sega_sgemm(e, 0, 0, 1, Int32(n), 1, alpha, [1], 1, b, Int32(n), 0, &plain, Int32(n)), SEGA_OK)
                    for (act, ref) in [(SEGA_ACT_RELU, sega_relu_fwd_mask), (SEGA_ACT_RELU6, sega_relu6_fwd_mask)] {
                        var want = [Float](repeating: 0, count: n), wm = [UInt8](repeating: 0, count: n)
                        ref(n, plain, &want, &wm)
                        var got = [Float](repeating: .nan, count: n), gm = [UInt8](repeating: 9, count: n)
                        gm.withUnsafeMutableBufferPointer { mp in
                            var x = sega_gemm_ext(batch: 1, b_stride: 0, c_stride: 0, row_bias: nil, act: Int32(act.rawValue),
                                                  mask: mp.baseAddress, b_mask: nil, a_mask: nil, col_bias: nil, a_packed: nil, b_packed: nil)
                            XCTAssertEqual(sega_sgemm_ex(e, 0, 0, 1, Int32(n), 1, alpha, [1], 1, b, Int32(n), 0, &got, Int32(n), &x), SEGA_OK)
                        }
                        let tag = "\(String(cString: sega_isa_name(isa))) n \(n) alpha \(alpha) act \(act)"
                        XCTAssertTrue(bitEqual(got, want), tag)
                        XCTAssertEqual(gm, wm, tag + " mask")
                    }
                }
            }
        }
    }
}

extension GemmExtKernelTests {
    /// The epilogue fused into the micro-kernels (bias, relu / relu6 and the mask applied to the
    /// tile in registers) on whole tiles as well as edge and straddling tiles: m = 26 and 100
    /// columns per block are multiples of no tile (4 x 16, 6 x 16, 8 x 48), one or two column
    /// blocks, k = 2 (one K block) and 300 (two: the bias on the first, the activation after the
    /// last), C values on the kinks (NaN, +-0, 6 and its neighbours, +-inf, denormals) with alpha
    /// 1 and -1, with and without a bias. Byte-identical to C filled with the bias, a plain SGEMM
    /// with beta 1 per block, then sega_relu{,6}_fwd_mask; at every ISA, 1 and 2 threads (k = 300
    /// is large enough to be split), and both kernel policies.
    func testFusedEpilogueOnWholeAndEdgeTilesMatchesThePlainPasses() {
        let specials: [Float] = [.nan, 0, -0.0, 6, -6, 5.9999995, 6.0000005, .infinity, -.infinity, 1e-40, -1e-40,
                                 -.nan, 1, -1, 3.5, 1e30, 0.5, 7]
        let m = 26, per = 100
        for isa in KernelEngines.supportedISAs { for threads in [1, 2] {
            var e: OpaquePointer? = nil
            XCTAssertEqual(sega_engine_create(Int32(threads), isa, &e), SEGA_OK)
            defer { sega_engine_destroy(e) }
            for batch in [1, 2] { for k in [2, 300] {
                // A: row i is (1, 0, 0, ...) on most rows (C = alpha * B's first row, a special
                // value exactly), small values elsewhere; B's first row cycles through the specials.
                var rng = GemmKernelTests.RNG(UInt64(batch * 1000 + k))
                let a = (0..<(m * k)).map { idx -> Float in
                    let i = idx / k, p = idx % k
                    return i % 5 == 4 ? rng.next() : (p == 0 ? 1 : 0) }
                var b = [Float](repeating: 0, count: batch * k * per)
                for q in 0..<batch { for p in 0..<k { for j in 0..<per {
                    b[q * k * per + p * per + j] = p == 0 ? specials[(j * 7 + q * 3) % specials.count] : rng.next()
                } } }
                let bias = (0..<m).map { i in i % 3 == 0 ? specials[(i * 5) % specials.count] : rng.next() * 6 }
                for alpha: Float in [1, -1] { for withBias in [false, true] {
                    for act in [SEGA_ACT_RELU, SEGA_ACT_RELU6] { for policy: Int32 in [0, 1, 2] {
                        sega_gemm_set_kernel_policy(policy)
                        defer { sega_gemm_set_kernel_policy(-1) }
                        let tag = "\(String(cString: sega_isa_name(isa)))/\(threads)t batch \(batch) k \(k) alpha \(alpha) bias \(withBias) act \(act) policy \(policy)"
                        var want = [Float](repeating: 0, count: batch * m * per), wm = [UInt8](repeating: 0, count: want.count)
                        for q in 0..<batch {
                            var cq = (0..<(m * per)).map { withBias ? bias[$0 / per] : Float.nan }
                            XCTAssertEqual(sega_sgemm(e, 0, 0, Int32(m), Int32(per), Int32(k), alpha, a, Int32(k),
                                                      Array(b[(q * k * per)...]), Int32(per), withBias ? 1 : 0, &cq, Int32(per)), SEGA_OK)
                            var yq = cq, mq = [UInt8](repeating: 0, count: cq.count)
                            (act == SEGA_ACT_RELU ? sega_relu_fwd_mask : sega_relu6_fwd_mask)(cq.count, cq, &yq, &mq)
                            for o in 0..<(m * per) { want[q * m * per + o] = yq[o]; wm[q * m * per + o] = mq[o] }
                        }
                        var got = [Float](repeating: .nan, count: want.count), gm = [UInt8](repeating: 9, count: want.count)
                        let st = bias.withUnsafeBufferPointer { bp in gm.withUnsafeMutableBufferPointer { mp in
                            var x = sega_gemm_ext(batch: Int32(batch), b_stride: k * per, c_stride: m * per,
                                                  row_bias: withBias ? bp.baseAddress : nil, act: Int32(act.rawValue),
                                                  mask: mp.baseAddress, b_mask: nil, a_mask: nil, col_bias: nil, a_packed: nil, b_packed: nil)
                            return sega_sgemm_ex(e, 0, 0, Int32(m), Int32(batch * per), Int32(k), alpha, a, Int32(k),
                                                 b, Int32(per), 0, &got, Int32(per), &x)
                        } }
                        XCTAssertEqual(st, SEGA_OK, tag)
                        XCTAssertTrue(bitEqualUpToNaNPayload(got, want), "C: " + tag)
                        XCTAssertEqual(gm, wm, "mask: " + tag)
                    } }
                } }
            } }
        } }
    }
}

/// The threaded in-place activation and mask kernels: byte-identical to sega_relu{,6}_fwd_mask and
/// to sega_mask_bwd into a zeroed buffer, for every engine and size around the threading grain.
final class EltwiseThreadedKernelTests: XCTestCase {
    func values(_ n: Int, seed: UInt64) -> [Float] {
        var r = GemmKernelTests.RNG(seed)
        let specials: [Float] = [.nan, 0, -0.0, 6, -6, 5.999999, 6.000001, .infinity, -.infinity, 1e-40, -1e-40]
        return (0..<n).map { i in i % 13 == 0 ? specials[(i / 13) % specials.count] : r.next() * 8 }
    }

    func testActivationInPlaceMatchesTheMaskedForward() {
        let engines = KernelEngines()
        for (name, e) in engines.list {
            for n in [0, 1, 63, 64, 65, 16384, 40000, 100_003] {
                let x = values(n, seed: UInt64(n + 3))
                for (act, ref) in [(SEGA_ACT_RELU, sega_relu_fwd_mask), (SEGA_ACT_RELU6, sega_relu6_fwd_mask)] {
                    var want = [Float](repeating: 0, count: n), wm = [UInt8](repeating: 0, count: n)
                    ref(n, x, &want, &wm)
                    var y = x, m = [UInt8](repeating: 9, count: n)
                    sega_act_fwd_inplace(e, n, Int32(act.rawValue), &y, &m)
                    XCTAssertTrue(bitEqual(y, want), "\(name) n \(n) act \(act)")
                    XCTAssertEqual(m, wm, "\(name) n \(n) act \(act) mask")
                    var y2 = x
                    sega_act_fwd_inplace(e, n, Int32(act.rawValue), &y2, nil)
                    XCTAssertTrue(bitEqual(y2, want), "\(name) n \(n) act \(act) without mask")
                }
            }
        }
    }

    func testMaskCopyMatchesAccumulatingIntoZeros() {
        let engines = KernelEngines()
        for (name, e) in engines.list {
            for n in [0, 1, 63, 64, 65, 16384, 40000, 100_003] {
                let dy = values(n, seed: UInt64(n + 5))
                let mask = values(n, seed: UInt64(n + 7)).map { UInt8($0 > 0 ? 1 : 0) }
                var want = [Float](repeating: 0, count: n)
                sega_mask_bwd(n, mask, dy, &want)
                var got = [Float](repeating: .nan, count: n)
                sega_mask_copy(e, n, mask, dy, &got)
                XCTAssertTrue(bitEqual(got, want), "\(name) n \(n)")
                var inPlace = dy
                inPlace.withUnsafeMutableBufferPointer { p in sega_mask_copy(e, n, mask, p.baseAddress, p.baseAddress) }
                XCTAssertTrue(bitEqual(inPlace, want), "\(name) n \(n) in place")
            }
        }
    }
}
