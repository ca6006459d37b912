// sega-modelbench: forward and forward + input-gradient time and peak RSS of one model.
//
//   swift build -c release --product sega-modelbench
//   .build/release/sega-modelbench --weights FILE [--arch A] --height H --width W \
//       [--threads T] [--reps N] [--warmup W] [--mode forward|grad|both]
//
// Loads the model, builds its graph for a [1, 3, H, W] image, plans it (input gradient only in
// grad mode), fills a deterministic input, warms up, then times N repetitions with the monotonic
// clock and prints ONE JSON line per mode: best and median milliseconds, the score (and in grad
// mode the mean |d score / d input|), the plan's arena bytes and the process's peak RSS
// (VmHWM from /proc/self/status, else getrusage's ru_maxrss). Run one mode per process when the
// peak RSS should belong to that mode alone (scripts/bench_models.py does); `both` plans and
// times forward then grad in one process, so its second line's RSS covers both plans.
//
// The input is the same integer hash PyTorch's side of scripts/bench_models.py computes:
//   x[i] = ((i * 2654435761) mod 2^32 >> 8) / 2^24,  i = 0 ..< 3*H*W in NCHW order,
// exact in Float32, so both engines see bit-identical pixels.
//
// HyperIQA reads `num_crop` from the weights' metadata (pyiqa's default 25 if absent); the
// benchmark protocol ("HyperIQA's ResNet-50 at 224") is a 224x224 image with num_crop = 1, i.e.
// one ResNet-50 + heads pass. The JSON line reports the crop count it ran with.
#if canImport(Glibc)
import Glibc
#endif
import SegaEngine
import SegaModels

// MARK: - Options

struct Options {
    var weights = ""
    var arch: String? = nil
    var height = 0, width = 0
    var threads = 1
    var reps = 10
    var warmup = 2
    var mode = "both"
    var profileOps = false
    var top = 30
}

func usage() -> String {
    """
    usage: sega-modelbench --weights FILE [--arch A] --height H --width W [--threads T] [--reps N]
                           [--warmup W] [--mode forward|grad|both] [--profile-ops [--top K]]
      --weights FILE  safetensors written by weights/convert.py (architecture from its metadata)
      --arch A        override / check the architecture (\(ModelZoo.architectures.keys.sorted().joined(separator: ", ")))
      --height H --width W   image size (input [1, 3, H, W])
      --threads T     engine threads, caller included (default 1)
      --reps N        timed repetitions (default 10); --warmup W untimed ones first (default 2)
      --mode M        forward: forward only, no gradient buffers; grad: forward + backward to the
                      input; both: forward then grad in this process (default both)
      --profile-ops   instead: time every op of the graph alone (same shapes, same weights, its
                      own one-op plan), print the K slowest (--top, default 30) and totals by kind
    prints one JSON line per mode
    """
}

func fail(_ msg: String, code: Int32 = 2) -> Never {
    let line = Array("sega-modelbench: \(msg)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

func parse() -> Options {
    var o = Options()
    var it = CommandLine.arguments.dropFirst().makeIterator()
    func value(_ flag: String) -> String {
        guard let v = it.next() else { fail("\(flag) needs a value\n\(usage())") }
        return v
    }
    func int(_ flag: String, min lo: Int) -> Int {
        let v = value(flag)
        guard let i = Int(v), i >= lo else { fail("\(flag) must be an integer >= \(lo), got '\(v)'") }
        return i
    }
    while let a = it.next() {
        switch a {
        case "--weights": o.weights = value(a)
        case "--arch": o.arch = value(a)
        case "--height": o.height = int(a, min: 1)
        case "--width": o.width = int(a, min: 1)
        case "--threads": o.threads = int(a, min: 1)
        case "--reps": o.reps = int(a, min: 1)
        case "--warmup": o.warmup = int(a, min: 0)
        case "--mode":
            o.mode = value(a)
            guard ["forward", "grad", "both"].contains(o.mode) else { fail("--mode must be forward, grad or both, got '\(o.mode)'") }
        case "--profile-ops": o.profileOps = true
        case "--top": o.top = int(a, min: 1)
        case "-h", "--help":
            print(usage()); exit(0)
        default:
            fail("unknown argument '\(a)'\n\(usage())")
        }
    }
    if o.weights.isEmpty { fail("--weights is required\n\(usage())") }
    if o.height == 0 || o.width == 0 { fail("--height and --width are required\n\(usage())") }
    return o
}

// MARK: - Measurement helpers

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + 1e-9 * Double(ts.tv_nsec)
}

/// A "Vm...:  N kB" field of /proc/self/status in bytes, or nil.
func procStatus(_ key: String) -> Int? {
    guard let f = fopen("/proc/self/status", "r") else { return nil }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, Int32(line.count), f) != nil {
        let s = String(cString: line)
        if s.hasPrefix(key + ":") {
            let digits = s.dropFirst(key.count + 1).filter { $0.isNumber }
            if let kb = Int(String(digits)) { return kb * 1024 }
        }
    }
    return nil
}

