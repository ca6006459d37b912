#if canImport(Glibc)
import Glibc
#endif

// MARK: - Monotonic clock

/// Seconds on the monotonic clock (an arbitrary origin): for timing, never for dates.
public enum MonotonicClock {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
