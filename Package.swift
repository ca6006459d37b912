// swift-tools-version: 6.0
// sega: transferable black-box attacks on no-reference image-quality models.
// The engine (CSupport + SegaEngine) has no package dependency and no global ISA flag:
// SIMD kernels carry per-function target attributes and are picked at run time.
import PackageDescription

let package = Package(
    name: "sega",
    products: [
        .library(name: "SegaEngine", targets: ["SegaEngine"]),
        .library(name: "SegaModels", targets: ["SegaModels"]),
    ],
    targets: [
        // C kernels: arena, thread pool, packed SGEMM, im2col/col2im, depthwise conv,
        // pooling, elementwise, and the naive references the tests compare against.
        .target(
            name: "CSupport",
            path: "CSupport",
            sources: ["src"],
            publicHeadersPath: "include",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("pthread"), .linkedLibrary("m")]
        ),
        .target(name: "SegaEngine", dependencies: ["CSupport"], path: "Sources/SegaEngine"),
        // Architectures over the engine's ops, safetensors loading, preprocessing.
        .target(name: "SegaModels", dependencies: ["SegaEngine"], path: "Sources/SegaModels"),
        // Benchmark executable: prints our SGEMM GFLOPS next to OpenBLAS's (dlopen'ed at run
        // time, so the engine never links it) and the machine's measured FMA peak.
        .executableTarget(name: "sega-bench", dependencies: ["SegaEngine", "CSupport"], path: "Sources/sega-bench"),
        // Allocation counter interposed into the test binary only (malloc/calloc/realloc/
        // posix_memalign/aligned_alloc/memalign/free forwarded to glibc's __libc_* entry points).
        .target(name: "MallocCounter", path: "Tests/MallocCounter"),
        .testTarget(name: "SegaModelsTests", dependencies: ["SegaModels"], path: "Tests/SegaModelsTests"),
        .testTarget(name: "SegaEngineTests", dependencies: ["SegaEngine", "CSupport", "MallocCounter"], path: "Tests/SegaEngineTests"),
    ]
)
