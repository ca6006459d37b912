import SegaEngine

// MARK: - Progress

/// A one-line progress bar with ETA on stderr when stderr is a terminal; nothing otherwise.
final class ProgressBar {
    let enabled = Console.isTerminal(2)
    let start = MonotonicClock.now()
    let label: String
    init(_ label: String) { self.label = label }

    func update(_ done: Int, _ total: Int, _ what: String) {
        guard enabled, total > 0 else { return }
        let frac = Double(done) / Double(total)
        let width = 24, filled = Int(frac * Double(width))
        let elapsed = MonotonicClock.now() - start
        let eta = done > 0 ? Int(elapsed / Double(done) * Double(total - done)) : -1
        let etaText = eta < 0 ? "--" : "\(eta / 60)m\(eta % 60 < 10 ? "0" : "")\(eta % 60)s"
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        var line = "\r\(label) [\(bar)] \(done)/\(total) ETA \(etaText) \(what)"
        line = String(line.prefix(120)) + "\u{1B}[K"
        if done == total { line += "\n" }
        Console.write(line)
    }
}
