import CSegaAPI
import SegaAttack
import SegaCAPI
import SegaEngine
import SegaModels
import XCTest
import Foundation

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
        // Below one 8-bit step the attack could not change a pixel: refused as the CLI refuses it;
        // exactly 1.0f / 255 is accepted.
        o.eps = 0.5 / 255
        let (code, message) = rc(SegaCAPI.sega_attack(ctx, &m, 1, x, Int32(self.h), Int32(self.w), &o, &out, nil, nil))
        XCTAssertEqual(code, Int32(SEGA_RC_INVALID_ARGUMENT))
        XCTAssertTrue(message.contains("eps must be in [1/255, 1]"), message)
        o.eps = 1.0 / 255
        o.iterations = 1
        XCTAssertEqual(rc(SegaCAPI.sega_attack(ctx, &m, 1, x, Int32(self.h), Int32(self.w), &o, &out, nil, nil)).0,
                       Int32(SEGA_RC_OK))
        let small = try XCTUnwrap(SegaCAPI.sega_context_create(4096, 1))
        defer { SegaCAPI.sega_context_destroy(small) }
        XCTAssertEqual(SegaCAPI.sega_model_load(small, fixture, &m), Int32(SEGA_RC_OK))
        XCTAssertEqual(SegaCAPI.sega_score(small, m, x, Int32(self.h), Int32(self.w), &score), Int32(SEGA_RC_MEMORY))
        XCTAssertTrue(String(cString: SegaCAPI.sega_last_error(small)!).contains("memory budget too small"))
    }

    // MARK: - Reliability (issue: weak C API checks)

    /// sega_score refuses what sega_attack refuses: NaN, infinite and out-of-range pixels.
    func testScoreRejectsPixelsOutsideTheUnitRange() throws {
        let ctx = try XCTUnwrap(SegaCAPI.sega_context_create(0, 1))
        defer { SegaCAPI.sega_context_destroy(ctx) }
        var m: Int32 = -1
        XCTAssertEqual(SegaCAPI.sega_model_load(ctx, fixture, &m), 0)
        for bad in [Float.nan, .infinity, 1e6, -0.5] {
            var x = image()
            x[17] = bad
            var score: Float = 0
            let rc = SegaCAPI.sega_score(ctx, m, x, Int32(h), Int32(w), &score)
            XCTAssertEqual(rc, Int32(SEGA_RC_INVALID_ARGUMENT), "pixel \(bad): score \(score)")
            XCTAssertTrue(String(cString: SegaCAPI.sega_last_error(ctx)!).contains("index 17"), "\(bad)")
        }
    }

    func testNaNAlphaAndUnknownDirectionAreRefused() throws {
        let (a, am) = try cAttack { $0.alpha = .nan }
        XCTAssertNil(a, "alpha NaN was accepted")
        XCTAssertTrue(am.contains("alpha"), am)
        let (d, dm) = try cAttack { $0.direction = 77 }
        XCTAssertNil(d, "direction 77 was accepted")
        XCTAssertTrue(dm.contains("direction 77"), dm)
        let (n, nm) = try cAttack { $0.direction = -1 }
        XCTAssertNil(n, nm)
        let (t, tm) = try cAttack { $0.target_ssim = .nan }
        XCTAssertNil(t, "target SSIM NaN was accepted")
        XCTAssertTrue(tm.contains("target SSIM is NaN"), tm)
    }

    /// An image below a model's minimum size is the caller's argument, not an internal error:
    /// scoring and attacking a 3x2 image either works or is SEGA_RC_INVALID_ARGUMENT with the size
    /// (width x height) in the message, for every fixture architecture.
    func testImagesBelowAModelsMinimumAreInvalidArguments() throws {
        let ctx = try XCTUnwrap(SegaCAPI.sega_context_create(0, 1))
        defer { SegaCAPI.sega_context_destroy(ctx) }
        var o = sega_attack_options()
        SegaCAPI.sega_attack_options_init(&o)
        o.iterations = 1; o.samples = 1
        var refused: [String] = []
        for name in ["cnniqa", "cnniqa_lcn", "lite0", "dbcnn_lite0", "linearityiqa_lite0", "hyperiqa_lite0", "dbcnn",
                     "linearityiqa", "hyperiqa", "wadiqam", "vitiqa"] {
            var m: Int32 = -1
            XCTAssertEqual(SegaCAPI.sega_model_load(ctx, "\(repoRoot)/Tests/Fixtures/\(name).safetensors", &m), 0, name)
            let x = [Float](repeating: 0.5, count: 3 * 2 * 3)
            var score: Float = 0
            var out = x
            for (what, rc) in [("score", SegaCAPI.sega_score(ctx, m, x, 2, 3, &score)),
                               ("attack", SegaCAPI.sega_attack(ctx, &m, 1, x, 2, 3, &o, &out, nil, nil))] where rc != 0 {
                let msg = String(cString: SegaCAPI.sega_last_error(ctx)!)
                XCTAssertEqual(rc, Int32(SEGA_RC_INVALID_ARGUMENT), "\(name) \(what): \(msg)")
                XCTAssertTrue(msg.contains("3x2"), "\(name) \(what): \(msg)")
                refused.append("\(name) \(what)")
            }
        }
        XCTAssertTrue(refused.contains("cnniqa score") && refused.contains("wadiqam attack"), "\(refused)")
    }

    func testLastErrorOfNullIsAMessage() throws {
        let p = try XCTUnwrap(SegaCAPI.sega_last_error(nil), "sega_last_error(NULL) returned NULL")
        XCTAssertTrue(String(cString: p).contains("NULL"), String(cString: p))
    }

    /// A FIFO is refused at once ("not a regular file"), not opened (which blocks until a writer comes).
    func testImageReadRefusesAFIFO() throws {
        let path = NSTemporaryDirectory() + "sega-fifo-\(getpid()).png"
        unlink(path)
        XCTAssertEqual(mkfifo(path, 0o644), 0)
        defer { unlink(path) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var rc: Int32 = -1
        nonisolated(unsafe) var msg = ""
        Thread.detachNewThread {
            let ctx = SegaCAPI.sega_context_create(0, 1)
            var img: UnsafeMutablePointer<Float>? = nil
            var hh: Int32 = 0, ww: Int32 = 0
            rc = SegaCAPI.sega_image_read(ctx, path, &img, &hh, &ww)
            msg = String(cString: SegaCAPI.sega_last_error(ctx)!)
            SegaCAPI.sega_context_destroy(ctx)
            done.signal()
        }
        if done.wait(timeout: .now() + 10) == .timedOut {
            // Unblock the reader (open for writing, then close), so the process can go on.
            let fd = open(path, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
            _ = done.wait(timeout: .now() + 10)
            XCTFail("sega_image_read blocked on a FIFO")
            return
        }
        XCTAssertEqual(rc, Int32(SEGA_RC_IO), msg)
        XCTAssertTrue(msg.contains("not a regular file"), msg)
    }
}