/// Peak resident set size in bytes: VmHWM from /proc/self/status, else ru_maxrss (KiB on Linux).
func peakRSSBytes() -> Int {
    if let f = fopen("/proc/self/status", "r") {
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), f) != nil {
            let s = String(cString: line)
            if s.hasPrefix("VmHWM:") {
                let digits = s.dropFirst(6).filter { $0.isNumber }
                if let kb = Int(String(digits)) { return kb * 1024 }
            }
        }
    }
    var ru = rusage()
    getrusage(RUSAGE_SELF.rawValue, &ru)
    return Int(ru.ru_maxrss) * 1024
}

/// The shared deterministic input (see the header comment).
func benchInput(count: Int) -> [Float] {
    var x = [Float](repeating: 0, count: count)
    for i in 0..<count {
        let h = (UInt64(i) &* 2654435761) & 0xFFFF_FFFF
        x[i] = Float(h >> 8) / 16_777_216
    }
    return x
}

func fmt(_ x: Double, _ digits: Int = 3) -> String {
    var buf = [CChar](repeating: 0, count: 64)
    _ = withVaList([x]) { vsnprintf(&buf, buf.count, "%.\(digits)f", $0) }
    return String(cString: buf)
}

func fmtE(_ x: Double) -> String {
    guard x.isFinite else { return "null" }
    var buf = [CChar](repeating: 0, count: 64)
    _ = withVaList([x]) { vsnprintf(&buf, buf.count, "%.9e", $0) }
    return String(cString: buf)
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default:
            if c.value < 0x20 { out += "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count) + String(c.value, radix: 16) }
            else { out.unicodeScalars.append(c) }
        }
    }
    return out + "\""
}

// MARK: - Run

let opt = parse()

let tLoad = now()
let model: any IQAArchitecture
do {
    model = try ModelZoo.load(path: opt.weights, arch: opt.arch)
} catch {
    fail("\(error)", code: 1)
}
let loadMs = (now() - tLoad) * 1000
// Peak and current RSS once the weights are in (the loader maps the file while converting).
let loadPeakRSS = procStatus("VmHWM") ?? 0, loadRSS = procStatus("VmRSS") ?? 0
let archName = type(of: model).name
var note = ""
var numCrop: Int? = nil
if let h = model as? HyperIQA {
    numCrop = h.numCrop
    note = "hyperiqa: \(h.numCrop) crop(s) of 224 (num_crop from the weights' metadata)"
        + (h.numCrop == 1 ? ": one ResNet-50 + heads pass" : "")
}

let context: Context
do { context = try Context(threads: opt.threads) } catch { fail("\(error)", code: 1) }
let input = benchInput(count: 3 * opt.height * opt.width)

