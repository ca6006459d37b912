#if canImport(Glibc)
import Glibc
#endif
import CSegaAPI
import SegaAttack
import SegaCLI
import SegaEngine
import SegaIO
import SegaModels

// MARK: - C API (Sources/CSegaAPI/include/sega.h)

/// The state behind a `sega_context *`: engine context, loaded models, cached plans, last error.
final class CAPIContext {
    let engine: Context
    let budget: Int?
    var models: [NamedModelBox] = []
    var lastError: [CChar] = [0]
    /// Forward plans by model (one image size each) and the last attack's planned sources.
    var scorers: [Int: PlannedModel] = [:]
    var attack: (key: [Int], h: Int, w: Int, attacker: Attacker)?

    init(engine: Context, budget: Int?) { self.engine = engine; self.budget = budget }

    func fail(_ rc: Int32, _ msg: String) -> Int32 {
        lastError = Array(msg.utf8CString)
        return rc
    }

    func ok() -> Int32 { lastError = [0]; return 0 }

    /// Plans live at once must fit the budget together.
    func checkBudget(adding bytes: Int, what: String) throws {
        guard let b = budget else { return }
        var live = 0
        for p in scorers.values { live += p.plan.memory.totalBytes }
        if let a = attack { for s in a.attacker.sources { live += s.plan.memory.totalBytes } }
        if live + bytes > b {
            // Drop cached plans first; fail only if the new plan alone does not fit.
            scorers = [:]; attack = nil
            if bytes > b {
                throw CAPIError(5, "memory budget too small: \(what) needs \(bytes >> 20) MB, the context allows \(b >> 20) MB")
            }
        }
    }
}

final class NamedModelBox { let name: String; let model: any IQAArchitecture; init(_ n: String, _ m: any IQAArchitecture) { name = n; model = m } }

struct CAPIError: Error { let rc: Int32; let message: String; init(_ rc: Int32, _ m: String) { self.rc = rc; message = m } }

let SEGA_RC_INVALID_ARGUMENT: Int32 = 1, SEGA_RC_IO: Int32 = 2, SEGA_RC_FORMAT: Int32 = 3
let SEGA_RC_MODEL: Int32 = 4, SEGA_RC_MEMORY: Int32 = 5, SEGA_RC_INTERNAL: Int32 = 6

@inline(__always) func ctxOf(_ p: OpaquePointer?) -> CAPIContext? {
    guard let p else { return nil }
    return Unmanaged<CAPIContext>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
}

/// Run `body`, turning every error into a code and a message on the context.
func guarded(_ c: CAPIContext, _ body: () throws -> Void) -> Int32 {
    do { try body(); return c.ok() }
    catch let e as CAPIError { return c.fail(e.rc, e.message) }
    catch let e as ImageError {
        switch e.kind {
        case .io: return c.fail(SEGA_RC_IO, e.description)
        case .noMemory: return c.fail(SEGA_RC_MEMORY, e.description)
        default: return c.fail(SEGA_RC_FORMAT, e.description)
        }
    }
    catch let e as WeightsError { return c.fail(SEGA_RC_MODEL, "\(e)") }
    catch let e as AttackError { return c.fail(SEGA_RC_INVALID_ARGUMENT, e.message) }
    catch let e as CLIError { return c.fail(e.message.contains("unknown") ? SEGA_RC_MODEL : SEGA_RC_INVALID_ARGUMENT, e.message) }
    catch let e as EngineError {
        return c.fail(e.message.contains("memory budget") ? SEGA_RC_MEMORY : SEGA_RC_INTERNAL, "\(e)")
    }
    catch { return c.fail(SEGA_RC_INTERNAL, "\(error)") }
}

func image(_ chw: UnsafePointer<Float>?, _ h: Int32, _ w: Int32) throws -> UnsafeBufferPointer<Float> {
    guard let chw else { throw CAPIError(SEGA_RC_INVALID_ARGUMENT, "image pointer is NULL") }
    guard h >= 1, w >= 1, Int(h) * Int(w) <= ImageFile.defaultMaxPixels else {
        throw CAPIError(SEGA_RC_INVALID_ARGUMENT, "image size \(w)x\(h) is not in 1x1 ... \(ImageFile.defaultMaxPixels) pixels")
    }
    return UnsafeBufferPointer(start: chw, count: 3 * Int(h) * Int(w))
}

// MARK: context

