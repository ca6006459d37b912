#if canImport(Glibc)
import Glibc
#endif
import SegaEngine

// MARK: - Errors

/// A weights file that cannot be used; the message names the file and, where there is one, the tensor.
/// Its kind: `io` (the file cannot be opened, examined or mapped), `format` (not a safetensors
/// file, corrupt, NaN/Inf values, another architecture's tensors), `unknownArchitecture` (a name
/// sega does not know), `noArchitecture` (none in the metadata and none given).
public struct WeightsError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable { case io, format, unknownArchitecture, noArchitecture }
    public let kind: Kind
    public let message: String
    public init(_ message: String) { self.init(.format, message) }
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { message }
}

// MARK: - Tensor records

/// Storage types sega reads; each becomes Float32 at load.
public enum WeightDType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"
    public var size: Int { self == .f32 ? 4 : 2 }
    /// Types the safetensors format defines that sega does not load.
    static let knownUnsupported: Set<String> = ["F64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL", "F8_E4M3", "F8_E5M2"]
}

public struct TensorRecord: Sendable {
    public let name: String
    public let dtype: WeightDType
    public let shape: [Int]
    /// Byte range inside the data section.
    public let begin: Int, end: Int
    public var count: Int { shape.reduce(1, *) }
}

// MARK: - File

/// A safetensors file: 8-byte little-endian header length, a JSON header, then raw
/// little-endian tensor data. The file is memory-mapped read-only; `floats(_:)` converts one
/// tensor to Float32 (the only copy) and rejects NaN and Inf.
public final class SafeTensors {
    public let source: String
    public let records: [TensorRecord]          // in file order
    public let metadata: [(String, String)]
    private let index: [String: Int]
    private let data: UnsafeRawBufferPointer      // the data section
    private let mapping: (UnsafeMutableRawPointer, Int)?
    private let owned: UnsafeMutableRawBufferPointer?

    /// Largest header accepted (the format's reference reader uses 100 MB).
    public static let maxHeaderBytes = 100_000_000

