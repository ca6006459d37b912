import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import SegaModels
import SegaRuntime

// MARK: - sega parity

/// `sega parity`: compares sega with a PyTorch expectation file (input, score, grad) written by
/// the scripts in weights/fixtures/: used for full-width checks too large to commit.
public struct ParityCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "parity",
        abstract: "Compare sega's score and input gradient with a PyTorch expectation file.",
        discussion: """
        EXPECT holds 'input' [1,3,H,W], 'score' [1] and 'grad' [1,3,H,W] (weights/fixtures/*.py write \
        them). Passes when the score's relative error is <= 1e-4, the gradients' cosine >= 0.9999 \
        and max|g - g_ref| / max|g_ref| <= --max-rel; exits 1 otherwise (FAIL), and 2 when the model \
        or EXPECT cannot be read (nothing compared).
        """
    )

    @Option(name: .long, help: "Model name or path to a .safetensors file.")
    var model: String

    @Option(name: .long, help: "Architecture (default: the 'arch' stored in the weights).")
    var arch: String?

    @Option(name: .long, help: "Expectation file (.expect.safetensors).")
    var expect: String

    @Option(name: .long, help: "Threads.")
    var threads: Int = 1

    @Option(name: .long, help: "Largest allowed max relative gradient error.")
    var maxRel: Double = 1e-3

    public init() {}

    public func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
        guard maxRel >= 0 else { throw ValidationError("--max-rel must be a number >= 0, got \(maxRel)") }
    }

    /// Exit 0 on PASS, 1 on FAIL (ExitStatus.failed), 2 when the model or the expectation file
    /// cannot be used (nothing was compared).
    public func run() throws {
        var passed = false
        try CommandFailure.run("parity") {
            let (r, ok) = try ParityCommand.run(model: model, arch: arch, expect: expect, threads: threads, maxRel: maxRel)
            Console.out("\(ok ? "PASS" : "FAIL") \(expect): \(r.summary)")
            passed = ok
        }
        if !passed {
            Console.error("sega parity: FAIL (see the line above)")
            throw ExitCode(ExitStatus.failed)
        }
    }

    /// Returns the report; `passed` says whether it meets the criteria with `maxRel`.
    public static func run(model: String, arch: String?, expect: String, threads: Int,
                           maxRel: Double) throws -> (report: ParityReport, passed: Bool) {
        let net = try ScoreCommand.load(model, arch: arch)
        close(try FileSystem.openRegular(expect, what: "expectation file"))  // a FIFO would block SafeTensors
        let exp = try SafeTensors(path: expect)
        let r = try Parity.check(net, expect: exp, threads: threads)
        return (r, r.passes(maxRel: maxRel))
    }
}
