import ArgumentParser
import SegaEngine
import SegaRuntime

// MARK: - Progress

/// Where a long command's progress goes (stderr, always).
enum ProgressMode: String, CaseIterable, Sendable {
    /// The bar on a terminal, lines otherwise (a log file, a pipe, a Slurm or Kubernetes log).
    case auto
    /// A one-line bar redrawn in place, with ETA.
    case bar
    /// Lines like "[eval] 37/140 attacks, 12:04 elapsed, ETA 33:10", at most every interval.
    case lines
    case none
}

/// `--progress` and `--progress-interval` (attack, eval).
struct ProgressFlags: ParsableArguments {
    @Option(name: .long, help: "Progress on stderr: auto (a bar on a terminal, lines otherwise), bar, lines or none.")
    var progress: String = ProgressMode.auto.rawValue

    @Option(name: .long, help: "Seconds between progress lines (0: a line per step); the last step always gets a line.")
    var progressInterval: Double = 30

    /// The reporter these flags ask for; `label` names the command in lines, `unit` what is counted.
    func reporter(_ label: String, unit: String) throws -> Progress {
        guard let mode = ProgressMode(rawValue: progress.trimmingSpaces) else {
            let known = ProgressMode.allCases.map(\.rawValue).joined(separator: ", ")
            throw SegaError(.invalidArgument, "--progress '\(progress)' is not one of \(known)")
        }
        guard progressInterval.isFinite, progressInterval >= 0 else {
            throw SegaError(.invalidArgument, "--progress-interval must be a number of seconds >= 0")
        }
        let resolved = mode == .auto ? (Console.isTerminal(2) ? .bar : .lines) : mode
        return Progress(resolved, label: label, unit: unit, interval: progressInterval)
    }
}

/// A long command's progress on stderr: a bar redrawn in place, or lines for logs (the first step,
/// then at most one per `interval` seconds, and always the last), or nothing. `update` is called
/// before each step with the steps done so far, and once at the end with done == total.
final class Progress {
    let mode: ProgressMode
    let label: String, unit: String
    let interval: Double
    private let clock: () -> Double
    private let write: (String) -> Void
    private let start: Double
    private var lastLine: Double? = nil
    private var finished = false

    init(_ mode: ProgressMode, label: String, unit: String, interval: Double,
         clock: @escaping () -> Double = MonotonicClock.now, write: @escaping (String) -> Void = Console.write) {
        self.mode = mode
        self.label = label
        self.unit = unit
        self.interval = interval
        self.clock = clock
        self.write = write
        start = clock()
    }

    func update(_ done: Int, _ total: Int, _ what: String) {
        guard total > 0, !finished else { return }
        let now = clock()
        let elapsed = now - start
        let eta: Double? = done > 0 ? elapsed / Double(done) * Double(total - done) : nil
        if done >= total { finished = true }
        switch mode {
        case .bar:
            write(Progress.barText(label: label, done: done, total: total, eta: eta, what: what))
        case .lines:
            if let last = lastLine, now - last < interval, !finished { return }
            lastLine = now
            write(Progress.lineText(label: label, unit: unit, done: done, total: total, elapsed: elapsed, eta: eta))
        case .auto, .none:
            return
        }
    }

    /// "[eval] 37/140 attacks, 12:04 elapsed, ETA 33:10\n" ("ETA --" before the first step is done).
    static func lineText(label: String, unit: String, done: Int, total: Int, elapsed: Double, eta: Double?) -> String {
        "[\(label)] \(done)/\(total) \(unit), \(clockText(elapsed)) elapsed, ETA \(eta.map(clockText) ?? "--")\n"
    }

    /// "\rsega eval [######..........] 3/8 ETA 1m05s sega img\e[K" (a newline after the last step).
    static func barText(label: String, done: Int, total: Int, eta: Double?, what: String) -> String {
        let width = 24, filled = Int(Double(done) / Double(total) * Double(width))
        let etaText = eta.map { e -> String in
            let s = Int(e)
            return "\(s / 60)m\(s % 60 < 10 ? "0" : "")\(s % 60)s"
        } ?? "--"
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        var line = "\rsega \(label) [\(bar)] \(done)/\(total) ETA \(etaText) \(what)"
        line = String(line.prefix(120)) + "\u{1B}[K"
        return done >= total ? line + "\n" : line
    }

    /// Seconds as m:ss, or h:mm:ss from an hour on.
    static func clockText(_ seconds: Double) -> String {
        let s = max(0, Int(seconds.rounded(.down)))
        let two = { (n: Int) in n < 10 ? "0\(n)" : "\(n)" }
        return s >= 3600 ? "\(s / 3600):\(two(s / 60 % 60)):\(two(s % 60))" : "\(s / 60):\(two(s % 60))"
    }
}
