#if canImport(Glibc)
import Glibc
#endif
import SegaRuntime

// MARK: - sega_version

/// SegaVersion.string as a C string that lives as long as the process (made once, never freed).
nonisolated(unsafe) private let versionCString: UnsafeMutablePointer<CChar> = strdup(SegaVersion.string)!

@_cdecl("sega_version")
public func sega_version() -> UnsafePointer<CChar> { UnsafePointer(versionCString) }
