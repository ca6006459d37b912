// sega-modelbench: forward and forward + input-gradient time and peak RSS of one model.
//
//   swift build -c release --package-path Benchmarks
//   Benchmarks/.build/release/sega-modelbench --weights FILE [--arch A] --height H --width W \
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
import BenchSupport
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
    var profilePlan = false
    var oneCall = false
    var top = 30
}

func usage() -> String {
    """
    usage: sega-modelbench --weights FILE [--arch A] --height H --width W [--threads T] [--reps N]
                           [--warmup W] [--mode forward|grad|both] [--profile-ops | --profile-plan [--top K]]
                           [--one-call]
      --weights FILE  safetensors written by weights/convert.py (architecture from its metadata)
      --arch A        override / check the architecture (\(ModelZoo.architectures.keys.sorted().joined(separator: ", ")))
      --height H --width W   image size (input [1, 3, H, W])
      --threads T     engine threads, caller included (default 1)
      --reps N        timed repetitions (default 10); --warmup W untimed ones first (default 2)
      --mode M        forward: forward only, no gradient buffers; grad: forward + backward to the
                      input; both: forward then grad in this process (default both)
      --profile-ops   instead: time every op of the graph alone (same shapes, same weights, its
                      own one-op plan), print the K slowest (--top, default 30) and totals by kind
      --profile-plan  instead: time every op where it runs in the model's own plan (best of
                      --reps forward + backward passes), with the cores it kept busy (process CPU
                      time / wall time), the K slowest ops and totals by kind
      --one-call      instead: plan the mode (grad unless --mode forward) and run it once inside
                      measuredCall(), for `valgrind --tool=callgrind --toggle-collect='*measuredCall*'`
                      (scripts/bench_instructions.py)
    prints one JSON line per mode
    """
}

func parse() -> Options {
    var args = Arguments(tool: "sega-modelbench", usage: usage())
    var o = Options()
    while let a = args.next() {
        switch a {
        case "--weights": o.weights = args.value(a)
        case "--arch": o.arch = args.value(a)
        case "--height": o.height = args.int(a, min: 1)
        case "--width": o.width = args.int(a, min: 1)
        case "--threads": o.threads = args.int(a, min: 1)
        case "--reps": o.reps = args.int(a, min: 1)
        case "--warmup": o.warmup = args.int(a, min: 0)
        case "--mode": o.mode = args.choice(a, ["forward", "grad", "both"])
        case "--profile-ops": o.profileOps = true
        case "--profile-plan": o.profilePlan = true
        case "--one-call": o.oneCall = true
        case "--top": o.top = args.int(a, min: 1)
        default: args.unknown(a)
        }
    }
    if o.weights.isEmpty { args.fail("--weights is required\n\(usage())") }
    if o.height == 0 || o.width == 0 { args.fail("--height and --width are required\n\(usage())") }
    return o
}

func fail(_ msg: String, code: Int32 = 1) -> Never { benchFail("sega-modelbench", msg, code: code) }

// MARK: - Measurement helpers

