import CSegaAPI
import SegaAttack
import SegaCAPI
import SegaEngine
import SegaModels
import XCTest

let repoRoot: String = {
    var p = #filePath
    for _ in 0..<3 { p = String(p[..<p.lastIndex(of: "/")!]) }
    return p
}()

/// The C API (include/sega.h) called as a C program would: every sega_attack_options field must
/// reach the attack, so its output equals the Swift Attacker's for the same settings, byte for byte.
final class CAPITests: XCTestCase {
    let h = 24, w = 32
    let fixture = "\(repoRoot)/Tests/Fixtures/cnniqa.safetensors"

    /// A deterministic image on the 8-bit grid.
    func image() -> [Float] {
        let s = NoiseStream(seed: 9)
        return (0..<(3 * h * w)).map { Float((s.uniform(UInt64($0)) * 255).rounded()) / 255 }
    }

    /// The attack through sega_attack; nil and the context's message on failure.
    func cAttack(_ edit: (inout sega_attack_options) -> Void) throws -> ([Float]?, String) {
        let ctx = try XCTUnwrap(SegaCAPI.sega_context_create(0, 1))
        defer { SegaCAPI.sega_context_destroy(ctx) }
        var m: Int32 = -1
        XCTAssertEqual(SegaCAPI.sega_model_load(ctx, fixture, &m), 0)
        var o = sega_attack_options()
        SegaCAPI.sega_attack_options_init(&o)
        o.iterations = 3
        edit(&o)
        let x = image()
        var out = [Float](repeating: 0, count: x.count)
        let rc = SegaCAPI.sega_attack(ctx, &m, 1, x, Int32(h), Int32(w), &o, &out, nil, nil)
        return (rc == 0 ? out : nil, String(cString: SegaCAPI.sega_last_error(ctx)!))
    }

