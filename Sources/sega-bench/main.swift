// sega-bench: our packed SGEMM next to OpenBLAS on convolution-shaped problems.
//
//   swift build -c release --product sega-bench && .build/release/sega-bench [--quick]
//
// Each row is the best over `rounds` alternating rounds of ours and OpenBLAS, each round the best
// of several repetitions: on a shared machine this filters out time slices lost to other load.
//
// OpenBLAS is loaded at run time with dlopen("libopenblas.so.0") so the engine never links it;
// if it is missing the table still prints our numbers. GFLOPS = 2*M*N*K / best time over
// several repetitions. "%peak" compares with `threads` x the measured single-core FMA peak of
// the ISA our engine uses (a register-only FMA loop, sega_measure_fma_peak_gflops).
import CSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Options

let args = CommandLine.arguments.dropFirst()
let quick = args.contains("--quick")
if args.contains("--help") || args.contains("-h") {
    print("usage: sega-bench [--quick]")
    print("  --quick   fewer repetitions and a shorter peak probe")
    exit(0)
}
let reps = quick ? 3 : 5
let minSeconds = quick ? 0.05 : 0.2   // keep repeating a shape until this much time was spent
let rounds = quick ? 1 : 3            // alternating ours/OpenBLAS rounds per row (best kept)
let peakSeconds = quick ? 0.3 : 1.0

// MARK: - Helpers

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + 1e-9 * Double(ts.tv_nsec)
}

func pad(_ s: String, _ w: Int) -> String {
    s.count >= w ? s : String(repeating: " ", count: w - s.count) + s
}

func fmt(_ x: Double, _ digits: Int = 1) -> String {
    var buf = [CChar](repeating: 0, count: 64)
    _ = withVaList([x]) { vsnprintf(&buf, buf.count, "%.\(digits)f", $0) }
    return String(cString: buf)
}