/// The shared deterministic input (see the header comment).
func benchInput(count: Int) -> [Float] {
    var x = [Float](repeating: 0, count: count)
    for i in 0..<count {
        let h = (UInt64(i) &* 2654435761) & 0xFFFF_FFFF
        x[i] = Float(h >> 8) / 16_777_216
    }
    return x
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

/// CPU milliseconds (whole process) of each timed repetition of the last `timings` call.
nonisolated(unsafe) var lastCPUTimes: [Double] = []

/// `reps` timings in milliseconds of `body` after `warmup` untimed runs (their process CPU
/// times go to `lastCPUTimes`).
func timings(reps: Int, warmup: Int, _ body: () -> Void) -> [Double] {
    for _ in 0..<warmup { body() }
    var times: [Double] = [], cpu: [Double] = []
    times.reserveCapacity(reps)
    cpu.reserveCapacity(reps)
    for _ in 0..<reps {
        let a = now(), c = processCPU()
        body()
        times.append((now() - a) * 1000)
        cpu.append((processCPU() - c) * 1000)
    }
    lastCPUTimes = cpu
    return times
}

func median(_ v: [Double]) -> Double {
    let s = v.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
}

/// The JSON line of one timed mode.
@MainActor
func resultLine(mode: String, plan: Plan, times: [Double], score: Double, gradAbsMean: Double, planMs: Double) -> String {
    var j = JSONWriter()
    j.add("tool", "sega"); j.add("arch", archName)
    j.add("height", opt.height); j.add("width", opt.width); j.add("mode", mode)
    j.add("threads", opt.threads); j.add("isa", context.isaName)
    j.add("reps", opt.reps); j.add("warmup", opt.warmup)
    j.add("best_ms", times.min()!, digits: 3); j.add("median_ms", median(times), digits: 3)
    j.add("times_ms", times, digits: 3)
    // CPU time of the process per repetition: with --threads 1 the measure that the load of a
    // shared machine does not inflate (wall time does).
    j.add("best_cpu_ms", lastCPUTimes.min()!, digits: 3); j.add("median_cpu_ms", median(lastCPUTimes), digits: 3)
    j.add("score", score, digits: 9, exponent: true)
    j.add("grad_abs_mean", gradAbsMean, digits: 9, exponent: true)
    j.add("peak_rss_bytes", peakRSSBytes())
    j.add("load_peak_rss_bytes", loadPeakRSS); j.add("load_rss_bytes", loadRSS)
    j.add("arena_bytes", plan.arena.capacity)
    j.add("arena_activation_bytes", plan.activationBytes)
    j.add("arena_gradient_bytes", plan.gradientBytes)
    j.add("arena_workspace_bytes", plan.workspaceBytes)
    j.add("arena_saved_bytes", plan.savedBytes)
    j.add("weight_bytes", plan.constantBytes)
    j.add("load_ms", loadMs, digits: 1); j.add("plan_ms", planMs, digits: 1)
    if let numCrop { j.add("num_crop", numCrop) }
    if !note.isEmpty { j.add("note", note) }
    return j.text
}

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
    let times = timings(reps: opt.reps, warmup: opt.warmup) {
        plan.forward()
        if grad { plan.backward() }
    }
    var gradAbsMean = Double.nan
    if grad, let gb = plan.gradient(x) {
        gradAbsMean = gb.reduce(0.0) { $0 + Double(abs($1)) } / Double(gb.count)
    }
    print(resultLine(mode: mode, plan: plan, times: times, score: Double(plan.buffer(s)[0]),
                     gradAbsMean: gradAbsMean, planMs: planMs))
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

struct ProfileRow { let detail: String, kind: String; let fwd: Double, bwd: Double, flops: Double }

/// Node i of `nodes` alone in a one-op plan (same shapes and weights), forward (and backward when
/// one of its inputs is on the gradient path) timed as the upper median of `reps` runs.
@MainActor
func profileRow(_ nodes: [Graph.Node], _ i: Int, onGrad: [Bool], grad: Bool, reps: Int) throws -> ProfileRow? {
    guard case .op(let op, let ins) = nodes[i].kind else { return nil }
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
    func upperMedian(_ body: () -> Void) -> Double { timings(reps: reps, warmup: 1, body).sorted()[reps / 2] }
    let f = upperMedian { p.forward() }
    var b = 0.0
    if !gradIns.isEmpty { p.forward(); b = upperMedian { p.backward() } }
    let d = describe(op, ins.map { nodes[$0].shape }, nodes[i].shape)
    return ProfileRow(detail: d.detail, kind: d.kind, fwd: f, bwd: b, flops: d.flops)
}

/// The `opt.top` slowest ops, then the totals by kind.
@MainActor
func printProfile(_ rows: [ProfileRow], mode: String, reps: Int) {
    let totalF = rows.reduce(0) { $0 + $1.fwd }, totalB = rows.reduce(0) { $0 + $1.bwd }
    let total = totalF + totalB
    func line(_ name: String, _ f: Double, _ b: Double, _ flops: Double, _ tail: String, digits: Int) -> String {
        let gf = flops > 0 ? fmt(flops / (f * 1e6), 1) : "-"
        return "  \(name)\(pad(fmt(f, digits), 8)) \(pad(fmt(b, digits), 9)) \(pad(fmt(100 * (f + b) / total, 1), 7))% \(pad(gf, 9))  \(tail)"
    }
    print("# \(archName) \(opt.height)x\(opt.width) \(mode), \(opt.threads) threads, isa \(context.isaName): \(rows.count) ops, each timed alone (median of \(reps))")
    print("# sum of ops: forward \(fmt(totalF, 2)) ms" + (mode == "grad" ? ", backward \(fmt(totalB, 2)) ms" : ""))
    print("#   fwd ms    bwd ms   %total  fwd GF/s  op")
    for r in rows.sorted(by: { $0.fwd + $0.bwd > $1.fwd + $1.bwd }).prefix(opt.top) {
        print(line("", r.fwd, r.bwd, r.flops, r.detail, digits: 3))
    }
    var byKind: [String: (Double, Double, Double, Int)] = [:]
    for r in rows {
        let e = byKind[r.kind] ?? (0, 0, 0, 0)
        byKind[r.kind] = (e.0 + r.fwd, e.1 + r.bwd, e.2 + r.flops, e.3 + 1)
    }
    print("# by kind:   fwd ms    bwd ms   %total  fwd GF/s  count")
    for (k, e) in byKind.sorted(by: { $0.value.0 + $0.value.1 > $1.value.0 + $1.value.1 }) {
        print(line(pad(k, 12, left: true) + " ", e.0, e.1, e.2, "\(e.3)", digits: 2))
    }
}

/// Time every op of the model's graph alone and print the profile.
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
    let reps = max(3, opt.reps)
    let rows = try nodes.indices.compactMap { try profileRow(nodes, $0, onGrad: onGrad, grad: grad, reps: reps) }
    printProfile(rows, mode: mode, reps: reps)
}

