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
    }

    func testEveryOptionReachesTheAttack() throws {
        var base = AttackConfig()
        base.iterations = 3
        let variants: [(String, (inout sega_attack_options) -> Void, (inout AttackConfig) -> Void)] = [
            ("defaults", { _ in }, { _ in }),
            ("antithetic", { $0.antithetic = 1 }, { $0.antithetic = true }),
            ("SEGA momentum", { $0.sega_momentum = 1 }, { $0.segaMomentum = 1 }),
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
}
