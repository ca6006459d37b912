#if canImport(Glibc)
import Glibc
#endif
import CImageIO

// MARK: - Errors

/// An image that cannot be read or written. The message names the file and the reason.
public struct ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// The file cannot be opened, read, written or renamed.
        case io
        /// Not a PNG/JPEG, corrupt, truncated or an unsupported variant.
        case format
        /// width*height above the pixel limit, or a file above the byte limit (refused before allocating).
        case tooLarge
        /// An allocation failed.
        case noMemory
        /// A write that would replace one of the input images, or invalid pixel values.
        case refused
    }
    public let kind: Kind
    /// The file concerned ("<memory>" for in-memory data).
    public let path: String
    public let reason: String
    public init(_ kind: Kind, _ path: String, _ reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }
}

// MARK: - Image

/// An image as read, with the decoder's warnings (each naming the file).
public struct DecodedImage: Sendable {
    public let image: RGBImage
    public let warnings: [String]
}

/// An RGB image, Float32 in [0, 1], planar [3][height][width] (the engine's [1, 3, H, W] input).
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// R plane, then G, then B; each row-major.
    public var pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) throws {
        guard width > 0, height > 0 else {
            throw ImageError(.refused, "<memory>", "image size \(width) x \(height) is empty")
        }
        guard pixels.count == 3 * width * height else {
            throw ImageError(.refused, "<memory>", "a \(width) x \(height) RGB image needs \(3 * width * height) values, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A constant image.
    public init(width: Int, height: Int, fill: Float = 0) {
        precondition(width > 0 && height > 0, "image size must be positive")
        self.width = width
        self.height = height
        self.pixels = [Float](repeating: fill, count: 3 * width * height)
    }

    /// The engine input shape, [1, 3, H, W].
    public var shape: [Int] { [1, 3, height, width] }

    /// Channel c (0 = R), row y, column x.
    public subscript(c: Int, y: Int, x: Int) -> Float {
        get { pixels[(c * height + y) * width + x] }
        set { pixels[(c * height + y) * width + x] = newValue }
    }
}

// MARK: - Formats

public enum ImageFormat: String, Sendable {
    case png, jpeg

    /// Recognise a format by its magic bytes (the file name's extension is not trusted).
    public static func sniff<C: Collection>(_ bytes: C) -> ImageFormat? where C.Element == UInt8 {
        let head = Array(bytes.prefix(8))
        if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF { return .jpeg }
        return nil
    }
}

// MARK: - Reading and writing

/// PNG and JPEG files in and out.
///
/// Reading: PNG (1/2/4/8/16-bit gray, gray+alpha, RGB, RGBA, palette, interlaced) through libpng
/// and JPEG (baseline/progressive; gray, YCbCr, RGB) through libjpeg-turbo, into RGB Float32 in
/// [0, 1]: 8-bit samples are divided by 255 (as `torchvision.transforms.functional.to_tensor`
/// does), 16-bit samples by 65535 (full precision; PIL would reduce them to 8 bits). Gray is
/// copied into R, G and B. Alpha, from an alpha channel or a tRNS chunk, is dropped, not
/// composited, like PIL's `Image.convert('RGB')` that pyiqa's `imread2tensor` uses. Colour
/// profiles and gamma chunks are ignored, as PIL ignores them. The format comes from the file's
/// magic bytes. Every failure, including truncated or corrupt data and dimension bombs, is an
/// `ImageError` naming the file; width*height is checked against `maxPixels` from the header,
/// before any pixel memory is allocated.
///
/// Writing: lossless 8-bit RGB PNG only. Each value is clamped to [0, 1], multiplied by 255 and
/// rounded half to even (`torch.round`, as pyiqa's `tensor2img` does); NaN is refused. The file
/// is written atomically: a temporary file in the same directory, fsync, rename over the target,
/// fsync of the directory. A write whose target is one of the given input images is refused.
public enum ImageFile {
    /// Default limit on width*height: 8192 x 8192.
    public static let defaultMaxPixels = 8192 * 8192
    /// Files above this size are refused without being read (1 GiB).
    public static let maxFileBytes = 1 << 30

    // MARK: Reading

    /// Read a PNG or JPEG file (warnings dropped: `load` returns them).
    public static func read(_ path: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        try load(path, maxPixels: maxPixels).image
    }

    /// Read a PNG or JPEG file, with the decoder's warnings.
    public static func load(_ path: String, maxPixels: Int = defaultMaxPixels) throws -> DecodedImage {
        let bytes = try readFile(path)
        var warnings: [String] = []
        let image = try decode(bytes, source: path, maxPixels: maxPixels, warnings: &warnings)
        return DecodedImage(image: image, warnings: warnings)
    }

    /// Decode PNG or JPEG bytes; `source` names them in error messages.
    public static func decode(_ bytes: [UInt8], source: String = "<memory>", maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        var warnings: [String] = []
        return try decode(bytes, source: source, maxPixels: maxPixels, warnings: &warnings)
    }

    /// Decode PNG or JPEG bytes; the decoder's warnings (corrupt JPEG data libjpeg decoded
    /// around), each naming `source`, are appended to `warnings`.
    public static func decode(_ bytes: [UInt8], source: String, maxPixels: Int, warnings: inout [String]) throws -> RGBImage {
        guard !bytes.isEmpty else { throw ImageError(.format, source, "empty file (0 bytes), not an image") }
        guard let format = ImageFormat.sniff(bytes) else {
            let head = bytes.prefix(4).map { hex($0) }.joined(separator: " ")
            throw ImageError(.format, source, "not a PNG or JPEG image (starts with bytes \(head))")
        }
        guard maxPixels > 0 else { throw ImageError(.refused, source, "pixel limit must be positive, got \(maxPixels)") }
        var errbuf = [CChar](repeating: 0, count: 512), warnbuf = [CChar](repeating: 0, count: 512)
        var px: UnsafeMutablePointer<Float>? = nil
        var w: Int32 = 0, h: Int32 = 0, nwarn: Int32 = 0
        let rc: Int32 = bytes.withUnsafeBufferPointer { b in
            errbuf.withUnsafeMutableBufferPointer { e in
                warnbuf.withUnsafeMutableBufferPointer { wb in
                    switch format {
                    case .png:
                        return sio_png_decode(b.baseAddress, b.count, UInt64(maxPixels), &px, &w, &h, e.baseAddress, e.count)
                    case .jpeg:
                        return sio_jpeg_decode_warn(b.baseAddress, b.count, UInt64(maxPixels), &px, &w, &h, e.baseAddress, e.count,
                                                    wb.baseAddress, wb.count, &nwarn)
                    }
                }
            }
        }
        guard rc == Int32(SIO_OK), let px else {
            let msg = errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw ImageError(kind(rc), source, msg.isEmpty ? "cannot decode the \(format.rawValue.uppercased()) data" : msg)
        }
        defer { sio_free(px) }
        if nwarn > 0 {
            let first = warnbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            warnings.append("\(source): \(first)\(nwarn > 1 ? " (and \(nwarn - 1) more libjpeg warning(s))" : "")")
        }
        let n = 3 * Int(w) * Int(h)
        let pixels = Array(UnsafeBufferPointer(start: px, count: n))
        return try RGBImage(width: Int(w), height: Int(h), pixels: pixels)
    }

    /// The whole file, refusing directories, FIFOs, devices and other files that are not
    /// regular (checked before opening, which would block on a FIFO, and again on the open
    /// descriptor), empty files and files above `maxFileBytes`.
    public static func readFile(_ path: String) throws -> [UInt8] {
        let fd = try openRegularFile(path)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ImageError(.io, path, "cannot stat: \(errnoString())") }
        let size = Int(st.st_size)
        guard size > 0 else { throw ImageError(.format, path, "empty file (0 bytes), not an image") }
        guard size <= maxFileBytes else {
            throw ImageError(.tooLarge, path, "file is \(size) bytes, above the \(maxFileBytes)-byte limit")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var got = 0
        try bytes.withUnsafeMutableBytes { b in
            while got < size {
                let r = Glibc.read(fd, b.baseAddress! + got, size - got)
                if r < 0 {
                    if errno == EINTR { continue }
                    throw ImageError(.io, path, "read failed: \(errnoString())")
                }
                if r == 0 { break }  // the file shrank: decode what is there (it will read as truncated)
                got += r
            }
        }
        if got < size { bytes.removeLast(size - got) }
        return bytes
    }

    /// A read-only descriptor of a regular file. The type is checked with stat before opening
    /// (open blocks on a FIFO until a writer comes), the open is non-blocking (a FIFO swapped in
    /// between does not hang), and the descriptor is checked again.
    public static func openRegularFile(_ path: String) throws -> Int32 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ImageError(.io, path, "cannot open: \(errnoString())") }
        try requireRegular(st, path)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw ImageError(.io, path, "cannot open: \(errnoString())") }
        var st2 = stat()
        guard fstat(fd, &st2) == 0 else { close(fd); throw ImageError(.io, path, "cannot stat: \(errnoString())") }
        do { try requireRegular(st2, path) } catch { close(fd); throw error }
        return fd
    }

    static func requireRegular(_ st: stat, _ path: String) throws {
        switch st.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFDIR: throw ImageError(.io, path, "is a directory, not an image")
        default: throw ImageError(.io, path, "not a regular file")
        }
    }

    // MARK: Writing

    /// 8-bit value of one sample: clamp to [0, 1], x 255, round half to even. NaN is refused.
    @inline(__always)
    public static func quantize(_ v: Float) -> UInt8? {
        if v.isNaN { return nil }
        let c = min(max(v, 0), 1)
        return UInt8((c * 255).rounded(.toNearestOrEven))
    }

    /// Encode as an 8-bit RGB PNG in memory.
    public static func encodePNG(_ image: RGBImage, source: String = "<memory>") throws -> [UInt8] {
        let w = image.width, h = image.height, plane = w * h
        var rgb = [UInt8](repeating: 0, count: 3 * plane)
        for c in 0..<3 {
            for i in 0..<plane {
                guard let q = quantize(image.pixels[c * plane + i]) else {
                    throw ImageError(.refused, source, "pixel (channel \(c), row \(i / w), column \(i % w)) is NaN")
                }
                rgb[3 * i + c] = q
            }
        }
        guard w <= Int(Int32.max), h <= Int(Int32.max) else {
            throw ImageError(.tooLarge, source, "image \(w) x \(h) is too large for PNG")
        }
        var errbuf = [CChar](repeating: 0, count: 512)
        var out: UnsafeMutablePointer<UInt8>? = nil
        var outSize = 0
        let rc = rgb.withUnsafeBufferPointer { b in
            errbuf.withUnsafeMutableBufferPointer { e in
                sio_png_encode_rgb8(b.baseAddress, Int32(w), Int32(h), &out, &outSize, e.baseAddress, e.count)
            }
        }
        guard rc == Int32(SIO_OK), let out else {
            let msg = errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw ImageError(kind(rc), source, msg.isEmpty ? "cannot encode PNG" : msg)
        }
        defer { sio_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: outSize))
    }

    /// Write `image` as an 8-bit RGB PNG at `path`, atomically. Refuses if `path` is (or links
    /// to) one of `inputs`, or is a directory.
    public static func writePNG(_ image: RGBImage, to path: String, protecting inputs: [String] = []) throws {
        for input in inputs where samePath(path, input) {
            throw ImageError(.refused, path, "refusing to overwrite the input image '\(input)'")
        }
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            throw ImageError(.io, path, "is a directory")
        }
        let data = try encodePNG(image, source: path)
        try writeAtomically(data, to: path)
    }

    // MARK: Helpers

    /// True when both paths name the same file: same inode if both exist, else the same
    /// canonical path (the target's directory resolved, plus its file name).
    public static func samePath(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        if stat(a, &sa) == 0, stat(b, &sb) == 0 {
            return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
        }
        return canonical(a) == canonical(b)
    }

    static func canonical(_ p: String) -> String {
        if let r = realpath(p, nil) { defer { free(r) }; return String(cString: r) }
        let (dir, base) = split(p)
        if let r = realpath(dir, nil) { defer { free(r) }; return String(cString: r) + "/" + base }
        return p
    }

    /// Directory (or ".") and last component.
    static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    static func kind(_ rc: Int32) -> ImageError.Kind {
        switch rc {
        case Int32(SIO_ERR_TOO_LARGE): return .tooLarge
        case Int32(SIO_ERR_NOMEM): return .noMemory
        case Int32(SIO_ERR_ARGUMENT): return .refused
        default: return .format
        }
    }

    static func errnoString() -> String { String(cString: strerror(errno)) }

    static func hex(_ b: UInt8) -> String {
        let d = Array("0123456789abcdef")
        return "0x" + String(d[Int(b >> 4)]) + String(d[Int(b & 15)])
    }

    /// Versions of the linked libpng and libjpeg (API version, e.g. 62).
    public static var libraryVersions: String {
        "libpng \(String(cString: sio_libpng_version())), libjpeg API \(sio_libjpeg_version())"
    }
}
