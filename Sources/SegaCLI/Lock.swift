#if canImport(Glibc)
import Glibc
#endif

// MARK: - Lock

/// A pthread mutex (no Foundation): guards the work queue, the counters and planning in
/// `sega eval`'s workers.
final class Lock {
    private let m: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        m = .allocate(capacity: 1)
        m.initialize(to: pthread_mutex_t())
        pthread_mutex_init(m, nil)
    }

    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }

    @inline(__always)
    func sync<T>(_ f: () throws -> T) rethrows -> T {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try f()
    }
}
