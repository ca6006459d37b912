#if canImport(Glibc)
import Glibc
#endif

// MARK: - Atomic writes and their temporary files

/// Every output is written to a temporary file beside it, `.NAME.tmp-XXXXXX` (mkstemp's six
/// letters and digits), which is renamed over NAME when complete. A writer holds an
/// open-file-description lock (`F_OFD_SETLK`, Linux 3.15+) on its temporary file from creation to
/// rename, so a temporary file nobody holds a lock on belongs to a writer that died (SIGKILL,
/// power loss): `removeStaleTemporaries` deletes exactly those, and never a live writer's, from
/// this process or another (OFD locks conflict between descriptors of one process too).
extension ImageFile {
    /// fcntl's F_OFD_SETLK (Linux; not exported to Swift by Glibc's module map).
    static let ofdSetLock: Int32 = 37

    /// Temporary file in the target's directory, write, fsync, rename, fsync the directory.
    public static func writeAtomically(_ data: [UInt8], to path: String) throws {
        let (dir, base) = split(path)
        let (fd, tmp) = try createLockedTemporary(directory: dir, prefix: ".\(base).tmp-", for: path)
        var ok = false
        defer {
            if !ok { unlink(tmp) }
            close(fd)  // after the rename: the lock is held until the file has its name
        }
        var done = 0
        try data.withUnsafeBytes { b in
            while done < b.count {
                let r = write(fd, b.baseAddress! + done, b.count - done)
                if r < 0 {
                    if errno == EINTR { continue }
                    throw ImageError(.io, path, "write failed: \(errnoString())")
                }
                done += r
            }
        }
        // mkstemp creates 0600; an output is an ordinary file.
        _ = fchmod(fd, 0o644)
        guard fsync(fd) == 0 else { throw ImageError(.io, path, "fsync failed: \(errnoString())") }
        guard rename(tmp, path) == 0 else { throw ImageError(.io, path, "cannot rename the temporary file into place: \(errnoString())") }
        ok = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// A new file `directory/prefixXXXXXX`, locked (F_OFD_SETLK) before anything is written; its
    /// descriptor and path. A file a sweeper locked or removed between mkstemp and the lock is
    /// given up for a fresh one. Without OFD lock support the file is used unlocked (and no
    /// sweeper can then prove it stale, so none removes it).
    public static func createLockedTemporary(directory: String, prefix: String, for target: String) throws -> (Int32, String) {
        for _ in 0..<8 {
            var template = Array("\(directory)/\(prefix)XXXXXX".utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard fd >= 0 else {
                throw ImageError(.io, target, "cannot create a temporary file in '\(directory)': \(errnoString())")
            }
            let tmp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let locked = lock(fd)
            var st = stat()
            if locked == EINVAL || (locked == 0 && fstat(fd, &st) == 0 && st.st_nlink > 0) { return (fd, tmp) }
            close(fd)  // a sweeper holds it or has removed it: it unlinks, not us
        }
        throw ImageError(.io, target, "cannot create a temporary file in '\(directory)': lost it to a cleanup 8 times")
    }

    /// 0 when `fd` is now write-locked (an OFD lock over the whole file), else the errno
    /// (EAGAIN/EACCES: another holds it; EINVAL: unsupported).
    static func lock(_ fd: Int32) -> Int32 {
        var lk = Glibc.flock()
        lk.l_type = Int16(F_WRLCK)
        lk.l_whence = Int16(SEEK_SET)
        return fcntl(fd, ofdSetLock, &lk) == 0 ? 0 : errno
    }

    /// Whether `name` is one of sega's temporary files: `.NAME.tmp-XXXXXX` (an atomic write) or
    /// `.sega-write-test-XXXXXX` (a writability probe), XXXXXX six ASCII letters or digits.
    public static func isTemporaryName(_ name: String) -> Bool {
        let u = Array(name.utf8)
        guard u.count > 7, u[0] == UInt8(ascii: "."),
              u.suffix(6).allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }) else { return false }
        let head = String(decoding: u.dropLast(6), as: UTF8.self)
        return head == ".sega-write-test-" || (head.hasSuffix(".tmp-") && head.count > ".x.tmp-".count - 1)
    }

    /// Removes the temporary files in `dir` that no live writer holds (see above); returns how
    /// many. Each is locked, checked to still be the file at that name, and unlinked under the lock.
    @discardableResult
    public static func removeStaleTemporaries(in dir: String) -> Int {
        guard let d = opendir(dir) else { return 0 }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if isTemporaryName(name) { names.append(name) }
        }
        closedir(d)
        var removed = 0
        for n in names {
            let p = "\(dir)/\(n)"
            let fd = open(p, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var a = stat(), b = stat()
            guard fstat(fd, &a) == 0, (a.st_mode & S_IFMT) == S_IFREG, lock(fd) == 0,
                  lstat(p, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino else { continue }
            if unlink(p) == 0 { removed += 1 }
        }
        return removed
    }
}
