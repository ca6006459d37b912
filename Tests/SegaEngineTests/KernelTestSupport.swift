// KernelTestSupport.swift - helpers shared by the C-kernel tests (ConvKernelTests,
// PoolingKernelTests, EltwiseKernelTests, IsaDispatchKernelTests).
import XCTest
import CSupport

/// Engines to run a kernel under: none (single thread, sega_cpu_best_isa(), so SEGA_ISA caps
/// it), then portable, AVX2 and AVX-512 (where the CPU has them) with 1 and 2 threads. Names are
/// "nil" and "<isa>/<threads>t".
final class KernelEngines {
    private(set) var list: [(name: String, engine: OpaquePointer?)] = [("nil", nil)]

    /// `threads` engines of each of `isas` this CPU runs (default: every ISA at 1 and 2 threads),
    /// after no engine unless `withNil` is false; all destroyed with this object (keep it alive
    /// while the list is used: `withExtendedLifetime`).
    init(threads: [Int] = [1, 2], isas: [sega_isa] = KernelEngines.supportedISAs, withNil: Bool = true) {
        if !withNil { list = [] }
        for isa in isas where sega_cpu_supports(isa) != 0 {
            for t in threads {
                var e: OpaquePointer? = nil
                if sega_engine_create(Int32(t), isa, &e) == SEGA_OK, e != nil {
                    list.append(("\(String(cString: sega_isa_name(isa)))/\(t)t", e))
                }
            }
        }
    }

    /// The SIMD ISAs (AVX2, AVX-512) this CPU runs, `threads` threads each, no nil engine.
    static func simd(threads: Int = 1) -> KernelEngines {
        KernelEngines(threads: [threads], isas: [SEGA_ISA_AVX2, SEGA_ISA_AVX512], withNil: false)
    }

    deinit { for (_, e) in list where e != nil { sega_engine_destroy(e) } }

    /// No engine and the 1-thread engines: one per ISA, for kernels that do not thread.
    var perISA: [(name: String, engine: OpaquePointer?)] { list.filter { !$0.name.hasSuffix("/2t") } }

    /// The ISAs this CPU runs, lowest first (SEGA_ISA does not limit explicit choices).
    static var supportedISAs: [sega_isa] {
        [SEGA_ISA_PORTABLE, SEGA_ISA_AVX2, SEGA_ISA_AVX512].filter { sega_cpu_supports($0) != 0 }
    }

    /// The ISA part of an engine's name ("nil" for no engine).
    static func isaName(_ name: String) -> String { String(name.split(separator: "/").first!) }
}

/// A convolution / pooling geometry from Ints.
func kernelGeom(c: Int, h: Int, w: Int, kh: Int, kw: Int, sh: Int, sw: Int, pt: Int, pl: Int,
                dh: Int = 1, dw: Int = 1, oh: Int, ow: Int) -> sega_conv_geom {
    sega_conv_geom(c: Int32(c), h: Int32(h), w: Int32(w), kh: Int32(kh), kw: Int32(kw),
                   sh: Int32(sh), sw: Int32(sw), pad_t: Int32(pt), pad_l: Int32(pl),
                   dh: Int32(dh), dw: Int32(dw), oh: Int32(oh), ow: Int32(ow))
}

/// A geometry with the same kernel size, stride, padding and dilation along both axes.
func squareGeom(c: Int, h: Int, w: Int, k: Int, s: Int, p: Int, d: Int = 1, oh: Int, ow: Int) -> sega_conv_geom {
    kernelGeom(c: c, h: h, w: w, kh: k, kw: k, sh: s, sw: s, pt: p, pl: p, dh: d, dw: d, oh: oh, ow: ow)
}

/// A geometry in a failure message.
func describeGeom(_ g: sega_conv_geom) -> String {
    "c\(g.c) \(g.h)x\(g.w) k\(g.kh)x\(g.kw) s\(g.sh),\(g.sw) p\(g.pad_t),\(g.pad_l) d\(g.dh),\(g.dw) o\(g.oh)x\(g.ow)"
}

/// <a, b> in double (adjoint identities).
func dotD(_ a: [Float], _ b: [Float]) -> Double {
    var s = 0.0
    for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
    return s
}

/// Same bits, element by element (so -0 != +0, and NaN == NaN of the same payload).
func bitEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.elementsEqual(b, by: { $0.bitPattern == $1.bitPattern })
}

/// Bit for bit, except that any two NaNs match: which NaN an add of two NaNs returns (sign,
/// payload) depends on its operand order, which an optimising C compiler may commute; no finite or
/// infinite result, and no NaN-ness, may differ.
func bitEqualUpToNaNPayload(_ a: [Float], _ b: [Float]) -> Bool {
    a.elementsEqual(b, by: { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) })
}

/// `call(x, y)` with x at element offset xOff of a buffer padded with 1000s (a read past a row
/// end changes a softmax row's max) and y at offset yOff of a buffer of 7s (y starts as `y0` when
/// given), or in place (y == x at xOff). Fails if an element outside the output changed; returns
/// the output. (The SIMD softmax and GELU tests.)
func placed(_ x: [Float], xOff: Int, yOff: Int, y0: [Float]? = nil, inPlace: Bool = false, _ msg: String,
            file: StaticString = #filePath, line: UInt = #line,
            _ call: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    let n = x.count, pad = 40
    var xb = [Float](repeating: 1000, count: xOff + n + pad)
    xb.replaceSubrange(xOff..<xOff + n, with: x)
    if inPlace {
        xb.withUnsafeMutableBufferPointer { p in call(UnsafePointer(p.baseAddress! + xOff), p.baseAddress! + xOff) }
        let outside = Array(xb[..<xOff]) + Array(xb[(xOff + n)...])
        XCTAssertTrue(outside.allSatisfy { $0 == 1000 }, "wrote outside the range \(msg)", file: file, line: line)
        return Array(xb[xOff..<xOff + n])
    }
    var yb = [Float](repeating: 7, count: yOff + n + pad)
    if let y0 { yb.replaceSubrange(yOff..<yOff + n, with: y0) }
    xb.withUnsafeBufferPointer { xp in
        yb.withUnsafeMutableBufferPointer { yp in call(xp.baseAddress! + xOff, yp.baseAddress! + yOff) }
    }
    let outside = Array(yb[..<yOff]) + Array(yb[(yOff + n)...])
    XCTAssertTrue(outside.allSatisfy { $0 == 7 }, "wrote outside the range \(msg)", file: file, line: line)
    return Array(yb[yOff..<yOff + n])
}