    /// The same attack through the Swift API.
    func swiftAttack(_ cfg: AttackConfig) throws -> [Float] {
        let src = try PlannedModel(ModelZoo.load(path: fixture), name: "cnniqa", context: Context(threads: 1),
                                   height: h, width: w, withGradient: true)
        let a = try Attacker(sources: [src], config: cfg)
        let x = image()
        var out = [Float](repeating: 0, count: x.count)
        _ = try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try a.run(image: xp, key: cfg.seed, into: $0) } }
        return out
    }

    func testOptionsInitGivesTheAttackConfigDefaults() {
        var o = sega_attack_options()
        SegaCAPI.sega_attack_options_init(&o)
        let d = AttackConfig()
        XCTAssertEqual(o.method, 0)
        XCTAssertEqual(o.eps, d.eps)
        XCTAssertEqual(Int(o.iterations), d.iterations)
        XCTAssertEqual(Int(o.samples), d.samples)
        XCTAssertEqual(o.sigma, d.sigma)
        XCTAssertEqual(o.mask_agreement, d.maskAgreement)
        XCTAssertEqual(o.antithetic != 0, d.antithetic)
        XCTAssertEqual(o.sega_momentum, d.segaMomentum)
        XCTAssertEqual(o.momentum, d.momentum)
        XCTAssertEqual(Int(o.vt_samples), d.vtSamples)
        XCTAssertEqual(o.vt_beta, d.vtBeta)
    }

    func testEveryOptionReachesTheAttack() throws {
        var base = AttackConfig()
        base.iterations = 3
        let variants: [(String, (inout sega_attack_options) -> Void, (inout AttackConfig) -> Void)] = [
            ("defaults", { _ in }, { _ in }),
            ("antithetic", { $0.antithetic = 1 }, { $0.antithetic = true }),
            ("SEGA momentum", { $0.sega_momentum = 1 }, { $0.segaMomentum = 1 }),
            ("MI-FGSM momentum", { $0.method = Int32(SEGA_METHOD_MIFGSM); $0.momentum = 0.5 }, { $0.method = .mifgsm; $0.momentum = 0.5 }),
            ("VT samples and radius", { $0.method = Int32(SEGA_METHOD_VT); $0.vt_samples = 2; $0.vt_beta = 0.5 },
             { $0.method = .vt; $0.vtSamples = 2; $0.vtBeta = 0.5 }),
            ("sigma + samples + seed", { $0.sigma = 0.05; $0.samples = 3; $0.seed = 7 },
             { $0.sigma = 0.05; $0.samples = 3; $0.seed = 7 }),
        ]
        var outputs: [[Float]] = []
        for (what, editC, editSwift) in variants {
            var cfg = base
            editSwift(&cfg)
            let (c, msg) = try cAttack(editC)
            let viaC = try XCTUnwrap(c, "\(what): \(msg)")
            let viaSwift = try swiftAttack(cfg)
            let differ = zip(viaC, viaSwift).filter { $0 != $1 }.count
            XCTAssertEqual(differ, 0, "\(what): C API and Swift API differ in \(differ) of \(viaC.count) values")
            outputs.append(viaC)
        }
        // Each variant changes the result, so an option the C layer dropped would show up above.
        for i in 1..<outputs.count { XCTAssertTrue(outputs[i] != outputs[0], "\(variants[i].0) changed nothing") }
    }

    func testBadOptionsAreRefusedWithAMessage() throws {
        let (out, msg) = try cAttack { $0.sega_momentum = -1 }
        XCTAssertNil(out)
        XCTAssertTrue(msg.contains("momentum"), msg)
        let (out2, msg2) = try cAttack { $0.sega_momentum = .nan }
        XCTAssertNil(out2)
        XCTAssertTrue(msg2.contains("momentum"), msg2)
    }

    /// Every kind of failure comes back as the code sega.h documents for it (by the error's
    /// kind, SegaRuntime's ErrorKind, never by its message).
    func testFailuresReturnTheDocumentedCodes() throws {
        let ctx = try XCTUnwrap(SegaCAPI.sega_context_create(0, 1))
        defer { SegaCAPI.sega_context_destroy(ctx) }
        var m: Int32 = -1
        func rc(_ call: @autoclosure () -> Int32) -> (Int32, String) { (call(), String(cString: SegaCAPI.sega_last_error(ctx)!)) }
        let unknown = rc(SegaCAPI.sega_model_load(ctx, "no_such_model", &m))
        XCTAssertEqual(unknown.0, Int32(SEGA_RC_MODEL), unknown.1)
        XCTAssertTrue(unknown.1.contains("unknown model 'no_such_model'"), unknown.1)
        let png = "\(repoRoot)/Tests/Fixtures/e2e/cnniqa.png"
        XCTAssertEqual(rc(SegaCAPI.sega_model_load(ctx, png, &m)).0, Int32(SEGA_RC_MODEL), "an image as weights")
        var img: UnsafeMutablePointer<Float>? = nil
        var h: Int32 = 0, w: Int32 = 0
        XCTAssertEqual(rc(SegaCAPI.sega_image_read(ctx, "/nonexistent/x.png", &img, &h, &w)).0, Int32(SEGA_RC_IO))
        XCTAssertEqual(rc(SegaCAPI.sega_image_read(ctx, fixture, &img, &h, &w)).0, Int32(SEGA_RC_FORMAT), "weights as an image")
        XCTAssertEqual(rc(SegaCAPI.sega_model_load(ctx, fixture, &m)).0, Int32(SEGA_RC_OK))
        var score: Float = 0
        let x = image()
        XCTAssertEqual(rc(SegaCAPI.sega_score(ctx, 7, x, Int32(self.h), Int32(self.w), &score)).0, Int32(SEGA_RC_INVALID_ARGUMENT), "bad handle")
        let tiny = [Float](repeating: 0.5, count: 3)
        XCTAssertEqual(rc(SegaCAPI.sega_score(ctx, m, tiny, 1, 1, &score)).0, Int32(SEGA_RC_INVALID_ARGUMENT), "1x1 image for a 7x7 kernel")
        var o = sega_attack_options()
        SegaCAPI.sega_attack_options_init(&o)
        o.eps = -1
        var out = [Float](repeating: 0, count: x.count)
        XCTAssertEqual(rc(SegaCAPI.sega_attack(ctx, &m, 1, x, Int32(self.h), Int32(self.w), &o, &out, nil, nil)).0,
                       Int32(SEGA_RC_INVALID_ARGUMENT))
        let small = try XCTUnwrap(SegaCAPI.sega_context_create(4096, 1))
        defer { SegaCAPI.sega_context_destroy(small) }
        XCTAssertEqual(SegaCAPI.sega_model_load(small, fixture, &m), Int32(SEGA_RC_OK))
        XCTAssertEqual(SegaCAPI.sega_score(small, m, x, Int32(self.h), Int32(self.w), &score), Int32(SEGA_RC_MEMORY))
        XCTAssertTrue(String(cString: SegaCAPI.sega_last_error(small)!).contains("memory budget too small"))
    }
}
