#if canImport(Glibc)
import Glibc
#endif
import CSegaAPI
import SegaAttack
import SegaEngine
import SegaIO
import SegaModels
import SegaRuntime

// MARK: - C API (Sources/CSegaAPI/include/sega.h)

// @_cdecl functions over SegaRuntime: codes + messages, no Swift types cross the boundary.

@inline(__always) func ctxOf(_ p: OpaquePointer?) -> CAPIContext? {
    guard let p else { return nil }
    return Unmanaged<CAPIContext>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
}

let badContext = Int32(SEGA_RC_INVALID_ARGUMENT)

/// A caller's image buffer, checked: its size, and (unless `anyValues`, for writing, which
/// clamps) every value finite and in [0, 1], as the models and the attack take them.
func image(_ chw: UnsafePointer<Float>?, _ h: Int32, _ w: Int32, anyValues: Bool = false) throws -> UnsafeBufferPointer<Float> {
    guard let chw else { throw invalid("image pointer is NULL") }
    guard h >= 1, w >= 1, Int(h) * Int(w) <= ImageFile.defaultMaxPixels else {
        throw invalid("image size \(w)x\(h) is not in 1x1 ... \(ImageFile.defaultMaxPixels) pixels")
    }
    let x = UnsafeBufferPointer(start: chw, count: 3 * Int(h) * Int(w))
    if !anyValues, let i = x.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
        throw invalid("image value \(x[i]) at index \(i) is not a finite value in [0, 1]")
    }
    return x
}

/// What sega_last_error(NULL) returns: a message of its own, never NULL (allocated once, never freed).
nonisolated(unsafe) let nullContextMessage: UnsafePointer<CChar> = UnsafePointer(strdup("sega: the context is NULL (sega_context_create failed or was not called)")!)

// MARK: context

@_cdecl("sega_context_create")
public func sega_context_create(_ budget: Int, _ threads: Int32) -> OpaquePointer? {
    let n = threads > 0 ? min(Int(threads), 256) : Machine.onlineCPUs()
    guard let engine = try? Context(threads: n) else { return nil }
    let c = CAPIContext(engine: engine, budget: budget > 0 ? budget : nil)
    return OpaquePointer(Unmanaged.passRetained(c).toOpaque())
}

@_cdecl("sega_context_destroy")
public func sega_context_destroy(_ p: OpaquePointer?) {
    guard let p else { return }
    Unmanaged<CAPIContext>.fromOpaque(UnsafeRawPointer(p)).release()
}

@_cdecl("sega_last_error")
public func sega_last_error(_ p: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let c = ctxOf(p) else { return nullContextMessage }
    return c.lastError.withUnsafeBufferPointer { $0.baseAddress }  // stable: stored in the context
}

// MARK: models

@_cdecl("sega_model_load")
public func sega_model_load(_ p: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let c = ctxOf(p) else { return badContext }
    return guarded(c) {
        guard let name, let out else { throw invalid("NULL argument to sega_model_load") }
        let s = String(cString: name)
        let path = try WeightsLocator.resolve(s)
        c.models.append(LoadedModel(s, try ModelZoo.load(path: path)))
        out.pointee = Int32(c.models.count - 1)
    }
}

@_cdecl("sega_model_range")
public func sega_model_range(_ p: OpaquePointer?, _ m: Int32, _ lo: UnsafeMutablePointer<Double>?, _ hi: UnsafeMutablePointer<Double>?) -> Int32 {
    guard let c = ctxOf(p) else { return badContext }
    return guarded(c) {
        let r = try c.model(m).model.scoreRange
        lo?.pointee = r.lo; hi?.pointee = r.hi
    }
}

@_cdecl("sega_score")
public func sega_score(_ p: OpaquePointer?, _ m: Int32, _ chw: UnsafePointer<Float>?, _ h: Int32, _ w: Int32,
                       _ out: UnsafeMutablePointer<Float>?) -> Int32 {
    guard let c = ctxOf(p) else { return badContext }
    return guarded(c) {
        let x = try image(chw, h, w)
        guard let out else { throw invalid("out_score is NULL") }
        out.pointee = try c.scorer(m, height: Int(h), width: Int(w)).score(x)
    }
}

// MARK: attack

@_cdecl("sega_attack_options_init")
public func sega_attack_options_init(_ o: UnsafeMutablePointer<sega_attack_options>?) {
    o?.pointee = CAPIOptions.defaults()
}

@_cdecl("sega_attack")
public func sega_attack(_ p: OpaquePointer?, _ src: UnsafePointer<Int32>?, _ n: Int32, _ chw: UnsafePointer<Float>?,
                        _ h: Int32, _ w: Int32, _ opts: UnsafePointer<sega_attack_options>?,
                        _ out: UnsafeMutablePointer<Float>?, _ before: UnsafeMutablePointer<Float>?,
                        _ after: UnsafeMutablePointer<Float>?) -> Int32 {
    guard let c = ctxOf(p) else { return badContext }
    return guarded(c) {
        let x = try image(chw, h, w)
        guard let src, n >= 1, let opts, let out else { throw invalid("sega_attack needs sources, options and an output buffer") }
        let cfg = try CAPIOptions.config(opts.pointee)
        let a = try c.attacker((0..<Int(n)).map { Int(src[$0]) }, height: Int(h), width: Int(w), config: cfg)
        // The attack works on the 8-bit grid (what a PNG holds): round the input first.
        let x8 = try EightBitGrid.round(x)
        let r = try x8.withUnsafeBufferPointer { try a.run(image: $0, key: cfg.seed, into: UnsafeMutableBufferPointer(start: out, count: x.count)) }
        for k in 0..<Int(n) { before?[k] = r.scoresBefore[k]; after?[k] = r.scoresAfter[k] }
    }
}

// MARK: images

@_cdecl("sega_image_read")
public func sega_image_read(_ p: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?,
                            _ h: UnsafeMutablePointer<Int32>?, _ w: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let c = ctxOf(p) else { return badContext }
    return guarded(c) {
        guard let path, let out, let h, let w else { throw invalid("NULL argument to sega_image_read") }
        let im = try ImageFile.read(String(cString: path))
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: im.pixels.count)
        im.pixels.withUnsafeBufferPointer { buf.update(from: $0.baseAddress!, count: im.pixels.count) }
        out.pointee = buf; h.pointee = Int32(im.height); w.pointee = Int32(im.width)
    }
}

@_cdecl("sega_image_write_png")
public func sega_image_write_png(_ p: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ chw: UnsafePointer<Float>?, _ h: Int32, _ w: Int32) -> Int32 {
    guard let c = ctxOf(p) else { return badContext }
    return guarded(c) {
        guard let path else { throw invalid("path is NULL") }
        let x = try image(chw, h, w, anyValues: true)
        try ImageFile.writePNG(try RGBImage(width: Int(w), height: Int(h), pixels: Array(x)), to: String(cString: path))
    }
}

@_cdecl("sega_image_free")
public func sega_image_free(_ p: UnsafeMutablePointer<Float>?) { p?.deallocate() }
