#if canImport(Glibc)
import Glibc
#endif

// MARK: - Image-level workers

/// A pthread mutex (no Foundation): guards the work queue, the counters and planning in
/// `EvalCommand`'s workers.
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

enum Workers {
    private final class Job {
        let body: (Int) -> Void
        let index: Int
        init(_ body: @escaping (Int) -> Void, _ index: Int) { self.body = body; self.index = index }
    }

    /// Run body(0) on the caller's thread and body(1..<n) on new threads; return when all have.
    /// A thread that cannot be created is skipped (its worker index never runs), so `body`
    /// must take its work from a shared queue rather than by index.
    static func run(_ n: Int, _ body: @escaping (Int) -> Void) {
        var threads: [pthread_t] = []
        for i in 1..<max(1, n) {
            let job = Unmanaged.passRetained(Job(body, i)).toOpaque()
            var t = pthread_t()
            let rc = pthread_create(&t, nil, { p in
                let j = Unmanaged<Job>.fromOpaque(p!).takeRetainedValue()
                j.body(j.index)
                return nil
            }, job)
            if rc == 0 { threads.append(t) } else { Unmanaged<Job>.fromOpaque(job).release() }
        }
        body(0)
        for t in threads { pthread_join(t, nil) }
    }
}
