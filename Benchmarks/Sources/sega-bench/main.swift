// sega-bench: our packed SGEMM next to OpenBLAS on convolution-shaped problems.
//
//   swift build -c release --package-path Benchmarks
//   Benchmarks/.build/release/sega-bench [--quick] [--json]
//   Benchmarks/.build/release/sega-bench --peak [--seconds S]   (the FMA peak alone, one JSON line)
//
// Each row is the best over `rounds` alternating rounds of ours and OpenBLAS, each round the best
// of several repetitions: on a shared machine this filters out time slices lost to other load.
//
// OpenBLAS is loaded at run time with dlopen("libopenblas.so.0") so the engine never links it;
// if it is missing the table still prints our numbers. GFLOPS = 2*M*N*K / best time over
// several repetitions. "%peak" compares with `threads` x the measured single-core FMA peak of
// the ISA our engine uses (a register-only FMA loop, CBenchPeak). --json prints one JSON line
// per row instead of the table.
import BenchSupport
import CBenchPeak
import SegaEngine
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Options

struct Options {
    var quick = false
    var json = false
    var peakOnly = false
    var peakProbeSeconds: Double? = nil
    var reps: Int { quick ? 3 : 5 }
    var minSeconds: Double { quick ? 0.05 : 0.2 }   // keep repeating a shape until this much time was spent
    var rounds: Int { quick ? 1 : 3 }               // alternating ours/OpenBLAS rounds per row (best kept)
    var peakSeconds: Double { peakProbeSeconds ?? (quick ? 0.3 : 1.0) }
}

func parseOptions() -> Options {
    var args = Arguments(tool: "sega-bench", usage: """
        usage: sega-bench [--quick] [--json] | --peak [--seconds S]
          --quick   fewer repetitions and a shorter peak probe
          --json    one JSON line per row instead of the table
          --peak    only measure the single-core FMA peak of every ISA this CPU runs (best over
                    about S seconds each, default 1) and print it as one JSON line
        """)
    var o = Options()
    while let a = args.next() {
        switch a {
        case "--quick": o.quick = true
        case "--json": o.json = true
        case "--peak": o.peakOnly = true
        case "--seconds":
            guard let v = Double(args.value(a)), v > 0 else { args.fail("--seconds must be a positive number") }
            o.peakProbeSeconds = v
        default: args.unknown(a)
        }
    }
    return o
}

/// Best-of timing: at least `reps` runs and at least `minSeconds` in total (after a warm-up run
/// for page faults, caches and thread wake-up).
func bestTime(_ o: Options, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity, spent = 0.0, runs = 0
    while runs < o.reps || (spent < o.minSeconds && runs < 50) {
        let t0 = now()
        body()
        let dt = now() - t0
        best = min(best, dt)
        spent += dt
        runs += 1
    }
    return best
}

// MARK: - OpenBLAS via dlopen

typealias CblasSgemm = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float,
                                       UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
                                       Float, UnsafeMutablePointer<Float>?, Int32) -> Void
typealias SetThreads = @convention(c) (Int32) -> Void
typealias CoreName = @convention(c) () -> UnsafePointer<CChar>?

struct OpenBLAS {
    let sgemm: CblasSgemm
    let setThreads: SetThreads?
    let core: String
}

func loadOpenBLAS() -> OpenBLAS? {
    guard let h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL) else { return nil }
    guard let s = dlsym(h, "cblas_sgemm") else { return nil }
    let setT = dlsym(h, "openblas_set_num_threads").map { unsafeBitCast($0, to: SetThreads.self) }
    var core = "?"
    if let c = dlsym(h, "openblas_get_corename"), let name = unsafeBitCast(c, to: CoreName.self)() {
        core = String(cString: name)
    }
    return OpenBLAS(sgemm: unsafeBitCast(s, to: CblasSgemm.self), setThreads: setT, core: core)
}

// MARK: - Problems

/// ResNet/VGG convolutions as im2col GEMMs: M = output channels, N = output pixels,
/// K = input channels x kernel area.
let shapes: [(m: Int, n: Int, k: Int, what: String)] = [
    (64, 50176, 27, "VGG conv1_1 3x3, 224x224, 3->64"),
    (256, 3136, 64, "ResNet-50 1x1, 56x56, 64->256"),
    (64, 12544, 576, "3x3, 112x112, 64->64"),
    (128, 3136, 1152, "ResNet 3x3, 56x56, 128->128"),
    (256, 3136, 2304, "VGG conv3 3x3, 56x56, 256->256"),
    (512, 784, 4608, "VGG conv4 3x3, 28x28, 512->512"),
    (512, 3136, 4608, "3x3, 56x56, 512->512 (large)"),
]

