#if canImport(Glibc)
import Glibc
#endif
import SegaAttack

// MARK: - Statistics of bootstrap resamples, without copying them

extension Report {
    /// How often each of n images is drawn by a resample given as indices.
    static func counts(_ idx: [Int], _ n: Int) -> [Int] {
        var k = [Int](repeating: 0, count: n)
        for i in idx { k[i] += 1 }
        return k
    }

    /// One target's clean and attacked scores over a set of images, prepared once so that each
    /// metric of a bootstrap resample (given as how often each image was drawn, `counts`) costs
    /// O(n) (SROCC, PLCC, R, mean |delta|) or O(n^2) integer steps (KROCC), with no copy and no
    /// sort per resample. Mathematically the Metrics function on the resampled arrays (ties get
    /// average ranks, Kendall's tau-b counts the pairs a drawn image makes with its own copies as
    /// tied); ResampleTests checks them against Metrics.
    final class ResampleStats {
        let n: Int
        let clean: [Double], attacked: [Double]
        /// The target's score range (R).
        let range: (lo: Double, hi: Double)
        /// Indices sorted by clean and by attacked score.
        let byClean: [Int], byAttacked: [Int]
        /// Per pair i < j (row-major, i * n + j): sign(c_i - c_j) * sign(a_i - a_j), and whether c
        /// (bit 0) or a (bit 1) is tied.
        private let concord: [Int8], ties: [UInt8]
        /// Per image: log10(room / moved) (R's term) and |a - c|.
        private let rTerm: [Double], absDelta: [Double]
        private var rc: [Double], ra: [Double]

        init(clean c: [Double], attacked a: [Double], range: (lo: Double, hi: Double)) {
            n = c.count
            clean = c; attacked = a; self.range = range
            byClean = c.indices.sorted { c[$0] < c[$1] }
            byAttacked = a.indices.sorted { a[$0] < a[$1] }
            var s = [Int8](repeating: 0, count: n * n), t = [UInt8](repeating: 0, count: n * n)
            for i in 0..<n {
                for j in (i + 1)..<max(i + 1, n) {
                    let sc = c[i] > c[j] ? 1 : (c[i] < c[j] ? -1 : 0), sa = a[i] > a[j] ? 1 : (a[i] < a[j] ? -1 : 0)
                    s[i * n + j] = Int8(sc * sa)
                    t[i * n + j] = (sc == 0 ? 1 : 0) | (sa == 0 ? 2 : 0)
                }
            }
            concord = s; ties = t
            let floor = 1e-6 * (range.hi - range.lo)
            rTerm = c.indices.map { log10(max(c[$0] - range.lo, range.hi - c[$0]) / max(abs(a[$0] - c[$0]), floor)) }
            absDelta = c.indices.map { abs(a[$0] - c[$0]) }
            rc = [Double](repeating: 0, count: n); ra = rc
        }

        /// Average ranks (1-based) of the drawn copies, per image, into `r`.
        private static func ranks(_ v: [Double], _ order: [Int], _ k: [Int], into r: inout [Double]) {
            var pos = 0, g = 0
            while g < order.count {
                var e = g, drawn = 0
                while e < order.count && v[order[e]] == v[order[g]] { drawn += k[order[e]]; e += 1 }
                let avg = Double(pos) + Double(drawn + 1) / 2
                for q in g..<e { r[order[q]] = avg }
                pos += drawn
                g = e
            }
        }

        /// Pearson correlation of x and y over the drawn copies (NaN when either is constant).
        private static func pearson(_ x: [Double], _ y: [Double], _ k: [Int]) -> Double {
            var m = 0, mx = 0.0, my = 0.0
            for i in k.indices where k[i] > 0 { m += k[i]; mx += Double(k[i]) * x[i]; my += Double(k[i]) * y[i] }
            guard m >= 2 else { return .nan }
            mx /= Double(m); my /= Double(m)
            var sxy = 0.0, sxx = 0.0, syy = 0.0
            for i in k.indices where k[i] > 0 {
                let w = Double(k[i]), dx = x[i] - mx, dy = y[i] - my
                sxy += w * dx * dy; sxx += w * dx * dx; syy += w * dy * dy
            }
            guard sxx > 0, syy > 0 else { return .nan }
            return max(-1, min(1, sxy / (sxx.squareRoot() * syy.squareRoot())))
        }

        func srocc(_ k: [Int]) -> Double {
            ResampleStats.ranks(clean, byClean, k, into: &rc)
            ResampleStats.ranks(attacked, byAttacked, k, into: &ra)
            return ResampleStats.pearson(rc, ra, k)
        }

        func plcc(_ k: [Int]) -> Double { ResampleStats.pearson(clean, attacked, k) }

        /// Kendall's tau-b over the drawn copies.
        func krocc(_ k: [Int]) -> Double {
            let present = k.indices.filter { k[$0] > 0 }
            var score = 0, tiedA = 0, tiedB = 0, total = 0
            for (p, i) in present.enumerated() {
                let ki = k[i], own = ki * (ki - 1) / 2
                total += ki; tiedA += own; tiedB += own
                for j in present[(p + 1)...] {
                    let w = ki * k[j], idx = i * n + j
                    score += w * Int(concord[idx])
                    if ties[idx] & 1 != 0 { tiedA += w }
                    if ties[idx] & 2 != 0 { tiedB += w }
                }
            }
            let pairs = total * (total - 1) / 2
            guard total >= 2, tiedA < pairs, tiedB < pairs else { return .nan }
            return Double(score) / (Double(pairs - tiedA).squareRoot() * Double(pairs - tiedB).squareRoot())
        }

        func robustness(_ k: [Int]) -> Double { weightedMean(rTerm, k) }

        func meanAbsDelta(_ k: [Int]) -> Double { weightedMean(absDelta, k) }

        private func weightedMean(_ v: [Double], _ k: [Int]) -> Double {
            var s = 0.0, m = 0
            for i in k.indices where k[i] > 0 { s += Double(k[i]) * v[i]; m += k[i] }
            return m == 0 ? .nan : s / Double(m)
        }

        /// The resample statistic of a metric.
        func statistic(_ metric: Metric) -> ([Int]) -> Double {
            switch metric {
            case .srocc: return srocc
            case .plcc: return plcc
            case .krocc: return krocc
            case .r: return robustness
            case .meanAbsDelta: return meanAbsDelta
            }
        }
    }

    /// 95% percentile-bootstrap interval (Metrics.bootstrapInterval's resamples and quantiles) of
    /// a statistic of n images' draw counts.
    static func interval(_ n: Int, _ statistic: ([Int]) -> Double) -> (lo: Double, hi: Double) {
        Metrics.bootstrapInterval(count: n) { idx in statistic(counts(idx, n)) }
    }
}
