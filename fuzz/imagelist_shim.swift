// imagelist_shim.swift - the two SegaCLI symbols that Sources/SegaCLI/ImageList.swift uses,
// so the fuzz harness can compile that file alone (Scoring.swift would drag in the whole engine).
// Only the parser (ImageList.parse, no file-system access) is fuzzed; the stubs are never
// reached from it. CLIError has the same shape as the one in Sources/SegaCLI/Scoring.swift.
public struct CLIError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

enum WeightsLocator {
    static func isDirectory(_ p: String) -> Bool { fatalError("file-system access from the parser") }
    static func isRegularFile(_ p: String) -> Bool { fatalError("file-system access from the parser") }
}