@_cdecl("sega_context_create")
public func sega_context_create(_ budget: Int, _ threads: Int32) -> OpaquePointer? {
    let n = threads > 0 ? Int(threads) : max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    guard let engine = try? Context(threads: min(n, 256)) else { return nil }
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
    guard let c = ctxOf(p) else { return nil }
    return c.lastError.withUnsafeBufferPointer { $0.baseAddress }  // stable: stored in the context
}

// MARK: models

@_cdecl("sega_model_load")
public func sega_model_load(_ p: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let c = ctxOf(p) else { return SEGA_RC_INVALID_ARGUMENT }
    return guarded(c) {
        guard let name, let out else { throw CAPIError(SEGA_RC_INVALID_ARGUMENT, "NULL argument to sega_model_load") }
        let s = String(cString: name)
        let path = try WeightsLocator.resolve(s)
        c.models.append(NamedModelBox(s, try ModelZoo.load(path: path)))
        out.pointee = Int32(c.models.count - 1)
    }
}

func model(_ c: CAPIContext, _ i: Int32) throws -> NamedModelBox {
    guard i >= 0, Int(i) < c.models.count else { throw CAPIError(SEGA_RC_INVALID_ARGUMENT, "no model with handle \(i)") }
    return c.models[Int(i)]
}

@_cdecl("sega_model_range")
public func sega_model_range(_ p: OpaquePointer?, _ m: Int32, _ lo: UnsafeMutablePointer<Double>?, _ hi: UnsafeMutablePointer<Double>?) -> Int32 {
    guard let c = ctxOf(p) else { return SEGA_RC_INVALID_ARGUMENT }
    return guarded(c) {
        let r = try model(c, m).model.scoreRange
        lo?.pointee = r.lo; hi?.pointee = r.hi
    }
}

@_cdecl("sega_score")
public func sega_score(_ p: OpaquePointer?, _ m: Int32, _ chw: UnsafePointer<Float>?, _ h: Int32, _ w: Int32,
                       _ out: UnsafeMutablePointer<Float>?) -> Int32 {
    guard let c = ctxOf(p) else { return SEGA_RC_INVALID_ARGUMENT }
    return guarded(c) {
        let x = try image(chw, h, w)
        guard let out else { throw CAPIError(SEGA_RC_INVALID_ARGUMENT, "out_score is NULL") }
        let box = try model(c, m)
        var planned = c.scorers[Int(m)]
        if planned == nil || planned!.height != Int(h) || planned!.width != Int(w) {
            c.scorers[Int(m)] = nil
            let need = try PlannedModel.memory(box.model, height: Int(h), width: Int(w), withGradient: false).totalBytes
            try c.checkBudget(adding: need, what: "scoring with \(box.name) at \(w)x\(h)")
            planned = try PlannedModel(box.model, name: box.name, context: c.engine, height: Int(h), width: Int(w), withGradient: false)
            c.scorers[Int(m)] = planned
        }
        out.pointee = planned!.score(x)
    }
}

// MARK: attack

@_cdecl("sega_attack_options_init")
public func sega_attack_options_init(_ o: UnsafeMutablePointer<sega_attack_options>?) {
    guard let o else { return }
    let d = AttackConfig()
    o.pointee = sega_attack_options(method: 0, eps: d.eps, alpha: 0, iterations: Int32(d.iterations), samples: Int32(d.samples),
                                    sigma: d.sigma, seed: d.seed, direction: 0, mask_quantile: d.maskQuantile,
                                    jnd_threshold: d.jndThreshold, normalize_sources: d.normalizeSources ? 1 : 0,
                                    mask_agreement: d.maskAgreement, antithetic: d.antithetic ? 1 : 0,
                                    sega_momentum: d.segaMomentum)
}

