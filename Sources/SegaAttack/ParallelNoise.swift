import SegaEngine
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Noise filled on the engine's threads

/// `NoiseStream.fillGaussian` / `fillUniform` split over the engine's pool. Every value is a pure
/// function of its counter, and each chunk computes its values with exactly the arithmetic of
/// the sequential fill (the same Box-Muller pairs, the same libm calls), so the result is
/// byte-identical to it whatever the thread count. Allocates nothing.
struct ParallelNoise {
    enum Kind: Int32 { case gaussian = 0, uniform = 1 }

    /// What a chunk needs; handed to the pool by pointer.
    struct Job {
        var stream: NoiseStream
        var out: UnsafeMutablePointer<Float>
        var count: Int
        var kind: Kind
        var amplitude: Float
    }

    /// Fill `out` as `stream.fillGaussian(out)` (kind .gaussian) or
    /// `stream.fillUniform(out, amplitude:)` (kind .uniform) would, on `context`'s threads.
    static func fill(_ stream: NoiseStream, _ out: UnsafeMutableBufferPointer<Float>, kind: Kind, amplitude: Float = 0,
                     context: Context) {
        guard let base = out.baseAddress, out.count > 0 else { return }
        var job = Job(stream: stream, out: base, count: out.count, kind: kind, amplitude: amplitude)
        let pool = sega_engine_pool(context.raw)
        // A few chunks per thread; chunks hold whole Box-Muller pairs.
        let chunks = Int32(min(max(1, out.count / 4096), 4 * context.threads))
        withUnsafeMutablePointer(to: &job) { p in
            sega_pool_run(pool, { ctx, index, count in
                let j = ctx!.assumingMemoryBound(to: Job.self).pointee
                let pairs = (j.count + 1) / 2
                let p0 = pairs * Int(index) / Int(count), p1 = pairs * (Int(index) + 1) / Int(count)
                switch j.kind {
                case .gaussian: ParallelNoise.gaussianPairs(j.stream, j.out, j.count, p0, p1)
                case .uniform: ParallelNoise.uniform(j.stream, j.out, j.count, 2 * p0, min(2 * p1, j.count), j.amplitude)
                }
            }, p, chunks)
        }
    }

    /// Values 2j and 2j+1 for pairs j in [p0, p1), as `fillGaussian`.
    @inline(__always)
    static func gaussianPairs(_ s: NoiseStream, _ out: UnsafeMutablePointer<Float>, _ n: Int, _ p0: Int, _ p1: Int) {
        var j = p0
        while j < p1 {
            let u1 = s.uniform(2 * UInt64(j)), u2 = s.uniform(2 * UInt64(j) + 1)
            let r = (-2 * log(u1)).squareRoot(), t = 2 * Double.pi * u2
            out[2 * j] = Float(r * cos(t))
            if 2 * j + 1 < n { out[2 * j + 1] = Float(r * sin(t)) }
            j += 1
        }
    }

    /// Values [i0, i1), as `fillUniform`.
    @inline(__always)
    static func uniform(_ s: NoiseStream, _ out: UnsafeMutablePointer<Float>, _ n: Int, _ i0: Int, _ i1: Int, _ a: Float) {
        var i = i0
        while i < i1 { out[i] = a * Float(2 * s.uniform(UInt64(i)) - 1); i += 1 }
    }
}
