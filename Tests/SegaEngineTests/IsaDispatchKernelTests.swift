// IsaDispatchKernelTests.swift - every C kernel with per-ISA variants runs at the ISA of the
// engine it is given, with no engine at sega_cpu_best_isa(), and SEGA_ISA caps that choice.
// Pooling, sigmoid, softmax and the depthwise weight gradient used to take no engine and pick
// their ISA from the hardware whatever SEGA_ISA said, so the portable test pass
// (SEGA_ISA=portable, scripts/test.sh) never ran their portable variants. Which variant ran is
// read from the kernels' dispatch counters (sega_isa_dispatch_count).
import XCTest
import Foundation
import CSupport
import SegaEngine

final class IsaDispatchKernelTests: XCTestCase {
    private static let isas = [SEGA_ISA_PORTABLE, SEGA_ISA_AVX2, SEGA_ISA_AVX512]

    /// Calls dispatched per ISA (raw value) while `body` runs; ISAs with no call are left out.
    private func dispatched(_ body: () throws -> Void) rethrows -> [Int32: UInt64] {
        let before = Self.isas.map { sega_isa_dispatch_count($0) }
        try body()
        var d: [Int32: UInt64] = [:]
        for (i, isa) in Self.isas.enumerated() where sega_isa_dispatch_count(isa) != before[i] {
            d[isa.rawValue] = sega_isa_dispatch_count(isa) - before[i]
        }
        return d
    }

    private static func lower(_ a: sega_isa, _ b: sega_isa) -> sega_isa { a.rawValue <= b.rawValue ? a : b }

    /// One call of every kernel with variants on a small input, with the best ISA it has a
    /// variant (kernel table) of.
    private func kernelCalls() -> [(name: String, best: sega_isa, call: (OpaquePointer?) -> Void)] {
        var g = squareGeom(c: 2, h: 6, w: 7, k: 3, s: 1, p: 1, oh: 6, ow: 7)
        var p = squareGeom(c: 2, h: 6, w: 7, k: 2, s: 2, p: 0, oh: 3, ow: 3)
        let x = (0..<84).map { Float($0 % 7) - 3 }, w = [Float](repeating: 0.25, count: 18)
        var out = [Float](repeating: 0, count: 84), arg = [Int32](repeating: 0, count: 18)
        let mask = (0..<84).map { UInt8($0 & 1) }
        return [
            ("dwconv fwd", SEGA_ISA_AVX512, { e in sega_dwconv_fwd(e, &g, x, w, nil, &out) }),
            ("dwconv bwd_input", SEGA_ISA_AVX512, { e in sega_dwconv_bwd_input(e, &g, x, w, &out) }),
            ("dwconv bwd_weight", SEGA_ISA_AVX2, { e in sega_dwconv_bwd_weight(e, &g, x, x, &out) }),
            ("maxpool fwd", SEGA_ISA_AVX2, { e in sega_maxpool_fwd(e, &p, x, &out, &arg) }),
            ("avgpool fwd", SEGA_ISA_AVX2, { e in sega_avgpool_fwd(e, &p, 0, 0, 1, x, &out) }),
            ("sigmoid fwd", SEGA_ISA_AVX2, { e in sega_sigmoid_fwd(e, 84, x, &out) }),
            ("softmax fwd", SEGA_ISA_AVX512, { e in sega_softmax_fwd(e, 12, 7, x, &out) }),
            ("gelu fwd", SEGA_ISA_AVX512, { e in sega_gelu_fwd(e, 84, x, &out) }),
            ("gelu bwd", SEGA_ISA_AVX512, { e in sega_gelu_bwd(e, 84, x, x, &out) }),
            ("binary mt", SEGA_ISA_AVX2, { e in sega_binary_mt(e, 84, Int32(SEGA_BIN_MUL), 1, x, x, &out) }),
            ("relu mt", SEGA_ISA_AVX2, { e in sega_act_fwd_mt(e, 84, Int32(SEGA_ACT_RELU.rawValue), x, &out, nil) }),
            ("mask bwd mt", SEGA_ISA_AVX2, { e in sega_mask_bwd_mt(e, 84, mask, x, &out) }),
        ]
    }

    func testEveryKernelRunsAtItsEnginesISA() {
        for isa in KernelEngines.supportedISAs {
            var e: OpaquePointer? = nil
            XCTAssertEqual(sega_engine_create(1, isa, &e), SEGA_OK)
            defer { sega_engine_destroy(e) }
            for k in kernelCalls() {
                let want = Self.lower(isa, k.best)
                XCTAssertEqual(dispatched { k.call(e) }, [want.rawValue: 1],
                               "\(k.name) on a \(String(cString: sega_isa_name(isa))) engine")
            }
        }
    }

