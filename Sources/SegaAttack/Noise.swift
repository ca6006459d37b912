#if canImport(Glibc)
import Glibc
#endif

// MARK: - Counter-based random numbers

/// Stateless random numbers: value i of stream (seed, key) is a pure function of its coordinates
/// (SplitMix64's finaliser over a mixed counter), so noise never depends on how work is split
/// across threads or on what was drawn before — the attack's byte-identical-output guarantee.
public struct NoiseStream: Sendable {
    public let key: UInt64

    /// A stream for a seed and up to four coordinates (image key, iteration, sample, ...).
    /// Fixed arity on purpose: a variadic list would allocate an array per call.
    @inlinable
    public init(seed: UInt64, _ c0: UInt64 = 0, _ c1: UInt64 = 0, _ c2: UInt64 = 0, _ c3: UInt64 = 0) {
        var k = NoiseStream.mix(seed ^ 0x5E6A_0000_0000_0001)
        k = NoiseStream.mix(k ^ (c0 &* 0x9E37_79B9_7F4A_7C15))
        k = NoiseStream.mix(k ^ (c1 &* 0x9E37_79B9_7F4A_7C15) ^ 1)
        k = NoiseStream.mix(k ^ (c2 &* 0x9E37_79B9_7F4A_7C15) ^ 2)
        key = NoiseStream.mix(k ^ (c3 &* 0x9E37_79B9_7F4A_7C15) ^ 3)
    }

    @inlinable @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 64 random bits at counter i.
    @inlinable @inline(__always)
    public func bits(_ i: UInt64) -> UInt64 { NoiseStream.mix(key &+ i &* 0xD1B5_4A32_D192_ED03) }

    /// Uniform in (0, 1) at counter i (53 bits, never 0).
    @inlinable @inline(__always)
    public func uniform(_ i: UInt64) -> Double { (Double(bits(i) >> 11) + 0.5) * 0x1p-53 }

    /// Fill `out` with N(0, 1) values (Box-Muller; values 2j and 2j+1 share counter j).
    public func fillGaussian(_ out: UnsafeMutableBufferPointer<Float>) {
        let n = out.count
        var j = 0
        while 2 * j < n {
            let u1 = uniform(2 * UInt64(j)), u2 = uniform(2 * UInt64(j) + 1)
            let r = (-2 * log(u1)).squareRoot(), t = 2 * Double.pi * u2
            out[2 * j] = Float(r * cos(t))
            if 2 * j + 1 < n { out[2 * j + 1] = Float(r * sin(t)) }
            j += 1
        }
    }

    /// Fill `out` with uniform values in [-a, a].
    public func fillUniform(_ out: UnsafeMutableBufferPointer<Float>, amplitude a: Float) {
        var i = 0
        while i < out.count { out[i] = a * Float(2 * uniform(UInt64(i)) - 1); i += 1 }
    }

    /// Fill `out` with -a or +a, each with probability 1/2.
    public func fillSigns(_ out: UnsafeMutableBufferPointer<Float>, amplitude a: Float) {
        var i = 0
        while i < out.count { out[i] = (bits(UInt64(i)) >> 63) == 0 ? a : -a; i += 1 }
    }

    /// A stable 64-bit key for a name (FNV-1a), e.g. to give each image its own noise.
    public static func key(for name: String) -> UInt64 { fnv1a(name.utf8) }

    /// FNV-1a 64 of a byte sequence, continuing from `h` (feed a long input in chunks).
    @inlinable
    public static func fnv1a<S: Sequence>(_ bytes: S, continuing h: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 where S.Element == UInt8 {
        var h = h
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