/// Build, plan, warm up and time one mode; print its JSON line.
@MainActor
func run(mode: String) throws {
    let g = Graph()
    let x = try g.input([1, 3, opt.height, opt.width], name: "image")
    let s = try model.build(g, image: x)
    guard s.count == 1 else { fail("\(archName): output has shape \(s.shape), not one score", code: 1) }
    let grad = mode == "grad"
    let t0 = now()
    let plan = try g.plan(context, outputs: [s], gradientsFor: grad ? [x] : [])
    let planMs = (now() - t0) * 1000
    try plan.setInput(x, input)

    func once() {
        plan.forward()
        if grad { plan.backward() }
    }
    for _ in 0..<opt.warmup { once() }
    var times: [Double] = []
    times.reserveCapacity(opt.reps)
    for _ in 0..<opt.reps {
        let a = now()
        once()
        times.append((now() - a) * 1000)
    }
    let sorted = times.sorted()
    let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2]
        : 0.5 * (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2])
    let score = Double(plan.buffer(s)[0])
    var gradAbsMean = Double.nan
    if grad, let gb = plan.gradient(x) {
        var acc = 0.0
        for v in gb { acc += Double(abs(v)) }
        gradAbsMean = acc / Double(gb.count)
    }
    var fields: [String] = [
        "\"tool\":\"sega\"",
        "\"arch\":\(jsonString(archName))",
        "\"height\":\(opt.height)", "\"width\":\(opt.width)",
        "\"mode\":\(jsonString(mode))",
        "\"threads\":\(opt.threads)", "\"isa\":\(jsonString(context.isaName))",
        "\"reps\":\(opt.reps)", "\"warmup\":\(opt.warmup)",
        "\"best_ms\":\(fmt(sorted.first!))", "\"median_ms\":\(fmt(median))",
        "\"times_ms\":[\(times.map { fmt($0) }.joined(separator: ","))]",
        "\"score\":\(fmtE(score))",
        "\"grad_abs_mean\":\(fmtE(gradAbsMean))",
        "\"peak_rss_bytes\":\(peakRSSBytes())",
        "\"load_peak_rss_bytes\":\(loadPeakRSS)", "\"load_rss_bytes\":\(loadRSS)",
        "\"arena_bytes\":\(plan.arena.capacity)",
        "\"arena_activation_bytes\":\(plan.activationBytes)",
        "\"arena_gradient_bytes\":\(plan.gradientBytes)",
        "\"arena_workspace_bytes\":\(plan.workspaceBytes)",
        "\"arena_saved_bytes\":\(plan.savedBytes)",
        "\"weight_bytes\":\(plan.constantBytes)",
        "\"load_ms\":\(fmt(loadMs, 1))", "\"plan_ms\":\(fmt(planMs, 1))",
    ]
    if let numCrop { fields.append("\"num_crop\":\(numCrop)") }
    if !note.isEmpty { fields.append("\"note\":\(jsonString(note))") }
    print("{" + fields.joined(separator: ",") + "}")
    fflush(nil)
}

// MARK: - Per-op profile

/// Describe an op node for the profile: kind (conv split by path) and shapes.
func describe(_ op: any Op, _ inShapes: [[Int]], _ out: [Int]) -> (kind: String, detail: String, flops: Double) {
    let shapes = inShapes.first.map { "\($0)" } ?? "[]"
    if let c = op as? Conv2d {
        let w = inShapes[1]
        let depthwise = c.groups == inShapes[0][1] && c.groups == w[0]
        let kind = depthwise ? "conv dw \(w[2])x\(w[3])" : (w[2] == 1 && w[3] == 1 ? "conv 1x1" : "conv \(w[2])x\(w[3])")
        let flops = 2.0 * Double(out.reduce(1, *)) * Double(w[1] * w[2] * w[3])
        return (kind, "\(kind) s\(c.stride.h) g\(c.groups) \(shapes)->\(out)", flops)
    }
    return (op.name, "\(op.name) \(inShapes.map { "\($0)" }.joined(separator: ","))->\(out)", 0)
}