    /// Map and validate a file.
    public convenience init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WeightsError(.io, "\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw WeightsError(.io, "\(path): cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw WeightsError(.io, "\(path): not a regular file") }
        let size = Int(st.st_size)
        guard size >= 8 else {
            throw WeightsError("\(path): not a safetensors file: \(size) bytes, too short for the 8-byte header length")
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw WeightsError(.io, "\(path): cannot map: \(String(cString: strerror(errno)))")
        }
        do {
            try self.init(source: path, bytes: UnsafeRawBufferPointer(start: p, count: size), mapping: (p, size), owned: nil)
        } catch {
            munmap(p, size)
            throw error
        }
    }

    /// Validate an in-memory image (copied; used by tests and the fuzzer).
    public convenience init(bytes: [UInt8], source: String = "<memory>") throws {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { buf.copyMemory(from: $0) }
        do {
            try self.init(source: source, bytes: UnsafeRawBufferPointer(rebasing: buf[0..<bytes.count]), mapping: nil, owned: buf)
        } catch {
            buf.deallocate()
            throw error
        }
    }

    private init(source: String, bytes: UnsafeRawBufferPointer, mapping: (UnsafeMutableRawPointer, Int)?,
                 owned: UnsafeMutableRawBufferPointer?) throws {
        self.source = source
        self.mapping = mapping
        self.owned = owned
        let size = bytes.count
        guard size >= 8 else {
            throw WeightsError("\(source): not a safetensors file: \(size) bytes, too short for the 8-byte header length")
        }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(bytes[k]) << (8 * UInt64(k)) }
        guard n <= UInt64(size - 8) else {
            throw WeightsError("\(source): truncated or not a safetensors file: header length \(n) runs past the end of the file (\(size) bytes)")
        }
        guard n <= UInt64(SafeTensors.maxHeaderBytes) else {
            throw WeightsError("\(source): header length \(n) exceeds the \(SafeTensors.maxHeaderBytes)-byte limit")
        }
        guard n >= 2 else { throw WeightsError("\(source): header of \(n) bytes cannot hold a JSON object") }
        let hlen = Int(n)
        let header = UnsafeBufferPointer(start: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + 8, count: hlen)
        let json: JSONValue
        do { json = try JSONParser.parse(header) } catch let e as JSONError {
            throw WeightsError("\(source): not a safetensors file: header is not JSON (\(e))")
        }
        guard case .object(let entries) = json else { throw WeightsError("\(source): header is not a JSON object") }
        let dataSize = size - 8 - hlen
        var recs: [TensorRecord] = []
        var meta: [(String, String)] = []
        var seen = Set<String>()
        for (name, v) in entries {
            guard seen.insert(name).inserted else { throw WeightsError("\(source): tensor '\(name)' appears twice in the header") }
            if name == "__metadata__" {
                guard case .object(let kv) = v else { throw WeightsError("\(source): __metadata__ is not an object") }
                for (k, mv) in kv {
                    guard case .string(let s) = mv else { throw WeightsError("\(source): __metadata__['\(k)'] is not a string") }
                    meta.append((k, s))
                }
                continue
            }
            recs.append(try SafeTensors.record(name, v, dataSize: dataSize, source: source))
        }
        // Offsets must not overlap (the format also requires them to tile the data section).
        let sorted = recs.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var pos = 0
        var prevName = ""
        for r in sorted {
            if r.begin < pos {
                throw WeightsError("\(source): tensors '\(prevName)' and '\(r.name)' overlap (bytes \(r.begin)..<\(pos))")
            }
            if r.begin > pos {
                throw WeightsError("\(source): gap of \(r.begin - pos) bytes before tensor '\(r.name)' in the data section")
            }
            pos = r.end
            prevName = r.name
        }
        if pos != dataSize {
            throw WeightsError("\(source): \(dataSize - pos) bytes after the last tensor are not covered by the header")
        }
        records = recs
        metadata = meta
        var idx: [String: Int] = [:]
        for (k, r) in recs.enumerated() { idx[r.name] = k }
        index = idx
        data = UnsafeRawBufferPointer(start: bytes.baseAddress! + 8 + hlen, count: dataSize)
    }

    deinit {
        if let (p, n) = mapping { munmap(p, n) }
        owned?.deallocate()
    }

    private static func int(_ v: JSONValue?) -> Int? {
        guard case .number(let d)? = v, d >= 0, d <= 9.0e15, d == d.rounded() else { return nil }
        return Int(d)
    }

    private static func record(_ name: String, _ v: JSONValue, dataSize: Int, source: String) throws -> TensorRecord {
        let w = "\(source): tensor '\(name)'"
        guard case .object = v else { throw WeightsError("\(w): header entry is not an object") }
        guard case .string(let ds)? = v["dtype"] else { throw WeightsError("\(w): missing dtype") }
        guard let dtype = WeightDType(rawValue: ds) else {
            if WeightDType.knownUnsupported.contains(ds) {
                throw WeightsError("\(w): dtype \(ds) is not supported (F32, F16 and BF16 are)")
            }
            throw WeightsError("\(w): unknown dtype '\(ds)'")
        }
        guard case .array(let dims)? = v["shape"] else { throw WeightsError("\(w): missing shape") }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard let k = int(d) else { throw WeightsError("\(w): shape entries must be non-negative integers") }
            let (p, o) = count.multipliedReportingOverflow(by: k)
            guard !o, p <= Int(Int32.max) else { throw WeightsError("\(w): shape \(dims.count)-d is too large") }
            count = p
            shape.append(k)
        }
        guard case .array(let offs)? = v["data_offsets"], offs.count == 2,
              let b = int(offs[0]), let e = int(offs[1]) else {
            throw WeightsError("\(w): data_offsets must be two non-negative integers")
        }
        guard b <= e, e <= dataSize else {
            throw WeightsError("\(w): data_offsets [\(b), \(e)] out of range (data section is \(dataSize) bytes)")
        }
        let need = count * dtype.size
        guard e - b == need else {
            throw WeightsError("\(w): shape \(shape) of \(ds) needs \(need) bytes but data_offsets give \(e - b)")
        }
        return TensorRecord(name: name, dtype: dtype, shape: shape, begin: b, end: e)
    }

    // MARK: Access

    public var names: [String] { records.map(\.name) }

    public func record(_ name: String) -> TensorRecord? { index[name].map { records[$0] } }

    /// The tensor as Float32, checked for NaN and Inf; `shape` (if given) must match.
    public func floats(_ name: String, shape expected: [Int]? = nil) throws -> [Float] {
        try constant(name, shape: expected).array
    }

    /// The tensor converted straight from the mapped file into engine constant storage (the one
    /// copy of the weights), checked for NaN and Inf.
    public func constant(_ name: String, shape expected: [Int]? = nil) throws -> ConstantData {
        guard let r = record(name) else { throw WeightsError("\(source): missing tensor '\(name)'") }
        if let expected, expected != r.shape {
            throw WeightsError("\(source): tensor '\(name)' has shape \(r.shape), the architecture expects \(expected)")
        }
        let raw = UnsafeRawBufferPointer(rebasing: data[r.begin..<r.end])
        let out = ConstantData(count: r.count)
        do {
            let o = out.buffer
            switch r.dtype {
            case .f32:
                for k in 0..<r.count { o[k] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self).littleEndian) }
            case .f16:
                for k in 0..<r.count { o[k] = halfToFloat(raw.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self).littleEndian) }
            case .bf16:
                for k in 0..<r.count { o[k] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self).littleEndian) << 16) }
            }
        }
        releasePages(r)
        let o = out.buffer
        for k in 0..<o.count where !o[k].isFinite {
            throw WeightsError("\(source): tensor '\(name)' contains \(o[k].isNaN ? "NaN" : "Inf") at element \(k)")
        }
        return out
    }

    /// Drop the mapped pages lying wholly inside a tensor once it has been converted, so that
    /// loading does not hold the file and the converted weights in memory at once (peak RSS).
    /// Clean private file pages are simply re-read from the file if touched again.
    private func releasePages(_ r: TensorRecord) {
        guard mapping != nil, let base = data.baseAddress else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        let lo = (Int(bitPattern: base) + r.begin + page - 1) / page * page
        let hi = (Int(bitPattern: base) + r.end) / page * page
        if hi > lo, let p = UnsafeMutableRawPointer(bitPattern: lo) {
            _ = madvise(p, hi - lo, MADV_DONTNEED)
        }
    }

    /// Every tensor the architecture needs is present and no other is left over.
    public func expectExactly(_ expected: [String], architecture: String) throws {
        let have = Set(names), want = Set(expected)
        if let m = expected.first(where: { !have.contains($0) }) {
            throw WeightsError("\(source): missing tensor '\(m)' required by \(architecture) (are these weights for another architecture?)")
        }
        if let extra = names.first(where: { !want.contains($0) }) {
            throw WeightsError("\(source): unexpected tensor '\(extra)', not used by \(architecture) (are these weights for another architecture?)")
        }
    }
}

// MARK: - Half precision

/// IEEE binary16 to binary32, exact (subnormals, Inf and NaN included).
@inlinable
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = Int((h >> 10) & 0x1F)
    var mant = UInt32(h & 0x3FF)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        var e = -1
        repeat { mant <<= 1; e += 1 } while mant & 0x400 == 0
        mant &= 0x3FF
        return Float(bitPattern: sign | UInt32(127 - 15 - e) << 23 | mant << 13)
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | mant << 13) }
    return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | mant << 13)
}