/// Uniform in [-1, 1] in steps of 0.001.
struct LCG {
    var state: UInt64 = 0x2545F4914F6CDD1D
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000.0
    }
}

/// The operands of one shape (C for ours, C2 for OpenBLAS).
final class Operands {
    let m: Int, n: Int, k: Int
    let a, b, c, c2: UnsafeMutablePointer<Float>
    init(_ m: Int, _ n: Int, _ k: Int, _ rng: inout LCG) {
        (self.m, self.n, self.k) = (m, n, k)
        a = .allocate(capacity: m * k); b = .allocate(capacity: k * n)
        c = .allocate(capacity: m * n); c2 = .allocate(capacity: m * n)
        for i in 0..<(m * k) { a[i] = rng.next() }
        for i in 0..<(k * n) { b[i] = rng.next() }
        c.initialize(repeating: 0, count: m * n)
        c2.initialize(repeating: 0, count: m * n)
    }
    deinit { a.deallocate(); b.deallocate(); c.deallocate(); c2.deallocate() }
    var flops: Double { 2.0 * Double(m) * Double(n) * Double(k) }
    var maxDiff: Float { (0..<(m * n)).reduce(0) { max($0, abs(c[$1] - c2[$1])) } }
}

// MARK: - Measurement

struct Row {
    let ours: Double          // GFLOPS
    let openblas: Double?     // GFLOPS
    let maxDiff: Float?
}

/// Ours and OpenBLAS on one shape at one thread count, alternating rounds, each side's best.
func measure(_ o: Options, _ ops: Operands, engine e: OpaquePointer, threads t: Int, blas: OpenBLAS?) -> Row {
    let (m, n, k) = (Int32(ops.m), Int32(ops.n), Int32(ops.k))
    var tOurs = Double.infinity, tOB = Double.infinity
    var status = SEGA_OK
    for _ in 0..<o.rounds {
        tOurs = min(tOurs, bestTime(o) { status = sega_sgemm(e, 0, 0, m, n, k, 1, ops.a, k, ops.b, n, 0, ops.c, n) })
        if status != SEGA_OK { benchFail("sega-bench", "sega_sgemm failed: \(String(cString: sega_status_message(status)))") }
        if let blas {
            blas.setThreads?(Int32(t))
            tOB = min(tOB, bestTime(o) { blas.sgemm(101, 111, 111, m, n, k, 1, ops.a, k, ops.b, n, 0, ops.c2, n) })
            // OpenBLAS workers spin for a while after a call; let them sleep before we time ours.
            usleep(200_000)
        }
    }
    return Row(ours: ops.flops / tOurs * 1e-9, openblas: blas.map { _ in ops.flops / tOB * 1e-9 },
               maxDiff: blas.map { _ in ops.maxDiff })
}

// MARK: - Output

struct Setup {
    let isa: sega_isa
    let isaName: String
    let kernel: String
    let peak: Double
    let blas: OpenBLAS?
}

func printHeader(_ o: Options, _ s: Setup) {
    print("sega-bench: SGEMM, row-major, C = A*B (no transposes), alpha=1 beta=0\(o.quick ? "  [--quick]" : "")")
    print("ISA in use: \(s.isaName)   micro-kernel: \(s.kernel)")
    let hasAVX2 = sega_cpu_supports(SEGA_ISA_AVX2) != 0
    let peakAVX2 = hasAVX2 ? bench_fma_peak_gflops(SEGA_ISA_AVX2.rawValue, o.peakSeconds) : 0
    print("measured single-core FMA peak: \(s.isaName) \(fmt(s.peak)) GFLOPS" + (hasAVX2 ? ", avx2 \(fmt(peakAVX2)) GFLOPS" : ""))
    if let blas = s.blas {
        print("OpenBLAS: libopenblas.so.0 loaded (core: \(blas.core))" +
              (blas.setThreads == nil ? " - openblas_set_num_threads not found, its thread count is its default" : ""))
    } else {
        print("NOTE: libopenblas.so.0 / cblas_sgemm not found - OpenBLAS columns show n/a")
    }
    print("%peak = ours / (threads x single-core \(s.isaName) peak)\n")
    let header = pad("M", 5) + pad("N", 7) + pad("K", 6) + pad("thr", 5) + pad("ours GF/s", 11) +
        pad("OpenBLAS", 10) + pad("ours/OB", 9) + pad("%peak", 8) + pad("max|diff|", 11) + "  shape"
    print(header)
    print(String(repeating: "-", count: header.count + 30))
}