    func testWithoutAnEngineEveryKernelRunsAtTheCappedBestISA() {
        let best = sega_cpu_best_isa()
        for k in kernelCalls() {
            XCTAssertEqual(dispatched { k.call(nil) }, [Self.lower(best, k.best).rawValue: 1], "\(k.name), no engine")
        }
    }

    /// The ops hand their plan's engine to the kernels: sigmoid, max and average pooling,
    /// softmax forward, GELU forward and backward, depthwise forward and weight gradient, all at
    /// the context's ISA (capped at each kernel's best variant).
    func testOpsRunTheirKernelsAtTheContextsISA() throws {
        for isa in KernelEngines.supportedISAs {
            let ctx = try Context(threads: 1, isa: isa)
            let g = Graph()
            let x = try g.input([1, 2, 6, 8]), w = try g.input([2, 1, 3, 3])
            let z = try g.sigmoid(try g.conv2d(x, weight: w, padding: (1, 1), groups: 2))
            let s = try g.softmax(try g.maxPool2d(z, kernel: (2, 2)))
            let a = try g.gelu(try g.avgPool2d(z, kernel: (2, 2)))
            let plan = try g.plan(ctx, outputs: [s, a], gradientsFor: [w])
            try plan.setInput(x, (0..<96).map { Float($0 % 5) * 0.1 })
            try plan.setInput(w, [Float](repeating: 0.1, count: 18))
            let low = Self.lower(isa, SEGA_ISA_AVX2).rawValue
            // dwconv, softmax and GELU forward at the context's ISA, the other three at most at
            // AVX2; backward: the weight gradient (at most AVX2) and GELU's (the context's).
            let fwd: [Int32: UInt64] = isa.rawValue <= SEGA_ISA_AVX2.rawValue ? [low: 6] : [low: 3, isa.rawValue: 3]
            let bwd: [Int32: UInt64] = isa.rawValue <= SEGA_ISA_AVX2.rawValue ? [low: 2] : [low: 1, isa.rawValue: 1]
            XCTAssertEqual(dispatched { plan.forward() }, fwd, "forward at \(ctx.isaName)")
            XCTAssertEqual(dispatched { plan.backward() }, bwd, "backward at \(ctx.isaName)")
        }
    }

    /// sega_cpu_best_isa() (what SEGA_ISA_AUTO contexts and engine-less kernel calls use) is the
    /// hardware's best ISA lowered to SEGA_ISA when that is set.
    func testSEGA_ISACapsTheAutomaticChoice() throws {
        let hw = KernelEngines.supportedISAs.last!
        let caps = ["portable": SEGA_ISA_PORTABLE, "avx2": SEGA_ISA_AVX2, "avx512": SEGA_ISA_AVX512]
        let cap = ProcessInfo.processInfo.environment["SEGA_ISA"].flatMap { caps[$0] } ?? SEGA_ISA_AVX512
        XCTAssertEqual(sega_cpu_best_isa(), Self.lower(hw, cap))
        XCTAssertEqual(try Context(threads: 1).isa, Self.lower(hw, cap))
    }

    /// Under SEGA_ISA=portable every kernel with variants runs its portable variant, called with
    /// no engine or with an automatic context's. Outside that environment the test runs itself
    /// in a child process with SEGA_ISA=portable and checks that child passed.
    func testUnderSEGA_ISAPortableEveryKernelRunsPortable() throws {
        if ProcessInfo.processInfo.environment["SEGA_ISA"] == "portable" {
            let ctx = try Context(threads: 2)
            XCTAssertEqual(ctx.isa, SEGA_ISA_PORTABLE)
            for k in kernelCalls() {
                XCTAssertEqual(dispatched { k.call(nil) }, [SEGA_ISA_PORTABLE.rawValue: 1], "\(k.name), no engine")
                XCTAssertEqual(dispatched { k.call(ctx.raw) }, [SEGA_ISA_PORTABLE.rawValue: 1], "\(k.name), auto context")
            }
            return
        }
        let (status, output) = try runSelf(test: "SegaEngineTests.IsaDispatchKernelTests/testUnderSEGA_ISAPortableEveryKernelRunsPortable",
                                           environment: ["SEGA_ISA": "portable"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("Executed 1 test, with 0 failures"), output)
    }

    /// Runs one test of this test binary in a child process with extra environment variables.
    private func runSelf(test: String, environment: [String: String]) throws -> (Int32, String) {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = [test]
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
