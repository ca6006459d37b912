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

// MARK: - Fields of delimited text

/// CSV fields as RFC 4180 writes them: a field holding a comma, a double quote, a line break
/// or leading/trailing spaces is quoted, its quotes doubled. Every CSV sega writes goes through it.
public enum CSV {
    public static func field(_ s: String) -> String {
        let special = s.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard special || s.first == " " || s.last == " " else { return s }
        return "\"" + s.replacingAll("\"", with: "\"\"") + "\""
    }

    /// One line of fields (no line end).
    public static func row(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") }
}

/// Tab-separated fields: backslash, tab, line feed and carriage return written as \\, \t, \n
/// and \r, so a field never splits a line or a row.
public enum TSV {
    public static func field(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }
}
