// MARK: - JSON writer

/// The JSON writer (JSON.swift holds the reader): an object's keys in insertion order, so
/// outputs are byte-stable, and the text of any `JSONValue`. Numbers are written so that a
/// value parsed and written again keeps its text (integral values without ".0").
public struct JSONWriter {
    private var parts: [String] = []
    public init() {}

    public mutating func add(_ key: String, _ v: String) { add(key, raw: JSONWriter.quote(v)) }
    public mutating func add(_ key: String, _ v: Int) { add(key, raw: "\(v)") }
    public mutating func add(_ key: String, _ v: Double) { add(key, raw: JSONWriter.number(v)) }
    /// A Float with its own shortest text ("0.25"), null when not finite.
    public mutating func add(_ key: String, _ v: Float) { add(key, raw: v.isFinite ? "\(v)" : "null") }
    public mutating func add(_ key: String, _ v: [Double]) { add(key, raw: JSONWriter.array(v.map(JSONWriter.number))) }
    public mutating func add(_ key: String, _ v: [String]) { add(key, raw: JSONWriter.array(v.map(JSONWriter.quote))) }
    public mutating func add(_ key: String, _ v: JSONValue) { add(key, raw: JSONWriter.text(v)) }
    /// `raw` is JSON text already (a nested object or array).
    public mutating func add(_ key: String, raw: String) { parts.append(JSONWriter.quote(key) + ":" + raw) }

    /// The object's text.
    public var text: String { "{" + parts.joined(separator: ",") + "}" }

    /// `[a,b,...]` of JSON texts.
    public static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

    /// Shortest text that reads back as `v`; integral values without ".0"; NaN as null and the
    /// infinities as +-1e308 (JSON has neither).
    public static func number(_ v: Double) -> String {
        if v.isNaN { return "null" }
        if v.isInfinite { return v > 0 ? "1e308" : "-1e308" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// The text of a parsed (or built) value, numbers as `number` writes them.
    public static func text(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return number(d)
        case .string(let t): return quote(t)
        case .array(let a): return array(a.map(text))
        case .object(let kv): return "{" + kv.map { quote($0.0) + ":" + text($0.1) }.joined(separator: ",") + "}"
        }
    }
}