@MainActor
/// Best-of timing: at least `reps` runs and at least `minSeconds` in total.
func bestTime(_ body: () -> Void) -> Double {
    body()  // warm-up (page faults, caches, thread wake-up)
    var best = Double.infinity
    var spent = 0.0
    var runs = 0
    while runs < reps || (spent < minSeconds && runs < 50) {
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

// MARK: - Setup

let isa = sega_cpu_best_isa()
let isaName = String(cString: sega_isa_name(isa))
var engines: [Int: OpaquePointer] = [:]
let threadCounts = [1, 2]
for t in threadCounts {
    var e: OpaquePointer? = nil
    let st = sega_engine_create(Int32(t), isa, &e)
    guard st == SEGA_OK, let e else {
        print("sega-bench: engine creation failed: \(String(cString: sega_status_message(st)))")
        exit(1)
    }
    engines[t] = e
}
let kernelName = String(cString: sega_gemm_kernel_name(engines[1]!))

print("sega-bench: SGEMM, row-major, C = A*B (no transposes), alpha=1 beta=0\(quick ? "  [--quick]" : "")")
print("ISA in use: \(isaName)   micro-kernel: \(kernelName)")
let peak = sega_measure_fma_peak_gflops(isa, peakSeconds)
let peakAVX2 = sega_cpu_supports(SEGA_ISA_AVX2) != 0 ? sega_measure_fma_peak_gflops(SEGA_ISA_AVX2, peakSeconds) : 0
print("measured single-core FMA peak: \(isaName) \(fmt(peak)) GFLOPS" +
      (sega_cpu_supports(SEGA_ISA_AVX2) != 0 ? ", avx2 \(fmt(peakAVX2)) GFLOPS" : ""))
let blas = loadOpenBLAS()
if let blas {
    print("OpenBLAS: libopenblas.so.0 loaded (core: \(blas.core))" +
          (blas.setThreads == nil ? " - openblas_set_num_threads not found, its thread count is its default" : ""))
} else {
    print("NOTE: libopenblas.so.0 / cblas_sgemm not found - OpenBLAS columns show n/a")
}
print("%peak = ours / (threads x single-core \(isaName) peak)")
print("")

// ResNet/VGG convolutions as im2col GEMMs: M = output channels, N = output pixels,
// K = input channels x kernel area.
let shapes: [(m: Int, n: Int, k: Int, what: String)] = [
    (64, 50176, 27, "VGG conv1_1 3x3, 224x224, 3->64"),
    (256, 3136, 64, "ResNet-50 1x1, 56x56, 64->256"),
    (64, 12544, 576, "3x3, 112x112, 64->64"),
    (128, 3136, 1152, "ResNet 3x3, 56x56, 128->128"),
    (256, 3136, 2304, "VGG conv3 3x3, 56x56, 256->256"),
    (512, 784, 4608, "VGG conv4 3x3, 28x28, 512->512"),
    (512, 3136, 4608, "3x3, 56x56, 512->512 (large)"),
]

let header = pad("M", 5) + pad("N", 7) + pad("K", 6) + pad("thr", 5) + pad("ours GF/s", 11) +
    pad("OpenBLAS", 10) + pad("ours/OB", 9) + pad("%peak", 8) + pad("max|diff|", 11) + "  shape"
print(header)
print(String(repeating: "-", count: header.count + 30))

struct LCG {
    var state: UInt64 = 0x2545F4914F6CDD1D
    /// Uniform in [-1, 1] in steps of 0.001.
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000.0
    }
}
var rng = LCG()

for s in shapes {
    let (m, n, k) = (s.m, s.n, s.k)
    let a = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
    let b = UnsafeMutablePointer<Float>.allocate(capacity: k * n)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
    let c2 = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
    defer { a.deallocate(); b.deallocate(); c.deallocate(); c2.deallocate() }
    for i in 0..<(m * k) { a[i] = rng.next() }
    for i in 0..<(k * n) { b[i] = rng.next() }
    c.initialize(repeating: 0, count: m * n)
    c2.initialize(repeating: 0, count: m * n)
    let flops = 2.0 * Double(m) * Double(n) * Double(k)

    for t in threadCounts {
        let e = engines[t]!
        var status = SEGA_OK
        // Alternate ours and OpenBLAS for a few rounds and keep each side's best, so that a burst
        // of load from other processes does not land on one side only.
        var tOurs = Double.infinity, tOB = Double.infinity
        for _ in 0..<rounds {
            tOurs = min(tOurs, bestTime {
                status = sega_sgemm(e, 0, 0, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, c, Int32(n))
            })
            if status != SEGA_OK {
                print("sega_sgemm failed: \(String(cString: sega_status_message(status)))")
                exit(1)
            }
            if let blas {
                blas.setThreads?(Int32(t))
                tOB = min(tOB, bestTime {
                    blas.sgemm(101, 111, 111, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, c2, Int32(n))
                })
                // OpenBLAS workers spin for a while after a call; let them sleep before we time ours.
                usleep(200_000)
            }
        }
        let gOurs = flops / tOurs * 1e-9
        var obCol = pad("n/a", 10), ratioCol = pad("n/a", 9), diffCol = pad("n/a", 11)
        if blas != nil {
            let gOB = flops / tOB * 1e-9
            var maxDiff: Float = 0
            for i in 0..<(m * n) { maxDiff = max(maxDiff, abs(c[i] - c2[i])) }
            obCol = pad(fmt(gOB), 10)
            ratioCol = pad(fmt(gOurs / gOB, 2), 9)
            diffCol = pad(fmt(Double(maxDiff), 6), 11)
        }
        let pct = peak > 0 ? 100.0 * gOurs / (peak * Double(t)) : 0
        print(pad("\(m)", 5) + pad("\(n)", 7) + pad("\(k)", 6) + pad("\(t)", 5) + pad(fmt(gOurs), 11) +
              obCol + ratioCol + pad(fmt(pct) + "%", 8) + diffCol + "  " + s.what)
    }
}

for (_, e) in engines { sega_engine_destroy(e) }
