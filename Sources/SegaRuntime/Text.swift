// MARK: - Text helpers

extension StringProtocol {
    /// Without leading and trailing characters from `set` (no Foundation).
    public func trimming(_ set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }

    /// Without leading and trailing spaces and tabs.
    public var trimmingSpaces: String { trimming(" \t") }
}

extension String {
    /// Comma-separated items, each without surrounding spaces and tabs.
    public var commaSeparated: [String] { split(separator: ",").map { $0.trimmingSpaces } }

    /// self with every `a` replaced by `b` (no Foundation).
    public func replacingAll(_ a: Character, with b: String) -> String {
        var out = ""
        for ch in self { if ch == a { out += b } else { out.append(ch) } }
        return out
    }
}