func printRow(_ o: Options, _ s: Setup, _ shape: (m: Int, n: Int, k: Int, what: String), threads t: Int, _ r: Row) {
    let pct = s.peak > 0 ? 100.0 * r.ours / (s.peak * Double(t)) : 0
    if o.json {
        var j = JSONWriter()
        j.add("m", shape.m); j.add("n", shape.n); j.add("k", shape.k); j.add("threads", t)
        j.add("isa", s.isaName); j.add("kernel", s.kernel)
        j.add("gflops", r.ours, digits: 1); j.add("peak_percent", pct, digits: 1)
        j.add("openblas_gflops", r.openblas ?? .nan, digits: 1)
        j.add("max_abs_diff", Double(r.maxDiff ?? .nan), digits: 6, exponent: true)
        j.add("shape", shape.what)
        print(j.text)
        return
    }
    let ob = r.openblas.map { pad(fmt($0), 10) } ?? pad("n/a", 10)
    let ratio = r.openblas.map { pad(fmt(r.ours / $0, 2), 9) } ?? pad("n/a", 9)
    let diff = r.maxDiff.map { pad(fmt(Double($0), 6), 11) } ?? pad("n/a", 11)
    print(pad("\(shape.m)", 5) + pad("\(shape.n)", 7) + pad("\(shape.k)", 6) + pad("\(t)", 5) + pad(fmt(r.ours), 11) +
          ob + ratio + pad(fmt(pct) + "%", 8) + diff + "  " + shape.what)
}

// MARK: - Run

/// --peak: the single-core FMA peak of each ISA the CPU runs, and the engine's ISA, as JSON
/// (scripts/bench_attack.py reads it: "% of peak" there is threads x `best_gflops`).
func printPeak(_ o: Options) {
    var j = JSONWriter()
    let isa = sega_cpu_best_isa()
    j.add("tool", "sega-bench"); j.add("isa", String(cString: sega_isa_name(isa)))
    var best = 0.0
    for cand in [SEGA_ISA_AVX2, SEGA_ISA_AVX512] where sega_cpu_supports(cand) != 0 {
        let g = bench_fma_peak_gflops(cand.rawValue, o.peakSeconds)
        best = max(best, g)
        j.add("\(String(cString: sega_isa_name(cand)))_gflops", g, digits: 1)
    }
    if best == 0 { best = bench_fma_peak_gflops(SEGA_ISA_PORTABLE.rawValue, o.peakSeconds) }
    j.add("best_gflops", best, digits: 1)
    j.add("seconds_per_isa", o.peakSeconds, digits: 2)
    print(j.text)
}

func main() {
    let o = parseOptions()
    if o.peakOnly { printPeak(o); return }
    let isa = sega_cpu_best_isa()
    var engines: [Int: OpaquePointer] = [:]
    for t in [1, 2] {
        var e: OpaquePointer? = nil
        let st = sega_engine_create(Int32(t), isa, &e)
        guard st == SEGA_OK, let e else { benchFail("sega-bench", "engine creation failed: \(String(cString: sega_status_message(st)))") }
        engines[t] = e
    }
    defer { for (_, e) in engines { sega_engine_destroy(e) } }
    let setup = Setup(isa: isa, isaName: String(cString: sega_isa_name(isa)),
                      kernel: String(cString: sega_gemm_kernel_name(engines[1]!)),
                      peak: bench_fma_peak_gflops(isa.rawValue, o.peakSeconds), blas: loadOpenBLAS())
    if !o.json { printHeader(o, setup) }
    var rng = LCG()
    for s in shapes {
        let ops = Operands(s.m, s.n, s.k, &rng)
        for t in [1, 2] {
            printRow(o, setup, s, threads: t, measure(o, ops, engine: engines[t]!, threads: t, blas: setup.blas))
        }
    }
}

main()