@MainActor
func profileOps(mode: String) throws {
    let grad = mode == "grad"
    let g = Graph()
    let x = try g.input([1, 3, opt.height, opt.width], name: "image")
    _ = try model.build(g, image: x)
    let nodes = g.nodes
    var onGrad = [Bool](repeating: false, count: nodes.count)
    onGrad[x.id] = true
    for i in nodes.indices {
        if case .op(_, let ins) = nodes[i].kind, ins.contains(where: { onGrad[$0] }) { onGrad[i] = true }
    }
    struct Row { let detail: String, kind: String; let fwd: Double, bwd: Double, flops: Double }
    var rows: [Row] = []
    let reps = max(3, opt.reps)
    for i in nodes.indices {
        guard case .op(let op, let ins) = nodes[i].kind else { continue }
        let mg = Graph()
        var tins: [Tensor] = [], gradIns: [Tensor] = [], feeds: [Tensor] = []
        for j in ins {
            if case .constant(let d) = nodes[j].kind {
                tins.append(try mg.constant(d, nodes[j].shape, name: nodes[j].name))
            } else {
                let t = try mg.input(nodes[j].shape, name: nodes[j].name)
                tins.append(t); feeds.append(t)
                if grad && onGrad[j] { gradIns.append(t) }
            }
        }
        let out = try mg.apply(op, tins)
        let p = try mg.plan(context, outputs: [out], gradientsFor: gradIns)
        for t in feeds { try p.setInput(t, benchInput(count: t.count)) }
        func median(_ body: () -> Void) -> Double {
            body()
            var ts: [Double] = []
            for _ in 0..<reps { let a = now(); body(); ts.append((now() - a) * 1000) }
            return ts.sorted()[ts.count / 2]
        }
        let f = median { p.forward() }
        var b = 0.0
        if !gradIns.isEmpty { p.forward(); b = median { p.backward() } }
        let d = describe(op, ins.map { nodes[$0].shape }, nodes[i].shape)
        rows.append(Row(detail: d.detail, kind: d.kind, fwd: f, bwd: b, flops: d.flops))
    }
    let totalF = rows.reduce(0) { $0 + $1.fwd }, totalB = rows.reduce(0) { $0 + $1.bwd }
    let total = totalF + totalB
    print("# \(archName) \(opt.height)x\(opt.width) \(mode), \(opt.threads) threads, isa \(context.isaName): \(rows.count) ops, each timed alone (median of \(reps))")
    print("# sum of ops: forward \(fmt(totalF, 2)) ms" + (grad ? ", backward \(fmt(totalB, 2)) ms" : ""))
    print("#   fwd ms    bwd ms   %total  fwd GF/s  op")
    for r in rows.sorted(by: { $0.fwd + $0.bwd > $1.fwd + $1.bwd }).prefix(opt.top) {
        let gf = r.flops > 0 ? fmt(r.flops / (r.fwd * 1e6), 1) : "-"
        print("  \(pad(fmt(r.fwd, 3), 8)) \(pad(fmt(r.bwd, 3), 9)) \(pad(fmt(100 * (r.fwd + r.bwd) / total, 1), 7))% \(pad(gf, 9))  \(r.detail)")
    }
    var byKind: [String: (Double, Double, Double, Int)] = [:]
    for r in rows {
        let e = byKind[r.kind] ?? (0, 0, 0, 0)
        byKind[r.kind] = (e.0 + r.fwd, e.1 + r.bwd, e.2 + r.flops, e.3 + 1)
    }
    print("# by kind:   fwd ms    bwd ms   %total  fwd GF/s  count")
    for (k, e) in byKind.sorted(by: { $0.value.0 + $0.value.1 > $1.value.0 + $1.value.1 }) {
        let gf = e.2 > 0 ? fmt(e.2 / (e.0 * 1e6), 1) : "-"
        print("  \(k.padding(12)) \(pad(fmt(e.0, 2), 8)) \(pad(fmt(e.1, 2), 9)) \(pad(fmt(100 * (e.0 + e.1) / total, 1), 7))% \(pad(gf, 9))  \(e.3)")
    }
}

func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
extension String {
    func padding(_ w: Int) -> String { count >= w ? self : self + String(repeating: " ", count: w - count) }
}

do {
    if opt.profileOps {
        if opt.mode == "forward" || opt.mode == "both" { try profileOps(mode: "forward") }
        if opt.mode == "grad" || opt.mode == "both" { try profileOps(mode: "grad") }
        exit(0)
    }
    if opt.mode == "forward" || opt.mode == "both" { try run(mode: "forward") }
    if opt.mode == "grad" || opt.mode == "both" { try run(mode: "grad") }
} catch {
    fail("\(error)", code: 1)
}
