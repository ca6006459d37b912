#if canImport(Glibc)
import Glibc
#endif

// MARK: - Image-level workers

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

    /// Items 0..<count, taken from one queue in order by `workers` workers: body(item, worker).
    /// After a failure no worker starts another item, and the error of the earliest failed
    /// item is thrown.
    static func drain(_ count: Int, on workers: Int, _ body: @escaping (Int, Int) throws -> Void) throws {
        let lock = Lock()
        var next = 0
        var failure: (index: Int, error: any Error)? = nil
        run(workers) { w in
            while true {
                let i: Int? = lock.sync {
                    guard failure == nil, next < count else { return nil }
                    next += 1
                    return next - 1
                }
                guard let i else { return }
                do { try body(i, w) } catch {
                    lock.sync { if failure == nil || i < failure!.index { failure = (i, error) } }
                }
            }
        }
        if let f = failure { throw f.error }
    }
}