@_cdecl("sega_attack")
public func sega_attack(_ p: OpaquePointer?, _ src: UnsafePointer<Int32>?, _ n: Int32, _ chw: UnsafePointer<Float>?,
                        _ h: Int32, _ w: Int32, _ opts: UnsafePointer<sega_attack_options>?,
                        _ out: UnsafeMutablePointer<Float>?, _ before: UnsafeMutablePointer<Float>?,
                        _ after: UnsafeMutablePointer<Float>?) -> Int32 {
    guard let c = ctxOf(p) else { return SEGA_RC_INVALID_ARGUMENT }
    return guarded(c) {
        let x = try image(chw, h, w)
        guard let src, n >= 1, let opts, let out else { throw CAPIError(SEGA_RC_INVALID_ARGUMENT, "sega_attack needs sources, options and an output buffer") }
        let o = opts.pointee
        let methods: [AttackMethod] = [.sega, .ifgsm, .ensIfgsm, .mifgsm, .vt, .random]
        guard o.method >= 0, Int(o.method) < methods.count else { throw CAPIError(SEGA_RC_INVALID_ARGUMENT, "unknown method \(o.method)") }
        var cfg = AttackConfig()
        cfg.method = methods[Int(o.method)]
        cfg.eps = o.eps
        cfg.alpha = o.alpha > 0 ? o.alpha : nil
        cfg.iterations = Int(o.iterations); cfg.samples = Int(o.samples); cfg.sigma = o.sigma; cfg.seed = o.seed
        cfg.direction = o.direction == 1 ? .up : (o.direction == 2 ? .down : .auto)
        cfg.maskQuantile = o.mask_quantile; cfg.jndThreshold = o.jnd_threshold; cfg.normalizeSources = o.normalize_sources != 0
        cfg.maskAgreement = o.mask_agreement
        cfg.antithetic = o.antithetic != 0; cfg.segaMomentum = o.sega_momentum
        try cfg.validate()
        let key = (0..<Int(n)).map { Int(src[$0]) }
        let boxes = try key.map { try model(c, Int32($0)) }
        if c.attack == nil || c.attack!.key != key || c.attack!.h != Int(h) || c.attack!.w != Int(w) {
            c.attack = nil
            var need = Attacker.stateBytes(height: Int(h), width: Int(w))
            for b in boxes { need += try PlannedModel.memory(b.model, height: Int(h), width: Int(w), withGradient: true).totalBytes }
            try c.checkBudget(adding: need, what: "an attack with \(n) source(s) at \(w)x\(h)")
            let planned = try boxes.map { try PlannedModel($0.model, name: $0.name, context: c.engine, height: Int(h), width: Int(w), withGradient: true) }
            c.attack = (key, Int(h), Int(w), try Attacker(sources: planned, config: cfg))
        }
        let a = c.attack!.attacker
        a.config = cfg
        // The attack works on the 8-bit grid (what a PNG holds): round the input first.
        var x8 = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count { x8[i] = Float(ImageFile.quantize(x[i]) ?? 0) / 255; if x[i].isNaN { throw CAPIError(SEGA_RC_INVALID_ARGUMENT, "image value at index \(i) is NaN") } }
        let r = try x8.withUnsafeBufferPointer { try a.run(image: $0, key: cfg.seed, into: UnsafeMutableBufferPointer(start: out, count: x.count)) }
        for k in 0..<Int(n) { before?[k] = r.scoresBefore[k]; after?[k] = r.scoresAfter[k] }
    }
}

// MARK: images

@_cdecl("sega_image_read")
public func sega_image_read(_ p: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?,
                            _ h: UnsafeMutablePointer<Int32>?, _ w: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let c = ctxOf(p) else { return SEGA_RC_INVALID_ARGUMENT }
    return guarded(c) {
        guard let path, let out, let h, let w else { throw CAPIError(SEGA_RC_INVALID_ARGUMENT, "NULL argument to sega_image_read") }
        let im = try ImageFile.read(String(cString: path))
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: im.pixels.count)
        im.pixels.withUnsafeBufferPointer { buf.update(from: $0.baseAddress!, count: im.pixels.count) }
        out.pointee = buf; h.pointee = Int32(im.height); w.pointee = Int32(im.width)
    }
}

@_cdecl("sega_image_write_png")
public func sega_image_write_png(_ p: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ chw: UnsafePointer<Float>?, _ h: Int32, _ w: Int32) -> Int32 {
    guard let c = ctxOf(p) else { return SEGA_RC_INVALID_ARGUMENT }
    return guarded(c) {
        guard let path else { throw CAPIError(SEGA_RC_INVALID_ARGUMENT, "path is NULL") }
        let x = try image(chw, h, w)
        try ImageFile.writePNG(try RGBImage(width: Int(w), height: Int(h), pixels: Array(x)), to: String(cString: path))
    }
}

@_cdecl("sega_image_free")
public func sega_image_free(_ p: UnsafeMutablePointer<Float>?) { p?.deallocate() }