// MARK: - In-situ profile and the callgrind call

/// Build and plan the model for `mode` (grad: input gradient).
@MainActor
func plannedModel(mode: String) throws -> Plan {
    let g = Graph()
    let x = try g.input([1, 3, opt.height, opt.width], name: "image")
    let s = try model.build(g, image: x)
    let plan = try g.plan(context, outputs: [s], gradientsFor: mode == "grad" ? [x] : [])
    try plan.setInput(x, input)
    return plan
}

/// Every op timed where it runs in the model's plan: the K slowest, then totals by kind, each
/// with the cores it kept busy (CPU / wall of its best repetition).
@MainActor
func profilePlan(mode: String) throws {
    let plan = try plannedModel(mode: mode)
    plan.forward()
    if mode == "grad" { plan.backward() }
    let (ops, over) = plan.profileOps(reps: max(3, opt.reps))
    let total = ops.reduce(over.zeroing) { $0 + $1.forward + $1.backward }
    let flops = ops.reduce(0.0) { $0 + describe($1.op, $1.inputShapes, $1.outputShape).flops }
    print("# \(archName) \(opt.height)x\(opt.width) \(mode), \(opt.threads) threads, isa \(context.isaName): \(ops.count) ops timed in the plan (best of \(max(3, opt.reps)))")
    print("# total \(fmt(total * 1000, 2)) ms (forward \(fmt(ops.reduce(0) { $0 + $1.forward } * 1000, 2)), backward \(fmt(ops.reduce(0) { $0 + $1.backward } * 1000, 2)), gradient zeroing \(fmt(over.zeroing * 1000, 2)) ms for \(over.zeroedBytes / 1024) KB); forward conv/linear FLOPs \(fmt(flops / 1e9, 3)) G")
    func line(_ name: String, _ f: Double, _ fc: Double, _ b: Double, _ bc: Double, _ tail: String) -> String {
        let cores = { (w: Double, c: Double) in w > 0 ? fmt(c / w, 2) : "-" }
        return "  \(name)\(pad(fmt(f * 1000, 3), 8)) \(pad(cores(f, fc), 5)) \(pad(fmt(b * 1000, 3), 9)) \(pad(cores(b, bc), 5)) \(pad(fmt(100 * (f + b) / total, 1), 7))%  \(tail)"
    }
    print("#   fwd ms cores    bwd ms cores   %total  op")
    for r in ops.sorted(by: { $0.forward + $0.backward > $1.forward + $1.backward }).prefix(opt.top) {
        print(line("", r.forward, r.forwardCPU, r.backward, r.backwardCPU, describe(r.op, r.inputShapes, r.outputShape).detail))
    }
    var byKind: [String: (Double, Double, Double, Double, Int)] = [:]
    for r in ops {
        let k = describe(r.op, r.inputShapes, r.outputShape).kind
        let e = byKind[k] ?? (0, 0, 0, 0, 0)
        byKind[k] = (e.0 + r.forward, e.1 + r.forwardCPU, e.2 + r.backward, e.3 + r.backwardCPU, e.4 + 1)
    }
    byKind["(zero grads)"] = (0, 0, over.zeroing, over.zeroingCPU, 1)
    print("# by kind:     fwd ms cores    bwd ms cores   %total  count")
    for (k, e) in byKind.sorted(by: { $0.value.0 + $0.value.2 > $1.value.0 + $1.value.2 }) {
        print(line(pad(k, 14, left: true) + " ", e.0, e.1, e.2, e.3, "\(e.4)"))
    }
}

/// The call callgrind counts (scripts/bench_instructions.py toggles collection on this symbol).
@inline(never)
func measuredCall(_ plan: Plan, grad: Bool) {
    plan.forward()
    if grad { plan.backward() }
}

/// Plan, then run one call inside measuredCall() (with --threads 1 its instruction count is
/// repeatable: no pool, so no spin-waiting).
@MainActor
func oneCall(mode: String) throws {
    let plan = try plannedModel(mode: mode)
    measuredCall(plan, grad: mode == "grad")
    print("{\"tool\":\"sega\",\"arch\":\"\(archName)\",\"mode\":\"\(mode)\",\"one_call\":true,\"score\":\(plan.buffer(plan.outputs[0])[0])}")
}

do {
    if opt.oneCall {
        try oneCall(mode: opt.mode == "forward" ? "forward" : "grad")
        exit(0)
    }
    if opt.profilePlan {
        if opt.mode == "forward" || opt.mode == "both" { try profilePlan(mode: "forward") }
        if opt.mode == "grad" || opt.mode == "both" { try profilePlan(mode: "grad") }
        exit(0)
    }
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
