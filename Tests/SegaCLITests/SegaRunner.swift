import XCTest
import Foundation

// MARK: - Running the built `sega` executable

/// Exit status and output of one `sega` run.
struct SegaRun { let status: Int32; let out: String; let err: String }

/// The built `sega` executable next to the test bundle (`swift build --build-tests` builds it).
func segaBinary() throws -> String {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let candidate = exe.deletingLastPathComponent().appendingPathComponent("sega").path
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), !isDir.boolValue else {
        XCTFail("no built sega binary at \(candidate): run `swift build --build-tests` first")
        throw CocoaError(.fileNoSuchFile)
    }
    return candidate
}

/// Run `sega args` from /tmp with SEGA_WEIGHTS removed from the environment unless given. With a
/// `timeout` (seconds), a run still going then is killed and reported as status -1 with
/// "timed out" on stderr (a hang fails the test instead of stalling the suite).
func runSega(_ args: [String], env: [String: String] = [:], timeout: Double? = nil) throws -> SegaRun {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try segaBinary())
    p.arguments = args
    var e = ProcessInfo.processInfo.environment
    e.removeValue(forKey: "SEGA_WEIGHTS")
    for (k, v) in env { e[k] = v }
    p.environment = e
    p.currentDirectoryURL = URL(fileURLWithPath: "/tmp")
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    var timedOut = false
    if let timeout {
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { timedOut = true; kill(p.processIdentifier, SIGKILL) }
    }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let r = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    if timedOut { return SegaRun(status: -1, out: String(decoding: o, as: UTF8.self), err: "timed out after \(timeout!) s") }
    return SegaRun(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: r, as: UTF8.self))
}
