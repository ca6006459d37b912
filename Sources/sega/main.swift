// `sega`: the command-line tool. Argument parsing only; what each command does is in SegaCLI.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SegaCLI

// MARK: - Root

struct Sega: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sega",
        abstract: "No-reference image-quality (NR-IQA) models on the CPU: score images, list models.",
        subcommands: [Score.self, Models.self, ParityCheck.self]
    )
}

// MARK: - score

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one quality score per image.",
        discussion: """
        Prints '<image>\\t<score>' per image (JSON lines with --json). MODEL is a name, resolved to \
        NAME.safetensors in $SEGA_WEIGHTS, ./weights or the repository's weights/ (see `sega models`), \
        or a path to a .safetensors file. Images are PNG or JPEG, read as RGB in [0, 1]. An image \
        that cannot be read is reported on stderr, the others are still scored, and the exit status is 1.
        """
    )

    @Option(name: .long, help: "Model name or path to a .safetensors file.")
    var model: String

    @Option(name: .long, help: "Architecture (default: the 'arch' stored in the weights).")
    var arch: String?

    @Option(name: .long, help: "Threads (default: the number of online CPUs).")
    var threads: Int?

    @Flag(name: .long, help: "Print JSON lines {\"image\",\"model\",\"arch\",\"score\"}.")
    var json = false

    @Option(name: .long, help: "Refuse images with more pixels than this (width*height).")
    var maxPixels: Int = 8192 * 8192

    @Option(name: .long, help: "Memory limit in MB for one image's plan (default: 3/4 of physical memory).")
    var memoryLimitMb: Int?

    @Argument(help: "PNG or JPEG images.")
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
        if let t = threads, !(1...256).contains(t) { throw ValidationError("--threads must be in 1...256") }
        if maxPixels < 1 { throw ValidationError("--max-pixels must be positive") }
        if let m = memoryLimitMb, m < 1 { throw ValidationError("--memory-limit-mb must be positive") }
    }

    func run() throws {
        let n = threads ?? max(1, min(256, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        let failures = try ScoreCommand.run(
            model: model, arch: arch, threads: n, images: images, maxPixels: maxPixels,
            memoryLimit: memoryLimitMb.map { $0 << 20 } ?? Scorer.defaultMemoryLimit,
            emit: { line in
                print(json ? line.json : line.tsv)
                fflush(nil)  // one line at a time, also into a pipe
            },
            fail: { msg in printError("sega: \(msg)") })
        if failures > 0 {
            printError("sega: \(failures) of \(images.count) image(s) could not be scored")
            throw ExitCode(1)
        }
    }
}

// MARK: - models

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the architectures sega knows and the weights it can find.",
        discussion: "Weights are looked up in $SEGA_WEIGHTS, ./weights and the repository's weights/."
    )

    func run() throws {
        for line in ModelsCommand.render() { print(line) }
    }
}

// MARK: - parity

struct ParityCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parity",
        abstract: "Compare sega's score and input gradient with a PyTorch expectation file.",
        discussion: """
        EXPECT holds 'input' [1,3,H,W], 'score' [1] and 'grad' [1,3,H,W] (weights/fixtures/*.py write \
        them). Passes when the score's relative error is <= 1e-4, the gradients' cosine >= 0.9999 \
        and max|g - g_ref| / max|g_ref| <= --max-rel; exits 1 otherwise.
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

    func run() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
        do {
            let (r, ok) = try ParityCommand.run(model: model, arch: arch, expect: expect, threads: threads, maxRel: maxRel)
            print("\(ok ? "PASS" : "FAIL") \(expect): \(r.summary)")
            if !ok { throw ExitCode(1) }
        } catch let e as CLIError {
            printError("sega: \(e.message)")
            throw ExitCode(2)
        }
    }
}

func printError(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { b in _ = write(2, b.baseAddress, b.count) }
}

Sega.main()
