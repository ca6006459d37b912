#if canImport(Glibc)
import Glibc
#endif

/// How far a target model's predictions move under attack, and how far the image moves.
/// Everything accumulates in Double. Correlations of degenerate input (fewer than 2 values,
/// lengths that differ, or a constant vector) are .nan, as scipy returns for them.
public enum Metrics {

    // MARK: - Correlations

    /// Spearman rank correlation; ties get average ranks (as scipy.stats.spearmanr).
    public static func srocc(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count, a.count >= 2 else { return .nan }
        return plcc(averageRanks(a), averageRanks(b))
    }

    /// Pearson linear correlation (two-pass: means first, then centred sums).
    public static func plcc(_ a: [Double], _ b: [Double]) -> Double {
        let n = a.count
        guard n == b.count, n >= 2 else { return .nan }
        var ma = 0.0, mb = 0.0
        for i in 0..<n { ma += a[i]; mb += b[i] }
        ma /= Double(n); mb /= Double(n)
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in 0..<n {
            let da = a[i] - ma, db = b[i] - mb
            sab += da * db; saa += da * da; sbb += db * db
        }
        guard saa > 0, sbb > 0 else { return .nan }
        return max(-1, min(1, sab / (saa.squareRoot() * sbb.squareRoot())))
    }

    /// Kendall tau-b (tie-corrected, as scipy.stats.kendalltau's default); exact integer pair
    /// counts in O(n^2), which is fine for the few thousand scores of an evaluation.
    public static func krocc(_ a: [Double], _ b: [Double]) -> Double {
        let n = a.count
        guard n == b.count, n >= 2 else { return .nan }
        var score = 0          // concordant - discordant
        var tiedA = 0, tiedB = 0
        for i in 0..<n {
            for j in (i + 1)..<n {
                let sa = sign(a[i] - a[j]), sb = sign(b[i] - b[j])
                score += sa * sb
                if sa == 0 { tiedA += 1 }
                if sb == 0 { tiedB += 1 }
            }
        }
        let pairs = n * (n - 1) / 2
        guard tiedA < pairs, tiedB < pairs else { return .nan }
        return Double(score) / (Double(pairs - tiedA).squareRoot() * Double(pairs - tiedB).squareRoot())
    }

    // MARK: - Score displacement

    /// R robustness (Antsiferova et al.): mean_i log10( max(s_i - lo, hi - s_i) / |s'_i - s_i| ).
    /// |s'_i - s_i| is floored at 1e-6 * (hi - lo), so an unmoved score adds a large finite term
    /// (about 6 for a mid-range score) instead of +infinity. Higher R = more robust model.
    public static func robustness(clean: [Double], attacked: [Double], lo: Double, hi: Double) -> Double {
        precondition(clean.count == attacked.count, "robustness: clean and attacked lengths differ")
        guard !clean.isEmpty else { return .nan }
        let floor = 1e-6 * (hi - lo)
        var sum = 0.0
        for i in clean.indices {
            let room = max(clean[i] - lo, hi - clean[i])
            let moved = max(abs(attacked[i] - clean[i]), floor)
            sum += log10(room / moved)
        }
        return sum / Double(clean.count)
    }

    /// Mean |s'_i - s_i| over the images.
    public static func meanAbsDelta(clean: [Double], attacked: [Double]) -> Double {
        precondition(clean.count == attacked.count, "meanAbsDelta: clean and attacked lengths differ")
        guard !clean.isEmpty else { return .nan }
        var sum = 0.0
        for i in clean.indices { sum += abs(attacked[i] - clean[i]) }
        return sum / Double(clean.count)
    }

    // MARK: - Pixel distances

    /// PSNR in dB for images in [0,1] (peak 1); +infinity when identical.
    public static func psnr(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Double {
        precondition(a.count == b.count && !a.isEmpty, "psnr: sizes differ or are empty")
        var sum = 0.0
        for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); sum += d * d }
        if sum == 0 { return .infinity }
        return 10 * log10(Double(a.count) / sum)
    }

    /// Largest absolute difference over all values.
    public static func linf(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Double {
        precondition(a.count == b.count, "linf: sizes differ")
        var m = 0.0
        for i in 0..<a.count { m = max(m, abs(Double(a[i]) - Double(b[i]))) }
        return m
    }

    /// Euclidean norm of the difference over all values.
    public static func l2(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Double {
        precondition(a.count == b.count, "l2: sizes differ")
        var sum = 0.0
        for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); sum += d * d }
        return sum.squareRoot()
    }

    // MARK: - Uncertainty

    /// Percentile bootstrap interval of a paired statistic (e.g. SROCC of clean vs attacked scores)
    /// over the images: `resamples` draws of n images with replacement, indices from a counter-based
    /// stream (the same inputs and seed give the same interval). Draws where the statistic is NaN
    /// (e.g. a constant resample) are dropped; fewer than half valid gives (NaN, NaN).
    public static func bootstrapInterval(_ a: [Double], _ b: [Double], level: Double = 0.95, resamples: Int = 2000,
                                         seed: UInt64 = 0, statistic: ([Double], [Double]) -> Double = srocc)
        -> (lo: Double, hi: Double) {
        guard a.count == b.count else { return (.nan, .nan) }
        var ra = [Double](repeating: 0, count: a.count), rb = ra
        return bootstrapInterval(count: a.count, level: level, resamples: resamples, seed: seed) { idx in
            for (i, j) in idx.enumerated() { ra[i] = a[j]; rb[i] = b[j] }
            return statistic(ra, rb)
        }
    }

    /// The same bootstrap over n items for any statistic of a resample given as indices (e.g. a
    /// paired difference of two methods' SROCCs on the same images: resample images, not methods).
    public static func bootstrapInterval(count n: Int, level: Double = 0.95, resamples: Int = 2000, seed: UInt64 = 0,
                                         statistic: ([Int]) -> Double) -> (lo: Double, hi: Double) {
        guard n >= 2, resamples >= 1, level > 0, level < 1 else { return (.nan, .nan) }
        var values: [Double] = []
        values.reserveCapacity(resamples)
        var idx = [Int](repeating: 0, count: n)
        for r in 0..<resamples {
            let stream = NoiseStream(seed: seed, 0xB0075, UInt64(r))
            for i in 0..<n { idx[i] = Int(stream.bits(UInt64(i)) % UInt64(n)) }
            let v = statistic(idx)
            if !v.isNaN { values.append(v) }
        }
        guard values.count * 2 >= resamples else { return (.nan, .nan) }
        values.sort()
        func quantile(_ q: Double) -> Double {  // linear interpolation between order statistics
            let p = q * Double(values.count - 1)
            let i = Int(p.rounded(.down)), f = p - Double(i)
            return i + 1 < values.count ? values[i] + f * (values[i + 1] - values[i]) : values[i]
        }
        return (quantile((1 - level) / 2), quantile((1 + level) / 2))
    }

    // MARK: - Helpers

    /// 1-based ranks; a run of equal values gets the mean of the ranks it spans.
    static func averageRanks(_ v: [Double]) -> [Double] {
        let order = v.indices.sorted { v[$0] < v[$1] }
        var ranks = [Double](repeating: 0, count: v.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count, v[order[j + 1]] == v[order[i]] { j += 1 }
            let r = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = r }
            i = j + 1
        }
        return ranks
    }

    @inline(__always)
    private static func sign(_ x: Double) -> Int { x > 0 ? 1 : (x < 0 ? -1 : 0) }
}
